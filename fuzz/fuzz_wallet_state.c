/*
 * fuzz_wallet_state.c — fuzz target for the wallet's state loader, the
 * JSON parser that runs on a wallet file's plaintext after decryption
 * (offpay__wallet_state_load, src/wallet/wallet.c), formats 1, 2 (the log
 * inside the sealed file), 3 (the log beside it) and 4 (the log beside it
 * and a checkpoint of it). The file fuzzer
 * (fuzz_wallet_file.c) cannot get past the AEAD, so this one feeds the
 * loader directly; fuzz_wallet_log.c feeds the log's record parser.
 *
 * Properties checked on every input: the loader answers OK, ECORRUPT or
 * ENOMEM and nothing else, and on ECORRUPT leaves no handle; a state it
 * accepts is internally consistent (every code's receipts within the
 * per-code cap, a charge of -1 only without receipts, every balance's
 * parts adding up, the credentials' codes the wallet's) and survives the
 * migration to format 4: dumping its sealed state and its log
 * (offpay__wallet_log_image), loading both back (offpay__wallet_log_replay,
 * as reading a whole log does, checked against the checkpoint) gives the
 * same sealed state bytes, the same codes, receipts and balances. A
 * format 4 state whose checkpoint counts records (they would be in the
 * log file) keeps its balances through a dump and a load, and refuses to
 * list codes it does not hold.
 *
 * The seed corpus (fuzz/corpus/wallet_state/) holds real states, decrypted
 * from wallet files the offpay CLI wrote: v1_* by an older version (state
 * format 1: a fresh wallet, one with a credential, one with codes and
 * receipts), v2_* by the version before the log moved out (the same, one
 * code receipted by two terminals, and the format-1 state as loaded and
 * dumped again), v3_* by this one (the sealed states the migration of
 * v2_fresh, v2_two_terminals and v2_migrated_from_v1 wrote: their codes
 * are in the log), v4_* written by hand from v3_two_terminals (a
 * checkpoint of no records; one of six records, four codes), and bad_*
 * variations the loader must refuse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonutil.h"
#include "offpay/offpay.h"
#include "wallet/wallet_int.h"

/* Checks the balances of a state the loader accepted. */
static void check_balances(const offpay_wallet *w)
{
    uint64_t codes = 0;

    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
        offpay_wallet_balance b;

        if (offpay_wallet_get_balance(w, i, 0, &b) != OFFPAY_OK ||
            b.confirmed < 0 || b.pending < 0 || b.held < 0 ||
            b.available != b.limit - b.confirmed - b.pending - b.held)
            abort();
        codes += b.codes;
    }
    if (codes != offpay_wallet_n_spends(w))
        abort();
}

/* Aborts unless a and b hold the same balances. */
static void check_same_balances(const offpay_wallet *a, const offpay_wallet *b)
{
    if (offpay_wallet_n_spends(a) != offpay_wallet_n_spends(b) ||
        offpay_wallet_n_credentials(a) != offpay_wallet_n_credentials(b))
        abort();
    for (size_t i = 0; i < offpay_wallet_n_credentials(a); i++) {
        offpay_wallet_balance x, y;

        if (offpay_wallet_get_balance(a, i, 0, &x) != OFFPAY_OK ||
            offpay_wallet_get_balance(b, i, 0, &y) != OFFPAY_OK ||
            memcmp(&x, &y, sizeof x) != 0)
            abort();
    }
}

/* Checks what the loader promises of a state it accepted. */
static void check_state(const offpay_wallet *w)
{
    check_balances(w);
    for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
        offpay_wallet_spend s;
        offpay_receipt      r;

        if (offpay_wallet_get_spend(w, i, &s) != OFFPAY_OK ||
            s.n_receipts > OFFPAY_WALLET_RECEIPTS_PER_CODE ||
            (s.n_receipts > 0 && s.charged < 0) || s.counter == 0)
            abort();
        for (uint32_t j = 0; j < s.n_receipts; j++)
            if (offpay_wallet_get_receipt(w, i, j, &r) != OFFPAY_OK ||
                r.serial != s.serial || r.counter != s.counter ||
                r.amount > s.authorized)
                abort();
        if (offpay_wallet_get_receipt(w, i, s.n_receipts, &r) !=
            OFFPAY_ENOTFOUND)
            abort();
    }
}

/* Aborts unless a and b hold the same codes, receipts and balances. */
static void check_same(const offpay_wallet *a, const offpay_wallet *b)
{
    if (offpay_wallet_n_spends(a) != offpay_wallet_n_spends(b) ||
        offpay_wallet_n_credentials(a) != offpay_wallet_n_credentials(b))
        abort();
    for (size_t i = 0; i < offpay_wallet_n_credentials(a); i++) {
        offpay_wallet_balance x, y;

        if (offpay_wallet_get_balance(a, i, 0, &x) != OFFPAY_OK ||
            offpay_wallet_get_balance(b, i, 0, &y) != OFFPAY_OK ||
            memcmp(&x, &y, sizeof x) != 0)
            abort();
    }
    for (size_t i = 0; i < offpay_wallet_n_spends(a); i++) {
        offpay_wallet_spend x, y;

        if (offpay_wallet_get_spend(a, i, &x) != OFFPAY_OK ||
            offpay_wallet_get_spend(b, i, &y) != OFFPAY_OK ||
            memcmp(&x, &y, sizeof x) != 0)
            abort();
        for (uint32_t j = 0; j < x.n_receipts; j++) {
            offpay_receipt r, t;

            if (offpay_wallet_get_receipt(a, i, j, &r) != OFFPAY_OK ||
                offpay_wallet_get_receipt(b, i, j, &t) != OFFPAY_OK ||
                memcmp(r.sig, t.sig, sizeof r.sig) != 0 || r.amount != t.amount)
                abort();
        }
    }
}

/* libFuzzer entry point: load data as a wallet state. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int     inited;
    offpay_wallet *w = NULL, *w2 = NULL;
    char          *t1 = NULL, *t2 = NULL;
    uint8_t       *img = NULL;
    size_t         l1 = 0, l2 = 0, img_len = 0, valid = 0;
    offpay_err     rc;

    if (!inited) {
        if (offpay_init() != OFFPAY_OK)
            abort();
        inited = 1;
    }
    rc = offpay__wallet_state_load(data, size, &w);
    if (rc == OFFPAY_ECORRUPT || rc == OFFPAY_ENOMEM) {
        if (w != NULL)
            abort();
        return 0;
    }
    if (rc != OFFPAY_OK || w == NULL)
        abort();
    if (offpay__wallet_state_dump(w, &t1, &l1) != OFFPAY_OK)
        abort();
    rc = offpay__wallet_log_image(w, &img, &img_len);
    if (rc == OFFPAY_EINVAL) {
        /* A format 4 state whose checkpoint counts records it does not
         * hold (they are in the log file): its sums alone, and they
         * survive a dump; its codes are not to be had (no file). */
        offpay_wallet_spend s;

        check_balances(w);
        if (offpay_wallet_n_spends(w) == 0 ||
            offpay_wallet_get_spend(w, 0, &s) != OFFPAY_EINVAL ||
            offpay__wallet_state_load((const uint8_t *)t1, l1, &w2) !=
                OFFPAY_OK ||
            offpay__wallet_state_dump(w2, &t2, &l2) != OFFPAY_OK || l1 != l2 ||
            memcmp(t1, t2, l1) != 0)
            abort();
        check_same_balances(w, w2);
        goto done;
    }
    if (rc != OFFPAY_OK)
        abort();
    check_state(w);
    if (offpay__wallet_state_load((const uint8_t *)t1, l1, &w2) != OFFPAY_OK ||
        offpay__wallet_log_replay(w2, img, img_len, &valid) != OFFPAY_OK ||
        valid != img_len ||
        offpay__wallet_state_dump(w2, &t2, &l2) != OFFPAY_OK || l1 != l2 ||
        memcmp(t1, t2, l1) != 0)
        abort();
    check_same(w, w2);
done:
    offpay__json_free(t1);
    offpay__json_free(t2);
    free(img);
    offpay_wallet_close(w2);
    offpay_wallet_close(w);
    return 0;
}
