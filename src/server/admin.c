/*
 * admin.c — ledger-wide operator endpoints: POST /v1/admin/release (release
 * every escrow due now, as the server's own job does) and GET
 * /v1/admin/audit (recompute every balance, the money per currency; 200
 * when the ledger holds,
 * 500 EAUDIT with the same report when it does not). One audit at a time:
 * it reads every transfer, holding a ledger connection as long, and a
 * dashboard's refreshes would otherwise take every connection the
 * terminals' uploads and syncs need (429 AUDIT_RUNNING meanwhile).
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/amount_int.h"
#include "server/server.h"

static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;

void srv_release(srv_req *r, srv_reply *out)
{
    offpay_release_report rep;
    offpay_err            rc = OFFPAY_OK;
    uint32_t              ahead = 0;
    int                   vouch = 0;

    /* {} or {"vouch": bool}: vouch for offpayd's clock first */
    if (r->body_len != 0) {
        srv_value v[1] = {{0}};
        json_t   *doc = NULL;
        char      hint[160];
        int       e = srv_parse_object(r->body, r->body_len, srv_fields_release,
                                       SRV_N(srv_fields_release), v, &doc, hint,
                                       sizeof hint);

        json_decref(doc);
        if (e != 0) {
            srv_fail(out, (srv_err)e, hint);
            return;
        }
        vouch = v[0].present && v[0].b;
    }
    /* first, when asked: offpayd's clock is right, the newest transfers
     * were dated ahead of it (settlement.md §10, "The ledger's clock") */
    if (vouch)
        rc = offpay_ledger_clock_vouch(r->l, r->now, &ahead);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "vouch for the clock");
        return;
    }
    if (vouch)
        srv_log_request(r, 0,
                        "vouched for offpayd's clock: bookings are held to "
                        "it; the newest transfer was dated %lu s ahead of it",
                        (unsigned long)ahead);
    rc = offpay_ledger_release_report(r->l, r->now, &rep);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "release");
    } else {
        json_t *arr = json_array();
        char    said[1024] = "", m[OFFPAY__MONEY_TEXT_MAX];
        size_t  at = 0;

        /* each currency's own sum, back to the payers' accounts */
        for (size_t i = 0; i < rep.n_sums; i++) {
            const offpay_release_sum *x = &rep.sums[i];

            json_array_append_new(
                arr, json_pack("{s:s, s:I, s:o}", "currency",
                               offpay_currency_alpha(x->currency), "escrows",
                               (json_int_t)x->escrows, "amount",
                               srv_json_amount(x->returned, x->currency)));
            if (at < sizeof said)
                at += (size_t)snprintf(
                    said + at, sizeof said - at, "%s %s", i == 0 ? ":" : ",",
                    offpay__money_text(x->returned, x->currency, m));
        }
        srv_log_request(r, 0,
                        "released %zu escrow(s)%s back to the payers' "
                        "accounts; %zu claim(s) on the guarantee paid",
                        rep.released, said, rep.claims_paid);
        srv_ok(out,
               json_pack("{s:I, s:o, s:b, s:I, s:I, s:b, s:I}", "released",
                         (json_int_t)rep.released, "returned",
                         arr != NULL ? arr : json_null(), "returned_more",
                         rep.more, "claims_paid", (json_int_t)rep.claims_paid,
                         "time", (json_int_t)r->now, "vouched", vouch,
                         "ahead_seconds", (json_int_t)ahead));
    }
}

/* The audit's money, one member per currency: the amounts of different
 * currencies are never added. */
static json_t *money_json(const offpay_audit_report *a)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < a->n_money; i++) {
        const offpay_audit_money *m = &a->money[i];
        const char               *alpha = offpay_currency_alpha(m->currency);

        json_array_append_new(
            arr,
            json_pack("{s:s, s:o, s:o, s:o}", "currency", alpha ? alpha : "",
                      "inside", srv_json_amount(m->inside, m->currency),
                      "deposits_net",
                      srv_json_amount(m->deposits_net, m->currency),
                      "guarantee_owed", srv_json_amount(m->owed, m->currency)));
    }
    return arr;
}

void srv_audit(srv_req *r, srv_reply *out)
{
    offpay_audit_report a = {0};
    offpay_err          rc;
    json_t             *j;

    if (pthread_mutex_trylock(&audit_mu) != 0) {
        srv_fail(out, SRV_E_AUDIT_RUNNING, NULL);
        return;
    }
    rc = offpay_ledger_audit(r->l, &a);
#ifdef OFFPAY_TEST_HOOKS
    /* Test hook: OFFPAYD_AUDIT_DELAY_MS makes an audit take that long more
     * (a big ledger's), to show the one-at-a-time rule. */
    if (getenv("OFFPAYD_AUDIT_DELAY_MS") != NULL) {
        long            ms = atol(getenv("OFFPAYD_AUDIT_DELAY_MS"));
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
#endif
    pthread_mutex_unlock(&audit_mu);
    if (rc != OFFPAY_OK && rc != OFFPAY_EAUDIT) {
        srv_fail_engine(out, rc, "audit");
        return;
    }
    j = json_pack("{s:b, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
                  " s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                  "ok", rc == OFFPAY_OK, "money", money_json(&a), "money_more",
                  a.money_more != 0, "money_mismatch",
                  (json_int_t)a.money_mismatch, "accounts",
                  (json_int_t)a.accounts, "transfers", (json_int_t)a.transfers,
                  "imbalanced", (json_int_t)a.imbalanced, "negative",
                  (json_int_t)a.negative, "escrow_mismatch",
                  (json_int_t)a.escrow_mismatch, "settle_mismatch",
                  (json_int_t)a.settle_mismatch, "release_mismatch",
                  (json_int_t)a.release_mismatch, "request_mismatch",
                  (json_int_t)a.request_mismatch, "refund_mismatch",
                  (json_int_t)a.refund_mismatch, "mark_mismatch",
                  (json_int_t)a.mark_mismatch, "case_mismatch",
                  (json_int_t)a.case_mismatch, "result_mismatch",
                  (json_int_t)a.result_mismatch, "fund_mismatch",
                  (json_int_t)a.fund_mismatch, "newest_transfer_at",
                  (json_int_t)a.newest_transfer_at);
    /* (since 0.31.0; beside the others, the pack's arguments are full) */
    if (j != NULL)
        json_object_set_new(j, "trail_mismatch",
                            json_integer((json_int_t)a.trail_mismatch));
    if (rc == OFFPAY_EAUDIT && j != NULL) {
        json_object_set_new(j, "error", json_string("EAUDIT"));
        json_object_set_new(j, "hint",
                            json_string(offpay_strerror(OFFPAY_EAUDIT)));
    }
    srv_ok(out, j);
    if (rc == OFFPAY_EAUDIT)
        out->status = 500;
}
