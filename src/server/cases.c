/*
 * cases.c — the cases settlement opened (docs/settlement.md §9):
 * GET /v1/admin/cases?serial=N&kind=K&since=T&after=ID&limit=N lists them
 * (oldest first, at most CASES_MAX per page), and
 * GET /v1/admin/cases/ID/evidence returns one case's evidence file: the
 * JSON object `offpay admin evidence` writes and `offpay verify-evidence`
 * checks, with the trust bundle offpayd serves.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static json_t *case_json(const offpay_case_info *c)
{
    return json_pack("{s:o, s:s, s:o, s:I, s:o, s:o, s:I, s:I}", "id",
                     srv_json_id(c->id), "kind", offpay_case_kind_name(c->kind),
                     "serial", srv_json_id(c->serial), "counter",
                     (json_int_t)c->counter, "payment", srv_json_id(c->payment),
                     "presentment", srv_json_id(c->presentment), "terminal",
                     (json_int_t)c->terminal_id, "opened_at",
                     (json_int_t)c->opened_at);
}

void srv_cases_list(srv_req *r, srv_reply *out)
{
    const char        *qs = r->query(r->conn, "serial");
    const char        *qk = r->query(r->conn, "kind");
    const char        *qt = r->query(r->conn, "since");
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
        (qk != NULL && offpay_case_kind_from_name(qk, &f.kind) != OFFPAY_OK)) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "serial: a decimal id from 1; after: a case id; since: a "
                 "unix time; limit: "
                 "1..1000; kind: duplicate, double_spend, overspend, "
                 "receipt_mismatch or charge_mismatch");
        return;
    }
    f.since = (uint32_t)since;
    rc = offpay_ledger_cases(r->l, &f, (size_t)limit, &v, &n);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "cases");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, case_json(&v[i]));
    srv_ok(out,
           json_pack("{s:I, s:o, s:o}", "count", (json_int_t)n, "cases", arr,
                     "next_after", /* null on the last page (docs/api.md) */
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
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "case");
        return;
    }
    doc = json_loadb(file, len, JSON_REJECT_DUPLICATES, &jerr);
    free(file);
    srv_ok(out, doc); /* NULL (cannot happen: our own JSON) is INTERNAL */
}
