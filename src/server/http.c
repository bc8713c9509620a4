/*
 * http.c — offpayd's HTTP front: the libmicrohttpd daemon, the one routing
 * table, request bodies accumulated under a hard cap (a declared
 * Content-Length over the cap is refused with 413 before any byte of the
 * body is read), the operator token check, JSON replies and the request
 * metrics. Handlers (one file per endpoint) get a parsed srv_req.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sodium.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonutil.h"
#include "store/lockwait.h"
#include "offpay/pkcs11.h"
#include "server/server.h"
#include "server/slow.h"

/* The hint of a /metrics request refused (AUTH_METRICS). */
#define METRICS_HINT                                                           \
    "/metrics wants the bearer token of --metrics-token-file, or the "         \
    "operator's"

typedef enum auth_kind {
    AUTH_NONE,     /* public */
    AUTH_OPERATOR, /* Authorization: Bearer TOKEN */
    AUTH_METRICS,  /* public, or the metrics or operator token */
    AUTH_SIGNED,   /* signed by a terminal's or wallet's key (the handler
                      checks, once the body is read) */
    /* signed, by a key looked up before the body is read (a body of up
     * to upload_body_max is not read for a key that is no signer of
     * its route: srv_auth_early); the handler checks all the same */
    AUTH_TERMINAL, /* a registered terminal's */
    AUTH_WALLET    /* one the ledger issued a credential to */
} auth_kind;

/* Whether requests of kind k are signed. */
#define SIGNED(k) ((k) >= AUTH_SIGNED)

typedef enum body_kind {
    BODY_NONE,  /* no body allowed */
    BODY_ADMIN, /* up to SRV_ADMIN_BODY_MAX */
    BODY_UPLOAD /* up to the configured upload cap */
} body_kind;

typedef struct route {
    const char *method;
    const char *pattern; /* '*' matches one path segment */
    srv_handler fn;
    auth_kind   auth;
    body_kind   body;
    int         ledger; /* 1: the handler needs a ledger handle */
    /* the query parameters it takes, space-separated ("" or NULL: none;
     * "*": any, for the dashboard's files) */
    const char *params;
    /* 1: it keeps an Idempotency-Key (the request is made once under it);
     * 0: a key sent to it is refused rather than ignored */
    int keyed;
} route;

/* The routing table: every endpoint of docs/api.md, once. */
static const route routes[] = {
    {"GET", "/v1/health", srv_health, AUTH_NONE, BODY_NONE, 0, NULL, 0},
    {"GET", "/metrics", srv_metrics, AUTH_METRICS, BODY_NONE, 0, NULL, 0},
    {"GET", "/v1/limits", srv_limits, AUTH_NONE, BODY_NONE, 0, NULL, 0},
    {"GET", "/v1/bundle", srv_bundle, AUTH_NONE, BODY_NONE, 0, NULL, 0},
    {"GET", "/v1/revlist", srv_revlist, AUTH_NONE, BODY_NONE, 1, "since", 0},
    {"POST", "/v1/terminal/upload", srv_upload_batch, AUTH_TERMINAL,
     BODY_UPLOAD, 1, NULL, 0},
    {"POST", "/v1/wallet/upload", srv_upload_wallet, AUTH_WALLET, BODY_UPLOAD,
     1, NULL, 0},
    {"POST", "/v1/admin/accounts", srv_account_new, AUTH_OPERATOR, BODY_ADMIN,
     1, NULL, 1},
    {"GET", "/v1/admin/accounts", srv_accounts_list, AUTH_OPERATOR, BODY_NONE,
     1, "ref after limit", 0},
    {"GET", "/v1/admin/accounts/*", srv_account_get, AUTH_OPERATOR, BODY_NONE,
     1, NULL, 0},
    {"GET", "/v1/admin/actions", srv_actions_list, AUTH_OPERATOR, BODY_NONE, 1,
     "by action subject from to after limit", 0},
    {"GET", "/v1/admin/accounts/*/transfers", srv_account_transfers,
     AUTH_OPERATOR, BODY_NONE, 1, "from to after limit", 0},
    {"POST", "/v1/admin/accounts/*/deposit", srv_account_deposit, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 1},
    {"POST", "/v1/admin/accounts/*/withdraw", srv_account_withdraw,
     AUTH_OPERATOR, BODY_ADMIN, 1, NULL, 1},
    {"POST", "/v1/admin/guarantee", srv_guarantee, AUTH_OPERATOR, BODY_ADMIN, 1,
     NULL, 0},
    {"GET", "/v1/admin/guarantee", srv_guarantee_view, AUTH_OPERATOR, BODY_NONE,
     1, "currency from to", 0},
    {"POST", "/v1/admin/merchants", srv_merchant_new, AUTH_OPERATOR, BODY_ADMIN,
     1, NULL, 1},
    {"GET", "/v1/admin/merchants", srv_merchants_list, AUTH_OPERATOR, BODY_NONE,
     1, "after limit", 0},
    {"GET", "/v1/admin/merchants/*/statement", srv_statement, AUTH_OPERATOR,
     BODY_NONE, 1, "from to terminal after", 0},
    {"POST", "/v1/admin/merchants/*/close", srv_merchant_close, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 0},
    {"GET", "/v1/admin/report", srv_report, AUTH_OPERATOR, BODY_NONE, 1,
     "from to after limit", 0},
    {"GET", "/v1/admin/balances", srv_balances, AUTH_OPERATOR, BODY_NONE, 1,
     "from to", 0},
    {"GET", "/v1/admin/digest", srv_digest, AUTH_OPERATOR, BODY_NONE, 1,
     "upto to", 0},
    {"POST", "/v1/admin/presentments/*/refund", srv_refund, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 1},
    {"POST", "/v1/admin/terminals", srv_terminal_new, AUTH_OPERATOR, BODY_ADMIN,
     1, NULL, 1},
    {"POST", "/v1/admin/terminals/*/revoke", srv_terminal_revoke, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/admin/terminals/*/label", srv_terminal_label, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 0},
    {"GET", "/v1/admin/terminals", srv_terminals_list, AUTH_OPERATOR, BODY_NONE,
     1, "merchant after limit", 0},
    {"GET", "/v1/admin/terminals/*", srv_terminal_get, AUTH_OPERATOR, BODY_NONE,
     1, NULL, 0},
    {"GET", "/v1/admin/keys", srv_keys, AUTH_OPERATOR, BODY_NONE, 1, NULL, 0},
    {"POST", "/v1/admin/credentials", srv_credential_new, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 1},
    {"GET", "/v1/admin/credentials/*", srv_credential_get, AUTH_OPERATOR,
     BODY_NONE, 1, NULL, 0},
    {"POST", "/v1/admin/credentials/*/revoke", srv_credential_revoke,
     AUTH_OPERATOR, BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/admin/release", srv_release, AUTH_OPERATOR, BODY_ADMIN, 1,
     NULL, 0},
    {"GET", "/v1/admin/audit", srv_audit, AUTH_OPERATOR, BODY_NONE, 1, NULL, 0},
    {"GET", "/v1/admin/cases", srv_cases_list, AUTH_OPERATOR, BODY_NONE, 1,
     "serial kind since state after limit", 0},
    {"GET", "/v1/admin/cases/*", srv_case_get, AUTH_OPERATOR, BODY_NONE, 1,
     "after limit", 0},
    {"POST", "/v1/admin/cases/*/notes", srv_case_note, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/admin/cases/*/close", srv_case_close, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/admin/cases/*/reopen", srv_case_reopen, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 0},
    {"GET", "/v1/admin/cases/*/evidence", srv_case_evidence, AUTH_OPERATOR,
     BODY_NONE, 1, NULL, 0},
    {"GET", "/v1/admin/overview", srv_overview, AUTH_OPERATOR, BODY_NONE, 1,
     "from width", 0},
    {"POST", "/v1/terminal/status", srv_terminal_status, AUTH_SIGNED,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/terminal/check", srv_terminal_check, AUTH_TERMINAL,
     BODY_UPLOAD, 1, NULL, 0},
    {"POST", "/v1/terminal/expiries", srv_terminal_expiries, AUTH_TERMINAL,
     BODY_UPLOAD, 1, NULL, 0},
    {"GET", "/dashboard", srv_dashboard, AUTH_NONE, BODY_NONE, 0, "*", 0},
    {"GET", "/dashboard/*", srv_dashboard, AUTH_NONE, BODY_NONE, 0, "*", 0},

    /* the wallet's and terminal's online life (wallet_online.c) */
    {"POST", "/v1/admin/enrollments", srv_enrollment_new, AUTH_OPERATOR,
     BODY_ADMIN, 1, NULL, 0},
    {"GET", "/v1/admin/wallets/*", srv_admin_wallet_get, AUTH_OPERATOR,
     BODY_NONE, 1, NULL, 0},
    {"POST", "/v1/admin/wallets/*/enrollment", srv_admin_wallet_enrollment,
     AUTH_OPERATOR, BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/admin/wallets/*/revoke", srv_admin_wallet_revoke,
     AUTH_OPERATOR, BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/wallet/enroll", srv_wallet_enroll, AUTH_SIGNED, BODY_ADMIN, 1,
     NULL, 0},
    {"POST", "/v1/wallet/status", srv_wallet_status, AUTH_SIGNED, BODY_ADMIN, 1,
     NULL, 0},
    {"POST", "/v1/wallet/credentials", srv_wallet_credentials, AUTH_SIGNED,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/wallet/allowance", srv_wallet_allowance, AUTH_SIGNED,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/wallet/revoke", srv_wallet_revoke, AUTH_SIGNED, BODY_ADMIN, 1,
     NULL, 0},
    {"POST", "/v1/wallet/restore-floor", srv_wallet_restore_floor, AUTH_SIGNED,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/terminal/rotate", srv_terminal_rotate, AUTH_SIGNED,
     BODY_ADMIN, 1, NULL, 0},
    {"POST", "/v1/terminal/decommission", srv_terminal_decommission,
     AUTH_SIGNED, BODY_ADMIN, 1, NULL, 0},
};

#define N_ROUTES (sizeof routes / sizeof routes[0])
#define SEG_MAX  SRV_SEG_MAX

/* Per-request state across libmicrohttpd's calls. */
typedef struct conn_state {
    const route    *rt;
    int             early; /* srv_err decided before the body, or -1 */
    int             answered;
    uint8_t        *body;
    size_t          len, cap, limit;
    int             too_large; /* past the cap: skipped bytes counted */
    size_t          skipped;
    char            seg[2][SEG_MAX + 1];
    struct timespec t0;
    int             handled; /* counted in `handling` */
    int             close;   /* framing in doubt: close after the answer */
    char            allow[32]; /* a 405's Allow header: the path's methods */
} conn_state;

struct srv_daemon {
    struct MHD_Daemon *mhd;
};

/* For a stop that answers every request it lets work (srv_daemon_stop).
 * One daemon per process.
 *   in_flight  requests begun and not completed (their reply sent, or
 *              their connection gone);
 *   handling   of those, the ones whose handler started: their work may
 *              be done, so their reply must go out;
 *   stopping   set by the stop: a request begun after it is answered
 *              STOPPING;
 *   expired    set once the stop has waited SRV_STOP_WAIT_S for slow
 *              bodies: a handler that starts after it answers STOPPING
 *              instead of working. */
static unsigned long in_flight, handling;
static int           stopping, expired;

/* Matches path against pattern; fills seg. 1 on a match. */
static int match(const char *pattern, const char *path,
                 char seg[2][SEG_MAX + 1])
{
    unsigned n_seg = 0;

    while (*pattern != '\0' && *path != '\0') {
        if (*pattern == '*') {
            size_t k = strcspn(path, "/");

            if (k == 0 || k > SEG_MAX || n_seg == 2)
                return 0;
            memcpy(seg[n_seg], path, k);
            seg[n_seg++][k] = '\0';
            path += k;
            pattern++;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

/* Whether HEAD is answered on rt as GET without the body (libmicrohttpd
 * sends a HEAD answer's headers only): the probes of load balancers and
 * monitors. */
static int takes_head(const route *rt)
{
    return strcmp(rt->method, "GET") == 0 &&
           (strcmp(rt->pattern, "/v1/health") == 0 ||
            strcmp(rt->pattern, "/metrics") == 0);
}

/* Whether rt takes method. */
static int takes(const route *rt, const char *method)
{
    return strcmp(rt->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && takes_head(rt));
}

/* The route for (method, path), or NULL with *err set. */
static const route *find_route(const char *method, const char *path,
                               char seg[2][SEG_MAX + 1], srv_err *err)
{
    int path_known = 0;

    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!match(routes[i].pattern, path, seg))
            continue;
        if (takes(&routes[i], method))
            return &routes[i];
        path_known = 1;
    }
    *err = path_known ? SRV_E_METHOD_NOT_ALLOWED : SRV_E_NOT_FOUND;
    return NULL;
}

/* The methods path takes, for a 405's Allow header (RFC 9110 §15.5.6):
 * "GET, POST", say, into buf. */
static void allowed_methods(const char *path, char *buf, size_t cap)
{
    char   seg[2][SEG_MAX + 1];
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        const char *m[2] = {routes[i].method,
                            takes_head(&routes[i]) ? "HEAD" : NULL};

        if (!match(routes[i].pattern, path, seg))
            continue;
        for (size_t k = 0; k < 2 && m[k] != NULL; k++) {
            size_t n = strlen(m[k]);
            int    listed = 0;

            for (const char *p = buf; (p = strstr(p, m[k])) != NULL; p += n)
                listed |=
                    (p == buf || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0');
            if (!listed && used + n + 3 <= cap)
                used += (size_t)snprintf(buf + used, cap - used, "%s%s",
                                         used > 0 ? ", " : "", m[k]);
        }
    }
}

int srv_route_lookup(const char *method, const char *path, const char **pattern,
                     char seg[2][SRV_SEG_MAX + 1])
{
    srv_err      e = SRV_E_INTERNAL;
    const route *rt = find_route(method, path, seg, &e);

    *pattern = rt ? rt->pattern : NULL;
    return rt ? 0 : (int)e;
}

static const char *header_of(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static const char *query_of(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* The operator token's hash changes while requests read it (SIGHUP,
 * srv_set_token): both sides hold this lock. */
static pthread_mutex_t token_mu = PTHREAD_MUTEX_INITIALIZER;

static void set_hash(uint8_t dst[32], const char *token)
{
    uint8_t hash[32];

    crypto_generichash(hash, sizeof hash, (const uint8_t *)token,
                       strlen(token), NULL, 0);
    pthread_mutex_lock(&token_mu);
    memcpy(dst, hash, sizeof hash);
    pthread_mutex_unlock(&token_mu);
    sodium_memzero(hash, sizeof hash);
}

void srv_set_token(srv_ctx *srv, const char *token)
{
    set_hash(srv->cfg.token_hash, token);
    __atomic_store_n(&srv->cfg.has_token, 1, __ATOMIC_SEQ_CST);
}

void srv_set_operators(srv_ctx *srv, const srv_operator *v, size_t n)
{
    pthread_mutex_lock(&token_mu);
    memcpy(srv->cfg.operators, v, n * sizeof *v);
    sodium_memzero(srv->cfg.operators + n, (SRV_OPERATORS_MAX - n) * sizeof *v);
    srv->cfg.n_operators = n;
    pthread_mutex_unlock(&token_mu);
}

void srv_set_metrics_token(srv_ctx *srv, const char *token)
{
    set_hash(srv->cfg.metrics_hash, token);
    __atomic_store_n(&srv->cfg.metrics_auth, 1, __ATOMIC_SEQ_CST);
}

/* The hash of r's bearer token into got; 0 when it has none. Hashes are
 * compared, so neither a token's bytes nor its length leak through the
 * time taken. */
static int bearer_hash(const srv_req *r, uint8_t got[32])
{
    const char *h = r->header(r->conn, MHD_HTTP_HEADER_AUTHORIZATION);

    /* the scheme's name is case-insensitive (RFC 9110 §11.1) */
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0')
        return 0;
    crypto_generichash(got, 32, (const uint8_t *)h + 7, strlen(h + 7), NULL,
                       0);
    return 1;
}

/* Whether got is the hash of the token whose hash is at *stored. */
static int hash_is(const uint8_t got[32], const uint8_t *stored)
{
    uint8_t want[32];
    int     ok;

    pthread_mutex_lock(&token_mu);
    memcpy(want, stored, sizeof want);
    pthread_mutex_unlock(&token_mu);
    ok = sodium_memcmp(got, want, sizeof want) == 0;
    sodium_memzero(want, sizeof want);
    return ok;
}

size_t srv_operators_copy(srv_ctx *srv, srv_operator *out)
{
    size_t n;

    pthread_mutex_lock(&token_mu);
    n = srv->cfg.n_operators;
    memcpy(out, srv->cfg.operators, n * sizeof *out);
    pthread_mutex_unlock(&token_mu);
    return n;
}

/* Whether one of v[0..n) has the token whose hash is got, its name then
 * into name (cap bytes). Every one is compared, in constant time, whichever
 * matches. The caller holds token_mu. */
static int hash_among(const srv_operator *v, size_t n, const uint8_t got[32],
                      char *name, size_t cap)
{
    int found = 0;

    for (size_t i = 0; i < n; i++)
        if (sodium_memcmp(got, v[i].hash, 32) == 0) {
            snprintf(name, cap, "%s", v[i].name);
            found = 1;
        }
    return found;
}

/* The operator whose token's hash is got, its name into name (n bytes);
 * 0 when none. Every token is compared, whichever matches. */
static int operator_of(srv_ctx *srv, const uint8_t got[32], char *name,
                       size_t n)
{
    int found = 0;

    pthread_mutex_lock(&token_mu);
    if (srv->cfg.has_token &&
        sodium_memcmp(got, srv->cfg.token_hash, 32) == 0) {
        snprintf(name, n, "%s", SRV_TOKEN_OPERATOR);
        found = 1;
    }
    found |= hash_among(srv->cfg.operators, srv->cfg.n_operators, got, name, n);
    pthread_mutex_unlock(&token_mu);
    return found;
}

void srv_operator_gone(srv_ctx *srv, const srv_operator *op)
{
    pthread_mutex_lock(&token_mu);
    srv->cfg.former[srv->cfg.n_former % SRV_OPERATORS_MAX] = *op;
    srv->cfg.n_former++;
    pthread_mutex_unlock(&token_mu);
}

/* The name of the operator taken out whose token's hash is got into name
 * (SRV_OPERATOR_NAME_MAX + 1 bytes); 0 when none was. */
static int former_of(srv_ctx *srv, const uint8_t got[32], char *name)
{
    int found;

    pthread_mutex_lock(&token_mu);
    found =
        hash_among(srv->cfg.former,
                   srv->cfg.n_former < SRV_OPERATORS_MAX ? srv->cfg.n_former
                                                         : SRV_OPERATORS_MAX,
                   got, name, SRV_OPERATOR_NAME_MAX + 1);
    pthread_mutex_unlock(&token_mu);
    return found;
}

int srv_name_reserved(const char *name)
{
    static const char *const own[] = {SRV_TOKEN_OPERATOR, SRV_RELEASE_JOB,
                                      SRV_OPERATORS_FILE};
    size_t n = strlen(name), s = strlen(OFFPAY_ACTOR_ADMIN_SUFFIX);

    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcasecmp(name, own[i]) == 0)
            return 1;
    return n >= s && strcasecmp(name + n - s, OFFPAY_ACTOR_ADMIN_SUFFIX) == 0
               ? 2
               : 0;
}

int srv_operator_named(srv_ctx *srv, const char *name)
{
    int    found = 0;
    size_t former;

    pthread_mutex_lock(&token_mu);
    former = srv->cfg.n_former < SRV_OPERATORS_MAX ? srv->cfg.n_former
                                                   : SRV_OPERATORS_MAX;
    for (size_t i = 0; i < srv->cfg.n_operators; i++)
        found |= strcasecmp(name, srv->cfg.operators[i].name) == 0;
    for (size_t i = 0; i < former; i++)
        found |= strcasecmp(name, srv->cfg.former[i].name) == 0 &&
                 strcmp(srv->cfg.former[i].name, SRV_TOKEN_OPERATOR) != 0;
    pthread_mutex_unlock(&token_mu);
    return found;
}

int srv_token_is_operators(srv_ctx *srv, const uint8_t hash[32], char *name)
{
    int found;

    pthread_mutex_lock(&token_mu);
    found = hash_among(srv->cfg.operators, srv->cfg.n_operators, hash, name,
                       SRV_OPERATOR_NAME_MAX + 1);
    pthread_mutex_unlock(&token_mu);
    return found;
}

int srv_metrics_token_is_operators(srv_ctx *srv, char *name)
{
    uint8_t m[32];
    int     same;

    if (!__atomic_load_n(&srv->cfg.metrics_auth, __ATOMIC_SEQ_CST))
        return 0;
    pthread_mutex_lock(&token_mu);
    memcpy(m, srv->cfg.metrics_hash, sizeof m);
    pthread_mutex_unlock(&token_mu);
    same = operator_of(srv, m, name, SRV_OPERATOR_NAME_MAX + 1);
    sodium_memzero(m, sizeof m);
    return same;
}

int srv_operator_ok(srv_req *r)
{
    uint8_t got[32];

    return bearer_hash(r, got) &&
           operator_of(r->srv, got, r->operator_name, sizeof r->operator_name);
}

/* Whether r may read /metrics: no metrics token is set, or r bears it or
 * the operator's. */
static int metrics_ok(const srv_req *r)
{
    uint8_t got[32];
    char    name[SRV_OPERATOR_NAME_MAX + 1];

    if (!__atomic_load_n(&r->srv->cfg.metrics_auth, __ATOMIC_SEQ_CST))
        return 1;
    return bearer_hash(r, got) && (hash_is(got, r->srv->cfg.metrics_hash) ||
                                   operator_of(r->srv, got, name, sizeof name));
}

/* Whether r bears the token its route asks for (none for a public or
 * signed route); when not, *want is the hint saying which (NULL: the
 * operator's, the error's own message). */
static int bearer_ok(const route *rt, srv_req *r, const char **want)
{
    *want = NULL;
    if (rt->auth == AUTH_OPERATOR)
        return srv_operator_ok(r);
    *want = METRICS_HINT;
    return rt->auth != AUTH_METRICS || metrics_ok(r);
}

void srv_log(const char *fmt, ...)
{
    char      when[32] = "", line[1024];
    time_t    now = time(NULL);
    struct tm tm;
    va_list   ap;

    if (gmtime_r(&now, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "offpayd: %s %s\n", when, line);
}

size_t srv_tally_add(srv_tally *t, uint32_t terminal, const size_t *add,
                     size_t k, size_t *out)
{
    srv_tally_slot *s = NULL;
    time_t          now = time(NULL);
    size_t          events = 0;

    pthread_mutex_lock(&t->mu);
    /* its own slot, else a free one, else the one said longest ago (by
     * id alone, two terminals sharing a slot reset each other's minute,
     * and every event of theirs was logged) */
    for (size_t i = 0; i < SRV_TALLY_SLOTS && s == NULL; i++)
        if (t->slot[i].terminal == terminal)
            s = &t->slot[i];
    for (size_t i = 0; i < SRV_TALLY_SLOTS && s == NULL; i++)
        if (t->slot[i].terminal == 0)
            s = &t->slot[i];
    if (s == NULL) {
        s = &t->slot[0];
        for (size_t i = 1; i < SRV_TALLY_SLOTS; i++)
            if (t->slot[i].at < s->at)
                s = &t->slot[i];
    }
    if (s->terminal != terminal)
        memset(s, 0, sizeof *s);
    s->terminal = terminal;
    s->events++;
    for (size_t i = 0; i < k && i < SRV_TALLY_MAX; i++)
        s->n[i] += add[i];
    if (s->at == 0 || now - s->at >= 60) {
        events = s->events;
        for (size_t i = 0; i < k && i < SRV_TALLY_MAX; i++)
            out[i] = s->n[i];
        s->at = now;
        s->events = 0;
        memset(s->n, 0, sizeof s->n);
    }
    pthread_mutex_unlock(&t->mu);
    return events;
}

void srv_log_text(const char *in, char *buf, size_t cap)
{
    size_t i = 0;

    /* the client's text: printable ASCII only, so that no line can be
     * forged or cut on the log; a byte else is '?' */
    for (; in != NULL && *in != '\0' && i + 1 < cap; in++)
        buf[i++] = (*in >= 0x20 && *in < 0x7f && *in != '"' && *in != '\\')
                       ? *in
                       : '?';
    if (cap > 0)
        buf[i] = '\0';
}

/* The connection's peer address, numeric, into buf ("?" when unknown). */
static void peer_of(void *conn, char *buf, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

    snprintf(buf, cap, "?");
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET,
                  &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                  buf, (socklen_t)cap);
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  buf, (socklen_t)cap);
}

void srv_log_request(const srv_req *r, int replayed, const char *fmt, ...)
{
    char what[640], peer[64], xff[160] = "", key[OFFPAY_REQUEST_KEY_MAX + 1];
    char xffs[120], keys[OFFPAY_REQUEST_KEY_MAX + 24] = "";
    const char *h;
    va_list     ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    peer_of(r->conn, peer, sizeof peer);
    h = r->header(r->conn, "X-Forwarded-For");
    if (h != NULL) {
        srv_log_text(h, xffs, sizeof xffs);
        snprintf(xff, sizeof xff, " (X-Forwarded-For, the proxy's claim: %s)",
                 xffs);
    }
    h = r->header(r->conn, "Idempotency-Key");
    if (h != NULL) {
        srv_log_text(h, key, sizeof key);
        snprintf(keys, sizeof keys, " Idempotency-Key \"%s\"", key);
    }
    srv_log("%s %s%s%s from %s%s%s: %s%s", r->method, r->path,
            r->operator_name[0] != '\0' ? " by " : "", r->operator_name, peer,
            xff, keys, what,
            replayed ? " (replayed: nothing changed now)" : "");
}

/* An operator's change refused (a 4xx: the request was not right, or
 * the ledger said no): its line on the log too, with the operator's name
 * and why, as a change made has (a 5xx is logged where it happens). */
static void log_refused_change(const srv_req *r, const srv_reply *rep)
{
    const char *err = NULL, *hint = NULL;
    char        text[400];

    if (rep->status < 400 || rep->status >= 500 || rep->json == NULL)
        return;
    err = json_string_value(json_object_get(rep->json, "error"));
    hint = json_string_value(json_object_get(rep->json, "hint"));
    srv_log_text(hint != NULL ? hint : "", text, sizeof text);
    srv_log_request(r, 0, "refused %u %s: %s", rep->status,
                    err != NULL ? err : "?", text);
}

/* An operator's route asked without an operator's token: a line on the
 * log, at most one each UNAUTHORIZED_LOG_EVERY seconds (a client trying
 * tokens must not fill the disk) saying how many more came since, so
 * that a token taken out of --operators-file, still tried, is seen. */
#define UNAUTHORIZED_LOG_EVERY 10
static void log_refused_bearer(const srv_req *r, const conn_state *st)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t          last;
    static unsigned long   more;
    char                   peer[64], name[SRV_OPERATOR_NAME_MAX + 1];
    char                   what[192];
    uint8_t                got[32];
    const char     *h = r->header(r->conn, MHD_HTTP_HEADER_AUTHORIZATION);
    struct timespec now;
    unsigned long   since;

    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&mu);
    if (last != 0 && now.tv_sec - last < UNAUTHORIZED_LOG_EVERY) {
        more++;
        pthread_mutex_unlock(&mu);
        return;
    }
    since = more;
    more = 0;
    last = now.tv_sec;
    pthread_mutex_unlock(&mu);
    peer_of(r->conn, peer, sizeof peer);
    if (bearer_hash(r, got) && former_of(r->srv, got, name))
        snprintf(what, sizeof what, "%s%s%s",
                 strcmp(name, SRV_TOKEN_OPERATOR) == 0
                     ? "--token-file's token before it was replaced"
                     : "a token operator ",
                 strcmp(name, SRV_TOKEN_OPERATOR) == 0 ? "" : name,
                 strcmp(name, SRV_TOKEN_OPERATOR) == 0
                     ? ""
                     : " no longer has (taken out of --operators-file, or "
                       "replaced)");
    else
        snprintf(what, sizeof what, "%s",
                 h == NULL ? "no bearer token"
                           : "a bearer token that is no operator's (never "
                             "given, or taken out before offpayd started)");
    sodium_memzero(got, sizeof got);
    srv_log("%s %s answered 401 UNAUTHORIZED to %s: %s (%lu more refused "
            "since the last such line; at most one a %d s)",
            st->rt->method, st->rt->pattern, peer, what, since,
            UNAUTHORIZED_LOG_EVERY);
}

/* One line per failure of the server's own, for the operator's log and
 * whatever watches it: when (UTC), which endpoint, the status, the error
 * name and its hint. */
static void log_failure(const conn_state *st, unsigned status, const char *e,
                        const char *hint)
{
    srv_log("%s %s answered %u %s: %s",
            st != NULL && st->rt != NULL ? st->rt->method : "-",
            st != NULL && st->rt != NULL ? st->rt->pattern : "-", status, e,
            hint != NULL ? hint : "");
}

static enum MHD_Result send_reply(struct MHD_Connection *c, conn_state *st,
                                  srv_reply *rep)
{
    struct MHD_Response *resp;
    enum MHD_Result      ret;
    struct timespec      t1;
    char                *text = NULL;
    const char          *ctype = "application/json";
    size_t               len;
    double               dt;

    if (rep->text != NULL) {
        text = rep->text;
        rep->text = NULL;
        ctype = rep->ctype ? rep->ctype : "text/plain; version=0.0.4";
        len = strlen(text);
        resp =
            MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(text);
    } else {
        const char *e, *hint;

        if (rep->json == NULL)
            srv_fail(rep, SRV_E_INTERNAL, NULL);
        /* the server's own failure (the ledger's database down, say): the
         * operator reads it in offpayd's log, not only in the client's
         * answer; a stop's STOPPING is not one */
        e = json_string_value(json_object_get(rep->json, "error"));
        hint = json_string_value(json_object_get(rep->json, "hint"));
        if (rep->status >= 500 && e != NULL && strcmp(e, "STOPPING") != 0 &&
            !rep->logged)
            log_failure(st, rep->status, e, hint);

        /* an answer signed (sign_answer) goes as the text signed */
        text = rep->json_text != NULL ? rep->json_text
               : rep->json != NULL    ? json_dumps(rep->json, JSON_COMPACT)
                                      : NULL;
        rep->json_text = NULL;
        if (text == NULL)
            return MHD_NO;
        len = strlen(text);
        resp =
            MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
        offpay__json_free(text);
    }
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (rep->ctype != NULL) { /* a dashboard page: docs/dashboard.md */
        for (size_t i = 0; i < SRV_PAGE_HEADERS; i++)
            MHD_add_response_header(resp, srv_page_headers[i][0],
                                    srv_page_headers[i][1]);
    } else {
        /* an answer holds a ledger's figures, an evidence file, a
         * credential: no cache keeps it, no browser reads it as another
         * type */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    }
    if (__atomic_load_n(&stopping, __ATOMIC_SEQ_CST) || st->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (rep->answer[0] != '\0')
        MHD_add_response_header(resp, OFFPAY__HTTP_HDR_ANSWER, rep->answer);
    if (rep->status == 405 && st->allow[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, st->allow);
    if (rep->status == 401 && st->rt != NULL &&
        (st->rt->auth == AUTH_OPERATOR || st->rt->auth == AUTH_METRICS))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer");
    ret = MHD_queue_response(c, rep->status, resp);
    MHD_destroy_response(resp);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dt = (double)(t1.tv_sec - st->t0.tv_sec) +
         (double)(t1.tv_nsec - st->t0.tv_nsec) / 1e9;
    srv_metrics_request(st->rt ? st->rt->pattern : "unmatched", rep->status,
                        dt);
    st->answered = 1;
    return ret;
}

static enum MHD_Result answer_error(struct MHD_Connection *c, conn_state *st,
                                    srv_err e, const char *hint)
{
    srv_reply       rep = {0, NULL, NULL, NULL, NULL, "", 0};
    enum MHD_Result ret;

    srv_fail(&rep, e, hint);
    ret = send_reply(c, st, &rep);
    json_decref(rep.json);
    return ret;
}

/* The first query parameter a request names that its route does not
 * take (a filter the endpoint would silently ignore), or names twice (the
 * handler would read only one), for the hint. */
struct unknown_param {
    const char *allowed;
    char        name[48];
    int         repeated, no_value;
    char        seen[128]; /* " name name ... ": those named so far */
};

/* 1 when the space-separated list holds name (a run of [a-z_]) */
static int listed(const char *list, const char *name, size_t n)
{
    for (const char *p = list; (p = strstr(p, name)) != NULL; p++)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static enum MHD_Result check_param(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    struct unknown_param *u = cls;
    size_t                n = strlen(key), used = strlen(u->seen);

    (void)kind;
    if (n == 0)
        return MHD_YES; /* "?&": no parameter named */
    if (value == NULL) { /* "?terminal": named, without '=' and a value */
        u->no_value = 1;
        srv_quote(key, u->name);
        return MHD_NO;
    }
    if (strspn(key, "abcdefghijklmnopqrstuvwxyz_") == n &&
        listed(u->allowed != NULL ? u->allowed : "", key, n)) {
        if (!listed(u->seen, key, n)) {
            if (used + n + 2 <= sizeof u->seen)
                snprintf(u->seen + used, sizeof u->seen - used, " %s", key);
            return MHD_YES;
        }
        u->repeated = 1;
    }
    srv_quote(key, u->name);
    return MHD_NO; /* stops at the first one refused */
}

/* The headers a request may give once: two of them (two lengths, say)
 * would be read one way here and maybe another by a proxy in front. */
static const char *const once_headers[] = {
    MHD_HTTP_HEADER_CONTENT_LENGTH, MHD_HTTP_HEADER_TRANSFER_ENCODING,
    MHD_HTTP_HEADER_AUTHORIZATION,  "Idempotency-Key",
    OFFPAY__HTTP_HDR_KEY,           OFFPAY__HTTP_HDR_TIME,
    OFFPAY__HTTP_HDR_NONCE,         OFFPAY__HTTP_HDR_SIG,
};

struct header_seen {
    unsigned    seen; /* bit i: once_headers[i] met */
    const char *twice;
};

static enum MHD_Result see_header(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
    struct header_seen *h = cls;

    (void)kind;
    (void)value;
    for (size_t i = 0; i < sizeof once_headers / sizeof *once_headers; i++)
        if (strcasecmp(key, once_headers[i]) == 0) {
            if (h->seen & (1u << i)) {
                h->twice = once_headers[i];
                return MHD_NO;
            }
            h->seen |= 1u << i;
        }
    return MHD_YES;
}

/* A request whose framing or authentication headers are in doubt: a
 * header of once_headers given twice, a length and a chunked encoding
 * both, or a transfer coding other than chunked. Its hint into hint; 0
 * when none is. The connection is closed after the answer: where its body
 * ends is not known for sure. (A length that is no decimal number never
 * gets here: libmicrohttpd answers it 400 itself.) */
static int headers_in_doubt(struct MHD_Connection *c, char *hint, size_t cap)
{
    struct header_seen h = {0, NULL};
    const char        *te;

    MHD_get_connection_values(c, MHD_HEADER_KIND, see_header, &h);
    if (h.twice != NULL) {
        snprintf(hint, cap, "header %s given twice: give it once", h.twice);
        return 1;
    }
    if ((h.seen & 3u) == 3u) { /* once_headers[0] and [1] both */
        snprintf(hint, cap,
                 "Content-Length and Transfer-Encoding both "
                 "given: give one");
        return 1;
    }
    /* libmicrohttpd frames only chunked bodies: with another coding
     * (gzip, or a list such as "gzip, chunked") and no length, it waits
     * for a body it cannot delimit until the connection times out, and
     * the client gets no answer at all. Coding names are case-blind
     * (RFC 9112 §7). */
    te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te != NULL && strcasecmp(te, "chunked") != 0) {
        size_t n = strlen(te);
        int    shown = n <= 40;

        for (size_t i = 0; shown && i < n; i++)
            shown = te[i] >= 0x20 && te[i] < 0x7f;
        snprintf(hint, cap,
                 "Transfer-Encoding '%s' not taken: send the body with a "
                 "Content-Length, or Transfer-Encoding: chunked",
                 shown ? te : "(not shown)");
        return 1;
    }
    return 0;
}

/* First call of a request: route it, and refuse what can be refused before
 * reading the body. */
static enum MHD_Result begin(srv_ctx *srv, struct MHD_Connection *c,
                             const char *url, const char *method,
                             conn_state *st)
{
    const char *cl;
    uint64_t    declared;
    srv_err     e = SRV_E_INTERNAL;

    char doubt[160];

    clock_gettime(CLOCK_MONOTONIC, &st->t0);
    st->early = -1;
    if (headers_in_doubt(c, doubt, sizeof doubt)) {
        st->close = 1;
        return answer_error(c, st, SRV_E_BAD_HEADER, doubt);
    }
    st->rt = find_route(method, url, st->seg, &e);
    if (st->rt == NULL && e == SRV_E_METHOD_NOT_ALLOWED)
        allowed_methods(url, st->allow, sizeof st->allow);
    if (st->rt == NULL)
        return answer_error(c, st, e, NULL);
    if (st->rt->params == NULL || strcmp(st->rt->params, "*") != 0) {
        struct unknown_param u = {st->rt->params, "", 0, 0, ""};
        char                 hint[160];

        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_param, &u);
        if (u.no_value) {
            snprintf(hint, sizeof hint,
                     "query parameter '%s' without a value (give %s=VALUE, "
                     "or leave it out)",
                     u.name, u.name);
            return answer_error(c, st, SRV_E_BAD_PARAMETER, hint);
        }
        if (u.name[0] != '\0') {
            snprintf(hint, sizeof hint,
                     "%s query parameter '%s' (this endpoint takes %s)",
                     u.repeated ? "repeated" : "unknown", u.name,
                     u.allowed != NULL && u.allowed[0] != '\0' ? u.allowed
                                                               : "none");
            return answer_error(c, st, SRV_E_BAD_PARAMETER, hint);
        }
    }
    if (st->rt->auth != AUTH_NONE) {
        /* refused before its body is read: a request without the
         * token its route asks for, or without a signature's headers */
        srv_req           r;
        offpay__http_auth a;
        const char       *want; /* the token a refused request lacked */
        offpay_err        rc;

        memset(&r, 0, sizeof r);
        r.srv = srv;
        r.header = header_of;
        r.conn = c;
        if (!bearer_ok(st->rt, &r, &want)) {
            if (st->rt->auth == AUTH_OPERATOR)
                log_refused_bearer(&r, st);
            return answer_error(c, st, SRV_E_UNAUTHORIZED, want);
        }
        rc = SIGNED(st->rt->auth)
                 ? offpay__http_auth_parse(header_of(c, OFFPAY__HTTP_HDR_KEY),
                                           header_of(c, OFFPAY__HTTP_HDR_TIME),
                                           header_of(c, OFFPAY__HTTP_HDR_NONCE),
                                           header_of(c, OFFPAY__HTTP_HDR_SIG),
                                           &a)
                 : OFFPAY_OK;
        if (rc != OFFPAY_OK)
            return answer_error(c, st,
                                rc == OFFPAY_ENOTFOUND
                                    ? SRV_E_SIGNATURE_MISSING
                                    : SRV_E_SIGNATURE_MALFORMED,
                                NULL);
        if (SIGNED(st->rt->auth)) {
            /* a stale request, or an upload by a key that is no signer
             * of its route, is refused before its body is read: nobody
             * holds a connection and a body's memory with made-up
             * signature headers. The look-up may wait for a ledger
             * handle: not the body's time (slow.c) */
            char hint[160];

            srv_slow_busy(c);
            e = srv_auth_early(srv,
                               st->rt->auth == AUTH_TERMINAL
                                   ? SRV_SIGNER_TERMINAL
                               : st->rt->auth == AUTH_WALLET ? SRV_SIGNER_WALLET
                                                             : SRV_SIGNER_ANY,
                               &a, hint, sizeof hint);
            srv_slow_headers(c);
            if (e != SRV_E_NONE)
                return answer_error(c, st, e, hint);
        }
    }
    /* An Idempotency-Key on an endpoint that does not keep one would be
     * silently ignored, and a resend would act twice: refused instead. */
    if (!st->rt->keyed &&
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key") !=
            NULL)
        return answer_error(c, st, SRV_E_IDEMPOTENCY_KEY_NOT_TAKEN,
                            "this endpoint does not take an Idempotency-Key "
                            "(deposits, withdrawals, credential issues, "
                            "refunds, new accounts, merchants and terminals "
                            "do): nothing was done");
    st->limit = st->rt->body == BODY_UPLOAD  ? srv->cfg.body_max
                : st->rt->body == BODY_ADMIN ? SRV_ADMIN_BODY_MAX
                                             : 0;
    cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    while (cl != NULL && cl[0] == '0' && cl[1] != '\0')
        cl++; /* "010": ten bytes (libmicrohttpd read it as decimal) */
    if (cl != NULL && (srv_parse_u64(cl, UINT64_MAX, &declared) != 0 ||
                       declared > st->limit)) {
        char hint[96];

        snprintf(hint, sizeof hint, "the body cap of this endpoint is %zu",
                 st->limit);
        return answer_error(c, st, SRV_E_BODY_TOO_LARGE, hint);
    }
    return MHD_YES;
}

#ifdef OFFPAY_TEST_HOOKS
/* Test hook (test builds only): OFFPAYD_DROP_REPLY=PATH makes offpayd
 * close the connection without an answer after the first request to PATH
 * that succeeded — what the client sees when the network fails after the
 * ledger committed (tests/e2e/offpayd_online.sh). */
static int drop_reply(const char *url, unsigned status)
{
    static int  dropped;
    const char *env = getenv("OFFPAYD_DROP_REPLY");

    if (env == NULL || status != 200 || strcmp(env, url) != 0 ||
        __atomic_exchange_n(&dropped, 1, __ATOMIC_SEQ_CST) != 0)
        return 0;
    fprintf(stderr, "offpayd: test hook: the answer to %s dropped\n", url);
    return 1;
}
#endif

/* Signs the answer to a request whose signature verified (docs/api.md,
 * "Signed answers") with the issuer's daily key the ledger holds: the
 * JSON's text is kept, to go as it was signed. Should the signing fail
 * (a token that went away), the answer is replaced by 503 with the error
 * (EPKCS11 and the token's CKR_ name), counted
 * (offpayd_sign_failures_total) and reported by /v1/health: what the
 * request did stays done, and its resend is answered again (an upload's
 * items as replays). An unsigned 200 would be refused by the device
 * anyway, and counted and monitored as a success. Not inlined:
 * bench/upload_profile.sh counts its instructions by its name. */
__attribute__((noinline)) static void sign_answer(const srv_req *r,
                                                  srv_reply     *rep)
{
    char       text[OFFPAY__HTTP_ANSWER_SIGNED];
    uint8_t    sig[OFFPAY_SIG_BYTES];
    uint16_t   kid = 0;
    size_t     n = 0;
    offpay_err rc;

    rep->json_text = json_dumps(rep->json, JSON_COMPACT);
    if (rep->json_text == NULL)
        return;
    rc = offpay__http_answer_text(
        rep->status, r->path, &r->auth, r->body_sha256,
        (const uint8_t *)rep->json_text, strlen(rep->json_text), text, &n);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_sign_answer(r->l, r->now, (const uint8_t *)text, n,
                                       &kid, sig);
    if (rc == OFFPAY_OK) {
        offpay__http_answer_format(kid, sig, rep->answer);
        srv_metrics_signature(OFFPAY_OK);
        return;
    }
    srv_log("%s %s: its answer (%u) could not be signed: %s (%s)%s%s",
            r->method, r->path, rep->status, offpay_strerror(rc),
            offpay_errname(rc), rc == OFFPAY_EPKCS11 ? ": " : "",
            rc == OFFPAY_EPKCS11 ? offpay_pkcs11_detail() : "");
    offpay__json_free(rep->json_text);
    rep->json_text = NULL;
    if (rc != OFFPAY_EPKCS11) /* srv_fail_engine counts EPKCS11's */
        srv_metrics_signature(rc);
    /* (docs/api.md: what the request did is done; sent again once
     * offpayd signs again, it is answered as a replay) */
    srv_fail_engine(rep, rc, "the answer could not be signed");
    if (rep->status < 500)
        rep->status = 500; /* never an unsigned answer that looks decided */
}

/* Every ledger handle stayed busy for the ms the request may wait for one
 * (--lock-wait): 503 EBUSY, nothing done, so that a client is told while
 * it still listens (a terminal's sync gives up after 120 s) and offpayd
 * does no work for one gone. Counted; logged at most once a minute, with
 * how many gave up since the last line: a queue of them does not flood
 * the log. */
static void pool_busy(srv_ctx *srv, const srv_req *r, long ms, srv_reply *rep)
{
    static pthread_mutex_t    mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t             said = -60; /* CLOCK_MONOTONIC, last line */
    static unsigned long long said_n = 0; /* the count at that line */
    unsigned long long        n = srv_metrics_pool_gave_up();
    struct timespec           t;
    size_t                    conns = 0;
    long                      held = srv_pool_held_for(srv->pool, &conns);
    char                      hint[320];

    /* not through srv_fail_engine: no storage failed, so neither
     * offpayd_ledger_errors_total nor health's last_ledger_error counts
     * it */
    snprintf(hint, sizeof hint,
             "ledger: each of offpayd's %zu ledger connection(s) stayed busy "
             "for the %ld s a request waits for one (--lock-wait): nothing was "
             "done; send the request again (GET /v1/health says why they are "
             "held)",
             conns, ms / 1000);
    json_decref(rep->json);
    rep->status = 503;
    rep->json = json_pack("{s:s, s:s}", "error", offpay_errname(OFFPAY_EBUSY),
                          "hint", hint);
    clock_gettime(CLOCK_MONOTONIC, &t);
    pthread_mutex_lock(&mu);
    if (t.tv_sec - said >= 60) {
        srv_log("%s %s: 503 EBUSY: every one of the %zu ledger connection(s) "
                "stayed busy for %ld s (the one held least, for %ld ms); "
                "%llu request(s) answered so since the last such line",
                r->method, r->path, conns, ms / 1000, held, n - said_n);
        said = t.tv_sec;
        said_n = n;
    }
    pthread_mutex_unlock(&mu);
    rep->logged = 1;
}

static enum MHD_Result run_handler(srv_ctx *srv, struct MHD_Connection *c,
                                   const char *url, const char *method,
                                   conn_state *st)
{
    srv_req         req;
    srv_reply       rep = {0, NULL, NULL, NULL, NULL, "", 0};
    const char     *want; /* the token a refused request lacked */
    enum MHD_Result ret;

    if (st->too_large) {
        char hint[96];

        snprintf(hint, sizeof hint, "the body cap of this endpoint is %zu",
                 st->limit);
        return answer_error(c, st, SRV_E_BODY_TOO_LARGE, hint);
    }
    memset(&req, 0, sizeof req);
    req.srv = srv;
    req.method = method;
    req.path = url;
    req.body = st->len ? st->body : NULL;
    req.body_len = st->len;
    req.cap[0] = st->seg[0];
    req.cap[1] = st->seg[1];
    req.header = header_of;
    req.query = query_of;
    req.conn = c;
    req.now = srv_now(); /* the signature's window; again below */
    clock_gettime(CLOCK_MONOTONIC, &req.now_mono);
    /* counted before the check, so a stop that saw none counted sees
     * this one's `expired` check fail (both sequentially consistent) */
    st->handled = 1;
    __atomic_add_fetch(&handling, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&expired, __ATOMIC_SEQ_CST))
        return answer_error(c, st, SRV_E_STOPPING, NULL);
    if (!bearer_ok(st->rt, &req, &want))
        return answer_error(c, st, SRV_E_UNAUTHORIZED, want);
    /* a signature is verified before a ledger handle is taken: a request
     * nobody signed never waits for one (the look before an upload's body,
     * srv_auth_early, takes one for a read only if one is free) */
    if (!SIGNED(st->rt->auth) || srv_auth_signature(&req, &rep) == 0) {
        if (st->rt->ledger) {
            req.l = srv_pool_get_within(srv->pool, offpay__lockwait_ms());
            /* the time written on what it books: read once the handle is
             * held, not before a wait for one (docs/api.md, "Merchant
             * statement": a period is final a bounded time after it) */
            req.now = srv_now();
            clock_gettime(CLOCK_MONOTONIC, &req.now_mono);
        }
        if (st->rt->ledger && req.l == NULL)
            pool_busy(srv, &req, offpay__lockwait_ms(), &rep);
        else if (req.l != NULL && req.operator_name[0] != '\0' &&
                 offpay_ledger_set_actor(req.l, req.operator_name) != OFFPAY_OK)
            srv_fail(&rep, SRV_E_INTERNAL, NULL); /* names are checked */
        else {
            /* a hint names only this request's wait for a lock
             * (store/lockwait.h) */
            offpay__lockwait_forget();
            st->rt->fn(&req, &rep);
            offpay__lockwait_forget();
            if (st->rt->auth == AUTH_OPERATOR && strcmp(method, "POST") == 0)
                log_refused_change(&req, &rep);
            if (req.auth_ok && req.l != NULL && rep.json != NULL &&
                rep.text == NULL)
                sign_answer(&req, &rep);
        }
    }
    if (req.l != NULL)
        srv_pool_put(srv->pool, req.l);
#ifdef OFFPAY_TEST_HOOKS
    if (drop_reply(url, rep.status)) {
        json_decref(rep.json);
        free(rep.text);
        offpay__json_free(rep.json_text);
        return MHD_NO; /* MHD closes the connection, nothing is sent */
    }
#endif
    ret = send_reply(c, st, &rep);
    json_decref(rep.json);
    free(rep.text);
    offpay__json_free(rep.json_text);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    srv_ctx    *srv = cls;
    conn_state *st = *con_cls;

    (void)version;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        if (st == NULL)
            return MHD_NO;
        *con_cls = st;
        __atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
        srv_slow_headers(c);
        /* a request on a kept-alive connection after the stop began:
         * refused before anything is done (the client sends it again) */
        if (__atomic_load_n(&stopping, __ATOMIC_SEQ_CST)) {
            clock_gettime(CLOCK_MONOTONIC, &st->t0);
            return answer_error(c, st, SRV_E_STOPPING, NULL);
        }
        return begin(srv, c, url, method, st);
    }
    if (st->answered) { /* refused early: drop whatever still arrives */
        srv_slow_body(c, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    if (*data_size != 0) {
        size_t n = *data_size;

        *data_size = 0;
        srv_slow_body(c, n);
        if (st->too_large || n > st->limit - st->len) {
            /* a chunked body past the cap: read on without storing, for
             * its 413 once it ends; one that goes on past twice the cap
             * (and 64 KiB more, for the routes that take no body) has the
             * connection closed instead of read to its end */
            st->too_large = 1;
            st->skipped += n;
            return st->len + st->skipped > 2 * st->limit + 65536 ? MHD_NO
                                                                 : MHD_YES;
        }
        if (st->len + n > st->cap) {
            size_t   want = st->cap ? st->cap : 4096;
            uint8_t *nb;

            while (want < st->len + n)
                want *= 2;
            if (want > st->limit)
                want = st->limit;
            nb = realloc(st->body, want);
            if (nb == NULL)
                return MHD_NO;
            st->body = nb;
            st->cap = want;
        }
        memcpy(st->body + st->len, data, n);
        st->len += n;
        return MHD_YES;
    }
    srv_slow_busy(c);
    return run_handler(srv, c, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_state *st = *con_cls;

    (void)cls;
    (void)toe;
    srv_slow_done(c);
    if (st == NULL)
        return;
    if (st->handled)
        __atomic_sub_fetch(&handling, 1, __ATOMIC_SEQ_CST);
    free(st->body);
    free(st);
    *con_cls = NULL;
    __atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
}

/* Percent-escapes in the path and the query, decoded by libmicrohttpd,
 * except in a text that holds an escaped NUL ("%00"): decoded, it would
 * cut the text short, and the path routed and verified would not be the
 * path sent. Such a text stays as sent, and matches no route, id or
 * value. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    for (const char *p = s; (p = strchr(p, '%')) != NULL; p++)
        if (p[1] == '0' && p[2] == '0')
            return strlen(s);
    return MHD_http_unescape(s);
}

/* libmicrohttpd's own messages (a client gone mid-request, a header too
 * large), prefixed like offpayd's, at most 20 in a minute: many clients
 * cut at once (slow.c) would otherwise flood the log. */
/* --max-per-ip, for mhd_log (set before libmicrohttpd starts) */
static unsigned log_per_ip;

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t          window;
    static unsigned        said, held;
    char                   line[320];
    const char            *who = "libmicrohttpd: ";
    size_t                 n;
    time_t                 t = time(NULL);
    unsigned               missed = 0;

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* libmicrohttpd says the same words for its two limits: which one is
     * told by the connections open (a fleet behind one NAT address shed
     * by the per-address limit looked like offpayd full) */
    if (strstr(line, "reached connection limit") != NULL) {
        int per_ip = log_per_ip != 0 &&
                     srv_slow_open() + 1 < (unsigned)SRV_CONNECTIONS_MAX;

        srv_metrics_connection_refused(per_ip);
        who = "";
        if (per_ip)
            snprintf(line, sizeof line,
                     "a client address holds --max-per-ip %u open "
                     "connections: its next one was closed unanswered "
                     "(behind a proxy or NAT every client has its address: "
                     "run offpayd with --max-per-ip 0, docs/operations.md)",
                     log_per_ip);
        else
            snprintf(line, sizeof line,
                     "offpayd holds its %u connections: a new one was closed "
                     "unanswered",
                     (unsigned)SRV_CONNECTIONS_MAX);
    }
    /* out of descriptors: in offpayd's words, not libmicrohttpd's option
     * names */
    if (strstr(line, "resource limit") != NULL) {
        struct rlimit rl;

        who = "";
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = 0;
        snprintf(line, sizeof line,
                 "out of file descriptors (the open-file limit is %llu): new "
                 "connections wait unanswered until some close; raise the "
                 "limit (LimitNOFILE= in the systemd unit, ulimit -n; "
                 "docs/operations.md)",
                 (unsigned long long)rl.rlim_cur);
    }
    pthread_mutex_lock(&log_mu);
    if (t - window >= 60) {
        missed = held;
        window = t;
        said = held = 0;
    }
    if (said < 20)
        said++;
    else {
        held++;
        line[0] = '\0';
    }
    pthread_mutex_unlock(&log_mu);
    if (missed > 0)
        srv_log("libmicrohttpd: %u more message(s) in the last minute not "
                "logged",
                missed);
    if (line[0] != '\0')
        srv_log("%s%s", who, line);
}

offpay_err srv_daemon_start(srv_ctx *srv, const char *addr, uint16_t port,
                            srv_daemon **out, uint16_t *bound_port)
{
    struct sockaddr_in          sa;
    const union MHD_DaemonInfo *info;
    srv_daemon                 *d;

    *out = NULL;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return OFFPAY_EINVAL;
    d = calloc(1, sizeof *d);
    if (d == NULL)
        return OFFPAY_ENOMEM;
    /* A thread per connection, not a pool of threads that each keep the
     * connections they accepted: with a pool, two busy keep-alive
     * connections (two terminals, or a proxy's two upstream connections)
     * that landed in one thread were served one after the other while
     * the other thread idled — half the cores unused, in one run of two
     * in the benchmark. The ledger pool still bounds the requests that
     * work at once; a health check never waits behind an upload.
     * libmicrohttpd's own messages go through mhd_log, the first option
     * (as it asks, so that none goes out before it is set). */
    log_per_ip = (unsigned)srv->cfg.per_ip;
    d->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_ITC | MHD_USE_ERROR_LOG, /* ITC: for MHD_quiesce_daemon */
        port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)SRV_CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)srv->cfg.per_ip,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, srv_slow_notify, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_END);
    if (d->mhd == NULL) {
        free(d);
        return OFFPAY_EIO;
    }
    if (srv_slow_start() != 0) {
        MHD_stop_daemon(d->mhd);
        free(d);
        return OFFPAY_EIO;
    }
    info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info != NULL ? info->port : port;
    *out = d;
    return OFFPAY_OK;
}

/* Waits up to seconds (0: without end) for *count to reach 0. */
static void wait_zero(unsigned long *count, int seconds)
{
    struct timespec tick = {0, 20 * 1000 * 1000};

    for (long i = 0; (seconds == 0 || i < seconds * 50L) &&
                     __atomic_load_n(count, __ATOMIC_SEQ_CST) > 0;
         i++)
        nanosleep(&tick, NULL);
}

void srv_daemon_stop(srv_daemon *d)
{
    MHD_socket    ls;
    unsigned long n;

    if (d == NULL)
        return;
    /* No new connection (the listening socket is shut at once, closed
     * only after MHD_stop_daemon, as MHD requires); a new request on an
     * open connection is answered STOPPING; the requests in progress
     * finish and get their replies before the connections close
     * (MHD_stop_daemon alone would close them with the work done and no
     * reply sent). A body still arriving after SRV_STOP_WAIT_S is cut
     * off with nothing done (STOPPING if it completes before the
     * handlers are done); a handler that started is waited for
     * however long it takes, since its work may be done. */
    __atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
    ls = MHD_quiesce_daemon(d->mhd);
    if (ls != MHD_INVALID_SOCKET)
        shutdown(ls, SHUT_RDWR);
    n = __atomic_load_n(&in_flight, __ATOMIC_SEQ_CST);
    if (n > 0)
        fprintf(stderr, "offpayd: waiting for %lu request(s) in progress\n",
                n);
    wait_zero(&in_flight, SRV_STOP_WAIT_S);
    __atomic_store_n(&expired, 1, __ATOMIC_SEQ_CST);
    wait_zero(&handling, 0);
    MHD_stop_daemon(d->mhd);
    srv_slow_stop();
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    free(d);
}
