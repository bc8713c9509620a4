/*
 * fuzz_server_wallet_upload.c — libFuzzer target for
 * srv_parse_wallet_upload (src/server/wallet_upload.c), the body of POST
 * /v1/wallet/upload: JSON from anyone on the network, parsed before the
 * signature is checked.
 *
 * Contract checked on every input:
 *   - parsing never crashes or leaks, and fails only with MALFORMED_JSON,
 *     BAD_FIELD or BATCH_TOO_LARGE, leaving nothing allocated and a
 *     NUL-terminated hint Jansson takes as a string (valid UTF-8: the
 *     answer quotes it);
 *   - a parsed batch holds 1..cap items, each code 1..SRV_CODE_MAX bytes
 *     and 0..OFFPAY_SETTLE_RECEIPTS_MAX receipts of
 *     1..OFFPAY_SETTLE_RECEIPT_MAX_BYTES bytes;
 *   - the batch written back as JSON parses to the same bytes.
 * Any violation abort()s.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define CAP 8

static void check_round_trip(const srv_wallet_upload *u)
{
    json_t           *items = json_array(), *doc;
    char             *text, hint[160];
    srv_wallet_upload again;

    if (items == NULL)
        abort();
    for (size_t i = 0; i < u->n; i++) {
        const offpay_wallet_item *it = &u->items[i];
        json_t                   *rs = json_array();

        for (size_t k = 0; rs != NULL && k < it->n_receipts; k++)
            json_array_append_new(
                rs, srv_json_b64(it->receipt[k], it->receipt_len[k]));
        json_array_append_new(items,
                              json_pack("{s:o, s:o}", "code",
                                        srv_json_b64(it->code, it->code_len),
                                        "receipts", rs));
    }
    doc = json_pack("{s:o}", "items", items);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text == NULL ||
        srv_parse_wallet_upload((const uint8_t *)text, strlen(text), CAP,
                                &again, hint, sizeof hint) != 0 ||
        again.n != u->n)
        abort();
    for (size_t i = 0; i < u->n; i++) {
        const offpay_wallet_item *a = &u->items[i], *b = &again.items[i];

        if (a->code_len != b->code_len ||
            memcmp(a->code, b->code, a->code_len) != 0 ||
            a->n_receipts != b->n_receipts)
            abort();
        for (size_t k = 0; k < a->n_receipts; k++)
            if (a->receipt_len[k] != b->receipt_len[k] ||
                memcmp(a->receipt[k], b->receipt[k], a->receipt_len[k]) != 0)
                abort();
    }
    srv_wallet_upload_free(&again);
    free(text);
    json_decref(doc);
}

/* A hint goes into a JSON answer: it must be a string Jansson takes
 * (valid UTF-8), or the answer falls back to the error's generic hint. */
static int is_text(const char *hint)
{
    json_t *j = json_string(hint);

    json_decref(j);
    return j != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_wallet_upload u;
    char              hint[160];
    int               e;

    e = srv_parse_wallet_upload(data, size, CAP, &u, hint, sizeof hint);
    if (e != 0) {
        if ((e != SRV_E_MALFORMED_JSON && e != SRV_E_BAD_FIELD &&
             e != SRV_E_BATCH_TOO_LARGE) ||
            u.items != NULL || u.bytes != NULL || u.n != 0 ||
            memchr(hint, '\0', sizeof hint) == NULL || !is_text(hint))
            abort();
        return 0;
    }
    if (u.n == 0 || u.n > CAP)
        abort();
    for (size_t i = 0; i < u.n; i++) {
        const offpay_wallet_item *it = &u.items[i];

        if (it->code_len == 0 || it->code_len > SRV_CODE_MAX ||
            it->n_receipts > OFFPAY_SETTLE_RECEIPTS_MAX)
            abort();
        for (size_t k = 0; k < it->n_receipts; k++)
            if (it->receipt_len[k] == 0 ||
                it->receipt_len[k] > OFFPAY_SETTLE_RECEIPT_MAX_BYTES)
                abort();
    }
    check_round_trip(&u);
    srv_wallet_upload_free(&u);
    return 0;
}
