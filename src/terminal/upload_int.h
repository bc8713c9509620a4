/*
 * upload_int.h — internal: the signed HTTP request format of offpayd
 * (docs/api.md, "Signed requests"), shared by the server, the terminal's
 * uploader, the wallet's upload and the tests, so there is one
 * implementation of it; and the one HTTP client (upload_http.c) that
 * sends such requests for the terminal and the wallet.
 *
 * A signed request carries four headers:
 *   X-Offpay-Key        the signer's Ed25519 public key, 64 lowercase hex
 *   X-Offpay-Time       the signer's unix time, decimal, no leading zeros
 *   X-Offpay-Nonce      16 random bytes, 32 lowercase hex
 *   X-Offpay-Signature  the Ed25519 signature, base64 (88 characters)
 * The signature covers, under domain OFFPAY_DS_HTTP_REQUEST (crypto.h):
 *   METHOD "\n" PATH "\n" TIME "\n" NONCE-HEX "\n" SHA256-HEX(BODY)
 * where PATH is the request path without its query string (signed
 * endpoints take none; docs/api.md, "Signed requests") and BODY the exact
 * body bytes (empty for none).
 */
#ifndef OFFPAY_TERMINAL_UPLOAD_INT_H
#define OFFPAY_TERMINAL_UPLOAD_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "offpay/crypto.h"
#include "offpay/pkcs11.h"
#include "offpay/terminal.h"

#define OFFPAY_DS_HTTP_REQUEST "offpay/v1/http-request"

#define OFFPAY__HTTP_HDR_KEY   "X-Offpay-Key"
#define OFFPAY__HTTP_HDR_TIME  "X-Offpay-Time"
#define OFFPAY__HTTP_HDR_NONCE "X-Offpay-Nonce"
#define OFFPAY__HTTP_HDR_SIG   "X-Offpay-Signature"

#define OFFPAY__HTTP_NONCE_BYTES 16
#define OFFPAY__HTTP_METHOD_MAX  16   /* bytes of a method name */
#define OFFPAY__HTTP_PATH_MAX    1024 /* bytes of a request target */

/* Header text sizes, NUL included. */
#define OFFPAY__HTTP_KEY_TEXT   (2 * OFFPAY_PK_BYTES + 1)
#define OFFPAY__HTTP_TIME_TEXT  11
#define OFFPAY__HTTP_NONCE_TEXT (2 * OFFPAY__HTTP_NONCE_BYTES + 1)
#define OFFPAY__HTTP_SIG_TEXT   89

/* The authentication of one request, decoded. */
typedef struct offpay__http_auth {
    uint8_t  pk[OFFPAY_PK_BYTES];
    uint32_t time;
    uint8_t  nonce[OFFPAY__HTTP_NONCE_BYTES];
    uint8_t  sig[OFFPAY_SIG_BYTES];
} offpay__http_auth;

/* The four header values of a signed request, as text. */
typedef struct offpay__http_auth_text {
    char key[OFFPAY__HTTP_KEY_TEXT];
    char time[OFFPAY__HTTP_TIME_TEXT];
    char nonce[OFFPAY__HTTP_NONCE_TEXT];
    char sig[OFFPAY__HTTP_SIG_TEXT];
} offpay__http_auth_text;

/*
 * offpay__http_sign — signs a request made at time with sk (whose public
 * key is pk) and a fresh random nonce; fills out. method: 1..16 uppercase
 * letters; path: 1..OFFPAY__HTTP_PATH_MAX printable bytes starting '/'.
 * body may be NULL when len is 0. Errors: OFFPAY_EINVAL, OFFPAY_ECRYPTO.
 */
offpay_err offpay__http_sign(const uint8_t sk[OFFPAY_SK_BYTES],
                             const uint8_t pk[OFFPAY_PK_BYTES],
                             const char *method, const char *path,
                             uint32_t time, const uint8_t *body, size_t len,
                             offpay__http_auth *out);

/* offpay__http_sign with either kind of key (a sealed-file key or a key
 * in a PKCS#11 token, offpay/pkcs11.h); also OFFPAY_EPKCS11. */
offpay_err offpay__http_sign_by(const offpay_signer *s,
                                const uint8_t        pk[OFFPAY_PK_BYTES],
                                const char *method, const char *path,
                                uint32_t time, const uint8_t *body, size_t len,
                                offpay__http_auth *out);

/* The SHA-256 of a request's or an answer's body (body may be NULL when
 * len is 0). Errors: OFFPAY_EINVAL. */
#define OFFPAY__HTTP_DIGEST_BYTES 32
offpay_err offpay__http_body_digest(const uint8_t *body, size_t len,
                                    uint8_t digest[OFFPAY__HTTP_DIGEST_BYTES]);

/* offpay__http_verify with the body given by its SHA-256 (computed once by
 * a server that also signs its answer with it). */
OFFPAY_WUR offpay_err offpay__http_verify_digest(
    const offpay__http_auth *a, const char *method, const char *path,
    const uint8_t digest[OFFPAY__HTTP_DIGEST_BYTES]);

/*
 * offpay__http_verify — OFFPAY_OK when a->sig is a->pk's signature of the
 * request (method, path, a->time, a->nonce, body). It checks neither the
 * time window nor the nonce's freshness nor who the key belongs to: the
 * server does. Errors: OFFPAY_EINVAL, OFFPAY_ECODE_SIG (bad signature).
 */
OFFPAY_WUR offpay_err offpay__http_verify(const offpay__http_auth *a,
                                          const char *method, const char *path,
                                          const uint8_t *body, size_t len);

/* The header values of a (always succeeds for a filled a). */
void offpay__http_auth_format(const offpay__http_auth *a,
                              offpay__http_auth_text  *out);

/* A signature's text into sig: 64 bytes are 88 base64 characters with
 * padding, nothing else, and only the canonical text is taken: it must
 * encode back to itself (this also refuses bytes outside the alphabet,
 * which the decoder does not reliably reject, and non-zero unused bits).
 * 1 when taken, else 0. */
int offpay__sig_b64(const char *s, uint8_t sig[OFFPAY_SIG_BYTES]);

/*
 * offpay__http_auth_parse — strict parse of the four header values (any
 * may be NULL: missing). Errors: OFFPAY_ENOTFOUND (a header missing),
 * OFFPAY_EMALFORMED (wrong length, case, digits or base64).
 */
offpay_err offpay__http_auth_parse(const char *key, const char *time,
                                   const char *nonce, const char *sig,
                                   offpay__http_auth *out);

/*
 * offpayd's answer to a signed request it authenticated carries
 *   X-Offpay-Answer     KID " " SIGNATURE (base64, 88 characters)
 * the Ed25519 signature, by the issuer's daily key KID (the one offpayd
 * signs credentials with: in the terminal's and the wallet's trust
 * bundle), under domain OFFPAY_DS_HTTP_ANSWER (message.h), of
 *   STATUS "\n" PATH "\n" KEY-HEX "\n" TIME "\n" NONCE-HEX "\n"
 *   SHA256-HEX(REQUEST BODY) "\n" SHA256-HEX(ANSWER BODY)
 * where KEY, TIME, NONCE and the request's body are the request's
 * (offpayd takes a nonce once per key, so they name one request: a
 * request of another signer, or of another holder of the same key, with
 * the same nonce gets an answer of its own), so nothing between the two
 * ends can change what offpayd decided, or pass off an answer to another
 * request as this one's. The key KID's window must not have ended more
 * than OFFPAY__HTTP_ANSWER_SLACK seconds before the device's own clock
 * (not the request's time: that one follows offpayd's clock, which an
 * unsigned answer gives).
 */
#define OFFPAY__HTTP_ANSWER_SLACK 86400u
#define OFFPAY__HTTP_HDR_ANSWER  "X-Offpay-Answer"
#define OFFPAY__HTTP_ANSWER_TEXT (5 + 1 + OFFPAY__HTTP_SIG_TEXT) /* NUL too */
#define OFFPAY__HTTP_ANSWER_SIGNED                                             \
    (3 + 1 + OFFPAY__HTTP_PATH_MAX + 1 + 2 * OFFPAY_PK_BYTES + 1 + 10 + 1 +    \
     2 * OFFPAY__HTTP_NONCE_BYTES + 1 +                                        \
     2 * (2 * OFFPAY__HTTP_DIGEST_BYTES + 1))

/*
 * offpay__http_answer_text — the text an answer's signature covers into
 * buf (OFFPAY__HTTP_ANSWER_SIGNED bytes), *n its length: the answer
 * (status 100..599, body) to the request req (its key, time and nonce)
 * whose body has the SHA-256 req_digest (offpay__http_body_digest), to
 * path (as offpay__http_sign takes it). Errors: OFFPAY_EINVAL.
 */
offpay_err
offpay__http_answer_text(long status, const char *path,
                         const offpay__http_auth *req,
                         const uint8_t  req_digest[OFFPAY__HTTP_DIGEST_BYTES],
                         const uint8_t *body, size_t len, char *buf, size_t *n);

/* The header value of a signature by kid (always succeeds). */
void offpay__http_answer_format(uint16_t      kid,
                                const uint8_t sig[OFFPAY_SIG_BYTES],
                                char          out[OFFPAY__HTTP_ANSWER_TEXT]);

/*
 * offpay__http_answer_verify — OFFPAY_OK when header (the value of
 * X-Offpay-Answer; NULL: none) is a signature of the answer (status, body)
 * to the request req whose body has the SHA-256 req_digest, to path, by
 * key kid of bundle b
 * whose window did not end more than OFFPAY__HTTP_ANSWER_SLACK before now
 * (the device's own clock). *kid (may be NULL) receives the header's key
 * id (0 when it has none). Errors: OFFPAY_ENOTFOUND (no header),
 * OFFPAY_EMALFORMED, OFFPAY_EUNKNOWN_KID (kid not in b),
 * OFFPAY_EKID_EXPIRED (kid's window long over), OFFPAY_ECODE_SIG (a bad
 * signature), OFFPAY_EINVAL.
 */
offpay_err offpay__http_answer_verify(
    const offpay_trust_bundle *b, const char *header, uint32_t now, long status,
    const char *path, const offpay__http_auth *req, const uint8_t *req_digest,
    const uint8_t *body, size_t len, uint16_t *kid);

/*
 * A rotation's proof of its new key (docs/api.md, "Terminal lifecycle";
 * since 0.13.0): POST /v1/terminal/rotate carries "key_signature", the
 * new key's signature under OFFPAY_DS_TERMINAL_ROTATE (message.h) of
 *   OLD-KEY (32 bytes) || OLD-ID (4 bytes, big-endian) || NEW-KEY (32)
 * the request's signer, the terminal id offpayd holds for it, and the new
 * key. Without it a terminal could register a key it does not hold (an
 * enrolled wallet's, say) as its merchant's terminal; binding the old key
 * and id keeps the proof from serving another terminal's rotation, on
 * this ledger or another. offpay__rotate_message lays the bytes out
 * (always succeeds); offpay_terminal_rotate signs them with the new
 * terminal's key and offpayd checks them.
 */
#define OFFPAY__ROTATE_MSG_BYTES (2 * OFFPAY_PK_BYTES + 4)
void offpay__rotate_message(const uint8_t old_pk[OFFPAY_PK_BYTES],
                            uint32_t      old_id,
                            const uint8_t new_pk[OFFPAY_PK_BYTES],
                            uint8_t       msg[OFFPAY__ROTATE_MSG_BYTES]);

/* ---- the HTTP client of signed requests (upload_http.c, libcurl) ---- */

#define OFFPAY__HTTP_REPLY_MAX (8u << 20) /* bytes of one reply */

/* A reply being received, capped at OFFPAY__HTTP_REPLY_MAX bytes. Start
 * it zeroed; buf (malloc'd, NUL-terminated, or NULL) is the caller's to
 * free. */
typedef struct offpay__http_reply {
    char  *buf;
    size_t len;
    int    too_big;
    /* X-Offpay-Answer's value ("" when absent; answer_long: it did not
     * fit), and (offpay__http_request) 1 once it verified */
    char answer[OFFPAY__HTTP_ANSWER_TEXT];
    int  answer_long;
    int  answer_ok;
    int  signed_req; /* the answer to a signed request */
} offpay__http_reply;

/*
 * How a request is signed: for each try, at(ctx, attempt) gives the time
 * to sign at (the caller's clock, corrected as it sees fit; attempt counts
 * from 0), and sign(ctx, ...) signs with the caller's key (a terminal's,
 * a wallet's, one in a PKCS#11 token) at that time, filling *out, or
 * fails with its own error.
 */
typedef struct offpay__http_signer {
    uint32_t (*at)(void *ctx, int attempt);
    offpay_err (*sign)(void *ctx, const char *method, const char *path,
                       uint32_t time, const uint8_t *body, size_t len,
                       offpay__http_auth *out);
    void *ctx;
    /* What checks offpayd's answers (X-Offpay-Answer): the keys of the
     * signer's bundle, or of offpayd's own when it is newer (a daily key
     * added since the signer's last sync), verified under root_pk. */
    const offpay_trust_bundle *bundle;
    const uint8_t             *root_pk;
    uint32_t now; /* the device's own clock (no offset from offpayd's) */
} offpay__http_signer;

/* 1 when base is a URL the client takes: it starts http:// or https://. */
int offpay__http_base_ok(const char *base);

/*
 * offpay__http_request — one request to base (an http:// or https:// URL
 * without a trailing slash) + path. With body (a NUL-terminated JSON
 * text) it is a POST signed by s (each try with a fresh time and nonce: a
 * resend is a new request to offpayd); without, an unsigned GET and s may
 * be NULL. *out receives the reply, *status its HTTP status (0: no
 * answer). A missing answer, a 5xx or a reply over the cap is tried again
 * after 1, 2 s, up to tries times in all. Call curl_global_init first.
 * The answer to a signed request must be signed by offpayd (X-Offpay-
 * Answer, checked under s's bundle: out->answer_ok), except an answer
 * that is no 200, which offpayd gives unsigned when it refused the
 * request before knowing it (a bad signature, a stale time, a body too
 * large): the caller may print it, and must not act on it
 * (offpay__http_post_json names its error only when signed).
 * Errors: OFFPAY_EINVAL (the URL too long), OFFPAY_EIO (no usable
 * answer), OFFPAY_EANSWER (an answer to a signed request unsigned, or
 * whose signature does not verify: said in the log, not tried again),
 * OFFPAY_ENOMEM, the signer's.
 */
offpay_err offpay__http_request(const char *base, const char *method,
                                const char *path, const char *body,
                                const offpay__http_signer *s, int tries,
                                offpay__http_reply *out, long *status);

/*
 * offpay__http_refused — prints offpayd's answer of status (not 200) to
 * what ("POST /v1/..."): its error name and hint when it is offpayd's JSON
 * error, else its first bytes. Returns OFFPAY_EREFUSED for a 4xx (offpayd
 * heard the request and refused it: sending it again as it is will not
 * help), OFFPAY_EIO otherwise.
 */
offpay_err offpay__http_refused(const char *what, long status,
                                const offpay__http_reply *r);

/*
 * offpay__http_post_json — offpay__http_request's signed POST of body to
 * base + path whose answer must be a 200 with a JSON object: *doc
 * receives it (the caller decrefs). Another answer is printed
 * (offpay__http_refused) and is OFFPAY_EREFUSED (4xx) or OFFPAY_EIO;
 * err_name (may be NULL, err_cap bytes) then receives offpayd's "error"
 * name when offpayd signed the answer, "" otherwise. Errors: OFFPAY_EREFUSED,
 * OFFPAY_EIO, those of offpay__http_request.
 */
offpay_err offpay__http_post_json(const char *base, const char *path,
                                  const char                *body,
                                  const offpay__http_signer *s, int tries,
                                  json_t **doc, char *err_name, size_t err_cap);
/* The same, with the answer's HTTP status in *status_out (0: none), which
 * an unsigned refusal leaves as the only sign of what it was: an offpayd
 * that lacks an endpoint answers 404 before it knows who asked. */
offpay_err offpay__http_post_json_status(const char *base, const char *path,
                                         const char                *body,
                                         const offpay__http_signer *s,
                                         int tries, json_t **doc,
                                         char *err_name, size_t err_cap,
                                         long *status_out);

/*
 * What signs a terminal's requests: its key, at the caller's now plus
 * offpayd's clock offset (once known) plus the seconds gone since t0
 * (upload.c). The ctx of an offpay__http_signer's two callbacks.
 */
typedef struct offpay__terminal_signing {
    offpay_terminal *t;
    uint32_t         now;
    time_t           t0;
    int64_t          offset; /* offpayd's clock minus ours */
} offpay__terminal_signing;
uint32_t   offpay__terminal_signing_time(void *ctx, int attempt);
offpay_err offpay__terminal_signing_sign(void *ctx, const char *method,
                                         const char *path, uint32_t time,
                                         const uint8_t *body, size_t len,
                                         offpay__http_auth *out);

/*
 * offpay__http_get_b64 — GETs base + path (unsigned, tries tries) and
 * base64-decodes the string field of its JSON reply into *bytes
 * (malloc'd, the caller frees; NULL on error) and *len. Errors:
 * OFFPAY_EREFUSED (a 4xx: offpayd's error in the log), OFFPAY_EIO (no
 * answer, a 5xx, no such field, not base64: said in the log),
 * OFFPAY_ENOMEM, those of offpay__http_request.
 */
offpay_err offpay__http_get_b64(const char *base, const char *path,
                                const char *field, int tries, uint8_t **bytes,
                                size_t *len);

/*
 * offpay__http_server_time — offpayd's clock at base (GET /v1/health,
 * tried up to tries times, with the requests' random backoff between),
 * plus half the answered request's time for the way back: *server, 0 when
 * offpayd shows no usable time (no error). Errors: those of
 * offpay__http_request (OFFPAY_EIO: no answer).
 */
offpay_err offpay__http_server_time(const char *base, int tries,
                                    int64_t *server);

/* The terminal's trust bundle and pinned root key (upload_sign.c), for
 * the check of offpayd's answers; valid while t is held. */
const offpay_trust_bundle *offpay__terminal_bundle(const offpay_terminal *t);
const uint8_t             *offpay__terminal_root(const offpay_terminal *t);

/* 1 when t holds its key (opened with its passphrase, or a token's). */
int offpay__terminal_can_sign(const offpay_terminal *t);

/*
 * offpay__terminal_sign_http — offpay__http_sign with the terminal's own
 * key (t opened with its passphrase). Errors: OFFPAY_EPASSPHRASE (opened
 * without its key), those of offpay__http_sign.
 */
offpay_err offpay__terminal_sign_http(const offpay_terminal *t,
                                      const char *method, const char *path,
                                      uint32_t time, const uint8_t *body,
                                      size_t len, offpay__http_auth *out);

/*
 * offpay__terminal_pending — calls fn for at most max journal entries not
 * yet marked uploaded, with seq above after_seq, in seq order (the entry's
 * pointers valid until fn returns); a non-zero return stops the walk.
 * Errors: OFFPAY_EINVAL, OFFPAY_EJOURNAL.
 */
offpay_err
offpay__terminal_pending(offpay_terminal *t, int64_t after_seq, size_t max,
                         int (*fn)(const offpay_journal_entry *e, void *ctx),
                         void *ctx);

/* The characters of a kept result's texts: an outcome's name, an error
 * name, a case id. */
#define OFFPAY__OUTCOME_CHARS "abcdefghijklmnopqrstuvwxyz_"
#define OFFPAY__REASON_CHARS  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
#define OFFPAY__CASE_CHARS    "0123456789"

/* Copies v (NULL: "") into dst of cap bytes if it is made of the
 * characters of allowed only and fits; else 0, and dst is "". */
int offpay__token_copy(char *dst, size_t cap, const char *v,
                       const char *allowed);

/* offpayd's result for one journal entry, as the terminal keeps it (the
 * fields of offpay_journal_entry of the same names). */
typedef struct offpay__upload_result {
    int64_t seq;
    char    outcome[OFFPAY_OUTCOME_MAX];
    int64_t paid;
    int64_t covered;
    char    reason[OFFPAY_REASON_MAX];
    char    case_id[OFFPAY_CASE_MAX];
} offpay__upload_result;

/* Marks the n entries of res uploaded and keeps their results, decided at
 * the terminal's time now, in one transaction (the first also makes the
 * results table): all or none. Errors: OFFPAY_EINVAL, t->frozen, the
 * journal's named errors (OFFPAY_ENOSPC, OFFPAY_EROFS, ...), OFFPAY_EJOURNAL
 * (also for a seq the journal does not have). */
offpay_err offpay__terminal_mark_uploaded(offpay_terminal             *t,
                                          const offpay__upload_result *res,
                                          size_t n, uint32_t now);

/*
 * The ledger's check (upload.c): at each sync the terminal asks offpayd
 * which of its newest paid entries ("paid": a kept result other than
 * "rejected") the ledger holds (POST /v1/terminal/check, which reads
 * only). One it does not hold means the ledger was taken back to an older
 * copy (docs/operations.md §5): the terminal goes on asking, newest first,
 * until a page comes back held whole, lists what the ledger lacks (the
 * lost table) and uploads those again; each leaves the list with the
 * result offpayd then gives. The list outlives a sync cut off halfway.
 *
 * offpay__terminal_paid_walk — the paid entries, newest result first
 * (the result_order table; in a file of 0.3.0 not synced since, by seq),
 * max of them after the first skip.
 */
offpay_err
offpay__terminal_paid_walk(offpay_terminal *t, size_t max, size_t skip,
                           int (*fn)(const offpay_journal_entry *e, void *ctx),
                           void *ctx);

/* The listed entries the ledger lacked, by seq, at most max. */
offpay_err
offpay__terminal_lost_walk(offpay_terminal *t, size_t max,
                           int (*fn)(const offpay_journal_entry *e, void *ctx),
                           void *ctx);

/* *n: the entries listed as lacked by the ledger, not decided again yet.
 * Errors: OFFPAY_EINVAL, OFFPAY_EJOURNAL. */
offpay_err offpay__terminal_lost_count(offpay_terminal *t, size_t *n);

/* Lists the n entries of seqs as lacked by the ledger, found at now, with
 * the result offpayd had given each (kept as history), in one
 * transaction. Errors: OFFPAY_EINVAL, t->frozen, the journal's named
 * errors. */
offpay_err offpay__terminal_lost_list(offpay_terminal *t, const int64_t *seqs,
                                      size_t n, uint32_t now);

/* Keeps the n results offpayd gave listed entries uploaded again (decided
 * at now) and marks them decided again (off the list, still in its
 * history), in one transaction. Errors: as
 * offpay__terminal_mark_uploaded. */
offpay_err offpay__terminal_lost_decided(offpay_terminal             *t,
                                         const offpay__upload_result *res,
                                         size_t n, uint32_t now);

/*
 * offpay__terminal_sync_seen — offpay_terminal_sync at now, but with the
 * clock's high-water mark and the time of the sync (the offline hours)
 * set from seen when it is earlier (the sync's time by offpayd's clock,
 * when the terminal's ran ahead of it): once the terminal's clock is set
 * right it is not behind the mark (ECLOCK_BEHIND), nor given those hours.
 * Journal rows after seq upto stay counted as payments since the sync
 * (those accepted while an online sync had let the terminal go).
 */
offpay_err offpay__terminal_sync_seen(offpay_terminal *t, const uint8_t *bundle,
                                      size_t bundle_len, const uint8_t *revlist,
                                      size_t revlist_len, uint32_t now,
                                      uint32_t seen, int64_t upto);

/*
 * offpay__terminal_let_go — lets other processes use the terminal (an
 * accept at the till) while this handle waits on the network: its lock is
 * released, and until offpay__terminal_retake it writes nothing
 * (OFFPAY_EBUSY). A handle without a lock, or frozen, keeps what it has.
 * offpay__terminal_retake takes the lock again (waiting as an open does:
 * OFFPAY_EBUSY after offpay__lock_wait_ms) and reloads what other
 * processes may have changed; a no-op for a handle not let go.
 */
void       offpay__terminal_let_go(offpay_terminal *t);
offpay_err offpay__terminal_retake(offpay_terminal *t);

/* offpay__terminal_sync_lock — one online sync of a terminal at a time:
 * takes dir/terminal.sync.lock without waiting (OFFPAY_EBUSY: another
 * sync holds it). *fd is for offpay__lock_release. */
offpay_err offpay__terminal_sync_lock(offpay_terminal *t, int *fd);

/* The journal's highest seq as the handle last read it (0: empty). */
int64_t offpay__terminal_max_seq(const offpay_terminal *t);

/*
 * offpay__terminal_revoked_unknown — at most max serials held revoked
 * whose credential's expiry the terminal does not know and that were last
 * asked about before `before` (0: never), the least lately asked first,
 * ascending, into out[0..*n). Errors: OFFPAY_EJOURNAL.
 *
 * offpay__terminal_revoked_learn — what offpayd's signed answer to POST
 * /v1/terminal/expiries said: asked[0..n_asked) were asked about at mark,
 * and serials[i] (each among them) expires at expires[i] (a known expiry
 * is never brought forward). One transaction.
 *
 * offpay__terminal_revoked_drop — lets go of every serial held whose
 * known expiry is more than OFFPAY_TERMINAL_EXPIRED_KEEP before the held
 * list's issued_at (and the newest time seen, and now; none while that
 * list is dated after now + skew), *dropped of them, and
 * raises expired_before to that cut: a credential that expired before it
 * is refused from then on (docs/protocol.md §5.7). One transaction, and
 * none when there is nothing to let go (then expired_before stays, and
 * the handle reads the one stored); the revoked set is read again when
 * it changed.
 *
 * Errors of both: the terminal's frozen cause, OFFPAY_EROFS,
 * OFFPAY_ENOSPC, OFFPAY_EJOURNAL, OFFPAY_ENOMEM.
 */
offpay_err offpay__terminal_revoked_unknown(offpay_terminal *t, size_t max,
                                            uint32_t before, uint64_t *out,
                                            size_t *n);
offpay_err offpay__terminal_revoked_learn(offpay_terminal *t,
                                          const uint64_t *asked, size_t n_asked,
                                          uint32_t        mark,
                                          const uint64_t *serials,
                                          const uint32_t *expires, size_t n);
offpay_err offpay__terminal_revoked_drop(offpay_terminal *t, uint32_t now,
                                         size_t *dropped);

/* terminal.c: 1 when the revoked serials held are complete for a time
 * after now + skew (a list held was signed while the issuer's clock ran
 * ahead): only a full list brings that time back, and with it the
 * high-water mark (docs/protocol.md §5.7), so a sync asks for one. */
int offpay__terminal_wants_full_list(const offpay_terminal *t, uint32_t now);

/* terminal.c: records durably that offpayd's clock read offset seconds
 * ahead of this terminal's (negative: behind) at its time at. Errors:
 * OFFPAY_EINVAL (offset beyond ±OFFPAY__CLOCK_OFFSET_MAX), t->frozen,
 * OFFPAY_EJOURNAL and the storage errors. */
#define OFFPAY__CLOCK_OFFSET_MAX (100LL * 366 * 86400)
offpay_err offpay__terminal_record_clock(offpay_terminal *t, uint32_t at,
                                         int64_t offset);

/* terminal.c: records durably that offpayd revoked this terminal, learnt
 * at its time at (the first time stands); from then on it accepts
 * nothing (OFFPAY_ETERMINAL_REVOKED); a terminal without a credential
 * (which accepts nothing) records nothing. Errors: OFFPAY_EINVAL,
 * t->frozen, OFFPAY_EJOURNAL and the storage errors. */
offpay_err offpay__terminal_record_revoked(offpay_terminal *t, uint32_t at);

/* terminal.c: records durably that a rotation or decommission is about to
 * be sent (at != 0: from then on it accepts nothing,
 * OFFPAY_ETERMINAL_RETIRING; meta "retiring" is "TERMINAL_ID AT"), or that
 * it was answered (at == 0: the record deleted). A terminal without a
 * credential records nothing. Errors: OFFPAY_EINVAL, t->frozen, the
 * storage errors. */
offpay_err offpay__terminal_set_retiring(offpay_terminal *t, uint32_t at);

#endif
