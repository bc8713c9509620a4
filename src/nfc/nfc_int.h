/*
 * nfc_int.h — the NFC module's internals shared with its tests.
 */
#ifndef OFFPAY_NFC_INT_H
#define OFFPAY_NFC_INT_H

#include <stdint.h>

/* Milliseconds added to the monotonic clock the terminal's side reads
 * (term.c): a test's way to have a gate wait minutes for a card in no
 * time. 0 outside tests. */
extern int64_t offpay__nfc_clock_ahead_ms;

#endif /* OFFPAY_NFC_INT_H */
