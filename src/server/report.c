/*
 * report.c — GET /v1/admin/report?from=T&to=T[&after=M][&limit=N]: the
 * settlement report of a period (default: everything until now), one row
 * per merchant (its payments uploaded in the period summed by outcome,
 * and its account's opening balance, movements by kind and closing
 * balance, as its statement gives them), a page of merchants at a time,
 * with each currency's totals of the page's rows. Read and rendered by
 * src/settle/report.c, which `offpay admin report` shares.
 */
#include "server/server.h"

void srv_report(srv_req *r, srv_reply *out)
{
    const char *qf = r->query(r->conn, "from");
    const char *qt = r->query(r->conn, "to");
    uint64_t    from = 0, to = r->now, after, limit;
    json_t     *j = NULL;
    offpay_err  rc;
    char        hint[200];

    if (srv_parse_period_until(qf, qt, r->now, &from, &to, hint, sizeof hint) !=
        0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    if (srv_parse_page(r->query(r->conn, "after"), r->query(r->conn, "limit"),
                       &after, &limit) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "after: a merchant id; limit: 1..1000");
        return;
    }
    rc = offpay__report_page(r->l, (uint32_t)from, (uint32_t)to, after, limit,
                             r->now, &j);
    if (rc == OFFPAY_ENOMEM)
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
    else if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "report");
    else
        srv_ok(out, j);
}
