/*
 * store.c — the issuer's key-ceremony state (offpay_issuer, issuer.h).
 *
 * dir/issuer.sealed is a passphrase-sealed file (the wallet file format,
 * src/wallet/wallet_file.c) holding a JSON document:
 *   {"format":1, "root_seed":hex, "bundle_seq":n, "next_serial":n,
 *    "next_terminal_id":n, "revlist_seq":n, "revoked":[serial...],
 *    "keys":[{"kid":n, "seed":hex, "valid_from":t, "valid_until":t}...]}
 * Public outputs beside it: root.pub (hex), bundle.opb, revlist.opb.
 * Every mutation saves the sealed file atomically before returning.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/jsonutil.h"
#include "offpay/core.h"
#include "offpay/issuer.h"
#include "wallet/wallet_file.h"

#define STATE_FILE   "issuer.sealed"
#define PATH_MAX_LEN 4096

typedef struct issuer_key {
    uint16_t       kid;
    offpay_keypair kp;
    uint32_t       valid_from;
    uint32_t       valid_until;
} issuer_key;

struct offpay_issuer {
    char *dir;
    int   lock_fd; /* flock on dir/issuer.lock, held while open */
    offpay__wallet_sealer *sealer; /* the state file's key, derived once */
    offpay_keypair         root;
    issuer_key             keys[OFFPAY_BUNDLE_KEYS_MAX];
    unsigned               n_keys;
    uint32_t               bundle_seq;
    uint64_t               next_serial;
    uint32_t               next_terminal_id;
    uint32_t               revlist_seq;
    uint64_t              *revoked; /* ascending */
    uint32_t               n_revoked;
};

static offpay_err path_in(const char *dir, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);

    return n > 0 && n < PATH_MAX_LEN ? OFFPAY_OK : OFFPAY_EINVAL;
}

/* One process at a time per issuer directory: serials are never reused. */
static offpay_err lock_issuer(offpay_issuer *is)
{
    char       path[PATH_MAX_LEN];
    offpay_err rc = path_in(is->dir, "issuer.lock", path);

    if (rc != OFFPAY_OK)
        return rc;
    return offpay__lock_acquire(path, offpay__lock_wait_ms, &is->lock_fd);
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
    offpay__lock_release(is->lock_fd);
    sodium_free(is); /* wipes the keys */
}

void offpay_issuer_root_pk(const offpay_issuer *is, uint8_t pk[OFFPAY_PK_BYTES])
{
    memcpy(pk, is->root.pk, OFFPAY_PK_BYTES);
}

static offpay_err seed_of(const offpay_keypair *kp,
                          uint8_t               seed[OFFPAY_SEED_BYTES])
{
    return crypto_sign_ed25519_sk_to_seed(seed, kp->sk) == 0 ? OFFPAY_OK
                                                             : OFFPAY_ECRYPTO;
}

/* Serializes the state to JSON and seals it into dir/issuer.sealed. */
static offpay_err save(const offpay_issuer *is)
{
    json_t    *root = json_object(), *keys = json_array(), *rev = json_array();
    char      *text = NULL;
    uint8_t    seed[OFFPAY_SEED_BYTES];
    char       path[PATH_MAX_LEN];
    offpay_err rc = OFFPAY_ENOMEM;

    if (root == NULL || keys == NULL || rev == NULL)
        goto out;
    if ((rc = seed_of(&is->root, seed)) != OFFPAY_OK ||
        (rc = offpay__json_set_hex(root, "root_seed", seed, sizeof seed)) !=
            OFFPAY_OK ||
        (rc = offpay__json_set_u64(root, "format", 1)) != OFFPAY_OK ||
        (rc = offpay__json_set_u64(root, "bundle_seq", is->bundle_seq)) !=
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
        if ((rc = seed_of(&is->keys[i].kp, seed)) != OFFPAY_OK ||
            (rc = offpay__json_set_hex(k, "seed", seed, sizeof seed)) !=
                OFFPAY_OK ||
            (rc = offpay__json_set_u64(k, "kid", is->keys[i].kid)) !=
                OFFPAY_OK ||
            (rc = offpay__json_set_u64(k, "valid_from",
                                       is->keys[i].valid_from)) != OFFPAY_OK ||
            (rc = offpay__json_set_u64(k, "valid_until",
                                       is->keys[i].valid_until)) != OFFPAY_OK)
            goto out;
    }
    for (uint32_t i = 0; i < is->n_revoked; i++)
        /* The bit pattern: serials of 2^63 and more are stored negative. */
        if (json_array_append_new(
                rev, json_integer((json_int_t)is->revoked[i])) != 0) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
    if (json_object_set(root, "keys", keys) != 0 ||
        json_object_set(root, "revoked", rev) != 0) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    text = json_dumps(root, JSON_COMPACT);
    if (text == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    if ((rc = path_in(is->dir, STATE_FILE, path)) != OFFPAY_OK)
        goto out;
    rc = offpay__wallet_sealer_save(is->sealer, path, (const uint8_t *)text,
                                    strlen(text));
out:
    sodium_memzero(seed, sizeof seed);
    offpay__json_free(text); /* the wiping allocator zeroes it */
    json_decref(keys);
    json_decref(rev);
    json_decref(root);
    return rc;
}

static offpay_err load(offpay_issuer *is, const char *passphrase)
{
    char         path[PATH_MAX_LEN];
    uint8_t     *plain = NULL;
    size_t       plain_len = 0;
    json_t      *root = NULL;
    json_t      *keys, *rev;
    uint8_t      seed[OFFPAY_SEED_BYTES];
    uint64_t     v;
    json_error_t jerr;
    offpay_err   rc;

    if ((rc = path_in(is->dir, STATE_FILE, path)) != OFFPAY_OK)
        return rc;
    rc = offpay__wallet_sealer_load(path, passphrase, &plain, &plain_len,
                                    &is->sealer);
    if (rc != OFFPAY_OK)
        return rc;
    root = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    rc = OFFPAY_ECORRUPT;
    if (root == NULL)
        goto out;
    if ((rc = offpay__json_get_hex(root, "root_seed", seed, sizeof seed)) !=
            OFFPAY_OK ||
        (rc = offpay_keypair_from_seed(seed, &is->root)) != OFFPAY_OK)
        goto out;
    if ((rc = offpay__json_get_u64(root, "bundle_seq", UINT32_MAX, &v)) !=
        OFFPAY_OK)
        goto out;
    is->bundle_seq = (uint32_t)v;
    if ((rc = offpay__json_get_u64(root, "next_serial", INT64_MAX,
                                   &is->next_serial)) != OFFPAY_OK)
        goto out;
    if ((rc = offpay__json_get_u64(root, "next_terminal_id", UINT32_MAX, &v)) !=
        OFFPAY_OK)
        goto out;
    is->next_terminal_id = (uint32_t)v;
    if ((rc = offpay__json_get_u64(root, "revlist_seq", UINT32_MAX, &v)) !=
        OFFPAY_OK)
        goto out;
    is->revlist_seq = (uint32_t)v;
    rc = OFFPAY_ECORRUPT;
    keys = json_object_get(root, "keys");
    rev = json_object_get(root, "revoked");
    if (!json_is_array(keys) || !json_is_array(rev) ||
        json_array_size(keys) == 0 ||
        json_array_size(keys) > OFFPAY_BUNDLE_KEYS_MAX ||
        json_array_size(rev) > OFFPAY_REVLIST_MAX)
        goto out;
    is->n_keys = (unsigned)json_array_size(keys);
    for (unsigned i = 0; i < is->n_keys; i++) {
        json_t     *k = json_array_get(keys, i);
        issuer_key *ik = &is->keys[i];

        if ((rc = offpay__json_get_hex(k, "seed", seed, sizeof seed)) !=
                OFFPAY_OK ||
            (rc = offpay_keypair_from_seed(seed, &ik->kp)) != OFFPAY_OK ||
            (rc = offpay__json_get_u64(k, "kid", UINT16_MAX, &v)) != OFFPAY_OK)
            goto out;
        ik->kid = (uint16_t)v;
        if ((rc = offpay__json_get_u64(k, "valid_from", UINT32_MAX, &v)) !=
            OFFPAY_OK)
            goto out;
        ik->valid_from = (uint32_t)v;
        if ((rc = offpay__json_get_u64(k, "valid_until", UINT32_MAX, &v)) !=
            OFFPAY_OK)
            goto out;
        ik->valid_until = (uint32_t)v;
    }
    is->n_revoked = (uint32_t)json_array_size(rev);
    if (is->n_revoked > 0) {
        is->revoked = calloc(is->n_revoked, sizeof *is->revoked);
        if (is->revoked == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
    }
    for (uint32_t i = 0; i < is->n_revoked; i++) {
        json_t *s = json_array_get(rev, i);

        if (!json_is_integer(s)) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        is->revoked[i] = (uint64_t)json_integer_value(s);
    }
    rc = OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(root);
    offpay__wallet_plain_free(plain, plain_len);
    return rc;
}

/* Writes bytes to dir/name atomically. */
static offpay_err write_public(const offpay_issuer *is, const char *name,
                               const uint8_t *bytes, size_t len)
{
    char       path[PATH_MAX_LEN];
    offpay_err rc = path_in(is->dir, name, path);

    if (rc != OFFPAY_OK)
        return rc;
    return offpay__file_write_atomic(path, bytes, len);
}

offpay_err offpay_issuer_publish(offpay_issuer *is, uint32_t now)
{
    uint8_t   *bytes = NULL;
    size_t     len = 0;
    char       hex[2 * OFFPAY_PK_BYTES + 2];
    offpay_err rc;

    sodium_bin2hex(hex, sizeof hex, is->root.pk, OFFPAY_PK_BYTES);
    strcat(hex, "\n");
    rc = write_public(is, "root.pub", (const uint8_t *)hex, strlen(hex));
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_issuer_bundle(is, &bytes, &len);
    if (rc == OFFPAY_OK)
        rc = write_public(is, "bundle.opb", bytes, len);
    free(bytes);
    bytes = NULL;
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_issuer_revlist(is, now, &bytes, &len);
    if (rc == OFFPAY_OK)
        rc = write_public(is, "revlist.opb", bytes, len);
    free(bytes);
    return rc;
}

offpay_err offpay_issuer_create(const char *dir, const char *passphrase,
                                uint32_t now, offpay_issuer **out)
{
    offpay_issuer *is = NULL;
    char           path[PATH_MAX_LEN];
    struct stat    st;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (dir == NULL || passphrase == NULL || passphrase[0] == '\0')
        return OFFPAY_EINVAL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return OFFPAY_EIO;
    if ((rc = path_in(dir, STATE_FILE, path)) != OFFPAY_OK)
        return rc;
    is = issuer_new(dir);
    if (is == NULL)
        return OFFPAY_ENOMEM;
    if ((rc = lock_issuer(is)) != OFFPAY_OK)
        goto out;
    if (stat(path, &st) == 0) {
        rc = OFFPAY_EEXISTS;
        goto out;
    }
    if ((rc = offpay__wallet_sealer_new(passphrase, &is->sealer)) != OFFPAY_OK)
        goto out;
    if ((rc = offpay_keypair_generate(&is->root)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&is->keys[0].kp)) != OFFPAY_OK)
        goto out;
    is->keys[0].kid = 1;
    is->keys[0].valid_from = now;
    is->keys[0].valid_until = now > UINT32_MAX - OFFPAY_ISSUER_KEY_LIFETIME
                                  ? UINT32_MAX
                                  : now + OFFPAY_ISSUER_KEY_LIFETIME;
    is->n_keys = 1;
    is->bundle_seq = 1;
    is->next_serial = 1;
    is->next_terminal_id = 1;
    is->revlist_seq = 1;
    if ((rc = save(is)) != OFFPAY_OK ||
        (rc = offpay_issuer_publish(is, now)) != OFFPAY_OK)
        goto out;
    *out = is;
    is = NULL;
out:
    offpay_issuer_close(is);
    return rc;
}

offpay_err offpay_issuer_open(const char *dir, const char *passphrase,
                              offpay_issuer **out)
{
    offpay_issuer *is;
    char           path[PATH_MAX_LEN];
    struct stat    st;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (dir == NULL || passphrase == NULL)
        return OFFPAY_EINVAL;
    if (path_in(dir, STATE_FILE, path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    if (stat(path, &st) != 0)
        return OFFPAY_ENOTFOUND;
    is = issuer_new(dir);
    if (is == NULL)
        return OFFPAY_ENOMEM;
    rc = lock_issuer(is);
    if (rc == OFFPAY_OK)
        rc = load(is, passphrase);
    if (rc != OFFPAY_OK) {
        offpay_issuer_close(is);
        return rc;
    }
    *out = is;
    return OFFPAY_OK;
}

offpay_err offpay_issuer_bundle(const offpay_issuer *is, uint8_t **bytes,
                                size_t *len)
{
    offpay_trust_bundle b;
    size_t              cap = 2 + 9 + OFFPAY_BUNDLE_KEYS_MAX * 42 + 64;
    uint8_t            *buf;
    offpay_err          rc;

    if (is == NULL || bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    *bytes = NULL;
    memset(&b, 0, sizeof b);
    b.seq = is->bundle_seq;
    b.issued_at = is->keys[is->n_keys - 1].valid_from;
    b.n_keys = (uint8_t)is->n_keys;
    for (unsigned i = 0; i < is->n_keys; i++) {
        b.keys[i].kid = is->keys[i].kid;
        memcpy(b.keys[i].pk, is->keys[i].kp.pk, OFFPAY_PK_BYTES);
        b.keys[i].valid_from = is->keys[i].valid_from;
        b.keys[i].valid_until = is->keys[i].valid_until;
    }
    rc = offpay_issuer_sign_bundle(is->root.sk, &b);
    if (rc != OFFPAY_OK)
        return rc;
    buf = malloc(cap);
    if (buf == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay_bundle_encode(&b, buf, cap, len);
    if (rc != OFFPAY_OK) {
        free(buf);
        return rc;
    }
    *bytes = buf;
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
    offpay_err         rc;

    if (is == NULL || wallet_pk == NULL || out == NULL ||
        valid_from > expires || (flags & ~OFFPAY_CRED_FLAGS_KNOWN) != 0)
        return OFFPAY_EINVAL;
    if (limit <= 0 || limit > OFFPAY_WIRE_AMOUNT_MAX)
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
    rc = offpay_issuer_sign_wallet_cred(k->kp.sk, &c);
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

offpay_err
offpay_issuer_issue_terminal(offpay_issuer *is, uint64_t merchant_id,
                             const uint8_t terminal_pk[OFFPAY_PK_BYTES],
                             uint16_t currency, const char *name,
                             uint32_t valid_from, uint32_t expires,
                             offpay_terminal_cred *out)
{
    const issuer_key    *k;
    offpay_terminal_cred c;
    size_t               nlen;
    offpay_err           rc;

    if (is == NULL || terminal_pk == NULL || name == NULL || out == NULL ||
        valid_from > expires)
        return OFFPAY_EINVAL;
    nlen = strlen(name);
    if (nlen == 0 || nlen > OFFPAY_NAME_MAX)
        return OFFPAY_EMALFORMED;
    if (offpay_currency_exponent(currency) < 0)
        return OFFPAY_ECURRENCY_UNKNOWN;
    k = key_covering(is, valid_from, expires);
    if (k == NULL)
        return OFFPAY_EKID_EXPIRED;
    memset(&c, 0, sizeof c);
    c.kid = k->kid;
    c.merchant_id = merchant_id;
    c.terminal_id = is->next_terminal_id;
    memcpy(c.terminal_pk, terminal_pk, OFFPAY_PK_BYTES);
    c.currency = currency;
    c.valid_from = valid_from;
    c.expires = expires;
    c.name_len = (uint8_t)nlen;
    memcpy(c.name, name, nlen);
    rc = offpay_issuer_sign_terminal_cred(k->kp.sk, &c);
    if (rc == OFFPAY_EINVAL)
        return OFFPAY_EMALFORMED; /* the name is not displayable UTF-8 */
    if (rc != OFFPAY_OK)
        return rc;
    is->next_terminal_id++;
    rc = save(is);
    if (rc != OFFPAY_OK)
        return rc;
    *out = c;
    return OFFPAY_OK;
}

offpay_err offpay_issuer_revlist(offpay_issuer *is, uint32_t now,
                                 uint8_t **bytes, size_t *len)
{
    offpay_revlist    l;
    const issuer_key *k;
    uint8_t          *buf;
    size_t            cap;
    offpay_err        rc;

    if (is == NULL || bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    *bytes = NULL;
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
    rc = offpay_issuer_sign_revlist(k->kp.sk, &l);
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

offpay_err offpay_issuer_revoke(offpay_issuer *is, uint64_t serial,
                                uint32_t now)
{
    uint64_t  *grown;
    uint32_t   at = 0;
    uint8_t   *bytes = NULL;
    size_t     len = 0;
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
    rc = offpay_issuer_revlist(is, now, &bytes, &len);
    if (rc == OFFPAY_OK)
        rc = write_public(is, "revlist.opb", bytes, len);
    free(bytes);
    return rc;
}

offpay_err offpay_issuer_add_key(offpay_issuer *is, uint32_t valid_from,
                                 uint32_t lifetime, uint16_t *kid)
{
    issuer_key *k;
    uint8_t    *bytes = NULL;
    size_t      len = 0;
    offpay_err  rc;

    if (is == NULL || lifetime == 0)
        return OFFPAY_EINVAL;
    if (is->n_keys >= OFFPAY_BUNDLE_KEYS_MAX ||
        is->keys[is->n_keys - 1].kid == UINT16_MAX)
        return OFFPAY_ERANGE;
    k = &is->keys[is->n_keys];
    rc = offpay_keypair_generate(&k->kp);
    if (rc != OFFPAY_OK)
        return rc;
    k->kid = (uint16_t)(is->keys[is->n_keys - 1].kid + 1);
    k->valid_from = valid_from;
    k->valid_until =
        valid_from > UINT32_MAX - lifetime ? UINT32_MAX : valid_from + lifetime;
    is->n_keys++;
    is->bundle_seq++;
    rc = save(is);
    if (rc != OFFPAY_OK) {
        is->n_keys--;
        is->bundle_seq--;
        offpay_keypair_wipe(&k->kp);
        return rc;
    }
    rc = offpay_issuer_bundle(is, &bytes, &len);
    if (rc == OFFPAY_OK)
        rc = write_public(is, "bundle.opb", bytes, len);
    free(bytes);
    if (rc == OFFPAY_OK && kid != NULL)
        *kid = k->kid;
    return rc;
}

offpay_err offpay_issuer_signing_key(const offpay_issuer *is, uint32_t now,
                                     uint16_t *kid,
                                     uint8_t   sk[OFFPAY_SK_BYTES])
{
    const issuer_key *k;

    if (is == NULL || kid == NULL || sk == NULL)
        return OFFPAY_EINVAL;
    k = key_covering(is, now, now);
    if (k == NULL)
        return OFFPAY_EKID_EXPIRED;
    *kid = k->kid;
    memcpy(sk, k->kp.sk, OFFPAY_SK_BYTES);
    return OFFPAY_OK;
}
