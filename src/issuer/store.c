/*
 * store.c — the issuer's key-ceremony state (offpay_issuer, issuer.h).
 *
 * dir/issuer.sealed is a passphrase-sealed file (the wallet file format,
 * src/wallet/wallet_file.c) holding a JSON document, format 2:
 *   {"format":2, "root_pk":hex, "bundle":hex (the trust bundle the root key
 *    signed last), "next_kid":n, "next_serial":n, "next_terminal_id":n,
 *    "revlist_seq":n, "revoked":[serial...] (ascending, as unsigned),
 *    "keys":[{"kid":n, "seed":hex, "valid_from":t, "valid_until":t}...]
 *    (kid ascending, exactly the bundle's keys; a key kept in a PKCS#11
 *    token has "uri":text (RFC 7512, no pin-value) and "pk":hex instead
 *    of "seed": the private key never leaves the token),
 *    "terminals":[{"pk":hex, "id":n, "merchant":n}...] (id ascending),
 *    and, once a key was retired, "retired":[hex...] (the public keys of
 *    the keys retired, in the order retired: none is ever a key of the
 *    bundle again; since 0.12.0, which older versions refuse)}
 * Serials and merchant ids of 2^63 and more are stored as the negative
 * integer of the same 64 bits. The loader is strict: exact member sets,
 * ranges, order, no duplicates, and a bundle that verifies under root_pk
 * and lists the very keys of "keys".
 *
 * The root key lives alone in root.sealed (by default dir/root.sealed):
 *   {"format":1, "root_seed":hex}
 * Format 1 of issuer.sealed (before the root was kept apart) held
 * "root_seed" and "bundle_seq" instead of root_pk, bundle, next_kid and
 * terminals; offpay_issuer_open refuses it (OFFPAY_EVERSION) and
 * offpay_issuer_migrate converts it.
 *
 * Public outputs beside it: root.pub (hex), bundle.opb, revlist.opb.
 * Every mutation saves the sealed file atomically before returning.
 *
 * KDF cost: both sealed files (issuer.sealed, root.sealed) are sealed and
 * opened at OFFPAY__KDF_MODERATE, stronger than a wallet's: save() uses the
 * sealer from create or load, seal_root() its own, and both are opened by
 * offpay__wallet_sealer_load_kdf.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/initdir.h"
#include "core/jsonutil.h"
#include "core/log.h"
#include "core/oserr.h"
#include "issuer/issuer_int.h"
#include "pkcs11/pkcs11_int.h"
#include "offpay/core.h"
#include "offpay/issuer.h"
#include "offpay/verify.h"
#include "wallet/wallet_file.h"

#define STATE_FILE      "issuer.sealed"
#define ROOT_FILE       "root.sealed"
#define STATE_FORMAT    2
#define LEGACY_FORMAT   1
#define ROOT_FORMAT     1
#define PATH_MAX_LEN    4096
#define BUNDLE_CAP      (2 + 9 + OFFPAY_BUNDLE_KEYS_MAX * 42 + 64)
#define KID_END         ((uint32_t)UINT16_MAX + 1) /* next_kid when exhausted */
#define PRIVATE_MODE    0600
#define PRIVATE_DIRMODE 0700
#define PUBLIC_MODE     0644

typedef struct issuer_key {
    uint16_t       kid;
    offpay_keypair kp; /* a token key: pk only, sk zero */
    uint32_t       valid_from;
    uint32_t       valid_until;
    char           uri[OFFPAY_PKCS11_URI_MAX + 1]; /* "" : sealed here */
} issuer_key;

/* A terminal key this issuer credentialed, and the id it got. */
typedef struct issuer_terminal {
    uint8_t  pk[OFFPAY_PK_BYTES];
    uint32_t id;
    uint64_t merchant;
} issuer_terminal;

struct offpay_issuer {
    char *dir;
    int   lock_fd; /* flock on dir/issuer.lock, held while open */
    offpay__wallet_sealer *sealer; /* the state file's key, derived once */
    uint8_t                root_pk[OFFPAY_PK_BYTES];
    offpay_keypair         root;      /* only while have_root */
    int                    have_root; /* unlocked, created or migrating */
    int                    legacy;    /* loaded from format 1 (migrate) */
    int                    readonly;  /* offpay_issuer_open_readonly */
    issuer_key             keys[OFFPAY_BUNDLE_KEYS_MAX];
    unsigned               n_keys;
    uint32_t               next_kid; /* 2..KID_END; kids are never reused */
    uint8_t                bundle[BUNDLE_CAP]; /* signed by the root key */
    size_t                 bundle_len;
    uint32_t               bundle_seq;
    uint32_t               bundle_issued_at;
    uint64_t               next_serial;
    uint32_t               next_terminal_id;
    uint32_t               revlist_seq;
    uint64_t              *revoked; /* ascending */
    uint32_t               n_revoked;
    issuer_terminal       *terminals; /* id ascending */
    uint32_t               n_terminals;
    uint8_t (*retired)[OFFPAY_PK_BYTES]; /* public keys of retired keys */
    uint32_t n_retired;
};

static offpay_err path_in(const char *dir, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);

    return n > 0 && n < PATH_MAX_LEN ? OFFPAY_OK : OFFPAY_EINVAL;
}

/* The root file's path: root_path, or dir/root.sealed. */
static offpay_err root_path_of(const char *dir, const char *root_path,
                               char *out)
{
    if (root_path == NULL)
        return path_in(dir, ROOT_FILE, out);
    if (root_path[0] == '\0' || strlen(root_path) >= PATH_MAX_LEN)
        return OFFPAY_EINVAL;
    memcpy(out, root_path, strlen(root_path) + 1);
    return OFFPAY_OK;
}

/* Forces path's permission bits to mode, whatever they were. */
static offpay_err set_mode(const char *path, mode_t mode)
{
    return chmod(path, mode) == 0 ? OFFPAY_OK : offpay__errno_err(errno);
}

/* One process at a time per issuer directory: serials are never reused.
 * A lock file a failed init removed while this process waited on it is
 * not kept (offpay__lock_take). */
static offpay_err lock_issuer(offpay_issuer *is)
{
    char       path[PATH_MAX_LEN];
    offpay_err rc = path_in(is->dir, "issuer.lock", path);

    if (rc != OFFPAY_OK)
        return rc;
    return offpay__lock_take(path, offpay__lock_wait_ms, &is->lock_fd);
}

static offpay_issuer *issuer_new(const char *dir)
{
    offpay_issuer *is = sodium_malloc(sizeof *is);

    if (is == NULL)
        return NULL;
    memset(is, 0, sizeof *is);
    is->lock_fd = -1;
    is->dir = strdup(dir);
    if (is->dir == NULL) {
        offpay_issuer_close(is);
        return NULL;
    }
    return is;
}

void offpay_issuer_close(offpay_issuer *is)
{
    if (is == NULL)
        return;
    free(is->dir);
    offpay__wallet_sealer_free(is->sealer);
    free(is->revoked);
    free(is->terminals);
    free(is->retired);
    offpay__lock_release(is->lock_fd);
    sodium_free(is); /* wipes the keys */
}

void offpay_issuer_root_pk(const offpay_issuer *is, uint8_t pk[OFFPAY_PK_BYTES])
{
    memcpy(pk, is->root_pk, OFFPAY_PK_BYTES);
}

uint32_t offpay_issuer_next_kid(const offpay_issuer *is)
{
    return is->next_kid;
}

static offpay_err seed_of(const offpay_keypair *kp,
                          uint8_t               seed[OFFPAY_SEED_BYTES])
{
    return crypto_sign_ed25519_sk_to_seed(seed, kp->sk) == 0 ? OFFPAY_OK
                                                             : OFFPAY_ECRYPTO;
}

/* ---- the state document ---------------------------------------------- */

/* Appends v to arr as the JSON integer with the same 64 bits. */
static offpay_err append_bits(json_t *arr, uint64_t v)
{
    return json_array_append_new(arr, json_integer((json_int_t)v)) == 0
               ? OFFPAY_OK
               : OFFPAY_ENOMEM;
}

static offpay_err set_bits(json_t *obj, const char *key, uint64_t v)
{
    return json_object_set_new(obj, key, json_integer((json_int_t)v)) == 0
               ? OFFPAY_OK
               : OFFPAY_ENOMEM;
}

static offpay_err get_bits(const json_t *obj, const char *key, uint64_t *v)
{
    const json_t *j = json_object_get(obj, key);

    if (!json_is_integer(j))
        return OFFPAY_ECORRUPT;
    *v = (uint64_t)json_integer_value(j);
    return OFFPAY_OK;
}

/* The state as format-2 JSON text in *text (free with offpay__json_free). */
static offpay_err state_json(const offpay_issuer *is, char **text)
{
    json_t *root = json_object(), *keys = json_array(), *rev = json_array(),
           *terms = json_array();
    uint8_t    seed[OFFPAY_SEED_BYTES];
    offpay_err rc = OFFPAY_ENOMEM;

    *text = NULL;
    if (root == NULL || keys == NULL || rev == NULL || terms == NULL)
        goto out;
    if ((rc = offpay__json_set_u64(root, "format", STATE_FORMAT)) !=
            OFFPAY_OK ||
        (rc = offpay__json_set_hex(root, "root_pk", is->root_pk,
                                   OFFPAY_PK_BYTES)) != OFFPAY_OK ||
        (rc = offpay__json_set_hex(root, "bundle", is->bundle,
                                   is->bundle_len)) != OFFPAY_OK ||
        (rc = offpay__json_set_u64(root, "next_kid", is->next_kid)) !=
            OFFPAY_OK ||
        (rc = offpay__json_set_u64(root, "next_serial", is->next_serial)) !=
            OFFPAY_OK ||
        (rc = offpay__json_set_u64(root, "next_terminal_id",
                                   is->next_terminal_id)) != OFFPAY_OK ||
        (rc = offpay__json_set_u64(root, "revlist_seq", is->revlist_seq)) !=
            OFFPAY_OK)
        goto out;
    for (unsigned i = 0; i < is->n_keys; i++) {
        json_t *k = json_object();

        if (k == NULL || json_array_append_new(keys, k) != 0) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        if (is->keys[i].uri[0] != '\0') {
            if (json_object_set_new(k, "uri", json_string(is->keys[i].uri)) !=
                    0 ||
                (rc = offpay__json_set_hex(k, "pk", is->keys[i].kp.pk,
                                           OFFPAY_PK_BYTES)) != OFFPAY_OK) {
                rc = rc == OFFPAY_OK ? OFFPAY_ENOMEM : rc;
                goto out;
            }
        } else if ((rc = seed_of(&is->keys[i].kp, seed)) != OFFPAY_OK ||
                   (rc = offpay__json_set_hex(k, "seed", seed, sizeof seed)) !=
                       OFFPAY_OK)
            goto out;
        if ((rc = offpay__json_set_u64(k, "kid", is->keys[i].kid)) !=
                OFFPAY_OK ||
            (rc = offpay__json_set_u64(k, "valid_from",
                                       is->keys[i].valid_from)) != OFFPAY_OK ||
            (rc = offpay__json_set_u64(k, "valid_until",
                                       is->keys[i].valid_until)) != OFFPAY_OK)
            goto out;
    }
    for (uint32_t i = 0; i < is->n_revoked; i++)
        if ((rc = append_bits(rev, is->revoked[i])) != OFFPAY_OK)
            goto out;
    for (uint32_t i = 0; i < is->n_terminals; i++) {
        const issuer_terminal *t = &is->terminals[i];
        json_t                *o = json_object();

        if (o == NULL || json_array_append_new(terms, o) != 0) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        if ((rc = offpay__json_set_hex(o, "pk", t->pk, OFFPAY_PK_BYTES)) !=
                OFFPAY_OK ||
            (rc = offpay__json_set_u64(o, "id", t->id)) != OFFPAY_OK ||
            (rc = set_bits(o, "merchant", t->merchant)) != OFFPAY_OK)
            goto out;
    }
    if (json_object_set(root, "keys", keys) != 0 ||
        json_object_set(root, "revoked", rev) != 0 ||
        json_object_set(root, "terminals", terms) != 0) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    if (is->n_retired > 0) {
        json_t *ret = json_array();

        if (ret == NULL || json_object_set_new(root, "retired", ret) != 0) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < is->n_retired; i++) {
            char hex[2 * OFFPAY_PK_BYTES + 1];

            sodium_bin2hex(hex, sizeof hex, is->retired[i], OFFPAY_PK_BYTES);
            if (json_array_append_new(ret, json_string(hex)) != 0) {
                rc = OFFPAY_ENOMEM;
                goto out;
            }
        }
    }
    *text = json_dumps(root, JSON_COMPACT);
    rc = *text == NULL ? OFFPAY_ENOMEM : OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(keys);
    json_decref(rev);
    json_decref(terms);
    json_decref(root);
    return rc;
}

/* Serializes the state and seals it into dir/issuer.sealed (0600). The
 * file replaced keeps its owner: `offpay issuer add-key` run as root on
 * the directory of offpayd's user must leave offpayd able to read the new
 * key on SIGHUP (offpay__file_write_atomic_owned). */
static offpay_err save(const offpay_issuer *is)
{
    char      *text = NULL;
    uint8_t   *image = NULL; /* sealed: no secret in the clear */
    size_t     image_len = 0;
    char       path[PATH_MAX_LEN];
    offpay_err rc;

    if (is->readonly)
        return OFFPAY_EINVAL; /* opened to be read, without the lock */
    if ((rc = state_json(is, &text)) != OFFPAY_OK)
        goto out;
    if ((rc = path_in(is->dir, STATE_FILE, path)) != OFFPAY_OK)
        goto out;
    rc = offpay__wallet_sealer_seal(is->sealer, (const uint8_t *)text,
                                    strlen(text), &image, &image_len);
    if (rc == OFFPAY_OK)
        rc = offpay__file_write_atomic_owned(path, image, image_len);
out:
    if (text != NULL)
        sodium_memzero(text, strlen(text));
    offpay__json_free(text); /* the wiping allocator zeroes it */
    free(image);
    return rc;
}

/* Reads the member key of o as an integer in [min, max]. */
static offpay_err get_range(const json_t *o, const char *key, uint64_t min,
                            uint64_t max, uint64_t *v)
{
    offpay_err rc = offpay__json_get_u64(o, key, max, v);

    if (rc != OFFPAY_OK)
        return rc;
    return *v >= min ? OFFPAY_OK : OFFPAY_ECORRUPT;
}

static offpay_err parse_keys(offpay_issuer *is, const json_t *keys)
{
    uint8_t    seed[OFFPAY_SEED_BYTES];
    uint64_t   v;
    offpay_err rc = OFFPAY_ECORRUPT;

    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > OFFPAY_BUNDLE_KEYS_MAX)
        return OFFPAY_ECORRUPT;
    is->n_keys = 0;
    for (unsigned i = 0; i < json_array_size(keys); i++) {
        const json_t *k = json_array_get(keys, i);
        issuer_key   *ik = &is->keys[i];

        const json_t *uri = json_object_get(k, "uri");

        rc = OFFPAY_ECORRUPT;
        if (!json_is_object(k) || json_object_size(k) != (uri ? 5u : 4u))
            goto out;
        if ((rc = get_range(k, "kid", 1, UINT16_MAX, &v)) != OFFPAY_OK)
            goto out;
        ik->kid = (uint16_t)v;
        if (i > 0 && ik->kid <= is->keys[i - 1].kid) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        if ((rc = get_range(k, "valid_from", 0, UINT32_MAX, &v)) != OFFPAY_OK)
            goto out;
        ik->valid_from = (uint32_t)v;
        if ((rc = get_range(k, "valid_until", ik->valid_from, UINT32_MAX,
                            &v)) != OFFPAY_OK)
            goto out;
        ik->valid_until = (uint32_t)v;
        if (uri != NULL) {
            /* A key in a token: its URI (storable, bounded) and public key. */
            if (!json_is_string(uri) ||
                json_string_length(uri) > OFFPAY_PKCS11_URI_MAX ||
                strlen(json_string_value(uri)) != json_string_length(uri) ||
                !offpay_pkcs11_uri_storable(json_string_value(uri)) ||
                offpay__json_get_hex(k, "pk", ik->kp.pk, OFFPAY_PK_BYTES) !=
                    OFFPAY_OK ||
                !offpay_pk_usable(ik->kp.pk)) {
                rc = OFFPAY_ECORRUPT;
                goto out;
            }
            memcpy(ik->uri, json_string_value(uri),
                   json_string_length(uri) + 1);
        } else if ((rc = offpay__json_get_hex(k, "seed", seed, sizeof seed)) !=
                       OFFPAY_OK ||
                   (rc = offpay_keypair_from_seed(seed, &ik->kp)) != OFFPAY_OK)
            goto out;
        is->n_keys = i + 1;
    }
    rc = OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    return rc;
}

/* Revoked serials: integers (64 bits), strictly ascending as unsigned. */
static offpay_err parse_revoked(offpay_issuer *is, const json_t *rev)
{
    size_t n;

    if (!json_is_array(rev) || json_array_size(rev) > OFFPAY_REVLIST_MAX)
        return OFFPAY_ECORRUPT;
    n = json_array_size(rev);
    if (n == 0)
        return OFFPAY_OK;
    is->revoked = calloc(n, sizeof *is->revoked);
    if (is->revoked == NULL)
        return OFFPAY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(rev, i);

        if (!json_is_integer(s))
            return OFFPAY_ECORRUPT;
        is->revoked[i] = (uint64_t)json_integer_value(s);
        if (i > 0 && is->revoked[i] <= is->revoked[i - 1])
            return OFFPAY_ECORRUPT;
        is->n_revoked = (uint32_t)(i + 1);
    }
    return OFFPAY_OK;
}

/* 1 when pk is the public key of a key this issuer retired. */
static int was_retired(const offpay_issuer *is, const uint8_t *pk)
{
    for (uint32_t i = 0; i < is->n_retired; i++)
        if (memcmp(is->retired[i], pk, OFFPAY_PK_BYTES) == 0)
            return 1;
    return 0;
}

/* Retired keys (absent: none yet): a non-empty array of distinct public
 * keys, none a key of the bundle (parse_keys ran first). */
static offpay_err parse_retired(offpay_issuer *is, const json_t *ret)
{
    size_t n;

    if (ret == NULL)
        return OFFPAY_OK;
    if (!json_is_array(ret) || (n = json_array_size(ret)) == 0 || n > KID_END)
        return OFFPAY_ECORRUPT;
    is->retired = calloc(n, sizeof *is->retired);
    if (is->retired == NULL)
        return OFFPAY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *hex = json_string_value(json_array_get(ret, i));
        uint8_t     pk[OFFPAY_PK_BYTES];
        size_t      got = 0;

        if (hex == NULL || strlen(hex) != 2 * OFFPAY_PK_BYTES ||
            sodium_hex2bin(pk, sizeof pk, hex, strlen(hex), NULL, &got, NULL) !=
                0 ||
            got != OFFPAY_PK_BYTES || was_retired(is, pk))
            return OFFPAY_ECORRUPT;
        for (unsigned k = 0; k < is->n_keys; k++)
            if (memcmp(is->keys[k].kp.pk, pk, OFFPAY_PK_BYTES) == 0)
                return OFFPAY_ECORRUPT;
        memcpy(is->retired[i], pk, OFFPAY_PK_BYTES);
        is->n_retired = (uint32_t)(i + 1);
    }
    return OFFPAY_OK;
}

/* Terminal keys: valid points, ids ascending below next_terminal_id, no key
 * twice. */
static offpay_err parse_terminals(offpay_issuer *is, const json_t *terms)
{
    size_t     n;
    uint64_t   v;
    offpay_err rc;

    if (!json_is_array(terms) ||
        json_array_size(terms) > OFFPAY_ISSUER_TERMINALS_MAX)
        return OFFPAY_ECORRUPT;
    n = json_array_size(terms);
    if (n == 0)
        return OFFPAY_OK;
    is->terminals = calloc(n, sizeof *is->terminals);
    if (is->terminals == NULL)
        return OFFPAY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t    *o = json_array_get(terms, i);
        issuer_terminal *t = &is->terminals[i];

        if (!json_is_object(o) || json_object_size(o) != 3)
            return OFFPAY_ECORRUPT;
        if ((rc = offpay__json_get_hex(o, "pk", t->pk, OFFPAY_PK_BYTES)) !=
                OFFPAY_OK ||
            (rc = get_range(o, "id", 1, UINT32_MAX, &v)) != OFFPAY_OK ||
            (rc = get_bits(o, "merchant", &t->merchant)) != OFFPAY_OK)
            return rc;
        t->id = (uint32_t)v;
        if (!offpay_pk_usable(t->pk) || t->id >= is->next_terminal_id ||
            (i > 0 && t->id <= is->terminals[i - 1].id))
            return OFFPAY_ECORRUPT;
        for (size_t j = 0; j < i; j++)
            if (memcmp(is->terminals[j].pk, t->pk, OFFPAY_PK_BYTES) == 0)
                return OFFPAY_ECORRUPT;
        is->n_terminals = (uint32_t)(i + 1);
    }
    return OFFPAY_OK;
}

/* The stored bundle must verify under root_pk and list exactly the keys. */
static offpay_err parse_bundle(offpay_issuer *is, const json_t *doc)
{
    offpay_trust_bundle b;

    if (offpay__json_get_hexv(doc, "bundle", is->bundle, sizeof is->bundle,
                              &is->bundle_len) != OFFPAY_OK ||
        offpay_bundle_verify(is->bundle, is->bundle_len, is->root_pk, &b) !=
            OFFPAY_OK ||
        b.n_keys != is->n_keys)
        return OFFPAY_ECORRUPT;
    for (unsigned i = 0; i < is->n_keys; i++)
        if (b.keys[i].kid != is->keys[i].kid ||
            memcmp(b.keys[i].pk, is->keys[i].kp.pk, OFFPAY_PK_BYTES) != 0 ||
            b.keys[i].valid_from != is->keys[i].valid_from ||
            b.keys[i].valid_until != is->keys[i].valid_until)
            return OFFPAY_ECORRUPT;
    is->bundle_seq = b.seq;
    is->bundle_issued_at = b.issued_at;
    return OFFPAY_OK;
}

/*
 * Fills a fresh is from the state document text[0..len). Format 1 is
 * OFFPAY_EVERSION unless allow_legacy, when its root key is loaded into
 * is->root (have_root, legacy set) and the bundle is left for the caller
 * to sign. Every error leaves is to be closed, not used.
 */
static offpay_err parse_state(offpay_issuer *is, const uint8_t *text,
                              size_t len, int allow_legacy)
{
    json_t      *doc = NULL;
    json_error_t jerr;
    uint8_t      seed[OFFPAY_SEED_BYTES];
    uint64_t     format, v;
    offpay_err   rc = OFFPAY_ECORRUPT;

    doc = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc))
        goto out;
    if ((rc = get_range(doc, "format", LEGACY_FORMAT, STATE_FORMAT, &format)) !=
        OFFPAY_OK)
        goto out;
    if (format == LEGACY_FORMAT && !allow_legacy) {
        rc = OFFPAY_EVERSION;
        goto out;
    }
    rc = OFFPAY_ECORRUPT;
    if (json_object_size(doc) !=
        (format == STATE_FORMAT
             ? 10u + (json_object_get(doc, "retired") != NULL ? 1u : 0u)
             : 8u))
        goto out;
    if ((rc = get_range(doc, "next_serial", 1, INT64_MAX, &is->next_serial)) !=
            OFFPAY_OK ||
        (rc = get_range(doc, "next_terminal_id", 1, UINT32_MAX, &v)) !=
            OFFPAY_OK)
        goto out;
    is->next_terminal_id = (uint32_t)v;
    if ((rc = get_range(doc, "revlist_seq", 1, UINT32_MAX, &v)) != OFFPAY_OK)
        goto out;
    is->revlist_seq = (uint32_t)v;
    if ((rc = parse_keys(is, json_object_get(doc, "keys"))) != OFFPAY_OK ||
        (rc = parse_revoked(is, json_object_get(doc, "revoked"))) != OFFPAY_OK)
        goto out;
    if (format == LEGACY_FORMAT) {
        if ((rc = get_range(doc, "bundle_seq", 1, UINT32_MAX, &v)) !=
                OFFPAY_OK ||
            (rc = offpay__json_get_hex(doc, "root_seed", seed, sizeof seed)) !=
                OFFPAY_OK ||
            (rc = offpay_keypair_from_seed(seed, &is->root)) != OFFPAY_OK)
            goto out;
        is->bundle_seq = (uint32_t)v;
        memcpy(is->root_pk, is->root.pk, OFFPAY_PK_BYTES);
        is->have_root = 1;
        is->legacy = 1;
        is->next_kid = (uint32_t)is->keys[is->n_keys - 1].kid + 1;
        rc = OFFPAY_OK;
        goto out;
    }
    if ((rc = get_range(doc, "next_kid",
                        (uint32_t)is->keys[is->n_keys - 1].kid + 1, KID_END,
                        &v)) != OFFPAY_OK)
        goto out;
    is->next_kid = (uint32_t)v;
    if ((rc = parse_terminals(is, json_object_get(doc, "terminals"))) !=
            OFFPAY_OK ||
        (rc = parse_retired(is, json_object_get(doc, "retired"))) !=
            OFFPAY_OK ||
        (rc = offpay__json_get_hex(doc, "root_pk", is->root_pk,
                                   OFFPAY_PK_BYTES)) != OFFPAY_OK)
        goto out;
    rc = parse_bundle(is, doc);
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(doc);
    return rc;
}

offpay_err offpay__issuer_state_check(const uint8_t *text, size_t len)
{
    offpay_issuer *a = issuer_new("."), *b = issuer_new(".");
    char          *again = NULL;
    offpay_err     rc = OFFPAY_ENOMEM;

    if (a == NULL || b == NULL)
        goto out;
    if ((rc = parse_state(a, text, len, 0)) != OFFPAY_OK ||
        (rc = state_json(a, &again)) != OFFPAY_OK)
        goto out;
    rc = parse_state(b, (const uint8_t *)again, strlen(again), 0);
    if (rc == OFFPAY_OK &&
        (b->n_keys != a->n_keys || b->n_revoked != a->n_revoked ||
         b->n_terminals != a->n_terminals || b->n_retired != a->n_retired ||
         b->bundle_seq != a->bundle_seq))
        rc = OFFPAY_ECORRUPT; /* cannot happen: the round trip lost data */
out:
    offpay__json_free(again);
    offpay_issuer_close(a);
    offpay_issuer_close(b);
    return rc;
}

/* Reads dir/issuer.sealed into is (see parse_state for allow_legacy). */
static offpay_err load(offpay_issuer *is, const char *passphrase,
                       int allow_legacy)
{
    char       path[PATH_MAX_LEN];
    uint8_t   *plain = NULL;
    size_t     plain_len = 0;
    offpay_err rc;

    if ((rc = path_in(is->dir, STATE_FILE, path)) != OFFPAY_OK)
        return rc;
    rc = offpay__wallet_sealer_load_kdf(path, passphrase, OFFPAY__KDF_MODERATE,
                                        &plain, &plain_len, &is->sealer);
    if (rc == OFFPAY_OK)
        rc = parse_state(is, plain, plain_len, allow_legacy);
    offpay__wallet_plain_free(plain, plain_len);
    return rc;
}

/* ---- the root key file ----------------------------------------------- */

/* Seals the root key alone into path (0600). */
static offpay_err seal_root(const char *path, const char *passphrase,
                            const offpay_keypair *root)
{
    json_t                *doc = json_object();
    char                  *text = NULL;
    uint8_t                seed[OFFPAY_SEED_BYTES];
    offpay__wallet_sealer *sealer = NULL;
    offpay_err             rc = OFFPAY_ENOMEM;

    if (doc == NULL)
        goto out;
    if ((rc = seed_of(root, seed)) != OFFPAY_OK ||
        (rc = offpay__json_set_u64(doc, "format", ROOT_FORMAT)) != OFFPAY_OK ||
        (rc = offpay__json_set_hex(doc, "root_seed", seed, sizeof seed)) !=
            OFFPAY_OK)
        goto out;
    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    /* The root key gets the issuer's cost too (offline, rarely opened). */
    rc = offpay__wallet_sealer_new_kdf(passphrase, OFFPAY__KDF_MODERATE,
                                       &sealer);
    if (rc == OFFPAY_OK)
        rc = offpay__wallet_sealer_save(sealer, path, (const uint8_t *)text,
                                        strlen(text));
out:
    offpay__wallet_sealer_free(sealer);
    sodium_memzero(seed, sizeof seed);
    offpay__json_free(text);
    json_decref(doc);
    return rc;
}

/* Opens a root file into *root. */
static offpay_err load_root(const char *path, const char *passphrase,
                            offpay_keypair *root)
{
    uint8_t     *plain = NULL;
    size_t       plain_len = 0;
    json_t      *doc = NULL;
    json_error_t jerr;
    uint8_t      seed[OFFPAY_SEED_BYTES];
    uint64_t     format;
    offpay_err   rc;

    rc = offpay__wallet_sealer_load_kdf(path, passphrase, OFFPAY__KDF_MODERATE,
                                        &plain, &plain_len, NULL);
    if (rc != OFFPAY_OK)
        return rc;
    rc = OFFPAY_ECORRUPT;
    doc = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES,
                     &jerr);
    if (!json_is_object(doc) || json_object_size(doc) != 2 ||
        get_range(doc, "format", ROOT_FORMAT, ROOT_FORMAT, &format) !=
            OFFPAY_OK ||
        offpay__json_get_hex(doc, "root_seed", seed, sizeof seed) != OFFPAY_OK)
        goto out;
    rc = offpay_keypair_from_seed(seed, root);
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(doc);
    offpay__wallet_plain_free(plain, plain_len);
    return rc;
}

offpay_err offpay_issuer_unlock_root(offpay_issuer *is, const char *root_path,
                                     const char *root_passphrase)
{
    char           path[PATH_MAX_LEN];
    offpay_keypair kp;
    offpay_err     rc;

    if (is == NULL || root_passphrase == NULL)
        return OFFPAY_EINVAL;
    if ((rc = root_path_of(is->dir, root_path, path)) != OFFPAY_OK)
        return rc;
    rc = load_root(path, root_passphrase, &kp);
    if (rc == OFFPAY_ENOENT)
        rc = OFFPAY_ENOTFOUND; /* no root key file there */
    if (rc == OFFPAY_OK &&
        sodium_memcmp(kp.pk, is->root_pk, OFFPAY_PK_BYTES) != 0)
        rc = OFFPAY_EBUNDLE_SIG;
    if (rc == OFFPAY_OK) {
        is->root = kp;
        is->have_root = 1;
    }
    offpay_keypair_wipe(&kp);
    return rc;
}

/* ---- bundle and public files ----------------------------------------- */

/* Signs the current keys as bundle seq at issued_at with the root key and
 * keeps the bytes in is. Needs the root key. */
static offpay_err sign_bundle(offpay_issuer *is, uint32_t seq,
                              uint32_t issued_at)
{
    offpay_trust_bundle b;
    uint8_t             buf[BUNDLE_CAP];
    size_t              len = 0;
    offpay_err          rc;

    if (!is->have_root)
        return OFFPAY_EINVAL;
    memset(&b, 0, sizeof b);
    b.seq = seq;
    b.issued_at = issued_at;
    b.n_keys = (uint8_t)is->n_keys;
    for (unsigned i = 0; i < is->n_keys; i++) {
        b.keys[i].kid = is->keys[i].kid;
        memcpy(b.keys[i].pk, is->keys[i].kp.pk, OFFPAY_PK_BYTES);
        b.keys[i].valid_from = is->keys[i].valid_from;
        b.keys[i].valid_until = is->keys[i].valid_until;
    }
    if ((rc = offpay_issuer_sign_bundle(is->root.sk, &b)) != OFFPAY_OK ||
        (rc = offpay_bundle_encode(&b, buf, sizeof buf, &len)) != OFFPAY_OK)
        return rc;
    memcpy(is->bundle, buf, len);
    is->bundle_len = len;
    is->bundle_seq = seq;
    is->bundle_issued_at = issued_at;
    return OFFPAY_OK;
}

/* Writes bytes to dir/name atomically, readable by all (0644): these files
 * are handed out. The file replaced keeps its owner, as in save. */
static offpay_err write_public(const offpay_issuer *is, const char *name,
                               const uint8_t *bytes, size_t len)
{
    char       path[PATH_MAX_LEN];
    offpay_err rc = path_in(is->dir, name, path);

    if (rc != OFFPAY_OK)
        return rc;
    if (is->readonly)
        return OFFPAY_EINVAL;
    rc = offpay__file_write_atomic_owned(path, bytes, len);
    if (rc != OFFPAY_OK)
        return rc;
    return set_mode(path, PUBLIC_MODE);
}

static offpay_err write_revlist(offpay_issuer *is, uint32_t now)
{
    uint8_t   *bytes = NULL;
    size_t     len = 0;
    offpay_err rc = offpay_issuer_revlist(is, now, &bytes, &len);

    if (rc == OFFPAY_OK)
        rc = write_public(is, "revlist.opb", bytes, len);
    free(bytes);
    return rc;
}

offpay_err offpay_issuer_publish(offpay_issuer *is, uint32_t now)
{
    char       hex[2 * OFFPAY_PK_BYTES + 2];
    offpay_err rc;

    if (is == NULL)
        return OFFPAY_EINVAL;
    sodium_bin2hex(hex, sizeof hex, is->root_pk, OFFPAY_PK_BYTES);
    strcat(hex, "\n");
    if ((rc = write_public(is, "root.pub", (const uint8_t *)hex,
                           strlen(hex))) != OFFPAY_OK ||
        (rc = write_public(is, "bundle.opb", is->bundle, is->bundle_len)) !=
            OFFPAY_OK)
        return rc;
    return write_revlist(is, now);
}

/* ---- create, open, migrate ------------------------------------------- */

/* What create may make in the issuer's directory, the lock last: a failed
 * or refused init removes those it made (offpay__init_dir_undo). */
static const char *const INIT_FILES[] = {
    STATE_FILE,   ROOT_FILE,     "root.pub",
    "bundle.opb", "revlist.opb", "issuer.lock",
};
#define INIT_FILES_N (sizeof INIT_FILES / sizeof INIT_FILES[0])

/* The public files an issuer writes: a directory holding one already
 * holds (or held) an issuer, whose root key terminals and wallets pin. */
static const char *const PUBLIC_FILES[] = {"root.pub", "bundle.opb",
                                           "revlist.opb"};

/* k as the key a PKCS#11 token holds at key_uri (generate: made there
 * first): its public key and the URI (checked storable by the caller);
 * *p11 the open key, for offpay__pkcs11_unmake should the init fail. */
static offpay_err key_from_token(const char *key_uri, int generate,
                                 issuer_key *k, offpay_pkcs11_key **p11)
{
    offpay_err rc = generate ? offpay_pkcs11_generate(NULL, key_uri, p11)
                             : offpay_pkcs11_open(NULL, key_uri, p11);

    if (rc != OFFPAY_OK)
        return rc;
    offpay_pkcs11_pk(*p11, k->kp.pk);
    memcpy(k->uri, key_uri, strlen(key_uri) + 1);
    return OFFPAY_OK;
}

/* offpay_issuer_create_with_root, and with key_uri the first daily key in
 * a PKCS#11 token (generate: made there first). A failure or a refusal
 * leaves dir as it was found, as the terminal's init does
 * (core/initdir.h): the files it made removed (issuer.lock last, under
 * the lock), dir removed if it made it, else its mode given back, a root
 * file it wrote elsewhere (root_path) removed, and a key pair it
 * generated in the token deleted. */
static offpay_err create(const char *dir, const char *passphrase,
                         const char *root_path, const char *root_passphrase,
                         const char *key_uri, int generate, uint32_t now,
                         offpay_issuer **out)
{
    offpay_issuer     *is = NULL;
    offpay_pkcs11_key *p11 = NULL;
    char               path[PATH_MAX_LEN], rpath[PATH_MAX_LEN];
    struct stat        st;
    offpay__init_dir   d;
    int                root_tried = 0;
    offpay_err         rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (dir == NULL || passphrase == NULL || passphrase[0] == '\0')
        return OFFPAY_EINVAL;
    if (root_passphrase == NULL)
        root_passphrase = passphrase;
    if (root_passphrase[0] == '\0')
        return OFFPAY_EINVAL;
    if ((rc = path_in(dir, STATE_FILE, path)) != OFFPAY_OK ||
        (rc = root_path_of(dir, root_path, rpath)) != OFFPAY_OK)
        return rc;
    /* The URI is stored in issuer.sealed: never with the PIN. */
    if (key_uri != NULL && (strlen(key_uri) > OFFPAY_PKCS11_URI_MAX ||
                            !offpay_pkcs11_uri_storable(key_uri)))
        return OFFPAY_EPKCS11_URI;
    is = issuer_new(dir);
    if (is == NULL)
        return OFFPAY_ENOMEM;
    /* the directory made if missing, and what is there noted (the lock's
     * file before the lock makes it) */
    if ((rc = offpay__init_dir_begin(&d, dir, INIT_FILES, INIT_FILES_N,
                                     "issuer init")) != OFFPAY_OK) {
        offpay_issuer_close(is);
        return rc;
    }
    if ((rc = lock_issuer(is)) != OFFPAY_OK)
        goto out;
    offpay__init_dir_locked(&d);
    /* An issuer there already, or its public files (a root key that
     * terminals and wallets pin), or a root file: never replaced. */
    if (lstat(path, &st) == 0 || lstat(rpath, &st) == 0) {
        rc = OFFPAY_EEXISTS;
        goto out;
    }
    for (size_t i = 0; i < sizeof PUBLIC_FILES / sizeof PUBLIC_FILES[0]; i++) {
        char pub[PATH_MAX_LEN];

        if ((rc = path_in(dir, PUBLIC_FILES[i], pub)) != OFFPAY_OK)
            goto out;
        if (lstat(pub, &st) == 0) {
            rc = OFFPAY_EEXISTS;
            goto out;
        }
    }
    if ((rc = set_mode(dir, PRIVATE_DIRMODE)) != OFFPAY_OK)
        goto out;
    if ((rc = offpay__wallet_sealer_new_kdf(passphrase, OFFPAY__KDF_MODERATE,
                                            &is->sealer)) != OFFPAY_OK)
        goto out;
    if ((rc = offpay_keypair_generate(&is->root)) != OFFPAY_OK)
        goto out;
    /* With key_uri the first daily key is the token's: no daily key is
     * ever sealed here, so the passphrase offpayd holds opens no signing
     * key. The token is asked before anything is written. */
    rc = key_uri != NULL ? key_from_token(key_uri, generate, &is->keys[0], &p11)
                         : offpay_keypair_generate(&is->keys[0].kp);
    if (rc != OFFPAY_OK)
        goto out;
    is->have_root = 1;
    memcpy(is->root_pk, is->root.pk, OFFPAY_PK_BYTES);
    is->keys[0].kid = 1;
    is->keys[0].valid_from = now;
    is->keys[0].valid_until = now > UINT32_MAX - OFFPAY_ISSUER_KEY_LIFETIME
                                  ? UINT32_MAX
                                  : now + OFFPAY_ISSUER_KEY_LIFETIME;
    is->n_keys = 1;
    is->next_kid = 2;
    is->next_serial = 1;
    is->next_terminal_id = 1;
    is->revlist_seq = 1;
    if ((rc = sign_bundle(is, 1, now)) != OFFPAY_OK)
        goto out;
    /* The root first: a state without its root would be unusable. */
    root_tried = 1;
    if ((rc = seal_root(rpath, root_passphrase, &is->root)) != OFFPAY_OK)
        goto out;
    if ((rc = save(is)) != OFFPAY_OK ||
        (rc = offpay_issuer_publish(is, now)) != OFFPAY_OK)
        goto out;
    *out = is;
    is = NULL;
out:
    if (is != NULL) {
        int lock_fd = is->lock_fd;

        /* the token's pair first (the caller's detail kept), then the
         * files; a root file outside dir (--root) was not there: made
         * here, if at all */
        (void)offpay__pkcs11_unmake(p11);
        if (root_tried && root_path != NULL && lock_fd >= 0 &&
            unlink(rpath) != 0 && errno != ENOENT)
            offpay__log("offpay: could not remove %s after the failed "
                        "issuer init: %s; remove it before init again\n",
                        rpath, strerror(errno));
        is->lock_fd = -1;
        offpay_issuer_close(is);
        offpay__init_dir_undo(&d, lock_fd);
    }
    offpay_pkcs11_close(p11);
    return rc;
}

offpay_err offpay_issuer_create_with_root(const char *dir,
                                          const char *passphrase,
                                          const char *root_path,
                                          const char *root_passphrase,
                                          uint32_t now, offpay_issuer **out)
{
    return create(dir, passphrase, root_path, root_passphrase, NULL, 0, now,
                  out);
}

offpay_err offpay_issuer_create_in_token(const char *dir,
                                         const char *passphrase,
                                         const char *root_path,
                                         const char *root_passphrase,
                                         const char *key_uri, int generate,
                                         uint32_t now, offpay_issuer **out)
{
    if (out != NULL)
        *out = NULL;
    if (key_uri == NULL)
        return OFFPAY_EINVAL;
    return create(dir, passphrase, root_path, root_passphrase, key_uri,
                  generate, now, out);
}

offpay_err offpay_issuer_create(const char *dir, const char *passphrase,
                                uint32_t now, offpay_issuer **out)
{
    return offpay_issuer_create_with_root(dir, passphrase, NULL, NULL, now,
                                          out);
}

/* Locks and loads dir into a new *out, after tightening the modes of the
 * directory and the state file. */
static offpay_err open_state(const char *dir, const char *passphrase,
                             int allow_legacy, int readonly,
                             offpay_issuer **out)
{
    offpay_issuer *is;
    char           path[PATH_MAX_LEN];
    struct stat    st;
    offpay_err     rc;

    *out = NULL;
    if (dir == NULL || passphrase == NULL)
        return OFFPAY_EINVAL;
    if (path_in(dir, STATE_FILE, path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    /* No issuer here: not found; a path that cannot be followed (a file
     * given as the directory: ENOTDIR) by its reason. */
    if (stat(path, &st) != 0)
        return errno == ENOENT ? OFFPAY_ENOTFOUND : offpay__errno_err(errno);
    if (!readonly && ((rc = set_mode(dir, PRIVATE_DIRMODE)) != OFFPAY_OK ||
                      (rc = set_mode(path, PRIVATE_MODE)) != OFFPAY_OK))
        return rc;
    is = issuer_new(dir);
    if (is == NULL)
        return OFFPAY_ENOMEM;
    is->readonly = readonly;
    /* a reader needs no lock: every save replaces the file by a rename */
    rc = readonly ? OFFPAY_OK : lock_issuer(is);
    if (rc == OFFPAY_OK)
        rc = load(is, passphrase, allow_legacy);
    if (rc != OFFPAY_OK) {
        offpay_issuer_close(is);
        return rc;
    }
    *out = is;
    return OFFPAY_OK;
}

offpay_err offpay_issuer_open(const char *dir, const char *passphrase,
                              offpay_issuer **out)
{
    if (out == NULL)
        return OFFPAY_EINVAL;
    return open_state(dir, passphrase, 0, 0, out);
}

offpay_err offpay_issuer_open_readonly(const char *dir, const char *passphrase,
                                       offpay_issuer **out)
{
    if (out == NULL)
        return OFFPAY_EINVAL;
    return open_state(dir, passphrase, 0, 1, out);
}

offpay_err offpay_issuer_migrate(const char *dir, const char *passphrase,
                                 const char *root_path,
                                 const char *root_passphrase)
{
    offpay_issuer *is = NULL;
    offpay_keypair kp;
    char           rpath[PATH_MAX_LEN], path[PATH_MAX_LEN];
    struct stat    st;
    uint32_t       kept = 0;
    offpay_err     rc;

    memset(&kp, 0, sizeof kp);
    if (dir == NULL || passphrase == NULL)
        return OFFPAY_EINVAL;
    if (root_passphrase == NULL)
        root_passphrase = passphrase;
    if (root_passphrase[0] == '\0')
        return OFFPAY_EINVAL;
    if ((rc = root_path_of(dir, root_path, rpath)) != OFFPAY_OK)
        return rc;
    if ((rc = open_state(dir, passphrase, 1, 0, &is)) != OFFPAY_OK)
        goto out;
    if (!is->legacy) {
        rc = OFFPAY_EEXISTS; /* already in the current format */
        goto out;
    }
    /* Only serials that were issued can have been handed out. */
    for (uint32_t i = 0; i < is->n_revoked; i++)
        if (is->revoked[i] >= 1 && is->revoked[i] < is->next_serial)
            is->revoked[kept++] = is->revoked[i];
    is->n_revoked = kept;
    /* The same bundle as before: same sequence, issued at the newest key's
     * start, so the same bytes under the deterministic signature. */
    if ((rc = sign_bundle(is, is->bundle_seq,
                          is->keys[is->n_keys - 1].valid_from)) != OFFPAY_OK)
        goto out;
    if (lstat(rpath, &st) == 0) {
        /* A rerun after an interrupted migration, or another issuer's. */
        rc = load_root(rpath, root_passphrase, &kp);
        if (rc == OFFPAY_EPASSPHRASE || rc == OFFPAY_ECORRUPT ||
            (rc == OFFPAY_OK &&
             sodium_memcmp(kp.pk, is->root_pk, OFFPAY_PK_BYTES) != 0))
            rc = OFFPAY_EEXISTS;
        if (rc != OFFPAY_OK)
            goto out;
    } else if ((rc = seal_root(rpath, root_passphrase, &is->root)) != OFFPAY_OK)
        goto out;
    if ((rc = save(is)) != OFFPAY_OK ||
        (rc = write_public(is, "bundle.opb", is->bundle, is->bundle_len)) !=
            OFFPAY_OK)
        goto out;
    /* The other public files keep their bytes; only their mode changes. */
    if (path_in(dir, "root.pub", path) == OFFPAY_OK)
        (void)chmod(path, PUBLIC_MODE);
    if (path_in(dir, "revlist.opb", path) == OFFPAY_OK)
        (void)chmod(path, PUBLIC_MODE);
out:
    offpay_keypair_wipe(&kp);
    offpay_issuer_close(is);
    return rc;
}

offpay_err offpay_issuer_bundle(const offpay_issuer *is, uint8_t **bytes,
                                size_t *len)
{
    if (bytes != NULL)
        *bytes = NULL;
    if (is == NULL || bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    *bytes = malloc(is->bundle_len);
    if (*bytes == NULL)
        return OFFPAY_ENOMEM;
    memcpy(*bytes, is->bundle, is->bundle_len);
    *len = is->bundle_len;
    return OFFPAY_OK;
}

/* ---- issuing --------------------------------------------------------- */

/* Whether key, opened from k's URI, is k: else OFFPAY_EPKCS11, the detail
 * saying which key the token holds there instead. */
static offpay_err token_key_is(const issuer_key        *k,
                               const offpay_pkcs11_key *key)
{
    uint8_t pk[OFFPAY_PK_BYTES];
    char    has[17], rec[17];

    offpay_pkcs11_pk(key, pk);
    if (sodium_memcmp(pk, k->kp.pk, OFFPAY_PK_BYTES) == 0)
        return OFFPAY_OK;
    sodium_bin2hex(has, sizeof has, pk, 8);
    sodium_bin2hex(rec, sizeof rec, k->kp.pk, 8);
    offpay__pkcs11_detail_set(
        "the token's key at %s is not the issuer's key %u (its public key "
        "%s..., issuer.sealed records %s...): the token was replaced or its "
        "label reused for another key",
        k->uri, (unsigned)k->kid, has, rec);
    return OFFPAY_EPKCS11;
}

offpay_err offpay__issuer_token_key_is(const offpay_issuer *is, uint16_t kid,
                                       const offpay_pkcs11_key *key)
{
    if (is == NULL || key == NULL)
        return OFFPAY_EINVAL;
    for (unsigned i = 0; i < is->n_keys; i++)
        if (is->keys[i].kid == kid && is->keys[i].uri[0] != '\0')
            return token_key_is(&is->keys[i], key);
    return OFFPAY_ENOTFOUND;
}

/* The signer of k: its sealed secret, or its key in the PKCS#11 token,
 * opened here into *p11 (close it after signing), which must still hold
 * k's public key. Errors: those of offpay_pkcs11_open, OFFPAY_EPKCS11 (the
 * token's key under that URI is another key: token_key_is). */
static offpay_err key_signer(const issuer_key *k, offpay_signer *s,
                             offpay_pkcs11_key **p11)
{
    offpay_err rc;

    *p11 = NULL;
    s->sk = NULL;
    s->p11 = NULL;
    if (k->uri[0] == '\0') {
        s->sk = k->kp.sk;
        return OFFPAY_OK;
    }
    rc = offpay_pkcs11_open(NULL, k->uri, p11);
    if (rc != OFFPAY_OK)
        return rc;
    if ((rc = token_key_is(k, *p11)) != OFFPAY_OK) {
        offpay_pkcs11_close(*p11);
        *p11 = NULL;
        return rc;
    }
    s->p11 = *p11;
    return OFFPAY_OK;
}

/* The newest signing key whose window covers [from, until]. */
static const issuer_key *key_covering(const offpay_issuer *is, uint32_t from,
                                      uint32_t until)
{
    for (unsigned i = is->n_keys; i > 0; i--) {
        const issuer_key *k = &is->keys[i - 1];

        if (k->valid_from <= from && until <= k->valid_until)
            return k;
    }
    return NULL;
}

offpay_err offpay_issuer_issue_wallet(offpay_issuer *is,
                                      const uint8_t  wallet_pk[OFFPAY_PK_BYTES],
                                      int64_t limit, uint16_t currency,
                                      uint32_t valid_from, uint32_t expires,
                                      uint8_t flags, offpay_wallet_cred *out)
{
    const issuer_key  *k;
    offpay_wallet_cred c;
    offpay_signer      signer;
    offpay_pkcs11_key *p11 = NULL;
    offpay_err         rc;

    if (is == NULL || wallet_pk == NULL || out == NULL ||
        valid_from > expires || (flags & ~OFFPAY_CRED_FLAGS_KNOWN) != 0)
        return OFFPAY_EINVAL;
    if (!offpay_pk_usable(wallet_pk))
        return OFFPAY_EWEAK_KEY;
    if (limit <= 0 || limit > OFFPAY_WIRE_AMOUNT_MAX ||
        is->next_serial >= INT64_MAX)
        return OFFPAY_ERANGE;
    if (offpay_currency_exponent(currency) < 0)
        return OFFPAY_ECURRENCY_UNKNOWN;
    k = key_covering(is, valid_from, expires);
    if (k == NULL)
        return OFFPAY_EKID_EXPIRED;
    memset(&c, 0, sizeof c);
    c.kid = k->kid;
    c.serial = is->next_serial;
    memcpy(c.wallet_pk, wallet_pk, OFFPAY_PK_BYTES);
    c.limit = (uint32_t)limit;
    c.currency = currency;
    c.valid_from = valid_from;
    c.expires = expires;
    c.flags = flags;
    rc = key_signer(k, &signer, &p11);
    if (rc == OFFPAY_OK)
        rc = offpay_issuer_sign_wallet_cred_by(&signer, &c);
    offpay_pkcs11_close(p11);
    if (rc != OFFPAY_OK)
        return rc;
    /* The serial is consumed on disk before the credential leaves; after a
     * failed save it stays consumed in memory too (skipped, never reused). */
    is->next_serial++;
    rc = save(is);
    if (rc != OFFPAY_OK)
        return rc;
    *out = c;
    return OFFPAY_OK;
}

/* The entry of a credentialed terminal key, or NULL. */
static const issuer_terminal *terminal_of(const offpay_issuer *is,
                                          const uint8_t pk[OFFPAY_PK_BYTES])
{
    for (uint32_t i = 0; i < is->n_terminals; i++)
        if (memcmp(is->terminals[i].pk, pk, OFFPAY_PK_BYTES) == 0)
            return &is->terminals[i];
    return NULL;
}

offpay_err
offpay_issuer_issue_terminal(offpay_issuer *is, uint64_t merchant_id,
                             const uint8_t terminal_pk[OFFPAY_PK_BYTES],
                             uint16_t currency, const char *name,
                             uint32_t valid_from, uint32_t expires,
                             offpay_terminal_cred *out)
{
    const issuer_key      *k;
    const issuer_terminal *known;
    issuer_terminal       *grown;
    offpay_terminal_cred   c;
    offpay_signer          signer;
    offpay_pkcs11_key     *p11 = NULL;
    size_t                 nlen;
    offpay_err             rc;

    if (is == NULL || terminal_pk == NULL || name == NULL || out == NULL ||
        valid_from > expires)
        return OFFPAY_EINVAL;
    if (!offpay_pk_usable(terminal_pk))
        return OFFPAY_EWEAK_KEY;
    nlen = strlen(name);
    if (nlen == 0 || nlen > OFFPAY_NAME_MAX)
        return OFFPAY_EMALFORMED;
    if (offpay_currency_exponent(currency) < 0)
        return OFFPAY_ECURRENCY_UNKNOWN;
    known = terminal_of(is, terminal_pk);
    if (known != NULL && known->merchant != merchant_id)
        return OFFPAY_EEXISTS; /* one key is one terminal of one merchant */
    if (known == NULL && (is->n_terminals >= OFFPAY_ISSUER_TERMINALS_MAX ||
                          is->next_terminal_id == UINT32_MAX))
        return OFFPAY_ERANGE;
    k = key_covering(is, valid_from, expires);
    if (k == NULL)
        return OFFPAY_EKID_EXPIRED;
    memset(&c, 0, sizeof c);
    c.kid = k->kid;
    c.merchant_id = merchant_id;
    c.terminal_id = known != NULL ? known->id : is->next_terminal_id;
    memcpy(c.terminal_pk, terminal_pk, OFFPAY_PK_BYTES);
    c.currency = currency;
    c.valid_from = valid_from;
    c.expires = expires;
    c.name_len = (uint8_t)nlen;
    memcpy(c.name, name, nlen);
    rc = key_signer(k, &signer, &p11);
    if (rc == OFFPAY_OK)
        rc = offpay_issuer_sign_terminal_cred_by(&signer, &c);
    offpay_pkcs11_close(p11);
    if (rc == OFFPAY_EINVAL)
        return OFFPAY_EMALFORMED; /* the name is not displayable UTF-8 */
    if (rc != OFFPAY_OK)
        return rc;
    if (known == NULL) {
        /* A new terminal: its id and key are on disk before the
         * credential leaves. After a failed save the id stays consumed
         * (skipped) but the key is forgotten, so a retry saves it. */
        grown = realloc(is->terminals,
                        (is->n_terminals + 1) * sizeof *is->terminals);
        if (grown == NULL)
            return OFFPAY_ENOMEM;
        is->terminals = grown;
        memcpy(grown[is->n_terminals].pk, terminal_pk, OFFPAY_PK_BYTES);
        grown[is->n_terminals].id = is->next_terminal_id;
        grown[is->n_terminals].merchant = merchant_id;
        is->n_terminals++;
        is->next_terminal_id++;
        rc = save(is);
        if (rc != OFFPAY_OK) {
            is->n_terminals--;
            return rc;
        }
    }
    *out = c;
    return OFFPAY_OK;
}

/* ---- revocation ------------------------------------------------------ */

offpay_err offpay_issuer_revlist(offpay_issuer *is, uint32_t now,
                                 uint8_t **bytes, size_t *len)
{
    offpay_revlist     l;
    const issuer_key  *k;
    offpay_signer      signer;
    offpay_pkcs11_key *p11 = NULL;
    uint8_t           *buf;
    size_t             cap;
    offpay_err         rc;

    if (bytes != NULL)
        *bytes = NULL;
    if (is == NULL || bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    k = key_covering(is, now, now);
    if (k == NULL)
        return OFFPAY_EKID_EXPIRED;
    memset(&l, 0, sizeof l);
    l.kid = k->kid;
    l.seq = is->revlist_seq;
    l.base_seq = 0;
    l.issued_at = now;
    l.n_serials = is->n_revoked;
    l.serials = is->revoked;
    rc = key_signer(k, &signer, &p11);
    if (rc == OFFPAY_OK)
        rc = offpay_issuer_sign_revlist_by(&signer, &l);
    offpay_pkcs11_close(p11);
    if (rc != OFFPAY_OK)
        return rc;
    cap = OFFPAY_REVLIST_HEADER_BYTES + (size_t)l.n_serials * 8 + 64;
    buf = malloc(cap);
    if (buf == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay_revlist_encode(&l, buf, cap, len);
    if (rc != OFFPAY_OK) {
        free(buf);
        return rc;
    }
    *bytes = buf;
    return OFFPAY_OK;
}

offpay_err offpay__issuer_revoke_any(offpay_issuer *is, uint64_t serial,
                                     uint32_t now)
{
    uint64_t  *grown;
    uint32_t   at = 0;
    offpay_err rc;

    if (is == NULL)
        return OFFPAY_EINVAL;
    while (at < is->n_revoked && is->revoked[at] < serial)
        at++;
    if (at < is->n_revoked && is->revoked[at] == serial)
        return OFFPAY_EEXISTS;
    if (is->n_revoked >= OFFPAY_REVLIST_MAX || is->revlist_seq == UINT32_MAX)
        return OFFPAY_ERANGE;
    grown = realloc(is->revoked, (is->n_revoked + 1) * sizeof *grown);
    if (grown == NULL)
        return OFFPAY_ENOMEM;
    is->revoked = grown;
    memmove(&grown[at + 1], &grown[at], (is->n_revoked - at) * sizeof *grown);
    grown[at] = serial;
    is->n_revoked++;
    is->revlist_seq++;
    rc = save(is);
    if (rc != OFFPAY_OK) {
        memmove(&grown[at], &grown[at + 1],
                (is->n_revoked - at - 1) * sizeof *grown);
        is->n_revoked--;
        is->revlist_seq--;
        return rc;
    }
    return write_revlist(is, now);
}

offpay_err offpay_issuer_revoke(offpay_issuer *is, uint64_t serial,
                                uint32_t now)
{
    if (is == NULL)
        return OFFPAY_EINVAL;
    if (serial == 0 || serial >= is->next_serial)
        return OFFPAY_ENOT_ISSUED;
    return offpay__issuer_revoke_any(is, serial, now);
}

/* ---- key rotation ---------------------------------------------------- */

/* offpay_issuer_add_key, and with key_uri the key in a token (generate:
 * made there first). A failure leaves the issuer as it was, and deletes a
 * pair it generated in the token, as a failed init does. */
static offpay_err add_key_as(offpay_issuer *is, uint32_t valid_from,
                             uint32_t lifetime, const char *key_uri,
                             int generate, uint16_t *kid)
{
    issuer_key        *k;
    uint8_t            old_bundle[BUNDLE_CAP];
    size_t             old_len;
    uint32_t           old_seq, old_at;
    offpay_pkcs11_key *p11 = NULL;
    offpay_err         rc;

    if (is == NULL || lifetime == 0 || !is->have_root)
        return OFFPAY_EINVAL;
    if (is->n_keys >= OFFPAY_BUNDLE_KEYS_MAX || is->next_kid >= KID_END ||
        is->bundle_seq == UINT32_MAX)
        return OFFPAY_ERANGE;
    /* The URI is stored in issuer.sealed: never with the PIN. */
    if (key_uri != NULL && (strlen(key_uri) > OFFPAY_PKCS11_URI_MAX ||
                            !offpay_pkcs11_uri_storable(key_uri)))
        return OFFPAY_EPKCS11_URI;
    k = &is->keys[is->n_keys];
    sodium_memzero(k, sizeof *k);
    if (key_uri != NULL) {
        rc = key_from_token(key_uri, generate, k, &p11);
        if (rc != OFFPAY_OK) {
            offpay_pkcs11_close(p11);
            return rc;
        }
        for (unsigned i = 0; i < is->n_keys; i++)
            if (memcmp(is->keys[i].kp.pk, k->kp.pk, OFFPAY_PK_BYTES) == 0) {
                sodium_memzero(k, sizeof *k);
                offpay_pkcs11_close(p11);
                return OFFPAY_EEXISTS; /* already a key of the bundle */
            }
        if (was_retired(is, k->kp.pk)) { /* retired: it never signs again */
            sodium_memzero(k, sizeof *k);
            offpay_pkcs11_close(p11);
            return OFFPAY_EEXISTS;
        }
    } else if ((rc = offpay_keypair_generate(&k->kp)) != OFFPAY_OK)
        return rc;
    k->kid = (uint16_t)is->next_kid;
    k->valid_from = valid_from;
    k->valid_until =
        valid_from > UINT32_MAX - lifetime ? UINT32_MAX : valid_from + lifetime;
    memcpy(old_bundle, is->bundle, is->bundle_len);
    old_len = is->bundle_len;
    old_seq = is->bundle_seq;
    old_at = is->bundle_issued_at;
    is->n_keys++;
    is->next_kid++;
    rc = sign_bundle(is, old_seq + 1, valid_from);
    if (rc == OFFPAY_OK)
        rc = save(is);
    if (rc != OFFPAY_OK) {
        is->n_keys--;
        is->next_kid--;
        memcpy(is->bundle, old_bundle, old_len);
        is->bundle_len = old_len;
        is->bundle_seq = old_seq;
        is->bundle_issued_at = old_at;
        sodium_memzero(k, sizeof *k);
        /* not in issuer.sealed: a pair made in the token for it goes too
         * (its label free for the next try; the caller's detail kept).
         * But OFFPAY_EIO may come once the file was replaced, its
         * directory not synced (offpay__file_write_atomic): issuer.sealed
         * may name the key, which is kept then, and said. */
        if (rc != OFFPAY_EIO)
            (void)offpay__pkcs11_unmake(p11);
        else if (generate)
            offpay__log("offpay: WARNING: the key pair just made in the "
                        "PKCS#11 token (%s) was kept: issuer.sealed may "
                        "name it (its write failed with an I/O error, "
                        "perhaps after replacing the file). If 'offpay "
                        "issuer show' lists no key with that URI, delete it "
                        "with the token's tool before making a key under "
                        "its name again\n",
                        key_uri);
        offpay_pkcs11_close(p11);
        return rc;
    }
    offpay_pkcs11_close(p11); /* the key is the issuer's now */
    rc = write_public(is, "bundle.opb", is->bundle, is->bundle_len);
    if (rc == OFFPAY_OK && kid != NULL)
        *kid = k->kid;
    return rc;
}

offpay_err offpay_issuer_add_key(offpay_issuer *is, uint32_t valid_from,
                                 uint32_t lifetime, uint16_t *kid)
{
    return add_key_as(is, valid_from, lifetime, NULL, 0, kid);
}

offpay_err offpay_issuer_add_key_in_token(offpay_issuer *is,
                                          uint32_t       valid_from,
                                          uint32_t       lifetime,
                                          const char *key_uri, int generate,
                                          uint16_t *kid)
{
    if (key_uri == NULL)
        return OFFPAY_EINVAL;
    return add_key_as(is, valid_from, lifetime, key_uri, generate, kid);
}

offpay_err offpay_issuer_retire_key(offpay_issuer *is, uint16_t kid,
                                    uint32_t now)
{
    issuer_key *gone = NULL; /* sodium_malloc'd copy of the retired key */
    uint8_t     old_bundle[BUNDLE_CAP];
    size_t      old_len = 0;
    uint32_t    old_seq, old_at;
    unsigned    at = 0, others_now = 0;
    offpay_err  rc;

    if (is == NULL || !is->have_root)
        return OFFPAY_EINVAL;
    while (at < is->n_keys && is->keys[at].kid != kid)
        at++;
    if (at == is->n_keys)
        return OFFPAY_EUNKNOWN_KID;
    for (unsigned i = 0; i < is->n_keys; i++)
        if (i != at && is->keys[i].valid_from <= now &&
            now <= is->keys[i].valid_until)
            others_now++;
    if (others_now == 0)
        return OFFPAY_EKID_EXPIRED; /* nothing left to sign lists with */
    if (is->bundle_seq == UINT32_MAX)
        return OFFPAY_ERANGE;
    gone = sodium_malloc(sizeof *gone);
    if (gone == NULL)
        return OFFPAY_ENOMEM;
    /* its public key kept, so that it is never added back */
    {
        uint8_t(*grown)[OFFPAY_PK_BYTES] =
            realloc(is->retired, (is->n_retired + 1) * sizeof *is->retired);

        if (grown == NULL) {
            sodium_free(gone);
            return OFFPAY_ENOMEM;
        }
        is->retired = grown;
    }
    memcpy(is->retired[is->n_retired++], is->keys[at].kp.pk, OFFPAY_PK_BYTES);
    *gone = is->keys[at];
    memcpy(old_bundle, is->bundle, is->bundle_len);
    old_len = is->bundle_len;
    old_seq = is->bundle_seq;
    old_at = is->bundle_issued_at;
    memmove(&is->keys[at], &is->keys[at + 1],
            (is->n_keys - at - 1) * sizeof *is->keys);
    is->n_keys--;
    sodium_memzero(&is->keys[is->n_keys], sizeof is->keys[is->n_keys]);
    rc = sign_bundle(is, old_seq + 1, now > old_at ? now : old_at);
    if (rc == OFFPAY_OK)
        rc = save(is);
    if (rc != OFFPAY_OK) {
        is->n_retired--;
        memmove(&is->keys[at + 1], &is->keys[at],
                (is->n_keys - at) * sizeof *is->keys);
        is->keys[at] = *gone;
        is->n_keys++;
        memcpy(is->bundle, old_bundle, old_len);
        is->bundle_len = old_len;
        is->bundle_seq = old_seq;
        is->bundle_issued_at = old_at;
        goto out;
    }
    /* The bundle without the key, and the list signed by a key that
     * remains (the one on file may be signed by the retired key). */
    rc = write_public(is, "bundle.opb", is->bundle, is->bundle_len);
    if (rc == OFFPAY_OK)
        rc = write_revlist(is, now);
out:
    sodium_free(gone); /* wipes the retired secret */
    return rc;
}

offpay_err offpay_issuer_signing_key(const offpay_issuer *is, uint32_t now,
                                     uint16_t *kid, uint8_t sk[OFFPAY_SK_BYTES])
{
    const issuer_key *k;

    if (is == NULL || kid == NULL || sk == NULL)
        return OFFPAY_EINVAL;
    k = key_covering(is, now, now);
    if (k == NULL)
        return OFFPAY_EKID_EXPIRED;
    if (k->uri[0] != '\0')
        return OFFPAY_EPKCS11; /* in a token: offpay_issuer_signing_key_uri */
    *kid = k->kid;
    memcpy(sk, k->kp.sk, OFFPAY_SK_BYTES);
    return OFFPAY_OK;
}

uint16_t offpay_issuer_sealed_beside_token(const offpay_issuer *is,
                                           uint32_t             now)
{
    uint16_t sealed = 0;
    int      token = 0;

    if (is == NULL)
        return 0;
    for (unsigned i = 0; i < is->n_keys; i++) {
        const issuer_key *k = &is->keys[i];

        if (k->uri[0] != '\0')
            token = 1;
        else if (k->valid_from <= now && now <= k->valid_until)
            sealed = k->kid; /* kid ascending: the newest such */
    }
    return token ? sealed : 0;
}

offpay_err offpay_issuer_key_uri(const offpay_issuer *is, uint16_t kid,
                                 char uri[OFFPAY_PKCS11_URI_MAX + 1])
{
    if (is == NULL || uri == NULL)
        return OFFPAY_EINVAL;
    for (unsigned i = 0; i < is->n_keys; i++) {
        if (is->keys[i].kid != kid)
            continue;
        if (is->keys[i].uri[0] == '\0')
            return OFFPAY_ENOTFOUND;
        memcpy(uri, is->keys[i].uri, strlen(is->keys[i].uri) + 1);
        return OFFPAY_OK;
    }
    return OFFPAY_EUNKNOWN_KID;
}

offpay_err offpay_issuer_signing_key_uri(const offpay_issuer *is, uint32_t now,
                                         uint16_t *kid,
                                         char uri[OFFPAY_PKCS11_URI_MAX + 1])
{
    const issuer_key *k;

    if (is == NULL || kid == NULL || uri == NULL)
        return OFFPAY_EINVAL;
    k = key_covering(is, now, now);
    if (k == NULL)
        return OFFPAY_EKID_EXPIRED;
    if (k->uri[0] == '\0')
        return OFFPAY_ENOTFOUND;
    *kid = k->kid;
    memcpy(uri, k->uri, strlen(k->uri) + 1);
    return OFFPAY_OK;
}
