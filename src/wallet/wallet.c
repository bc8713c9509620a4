/*
 * wallet.c — the payer's wallet state machine (wallet.h).
 *
 * Storage: two files.
 *
 * The wallet file (path; wallet_file.c) is sealed under the passphrase and
 * replaced atomically when keys, credentials or settings change, and
 * every CHECKPOINT_EVERY codes. Its plaintext is JSON, format 4:
 *   {"format":4, "seed":hex, "root_pk":hex, "bundle":hex, "default_cap":n,
 *    "log_key":hex, "checkpoint":{"records":K, "codes":n, "chain":hex},
 *    "creds":[{"cred":hex, "next_counter":n, "highest":n, "codes":n,
 *              "confirmed":n, "pending":n, "held":n}...]}
 * "next_counter" is a floor: the next counter of a credential is the larger
 * of it and one more than the highest counter the spend log holds for it.
 * A credential entry may carry an eighth key, "online" (online.c, the
 * settlement sync): {"frozen":0|1, "synced":0|1, "revoked":0|1,
 * "remaining":n, "outstanding":n, "reserved":n} ("frozen":2: offpayd
 * answered ENOT_ISSUED for its codes, below), and once offpayd told
 * when the escrow returns, five more: "released":0|1, "released_at":t,
 * "returned":n, "release_due":t, "late_until":t; and once a sync learnt
 * that settlement paid for a code with a receipt other than its receipts
 * charged, "decided":[[counter, paid, above, case]...] (at most
 * DECIDED_MAX, the newest: what was paid, of the code's hold what settlement
 * paid beyond the receipts, the case offpayd opened or 0). Revoked: the server
 * or its signed revocation list said so; no code. Frozen: restored from a
 * backup, no code
 * until a sync has told the highest counter the server saw (next_counter
 * is then raised above it). Frozen 2: offpayd does not know it (its
 * codes were refused ENOT_ISSUED and its status lists no such serial: a
 * ledger restored from a backup older than the credential); no code,
 * unless a later sync finds it listed (then as a restored one). Synced: at the
 * last sync the server's escrow held "remaining", codes not presented yet
 * authorized "outstanding", and the wallet's reservations summed "reserved";
 * what is available is then remaining - outstanding - (what was reserved
 * since), which releases the part of settled codes' reservations that
 * settlement did not take. The wallet file of a restore (offpay_wallet_restore)
 * carries a ninth key, "restored":1: a credential added to it by hand is frozen
 * too. The checkpoint says what the log's first K records add up to: per
 * credential its highest counter, codes and sums (see tally), the codes
 * of all, and chain(K) (spendlog.h: a BLAKE2b chain over the records'
 * stored bytes). Opening decrypts only the records from K on; the older
 * ones are read when something needs them (load_old: a listing, a
 * receipt for an old code), checked against the chain and the sums. The
 * checkpoint only accelerates: records after it are always replayed, so
 * a crash between an append and the next checkpoint loses nothing. Format
 * 3 was format 4 without "checkpoint" and the credentials' sums.
 * A format 4 file may carry "pruned":{"serials":hex, "codes":n}: the
 * credentials dropped for good (finished, add_cred_as at the cap) whose
 * codes the log holds, 8 bytes each ascending, and their codes among the
 * checkpoint's; their records replay without a credential.
 *
 * The spend log (path.log; spendlog.c) is append-only: a header, then one
 * fixed-size record per code, sealed with "log_key", appended and fdatasync'd
 * before the code exists; one more record per receipt taken. Nothing is ever
 * rewritten, so a code costs one signature and one durable append
 * whatever the history. Record plaintexts (256 bytes, big-endian, unused
 * bytes zero):
 *   code     01 | serial u64 | counter u32 | authorized u32 | time u32 |
 *            bound u8 | merchant_id u64 | request nonce (12) | legacy i64
 *   receipt  02 | length u16 | the receipt's exact bytes
 * "legacy" is -1, or a charge migrated from format 1 without its receipt.
 * Within the log, the counters of one credential strictly increase.
 *
 * Formats 1 and 2 kept the log inside the sealed file as JSON
 *   "spends":[{"serial":n, "counter":n, "authorized":n, "time":t,
 *              "bound":0|1, "merchant_id":n, "receipts":[hex...]
 *              [, "charged":n]}...]
 * (format 1: "charged":n|-1 and no "receipts"). Such a wallet still opens
 * and is migrated once: the log is written first (atomically), then the
 * sealed file in format 4; a crash between the two leaves the old file,
 * which migrates again over the stray log.
 *
 * The rule that keeps an honest wallet within its limit: a code's counter
 * and reservation are durable before the code exists outside this
 * process; a failed append leaves the reservation in memory too, so the
 * wallet only ever errs on the side of reserving more. A receipt never
 * releases any of it: offline, the wallet cannot know that no other
 * terminal accepted the same code (a captured screen) for more than the
 * receipt says, so only settlement may release a reservation.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/jsonutil.h"
#include "core/message_int.h"
#include "core/oserr.h"
#include "core/verify_int.h"
#include "offpay/core.h"
#include "offpay/crypto.h"
#include "offpay/verify.h"
#include "offpay/wallet.h"
#include "terminal/upload_int.h"
#include "wallet/spendlog.h"
#include "wallet/wallet_file.h"
#include "wallet/wallet_int.h"

/* Credentials a wallet file holds: each is ~300 bytes of the sealed
 * file's 1 MiB, and a payer renewing every week would need 39 years to
 * fill it. */
#define CREDS_MAX         OFFPAY_WALLET_CREDS_MAX
#define SPENDS_MAX        OFFPAY_WALLET_SPENDS_MAX
#define RECEIPTS_PER_CODE OFFPAY_WALLET_RECEIPTS_PER_CODE
/* Largest receipt: 209 bytes + a 40-byte merchant name (protocol.md §2.7). */
#define RECEIPT_MAX_BYTES (209 + 40)
#define BUNDLE_MAX        (2 + 9 + OFFPAY_BUNDLE_KEYS_MAX * 42 + 64)
#define FORMAT            4 /* written; 1 to 3 are still read */
#define FORMAT_LEGACY_MAX 2
#define FORMAT_NO_CK      3 /* a log, no checkpoint */
/* Codes between two checkpoints written by codes alone: one atomic
 * replace of the small sealed file per this many codes. */
#define CHECKPOINT_EVERY 4096
/* Codes per credential whose settlement the sync keeps when it differs
 * from their receipts (disputes: each has a case): the newest. */
#define DECIDED_MAX OFFPAY__WALLET_DECIDED_MAX
/* Dropped credentials whose codes the log holds, kept by serial (16 hex
 * digits each: 512 KiB of the file at the limit, 22 years of a card
 * renewed 4 times a day). */
#define PRUNED_MAX OFFPAY__WALLET_PRUNED_MAX
/* A credential expired this long ago, every code of it presented at a
 * sync since, is finished for the wallet even if offpayd never said it
 * was released (finished). */
#define EXPIRED_LONG_AGO OFFPAY__WALLET_EXPIRED_LONG_AGO

uint32_t offpay__wallet_checkpoint_every = CHECKPOINT_EVERY;
uint32_t offpay__wallet_creds_max = CREDS_MAX;
/* Spends a format 1 or 2 file may list (it was capped at 6,000). */
#define LEGACY_SPENDS_MAX 6000

#define REC_CODE    OFFPAY__LOG_KIND_CODE
#define REC_RECEIPT OFFPAY__LOG_KIND_RECEIPT

typedef struct cred_entry {
    offpay_wallet_cred c;
    uint32_t           next_counter; /* max(floor, highest logged + 1) */
    uint32_t           highest;      /* highest counter logged, 0: none */
    /* The issuer key its signature was last found good under (all zero:
     * not yet): making a code then checks only the key's and the
     * credential's windows, not the signature again. */
    uint8_t sig_ok_pk[OFFPAY_PK_BYTES];
    /* Its codes' sums (see spent_of), kept as codes and receipts come. */
    int64_t   confirmed, pending, held;
    uint32_t  codes;
    uint32_t *idx; /* indices into spends of its codes, counter order */
    size_t    n_idx, cap_idx;
    /* The same at the wallet's checkpoint (w->ck). */
    int64_t  ck_confirmed, ck_pending, ck_held;
    uint32_t ck_codes, ck_highest;
    /* The settlement sync's view ("online" in the state; online.c). */
    int     frozen, synced, revoked;
    int64_t sync_remaining, sync_outstanding, sync_reserved;
    /* The escrow's release as offpayd told it (release_due 0: not told). */
    int      released;
    uint32_t released_at, release_due, late_until;
    int64_t  returned;
    /* Codes settlement paid otherwise than their receipts charged, as the
     * last sync was told (counter order). */
    offpay__wallet_decided decided[DECIDED_MAX];
    size_t                 n_decided;
} cred_entry;

/* A code of the log with its receipts. s.charged and s.n_receipts are
 * derived (update_charged) whenever rc or legacy change. */
typedef struct spend_entry {
    offpay_wallet_spend s;
    int64_t             legacy; /* format 1's charged without its receipt,
                                   or -1 */
    uint8_t         nonce[OFFPAY_NONCE_BYTES]; /* bound codes' request */
    offpay_receipt *rc; /* heap, RECEIPTS_PER_CODE slots or NULL */
    size_t          n_rc;
} spend_entry;

struct offpay_wallet {
    char                  *path;     /* directories resolved (realpath) */
    char                  *log_path; /* path.log */
    offpay__wallet_sealer *sealer;   /* the derived file key; NULL in a
                                        read-only handle: saves refuse */
    int                 lock_fd;     /* flock on path.lock, held while open */
    offpay_keypair      kp;
    uint8_t             root_pk[OFFPAY_PK_BYTES];
    uint8_t             bundle_bytes[BUNDLE_MAX];
    size_t              bundle_len;
    offpay_trust_bundle bundle;
    int64_t             default_cap;
    int                 restored; /* made by a restore: "restored" */
    int                 reading;  /* opened read-only: the log too */
    uint8_t             log_key[OFFPAY__LOG_KEY_BYTES];
    int                 format;  /* of the sealed state as loaded */
    int                 migrate; /* log still inside the sealed file */
    int                 reseal;  /* file sealed below the default KDF
                                    cost: rewrite it at the next write */
    offpay__log log;
    /* The checkpoint: what the log's first ck.n records add up to (the
     * credentials' ck_ fields, ck_codes codes). */
    offpay__log_mark ck;
    uint64_t         ck_codes;
    /* partial: the records before the checkpoint opening started from
     * are not in memory (their n_old codes; spends holds the codes after
     * them); load_old reads them when something needs them. */
    size_t       n_old;
    int          partial;
    int          check_ck; /* a full replay checks the sums at ck.n */
    int          unlogged; /* a code is in memory whose append failed */
    /* Let go while a sync waits on offpayd (offpay__wallet_let_go): the
     * lock released, nothing written until retaken; retake_failed: never
     * again (the handle is to be closed). */
    int          let_go, retake_failed;
    cred_entry  *creds;    /* heap, not secret */
    size_t       n_creds, cap_creds;
    /* Credentials dropped for good (prune_one) whose codes the log still
     * holds: their serials, ascending ("pruned"), so that their records
     * replay; pruned_codes counts their codes in memory, ck_pruned_codes
     * at the checkpoint. */
    uint64_t    *pruned;
    size_t       n_pruned, cap_pruned;
    uint64_t     pruned_codes, ck_pruned_codes;
    size_t       last_cred; /* find_cred's guess */
    spend_entry *spends;    /* heap, not secret */
    size_t       n_spends;
    size_t       cap_spends;
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
    offpay__log_init(&w->log);
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

/* w->log_path from w->path. */
static offpay_err set_log_path(offpay_wallet *w)
{
    size_t n = strlen(w->path) + sizeof ".log";

    if (n > PATH_MAX)
        return OFFPAY_EINVAL;
    w->log_path = malloc(n);
    if (w->log_path == NULL)
        return OFFPAY_ENOMEM;
    snprintf(w->log_path, n, "%s.log", w->path);
    return OFFPAY_OK;
}

void offpay_wallet_close(offpay_wallet *w)
{
    if (w == NULL)
        return;
    free(w->path);
    free(w->log_path);
    offpay__wallet_sealer_free(w->sealer);
    offpay__lock_release(w->lock_fd);
    offpay__log_close(&w->log);
    for (size_t i = 0; i < w->n_spends; i++)
        free(w->spends[i].rc);
    free(w->spends);
    for (size_t i = 0; i < w->n_creds; i++)
        free(w->creds[i].idx);
    free(w->creds);
    free(w->pruned);
    sodium_free(w); /* wipes the key pair and the log key */
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

/* Appends t to e, allocating its slots (room checked by the caller). */
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

/* ---- the log in memory ---------------------------------------------- */

/* Adds (sign 1) or takes away (sign -1) code s from its credential's
 * sums: confirmed + pending + held grows by max(authorized, charged).
 * Bounded: at most SPENDS_MAX codes, each (1 + RECEIPTS_PER_CODE) u32. */
static void tally(cred_entry *c, const offpay_wallet_spend *s, int64_t sign)
{
    if (s->charged >= 0) {
        c->confirmed += sign * s->charged;
        if (s->charged < s->authorized)
            c->held += sign * ((int64_t)s->authorized - s->charged);
    } else {
        c->pending += sign * (int64_t)s->authorized;
    }
}

/* The credential of serial, or NULL. */
static cred_entry *find_cred(offpay_wallet *w, uint64_t serial)
{
    if (w->last_cred < w->n_creds && w->creds[w->last_cred].c.serial == serial)
        return &w->creds[w->last_cred];
    for (size_t i = 0; i < w->n_creds; i++)
        if (w->creds[i].c.serial == serial) {
            w->last_cred = i;
            return &w->creds[i];
        }
    return NULL;
}

/* 1 when serial is one of the credentials dropped for good. */
static int is_pruned(const offpay_wallet *w, uint64_t serial)
{
    size_t lo = 0, hi = w->n_pruned;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (w->pruned[mid] == serial)
            return 1;
        if (w->pruned[mid] < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The code (serial, counter) of a dropped credential, or NULL: the log in
 * memory searched from its end (receipts follow their codes). */
static spend_entry *find_pruned_spend(offpay_wallet *w, uint64_t serial,
                                      uint32_t counter)
{
    for (size_t i = w->n_spends; i-- > 0;)
        if (w->spends[i].s.serial == serial &&
            w->spends[i].s.counter == counter)
            return &w->spends[i];
    return NULL;
}

/* The code (serial, counter), or NULL: a binary search of the
 * credential's codes, which the log keeps in counter order. */
static spend_entry *find_spend(offpay_wallet *w, const cred_entry *c,
                               uint32_t counter)
{
    size_t lo = 0, hi = c->n_idx;

    while (lo < hi) {
        size_t   mid = lo + (hi - lo) / 2;
        uint32_t k = w->spends[c->idx[mid]].s.counter;

        if (k == counter)
            return &w->spends[c->idx[mid]];
        if (k < counter)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Room for one more code in w->spends and in c->idx. */
static offpay_err grow_for_code(offpay_wallet *w, cred_entry *c)
{
    if (w->n_spends == w->cap_spends) {
        size_t       ncap = w->cap_spends ? w->cap_spends * 2 : 16;
        spend_entry *grown = realloc(w->spends, ncap * sizeof *grown);

        if (grown == NULL)
            return OFFPAY_ENOMEM;
        w->spends = grown;
        w->cap_spends = ncap;
    }
    if (c->n_idx == c->cap_idx) {
        size_t    ncap = c->cap_idx ? c->cap_idx * 2 : 16;
        uint32_t *grown = realloc(c->idx, ncap * sizeof *grown);

        if (grown == NULL)
            return OFFPAY_ENOMEM;
        c->idx = grown;
        c->cap_idx = ncap;
    }
    return OFFPAY_OK;
}

/* Whether code e (no receipts yet) may follow the log of credential c:
 * its counter above every logged one of c, the fields in range. */
static int code_fits(const cred_entry *c, const spend_entry *e)
{
    static const uint8_t       zero[OFFPAY_NONCE_BYTES];
    const offpay_wallet_spend *s = &e->s;

    return s->counter > c->highest && s->counter < UINT32_MAX &&
           s->authorized > 0 && (s->bound == 0 || s->bound == 1) &&
           (s->bound == 1 || (s->merchant_id == 0 &&
                              memcmp(e->nonce, zero, sizeof zero) == 0)) &&
           e->legacy >= -1 && e->legacy <= (int64_t)s->authorized;
}

/* Adds code e (checked with code_fits; room made with grow_for_code) to
 * the log in memory and to its credential's sums and counter. */
static void add_code(offpay_wallet *w, cred_entry *c, const spend_entry *e)
{
    spend_entry *x = &w->spends[w->n_spends];

    *x = *e;
    x->rc = NULL;
    x->n_rc = 0;
    update_charged(x);
    c->idx[c->n_idx++] = (uint32_t)w->n_spends;
    w->n_spends++;
    c->highest = x->s.counter;
    if (c->next_counter <= x->s.counter)
        c->next_counter = x->s.counter + 1;
    c->codes++;
    tally(c, &x->s, 1);
}

/* Keeps receipt t (checked: it fits e, is new, and there is room) with
 * code e of credential c, and updates c's sums. A code migrated from
 * format 1 kept the amount of its one receipt but not the receipt: that
 * receipt, taken again, takes its place. */
static offpay_err keep_receipt(cred_entry *c, spend_entry *e,
                               const offpay_receipt *t)
{
    int64_t    old_legacy = e->legacy;
    offpay_err rc;

    tally(c, &e->s, -1);
    if (e->n_rc == 0 && e->legacy == (int64_t)t->amount)
        e->legacy = -1;
    rc = add_receipt(e, t);
    if (rc != OFFPAY_OK)
        e->legacy = old_legacy;
    tally(c, &e->s, 1);
    return rc;
}

/* ---- log records ---------------------------------------------------- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

#define CODE_REC_BYTES (1 + 8 + 4 + 4 + 4 + 1 + 8 + OFFPAY_NONCE_BYTES + 8)
_Static_assert(CODE_REC_BYTES <= 1 + OFFPAY__LOG_BODY_CODE,
               "a code record fits its body");
_Static_assert(3 + RECEIPT_MAX_BYTES <= 1 + OFFPAY__LOG_BODY_RECEIPT,
               "a receipt record fits its body");

static void code_record(const spend_entry *e,
                        uint8_t            p[OFFPAY__LOG_PLAIN_BYTES])
{
    memset(p, 0, OFFPAY__LOG_PLAIN_BYTES);
    p[0] = REC_CODE;
    put_be(p + 1, e->s.serial, 8);
    put_be(p + 9, e->s.counter, 4);
    put_be(p + 13, e->s.authorized, 4);
    put_be(p + 17, e->s.time, 4);
    p[21] = (uint8_t)e->s.bound;
    put_be(p + 22, e->s.merchant_id, 8);
    memcpy(p + 30, e->nonce, OFFPAY_NONCE_BYTES);
    put_be(p + 30 + OFFPAY_NONCE_BYTES, (uint64_t)e->legacy, 8);
}

static offpay_err receipt_record(const offpay_receipt *t,
                                 uint8_t p[OFFPAY__LOG_PLAIN_BYTES])
{
    size_t     len = 0;
    offpay_err rc;

    memset(p, 0, OFFPAY__LOG_PLAIN_BYTES);
    p[0] = REC_RECEIPT;
    rc = offpay_receipt_encode(t, p + 3, RECEIPT_MAX_BYTES, &len);
    if (rc == OFFPAY_OK)
        put_be(p + 1, len, 2);
    return rc;
}

/* 1 when p[from..to) are all zero. (Past a record's body the log gives
 * zeros: spendlog.c.) */
static int zero_from(const uint8_t *p, size_t from, size_t to)
{
    uint8_t acc = 0;

    for (size_t i = from; i < to; i++)
        acc |= p[i];
    return acc == 0;
}

/* 1 when every credential's sums are those of the checkpoint. */
static int ck_matches(const offpay_wallet *w)
{
    for (size_t i = 0; i < w->n_creds; i++) {
        const cred_entry *c = &w->creds[i];

        if (c->confirmed != c->ck_confirmed || c->pending != c->ck_pending ||
            c->held != c->ck_held || c->codes != c->ck_codes ||
            c->highest != c->ck_highest)
            return 0;
    }
    return w->pruned_codes == w->ck_pruned_codes;
}

/* Takes the checkpoint of w at mark: the log's first mark->n records are
 * exactly what w holds. */
static void take_ck(offpay_wallet *w, const offpay__log_mark *mark)
{
    for (size_t i = 0; i < w->n_creds; i++) {
        cred_entry *c = &w->creds[i];

        c->ck_confirmed = c->confirmed;
        c->ck_pending = c->pending;
        c->ck_held = c->held;
        c->ck_codes = c->codes;
        c->ck_highest = c->highest;
    }
    w->ck_pruned_codes = w->pruned_codes;
    w->ck = *mark;
    w->ck_codes = w->n_old + w->n_spends;
}

/* Forgets the log in memory (a replay from the first record follows):
 * the codes and the sums; the counter floors stay. */
static void reset_log_state(offpay_wallet *w)
{
    for (size_t i = 0; i < w->n_spends; i++)
        free(w->spends[i].rc);
    free(w->spends);
    w->spends = NULL;
    w->n_spends = w->cap_spends = 0;
    for (size_t i = 0; i < w->n_creds; i++) {
        cred_entry *c = &w->creds[i];

        free(c->idx);
        c->idx = NULL;
        c->n_idx = c->cap_idx = 0;
        c->confirmed = c->pending = c->held = 0;
        c->codes = 0;
        c->highest = 0;
    }
    w->pruned_codes = 0;
    w->n_old = 0;
    w->partial = 0;
}

/* The end of a full replay that checked the checkpoint: a log ending at
 * the checkpoint is checked now. */
static offpay_err ck_check_end(offpay_wallet *w, offpay_err rc)
{
    if (rc == OFFPAY_OK && w->check_ck && !ck_matches(w))
        rc = OFFPAY_ECORRUPT;
    w->check_ck = 0;
    return rc;
}

/* Replays one record of the log into w (strict: anything the wallet
 * would not have written is OFFPAY_ECORRUPT). */
static offpay_err apply_record(void *ctx, uint64_t index,
                               const uint8_t p[OFFPAY__LOG_PLAIN_BYTES])
{
    offpay_wallet *w = ctx;
    cred_entry    *c;
    offpay_err     rc;

    if (w->check_ck && index == w->ck.n) {
        if (!ck_matches(w))
            return OFFPAY_ECORRUPT;
        w->check_ck = 0;
    }
    if (p[0] == REC_CODE) {
        spend_entry e;

        memset(&e, 0, sizeof e);
        e.s.serial = get_be(p + 1, 8);
        e.s.counter = (uint32_t)get_be(p + 9, 4);
        e.s.authorized = (uint32_t)get_be(p + 13, 4);
        e.s.time = (uint32_t)get_be(p + 17, 4);
        e.s.bound = p[21];
        e.s.merchant_id = get_be(p + 22, 8);
        memcpy(e.nonce, p + 30, OFFPAY_NONCE_BYTES);
        e.legacy = (int64_t)get_be(p + 30 + OFFPAY_NONCE_BYTES, 8);
        c = find_cred(w, e.s.serial);
        if (c == NULL && is_pruned(w, e.s.serial)) {
            /* a dropped credential's code: kept in the log, no sums */
            cred_entry none;

            memset(&none, 0, sizeof none);
            if (!zero_from(p, CODE_REC_BYTES, 1 + OFFPAY__LOG_BODY_CODE) ||
                !code_fits(&none, &e) || w->n_old + w->n_spends >= SPENDS_MAX)
                return OFFPAY_ECORRUPT;
            rc = grow_for_code(w, &none);
            free(none.idx);
            if (rc != OFFPAY_OK)
                return rc;
            w->spends[w->n_spends] = e;
            w->spends[w->n_spends].rc = NULL;
            w->spends[w->n_spends].n_rc = 0;
            update_charged(&w->spends[w->n_spends]);
            w->n_spends++;
            w->pruned_codes++;
            return OFFPAY_OK;
        }
        if (!zero_from(p, CODE_REC_BYTES, 1 + OFFPAY__LOG_BODY_CODE) ||
            c == NULL || !code_fits(c, &e) ||
            w->n_old + w->n_spends >= SPENDS_MAX)
            return OFFPAY_ECORRUPT;
        rc = grow_for_code(w, c);
        if (rc == OFFPAY_OK)
            add_code(w, c, &e);
        return rc;
    }
    if (p[0] == REC_RECEIPT) {
        offpay_receipt t;
        spend_entry   *e;
        size_t         len = (size_t)get_be(p + 1, 2);

        if (len > RECEIPT_MAX_BYTES ||
            !zero_from(p, 3 + len, 1 + OFFPAY__LOG_BODY_RECEIPT) ||
            offpay_receipt_decode(p + 3, len, &t) != OFFPAY_OK)
            return OFFPAY_ECORRUPT;
        c = find_cred(w, t.serial);
        if (c == NULL && is_pruned(w, t.serial)) {
            e = find_pruned_spend(w, t.serial, t.counter);
            if (e == NULL && w->partial)
                return OFFPAY_ENOTFOUND; /* before the checkpoint */
            if (e == NULL || has_receipt(e, &t) ||
                e->n_rc == RECEIPTS_PER_CODE)
                return OFFPAY_ECORRUPT;
            return add_receipt(e, &t);
        }
        e = c != NULL ? find_spend(w, c, t.counter) : NULL;
        if (e == NULL && c != NULL && w->partial)
            return OFFPAY_ENOTFOUND; /* its code is before the checkpoint */
        if (e == NULL || receipt_fits(e, c->c.currency, &t) != OFFPAY_OK ||
            has_receipt(e, &t) || e->n_rc == RECEIPTS_PER_CODE)
            return OFFPAY_ECORRUPT;
        return keep_receipt(c, e, &t);
    }
    return OFFPAY_ECORRUPT;
}

/* The whole log of w as a log file image (header, then each code followed
 * by its receipts, sealed with w's log key): *img is malloc'd. */
static offpay_err log_image(const offpay_wallet *w, uint8_t **img, size_t *len)
{
    uint8_t    p[OFFPAY__LOG_PLAIN_BYTES];
    size_t     n = 0, cap = w->n_spends;
    uint64_t   k = 0;
    uint8_t   *out;
    offpay_err rc = OFFPAY_OK;

    *img = NULL;
    *len = 0;
    for (size_t i = 0; i < w->n_spends; i++)
        cap += w->spends[i].n_rc;
    out = malloc(OFFPAY__LOG_HEADER_BYTES + cap * OFFPAY__LOG_RECORD_BYTES);
    if (out == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__log_header(w->log_key, out);
    n = OFFPAY__LOG_HEADER_BYTES;
    for (size_t i = 0; i < w->n_spends && rc == OFFPAY_OK; i++) {
        const spend_entry *e = &w->spends[i];

        code_record(e, p);
        rc = offpay__log_seal(w->log_key, k++, p, out + n);
        n += OFFPAY__LOG_RECORD_BYTES;
        for (size_t j = 0; j < e->n_rc && rc == OFFPAY_OK; j++) {
            rc = receipt_record(&e->rc[j], p);
            if (rc == OFFPAY_OK)
                rc = offpay__log_seal(w->log_key, k++, p, out + n);
            n += OFFPAY__LOG_RECORD_BYTES;
        }
    }
    sodium_memzero(p, sizeof p);
    if (rc != OFFPAY_OK) {
        free(out);
        return rc;
    }
    *img = out;
    *len = n;
    return OFFPAY_OK;
}

offpay_err offpay__wallet_log_image(const offpay_wallet *w, uint8_t **img,
                                    size_t *len)
{
    if (img != NULL)
        *img = NULL;
    if (len != NULL)
        *len = 0;
    if (w == NULL || img == NULL || len == NULL || w->partial)
        return OFFPAY_EINVAL; /* the records before the checkpoint are not
                                 in memory */
    return log_image(w, img, len);
}

offpay_err offpay__wallet_log_replay(offpay_wallet *w, const uint8_t *img,
                                     size_t len, size_t *valid_len)
{
    uint64_t n = 0;
    size_t   v = 0;

    if (valid_len != NULL)
        *valid_len = 0;
    if (w == NULL || (img == NULL && len > 0))
        return OFFPAY_EINVAL;
    if (w->format < FORMAT_NO_CK || w->n_spends != 0 || w->log.n != 0)
        return OFFPAY_EINVAL; /* a log belongs to a format 3 or 4 state */
    if (img == NULL)
        return OFFPAY_ECORRUPT;
    {
        offpay_err rc;

        /* The whole log, checked against the checkpoint on the way. */
        reset_log_state(w);
        w->check_ck = 1;
        rc = offpay__log_replay_image(img, len, w->log_key, &w->ck,
                                      apply_record, w, &n, &v);
        rc = ck_check_end(w, rc);
        if (valid_len != NULL)
            *valid_len = v;
        return rc;
    }
}

offpay_err offpay__wallet_log_seal(const offpay_wallet *w, uint64_t index,
                                   const uint8_t plain[OFFPAY__LOG_PLAIN_BYTES],
                                   uint8_t       rec[OFFPAY__LOG_RECORD_BYTES])
{
    if (w == NULL || plain == NULL || rec == NULL)
        return OFFPAY_EINVAL;
    return offpay__log_seal(w->log_key, index, plain, rec);
}

/* A credential's "decided" list (the file comment), or NULL. */
static json_t *decided_json(const cred_entry *e)
{
    json_t *a = json_array();

    for (size_t k = 0; a != NULL && k < e->n_decided; k++) {
        const offpay__wallet_decided *d = &e->decided[k];

        if (json_array_append_new(
                a, json_pack("[I, I, I, I]", (json_int_t)d->counter,
                             (json_int_t)d->paid, (json_int_t)d->above,
                             (json_int_t)d->case_id)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* ---- the sealed state ----------------------------------------------- */

offpay_err offpay__wallet_state_dump(const offpay_wallet *w, char **text_out,
                                     size_t *len_out)
{
    json_t    *root = json_object(), *creds = json_array();
    json_t    *ck = json_object();
    uint8_t    seed[OFFPAY_SEED_BYTES];
    uint8_t    cbuf[OFFPAY_WALLET_CRED_BYTES];
    size_t     clen = 0;
    char      *text;
    offpay_err rc = OFFPAY_ENOMEM;

    if (text_out != NULL)
        *text_out = NULL;
    if (len_out != NULL)
        *len_out = 0;
    if (w == NULL || text_out == NULL || len_out == NULL) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    if (root == NULL || creds == NULL)
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
                                   (uint64_t)w->default_cap)) != OFFPAY_OK ||
        (rc = offpay__json_set_hex(root, "log_key", w->log_key,
                                   sizeof w->log_key)) != OFFPAY_OK ||
        (w->restored &&
         (rc = offpay__json_set_u64(root, "restored", 1)) != OFFPAY_OK))
        goto out;
    rc = OFFPAY_ENOMEM;
    if (ck == NULL || json_object_set(root, "checkpoint", ck) != 0)
        goto out;
    if ((rc = offpay__json_set_u64(ck, "records", w->ck.n)) != OFFPAY_OK ||
        (rc = offpay__json_set_u64(ck, "codes", w->ck_codes)) != OFFPAY_OK ||
        (rc = offpay__json_set_hex(ck, "chain", w->ck.chain,
                                   sizeof w->ck.chain)) != OFFPAY_OK)
        goto out;
    for (size_t i = 0; i < w->n_creds; i++) {
        const cred_entry *e = &w->creds[i];
        json_t           *c = json_object();

        rc = OFFPAY_ENOMEM;
        if (c == NULL || json_array_append_new(creds, c) != 0)
            goto out;
        if ((rc = offpay_wallet_cred_encode(&e->c, cbuf, sizeof cbuf, &clen)) !=
                OFFPAY_OK ||
            (rc = offpay__json_set_hex(c, "cred", cbuf, clen)) != OFFPAY_OK ||
            (rc = offpay__json_set_u64(c, "next_counter", e->next_counter)) !=
                OFFPAY_OK ||
            (rc = offpay__json_set_u64(c, "highest", e->ck_highest)) !=
                OFFPAY_OK ||
            (rc = offpay__json_set_u64(c, "codes", e->ck_codes)) != OFFPAY_OK ||
            (rc = offpay__json_set_u64(
                 c, "confirmed", (uint64_t)e->ck_confirmed)) != OFFPAY_OK ||
            (rc = offpay__json_set_u64(c, "pending",
                                       (uint64_t)e->ck_pending)) != OFFPAY_OK ||
            (rc = offpay__json_set_u64(c, "held", (uint64_t)e->ck_held)) !=
                OFFPAY_OK)
            goto out;
        if (e->frozen || e->synced || e->revoked) {
            json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "frozen",
                                  (json_int_t)e->frozen, "synced",
                                  (json_int_t)e->synced, "revoked",
                                  (json_int_t)e->revoked, "remaining",
                                  (json_int_t)e->sync_remaining, "outstanding",
                                  (json_int_t)e->sync_outstanding, "reserved",
                                  (json_int_t)e->sync_reserved);

            rc = OFFPAY_ENOMEM;
            if (o != NULL && e->release_due != 0 &&
                (json_object_set_new(o, "released",
                                     json_integer(e->released)) != 0 ||
                 json_object_set_new(o, "released_at",
                                     json_integer(e->released_at)) != 0 ||
                 json_object_set_new(o, "returned",
                                     json_integer(e->returned)) != 0 ||
                 json_object_set_new(o, "release_due",
                                     json_integer(e->release_due)) != 0 ||
                 json_object_set_new(o, "late_until",
                                     json_integer(e->late_until)) != 0)) {
                json_decref(o);
                goto out;
            }
            if (o != NULL && e->n_decided > 0 &&
                json_object_set_new(o, "decided", decided_json(e)) != 0) {
                json_decref(o);
                goto out;
            }
            if (o == NULL || json_object_set_new(c, "online", o) != 0)
                goto out;
        }
    }
    if (w->n_pruned > 0) {
        json_t  *pr = json_object();
        uint8_t *b = malloc(w->n_pruned * 8);

        rc = OFFPAY_ENOMEM;
        if (pr == NULL || b == NULL ||
            json_object_set_new(root, "pruned", pr) != 0) {
            json_decref(pr);
            free(b);
            goto out;
        }
        for (size_t i = 0; i < w->n_pruned; i++)
            put_be(b + 8 * i, w->pruned[i], 8);
        rc = offpay__json_set_hex(pr, "serials", b, w->n_pruned * 8);
        free(b);
        if (rc == OFFPAY_OK)
            rc = offpay__json_set_u64(pr, "codes", w->ck_pruned_codes);
        if (rc != OFFPAY_OK)
            goto out;
    }
    rc = OFFPAY_ENOMEM;
    if (json_object_set(root, "creds", creds) != 0)
        goto out;
    text = json_dumps(root, JSON_COMPACT);
    if (text == NULL)
        goto out;
    *text_out = text;
    *len_out = strlen(text);
    rc = OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    json_decref(ck);
    json_decref(creds);
    json_decref(root);
    return rc;
}

/* Writes the sealed state to the file. Refused before anything is written
 * when the path gained a second name (OFFPAY_ELINKED) or the state outgrew
 * the file (OFFPAY_ERANGE). */
static offpay_err save_sealed(const offpay_wallet *w)
{
    char      *text = NULL;
    size_t     len = 0;
    offpay_err rc;

    if (w->path == NULL || w->sealer == NULL)
        return OFFPAY_EINVAL; /* a handle from offpay__wallet_state_load */
    if (w->let_go)
        return OFFPAY_EBUSY;
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

/* Accepts any record: the migration's check that the log it wrote reads
 * back whole. */
static offpay_err count_record(void *ctx, uint64_t index,
                               const uint8_t p[OFFPAY__LOG_PLAIN_BYTES])
{
    (void)ctx;
    (void)index;
    (void)p;
    return OFFPAY_OK;
}

/* Moves the log of a format 1 or 2 state out of the sealed file: a new
 * log key, the log written (atomically), then the sealed file in format
 * 3. On failure w is as it was (w->migrate stays set: the next change
 * tries again). */
static offpay_err migrate(offpay_wallet *w)
{
    static const offpay__log_mark none;
    uint8_t                       old_key[OFFPAY__LOG_KEY_BYTES];
    uint8_t                      *img = NULL;
    size_t                        len = 0, want;
    offpay_err                    rc;

    memcpy(old_key, w->log_key, sizeof old_key);
    crypto_aead_xchacha20poly1305_ietf_keygen(w->log_key);
    want = 0;
    for (size_t i = 0; i < w->n_spends; i++)
        want += 1 + w->spends[i].n_rc;
    if ((rc = offpay__path_check_unlinked(w->log_path)) != OFFPAY_OK ||
        (rc = log_image(w, &img, &len)) != OFFPAY_OK ||
        (rc = offpay__log_create(w->log_path, img, len)) != OFFPAY_OK)
        goto out;
    /* Read back whole; the wallet's log is now the file: hold it open for
     * the appends. Then the sealed file, with a checkpoint at its end. */
    rc = offpay__log_open(&w->log, w->log_path, w->log_key, &none, 0, 0,
                          count_record, w);
    if (rc == OFFPAY_OK && w->log.n != want)
        rc = OFFPAY_EIO;
    if (rc == OFFPAY_OK) {
        offpay__log_mark at = {w->log.n, {0}};

        memcpy(at.chain, w->log.chain, sizeof at.chain);
        take_ck(w, &at);
        rc = save_sealed(w);
    }
    if (rc != OFFPAY_OK) {
        offpay__log_close(&w->log);
        w->ck = none;
        w->ck_codes = 0;
        goto out;
    }
    w->migrate = 0;
    w->reseal = 0;
    w->format = FORMAT;
out:
    if (rc != OFFPAY_OK && w->migrate)
        memcpy(w->log_key, old_key, sizeof old_key);
    sodium_memzero(old_key, sizeof old_key);
    free(img);
    return rc;
}

/* Saves a change of the sealed state (credentials, bundle, settings),
 * migrating an old file first. */
static offpay_err save(offpay_wallet *w)
{
    offpay_err rc;

    if (w->path == NULL || w->sealer == NULL)
        return OFFPAY_EINVAL;
    if (w->let_go)
        return OFFPAY_EBUSY;
    if (!w->migrate && !w->unlogged && w->log.fd >= 0) {
        offpay__log_mark at = {w->log.n, {0}};

        memcpy(at.chain, w->log.chain, sizeof at.chain);
        take_ck(w, &at); /* the file is rewritten anyway */
    }
    rc = w->migrate ? migrate(w) /* writes the sealed state too */
                    : save_sealed(w);
    if (rc == OFFPAY_OK)
        w->reseal = 0;
    return rc;
}

offpay_err offpay_wallet_set_passphrase(offpay_wallet *w,
                                        const char    *passphrase)
{
    offpay__wallet_sealer *old, *next = NULL;
    offpay_err             rc;

    if (w == NULL || passphrase == NULL)
        return OFFPAY_EINVAL;
    if (w->path == NULL || w->sealer == NULL)
        return w->reading ? OFFPAY_EROFS : OFFPAY_EINVAL;
    if (w->let_go)
        return OFFPAY_EBUSY;
    /* a fresh salt and the KDF cost of a new file; the log's key is inside
     * the sealed state, so the log itself is not rewritten */
    rc = offpay__wallet_sealer_new(passphrase, &next);
    if (rc != OFFPAY_OK)
        return rc;
    old = w->sealer;
    w->sealer = next;
    rc = save(w); /* atomic: the file is under one passphrase or the other */
    if (rc != OFFPAY_OK) {
        w->sealer = old;
        offpay__wallet_sealer_free(next);
        return rc;
    }
    offpay__wallet_sealer_free(old);
    return OFFPAY_OK;
}

/* Appends one record (a code or a receipt) to the log, durably. */
static offpay_err append(offpay_wallet *w,
                         const uint8_t  p[OFFPAY__LOG_PLAIN_BYTES])
{
    offpay_err rc;

    if (w->path == NULL || w->sealer == NULL)
        return OFFPAY_EINVAL; /* a handle from offpay__wallet_state_load */
    if (w->let_go)
        return OFFPAY_EBUSY;
    /* The wallet file keeps one name too (the log's is checked by the
     * append): a second one would name a second lock. */
    rc = offpay__path_check_unlinked(w->path);
    if (rc != OFFPAY_OK)
        return rc;
    if (w->migrate) {
        rc = migrate(w);
        if (rc != OFFPAY_OK)
            return rc;
    }
    if (w->reseal) {
        /* Codes no longer rewrite the wallet file, so the first one after
         * opening a weakly sealed file reseals it (wallet_file.h). */
        rc = save_sealed(w);
        if (rc != OFFPAY_OK)
            return rc;
        w->reseal = 0;
    }
    return offpay__log_append(&w->log, w->log_key, p);
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

/* Reads the checkpoint's sums of credential entry c (format 4) into e's
 * ck_ fields: a code's term is at least 1 and at most (1 +
 * RECEIPTS_PER_CODE) u32 amounts, counters strictly increase from 1. */
static offpay_err load_cred_ck(const json_t *c, cred_entry *e)
{
    const uint64_t term = (uint64_t)(1 + RECEIPTS_PER_CODE) * UINT32_MAX;
    uint64_t       hi, n, cf, pd, hd;

    if (offpay__json_get_u64(c, "highest", UINT32_MAX - 1, &hi) != OFFPAY_OK ||
        offpay__json_get_u64(c, "codes", SPENDS_MAX, &n) != OFFPAY_OK ||
        offpay__json_get_u64(c, "confirmed", SPENDS_MAX * term, &cf) !=
            OFFPAY_OK ||
        offpay__json_get_u64(c, "pending", SPENDS_MAX * term, &pd) !=
            OFFPAY_OK ||
        offpay__json_get_u64(c, "held", SPENDS_MAX * term, &hd) != OFFPAY_OK ||
        (n == 0) != (hi == 0) || n > hi || hi >= e->next_counter ||
        cf + pd + hd < n || cf + pd + hd > n * term)
        return OFFPAY_ECORRUPT;
    e->ck_highest = e->highest = (uint32_t)hi;
    e->ck_codes = e->codes = (uint32_t)n;
    e->ck_confirmed = e->confirmed = (int64_t)cf;
    e->ck_pending = e->pending = (int64_t)pd;
    e->ck_held = e->held = (int64_t)hd;
    return OFFPAY_OK;
}

/* Reads an "online" object's "decided" list: at most DECIDED_MAX entries
 * of four integers, counters ascending, amounts within a wallet's range. */
static offpay_err load_decided(const json_t *a, cred_entry *e)
{
    json_int_t prev = 0;

    if (!json_is_array(a) || json_array_size(a) == 0 ||
        json_array_size(a) > DECIDED_MAX)
        return OFFPAY_ECORRUPT;
    for (size_t k = 0; k < json_array_size(a); k++) {
        const json_t *d = json_array_get(a, k);
        json_int_t    v[4];

        if (!json_is_array(d) || json_array_size(d) != 4)
            return OFFPAY_ECORRUPT;
        for (size_t f = 0; f < 4; f++) {
            const json_t *x = json_array_get(d, f);

            if (!json_is_integer(x) || json_integer_value(x) < 0)
                return OFFPAY_ECORRUPT;
            v[f] = json_integer_value(x);
        }
        /* counter ascending; paid and above within what a code's
         * presentments can be paid (several terminals, each at most the
         * code's amount) */
        if (v[0] <= prev || v[0] > (json_int_t)UINT32_MAX ||
            v[1] > (json_int_t)UINT32_MAX * 64 || v[2] > (json_int_t)UINT32_MAX)
            return OFFPAY_ECORRUPT;
        prev = v[0];
        e->decided[k].counter = (uint32_t)v[0];
        e->decided[k].paid = (int64_t)v[1];
        e->decided[k].above = (int64_t)v[2];
        e->decided[k].case_id = (uint64_t)v[3];
    }
    e->n_decided = json_array_size(a);
    return OFFPAY_OK;
}

/* Reads a credential entry's "online" object (format 4, optional):
 * exactly its six keys, or eleven with the release's, and either with
 * "decided" (one more), flags 0 or 1, sums within a wallet's range. */
static offpay_err load_online(const json_t *o, cred_entry *e)
{
    const uint64_t max =
        (uint64_t)SPENDS_MAX * (1 + RECEIPTS_PER_CODE) * UINT32_MAX;
    const json_t *dec = json_object_get(o, "decided");
    size_t        keys = json_object_size(o) - (dec != NULL ? 1 : 0);
    uint64_t      fr, sy, rv, rem, ou, re;
    uint64_t      rl = 0, rla = 0, ret = 0, due = 0, late = 0;

    if (dec != NULL && load_decided(dec, e) != OFFPAY_OK)
        return OFFPAY_ECORRUPT;
    if (json_is_object(o) && keys == 11 &&
        (offpay__json_get_u64(o, "released", 1, &rl) != OFFPAY_OK ||
         offpay__json_get_u64(o, "released_at", UINT32_MAX, &rla) !=
             OFFPAY_OK ||
         offpay__json_get_u64(o, "returned", UINT32_MAX, &ret) != OFFPAY_OK ||
         offpay__json_get_u64(o, "release_due", UINT32_MAX, &due) !=
             OFFPAY_OK ||
         offpay__json_get_u64(o, "late_until", UINT32_MAX, &late) !=
             OFFPAY_OK ||
         due == 0))
        return OFFPAY_ECORRUPT;
    if (!json_is_object(o) || (keys != 6 && keys != 11) ||
        offpay__json_get_u64(o, "frozen", 2, &fr) != OFFPAY_OK ||
        offpay__json_get_u64(o, "synced", 1, &sy) != OFFPAY_OK ||
        offpay__json_get_u64(o, "revoked", 1, &rv) != OFFPAY_OK ||
        offpay__json_get_u64(o, "remaining", UINT32_MAX, &rem) != OFFPAY_OK ||
        offpay__json_get_u64(o, "outstanding", max, &ou) != OFFPAY_OK ||
        offpay__json_get_u64(o, "reserved", max, &re) != OFFPAY_OK ||
        (fr == 0 && sy == 0 && rv == 0))
        return OFFPAY_ECORRUPT;
    e->frozen = (int)fr;
    e->synced = (int)sy;
    e->revoked = (int)rv;
    e->sync_remaining = (int64_t)rem;
    e->sync_outstanding = (int64_t)ou;
    e->sync_reserved = (int64_t)re;
    e->released = (int)rl;
    e->released_at = (uint32_t)rla;
    e->returned = (int64_t)ret;
    e->release_due = (uint32_t)due;
    e->late_until = (uint32_t)late;
    return OFFPAY_OK;
}

/* Reads one credential entry: exactly {"cred", "next_counter"}, and in
 * format 4 its checkpoint sums and, optionally, "online". */
static offpay_err load_cred(offpay_wallet *w, const json_t *c, cred_entry *e)
{
    uint8_t       cbuf[OFFPAY_WALLET_CRED_BYTES];
    size_t        clen = 0;
    uint64_t      v;
    const json_t *online = json_object_get(c, "online");

    memset(e, 0, sizeof *e);
    if (w->format != FORMAT)
        online = NULL;
    if (!json_is_object(c) ||
        json_object_size(c) !=
            (w->format == FORMAT ? 7 : 2) + (online != NULL ? 1u : 0u) ||
        offpay__json_get_hexv(c, "cred", cbuf, sizeof cbuf, &clen) !=
            OFFPAY_OK ||
        offpay_wallet_cred_decode(cbuf, clen, &e->c) != OFFPAY_OK ||
        offpay__json_get_u64(c, "next_counter", UINT32_MAX, &v) != OFFPAY_OK ||
        v == 0 ||
        sodium_memcmp(e->c.wallet_pk, w->kp.pk, OFFPAY_PK_BYTES) != 0 ||
        find_cred(w, e->c.serial) != NULL)
        return OFFPAY_ECORRUPT;
    e->next_counter = (uint32_t)v;
    if (online != NULL && load_online(online, e) != OFFPAY_OK)
        return OFFPAY_ECORRUPT;
    return w->format == FORMAT ? load_cred_ck(c, e) : OFFPAY_OK;
}

/* Reads the checkpoint of a format 4 state (its credentials' sums are
 * read with them): K records with C codes, each code followed by at most
 * RECEIPTS_PER_CODE receipts. */
static offpay_err load_ck(offpay_wallet *w, const json_t *root)
{
    const json_t *ck = json_object_get(root, "checkpoint");
    uint64_t      k, n;

    if (!json_is_object(ck) || json_object_size(ck) != 3 ||
        offpay__json_get_u64(ck, "records",
                             (uint64_t)SPENDS_MAX * (1 + RECEIPTS_PER_CODE),
                             &k) != OFFPAY_OK ||
        offpay__json_get_u64(ck, "codes", SPENDS_MAX, &n) != OFFPAY_OK ||
        offpay__json_get_hex(ck, "chain", w->ck.chain, sizeof w->ck.chain) !=
            OFFPAY_OK ||
        n > k || k > n * (1 + RECEIPTS_PER_CODE))
        return OFFPAY_ECORRUPT;
    /* chain(0) is 32 zero bytes: a checkpoint of no records has it. */
    if (k == 0 && !sodium_is_zero(w->ck.chain, sizeof w->ck.chain))
        return OFFPAY_ECORRUPT;
    w->ck.n = k;
    w->ck_codes = n;
    return OFFPAY_OK;
}

/* Reads "pruned" (format 4, when present): the serials strictly
 * ascending, none of them held, and their codes at the checkpoint. */
static offpay_err load_pruned(offpay_wallet *w, const json_t *root)
{
    const json_t *pr = json_object_get(root, "pruned");
    uint8_t      *b = NULL;
    size_t        n = 0;
    uint64_t      codes = 0;
    offpay_err    rc = OFFPAY_ECORRUPT;

    if (pr == NULL)
        return OFFPAY_OK;
    b = malloc(PRUNED_MAX * 8);
    if (b == NULL)
        return OFFPAY_ENOMEM;
    if (w->format != FORMAT || !json_is_object(pr) ||
        json_object_size(pr) != 2 ||
        offpay__json_get_hexv(pr, "serials", b, PRUNED_MAX * 8, &n) !=
            OFFPAY_OK ||
        n == 0 || n % 8 != 0 ||
        offpay__json_get_u64(pr, "codes", w->ck_codes, &codes) != OFFPAY_OK)
        goto out;
    w->pruned = malloc(n);
    if (w->pruned == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    w->cap_pruned = n / 8;
    for (size_t i = 0; i < n / 8; i++) {
        w->pruned[i] = get_be(b + 8 * i, 8);
        if (i > 0 && w->pruned[i] <= w->pruned[i - 1])
            goto out;
        w->n_pruned = i + 1;
    }
    w->ck_pruned_codes = w->pruned_codes = codes;
    rc = OFFPAY_OK;
out:
    free(b);
    return rc;
}

/* Reads one spend log entry of format 1 or 2 into w's log. */
static offpay_err load_spend(offpay_wallet *w, json_t *j, int format)
{
    json_int_t  serial, counter, authorized, t, mid, charged = -1;
    json_t     *rcs = NULL;
    int         bound, has_charged = 0;
    cred_entry *c;
    spend_entry e, *x;
    offpay_err  rc;

    memset(&e, 0, sizeof e);
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
        (bound != 0 && bound != 1) || charged < -1 || charged > authorized)
        return OFFPAY_ECORRUPT;
    e.s.serial = (uint64_t)serial;
    e.s.counter = (uint32_t)counter;
    e.s.authorized = (uint32_t)authorized;
    e.s.time = (uint32_t)t;
    e.s.bound = bound;
    e.s.merchant_id = (uint64_t)mid;
    e.legacy = has_charged ? charged : -1;
    /* One entry per code, in counter order: a counter is never used
     * twice. */
    if (!code_fits(c, &e))
        return OFFPAY_ECORRUPT;
    rc = grow_for_code(w, c);
    if (rc != OFFPAY_OK)
        return rc;
    add_code(w, c, &e);
    x = &w->spends[w->n_spends - 1];
    for (size_t i = 0; rcs != NULL && i < json_array_size(rcs); i++) {
        uint8_t        buf[RECEIPT_MAX_BYTES];
        size_t         len = 0;
        offpay_receipt r;

        if (hex_value(json_array_get(rcs, i), buf, sizeof buf, &len) !=
                OFFPAY_OK ||
            offpay_receipt_decode(buf, len, &r) != OFFPAY_OK ||
            receipt_fits(x, c->c.currency, &r) != OFFPAY_OK ||
            has_receipt(x, &r))
            return OFFPAY_ECORRUPT;
        rc = keep_receipt(c, x, &r);
        if (rc != OFFPAY_OK)
            return rc;
    }
    return OFFPAY_OK;
}

/* Parses a decrypted state (format 1, 2 or 3) into w (fresh from
 * wallet_new). A format 3 state's log is replayed separately. */
static offpay_err parse_state(offpay_wallet *w, const uint8_t *plain,
                              size_t plain_len)
{
    json_t      *root = NULL, *creds, *spends = NULL;
    uint8_t      seed[OFFPAY_SEED_BYTES];
    uint64_t     v, codes = 0;
    size_t       nc;
    json_error_t jerr;
    offpay_err   rc = OFFPAY_ECORRUPT;

    if (plain_len > OFFPAY__WALLET_PLAIN_MAX)
        goto out;
    root = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (!json_is_object(root) ||
        offpay__json_get_u64(root, "format", FORMAT, &v) != OFFPAY_OK ||
        v < 1 ||
        json_object_size(root) !=
            (v == FORMAT ? 8u : 7u) +
                (json_object_get(root, "restored") != NULL ? 1u : 0u) +
                (json_object_get(root, "pruned") != NULL ? 1u : 0u))
        goto out;
    w->format = (int)v;
    if (json_object_get(root, "restored") != NULL) {
        uint64_t r = 0;

        if (offpay__json_get_u64(root, "restored", 1, &r) != OFFPAY_OK ||
            r != 1)
            goto out;
        w->restored = 1;
    }
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
    if (w->format >= FORMAT_NO_CK) {
        if (offpay__json_get_hex(root, "log_key", w->log_key,
                                 sizeof w->log_key) != OFFPAY_OK ||
            (w->format == FORMAT && load_ck(w, root) != OFFPAY_OK))
            goto out;
    } else {
        spends = json_object_get(root, "spends");
        if (!json_is_array(spends) ||
            json_array_size(spends) > LEGACY_SPENDS_MAX)
            goto out;
    }
    creds = json_object_get(root, "creds");
    if (!json_is_array(creds) || json_array_size(creds) > CREDS_MAX)
        goto out;
    nc = json_array_size(creds);
    if (nc > 0) {
        w->creds = calloc(nc, sizeof *w->creds);
        if (w->creds == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        w->cap_creds = nc;
    }
    for (size_t i = 0; i < nc; i++) {
        rc = load_cred(w, json_array_get(creds, i), &w->creds[i]);
        if (rc != OFFPAY_OK)
            goto out;
        w->n_creds = i + 1;
        codes += w->creds[i].ck_codes;
    }
    rc = load_pruned(w, root);
    if (rc != OFFPAY_OK)
        goto out;
    rc = OFFPAY_ECORRUPT;
    for (size_t i = 0; i < w->n_creds; i++)
        if (is_pruned(w, w->creds[i].c.serial))
            goto out;
    if (codes + w->ck_pruned_codes != w->ck_codes)
        goto out;
    /* The codes before the checkpoint stay on disk until needed. */
    w->n_old = (size_t)w->ck_codes;
    w->partial = w->ck.n > 0;
    for (size_t i = 0; spends != NULL && i < json_array_size(spends); i++) {
        rc = load_spend(w, json_array_get(spends, i), w->format);
        if (rc != OFFPAY_OK)
            goto out;
    }
    w->migrate = w->format <= FORMAT_LEGACY_MAX;
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
    if (rc == OFFPAY_OK && w->migrate) {
        /* A log key, so that the log can be dumped as a format 3 wallet
         * would hold it; nothing is written (no file). */
        crypto_aead_xchacha20poly1305_ietf_keygen(w->log_key);
        w->migrate = 0;
        w->format = FORMAT;
    }
    if (rc != OFFPAY_OK) {
        offpay_wallet_close(w);
        return rc;
    }
    *out = w;
    return OFFPAY_OK;
}

/* 1 when the wallet file at w->path was sealed below the default KDF cost
 * of wallets (in either dimension): the sealer then holds a key at the
 * default, and the file is resealed at the next write. */
static int sealed_weakly(const offpay_wallet *w)
{
    uint8_t *img = NULL;
    size_t   len = 0;
    uint32_t ops, mem, fops, fmem;
    int      weak = 0;

    offpay__kdf_cost(OFFPAY__KDF_INTERACTIVE, &ops, &mem);
    if (offpay__file_read(w->path, OFFPAY__WALLET_FILE_MAX, &img, &len) !=
        OFFPAY_OK)
        return 0;
    if (len >= OFFPAY__WALLET_HEADER_BYTES) {
        fops = (uint32_t)get_be(img + OFFPAY__WALLET_OFF_OPSLIMIT, 4);
        fmem = (uint32_t)get_be(img + OFFPAY__WALLET_OFF_MEMLIMIT, 4);
        weak = fops < ops || fmem < mem;
    }
    free(img);
    return weak;
}

/* Loads the wallet at w->path: with passphrase, deriving w->sealer; with
 * NULL, under the sealer w already holds (a retake's reload). */
static offpay_err load(offpay_wallet *w, const char *passphrase)
{
    uint8_t   *plain = NULL, *img = NULL;
    size_t     plain_len = 0, len = 0;
    offpay_err rc;

    rc = set_log_path(w);
    if (rc == OFFPAY_OK && passphrase != NULL)
        rc = offpay__wallet_sealer_load(w->path, passphrase, &plain, &plain_len,
                                        &w->sealer);
    else if (rc == OFFPAY_OK) {
        rc = offpay__file_read(w->path, OFFPAY__WALLET_FILE_MAX, &img, &len);
        if (rc == OFFPAY_OK)
            rc = offpay__wallet_sealer_open(w->sealer, img, len, &plain,
                                            &plain_len);
        free(img);
    }
    if (rc == OFFPAY_OK)
        rc = parse_state(w, plain, plain_len);
    offpay__wallet_plain_free(plain, plain_len);
    if (rc != OFFPAY_OK)
        return rc;
    w->reseal = sealed_weakly(w);
    if (w->migrate) {
        /* Migrated now, once. Where that cannot be written (read-only
         * media, a full disk), the wallet still opens from the old file,
         * whole in memory, and the next change migrates it first. A link
         * at the log's path is refused, as at the wallet's. */
        rc = migrate(w);
        if (rc != OFFPAY_ELINKED && rc != OFFPAY_ENOMEM)
            rc = OFFPAY_OK;
        return rc;
    }
    /* From the checkpoint on: the records before it are not read. */
    w->check_ck = !w->partial;
    rc = offpay__log_open(&w->log, w->log_path, w->log_key, &w->ck, w->partial,
                          w->reading, apply_record, w);
    if (rc == OFFPAY_ENOTFOUND && w->partial) {
        /* A receipt since the checkpoint names a code before it: read the
         * whole log, checked against the checkpoint. */
        reset_log_state(w);
        w->check_ck = 1;
        rc = offpay__log_open(&w->log, w->log_path, w->log_key, &w->ck, 0,
                              w->reading, apply_record, w);
    }
    return ck_check_end(w, rc);
}

/* offpay_wallet_create with the key of seed (NULL: a fresh one). */
static offpay_err create_as(const char *path, const char *passphrase,
                            const uint8_t  root_pk[OFFPAY_PK_BYTES],
                            const uint8_t *bundle, size_t bundle_len,
                            const uint8_t *seed, offpay_wallet **out)
{
    offpay_wallet *w = NULL;
    uint8_t        header[OFFPAY__LOG_HEADER_BYTES];
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
        (rc = set_log_path(w)) != OFFPAY_OK ||
        (rc = offpay__path_check_unlinked(w->path)) != OFFPAY_OK ||
        (rc = lock_wallet(w)) != OFFPAY_OK ||
        (rc = offpay__path_check_unlinked(w->path)) != OFFPAY_OK ||
        (rc = offpay__path_check_unlinked(w->log_path)) != OFFPAY_OK)
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
    w->format = FORMAT;
    crypto_aead_xchacha20poly1305_ietf_keygen(w->log_key);
    /* The log first (a stray one, if the sealed file never follows, is
     * replaced by the next create at this path), then the sealed file. */
    if ((rc = seed != NULL ? offpay_keypair_from_seed(seed, &w->kp)
                           : offpay_keypair_generate(&w->kp)) != OFFPAY_OK ||
        (rc = offpay__log_header(w->log_key, header)) != OFFPAY_OK ||
        (rc = offpay__log_create(w->log_path, header, sizeof header)) !=
            OFFPAY_OK ||
        (rc = save_sealed(w)) != OFFPAY_OK ||
        (rc = offpay__log_open(&w->log, w->log_path, w->log_key, &w->ck, 0, 0,
                               apply_record, w)) != OFFPAY_OK)
        goto out;
    *out = w;
    w = NULL;
out:
    offpay_wallet_close(w);
    return rc;
}

offpay_err offpay_wallet_create(const char *path, const char *passphrase,
                                const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                const uint8_t *bundle, size_t bundle_len,
                                offpay_wallet **out)
{
    return create_as(path, passphrase, root_pk, bundle, bundle_len, NULL, out);
}

offpay_err offpay__wallet_create_seeded(const char    *path,
                                        const char    *passphrase,
                                        const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                        const uint8_t *bundle,
                                        size_t         bundle_len,
                                        const uint8_t  seed[OFFPAY_SEED_BYTES],
                                        offpay_wallet **out)
{
    if (seed == NULL) {
        if (out != NULL)
            *out = NULL;
        return OFFPAY_EINVAL;
    }
    return create_as(path, passphrase, root_pk, bundle, bundle_len, seed, out);
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
    w->reading = readonly;
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

/* Codes between two checkpoints written by codes alone:
 * offpay__wallet_checkpoint_every, or in a test build (OFFPAY_TEST_HOOKS)
 * OFFPAY_WALLET_CHECKPOINT_EVERY from the environment, so that the crash
 * test can kill processes between an append and its checkpoint. */
static uint64_t checkpoint_every(void)
{
#ifdef OFFPAY_TEST_HOOKS
    const char   *env = getenv("OFFPAY_WALLET_CHECKPOINT_EVERY");
    char         *end = NULL;
    unsigned long v;

    if (env != NULL && env[0] >= '1' && env[0] <= '9') {
        errno = 0;
        v = strtoul(env, &end, 10);
        if (errno == 0 && *end == '\0' && v <= UINT32_MAX)
            return v;
    }
#endif
    return offpay__wallet_checkpoint_every;
}

/* Writes a checkpoint at the log's end: the sealed file, rewritten. */
static offpay_err checkpoint(offpay_wallet *w)
{
    offpay__log_mark at = {w->log.n, {0}};

    memcpy(at.chain, w->log.chain, sizeof at.chain);
    take_ck(w, &at);
    return save_sealed(w);
}

/* Reads the records opening skipped (w->partial) into w: the whole log is
 * replayed again into a scratch wallet, checked against the checkpoint
 * (chain and sums) and against w (every sum, every code); only then are
 * the codes moved into w. On failure w is as it was.
 * Errors: OFFPAY_EINVAL (a state without its log file), OFFPAY_EIO (a code
 * whose append failed is in memory only: the log cannot match), those of
 * offpay__log_reread. */
static offpay_err load_old(offpay_wallet *w)
{
    offpay_wallet *s;
    offpay_err     rc;

    if (!w->partial)
        return OFFPAY_OK;
    if (w->log.fd < 0)
        return OFFPAY_EINVAL;
    if (w->unlogged)
        return OFFPAY_EIO;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return OFFPAY_ENOMEM;
    rc = OFFPAY_ENOMEM;
    if (w->n_creds > 0) {
        s->creds = calloc(w->n_creds, sizeof *s->creds);
        if (s->creds == NULL)
            goto out;
    }
    for (size_t i = 0; i < w->n_creds; i++) {
        cred_entry *c = &s->creds[i];

        *c = w->creds[i];
        c->idx = NULL;
        c->n_idx = c->cap_idx = 0;
        c->confirmed = c->pending = c->held = 0;
        c->codes = c->highest = 0;
    }
    s->n_creds = s->cap_creds = w->n_creds;
    s->pruned = w->pruned; /* borrowed: not freed with s */
    s->n_pruned = w->n_pruned;
    s->ck_pruned_codes = w->ck_pruned_codes;
    s->ck = w->ck;
    s->check_ck = 1;
    rc = offpay__log_reread(&w->log, w->log_key, &w->ck, apply_record, s);
    rc = ck_check_end(s, rc);
    if (rc == OFFPAY_OK && (s->n_spends != w->n_old + w->n_spends ||
                            s->pruned_codes != w->pruned_codes))
        rc = OFFPAY_ECORRUPT;
    for (size_t i = 0; i < w->n_creds && rc == OFFPAY_OK; i++) {
        const cred_entry *a = &s->creds[i], *b = &w->creds[i];

        if (a->confirmed != b->confirmed || a->pending != b->pending ||
            a->held != b->held || a->codes != b->codes ||
            a->highest != b->highest)
            rc = OFFPAY_ECORRUPT;
    }
    if (rc != OFFPAY_OK)
        goto out;
    /* Swapped: s leaves with what w had. */
    {
        spend_entry *sp = w->spends;
        size_t       n = w->n_spends, cap = w->cap_spends;

        w->spends = s->spends;
        w->n_spends = s->n_spends;
        w->cap_spends = s->cap_spends;
        s->spends = sp;
        s->n_spends = n;
        s->cap_spends = cap;
    }
    for (size_t i = 0; i < w->n_creds; i++) {
        cred_entry *a = &s->creds[i], *b = &w->creds[i];
        uint32_t   *idx = b->idx;
        size_t      n = b->n_idx, cap = b->cap_idx;

        b->idx = a->idx;
        b->n_idx = a->n_idx;
        b->cap_idx = a->cap_idx;
        a->idx = idx;
        a->n_idx = n;
        a->cap_idx = cap;
    }
    w->n_old = 0;
    w->partial = 0;
out:
    reset_log_state(s);
    free(s->creds);
    free(s);
    return rc;
}

/* ---- credentials and balances --------------------------------------- */

static int64_t reserved_of(const cred_entry *e);

/* One diagnostic line (offpay__wallet_say: spendlog.h's offpay__log is
 * a type here). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char    line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    offpay__wallet_say(line);
}

/* 1 when the wallet is done with credential e at now (its own clock) and
 * may drop it: never a frozen one (its counters are offpayd's to tell: a
 * restore floor), never one that reserved anything since the sync that
 * last told its escrow (a code or a receipt offpayd has not seen), and
 * then either offpayd said its escrow was released and its late window
 * is over (settlement.md §6: nothing changes it after), or it expired
 * EXPIRED_LONG_AGO before now with every code presented at that sync
 * (none outstanding), or it expired that long ago without a code. What
 * goes is its bytes and its sums: its codes and receipts stay in the log
 * (listed, with their receipts: a payer's evidence), and the serial is
 * kept (pruned) so that they replay and it is never installed again. */
static int finished(const cred_entry *e, uint32_t now)
{
    int old = (uint64_t)e->c.expires + EXPIRED_LONG_AGO < (uint64_t)now;

    if (e->frozen)
        return 0;
    if (!e->synced)
        return old && e->codes == 0 && reserved_of(e) == 0;
    if (reserved_of(e) != e->sync_reserved)
        return 0;
    if (e->released && e->release_due != 0 && e->late_until < now)
        return 1;
    return old && e->sync_outstanding == 0;
}

/* The credential to drop so that one more fits (finished, the soonest
 * expired first, then the lowest serial), into *k; else 0, with why
 * said in the log. */
static int prune_pick(const offpay_wallet *w, uint32_t now, size_t *k)
{
    size_t best = w->n_creds, frozen = 0, waiting = 0, unsynced = 0,
           pending = 0, live = 0;

    for (size_t i = 0; i < w->n_creds; i++) {
        const cred_entry *e = &w->creds[i];

        if (finished(e, now)) {
            if (best == w->n_creds || e->c.expires < w->creds[best].c.expires ||
                (e->c.expires == w->creds[best].c.expires &&
                 e->c.serial < w->creds[best].c.serial))
                best = i;
        } else if (e->frozen)
            frozen++;
        else if ((uint64_t)e->c.expires + OFFPAY_WALLET_SKEW >= now)
            live++;
        else if (!e->synced)
            unsynced++;
        else if (reserved_of(e) != e->sync_reserved || e->sync_outstanding > 0)
            pending++;
        else
            waiting++;
    }
    if (best < w->n_creds) {
        *k = best;
        return 1;
    }
    say("offpay: the wallet holds %zu credentials, its most, and "
                "none is finished: %zu not yet expired, %zu expired and not "
                "yet released by offpayd or in their late window, %zu with "
                "codes or receipts offpayd has not seen, %zu never synced, "
                "%zu frozen (restored, waiting for offpayd's counters); "
                "sync when online (offpay wallet sync) and install again\n",
                w->n_creds, live, waiting, pending, unsynced, frozen);
    return 0;
}

/* Inserts serial into the sorted w->pruned (room made by the caller). */
static void pruned_insert(offpay_wallet *w, uint64_t serial)
{
    size_t at = w->n_pruned;

    while (at > 0 && w->pruned[at - 1] > serial)
        at--;
    memmove(&w->pruned[at + 1], &w->pruned[at],
            (w->n_pruned - at) * sizeof *w->pruned);
    w->pruned[at] = serial;
    w->n_pruned++;
}

static void pruned_remove(offpay_wallet *w, uint64_t serial)
{
    for (size_t at = 0; at < w->n_pruned; at++)
        if (w->pruned[at] == serial) {
            memmove(&w->pruned[at], &w->pruned[at + 1],
                    (w->n_pruned - at - 1) * sizeof *w->pruned);
            w->n_pruned--;
            return;
        }
}

/* Drops credential k from memory into *gone (its idx still owned by
 * *gone), its serial kept when the log holds codes of it (*tomb 1). */
static offpay_err prune_one(offpay_wallet *w, size_t k, cred_entry *gone,
                            int *tomb)
{
    *tomb = w->creds[k].codes > 0;
    if (*tomb && w->n_pruned == PRUNED_MAX) {
        say("offpay: the wallet keeps %d dropped credentials' "
                    "serials, its most: no credential can be dropped\n",
                    PRUNED_MAX);
        return OFFPAY_ERANGE;
    }
    if (*tomb && w->n_pruned == w->cap_pruned) {
        size_t    ncap = w->cap_pruned ? w->cap_pruned * 2 : 64;
        uint64_t *grown;

        if (ncap > PRUNED_MAX)
            ncap = PRUNED_MAX;
        grown = realloc(w->pruned, ncap * sizeof *grown);
        if (grown == NULL)
            return OFFPAY_ENOMEM;
        w->pruned = grown;
        w->cap_pruned = ncap;
    }
    *gone = w->creds[k];
    memmove(&w->creds[k], &w->creds[k + 1],
            (w->n_creds - k - 1) * sizeof *w->creds);
    w->n_creds--;
    w->last_cred = 0;
    if (*tomb) {
        pruned_insert(w, gone->c.serial);
        w->pruned_codes += gone->codes;
        w->ck_pruned_codes += gone->ck_codes;
    }
    return OFFPAY_OK;
}

/* Undoes prune_one (room is there: the credential left it). */
static void unprune(offpay_wallet *w, size_t k, const cred_entry *gone,
                    int tomb)
{
    memmove(&w->creds[k + 1], &w->creds[k],
            (w->n_creds - k) * sizeof *w->creds);
    w->creds[k] = *gone;
    w->n_creds++;
    w->last_cred = 0;
    if (tomb) {
        pruned_remove(w, gone->c.serial);
        w->pruned_codes -= gone->codes;
        w->ck_pruned_codes -= gone->ck_codes;
    }
}

/* offpay_wallet_add_credential, frozen or with a counter floor (online.c:
 * a restore, a sync). */
static offpay_err add_cred_as(offpay_wallet *w, const uint8_t *cred, size_t len,
                              uint32_t now, int frozen, uint32_t floor)
{
    offpay_wallet_cred c;
    cred_entry         gone;
    size_t             pk = 0;
    int                pruned = 0, tomb = 0;
    offpay_err         rc;

    if (w == NULL || cred == NULL)
        return OFFPAY_EINVAL;
    if (w->let_go)
        return OFFPAY_EBUSY;
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
    /* dropped for good: its counters are in the log only in part (those
     * before the checkpoint are not read), so it never comes back */
    if (is_pruned(w, c.serial))
        return OFFPAY_EEXISTS;
    if (w->n_creds >= CREDS_MAX || w->n_creds >= offpay__wallet_creds_max) {
        /* the oldest finished one makes room, in the same atomic write
         * as the new one: a crash leaves the file before both or after */
        if (!prune_pick(w, now, &pk))
            return OFFPAY_ERANGE;
        rc = prune_one(w, pk, &gone, &tomb);
        if (rc != OFFPAY_OK)
            return rc;
        pruned = 1;
    }
    if (w->n_creds == w->cap_creds) {
        size_t      ncap = w->cap_creds ? w->cap_creds * 2 : 4;
        cred_entry *grown;

        if (ncap > CREDS_MAX)
            ncap = CREDS_MAX;
        grown = realloc(w->creds, ncap * sizeof *grown);
        if (grown == NULL) {
            if (pruned)
                unprune(w, pk, &gone, tomb);
            return OFFPAY_ENOMEM;
        }
        w->creds = grown;
        w->cap_creds = ncap;
    }
    memset(&w->creds[w->n_creds], 0, sizeof w->creds[w->n_creds]);
    w->creds[w->n_creds].c = c;
    w->creds[w->n_creds].next_counter = floor > 1 ? floor : 1;
    w->creds[w->n_creds].frozen = frozen != 0;
    w->n_creds++;
    rc = save(w);
    if (rc != OFFPAY_OK) {
        w->n_creds--;
        if (pruned) {
            unprune(w, pk, &gone, tomb);
            /* save took a checkpoint at the log's end without it: take
             * it again with it (every sum is the log's end's) */
            if (!w->migrate && !w->unlogged && w->log.fd >= 0)
                take_ck(w, &w->ck);
        }
        return rc;
    }
    if (pruned)
        free(gone.idx);
    return rc;
}

offpay_err offpay_wallet_add_credential(offpay_wallet *w, const uint8_t *cred,
                                        size_t len, uint32_t now)
{
    /* a restored wallet's credential may have been used by the lost
     * device: its counter is the server's to tell, as the backup's are */
    return add_cred_as(w, cred, len, now, w != NULL && w->restored, 1);
}

offpay_err offpay__wallet_mark_restored(offpay_wallet *w)
{
    if (w->let_go)
        return OFFPAY_EBUSY;
    w->restored = 1;
    return save(w);
}

offpay_err offpay__wallet_add_cred_online(offpay_wallet *w, const uint8_t *cred,
                                          size_t len, uint32_t now, int frozen,
                                          uint32_t floor)
{
    return add_cred_as(w, cred, len, now, frozen, floor);
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
    if (w->let_go)
        return OFFPAY_EBUSY;
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
    /* the bundle held already: nothing to write (a sync on a full disk
     * must not fail for it) */
    if (len == w->bundle_len && memcmp(bundle, w->bundle_bytes, len) == 0)
        return OFFPAY_OK;
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

/* What a credential's codes reserve: every code's whole authorized
 * amount, and more when receipts from several terminals charge more than
 * it authorized (confirmed + pending + held = the sum over the codes of
 * max(authorized, charged)). */
static int64_t reserved_of(const cred_entry *e)
{
    return e->confirmed + e->pending + e->held;
}

/* What the credential can still authorize: its limit less what its codes
 * reserve; after a settlement sync, the server's escrow at that sync less
 * the codes not presented then and what was reserved since (the file
 * comment: this releases what settlement did not take). */
static int64_t available_of(const cred_entry *e)
{
    int64_t local = (int64_t)e->c.limit - reserved_of(e);

    if (!e->synced)
        return local;
    return e->sync_remaining - e->sync_outstanding -
           (reserved_of(e) - e->sync_reserved);
}

size_t offpay_wallet_n_credentials(const offpay_wallet *w)
{
    return w == NULL ? 0 : w->n_creds;
}

offpay_err offpay_wallet_get_balance(const offpay_wallet *w, size_t i,
                                     uint32_t now, offpay_wallet_balance *out)
{
    const cred_entry *e;

    if (w == NULL || out == NULL)
        return OFFPAY_EINVAL;
    if (i >= w->n_creds)
        return OFFPAY_ENOTFOUND;
    e = &w->creds[i];
    memset(out, 0, sizeof *out);
    out->serial = e->c.serial;
    out->currency = e->c.currency;
    out->expires = e->c.expires;
    out->limit = e->c.limit;
    out->confirmed = e->confirmed;
    out->pending = e->pending;
    out->held = e->held;
    out->codes = e->codes;
    out->available = available_of(e);
    out->frozen = e->frozen;
    out->synced = e->synced;
    out->revoked = e->revoked;
    out->escrow = e->synced ? e->sync_remaining : out->limit;
    out->escrow_released = e->released;
    out->escrow_released_at = e->released_at;
    out->escrow_returned = e->returned;
    out->release_due = e->release_due;
    out->late_until = e->late_until;
    for (size_t k = 0; k < e->n_decided; k++)
        if (e->decided[k].above > 0) {
            out->settled_above += e->decided[k].above;
            out->settled_above_codes++;
        }
    if (out->settled_above > out->held) /* receipts taken since the sync */
        out->settled_above = out->held;
    out->released = out->available - (out->limit - reserved_of(e));
    if (out->released < 0) /* the log knows less than the server (a restore) */
        out->released = 0;
    out->next_counter =
        e->next_counter > e->highest ? e->next_counter : e->highest + 1;
    out->usable =
        offpay_wallet_cred_verify(&w->bundle, &e->c, now, 0) == OFFPAY_OK;
    return OFFPAY_OK;
}

offpay_err offpay_wallet_set_default_cap(offpay_wallet *w, int64_t cap)
{
    int64_t    old;
    offpay_err rc;

    if (w == NULL || cap < 0 || cap > OFFPAY_WIRE_AMOUNT_MAX)
        return OFFPAY_EINVAL;
    if (w->let_go)
        return OFFPAY_EBUSY;
    old = w->default_cap;
    w->default_cap = cap;
    rc = save(w);
    if (rc != OFFPAY_OK)
        w->default_cap = old;
    return rc;
}

size_t offpay_wallet_n_spends(const offpay_wallet *w)
{
    return w == NULL ? 0 : w->n_old + w->n_spends;
}

/* The log before the checkpoint, read on first need. The handle is the
 * caller's (never a const object): the readers fill its cache. */
static offpay_err need_old(const offpay_wallet *w)
{
    return w->partial ? load_old((offpay_wallet *)w) : OFFPAY_OK;
}

offpay_err offpay_wallet_get_spend(const offpay_wallet *w, size_t i,
                                   offpay_wallet_spend *out)
{
    const cred_entry *e;
    offpay_err        rc;

    if (w == NULL || out == NULL)
        return OFFPAY_EINVAL;
    if (i >= offpay_wallet_n_spends(w))
        return OFFPAY_ENOTFOUND;
    rc = need_old(w);
    if (rc != OFFPAY_OK)
        return rc;
    if (i >= w->n_spends)
        return OFFPAY_ENOTFOUND;
    *out = w->spends[i].s;
    out->settled_paid = -1;
    out->settled_case = 0;
    for (size_t c = 0; c < w->n_creds; c++) {
        e = &w->creds[c];
        for (size_t k = 0; e->c.serial == out->serial && k < e->n_decided; k++)
            if (e->decided[k].counter == out->counter) {
                out->settled_paid = e->decided[k].paid;
                out->settled_case = e->decided[k].case_id;
            }
    }
    return OFFPAY_OK;
}

offpay_err offpay_wallet_get_receipt(const offpay_wallet *w, size_t i, size_t j,
                                     offpay_receipt *out)
{
    offpay_err rc;

    if (w == NULL || out == NULL)
        return OFFPAY_EINVAL;
    if (i >= offpay_wallet_n_spends(w))
        return OFFPAY_ENOTFOUND;
    rc = need_old(w);
    if (rc != OFFPAY_OK)
        return rc;
    if (i >= w->n_spends || j >= w->spends[i].n_rc)
        return OFFPAY_ENOTFOUND;
    *out = w->spends[i].rc[j];
    return OFFPAY_OK;
}

/* ---- making codes --------------------------------------------------- */

/* offpay_wallet_cred_verify(&w->bundle, &e->c, now, 0), with the
 * signature checked once per issuer key: a code costs one signature, not
 * a verification as well. */
static offpay_err cred_usable(const offpay_wallet *w, cred_entry *e,
                              uint32_t now)
{
    const uint8_t *pk = NULL;
    offpay_err     rc;

    rc = offpay_bundle_key_for(&w->bundle, e->c.kid, now, &pk);
    if (rc != OFFPAY_OK)
        return rc;
    if (sodium_memcmp(e->sig_ok_pk, pk, OFFPAY_PK_BYTES) != 0) {
        rc = offpay__wallet_cred_sig(&e->c, pk);
        if (rc != OFFPAY_OK)
            return rc;
        memcpy(e->sig_ok_pk, pk, OFFPAY_PK_BYTES);
    }
    return offpay__window_check(e->c.valid_from, e->c.expires, now, 0);
}

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
        int64_t     available, want;
        offpay_err  usable;

        if (e->c.currency != currency)
            continue;
        usable = cred_usable(w, e, now);
        /* one that starts later (issued by a clock ahead of this one's):
         * said rather than an older credential's revocation */
        if (usable != OFFPAY_OK && now < e->c.valid_from &&
            (best_err == OFFPAY_ENO_CREDENTIAL || best_err == OFFPAY_EREVOKED))
            best_err = OFFPAY_ENOT_YET_VALID;
        if (usable != OFFPAY_OK)
            continue;
        if (unbound && !(e->c.flags & OFFPAY_CRED_ALLOW_UNBOUND)) {
            best_err = OFFPAY_EUNBOUND_REFUSED;
            continue;
        }
        if (e->revoked) { /* no terminal would take its codes */
            if (best_err == OFFPAY_ENO_CREDENTIAL)
                best_err = OFFPAY_EREVOKED;
            continue;
        }
        if (e->frozen == 2) { /* offpayd does not know it: never again */
            if (best_err == OFFPAY_ENO_CREDENTIAL)
                best_err = OFFPAY_ENOT_ISSUED;
            continue;
        }
        if (e->frozen) { /* restored: its counter is unknown until a sync */
            best_err = OFFPAY_ESYNC_REQUIRED;
            continue;
        }
        if (e->next_counter == UINT32_MAX) {
            best_err = OFFPAY_ECOUNTER;
            continue;
        }
        available = available_of(e);
        want = amount;
        if (want == 0) {
            int64_t cap =
                w->default_cap > 0 ? w->default_cap : (int64_t)e->c.limit / 10;

            if (cap < 1)
                cap = 1;
            want = cap < available ? cap : available;
        }
        if (want <= 0 || want > available) {
            /* a newer credential offpayd does not know is the reason
             * said: its money is what the payer misses */
            if (best_err != OFFPAY_ENOT_ISSUED)
                best_err = OFFPAY_EINSUFFICIENT;
            continue;
        }
        *out = e;
        *amount_out = (uint32_t)want;
        return OFFPAY_OK;
    }
    return best_err;
}

/* Signs the fields of *p with the wallet key and encodes the code's
 * text: what make_code does after the append, and sign_again for a code
 * already logged. *p_out (may be NULL) receives the signed payment. */
static offpay_err sign_code(const offpay_wallet *w, offpay_payment *p,
                            char **text, offpay_payment *p_out)
{
    uint8_t    msg[OFFPAY_SIGNED_MAX];
    uint8_t    code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t     len = 0;
    offpay_err rc;

    rc = offpay__payment_signed_bytes(p, msg, sizeof msg, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_sign(OFFPAY_DS_PAYMENT, msg, len, w->kp.sk, p->sig);
    if (rc == OFFPAY_OK)
        rc = offpay_payment_encode(p, code, sizeof code, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_text_encode(code, len, text);
    if (rc == OFFPAY_OK && p_out != NULL)
        *p_out = *p;
    sodium_memzero(msg, sizeof msg);
    return rc;
}

/* Logs (appends durably), then signs and encodes: the one path to a
 * code. The reservation is kept in memory even when the append fails (see
 * the file comment). */
static offpay_err make_code(offpay_wallet *w, cred_entry *e, uint32_t amount,
                            uint32_t now, const offpay_request *q, char **text,
                            offpay_payment *p_out)
{
    offpay_payment p;
    spend_entry    x;
    uint8_t        rec[OFFPAY__LOG_PLAIN_BYTES];
    offpay_err     rc;

    if (w->n_old + w->n_spends >= SPENDS_MAX)
        return OFFPAY_ERANGE; /* nothing reserved, nothing changed on disk */
    rc = grow_for_code(w, e);
    if (rc != OFFPAY_OK)
        return rc;
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
    memset(&x, 0, sizeof x);
    x.s.serial = e->c.serial;
    x.s.counter = p.counter;
    x.s.authorized = amount;
    x.s.time = now;
    x.s.bound = p.bound;
    x.s.merchant_id = p.merchant_id;
    x.legacy = -1;
    memcpy(x.nonce, p.nonce, OFFPAY_NONCE_BYTES);

    code_record(&x, rec);
    rc = append(w, rec);
    sodium_memzero(rec, sizeof rec);
    /* After the append: a migration it ran writes the log as it was. */
    add_code(w, e, &x);
    if (rc != OFFPAY_OK) {
        w->unlogged = 1; /* no checkpoint may count it now */
        return rc;
    }
    if (!w->unlogged && w->log.n - w->ck.n >= checkpoint_every())
        (void)checkpoint(w); /* only an accelerator: the code is logged */

    return sign_code(w, &p, text, p_out);
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
    if (w->let_go)
        return OFFPAY_EBUSY;
    if (amount > OFFPAY_WIRE_AMOUNT_MAX)
        return OFFPAY_EINSUFFICIENT;
    rc = choose(w, amount, currency, now, 1, &e, &authorize);
    if (rc != OFFPAY_OK)
        return rc;
    return make_code(w, e, authorize, now, NULL, text, p);
}

/* The code of spend x (of credential e) once more: the fields make_code
 * signed (the log keeps a bound code's request nonce) signed again.
 * Ed25519 is deterministic, so this gives the same signature and the
 * same code, byte for byte. Only once the log is surely on disk: a record
 * this handle read but did not write may not be yet (offpay__log_sync),
 * and a code whose record a power cut loses would have its counter used
 * again. */
static offpay_err sign_again(const offpay_wallet *w, const cred_entry *e,
                             const spend_entry *x, char **text,
                             offpay_payment *p_out)
{
    offpay_payment p;
    offpay_err     rc;

    /* w is never a const object (wallet.h): the sync marks its log */
    rc = offpay__log_sync(&((offpay_wallet *)w)->log);
    if (rc != OFFPAY_OK)
        return rc;
    memset(&p, 0, sizeof p);
    p.cred = e->c;
    p.counter = x->s.counter;
    p.amount = x->s.authorized;
    p.time = x->s.time;
    p.bound = x->s.bound;
    p.merchant_id = x->s.merchant_id;
    if (x->s.bound)
        memcpy(p.nonce, x->nonce, sizeof p.nonce);
    return sign_code(w, &p, text, p_out);
}

/* The code in memory that answered request q (bound to its merchant and
 * nonce), newest first, or NULL. In memory: all the log, or what opening
 * read since the wallet's last checkpoint (the caller reads the rest). */
static const spend_entry *answer_of(const offpay_wallet  *w,
                                    const offpay_request *q)
{
    for (size_t i = w->n_spends; i-- > 0;) {
        const spend_entry *x = &w->spends[i];

        if (x->s.bound && x->s.merchant_id == q->tcred.merchant_id &&
            sodium_memcmp(x->nonce, q->nonce, sizeof x->nonce) == 0)
            return x;
    }
    return NULL;
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
    const spend_entry *x;
    cred_entry        *e = NULL;
    uint32_t           authorize = 0;
    offpay_err         rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (w == NULL || q == NULL)
        return OFFPAY_EINVAL;
    if (w->let_go)
        return OFFPAY_EBUSY;
    rc = offpay_request_verify(&w->bundle, q, now, OFFPAY_WALLET_SKEW,
                               OFFPAY_WALLET_REQUEST_AGE);
    if (rc != OFFPAY_OK)
        return rc;
    /* The same request again (the payer scanned it twice, or the terminal
     * never read the first code): the same code, nothing more reserved.
     * Not while a code whose append failed is in memory: a code exists
     * only once it is on disk. */
    x = w->unlogged ? NULL : answer_of(w, q);
    /* Opening read only the log since the checkpoint, which every sync
     * and added credential moves to the log's end: the first answer may
     * be older. The older log is read then (the whole log: once per
     * handle when it reads, so once per pay-request of the CLI). One that
     * cannot be read is no reason to refuse a payment: a new code is
     * made, reserving anew, as offpay_wallet_get_spend's damage leaves
     * new codes unaffected. */
    if (x == NULL && !w->unlogged && w->partial && need_old(w) == OFFPAY_OK)
        x = answer_of(w, q);
    if (x != NULL) {
        if (x->s.authorized != q->amount)
            return OFFPAY_EAMOUNT_MISMATCH; /* one request, two amounts */
        e = find_cred(w, x->s.serial);
        return e != NULL ? sign_again(w, e, x, text, p) : OFFPAY_ENOTFOUND;
    }
    rc = choose(w, q->amount, q->currency, now, 0, &e, &authorize);
    if (rc != OFFPAY_OK)
        return rc;
    return make_code(w, e, authorize, now, q, text, p);
}

offpay_err offpay_wallet_take_receipt(offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_receipt *r)
{
    return offpay_wallet_keep_receipt(w, text, now, r, NULL);
}

offpay_err offpay_wallet_keep_receipt(offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_receipt *r,
                                      int *added)
{
    offpay_receipt t;
    spend_entry   *s = NULL;
    cred_entry    *e;
    uint8_t       *bytes = NULL;
    uint8_t        rec[OFFPAY__LOG_PLAIN_BYTES];
    size_t         len = 0;
    offpay_err     rc;

    if (added != NULL)
        *added = 0;
    if (w == NULL || text == NULL)
        return OFFPAY_EINVAL;
    if (w->let_go)
        return OFFPAY_EBUSY;
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
    if (e != NULL)
        s = find_spend(w, e, t.counter);
    if (s == NULL && e != NULL && w->partial) {
        /* Perhaps a code before the checkpoint. */
        rc = load_old(w);
        if (rc != OFFPAY_OK)
            return rc;
        s = find_spend(w, e, t.counter);
    }
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
    if (s->rc == NULL) {
        s->rc = calloc(RECEIPTS_PER_CODE, sizeof *s->rc);
        if (s->rc == NULL)
            return OFFPAY_ENOMEM;
    }
    rc = receipt_record(&t, rec);
    if (rc == OFFPAY_OK)
        rc = append(w, rec);
    /* Kept only once logged (a migration run by the append does not
     * move the log in memory, so s is still good). */
    if (rc == OFFPAY_OK)
        rc = keep_receipt(e, s, &t);
    if (rc == OFFPAY_OK && added != NULL)
        *added = 1;
    return rc;
}

offpay_err offpay_wallet_code_text(const offpay_wallet *w, size_t i,
                                   char **text)
{
    offpay_wallet_spend s;
    const cred_entry   *e = NULL;
    offpay_err          rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (w == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_wallet_get_spend(w, i, &s); /* reads the older log if need be */
    if (rc != OFFPAY_OK)
        return rc;
    for (size_t k = 0; k < w->n_creds && e == NULL; k++)
        if (w->creds[k].c.serial == s.serial)
            e = &w->creds[k];
    if (e == NULL)
        return OFFPAY_ENOTFOUND;
    return sign_again(w, e, &w->spends[i], text, NULL);
}

offpay_err offpay__wallet_sign_http(const offpay_wallet *w, const char *method,
                                    const char *path, uint32_t time,
                                    const uint8_t *body, size_t len,
                                    struct offpay__http_auth *out)
{
    if (w == NULL)
        return OFFPAY_EINVAL;
    return offpay__http_sign(w->kp.sk, w->kp.pk, method, path, time, body, len,
                             out);
}

/* ---- the settlement sync's state (online.c) ------------------------- */

offpay_err offpay__wallet_backup_parts(const offpay_wallet *w,
                                       uint8_t  seed[OFFPAY_SEED_BYTES],
                                       uint8_t  root_pk[OFFPAY_PK_BYTES],
                                       uint8_t *bundle, size_t cap,
                                       size_t *bundle_len)
{
    if (w == NULL || seed == NULL || root_pk == NULL || bundle == NULL ||
        bundle_len == NULL || cap < w->bundle_len)
        return OFFPAY_EINVAL;
    if (crypto_sign_ed25519_sk_to_seed(seed, w->kp.sk) != 0)
        return OFFPAY_ECRYPTO;
    memcpy(root_pk, w->root_pk, OFFPAY_PK_BYTES);
    memcpy(bundle, w->bundle_bytes, w->bundle_len);
    *bundle_len = w->bundle_len;
    return OFFPAY_OK;
}

offpay_err offpay__wallet_cred_bytes(const offpay_wallet *w, size_t i,
                                     uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                                     size_t *len)
{
    if (w == NULL || bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    if (i >= w->n_creds)
        return OFFPAY_ENOTFOUND;
    return offpay_wallet_cred_encode(&w->creds[i].c, bytes,
                                     OFFPAY_WALLET_CRED_BYTES, len);
}

/* ---- letting go while a sync waits on offpayd (online.c) ------------- */

offpay_err offpay__wallet_let_go(offpay_wallet *w, int *done)
{
    offpay_err rc;

    *done = 0;
    /* one whose retake failed is to be closed: nothing more is asked of
     * offpayd through it (its answer could not be kept) */
    if (w != NULL && w->retake_failed)
        return OFFPAY_EBUSY;
    /* a reader's handle holds no lock; one with something only in memory
     * (a code whose append failed, a file still to migrate) keeps it */
    if (w == NULL || w->let_go || w->lock_fd < 0 || w->sealer == NULL ||
        w->unlogged || w->migrate)
        return OFFPAY_OK;
    /* A file sealed below the default cost is sealed again first, under
     * the key this handle holds: else another process's first write would
     * seal it under a key of its own, and the retake could not read it. */
    if (w->reseal) {
        rc = save_sealed(w);
        if (rc != OFFPAY_OK)
            return rc;
        w->reseal = 0;
    }
    /* (The codes before the checkpoint can still be read while let go:
     * offpay__log_reread reads the records this handle knows, whatever
     * other processes append after them.) */
    offpay__lock_release(w->lock_fd);
    w->lock_fd = -1;
    w->let_go = 1;
    *done = 1;
    return OFFPAY_OK;
}

/* Reads the wallet again under w's sealer into a new handle, and swaps
 * its state into w (which keeps its lock and sealer). */
static offpay_err reload(offpay_wallet *w)
{
    offpay__wallet_sealer *sealer = w->sealer;
    offpay_wallet         *n = wallet_new(), t;
    offpay_err             rc = OFFPAY_ENOMEM;

    if (n == NULL)
        return OFFPAY_ENOMEM;
    n->path = strdup(w->path);
    n->sealer = w->sealer; /* borrowed: given back below */
    if (n->path != NULL)
        rc = load(n, NULL);
    /* (OFFPAY_EPASSPHRASE: sealed again under another key, as another
     * process does a weakly sealed file at its first write) */
    if (rc == OFFPAY_OK &&
        sodium_memcmp(n->kp.pk, w->kp.pk, OFFPAY_PK_BYTES) != 0)
        rc = OFFPAY_ECORRUPT; /* another wallet's file at the path */
    if (rc == OFFPAY_OK) {
        t = *w;
        *w = *n;
        *n = t;
        sodium_memzero(&t, sizeof t); /* the keys */
        w->lock_fd = n->lock_fd;
        n->lock_fd = -1;
    }
    n->sealer = NULL; /* both held the same one: w keeps it */
    w->sealer = sealer;
    offpay_wallet_close(n);
    return rc;
}

offpay_err offpay__wallet_sync_lock(const offpay_wallet *w, int *fd)
{
    char lock[PATH_MAX + 16];
    int  n;

    *fd = -1;
    if (w == NULL || w->path == NULL)
        return OFFPAY_OK; /* a handle without a file: nothing to share */
    n = snprintf(lock, sizeof lock, "%s.sync.lock", w->path);
    if (n < 0 || (size_t)n >= sizeof lock)
        return OFFPAY_EINVAL;
    return offpay__lock_acquire(lock, 0, fd);
}

offpay_err offpay__wallet_retake(offpay_wallet *w)
{
    offpay_err rc;

    if (w == NULL || !w->let_go)
        return OFFPAY_OK; /* never let go */
    if (w->lock_fd < 0 && (rc = lock_wallet(w)) != OFFPAY_OK) {
        w->retake_failed = 1; /* still let go: writes nothing */
        return rc;
    }
    /* What other processes may have done meanwhile (a payment, a receipt,
     * an allowance, a settings change) is read again, always: a few
     * reads, at most a checkpoint's worth of records, and no KDF run. */
    rc = reload(w);
    if (rc == OFFPAY_OK) {
        w->let_go = 0;
        w->retake_failed = 0; /* (reload gave w a state without it) */
    } else {
        /* still let go, and no longer holding the wallet from others:
         * the handle is to be closed */
        offpay__lock_release(w->lock_fd);
        w->lock_fd = -1;
        w->retake_failed = 1;
    }
    return rc;
}

offpay_err offpay__wallet_sync_apply(offpay_wallet                  *w,
                                     const offpay__wallet_sync_cred *v,
                                     size_t                          n)
{
    cred_entry *saved = NULL;
    offpay_err  rc;

    if (w == NULL || (v == NULL && n > 0))
        return OFFPAY_EINVAL;
    if (w->let_go)
        return OFFPAY_EBUSY;
    /* The server's figures are checked before anything changes: an escrow
     * or outstanding sum outside [0, limit] would let the wallet authorize
     * beyond its credential (and could not be saved and read back). */
    for (size_t k = 0; k < n; k++) {
        const cred_entry *e = find_cred(w, v[k].serial);

        if (e != NULL && v[k].synced &&
            (v[k].remaining < 0 || v[k].remaining > (int64_t)e->c.limit ||
             v[k].outstanding < 0 || v[k].outstanding > (int64_t)e->c.limit))
            return OFFPAY_ERANGE;
        if (e != NULL && v[k].release_due != 0 &&
            (v[k].returned < 0 || v[k].returned > (int64_t)e->c.limit))
            return OFFPAY_ERANGE;
        if (e != NULL && v[k].has_decided &&
            (v[k].n_decided > DECIDED_MAX ||
             (v[k].n_decided > 0 && v[k].decided == NULL)))
            return OFFPAY_EINVAL;
        for (size_t d = 0; e != NULL && v[k].has_decided && d < v[k].n_decided;
             d++)
            if (v[k].decided[d].paid < 0 || v[k].decided[d].above < 0 ||
                v[k].decided[d].above > (int64_t)e->c.limit)
                return OFFPAY_ERANGE;
    }
    if (w->n_creds > 0) {
        saved = malloc(w->n_creds * sizeof *saved);
        if (saved == NULL)
            return OFFPAY_ENOMEM;
        memcpy(saved, w->creds, w->n_creds * sizeof *saved);
    }
    for (size_t k = 0; k < n; k++) {
        cred_entry *e = find_cred(w, v[k].serial);

        if (e == NULL)
            continue;
        /* never below what the log holds: counters only go up */
        if (v[k].floor > e->next_counter)
            e->next_counter = v[k].floor;
        if (v[k].unfreeze)
            e->frozen = 0;
        if (v[k].unknown && !v[k].unfreeze)
            e->frozen = 2;
        if (v[k].revoked)
            e->revoked = 1;
        if (v[k].synced) {
            e->synced = 1;
            e->sync_remaining = v[k].remaining;
            e->sync_outstanding = v[k].outstanding;
            e->sync_reserved = reserved_of(e);
        }
        if (v[k].has_decided) {
            e->n_decided = v[k].n_decided;
            if (e->n_decided > 0)
                memcpy(e->decided, v[k].decided,
                       e->n_decided * sizeof *e->decided);
        }
        if (v[k].release_due != 0) {
            e->released = v[k].released;
            e->released_at = v[k].released_at;
            e->returned = v[k].returned;
            e->release_due = v[k].release_due;
            e->late_until = v[k].late_until;
        }
    }
    rc = save(w);
    if (rc != OFFPAY_OK && saved != NULL)
        memcpy(w->creds, saved, w->n_creds * sizeof *saved);
    free(saved);
    return rc;
}

const char *offpay__wallet_path(const offpay_wallet *w)
{
    return w != NULL ? w->path : NULL;
}

const offpay_trust_bundle *offpay__wallet_bundle(const offpay_wallet *w)
{
    return w != NULL ? &w->bundle : NULL;
}

const uint8_t *offpay__wallet_root(const offpay_wallet *w)
{
    return w != NULL ? w->root_pk : NULL;
}
