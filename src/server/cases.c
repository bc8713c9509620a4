/*
 * cases.c — the cases settlement opened (docs/settlement.md §9) and the
 * operator's work on them (docs/operations.md "Working a case"):
 * GET /v1/admin/cases?serial=N&kind=K&since=T&state=S&after=ID&limit=N
 * lists them (oldest first, at most CASES_MAX per page);
 * GET /v1/admin/cases/ID gives one with its steps (after=STEP&limit=N
 * pages them); POST /v1/admin/cases/ID/notes, /close and /reopen add a
 * step; GET /v1/admin/cases/ID/evidence returns one case's evidence file:
 * the JSON object `offpay admin evidence` writes and `offpay
 * verify-evidence` checks, with the trust bundle offpayd serves.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include "server/server.h"

static json_t *case_json(const offpay_case_info *c)
{
    return json_pack(
        "{s:o, s:s, s:o, s:I, s:o, s:o, s:I, s:I, s:o, s:o}", "id",
        srv_json_id(c->id), "kind", offpay_case_kind_name(c->kind), "serial",
        srv_json_id(c->serial), "counter", (json_int_t)c->counter, "payment",
        srv_json_id(c->payment), "presentment", srv_json_id(c->presentment),
        "terminal", (json_int_t)c->terminal_id, "opened_at",
        (json_int_t)c->opened_at, "closed_at",
        c->closed_at != 0 ? json_integer(c->closed_at) : json_null(),
        "resolution",
        c->closed_at != 0 ? json_string(c->resolution) : json_null());
}

static json_t *step_json(const offpay_case_note *n)
{
    return json_pack("{s:o, s:s, s:s, s:s, s:I}", "step", srv_json_id(n->id),
                     "action", offpay_case_action_name(n->action), "text",
                     n->text, "by", n->author, "at", (json_int_t)n->at);
}

void srv_cases_list(srv_req *r, srv_reply *out)
{
    const char        *qs = r->query(r->conn, "serial");
    const char        *qk = r->query(r->conn, "kind");
    const char        *qt = r->query(r->conn, "since");
    const char        *qst = r->query(r->conn, "state");
    offpay_case_filter f;
    offpay_case_info  *v = NULL;
    uint64_t           since = 0, limit;
    size_t             n = 0;
    json_t            *arr;
    offpay_err         rc;

    memset(&f, 0, sizeof f);
    /* serial=0 is a malformed id, as in a path, not "every serial" */
    if ((qs != NULL && srv_parse_id(qs, INT64_MAX, &f.serial) != 0) ||
        (qt != NULL && srv_parse_u64(qt, UINT32_MAX, &since) != 0) ||
        srv_parse_page(r->query(r->conn, "after"), r->query(r->conn, "limit"),
                       &f.after_id, &limit) != 0 ||
        (qk != NULL && offpay_case_kind_from_name(qk, &f.kind) != OFFPAY_OK) ||
        (qst != NULL && strcmp(qst, "open") != 0 &&
         strcmp(qst, "closed") != 0)) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "serial: a decimal id from 1; after: a case id; since: a "
                 "unix time; limit: "
                 "1..1000; kind: duplicate, double_spend, overspend, "
                 "receipt_mismatch or charge_mismatch; state: open or "
                 "closed");
        return;
    }
    if (qst != NULL)
        f.state =
            strcmp(qst, "open") == 0 ? OFFPAY_CASES_OPEN : OFFPAY_CASES_CLOSED;
    f.since = (uint32_t)since;
    rc = offpay_ledger_cases(r->l, &f, (size_t)limit, &v, &n);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "cases");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, case_json(&v[i]));
    srv_ok(
        out,
        json_pack("{s:I, s:o, s:o}", "count", (json_int_t)n, "cases", arr,
                  "next_after", /* null once a page is not full (docs/api.md) */
                  srv_json_next_after(n, limit, n > 0 ? v[n - 1].id : 0)));
    free(v);
}

void srv_case_evidence(srv_req *r, srv_reply *out)
{
    uint64_t     id;
    char        *file = NULL;
    uint8_t     *bundle = NULL;
    size_t       len = 0, bundle_len = 0;
    json_t      *doc;
    json_error_t jerr;
    offpay_err   rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "case: a decimal id from 1");
        return;
    }
    rc = srv_bundle_copy(r->srv, &bundle, &bundle_len, NULL);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_evidence(r->l, id, bundle, bundle_len, &file, &len);
    free(bundle);
    if (rc == OFFPAY_EEVIDENCE) { /* offpay_ledger_evidence's only one */
        srv_fail_engine_hint(
            out, rc,
            "case %llu: a charge_mismatch case has no evidence "
            "file: the terminal's two uploads in the ledger "
            "are the record",
            (unsigned long long)id);
        return;
    }
    /* who took a payer's codes out of the ledger is kept before they go
     * (settle.h, "what operators did"): no record, no export */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_note_action(r->l, r->now, "export-evidence", id,
                                       NULL);
    if (rc != OFFPAY_OK) {
        free(file);
        srv_fail_engine(out, rc, "case");
        return;
    }
    srv_log_request(r, 0, "evidence of case %llu exported (%zu bytes)",
                    (unsigned long long)id, len);
    doc = json_loadb(file, len, JSON_REJECT_DUPLICATES, &jerr);
    free(file);
    srv_ok(out, doc); /* NULL (cannot happen: our own JSON) is INTERNAL */
}

/* GET /v1/admin/cases/N[?after=STEP&limit=N]: the case and a page of its
 * steps, oldest first. */
void srv_case_get(srv_req *r, srv_reply *out)
{
    offpay_case_info  c;
    offpay_case_note *v = NULL;
    uint64_t          id, after, limit;
    size_t            n = 0;
    json_t           *arr;
    offpay_err        rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "case: a decimal id from 1");
        return;
    }
    if (srv_parse_page(r->query(r->conn, "after"), r->query(r->conn, "limit"),
                       &after, &limit) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "after: a step id (the last one seen); limit: 1..1000");
        return;
    }
    rc = offpay_ledger_case(r->l, id, &c);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_case_notes(r->l, id, after, (size_t)limit, &v, &n);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine_hint(out, rc, "case %llu: no such case",
                             (unsigned long long)id);
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "case");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, step_json(&v[i]));
    srv_ok(out,
           json_pack("{s:o, s:o, s:o}", "case", case_json(&c), "steps",
                     arr != NULL ? arr : json_null(), "next_after",
                     srv_json_next_after(n, limit, n > 0 ? v[n - 1].id : 0)));
    free(v);
}

/* POST /v1/admin/cases/N/notes, /close, /reopen: one step, its words
 * under fields[0] (the action's own name for them), who took it under
 * fields[1] ("by"). */
static void case_act(srv_req *r, srv_reply *out, offpay_case_action action,
                     const srv_field *fields)
{
    offpay_case_info c;
    offpay_case_note step;
    srv_value        v[2];
    json_t          *doc = NULL, *cj;
    char             hint[160], claim[OFFPAY_CASE_AUTHOR_MAX + 1];
    uint64_t         id;
    int              replayed = 0, e;
    offpay_err       rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "case: a decimal id from 1");
        return;
    }
    e = srv_parse_object(r->body, r->body_len, fields, 2, v, &doc, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    /* an operator by name takes steps as that name: "by" is for the
     * bearers of --token-file's one token to say who they are, and names
     * no operator by name (nor one taken out: the ledger's steps keep
     * the names, whatever the file holds now) */
    if (v[1].present && strcmp(r->operator_name, SRV_TOKEN_OPERATOR) != 0 &&
        strcasecmp(v[1].s, r->operator_name) != 0) {
        snprintf(hint, sizeof hint,
                 "by: this is operator %s's token, whose steps are %s's: "
                 "leave by out",
                 r->operator_name, r->operator_name);
        json_decref(doc);
        srv_fail(out, SRV_E_BAD_FIELD, hint);
        return;
    }
    /* nor the names the ledger keeps for offpayd's own work and for
     * offpay admin's, which no step sent to offpayd is */
    if (v[1].present && strcmp(r->operator_name, SRV_TOKEN_OPERATOR) == 0 &&
        srv_name_reserved(v[1].s)) {
        snprintf(hint, sizeof hint,
                 "by: '%s' is a name the ledger keeps for %s: name who "
                 "takes the step, or leave by out",
                 v[1].s,
                 srv_name_reserved(v[1].s) == 2 ? "what offpay admin does"
                                                : "what offpayd does");
        json_decref(doc);
        srv_fail(out, SRV_E_BAD_FIELD, hint);
        return;
    }
    if (v[1].present && strcmp(r->operator_name, SRV_TOKEN_OPERATOR) == 0 &&
        srv_operator_named(r->srv, v[1].s)) {
        snprintf(hint, sizeof hint,
                 "by: %s is an operator by name, whose steps are taken "
                 "with their own token: name someone else, or leave by out",
                 v[1].s);
        json_decref(doc);
        srv_fail(out, SRV_E_BAD_FIELD, hint);
        return;
    }
    /* the name the shared token's bearer gives is their claim, which no
     * token checked: kept as such (since 0.31.0) */
    if (v[1].present && strcmp(r->operator_name, SRV_TOKEN_OPERATOR) == 0 &&
        strlen(v[1].s) + strlen(SRV_CLAIM_SUFFIX) > OFFPAY_CASE_AUTHOR_MAX) {
        snprintf(hint, sizeof hint,
                 "by: at most %u bytes with --token-file's token (kept as "
                 "'NAME" SRV_CLAIM_SUFFIX "')",
                 (unsigned)(OFFPAY_CASE_AUTHOR_MAX - strlen(SRV_CLAIM_SUFFIX)));
        json_decref(doc);
        srv_fail(out, SRV_E_BAD_FIELD, hint);
        return;
    }
    if (v[1].present && strcmp(r->operator_name, SRV_TOKEN_OPERATOR) == 0)
        snprintf(claim, sizeof claim, "%s" SRV_CLAIM_SUFFIX, v[1].s);
    else
        snprintf(claim, sizeof claim, "%s", r->operator_name);
    rc = offpay_ledger_case_act(r->l, id, action, v[0].s, claim, r->now, &step,
                                &replayed);
    json_decref(doc);
    if (rc == OFFPAY_OK && action != OFFPAY_CASE_NOTE && !replayed)
        srv_cases_count(r->l);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine_hint(out, rc, "case %llu: no such case",
                             (unsigned long long)id);
        return;
    }
    if (rc == OFFPAY_ECASE_CLOSED || rc == OFFPAY_ECASE_OPEN) {
        char when[48] = "before";

        if (offpay_ledger_case(r->l, id, &c) == OFFPAY_OK && c.closed_at != 0) {
            memcpy(when, "at ", 3);
            srv_iso_time(c.closed_at, when + 3);
        }
        if (rc == OFFPAY_ECASE_CLOSED)
            srv_fail_engine_hint(
                out, rc,
                "case %llu was closed %s (GET /v1/admin/cases/%llu "
                "shows its resolution); nothing was added: reopen it "
                "first (POST /v1/admin/cases/%llu/reopen) to close it "
                "again",
                (unsigned long long)id, when, (unsigned long long)id,
                (unsigned long long)id);
        else
            srv_fail_engine_hint(out, rc,
                                 "case %llu is open: only a closed case is "
                                 "reopened",
                                 (unsigned long long)id);
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "case");
        return;
    }
    /* booked: said on the log and answered, even if the case cannot be
     * read again now (a 5xx would have the client send it again) */
    {
        char words[SRV_REF_MAX + 1], by[SRV_REF_MAX + 1], what[64] = "";

        if (offpay_ledger_case(r->l, id, &c) == OFFPAY_OK) {
            cj = case_json(&c);
            snprintf(what, sizeof what, " (%s, serial %llu)",
                     offpay_case_kind_name(c.kind),
                     (unsigned long long)c.serial);
        } else {
            cj = json_null();
        }
        srv_log_text(step.text, words, sizeof words);
        srv_log_text(step.author, by, sizeof by);
        srv_log_request(r, replayed, "case %llu%s step %llu by \"%s\" %s: %s",
                        (unsigned long long)id, what,
                        (unsigned long long)step.id, by,
                        action == OFFPAY_CASE_CLOSE    ? "closed"
                        : action == OFFPAY_CASE_REOPEN ? "reopened"
                                                       : "noted",
                        words);
    }
    srv_ok(out, json_pack("{s:o, s:o, s:b}", "case", cj, "step",
                          step_json(&step), "replayed", replayed));
}

void srv_case_note(srv_req *r, srv_reply *out)
{
    case_act(r, out, OFFPAY_CASE_NOTE, srv_fields_case_note);
}

void srv_case_close(srv_req *r, srv_reply *out)
{
    case_act(r, out, OFFPAY_CASE_CLOSE, srv_fields_case_close);
}

void srv_case_reopen(srv_req *r, srv_reply *out)
{
    case_act(r, out, OFFPAY_CASE_REOPEN, srv_fields_case_reopen);
}

void srv_cases_count(offpay_ledger *l)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int             failing, wanted;

    /* One count at a time (an older count never lands after a newer),
     * and none waits for another: a count asked while one runs is made
     * by the thread running it, once more, after it (a request that
     * opened a case never queues behind a slow shard's count). */
    __atomic_store_n(&wanted, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&wanted, __ATOMIC_SEQ_CST) &&
           pthread_mutex_trylock(&mu) == 0) {
        uint64_t   n = 0;
        uint32_t   oldest = 0;
        offpay_err rc;

        __atomic_store_n(&wanted, 0, __ATOMIC_SEQ_CST);
        rc = offpay_ledger_cases_open(l, &n, &oldest);
        if (rc == OFFPAY_OK)
            srv_metrics_cases_open(n, oldest, srv_now());
        else if (!failing)
            srv_log("counting the open cases: %s (offpayd_cases_open keeps "
                    "the last count; offpayd_cases_counted_timestamp_seconds "
                    "says when it was)",
                    offpay_strerror(rc));
        failing = rc != OFFPAY_OK;
        pthread_mutex_unlock(&mu);
    }
}
