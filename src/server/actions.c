/*
 * actions.c — GET /v1/admin/actions: what operators did (bookings,
 * revocations, registrations, closings, labels, enrollment codes, the
 * clock vouched for, ...; settle.h, "what operators did";
 * docs/api.md), every shard's in time order, a page at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "settle/render.h"

void srv_actions_list(srv_req *r, srv_reply *out)
{
    const char             *qby = r->query(r->conn, "by");
    const char             *qaction = r->query(r->conn, "action");
    const char             *qsubject = r->query(r->conn, "subject");
    const char             *qafter = r->query(r->conn, "after");
    const char             *qlimit = r->query(r->conn, "limit");
    uint64_t                from = 0, to = UINT32_MAX, subject = 0;
    uint64_t                limit = SRV_PAGE_DEFAULT;
    offpay_action_filter    f;
    offpay_operator_action *v = NULL;
    size_t                  n = 0;
    int                     more = 0;
    offpay_err              rc;
    char                    hint[400];

    memset(&f, 0, sizeof f);
    if (srv_parse_period(r->query(r->conn, "from"), r->query(r->conn, "to"),
                         &from, &to, hint, sizeof hint) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    if (from > to || to == 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "from <= to: unix times, both included, to from 1 "
                 "(default: all)");
        return;
    }
    if (qlimit != NULL &&
        (srv_parse_u64(qlimit, SRV_PAGE_MAX, &limit) != 0 || limit == 0)) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "limit: 1..1000");
        return;
    }
    if (qsubject != NULL && srv_parse_id(qsubject, SRV_ID_MAX, &subject) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "subject: a decimal id from 1 (a serial, a terminal, a "
                 "merchant or an account)");
        return;
    }
    if (qafter != NULL && !offpay_action_cursor_parse(qafter, &f)) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "after: the next_after of the page before (AT.SHARD.ID)");
        return;
    }
    if (qby != NULL && !offpay__case_author_ok(qby)) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "by: an operator's name (1 to 64 bytes of text on one line)");
        return;
    }
    if (qaction != NULL && !offpay__action_name_ok(qaction)) {
        snprintf(hint, sizeof hint, "action: one of %s",
                 offpay__action_names_text);
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    f.who = qby;
    f.action = qaction;
    f.subject = subject;
    f.from = (uint32_t)from;
    f.to = (uint32_t)to;
    f.max = (size_t)limit;
    rc = offpay_ledger_actions(r->l, &f, &v, &n, &more);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "operators' actions");
        return;
    }
    srv_ok(out, offpay__actions_json(v, n, more));
    free(v);
}
