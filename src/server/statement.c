/*
 * statement.c — GET /v1/admin/merchants/ID/statement?from=T&to=T
 * [&terminal=N][&after=P]: every presentment at the merchant's terminals
 * (or at terminal N) uploaded in [from, to] (default: everything until
 * now), with totals (paid, covered, refunded) and the merchant account's
 * balance. At most 10,000 lines are listed, those with an id above P; the
 * totals cover every line of the range, and next_after pages on. Then the
 * account's movements in [from, to] by each transfer's own time: the
 * balances at from and at to, the sums by kind between them (whatever
 * terminal= says: they are the account's), and its transfers other than
 * payments (refunds, deposits, withdrawals), at most 1,000 of them, the
 * rest in the account's history. The statement is read and rendered by
 * src/settle/render.c, which `offpay admin statement` shares.
 */
#include <string.h>

#include "server/server.h"

/* The terminal= of a statement: a terminal of this merchant, else
 * ENOTFOUND naming it (render.c words it, for `admin statement` too).
 * 0, or -1 with out set. */
static int terminal_of(srv_req *r, uint64_t merchant, uint32_t terminal,
                       srv_reply *out)
{
    char       hint[OFFPAY__STATEMENT_HINT_MAX];
    offpay_err rc;

    rc = offpay__statement_terminal(r->l, merchant, terminal, hint);
    if (rc == OFFPAY_OK)
        return 0;
    if (hint[0] != '\0')
        srv_fail_engine_hint(out, rc, "%s", hint);
    else
        srv_fail_engine(out, rc, "statement");
    return -1;
}

void srv_statement(srv_req *r, srv_reply *out)
{
    const char       *qf = r->query(r->conn, "from");
    const char       *qt = r->query(r->conn, "to");
    const char       *qm = r->query(r->conn, "terminal");
    const char       *qa = r->query(r->conn, "after");
    uint64_t          from = 0, to = r->now, terminal = 0;
    offpay__statement s;
    json_t           *j;
    offpay_err        rc;
    char              hint[200];

    memset(&s, 0, sizeof s);
    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &s.merchant) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "merchant: a decimal id from 1");
        return;
    }
    if (srv_parse_period_until(qf, qt, r->now, &from, &to, hint, sizeof hint) !=
        0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    if ((qm != NULL &&
         (srv_parse_u64(qm, UINT32_MAX, &terminal) != 0 || terminal == 0)) ||
        (qa != NULL && srv_parse_u64(qa, SRV_ID_MAX, &s.after) != 0)) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "terminal: a terminal id from 1; after: a presentment id");
        return;
    }
    if (terminal != 0 &&
        terminal_of(r, s.merchant, (uint32_t)terminal, out) != 0)
        return;
    s.from = (uint32_t)from;
    s.to = (uint32_t)to;
    s.terminal = (uint32_t)terminal;
    s.now = r->now;
    rc = offpay__statement_read(r->l, &s);
    if (rc == OFFPAY_ENOMEM) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        goto out;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "statement");
        goto out;
    }
    j = offpay__statement_json(&s);
    srv_ok(out, j);
out:
    offpay__statement_free(&s);
}
