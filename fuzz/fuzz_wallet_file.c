/*
 * fuzz_wallet_file.c — fuzz target for offpay__wallet_open, the parser and
 * decryptor of wallet file images (src/wallet/wallet_file.c).
 *
 * Every input is opened with the fixed passphrase below. To keep fuzzing
 * fast, inputs whose header asks for an in-bounds KDF cost above the
 * minimum (opslimit 1, memlimit 8 MiB) are skipped: only minimum-cost files
 * reach Argon2. Out-of-bounds costs are still opened, since they must be
 * rejected before the KDF runs. The seed corpus (fuzz/corpus/wallet_file/)
 * holds a valid minimum-cost file sealed with this passphrase.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>

#include "offpay/offpay.h"
#include "wallet/wallet_file.h"

#define FUZZ_PASSPHRASE "offpay fuzz passphrase"

/* Big-endian u32 at p. */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* True when the header would make the KDF run above its minimum cost. */
static int costly(const uint8_t *data, size_t size)
{
    uint32_t ops, mem;

    if (size < OFFPAY__WALLET_HEADER_BYTES)
        return 0;
    ops = be32(data + OFFPAY__WALLET_OFF_OPSLIMIT);
    mem = be32(data + OFFPAY__WALLET_OFF_MEMLIMIT);
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > OFFPAY__WALLET_OPSLIMIT_MAX ||
        mem < OFFPAY__WALLET_MEMLIMIT_KIB_MIN ||
        mem > OFFPAY__WALLET_MEMLIMIT_KIB_MAX)
        return 0; /* out of bounds: rejected before the KDF */
    return ops != crypto_pwhash_OPSLIMIT_MIN ||
           mem != OFFPAY__WALLET_MEMLIMIT_KIB_MIN;
}

/* libFuzzer entry point: open data as a wallet file; abort on any outcome
 * the contract of offpay__wallet_open does not allow. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    uint8_t   *plain = NULL;
    size_t     plain_len = 0;
    offpay_err rc;

    if (!inited) {
        if (offpay_init() != OFFPAY_OK)
            abort();
        inited = 1;
    }
    if (costly(data, size))
        return 0;
    rc = offpay__wallet_open(data, size, FUZZ_PASSPHRASE, &plain, &plain_len);
    switch (rc) {
    case OFFPAY_OK:
        if (plain == NULL || plain_len + OFFPAY__WALLET_HEADER_BYTES +
                                     OFFPAY__WALLET_TAG_BYTES !=
                                 size)
            abort();
        break;
    case OFFPAY_ECORRUPT:
    case OFFPAY_EPASSPHRASE:
    case OFFPAY_ENOMEM:
        if (plain != NULL || plain_len != 0)
            abort();
        break;
    default:
        abort();
    }
    offpay__wallet_plain_free(plain, plain_len);
    return 0;
}
