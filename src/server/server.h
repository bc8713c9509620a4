/*
 * server.h — internal to offpayd: the request and reply every endpoint
 * handler sees, the routing table's entry, the server's errors (each with
 * its HTTP status, listed once here and in docs/api.md), the strict body
 * parsers (plain functions of (bytes, len), fuzzed in fuzz/), JSON
 * rendering helpers, the pool of ledger handles, the clock and the metrics.
 *
 * Handlers parse, authenticate, call the settlement engine (settle.h) and
 * render JSON. They never see SQL or sockets.
 */
#ifndef OFFPAY_SERVER_H
#define OFFPAY_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "offpay/offpay.h"
#include "offpay/settle.h"
#include "settle/render.h"
#include "terminal/upload_int.h"

/* ---- limits (advertised by GET /v1/limits) ------------------------- */

#define SRV_BODY_MAX_DEFAULT  (1024u * 1024u) /* a terminal upload */
#define SRV_ADMIN_BODY_MAX    4096u           /* every other body */
#define SRV_BATCH_MAX_DEFAULT 1000u           /* items per upload */
#define SRV_WINDOW_DEFAULT    300u            /* request time window, ± s */
#define SRV_CODE_MAX          512u            /* bytes of one payment code */
#define SRV_TX_ITEMS          1000u /* most upload items per transaction, and
                                      * the default on SQLite */
#define SRV_TX_ITEMS_PG       100u  /* the default on PostgreSQL, where other
                                      * offpayd processes may share the
                                      * database and a conflict reruns the
                                      * whole transaction */
#define SRV_REF_MAX           128u /* operator reference text */
#define SRV_ID_MAX            INT64_MAX /* a 64-bit id, path or body */
#define SRV_WALLET_BATCH_MAX  200u /* codes per wallet upload */
/* An upload starts no transaction this long after its time (srv_req.now):
 * the items left are undecided ("error" EBUSY, sent again). With one
 * transaction's own run, this bounds how long after the time written on
 * its rows a request may still commit: OFFPAY__PERIOD_FINAL_AFTER
 * (src/settle/render.h), after which a period's statement is final. */
#define SRV_COMMIT_WITHIN 30u
/* default terms: a wallet credential (and the longest a wallet's own
 * allowance may ask for), a terminal credential */
#define SRV_CRED_LIFETIME     (30u * 86400u)
/* the shortest a wallet's own allowance runs (the CLI asks an hour: a
 * resend of its request, minutes later, still passes) */
#define SRV_ALLOWANCE_MIN     300u
#define SRV_TERMINAL_LIFETIME (365u * 86400u)

/* ---- errors of the HTTP layer -------------------------------------- */

/* X(name, HTTP status, hint). Engine errors (offpay_err) are rendered with
 * their offpay_errname and the status of srv_status_of. */
#define SRV_ERRORS(X)                                                          \
    X(NOT_FOUND, 404, "no such endpoint")                                      \
    X(METHOD_NOT_ALLOWED, 405, "the endpoint does not take this method")       \
    X(BODY_TOO_LARGE, 413, "the request body exceeds the endpoint's cap")      \
    X(BATCH_TOO_LARGE, 413, "the batch holds more items than the cap")         \
    X(MALFORMED_JSON, 400, "the body is not one JSON object")                  \
    X(BAD_FIELD, 400, "a field is missing, unknown, or of the wrong form")     \
    X(BAD_PARAMETER, 400, "a path or query parameter is malformed")            \
    X(BAD_HEADER, 400,                                                         \
      "a framing or authentication header given twice, a length with a "       \
      "chunked encoding, or a transfer coding other than chunked")             \
    X(UNAUTHORIZED, 401, "missing or wrong operator bearer token")             \
    X(SIGNATURE_MISSING, 401, "the request signature headers are missing")     \
    X(SIGNATURE_MALFORMED, 401, "a request signature header is malformed")     \
    X(SIGNATURE_INVALID, 401, "the request signature does not verify")         \
    X(STALE_TIMESTAMP, 401, "the request time is outside the allowed window")  \
    X(NONCE_REPLAYED, 409, "this request nonce was already used")              \
    X(UNKNOWN_TERMINAL, 403, "the signing key is not a registered terminal")   \
    X(UNKNOWN_WALLET, 403, "no credential was issued to the signing key")      \
    X(INTERNAL, 500, "internal server error")                                  \
    X(NOT_ENROLLED, 403, "the signing key is not an enrolled wallet")          \
    X(WALLET_REVOKED, 403, "this wallet was revoked (reported lost)")          \
    X(ALREADY_ENROLLED, 409, "the signing key is enrolled already")            \
    X(ENROLL_CODE_UNKNOWN, 403, "no such enrollment code")                     \
    X(ENROLL_CODE_USED, 409, "the enrollment code was used already")           \
    X(ENROLL_CODE_EXPIRED, 403, "the enrollment code has expired")             \
    X(TERMINAL_REVOKED, 403, "this terminal is revoked")                       \
    X(IDEMPOTENCY_KEY_MALFORMED, 400,                                          \
      "Idempotency-Key must be 1 to 64 printable ASCII characters (! to ~), "  \
      "no space")                                                              \
    X(IDEMPOTENCY_KEY_REUSED, 422,                                             \
      "this Idempotency-Key was used for a different request")                 \
    X(IDEMPOTENCY_KEY_NOT_TAKEN, 400,                                          \
      "this endpoint does not take an Idempotency-Key: nothing was done")      \
    X(STOPPING, 503,                                                           \
      "offpayd is stopping: nothing was done; send the request again")         \
    X(AUDIT_RUNNING, 429,                                                      \
      "an audit is running: ask again once it has ended (one at a time, so "   \
      "that terminals and wallets are not kept waiting for the ledger)")       \
    X(KEY_SIGNATURE_INVALID, 400,                                              \
      "key_signature is not the new key's signature of this rotation")

typedef enum srv_err {
    SRV_E_NONE = 0, /* no error: parsers return 0 on success */
#define X(n, s, h) SRV_E_##n,
    SRV_ERRORS(X)
#undef X
        SRV_E_COUNT
} srv_err;

const char *srv_err_name(srv_err e);
unsigned    srv_err_status(srv_err e);
const char *srv_err_hint(srv_err e);

/* HTTP status for an engine error returned by an operator call. */
unsigned srv_status_of(offpay_err rc);

/* ---- the server ---------------------------------------------------- */

typedef struct srv_pool srv_pool;

/* Operators by name (--operators-file, operators.c): at most this many,
 * each named by 1 to SRV_OPERATOR_NAME_MAX of A-Z a-z 0-9 . _ -, with a
 * token of at least SRV_TOKEN_MIN bytes. */
#define SRV_OPERATORS_MAX     64u
#define SRV_OPERATOR_NAME_MAX 32u
#define SRV_TOKEN_MIN         16u
/* The name kept for what the bearer of --token-file's token books, and
 * for what offpayd's release job books (031_booked_by) */
#define SRV_TOKEN_OPERATOR "operator token"
#define SRV_RELEASE_JOB    "offpayd release job"
/* who voids a removed operator's codes at a SIGHUP (settle.h, "what
 * operators did") */
#define SRV_OPERATORS_FILE "offpayd operators file"
/* what a case step's "by" sent with --token-file's token is kept with:
 * the bearer's claim, which no token checked (since 0.31.0) */
#define SRV_CLAIM_SUFFIX " (operator token)"
/* 1 when name (any case) is one of the three above, 2 when it ends with
 * OFFPAY_ACTOR_ADMIN_SUFFIX: names a case step's "by" may not claim; 0
 * otherwise (http.c). */
int srv_name_reserved(const char *name);

typedef struct srv_operator {
    char     name[SRV_OPERATOR_NAME_MAX + 1];
    uint8_t  hash[32]; /* BLAKE2b of the token */
    unsigned line;     /* of the file, for what is said of it */
} srv_operator;

typedef struct srv_config {
    size_t   body_max;       /* cap of a terminal upload body */
    size_t   batch_max;      /* cap of items per upload */
    uint32_t window;         /* ± seconds a signed request's time may differ */
    size_t   tx_items;       /* upload items per transaction, 1..SRV_TX_ITEMS */
    unsigned per_ip;         /* open connections one address may hold (0: any) */
    uint8_t  token_hash[32]; /* BLAKE2b of the operator token */
    int      has_token;      /* token_hash is set (--token-file) */
    /* the operators by name (--operators-file); both read under the lock
     * of srv_set_operators */
    srv_operator operators[SRV_OPERATORS_MAX];
    size_t       n_operators;
    /* the last operators taken out (by SIGHUP), to name whose token a
     * refused request bore; a ring of SRV_OPERATORS_MAX */
    srv_operator former[SRV_OPERATORS_MAX];
    size_t       n_former;
    /* /metrics: public (0), or for the bearer of this token or of the
     * operator's (1; --metrics-token-file) */
    int     metrics_auth;
    uint8_t metrics_hash[32]; /* BLAKE2b of the metrics token */
} srv_config;

typedef struct srv_ctx {
    srv_config cfg;
    srv_pool  *pool;
    /* the trust bundle served by /v1/bundle: replaced on SIGHUP, so read
     * only through srv_bundle_copy and srv_bundle_seq (bundle.c) */
    uint8_t   *bundle;
    size_t     bundle_len;
    uint32_t   bundle_seq;
} srv_ctx;

/* One request as a handler sees it. */
typedef struct srv_req {
    srv_ctx       *srv;
    const char    *method;
    const char    *path; /* without the query string */
    const uint8_t *body; /* NULL when empty */
    size_t         body_len;
    const char    *cap[2]; /* path segments matched by '*' in the route */
    /* header and query look-ups (NULL when absent) */
    const char *(*header)(void *conn, const char *name);
    const char *(*query)(void *conn, const char *name);
    void          *conn;
    offpay_ledger *l; /* a ledger handle held for this request */
    /* the request's time, read once its ledger handle is held (its rows
     * commit after it, within SRV_COMMIT_WITHIN), and the monotonic clock
     * then */
    uint32_t        now;
    struct timespec now_mono;
    /* a signed route's authentication, checked before a ledger handle is
     * taken (srv_auth_signature); auth_ok 1 once it verified */
    offpay__http_auth auth;
    int               auth_ok;
    /* the body's SHA-256, once auth_ok: for the request's signature and
     * the answer's */
    uint8_t body_sha256[OFFPAY__HTTP_DIGEST_BYTES];
    /* an operator route's: whose bearer token it is (SRV_TOKEN_OPERATOR
     * for --token-file's), which the ledger keeps with what it books */
    char operator_name[SRV_OPERATOR_NAME_MAX + 1];
} srv_req;

/* The reply: a status and JSON (or plain text for /metrics). */
typedef struct srv_reply {
    unsigned status;
    json_t  *json; /* owned */
    char    *text; /* owned, malloc'd; wins over json when set */
    /* static; with text: its Content-Type, and the reply is a page of the
     * dashboard, sent with the page's security headers (http.c) */
    const char *ctype;
    /* An answer to a signed request (http.c): json's text as signed
     * (Jansson's allocation) and the X-Offpay-Answer value ("" when the
     * answer is not signed). */
    char *json_text;
    char  answer[OFFPAY__HTTP_ANSWER_TEXT];
    /* A 5xx its handler said in the log itself, at a bounded rate (a
     * health probe's, every request's while no ledger connection is
     * free): http.c does not log it again */
    int logged;
} srv_reply;

typedef void (*srv_handler)(srv_req *r, srv_reply *out);

/* Sets out to the JSON error {error, hint} of e (hint NULL: the default). */
void srv_fail(srv_reply *out, srv_err e, const char *hint);
/* A name the client chose (a JSON field's, a query parameter's) as a hint
 * quotes it: at most SRV_QUOTE_MAX bytes cut at a character's start, or
 * "(not text)" when it is not displayable UTF-8 (an answer's JSON must be
 * valid UTF-8: a hint that is not would have made the 400 a 500).
 * Returns buf, of at least SRV_QUOTE_MAX + 1 bytes. */
#define SRV_QUOTE_MAX 40u
const char *srv_quote(const char *name, char *buf);
/* The request's Idempotency-Key header into *key (NULL when absent): 0, or
 * -1 with IDEMPOTENCY_KEY_MALFORMED in out. */
int srv_request_key(srv_req *r, srv_reply *out, const char **key);
/* A wallet credential just issued, as both issuers answer it (operator
 * and wallet allowance): serial, limit, term, allow_unbound, the bytes in
 * base64, and "replayed" when the request carried a key. NULL: no memory. */
json_t *srv_credential_json(const offpay_wallet_cred *wc,
                            const uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                            int keyed, int replayed);
/* When a requested expiry (expires, sent: given in the request, 0 too)
 * is not after now, sets out to 400 BAD_FIELD saying so (instead of the
 * engine's bare EINVAL) and returns 1; else 0 (parse.c). */
int srv_fail_expires_past(srv_reply *out, int sent, uint32_t expires,
                          uint32_t now);
/* Sets out to 400 EAMOUNT for a credential's limit (field what) above
 * OFFPAY_WIRE_AMOUNT_MAX, the hint giving that maximum in currency's
 * decimal form (both issuers: operator and wallet allowance). */
void srv_fail_credential_max(srv_reply *out, const char *what,
                             uint16_t currency);
/* Sets out to 409 EWALLET_LOST for wallet key pk, reported lost: the hint
 * names its account and the revocation's time and says to enroll a new key
 * with a code for that account (credentials.c). */
/* A credential's limit above what account may fund (OFFPAY_EFUNDS, 409):
 * the hint gives the balance and, when part of it is held for late
 * presentments (offpay_ledger_late_hold), how much and until when. what
 * names the request ("issue", "allowance"). */
void srv_fail_funds(srv_req *r, srv_reply *out, const char *what,
                    uint64_t account, int64_t limit);
void srv_fail_wallet_lost(srv_req *r, srv_reply *out,
                          const uint8_t pk[OFFPAY_PK_BYTES]);
/* Sets out to 409 EWALLET_CASE for wallet key pk, with a double_spend or
 * overspend case against one of its credentials (a copy of the wallet
 * paid too): the hint names the key, its account and the cases, and says
 * what comes next: review, revoke, a code for a new key (credentials.c). */
void srv_fail_wallet_case(srv_req *r, srv_reply *out,
                          const uint8_t pk[OFFPAY_PK_BYTES]);
/* A JSON array of the ids of wallet key pk's double_spend and overspend
 * cases (at most 16; empty when none or unreadable): "cases" of a
 * wallet's answers (credentials.c). */
json_t *srv_wallet_cases_json(srv_req *r, const uint8_t pk[OFFPAY_PK_BYTES]);
/* Adds to j a wallet account's "escrow_held" (an amount: what its
 * credentials' unreleased escrows hold), "escrow_back" (when the last
 * of it is due back, or null), "late_until" (the latest end of its
 * credentials' late windows when after now, or null), and "late_held"
 * and "late_held_until" (srv_json_late_held; a read by
 * offpay_ledger_wallet_accounts_at). 0, or -1 (no memory; j unchanged
 * or part set: the caller drops it). */
int srv_json_escrow_held(json_t *j, const offpay_wallet_account_info *a,
                         uint32_t now);
/* Adds to j "late_held" (an amount: what the account holds for the late
 * presentments of its released credentials, settlement.md §6) and
 * "late_held_until" (until when, or null when nothing is held). 0, or
 * -1 (no memory). */
int srv_json_late_held(json_t *j, int64_t held, uint32_t until,
                       uint16_t currency);
/* 1 when the request's time (r->now) is SRV_COMMIT_WITHIN or more ago
 * (monotonic): an upload starts no more transactions, leaving the rest of
 * its items undecided (upload.c, wallet_upload.c). */
int srv_commit_too_late(const srv_req *r);
/* The hint of an item an upload left undecided at that bound ("error",
 * EBUSY): "not settled: this upload ran past 30 s after its time (the
 * ledger is slow); send it again", into buf, which it returns. */
#define SRV_TOO_LATE_HINT_MAX 160u
const char *srv_too_late_hint(char buf[SRV_TOO_LATE_HINT_MAX]);
/* An engine error in words: the lock's holder for EBUSY after a wait in
 * vain (store/lockwait.h), both times for ECLOCK_BEHIND from a transfer
 * dated behind the ledger's newest (offpay__ledger_clock_detail), else
 * offpay_strerror's; this thread's. */
const char *srv_engine_detail(offpay_err rc);
/* Sets out to the JSON error of an engine error, with its status. */
void srv_fail_engine(srv_reply *out, offpay_err rc, const char *what);
/* The same with the whole hint given (printf-style): for an error whose
 * cause the handler knows better than offpay_strerror says. */
void srv_fail_engine_hint(srv_reply *out, offpay_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* What is wrong with a currency code offpay_currency_from_alpha refused,
 * in words, into buf: in lower case ("ISO 4217 codes are in capitals:
 * EUR"), or unknown. */
void srv_currency_words(const char *alpha, char *buf, size_t cap);
/* srv_fail_engine, but a refused currency code alpha (rc
 * OFFPAY_ECURRENCY_UNKNOWN) is said by srv_currency_words. */
void srv_fail_engine_currency(srv_reply *out, offpay_err rc, const char *what,
                              const char *alpha);
/* An amount that offpay_amount_parse refused (rc), or parsed to 0 or less
 * (rc OFFPAY_OK): 400 EAMOUNT with the form wanted in currency, or the
 * overflow's error. what names the field ("amount", "limit"). */
void srv_fail_amount(srv_reply *out, offpay_err rc, const char *what,
                     const char *text, uint16_t currency);
/* Sets out to 200 and obj (takes ownership; NULL becomes INTERNAL). */
void srv_ok(srv_reply *out, json_t *obj);

/* The one clock: the system's, or OFFPAY_NOW in OFFPAY_TEST_HOOKS
 * builds (as the CLI's). */
uint32_t srv_now(void);
/* t as 2024-01-31T12:00:00Z (UTC), "" if it cannot be. */
void srv_iso_time(uint32_t t, char when[32]);

/* ---- ledger handles ------------------------------------------------ */

/* n handles opened on path with the operator's settings cfg (NULL: the
 * defaults); each request borrows one. The first is checked
 * (offpay_ledger_check: a SQLite file copy-ledger sealed is refused,
 * OFFPAY_ELEDGER_SEALED). They sign with sk,
 * or, when key is not NULL, with that key in a PKCS#11 token (borrowed:
 * open until srv_pool_close); next_kid is the issuer's
 * (offpay_ledger_set_next_kid). */
offpay_err     srv_pool_open(const char *path, size_t n,
                             const offpay_ledger_config *cfg,
                             const offpay_trust_bundle *b, uint16_t kid,
                             uint32_t next_kid, const uint8_t sk[OFFPAY_SK_BYTES],
                             offpay_pkcs11_key *key, srv_pool **out);
void           srv_pool_close(srv_pool *p);
/* Blocks until one is free. Those waiting are served in the order they
 * came: a handle put back goes to the oldest. */
offpay_ledger *srv_pool_get(srv_pool *p);
/* A request's handle: as srv_pool_get, but NULL once ms milliseconds
 * passed with every handle busy (http.c then answers the request 503
 * EBUSY, and nothing is done). */
offpay_ledger *srv_pool_get_within(srv_pool *p, long ms);
/* One if one is free now, else NULL: for what must not wait behind the
 * signed requests (a health check, the look before an unsigned body). */
offpay_ledger *srv_pool_try_get(srv_pool *p);
/* How many wait for a handle now (srv_pool_get, srv_pool_get_within). */
size_t srv_pool_waiting(srv_pool *p);
/* How long every handle has been held, ms: the shortest hold of them
 * (0 when one is free); *n the pool's size. For health: each request
 * holding its handle that long, a new one waits. */
long           srv_pool_held_for(srv_pool *p, size_t *n);
void           srv_pool_put(srv_pool *p, offpay_ledger *l);
/* The issuer read again (SIGHUP): every handle signs with the new key and
 * verifies under the new bundle from its next request on (a handle busy
 * now, once its request is done). key, like the one before it, stays open
 * until srv_pool_close. EUNKNOWN_KID (nothing changed) when the key is not
 * kid's in b. */
offpay_err srv_pool_retrust(srv_pool *p, const offpay_trust_bundle *b,
                            uint16_t kid, uint32_t next_kid,
                            const uint8_t      sk[OFFPAY_SK_BYTES],
                            offpay_pkcs11_key *key);

/* ---- the trust bundle offpayd serves (bundle.c) ---------------------- */

/* Replaces it (bundle is taken: malloc'd, freed by the next call). */
void srv_bundle_set(srv_ctx *srv, uint8_t *bundle, size_t len, uint32_t seq);
/* A copy of it (free it), and its seq when seq is not NULL. */
offpay_err srv_bundle_copy(srv_ctx *srv, uint8_t **bundle, size_t *len,
                           uint32_t *seq);
uint32_t   srv_bundle_seq(srv_ctx *srv);

/* ---- metrics ------------------------------------------------------- */

void srv_metrics_request(const char *route, unsigned status, double seconds);
void srv_metrics_settled(offpay_settle_outcome o, offpay_err reason,
                         int replay);
void srv_metrics_case(void);
/* The open cases counted at now: how many, the earliest opened (0:
 * none). */
void srv_metrics_cases_open(uint64_t n, uint32_t oldest, uint32_t now);
/* Counts the open cases on l for /metrics (a failure keeps the last count
 * and its time, logged once until a count succeeds again). */
void srv_cases_count(offpay_ledger *l);

/* The live terminals as a fleet (fleet.c): counted, with what their last
 * reports said, for /metrics. */
#define SRV_FLEET_CURRENCIES 16
/* The ages the fleet is counted past (hours): an alert on a count fires
 * again for a second terminal, as one on the oldest would not. */
#define SRV_FLEET_AGES 3
extern const unsigned srv_fleet_hours[SRV_FLEET_AGES]; /* 1, 24, 72 */
typedef struct srv_fleet {
    uint64_t live, refusing, never_reported;
    /* live terminals silent (no report, or never since registered), and
     * holding lists, older than srv_fleet_hours[i]; with their clock off
     * offpayd's by more than a terminal's default skew (120 s) */
    uint64_t silent[SRV_FLEET_AGES], old_lists[SRV_FLEET_AGES];
    uint64_t clock_off;
    uint64_t pending;       /* payments not uploaded, as last reported */
    uint32_t oldest_report; /* offpayd's clock; 0: none reported */
    uint32_t oldest_lists;  /* offpayd's clock; 0: none known */
    struct {
        uint16_t currency;
        int64_t  minor;
    } amount[SRV_FLEET_CURRENCIES]; /* pending payments' money */
    size_t   n_amounts;
    int      currencies_left_out; /* more currencies than the room */
    uint32_t counted_at;
} srv_fleet;
void srv_metrics_fleet(const srv_fleet *f);
/* A terminal reported, or was registered or revoked: the next scrape
 * counts the fleet again (srv_terminals_count). */
void srv_terminals_due(void);
int  srv_terminals_are_due(void);
/* Counts the live terminals on l for /metrics (one count at a time: a
 * call while one runs does nothing; a failure keeps the last count, logged
 * once until a count succeeds again). */
void srv_terminals_count(offpay_ledger *l);
/* A terminal's last report as offpayd's answers give it (GET
 * /v1/admin/overview, /v1/admin/terminals, a revocation): null when it
 * never reported; the fields of 0.27.0 null when an older terminal sent
 * it (terminal_status.c). */
json_t *srv_json_report(const offpay_terminal_report *rp, uint16_t currency);
/* POST /v1/terminal/status's body into *rp (reported_at and
 * pending_amount left 0; *amount the pending_amount's text, held by
 * *doc, NULL from an older terminal): 0, or SRV_E_MALFORMED_JSON /
 * SRV_E_BAD_FIELD with hint (cap bytes). json_decref(*doc) either way. */
int  srv_parse_terminal_status(const uint8_t *body, size_t len,
                               offpay_terminal_report *rp, const char **amount,
                               json_t **doc, char *hint, size_t cap);
void srv_metrics_refund(int replayed);
/* A terminal's check: codes the ledger held, did not hold (a loss),
 * that do not verify or name another merchant, and not held but asked
 * about by a revoked terminal. */
void srv_metrics_check(size_t held, size_t missing, size_t invalid,
                       size_t revoked);
void srv_metrics_batch(size_t n);
/* the daily key offpayd signs with and its end (valid_until), at start-up
 * and after each SIGHUP that changed it */
void srv_metrics_signing_key(uint16_t kid, uint32_t until);
/* the serials of the full revocation list just signed */
void srv_metrics_revlist(uint32_t serials);
/* a run of the escrow release job: ok, at now (unix time), or failed */
void srv_metrics_release(int ok, uint32_t now);
/* a run of the marking job: ok at now (now 0: not a success, nor a
 * failure), or failed; marked: the ids it marked, also when it failed */
void srv_metrics_marks(int ok, uint32_t now, uint64_t marked);
/* a run of the release job held back by the clock (behind: gone back;
 * else ahead): a failure, and offpayd_release_held_total{reason} */
void srv_metrics_release_held(int behind);
/* --operators-file read: taken (n operators in use), or refused (a
 * SIGHUP's reading, the operators before kept) */
void srv_metrics_operators(int taken, size_t n);
/* a connection libmicrohttpd closed at its start over a limit: the
 * per-address one (per_ip) or all 256: offpayd_connections_refused_total */
void srv_metrics_connection_refused(int per_ip);
/* a request no ledger handle was freed for within its wait
 * (srv_pool_get_within): offpayd_ledger_connection_timeouts_total; the
 * count so far */
unsigned long long srv_metrics_pool_gave_up(void);
/* codes refused at settlement ENOT_ISSUED and EUNKNOWN_KID:
 * offpayd_rejected_total{reason} */
void srv_metrics_rejected_forged(size_t not_issued, size_t unknown_kid);
/* The same, for terminal terminal_id's upload: counted, and logged one
 * line a minute at most per terminal (upload.c). Thread-safe. */
void srv_rejected_forged(uint32_t terminal_id, size_t not_issued,
                         size_t unknown_kid);
/* An upload (wallet: the wallet's, else a terminal's) answered 200 whose
 * last `left` of `items` the ledger's error rc left undecided ("error"
 * results): counted in offpayd_ledger_errors_total once per upload, and
 * a line on the log, one a minute at most per endpoint and error
 * (upload.c). Nothing when rc is OFFPAY_OK or left is 0. Thread-safe. */
void srv_batch_engine_error(int wallet, offpay_err rc, size_t left,
                            size_t items);
/* an engine error answered with a 5xx status (srv_fail_engine): counted
 * when it is the ledger's storage failing (ESTORE, ELEDGER_MOVED,
 * ELEDGER_SEALED, ...) */
void srv_metrics_engine_error(offpay_err rc, unsigned status);
/* The latest storage failure srv_metrics_engine_error counted and *at
 * when (offpayd's clock); OFFPAY_OK (and *at 0) when none since start. */
offpay_err srv_metrics_last_ledger_error(uint32_t *at);
/* A signature by the issuer's daily key (a signed answer, or what the
 * engine signs: a credential, a list) succeeded (OFFPAY_OK) or failed
 * (rc): failures counted by offpayd_sign_failures_total; the last
 * attempt's result is what /v1/health reports. Thread-safe. */
void srv_metrics_signature(offpay_err rc);
/* The last signing attempt's error and *at when (offpayd's clock), with
 * the token's detail in detail[160]; OFFPAY_OK (*at 0) when the last one
 * succeeded or none was made since start. */
offpay_err srv_metrics_last_signature(uint32_t *at, char detail[160]);
/* Prometheus text exposition, with pool_waiting the requests waiting for a
 * ledger handle (srv_pool_waiting); malloc'd. */
char *srv_metrics_render(size_t pool_waiting);

/* ---- strict parsers (parse.c; fuzzed) ------------------------------ */

/* A decimal id without sign, leading zeros or spaces, <= max. */
int srv_parse_u64(const char *s, uint64_t max, uint64_t *v);

/* An id of a path segment (account, merchant, serial, terminal, case,
 * presentment): as srv_parse_u64, and from 1, since the ledger gives no
 * id 0 (docs/api.md, Conventions): 0 is a malformed id (BAD_PARAMETER),
 * never an unknown one, on every route alike. */
int srv_parse_id(const char *s, uint64_t max, uint64_t *v);

/* A page of an operator's list (?after=ID&limit=N): after (0 when absent:
 * from the first) and limit (SRV_PAGE_DEFAULT when absent,
 * 1..SRV_PAGE_MAX); -1 when either is malformed. */
#define SRV_PAGE_DEFAULT 100
#define SRV_PAGE_MAX     1000
int srv_parse_page(const char *after_text, const char *limit_text,
                   uint64_t *after, uint64_t *limit);

/* A period's bound, the query parameter name (its value v) as a unix
 * time of 32 bits in seconds, into *t; 0, or -1 with a hint naming name
 * into hint (cap bytes): a value of 13 digits says unix seconds, not
 * milliseconds, a date (2026-12-01, 2026-12-01T09:30:00Z) unix seconds. */
int srv_parse_time(const char *name, const char *v, uint64_t *t, char *hint,
                   size_t cap);
/* A period's from and to query values (each NULL when absent: its *t
 * is left as it is), by srv_parse_time: 0, or -1 with the hint of the
 * first one at fault. */
int srv_parse_period(const char *from_text, const char *to_text, uint64_t *from,
                     uint64_t *to, char *hint, size_t cap);
/* The same for a period that runs until now without a to (a statement's,
 * a report's, the guarantee's): *from 0 and *to now by default, [from,
 * from] for a from after now with no to; -1 with the hint also for a
 * from after to. */
int srv_parse_period_until(const char *from_text, const char *to_text,
                           uint32_t now, uint64_t *from, uint64_t *to,
                           char *hint, size_t cap);

/* A public key as 64 lowercase hex digits. */
int srv_parse_key(const char *s, uint8_t pk[OFFPAY_PK_BYTES]);

typedef enum srv_ftype {
    SRV_FT_STRING, /* JSON string without NUL, 1..max bytes */
    SRV_FT_AMOUNT, /* the same, an amount's decimal text ("12.50"), which
                      a hint names as such */
    SRV_FT_TEXT,   /* a string people read (a name, a ref, a reason): as
                      STRING, and without control or invisible format
                      characters (docs/protocol.md §2.3's name rule) */
    SRV_FT_ID,     /* 64-bit id as a decimal string */
    SRV_FT_UINT,   /* JSON integer 0..max */
    SRV_FT_BOOL
} srv_ftype;

typedef struct srv_field {
    const char *name;
    srv_ftype   type;
    int         required;
    uint64_t    max; /* bytes for strings, value for numbers */
} srv_field;

/* A parsed field's value. s points into the json_t kept by srv_obj. */
typedef struct srv_value {
    int         present;
    const char *s;
    uint64_t    u;
    int         b;
} srv_value;

/*
 * srv_parse_object — body must be exactly one JSON object (no duplicate
 * keys, nothing after it) whose keys are all in fields with the right
 * types; vals[i] receives fields[i]. *doc holds the strings (json_decref
 * it). On failure *hint names the problem (static text or the field name
 * in hint_buf). Returns 0, or SRV_E_MALFORMED_JSON / SRV_E_BAD_FIELD.
 */
int srv_parse_object(const uint8_t *body, size_t len, const srv_field *fields,
                     size_t n, srv_value *vals, json_t **doc, char *hint_buf,
                     size_t hint_cap);

/* The bodies of the operator endpoints: the field tables. */
extern const srv_field srv_fields_account[2];    /* currency, ref */
extern const srv_field srv_fields_money[3];      /* amount, ref, take_held */
extern const srv_field srv_fields_guarantee[1];  /* currency */
extern const srv_field srv_fields_merchant[2];   /* name, currency */
/* merchant, key, expires, label */
extern const srv_field srv_fields_terminal[4];
/* label (POST /v1/admin/terminals/N/label; none: cleared) */
extern const srv_field srv_fields_terminal_label[1];
extern const srv_field srv_fields_credential[5]; /* account, wallet_key,
                                                    limit, expires,
                                                    allow_unbound */
extern const srv_field srv_fields_revoke[1];     /* reason */
extern const srv_field srv_fields_release[1];    /* vouch */
/* reason, chain (POST /v1/admin/terminals/N/revoke) */
extern const srv_field srv_fields_terminal_revoke[2];
/* a case's steps (POST /v1/admin/cases/N/notes, /close, /reopen) */
extern const srv_field srv_fields_case_note[2];   /* text, by */
extern const srv_field srv_fields_case_close[2];  /* resolution, by */
extern const srv_field srv_fields_case_reopen[2]; /* reason, by */
extern const srv_field srv_fields_refund[3];     /* amount, ref, funded */

#define SRV_N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * srv_parse_items — the envelope every upload body shares: body must be
 * exactly one JSON object {"items":[...]} (no duplicate keys) with 1 to
 * batch_max items. Then start(ctx, n) is called once (to make room for n
 * items; non-zero: out of memory), and item(ctx, obj, index, ...) for each
 * item in order, which returns 0 or an srv_err with the hint written; the
 * first non-zero one stops the parse. obj is valid only during its call.
 * Returns 0, or an srv_err with a hint (what start or item made stays in
 * ctx for the caller to free).
 */
int srv_parse_items(const uint8_t *body, size_t len, size_t batch_max,
                    int (*start)(void *ctx, size_t n),
                    int (*item)(void *ctx, json_t *obj, size_t index,
                                char *hint_buf, size_t hint_cap),
                    void *ctx, char *hint_buf, size_t hint_cap);

/* A terminal upload's body, decoded. */
typedef struct srv_upload_item {
    int64_t  seq;
    uint8_t *code; /* points into the batch's code buffer */
    size_t   code_len;
    int64_t  charged;
    uint32_t accepted_at;
} srv_upload_item;

typedef struct srv_upload {
    srv_upload_item *items;
    size_t           n;
    uint8_t         *codes; /* one buffer for every code */
} srv_upload;

/*
 * srv_parse_upload — {"items":[{"seq":"N","code":BASE64,"charged":N,
 * "accepted_at":N}, ...]} with 1..batch_max items. Returns 0, or an error
 * (SRV_E_MALFORMED_JSON, SRV_E_BAD_FIELD, SRV_E_BATCH_TOO_LARGE) with a
 * hint. Free with srv_upload_free.
 */
int  srv_parse_upload(const uint8_t *body, size_t len, size_t batch_max,
                      srv_upload *out, char *hint_buf, size_t hint_cap);
void srv_upload_free(srv_upload *u);

/* A terminal's signed batch (upload.c; the upload's and the check's
 * body): srv_auth_terminal, then srv_parse_upload into *up. Returns 0, or
 * -1 with out set (nothing to free). */
int srv_terminal_batch(srv_req *r, offpay_ledger_terminal_info *t,
                       srv_upload *up, srv_reply *out);

/* A wallet upload's body, decoded (wallet_upload.c). */
typedef struct srv_wallet_upload {
    offpay_wallet_item *items; /* pointers into bytes */
    size_t              n;
    uint8_t            *bytes; /* one buffer for every code and receipt */
} srv_wallet_upload;

/*
 * srv_parse_wallet_upload — {"items":[{"code":BASE64,"receipts":[BASE64,
 * ...]}, ...]} with 1..batch_max items, each code 1..SRV_CODE_MAX bytes
 * and 0..OFFPAY_SETTLE_RECEIPTS_MAX receipts ("receipts" may be left out)
 * of 1..OFFPAY_SETTLE_RECEIPT_MAX_BYTES bytes, canonical base64. Returns 0,
 * or SRV_E_MALFORMED_JSON / SRV_E_BAD_FIELD / SRV_E_BATCH_TOO_LARGE with
 * a hint. Free with srv_wallet_upload_free.
 */
int  srv_parse_wallet_upload(const uint8_t *body, size_t len, size_t batch_max,
                             srv_wallet_upload *out, char *hint_buf,
                             size_t hint_cap);
void srv_wallet_upload_free(srv_wallet_upload *u);

/* ---- rendering ----------------------------------------------------- */

/* (Those `offpay admin --json` shares are offpay__json_* in
 * src/settle/render.c: these call them.) */

json_t *srv_json_id(uint64_t v); /* "123" */
/* A list's next_after: the id of a full page's last item (n == limit), to
 * give as after for the next page; null once a page is not full (a last
 * page filled exactly is followed by an empty one, docs/api.md). */
json_t *srv_json_next_after(size_t n, uint64_t limit, uint64_t last);
/* {"minor": n, "decimal": "1.50", "currency": "EUR"} */
json_t     *srv_json_amount(int64_t minor, uint16_t currency);
/* A transfer seen from one account's side, as an account's history
 * (GET /v1/admin/accounts/N/transfers) and a statement's movements give
 * it (src/server/accounts.c). */
json_t *srv_json_transfer(const offpay_account_transfer *t, uint16_t currency);
json_t     *srv_json_b64(const uint8_t *b, size_t n);
json_t     *srv_json_hex(const uint8_t *b, size_t n);
const char *srv_outcome_name(offpay_settle_outcome o);

/* ---- the operator token and the signed request (auth.c) ------------ */

/* 1 when the Authorization header is "Bearer TOKEN" with an operator's
 * token (--token-file's, or one of --operators-file's), whose name goes
 * into r->operator_name. Every token is compared, in constant time. */
int srv_operator_ok(srv_req *r);
/* Makes token the operator's (its hash kept), at start-up and on SIGHUP;
 * requests in progress see the old one or the new one, whole. */
void srv_set_token(srv_ctx *srv, const char *token);
/* The same for the operators by name: v[0..n) replaces those in use. */
void srv_set_operators(srv_ctx *srv, const srv_operator *v, size_t n);
/* The operators by name in use into out (SRV_OPERATORS_MAX), their count. */
size_t srv_operators_copy(srv_ctx *srv, srv_operator *out);
/* The operators of --operators-file at path into out[0..*n) (at most
 * SRV_OPERATORS_MAX; none when the file names none), 0; or -1 with why
 * (wn bytes) saying what is wrong, its line first when a line is, and *n
 * 0 (operators.c). */
int srv_operators_read(const char *path, srv_operator *out, size_t *n,
                       char *why, size_t wn);
/* The same from the file's text (len bytes, text[len] NUL; its lines are
 * cut in place, and a NUL byte within is refused): 0, or -1 with why. On
 * -1, out may hold part of what was parsed (srv_operators_read wipes it). */
int srv_operators_parse(char *text, size_t len, srv_operator *out, size_t *n,
                        char *why, size_t wn);
/* The token /metrics asks for from now on (at start-up and on SIGHUP). */
void srv_set_metrics_token(srv_ctx *srv, const char *token);
/* 1 when /metrics asks for a token and it is an operator's, whose name
 * goes into name (SRV_OPERATOR_NAME_MAX + 1 bytes). */
int srv_metrics_token_is_operators(srv_ctx *srv, char *name);
/* op was taken out of --operators-file, or its token replaced (the
 * token file's too, as SRV_TOKEN_OPERATOR): kept to name whose token a
 * refused request still bears (srv_operators_copy's lock). */
void srv_operator_gone(srv_ctx *srv, const srv_operator *op);
/* 1 when name is the name of an operator by name, or of one taken out
 * since offpayd started (letters' case aside). */
int srv_operator_named(srv_ctx *srv, const char *name);
/* 1 when the token whose hash is hash is one of --operators-file's, its
 * operator's name into name as above. */
int srv_token_is_operators(srv_ctx *srv, const uint8_t hash[32], char *name);

/* Who may sign a request to an endpoint: how its key is looked up. */
typedef struct srv_signer_kind {
    /* OFFPAY_OK when pk is a known signer of this kind (filling ctx),
     * OFFPAY_ENOTFOUND when not, or the engine's error. */
    offpay_err (*find)(srv_req *r, const uint8_t pk[OFFPAY_PK_BYTES],
                       void *ctx);
    srv_err     unknown; /* the error for a key find does not know */
    const char *what;    /* names the look-up in an engine error */
} srv_signer_kind;

/* A request refused UNKNOWN_TERMINAL, its signature verified (1) or not
 * checked (0, refused before its body): counted (srv_unknown_terminal_counts,
 * for /metrics) and logged, one line a minute at most. Thread-safe. */
void srv_unknown_terminal(int verified, const uint8_t pk[OFFPAY_PK_BYTES]);
void srv_unknown_terminal_counts(uint64_t n[2]);

/* Who signs the requests of a route, as far as offpayd looks before their
 * body: SRV_SIGNER_ANY (the handler checks, once the body is read), or a
 * registered terminal's key (revoked ones included) or a key the ledger
 * issued a credential to, looked up before the body (the two uploads and
 * the terminal's check, whose bodies may be up to upload_body_max). */
typedef enum srv_signer {
    SRV_SIGNER_ANY,
    SRV_SIGNER_TERMINAL,
    SRV_SIGNER_WALLET
} srv_signer;

/* 1 when a's time is within ± w seconds of now; 0 with the hint of
 * SRV_E_STALE_TIMESTAMP written into hint (cap bytes) when not. */
int srv_auth_time_ok(const offpay__http_auth *a, uint32_t now, uint32_t w,
                     char *hint, size_t cap);

/*
 * srv_auth_early — what a signed request's headers (a, parsed) show
 * before its body is read: its time within the window, and, unless who is
 * SRV_SIGNER_ANY, its key a signer of who's kind (one ledger read on a
 * handle borrowed from srv->pool for it; the signature is not verified:
 * it covers the body). Returns SRV_E_NONE (also when the look-up failed:
 * the handler looks again and says why), or SRV_E_STALE_TIMESTAMP,
 * SRV_E_UNKNOWN_TERMINAL or SRV_E_UNKNOWN_WALLET with hint written.
 */
srv_err srv_auth_early(srv_ctx *srv, srv_signer who, const offpay__http_auth *a,
                       char *hint, size_t cap);

/*
 * srv_auth_signature — the first half of a signed request's
 * authentication, which needs no ledger: the headers parse, the time is
 * within the window and the signature verifies over the body (r->auth,
 * r->auth_ok). The server runs it before it takes a ledger handle, so a
 * request nobody signed never holds one. 0, or -1 with out set.
 */
int srv_auth_signature(srv_req *r, srv_reply *out);

/*
 * srv_auth_signed — authenticates a signed request (docs/api.md, "Signed
 * requests"): srv_auth_signature (unless it passed already), then
 * kind->find knows the key (with ctx), and only then is the nonce taken
 * (so a forged request cannot burn a signer's nonces). Handlers call it
 * before they parse the body. Returns 0 with pk (may be NULL) set to the
 * signer's key, or -1 with out set.
 */
int srv_auth_signed(srv_req *r, const srv_signer_kind *kind, void *ctx,
                    uint8_t pk[OFFPAY_PK_BYTES], srv_reply *out);

/*
 * srv_auth_terminal — authenticates a signed request by a terminal: the
 * headers parse, the time is within the window, the signature verifies,
 * the key is a registered terminal (revoked ones included) and the nonce
 * is new (taken now). Returns 0 with *t filled, or an error with out set.
 */
int srv_auth_terminal(srv_req *r, offpay_ledger_terminal_info *t,
                      srv_reply *out);

/* ---- the endpoints (one file each) --------------------------------- */

void srv_health(srv_req *r, srv_reply *out);
void srv_metrics(srv_req *r, srv_reply *out);
void srv_limits(srv_req *r, srv_reply *out);
void srv_bundle(srv_req *r, srv_reply *out);
void srv_revlist(srv_req *r, srv_reply *out);
void srv_account_new(srv_req *r, srv_reply *out);
void srv_accounts_list(srv_req *r, srv_reply *out);
void srv_account_get(srv_req *r, srv_reply *out);
void srv_account_transfers(srv_req *r, srv_reply *out);
void srv_account_deposit(srv_req *r, srv_reply *out);
void srv_account_withdraw(srv_req *r, srv_reply *out);
void srv_guarantee(srv_req *r, srv_reply *out);
/* GET /v1/admin/guarantee?currency=C: the guarantee over a period. */
void srv_guarantee_view(srv_req *r, srv_reply *out);
void srv_merchant_new(srv_req *r, srv_reply *out);
void srv_merchants_list(srv_req *r, srv_reply *out);
void srv_actions_list(srv_req *r, srv_reply *out); /* actions.c */
void srv_merchant_close(srv_req *r, srv_reply *out);
void srv_statement(srv_req *r, srv_reply *out);
void srv_report(srv_req *r, srv_reply *out); /* report.c */
void srv_balances(srv_req *r, srv_reply *out); /* balances.c */
void srv_digest(srv_req *r, srv_reply *out);   /* balances.c */
void srv_refund(srv_req *r, srv_reply *out);
void srv_terminal_new(srv_req *r, srv_reply *out);
void srv_terminal_revoke(srv_req *r, srv_reply *out);
void srv_terminal_label(srv_req *r, srv_reply *out);
void srv_terminals_list(srv_req *r, srv_reply *out); /* terminal_list.c */
void srv_terminal_get(srv_req *r, srv_reply *out);
void srv_keys(srv_req *r, srv_reply *out); /* keys.c */
void srv_credential_new(srv_req *r, srv_reply *out);
void srv_credential_get(srv_req *r, srv_reply *out);
void srv_credential_revoke(srv_req *r, srv_reply *out);
void srv_release(srv_req *r, srv_reply *out);
void srv_audit(srv_req *r, srv_reply *out);
void srv_upload_batch(srv_req *r, srv_reply *out);
void srv_cases_list(srv_req *r, srv_reply *out);
void srv_case_evidence(srv_req *r, srv_reply *out);
void srv_case_get(srv_req *r, srv_reply *out);
/* POST /v1/admin/cases/N/notes, /close and /reopen */
void srv_case_note(srv_req *r, srv_reply *out);
void srv_case_close(srv_req *r, srv_reply *out);
void srv_case_reopen(srv_req *r, srv_reply *out);
void srv_upload_wallet(srv_req *r, srv_reply *out);
void srv_overview(srv_req *r, srv_reply *out);
void srv_terminal_status(srv_req *r, srv_reply *out);
void srv_terminal_check(srv_req *r, srv_reply *out);
void srv_terminal_expiries(srv_req *r, srv_reply *out);

/* POST /v1/terminal/expiries (terminal_expiries.c; fuzzed):
 * {"serials":["S1",...]}, 1 to SRV_EXPIRIES_MAX ids strictly ascending,
 * into serials[0..*n). Returns 0, or SRV_E_MALFORMED_JSON /
 * SRV_E_BAD_FIELD with the hint written. */
#define SRV_EXPIRIES_MAX 1000u
int  srv_parse_expiries(const uint8_t *body, size_t len,
                        uint64_t serials[SRV_EXPIRIES_MAX], size_t *n,
                        char *hint_buf, size_t hint_cap);
void srv_dashboard(srv_req *r, srv_reply *out);

/* The headers every dashboard page is sent with (dashboard.c): a strict
 * Content-Security-Policy (same origin only, no inline script or style),
 * no sniffing, no framing, no referrer, no caching. */
#define SRV_PAGE_HEADERS 6
extern const char *const srv_page_headers[SRV_PAGE_HEADERS][2];

/* ---- the wallet's and terminal's online life (wallet_online.c) ----- */

/* Bodies of the online endpoints, decoded by strict parsers (fuzzed:
 * fuzz/fuzz_server_wallet_online.c). Each returns 0, or
 * SRV_E_MALFORMED_JSON / SRV_E_BAD_FIELD with a hint. */

/* POST /v1/admin/enrollments: {"currency":"EUR","ref":TEXT,"expires":N}
 * (ref and expires optional; 0 when absent). */
typedef struct srv_enrollment_body {
    uint16_t currency;
    char     ref[SRV_REF_MAX + 1];
    uint32_t expires;
} srv_enrollment_body;
int srv_parse_enrollment(const uint8_t *body, size_t len,
                         srv_enrollment_body *out, char *hint_buf,
                         size_t hint_cap);

/* POST /v1/wallet/enroll: {"code":24 lowercase hex}. */
int srv_parse_enroll(const uint8_t *body, size_t len,
                     char code[OFFPAY_ENROLL_CODE_CHARS + 1], char *hint_buf,
                     size_t hint_cap);

/* POST /v1/wallet/allowance: {"amount":"50.00","expires":N,
 * "allow_unbound":BOOL,"request_id":TEXT} (all but the amount optional).
 * The amount stays text (parsed in the account's currency by the
 * handler). */
typedef struct srv_allowance_body {
    char     amount[32];
    uint32_t expires; /* 0: absent */
    int      allow_unbound;
    /* the wallet's request id ("" when absent): the allowance is made once
     * under it (offpay_ledger_allowance_once) */
    char request_id[OFFPAY_REQUEST_KEY_MAX + 1];
} srv_allowance_body;
int srv_parse_allowance(const uint8_t *body, size_t len,
                        srv_allowance_body *out, char *hint_buf,
                        size_t hint_cap);

/* POST /v1/terminal/rotate: {"terminal_key":HEX,"key_signature":B64,
 * "sums_carried":true,"expires":N}: the new key, its signature of the
 * rotation (upload_int.h, offpay__rotate_message; checked by the handler,
 * which knows the old terminal), the terminal's statement that it carries
 * its per-credential sums into the new terminal (sums_carried 1: only true
 * is taken), expires 0 when absent. A body without key_signature (a
 * terminal older than 0.13.0) or without sums_carried (older than 0.16.0)
 * is BAD_FIELD, its hint saying to upgrade. */
typedef struct srv_rotate_body {
    uint8_t  pk[OFFPAY_PK_BYTES];
    uint8_t  sig[OFFPAY_SIG_BYTES];
    uint32_t expires;
    int      sums_carried;
} srv_rotate_body;
int srv_parse_rotate(const uint8_t *body, size_t len, srv_rotate_body *out,
                     char *hint_buf, size_t hint_cap);

/* An empty body, "{}", or {"reason":TEXT} into reason (cap bytes; "" when
 * absent): POST /v1/wallet/revoke, /v1/admin/wallets/ACCOUNT/revoke. */
int srv_parse_reason(const uint8_t *body, size_t len, char *reason,
                     size_t cap, char *hint_buf, size_t hint_cap);
/* An empty body, "{}", or {"expires":N} into *expires (0 when absent):
 * POST /v1/admin/wallets/ACCOUNT/enrollment. */
int srv_parse_expires(const uint8_t *body, size_t len, uint32_t *expires,
                      char *hint_buf, size_t hint_cap);
/* POST /v1/wallet/restore-floor: {"serial":"N"} (N > 0). */
int srv_parse_serial(const uint8_t *body, size_t len, uint64_t *serial,
                     char *hint_buf, size_t hint_cap);
/* An empty body or "{}": POST /v1/wallet/status, /v1/terminal/decommission
 * (a field is BAD_FIELD). */
int srv_parse_empty(const uint8_t *body, size_t len, char *hint_buf,
                    size_t hint_cap);

/* POST /v1/wallet/credentials: {"after":"N","limit":N,"open":BOOL}, all
 * optional: after 0 (from the first), limit 1 to
 * OFFPAY_LEDGER_CREDS_PAGE_MAX (that when absent), open 0. */
typedef struct srv_wallet_creds_body {
    uint64_t after;
    size_t   limit;
    int      open;
} srv_wallet_creds_body;
int srv_parse_wallet_creds(const uint8_t *body, size_t len,
                           srv_wallet_creds_body *out, char *hint_buf,
                           size_t hint_cap);

void srv_enrollment_new(srv_req *r, srv_reply *out);
void srv_admin_wallet_enrollment(srv_req *r, srv_reply *out);
void srv_wallet_enroll(srv_req *r, srv_reply *out);
void srv_wallet_status(srv_req *r, srv_reply *out);
void srv_wallet_credentials(srv_req *r, srv_reply *out);
void srv_wallet_allowance(srv_req *r, srv_reply *out);
void srv_wallet_revoke(srv_req *r, srv_reply *out);
void srv_wallet_restore_floor(srv_req *r, srv_reply *out);
void srv_admin_wallet_get(srv_req *r, srv_reply *out);
void srv_admin_wallet_revoke(srv_req *r, srv_reply *out);
void srv_terminal_rotate(srv_req *r, srv_reply *out);
void srv_terminal_decommission(srv_req *r, srv_reply *out);

/* ---- the daemon (http.c) ------------------------------------------- */

/* One dated line on offpayd's log (stderr): "offpayd: TIME " and the
 * formatted text. */
void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Counts per terminal for a log line said once a minute at most per
 * terminal, the counts adding up meanwhile (a terminal's checks, its
 * forged codes): SRV_TALLY_SLOTS terminals at once; past them, the one
 * said longest ago gives its slot up. */
#define SRV_TALLY_MAX   4
#define SRV_TALLY_SLOTS 64
typedef struct srv_tally_slot {
    uint32_t terminal;
    time_t   at; /* of its last line; 0: none yet */
    size_t   events, n[SRV_TALLY_MAX];
} srv_tally_slot;
typedef struct srv_tally {
    pthread_mutex_t mu;
    srv_tally_slot  slot[SRV_TALLY_SLOTS];
} srv_tally;
#define SRV_TALLY_INIT                                                         \
    {                                                                          \
        PTHREAD_MUTEX_INITIALIZER,                                             \
        {                                                                      \
            {                                                                  \
                0, 0, 0,                                                       \
                {                                                              \
                    0                                                          \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }
/* Adds add[0..k) (k <= SRV_TALLY_MAX) and one event to terminal's counts.
 * Returns the events to say now, with their counts in out[0..k), and
 * starts the terminal's minute; 0 when it was said within the minute
 * (held back, out untouched). */
size_t srv_tally_add(srv_tally *t, uint32_t terminal, const size_t *add,
                     size_t k, size_t *out);

/* The client's text (a reference, a header) for a log line, into buf
 * (cap bytes): printable ASCII but '"' and '\\', any other byte '?', cut
 * at cap - 1 bytes. */
void srv_log_text(const char *in, char *buf, size_t cap);

/*
 * srv_log_request — the one line on offpayd's log of a request that
 * changed the ledger (an operator's, a terminal's rotation or
 * decommission), said once it succeeded (docs/operations.md §3, "What the
 * operator token did"): "METHOD PATH from ADDR", the X-Forwarded-For
 * header as the proxy's claim when there is one, the Idempotency-Key
 * when there is one, then what fmt says it did (its fields; the client's
 * text through srv_log_text), and "(replayed: ...)" when replayed. Never
 * the bearer token nor a secret: fmt must hold none.
 */
void srv_log_request(const srv_req *r, int replayed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SRV_SEG_MAX 32 /* bytes of a path segment matched by '*' */

/* The routing table's look-up: 0 with *pattern and seg set, or
 * SRV_E_NOT_FOUND / SRV_E_METHOD_NOT_ALLOWED. */
int srv_route_lookup(const char *method, const char *path, const char **pattern,
                     char seg[2][SRV_SEG_MAX + 1]);

typedef struct srv_daemon srv_daemon;

/* Open connections offpayd serves at once; more wait in the listen
 * queue. */
#define SRV_CONNECTIONS_MAX 256u
#define SRV_PER_IP_DEFAULT  64u

/* Starts listening on addr:port (port 0: any free one), a thread per
 * connection (at most SRV_CONNECTIONS_MAX); how many requests use the
 * ledger at once is the pool's size (srv_pool_open). *bound_port receives
 * the port. */
offpay_err srv_daemon_start(srv_ctx *srv, const char *addr, uint16_t port,
                            srv_daemon **out, uint16_t *bound_port);

/* How long a stop waits for request bodies still arriving, seconds. */
#define SRV_STOP_WAIT_S 30

/* Stops: no new connection; while it waits, a new request on an open
 * connection is answered STOPPING (503, nothing done); the requests in
 * progress finish and get their replies before the connections close: a
 * body still arriving after SRV_STOP_WAIT_S is cut off with nothing done
 * (or answered STOPPING), a handler that started is waited for to the
 * end. */
void srv_daemon_stop(srv_daemon *d);

#endif
