/*
 * overview.c — GET /v1/admin/overview?from=T&width=S: what the operator's
 * dashboard (docs/dashboard.md) shows, in one reply: money by account kind,
 * presentments uploaded since from in buckets of width seconds by outcome,
 * every terminal with its last upload and its last report (POST
 * /v1/terminal/status), and the newest revoked credentials. Defaults: hourly
 * buckets over the last 24 hours. The audit is not here: it recomputes every
 * balance, far slower on a big ledger, so the page asks GET /v1/admin/audit for
 * it after showing the rest.
 */
#include <string.h>

#include "server/server.h"

#define WIDTH_DEFAULT 3600u
#define SPAN_DEFAULT  (24u * 3600u)

static json_t *opt_time(int present, uint32_t t)
{
    return present ? json_integer((json_int_t)t) : json_null();
}

/* Appends v (taken) to *arr; on failure (v NULL: a value Jansson refused,
 * or no memory) frees *arr and sets it NULL, so that a row is never left
 * out in silence: the answer is an error instead. */
static void append(json_t **arr, json_t *v)
{
    if (*arr != NULL && (v == NULL || json_array_append_new(*arr, v) != 0)) {
        json_decref(*arr);
        *arr = NULL;
    }
}

static json_t *kinds_json(const offpay_overview *o)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < o->n_kinds; i++) {
        const offpay_overview_kind *k = &o->kinds[i];
        const char                 *alpha = offpay_currency_alpha(k->currency);

        append(&arr, json_pack("{s:s, s:s, s:I, s:o}", "kind",
                               offpay_account_kind_name(k->kind), "currency",
                               alpha ? alpha : "", "accounts",
                               (json_int_t)k->accounts, "balance",
                               srv_json_amount(k->balance, k->currency)));
    }
    return arr;
}

static json_t *buckets_json(const offpay_overview *o)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < o->n_buckets; i++) {
        const offpay_overview_bucket *b = &o->buckets[i];
        const char *alpha = offpay_currency_alpha(b->currency);

        append(&arr,
               json_pack("{s:I, s:s, s:s, s:I, s:o, s:o, s:o}", "start",
                         (json_int_t)b->start, "currency", alpha ? alpha : "",
                         "outcome", srv_outcome_name(b->outcome), "count",
                         (json_int_t)b->count, "charged",
                         srv_json_amount(b->charged, b->currency), "paid",
                         srv_json_amount(b->paid, b->currency), "covered",
                         srv_json_amount(b->covered, b->currency)));
    }
    return arr;
}

static json_t *terminals_json(const offpay_overview *o)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < o->n_terminals; i++) {
        const offpay_overview_terminal *t = &o->terminals[i];
        const char *alpha = offpay_currency_alpha(t->currency);
        json_t     *report = srv_json_report(&t->report, t->currency);
        append(&arr,
               json_pack(
                   "{s:I, s:o, s:o, s:s, s:s, s:I, s:b, s:o, s:o, s:I, "
                   "s:o, s:o}",
                   "terminal", (json_int_t)t->terminal_id, "label",
                   t->label[0] != '\0' ? json_string(t->label) : json_null(),
                   "merchant", srv_json_id(t->merchant_id), "merchant_name",
                   t->merchant_name, "currency", alpha ? alpha : "",
                   "created_at", (json_int_t)t->created_at, "revoked",
                   t->revoked, "revoked_at",
                   opt_time(t->revoked, t->revoked_at), "revoke_reason",
                   t->revoked && t->revoke_reason[0] != '\0'
                       ? json_string(t->revoke_reason)
                       : json_null(),
                   "presentments", (json_int_t)t->presentments, "last_upload",
                   opt_time(t->last_upload != 0, t->last_upload), "report",
                   report));
    }
    return arr;
}

static json_t *revoked_json(const offpay_overview *o)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < o->n_revoked; i++) {
        const offpay_overview_revoked *v = &o->revoked[i];

        append(&arr, json_pack("{s:o, s:o, s:I, s:s, s:o, s:b}", "serial",
                               srv_json_id(v->serial), "account",
                               srv_json_id(v->wallet_account), "revoked_at",
                               (json_int_t)v->revoked_at, "reason", v->reason,
                               "remaining",
                               srv_json_amount(v->remaining, v->currency),
                               "released", v->released));
    }
    return arr;
}

void srv_overview(srv_req *r, srv_reply *out)
{
    const char      *qf = r->query(r->conn, "from");
    const char      *qw = r->query(r->conn, "width");
    uint64_t         from, width = WIDTH_DEFAULT;
    offpay_overview *o = NULL;
    offpay_err       rc;

    from = r->now > SPAN_DEFAULT ? r->now - SPAN_DEFAULT : 0;
    if ((qf != NULL && srv_parse_u64(qf, r->now, &from) != 0) ||
        (qw != NULL &&
         (srv_parse_u64(qw, 31u * 86400u, &width) != 0 || width < 60)) ||
        (r->now - (uint32_t)(from - from % width)) / width >=
            OFFPAY_OVERVIEW_BUCKETS_MAX) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "from: a unix time not after now; width: 60..2678400 "
                 "seconds; at most 744 buckets from from to now");
        return;
    }
    rc = offpay_ledger_overview(r->l, (uint32_t)from, (uint32_t)width, r->now,
                                &o);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "overview");
        return;
    }
    srv_ok(out, json_pack(
                    "{s:I, s:o, s:{s:I, s:I, s:I, s:o}, s:o, s:o, "
                    "s:{s:b, s:b, s:b, s:b}}",
                    "time", (json_int_t)r->now, "kinds", kinds_json(o),
                    "settlement", "from", (json_int_t)o->from, "to",
                    (json_int_t)o->now, "width", (json_int_t)o->width,
                    "buckets", buckets_json(o), "terminals", terminals_json(o),
                    "revoked_credentials", revoked_json(o), "more", "kinds",
                    o->kinds_more, "buckets", o->buckets_more, "terminals",
                    o->terminals_more, "revoked_credentials", o->revoked_more));
    offpay_overview_free(o);
}
