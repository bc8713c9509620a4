/*
 * auth.c — authentication of a request signed by a terminal's own key
 * (docs/api.md, "Signed requests"; the format is src/terminal/upload_sign.c).
 * Order: the headers parse, the time is within ± the window, the signature
 * verifies, the key is a registered terminal, and only then is the nonce
 * taken — so a forged request cannot burn a terminal's nonces.
 */
#include <stdio.h>

#include "server/server.h"

int srv_auth_terminal(srv_req *r, offpay_ledger_terminal_info *t,
                      srv_reply *out)
{
    offpay__http_auth a;
    offpay_err        rc;
    uint32_t          w = r->srv->cfg.window;

    rc = offpay__http_auth_parse(r->header(r->conn, OFFPAY__HTTP_HDR_KEY),
                                 r->header(r->conn, OFFPAY__HTTP_HDR_TIME),
                                 r->header(r->conn, OFFPAY__HTTP_HDR_NONCE),
                                 r->header(r->conn, OFFPAY__HTTP_HDR_SIG), &a);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail(out, SRV_E_SIGNATURE_MISSING, NULL);
        return -1;
    }
    if (rc != OFFPAY_OK) {
        srv_fail(out, SRV_E_SIGNATURE_MALFORMED, NULL);
        return -1;
    }
    if ((a.time < r->now && r->now - a.time > w) ||
        (a.time > r->now && a.time - r->now > w)) {
        char hint[128];

        snprintf(hint, sizeof hint,
                 "request time %u, server time %u, allowed difference %u s",
                 (unsigned)a.time, (unsigned)r->now, (unsigned)w);
        srv_fail(out, SRV_E_STALE_TIMESTAMP, hint);
        return -1;
    }
    if (offpay__http_verify(&a, r->method, r->path, r->body, r->body_len) !=
        OFFPAY_OK) {
        srv_fail(out, SRV_E_SIGNATURE_INVALID, NULL);
        return -1;
    }
    rc = offpay_ledger_terminal(r->l, 0, a.pk, t);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail(out, SRV_E_UNKNOWN_TERMINAL, NULL);
        return -1;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal look-up");
        return -1;
    }
    rc = offpay_ledger_nonce(r->l, a.pk, a.nonce, a.time, r->now, w);
    if (rc == OFFPAY_EREPLAY) {
        srv_fail(out, SRV_E_NONCE_REPLAYED, NULL);
        return -1;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "request nonce");
        return -1;
    }
    return 0;
}
