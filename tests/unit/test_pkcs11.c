/*
 * test_pkcs11.c — Ed25519 keys in a PKCS#11 token (src/pkcs11/), against
 * Debian's SoftHSM2 with a token created in this test's temporary
 * directory: the strict URI parser, key generation, finding, signing
 * (verified by libsodium), wrong PIN, missing objects, and the signer.
 */
#include <dlfcn.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "harness.h"
#include "offpay/issuer.h"
#include "offpay/terminal.h"
#include "offpay/verify.h"
#include "offpay/pkcs11.h"

#define PIN    "4711-offpay"
#define SO_PIN "so-secret-1"

static int token_ready;

/* A SoftHSM2 configuration and token "offpay" in the temp directory. */
static int make_token(void)
{
    char        conf[1024], cmd[2048], dir[1024];
    const char *tmp = offpay_test_tmpdir();
    FILE       *f;

    if (token_ready)
        return 1;
    if (access(OFFPAY_PKCS11_DEFAULT_MODULE, R_OK) != 0) {
        fprintf(stderr, "softhsm2 missing: run scripts/setup.sh\n");
        return 0;
    }
    snprintf(dir, sizeof dir, "%s/tokens", tmp);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0)
        return 0;
    f = fopen(conf, "w");
    if (f == NULL)
        return 0;
    fprintf(f,
            "directories.tokendir = %s\nobjectstore.backend = file\n"
            "log.level = ERROR\n",
            dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    unsetenv(OFFPAY_PKCS11_PIN_ENV);
    unsetenv(OFFPAY_PKCS11_MODULE_ENV);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label offpay --pin %s "
             "--so-pin %s >/dev/null && softhsm2-util --init-token --free "
             "--label other --pin %s --so-pin %s >/dev/null",
             PIN, SO_PIN, PIN, SO_PIN);
    if (system(cmd) != 0)
        return 0;
    token_ready = 1;
    return 1;
}

static void test_uri_parse_accepts_rfc7512(void)
{
    offpay_pkcs11_uri u;

    REQUIRE_OK(
        offpay_pkcs11_uri_parse("pkcs11:token=offpay;object=issuer-kid-1", &u));
    CHECK(strcmp(u.token, "offpay") == 0);
    CHECK(strcmp(u.object, "issuer-kid-1") == 0);
    CHECK(u.id_len == 0 && u.pin_value[0] == '\0');
    REQUIRE_OK(offpay_pkcs11_uri_parse(
        "pkcs11:object=my%20key;id=%01%ff;type=private;token=a%3bb"
        "?pin-source=file:/run/pin&module-path=/usr/lib/x.so",
        &u));
    CHECK(strcmp(u.object, "my key") == 0);
    CHECK(u.id_len == 2 && u.id[0] == 1 && u.id[1] == 0xff);
    CHECK(strcmp(u.token, "a;b") == 0);
    CHECK(strcmp(u.type, "private") == 0);
    CHECK(strcmp(u.pin_source, "file:/run/pin") == 0);
    CHECK(strcmp(u.module_path, "/usr/lib/x.so") == 0);
    REQUIRE_OK(offpay_pkcs11_uri_parse("pkcs11:id=%00?pin-value=1234", &u));
    CHECK(strcmp(u.pin_value, "1234") == 0);
    CHECK(!offpay_pkcs11_uri_storable("pkcs11:id=%00?pin-value=1234"));
    CHECK(offpay_pkcs11_uri_storable("pkcs11:id=%00?pin-source=/p"));
    /* The PIN is wiped with the URI. */
    offpay_pkcs11_uri_wipe(&u);
    CHECK(sodium_is_zero((const unsigned char *)&u, sizeof u));
}

static void test_uri_parse_refuses_malformed(void)
{
    static const char *const bad[] = {
        "",
        "pkcs11:",
        "pkcs11",
        "PKCS11:object=a",
        "file:object=a",
        "pkcs11:token=offpay",        /* names no key */
        "pkcs11:object=",             /* empty value */
        "pkcs11:object",              /* no '=' */
        "pkcs11:=a",                  /* no name */
        "pkcs11:object=a;",           /* trailing separator */
        "pkcs11:object=a;object=b",   /* twice */
        "pkcs11:object=a;colour=red", /* unknown */
        "pkcs11:object=a b",          /* space unencoded */
        "pkcs11:object=a/b",          /* '/' only in the query */
        "pkcs11:object=a%2",          /* short escape */
        "pkcs11:object=a%zz",         /* bad hex */
        "pkcs11:object=a%00",         /* NUL in text */
        "pkcs11:object=a%0a",         /* control character */
        "pkcs11:object=a;type=secret-key",
        "pkcs11:object=a?pin-value=1&pin-source=/p",
        "pkcs11:object=a?pin-source=relative",
        "pkcs11:object=a?module-path=lib.so",
        "pkcs11:object=a?token=x", /* a path attribute in the query */
        "pkcs11:object=a?pin-value=1&",
        "pkcs11:token=0123456789012345678901234567890123;object=a",
    };
    offpay_pkcs11_uri u;
    char              big[OFFPAY_PKCS11_URI_MAX + 32];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        offpay_err rc = offpay_pkcs11_uri_parse(bad[i], &u);

        if (rc != OFFPAY_EPKCS11_URI)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(rc == OFFPAY_EPKCS11_URI);
        CHECK(sodium_is_zero((const unsigned char *)&u, sizeof u));
    }
    memcpy(big, "pkcs11:object=", 14);
    memset(big + 14, 'a', sizeof big - 15);
    big[sizeof big - 1] = '\0';
    CHECK_ERR(offpay_pkcs11_uri_parse(big, &u), OFFPAY_EPKCS11_URI);
    CHECK_ERR(offpay_pkcs11_uri_parse(NULL, &u), OFFPAY_EINVAL);
}

static void test_generate_find_sign_verify(void)
{
    offpay_pkcs11_key *k = NULL, *k2 = NULL;
    uint8_t            pk[OFFPAY_PK_BYTES], pk2[OFFPAY_PK_BYTES];
    uint8_t            sig[OFFPAY_SIG_BYTES], framed[64];
    const uint8_t      msg[] = "pay 12.50 EUR";
    const char        *uri = "pkcs11:token=offpay;object=unit-key;id=%01"
                             "?pin-value=" PIN;

    REQUIRE(make_token());
    REQUIRE_OK(offpay_pkcs11_generate(NULL, uri, &k));
    offpay_pkcs11_pk(k, pk);
    CHECK(offpay_pk_usable(pk));
    REQUIRE_OK(offpay_pkcs11_sign(k, "offpay-test", msg, sizeof msg, sig));
    /* Pure Ed25519 over domain || 0x00 || msg, as libsodium verifies it. */
    memcpy(framed, "offpay-test", 11);
    framed[11] = 0;
    memcpy(framed + 12, msg, sizeof msg);
    CHECK(crypto_sign_verify_detached(sig, framed, 12 + sizeof msg, pk) == 0);
    CHECK(offpay_verify("offpay-test", msg, sizeof msg, sig, pk,
                        OFFPAY_ECODE_SIG) == OFFPAY_OK);
    sig[5] ^= 1;
    CHECK(offpay_verify("offpay-test", msg, sizeof msg, sig, pk,
                        OFFPAY_ECODE_SIG) == OFFPAY_ECODE_SIG);
    /* Found again by label alone, by id alone, with the PIN from the
     * environment, in a second session of the same process. */
    setenv(OFFPAY_PKCS11_PIN_ENV, PIN, 1);
    REQUIRE_OK(
        offpay_pkcs11_open(NULL, "pkcs11:object=unit-key;token=offpay", &k2));
    offpay_pkcs11_pk(k2, pk2);
    CHECK(memcmp(pk, pk2, sizeof pk) == 0);
    offpay_pkcs11_close(k2);
    k2 = NULL;
    REQUIRE_OK(offpay_pkcs11_open(NULL, "pkcs11:token=offpay;id=%01", &k2));
    offpay_pkcs11_close(k2);
    k2 = NULL;
    unsetenv(OFFPAY_PKCS11_PIN_ENV);
    /* A second key of that name is refused. */
    CHECK_ERR(offpay_pkcs11_generate(NULL, uri, &k2), OFFPAY_EEXISTS);
    CHECK(k2 == NULL);
    offpay_pkcs11_close(k);
}

/* A private key made by openssl (genpkey's options opts) imported into
 * token "offpay" under label and id (hex), as another tool could put one
 * there (softhsm2-util --import). */
static int import_key(const char *opts, const char *label, const char *id)
{
    char cmd[2048];

    snprintf(cmd, sizeof cmd,
             "cd '%s' && openssl genpkey %s -out imp.pem 2>/dev/null && "
             "softhsm2-util --import imp.pem --token offpay --label %s "
             "--id %s --pin %s >/dev/null; st=$?; rm -f imp.pem; exit $st",
             offpay_test_tmpdir(), opts, label, id, PIN);
    return system(cmd) == 0;
}

/* --generate-key under a label a key of the token carries already, under
 * another id: refused, naming that key (the two would make its URI name
 * several keys). Two keys under one label (another tool's doing) make a
 * URI without id= name several: said so, with both, not "malformed". */
static void test_generate_refuses_a_taken_label(void)
{
    offpay_pkcs11_key *k = NULL;
    const char        *d;

    REQUIRE(make_token());
    REQUIRE_OK(offpay_pkcs11_generate(
        NULL, "pkcs11:token=offpay;object=taken;id=%03?pin-value=" PIN, &k));
    offpay_pkcs11_close(k);
    k = NULL;
    CHECK_ERR(
        offpay_pkcs11_generate(
            NULL, "pkcs11:token=offpay;object=taken;id=%04?pin-value=" PIN, &k),
        OFFPAY_EEXISTS);
    CHECK(k == NULL);
    d = offpay_pkcs11_detail();
    CHECK(strstr(d, "already holds a private key with that label (label "
                    "'taken', id 03, CKK_EC_EDWARDS)") != NULL);
    REQUIRE_OK(offpay_pkcs11_open(
        NULL, "pkcs11:token=offpay;object=taken?pin-value=" PIN, &k));
    offpay_pkcs11_close(k);
    k = NULL;
    REQUIRE(import_key("-algorithm ED25519", "taken", "05"));
    CHECK_ERR(offpay_pkcs11_open(
                  NULL, "pkcs11:token=offpay;object=taken?pin-value=" PIN, &k),
              OFFPAY_EPKCS11_URI);
    CHECK(k == NULL);
    d = offpay_pkcs11_detail();
    CHECK(strstr(d, "several Ed25519 private keys match the URI (2: ") != NULL);
    CHECK(strstr(d, "id 03") != NULL && strstr(d, "id 05") != NULL);
    CHECK(strstr(offpay_strerror(OFFPAY_EPKCS11_URI), "several") != NULL);
    CHECK(strncmp(offpay_strerror(OFFPAY_EPKCS11_URI), "malformed", 9) != 0);
    /* id= names one of them */
    REQUIRE_OK(offpay_pkcs11_open(
        NULL, "pkcs11:token=offpay;object=taken;id=%03?pin-value=" PIN, &k));
    offpay_pkcs11_close(k);
}

/* A key of another type (P-256, CKK_EC) under the label: named as such,
 * not "no key matches" (L2). */
static void test_key_of_another_type_named(void)
{
    offpay_pkcs11_key *k = NULL;

    REQUIRE(make_token());
    REQUIRE(import_key("-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
                       "p256-key", "07"));
    CHECK_ERR(
        offpay_pkcs11_open(
            NULL, "pkcs11:token=offpay;object=p256-key?pin-value=" PIN, &k),
        OFFPAY_EPKCS11_URI);
    CHECK(k == NULL);
    CHECK(strstr(offpay_pkcs11_detail(),
                 "a private key of another type carries its label (label "
                 "'p256-key', id 07, CKK_EC)") != NULL);
    /* generating under it is refused, naming it too */
    CHECK_ERR(
        offpay_pkcs11_generate(
            NULL, "pkcs11:token=offpay;object=p256-key?pin-value=" PIN, &k),
        OFFPAY_EEXISTS);
    CHECK(strstr(offpay_pkcs11_detail(), "CKK_EC)") != NULL);
}

/* Makes an Ed25519 key pair labelled label in token "offpay" through the
 * module itself, extractable and not sensitive, as another tool may make
 * one (offpay never does). 1 on success. The module may be in use by
 * offpay's keys in this process: it is finalized only if initialized
 * here. */
static int make_weak_key(const char *label)
{
    CK_C_GetFunctionList get;
    CK_FUNCTION_LIST_PTR f = NULL;
    CK_SLOT_ID           slots[16], slot = 0;
    CK_ULONG             n = 16;
    CK_TOKEN_INFO        ti;
    CK_SESSION_HANDLE    s = CK_INVALID_HANDLE;
    CK_MECHANISM         mech = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL             yes = CK_TRUE, no = CK_FALSE;
    static const uint8_t oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    CK_ATTRIBUTE         pt[] = {{CKA_TOKEN, &yes, sizeof yes},
                                 {CKA_VERIFY, &yes, sizeof yes},
                                 {CKA_EC_PARAMS, (void *)oid, sizeof oid},
                                 {CKA_LABEL, (void *)label, strlen(label)}};
    CK_ATTRIBUTE         st[] = {{CKA_TOKEN, &yes, sizeof yes},
                                 {CKA_PRIVATE, &yes, sizeof yes},
                                 {CKA_SENSITIVE, &no, sizeof no},
                                 {CKA_EXTRACTABLE, &yes, sizeof yes},
                                 {CKA_SIGN, &yes, sizeof yes},
                                 {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE     pub, priv;
    CK_RV                init, rv;
    int                  found = 0, ok = 0;
    void                *dl = dlopen(OFFPAY_PKCS11_DEFAULT_MODULE, RTLD_NOW);

    if (dl == NULL)
        return 0;
    *(void **)(&get) = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&f) != CKR_OK)
        return 0;
    init = f->C_Initialize(NULL);
    if (init != CKR_OK && init != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return 0;
    if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        goto out;
    for (CK_ULONG i = 0; i < n && !found; i++)
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
            memcmp(ti.label, "offpay ", 7) == 0) {
            slot = slots[i];
            found = 1;
        }
    if (!found || f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                   NULL, NULL, &s) != CKR_OK)
        goto out;
    rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)PIN, strlen(PIN));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
        goto out;
    ok = f->C_GenerateKeyPair(s, &mech, pt, 4, st, 6, &pub, &priv) == CKR_OK;
out:
    if (s != CK_INVALID_HANDLE)
        f->C_CloseSession(s);
    if (init == CKR_OK)
        f->C_Finalize(NULL);
    return ok;
}

/* A key that can leave the token (CKA_EXTRACTABLE, not CKA_SENSITIVE), as
 * another tool may make one, is no key offpay signs with: whoever reads
 * it out signs as the issuer or the terminal. */
static void test_extractable_key_refused(void)
{
    offpay_pkcs11_key *k = NULL;

    REQUIRE(make_token());
    REQUIRE(make_weak_key("weak-key"));
    CHECK_ERR(
        offpay_pkcs11_open(
            NULL, "pkcs11:token=offpay;object=weak-key?pin-value=" PIN, &k),
        OFFPAY_EPKCS11);
    CHECK(k == NULL);
    CHECK(strstr(offpay_pkcs11_detail(), "can leave the token") != NULL);
}

#ifdef OFFPAY_TEST_HOOKS
extern int offpay__pkcs11_keygen_extractable;

/* A pair --generate-key made but then refused (here: made to leave the
 * token, by a test hook) is deleted from the token, not left under the
 * URI's label: the next open finds no key, and a generation under the
 * label is not refused EEXISTS; the refusal's detail is kept. */
static void test_generated_key_refused_is_deleted(void)
{
    offpay_pkcs11_key *k = NULL;
    const char        *uri = "pkcs11:token=offpay;object=weak-made"
                             "?pin-value=" PIN;

    REQUIRE(make_token());
    offpay__pkcs11_keygen_extractable = 1;
    CHECK_ERR(offpay_pkcs11_generate(NULL, uri, &k), OFFPAY_EPKCS11);
    offpay__pkcs11_keygen_extractable = 0;
    CHECK(k == NULL);
    CHECK(strstr(offpay_pkcs11_detail(), "can leave the token") != NULL);
    CHECK_ERR(offpay_pkcs11_open(NULL, uri, &k), OFFPAY_EPKCS11_URI);
    CHECK(strstr(offpay_pkcs11_detail(), "no Ed25519 private key matches") !=
          NULL);
    REQUIRE_OK(offpay_pkcs11_generate(NULL, uri, &k));
    offpay_pkcs11_close(k);
}
#endif

static void test_pin_source_file(void)
{
    offpay_pkcs11_key *k = NULL;
    char               path[1024], uri[1200];
    FILE              *f;

    REQUIRE(make_token());
    snprintf(path, sizeof path, "%s/pin", offpay_test_tmpdir());
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fprintf(f, "%s\n", PIN);
    fclose(f);
    REQUIRE(chmod(path, 0600) == 0);
    snprintf(uri, sizeof uri,
             "pkcs11:token=offpay;object=pin-file-key?pin-source=file:%s",
             path);
    REQUIRE_OK(offpay_pkcs11_generate(NULL, uri, &k));
    offpay_pkcs11_close(k);
    k = NULL;
    snprintf(uri, sizeof uri,
             "pkcs11:token=offpay;object=pin-file-key?pin-source=%s", path);
    REQUIRE_OK(offpay_pkcs11_open(NULL, uri, &k));
    offpay_pkcs11_close(k);
    k = NULL;
    snprintf(uri, sizeof uri,
             "pkcs11:token=offpay;object=pin-file-key?pin-source=%s.none",
             path);
    CHECK_ERR(offpay_pkcs11_open(NULL, uri, &k), OFFPAY_ENOTFOUND);
    CHECK(k == NULL);
    /* an empty file, or a directory, is no PIN: refused before C_Login
     * (a token counts every wrong PIN toward locking itself) */
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fclose(f);
    snprintf(uri, sizeof uri,
             "pkcs11:token=offpay;object=pin-file-key?pin-source=%s", path);
    CHECK_ERR(offpay_pkcs11_open(NULL, uri, &k), OFFPAY_EPKCS11_URI);
    CHECK(strstr(offpay_pkcs11_detail(), "holds no PIN") != NULL);
    snprintf(uri, sizeof uri,
             "pkcs11:token=offpay;object=pin-file-key?pin-source=%s",
             offpay_test_tmpdir());
    CHECK_ERR(offpay_pkcs11_open(NULL, uri, &k), OFFPAY_EACCES);
    CHECK(strstr(offpay_pkcs11_detail(), "C_Login") == NULL);
    CHECK(k == NULL);
}

/* The library's log lines of the test below. */
static char     logged[4096];
static unsigned n_logged;

static void log_sink(void *ctx, const char *line)
{
    (void)ctx;
    n_logged++;
    snprintf(logged, sizeof logged, "%s", line);
}

/* A pin-source file its group or others may read is used, with a warning
 * naming it and its mode, once however often it is read; a 0600 one is
 * quiet. A wrong PIN's detail names the pin-source file it came from. */
static void test_pin_source_mode_and_wrong_pin(void)
{
    offpay_pkcs11_key *k = NULL;
    char               path[1024], uri[1200], want[1200];
    FILE              *f;

    REQUIRE(make_token());
    snprintf(path, sizeof path, "%s/pin-shared", offpay_test_tmpdir());
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fprintf(f, "%s\n", PIN);
    fclose(f);
    REQUIRE(chmod(path, 0640) == 0);
    snprintf(uri, sizeof uri,
             "pkcs11:token=offpay;object=unit-key?pin-source=%s", path);
    offpay_set_log(log_sink, NULL);
    n_logged = 0;
    REQUIRE_OK(offpay_pkcs11_open(NULL, uri, &k));
    offpay_pkcs11_close(k);
    k = NULL;
    REQUIRE_OK(offpay_pkcs11_open(NULL, uri, &k));
    offpay_pkcs11_close(k);
    k = NULL;
    CHECK(n_logged == 1);
    snprintf(want, sizeof want,
             "pin-source %s is readable by its group (mode 0640)", path);
    CHECK(strstr(logged, want) != NULL);
    /* 0600: quiet */
    n_logged = 0;
    snprintf(path, sizeof path, "%s/pin-private", offpay_test_tmpdir());
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fprintf(f, "not-the-pin\n");
    fclose(f);
    REQUIRE(chmod(path, 0600) == 0);
    snprintf(uri, sizeof uri, "pkcs11:token=other;object=no-key?pin-source=%s",
             path);
    CHECK_ERR(offpay_pkcs11_open(NULL, uri, &k), OFFPAY_EPASSPHRASE);
    CHECK(k == NULL);
    CHECK(n_logged == 0);
    offpay_set_log(offpay_log_stderr, NULL);
    snprintf(want, sizeof want,
             "C_Login: CKR_PIN_INCORRECT (0xa0): the PIN of pin-source %s",
             path);
    CHECK(strstr(offpay_pkcs11_detail(), want) != NULL);
}

static void test_wrong_pin_is_refused(void)
{
    offpay_pkcs11_key *k = NULL;

    REQUIRE(make_token());
    CHECK_ERR(offpay_pkcs11_open(NULL,
                                 "pkcs11:token=offpay;object=unit-key"
                                 "?pin-value=not-the-pin",
                                 &k),
              OFFPAY_EPASSPHRASE);
    CHECK(k == NULL);
    CHECK(strstr(offpay_pkcs11_detail(), "CKR_PIN_INCORRECT") != NULL);
    CHECK(strstr(offpay_pkcs11_detail(), "C_Login") != NULL);
    /* The right PIN still works: the wrong one was not counted to a lock. */
    REQUIRE_OK(offpay_pkcs11_open(
        NULL, "pkcs11:token=offpay;object=unit-key?pin-value=" PIN, &k));
    offpay_pkcs11_close(k);
}

static void test_missing_token_or_object(void)
{
    offpay_pkcs11_key *k = NULL;

    REQUIRE(make_token());
    CHECK_ERR(offpay_pkcs11_open(NULL,
                                 "pkcs11:token=offpay;object=no-such-key"
                                 "?pin-value=" PIN,
                                 &k),
              OFFPAY_EPKCS11_URI);
    CHECK(strstr(offpay_pkcs11_detail(), "no Ed25519 private key") != NULL);
    CHECK_ERR(offpay_pkcs11_open(NULL,
                                 "pkcs11:token=nobody;object=unit-key"
                                 "?pin-value=" PIN,
                                 &k),
              OFFPAY_EPKCS11_URI);
    /* Two tokens and no token= : which one is ambiguous. */
    CHECK_ERR(
        offpay_pkcs11_open(NULL, "pkcs11:object=unit-key?pin-value=" PIN, &k),
        OFFPAY_EPKCS11_URI);
    /* Without a PIN the private key is invisible. */
    CHECK_ERR(
        offpay_pkcs11_open(NULL, "pkcs11:token=offpay;object=unit-key", &k),
        OFFPAY_EPKCS11_URI);
    CHECK_ERR(offpay_pkcs11_open("/nonexistent/module.so",
                                 "pkcs11:token=offpay;object=unit-key", &k),
              OFFPAY_ENOTFOUND);
    CHECK(k == NULL);
}

static void test_signer_signs_credentials_either_way(void)
{
    offpay_pkcs11_key *k = NULL;
    offpay_keypair     kp, wallet;
    offpay_signer      by_file, by_token;
    uint8_t            pk[OFFPAY_PK_BYTES], msg[] = "x";
    uint8_t            s1[OFFPAY_SIG_BYTES], s2[OFFPAY_SIG_BYTES];

    REQUIRE(make_token());
    REQUIRE_OK(offpay_keypair_generate(&kp));
    REQUIRE_OK(offpay_keypair_generate(&wallet));
    REQUIRE_OK(offpay_pkcs11_open(
        NULL, "pkcs11:token=offpay;object=unit-key?pin-value=" PIN, &k));
    offpay_pkcs11_pk(k, pk);
    by_file = (offpay_signer){kp.sk, NULL};
    by_token = (offpay_signer){NULL, k};
    REQUIRE_OK(offpay_signer_sign(&by_file, "d", msg, 1, s1));
    REQUIRE_OK(offpay_signer_sign(&by_token, "d", msg, 1, s2));
    CHECK(offpay_verify("d", msg, 1, s1, kp.pk, OFFPAY_ECODE_SIG) == OFFPAY_OK);
    CHECK(offpay_verify("d", msg, 1, s2, pk, OFFPAY_ECODE_SIG) == OFFPAY_OK);
    /* Ed25519 is deterministic: the token signs the same bytes the same. */
    REQUIRE_OK(offpay_signer_sign(&by_token, "d", msg, 1, s1));
    CHECK(memcmp(s1, s2, sizeof s1) == 0);
    offpay_keypair_wipe(&kp);
    offpay_keypair_wipe(&wallet);
    offpay_pkcs11_close(k);
}

/* The issuer's daily key in the token: issuer.sealed keeps its URI and
 * public key across a reopen, and what it signs verifies under the
 * bundle exactly as a sealed key's signatures do. */
static void test_issuer_key_in_token_signs_verifiable_credentials(void)
{
    offpay_issuer       *is = NULL;
    offpay_trust_bundle  b;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    offpay_keypair       w;
    uint8_t              root[OFFPAY_PK_BYTES], *bundle = NULL, *rl = NULL;
    char                 dir[1024], uri[OFFPAY_PKCS11_URI_MAX + 1];
    size_t               len = 0, rl_len = 0;
    uint16_t             kid = 0;
    uint32_t             now = 1800000000u;

    REQUIRE(make_token());
    setenv("OFFPAY_KDF_COST", "test", 1);
    setenv(OFFPAY_PKCS11_PIN_ENV, PIN, 1);
    snprintf(dir, sizeof dir, "%s/issuer", offpay_test_tmpdir());
    REQUIRE_OK(offpay_issuer_create(dir, "issuer passphrase", now - 10, &is));
    /* A URI with the PIN in it is never stored. */
    CHECK_ERR(offpay_issuer_add_key_in_token(
                  is, now, 86400, "pkcs11:token=offpay;object=k?pin-value=1", 1,
                  &kid),
              OFFPAY_EPKCS11_URI);
    REQUIRE_OK(offpay_issuer_add_key_in_token(
        is, now, 86400, "pkcs11:token=offpay;object=issuer-kid-2", 1, &kid));
    CHECK(kid == 2);
    /* The same token key twice is one key: refused. */
    CHECK_ERR(
        offpay_issuer_add_key_in_token(
            is, now, 86400, "pkcs11:token=offpay;object=issuer-kid-2", 0, NULL),
        OFFPAY_EEXISTS);
    offpay_issuer_root_pk(is, root);
    offpay_issuer_close(is);
    is = NULL;
    REQUIRE_OK(offpay_issuer_open(dir, "issuer passphrase", &is));
    REQUIRE_OK(offpay_issuer_bundle(is, &bundle, &len));
    REQUIRE_OK(offpay_bundle_verify(bundle, len, root, &b));
    CHECK(b.n_keys == 2);
    REQUIRE_OK(offpay_keypair_generate(&w));
    REQUIRE_OK(offpay_issuer_issue_wallet(is, w.pk, 1000, 978, now, now + 3600,
                                          0, &wc));
    CHECK(wc.kid == 2);
    CHECK(offpay_wallet_cred_verify(&b, &wc, now, 0) == OFFPAY_OK);
    wc.sig[0] ^= 1;
    CHECK(offpay_wallet_cred_verify(&b, &wc, now, 0) == OFFPAY_ECRED_SIG);
    REQUIRE_OK(offpay_issuer_issue_terminal(is, 7, w.pk, 978, "Shop", now,
                                            now + 3600, &tc));
    CHECK(tc.kid == 2);
    CHECK(offpay_terminal_cred_verify(&b, &tc, now, 0) == OFFPAY_OK);
    REQUIRE_OK(offpay_issuer_revlist(is, now, &rl, &rl_len));
    /* offpayd's view: the newest key is in the token, by its URI. */
    {
        uint8_t sk[OFFPAY_SK_BYTES];

        CHECK_ERR(offpay_issuer_signing_key(is, now, &kid, sk), OFFPAY_EPKCS11);
        REQUIRE_OK(offpay_issuer_signing_key_uri(is, now, &kid, uri));
        CHECK(kid == 2);
        CHECK(strcmp(uri, "pkcs11:token=offpay;object=issuer-kid-2") == 0);
        CHECK_ERR(offpay_issuer_signing_key_uri(is, now - 5, &kid, uri),
                  OFFPAY_ENOTFOUND); /* then kid 1, sealed, is newest */
    }
    /* Without the PIN the token does not sign, and nothing is issued. */
    unsetenv(OFFPAY_PKCS11_PIN_ENV);
    CHECK_ERR(offpay_issuer_issue_wallet(is, w.pk, 1000, 978, now, now + 3600,
                                         0, &wc),
              OFFPAY_EPKCS11_URI);
    offpay_issuer_close(is);
    offpay_keypair_wipe(&w);
    free(bundle);
    free(rl);
}

#ifdef OFFPAY_TEST_HOOKS
extern unsigned offpay__pkcs11_reopen_ms;

/* Renames the test's token directory from to to (under the temp dir). */
static int tokens_mv(const char *from, const char *to)
{
    char a[1024], b[1024];

    snprintf(a, sizeof a, "%s/%s", offpay_test_tmpdir(), from);
    snprintf(b, sizeof b, "%s/%s", offpay_test_tmpdir(), to);
    return rename(a, b) == 0;
}

/* One signature by k over msg, verified under pk; rc as the token's. */
static offpay_err sign_checked(offpay_pkcs11_key *k,
                               const uint8_t      pk[OFFPAY_PK_BYTES])
{
    static const uint8_t msg[] = "a signed answer";
    uint8_t              sig[OFFPAY_SIG_BYTES], zero[OFFPAY_SIG_BYTES] = {0};
    offpay_err           rc;

    memset(sig, 0xaa, sizeof sig);
    rc = offpay_pkcs11_sign(k, "offpay-test", msg, sizeof msg, sig);
    if (rc == OFFPAY_OK)
        CHECK(offpay_verify("offpay-test", msg, sizeof msg, sig, pk,
                            OFFPAY_ECRYPTO) == OFFPAY_OK);
    else /* nothing that looks like a signature */
        CHECK(memcmp(sig, zero, sizeof sig) == 0 ||
              (sig[0] == 0xaa && sig[63] == 0xaa));
    return rc;
}

/* The token's session or the key's handle lost under an open key (the
 * token's files moved away and back: SoftHSM2 then answers
 * CKR_OBJECT_HANDLE_INVALID, and finds the token again only once the
 * module is initialized anew): the key is opened anew in a new session at
 * a signature, at most once per offpay__pkcs11_reopen_ms (between
 * attempts a signature is refused without asking the token, even once it
 * is back), and signs again; a fresh token of the same label without the
 * key, then holding another key under the URI, signs nothing, and the
 * token put back is taken again. Every signature returned verifies under
 * the key opened first. */
static void test_lost_session_opened_anew(void)
{
    offpay_pkcs11_key *k = NULL, *other = NULL;
    const char        *uri = "pkcs11:token=offpay;object=reopen-key"
                             "?pin-value=" PIN;
    uint8_t            pk[OFFPAY_PK_BYTES], opk[OFFPAY_PK_BYTES];
    char               cmd[2048];

    REQUIRE(make_token());
    offpay__pkcs11_reopen_ms = 400;
    REQUIRE_OK(offpay_pkcs11_generate(NULL, uri, &k));
    offpay_pkcs11_pk(k, pk);
    CHECK_ERR(sign_checked(k, pk), OFFPAY_OK);

    /* away: refused, and the detail names the token's answer */
    REQUIRE(tokens_mv("tokens", "tokens.away"));
    CHECK_ERR(sign_checked(k, pk), OFFPAY_EPKCS11);
    CHECK(strstr(offpay_pkcs11_detail(), "CKR_") != NULL);
    /* back within the interval: not asked yet, still refused */
    REQUIRE(tokens_mv("tokens.away", "tokens"));
    CHECK_ERR(sign_checked(k, pk), OFFPAY_EPKCS11);
    CHECK(strstr(offpay_pkcs11_detail(), "tried again in 0.4 s") != NULL);
    usleep(450 * 1000);
    CHECK_ERR(sign_checked(k, pk), OFFPAY_OK);
    CHECK_ERR(sign_checked(k, pk), OFFPAY_OK);

    /* the token replaced by a fresh one of the same label whose key under
     * the URI is another: nothing signed, the reason names both keys */
    REQUIRE(tokens_mv("tokens", "tokens.away"));
    snprintf(cmd, sizeof cmd,
             "mkdir '%s/tokens' && softhsm2-util --init-token --free "
             "--label offpay --pin %s --so-pin %s >/dev/null",
             offpay_test_tmpdir(), PIN, SO_PIN);
    REQUIRE(system(cmd) == 0);
    /* SoftHSM2 reads its token files only at C_Initialize: the attempt
     * initializes the module anew, finds the fresh token and no key */
    usleep(450 * 1000);
    CHECK_ERR(sign_checked(k, pk), OFFPAY_EPKCS11);
    CHECK(strstr(offpay_pkcs11_detail(), "no Ed25519 private key matches") !=
          NULL);
    REQUIRE_OK(offpay_pkcs11_generate(NULL, uri, &other));
    offpay_pkcs11_pk(other, opk);
    offpay_pkcs11_close(other);
    CHECK(memcmp(opk, pk, sizeof pk) != 0);
    usleep(450 * 1000);
    CHECK_ERR(sign_checked(k, pk), OFFPAY_EPKCS11);
    CHECK(strstr(offpay_pkcs11_detail(), "the URI names another key now") !=
          NULL);
    usleep(450 * 1000);
    CHECK_ERR(sign_checked(k, pk), OFFPAY_EPKCS11);
    /* the right token back: it signs again, with its key */
    snprintf(cmd, sizeof cmd, "rm -rf '%s/tokens'", offpay_test_tmpdir());
    REQUIRE(system(cmd) == 0);
    REQUIRE(tokens_mv("tokens.away", "tokens"));
    usleep(450 * 1000);
    CHECK_ERR(sign_checked(k, pk), OFFPAY_OK);
    offpay_pkcs11_close(k);
    offpay__pkcs11_reopen_ms = 5000;
}
#endif

/* A terminal's key in the token: terminal.keyuri keeps the URI; a file
 * tampered to carry a PIN is refused as corrupt. */
static void test_terminal_key_in_token(void)
{
    offpay_issuer   *is = NULL;
    offpay_terminal *t = NULL;
    uint8_t          root[OFFPAY_PK_BYTES], pk[OFFPAY_PK_BYTES], *bundle = NULL;
    char             idir[1024], tdir[1024], path[1100];
    size_t           len = 0;
    FILE            *f;

    REQUIRE(make_token());
    setenv("OFFPAY_KDF_COST", "test", 1);
    setenv(OFFPAY_PKCS11_PIN_ENV, PIN, 1);
    snprintf(idir, sizeof idir, "%s/issuer-t", offpay_test_tmpdir());
    snprintf(tdir, sizeof tdir, "%s/terminal-t", offpay_test_tmpdir());
    REQUIRE_OK(
        offpay_issuer_create(idir, "issuer passphrase", 1800000000u, &is));
    offpay_issuer_root_pk(is, root);
    REQUIRE_OK(offpay_issuer_bundle(is, &bundle, &len));
    offpay_issuer_close(is);
    CHECK_ERR(offpay_terminal_create_in_token(
                  tdir, "pkcs11:token=offpay;object=till?pin-value=" PIN, 1,
                  root, bundle, len, 978, &t),
              OFFPAY_EPKCS11_URI);
    REQUIRE_OK(
        offpay_terminal_create_in_token(tdir, "pkcs11:token=offpay;object=till",
                                        1, root, bundle, len, 978, &t));
    offpay_terminal_public_key(t, pk);
    offpay_terminal_close(t);
    t = NULL;
    /* Opened again with "a passphrase" (not used): the token's key. */
    REQUIRE_OK(offpay_terminal_open(tdir, "", &t));
    {
        uint8_t again[OFFPAY_PK_BYTES];

        offpay_terminal_public_key(t, again);
        CHECK(memcmp(pk, again, sizeof pk) == 0);
    }
    offpay_terminal_close(t);
    t = NULL;
    snprintf(path, sizeof path, "%s/terminal.keyuri", tdir);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fprintf(f, "pkcs11:token=offpay;object=till?pin-value=%s\n", PIN);
    fclose(f);
    CHECK_ERR(offpay_terminal_open(tdir, "", &t), OFFPAY_ECORRUPT);
    CHECK(t == NULL);
    unsetenv(OFFPAY_PKCS11_PIN_ENV);
    free(bundle);
}

/* PKCS#11 login is per token and process: a second key's session finds
 * the token logged in already (CKR_USER_ALREADY_LOGGED_IN), so its PIN
 * is not asked of the token. A wrong one must still be refused (a
 * SIGHUP's new key whose PIN file is wrong would fail at the next start),
 * and the right one still works. */
static void test_wrong_pin_refused_while_logged_in(void)
{
    offpay_pkcs11_key *k = NULL, *k2 = NULL;

    REQUIRE(make_token());
    REQUIRE_OK(offpay_pkcs11_open(
        NULL, "pkcs11:token=offpay;object=unit-key?pin-value=" PIN, &k));
    CHECK_ERR(offpay_pkcs11_generate(NULL,
                                     "pkcs11:token=offpay;object=second-key"
                                     "?pin-value=typo-pin",
                                     &k2),
              OFFPAY_EPASSPHRASE);
    CHECK(k2 == NULL);
    CHECK(strstr(offpay_pkcs11_detail(), "logged in already with another "
                                         "PIN") != NULL);
    REQUIRE_OK(offpay_pkcs11_generate(
        NULL, "pkcs11:token=offpay;object=second-key?pin-value=" PIN, &k2));
    offpay_pkcs11_close(k2);
    k2 = NULL;
    /* A URI that gives no PIN at all: its key is visible only through
     * k's login, so it is refused as an open without k would refuse it
     * (offpayd's SIGHUP then keeps its key; its next start would find
     * none); with the PIN in the environment it opens. */
    CHECK_ERR(
        offpay_pkcs11_open(NULL, "pkcs11:token=offpay;object=second-key", &k2),
        OFFPAY_EPKCS11_URI);
    CHECK(k2 == NULL);
    CHECK(strstr(offpay_pkcs11_detail(), "the URI gives no PIN") != NULL);
    offpay_pkcs11_close(k);
    k = NULL;
    CHECK_ERR(
        offpay_pkcs11_open(NULL, "pkcs11:token=offpay;object=second-key", &k2),
        OFFPAY_EPKCS11_URI);
    setenv(OFFPAY_PKCS11_PIN_ENV, PIN, 1);
    REQUIRE_OK(
        offpay_pkcs11_open(NULL, "pkcs11:token=offpay;object=second-key", &k2));
    unsetenv(OFFPAY_PKCS11_PIN_ENV);
    offpay_pkcs11_close(k2);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"uri_parse_accepts_rfc7512", test_uri_parse_accepts_rfc7512},
        {"uri_parse_refuses_malformed", test_uri_parse_refuses_malformed},
        {"generate_find_sign_verify", test_generate_find_sign_verify},
        {"pin_source_file", test_pin_source_file},
        {"pin_source_mode_and_wrong_pin", test_pin_source_mode_and_wrong_pin},
        {"wrong_pin_is_refused", test_wrong_pin_is_refused},
        {"wrong_pin_refused_while_logged_in",
         test_wrong_pin_refused_while_logged_in},
        {"missing_token_or_object", test_missing_token_or_object},
        {"generate_refuses_a_taken_label", test_generate_refuses_a_taken_label},
        {"key_of_another_type_named", test_key_of_another_type_named},
        {"signer_signs_credentials_either_way",
         test_signer_signs_credentials_either_way},
        {"issuer_key_in_token_signs_verifiable_credentials",
         test_issuer_key_in_token_signs_verifiable_credentials},
        {"terminal_key_in_token", test_terminal_key_in_token},
        {"extractable_key_refused", test_extractable_key_refused},
#ifdef OFFPAY_TEST_HOOKS
        {"generated_key_refused_is_deleted",
         test_generated_key_refused_is_deleted},
        {"lost_session_opened_anew", test_lost_session_opened_anew},
#endif
        {NULL, NULL},
    };

    if (offpay_init() != OFFPAY_OK)
        return 1;
    return offpay_test_main(tests);
}
