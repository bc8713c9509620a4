/*
 * codec.h — internal: the bounded big-endian reader and writer every
 * message encoder and decoder is built on.
 *
 * A reader never reads past its end: each get either fills its output and
 * advances, or records OFFPAY_ETRUNCATED and leaves the output zeroed. The
 * first error sticks, so a decoder can read every field and check once.
 * A writer likewise records OFFPAY_ERANGE when the buffer is too small.
 */
#ifndef OFFPAY_CORE_CODEC_H
#define OFFPAY_CORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/error.h"

typedef struct offpay__reader {
    const uint8_t *p;
    size_t         left;
    offpay_err     err;
} offpay__reader;

typedef struct offpay__writer {
    uint8_t   *p;
    size_t     cap;
    size_t     len;
    offpay_err err;
} offpay__writer;

void     offpay__reader_init(offpay__reader *r, const uint8_t *buf, size_t len);
uint8_t  offpay__get_u8(offpay__reader *r);
uint16_t offpay__get_u16(offpay__reader *r);
uint32_t offpay__get_u32(offpay__reader *r);
uint64_t offpay__get_u64(offpay__reader *r);
void     offpay__get_bytes(offpay__reader *r, uint8_t *out, size_t n);
/* Where the reader stands: used to find the exact bytes a signature covers. */
const uint8_t *offpay__reader_pos(const offpay__reader *r);
/* OFFPAY_OK if everything was read and nothing is left; the sticky error,
 * or OFFPAY_ETRAILING. */
offpay_err offpay__reader_finish(const offpay__reader *r);

void offpay__writer_init(offpay__writer *w, uint8_t *buf, size_t cap);
void offpay__put_u8(offpay__writer *w, uint8_t v);
void offpay__put_u16(offpay__writer *w, uint16_t v);
void offpay__put_u32(offpay__writer *w, uint32_t v);
void offpay__put_u64(offpay__writer *w, uint64_t v);
void offpay__put_bytes(offpay__writer *w, const uint8_t *b, size_t n);

#endif
