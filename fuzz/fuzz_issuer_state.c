/*
 * fuzz_issuer_state.c — fuzz target for the issuer state loader: what
 * src/issuer/store.c parses after decrypting issuer.sealed (a JSON
 * document), reached through offpay__issuer_state_check, which also
 * re-serializes an accepted state and parses it again.
 *
 * The seed corpus (fuzz/corpus/issuer_state/) holds real states written by
 * the offpay CLI (fresh; with terminals, a merchant id of 2^64 - 1 and
 * revoked serials; after add-key and retire-key), a state of the first
 * format, and malformed ones. Their keys are throwaway test keys.
 */
#include <stdint.h>
#include <stdlib.h>

#include "issuer/issuer_int.h"
#include "offpay/offpay.h"

/* libFuzzer entry point: abort on any outcome the loader's contract does
 * not allow. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    offpay_err rc;

    if (!inited) {
        if (offpay_init() != OFFPAY_OK)
            abort();
        inited = 1;
    }
    rc = offpay__issuer_state_check(data, size);
    if (rc != OFFPAY_OK && rc != OFFPAY_ECORRUPT && rc != OFFPAY_EVERSION &&
        rc != OFFPAY_ENOMEM)
        abort();
    return 0;
}
