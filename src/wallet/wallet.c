/*
 * wallet.c — the payer's wallet state machine (wallet.h).
 *
 * State, sealed in the wallet file (wallet_file.c) as JSON:
 *   {"format":1, "seed":hex, "root_pk":hex, "bundle":hex, "default_cap":n,
 *    "creds":[{"cred":hex, "next_counter":n}...],
 *    "spends":[{"serial":n, "counter":n, "authorized":n, "time":t,
 *               "bound":0|1, "merchant_id":n, "charged":n|-1}...]}
 *
 * The rule that keeps an honest wallet within its limit: a code's counter
 * and reservation are saved (atomically, durably) before the code exists
 * outside this process; a failed save leaves the reservation in memory too,
 * so the wallet only ever errs on the side of reserving more. A receipt
 * never releases any of it: offline, the wallet cannot know that no other
 * terminal accepted the same code (a captured screen) for more than the
 * receipt says, so only settlement may release a reservation.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/jsonutil.h"
#include "core/message_int.h"
#include "offpay/core.h"
#include "offpay/crypto.h"
#include "offpay/verify.h"
#include "offpay/wallet.h"
#include "wallet/wallet_file.h"

#define CREDS_MAX 64
/* The spend log is rewritten on every code; its JSON must stay well inside
 * the sealed file's 1 MiB limit (an entry is at most ~140 bytes). */
#define SPENDS_MAX OFFPAY_WALLET_SPENDS_MAX
/* Credentials expired this long are dropped with their log at the next
 * code, when the log is full. */
#define PRUNE_AFTER (90u * 86400u)
#define BUNDLE_MAX  (2 + 9 + OFFPAY_BUNDLE_KEYS_MAX * 42 + 64)

typedef struct cred_entry {
    offpay_wallet_cred c;
    uint32_t           next_counter;
} cred_entry;

struct offpay_wallet {
    char                  *path;
    offpay__wallet_sealer *sealer;  /* the derived file key */
    int                    lock_fd; /* flock on path.lock, held while open */
    offpay_keypair         kp;
    uint8_t                root_pk[OFFPAY_PK_BYTES];
    uint8_t                bundle_bytes[BUNDLE_MAX];
    size_t                 bundle_len;
    offpay_trust_bundle    bundle;
    int64_t                default_cap;
    cred_entry             creds[CREDS_MAX];
    size_t                 n_creds;
    offpay_wallet_spend   *spends; /* heap, not secret */
    size_t                 n_spends;
    size_t                 cap_spends;
};

/* ---- lifetime ------------------------------------------------------- */

static offpay_wallet *wallet_new(const char *path)
{
    offpay_wallet *w = sodium_malloc(sizeof *w);

    if (w == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    w->lock_fd = -1;
    w->path = strdup(path);
    if (w->path == NULL) {
        offpay_wallet_close(w);
        return NULL;
    }
    return w;
}

/* Takes the wallet's lock (path.lock): one process at a time. */
static offpay_err lock_wallet(offpay_wallet *w)
{
    char lock[4096];
    int  n = snprintf(lock, sizeof lock, "%s.lock", w->path);

    if (n < 0 || (size_t)n >= sizeof lock)
        return OFFPAY_EINVAL;
    return offpay__lock_acquire(lock, offpay__lock_wait_ms, &w->lock_fd);
}

void offpay_wallet_close(offpay_wallet *w)
{
    if (w == NULL)
        return;
    free(w->path);
    offpay__wallet_sealer_free(w->sealer);
    offpay__lock_release(w->lock_fd);
    free(w->spends);
    sodium_free(w); /* wipes the key pair */
}

void offpay_wallet_public_key(const offpay_wallet *w,
                              uint8_t              pk[OFFPAY_PK_BYTES])
{
    memcpy(pk, w->kp.pk, OFFPAY_PK_BYTES);
}

/* ---- persistence ---------------------------------------------------- */

static offpay_err save(const offpay_wallet *w)
{
    json_t *root = json_object(), *creds = json_array(), *spends = json_array();
    uint8_t seed[OFFPAY_SEED_BYTES];
    uint8_t cbuf[OFFPAY_WALLET_CRED_BYTES];
    size_t  clen = 0;
    char   *text = NULL;
    offpay_err rc = OFFPAY_ENOMEM;

    if (root == NULL || creds == NULL || spends == NULL)
        goto out;
    if (crypto_sign_ed25519_sk_to_seed(seed, w->kp.sk) != 0) {
        rc = OFFPAY_ECRYPTO;
        goto out;
    }
    if ((rc = offpay__json_set_u64(root, "format", 1)) != OFFPAY_OK ||
        (rc = offpay__json_set_hex(root, "seed", seed, sizeof seed)) !=
            OFFPAY_OK ||
        (rc = offpay__json_set_hex(root, "root_pk", w->root_pk,
                                   OFFPAY_PK_BYTES)) != OFFPAY_OK ||
        (rc = offpay__json_set_hex(root, "bundle", w->bundle_bytes,
                                   w->bundle_len)) != OFFPAY_OK ||
        (rc = offpay__json_set_u64(root, "default_cap",
                                   (uint64_t)w->default_cap)) != OFFPAY_OK)
        goto out;
    for (size_t i = 0; i < w->n_creds; i++) {
        json_t *c = json_object();

        rc = OFFPAY_ENOMEM;
        if (c == NULL || json_array_append_new(creds, c) != 0)
            goto out;
        if ((rc = offpay_wallet_cred_encode(&w->creds[i].c, cbuf, sizeof cbuf,
                                            &clen)) != OFFPAY_OK ||
            (rc = offpay__json_set_hex(c, "cred", cbuf, clen)) != OFFPAY_OK ||
            (rc = offpay__json_set_u64(c, "next_counter",
                                       w->creds[i].next_counter)) != OFFPAY_OK)
            goto out;
    }
    for (size_t i = 0; i < w->n_spends; i++) {
        const offpay_wallet_spend *s = &w->spends[i];
        json_t                    *j = json_pack(
                               "{s:I, s:I, s:I, s:I, s:i, s:I, s:I}", "serial",
                               (json_int_t)s->serial, "counter", (json_int_t)s->counter,
                               "authorized", (json_int_t)s->authorized, "time",
                               (json_int_t)s->time, "bound", s->bound, "merchant_id",
                               (json_int_t)s->merchant_id, "charged", (json_int_t)s->charged);

        rc = OFFPAY_ENOMEM;
        if (j == NULL || json_array_append_new(spends, j) != 0)
            goto out;
    }
    rc = OFFPAY_ENOMEM;
    if (json_object_set(root, "creds", creds) != 0 ||
        json_object_set(root, "spends", spends) != 0)
        goto out;
    text = json_dumps(root, JSON_COMPACT);
    if (text == NULL)
        goto out;
    rc = offpay__wallet_sealer_save(w->sealer, w->path, (const uint8_t *)text,
                                    strlen(text));
out:
    sodium_memzero(seed, sizeof seed);
    offpay__json_free(text); /* the wiping allocator zeroes it */
    json_decref(creds);
    json_decref(spends);
    json_decref(root);
    return rc;
}

static offpay_err load(offpay_wallet *w, const char *passphrase)
{
    uint8_t     *plain = NULL;
    size_t       plain_len = 0;
    json_t      *root = NULL, *creds, *spends;
    uint8_t      seed[OFFPAY_SEED_BYTES];
    uint8_t      cbuf[OFFPAY_WALLET_CRED_BYTES];
    size_t       clen = 0;
    uint64_t     v;
    json_error_t jerr;
    offpay_err   rc;

    rc = offpay__wallet_sealer_load(w->path, passphrase, &plain, &plain_len,
                                    &w->sealer);
    if (rc != OFFPAY_OK)
        return rc;
    rc = OFFPAY_ECORRUPT;
    root = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL)
        goto out;
    if ((rc = offpay__json_get_u64(root, "format", 1, &v)) != OFFPAY_OK ||
        v != 1) {
        rc = OFFPAY_ECORRUPT;
        goto out;
    }
    if ((rc = offpay__json_get_hex(root, "seed", seed, sizeof seed)) !=
            OFFPAY_OK ||
        (rc = offpay_keypair_from_seed(seed, &w->kp)) != OFFPAY_OK ||
        (rc = offpay__json_get_hex(root, "root_pk", w->root_pk,
                                   OFFPAY_PK_BYTES)) != OFFPAY_OK ||
        (rc = offpay__json_get_hexv(root, "bundle", w->bundle_bytes,
                                    sizeof w->bundle_bytes, &w->bundle_len)) !=
            OFFPAY_OK)
        goto out;
    if (offpay_bundle_verify(w->bundle_bytes, w->bundle_len, w->root_pk,
                             &w->bundle) != OFFPAY_OK) {
        rc = OFFPAY_ECORRUPT;
        goto out;
    }
    if ((rc = offpay__json_get_u64(root, "default_cap", OFFPAY_WIRE_AMOUNT_MAX,
                                   &v)) != OFFPAY_OK)
        goto out;
    w->default_cap = (int64_t)v;
    rc = OFFPAY_ECORRUPT;
    creds = json_object_get(root, "creds");
    spends = json_object_get(root, "spends");
    if (!json_is_array(creds) || json_array_size(creds) > CREDS_MAX ||
        !json_is_array(spends) || json_array_size(spends) > SPENDS_MAX)
        goto out;
    for (size_t i = 0; i < json_array_size(creds); i++) {
        json_t *c = json_array_get(creds, i);

        if ((rc = offpay__json_get_hexv(c, "cred", cbuf, sizeof cbuf, &clen)) !=
                OFFPAY_OK ||
            offpay_wallet_cred_decode(cbuf, clen, &w->creds[i].c) !=
                OFFPAY_OK ||
            (rc = offpay__json_get_u64(c, "next_counter", UINT32_MAX, &v)) !=
                OFFPAY_OK ||
            v == 0 ||
            sodium_memcmp(w->creds[i].c.wallet_pk, w->kp.pk, OFFPAY_PK_BYTES) !=
                0) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        w->creds[i].next_counter = (uint32_t)v;
        w->n_creds = i + 1;
    }
    w->cap_spends = json_array_size(spends) + 16;
    w->spends = calloc(w->cap_spends, sizeof *w->spends);
    if (w->spends == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(spends); i++) {
        json_t             *j = json_array_get(spends, i);
        offpay_wallet_spend s;
        json_int_t          serial, counter, authorized, t, mid, charged;
        int                 bound;

        if (json_unpack(j, "{s:I, s:I, s:I, s:I, s:i, s:I, s:I}", "serial",
                        &serial, "counter", &counter, "authorized", &authorized,
                        "time", &t, "bound", &bound, "merchant_id", &mid,
                        "charged", &charged) != 0 ||
            counter <= 0 || counter > UINT32_MAX || authorized <= 0 ||
            authorized > UINT32_MAX || t < 0 || t > UINT32_MAX ||
            (bound != 0 && bound != 1) || charged < -1 ||
            charged > authorized) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        /* 64-bit identifiers are kept as the bit pattern of a JSON
         * integer: values of 2^63 and more read back negative. */
        s.serial = (uint64_t)serial;
        s.counter = (uint32_t)counter;
        s.authorized = (uint32_t)authorized;
        s.time = (uint32_t)t;
        s.bound = bound;
        s.merchant_id = (uint64_t)mid;
        s.charged = charged;
        /* Every logged counter is below its credential's next counter: a
         * new code can never reuse one. */
        for (size_t k = 0; k < w->n_creds; k++)
            if (w->creds[k].c.serial == s.serial &&
                s.counter >= w->creds[k].next_counter) {
                rc = OFFPAY_ECORRUPT;
                goto out;
            }
        w->spends[i] = s;
        w->n_spends = i + 1;
    }
    rc = OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(root);
    offpay__wallet_plain_free(plain, plain_len);
    return rc;
}

offpay_err offpay_wallet_create(const char *path, const char *passphrase,
                                const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                const uint8_t *bundle, size_t bundle_len,
                                offpay_wallet **out)
{
    offpay_wallet *w = NULL;
    struct stat    st;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (path == NULL || passphrase == NULL || passphrase[0] == '\0' ||
        root_pk == NULL || bundle == NULL)
        return OFFPAY_EINVAL;
    if (bundle_len > BUNDLE_MAX)
        return OFFPAY_ETOOBIG;
    w = wallet_new(path);
    if (w == NULL)
        return OFFPAY_ENOMEM;
    rc = lock_wallet(w);
    if (rc != OFFPAY_OK)
        goto out;
    if (stat(path, &st) == 0) {
        rc = OFFPAY_EEXISTS;
        goto out;
    }
    rc = offpay__wallet_sealer_new(passphrase, &w->sealer);
    if (rc != OFFPAY_OK)
        goto out;
    rc = offpay_bundle_verify(bundle, bundle_len, root_pk, &w->bundle);
    if (rc != OFFPAY_OK)
        goto out;
    memcpy(w->root_pk, root_pk, OFFPAY_PK_BYTES);
    memcpy(w->bundle_bytes, bundle, bundle_len);
    w->bundle_len = bundle_len;
    if ((rc = offpay_keypair_generate(&w->kp)) != OFFPAY_OK ||
        (rc = save(w)) != OFFPAY_OK)
        goto out;
    *out = w;
    w = NULL;
out:
    offpay_wallet_close(w);
    return rc;
}

offpay_err offpay_wallet_open(const char *path, const char *passphrase,
                              offpay_wallet **out)
{
    offpay_wallet *w;
    struct stat    st;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (path == NULL || passphrase == NULL)
        return OFFPAY_EINVAL;
    if (stat(path, &st) != 0)
        return OFFPAY_ENOTFOUND;
    w = wallet_new(path);
    if (w == NULL)
        return OFFPAY_ENOMEM;
    rc = lock_wallet(w);
    if (rc == OFFPAY_OK)
        rc = load(w, passphrase);
    if (rc != OFFPAY_OK) {
        offpay_wallet_close(w);
        return rc;
    }
    *out = w;
    return OFFPAY_OK;
}

/* ---- credentials and balances --------------------------------------- */

offpay_err offpay_wallet_add_credential(offpay_wallet *w, const uint8_t *cred,
                                        size_t len, uint32_t now)
{
    offpay_wallet_cred c;
    offpay_err         rc;

    if (w == NULL || cred == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_wallet_cred_decode(cred, len, &c);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_wallet_cred_verify(&w->bundle, &c, now, OFFPAY_WALLET_SKEW);
    if (rc != OFFPAY_OK && rc != OFFPAY_ENOT_YET_VALID)
        return rc;
    if (sodium_memcmp(c.wallet_pk, w->kp.pk, OFFPAY_PK_BYTES) != 0)
        return OFFPAY_EINVAL;
    for (size_t i = 0; i < w->n_creds; i++)
        if (w->creds[i].c.serial == c.serial)
            return OFFPAY_EEXISTS;
    if (w->n_creds == CREDS_MAX)
        return OFFPAY_ERANGE;
    w->creds[w->n_creds].c = c;
    w->creds[w->n_creds].next_counter = 1;
    w->n_creds++;
    rc = save(w);
    if (rc != OFFPAY_OK)
        w->n_creds--;
    return rc;
}

offpay_err offpay_wallet_update_bundle(offpay_wallet *w, const uint8_t *bundle,
                                       size_t len)
{
    offpay_trust_bundle b, old_b;
    uint8_t             old_bytes[BUNDLE_MAX];
    size_t              old_len;
    offpay_err          rc;

    if (w == NULL || bundle == NULL)
        return OFFPAY_EINVAL;
    if (len > BUNDLE_MAX)
        return OFFPAY_ETOOBIG;
    rc = offpay_bundle_verify(bundle, len, w->root_pk, &b);
    if (rc != OFFPAY_OK)
        return rc;
    if (b.seq < w->bundle.seq)
        return OFFPAY_EBUNDLE_OLD;
    old_b = w->bundle;
    old_len = w->bundle_len;
    memcpy(old_bytes, w->bundle_bytes, old_len);
    w->bundle = b;
    memcpy(w->bundle_bytes, bundle, len);
    w->bundle_len = len;
    rc = save(w);
    if (rc != OFFPAY_OK) {
        w->bundle = old_b;
        memcpy(w->bundle_bytes, old_bytes, old_len);
        w->bundle_len = old_len;
    }
    return rc;
}

size_t offpay_wallet_n_credentials(const offpay_wallet *w)
{
    return w == NULL ? 0 : w->n_creds;
}

/* Sums the spend log of one serial: charged per receipts (confirmed),
 * authorized without a receipt (pending), authorized beyond the receipted
 * charge (held), and the number of codes. Every code's whole authorized
 * amount stays reserved: confirmed + pending + held = sum of authorized. */
static void spent_of(const offpay_wallet *w, uint64_t serial,
                     int64_t *confirmed, int64_t *pending, int64_t *held,
                     uint32_t *codes)
{
    *confirmed = 0;
    *pending = 0;
    *held = 0;
    *codes = 0;
    for (size_t i = 0; i < w->n_spends; i++) {
        const offpay_wallet_spend *s = &w->spends[i];

        if (s->serial != serial)
            continue;
        (*codes)++;
        /* Bounded: at most SPENDS_MAX entries of at most u32 each. */
        if (s->charged >= 0) {
            *confirmed += s->charged;
            *held += s->authorized - s->charged;
        } else {
            *pending += s->authorized;
        }
    }
}

offpay_err offpay_wallet_get_balance(const offpay_wallet *w, size_t i,
                                     uint32_t now, offpay_wallet_balance *out)
{
    const offpay_wallet_cred *c;

    if (w == NULL || out == NULL)
        return OFFPAY_EINVAL;
    if (i >= w->n_creds)
        return OFFPAY_ENOTFOUND;
    c = &w->creds[i].c;
    memset(out, 0, sizeof *out);
    out->serial = c->serial;
    out->currency = c->currency;
    out->expires = c->expires;
    out->limit = c->limit;
    spent_of(w, c->serial, &out->confirmed, &out->pending, &out->held,
             &out->codes);
    out->available = out->limit - out->confirmed - out->pending - out->held;
    out->usable = offpay_wallet_cred_verify(&w->bundle, c, now, 0) == OFFPAY_OK;
    return OFFPAY_OK;
}

offpay_err offpay_wallet_set_default_cap(offpay_wallet *w, int64_t cap)
{
    int64_t    old;
    offpay_err rc;

    if (w == NULL || cap < 0 || cap > OFFPAY_WIRE_AMOUNT_MAX)
        return OFFPAY_EINVAL;
    old = w->default_cap;
    w->default_cap = cap;
    rc = save(w);
    if (rc != OFFPAY_OK)
        w->default_cap = old;
    return rc;
}

size_t offpay_wallet_n_spends(const offpay_wallet *w)
{
    return w == NULL ? 0 : w->n_spends;
}

offpay_err offpay_wallet_get_spend(const offpay_wallet *w, size_t i,
                                   offpay_wallet_spend *out)
{
    if (w == NULL || out == NULL)
        return OFFPAY_EINVAL;
    if (i >= w->n_spends)
        return OFFPAY_ENOTFOUND;
    *out = w->spends[i];
    return OFFPAY_OK;
}

/* ---- making codes --------------------------------------------------- */

/*
 * Picks the newest usable credential in currency that can cover amount
 * (0: the default cap). *amount_out is the amount to authorize.
 */
static offpay_err choose(offpay_wallet *w, int64_t amount, uint16_t currency,
                         uint32_t now, int unbound, cred_entry **out,
                         uint32_t *amount_out)
{
    offpay_err best_err = OFFPAY_ENO_CREDENTIAL;

    for (size_t i = w->n_creds; i > 0; i--) {
        cred_entry *e = &w->creds[i - 1];
        int64_t     confirmed, pending, held, available, want;
        uint32_t    codes;

        if (e->c.currency != currency ||
            offpay_wallet_cred_verify(&w->bundle, &e->c, now, 0) != OFFPAY_OK)
            continue;
        if (unbound && !(e->c.flags & OFFPAY_CRED_ALLOW_UNBOUND)) {
            best_err = OFFPAY_EUNBOUND_REFUSED;
            continue;
        }
        if (e->next_counter == UINT32_MAX) {
            best_err = OFFPAY_ECOUNTER;
            continue;
        }
        spent_of(w, e->c.serial, &confirmed, &pending, &held, &codes);
        available = (int64_t)e->c.limit - confirmed - pending - held;
        want = amount;
        if (want == 0) {
            int64_t cap =
                w->default_cap > 0 ? w->default_cap : (int64_t)e->c.limit / 10;

            if (cap < 1)
                cap = 1;
            want = cap < available ? cap : available;
        }
        if (want <= 0 || want > available) {
            best_err = OFFPAY_EINSUFFICIENT;
            continue;
        }
        *out = e;
        *amount_out = (uint32_t)want;
        return OFFPAY_OK;
    }
    return best_err;
}

/* Drops the logged codes of credentials expired more than PRUNE_AFTER ago:
 * terminals refuse their codes, so nothing they reserve can be spent. The
 * credentials themselves stay, retired (next counter at its maximum), so
 * neither a clock set back nor adding one again can make them pay with
 * their log forgotten. */
static void prune(offpay_wallet *w, uint32_t now)
{
    size_t keep = 0;

    for (size_t k = 0; k < w->n_creds; k++)
        if ((uint64_t)w->creds[k].c.expires + PRUNE_AFTER < now)
            w->creds[k].next_counter = UINT32_MAX;
    for (size_t i = 0; i < w->n_spends; i++) {
        int live = 0;

        for (size_t k = 0; k < w->n_creds; k++)
            if (w->creds[k].c.serial == w->spends[i].serial &&
                (uint64_t)w->creds[k].c.expires + PRUNE_AFTER >= now)
                live = 1;
        if (live)
            w->spends[keep++] = w->spends[i];
    }
    w->n_spends = keep;
}

/* Reserves, saves, then signs and encodes: the one path to a code. */
static offpay_err make_code(offpay_wallet *w, cred_entry *e, uint32_t amount,
                            uint32_t now, const offpay_request *q, char **text,
                            offpay_payment *p_out)
{
    offpay_payment      p;
    offpay_wallet_spend s;
    uint8_t             msg[OFFPAY_SIGNED_MAX];
    uint8_t             code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t              len = 0;
    offpay_err          rc;

    if (w->n_spends >= SPENDS_MAX)
        prune(w, now);
    if (w->n_spends >= SPENDS_MAX)
        return OFFPAY_ERANGE; /* nothing reserved, nothing changed on disk */
    if (w->n_spends == w->cap_spends) {
        size_t               ncap = w->cap_spends ? w->cap_spends * 2 : 16;
        offpay_wallet_spend *grown = realloc(w->spends, ncap * sizeof *grown);

        if (grown == NULL)
            return OFFPAY_ENOMEM;
        w->spends = grown;
        w->cap_spends = ncap;
    }
    memset(&p, 0, sizeof p);
    p.cred = e->c;
    p.counter = e->next_counter;
    p.amount = amount;
    p.time = now;
    if (q != NULL) {
        p.bound = 1;
        p.merchant_id = q->tcred.merchant_id;
        memcpy(p.nonce, q->nonce, OFFPAY_NONCE_BYTES);
    }
    memset(&s, 0, sizeof s);
    s.serial = e->c.serial;
    s.counter = p.counter;
    s.authorized = amount;
    s.time = now;
    s.bound = p.bound;
    s.merchant_id = p.merchant_id;
    s.charged = -1;

    /* Reserve first; kept even if the save fails (see the file comment). */
    e->next_counter++;
    w->spends[w->n_spends++] = s;
    rc = save(w);
    if (rc != OFFPAY_OK)
        return rc;

    rc = offpay__payment_signed_bytes(&p, msg, sizeof msg, &len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_sign(OFFPAY_DS_PAYMENT, msg, len, w->kp.sk, p.sig);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_payment_encode(&p, code, sizeof code, &len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_text_encode(code, len, text);
    if (rc == OFFPAY_OK && p_out != NULL)
        *p_out = p;
    return rc;
}

offpay_err offpay_wallet_pay(offpay_wallet *w, int64_t amount,
                             uint16_t currency, uint32_t now, char **text,
                             offpay_payment *p)
{
    cred_entry *e = NULL;
    uint32_t    authorize = 0;
    offpay_err  rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (w == NULL || amount < 0)
        return OFFPAY_EINVAL;
    if (amount > OFFPAY_WIRE_AMOUNT_MAX)
        return OFFPAY_EINSUFFICIENT;
    rc = choose(w, amount, currency, now, 1, &e, &authorize);
    if (rc != OFFPAY_OK)
        return rc;
    return make_code(w, e, authorize, now, NULL, text, p);
}

offpay_err offpay_wallet_read_request(const offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_request *q)
{
    uint8_t   *bytes = NULL;
    size_t     len = 0;
    offpay_err rc;

    if (w == NULL || text == NULL || q == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_text_decode(text, strlen(text), &bytes, &len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_request_decode(bytes, len, q);
    free(bytes);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay_request_verify(&w->bundle, q, now, OFFPAY_WALLET_SKEW,
                                 OFFPAY_WALLET_REQUEST_AGE);
}

offpay_err offpay_wallet_pay_request(offpay_wallet *w, const offpay_request *q,
                                     uint32_t now, char **text,
                                     offpay_payment *p)
{
    cred_entry *e = NULL;
    uint32_t    authorize = 0;
    offpay_err  rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (w == NULL || q == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_request_verify(&w->bundle, q, now, OFFPAY_WALLET_SKEW,
                               OFFPAY_WALLET_REQUEST_AGE);
    if (rc != OFFPAY_OK)
        return rc;
    rc = choose(w, q->amount, q->currency, now, 0, &e, &authorize);
    if (rc != OFFPAY_OK)
        return rc;
    return make_code(w, e, authorize, now, q, text, p);
}

offpay_err offpay_wallet_take_receipt(offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_receipt *r)
{
    offpay_receipt       t;
    offpay_wallet_spend *s = NULL;
    const cred_entry    *e = NULL;
    uint8_t             *bytes = NULL;
    size_t               len = 0;
    int64_t              old;
    offpay_err           rc;

    if (w == NULL || text == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_text_decode(text, strlen(text), &bytes, &len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_receipt_decode(bytes, len, &t);
    free(bytes);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_receipt_verify(&w->bundle, &t, now, OFFPAY_WALLET_SKEW);
    if (rc != OFFPAY_OK)
        return rc;
    for (size_t i = 0; i < w->n_creds; i++)
        if (w->creds[i].c.serial == t.serial)
            e = &w->creds[i];
    for (size_t i = 0; e != NULL && i < w->n_spends; i++)
        if (w->spends[i].serial == t.serial &&
            w->spends[i].counter == t.counter)
            s = &w->spends[i];
    if (s == NULL || t.currency != e->c.currency || t.amount > s->authorized ||
        (s->bound && s->merchant_id != t.tcred.merchant_id) ||
        (s->charged >= 0 && s->charged != t.amount))
        return OFFPAY_ERECEIPT_MISMATCH;
    if (r != NULL)
        *r = t;
    if (s->charged == t.amount)
        return OFFPAY_OK;
    old = s->charged;
    s->charged = t.amount;
    rc = save(w);
    if (rc != OFFPAY_OK)
        s->charged = old; /* the reservation stays: the safe side */
    return rc;
}
