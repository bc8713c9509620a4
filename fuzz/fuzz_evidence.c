/*
 * fuzz_evidence.c — libFuzzer target for offpay_evidence_verify
 * (settle.h): the parser and checker of a case's evidence file
 * (docs/settlement.md §9), JSON with base64 messages inside. The root key
 * is the fixed one tests/unit/test_evidence.c signs its worlds with, so
 * the seed corpus it wrote (OFFPAY_EVIDENCE_CORPUS_OUT) verifies and
 * mutations reach every check.
 *
 * Contract checked on every input:
 *   - verification never crashes and fails only with a format, decoding,
 *     signature or evidence error, saying why (r.why not empty);
 *   - a verified file is within the caps and proves its kind: a double
 *     spend has two codes with one counter, a duplicate two presentments
 *     of its one code at different terminals, an overspend a total above
 *     the limit;
 *   - verifying again gives the same result (pure function).
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"
#include "offpay/settle.h"

static const uint8_t ROOT_SEED[OFFPAY_SEED_BYTES] =
    "offpay fuzz evidence root seed!";

static int allowed(offpay_err rc)
{
    switch (rc) {
    case OFFPAY_ETOOBIG:
    case OFFPAY_EMALFORMED:
    case OFFPAY_EVERSION:
    case OFFPAY_ETRUNCATED:
    case OFFPAY_ETRAILING:
    case OFFPAY_ETYPE:
    case OFFPAY_ECURRENCY_UNKNOWN:
    case OFFPAY_EBUNDLE_SIG:
    case OFFPAY_EUNKNOWN_KID:
    case OFFPAY_EKID_EXPIRED:
    case OFFPAY_ECRED_SIG:
    case OFFPAY_ECODE_SIG:
    case OFFPAY_EEXPIRED:
    case OFFPAY_ENOT_YET_VALID:
    case OFFPAY_ECURRENCY:
    case OFFPAY_ECODE_FUTURE:
    case OFFPAY_EEVIDENCE:
        return 1;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t   empty[1];
    static offpay_keypair  root;
    static int             ready;
    offpay_evidence_report r, again;
    offpay_err             rc;

    if (!ready) {
        if (offpay_init() != OFFPAY_OK ||
            offpay_keypair_from_seed(ROOT_SEED, &root) != OFFPAY_OK)
            abort();
        ready = 1;
    }
    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    rc = offpay_evidence_verify(data, size, root.pk, &r);
    if (offpay_evidence_verify(data, size, root.pk, &again) != rc)
        abort();
    if (rc != OFFPAY_OK) {
        if (!allowed(rc) || r.why[0] == '\0')
            abort();
        return 0;
    }
    if (size > OFFPAY_EVIDENCE_MAX_BYTES || r.n_codes == 0 ||
        r.n_codes > OFFPAY_EVIDENCE_CODES_MAX || r.n_presentments == 0 ||
        r.n_presentments > OFFPAY_EVIDENCE_PRESENTMENTS_MAX ||
        r.n_terminals == 0 || r.n_terminals > OFFPAY_EVIDENCE_TERMINALS_MAX ||
        r.n_receipts > OFFPAY_EVIDENCE_RECEIPTS_MAX)
        abort();
    switch (r.kind) {
    case OFFPAY_CASE_DOUBLE_SPEND:
        if (r.n_codes != 2 || r.a.counter != r.b.counter ||
            r.a.code == r.b.code)
            abort();
        break;
    case OFFPAY_CASE_DUPLICATE:
        if (r.n_codes != 1 || r.a.terminal_id == r.b.terminal_id)
            abort();
        break;
    case OFFPAY_CASE_OVERSPEND:
        if (r.total <= r.limit)
            abort();
        break;
    case OFFPAY_CASE_RECEIPT_MISMATCH:
        if (r.n_receipts == 0 || r.a.charged == r.b.charged)
            abort();
        break;
    default:
        abort();
    }
    return 0;
}
