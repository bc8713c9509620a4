/*
 * balances.c — what an auditor reads of the whole ledger: GET
 * /v1/admin/balances?from=T&to=T, its balances by account kind and
 * currency at the period's start and end and the period's movements by
 * transfer kind between kinds of account (docs/api.md, "The ledger's
 * balances"; default: everything until now); GET /v1/admin/digest?upto=N,
 * the digest of each shard's transfers up to an id (docs/api.md, "The
 * ledger's digest"). Read by offpay_ledger_balance_sheet and
 * offpay_ledger_digest, rendered by src/settle/render.c, which `offpay
 * admin balances --json` and `offpay admin digest --json` share.
 */
#include <stdlib.h>

#include "core/unixtime.h"
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

void srv_digest(srv_req *r, srv_reply *out)
{
    const char             *qu = r->query(r->conn, "upto");
    const char             *qt = r->query(r->conn, "to");
    uint64_t                upto = 0;
    uint32_t                until = UINT32_MAX;
    offpay_transfers_digest d[OFFPAY_SHARDS_MAX];
    offpay_actions_digest   a[OFFPAY_SHARDS_MAX];
    size_t                  n = 0, na = 0;
    offpay_err              rc;
    char                    hint[OFFPAY__UNIX_TIME_HINT_MAX];

    if (qu != NULL && srv_parse_id(qu, INT64_MAX, &upto) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "upto: a transfer id, a decimal from 1 (leave it out for "
                 "each shard's last transfer mark)");
        return;
    }
    if (qt != NULL &&
        offpay__unix_time_parse("to", qt, 0, &until, hint, sizeof hint) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, hint);
        return;
    }
    rc = offpay_ledger_digest(r->l, (int64_t)upto, until, d, OFFPAY_SHARDS_MAX,
                              &n);
    /* and what operators did until the same time (all of it by id) */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_actions_digest(r->l, until, a, OFFPAY_SHARDS_MAX,
                                          &na);
    if (rc == OFFPAY_OK && na != n)
        rc = OFFPAY_ESTORE;
    if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "digest");
    else {
        json_t *j = offpay__digest_json(d, a, n);

        /* whether what it covers can still change (a period by to) */
        if (j != NULL && until != UINT32_MAX)
            json_object_set_new(
                j, "final", json_boolean(offpay__period_final(until, r->now)));

        if (j == NULL)
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
        else
            srv_ok(out, j);
    }
}
