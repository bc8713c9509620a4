/*
 * test_online.c — the wallet's and terminal's online life: the strict
 * parsers of offpayd's new request bodies (src/server/wallet_online.c),
 * the ledger's enrollment, allowance, wallet credentials with their
 * highest counter, lost-wallet revocation and terminal rotation
 * (src/settle/online.c), and the wallet state's "online" entry: a frozen
 * credential makes no code, a sync's view releases what settlement did
 * not take, and a malformed entry is refused (src/wallet/wallet.c); and
 * offpayd's ledger handles, handed to waiting requests in the order they
 * came (src/server/pool.c).
 */
#include <libpq-fe.h>
#include <sodium.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "offpay/settle.h"
#include "server/server.h"
#include "core/jsonutil.h"
#include "wallet/wallet_int.h"

#define EUR 978
#define T0  1780000000u
#define DAY 86400u

/* ---- parsers ---------------------------------------------------------- */

static int parse_enrollment(const char *body, srv_enrollment_body *b)
{
    char hint[128];

    return srv_parse_enrollment((const uint8_t *)body, strlen(body), b, hint,
                                sizeof hint);
}

static void test_enrollment_body_is_strict(void)
{
    srv_enrollment_body b;

    CHECK(parse_enrollment("{\"currency\":\"EUR\"}", &b) == 0);
    CHECK(b.currency == EUR && b.expires == 0 && b.ref[0] == '\0');
    CHECK(parse_enrollment("{\"currency\":\"EUR\",\"ref\":\"branch 3\","
                           "\"expires\":1800000000}",
                           &b) == 0);
    CHECK(strcmp(b.ref, "branch 3") == 0 && b.expires == 1800000000u);
    CHECK(parse_enrollment("{\"currency\":\"XXX\"}", &b) == SRV_E_BAD_FIELD);
    CHECK(parse_enrollment("{\"currency\":\"EUR\",\"expires\":0}", &b) ==
          SRV_E_BAD_FIELD);
    CHECK(parse_enrollment("{\"currency\":\"EUR\",\"expires\":4294967296}",
                           &b) == SRV_E_BAD_FIELD);
    CHECK(parse_enrollment("{\"currency\":\"EUR\",\"x\":1}", &b) ==
          SRV_E_BAD_FIELD);
    CHECK(parse_enrollment("{\"currency\":\"EUR\",\"currency\":\"EUR\"}", &b) ==
          SRV_E_MALFORMED_JSON);
    CHECK(parse_enrollment("{}", &b) == SRV_E_BAD_FIELD);
    CHECK(parse_enrollment("{\"currency\":\"EUR\"} x", &b) ==
          SRV_E_MALFORMED_JSON);
}

static void test_enroll_body_takes_only_a_code_of_its_form(void)
{
    char        code[OFFPAY_ENROLL_CODE_CHARS + 1], hint[128];
    const char *good = "{\"code\":\"0123456789abcdef01234567\"}";
    const char *bad[] = {
        "{\"code\":\"0123456789ABCDEF01234567\"}",  /* upper case */
        "{\"code\":\"0123456789abcdef0123456\"}",   /* 23 */
        "{\"code\":\"0123456789abcdef012345678\"}", /* 25 */
        "{\"code\":\"0123456789abcdef0123456g\"}",
        "{\"code\":12}",
        "{\"code\":\"0123456789abcdef01234567\",\"key\":\"x\"}",
        "[]",
    };

    CHECK(srv_parse_enroll((const uint8_t *)good, strlen(good), code, hint,
                           sizeof hint) == 0);
    CHECK(strcmp(code, "0123456789abcdef01234567") == 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(srv_parse_enroll((const uint8_t *)bad[i], strlen(bad[i]), code,
                               hint, sizeof hint) != 0);
        CHECK(code[0] == '\0');
    }
}

/* POST /v1/wallet/credentials' page (since 0.19.0): every field
 * optional, each in its bounds; anything else BAD_FIELD with the
 * defaults left. */
static void test_wallet_creds_page_body(void)
{
    srv_wallet_creds_body b;
    char                  hint[128];
    const char           *bad[] = {
                  "{\"limit\":0}",
                  "{\"limit\":501}",
                  "{\"limit\":\"5\"}",
                  "{\"after\":5}",
                  "{\"after\":\"x\"}",
                  "{\"after\":\"-1\"}",
                  "{\"after\":\"01\"}",
                  "{\"after\":\"9223372036854775808\"}",
                  "{\"open\":1}",
                  "{\"before\":\"5\"}",
                  "[]",
    };

#define PW(text)                                                               \
    srv_parse_wallet_creds((const uint8_t *)(text), strlen(text), &b, hint,    \
                           sizeof hint)
    CHECK(PW("") == 0 && b.after == 0 && b.limit == 500 && !b.open);
    CHECK(PW("{}") == 0 && b.after == 0 && b.limit == 500 && !b.open);
    CHECK(PW("{\"after\":\"0\",\"limit\":1,\"open\":false}") == 0 &&
          b.after == 0 && b.limit == 1 && !b.open);
    CHECK(PW("{\"after\":\"9223372036854775807\",\"limit\":500,"
             "\"open\":true}") == 0 &&
          b.after == INT64_MAX && b.limit == 500 && b.open);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(PW(bad[i]) != 0);
        CHECK(b.after == 0 && b.limit == 500 && !b.open);
    }
    CHECK(PW("{\"limit\":0}") == SRV_E_BAD_FIELD &&
          strstr(hint, "limit") != NULL);
#undef PW
}

static void test_allowance_rotate_and_reason_bodies(void)
{
    srv_allowance_body a;
    srv_rotate_body    rot;
    char               hint[256], reason[16];
    const char        *s;

#define P(fn, text, ...)                                                       \
    fn((const uint8_t *)(text), strlen(text), __VA_ARGS__, hint, sizeof hint)
    CHECK(P(srv_parse_allowance, "{\"amount\":\"50.00\"}", &a) == 0);
    CHECK(strcmp(a.amount, "50.00") == 0 && a.expires == 0 && a.allow_unbound);
    CHECK(P(srv_parse_allowance,
            "{\"amount\":\"5\",\"allow_unbound\":false,\"expires\":9}",
            &a) == 0);
    CHECK(!a.allow_unbound && a.expires == 9);
    CHECK(a.request_id[0] == '\0');
    CHECK(P(srv_parse_allowance,
            "{\"amount\":\"5\",\"request_id\":\"6f1c-2b\"}", &a) == 0);
    CHECK(strcmp(a.request_id, "6f1c-2b") == 0);
    CHECK(P(srv_parse_allowance, "{\"amount\":\"5\",\"request_id\":\"a b\"}",
            &a) == SRV_E_BAD_FIELD);
    CHECK(P(srv_parse_allowance, "{\"amount\":\"5\",\"request_id\":\"\"}",
            &a) == SRV_E_BAD_FIELD);
    CHECK(P(srv_parse_allowance, "{\"amount\":50}", &a) == SRV_E_BAD_FIELD);
    CHECK(P(srv_parse_allowance, "{\"expires\":9}", &a) == SRV_E_BAD_FIELD);
    CHECK(P(srv_parse_allowance,
            "{\"amount\":\"11111111111111111111111111111111\"}",
            &a) == SRV_E_BAD_FIELD);
#define ROT_KEY                                                                \
    "{\"terminal_key\":\"5b0f0000000000000000000000000000"                     \
    "000000000000000000000000000000e1\""
    /* key_signature: 63 bytes 0x07 then 0x09, in base64 */
#define ROT_SIG                                                                \
    "\"key_signature\":\"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH"         \
    "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHCQ==\""
#define ROT_CARRIED ",\"sums_carried\":true"
    s = ROT_KEY "," ROT_SIG ROT_CARRIED "}";
    CHECK(P(srv_parse_rotate, s, &rot) == 0);
    CHECK(rot.expires == 0 && rot.pk[0] == 0x5b && rot.pk[31] == 0xe1);
    CHECK(rot.sig[0] == 7 && rot.sig[62] == 7 && rot.sig[63] == 9);
    CHECK(rot.sums_carried == 1);
    CHECK(P(srv_parse_rotate,
            ROT_KEY "," ROT_SIG ",\"expires\":9" ROT_CARRIED "}", &rot) == 0 &&
          rot.expires == 9);
    CHECK(P(srv_parse_rotate,
            "{\"terminal_key\":\"5B0F\"," ROT_SIG ROT_CARRIED "}",
            &rot) == SRV_E_BAD_FIELD);
    CHECK(P(srv_parse_rotate, "{}", &rot) == SRV_E_BAD_FIELD);
    /* an older terminal's body, without the proof: told to upgrade */
    CHECK(P(srv_parse_rotate, ROT_KEY ROT_CARRIED "}", &rot) ==
          SRV_E_BAD_FIELD);
    CHECK(strstr(hint, "key_signature missing") != NULL &&
          strstr(hint, "upgrade offpay") != NULL);
    CHECK(sodium_is_zero(rot.pk, sizeof rot.pk));
    /* a 0.13.0 to 0.15.0 terminal's body, with the proof but carrying no
     * sums into the new terminal (settlement.md §5): told to upgrade */
    CHECK(P(srv_parse_rotate, ROT_KEY "," ROT_SIG "}", &rot) ==
          SRV_E_BAD_FIELD);
    CHECK(strstr(hint, "sums_carried missing: since 0.16.0") != NULL &&
          strstr(hint, "upgrade offpay and run the rotation again") != NULL);
    CHECK(sodium_is_zero((const uint8_t *)&rot, sizeof rot));
    /* false, or not a boolean: refused too */
    CHECK(P(srv_parse_rotate, ROT_KEY "," ROT_SIG ",\"sums_carried\":false}",
            &rot) == SRV_E_BAD_FIELD);
    CHECK(strstr(hint, "sums_carried: true") != NULL);
    CHECK(sodium_is_zero((const uint8_t *)&rot, sizeof rot));
    CHECK(P(srv_parse_rotate, ROT_KEY "," ROT_SIG ",\"sums_carried\":1}",
            &rot) == SRV_E_BAD_FIELD);
    CHECK(strstr(hint, "sums_carried") != NULL);
    CHECK(P(srv_parse_rotate, ROT_KEY "," ROT_SIG ",\"sums_carried\":\"true\"}",
            &rot) == SRV_E_BAD_FIELD);
    /* a signature short of 64 bytes, or not canonical (the last
     * character's unused bits set) */
    CHECK(P(srv_parse_rotate,
            ROT_KEY ",\"key_signature\":\"BwcH\"" ROT_CARRIED "}",
            &rot) == SRV_E_BAD_FIELD);
    CHECK(P(srv_parse_rotate,
            ROT_KEY
            ",\"key_signature\":\"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH"
            "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHCR==\"" ROT_CARRIED "}",
            &rot) == SRV_E_BAD_FIELD);
    CHECK(strstr(hint, "key_signature: a signature in base64") != NULL);
#undef ROT_KEY
#undef ROT_SIG
#undef ROT_CARRIED
    CHECK(srv_parse_reason(NULL, 0, reason, sizeof reason, hint, sizeof hint) ==
              0 &&
          reason[0] == '\0');
    CHECK(P(srv_parse_reason, "{}", reason, sizeof reason) == 0);
    CHECK(P(srv_parse_reason, "{\"reason\":\"lost\"}", reason, sizeof reason) ==
          0);
    CHECK(strcmp(reason, "lost") == 0);
    CHECK(srv_parse_empty(NULL, 0, hint, sizeof hint) == 0);
    CHECK(srv_parse_empty((const uint8_t *)"{}", 2, hint, sizeof hint) == 0);
    CHECK(srv_parse_empty((const uint8_t *)"{\"reason\":\"x\"}", 14, hint,
                          sizeof hint) == SRV_E_BAD_FIELD);
    CHECK(srv_parse_empty((const uint8_t *)"[]", 2, hint, sizeof hint) ==
          SRV_E_MALFORMED_JSON);
    CHECK(P(srv_parse_reason, "{\"why\":\"lost\"}", reason, sizeof reason) ==
          SRV_E_BAD_FIELD);
#undef P
}

/* ---- the ledger -------------------------------------------------------- */

typedef struct world {
    char                path[512];
    offpay_ledger      *l;
    offpay_keypair      root, issuer, wallet, other;
    offpay_trust_bundle bundle;
} world;

static int n_world;

/* A world on the ledger at path (NULL: a new SQLite file). */
/* A fresh database NAME_PID on the PostgreSQL server of pg (a URL
 * prefix, OFFPAY_TEST_PG), its URL into path: 0, or -1. */
static int pg_database(const char *pg, const char *name, char *path,
                       size_t cap)
{
    char      admin[400], sql[160];
    PGconn   *x;
    PGresult *r;
    int       ok;

    snprintf(admin, sizeof admin, "%spostgres", pg);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s_%ld", name, (long)getpid());
    x = PQconnectdb(admin);
    r = PQexec(x, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(x);
    snprintf(path, cap, "%s%s_%ld", pg, name, (long)getpid());
    return ok ? 0 : -1;
}

static offpay_err make_world_at(world *w, const char *path)
{
    offpay_err rc;

    memset(w, 0, sizeof *w);
    if (path != NULL)
        snprintf(w->path, sizeof w->path, "%s", path);
    else
        snprintf(w->path, sizeof w->path, "%s/online-%d.db",
                 offpay_test_tmpdir(), ++n_world);
    if ((rc = offpay_keypair_generate(&w->root)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->issuer)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->wallet)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->other)) != OFFPAY_OK)
        return rc;
    w->bundle.seq = 1;
    w->bundle.issued_at = T0 - DAY;
    w->bundle.n_keys = 1;
    w->bundle.keys[0].kid = 1;
    memcpy(w->bundle.keys[0].pk, w->issuer.pk, OFFPAY_PK_BYTES);
    w->bundle.keys[0].valid_from = T0 - DAY;
    w->bundle.keys[0].valid_until = T0 + 400 * DAY;
    if ((rc = offpay_issuer_sign_bundle(w->root.sk, &w->bundle)) != OFFPAY_OK ||
        (rc = offpay_ledger_open(w->path, NULL, &w->l)) != OFFPAY_OK)
        return rc;
    return offpay_ledger_set_trust(w->l, &w->bundle, 1, w->issuer.sk);
}

static offpay_err make_world(world *w)
{
    return make_world_at(w, NULL);
}

static void drop_world(world *w)
{
    offpay_ledger_close(w->l);
    offpay_keypair_wipe(&w->root);
    offpay_keypair_wipe(&w->issuer);
    offpay_keypair_wipe(&w->wallet);
    offpay_keypair_wipe(&w->other);
}

static int audit_ok(world *w)
{
    offpay_audit_report r;

    return offpay_ledger_audit(w->l, &r) == OFFPAY_OK;
}

/*
 * offpayd's answers to signed requests (docs/api.md, "Signed answers"):
 * the ledger signs the text offpay__http_answer_text lays out with its
 * daily key, and the check under the bundle takes that answer and nothing
 * else — not another body, status, path or request nonce, not a key the
 * bundle lacks, not a header out of its one canonical form.
 */
static void test_answers_are_signed_by_the_daily_key(void)
{
    world               w;
    offpay_trust_bundle other;
    offpay__http_auth   rq, atk;
    uint8_t            *nonce = rq.nonce, sig[OFFPAY_SIG_BYTES];
    char                text[OFFPAY__HTTP_ANSWER_SIGNED];
    char                hdr[OFFPAY__HTTP_ANSWER_TEXT], bad[5][160];
    const char         *body = "{\"results\":[{\"seq\":\"1\",\"outcome\":"
                               "\"settled\"}]}";
    const char         *path = "/v1/terminal/upload";
    const char         *ask = "{\"items\":[]}";
    uint8_t             asked[OFFPAY__HTTP_DIGEST_BYTES];
    uint8_t             other_ask[OFFPAY__HTTP_DIGEST_BYTES];
    uint16_t            kid = 0;
    size_t              n = 0, len = strlen(body);

    REQUIRE_OK(make_world(&w));
    memset(&rq, 0, sizeof rq);
    randombytes_buf(&rq, sizeof rq);
    rq.time = T0;
    REQUIRE_OK(
        offpay__http_body_digest((const uint8_t *)ask, strlen(ask), asked));
    REQUIRE_OK(offpay__http_body_digest((const uint8_t *)"{}", 2, other_ask));
    REQUIRE_OK(offpay__http_answer_text(200, path, &rq, asked,
                                        (const uint8_t *)body, len, text, &n));
    REQUIRE_OK(offpay_ledger_sign_answer(w.l, T0, (const uint8_t *)text, n,
                                         &kid, sig));
    CHECK(kid == 1);
    offpay__http_answer_format(kid, sig, hdr);
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200, path, &rq,
                                         asked, (const uint8_t *)body, len,
                                         &kid),
              OFFPAY_OK);
    /* another body, status, path or nonce: the signature is not its own */
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200, path, &rq,
                                         asked, (const uint8_t *)"{}", 2, NULL),
              OFFPAY_ECODE_SIG);
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 403, path, &rq,
                                         asked, (const uint8_t *)body, len,
                                         NULL),
              OFFPAY_ECODE_SIG);
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200,
                                         "/v1/terminal/check", &rq, asked,
                                         (const uint8_t *)body, len, NULL),
              OFFPAY_ECODE_SIG);
    nonce[0] ^= 1;
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200, path, &rq,
                                         asked, (const uint8_t *)body, len,
                                         NULL),
              OFFPAY_ECODE_SIG);
    nonce[0] ^= 1;
    /* a bundle without the key */
    other = w.bundle;
    other.keys[0].kid = 2;
    CHECK_ERR(offpay__http_answer_verify(&other, hdr, T0, 200, path, &rq, asked,
                                         (const uint8_t *)body, len, NULL),
              OFFPAY_EUNKNOWN_KID);
    /* no header; the header out of its form */
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, NULL, T0, 200, path, &rq,
                                         asked, (const uint8_t *)body, len,
                                         NULL),
              OFFPAY_ENOTFOUND);
    /* a leading zero, two spaces, a trailing space, beyond a kid, cut */
    snprintf(bad[0], sizeof bad[0], "0%s", hdr);
    snprintf(bad[1], sizeof bad[1], "1  %s", hdr + 2);
    snprintf(bad[2], sizeof bad[2], "%s ", hdr);
    snprintf(bad[3], sizeof bad[3], "65537 %s", hdr + 2);
    snprintf(bad[4], sizeof bad[4], "%.*s", (int)strlen(hdr) - 1, hdr);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(offpay__http_answer_verify(&w.bundle, bad[i], T0, 200, path,
                                             &rq, asked, (const uint8_t *)body,
                                             len, NULL),
                  OFFPAY_EMALFORMED);
    /* another signer's request with the same nonce, or the same signer's
     * at another time: not this answer */
    atk = rq;
    atk.pk[0] ^= 1;
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200, path, &atk,
                                         asked, (const uint8_t *)body, len,
                                         NULL),
              OFFPAY_ECODE_SIG);
    atk = rq;
    atk.time = T0 + 1;
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200, path, &atk,
                                         asked, (const uint8_t *)body, len,
                                         NULL),
              OFFPAY_ECODE_SIG);
    /* the same request with another body (another holder of the key) */
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200, path, &rq,
                                         other_ask, (const uint8_t *)body, len,
                                         NULL),
              OFFPAY_ECODE_SIG);
    /* a key whose window ended more than a day before the device's own
     * clock, whatever time the request was signed at (that one follows
     * offpayd's clock, from an unsigned answer) */
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0 + 401 * DAY + 1,
                                         200, path, &rq, asked,
                                         (const uint8_t *)body, len, NULL),
              OFFPAY_EKID_EXPIRED);
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0 + 401 * DAY, 200,
                                         path, &rq, asked,
                                         (const uint8_t *)body, len, NULL),
              OFFPAY_OK);
    /* the ledger signs nothing with a key past its window */
    CHECK_ERR(offpay_ledger_sign_answer(w.l, T0 + 400 * DAY + 1,
                                        (const uint8_t *)text, n, &kid, sig),
              OFFPAY_EKID_EXPIRED);
    /* the request's own signature domain does not make an answer */
    REQUIRE_OK(offpay_sign(OFFPAY_DS_HTTP_REQUEST, (const uint8_t *)text, n,
                           w.issuer.sk, sig));
    offpay__http_answer_format(1, sig, hdr);
    CHECK_ERR(offpay__http_answer_verify(&w.bundle, hdr, T0, 200, path, &rq,
                                         asked, (const uint8_t *)body, len,
                                         NULL),
              OFFPAY_ECODE_SIG);
    drop_world(&w);
}

static void test_enrollment_code_is_single_use_and_expires(void)
{
    world                     w;
    char                      code[OFFPAY_ENROLL_CODE_CHARS + 1];
    char                      old[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint64_t                  acct = 0, a2 = 0;
    uint16_t                  cur = 0;
    offpay_ledger_wallet_info info;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, "t", T0 + DAY, T0, code));
    CHECK(strlen(code) == OFFPAY_ENROLL_CODE_CHARS);
    REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + 10, T0, old));
    CHECK(strcmp(code, old) != 0);
    CHECK_ERR(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_enroll(w.l, w.wallet.pk, "0123456789abcdef01234567",
                                   T0, &acct, NULL),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_enroll(w.l, w.wallet.pk, "short", T0, &acct, NULL),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_enroll(w.l, w.wallet.pk, old, T0 + 10, &acct, NULL),
              OFFPAY_EEXPIRED);
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, &cur));
    CHECK(acct != 0 && cur == EUR);
    CHECK_ERR(offpay_ledger_enroll(w.l, w.other.pk, code, T0, &a2, NULL),
              OFFPAY_EREPLAY);
    /* the same key and code again (its answer lost): the same account */
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0 + 5, &a2, &cur));
    CHECK(a2 == acct && cur == EUR);
    REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, old));
    CHECK_ERR(offpay_ledger_enroll(w.l, w.wallet.pk, old, T0, &a2, NULL),
              OFFPAY_EEXISTS);
    /* the refused attempt left the code usable */
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.other.pk, old, T0, &a2, NULL));
    CHECK(a2 != acct);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, NULL, acct, &info));
    CHECK(memcmp(info.pk, w.wallet.pk, OFFPAY_PK_BYTES) == 0);
    CHECK(info.balance == 0 && !info.revoked && info.currency == EUR);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A lost wallet's account enrolls its owner's new wallet (settlement.md
 * §12): only once the wallet is revoked; the new key takes the account
 * and its money; a second code for it is refused once a wallet holds it
 * again; the revoked key cannot come back with one; a resend by the new
 * key gets the same account. */
static void test_lost_wallets_account_enrolls_a_new_wallet(void)
{
    world                     w;
    offpay_keypair            third;
    char                      code[OFFPAY_ENROLL_CODE_CHARS + 1];
    char                      c1[OFFPAY_ENROLL_CODE_CHARS + 1];
    char                      c2[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint64_t                  acct = 0, a2 = 0, fresh = 0;
    uint32_t                  back = 0, late = 0;
    uint16_t                  cur = 0;
    size_t                    n = 0;
    offpay_ledger_wallet_info info;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_keypair_generate(&third));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, "c-9", T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 2500, "top-up", T0, NULL));
    /* not lost yet; not an enrolled wallet's account; no account */
    CHECK_ERR(offpay_ledger_enrollment_for(w.l, acct, T0 + DAY, T0, c1, &cur),
              OFFPAY_EEXISTS);
    CHECK(c1[0] == '\0');
    REQUIRE_OK(offpay_ledger_wallet_account(w.l, EUR, "offline", T0, &fresh));
    CHECK_ERR(offpay_ledger_enrollment_for(w.l, fresh, T0 + DAY, T0, c1, &cur),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_enrollment_for(w.l, 987654, T0 + DAY, T0, c1, &cur),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_enrollment_for(w.l, acct, T0, T0, c1, &cur),
              OFFPAY_EINVAL);
    /* lost: what its owner is told; two codes for its account */
    REQUIRE_OK(
        offpay_ledger_wallet_revoke(w.l, w.wallet.pk, 0, "lost", T0 + 5, &n));
    REQUIRE_OK(
        offpay_ledger_wallet_due(w.l, w.wallet.pk, T0 + 5, &back, &late));
    CHECK(back == T0 + 5 + 14 * DAY && late == back + 30 * DAY);
    CHECK_ERR(offpay_ledger_wallet_due(w.l, NULL, T0, &back, &late),
              OFFPAY_EINVAL);
    REQUIRE_OK(
        offpay_ledger_enrollment_for(w.l, acct, T0 + DAY, T0 + 6, c1, &cur));
    CHECK(cur == EUR && strlen(c1) == OFFPAY_ENROLL_CODE_CHARS);
    REQUIRE_OK(
        offpay_ledger_enrollment_for(w.l, acct, T0 + DAY, T0 + 6, c2, NULL));
    /* the lost key cannot come back with one */
    CHECK_ERR(offpay_ledger_enroll(w.l, w.wallet.pk, c1, T0 + 7, &a2, NULL),
              OFFPAY_EEXISTS);
    /* the new key takes the account and its money */
    REQUIRE_OK(offpay_ledger_enroll_check(w.l, w.other.pk, c1, T0 + 7));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.other.pk, c1, T0 + 7, &a2, &cur));
    CHECK(a2 == acct && cur == EUR);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, NULL, acct, &info));
    CHECK(memcmp(info.pk, w.other.pk, OFFPAY_PK_BYTES) == 0 && !info.revoked &&
          info.balance == 2500);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.account == acct && info.revoked);
    /* resent (a lost answer): the same account; neither key answers for
     * the other's code; the account's other code is void */
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.other.pk, c1, T0 + 8, &a2, NULL));
    CHECK(a2 == acct);
    CHECK_ERR(offpay_ledger_enroll(w.l, w.wallet.pk, c1, T0 + 8, &a2, NULL),
              OFFPAY_EREPLAY);
    CHECK_ERR(offpay_ledger_enroll(w.l, w.other.pk, code, T0 + 8, &a2, NULL),
              OFFPAY_EREPLAY);
    CHECK_ERR(offpay_ledger_enroll(w.l, third.pk, c2, T0 + 8, &a2, NULL),
              OFFPAY_EEXPIRED);
    CHECK_ERR(offpay_ledger_enroll_check(w.l, third.pk, c2, T0 + 8),
              OFFPAY_EEXPIRED);
    /* lost again: that code stays void; a new one takes it */
    REQUIRE_OK(
        offpay_ledger_wallet_revoke(w.l, w.other.pk, 0, "lost", T0 + 9, &n));
    CHECK_ERR(offpay_ledger_enroll(w.l, third.pk, c2, T0 + 10, &a2, NULL),
              OFFPAY_EEXPIRED);
    REQUIRE_OK(
        offpay_ledger_enrollment_for(w.l, acct, T0 + DAY, T0 + 10, c2, NULL));
    REQUIRE_OK(offpay_ledger_enroll(w.l, third.pk, c2, T0 + 11, &a2, NULL));
    CHECK(a2 == acct);
    CHECK_ERR(
        offpay_ledger_enrollment_for(w.l, acct, T0 + DAY, T0 + 12, c1, NULL),
        OFFPAY_EEXISTS);
    CHECK(audit_ok(&w));
    offpay_keypair_wipe(&third);
    drop_world(&w);
}

/* The serials of the full revocation list the ledger signs at now, as a
 * bit set over serials[0..n) (-1 on an error). */
static int revlisted(world *w, uint32_t now, const uint64_t *serials, int n)
{
    uint8_t       *b = NULL;
    size_t         len = 0;
    offpay_revlist rl;
    int            bits = 0;

    memset(&rl, 0, sizeof rl);
    if (offpay_ledger_revlist(w->l, 0, now, &b, &len) != OFFPAY_OK ||
        offpay_revlist_decode(b, len, &rl) != OFFPAY_OK) {
        free(b);
        return -1;
    }
    for (uint32_t i = 0; i < rl.n_serials; i++)
        for (int k = 0; k < n; k++)
            if (rl.serials[i] == serials[k])
                bits |= 1 << k;
    free(b);
    free(rl.serials);
    return bits;
}

/* A lost wallet's report revokes what can still be paid (since 0.20.0):
 * its credentials not released, and those released within the late
 * window, whose late codes it keeps off the account; one released before
 * that is done and stays as it was (a transit card renewed daily holds
 * thousands); one released a day before the window is revoked too, for a
 * report made on a host whose clock is ahead of offpayd's. The revocation lists
 * name a revoked credential until a day after its signed expiry
 * (OFFPAY_REVLIST_LIVE_AFTER; the upload grace before 0.22.0), not the
 * ledger's expiry the report brought forward. A keyed allowance resent
 * after it all is answered its own credential. */
static void test_lost_wallet_revokes_what_can_still_be_paid(void)
{
    world                      w;
    char                       code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint8_t                    bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                    again[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred         a, b, c, c2, d;
    offpay_ledger_wallet_cred *creds = NULL;
    uint64_t                   acct = 0, s[3];
    uint32_t                   back = 0, late = 0;
    const uint32_t             grace = 14 * DAY, report = T0 + 61 * DAY;
    size_t                     n = 0, revoked = 0;
    int                        replayed = 0;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 10000, "top-up", T0, NULL));
    /* a: released at day 15, before the late window of the report; b:
     * released at day 35, within it; c: live, signed to day 90 */
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, 1000, 1, T0 + DAY, T0,
                                       bytes, &a));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 15 * DAY + 1, &n));
    CHECK(n == 1);
    /* d: released at day 30.5, half a day before the report's late
     * window, within the day kept for a clock ahead of offpayd's */
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, 1000, 1, T0 + 16 * DAY,
                                       T0 + 15 * DAY + 2, bytes, &d));
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, 1000, 1, T0 + 21 * DAY,
                                       T0 + 20 * DAY, bytes, &b));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 30 * DAY + DAY / 2, &n));
    CHECK(n == 1);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 35 * DAY + 1, &n));
    CHECK(n == 1);
    REQUIRE_OK(offpay_ledger_allowance_once(w.l, w.wallet.pk, "renew-60", 1000,
                                            1, T0 + 90 * DAY, T0 + 60 * DAY,
                                            bytes, &c, &replayed));
    CHECK(!replayed);
    /* the allowance resent: its own credential, read by its serial */
    REQUIRE_OK(offpay_ledger_allowance_once(w.l, w.wallet.pk, "renew-60", 1000,
                                            1, T0 + 90 * DAY, T0 + 60 * DAY + 5,
                                            again, &c2, &replayed));
    CHECK(replayed && c2.serial == c.serial &&
          memcmp(again, bytes, sizeof bytes) == 0);
    CHECK_ERR(offpay_ledger_allowance_once(w.l, w.other.pk, "renew-60", 1000, 1,
                                           T0 + 90 * DAY, T0 + 60 * DAY + 5,
                                           again, &c2, &replayed),
              OFFPAY_ENOTFOUND); /* the other key is not enrolled */
    /* the operator's key again for another wallet key: another request */
    REQUIRE_OK(offpay_ledger_issue_once(w.l, "op-1", acct, w.wallet.pk, 500, 1,
                                        T0 + 90 * DAY, T0 + 60 * DAY, again,
                                        &c2, &replayed));
    CHECK(!replayed);
    CHECK_ERR(offpay_ledger_issue_once(w.l, "op-1", acct, w.other.pk, 500, 1,
                                       T0 + 90 * DAY, T0 + 60 * DAY, again, &c2,
                                       &replayed),
              OFFPAY_EEXISTS);
    s[0] = a.serial;
    s[1] = b.serial;
    s[2] = c.serial;
    REQUIRE_OK(offpay_ledger_wallet_revoke(w.l, w.wallet.pk, 0, "lost", report,
                                           &revoked));
    CHECK(revoked == 4);
    REQUIRE_OK(offpay_ledger_wallet_creds(w.l, w.wallet.pk, &creds, &n));
    REQUIRE(n == 5);
    for (size_t i = 0; i < n; i++) {
        const offpay_ledger_cred_info *x = &creds[i].info;

        if (x->serial == a.serial)
            CHECK(!x->revoked && x->released);
        else if (x->serial == b.serial || x->serial == d.serial)
            CHECK(x->revoked && x->revoked_at == report && x->released &&
                  x->expires ==
                      (x->serial == b.serial ? T0 + 21 * DAY : T0 + 16 * DAY));
        else
            CHECK(x->revoked && !x->released && x->expires == report);
    }
    free(creds);
    REQUIRE_OK(
        offpay_ledger_wallet_due(w.l, w.wallet.pk, report, &back, &late));
    CHECK(back == report + grace && late == back + 30 * DAY);
    /* b expired long ago: in no list; c until a day after day 90, not
     * after the report's day */
    CHECK(revlisted(&w, report, s, 3) == 4);
    CHECK(revlisted(&w, report + grace + 1, s, 3) == 4);
    CHECK(revlisted(&w, T0 + 90 * DAY + OFFPAY_REVLIST_LIVE_AFTER, s, 3) == 4);
    CHECK(revlisted(&w, T0 + 90 * DAY + OFFPAY_REVLIST_LIVE_AFTER + 1, s, 3) ==
          0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_allowance_moves_from_own_account_or_nothing(void)
{
    world                      w;
    char                       code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint8_t                    bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred         wc;
    offpay_ledger_wallet_info  info;
    offpay_ledger_wallet_cred *creds = NULL;
    uint64_t                   acct = 0, other = 0;
    size_t                     n = 0, revoked = 0;

    REQUIRE_OK(make_world(&w));
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk, 100, 1, T0 + DAY, T0,
                                      bytes, &wc),
              OFFPAY_ENOTFOUND);
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 5000, "top-up", T0, NULL));
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk, 5001, 1, T0 + DAY, T0,
                                      bytes, &wc),
              OFFPAY_EFUNDS);
    /* beyond what a credential carries (a u32), or not positive: the
     * amount is named, before the balance is looked at */
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk,
                                      OFFPAY_WIRE_AMOUNT_MAX + 1, 1, T0 + DAY,
                                      T0, bytes, &wc),
              OFFPAY_EAMOUNT);
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk, 0, 1, T0 + DAY, T0,
                                      bytes, &wc),
              OFFPAY_EAMOUNT);
    CHECK_ERR(offpay_ledger_issue(w.l, acct, w.wallet.pk,
                                  OFFPAY_WIRE_AMOUNT_MAX + 1, 1, T0 + DAY, T0,
                                  bytes, &wc),
              OFFPAY_EAMOUNT);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 5000);
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, 3000, 1, T0 + DAY, T0,
                                       bytes, &wc));
    CHECK(wc.limit == 3000 &&
          memcmp(wc.wallet_pk, w.wallet.pk, OFFPAY_PK_BYTES) == 0);
    CHECK(offpay_wallet_cred_verify(&w.bundle, &wc, T0, 0) == OFFPAY_OK);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 2000);
    REQUIRE_OK(offpay_ledger_wallet_creds(w.l, w.wallet.pk, &creds, &n));
    REQUIRE(n == 1);
    CHECK(creds[0].info.serial == wc.serial && creds[0].info.remaining == 3000);
    CHECK(creds[0].max_counter == 0 && creds[0].len == sizeof bytes &&
          memcmp(creds[0].bytes, bytes, sizeof bytes) == 0);
    free(creds);
    /* the owner reports it lost: revoked, its escrow due at now + grace */
    REQUIRE_OK(offpay_ledger_wallet_revoke(w.l, w.wallet.pk, 0, NULL, T0 + 5,
                                           &revoked));
    CHECK(revoked == 1);
    REQUIRE_OK(offpay_ledger_wallet_revoke(w.l, NULL, acct, "again", T0 + 6,
                                           &revoked));
    CHECK(revoked == 0);
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk, 100, 1, T0 + DAY, T0,
                                      bytes, &wc),
              OFFPAY_EREVOKED);
    REQUIRE_OK(offpay_ledger_wallet_creds(w.l, w.wallet.pk, &creds, &n));
    REQUIRE(n == 1);
    CHECK(creds[0].info.revoked && creds[0].info.expires == T0 + 5);
    free(creds);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 14 * DAY, &n));
    CHECK(n == 0); /* not yet: the grace runs from the revocation */
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 14 * DAY + 6, &n));
    CHECK(n == 1);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 5000 && info.revoked);
    CHECK_ERR(offpay_ledger_wallet_revoke(w.l, w.other.pk, 0, NULL, T0, NULL),
              OFFPAY_ENOTFOUND);
    /* nor does the operator issue the lost key a credential, from its own
     * account or another: nothing moves; a key never enrolled still gets
     * one (the operator's own wallets) */
    REQUIRE_OK(
        offpay_ledger_wallet_account(w.l, EUR, "other", T0 + 15 * DAY, &other));
    REQUIRE_OK(
        offpay_ledger_deposit(w.l, other, 500, "top-up", T0 + 15 * DAY, NULL));
    CHECK_ERR(offpay_ledger_issue(w.l, acct, w.wallet.pk, 100, 1, T0 + 20 * DAY,
                                  T0 + 15 * DAY, bytes, &wc),
              OFFPAY_EWALLET_LOST);
    CHECK_ERR(offpay_ledger_issue_once(w.l, "k1", other, w.wallet.pk, 100, 1,
                                       T0 + 20 * DAY, T0 + 15 * DAY, bytes, &wc,
                                       NULL),
              OFFPAY_EWALLET_LOST);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 5000);
    REQUIRE_OK(offpay_ledger_wallet_creds(w.l, w.wallet.pk, &creds, &n));
    CHECK(n == 1);
    free(creds);
    REQUIRE_OK(offpay_ledger_issue(w.l, other, w.other.pk, 100, 1,
                                   T0 + 20 * DAY, T0 + 15 * DAY, bytes, &wc));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The operator's keyed credential, sent again after the wallet was
 * reported lost (its first reply never came): the resend replays the
 * credential the first send made and paid for, not "lost, nothing
 * moved"; a new key still gets nothing (docs/api.md). */
static void test_resend_after_a_loss_replays(void)
{
    world                     w;
    char                      code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint8_t                   bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                   again[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred        wc, wc2;
    offpay_ledger_wallet_info info;
    uint64_t                  acct = 0;
    int                       replayed = -1;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 5000, "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_issue_once(w.l, "op-1", acct, w.wallet.pk, 1000, 1,
                                        T0 + DAY, T0, bytes, &wc, &replayed));
    CHECK(replayed == 0);
    REQUIRE_OK(
        offpay_ledger_wallet_revoke(w.l, w.wallet.pk, 0, NULL, T0 + 5, NULL));
    replayed = -1;
    CHECK_ERR(offpay_ledger_issue_once(w.l, "op-1", acct, w.wallet.pk, 1000, 1,
                                       T0 + DAY, T0 + 6, again, &wc2,
                                       &replayed),
              OFFPAY_OK);
    CHECK(replayed == 1 && wc2.serial == wc.serial &&
          memcmp(again, bytes, sizeof bytes) == 0);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 4000); /* moved once */
    CHECK_ERR(offpay_ledger_issue_once(w.l, "op-2", acct, w.wallet.pk, 1000, 1,
                                       T0 + DAY, T0 + 6, again, &wc2, NULL),
              OFFPAY_EWALLET_LOST);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Each unfreeze of a restored copy is handed a counter range of its own:
 * the second copy of one backup starts a gap above the first even when
 * the ledger has seen no code of either (docs/settlement.md §12). */
static void test_restore_floor_is_handed_out_once(void)
{
    world              w;
    char               code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred wc;
    uint64_t           acct = 0;
    uint32_t           floor = 7;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 5000, "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, 3000, 1, T0 + DAY, T0,
                                       bytes, &wc));
    REQUIRE_OK(offpay_ledger_wallet_restore_floor(w.l, w.wallet.pk, wc.serial,
                                                  &floor));
    CHECK(floor == 1 + OFFPAY_WALLET_RESTORE_GAP);
    REQUIRE_OK(offpay_ledger_wallet_restore_floor(w.l, w.wallet.pk, wc.serial,
                                                  &floor));
    CHECK(floor == 1 + 2 * OFFPAY_WALLET_RESTORE_GAP);
    /* another key's credential, and one that does not exist */
    CHECK_ERR(
        offpay_ledger_wallet_restore_floor(w.l, w.other.pk, wc.serial, &floor),
        OFFPAY_ENOTFOUND);
    CHECK(floor == 0);
    CHECK_ERR(offpay_ledger_wallet_restore_floor(w.l, w.wallet.pk,
                                                 wc.serial + 1000, &floor),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_wallet_restore_floor(w.l, w.wallet.pk, 0, &floor),
              OFFPAY_EINVAL);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A wallet that resends its allowance after a lost answer (the same
 * request id) gets the credential issued the first time: one escrow. */
static void test_allowance_once_per_request_id(void)
{
    world                      w;
    char                       code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint8_t                    b1[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                    b2[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred         c1, c2;
    offpay_ledger_wallet_info  info;
    offpay_ledger_wallet_cred *creds = NULL;
    uint64_t                   acct = 0;
    size_t                     n = 0;
    int                        replayed = -1;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 5000, "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_allowance_once(w.l, w.wallet.pk, "rid-1", 3000, 1,
                                            T0 + DAY, T0, b1, &c1, &replayed));
    CHECK(replayed == 0);
    REQUIRE_OK(offpay_ledger_allowance_once(w.l, w.wallet.pk, "rid-1", 3000, 1,
                                            T0 + DAY, T0 + 9, b2, &c2,
                                            &replayed));
    CHECK(replayed == 1 && c2.serial == c1.serial);
    CHECK(memcmp(b1, b2, sizeof b1) == 0);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 2000);
    /* the id for another amount, or other flags (bound codes only); a
     * malformed id: nothing moves */
    CHECK_ERR(offpay_ledger_allowance_once(w.l, w.wallet.pk, "rid-1", 1000, 1,
                                           T0 + DAY, T0, b2, &c2, NULL),
              OFFPAY_EEXISTS);
    CHECK_ERR(offpay_ledger_allowance_once(w.l, w.wallet.pk, "rid-1", 3000, 0,
                                           T0 + DAY, T0 + 9, b2, &c2, NULL),
              OFFPAY_EEXISTS);
    CHECK_ERR(offpay_ledger_allowance_once(w.l, w.wallet.pk, "rid 2", 1000, 1,
                                           T0 + DAY, T0, b2, &c2, NULL),
              OFFPAY_EINVAL);
    REQUIRE_OK(offpay_ledger_wallet_creds(w.l, w.wallet.pk, &creds, &n));
    CHECK(n == 1);
    free(creds);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 2000);
    /* a wallet's ids and the operator's keys are apart: the wallet's
     * "rid-1" blocks no operator request of that name */
    REQUIRE_OK(offpay_ledger_move_once(w.l, acct, 3000, 0, NULL, "rid-1", T0,
                                       NULL, &replayed));
    CHECK(replayed == 0);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.balance == 5000);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_terminal_rotation_is_one_step(void)
{
    world                       w;
    offpay_keypair              k1, k2;
    uint8_t                     tb[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t                      len = 0;
    offpay_terminal_cred        tc, tc2;
    offpay_ledger_terminal_info info;
    uint64_t                    m, acct;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_keypair_generate(&k1));
    REQUIRE_OK(offpay_keypair_generate(&k2));
    /* a new name with a character that shows nothing (a Hangul filler:
     * "Bakery A" twice to the eye) is refused by the library too, keyed
     * or not (since 0.28.0) */
    CHECK_ERR(offpay_ledger_merchant_add(w.l, "Bakery A\xe3\x85\xa4", EUR, T0,
                                         &m, &acct),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_merchant_add_once(w.l, "k-filler",
                                              "Bakery A\xe3\x85\xa4", EUR, T0,
                                              &m, &acct, NULL),
              OFFPAY_EINVAL);
    REQUIRE_OK(offpay_ledger_merchant_add(w.l, "Bakery A", EUR, T0, &m, &acct));
    REQUIRE_OK(
        offpay_ledger_terminal_add(w.l, m, k1.pk, T0 + DAY, T0, tb, &len, &tc));
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, tc.terminal_id, k1.pk,
                                            T0 + DAY, T0, tb, &len, &tc2, NULL),
              OFFPAY_EEXISTS);
    /* a rotation never extends the term: the old credential's expiry */
    REQUIRE_OK(offpay_ledger_terminal_rotate(w.l, tc.terminal_id, k2.pk,
                                             T0 + 400 * DAY, T0 + 1, tb, &len,
                                             &tc2, NULL));
    CHECK(tc2.expires == T0 + DAY);
    CHECK(tc2.terminal_id != tc.terminal_id && tc2.merchant_id == m);
    CHECK(strcmp(tc2.name, "Bakery A") == 0);
    REQUIRE_OK(offpay_ledger_terminal(w.l, tc.terminal_id, NULL, &info));
    CHECK(info.revoked && info.revoked_at == T0 + 1);
    REQUIRE_OK(offpay_ledger_terminal(w.l, 0, k2.pk, &info));
    CHECK(!info.revoked && info.terminal_id == tc2.terminal_id);
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, tc.terminal_id, w.other.pk,
                                            T0 + DAY, T0 + 2, tb, &len, &tc2,
                                            NULL),
              OFFPAY_ETERMINAL_REVOKED);
    /* an expired terminal cannot rotate itself back to life */
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, tc2.terminal_id, w.other.pk,
                                            T0 + 400 * DAY, T0 + 2 * DAY, tb,
                                            &len, &tc, NULL),
              OFFPAY_ETERMINAL_EXPIRED);
    REQUIRE_OK(offpay_ledger_terminal(w.l, tc2.terminal_id, NULL, &info));
    CHECK(!info.revoked);
    offpay_keypair_wipe(&k1);
    offpay_keypair_wipe(&k2);
    drop_world(&w);
}

/* A rotation whose answer was lost is asked again by the old key (now
 * revoked): the same answer, nothing written; anything else it asks is
 * refused (docs/api.md, "Terminal lifecycle"). */
static void test_terminal_rotation_retry_answers_it_again(void)
{
    world                       w;
    offpay_keypair              k1, k2, k3;
    uint8_t                     b1[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    uint8_t                     b2[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t                      l1 = 0, l2 = 0;
    offpay_terminal_cred        tc, n1, n2;
    offpay_ledger_terminal_info info;
    uint64_t                    m, acct;
    int                         replayed = -1;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_keypair_generate(&k1));
    REQUIRE_OK(offpay_keypair_generate(&k2));
    REQUIRE_OK(offpay_keypair_generate(&k3));
    REQUIRE_OK(offpay_ledger_merchant_add(w.l, "Bakery A", EUR, T0, &m, &acct));
    REQUIRE_OK(offpay_ledger_terminal_add(w.l, m, k1.pk, T0 + 30 * DAY, T0, b1,
                                          &l1, &tc));
    REQUIRE_OK(offpay_ledger_terminal_rotate(w.l, tc.terminal_id, k2.pk,
                                             T0 + 10 * DAY, T0 + 1, b1, &l1,
                                             &n1, &replayed));
    CHECK(replayed == 0);
    /* asked again later, with another term: the first answer, byte for
     * byte, and no new terminal */
    REQUIRE_OK(offpay_ledger_terminal_rotate(w.l, tc.terminal_id, k2.pk,
                                             T0 + 20 * DAY, T0 + 60, b2, &l2,
                                             &n2, &replayed));
    CHECK(replayed == 1);
    CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
    CHECK(n2.terminal_id == n1.terminal_id && n2.expires == T0 + 10 * DAY);
    CHECK(n2.merchant_id == m && strcmp(n2.name, "Bakery A") == 0);
    REQUIRE_OK(offpay_ledger_terminal(w.l, tc.terminal_id, NULL, &info));
    CHECK(info.revoked && info.revoked_at == T0 + 1);
    REQUIRE_OK(offpay_ledger_terminal(w.l, 0, k2.pk, &info));
    CHECK(!info.revoked && info.terminal_id == n1.terminal_id);
    CHECK_ERR(offpay_ledger_terminal(w.l, n1.terminal_id + 1, NULL, &info),
              OFFPAY_ENOTFOUND);
    /* another new key from the rotated terminal: refused, not registered */
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, tc.terminal_id, k3.pk,
                                            T0 + DAY, T0 + 61, b2, &l2, &n2,
                                            &replayed),
              OFFPAY_ETERMINAL_REVOKED);
    CHECK(replayed == 0);
    CHECK_ERR(offpay_ledger_terminal(w.l, 0, k3.pk, &info), OFFPAY_ENOTFOUND);
    /* a rotated terminal cannot decommission itself */
    CHECK_ERR(offpay_ledger_terminal_decommission(w.l, tc.terminal_id, T0 + 62,
                                                  NULL, NULL),
              OFFPAY_ETERMINAL_REVOKED);
    /* once the new terminal is revoked, the old rotation is not answered */
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, n1.terminal_id, T0 + 70));
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, tc.terminal_id, k2.pk,
                                            T0 + DAY, T0 + 71, b2, &l2, &n2,
                                            &replayed),
              OFFPAY_ETERMINAL_REVOKED);
    CHECK(audit_ok(&w));
    offpay_keypair_wipe(&k1);
    offpay_keypair_wipe(&k2);
    offpay_keypair_wipe(&k3);
    drop_world(&w);
}

/* A decommission asked again answers with the first revocation's time;
 * a terminal revoked by the operator or by a rotation is refused. */
static void test_terminal_decommission_retry_answers_it_again(void)
{
    world                       w;
    offpay_keypair              k1, k2, k3;
    uint8_t                     b[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t                      len = 0;
    offpay_terminal_cred        t1, t2, t3;
    offpay_ledger_terminal_info info;
    uint64_t                    m, acct;
    uint32_t                    at = 0;
    int                         replayed = -1;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_keypair_generate(&k1));
    REQUIRE_OK(offpay_keypair_generate(&k2));
    REQUIRE_OK(offpay_keypair_generate(&k3));
    REQUIRE_OK(offpay_ledger_merchant_add(w.l, "Bakery A", EUR, T0, &m, &acct));
    REQUIRE_OK(
        offpay_ledger_terminal_add(w.l, m, k1.pk, T0 + DAY, T0, b, &len, &t1));
    REQUIRE_OK(
        offpay_ledger_terminal_add(w.l, m, k2.pk, T0 + DAY, T0, b, &len, &t2));
    REQUIRE_OK(offpay_ledger_terminal_decommission(w.l, t1.terminal_id, T0 + 5,
                                                   &at, &replayed));
    CHECK(at == T0 + 5 && replayed == 0);
    REQUIRE_OK(offpay_ledger_terminal_decommission(w.l, t1.terminal_id, T0 + 50,
                                                   &at, &replayed));
    CHECK(at == T0 + 5 && replayed == 1);
    REQUIRE_OK(offpay_ledger_terminal(w.l, t1.terminal_id, NULL, &info));
    CHECK(info.revoked && info.revoked_at == T0 + 5);
    /* a decommissioned terminal cannot rotate */
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, t1.terminal_id, k3.pk,
                                            T0 + DAY, T0 + 51, b, &len, &t3,
                                            NULL),
              OFFPAY_ETERMINAL_REVOKED);
    /* revoked by the operator: its decommission is refused */
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, t2.terminal_id, T0 + 6));
    CHECK_ERR(offpay_ledger_terminal_decommission(w.l, t2.terminal_id, T0 + 7,
                                                  &at, &replayed),
              OFFPAY_ETERMINAL_REVOKED);
    CHECK(at == 0 && replayed == 0);
    CHECK_ERR(
        offpay_ledger_terminal_decommission(w.l, 999999, T0 + 7, NULL, NULL),
        OFFPAY_ENOTFOUND);
    CHECK(audit_ok(&w));
    offpay_keypair_wipe(&k1);
    offpay_keypair_wipe(&k2);
    offpay_keypair_wipe(&k3);
    drop_world(&w);
}

/* ---- the wallet state's "online" entry ---------------------------------- */

static void test_wallet_online_state_freezes_and_releases(void)
{
    world                    w;
    offpay_wallet           *wal = NULL, *back = NULL;
    offpay_wallet_cred       wc;
    offpay_wallet_balance    b;
    uint8_t                  bundle[512], cred[OFFPAY_WALLET_CRED_BYTES];
    size_t                   blen = 0, clen = 0, tlen = 0;
    char                     path[600], *text = NULL, *code = NULL;
    offpay__wallet_sync_cred v;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_bundle_encode(&w.bundle, bundle, sizeof bundle, &blen));
    snprintf(path, sizeof path, "%s/w-online", offpay_test_tmpdir());
    REQUIRE_OK(offpay_wallet_create(path, "wallet pass", w.root.pk, bundle,
                                    blen, &wal));
    memset(&wc, 0, sizeof wc);
    wc.kid = 1;
    wc.serial = 7;
    offpay_wallet_public_key(wal, wc.wallet_pk);
    wc.limit = 10000;
    wc.currency = EUR;
    wc.valid_from = T0 - 10;
    wc.expires = T0 + DAY;
    wc.flags = OFFPAY_CRED_ALLOW_UNBOUND;
    REQUIRE_OK(offpay_issuer_sign_wallet_cred(w.issuer.sk, &wc));
    REQUIRE_OK(offpay_wallet_cred_encode(&wc, cred, sizeof cred, &clen));
    /* restored: frozen, no code */
    REQUIRE_OK(offpay__wallet_add_cred_online(wal, cred, clen, T0, 1, 1));
    REQUIRE_OK(offpay_wallet_get_balance(wal, 0, T0, &b));
    CHECK(b.frozen && !b.synced && b.available == 10000);
    CHECK_ERR(offpay_wallet_pay(wal, 1000, EUR, T0, &code, NULL),
              OFFPAY_ESYNC_REQUIRED);
    /* the sync: the server saw counter 4 and holds 9000 of the escrow */
    memset(&v, 0, sizeof v);
    v.serial = 7;
    v.floor = 105;
    v.unfreeze = 1;
    v.synced = 1;
    v.remaining = 9000;
    REQUIRE_OK(offpay__wallet_sync_apply(wal, &v, 1));
    REQUIRE_OK(offpay_wallet_get_balance(wal, 0, T0, &b));
    CHECK(!b.frozen && b.synced && b.escrow == 9000 && b.available == 9000);
    CHECK(b.next_counter == 105);
    REQUIRE_OK(offpay_wallet_pay(wal, 1000, EUR, T0, &code, NULL));
    free(code);
    REQUIRE_OK(offpay_wallet_get_balance(wal, 0, T0, &b));
    CHECK(b.available == 8000 && b.next_counter == 106);
    /* the state round-trips, with "online", and a bad entry is refused */
    REQUIRE_OK(offpay__wallet_state_dump(wal, &text, &tlen));
    CHECK(strstr(text, "\"online\"") != NULL);
    REQUIRE_OK(offpay__wallet_state_load((const uint8_t *)text, tlen, &back));
    REQUIRE_OK(offpay_wallet_get_balance(back, 0, T0, &b));
    CHECK(b.synced && b.escrow == 9000 && b.next_counter >= 105);
    offpay_wallet_close(back);
    back = NULL;
    {
        char *p = strstr(text, "\"synced\":1");

        REQUIRE(p != NULL);
        p[9] = '7'; /* "synced":7 */
        CHECK_ERR(offpay__wallet_state_load((const uint8_t *)text, tlen, &back),
                  OFFPAY_ECORRUPT);
        CHECK(back == NULL);
    }
    offpay__json_free(text);
    /* revoked at a sync: no code any more */
    v.floor = 0;
    v.unfreeze = 0;
    v.revoked = 1;
    REQUIRE_OK(offpay__wallet_sync_apply(wal, &v, 1));
    REQUIRE_OK(offpay_wallet_get_balance(wal, 0, T0, &b));
    CHECK(b.revoked);
    CHECK_ERR(offpay_wallet_pay(wal, 1000, EUR, T0, &code, NULL),
              OFFPAY_EREVOKED);
    offpay_wallet_close(wal);
    drop_world(&w);
}

/* A status reply whose escrow is outside [0, limit] is refused whole: the
 * wallet neither authorizes beyond its credential nor saves a figure its
 * file cannot be read back with (found by review). */
static void test_sync_refuses_an_escrow_beyond_the_limit(void)
{
    world                    w;
    offpay_wallet           *wal = NULL;
    offpay_wallet_cred       wc;
    offpay_wallet_balance    b;
    uint8_t                  bundle[512], cred[OFFPAY_WALLET_CRED_BYTES];
    size_t                   blen = 0, clen = 0;
    char                     path[600], *code = NULL;
    offpay__wallet_sync_cred v;
    int64_t                  total = 0;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_bundle_encode(&w.bundle, bundle, sizeof bundle, &blen));
    snprintf(path, sizeof path, "%s/w-bad-reply", offpay_test_tmpdir());
    REQUIRE_OK(offpay_wallet_create(path, "wallet pass", w.root.pk, bundle,
                                    blen, &wal));
    memset(&wc, 0, sizeof wc);
    wc.kid = 1;
    wc.serial = 7;
    offpay_wallet_public_key(wal, wc.wallet_pk);
    wc.limit = 10000;
    wc.currency = EUR;
    wc.valid_from = T0 - 10;
    wc.expires = T0 + DAY;
    wc.flags = OFFPAY_CRED_ALLOW_UNBOUND;
    REQUIRE_OK(offpay_issuer_sign_wallet_cred(w.issuer.sk, &wc));
    REQUIRE_OK(offpay_wallet_cred_encode(&wc, cred, sizeof cred, &clen));
    REQUIRE_OK(offpay__wallet_add_cred_online(wal, cred, clen, T0, 0, 1));
    memset(&v, 0, sizeof v);
    v.serial = 7;
    v.synced = 1;
    v.remaining = 50000; /* on a 10000 limit */
    CHECK_ERR(offpay__wallet_sync_apply(wal, &v, 1), OFFPAY_ERANGE);
    v.remaining = -1;
    CHECK_ERR(offpay__wallet_sync_apply(wal, &v, 1), OFFPAY_ERANGE);
    v.remaining = 8000;
    v.outstanding = 10001;
    CHECK_ERR(offpay__wallet_sync_apply(wal, &v, 1), OFFPAY_ERANGE);
    REQUIRE_OK(offpay_wallet_get_balance(wal, 0, T0, &b));
    CHECK(b.available == 10000);
    for (int i = 0; i < 10; i++) {
        if (offpay_wallet_pay(wal, 10000, EUR, T0, &code, NULL) != OFFPAY_OK)
            break;
        free(code);
        code = NULL;
        total += 10000;
    }
    CHECK(total == 10000); /* one code of the whole limit, no more */
    offpay_wallet_close(wal);
    wal = NULL;
    CHECK_ERR(offpay_wallet_open(path, "wallet pass", &wal), OFFPAY_OK);
    offpay_wallet_close(wal);
    drop_world(&w);
}

/* ---- a lost wallet's revocation against an allowance (PostgreSQL) ----- */

/* ---- offpayd's ledger handles (src/server/pool.c) --------------------- */

struct pool_wait {
    srv_pool      *p;
    long           ms;
    offpay_ledger *got;
    int            done;
};

static void *pool_wait_thread(void *arg)
{
    struct pool_wait *w = arg;

    w->got = srv_pool_get_within(w->p, w->ms);
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Until the pool counts n waiting (at most 10 s): 0, or -1. */
static int pool_waiting_is(srv_pool *p, size_t n)
{
    for (int i = 0; i < 2000; i++) {
        if (srv_pool_waiting(p) == n)
            return 0;
        usleep(5000);
    }
    return -1;
}

static int pool_done(struct pool_wait *w)
{
    return __atomic_load_n(&w->done, __ATOMIC_SEQ_CST);
}

/* Requests waiting for a ledger handle are served in the order they
 * came: a handle put back goes to the oldest waiter, never to a request
 * that asks right then (before, a signal woke some waiter, and whoever
 * took the lock first had the handle: under a long rush an early request
 * could wait out its --lock-wait while later ones were served). A waiter
 * that gives up leaves the queue, and the handle then stays free. */
static void test_pool_serves_waiters_in_order(void)
{
    world            w;
    srv_pool        *p = NULL;
    offpay_ledger   *h;
    struct pool_wait a = {0}, b = {0}, c = {0};
    pthread_t        ta, tb, tc;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(
        srv_pool_open(w.path, 1, NULL, &w.bundle, 1, 2, w.issuer.sk, NULL, &p));
    h = srv_pool_get(p);
    REQUIRE(h != NULL);
    CHECK(srv_pool_try_get(p) == NULL);
    a.p = b.p = c.p = p;
    a.ms = b.ms = 20000;
    REQUIRE(pthread_create(&ta, NULL, pool_wait_thread, &a) == 0);
    REQUIRE(pool_waiting_is(p, 1) == 0);
    REQUIRE(pthread_create(&tb, NULL, pool_wait_thread, &b) == 0);
    REQUIRE(pool_waiting_is(p, 2) == 0);
    /* put back: handed to a, not free for the one asking now */
    srv_pool_put(p, h);
    CHECK(srv_pool_try_get(p) == NULL);
    pthread_join(ta, NULL);
    CHECK(a.got == h);
    CHECK(!pool_done(&b));
    CHECK(srv_pool_waiting(p) == 1);
    srv_pool_put(p, a.got);
    CHECK(srv_pool_try_get(p) == NULL);
    pthread_join(tb, NULL);
    CHECK(b.got == h);
    CHECK(srv_pool_waiting(p) == 0);
    /* one that gives up leaves the queue; the handle put back is free */
    c.ms = 200;
    REQUIRE(pthread_create(&tc, NULL, pool_wait_thread, &c) == 0);
    pthread_join(tc, NULL);
    CHECK(c.got == NULL);
    CHECK(srv_pool_waiting(p) == 0);
    srv_pool_put(p, b.got);
    h = srv_pool_try_get(p);
    CHECK(h != NULL);
    if (h != NULL)
        srv_pool_put(p, h);
    srv_pool_close(p);
    drop_world(&w);
}

struct allowance_run {
    world     *w;
    offpay_err rc;
    int        done;
};

static void *allowance_thread(void *arg)
{
    struct allowance_run *a = arg;
    uint8_t               bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred    wc;

    a->rc = offpay_ledger_allowance(a->w->l, a->w->wallet.pk, 5000,
                                    OFFPAY_CRED_ALLOW_UNBOUND, T0 + DAY, T0 + 2,
                                    bytes, &wc);
    __atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* On PostgreSQL (READ COMMITTED) a revocation in flight — the key's row
 * updated, not committed yet — must hold an allowance back until it
 * commits, and the allowance then finds the key revoked: otherwise the
 * revocation's list of credentials misses the new one (found by review:
 * a thief asking for allowances while the owner reports the phone lost).
 * SQLite has one writer, so the race cannot happen there. */
static void test_allowance_waits_for_a_revocation_in_flight(void)
{
    const char          *pg = getenv("OFFPAY_TEST_PG");
    char                 sql[160], path[512];
    char                 code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint64_t             acct = 0;
    uint16_t             cur = 0;
    world                w;
    PGconn              *x = NULL;
    PGresult            *r;
    pthread_t            th;
    struct allowance_run a = {&w, OFFPAY_OK, 0};
    struct timespec      pause = {0, 300000000};
    int                  waited;

    if (pg == NULL || *pg == '\0')
        return; /* unit.test_online_pg runs it */
    REQUIRE(pg_database(pg, "online_race", path, sizeof path) == 0);
    REQUIRE_OK(make_world_at(&w, path));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, "race", T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, &cur));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 100000, "top-up", T0, NULL));

    /* the revocation's first step, held open on another connection */
    x = PQconnectdb(path);
    r = PQexec(x, "BEGIN");
    PQclear(r);
    snprintf(sql, sizeof sql,
             "UPDATE wallet_keys SET revoked_at = %u WHERE account = %llu",
             T0 + 1, (unsigned long long)acct);
    r = PQexec(x, sql);
    REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    REQUIRE(pthread_create(&th, NULL, allowance_thread, &a) == 0);
    nanosleep(&pause, NULL);
    waited = !__atomic_load_n(&a.done, __ATOMIC_SEQ_CST);
    r = PQexec(x, "COMMIT");
    PQclear(r);
    PQfinish(x);
    pthread_join(th, NULL);
    CHECK(waited); /* the allowance waited for the revocation */
    CHECK_ERR(a.rc, OFFPAY_EREVOKED);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

struct enroll_run {
    const char    *path;
    const uint8_t *pk;
    const char    *code;
    offpay_err     rc;
    uint64_t       account;
};

static void *enroll_thread(void *arg)
{
    struct enroll_run *e = arg;
    offpay_ledger     *l = NULL;

    e->rc = offpay_ledger_open(e->path, NULL, &l);
    if (e->rc == OFFPAY_OK)
        e->rc = offpay_ledger_enroll(l, e->pk, e->code, T0 + 1, &e->account,
                                     NULL);
    offpay_ledger_close(l);
    return NULL;
}

/* e1 and e2 enrolling at once on the PostgreSQL ledger at path: the
 * enrollment codes' rows are held by another connection until both are
 * in flight, then let go. 0, or -1 when the set-up failed. */
static int enroll_at_once(const char *path, struct enroll_run *e1,
                          struct enroll_run *e2)
{
    struct timespec pause = {0, 300000000};
    PGconn         *x = PQconnectdb(path);
    PGresult       *r;
    pthread_t       t1, t2;
    int             ok;

    r = PQexec(x, "BEGIN");
    PQclear(r);
    r = PQexec(x, "SELECT 1 FROM enrollments FOR UPDATE");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (ok && pthread_create(&t1, NULL, enroll_thread, e1) != 0)
        ok = 0;
    else if (ok && pthread_create(&t2, NULL, enroll_thread, e2) != 0) {
        pthread_join(t1, NULL);
        ok = 0;
    }
    if (ok)
        nanosleep(&pause, NULL);
    r = PQexec(x, "COMMIT");
    PQclear(r);
    PQfinish(x);
    if (ok) {
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
    }
    return ok ? 0 : -1;
}

/* On PostgreSQL a wallet's resend of its enrollment that overlaps the
 * first attempt (the answer was slow, not lost) must get the same account,
 * not ENROLL_CODE_USED: the resend waits on the first's use of the code,
 * finds it used when the first commits, and reruns into the replay (found
 * by review). The code's row is held by another connection so that both
 * attempts are in flight at once. */
static void test_enrollment_resent_while_the_first_runs(void)
{
    const char       *pg = getenv("OFFPAY_TEST_PG");
    char              path[512];
    char              code[OFFPAY_ENROLL_CODE_CHARS + 1];
    world                     w;
    struct enroll_run         e1, e2;
    offpay_ledger_wallet_info info;

    if (pg == NULL || *pg == '\0')
        return; /* unit.test_online_pg runs it */
    REQUIRE(pg_database(pg, "enroll_race", path, sizeof path) == 0);
    REQUIRE_OK(make_world_at(&w, path));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, "race", T0 + DAY, T0, code));
    e1 = (struct enroll_run){path, w.wallet.pk, code, OFFPAY_EINVAL, 0};
    e2 = e1;
    REQUIRE(enroll_at_once(path, &e1, &e2) == 0);
    CHECK_ERR(e1.rc, OFFPAY_OK);
    CHECK_ERR(e2.rc, OFFPAY_OK);
    CHECK(e1.account != 0 && e1.account == e2.account);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &info));
    CHECK(info.account == e1.account);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* On PostgreSQL two codes for one lost wallet's account, used at once by
 * two new wallets, enroll one of them: the other finds the account held
 * (the index of live keys: EEXISTS) or its code made void (EEXPIRED). */
static void test_two_new_wallets_for_one_lost_account(void)
{
    const char               *pg = getenv("OFFPAY_TEST_PG");
    char                      path[512];
    char                      code[OFFPAY_ENROLL_CODE_CHARS + 1];
    char                      c1[OFFPAY_ENROLL_CODE_CHARS + 1];
    char                      c2[OFFPAY_ENROLL_CODE_CHARS + 1];
    world                     w;
    struct enroll_run         e1, e2;
    uint64_t                  acct = 0;
    offpay_ledger_wallet_info info;
    offpay_keypair            third;

    if (pg == NULL || *pg == '\0')
        return; /* unit.test_online_pg runs it */
    REQUIRE(pg_database(pg, "reenroll_race", path, sizeof path) == 0);
    REQUIRE_OK(make_world_at(&w, path));
    REQUIRE_OK(offpay_keypair_generate(&third));
    REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, "r", T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &acct, NULL));
    REQUIRE_OK(
        offpay_ledger_wallet_revoke(w.l, w.wallet.pk, 0, "lost", T0, NULL));
    REQUIRE_OK(offpay_ledger_enrollment_for(w.l, acct, T0 + DAY, T0, c1, NULL));
    REQUIRE_OK(offpay_ledger_enrollment_for(w.l, acct, T0 + DAY, T0, c2, NULL));
    e1 = (struct enroll_run){path, w.other.pk, c1, OFFPAY_EINVAL, 0};
    e2 = (struct enroll_run){path, third.pk, c2, OFFPAY_EINVAL, 0};
    REQUIRE(enroll_at_once(path, &e1, &e2) == 0);
    /* the other finds the account held, or (its code made void by the
     * first, whose commit it waited for) its code expired */
    CHECK((e1.rc == OFFPAY_OK &&
           (e2.rc == OFFPAY_EEXISTS || e2.rc == OFFPAY_EEXPIRED)) ||
          ((e1.rc == OFFPAY_EEXISTS || e1.rc == OFFPAY_EEXPIRED) &&
           e2.rc == OFFPAY_OK));
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, NULL, acct, &info));
    CHECK(!info.revoked &&
          memcmp(info.pk, e1.rc == OFFPAY_OK ? w.other.pk : third.pk,
                 OFFPAY_PK_BYTES) == 0);
    CHECK(audit_ok(&w));
    offpay_keypair_wipe(&third);
    drop_world(&w);
}

struct rotate_run {
    world         *w;
    uint32_t       old_id;
    const uint8_t *pk;
    offpay_err     rc;
    int            replayed;
    int            done;
};

static void *rotate_thread(void *arg)
{
    struct rotate_run   *a = arg;
    uint8_t              bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               len = 0;
    offpay_terminal_cred tc;

    a->rc =
        offpay_ledger_terminal_rotate(a->w->l, a->old_id, a->pk, T0 + DAY,
                                      T0 + 2, bytes, &len, &tc, &a->replayed);
    __atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* On PostgreSQL (READ COMMITTED) a retry that arrives while the first
 * rotation is still in flight — the old terminal's row updated, not
 * committed yet — must wait for it and then be answered as its replay:
 * reading the row without its lock, it would see the old terminal still
 * standing, try to register the new key again and get EEXISTS. The
 * first rotation is played here by hand on another connection. */
static void test_rotation_retry_waits_for_the_rotation_in_flight(void)
{
    const char          *pg = getenv("OFFPAY_TEST_PG");
    char                 sql[200], path[512];
    uint8_t              b[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               len = 0;
    offpay_terminal_cred t1, t2;
    offpay_keypair       k1, k2;
    uint64_t             m, acct;
    world                w;
    PGconn              *x = NULL;
    PGresult            *r;
    pthread_t            th;
    struct rotate_run    a;
    struct timespec      pause = {0, 300000000};
    int                  waited;

    if (pg == NULL || *pg == '\0')
        return; /* unit.test_online_pg runs it */
    REQUIRE(pg_database(pg, "online_rotate", path, sizeof path) == 0);
    REQUIRE_OK(make_world_at(&w, path));
    REQUIRE_OK(offpay_keypair_generate(&k1));
    REQUIRE_OK(offpay_keypair_generate(&k2));
    REQUIRE_OK(offpay_ledger_merchant_add(w.l, "Bakery A", EUR, T0, &m, &acct));
    REQUIRE_OK(
        offpay_ledger_terminal_add(w.l, m, k1.pk, T0 + DAY, T0, b, &len, &t1));
    /* the first rotation: the new terminal registered, the old one's row
     * revoked as rotated to it, the transaction still open */
    x = PQconnectdb(path);
    r = PQexec(x, "BEGIN");
    PQclear(r);
    REQUIRE_OK(
        offpay_ledger_terminal_add(w.l, m, k2.pk, T0 + DAY, T0, b, &len, &t2));
    snprintf(sql, sizeof sql,
             "UPDATE terminals SET revoked_at = %u, retired = 2, rotated_to ="
             " %u WHERE id = %u",
             T0 + 1, t2.terminal_id, t1.terminal_id);
    r = PQexec(x, sql);
    REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    memset(&a, 0, sizeof a);
    a.w = &w;
    a.old_id = t1.terminal_id;
    a.pk = k2.pk;
    a.replayed = -1;
    REQUIRE(pthread_create(&th, NULL, rotate_thread, &a) == 0);
    nanosleep(&pause, NULL);
    waited = !__atomic_load_n(&a.done, __ATOMIC_SEQ_CST);
    r = PQexec(x, "COMMIT");
    PQclear(r);
    PQfinish(x);
    pthread_join(th, NULL);
    CHECK(waited); /* the retry waited for the rotation in flight */
    CHECK_ERR(a.rc, OFFPAY_OK);
    CHECK(a.replayed == 1);
    CHECK(audit_ok(&w));
    offpay_keypair_wipe(&k1);
    offpay_keypair_wipe(&k2);
    drop_world(&w);
}

static const offpay_test TESTS[] = {
    {"sync_refuses_an_escrow_beyond_the_limit",
     test_sync_refuses_an_escrow_beyond_the_limit},
    {"allowance_waits_for_a_revocation_in_flight",
     test_allowance_waits_for_a_revocation_in_flight},
    {"rotation_retry_waits_for_the_rotation_in_flight",
     test_rotation_retry_waits_for_the_rotation_in_flight},
    {"enrollment_body_is_strict", test_enrollment_body_is_strict},
    {"answers_are_signed_by_the_daily_key",
     test_answers_are_signed_by_the_daily_key},
    {"enroll_body_takes_only_a_code_of_its_form",
     test_enroll_body_takes_only_a_code_of_its_form},
    {"allowance_rotate_and_reason_bodies",
     test_allowance_rotate_and_reason_bodies},
    {"wallet_creds_page_body", test_wallet_creds_page_body},
    {"two_new_wallets_for_one_lost_account",
     test_two_new_wallets_for_one_lost_account},
    {"lost_wallets_account_enrolls_a_new_wallet",
     test_lost_wallets_account_enrolls_a_new_wallet},
    {"enrollment_code_is_single_use_and_expires",
     test_enrollment_code_is_single_use_and_expires},
    {"allowance_once_per_request_id", test_allowance_once_per_request_id},
    {"enrollment_resent_while_the_first_runs",
     test_enrollment_resent_while_the_first_runs},
    {"allowance_moves_from_own_account_or_nothing",
     test_allowance_moves_from_own_account_or_nothing},
    {"lost_wallet_revokes_what_can_still_be_paid",
     test_lost_wallet_revokes_what_can_still_be_paid},
    {"terminal_rotation_is_one_step", test_terminal_rotation_is_one_step},
    {"terminal_rotation_retry_answers_it_again",
     test_terminal_rotation_retry_answers_it_again},
    {"terminal_decommission_retry_answers_it_again",
     test_terminal_decommission_retry_answers_it_again},
    {"wallet_online_state_freezes_and_releases",
     test_wallet_online_state_freezes_and_releases},
    {"restore_floor_is_handed_out_once", test_restore_floor_is_handed_out_once},
    {"resend_after_a_loss_replays", test_resend_after_a_loss_replays},
    {"pool_serves_waiters_in_order", test_pool_serves_waiters_in_order},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
