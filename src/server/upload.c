/*
 * upload.c — POST /v1/terminal/upload: a terminal's batch of journal
 * entries, signed by the terminal's own key. Each item is settled by the
 * engine (docs/settlement.md §3-§4), up to --tx-items to a transaction
 * (one durable commit each), and gets its own result; every result is durable
 * before the reply, so the terminal
 * marks each entry from its result and resends the rest. A revoked
 * terminal is still authenticated: the engine refuses only what it
 * accepted after its revocation (§8).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount_int.h"
#include "core/testhook.h"
#include "store/lockwait.h"
#include "server/server.h"

/* An item dated after offpayd's clock (beyond the skew), or made under an
 * issuer key newer than offpayd's bundle, is not decided yet, rather than
 * refused for good: a terminal whose clock runs ahead, or that synced with
 * an offpayd that read the new key first, sends it again later
 * (docs/settlement.md §4), and nothing is lost. */
static int undecided(const offpay_settle_result *res, offpay_err rc)
{
    return rc != OFFPAY_OK || (res->outcome == OFFPAY_SETTLE_REJECTED &&
                               (res->reason == OFFPAY_ECODE_FUTURE ||
                                res->reason == OFFPAY_EBUNDLE_OLD));
}

/* The values a batch's results repeat, made once per batch and shared by
 * reference (a reply of 1,000 results mostly says "settled", pays the
 * same few amounts and covers none): each result then costs its object,
 * its seq and its presentment. */
#define AMOUNTS 4
typedef struct shared_values {
    uint16_t currency;
    json_t  *outcome[OFFPAY_SETTLE_UNPAID + 1];
    int64_t  minor[AMOUNTS];
    json_t  *amount[AMOUNTS];
    size_t   next; /* the amount slot replaced next */
} shared_values;

/* What an upload's new decisions (replays left out) held that the
 * operator answers for, said on offpayd's log in one line
 * (log_tally): paid by the guarantee, cases opened, not paid in full
 * (an overspend or a duplicate the guarantee could not cover, a
 * merchant's duplicate beyond its code: whatever the outcome's name),
 * refused. An upload of plain payments says nothing. */
typedef struct batch_tally {
    size_t   guaranteed, cases, short_paid, refused;
    int64_t  covered;    /* by the guarantee, minor units (saturated) */
    int64_t  shortfall;  /* charged less paid of short_paid (saturated) */
    uint64_t first_case; /* the first case opened */
} batch_tally;

static void sum_into(int64_t *sum, int64_t add)
{
    if (__builtin_add_overflow(*sum, add, sum))
        *sum = INT64_MAX;
}

static void tally_add(batch_tally *tl, const offpay_settle_item *item,
                      const offpay_settle_result *res)
{
    if (res->replay)
        return;
    if (res->covered > 0) {
        tl->guaranteed++;
        sum_into(&tl->covered, res->covered);
    }
    if (res->case_id != 0 && tl->cases++ == 0)
        tl->first_case = res->case_id;
    if (res->outcome == OFFPAY_SETTLE_REJECTED) {
        tl->refused++;
    } else if (res->paid < item->charged) {
        tl->short_paid++;
        sum_into(&tl->shortfall, item->charged - res->paid);
    }
}

static void log_tally(const offpay_ledger_terminal_info *t,
                      const batch_tally *tl, size_t items)
{
    char covered[OFFPAY__MONEY_TEXT_MAX], shortfall[OFFPAY__MONEY_TEXT_MAX];
    char first[48] = "";

    if (tl->guaranteed + tl->cases + tl->short_paid + tl->refused == 0)
        return;
    if (tl->cases > 0)
        snprintf(first, sizeof first, " (the first: case %llu)",
                 (unsigned long long)tl->first_case);
    srv_log("terminal %u (merchant %llu) uploaded %zu item(s): %zu paid "
            "partly or wholly by the guarantee (%s covered), %zu "
            "case(s) opened%s, %zu not paid in full (%s short: each "
            "result says whether it is owed), %zu refused (each "
            "one's result in the answer; offpay admin statement --merchant "
            "%llu)",
            (unsigned)t->terminal_id, (unsigned long long)t->merchant_id, items,
            tl->guaranteed,
            offpay__money_text(tl->covered, t->currency, covered), tl->cases,
            first, tl->short_paid,
            offpay__money_text(tl->shortfall, t->currency, shortfall),
            tl->refused, (unsigned long long)t->merchant_id);
}

static void shared_free(shared_values *sv)
{
    for (size_t i = 0; i < sizeof sv->outcome / sizeof *sv->outcome; i++)
        json_decref(sv->outcome[i]);
    for (size_t i = 0; i < AMOUNTS; i++)
        json_decref(sv->amount[i]);
    memset(sv, 0, sizeof *sv);
}

/* A new reference to the outcome's name. */
static json_t *shared_outcome(shared_values *sv, offpay_settle_outcome o)
{
    if ((size_t)o >= sizeof sv->outcome / sizeof *sv->outcome)
        return json_string(srv_outcome_name(o));
    if (sv->outcome[o] == NULL)
        sv->outcome[o] = json_string(srv_outcome_name(o));
    return json_incref(sv->outcome[o]);
}

/* A new reference to the amount's object (srv_json_amount). */
static json_t *shared_amount(shared_values *sv, int64_t minor)
{
    size_t k;

    for (k = 0; k < AMOUNTS; k++)
        if (sv->amount[k] != NULL && sv->minor[k] == minor)
            return json_incref(sv->amount[k]);
    k = sv->next;
    sv->next = (k + 1) % AMOUNTS;
    json_decref(sv->amount[k]);
    sv->minor[k] = minor;
    sv->amount[k] = srv_json_amount(minor, sv->currency);
    return json_incref(sv->amount[k]);
}

/* Sets key to v (a new reference, NULL: out of memory); 0 or -1. */
static int set(json_t *obj, const char *key, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new_nocheck(obj, key, v);
}

static json_t *result_json(const srv_upload_item      *it,
                           const offpay_settle_result *res, offpay_err rc,
                           shared_values *sv)
{
    json_t *j;
    int     e;

    if (rc == OFFPAY_OK && undecided(res, rc))
        rc = res->reason;
    if (rc != OFFPAY_OK) /* nothing decided: the terminal must resend */
        return json_pack("{s:o, s:s, s:s, s:s}", "seq",
                         srv_json_id((uint64_t)it->seq), "outcome", "error",
                         "reason", offpay_errname(rc), "hint",
                         srv_engine_detail(rc));
    j = json_object();
    if (j == NULL)
        return NULL;
    e = set(j, "seq", srv_json_id((uint64_t)it->seq));
    e |= set(j, "outcome", shared_outcome(sv, res->outcome));
    e |= set(j, "reason",
             res->reason == OFFPAY_OK
                 ? json_null()
                 : json_string(offpay_errname(res->reason)));
    e |= set(j, "paid", shared_amount(sv, res->paid));
    e |= set(j, "covered", shared_amount(sv, res->covered));
    e |= set(j, "replay", json_boolean(res->replay));
    e |= set(j, "presentment", srv_json_id(res->presentment));
    e |= set(j, "case", res->case_id ? srv_json_id(res->case_id) : json_null());
    if (e != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

#ifdef OFFPAY_TEST_HOOKS
/* Test hooks (test builds only), counted over the items committed since
 * start: OFFPAYD_KILL_AFTER=N makes offpayd SIGKILL itself as soon as N
 * uploaded items are committed, in the middle of whatever batch is running
 * (tests/e2e/offpayd_crash.sh); OFFPAYD_STOP_AFTER=N makes it SIGSTOP
 * itself there instead, so a test can act while it is frozen mid-batch
 * (tests/e2e/offpayd_multi.sh). */
static int hook_reached(const char *name, size_t before, size_t after)
{
    const char *env = getenv(name);
    uint64_t    n;

    if (env == NULL || srv_parse_u64(env, SIZE_MAX, &n) != 0)
        return 0;
    return before < n && after >= n;
}

static void kill_point(size_t committed)
{
    static size_t done;
    size_t after = __atomic_add_fetch(&done, committed, __ATOMIC_SEQ_CST);

    if (hook_reached("OFFPAYD_KILL_AFTER", after - committed, after))
        raise(SIGKILL);
    if (hook_reached("OFFPAYD_STOP_AFTER", after - committed, after))
        raise(SIGSTOP);
}
#endif

/* What a terminal's uploads brought of codes the ledger never issued or
 * no key of its bundle signed (ENOT_ISSUED, EUNKNOWN_KID) since its last
 * line: the counts add up for a minute, then one line. */
static srv_tally forged = SRV_TALLY_INIT;

void srv_rejected_forged(uint32_t terminal_id, size_t not_issued,
                         size_t unknown_kid)
{
    size_t add[2] = {not_issued, unknown_kid}, n[2], uploads;

    if (not_issued + unknown_kid == 0)
        return;
    srv_metrics_rejected_forged(not_issued, unknown_kid);
    uploads = srv_tally_add(&forged, terminal_id, add, 2, n);
    if (uploads == 0)
        return;
    srv_log("terminal %u uploaded %zu code(s) refused ENOT_ISSUED (a "
            "credential the ledger never issued under its serial, yet "
            "signed by an issuer key: after a restore, one issued after "
            "the backup, expected (docs/operations.md §5: retire no key "
            "for it); else has one leaked? docs/operations.md, incident "
            "runbook) and %zu refused EUNKNOWN_KID (a credential "
            "signed by a key not in the trust bundle: retired, or foreign) "
            "(%zu upload(s) since its last such line, one a minute at most)",
            (unsigned)terminal_id, n[0], n[1], uploads);
}

/* Batches answered 200 with items left undecided by the ledger's error,
 * by endpoint and error: one line a minute at most for each. */
static srv_tally batch_errors = SRV_TALLY_INIT;

void srv_batch_engine_error(int wallet, offpay_err rc, size_t left,
                            size_t items)
{
    size_t add[2] = {left, items}, n[2], uploads;

    if (rc == OFFPAY_OK || left == 0)
        return;
    /* counted as the 503 it would have been for a single item */
    srv_metrics_engine_error(rc, 503);
    uploads = srv_tally_add(&batch_errors, (uint32_t)rc * 2u + (wallet != 0),
                            add, 2, n);
    if (uploads == 0)
        return;
    srv_log("POST %s: the ledger failed: %s (%s): %zu of %zu uploaded "
            "item(s) left undecided (\"error\" results, sent again at the "
            "next sync) (%zu upload(s) since its last such line, one a "
            "minute at most)",
            wallet ? "/v1/wallet/upload" : "/v1/terminal/upload",
            offpay_strerror(rc), offpay_errname(rc), n[0], n[1], uploads);
}

/* How long after its time (srv_req.now) an upload may still start a
 * transaction, in ms: SRV_COMMIT_WITHIN; in test builds
 * OFFPAYD_TEST_COMMIT_WITHIN_MS when set (tests/e2e/offpayd_sync.sh). */
static long commit_within_ms(void)
{
#ifdef OFFPAY_TEST_HOOKS
    long ms = offpay__test_number("OFFPAYD_TEST_COMMIT_WITHIN_MS");

    if (ms > 0)
        return ms;
#endif
    return (long)SRV_COMMIT_WITHIN * 1000L;
}

int srv_commit_too_late(const srv_req *r)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - r->now_mono.tv_sec) * 1000L +
               (t.tv_nsec - r->now_mono.tv_nsec) / 1000000L >=
           commit_within_ms();
}

const char *srv_too_late_hint(char buf[SRV_TOO_LATE_HINT_MAX])
{
    snprintf(buf, SRV_TOO_LATE_HINT_MAX,
             "not settled: this upload ran past %u s after its time "
             "(the ledger is slow); send it again",
             (unsigned)(commit_within_ms() / 1000));
    return buf;
}

/* The result of an item an upload left for its time's bound: undecided,
 * sent again (EBUSY, as a ledger too busy to answer in time). */
static json_t *too_late_json(const srv_upload_item *it)
{
    char hint[SRV_TOO_LATE_HINT_MAX];

    return json_pack("{s:o, s:s, s:s, s:s}", "seq",
                     srv_json_id((uint64_t)it->seq), "outcome", "error",
                     "reason", offpay_errname(OFFPAY_EBUSY), "hint",
                     srv_too_late_hint(hint));
}

/* Settles n items in one transaction (one durable commit) and appends
 * their results; an engine error gives each item an "error" result, and
 * is *err (the first such), its items added to *left. */
static int settle_chunk(srv_req *r, const offpay_ledger_terminal_info *t,
                        const srv_upload_item *up, size_t n, json_t *results,
                        shared_values *sv, batch_tally *tl, size_t *settled,
                        offpay_err *err, size_t *left)
{
    offpay_settle_item   *item;
    offpay_settle_result *res;
    offpay_err            rc;
    int                   e = 0;
    size_t                newer = 0, not_issued = 0, unknown_kid = 0, cases = 0;

    if (n == 0 || n > SRV_TX_ITEMS)
        return -1;
    item = calloc(n, sizeof *item);
    res = calloc(n, sizeof *res);
    if (item == NULL || res == NULL) {
        free(item);
        free(res);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        item[i].code = up[i].code;
        item[i].code_len = up[i].code_len;
        item[i].charged = up[i].charged;
        item[i].accepted_at = up[i].accepted_at;
        item[i].terminal_seq = up[i].seq;
    }
#ifdef OFFPAY_TEST_HOOKS
    /* a slow transaction, its rows dated r->now (offpayd_sync.sh) */
    offpay__test_delay_ms("OFFPAYD_TEST_CHUNK_MS");
#endif
    rc = offpay_ledger_settle_batch(r->l, t->terminal_id, item, n, r->now, res);
#ifdef OFFPAY_TEST_HOOKS
    if (rc == OFFPAY_OK)
        kill_point(n);
#endif
    if (rc != OFFPAY_OK) {
        if (*err == OFFPAY_OK)
            *err = rc;
        *left += n;
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == OFFPAY_OK && res[i].outcome == OFFPAY_SETTLE_REJECTED &&
            res[i].reason == OFFPAY_EBUNDLE_OLD)
            newer++;
        if (rc == OFFPAY_OK && res[i].outcome == OFFPAY_SETTLE_REJECTED) {
            not_issued += res[i].reason == OFFPAY_ENOT_ISSUED;
            unknown_kid += res[i].reason == OFFPAY_EUNKNOWN_KID;
        }
        if (!undecided(&res[i], rc)) {
            (*settled)++;
            tally_add(tl, &item[i], &res[i]);
            srv_metrics_settled(res[i].outcome, res[i].reason, res[i].replay);
            if (res[i].case_id != 0 && !res[i].replay) {
                srv_metrics_case();
                cases++;
            } else if (res[i].case_id != 0 &&
                       res[i].reason == OFFPAY_ECONFLICT) {
                cases++; /* a charge_mismatch case, opened on a replay */
            }
        }
        if (json_array_append_new(results,
                                  result_json(&up[i], &res[i], rc, sv)) != 0) {
            e = -1;
            break;
        }
    }
    srv_rejected_forged(t->terminal_id, not_issued, unknown_kid);
    if (cases > 0)
        srv_cases_count(r->l);
    if (newer > 0) /* the operator must act: say it */
        srv_log("%zu uploaded code(s) of terminal %u carry an issuer key (the "
                "code's, or the terminal credential's) this offpayd's trust "
                "bundle does not hold yet (not decided; the terminal sends "
                "them again): send offpayd SIGHUP after issuer add-key",
                newer, (unsigned)t->terminal_id);
    free(item);
    free(res);
    return e;
}

int srv_terminal_batch(srv_req *r, offpay_ledger_terminal_info *t,
                       srv_upload *up, srv_reply *out)
{
    char hint[160];
    int  e;

    /* who sent it first, so a body nobody registered sent is not parsed */
    if (srv_auth_terminal(r, t, out) != 0)
        return -1;
    e = srv_parse_upload(r->body, r->body_len, r->srv->cfg.batch_max, up, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return -1;
    }
    return 0;
}

void srv_upload_batch(srv_req *r, srv_reply *out)
{
    srv_upload                  up;
    offpay_ledger_terminal_info t;
    json_t                     *results = NULL;
    shared_values               sv;
    batch_tally                 tl;
    size_t                      settled = 0, left = 0;
    offpay_err                  err = OFFPAY_OK;

    memset(&sv, 0, sizeof sv);
    memset(&tl, 0, sizeof tl);
    if (srv_terminal_batch(r, &t, &up, out) != 0)
        return;
    srv_metrics_batch(up.n);
    sv.currency = t.currency;
    results = json_array();
    if (results == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < up.n; i += r->srv->cfg.tx_items) {
        size_t n =
            up.n - i < r->srv->cfg.tx_items ? up.n - i : r->srv->cfg.tx_items;

        /* its rows say r->now: none committed long after it, so that a
         * period's statement is final a bounded time after its end */
        if (srv_commit_too_late(r)) {
            for (; i < up.n; i++, left++)
                if (json_array_append_new(results,
                                          too_late_json(&up.items[i])) != 0) {
                    srv_fail(out, SRV_E_INTERNAL, "out of memory");
                    goto out;
                }
            if (err == OFFPAY_OK)
                err = OFFPAY_EBUSY;
            break;
        }
        if (settle_chunk(r, &t, up.items + i, n, results, &sv, &tl, &settled,
                         &err, &left) != 0) {
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
            goto out;
        }
    }
    srv_batch_engine_error(0, err, left, up.n);
    log_tally(&t, &tl, up.n);
    srv_ok(out,
           json_pack("{s:I, s:o, s:b, s:I, s:o}", "terminal_id",
                     (json_int_t)t.terminal_id, "merchant",
                     srv_json_id(t.merchant_id), "terminal_revoked", t.revoked,
                     "decided", (json_int_t)settled, "results", results));
    results = NULL;
out:
    json_decref(results);
    shared_free(&sv);
    srv_upload_free(&up);
}
