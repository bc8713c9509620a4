/*
 * auth.c — authentication of a signed request (docs/api.md, "Signed
 * requests"; the format is src/terminal/upload_sign.c), for every kind of
 * signer: a terminal's own key here, a wallet's in wallet_upload.c.
 * Order: the headers parse, the time is within ± the window, the signature
 * verifies, the key is a known signer, and only then is the nonce taken —
 * so a forged request cannot burn a signer's nonces. The uploads' bodies
 * (up to upload_body_max) are not read at all for a stale time or a key
 * that is no signer of theirs (srv_auth_early, before the body).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* Requests refused for a key that is no registered terminal: [0] before
 * their body (the signature unchecked), [1] with a signature that
 * verified. A terminal registered after the backup a ledger was restored
 * from signs them (docs/operations.md §5): the operator hears of it, in
 * one log line a minute at most. */
static pthread_mutex_t unknown_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t        unknown_n[2], unknown_said[2];
static time_t          unknown_last;

void srv_unknown_terminal(int verified, const uint8_t pk[OFFPAY_PK_BYTES])
{
    uint64_t n[2] = {0, 0};
    time_t   t = time(NULL);
    int      say = 0;

    pthread_mutex_lock(&unknown_mu);
    unknown_n[verified != 0]++;
    /* said for a request whose signature verified: one refused from its
     * headers alone proves nothing (anyone can send any key), and its
     * line would be anyone's to write, with advice to register a key */
    if (verified && (unknown_last == 0 || t - unknown_last >= 60)) {
        for (int i = 0; i < 2; i++) {
            n[i] = unknown_n[i] - unknown_said[i];
            unknown_said[i] = unknown_n[i];
        }
        unknown_last = t;
        say = 1;
    }
    pthread_mutex_unlock(&unknown_mu);
    if (say)
        srv_log("refused %llu request(s) signed by a key that is no "
                "registered terminal (%llu with a signature that verified; "
                "the last by key %02x%02x%02x%02x...): a terminal registered "
                "after the backup the ledger was restored from? Register its "
                "key again (docs/operations.md section 5); at most one such "
                "line a minute",
                (unsigned long long)(n[0] + n[1]), (unsigned long long)n[1],
                pk[0], pk[1], pk[2], pk[3]);
}

void srv_unknown_terminal_counts(uint64_t n[2])
{
    pthread_mutex_lock(&unknown_mu);
    n[0] = unknown_n[0];
    n[1] = unknown_n[1];
    pthread_mutex_unlock(&unknown_mu);
}

int srv_auth_time_ok(const offpay__http_auth *a, uint32_t now, uint32_t w,
                     char *hint, size_t cap)
{
    if ((a->time >= now || now - a->time <= w) &&
        (a->time <= now || a->time - now <= w))
        return 1;
    snprintf(hint, cap,
             "the sender's clock is %u s %s offpayd's (request time %u, "
             "server time %u, allowed difference %u s): set it right",
             (unsigned)(a->time > now ? a->time - now : now - a->time),
             a->time > now ? "ahead of" : "behind", (unsigned)a->time,
             (unsigned)now, (unsigned)w);
    return 0;
}

srv_err srv_auth_early(srv_ctx *srv, srv_signer who, const offpay__http_auth *a,
                       char *hint, size_t cap)
{
    offpay_ledger_terminal_info t;
    offpay_ledger              *l;
    offpay_err                  rc;

    if (!srv_auth_time_ok(a, srv_now(), srv->cfg.window, hint, cap))
        return SRV_E_STALE_TIMESTAMP;
    if (who == SRV_SIGNER_ANY)
        return SRV_E_NONE;
    /* Not waited for: a request nobody has authenticated yet must not
     * hold up, or queue behind, the signed requests for a connection.
     * With none free the body is read, and the signature checked after
     * it, as before this look existed. */
    l = srv_pool_try_get(srv->pool);
    if (l == NULL)
        return SRV_E_NONE;
    rc = who == SRV_SIGNER_TERMINAL ? offpay_ledger_terminal(l, 0, a->pk, &t)
                                    : offpay_ledger_wallet_known(l, a->pk);
    srv_pool_put(srv->pool, l);
    if (rc != OFFPAY_ENOTFOUND)
        return SRV_E_NONE; /* known, or the handler looks again and says */
    if (who == SRV_SIGNER_TERMINAL)
        srv_unknown_terminal(0, a->pk);
    snprintf(hint, cap,
             "the signing key is no %s offpayd knows: the body was not read",
             who == SRV_SIGNER_TERMINAL ? "registered terminal"
                                        : "wallet's credential key");
    return who == SRV_SIGNER_TERMINAL ? SRV_E_UNKNOWN_TERMINAL
                                      : SRV_E_UNKNOWN_WALLET;
}

int srv_auth_signature(srv_req *r, srv_reply *out)
{
    offpay__http_auth *a = &r->auth;
    offpay_err         rc;
    uint32_t           w = r->srv->cfg.window;
    char               hint[200];

    if (r->auth_ok)
        return 0;
    rc = offpay__http_auth_parse(r->header(r->conn, OFFPAY__HTTP_HDR_KEY),
                                 r->header(r->conn, OFFPAY__HTTP_HDR_TIME),
                                 r->header(r->conn, OFFPAY__HTTP_HDR_NONCE),
                                 r->header(r->conn, OFFPAY__HTTP_HDR_SIG), a);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail(out, SRV_E_SIGNATURE_MISSING, NULL);
        return -1;
    }
    if (rc != OFFPAY_OK) {
        srv_fail(out, SRV_E_SIGNATURE_MALFORMED, NULL);
        return -1;
    }
    if (!srv_auth_time_ok(a, r->now, w, hint, sizeof hint)) {
        srv_fail(out, SRV_E_STALE_TIMESTAMP, hint);
        return -1;
    }
    if (offpay__http_body_digest(r->body, r->body_len, r->body_sha256) !=
            OFFPAY_OK ||
        offpay__http_verify_digest(a, r->method, r->path, r->body_sha256) !=
            OFFPAY_OK) {
        srv_fail(out, SRV_E_SIGNATURE_INVALID, NULL);
        return -1;
    }
    r->auth_ok = 1;
    return 0;
}

/* A request made before the ledger's nonce mark (offpay_ledger_nonce):
 * STALE_TIMESTAMP, saying why its time, inside the window, is not
 * enough. */
static void stale_before_mark(srv_req *r, srv_reply *out)
{
    uint32_t mark = 0;
    char     hint[400], when[32];

    if (offpay_ledger_nonce_mark(r->l, &mark) != OFFPAY_OK || mark == 0) {
        srv_fail(out, SRV_E_STALE_TIMESTAMP, NULL);
        return;
    }
    srv_iso_time(mark, when);
    snprintf(hint, sizeof hint,
             "offpayd forgot the signed requests made before %s (%u) "
             "because its clock was ahead: a request made before then is "
             "refused whatever offpayd's clock says now (request time %u); "
             "send it again, signed at that time or later "
             "(docs/operations.md)",
             when, (unsigned)mark, (unsigned)r->auth.time);
    srv_fail(out, SRV_E_STALE_TIMESTAMP, hint);
}

int srv_auth_signed(srv_req *r, const srv_signer_kind *kind, void *ctx,
                    uint8_t pk[OFFPAY_PK_BYTES], srv_reply *out)
{
    const offpay__http_auth *a = &r->auth;
    offpay_err               rc;

    if (srv_auth_signature(r, out) != 0)
        return -1;
    rc = kind->find(r, a->pk, ctx);
    if (rc == OFFPAY_ENOTFOUND) {
        if (kind->unknown == SRV_E_UNKNOWN_TERMINAL)
            srv_unknown_terminal(1, a->pk);
        srv_fail(out, kind->unknown, NULL);
        return -1;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, kind->what);
        return -1;
    }
    rc = offpay_ledger_nonce(r->l, a->pk, a->nonce, a->time, r->now,
                             r->srv->cfg.window);
    if (rc == OFFPAY_EREPLAY) {
        srv_fail(out, SRV_E_NONCE_REPLAYED, NULL);
        return -1;
    }
    if (rc == OFFPAY_ECLOCK_BEHIND) {
        stale_before_mark(r, out);
        return -1;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "request nonce");
        return -1;
    }
    if (pk != NULL)
        memcpy(pk, a->pk, OFFPAY_PK_BYTES);
    return 0;
}

/* A registered terminal (revoked ones included), into ctx. */
static offpay_err find_terminal(srv_req *r, const uint8_t pk[OFFPAY_PK_BYTES],
                                void *ctx)
{
    return offpay_ledger_terminal(r->l, 0, pk, ctx);
}

static const srv_signer_kind terminal_kind = {
    find_terminal, SRV_E_UNKNOWN_TERMINAL, "terminal look-up"};

int srv_auth_terminal(srv_req *r, offpay_ledger_terminal_info *t,
                      srv_reply *out)
{
    return srv_auth_signed(r, &terminal_kind, t, NULL, out);
}
