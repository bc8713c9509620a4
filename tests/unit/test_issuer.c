/*
 * test_issuer.c — the issuer's key-ceremony state (src/issuer/store.c,
 * sign.c): the root key kept apart from the daily state, retiring a signing
 * key, what the issuer refuses to sign (weak keys, never-issued serials, a
 * terminal key of another merchant), file modes, the old directory format,
 * and the strictness of the state loader.
 */
#define _GNU_SOURCE /* memmem */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/initdir.h"
#include "issuer/issuer_int.h"
#include "wallet/wallet_file.h"

#define NOW       1700000000u
#define DAY       86400u
#define EUR       978
#define PASS      "issuer test passphrase"
#define ROOT_PASS "root test passphrase"

/* tmpdir/name into out (created as a directory when mk). */
static const char *tpath(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", offpay_test_tmpdir(), name);
    return out;
}

static const char *join(const char *dir, const char *name, char *out,
                        size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
    return out;
}

static int mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* The plaintext of a sealed file (NUL-terminated copy; free()), or NULL. */
static char *unseal(const char *path, const char *pass)
{
    uint8_t *plain = NULL;
    size_t   len = 0;
    char    *text;

    if (offpay__wallet_file_load(path, pass, &plain, &len) != OFFPAY_OK)
        return NULL;
    text = malloc(len + 1);
    if (text != NULL) {
        memcpy(text, plain, len);
        text[len] = '\0';
    }
    offpay__wallet_plain_free(plain, len);
    return text;
}

/* The root seed in hex, as root.sealed holds it, into hex[65]. */
static int root_seed_hex(const char *root_path, const char *pass, char *hex)
{
    char       *text = unseal(root_path, pass);
    const char *at;
    int         ok = 0;

    if (text == NULL)
        return 0;
    at = strstr(text, "\"root_seed\":\"");
    if (at != NULL && strlen(at) >= 13 + 64) {
        memcpy(hex, at + 13, 64);
        hex[64] = '\0';
        ok = 1;
    }
    free(text);
    return ok;
}

/* A fresh key pair's public key into pk. */
static void new_pk(uint8_t pk[OFFPAY_PK_BYTES])
{
    offpay_keypair kp;

    offpay_keypair_generate(&kp);
    memcpy(pk, kp.pk, OFFPAY_PK_BYTES);
    offpay_keypair_wipe(&kp);
}

/* ---- item: the root key kept apart ---------------------------------- */

static void test_day_to_day_works_with_root_sealed_moved_away(void)
{
    char                 dir[512], root[600], away[600], state[600], hex[65];
    offpay_issuer       *is = NULL;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    uint8_t              pk[OFFPAY_PK_BYTES], seed[OFFPAY_SEED_BYTES];
    char                *plain;
    uint16_t             kid = 0;

    tpath("apart", dir, sizeof dir);
    REQUIRE_OK(offpay_issuer_create(dir, PASS, NOW - DAY, &is));
    offpay_issuer_close(is);
    is = NULL;
    join(dir, "root.sealed", root, sizeof root);
    tpath("apart-offline-root.sealed", away, sizeof away);
    REQUIRE(root_seed_hex(root, PASS, hex));
    REQUIRE(rename(root, away) == 0);

    /* Credentials, revocation and publishing: no root key anywhere. */
    REQUIRE_OK(offpay_issuer_open(dir, PASS, &is));
    new_pk(pk);
    REQUIRE_OK(
        offpay_issuer_issue_wallet(is, pk, 1000, EUR, NOW, NOW + DAY, 0, &wc));
    new_pk(pk);
    REQUIRE_OK(offpay_issuer_issue_terminal(is, 7, pk, EUR, "Shop", NOW,
                                            NOW + DAY, &tc));
    REQUIRE_OK(offpay_issuer_revoke(is, wc.serial, NOW));
    REQUIRE_OK(offpay_issuer_publish(is, NOW));

    /* Signing a bundle needs it: refused until unlocked. */
    CHECK_ERR(offpay_issuer_add_key(is, NOW, DAY, &kid), OFFPAY_EINVAL);
    CHECK_ERR(offpay_issuer_retire_key(is, 1, NOW), OFFPAY_EINVAL);
    CHECK_ERR(offpay_issuer_unlock_root(is, NULL, PASS), OFFPAY_ENOTFOUND);
    REQUIRE_OK(offpay_issuer_unlock_root(is, away, PASS));
    REQUIRE_OK(offpay_issuer_add_key(is, NOW, DAY, &kid));
    CHECK(kid == 2);
    offpay_issuer_close(is);

    /* The daily state holds no root secret, in any spelling. */
    plain = unseal(join(dir, "issuer.sealed", state, sizeof state), PASS);
    REQUIRE(plain != NULL);
    CHECK(strstr(plain, hex) == NULL);
    CHECK(strstr(plain, "root_seed") == NULL);
    REQUIRE(sodium_hex2bin(seed, sizeof seed, hex, 64, NULL, NULL, NULL) == 0);
    CHECK(memmem(plain, strlen(plain), seed, sizeof seed) == NULL);
    free(plain);
    sodium_memzero(seed, sizeof seed);
}

static void test_root_key_has_its_own_file_and_passphrase(void)
{
    char           dir[512], root[600], other[512];
    offpay_issuer *is = NULL, *is2 = NULL;

    tpath("ownpass", dir, sizeof dir);
    tpath("ownpass-root.sealed", root, sizeof root);
    REQUIRE_OK(offpay_issuer_create_with_root(dir, PASS, root, ROOT_PASS,
                                              NOW - DAY, &is));
    offpay_issuer_close(is);
    is = NULL;
    /* A root file that exists is never overwritten. */
    tpath("ownpass2", other, sizeof other);
    CHECK_ERR(
        offpay_issuer_create_with_root(other, PASS, root, ROOT_PASS, NOW, &is2),
        OFFPAY_EEXISTS);
    REQUIRE_OK(offpay_issuer_open(dir, PASS, &is));
    CHECK_ERR(offpay_issuer_unlock_root(is, root, PASS), OFFPAY_EPASSPHRASE);
    REQUIRE_OK(offpay_issuer_unlock_root(is, root, ROOT_PASS));
    REQUIRE_OK(offpay_issuer_add_key(is, NOW, DAY, NULL));
    offpay_issuer_close(is);

    /* Another issuer's root key does not sign this issuer's bundles. */
    tpath("ownpass3", other, sizeof other);
    REQUIRE_OK(offpay_issuer_create(other, PASS, NOW, &is2));
    offpay_issuer_close(is2);
    REQUIRE_OK(offpay_issuer_open(dir, PASS, &is));
    CHECK_ERR(offpay_issuer_unlock_root(
                  is, join(other, "root.sealed", root, sizeof root), PASS),
              OFFPAY_EBUNDLE_SIG);
    offpay_issuer_close(is);
}

/* An issuer directory of format 1 (root key inside issuer.sealed), made by
 * hand: key 1 valid NOW - DAY for 400 days, serials 1..2 issued, revoked
 * [2, 99] (99 never issued). root receives the root key pair. */
static int legacy_dir(const char *dir, offpay_keypair *root, offpay_keypair *k1)
{
    char    state[600], rs[65], ks[65];
    char    text[1024];
    uint8_t seed[OFFPAY_SEED_BYTES];

    if (mkdir(dir, 0700) != 0 || offpay_keypair_generate(root) != OFFPAY_OK ||
        offpay_keypair_generate(k1) != OFFPAY_OK)
        return 0;
    crypto_sign_ed25519_sk_to_seed(seed, root->sk);
    sodium_bin2hex(rs, sizeof rs, seed, sizeof seed);
    crypto_sign_ed25519_sk_to_seed(seed, k1->sk);
    sodium_bin2hex(ks, sizeof ks, seed, sizeof seed);
    snprintf(text, sizeof text,
             "{\"format\":1,\"root_seed\":\"%s\",\"bundle_seq\":3,"
             "\"next_serial\":3,\"next_terminal_id\":2,\"revlist_seq\":3,"
             "\"keys\":[{\"kid\":1,\"seed\":\"%s\",\"valid_from\":%u,"
             "\"valid_until\":%u}],\"revoked\":[2,99]}",
             rs, ks, NOW - DAY, NOW - DAY + 400 * DAY);
    sodium_memzero(seed, sizeof seed);
    return offpay__wallet_file_save(
               join(dir, "issuer.sealed", state, sizeof state), PASS,
               (const uint8_t *)text, strlen(text)) == OFFPAY_OK;
}

static void test_old_directory_refused_then_migrated(void)
{
    char                dir[512], path[600], *plain;
    offpay_keypair      root, k1;
    offpay_issuer      *is = NULL;
    offpay_trust_bundle b;
    uint8_t            *bytes = NULL, want[1024], *rl = NULL;
    size_t              len = 0, want_len = 0, rllen = 0;
    offpay_revlist      l;

    tpath("legacy", dir, sizeof dir);
    REQUIRE(legacy_dir(dir, &root, &k1));
    CHECK_ERR(offpay_issuer_open(dir, PASS, &is), OFFPAY_EVERSION);
    REQUIRE(is == NULL);
    REQUIRE_OK(offpay_issuer_migrate(dir, PASS, NULL, ROOT_PASS));
    CHECK_ERR(offpay_issuer_migrate(dir, PASS, NULL, ROOT_PASS),
              OFFPAY_EEXISTS);

    plain = unseal(join(dir, "issuer.sealed", path, sizeof path), PASS);
    REQUIRE(plain != NULL);
    CHECK(strstr(plain, "root_seed") == NULL);
    free(plain);
    CHECK(mode_of(join(dir, "root.sealed", path, sizeof path)) == 0600);

    REQUIRE_OK(offpay_issuer_open(dir, PASS, &is));
    /* The bundle is the one the old code signed: same sequence, issued at
     * the newest key's start, same bytes. */
    memset(&b, 0, sizeof b);
    b.seq = 3;
    b.issued_at = NOW - DAY;
    b.n_keys = 1;
    b.keys[0].kid = 1;
    memcpy(b.keys[0].pk, k1.pk, OFFPAY_PK_BYTES);
    b.keys[0].valid_from = NOW - DAY;
    b.keys[0].valid_until = NOW - DAY + 400 * DAY;
    REQUIRE_OK(offpay_issuer_sign_bundle(root.sk, &b));
    REQUIRE_OK(offpay_bundle_encode(&b, want, sizeof want, &want_len));
    REQUIRE_OK(offpay_issuer_bundle(is, &bytes, &len));
    CHECK(len == want_len && memcmp(bytes, want, len) == 0);
    /* The never-issued 99 is dropped, 2 stays. */
    REQUIRE_OK(offpay_issuer_revlist(is, NOW, &rl, &rllen));
    REQUIRE_OK(offpay_revlist_decode(rl, rllen, &l));
    CHECK(l.n_serials == 1 && l.serials[0] == 2);
    offpay_revlist_free(&l);
    /* Day to day it works; the root is in its own file now. */
    CHECK_ERR(offpay_issuer_revoke(is, 1, NOW), OFFPAY_OK);
    REQUIRE_OK(offpay_issuer_unlock_root(is, NULL, ROOT_PASS));
    CHECK_ERR(offpay_issuer_add_key(is, NOW, DAY, NULL), OFFPAY_OK);
    offpay_issuer_close(is);
    free(bytes);
    free(rl);
    offpay_keypair_wipe(&root);
    offpay_keypair_wipe(&k1);
}

/* ---- item: retiring a signing key ----------------------------------- */

static void test_retired_kid_refused_by_terminal_and_wallet(void)
{
    char                 dir[512], path[600], *code = NULL;
    offpay_issuer       *is = NULL;
    offpay_terminal     *t = NULL;
    offpay_wallet       *w = NULL;
    offpay_terminal_cred tc;
    offpay_wallet_cred   c2, c;
    uint8_t              root_pk[OFFPAY_PK_BYTES], pk[OFFPAY_PK_BYTES];
    uint8_t              buf[512], cbuf[OFFPAY_WALLET_CRED_BYTES];
    uint8_t             *bundle = NULL, *rl = NULL;
    size_t               blen = 0, rllen = 0, n = 0, cn = 0;
    uint16_t             kid = 0;

    setenv("OFFPAY_KDF_COST", "test", 1);
    tpath("retire", dir, sizeof dir);
    REQUIRE(mkdir(dir, 0700) == 0);
    REQUIRE_OK(offpay_issuer_create(join(dir, "iss", path, sizeof path), PASS,
                                    NOW - DAY, &is));
    offpay_issuer_root_pk(is, root_pk);
    REQUIRE_OK(offpay_issuer_bundle(is, &bundle, &blen));
    /* A terminal (credential under kid 1) and a wallet. */
    REQUIRE_OK(offpay_terminal_create(join(dir, "term", path, sizeof path),
                                      PASS, root_pk, bundle, blen, EUR, &t));
    offpay_terminal_public_key(t, pk);
    REQUIRE_OK(offpay_issuer_issue_terminal(is, 1, pk, EUR, "Shop", NOW - DAY,
                                            NOW + 365 * DAY, &tc));
    REQUIRE_OK(offpay_terminal_cred_encode(&tc, buf, sizeof buf, &n));
    REQUIRE_OK(offpay_terminal_set_credential(t, buf, n, NOW));
    REQUIRE_OK(offpay_wallet_create(join(dir, "wallet", path, sizeof path),
                                    PASS, root_pk, bundle, blen, &w));
    free(bundle);
    bundle = NULL;

    /* Key 2 arrives everywhere; a credential is signed under it. */
    REQUIRE_OK(offpay_issuer_add_key(is, NOW - 60, 365 * DAY, &kid));
    REQUIRE(kid == 2);
    REQUIRE_OK(offpay_issuer_bundle(is, &bundle, &blen));
    REQUIRE_OK(offpay_issuer_revlist(is, NOW, &rl, &rllen));
    REQUIRE_OK(offpay_terminal_sync(t, bundle, blen, rl, rllen, NOW));
    REQUIRE_OK(offpay_wallet_update_bundle(w, bundle, blen, NOW));
    free(bundle);
    free(rl);
    bundle = rl = NULL;
    offpay_wallet_public_key(w, pk);
    REQUIRE_OK(offpay_issuer_issue_wallet(is, pk, 10000, EUR, NOW - 60,
                                          NOW + 30 * DAY,
                                          OFFPAY_CRED_ALLOW_UNBOUND, &c2));
    REQUIRE(c2.kid == 2);
    REQUIRE_OK(offpay_wallet_cred_encode(&c2, cbuf, sizeof cbuf, &cn));
    REQUIRE_OK(offpay_wallet_add_credential(w, cbuf, cn, NOW));
    REQUIRE_OK(offpay_wallet_pay(w, 500, EUR, NOW + 1, &code, NULL));
    CHECK_ERR(offpay_terminal_check(t, code, strlen(code), 500, NOW + 2, NULL),
              OFFPAY_OK);

    /* Key 2 is compromised: retired. */
    REQUIRE_OK(offpay_issuer_retire_key(is, 2, NOW + 10));
    REQUIRE_OK(offpay_issuer_bundle(is, &bundle, &blen));
    REQUIRE_OK(offpay_issuer_revlist(is, NOW + 10, &rl, &rllen));
    REQUIRE_OK(offpay_terminal_sync(t, bundle, blen, rl, rllen, NOW + 11));
    CHECK_ERR(offpay_terminal_check(t, code, strlen(code), 500, NOW + 12, NULL),
              OFFPAY_EUNKNOWN_KID);
    CHECK_ERR(
        offpay_terminal_accept(t, code, strlen(code), 500, NOW + 12, NULL),
        OFFPAY_EUNKNOWN_KID);
    /* The wallet that took the new bundle neither uses nor accepts it. */
    REQUIRE_OK(offpay_wallet_update_bundle(w, bundle, blen, NOW + 12));
    free(code);
    code = NULL;
    CHECK_ERR(offpay_wallet_pay(w, 100, EUR, NOW + 13, &code, NULL),
              OFFPAY_ENO_CREDENTIAL);
    {
        offpay_wallet *w2 = NULL;

        REQUIRE_OK(offpay_wallet_create(join(dir, "wallet2", path, sizeof path),
                                        PASS, root_pk, bundle, blen, &w2));
        CHECK_ERR(offpay_wallet_add_credential(w2, cbuf, cn, NOW + 13),
                  OFFPAY_EUNKNOWN_KID);
        offpay_wallet_close(w2);
    }

    /* The issuer never signs under kid 2 again, nor reuses the number. */
    REQUIRE_OK(offpay_issuer_issue_wallet(is, pk, 10000, EUR, NOW,
                                          NOW + 30 * DAY, 0, &c));
    CHECK(c.kid == 1);
    CHECK_ERR(offpay_issuer_retire_key(is, 2, NOW + 20), OFFPAY_EUNKNOWN_KID);
    /* The last key valid now cannot go. */
    CHECK_ERR(offpay_issuer_retire_key(is, 1, NOW + 20), OFFPAY_EKID_EXPIRED);
    REQUIRE_OK(offpay_issuer_add_key(is, NOW + 20, 365 * DAY, &kid));
    CHECK(kid == 3);
    CHECK_ERR(offpay_issuer_retire_key(is, 1, NOW + 30), OFFPAY_OK);
    CHECK_ERR(offpay_issuer_retire_key(is, 3, NOW + 30), OFFPAY_EKID_EXPIRED);
    offpay_issuer_close(is);
    is = NULL;
    /* All of it survives a reopen (the strict loader accepts it). */
    REQUIRE_OK(
        offpay_issuer_open(join(dir, "iss", path, sizeof path), PASS, &is));
    REQUIRE_OK(offpay_issuer_issue_wallet(is, pk, 10000, EUR, NOW + 30,
                                          NOW + 30 * DAY, 0, &c));
    CHECK(c.kid == 3);
    offpay_issuer_close(is);
    offpay_wallet_close(w);
    offpay_terminal_close(t);
    free(bundle);
    free(rl);
    free(code);
}

/* ---- item: what the issuer signs ------------------------------------ */

static void test_weak_keys_refused(void)
{
    /* Non-canonical (y >= p), the identity and the all-zero encoding (small
     * order), a point of order 8: libsodium refuses all as verifiers. */
    static const char *const bad_hex[] = {
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };
    char                 dir[512];
    offpay_issuer       *is = NULL;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    offpay_keypair       signer;
    uint8_t              pk[OFFPAY_PK_BYTES];

    tpath("weak", dir, sizeof dir);
    REQUIRE_OK(offpay_issuer_create(dir, PASS, NOW - DAY, &is));
    REQUIRE_OK(offpay_keypair_generate(&signer));
    for (size_t i = 0; i < sizeof bad_hex / sizeof *bad_hex; i++) {
        REQUIRE(sodium_hex2bin(pk, sizeof pk, bad_hex[i], 64, NULL, NULL,
                               NULL) == 0);
        CHECK_ERR(offpay_issuer_issue_wallet(is, pk, 1000, EUR, NOW, NOW + DAY,
                                             0, &wc),
                  OFFPAY_EWEAK_KEY);
        CHECK_ERR(offpay_issuer_issue_terminal(is, 1, pk, EUR, "Shop", NOW,
                                               NOW + DAY, &tc),
                  OFFPAY_EWEAK_KEY);
        /* The pure layer refuses too. */
        memset(&wc, 0, sizeof wc);
        wc.kid = 1;
        wc.serial = 1;
        memcpy(wc.wallet_pk, pk, sizeof pk);
        wc.limit = 1000;
        wc.currency = EUR;
        wc.valid_from = NOW;
        wc.expires = NOW + DAY;
        CHECK_ERR(offpay_issuer_sign_wallet_cred(signer.sk, &wc),
                  OFFPAY_EWEAK_KEY);
        memset(&tc, 0, sizeof tc);
        tc.kid = 1;
        tc.merchant_id = 1;
        tc.terminal_id = 1;
        memcpy(tc.terminal_pk, pk, sizeof pk);
        tc.currency = EUR;
        tc.valid_from = NOW;
        tc.expires = NOW + DAY;
        tc.name_len = 4;
        memcpy(tc.name, "Shop", 5);
        CHECK_ERR(offpay_issuer_sign_terminal_cred(signer.sk, &tc),
                  OFFPAY_EWEAK_KEY);
    }
    /* No serial or terminal id was spent on them. */
    new_pk(pk);
    REQUIRE_OK(
        offpay_issuer_issue_wallet(is, pk, 1000, EUR, NOW, NOW + DAY, 0, &wc));
    CHECK(wc.serial == 1);
    REQUIRE_OK(offpay_issuer_issue_terminal(is, 1, pk, EUR, "Shop", NOW,
                                            NOW + DAY, &tc));
    CHECK(tc.terminal_id == 1);
    offpay_keypair_wipe(&signer);
    offpay_issuer_close(is);
}

static void test_revoking_a_never_issued_serial_is_refused(void)
{
    char               dir[512];
    offpay_issuer     *is = NULL;
    offpay_wallet_cred wc;
    uint8_t            pk[OFFPAY_PK_BYTES];

    tpath("notissued", dir, sizeof dir);
    REQUIRE_OK(offpay_issuer_create(dir, PASS, NOW - DAY, &is));
    CHECK_ERR(offpay_issuer_revoke(is, 1, NOW), OFFPAY_ENOT_ISSUED);
    new_pk(pk);
    REQUIRE_OK(
        offpay_issuer_issue_wallet(is, pk, 1000, EUR, NOW, NOW + DAY, 0, &wc));
    CHECK_ERR(offpay_issuer_revoke(is, 0, NOW), OFFPAY_ENOT_ISSUED);
    CHECK_ERR(offpay_issuer_revoke(is, wc.serial + 1, NOW), OFFPAY_ENOT_ISSUED);
    CHECK_ERR(offpay_issuer_revoke(is, UINT64_MAX, NOW), OFFPAY_ENOT_ISSUED);
    CHECK_ERR(offpay_issuer_revoke(is, wc.serial, NOW), OFFPAY_OK);
    CHECK_ERR(offpay_issuer_revoke(is, wc.serial, NOW), OFFPAY_EEXISTS);
    offpay_issuer_close(is);
}

static void test_terminal_key_keeps_its_id_and_merchant(void)
{
    char                 dir[512];
    offpay_issuer       *is = NULL;
    offpay_terminal_cred a, b;
    uint8_t              pk[OFFPAY_PK_BYTES], pk2[OFFPAY_PK_BYTES];

    tpath("termdup", dir, sizeof dir);
    REQUIRE_OK(offpay_issuer_create(dir, PASS, NOW - DAY, &is));
    new_pk(pk);
    new_pk(pk2);
    REQUIRE_OK(offpay_issuer_issue_terminal(is, 7, pk, EUR, "Shop", NOW,
                                            NOW + DAY, &a));
    offpay_issuer_close(is);
    is = NULL;
    REQUIRE_OK(offpay_issuer_open(dir, PASS, &is));
    /* The same key again, same merchant: a renewal under the same id. */
    REQUIRE_OK(offpay_issuer_issue_terminal(is, 7, pk, EUR, "Shop Renewed",
                                            NOW + 10, NOW + 90 * DAY, &b));
    CHECK(b.terminal_id == a.terminal_id);
    CHECK(b.expires == NOW + 90 * DAY);
    /* The same key for another merchant: refused. */
    CHECK_ERR(offpay_issuer_issue_terminal(is, 8, pk, EUR, "Other", NOW,
                                           NOW + DAY, &b),
              OFFPAY_EEXISTS);
    /* Another key: the next id. */
    REQUIRE_OK(offpay_issuer_issue_terminal(is, 8, pk2, EUR, "Other", NOW,
                                            NOW + DAY, &b));
    CHECK(b.terminal_id == a.terminal_id + 1);
    offpay_issuer_close(is);
}

/* ---- item: file modes ----------------------------------------------- */

static void test_private_files_0600_public_files_0644(void)
{
    char           dir[512], path[600];
    offpay_issuer *is = NULL;
    mode_t         old = umask(0);
    FILE          *f;

    tpath("modes", dir, sizeof dir);
    /* What existed before is too open (dir) or too closed (root.pub). An
     * issuer's public file there is refused (another issuer's root key,
     * which devices may pin), the directory's mode left as it was. */
    REQUIRE(mkdir(dir, 0777) == 0);
    f = fopen(join(dir, "root.pub", path, sizeof path), "w");
    REQUIRE(f != NULL);
    fclose(f);
    REQUIRE(chmod(path, 0600) == 0);
    umask(077);
    CHECK_ERR(offpay_issuer_create(dir, PASS, NOW - DAY, &is), OFFPAY_EEXISTS);
    CHECK(is == NULL);
    CHECK(mode_of(dir) == 0777);
    CHECK(mode_of(path) == 0600);
    REQUIRE(unlink(path) == 0);
    REQUIRE_OK(offpay_issuer_create(dir, PASS, NOW - DAY, &is));
    offpay_issuer_close(is);
    is = NULL;
    CHECK(mode_of(dir) == 0700);
    CHECK(mode_of(join(dir, "issuer.sealed", path, sizeof path)) == 0600);
    CHECK(mode_of(join(dir, "root.sealed", path, sizeof path)) == 0600);
    CHECK(mode_of(join(dir, "root.pub", path, sizeof path)) == 0644);
    CHECK(mode_of(join(dir, "bundle.opb", path, sizeof path)) == 0644);
    CHECK(mode_of(join(dir, "revlist.opb", path, sizeof path)) == 0644);
    /* Loosened afterwards: opening tightens them again. */
    REQUIRE(chmod(dir, 0755) == 0);
    REQUIRE(chmod(join(dir, "issuer.sealed", path, sizeof path), 0644) == 0);
    REQUIRE_OK(offpay_issuer_open(dir, PASS, &is));
    CHECK(mode_of(dir) == 0700);
    CHECK(mode_of(join(dir, "issuer.sealed", path, sizeof path)) == 0600);
    REQUIRE(chmod(join(dir, "root.pub", path, sizeof path), 0600) == 0);
    REQUIRE_OK(offpay_issuer_publish(is, NOW));
    CHECK(mode_of(join(dir, "revlist.opb", path, sizeof path)) == 0644);
    CHECK(mode_of(join(dir, "root.pub", path, sizeof path)) == 0644);
    offpay_issuer_close(is);
    umask(old);
}

/* ---- item: an init that fails or is refused ------------------------- */

/* The names dir holds, sorted, joined by spaces, into out ("" if none;
 * "-" if dir is not there). */
static const char *listing(const char *dir, char *out, size_t cap)
{
    struct dirent **ents = NULL;
    int             n = scandir(dir, &ents, NULL, alphasort);
    size_t          used = 0;

    out[0] = '\0';
    if (n < 0) {
        snprintf(out, cap, "-");
        return out;
    }
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;

        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%s",
                                     used > 0 ? " " : "", name);
        free(ents[i]);
    }
    free(ents);
    return out;
}

/* An init that fails leaves its directory as it found it (the same undo
 * as the terminal's, core/initdir.h): one it made is removed, one that
 * existed keeps only what it held and its mode, a root file written
 * elsewhere (--root) is removed; a refused one (an issuer there already,
 * without its lock file) makes nothing, not even issuer.lock. Then init
 * succeeds in the same places and leaves what issuer.h lists. */
static void test_failed_or_refused_init_leaves_dir_as_found(void)
{
    char           dir[512], root[512], path[600], ls[512];
    offpay_issuer *is = NULL;
    FILE          *f;

    /* A directory it made: gone (the root file's directory is missing). */
    tpath("undo-new", dir, sizeof dir);
    CHECK_ERR(offpay_issuer_create_with_root(dir, PASS, "/nonexistent/r.sealed",
                                             ROOT_PASS, NOW, &is),
              OFFPAY_ENOENT);
    CHECK(is == NULL);
    CHECK(strcmp(listing(dir, ls, sizeof ls), "-") == 0);

    /* A directory that existed (0755, holding a file of its own): the
     * publishing fails last (a directory where revlist.opb's temporary
     * goes), after issuer.sealed, root.pub, bundle.opb and the root file
     * were written: all removed, the mode given back. */
    tpath("undo-old", dir, sizeof dir);
    tpath("undo-old-root.sealed", root, sizeof root);
    REQUIRE(mkdir(dir, 0755) == 0);
    REQUIRE(chmod(dir, 0755) == 0);
    f = fopen(join(dir, "notes.txt", path, sizeof path), "w");
    REQUIRE(f != NULL);
    fclose(f);
    REQUIRE(mkdir(join(dir, "revlist.opb.tmp", path, sizeof path), 0700) == 0);
    CHECK_ERR(
        offpay_issuer_create_with_root(dir, PASS, root, ROOT_PASS, NOW, &is),
        OFFPAY_EISDIR);
    CHECK(is == NULL);
    CHECK(strcmp(listing(dir, ls, sizeof ls), "notes.txt revlist.opb.tmp") ==
          0);
    CHECK(mode_of(dir) == 0755);
    CHECK(access(root, F_OK) != 0);
    /* The same with the root file in the directory. */
    CHECK_ERR(offpay_issuer_create(dir, PASS, NOW, &is), OFFPAY_EISDIR);
    CHECK(strcmp(listing(dir, ls, sizeof ls), "notes.txt revlist.opb.tmp") ==
          0);
    REQUIRE(rmdir(join(dir, "revlist.opb.tmp", path, sizeof path)) == 0);
    REQUIRE_OK(
        offpay_issuer_create_with_root(dir, PASS, root, ROOT_PASS, NOW, &is));
    offpay_issuer_close(is);
    is = NULL;
    CHECK(strcmp(listing(dir, ls, sizeof ls),
                 "bundle.opb issuer.lock issuer.sealed notes.txt revlist.opb "
                 "root.pub") == 0);
    CHECK(access(root, F_OK) == 0);

    /* Refused: an issuer there already, its lock file gone (a copy): no
     * lock file is left, the mode stays, and the issuer still opens. */
    REQUIRE(unlink(join(dir, "issuer.lock", path, sizeof path)) == 0);
    REQUIRE(chmod(dir, 0750) == 0);
    CHECK_ERR(offpay_issuer_create(dir, PASS, NOW, &is), OFFPAY_EEXISTS);
    CHECK(is == NULL);
    CHECK(strcmp(listing(dir, ls, sizeof ls),
                 "bundle.opb issuer.sealed notes.txt revlist.opb root.pub") ==
          0);
    CHECK(mode_of(dir) == 0750);
    REQUIRE_OK(offpay_issuer_open(dir, PASS, &is));
    offpay_issuer_close(is);
}

/* A process waiting for an issuer's lock while a failed init removes the
 * lock file (offpay__init_dir_undo) does not keep the lock of the file
 * removed, which guards nothing: it takes the one at the path, so a third
 * process waits for it. */
typedef struct lock_waiter {
    const char *path;
    int         fd;
    offpay_err  rc;
} lock_waiter;

static void *take_lock(void *arg)
{
    lock_waiter *w = arg;

    w->rc = offpay__lock_take(w->path, 5000, &w->fd);
    return NULL;
}

static void test_lock_removed_while_waited_for_is_not_kept(void)
{
    char        dir[512], path[600];
    lock_waiter w = {path, -1, OFFPAY_EINVAL};
    pthread_t   th;
    struct stat held, named;
    int         first = -1, third = -1;

    tpath("lockgone", dir, sizeof dir);
    REQUIRE(mkdir(dir, 0700) == 0);
    join(dir, "issuer.lock", path, sizeof path);
    REQUIRE_OK(offpay__lock_take(path, 0, &first));
    REQUIRE(pthread_create(&th, NULL, take_lock, &w) == 0);
    usleep(100000); /* the waiter has opened the file and waits on it */
    REQUIRE(unlink(path) == 0);
    offpay__lock_release(first);
    REQUIRE(pthread_join(th, NULL) == 0);
    REQUIRE_OK(w.rc);
    CHECK(fstat(w.fd, &held) == 0 && lstat(path, &named) == 0 &&
          held.st_ino == named.st_ino);
    CHECK_ERR(offpay__lock_acquire(path, 0, &third), OFFPAY_EBUSY);
    offpay__lock_release(third);
    offpay__lock_release(w.fd);
}

/* ---- item: the state loader ----------------------------------------- */

/* s with the first occurrence of from replaced by to (malloc'd), or NULL. */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t      n;
    char       *out;

    if (at == NULL)
        return NULL;
    n = strlen(s) - strlen(from) + strlen(to);
    out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    snprintf(out, n + 1, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static offpay_err check_text(const char *s)
{
    return s == NULL
               ? OFFPAY_EINVAL
               : offpay__issuer_state_check((const uint8_t *)s, strlen(s));
}

static void test_state_loader_is_strict(void)
{
    static const struct {
        const char *from, *to;
    } bad[] = {
        {"\"format\":2", "\"format\":2,\"extra\":1"},   /* unknown member */
        {"\"format\":2", "\"format\":3"},               /* unknown format */
        {"\"revoked\":[1,2]", "\"revoked\":[2,1]"},     /* order */
        {"\"revoked\":[1,2]", "\"revoked\":[1,1]"},     /* duplicate */
        {"\"revoked\":[1,2]", "\"revoked\":[1,\"2\"]"}, /* type */
        {"\"next_serial\":3", "\"next_serial\":0"},     /* range */
        {"\"next_kid\":2", "\"next_kid\":1"},           /* kid reuse */
        {"\"next_kid\":2", "\"next_kid\":65537"},       /* range */
        {"\"kid\":1", "\"kid\":2"},                     /* not the bundle's */
        {"\"next_terminal_id\":3", "\"next_terminal_id\":2"}, /* id range */
        {"\"id\":2", "\"id\":1"},                             /* id order */
        {"\"valid_until\":", "\"valid_until\":0,\"x\":"},     /* key members */
    };
    char                 dir[512], path[600], *plain, *mut;
    offpay_issuer       *is = NULL;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    uint8_t              pk[OFFPAY_PK_BYTES];

    tpath("strict", dir, sizeof dir);
    REQUIRE_OK(offpay_issuer_create(dir, PASS, NOW - DAY, &is));
    for (int i = 0; i < 2; i++) {
        new_pk(pk);
        REQUIRE_OK(offpay_issuer_issue_wallet(is, pk, 1000, EUR, NOW, NOW + DAY,
                                              0, &wc));
        REQUIRE_OK(offpay_issuer_issue_terminal(is, 5, pk, EUR, "Shop", NOW,
                                                NOW + DAY, &tc));
    }
    REQUIRE_OK(offpay_issuer_revoke(is, 2, NOW));
    REQUIRE_OK(offpay_issuer_revoke(is, 1, NOW));
    offpay_issuer_close(is);
    plain = unseal(join(dir, "issuer.sealed", path, sizeof path), PASS);
    REQUIRE(plain != NULL);
    CHECK_ERR(check_text(plain), OFFPAY_OK);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mut = replace(plain, bad[i].from, bad[i].to);
        if (mut == NULL) {
            fprintf(stderr, "no '%s' in %s\n", bad[i].from, plain);
            CHECK(mut != NULL);
            continue;
        }
        if (check_text(mut) == OFFPAY_OK) {
            fprintf(stderr, "accepted: %s -> %s\n", bad[i].from, bad[i].to);
            CHECK(0);
        }
        free(mut);
    }
    /* The two terminals' keys swapped into one: a duplicate. */
    {
        const char *p1 = strstr(plain, "\"terminals\":[{\"pk\":\"");
        char        first[65];

        REQUIRE(p1 != NULL);
        memcpy(first, p1 + 20, 64);
        first[64] = '\0';
        mut = strdup(plain);
        REQUIRE(mut != NULL);
        {
            char *p2 = strstr(mut + (p1 - plain) + 20 + 64, "\"pk\":\"");

            REQUIRE(p2 != NULL);
            memcpy(p2 + 6, first, 64);
        }
        CHECK_ERR(check_text(mut), OFFPAY_ECORRUPT);
        free(mut);
    }
    CHECK_ERR(check_text("{\"format\":1}"), OFFPAY_EVERSION);
    CHECK_ERR(check_text("[]"), OFFPAY_ECORRUPT);
    CHECK_ERR(check_text(""), OFFPAY_ECORRUPT);
    free(plain);
}

static const offpay_test tests[] = {
    {"day_to_day_works_with_root_sealed_moved_away",
     test_day_to_day_works_with_root_sealed_moved_away},
    {"root_key_has_its_own_file_and_passphrase",
     test_root_key_has_its_own_file_and_passphrase},
    {"old_directory_refused_then_migrated",
     test_old_directory_refused_then_migrated},
    {"retired_kid_refused_by_terminal_and_wallet",
     test_retired_kid_refused_by_terminal_and_wallet},
    {"weak_keys_refused", test_weak_keys_refused},
    {"revoking_a_never_issued_serial_is_refused",
     test_revoking_a_never_issued_serial_is_refused},
    {"terminal_key_keeps_its_id_and_merchant",
     test_terminal_key_keeps_its_id_and_merchant},
    {"private_files_0600_public_files_0644",
     test_private_files_0600_public_files_0644},
    {"failed_or_refused_init_leaves_dir_as_found",
     test_failed_or_refused_init_leaves_dir_as_found},
    {"lock_removed_while_waited_for_is_not_kept",
     test_lock_removed_while_waited_for_is_not_kept},
    {"state_loader_is_strict", test_state_loader_is_strict},
    {NULL, NULL},
};

int main(void)
{
    setenv("OFFPAY_KDF_COST", "test", 1);
    if (offpay_init() != OFFPAY_OK)
        return 1;
    return offpay_test_main(tests);
}
