/*
 * terminal_list.c — GET /v1/admin/terminals: the registered terminals, a
 * page at a time by id (of one merchant with ?merchant=), and GET
 * /v1/admin/terminals/N: one of them. Each as the directory holds it
 * (offpay_ledger_terminals): its merchant, key, state (active, revoked,
 * decommissioned, rotated with the terminal it was rotated to), when it
 * was registered and revoked and why, its credential's term and the
 * issuer key that signed it (kid), and its last sync's report.
 */
#include <sodium.h>
#include <stdlib.h>

#include "server/server.h"

static const char *state_name(offpay_terminal_state s)
{
    switch (s) {
    case OFFPAY_TERMINAL_ACTIVE:
        return "active";
    case OFFPAY_TERMINAL_REVOKED:
        return "revoked";
    case OFFPAY_TERMINAL_DECOMMISSIONED:
        return "decommissioned";
    case OFFPAY_TERMINAL_ROTATED:
        return "rotated";
    }
    return "unknown";
}

/* A Unix time, or null for 0 (none). */
static json_t *time_or_null(uint32_t t)
{
    return t != 0 ? json_integer((json_int_t)t) : json_null();
}

/* One terminal's JSON (NULL: no memory). */
static json_t *terminal_json(const offpay_ledger_terminal_entry *t)
{
    char    key[2 * OFFPAY_PK_BYTES + 1];
    json_t *report = srv_json_report(&t->report, t->currency);

    sodium_bin2hex(key, sizeof key, t->pk, OFFPAY_PK_BYTES);
    return json_pack(
        "{s:I, s:o, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o}",
        "terminal_id", (json_int_t)t->terminal_id, "merchant",
        srv_json_id(t->merchant_id), "merchant_name", t->merchant_name,
        "currency", offpay_currency_alpha(t->currency), "terminal_key", key,
        "state", state_name(t->state), "created_at", (json_int_t)t->created_at,
        "revoked_at",
        t->state != OFFPAY_TERMINAL_ACTIVE ? time_or_null(t->revoked_at)
                                           : json_null(),
        /* null while active, and for a revocation made before the ledger
         * kept reasons (0.18.0) */
        "revoke_reason",
        t->state != OFFPAY_TERMINAL_ACTIVE && t->revoke_reason[0] != '\0'
            ? json_string(t->revoke_reason)
            : json_null(),
        "rotated_to",
        t->rotated_to != 0 ? json_integer((json_int_t)t->rotated_to)
                           : json_null(),
        "valid_from", time_or_null(t->valid_from), "expires",
        time_or_null(t->expires), "label",
        t->label[0] != '\0' ? json_string(t->label) : json_null(),
        /* the issuer key that signed its credential (GET /v1/admin/keys
         * says what each signed); null when the ledger holds none */
        "kid", t->kid >= 0 ? json_integer((json_int_t)t->kid) : json_null(),
        "report", report);
}

void srv_terminals_list(srv_req *r, srv_reply *out)
{
    const char                   *qm = r->query(r->conn, "merchant");
    uint64_t                      merchant = 0, after, limit;
    offpay_ledger_terminal_entry *v = NULL;
    size_t                        n = 0;
    json_t                       *arr;
    offpay_err                    rc;

    if (qm != NULL && srv_parse_id(qm, SRV_ID_MAX, &merchant) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "merchant: a decimal id from 1");
        return;
    }
    if (srv_parse_page(r->query(r->conn, "after"), r->query(r->conn, "limit"),
                       &after, &limit) != 0 ||
        after > UINT32_MAX) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "after: a terminal id; limit: 1..1000");
        return;
    }
    rc = offpay_ledger_terminals(r->l, merchant, (uint32_t)after, (size_t)limit,
                                 &v, &n);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine_hint(out, rc,
                             "no merchant %llu (GET "
                             "/v1/admin/merchants lists them)",
                             (unsigned long long)merchant);
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminals");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, terminal_json(&v[i]));
    /* null once a page is not full, as the other lists; a number, as terminal
     * ids are (32 bits) */
    srv_ok(out,
           json_pack("{s:I, s:o, s:o}", "count", (json_int_t)n, "terminals",
                     arr != NULL ? arr : json_null(), "next_after",
                     n > 0 && n == (size_t)limit
                         ? json_integer((json_int_t)v[n - 1].terminal_id)
                         : json_null()));
    free(v);
}

void srv_terminal_get(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_entry *v = NULL;
    size_t                        n = 0;
    uint64_t                      id;
    offpay_err                    rc;

    if (srv_parse_id(r->cap[0], UINT32_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "terminal: a decimal id from 1");
        return;
    }
    /* the page of one after id - 1: the terminal, or the next one */
    rc = offpay_ledger_terminals(r->l, 0, (uint32_t)(id - 1), 1, &v, &n);
    if (rc == OFFPAY_OK && (n == 0 || v[0].terminal_id != id)) {
        srv_fail_engine_hint(out, OFFPAY_ENOTFOUND,
                             "no terminal %llu (GET /v1/admin/terminals "
                             "lists them)",
                             (unsigned long long)id);
    } else if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal");
    } else {
        srv_ok(out, terminal_json(&v[0]));
    }
    free(v);
}
