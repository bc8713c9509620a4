/*
 * balances.c — GET /v1/admin/balances?from=T&to=T: the whole ledger's
 * balances by account kind and currency at the period's start and end,
 * and the period's movements by transfer kind between kinds of account
 * (docs/api.md, "The ledger's balances"; default: everything until now).
 * Read by offpay_ledger_balance_sheet and rendered by src/settle/render.c,
 * which `offpay admin balances --json` shares.
 */
#include <stdlib.h>

#include "server/server.h"
#include "settle/render.h"

void srv_balances(srv_req *r, srv_reply *out)
{
    const char           *qf = r->query(r->conn, "from");
    const char           *qt = r->query(r->conn, "to");
    uint64_t              from = 0, to = r->now;
    offpay_balance_sheet *s;
    offpay_err            rc;
    char                  hint[200];

    if (srv_parse_period_until(qf, qt, r->now, &from, &to, hint, sizeof hint) !=
        0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    s = malloc(sizeof *s); /* 35 kB: not on the connection thread's stack */
    if (s == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        return;
    }
    rc = offpay_ledger_balance_sheet(r->l, (uint32_t)from, (uint32_t)to, s);
    if (rc == OFFPAY_ENOMEM)
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
    else if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "balances");
    else {
        json_t *j = offpay__sheet_json(s, r->now);

        if (j == NULL)
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
        else
            srv_ok(out, j);
    }
    free(s);
}
