/*
 * fuzz_server_upload.c — libFuzzer target for srv_parse_upload
 * (src/server/parse.c), the body of POST /v1/terminal/upload: JSON from
 * anyone on the network, parsed before the signature is checked.
 *
 * Contract checked on every input:
 *   - parsing never crashes or leaks, and fails only with MALFORMED_JSON,
 *     BAD_FIELD or BATCH_TOO_LARGE, leaving nothing allocated and a hint
 *     Jansson takes as a string (valid UTF-8: the answer quotes it);
 *   - a parsed batch holds 1..cap items, each code 1..SRV_CODE_MAX bytes,
 *     charged within the wire range, seq >= 0;
 *   - the batch written back as JSON parses to the same values.
 * Any violation abort()s.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define CAP 8

static void check_round_trip(const srv_upload *u)
{
    json_t    *items = json_array(), *doc;
    char      *text, hint[160];
    srv_upload again;

    if (items == NULL)
        abort();
    for (size_t i = 0; i < u->n; i++) {
        char seq[24];

        snprintf(seq, sizeof seq, "%lld", (long long)u->items[i].seq);
        json_array_append_new(
            items,
            json_pack("{s:s, s:o, s:I, s:I}", "seq", seq, "code",
                      srv_json_b64(u->items[i].code, u->items[i].code_len),
                      "charged", (json_int_t)u->items[i].charged, "accepted_at",
                      (json_int_t)u->items[i].accepted_at));
    }
    doc = json_pack("{s:o}", "items", items);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text == NULL ||
        srv_parse_upload((const uint8_t *)text, strlen(text), CAP, &again, hint,
                         sizeof hint) != 0 ||
        again.n != u->n)
        abort();
    for (size_t i = 0; i < u->n; i++)
        if (again.items[i].seq != u->items[i].seq ||
            again.items[i].charged != u->items[i].charged ||
            again.items[i].accepted_at != u->items[i].accepted_at ||
            again.items[i].code_len != u->items[i].code_len ||
            memcmp(again.items[i].code, u->items[i].code,
                   u->items[i].code_len) != 0)
            abort();
    srv_upload_free(&again);
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
    srv_upload u;
    char       hint[160];
    int        e;

    e = srv_parse_upload(data, size, CAP, &u, hint, sizeof hint);
    if (e != 0) {
        if ((e != SRV_E_MALFORMED_JSON && e != SRV_E_BAD_FIELD &&
             e != SRV_E_BATCH_TOO_LARGE) ||
            u.items != NULL || u.codes != NULL || u.n != 0 ||
            memchr(hint, '\0', sizeof hint) == NULL || !is_text(hint))
            abort();
        return 0;
    }
    if (u.n == 0 || u.n > CAP)
        abort();
    for (size_t i = 0; i < u.n; i++)
        if (u.items[i].code_len == 0 || u.items[i].code_len > SRV_CODE_MAX ||
            u.items[i].charged < 0 ||
            u.items[i].charged > OFFPAY_WIRE_AMOUNT_MAX || u.items[i].seq < 0)
            abort();
    check_round_trip(&u);
    srv_upload_free(&u);
    return 0;
}
