/*
 * accounts.c — operator endpoints on accounts: POST /v1/admin/accounts (a
 * new wallet account, once under an Idempotency-Key), GET
 * /v1/admin/accounts?ref= (the payers' accounts, a page at a time, or
 * those of one reference), GET /v1/admin/accounts/ID
 * (balance, kind, currency, an escrow's serial), GET
 * /v1/admin/accounts/ID/transfers?from=T&to=T (its history, or a period's of it
 * by each transfer's own time), POST /v1/admin/accounts/ID/deposit and
 * .../withdraw (money from and to the outside world), POST /v1/admin/guarantee
 * (the issuer's guarantee account of a currency, created on first use).
 */
#include <stdlib.h>
#include <string.h>

#include "core/amount_int.h"
#include "core/message_int.h"
#include "server/server.h"

/* The account named by the path, its balance and currency; or a failure. */
static int account_of(srv_req *r, srv_reply *out, uint64_t *id,
                      int64_t *balance, offpay_account_kind *kind,
                      uint16_t *currency)
{
    offpay_err rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "account: a decimal id from 1");
        return -1;
    }
    rc = offpay_ledger_balance(r->l, *id, balance, kind, currency);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "account");
        return -1;
    }
    return 0;
}

static json_t *account_json(uint64_t id, int64_t balance,
                            offpay_account_kind kind, uint16_t currency)
{
    return json_pack("{s:o, s:s, s:s, s:o}", "account", srv_json_id(id), "kind",
                     offpay_account_kind_name(kind), "currency",
                     offpay_currency_alpha(currency), "balance",
                     srv_json_amount(balance, currency));
}

void srv_account_new(srv_req *r, srv_reply *out)
{
    srv_value   v[SRV_N(srv_fields_account)];
    json_t     *doc = NULL, *j;
    char        hint[128];
    uint16_t    currency;
    uint64_t    id;
    int64_t     balance = 0;
    offpay_err  rc;
    int         e, replayed = 0;
    const char *key;

    if (srv_request_key(r, out, &key) != 0)
        return;
    e = srv_parse_object(r->body, r->body_len, srv_fields_account,
                         SRV_N(srv_fields_account), v, &doc, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    rc = offpay_currency_from_alpha(v[0].s, &currency);
    /* once under an Idempotency-Key: a resend after a lost reply makes
     * no second account */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_wallet_account_once(r->l, key, currency,
                                               v[1].present ? v[1].s : "",
                                               r->now, &id, &replayed);
    if (rc == OFFPAY_EEXISTS && key != NULL) {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_REUSED,
                 "this Idempotency-Key was used for a different request "
                 "(another currency or ref, or another kind of request): "
                 "nothing was done");
    } else if (rc != OFFPAY_OK) {
        srv_fail_engine_currency(out, rc, "new account", v[0].s);
    } else {
        char ref[SRV_REF_MAX + 1];
        int  balance_read = 1;

        srv_log_text(v[1].present ? v[1].s : "", ref, sizeof ref);
        srv_log_request(r, replayed, "new wallet account %llu (%s, ref \"%s\")",
                        (unsigned long long)id, offpay_currency_alpha(currency),
                        ref);
        /* a replay's balance is the account's now (money may have moved
         * since), as a replayed deposit's */
        if (replayed)
            balance_read = offpay_ledger_balance(r->l, id, &balance, NULL,
                                                 NULL) == OFFPAY_OK;
        j = account_json(id, balance, OFFPAY_ACCOUNT_WALLET, currency);
        if (j != NULL && !balance_read)
            json_object_set_new(j, "balance", json_null());
        if (j != NULL && key != NULL)
            json_object_set_new(j, "replayed", json_boolean(replayed));
        srv_ok(out, j);
    }
    json_decref(doc);
}

/* account_json with the serial of the credential whose escrow it is
 * (null for another kind): GET of an account and of its history. */
static json_t *account_state_json(uint64_t id, const offpay_account_state *a)
{
    json_t *j = account_json(id, a->balance, a->kind, a->currency);

    if (j != NULL && json_object_set_new(j, "serial",
                                         a->serial != 0 ? srv_json_id(a->serial)
                                                        : json_null()) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *srv_json_transfer(const offpay_account_transfer *t, uint16_t currency)
{
    return offpay__json_transfer(t, currency);
}

/* An account's period (offpay_ledger_account_period): its opening and
 * closing balances and the sums by kind; null when it cannot be read
 * (the page is answered all the same). */
static json_t *period_json(srv_req *r, uint64_t id, uint32_t from, uint32_t to,
                           uint16_t cur)
{
    offpay_statement_account p;

    if (offpay_ledger_account_period(r->l, id, from, to, &p) != OFFPAY_OK)
        return json_null();
    return json_pack("{s:o, s:o, s:{s:o, s:o, s:o, s:o, s:o}}",
                     "opening_balance", srv_json_amount(p.opening_balance, cur),
                     "closing_balance", srv_json_amount(p.closing_balance, cur),
                     "movement_sums", "settled",
                     srv_json_amount(p.settled, cur), "refunds",
                     srv_json_amount(p.refunds, cur), "deposits",
                     srv_json_amount(p.deposits, cur), "withdrawals",
                     srv_json_amount(p.withdrawals, cur), "other",
                     srv_json_amount(p.other, cur));
}

void srv_account_transfers(srv_req *r, srv_reply *out)
{
    const char              *qf = r->query(r->conn, "from");
    const char              *qt = r->query(r->conn, "to");
    uint64_t                 id, after, limit;
    /* no bound by default: without from and to, the whole history, whose
     * pages do not move as now does */
    uint64_t                 from = 0, to = UINT32_MAX;
    offpay_account_state     a;
    offpay_account_transfer *v = NULL;
    size_t                   n = 0;
    json_t                  *arr, *j;
    offpay_err               rc;
    char                     hint[200];

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "account: a decimal id from 1");
        return;
    }
    if (srv_parse_page(r->query(r->conn, "after"), r->query(r->conn, "limit"),
                       &after, &limit) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "after: a transfer id; limit: 1..1000");
        return;
    }
    if (srv_parse_period(qf, qt, &from, &to, hint, sizeof hint) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    if (from > to) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "from <= to: unix times, both included (default: the whole "
                 "history)");
        return;
    }
    /* the account, its balance and the page in the same reads */
    rc = offpay_ledger_transfers_period(r->l, id, (uint32_t)from, (uint32_t)to,
                                        after, (size_t)limit, &v, &n, &a);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "account");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, srv_json_transfer(&v[i], a.currency));
    j = account_state_json(id, &a);
    if (j != NULL) {
        /* whether this period's transfers can still change (no to: they
         * can) */
        json_object_set_new(
            j, "final",
            json_boolean(offpay__period_final((uint32_t)to, r->now)));
        json_object_set_new(j, "count", json_integer((json_int_t)n));
        json_object_set_new(j, "transfers", arr != NULL ? arr : json_null());
        /* a period asked (as the CLI's: from above 0, or a to): its
         * balances, whatever the page (since 0.28.0) */
        if (from != 0 || to != UINT32_MAX)
            json_object_set_new(
                j, "period",
                period_json(r, id, (uint32_t)from, (uint32_t)to, a.currency));
        /* null once a page is not full, as the cases' list */
        json_object_set_new(
            j, "next_after",
            srv_json_next_after(n, limit, n > 0 ? v[n - 1].id : 0));
    } else
        json_decref(arr);
    srv_ok(out, j);
    free(v);
}

void srv_account_get(srv_req *r, srv_reply *out)
{
    offpay_account_state a;
    uint64_t             id;
    offpay_err           rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "account: a decimal id from 1");
        return;
    }
    rc = offpay_ledger_account(r->l, id, &a);
    if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "account");
    else
        srv_ok(out, account_state_json(id, &a));
}

int srv_json_escrow_held(json_t *j, const offpay_wallet_account_info *a,
                         uint32_t now)
{
    if (j == NULL ||
        json_object_set_new(j, "escrow_held",
                            srv_json_amount(a->escrow_held, a->currency)) !=
            0 ||
        json_object_set_new(j, "escrow_back",
                            a->escrow_back != 0
                                ? json_integer((json_int_t)a->escrow_back)
                                : json_null()) != 0 ||
        json_object_set_new(j, "late_until",
                            a->late_until > now
                                ? json_integer((json_int_t)a->late_until)
                                : json_null()) != 0 ||
        srv_json_late_held(j, a->late_held, a->late_held_until, a->currency) !=
            0)
        return -1;
    return 0;
}

int srv_json_late_held(json_t *j, int64_t held, uint32_t until,
                       uint16_t currency)
{
    if (json_object_set_new(j, "late_held", srv_json_amount(held, currency)) !=
            0 ||
        json_object_set_new(j, "late_held_until",
                            held > 0 ? json_integer((json_int_t)until)
                                     : json_null()) != 0)
        return -1;
    return 0;
}

static json_t *wallet_account_json(const offpay_wallet_account_info *a,
                                   uint32_t                          now)
{
    json_t *j = json_pack(
        "{s:o, s:s, s:s, s:I, s:o, s:I, s:I, s:o}", "account",
        srv_json_id(a->id), "currency", offpay_currency_alpha(a->currency),
        "ref", a->ref, "created_at", (json_int_t)a->created_at, "balance",
        srv_json_amount(a->balance, a->currency), "credentials",
        (json_int_t)a->credentials, "credentials_active",
        (json_int_t)a->credentials_active, "lost_at",
        a->lost_at != 0 ? json_integer((json_int_t)a->lost_at) : json_null());

    if (j != NULL && srv_json_escrow_held(j, a, now) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

void srv_accounts_list(srv_req *r, srv_reply *out)
{
    const char                 *qr = r->query(r->conn, "ref");
    uint64_t                    after, limit;
    offpay_wallet_account_info *v = NULL;
    size_t                      n = 0;
    json_t                     *arr, *j;
    offpay_err                  rc;

    if (srv_parse_page(r->query(r->conn, "after"), r->query(r->conn, "limit"),
                       &after, &limit) != 0 ||
        (qr != NULL && strlen(qr) > OFFPAY_LEDGER_REF_MAX)) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "ref: at most 128 bytes; after: an account id; limit: "
                 "1..1000");
        return;
    }
    rc = offpay_ledger_wallet_accounts_at(r->l, qr, after, (size_t)limit,
                                          r->now, &v, &n);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "accounts");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, wallet_account_json(&v[i], r->now));
    /* null once a page is not full, as the other lists */
    j = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)n, "accounts",
                  arr != NULL ? arr : json_null(), "next_after",
                  srv_json_next_after(n, limit, n > 0 ? v[n - 1].id : 0));
    srv_ok(out, j);
    free(v);
}

/* A withdrawal from wallet account id: "warning" in j, the late payments
 * that may still be taken from it (null when none). */
static void withdraw_warning(srv_req *r, uint64_t id, json_t *j)
{
    char buf[OFFPAY__WITHDRAW_TEXT_MAX];
    int  w = offpay__withdraw_warning(r->l, id, r->now, buf);

    /* nothing when the account's row cannot be read: not known, not null */
    if (w >= 0)
        json_object_set_new(j, "warning", w ? json_string(buf) : json_null());
}

/* A withdrawal from the guarantee of currency: "warning" in j, what it
 * holds and owes now, and what an overspend meets then. */
static void guarantee_warning(srv_req *r, uint16_t currency, json_t *j)
{
    char buf[OFFPAY__WITHDRAW_TEXT_MAX];

    if (offpay__guarantee_withdraw_warning(r->l, currency, r->now, buf) > 0) {
        json_object_set_new(j, "warning", json_string(buf));
        srv_log_request(r, 0, "WARNING: %s", buf);
    }
}

/* A withdrawal of amount from account id refused EFUNDS, its hint as
 * render.c words it. */
static void withdraw_refused(srv_req *r, srv_reply *out, uint64_t id,
                             int64_t amount)
{
    char        buf[OFFPAY__WITHDRAW_TEXT_MAX];
    const char *why = offpay__withdraw_refused(r->l, id, amount, r->now,
                                               "send \"take_held\": true", buf);

    if (why == NULL)
        srv_fail_engine(out, OFFPAY_EFUNDS, "withdrawal");
    else
        srv_fail_engine_hint(out, OFFPAY_EFUNDS, "%s", why);
}

/* "shards": [{"shard":K,"balance":AMOUNT or null}, ...] into j, when the
 * ledger has more than one; 0, or -1 (the parts could not be read). */
static int guarantee_parts(srv_req *r, uint16_t currency, json_t *j)
{
    int64_t parts[OFFPAY_SHARDS_MAX];
    size_t  n = 0;
    json_t *a;

    if (offpay_ledger_guarantee_parts(r->l, currency, parts, &n) != OFFPAY_OK)
        return -1;
    if (n < 2)
        return 0;
    a = json_array();
    for (size_t k = 0; a != NULL && k < n; k++)
        json_array_append_new(
            a, json_pack("{s:I, s:o}", "shard", (json_int_t)k, "balance",
                         parts[k] < 0 ? json_null()
                                      : srv_json_amount(parts[k], currency)));
    return a != NULL && json_object_set_new(j, "shards", a) == 0 ? 0 : -1;
}

static void move(srv_req *r, srv_reply *out, int deposit)
{
    srv_value           v[SRV_N(srv_fields_money)];
    json_t             *doc = NULL;
    char                hint[128];
    uint64_t            id, transfer = 0;
    int64_t             balance, amount = 0;
    offpay_account_kind kind;
    uint16_t            currency;
    offpay_err          rc;
    int                 e, replayed = 0, balance_read = 1;
    const char         *key;

    if (account_of(r, out, &id, &balance, &kind, &currency) != 0 ||
        srv_request_key(r, out, &key) != 0)
        return;
    e = srv_parse_object(r->body, r->body_len, srv_fields_money,
                         SRV_N(srv_fields_money), v, &doc, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    rc = offpay_amount_parse(v[0].s, currency, &amount);
    if (rc != OFFPAY_OK || amount <= 0) {
        srv_fail_amount(out, rc, "amount", v[0].s, currency);
        goto out;
    }
    if (deposit && v[2].present) {
        srv_fail(out, SRV_E_BAD_FIELD,
                 "field 'take_held' is for withdrawals only");
        goto out;
    }
    {
        const char *ref = v[1].present ? v[1].s : "";

        if (!deposit && v[2].present && v[2].b)
            rc = offpay_ledger_withdraw_held(r->l, id, amount, ref, key, r->now,
                                             &transfer, &replayed);
        else if (key != NULL)
            rc = offpay_ledger_move_once(r->l, id, amount, !deposit, ref, key,
                                         r->now, &transfer, &replayed);
        else if (deposit)
            rc = offpay_ledger_deposit(r->l, id, amount, ref, r->now,
                                       &transfer);
        else
            rc = offpay_ledger_withdraw(r->l, id, amount, ref, r->now,
                                        &transfer);
    }
    /* booked: the reply says so even if the balance cannot be read now
     * (a 5xx would have the client send it again) */
    if (rc == OFFPAY_OK &&
        offpay_ledger_balance(r->l, id, &balance, &kind, &currency) !=
            OFFPAY_OK)
        balance_read = 0;
    if (rc == OFFPAY_EOVERFLOW && deposit) { /* the ledger's bounds */
        char most[OFFPAY_AMOUNT_TEXT_MAX], bal[OFFPAY_AMOUNT_TEXT_MAX];

        offpay_amount_format(OFFPAY_LEDGER_DEPOSIT_MAX, currency, most,
                             sizeof most);
        offpay_amount_format(OFFPAY_LEDGER_BALANCE_MAX, currency, bal,
                             sizeof bal);
        srv_fail_engine_hint(out, rc,
                             "deposit: a deposit is at most %s and leaves "
                             "an account at most %s",
                             most, bal);
    } else if (rc == OFFPAY_EEXISTS && key != NULL) {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_REUSED, NULL);
    } else if (rc == OFFPAY_EFUNDS && !deposit) {
        withdraw_refused(r, out, id, amount);
    } else if (rc == OFFPAY_EINVAL && kind != OFFPAY_ACCOUNT_WALLET &&
               kind != OFFPAY_ACCOUNT_MERCHANT &&
               kind != OFFPAY_ACCOUNT_GUARANTEE) {
        char why[256];

        offpay__move_kind_refused(why, sizeof why, id, kind);
        srv_fail_engine_hint(out, rc, "%s: %s",
                             deposit ? "deposit" : "withdrawal", why);
    } else if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, deposit ? "deposit" : "withdrawal");
    } else {
        json_t *j = account_json(id, balance, kind, currency);
        char    amt[OFFPAY__MONEY_TEXT_MAX], ref[SRV_REF_MAX + 1];

        srv_log_text(v[1].present ? v[1].s : "", ref, sizeof ref);
        srv_log_request(r, replayed,
                        "%s %s %s %s account %llu (ref \"%s\"%s): "
                        "transfer %llu",
                        deposit ? "deposit" : "withdrawal",
                        offpay__money_text(amount, currency, amt),
                        deposit ? "into" : "from",
                        offpay_account_kind_name(kind), (unsigned long long)id,
                        ref,
                        !deposit && !replayed && v[2].present && v[2].b
                            ? ", take_held: the part held for late payments "
                              "may be taken"
                            : "",
                        (unsigned long long)transfer);
        if (j != NULL && !balance_read)
            json_object_set_new(j, "balance", json_null());
        if (j != NULL)
            json_object_set_new(j, "transfer", srv_json_id(transfer));
        if (j != NULL && key != NULL)
            json_object_set_new(j, "replayed", json_boolean(replayed));
        /* the guarantee's parts after it, on a sharded ledger: a part
         * emptied by a withdrawal is seen at once (best effort: booked
         * is booked) */
        if (j != NULL && kind == OFFPAY_ACCOUNT_GUARANTEE && balance_read)
            (void)guarantee_parts(r, currency, j);
        if (j != NULL && kind == OFFPAY_ACCOUNT_WALLET && !deposit)
            withdraw_warning(r, id, j);
        if (j != NULL && kind == OFFPAY_ACCOUNT_GUARANTEE && !deposit)
            guarantee_warning(r, currency, j);
        srv_ok(out, j);
    }
out:
    json_decref(doc);
}

void srv_account_deposit(srv_req *r, srv_reply *out)
{
    move(r, out, 1);
}

void srv_account_withdraw(srv_req *r, srv_reply *out)
{
    move(r, out, 0);
}

void srv_guarantee(srv_req *r, srv_reply *out)
{
    srv_value           v[SRV_N(srv_fields_guarantee)];
    json_t             *doc = NULL;
    char                hint[128];
    uint16_t            currency;
    uint64_t            id = 0;
    int64_t             balance = 0;
    offpay_account_kind kind = OFFPAY_ACCOUNT_GUARANTEE;
    offpay_err          rc;
    int                 e;

    e = srv_parse_object(r->body, r->body_len, srv_fields_guarantee,
                         SRV_N(srv_fields_guarantee), v, &doc, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    rc = offpay_currency_from_alpha(v[0].s, &currency);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_guarantee_account(r->l, currency, r->now, &id);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_balance(r->l, id, &balance, &kind, &currency);
    if (rc != OFFPAY_OK) {
        srv_fail_engine_currency(out, rc, "guarantee account", v[0].s);
    } else {
        json_t *j = account_json(id, balance, kind, currency);

        /* on a sharded ledger, each shard's part: a shard's overspends
         * are covered by its own (settlement.md §11) */
        if (j != NULL && guarantee_parts(r, currency, j) != 0) {
            json_decref(j);
            srv_fail(out, SRV_E_INTERNAL, "the guarantee's parts");
            j = NULL;
        }
        if (j != NULL) {
            srv_log_request(r, 0, "guarantee account %llu (%s)",
                            (unsigned long long)id,
                            offpay_currency_alpha(currency));
            srv_ok(out, j);
        }
    }
    json_decref(doc);
}

void srv_guarantee_view(srv_req *r, srv_reply *out)
{
    const char       *qc = r->query(r->conn, "currency");
    const char       *qf = r->query(r->conn, "from");
    const char       *qt = r->query(r->conn, "to");
    uint64_t          from, to;
    offpay__guarantee g;
    offpay_err        rc;
    char              hint[200];

    memset(&g, 0, sizeof g);
    if (qc == NULL ||
        offpay_currency_from_alpha(qc, &g.currency) != OFFPAY_OK) {
        /* none, or one in small letters (said so) or unknown */
        char q[SRV_QUOTE_MAX + 1];

        if (qc != NULL && strlen(qc) == 3 &&
            offpay__utf8_display_ok((const uint8_t *)qc, 3))
            srv_currency_words(qc, hint, sizeof hint);
        else
            snprintf(hint, sizeof hint,
                     "currency: %s%s%s: the guarantee's currency, such as EUR "
                     "(ISO 4217)",
                     qc == NULL ? "missing" : "'",
                     qc == NULL ? "" : srv_quote(qc, q),
                     qc == NULL ? "" : "' is not a currency offpay knows");
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    if (srv_parse_period_until(qf, qt, r->now, &from, &to, hint, sizeof hint) !=
        0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    g.from = (uint32_t)from;
    g.to = (uint32_t)to;
    g.now = r->now;
    rc = offpay__guarantee_read(r->l, &g);
    if (rc == OFFPAY_ENOMEM)
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
    else if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "guarantee");
    else
        srv_ok(out, offpay__guarantee_json(&g));
    offpay__guarantee_free(&g);
}
