/*
 * render.c — the JSON of the operator's views that offpayd's answers and
 * `offpay admin ... --json` share (render.h): one rendering, so the
 * command line and the HTTP API cannot drift apart. The merchant
 * statement is read here too: its lines paged and totalled, the period's
 * movements listed, as both give them.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/core.h"
#include "core/amount_int.h"
#include "core/unixtime.h"
#include "settle/render.h"

json_t *offpay__json_id(uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

/* A Unix time, or null for 0 (none). */
static json_t *time_or_null(uint32_t t)
{
    return t != 0 ? json_integer((json_int_t)t) : json_null();
}

json_t *offpay__json_key_use(const offpay_ledger_key_use *k)
{
    size_t  shown = k->terminals < OFFPAY_LEDGER_KEY_TERMINALS_SHOWN
                        ? k->terminals
                        : OFFPAY_LEDGER_KEY_TERMINALS_SHOWN;
    json_t *ids = json_array();

    for (size_t i = 0; ids != NULL && i < shown; i++)
        if (json_array_append_new(
                ids, json_integer((json_int_t)k->terminal_ids[i])) != 0) {
            json_decref(ids);
            ids = NULL;
        }
    if (ids == NULL)
        return NULL;
    return json_pack(
        "{s:I, s:b, s:b, s:o, s:o, s:I, s:o, s:b, s:I, s:I, s:o, s:o, s:b, "
        "s:b}",
        "kid", (json_int_t)k->kid, "in_bundle", k->in_bundle, "signing",
        k->signing, "valid_from", time_or_null(k->valid_from), "valid_until",
        time_or_null(k->valid_until), "live_terminals",
        (json_int_t)k->terminals, "terminal_ids", ids, "terminal_ids_more",
        k->terminals > shown, "credentials", (json_int_t)k->credentials,
        "credentials_live", (json_int_t)k->credentials_live,
        "credentials_expire", time_or_null(k->credentials_expire),
        "release_due", time_or_null(k->release_due),
        /* what retiring it now would do (docs/operations.md §6): its
         * terminals are no longer paid, and the codes of its credentials
         * not uploaded yet are refused (EUNKNOWN_KID) */
        "retire_stops_terminals", k->terminals > 0,
        "retire_strands_credentials", k->credentials > 0);
}

json_t *offpay__json_amount(int64_t minor, uint16_t currency)
{
    char        buf[OFFPAY_AMOUNT_TEXT_MAX];
    const char *alpha = offpay_currency_alpha(currency);

    if (offpay_amount_format(minor, currency, buf, sizeof buf) != OFFPAY_OK)
        buf[0] = '\0';
    return json_pack("{s:I, s:s, s:s}", "minor", (json_int_t)minor, "decimal",
                     buf, "currency", alpha ? alpha : "");
}

json_t *offpay__json_transfer(const offpay_account_transfer *t,
                              uint16_t                       currency)
{
    json_t *j =
        json_pack("{s:o, s:I, s:s, s:o, s:o, s:s}", "id",
                  offpay__json_id(t->id), "at", (json_int_t)t->at, "kind",
                  t->kind, "amount", offpay__json_amount(t->amount, currency),
                  "other", offpay__json_id(t->other), "other_kind",
                  offpay_account_kind_name(t->other_kind));

    if (j == NULL)
        return NULL;
    json_object_set_new(j, "presentment",
                        t->presentment != 0 ? offpay__json_id(t->presentment)
                                            : json_null());
    json_object_set_new(
        j, "case", t->case_id != 0 ? offpay__json_id(t->case_id) : json_null());
    json_object_set_new(j, "ref",
                        t->ref[0] != '\0' ? json_string(t->ref) : json_null());
    json_object_set_new(
        j, "serial", t->serial != 0 ? offpay__json_id(t->serial) : json_null());
    json_object_set_new(j, "by",
                        t->by[0] != '\0' ? json_string(t->by) : json_null());
    return j;
}

json_t *offpay__actions_json(const offpay_operator_action *a, size_t n,
                             int more)
{
    json_t *arr = json_array(), *j;
    char    next[OFFPAY_ACTION_CURSOR_MAX];

    for (size_t i = 0; arr != NULL && i < n; i++) {
        j = json_pack(
            "{s:I, s:s, s:s, s:o, s:o, s:I, s:o}", "at", (json_int_t)a[i].at,
            "who", a[i].who, "action", a[i].action, "subject",
            a[i].subject != 0 ? offpay__json_id(a[i].subject) : json_null(),
            "detail",
            a[i].detail[0] != '\0' ? json_string(a[i].detail) : json_null(),
            "shard", (json_int_t)a[i].shard, "id", offpay__json_id(a[i].id));
        if (j == NULL || json_array_append_new(arr, j) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    if (arr == NULL)
        return NULL;
    if (more && n > 0)
        offpay_action_cursor(&a[n - 1], next);
    return json_pack("{s:I, s:o, s:o}", "count", (json_int_t)n, "actions", arr,
                     "next_after",
                     more && n > 0 ? json_string(next) : json_null());
}

offpay_err offpay__credential_json(offpay_ledger *l, uint64_t serial,
                                   json_t **out)
{
    offpay_ledger_cred_info c;
    offpay_wallet_cred      wc;
    uint8_t                 bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_err              rc;

    *out = NULL;
    rc = offpay_ledger_credential(l, serial, &c);
    /* the issuer key that signed it, from the bytes it was issued as */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_credential_bytes(l, serial, bytes);
    if (rc == OFFPAY_OK &&
        offpay_wallet_cred_decode(bytes, sizeof bytes, &wc) != OFFPAY_OK)
        rc = OFFPAY_ESTORE; /* the ledger signed them */
    if (rc != OFFPAY_OK)
        return rc;
    *out = json_pack(
        "{s:o, s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:b, s:I, s:b, "
        "s:I, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}}",
        "serial", offpay__json_id(c.serial), "kid", (json_int_t)wc.kid,
        "account", offpay__json_id(c.wallet_account), "escrow_account",
        offpay__json_id(c.escrow_account), "limit",
        offpay__json_amount(c.limit, c.currency), "remaining",
        offpay__json_amount(c.remaining, c.currency), "valid_from",
        (json_int_t)c.valid_from, "expires", (json_int_t)c.expires, "revoked",
        c.revoked, "revoked_at", (json_int_t)c.revoked_at, "released",
        c.released, "released_at", (json_int_t)c.released_at, "release_due",
        (json_int_t)c.release_due, "late_until", (json_int_t)c.late_until,
        "escrow", "funded", offpay__json_amount(c.funded, c.currency), "late",
        offpay__json_amount(c.late, c.currency), "covered",
        offpay__json_amount(c.covered, c.currency), "paid",
        offpay__json_amount(c.paid, c.currency), "released",
        offpay__json_amount(c.released_amount, c.currency), "claimed",
        offpay__json_amount(c.claimed, c.currency), "owed",
        offpay__json_amount(c.owed, c.currency), "refunded_to_guarantee",
        offpay__json_amount(c.refunded_to_guarantee, c.currency), "net_loss",
        offpay__json_amount(c.net_loss, c.currency));
    return *out != NULL ? OFFPAY_OK : OFFPAY_ENOMEM;
}

int64_t offpay__line_owed(const offpay_statement_line *x)
{
    int64_t owed = 0;

    if (x->reason == OFFPAY_EFUNDS && x->charged > x->paid)
        owed = x->charged - x->paid - x->paid_later;
    return owed > 0 ? owed : 0;
}

const char *offpay__outcome_name(offpay_settle_outcome o)
{
    switch (o) {
    case OFFPAY_SETTLE_REJECTED:
        return "rejected";
    case OFFPAY_SETTLE_SETTLED:
        return "settled";
    case OFFPAY_SETTLE_GUARANTEED:
        return "settled_guaranteed";
    case OFFPAY_SETTLE_DUPLICATE:
        return "duplicate";
    case OFFPAY_SETTLE_DOUBLE_SPEND:
        return "double_spend";
    case OFFPAY_SETTLE_UNPAID:
        return "unpaid";
    }
    return "unknown";
}

const char *offpay__revoke_warning(uint64_t                      terminal_id,
                                   const offpay_terminal_report *rp, char *buf)
{
    if (!rp->reported || rp->pending == 0)
        return NULL;
    snprintf(buf, OFFPAY__REVOKE_WARNING_MAX,
             "terminal %llu's last sync reported %llu payment(s) not "
             "uploaded or not decided by offpayd: those it accepted before "
             "the revocation are paid when they are uploaded ('offpay "
             "terminal sync --server URL' on the device), those after are "
             "refused (ETERMINAL_REVOKED). A terminal still at hand is "
             "better retired with 'offpay terminal decommission', which "
             "uploads first and loses nothing",
             (unsigned long long)terminal_id, (unsigned long long)rp->pending);
    return buf;
}

const char *offpay__refund_warning(offpay_ledger *l, const offpay_refund *f,
                                   char *buf)
{
    offpay_wallet_account_info *a = NULL;
    size_t                      n = 0;
    char                        amt[OFFPAY_AMOUNT_TEXT_MAX], when[32];
    const char                 *w = NULL;

    if (f->to_wallet <= 0 ||
        offpay_ledger_wallet_accounts(l, NULL, f->wallet_account - 1, 1, &a,
                                      &n) != OFFPAY_OK)
        return NULL;
    if (n == 1 && a[0].id == f->wallet_account && a[0].lost_at != 0 &&
        offpay_amount_format(f->to_wallet, f->currency, amt, sizeof amt) ==
            OFFPAY_OK) {
        offpay__unix_time_iso(a[0].lost_at, when);
        snprintf(buf, OFFPAY__REFUND_WARNING_MAX,
                 "wallet account %llu's wallet was reported lost (%s): the "
                 "%s %s refunded to the payer is in that account, where "
                 "only its owner's new wallet takes it (an enrollment code "
                 "for the account: offpay admin enroll-code --account %llu), "
                 "or a withdrawal pays it out",
                 (unsigned long long)f->wallet_account, when, amt,
                 offpay_currency_alpha(f->currency),
                 (unsigned long long)f->wallet_account);
        w = buf;
    }
    free(a);
    return w;
}

const char *offpay__withdraw_refused(offpay_ledger *l, uint64_t id,
                                     int64_t amount, uint32_t now,
                                     const char *take_held, char *buf)
{
    offpay_account_kind kind;
    uint16_t            cur;
    int64_t             bal = 0, held = 0;
    uint32_t            until = 0;
    char                b[OFFPAY_AMOUNT_TEXT_MAX], a[OFFPAY_AMOUNT_TEXT_MAX];
    char                h[OFFPAY_AMOUNT_TEXT_MAX], m[OFFPAY_AMOUNT_TEXT_MAX];
    char                when[32];
    const char         *c;

    if (offpay_ledger_balance(l, id, &bal, &kind, &cur) != OFFPAY_OK ||
        offpay_amount_format(bal, cur, b, sizeof b) != OFFPAY_OK ||
        offpay_amount_format(amount, cur, a, sizeof a) != OFFPAY_OK)
        return NULL;
    c = offpay_currency_alpha(cur);
    /* a sharded guarantee: each shard's part covers its own overspends
     * (settlement.md §11), and a withdrawal is taken from one of them */
    if (kind == OFFPAY_ACCOUNT_GUARANTEE && offpay_ledger_shards(l) > 1)
        snprintf(buf, OFFPAY__WITHDRAW_TEXT_MAX,
                 "withdrawal: the guarantee is held in parts, one per shard "
                 "(each part: POST /v1/admin/guarantee), and a withdrawal is "
                 "taken whole from one part: no part holds %s %s; withdraw in "
                 "parts, and leave each part enough for its shard's "
                 "overspends; nothing was withdrawn",
                 a, c);
    /* a wallet account's balance covers it, less what is held for late
     * presentments (settlement.md §6) does not */
    else if (bal >= amount && kind == OFFPAY_ACCOUNT_WALLET &&
             offpay_ledger_late_hold(l, id, now, &held, &until) == OFFPAY_OK &&
             held > 0 &&
             offpay_amount_format(held, cur, h, sizeof h) == OFFPAY_OK &&
             offpay_amount_format(bal > held ? bal - held : 0, cur, m,
                                  sizeof m) == OFFPAY_OK) {
        offpay__unix_time_iso(until, when);
        snprintf(buf, OFFPAY__WITHDRAW_TEXT_MAX,
                 "withdrawal: account %llu holds %s %s, of which %s %s is "
                 "held until %s for late payments of its released "
                 "credentials: at most %s %s can be withdrawn before then; "
                 "nothing was withdrawn (to take the held part too, %s: what "
                 "late payments then find missing is the guarantee's loss)",
                 (unsigned long long)id, b, c, h, c, when, m, c, take_held);
    } else if (bal >= amount && offpay_ledger_shards(l) > 1) {
        snprintf(buf, OFFPAY__WITHDRAW_TEXT_MAX,
                 "withdrawal: account %llu holds %s %s in all, in parts, one "
                 "per shard, and a withdrawal is taken whole from one part: "
                 "no part holds %s %s; withdraw in parts; nothing was "
                 "withdrawn",
                 (unsigned long long)id, b, c, a, c);
    } else {
        snprintf(buf, OFFPAY__WITHDRAW_TEXT_MAX,
                 "withdrawal: account %llu holds %s %s, less than the %s %s "
                 "asked; nothing was withdrawn",
                 (unsigned long long)id, b, c, a, c);
    }
    return buf;
}

int offpay__withdraw_warning(offpay_ledger *l, uint64_t id, uint32_t now,
                             char *buf)
{
    offpay_wallet_account_info *a = NULL;
    size_t                      n = 0;
    char                        when[32];
    int                         w = 0;

    if (offpay_ledger_wallet_accounts(l, NULL, id - 1, 1, &a, &n) !=
            OFFPAY_OK ||
        n != 1 || a[0].id != id) {
        free(a);
        return -1;
    }
    /* late uploads are paid up to late_until included (settlement.md
     * §6); a released credential's from the account alone, whatever
     * another credential's escrow holds */
    if (a[0].late_until >= now) {
        offpay__unix_time_iso(a[0].late_until, when);
        snprintf(buf, OFFPAY__WITHDRAW_TEXT_MAX,
                 "late payments may still be taken from account %llu until "
                 "%s (what terminals accepted offline from its credentials "
                 "and upload late): what is withdrawn before then may end as "
                 "the guarantee's loss",
                 (unsigned long long)id, when);
        w = 1;
    }
    free(a);
    return w;
}

int offpay__guarantee_withdraw_warning(offpay_ledger *l, uint16_t currency,
                                       uint32_t now, char *buf)
{
    offpay_guarantee_period p;
    const char             *alpha = offpay_currency_alpha(currency);
    char                    held[OFFPAY__MONEY_TEXT_MAX];
    char                    owed[OFFPAY__MONEY_TEXT_MAX];
    int64_t                 parts[OFFPAY_SHARDS_MAX];
    size_t                  n_parts = 0, at = 0;
    char                    empty[160] = "";

    if (offpay_ledger_guarantee_period(l, currency, now, now, NULL, NULL, NULL,
                                       NULL, &p) != OFFPAY_OK ||
        offpay_ledger_guarantee_parts(l, currency, parts, &n_parts) !=
            OFFPAY_OK)
        return -1;
    offpay__money_text(p.balance, currency, held);
    offpay__money_text(p.owed, currency, owed);
    /* on a sharded ledger each shard's part covers its own shard's
     * overspends alone (settlement.md §11): an empty part is said, even
     * while another holds money */
    for (size_t k = 0; n_parts > 1 && k < n_parts; k++)
        if (parts[k] <= 0 && at + 16 < sizeof empty)
            at += (size_t)snprintf(empty + at, sizeof empty - at, "%s%zu",
                                   at == 0 ? "" : ", ", k);
    snprintf(buf, OFFPAY__WITHDRAW_TEXT_MAX,
             "the %s guarantee holds %s now and owes %s in %llu open "
             "claim(s)%s%s%s: what terminals accept offline beyond a payer's "
             "escrow is paid from it, and what it cannot pay is owed to the "
             "merchant until it is funded again ('offpay admin guarantee "
             "--currency %s')",
             alpha, held, owed, (unsigned long long)p.n_owed,
             at > 0 ? "; the part of shard(s) " : "", empty,
             at > 0 ? " is empty, and a shard's part alone pays its own "
                      "shard's overspends"
                    : "",
             alpha);
    return 1;
}

void offpay__account_kind_hint(char *buf, size_t cap, uint64_t account,
                               offpay_account_kind kind, const char *why)
{
    const char *k = offpay_account_kind_name(kind);

    snprintf(buf, cap, "account %llu is %s %s account: %s",
             (unsigned long long)account,
             k[0] == 'e' || k[0] == 'u' ? "an" : "a", k, why);
}

void offpay__move_kind_refused(char *buf, size_t cap, uint64_t account,
                               offpay_account_kind kind)
{
    /* the world account is the outside itself: every deposit and
     * withdrawal moves its money, none is made into or out of it */
    offpay__account_kind_hint(
        buf, cap, account, kind,
        kind == OFFPAY_ACCOUNT_WORLD
            ? "the outside itself, the other side of every deposit and "
              "withdrawal; they are made into and out of wallet, "
              "merchant and guarantee accounts"
            : "only settlement moves its money; deposits and "
              "withdrawals are for wallet, merchant and guarantee "
              "accounts");
}

/* ---- the merchant statement ------------------------------------------ */

offpay_err offpay__statement_terminal(offpay_ledger *l, uint64_t merchant,
                                      uint32_t terminal, char *hint)
{
    offpay_ledger_terminal_info t;
    offpay_err                  rc;

    hint[0] = '\0';
    rc = offpay_ledger_terminal(l, terminal, NULL, &t);
    if (rc == OFFPAY_OK && t.merchant_id != merchant) {
        snprintf(hint, OFFPAY__STATEMENT_HINT_MAX,
                 "terminal: terminal %u is not merchant %llu's (it is "
                 "merchant %llu's)",
                 (unsigned)terminal, (unsigned long long)merchant,
                 (unsigned long long)t.merchant_id);
        rc = OFFPAY_ENOTFOUND;
    } else if (rc == OFFPAY_ENOTFOUND) {
        snprintf(hint, OFFPAY__STATEMENT_HINT_MAX, "terminal: no terminal %u",
                 (unsigned)terminal);
    }
    return rc;
}

/* a before b: the earlier transfer, then the lower id */
static int move_before(const offpay_account_transfer *a,
                       const offpay_account_transfer *b)
{
    return a->at != b->at ? a->at < b->at : a->id < b->id;
}

/* Restores the heap (the latest movement at [0]) below slot i. */
static void moves_sift(offpay_account_transfer *m, size_t n, size_t i)
{
    for (;;) {
        size_t                  l = 2 * i + 1, big = i;
        offpay_account_transfer t;

        if (l < n && move_before(&m[big], &m[l]))
            big = l;
        if (l + 1 < n && move_before(&m[big], &m[l + 1]))
            big = l + 1;
        if (big == i)
            return;
        t = m[i];
        m[i] = m[big];
        m[big] = t;
        i = big;
    }
}

static int by_time(const void *a, const void *b)
{
    return move_before(a, b) ? -1 : move_before(b, a) ? 1 : 0;
}

void offpay__statement_moves_sort(offpay__statement *s)
{
    qsort(s->moves, s->n_moves, sizeof *s->moves, by_time);
}

/* Keeps t among the earliest cap transfers m[0 .. *n): a heap with the
 * latest kept on top once full. */
static void keep_earliest(offpay_account_transfer *m, size_t *n, size_t cap,
                          const offpay_account_transfer *t)
{
    if (*n < cap) {
        m[(*n)++] = *t;
        if (*n == cap)
            for (size_t i = *n / 2; i-- > 0;)
                moves_sift(m, *n, i);
    } else if (move_before(t, &m[0])) {
        m[0] = *t;
        moves_sift(m, *n, 0);
    }
}

/* (render.h) */
int offpay__statement_move(const offpay_account_transfer *t, void *ctx)
{
    offpay__statement *s = ctx;

    s->moves_count++;
    keep_earliest(s->moves, &s->n_moves, OFFPAY__STATEMENT_MOVES, t);
    return 0;
}

static int on_line(const offpay_statement_line *line, void *ctx)
{
    offpay__statement *s = ctx;

    if (s->terminal != 0 && line->terminal_id != s->terminal)
        return 0;
    s->count++;
    s->paid += line->paid;
    s->covered += line->covered;
    s->refunded += line->refunded;
    s->charged += line->charged;
    s->paid_later += line->paid_later;
    s->owed += offpay__line_owed(line);
    s->unpaid +=
        line->charged - line->paid - line->paid_later - offpay__line_owed(line);
    if (line->presentment <= s->after)
        return 0;
    if (s->n < OFFPAY__STATEMENT_LINES)
        s->lines[s->n++] = *line;
    else
        s->beyond++;
    return 0;
}

static int on_refusal(const offpay_refusal *f, void *ctx)
{
    offpay__statement *s = ctx;

    if (s->terminal != 0 && f->terminal_id != s->terminal)
        return 0;
    s->refused_count++;
    if (f->reason == OFFPAY_ENOT_ISSUED)
        s->refused_not_issued++;
    if (__builtin_add_overflow(s->refused_charged, f->charged,
                               &s->refused_charged))
        s->refused_charged = INT64_MAX; /* never met: said by its cap */
    if (s->n_refusals < OFFPAY__STATEMENT_REFUSALS)
        s->refusals[s->n_refusals++] = *f;
    return 0;
}

offpay_err offpay__statement_read(offpay_ledger *l, offpay__statement *s)
{
    offpay_err rc;

    if (s->from > s->to)
        return OFFPAY_EINVAL;
    s->lines = malloc(OFFPAY__STATEMENT_LINES * sizeof *s->lines);
    s->moves = malloc(OFFPAY__STATEMENT_MOVES * sizeof *s->moves);
    s->refusals = malloc(OFFPAY__STATEMENT_REFUSALS * sizeof *s->refusals);
    if (s->lines == NULL || s->moves == NULL || s->refusals == NULL)
        return OFFPAY_ENOMEM;
    /* the lines and the balance in one read: it holds what they paid */
    rc = offpay_ledger_statement_period(l, s->merchant, s->from, s->to, on_line,
                                        offpay__statement_move, s, &s->acct);
    if (rc == OFFPAY_OK)
        offpay__statement_moves_sort(s);
    /* what was refused moved nothing: read apart */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_refusals(l, s->merchant, s->from, s->to, on_refusal,
                                    s);
    return rc;
}

void offpay__statement_free(offpay__statement *s)
{
    free(s->lines);
    free(s->moves);
    free(s->refusals);
    s->lines = NULL;
    s->moves = NULL;
    s->refusals = NULL;
}

static json_t *line_json(const offpay_statement_line *x, uint16_t currency)
{
    json_t *j =
        json_pack("{s:o, s:I, s:o, s:I, s:o, s:o, s:o, s:s, s:s?, s:I, s:I}",
                  "presentment", offpay__json_id(x->presentment), "terminal",
                  (json_int_t)x->terminal_id, "serial",
                  offpay__json_id(x->serial), "counter", (json_int_t)x->counter,
                  "charged", offpay__json_amount(x->charged, currency), "paid",
                  offpay__json_amount(x->paid, currency), "covered",
                  offpay__json_amount(x->covered, currency), "outcome",
                  offpay__outcome_name(x->outcome), "reason",
                  x->reason == OFFPAY_OK ? NULL : offpay_errname(x->reason),
                  "accepted_at", (json_int_t)x->accepted_at, "uploaded_at",
                  (json_int_t)x->uploaded_at);

    /* given back of paid so far (settlement.md §13), whenever; and
     * whether it came after the escrow's release (§6) */
    if (j != NULL) {
        json_object_set_new(j, "refunded",
                            offpay__json_amount(x->refunded, currency));
        json_object_set_new(j, "late", json_boolean(x->late));
        /* what the guarantee paid of it since, a claim on it (§5) */
        json_object_set_new(j, "paid_later",
                            offpay__json_amount(x->paid_later, currency));
        json_object_set_new(j, "paid_later_at",
                            x->paid_later_at != 0
                                ? json_integer((json_int_t)x->paid_later_at)
                                : json_null());
        /* the case it opened or joined (§9), for a dispute */
        json_object_set_new(j, "case",
                            x->case_id != 0 ? offpay__json_id(x->case_id)
                                            : json_null());
    }
    return j;
}

/* The account's movements in [from, to] by each transfer's own time:
 * opening_balance + the movement sums = closing_balance. */
static void period_json(json_t *j, const offpay__statement *s)
{
    const offpay_statement_account *a = &s->acct;
    json_t                         *moves = json_array();

    json_object_set_new(j, "opening_balance",
                        offpay__json_amount(a->opening_balance, a->currency));
    json_object_set_new(
        j, "movement_sums",
        json_pack("{s:o, s:o, s:o, s:o, s:o}", "settled",
                  offpay__json_amount(a->settled, a->currency), "refunds",
                  offpay__json_amount(a->refunds, a->currency), "deposits",
                  offpay__json_amount(a->deposits, a->currency), "withdrawals",
                  offpay__json_amount(a->withdrawals, a->currency), "other",
                  offpay__json_amount(a->other, a->currency)));
    json_object_set_new(j, "closing_balance",
                        offpay__json_amount(a->closing_balance, a->currency));
    for (size_t i = 0; moves != NULL && i < s->n_moves; i++)
        json_array_append_new(moves,
                              offpay__json_transfer(&s->moves[i], a->currency));
    json_object_set_new(j, "movements", moves);
    json_object_set_new(j, "movements_count",
                        json_integer((json_int_t)s->moves_count));
    json_object_set_new(j, "movements_truncated",
                        json_boolean(s->moves_count > s->n_moves));
}

int offpay__period_final(uint32_t to, uint32_t now)
{
    return now > to && now - to > OFFPAY__PERIOD_FINAL_AFTER;
}

/* The period's refused payments: {count, charged, lines, truncated}. */
static json_t *refused_json(const offpay__statement *s)
{
    uint16_t cur = s->acct.currency;
    json_t  *arr = json_array();

    for (size_t i = 0; arr != NULL && i < s->n_refusals; i++) {
        const offpay_refusal *f = &s->refusals[i];

        json_array_append_new(
            arr, json_pack("{s:I, s:o, s:I, s:o, s:s, s:I, s:I}", "terminal",
                           (json_int_t)f->terminal_id, "serial",
                           offpay__json_id(f->serial), "counter",
                           (json_int_t)f->counter, "charged",
                           offpay__json_amount(f->charged, cur), "reason",
                           offpay_errname(f->reason), "accepted_at",
                           (json_int_t)f->accepted_at, "uploaded_at",
                           (json_int_t)f->uploaded_at));
    }
    return json_pack("{s:I, s:o, s:o, s:b}", "count",
                     (json_int_t)s->refused_count, "charged",
                     offpay__json_amount(s->refused_charged, cur), "lines", arr,
                     "truncated", s->refused_count > s->n_refusals);
}

json_t *offpay__statement_json(const offpay__statement *s)
{
    uint16_t cur = s->acct.currency;
    json_t  *lines = json_array(), *j;

    for (size_t i = 0; lines != NULL && i < s->n; i++)
        json_array_append_new(lines, line_json(&s->lines[i], cur));
    j = json_pack("{s:o, s:I, s:I, s:b, s:I, s:b, s:o}", "merchant",
                  offpay__json_id(s->merchant), "from", (json_int_t)s->from,
                  "to", (json_int_t)s->to, "final",
                  offpay__period_final(s->to, s->now), "count",
                  (json_int_t)s->count, "truncated", s->beyond > 0, "lines",
                  lines);
    if (j == NULL) /* (json_pack took lines whatever became of it) */
        return NULL;
    /* the totals and balance even with no line */
    json_object_set_new(j, "terminal",
                        s->terminal != 0 ? json_integer((json_int_t)s->terminal)
                                         : json_null());
    /* the page after this one: ?after=next_after */
    json_object_set_new(j, "next_after",
                        s->beyond > 0
                            ? offpay__json_id(s->lines[s->n - 1].presentment)
                            : json_null());
    json_object_set_new(j, "account", offpay__json_id(s->acct.account));
    json_object_set_new(j, "paid", offpay__json_amount(s->paid, cur));
    json_object_set_new(j, "covered", offpay__json_amount(s->covered, cur));
    json_object_set_new(j, "refunded", offpay__json_amount(s->refunded, cur));
    /* charged = paid + paid_later + owed + unpaid (since 0.28.0) */
    json_object_set_new(j, "charged", offpay__json_amount(s->charged, cur));
    json_object_set_new(j, "paid_later",
                        offpay__json_amount(s->paid_later, cur));
    json_object_set_new(j, "owed", offpay__json_amount(s->owed, cur));
    json_object_set_new(j, "unpaid", offpay__json_amount(s->unpaid, cur));
    json_object_set_new(j, "balance",
                        offpay__json_amount(s->acct.balance, cur));
    period_json(j, s);
    json_object_set_new(j, "refused", refused_json(s));
    return j;
}

/* ---- the guarantee of a currency over a period ------------------------ */

/* A credential the view names: kept once, ascending (its loss read after). */
static void guarantee_name(offpay__guarantee *g, uint64_t serial)
{
    size_t lo = 0, hi = g->n_losses;

    if (serial == 0)
        return;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (g->losses[mid].serial == serial)
            return;
        if (g->losses[mid].serial < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (g->n_losses == OFFPAY__GUARANTEE_LOSSES) {
        g->losses_more = 1;
        return;
    }
    memmove(&g->losses[lo + 1], &g->losses[lo],
            (g->n_losses - lo) * sizeof g->losses[0]);
    memset(&g->losses[lo], 0, sizeof g->losses[0]);
    g->losses[lo].serial = serial;
    g->n_losses++;
}

/* Keeps the period's earliest transfers (a heap with the latest on top
 * once full, as a statement's movements). */
static int guarantee_move(const offpay_account_transfer *t, void *ctx)
{
    offpay__guarantee *g = ctx;

    g->moves_count++;
    guarantee_name(g, t->serial);
    keep_earliest(g->moves, &g->n_moves, OFFPAY__GUARANTEE_MOVES, t);
    return 0;
}

static int guarantee_claim(const offpay_open_claim *c, void *ctx)
{
    offpay__guarantee *g = ctx;

    guarantee_name(g, c->serial);
    if (g->n_claims < OFFPAY__GUARANTEE_CLAIMS)
        g->claims[g->n_claims++] = *c;
    return 0;
}

/* A claim of the period (uploaded in it, open or paid since): its
 * credential's loss is the period's, whenever the claim is paid. */
static int guarantee_period_claim(const offpay_open_claim *c, void *ctx)
{
    guarantee_name(ctx, c->serial);
    return 0;
}

/* The name of merchant id into name ("" when it cannot be read). */
static void merchant_name(offpay_ledger *l, uint64_t id,
                          char name[OFFPAY_NAME_MAX + 1])
{
    offpay_merchant_info *v = NULL;
    size_t                n = 0;

    name[0] = '\0';
    if (id > 0 && offpay_ledger_merchants(l, id - 1, 1, &v, &n) == OFFPAY_OK &&
        n == 1 && v[0].id == id)
        memcpy(name, v[0].name, OFFPAY_NAME_MAX + 1);
    free(v);
}

offpay_err offpay__guarantee_read(offpay_ledger *l, offpay__guarantee *g)
{
    offpay_err rc;

    if (g->from > g->to)
        return OFFPAY_EINVAL;
    g->moves = malloc(OFFPAY__GUARANTEE_MOVES * sizeof *g->moves);
    g->claims = malloc(OFFPAY__GUARANTEE_CLAIMS * sizeof *g->claims);
    g->losses = malloc(OFFPAY__GUARANTEE_LOSSES * sizeof *g->losses);
    g->claim_names = malloc(OFFPAY__GUARANTEE_CLAIMS * sizeof *g->claim_names);
    if (g->moves == NULL || g->claims == NULL || g->losses == NULL ||
        g->claim_names == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay_ledger_guarantee_period(l, g->currency, g->from, g->to,
                                        guarantee_move, guarantee_claim,
                                        guarantee_period_claim, g, &g->g);
    if (rc == OFFPAY_OK)
        qsort(g->moves, g->n_moves, sizeof *g->moves, by_time);
    /* out is below 0: covered and claims paid, less the refunds back */
    if (rc == OFFPAY_OK &&
        (__builtin_add_overflow(g->g.covered, g->g.claims_paid,
                                &g->paid_out_net) ||
         __builtin_add_overflow(g->paid_out_net, g->g.refunds,
                                &g->paid_out_net) ||
         g->paid_out_net == INT64_MIN))
        rc = OFFPAY_EOVERFLOW;
    g->paid_out_net = -g->paid_out_net;
    /* to whom each open claim is owed, by name (each merchant read once) */
    for (size_t i = 0; rc == OFFPAY_OK && i < g->n_claims; i++) {
        size_t k = 0;

        while (k < i && g->claims[k].merchant != g->claims[i].merchant)
            k++;
        if (k < i)
            memcpy(g->claim_names[i], g->claim_names[k],
                   sizeof g->claim_names[i]);
        else
            merchant_name(l, g->claims[i].merchant, g->claim_names[i]);
    }
    /* each credential's loss to date, read after (its own transaction) */
    for (size_t i = 0; rc == OFFPAY_OK && i < g->n_losses; i++)
        rc = offpay_ledger_credential(l, g->losses[i].serial, &g->losses[i]);
    return rc;
}

void offpay__guarantee_free(offpay__guarantee *g)
{
    free(g->moves);
    free(g->claims);
    free(g->losses);
    free(g->claim_names);
    g->moves = NULL;
    g->claims = NULL;
    g->losses = NULL;
    g->claim_names = NULL;
}

/* {"count": n, "amount": {...}} */
static json_t *counted(uint64_t n, int64_t minor, uint16_t currency)
{
    return json_pack("{s:I, s:o}", "count", (json_int_t)n, "amount",
                     offpay__json_amount(minor, currency));
}

json_t *offpay__guarantee_json(const offpay__guarantee *g)
{
    const offpay_guarantee_period *p = &g->g;
    uint16_t                       cur = g->currency;
    json_t                        *moves = json_array(), *claims = json_array(),
           *losses = json_array();
    json_t *j;
    int     bad = moves == NULL || claims == NULL || losses == NULL;

    for (size_t i = 0; !bad && i < g->n_moves; i++)
        bad = json_array_append_new(
                  moves, offpay__json_transfer(&g->moves[i], cur)) != 0;
    for (size_t i = 0; !bad && i < g->n_claims; i++) {
        const offpay_open_claim *c = &g->claims[i];

        bad =
            json_array_append_new(
                claims,
                json_pack(
                    "{s:o, s:o, s:o, s:s, s:o, s:o, s:I, s:o, s:o}",
                    "presentment", offpay__json_id(c->presentment), "case",
                    c->case_id != 0 ? offpay__json_id(c->case_id) : json_null(),
                    "merchant", offpay__json_id(c->merchant), "merchant_name",
                    g->claim_names[i], "merchant_account",
                    offpay__json_id(c->merchant_account), "serial",
                    offpay__json_id(c->serial), "uploaded_at",
                    (json_int_t)c->uploaded_at, "charged",
                    offpay__json_amount(c->charged, cur), "owed",
                    offpay__json_amount(c->owed, cur))) != 0;
    }
    for (size_t i = 0; !bad && i < g->n_losses; i++) {
        const offpay_ledger_cred_info *c = &g->losses[i];

        bad = json_array_append_new(
                  losses,
                  json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "serial",
                            offpay__json_id(c->serial), "account",
                            offpay__json_id(c->wallet_account), "covered",
                            offpay__json_amount(c->covered, cur), "claimed",
                            offpay__json_amount(c->claimed, cur), "owed",
                            offpay__json_amount(c->owed, cur),
                            "refunded_to_guarantee",
                            offpay__json_amount(c->refunded_to_guarantee, cur),
                            "net_loss",
                            offpay__json_amount(c->net_loss, cur))) != 0;
    }
    if (bad) {
        json_decref(moves);
        json_decref(claims);
        json_decref(losses);
        return NULL;
    }
    j = json_pack(
        "{s:s, s:o, s:I, s:I, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:b}",
        "currency", offpay_currency_alpha(cur), "account",
        p->account != 0 ? offpay__json_id(p->account) : json_null(), "from",
        (json_int_t)g->from, "to", (json_int_t)g->to, "final",
        offpay__period_final(g->to, g->now), "balance",
        offpay__json_amount(p->balance, cur), "opening_balance",
        offpay__json_amount(p->opening_balance, cur), "closing_balance",
        offpay__json_amount(p->closing_balance, cur), "covered",
        counted(p->n_covered, p->covered, cur), "claims_paid",
        counted(p->n_claims_paid, p->claims_paid, cur), "refunds",
        counted(p->n_refunds, p->refunds, cur), "deposits",
        offpay__json_amount(p->deposits, cur), "withdrawals",
        offpay__json_amount(p->withdrawals, cur), "other",
        offpay__json_amount(p->other, cur), "paid_out_net",
        offpay__json_amount(g->paid_out_net, cur), "owed",
        counted(p->n_owed, p->owed, cur), "owed_at_close",
        counted(p->n_owed_at_close, p->owed_at_close, cur), "transfers", moves,
        "transfers_count", (json_int_t)g->moves_count, "claims", claims,
        "losses", losses, "losses_complete", !g->losses_more);
    return j;
}

/* The accounts of one kind in one currency's sheet: {kind, opening, in,
 * out, closing}. */
static json_t *sheet_kind_json(const offpay_sheet_currency *c, int k)
{
    uint16_t cur = c->currency;

    return json_pack("{s:s, s:o, s:o, s:o, s:o}", "kind",
                     offpay_account_kind_name((offpay_account_kind)(k + 1)),
                     "opening", offpay__json_amount(c->opening[k], cur), "in",
                     offpay__json_amount(c->in[k], cur), "out",
                     offpay__json_amount(c->out[k], cur), "closing",
                     offpay__json_amount(c->closing[k], cur));
}

json_t *offpay__sheet_json(const offpay_balance_sheet *s, uint32_t now)
{
    json_t *curs = json_array();
    int     bad = curs == NULL;

    for (size_t i = 0; !bad && i < s->n_currencies; i++) {
        const offpay_sheet_currency *c = &s->currencies[i];
        json_t                      *kinds = json_array();
        json_t                      *moves = json_array();

        bad = kinds == NULL || moves == NULL;
        for (int k = 0; !bad && k < 5; k++)
            bad = json_array_append_new(kinds, sheet_kind_json(c, k)) != 0;
        for (size_t f = 0; !bad && f < s->n_flows; f++) {
            const offpay_sheet_flow *x = &s->flows[f];

            if (x->currency != c->currency)
                continue;
            bad = json_array_append_new(
                      moves,
                      json_pack("{s:s, s:s, s:s, s:I, s:o}", "kind", x->kind,
                                "from", offpay_account_kind_name(x->from), "to",
                                offpay_account_kind_name(x->to), "count",
                                (json_int_t)x->count, "amount",
                                offpay__json_amount(x->amount, c->currency))) !=
                  0;
        }
        if (bad ||
            json_array_append_new(
                curs, json_pack("{s:s, s:I, s:O, s:O}", "currency",
                                offpay_currency_alpha(c->currency), "transfers",
                                (json_int_t)c->transfers, "kinds", kinds,
                                "movements", moves)) != 0)
            bad = 1;
        json_decref(kinds);
        json_decref(moves);
    }
    if (bad) {
        json_decref(curs);
        return NULL;
    }
    return json_pack("{s:I, s:I, s:b, s:o, s:b}", "from", (json_int_t)s->from,
                     "to", (json_int_t)s->to, "final",
                     offpay__period_final(s->to, now), "currencies", curs,
                     "truncated", s->more != 0);
}

json_t *offpay__digest_json(const offpay_transfers_digest *d,
                            const offpay_actions_digest *a, size_t n)
{
    json_t *arr = json_array(), *acts;

    for (size_t k = 0; arr != NULL && k < n; k++) {
        char hex[2 * sizeof d[k].digest + 1];
        int  by_time = d[k].until != UINT32_MAX;

        sodium_bin2hex(hex, sizeof hex, d[k].digest, sizeof d[k].digest);
        acts = json_null();
        if (a != NULL) {
            char ahex[2 * sizeof a[k].digest + 1];

            sodium_bin2hex(ahex, sizeof ahex, a[k].digest, sizeof a[k].digest);
            acts = json_pack("{s:o, s:I, s:o, s:s}", "until",
                             a[k].until != UINT32_MAX ? json_integer(a[k].until)
                                                      : json_null(),
                             "count", (json_int_t)a[k].actions, "newest_at",
                             a[k].newest_at != 0 ? json_integer(a[k].newest_at)
                                                 : json_null(),
                             "digest", ahex);
        }
        if (json_array_append_new(
                arr,
                json_pack(
                    "{s:I, s:o, s:o, s:b, s:I, s:o, s:o, s:s, s:o}", "shard",
                    (json_int_t)k, "upto",
                    by_time && d[k].upto == INT64_MAX
                        ? json_null()
                        : json_integer((json_int_t)d[k].upto),
                    "until", by_time ? json_integer(d[k].until) : json_null(),
                    "marked", d[k].marked, "transfers",
                    (json_int_t)d[k].transfers, "last_id",
                    d[k].transfers != 0 ? json_integer((json_int_t)d[k].last_id)
                                        : json_null(),
                    "newest_at",
                    d[k].newest_at != 0 ? json_integer(d[k].newest_at)
                                        : json_null(),
                    "digest", hex, "actions", acts)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr != NULL ? json_pack("{s:o}", "shards", arr) : NULL;
}
