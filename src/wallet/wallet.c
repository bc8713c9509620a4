/*
 * wallet.c — the payer's wallet state machine (wallet.h).
 *
 * State, sealed in the wallet file (wallet_file.c) as JSON, format 2:
 *   {"format":2, "seed":hex, "root_pk":hex, "bundle":hex, "default_cap":n,
 *    "creds":[{"cred":hex, "next_counter":n}...],
 *    "spends":[{"serial":n, "counter":n, "authorized":n, "time":t,
 *               "bound":0|1, "merchant_id":n, "receipts":[hex...]
 *               [, "charged":n]}...]}
 * "receipts" holds each receipt's exact bytes, in the order taken.
 * "charged" appears only on an entry migrated from format 1, whose spends
 * had "charged":n|-1 (the amount of the one receipt taken, which was not
 * kept) and no "receipts"; format 1 still loads and is written back as 2.
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
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/jsonutil.h"
#include "core/message_int.h"
#include "core/oserr.h"
#include "offpay/core.h"
#include "offpay/crypto.h"
#include "offpay/verify.h"
#include "offpay/wallet.h"
#include "wallet/wallet_file.h"
#include "wallet/wallet_int.h"

#define CREDS_MAX 64
/* The spend log is rewritten on every code. Its JSON must fit the sealed
 * file's 1 MiB: an entry is at most ~150 bytes plus ~500 per receipt, so
 * besides these counts, a save that would outgrow the file is refused
 * (OFFPAY_ERANGE) before anything is written. */
#define SPENDS_MAX        OFFPAY_WALLET_SPENDS_MAX
#define RECEIPTS_PER_CODE OFFPAY_WALLET_RECEIPTS_PER_CODE
/* Largest receipt: 209 bytes + a 40-byte merchant name (protocol.md §2.7). */
#define RECEIPT_MAX_BYTES (209 + 40)
/* Credentials expired this long are dropped with their log at the next
 * code, when the log is full. */
#define PRUNE_AFTER (90u * 86400u)
#define BUNDLE_MAX  (2 + 9 + OFFPAY_BUNDLE_KEYS_MAX * 42 + 64)
#define FORMAT      2 /* written; 1 is still read */

typedef struct cred_entry {
    offpay_wallet_cred c;
    uint32_t           next_counter;
} cred_entry;

/* A code of the log with its receipts. s.charged and s.n_receipts are
 * derived (update_charged) whenever rc or legacy change. */
typedef struct spend_entry {
    offpay_wallet_spend s;
    int64_t             legacy; /* format 1's charged without its receipt,
                                   or -1 */
    offpay_receipt *rc;         /* heap, RECEIPTS_PER_CODE slots or NULL */
    size_t          n_rc;
} spend_entry;

struct offpay_wallet {
    char                  *path;   /* directories resolved (realpath) */
    offpay__wallet_sealer *sealer; /* the derived file key; NULL in a
                                      read-only handle: saves refuse */
    int                 lock_fd;   /* flock on path.lock, held while open */
    offpay_keypair      kp;
    uint8_t             root_pk[OFFPAY_PK_BYTES];
    uint8_t             bundle_bytes[BUNDLE_MAX];
    size_t              bundle_len;
    offpay_trust_bundle bundle;
    int64_t             default_cap;
    cred_entry          creds[CREDS_MAX];
    size_t              n_creds;
    spend_entry        *spends; /* heap, not secret */
    size_t              n_spends;
    size_t              cap_spends;
};

/* ---- lifetime ------------------------------------------------------- */

/* The real place of path: its directories resolved (symbolic links among
 * them are harmless, and resolving them names one lock file for all their
 * spellings), its last component kept as spelled, to be checked with
 * offpay__path_check_unlinked. *out is malloc'd. */
static offpay_err resolve_path(const char *path, char **out)
{
    char       *d = strdup(path), *b = strdup(path), *dir = NULL;
    const char *base;
    size_t      n;
    offpay_err  rc = OFFPAY_ENOMEM;

    *out = NULL;
    if (d == NULL || b == NULL)
        goto out;
    base = basename(b);
    if (path[0] == '\0' || path[strlen(path) - 1] == '/' ||
        strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
        strcmp(base, "/") == 0) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    dir = realpath(dirname(d), NULL);
    if (dir == NULL) {
        rc = offpay__errno_err(errno); /* ENOENT: no such directory */
        goto out;
    }
    n = strlen(dir) + 1 + strlen(base) + 1;
    *out = malloc(n);
    if (*out == NULL)
        goto out;
    snprintf(*out, n, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, base);
    rc = OFFPAY_OK;
out:
    free(d);
    free(b);
    free(dir);
    return rc;
}

/* A wallet handle with no file yet (path NULL: saves fail). */
static offpay_wallet *wallet_new(void)
{
    offpay_wallet *w = sodium_malloc(sizeof *w);

    if (w == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    w->lock_fd = -1;
    return w;
}

/* Takes the wallet's lock (path.lock): one writer at a time, exclusive;
 * or (shared) a reader, which never creates the lock file and so writes
 * nothing. */
static offpay_err lock_wallet_as(offpay_wallet *w, int shared)
{
    char lock[PATH_MAX + 8];
    int  n = snprintf(lock, sizeof lock, "%s.lock", w->path);

    if (n < 0 || (size_t)n >= sizeof lock)
        return OFFPAY_EINVAL;
    return shared
               ? offpay__lock_acquire_shared(lock, offpay__lock_wait_ms,
                                             &w->lock_fd)
               : offpay__lock_acquire(lock, offpay__lock_wait_ms, &w->lock_fd);
}

static offpay_err lock_wallet(offpay_wallet *w)
{
    return lock_wallet_as(w, 0);
}

static void free_spends(offpay_wallet *w)
{
    for (size_t i = 0; i < w->n_spends; i++)
        free(w->spends[i].rc);
    free(w->spends);
    w->spends = NULL;
    w->n_spends = 0;
    w->cap_spends = 0;
}

void offpay_wallet_close(offpay_wallet *w)
{
    if (w == NULL)
        return;
    free(w->path);
    offpay__wallet_sealer_free(w->sealer);
    offpay__lock_release(w->lock_fd);
    free_spends(w);
    sodium_free(w); /* wipes the key pair */
}

void offpay_wallet_public_key(const offpay_wallet *w,
                              uint8_t              pk[OFFPAY_PK_BYTES])
{
    memcpy(pk, w->kp.pk, OFFPAY_PK_BYTES);
}

/* ---- receipts of one code ------------------------------------------- */

/* Same terminal: a reprinted receipt is not a second charge. */
static int same_terminal(const offpay_receipt *a, const offpay_receipt *b)
{
    return a->tcred.merchant_id == b->tcred.merchant_id &&
           a->tcred.terminal_id == b->tcred.terminal_id &&
           memcmp(a->tcred.terminal_pk, b->tcred.terminal_pk,
                  OFFPAY_PK_BYTES) == 0;
}

/* s.charged: the legacy amount plus, per terminal, its largest receipt;
 * -1 with neither. At most 1 + RECEIPTS_PER_CODE u32 terms: no overflow. */
static void update_charged(spend_entry *e)
{
    int64_t sum = e->legacy >= 0 ? e->legacy : 0;

    for (size_t i = 0; i < e->n_rc; i++) {
        int64_t best = e->rc[i].amount;
        int     first = 1;

        for (size_t k = 0; k < e->n_rc; k++) {
            if (!same_terminal(&e->rc[i], &e->rc[k]))
                continue;
            if (k < i)
                first = 0; /* counted at its first receipt */
            if (e->rc[k].amount > best)
                best = e->rc[k].amount;
        }
        if (first)
            sum += best;
    }
    e->s.charged = e->legacy < 0 && e->n_rc == 0 ? -1 : sum;
    e->s.n_receipts = (uint32_t)e->n_rc;
}

/* Whether receipt t may be kept for code e of a credential in currency:
 * the code it names, the credential's currency, not more than authorized,
 * and a bound code's merchant. OFFPAY_ERECEIPT_MISMATCH otherwise. */
static offpay_err receipt_fits(const spend_entry *e, uint16_t currency,
                               const offpay_receipt *t)
{
    if (t->serial != e->s.serial || t->counter != e->s.counter ||
        t->currency != currency || t->amount > e->s.authorized ||
        (e->s.bound && e->s.merchant_id != t->tcred.merchant_id))
        return OFFPAY_ERECEIPT_MISMATCH;
    return OFFPAY_OK;
}

/* 1 when e already holds a receipt with exactly t's bytes. */
static int has_receipt(const spend_entry *e, const offpay_receipt *t)
{
    uint8_t a[RECEIPT_MAX_BYTES], b[RECEIPT_MAX_BYTES];
    size_t  alen = 0, blen = 0;

    if (offpay_receipt_encode(t, a, sizeof a, &alen) != OFFPAY_OK)
        return 0;
    for (size_t i = 0; i < e->n_rc; i++)
        if (offpay_receipt_encode(&e->rc[i], b, sizeof b, &blen) == OFFPAY_OK &&
            blen == alen && memcmp(a, b, alen) == 0)
            return 1;
    return 0;
}

/* Appends t to e (room for it checked by the caller). */
static offpay_err add_receipt(spend_entry *e, const offpay_receipt *t)
{
    if (e->rc == NULL) {
        e->rc = calloc(RECEIPTS_PER_CODE, sizeof *e->rc);
        if (e->rc == NULL)
            return OFFPAY_ENOMEM;
    }
    e->rc[e->n_rc++] = *t;
    update_charged(e);
    return OFFPAY_OK;
}

/* ---- persistence ---------------------------------------------------- */

/* The JSON object of one spend log entry (format 2), or NULL. */
static json_t *spend_json(const spend_entry *e)
{
    const offpay_wallet_spend *s = &e->s;
    json_t                    *j, *rcs = json_array();
    uint8_t                    buf[RECEIPT_MAX_BYTES];
    size_t                     len = 0;

    if (rcs == NULL)
        return NULL;
    for (size_t i = 0; i < e->n_rc; i++) {
        char hex[2 * RECEIPT_MAX_BYTES + 1];

        if (offpay_receipt_encode(&e->rc[i], buf, sizeof buf, &len) !=
                OFFPAY_OK ||
            json_array_append_new(rcs, json_string(sodium_bin2hex(
                                           hex, sizeof hex, buf, len))) != 0) {
            json_decref(rcs);
            return NULL;
        }
    }
    j = json_pack("{s:I, s:I, s:I, s:I, s:i, s:I, s:o}", "serial",
                  (json_int_t)s->serial, "counter", (json_int_t)s->counter,
                  "authorized", (json_int_t)s->authorized, "time",
                  (json_int_t)s->time, "bound", s->bound, "merchant_id",
                  (json_int_t)s->merchant_id, "receipts", rcs);
    if (j != NULL && e->legacy >= 0 &&
        json_object_set_new(j, "charged", json_integer(e->legacy)) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

offpay_err offpay__wallet_state_dump(const offpay_wallet *w, char **text_out,
                                     size_t *len_out)
{
    json_t *root = json_object(), *creds = json_array(), *spends = json_array();
    uint8_t seed[OFFPAY_SEED_BYTES];
    uint8_t cbuf[OFFPAY_WALLET_CRED_BYTES];
    size_t  clen = 0;
    char   *text;
    offpay_err rc = OFFPAY_ENOMEM;

    if (text_out != NULL)
        *text_out = NULL;
    if (len_out != NULL)
        *len_out = 0;
    if (w == NULL || text_out == NULL || len_out == NULL) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    if (root == NULL || creds == NULL || spends == NULL)
        goto out;
    if (crypto_sign_ed25519_sk_to_seed(seed, w->kp.sk) != 0) {
        rc = OFFPAY_ECRYPTO;
        goto out;
    }
    if ((rc = offpay__json_set_u64(root, "format", FORMAT)) != OFFPAY_OK ||
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
        json_t *j = spend_json(&w->spends[i]);

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
    *text_out = text;
    *len_out = strlen(text);
    rc = OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(creds);
    json_decref(spends);
    json_decref(root);
    return rc;
}

/* Writes the state to the file. Refused before anything is written when
 * the path gained a second name (OFFPAY_ELINKED) or the state outgrew the
 * file (OFFPAY_ERANGE). */
static offpay_err save(const offpay_wallet *w)
{
    char      *text = NULL;
    size_t     len = 0;
    offpay_err rc;

    if (w->path == NULL || w->sealer == NULL)
        return OFFPAY_EINVAL; /* a handle from offpay__wallet_state_load */
    rc = offpay__path_check_unlinked(w->path);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__wallet_state_dump(w, &text, &len);
    if (rc != OFFPAY_OK)
        goto out;
    if (len > OFFPAY__WALLET_PLAIN_MAX) {
        rc = OFFPAY_ERANGE;
        goto out;
    }
    rc = offpay__wallet_sealer_save(w->sealer, w->path, (const uint8_t *)text,
                                    len);
out:
    offpay__json_free(text); /* the wiping allocator zeroes it */
    return rc;
}

/* Hex string v into b (at most cap bytes); *n its length. */
static offpay_err hex_value(const json_t *v, uint8_t *b, size_t cap, size_t *n)
{
    const char *s, *end = NULL;
    size_t      slen;

    if (!json_is_string(v))
        return OFFPAY_ECORRUPT;
    s = json_string_value(v);
    slen = json_string_length(v);
    if (slen % 2 != 0 || slen / 2 > cap ||
        sodium_hex2bin(b, cap, s, slen, NULL, n, &end) != 0 || end != s + slen)
        return OFFPAY_ECORRUPT;
    return OFFPAY_OK;
}

/* The credential of serial, or NULL. */
static const cred_entry *find_cred(const offpay_wallet *w, uint64_t serial)
{
    for (size_t i = 0; i < w->n_creds; i++)
        if (w->creds[i].c.serial == serial)
            return &w->creds[i];
    return NULL;
}

/* Reads one credential entry: exactly {"cred", "next_counter"}. */
static offpay_err load_cred(offpay_wallet *w, const json_t *c, cred_entry *e)
{
    uint8_t  cbuf[OFFPAY_WALLET_CRED_BYTES];
    size_t   clen = 0;
    uint64_t v;

    if (!json_is_object(c) || json_object_size(c) != 2 ||
        offpay__json_get_hexv(c, "cred", cbuf, sizeof cbuf, &clen) !=
            OFFPAY_OK ||
        offpay_wallet_cred_decode(cbuf, clen, &e->c) != OFFPAY_OK ||
        offpay__json_get_u64(c, "next_counter", UINT32_MAX, &v) != OFFPAY_OK ||
        v == 0 ||
        sodium_memcmp(e->c.wallet_pk, w->kp.pk, OFFPAY_PK_BYTES) != 0 ||
        find_cred(w, e->c.serial) != NULL)
        return OFFPAY_ECORRUPT;
    e->next_counter = (uint32_t)v;
    return OFFPAY_OK;
}

/* Reads one spend log entry of format 1 or 2 into e (e->rc allocated
 * here; the caller frees it with the log). */
static offpay_err load_spend(const offpay_wallet *w, json_t *j, int format,
                             spend_entry *e)
{
    json_int_t        serial, counter, authorized, t, mid, charged = -1;
    json_t           *rcs = NULL;
    int               bound, has_charged = 0;
    const cred_entry *c;
    offpay_err        rc;

    memset(e, 0, sizeof *e);
    e->legacy = -1;
    if (format == 1) {
        if (json_unpack(j, "{s:I, s:I, s:I, s:I, s:i, s:I, s:I !}", "serial",
                        &serial, "counter", &counter, "authorized", &authorized,
                        "time", &t, "bound", &bound, "merchant_id", &mid,
                        "charged", &charged) != 0)
            return OFFPAY_ECORRUPT;
        has_charged = charged >= 0;
    } else {
        json_t *ch = NULL;

        if (json_unpack(j, "{s:I, s:I, s:I, s:I, s:i, s:I, s:o, s?o !}",
                        "serial", &serial, "counter", &counter, "authorized",
                        &authorized, "time", &t, "bound", &bound, "merchant_id",
                        &mid, "receipts", &rcs, "charged", &ch) != 0 ||
            !json_is_array(rcs) || json_array_size(rcs) > RECEIPTS_PER_CODE ||
            (ch != NULL && !json_is_integer(ch)))
            return OFFPAY_ECORRUPT;
        if (ch != NULL) {
            charged = json_integer_value(ch);
            has_charged = 1;
            if (charged < 0)
                return OFFPAY_ECORRUPT;
        }
    }
    /* 64-bit identifiers are kept as the bit pattern of a JSON integer:
     * values of 2^63 and more read back negative. */
    c = find_cred(w, (uint64_t)serial);
    if (c == NULL || counter <= 0 || counter >= c->next_counter ||
        authorized <= 0 || authorized > UINT32_MAX || t < 0 || t > UINT32_MAX ||
        (bound != 0 && bound != 1) || (bound == 0 && mid != 0) ||
        charged < -1 || charged > authorized)
        return OFFPAY_ECORRUPT;
    e->s.serial = (uint64_t)serial;
    e->s.counter = (uint32_t)counter;
    e->s.authorized = (uint32_t)authorized;
    e->s.time = (uint32_t)t;
    e->s.bound = bound;
    e->s.merchant_id = (uint64_t)mid;
    e->legacy = has_charged ? charged : -1;
    for (size_t i = 0; rcs != NULL && i < json_array_size(rcs); i++) {
        uint8_t        buf[RECEIPT_MAX_BYTES];
        size_t         len = 0;
        offpay_receipt r;

        if (hex_value(json_array_get(rcs, i), buf, sizeof buf, &len) !=
                OFFPAY_OK ||
            offpay_receipt_decode(buf, len, &r) != OFFPAY_OK ||
            receipt_fits(e, c->c.currency, &r) != OFFPAY_OK ||
            has_receipt(e, &r))
            return OFFPAY_ECORRUPT;
        rc = add_receipt(e, &r);
        if (rc != OFFPAY_OK)
            return rc;
    }
    update_charged(e);
    return OFFPAY_OK;
}

/* Parses a decrypted state into w (fresh from wallet_new). */
static offpay_err parse_state(offpay_wallet *w, const uint8_t *plain,
                              size_t plain_len)
{
    json_t      *root = NULL, *creds, *spends;
    uint8_t      seed[OFFPAY_SEED_BYTES];
    uint64_t     v;
    int          format;
    json_error_t jerr;
    offpay_err   rc = OFFPAY_ECORRUPT;

    if (plain_len > OFFPAY__WALLET_PLAIN_MAX)
        goto out;
    root = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (!json_is_object(root) || json_object_size(root) != 7 ||
        offpay__json_get_u64(root, "format", FORMAT, &v) != OFFPAY_OK || v < 1)
        goto out;
    format = (int)v;
    if (offpay__json_get_hex(root, "seed", seed, sizeof seed) != OFFPAY_OK ||
        offpay_keypair_from_seed(seed, &w->kp) != OFFPAY_OK ||
        offpay__json_get_hex(root, "root_pk", w->root_pk, OFFPAY_PK_BYTES) !=
            OFFPAY_OK ||
        offpay__json_get_hexv(root, "bundle", w->bundle_bytes,
                              sizeof w->bundle_bytes,
                              &w->bundle_len) != OFFPAY_OK ||
        offpay_bundle_verify(w->bundle_bytes, w->bundle_len, w->root_pk,
                             &w->bundle) != OFFPAY_OK ||
        offpay__json_get_u64(root, "default_cap", OFFPAY_WIRE_AMOUNT_MAX, &v) !=
            OFFPAY_OK)
        goto out;
    w->default_cap = (int64_t)v;
    creds = json_object_get(root, "creds");
    spends = json_object_get(root, "spends");
    if (!json_is_array(creds) || json_array_size(creds) > CREDS_MAX ||
        !json_is_array(spends) || json_array_size(spends) > SPENDS_MAX)
        goto out;
    for (size_t i = 0; i < json_array_size(creds); i++) {
        rc = load_cred(w, json_array_get(creds, i), &w->creds[i]);
        if (rc != OFFPAY_OK)
            goto out;
        w->n_creds = i + 1;
    }
    w->cap_spends = json_array_size(spends) + 16;
    w->spends = calloc(w->cap_spends, sizeof *w->spends);
    if (w->spends == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(spends); i++) {
        spend_entry *e = &w->spends[i];

        rc = load_spend(w, json_array_get(spends, i), format, e);
        w->n_spends = i + 1; /* e->rc, if any, is freed with the log */
        if (rc != OFFPAY_OK)
            goto out;
        /* One entry per code: a counter is never used twice. */
        for (size_t k = 0; k < i; k++)
            if (w->spends[k].s.serial == e->s.serial &&
                w->spends[k].s.counter == e->s.counter) {
                rc = OFFPAY_ECORRUPT;
                goto out;
            }
    }
    rc = OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(root);
    return rc;
}

offpay_err offpay__wallet_state_load(const uint8_t *plain, size_t len,
                                     offpay_wallet **out)
{
    offpay_wallet *w;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (plain == NULL && len > 0)
        return OFFPAY_EINVAL;
    w = wallet_new();
    if (w == NULL)
        return OFFPAY_ENOMEM;
    rc = parse_state(w, plain != NULL ? plain : (const uint8_t *)"", len);
    if (rc != OFFPAY_OK) {
        offpay_wallet_close(w);
        return rc;
    }
    *out = w;
    return OFFPAY_OK;
}

static offpay_err load(offpay_wallet *w, const char *passphrase)
{
    uint8_t   *plain = NULL;
    size_t     plain_len = 0;
    offpay_err rc;

    rc = offpay__wallet_sealer_load(w->path, passphrase, &plain, &plain_len,
                                    &w->sealer);
    if (rc == OFFPAY_OK)
        rc = parse_state(w, plain, plain_len);
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
    w = wallet_new();
    if (w == NULL)
        return OFFPAY_ENOMEM;
    if ((rc = resolve_path(path, &w->path)) != OFFPAY_OK ||
        (rc = offpay__path_check_unlinked(w->path)) != OFFPAY_OK ||
        (rc = lock_wallet(w)) != OFFPAY_OK ||
        (rc = offpay__path_check_unlinked(w->path)) != OFFPAY_OK)
        goto out;
    if (lstat(w->path, &st) == 0) {
        rc = S_ISDIR(st.st_mode) ? OFFPAY_EISDIR : OFFPAY_EEXISTS;
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

/* offpay_wallet_open and offpay_wallet_open_readonly. */
static offpay_err open_as(const char *path, const char *passphrase,
                          int readonly, offpay_wallet **out)
{
    offpay_wallet *w = NULL;
    struct stat    st;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (path == NULL || passphrase == NULL)
        return OFFPAY_EINVAL;
    w = wallet_new();
    if (w == NULL)
        return OFFPAY_ENOMEM;
    rc = resolve_path(path, &w->path);
    if (rc != OFFPAY_OK)
        goto out;
    /* No lock file beside a wallet that does not exist, nor beside a
     * link to one. */
    if (lstat(w->path, &st) != 0) {
        rc = errno == ENOENT ? OFFPAY_ENOTFOUND : offpay__errno_err(errno);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = OFFPAY_EISDIR;
        goto out;
    }
    rc = offpay__path_check_unlinked(w->path);
    if (rc != OFFPAY_OK)
        goto out;
    /* Checked again under the lock, and before every save. */
    if ((rc = lock_wallet_as(w, readonly)) != OFFPAY_OK ||
        (rc = offpay__path_check_unlinked(w->path)) != OFFPAY_OK ||
        (rc = load(w, passphrase)) != OFFPAY_OK)
        goto out;
    if (readonly) {
        /* The state is in memory: the reader lets writers go on, and drops
         * the file key so that no save can happen. */
        offpay__lock_release(w->lock_fd);
        w->lock_fd = -1;
        offpay__wallet_sealer_free(w->sealer);
        w->sealer = NULL;
    }
    *out = w;
    w = NULL;
out:
    offpay_wallet_close(w);
    return rc;
}

offpay_err offpay_wallet_open(const char *path, const char *passphrase,
                              offpay_wallet **out)
{
    return open_as(path, passphrase, 0, out);
}

offpay_err offpay_wallet_open_readonly(const char *path, const char *passphrase,
                                       offpay_wallet **out)
{
    return open_as(path, passphrase, 1, out);
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
                                       size_t len, uint32_t now)
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
    /* A bundle dated in the future would make every genuine later one
     * look old; refuse it as terminals do (docs/protocol.md §5.2). */
    if ((uint64_t)b.issued_at > (uint64_t)now + OFFPAY_WALLET_SKEW)
        return OFFPAY_EFUTURE_DATED;
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
 * amount stays reserved, and more when receipts from several terminals
 * charge more than it authorized: confirmed + pending + held = the sum
 * over the codes of max(authorized, charged). */
static void spent_of(const offpay_wallet *w, uint64_t serial,
                     int64_t *confirmed, int64_t *pending, int64_t *held,
                     uint32_t *codes)
{
    *confirmed = 0;
    *pending = 0;
    *held = 0;
    *codes = 0;
    for (size_t i = 0; i < w->n_spends; i++) {
        const offpay_wallet_spend *s = &w->spends[i].s;

        if (s->serial != serial)
            continue;
        (*codes)++;
        /* Bounded: at most SPENDS_MAX entries, each charged at most
         * (1 + RECEIPTS_PER_CODE) u32. */
        if (s->charged >= 0) {
            *confirmed += s->charged;
            if (s->charged < s->authorized)
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
    *out = w->spends[i].s;
    return OFFPAY_OK;
}

offpay_err offpay_wallet_get_receipt(const offpay_wallet *w, size_t i, size_t j,
                                     offpay_receipt *out)
{
    if (w == NULL || out == NULL)
        return OFFPAY_EINVAL;
    if (i >= w->n_spends || j >= w->spends[i].n_rc)
        return OFFPAY_ENOTFOUND;
    *out = w->spends[i].rc[j];
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

/* Drops the logged codes (and their receipts) of credentials expired more
 * than PRUNE_AFTER ago, and returns how many. Terminals refuse their codes, so
 * nothing they reserve can be spent. The credentials themselves stay, retired
 * (next counter at its maximum), so neither a clock set back nor adding one
 * again can make them pay with their log forgotten. */
static size_t prune(offpay_wallet *w, uint32_t now)
{
    size_t keep = 0, dropped;

    for (size_t k = 0; k < w->n_creds; k++)
        if ((uint64_t)w->creds[k].c.expires + PRUNE_AFTER < now)
            w->creds[k].next_counter = UINT32_MAX;
    for (size_t i = 0; i < w->n_spends; i++) {
        int live = 0;

        for (size_t k = 0; k < w->n_creds; k++)
            if (w->creds[k].c.serial == w->spends[i].s.serial &&
                (uint64_t)w->creds[k].c.expires + PRUNE_AFTER >= now)
                live = 1;
        if (live)
            w->spends[keep++] = w->spends[i];
        else
            free(w->spends[i].rc);
    }
    dropped = w->n_spends - keep;
    w->n_spends = keep;
    return dropped;
}

/* Appends the reservation of code s to the log (room checked by the
 * caller), then saves. On OFFPAY_ERANGE (the state would outgrow the file:
 * nothing was written, no code exists) it is taken back; on any other
 * failure it stays (see the file comment). */
static offpay_err reserve(offpay_wallet *w, cred_entry *e,
                          const offpay_wallet_spend *s)
{
    spend_entry *x = &w->spends[w->n_spends];
    offpay_err   rc;

    memset(x, 0, sizeof *x);
    x->s = *s;
    x->legacy = -1;
    e->next_counter++;
    w->n_spends++;
    rc = save(w);
    if (rc == OFFPAY_ERANGE) {
        w->n_spends--;
        e->next_counter--;
    }
    return rc;
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
        size_t       ncap = w->cap_spends ? w->cap_spends * 2 : 16;
        spend_entry *grown = realloc(w->spends, ncap * sizeof *grown);

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

    /* Reserve first; kept even if the save fails (see the file comment),
     * except when the state no longer fits the file: then room is made by
     * pruning, if there is any to make. */
    rc = reserve(w, e, &s);
    if (rc == OFFPAY_ERANGE && prune(w, now) > 0)
        rc = reserve(w, e, &s);
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
    offpay_receipt    t;
    spend_entry      *s = NULL;
    const cred_entry *e;
    uint8_t          *bytes = NULL;
    size_t            len = 0;
    int64_t           old_legacy;
    offpay_err        rc;

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
    e = find_cred(w, t.serial);
    for (size_t i = 0; e != NULL && i < w->n_spends; i++)
        if (w->spends[i].s.serial == t.serial &&
            w->spends[i].s.counter == t.counter)
            s = &w->spends[i];
    /* Never more than the code authorized (nor another code, currency or
     * merchant): such a receipt is refused, not kept. */
    if (s == NULL || receipt_fits(s, e->c.currency, &t) != OFFPAY_OK)
        return OFFPAY_ERECEIPT_MISMATCH;
    if (r != NULL)
        *r = t;
    if (has_receipt(s, &t))
        return OFFPAY_OK;
    if (s->n_rc == RECEIPTS_PER_CODE)
        return OFFPAY_ERANGE;
    /* A code migrated from format 1 kept the amount of its one receipt but
     * not the receipt: that receipt, taken again, takes its place. */
    old_legacy = s->legacy;
    if (s->n_rc == 0 && s->legacy == (int64_t)t.amount)
        s->legacy = -1;
    rc = add_receipt(s, &t);
    if (rc != OFFPAY_OK) {
        s->legacy = old_legacy;
        return rc;
    }
    rc = save(w);
    if (rc != OFFPAY_OK) {
        s->n_rc--; /* the reservation stays: the safe side */
        s->legacy = old_legacy;
        update_charged(s);
    }
    return rc;
}

offpay_err offpay_wallet_code_text(const offpay_wallet *w, size_t i,
                                   char **text)
{
    offpay_wallet_spend s;
    offpay_payment      p;
    const cred_entry   *e;
    uint8_t             msg[OFFPAY_SIGNED_MAX];
    uint8_t             code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t              len = 0;
    offpay_err          rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (w == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_wallet_get_spend(w, i, &s);
    if (rc != OFFPAY_OK)
        return rc;
    if (s.bound)
        return OFFPAY_ETYPE; /* the request's nonce is not kept */
    e = find_cred(w, s.serial);
    if (e == NULL)
        return OFFPAY_ENOTFOUND;
    /* The fields make_code signed; Ed25519 is deterministic, so signing
     * them again gives the same signature and the same code. */
    memset(&p, 0, sizeof p);
    p.cred = e->c;
    p.counter = s.counter;
    p.amount = s.authorized;
    p.time = s.time;
    rc = offpay__payment_signed_bytes(&p, msg, sizeof msg, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_sign(OFFPAY_DS_PAYMENT, msg, len, w->kp.sk, p.sig);
    if (rc == OFFPAY_OK)
        rc = offpay_payment_encode(&p, code, sizeof code, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_text_encode(code, len, text);
    sodium_memzero(msg, sizeof msg);
    return rc;
}
