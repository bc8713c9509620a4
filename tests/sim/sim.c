/*
 * sim.c — the deterministic simulation of issue 10 (docs/reliability.md §3).
 *
 * One seeded program runs the real library: wallets (src/wallet, sealed
 * files and spend logs), terminals (src/terminal, their SQLite journals)
 * and the settlement engine (src/settle) over the real SQLite ledger, with
 * a simulated clock (every call that takes `now` gets it, a terminal's
 * skewed by its own offset) and a simulated network: a terminal's upload
 * is a call of offpay_ledger_settle_batch with the entries of its journal,
 * a wallet's upload a call of offpay_ledger_wallet_upload with its spend
 * log and receipts, and the network delivers them, cuts them mid-batch,
 * loses the reply after the commit, delivers them twice, delays them or
 * replays old ones. HTTP itself is covered by the e2e suite.
 *
 * One seed drives everything: the simulator's choices come from one PRNG,
 * and libsodium's random bytes (keys, nonces, salts) from another stream
 * of the same seed (randombytes_set_implementation), so a run replays
 * exactly with --seed N. No time(), no rand().
 *
 * Actors: honest payers (bound and unbound codes, receipts), cloned
 * wallets reusing counters, wallets restored from old copies, unbound
 * codes shown at two merchants, terminals whose clocks run fast, slow or
 * jump back, terminals lost before they upload (their payments settle from
 * the wallets' receipts), revoked credentials, expiring escrows and late
 * presentment. Faults: crashes (handles dropped and reopened), power cuts
 * at an I/O step of a terminal's accept, a wallet's pay or a ledger's
 * batch (tests/fault/faultfs.c: lost, torn or kept unsynced writes), a
 * refused write of the wallet's files, and the network faults above.
 *
 * After every simulated day and at the end it checks DESIGN.md §2's
 * invariants with the ledger's audit and its own model (see check_day and
 * check_end); a violation prints the seed, the day and what failed, and
 * the program exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../fault/faultfs.h"
#include "offpay/offpay.h"
#include "offpay/settle.h"
#include "wallet/wallet_file.h"

#define EUR  978
#define T0   1780000000u
#define DAY  86400u
#define PASS "simulated passphrase"

/* ---- the seeded PRNGs ------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t g_rng; /* the simulator's choices */
static uint64_t g_lib; /* libsodium's random bytes */

static uint64_t rnd(uint64_t n) /* 0..n-1 */
{
    return n == 0 ? 0 : splitmix(&g_rng) % n;
}

static int chance(unsigned per_mille)
{
    return rnd(1000) < per_mille;
}

static const char *rb_name(void)
{
    return "offpay-sim";
}
static uint32_t rb_random(void)
{
    return (uint32_t)(splitmix(&g_lib) >> 32);
}
static void rb_stir(void)
{
}
static void rb_buf(void *buf, size_t n)
{
    uint8_t *p = buf;

    while (n > 0) {
        uint64_t v = splitmix(&g_lib);
        size_t   k = n < 8 ? n : 8;

        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}
static int rb_close(void)
{
    return 0;
}
static randombytes_implementation rb_impl = {rb_name, rb_random, rb_stir,
                                             NULL,    rb_buf,    rb_close};

/* ---- parameters, counters, failure ------------------------------------ */

typedef struct params {
    uint64_t seed;
    unsigned runs;
    unsigned wallets, terminals, days;
    uint64_t payments;
    int      faults; /* crashes and power cuts */
    int      verbose, keep;
    int      plant;    /* 1: an accepted payment lost; 2: money made up */
    unsigned evidence; /* cases whose evidence is verified per day (max) */
} params;

static params P = {1, 1, 40, 12, 10, 2500, 1, 0, 0, 0, 50};

typedef struct stats {
    uint64_t payments, accepted, refused, bound, unbound, receipts;
    uint64_t clones, restores, duplicates, revocations, lost_terminals;
    uint64_t clock_jumps, renewals;
    uint64_t batches, items, cut_before, cut_partial, reply_lost, dup_delivery,
        old_replay, delayed, future;
    uint64_t wallet_uploads, wallet_items, receipt_settled;
    uint64_t crash_terminal, crash_wallet, crash_ledger;
    uint64_t cut_terminal, cut_wallet, cut_ledger, write_refused, outcome;
    uint64_t cases, evidence_verified, released, late_refused;
    uint64_t settled, guaranteed, dup_paid, ds_paid, unpaid, rejected;
    int64_t  paid, covered;
    uint64_t unattributable;
    uint64_t refunds, refund_replays, payouts, funded;
    int64_t  refunded, refunded_g; /* in all, and back to the guarantee */
    uint64_t why[128]; /* refusals by error (terminal or wallet) */
} stats;

static stats S, TOT;

/* Seconds spent per part (figures only: the clock never decides). */
enum { T_PAY, T_TUPLOAD, T_WUPLOAD, T_CHECK, T_EVENTS, T_AUDIT, T_CASES, T_N };
static double g_secs[T_N];

static double mono(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
static unsigned g_day;
static char     g_dir[512];

static void die(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "sim: VIOLATION seed=%" PRIu64 " day=%u: ", P.seed, g_day);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\nsim: replay with: --seed %" PRIu64
            " --wallets %u --terminals %u --payments %" PRIu64
            " --days %u%s (files kept in %s)\n",
            P.seed, P.wallets, P.terminals, P.payments, P.days,
            P.faults ? "" : " --no-faults", g_dir);
    exit(1);
}

#define OK(call)                                                               \
    do {                                                                       \
        offpay_err rc_ = (call);                                               \
        if (rc_ != OFFPAY_OK)                                                  \
            die("%s:%d %s: %s", __FILE__, __LINE__, #call,                     \
                offpay_errname(rc_));                                          \
    } while (0)

/* ---- the world ------------------------------------------------------- */

enum { HONEST = 0, CLONER, RESTORER, DUPLICATOR };

#define ANY 0xffffffu /* hash key: the first acceptance at any terminal */

typedef struct swallet {
    offpay_wallet *w, *clone;
    char           path[600], clone_path[620], snap_path[620];
    uint8_t        pk[OFFPAY_PK_BYTES];
    uint64_t       account;
    int            kind, fraud, snap;
    size_t         upl_from; /* first spend-log entry not uploaded */
} swallet;

typedef struct sterm {
    offpay_terminal *t;
    char             dir[600];
    uint32_t         id;
    size_t           merchant; /* index */
    int32_t          offset;   /* its clock minus the simulated time */
    int              lost, flaky, back_until;
    size_t          *acc; /* model records in journal order */
    size_t           n_acc, cap_acc;
    size_t           last[200]; /* a batch delivered (to replay) */
    uint8_t         *last_code[200];
    size_t           last_len[200];
    uint32_t         last_at[200];
    size_t           n_last;
    unsigned         down_until; /* day: offline for days */
} sterm;

typedef struct acc { /* one acceptance, as the model knows it */
    uint32_t   term; /* index */
    int64_t    seq;
    uint64_t   serial;
    uint32_t   counter;
    int64_t    charged;
    uint32_t   wallet;
    uint8_t    uploaded, receipt, fraud, rejected;
    offpay_err reason;
    uint64_t   pres;
    int64_t    paid;
    uint8_t    outcome; /* offpay_settle_outcome */
    offpay_err why;     /* its reason */
} acc;

typedef struct pres { /* a presentment the ledger returned */
    uint64_t id, serial;
    uint32_t merchant;
    int64_t  paid, covered;
    int64_t  refunded; /* refunded of paid (docs/settlement.md §13) */
} pres;

typedef struct scred {
    uint64_t serial;
    uint32_t wallet;
    int64_t  limit;
    uint8_t *terms; /* bitset of terminals that accepted it */
    uint32_t n_terms;
    int64_t  covered;
    int64_t  refunded_g; /* what refunds of its presentments gave back to
                            the guarantee (its cover first, §13) */
    int      kinds; /* bit k: a case of kind k */
} scred;

typedef struct fevent { /* a fraud the issuer must attribute */
    uint64_t serial;
    uint32_t counter;
    int      kind; /* OFFPAY_CASE_* */
    size_t   a, b; /* the two acceptances */
} fevent;

static struct world {
    offpay_ledger      *l;
    char                ledger_path[600];
    offpay_keypair      root, issuer;
    offpay_trust_bundle bundle;
    uint8_t             bundle_bytes[OFFPAY_EVIDENCE_BUNDLE_MAX];
    size_t              bundle_len;
    uint64_t            guarantee, world_dep;
    int64_t             guarantee_funds;
    size_t              n_merchants;
    uint64_t           *m_account;
    int64_t            *m_out; /* per merchant: paid out, less paid in */
    swallet            *w;
    sterm              *t;
    acc                *acc;
    size_t              n_acc, cap_acc;
    pres               *pres;
    size_t              cap_pres;
    scred              *cred;
    size_t              n_cred, cap_cred;
    fevent             *ev;
    size_t              n_ev, cap_ev;
    uint64_t            last_case;
    uint32_t            now;
    uint64_t           *hkey; /* (serial, counter, term) -> acc index + 1 */
    size_t             *hval;
    size_t              hcap, hn;
} W;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    p = realloc(p, n * size);
    if (p == NULL)
        die("out of memory");
    memset((char *)p + *cap * size, 0, (n - *cap) * size);
    *cap = n;
    return p;
}

static uint64_t hkey(uint64_t serial, uint32_t counter, uint32_t term)
{
    return (serial * 0x100000001b3ull ^ counter) * 1000003u + term + 1;
}

static size_t *hslot(uint64_t k)
{
    size_t i = (size_t)(k * 0x9e3779b97f4a7c15ull) & (W.hcap - 1);

    while (W.hkey[i] != 0 && W.hkey[i] != k)
        i = (i + 1) & (W.hcap - 1);
    W.hkey[i] = k;
    return &W.hval[i];
}

static void hput(uint64_t serial, uint32_t counter, uint32_t term, size_t a)
{
    if ((W.hn + 1) * 2 > W.hcap) {
        uint64_t *ok = W.hkey;
        size_t   *ov = W.hval, oc = W.hcap;

        W.hcap = oc ? oc * 2 : 4096;
        W.hkey = calloc(W.hcap, sizeof *W.hkey);
        W.hval = calloc(W.hcap, sizeof *W.hval);
        if (W.hkey == NULL || W.hval == NULL)
            die("out of memory");
        for (size_t i = 0; i < oc; i++)
            if (ok[i] != 0)
                *hslot(ok[i]) = ov[i];
        free(ok);
        free(ov);
    }
    *hslot(hkey(serial, counter, term)) = a + 1;
    W.hn++;
}

static size_t hget(uint64_t serial, uint32_t counter, uint32_t term)
{
    uint64_t k = hkey(serial, counter, term);
    size_t   i = (size_t)(k * 0x9e3779b97f4a7c15ull) & (W.hcap - 1);

    if (W.hcap == 0)
        return 0;
    while (W.hkey[i] != 0) {
        if (W.hkey[i] == k)
            return W.hval[i];
        i = (i + 1) & (W.hcap - 1);
    }
    return 0;
}

static scred *cred_of(uint64_t serial)
{
    for (size_t i = W.n_cred; i-- > 0;) /* newest first: the usual case */
        if (W.cred[i].serial == serial)
            return &W.cred[i];
    return NULL;
}

static uint32_t term_index(uint32_t terminal_id)
{
    for (uint32_t i = 0; i < P.terminals; i++)
        if (W.t[i].id == terminal_id)
            return i;
    die("unknown terminal id %u", terminal_id);
    return 0;
}

/* Terminal i's clock. */
static uint32_t tnow(uint32_t i)
{
    int64_t at = (int64_t)W.now + W.t[i].offset;

    if (W.t[i].back_until != 0 && W.now < (uint32_t)W.t[i].back_until)
        at -= 3 * 3600; /* set back by three hours */
    return (uint32_t)at;
}

/* ---- files ------------------------------------------------------------ */

static int copy_file(const char *from, const char *to)
{
    char    buf[65536];
    int     in = open(from, O_RDONLY), out;
    ssize_t n;

    if (in < 0)
        return -1;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    close(in);
    close(out);
    return n < 0 ? -1 : 0;
}

static void copy_wallet(const char *from, const char *to)
{
    char a[700], b[700];

    snprintf(a, sizeof a, "%s.log", from);
    snprintf(b, sizeof b, "%s.log", to);
    if (copy_file(from, to) != 0 || copy_file(a, b) != 0)
        die("cannot copy wallet %s", from);
}

/* ---- setup ------------------------------------------------------------ */

static void issue_cred(uint32_t wi)
{
    swallet           *sw = &W.w[wi];
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred c;
    int64_t            limit = 20000 + (int64_t)rnd(30000); /* 200-500 EUR */
    uint32_t           life = (3 + (uint32_t)rnd(6)) * DAY;

    OK(offpay_ledger_issue(W.l, sw->account, sw->pk, limit,
                           OFFPAY_CRED_ALLOW_UNBOUND, W.now + life, W.now,
                           bytes, &c));
    OK(offpay_wallet_add_credential(sw->w, bytes, sizeof bytes, W.now));
    W.cred = grow(W.cred, &W.cap_cred, W.n_cred + 1, sizeof *W.cred);
    scred *sc = &W.cred[W.n_cred++];
    sc->serial = c.serial;
    sc->wallet = wi;
    sc->limit = limit;
    sc->terms = calloc((P.terminals + 7) / 8, 1);
    if (sc->terms == NULL)
        die("out of memory");
}

static void open_terminal(uint32_t i)
{
    sterm *st = &W.t[i];

    if (st->flaky && P.faults)
        sqlite3_vfs_register(sqlite3_vfs_find("offpay-powerloss"), 1);
    OK(offpay_terminal_open(st->dir, PASS, &st->t));
    if (st->flaky && P.faults)
        sqlite3_vfs_register(sqlite3_vfs_find("unix"), 1);
}

static void open_ledger(void)
{
    offpay_ledger_config c;

    offpay_ledger_config_defaults(&c);
    c.upload_grace = 2 * DAY;
    c.late_window = 3 * DAY;
    if (P.faults)
        sqlite3_vfs_register(sqlite3_vfs_find("offpay-powerloss"), 1);
    OK(offpay_ledger_open(W.ledger_path, &c, &W.l));
    if (P.faults)
        sqlite3_vfs_register(sqlite3_vfs_find("unix"), 1);
    OK(offpay_ledger_set_trust(W.l, &W.bundle, 1, W.issuer.sk));
}

static void setup(void)
{
    offpay_risk risk;

    memset(&W, 0, sizeof W);
    W.now = T0;
    OK(offpay_keypair_generate(&W.root));
    OK(offpay_keypair_generate(&W.issuer));
    W.bundle.seq = 1;
    W.bundle.issued_at = T0 - DAY;
    W.bundle.n_keys = 1;
    W.bundle.keys[0].kid = 1;
    memcpy(W.bundle.keys[0].pk, W.issuer.pk, OFFPAY_PK_BYTES);
    W.bundle.keys[0].valid_from = T0 - DAY;
    W.bundle.keys[0].valid_until = T0 + 400 * DAY;
    OK(offpay_issuer_sign_bundle(W.root.sk, &W.bundle));
    OK(offpay_bundle_encode(&W.bundle, W.bundle_bytes, sizeof W.bundle_bytes,
                            &W.bundle_len));
    snprintf(W.ledger_path, sizeof W.ledger_path, "%s/ledger.db", g_dir);
    open_ledger();
    OK(offpay_ledger_guarantee_account(W.l, EUR, W.now, &W.guarantee));
    W.guarantee_funds = 100000000;
    OK(offpay_ledger_deposit(W.l, W.guarantee, W.guarantee_funds, "fund", W.now,
                             NULL));

    W.n_merchants = (P.terminals + 1) / 2;
    W.m_account = calloc(W.n_merchants, sizeof *W.m_account);
    W.m_out = calloc(W.n_merchants, sizeof *W.m_out);
    uint64_t *m_id = calloc(W.n_merchants, sizeof *m_id);
    W.t = calloc(P.terminals, sizeof *W.t);
    W.w = calloc(P.wallets, sizeof *W.w);
    if (W.m_account == NULL || W.m_out == NULL || m_id == NULL || W.t == NULL || W.w == NULL)
        die("out of memory");
    for (size_t m = 0; m < W.n_merchants; m++) {
        char name[32];

        snprintf(name, sizeof name, "Merchant %zu", m);
        OK(offpay_ledger_merchant_add(W.l, name, EUR, W.now, &m_id[m],
                                      &W.m_account[m]));
    }
    for (uint32_t i = 0; i < P.terminals; i++) {
        sterm               *st = &W.t[i];
        uint8_t              pk[OFFPAY_PK_BYTES];
        uint8_t              cb[OFFPAY_TERMINAL_CRED_MAX_BYTES];
        size_t               cl;
        offpay_terminal_cred tc;

        snprintf(st->dir, sizeof st->dir, "%s/t%u", g_dir, i);
        st->merchant = i % W.n_merchants;
        st->flaky = i < 3; /* opened under the power-loss layer */
        switch (rnd(10)) {
        case 0:
            st->offset = (int32_t)(30 + rnd(200));
            break; /* fast */
        case 1:
            st->offset = -(int32_t)(10 + rnd(100));
            break; /* slow */
        default:
            st->offset = (int32_t)rnd(20) - 10;
            break;
        }
        OK(offpay_terminal_create(st->dir, PASS, W.root.pk, W.bundle_bytes,
                                  W.bundle_len, EUR, &st->t));
        offpay_terminal_public_key(st->t, pk);
        OK(offpay_ledger_terminal_add(W.l, m_id[st->merchant], pk,
                                      T0 + 400 * DAY, W.now, cb, &cl, &tc));
        st->id = tc.terminal_id;
        OK(offpay_terminal_set_credential(st->t, cb, cl, W.now));
        OK(offpay_terminal_get_risk(st->t, &risk));
        risk.max_offline_payments = 0;
        /* uploads here go to the ledger directly (settle_batch), not
         * through the terminal's sync: its journal never learns what was
         * decided, so its wait for offpayd would end no day */
        risk.max_upload_days = 0;
        OK(offpay_terminal_set_risk(st->t, &risk));
        if (st->flaky && P.faults) {
            offpay_terminal_close(st->t);
            open_terminal(i);
        }
    }
    free(m_id);
    for (uint32_t i = 0; i < P.wallets; i++) {
        swallet *sw = &W.w[i];
        unsigned r = (unsigned)rnd(100);

        /* at least one of each kind of fraud, then about 12 % */
        sw->kind = i == 0 || r < 4    ? CLONER
                   : i == 1 || r < 7  ? RESTORER
                   : i == 2 || r < 12 ? DUPLICATOR
                                      : HONEST;
        snprintf(sw->path, sizeof sw->path, "%s/w%u", g_dir, i);
        OK(offpay_wallet_create(sw->path, PASS, W.root.pk, W.bundle_bytes,
                                W.bundle_len, &sw->w));
        offpay_wallet_public_key(sw->w, sw->pk);
        OK(offpay_ledger_wallet_account(W.l, EUR, "payer", W.now,
                                        &sw->account));
        OK(offpay_ledger_deposit(W.l, sw->account, 100000000, "top-up", W.now,
                                 NULL));
        issue_cred(i);
    }
}

/* ---- the model's records --------------------------------------------- */

static size_t add_acc(uint32_t term, const offpay_acceptance *a, uint32_t wi,
                      int fraud)
{
    sterm *st = &W.t[term];
    scred *sc = cred_of(a->payment.cred.serial);
    acc   *r;

    W.acc = grow(W.acc, &W.cap_acc, W.n_acc + 1, sizeof *W.acc);
    r = &W.acc[W.n_acc];
    r->term = term;
    r->seq = a->seq;
    r->serial = a->payment.cred.serial;
    r->counter = a->payment.counter;
    r->charged = a->charged;
    r->wallet = wi;
    r->fraud = (uint8_t)fraud;
    hput(r->serial, r->counter, term, W.n_acc);
    if (hget(r->serial, r->counter, ANY) == 0)
        hput(r->serial, r->counter, ANY, W.n_acc);
    st->acc = grow(st->acc, &st->cap_acc, st->n_acc + 1, sizeof *st->acc);
    st->acc[st->n_acc++] = W.n_acc;
    if (sc != NULL && !(sc->terms[term / 8] & (1u << (term % 8)))) {
        sc->terms[term / 8] |= (uint8_t)(1u << (term % 8));
        sc->n_terms++;
    }
    S.accepted++;
    return W.n_acc++;
}

static void add_event(uint64_t serial, uint32_t counter, int kind, size_t a,
                      size_t b)
{
    W.ev = grow(W.ev, &W.cap_ev, W.n_ev + 1, sizeof *W.ev);
    W.ev[W.n_ev++] = (fevent){serial, counter, kind, a, b};
}

/* A result the ledger returned for presentment id (0: none): the first
 * time it is recorded, later it must be the same. */
static void note_pres(uint64_t id, uint32_t merchant, int64_t paid,
                      int64_t covered, uint64_t serial)
{
    if (id == 0)
        return;
    W.pres = grow(W.pres, &W.cap_pres, id + 1, sizeof *W.pres);
    pres *p = &W.pres[id];
    if (p->id == 0) {
        p->id = id;
        p->serial = serial;
        p->merchant = merchant;
        p->paid = paid;
        p->covered = covered;
        S.paid += paid;
        S.covered += covered;
        scred *sc = cred_of(serial);
        if (sc != NULL)
            sc->covered += covered;
    } else if (p->paid != paid || p->covered != covered ||
               p->merchant != merchant)
        die("presentment %" PRIu64 " paid %" PRId64 " then %" PRId64, id,
            p->paid, paid);
}

static void count_outcome(const offpay_settle_result *r)
{
    switch (r->outcome) {
    case OFFPAY_SETTLE_SETTLED:
        S.settled++;
        break;
    case OFFPAY_SETTLE_GUARANTEED:
        S.guaranteed++;
        break;
    case OFFPAY_SETTLE_DUPLICATE:
        S.dup_paid++;
        break;
    case OFFPAY_SETTLE_DOUBLE_SPEND:
        S.ds_paid++;
        break;
    case OFFPAY_SETTLE_UNPAID:
        S.unpaid++;
        break;
    default:
        S.rejected++;
        break;
    }
}

/* The result of acceptance a from a terminal upload. replay_ok: this
 * delivery may be a replay (always, for results the terminal saw). */
static int take_result(size_t ai, const offpay_settle_result *r)
{
    acc *a = &W.acc[ai];

    if (r->outcome == OFFPAY_SETTLE_REJECTED &&
        r->reason == OFFPAY_ECODE_FUTURE) {
        S.future++;
        return 0; /* not decided: sent again later */
    }
    if (r->outcome == OFFPAY_SETTLE_REJECTED) {
        if (a->pres != 0)
            die("acceptance t%u seq %" PRId64 " settled as %" PRIu64
                ", then rejected (%s)",
                a->term, a->seq, a->pres, offpay_errname(r->reason));
        if (!a->rejected) {
            a->rejected = 1;
            a->reason = r->reason;
            count_outcome(r);
            if (r->reason == OFFPAY_ELATE)
                S.late_refused++;
        } else if (a->reason != r->reason)
            die("rejection changed");
        return 1;
    }
    if (a->pres == 0) {
        if (a->rejected)
            die("acceptance t%u seq %" PRId64 " rejected, then settled",
                a->term, a->seq);
        a->pres = r->presentment;
        a->paid = r->paid;
        a->outcome = (uint8_t)r->outcome;
        a->why = r->reason;
        count_outcome(r);
    } else if (a->pres != r->presentment || a->paid != r->paid)
        die("acceptance t%u seq %" PRId64 ": presentment %" PRIu64
            " paid %" PRId64 ", then %" PRIu64 " paid %" PRId64,
            a->term, a->seq, a->pres, a->paid, r->presentment, r->paid);
    note_pres(r->presentment, (uint32_t)W.t[a->term].merchant, r->paid,
              r->covered, a->serial);
    return 1;
}

/* ---- crashes and power cuts ------------------------------------------ */

static int (*faultfs_hook)(const char *step);
static int g_refuse_writes;
static int g_faulting; /* a fault is armed: no renewal now */
static int g_final;    /* the final flush: no more faults */

static int sim_hook(const char *step)
{
    if (g_refuse_writes)
        return 1; /* the disk refuses the write (full) */
    return faultfs_hook != NULL ? faultfs_hook(step) : 0;
}

/* Arms a power cut at one of the next `steps` I/O steps, in a mode drawn
 * from the seed (each draw in its own statement: the order of a call's
 * arguments is unspecified, and a replay must draw in the same order). */
static void arm(uint64_t steps, uint64_t *at)
{
    uint64_t             seed = rnd(UINT32_MAX);
    offpay__faultfs_mode mode = (offpay__faultfs_mode)rnd(3);
    uint64_t             k = 1 + rnd(steps);

    if (at != NULL)
        *at = k;
    /* The layer is SQLite's default while armed: a database the library
     * reopens inside the operation (accept's recovery after a failed
     * commit) must see the dead machine too, not the real files. */
    sqlite3_vfs_register(sqlite3_vfs_find("offpay-powerloss"), 1);
    offpay__faultfs_arm(k, mode, seed);
}

/* After the cut, with the handles closed: the reboot. */
static void reboot(void)
{
    sqlite3_vfs_register(sqlite3_vfs_find("unix"), 1);
    if (offpay__faultfs_reboot() != 0)
        die("faultfs reboot");
}

/* ---- journeys: one payment -------------------------------------------- */

static offpay_wallet *payer_handle(swallet *sw, int *via_clone)
{
    *via_clone = 0;
    if (sw->kind == CLONER && sw->clone != NULL && chance(400)) {
        *via_clone = 1;
        return sw->clone;
    }
    return sw->w;
}

static void renew(uint32_t wi)
{
    issue_cred(wi);
    S.renewals++;
}

/* Makes the code (bound or not) at terminal ti, returns its text or NULL. */
static char *make_code(uint32_t wi, offpay_wallet *w, uint32_t ti, int bound,
                       int64_t *charge, offpay_payment *p)
{
    sterm         *st = &W.t[ti];
    char          *text = NULL, *req = NULL;
    int64_t        amount = 50 + (int64_t)rnd(4000); /* 0.50-40.49 EUR */
    offpay_request q;
    offpay_err     rc;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (bound) {
            rc = offpay_terminal_request(st->t, amount, tnow(ti), &req, NULL);
            if (rc != OFFPAY_OK) {
                S.refused++;
                S.why[(unsigned)rc & 127u]++;
                return NULL;
            }
            rc = offpay_wallet_read_request(w, req, W.now, &q);
            free(req);
            req = NULL;
            if (rc == OFFPAY_OK)
                rc = offpay_wallet_pay_request(w, &q, W.now, &text, p);
            *charge = 0;
        } else {
            rc = offpay_wallet_pay(w, amount, EUR, W.now, &text, p);
            *charge = amount - (int64_t)rnd((uint64_t)amount / 2);
        }
        if (rc == OFFPAY_OK)
            return text;
        if ((rc == OFFPAY_EINSUFFICIENT || rc == OFFPAY_ENO_CREDENTIAL) &&
            attempt == 0 && w == W.w[wi].w && !g_faulting) {
            renew(wi);
            continue;
        }
        if (rc == OFFPAY_EIO || rc == OFFPAY_EFUTURE_DATED ||
            rc == OFFPAY_EREQUEST_EXPIRED || rc == OFFPAY_EINSUFFICIENT ||
            rc == OFFPAY_ENO_CREDENTIAL || rc == OFFPAY_ECODE_TOO_OLD ||
            rc == OFFPAY_ECODE_FUTURE) {
            S.refused++;
            S.why[(unsigned)rc & 127u]++;
            return NULL;
        }
        die("wallet %u pay: %s", wi, offpay_errname(rc));
    }
    return NULL;
}

/* Terminal ti accepts text; under a power cut maybe. Returns the model
 * record + 1, or 0. */
static size_t accept_at(uint32_t ti, uint32_t wi, const char *text,
                        int64_t charge, int fraud)
{
    sterm            *st = &W.t[ti];
    offpay_acceptance a;
    offpay_err        rc, first;
    int               cut = 0;
    uint64_t          cut_at = 0;

    if (st->flaky && P.faults && chance(15)) {
        cut = 1;
        arm(7, &cut_at);
    }
    rc =
        offpay_terminal_accept(st->t, text, strlen(text), charge, tnow(ti), &a);
    if (cut) {
        int dead = offpay__faultfs_dead();

        offpay_terminal_close(st->t);
        st->t = NULL;
        reboot();
        open_terminal(ti);
        if (dead)
            S.cut_terminal++;
        if (rc == OFFPAY_EOUTCOME)
            S.outcome++;
        if (P.verbose)
            printf("sim: day %u t%u power cut (%s) in accept at step %" PRIu64
                   ": %s, seq %" PRId64 "\n",
                   g_day, ti, dead ? "cut" : "no cut", cut_at,
                   offpay_errname(rc), a.seq);
        first = rc;
        if (rc != OFFPAY_OK) {
            /* The payer is asked again: the same code, presented again,
             * must be accepted once or found already accepted. */
            rc = offpay_terminal_accept(st->t, text, strlen(text), charge,
                                        tnow(ti), &a);
            if (rc == OFFPAY_EREPLAY && first == OFFPAY_EOUTCOME)
                rc = OFFPAY_OK; /* it was in the journal: accepted */
            else if (rc == OFFPAY_EREPLAY)
                die("t%u: accept failed (%s), yet the journal holds the "
                    "code",
                    ti, offpay_errname(first));
        }
    }
    if (rc == OFFPAY_OK) {
        if (hget(a.payment.cred.serial, a.payment.counter, ti) != 0)
            die("t%u accepted (serial %" PRIu64 ", counter %u) twice", ti,
                a.payment.cred.serial, a.payment.counter);
        return add_acc(ti, &a, wi, fraud) + 1;
    }
    S.refused++;
    S.why[(unsigned)rc & 127u]++;
    return 0;
}

static void take_receipt(uint32_t ti, uint32_t wi, size_t ai)
{
    char      *text = NULL;
    acc       *a = &W.acc[ai];
    offpay_err rc;

    OK(offpay_terminal_receipt(W.t[ti].t, a->seq, tnow(ti), &text));
    rc = offpay_wallet_take_receipt(W.w[wi].w, text, W.now, NULL);
    free(text);
    if (rc == OFFPAY_OK) {
        a->receipt = 1;
        S.receipts++;
    } else if (rc != OFFPAY_EIO && rc != OFFPAY_ECODE_FUTURE &&
               rc != OFFPAY_ERANGE)
        die("wallet %u receipt: %s", wi, offpay_errname(rc));
}

static uint32_t pick_terminal(void)
{
    for (;;) {
        uint32_t ti = (uint32_t)rnd(P.terminals);
        if (!W.t[ti].lost)
            return ti;
    }
}

static void one_payment(void)
{
    uint32_t       wi = (uint32_t)rnd(P.wallets), ti = pick_terminal();
    swallet       *sw = &W.w[wi];
    int            via_clone, bound = chance(350), pw_cut = 0;
    offpay_wallet *w = payer_handle(sw, &via_clone);
    int64_t        charge = 0;
    char          *text;
    size_t         ai;
    offpay_payment p;

    S.payments++;
    if (P.faults && !via_clone && chance(4)) { /* the disk refuses a write */
        g_refuse_writes = 1;
        g_faulting = 1;
        S.write_refused++;
    } else if (P.faults && !via_clone && chance(3)) { /* power cut */
        pw_cut = 1;
        g_faulting = 1;
        offpay__faultfs_track_wallet(sw->path);
        arm(8, NULL);
    }
    text = make_code(wi, w, ti, bound, &charge, &p);
    if (g_refuse_writes) {
        /* The app restarts after the failed write: the code it could not
         * log was never shown, and its reservation is dropped with it. */
        offpay_wallet_close(sw->w);
        OK(offpay_wallet_open(sw->path, PASS, &sw->w));
        w = sw->w;
        if (text != NULL)
            die("wallet %u showed a code its disk refused to log", wi);
    }
    g_refuse_writes = 0;
    g_faulting = 0;
    if (pw_cut) {
        int dead = offpay__faultfs_dead();

        offpay_wallet_close(sw->w);
        sw->w = NULL;
        reboot();
        offpay__faultfs_track_wallet(NULL);
        OK(offpay_wallet_open(sw->path, PASS, &sw->w));
        if (dead)
            S.cut_wallet++;
        w = sw->w;
        /* A code that was returned survives in the log; one that was not
         * is never shown. */
        if (text != NULL) {
            offpay_wallet_spend sp;
            size_t              n = offpay_wallet_n_spends(sw->w);

            if (n == 0 ||
                offpay_wallet_get_spend(sw->w, n - 1, &sp) != OFFPAY_OK ||
                sp.serial != p.cred.serial || sp.counter != p.counter)
                die("wallet %u: the code it showed (counter %u) is not in "
                    "its log after a power cut",
                    wi, p.counter);
        }
    }
    if (text == NULL)
        return;
    if (bound)
        S.bound++;
    else
        S.unbound++;
    ai = accept_at(ti, wi, text, charge, via_clone || sw->fraud);
    if (ai != 0 && via_clone) {
        sw->fraud = 1;
        W.acc[ai - 1].fraud = 1;
    }
    /* A restored wallet reuses counters: the old terminal's acceptance of
     * the same counter is the other half of the double spend. */
    if (ai != 0) {
        acc   *a = &W.acc[ai - 1];
        size_t b = hget(a->serial, a->counter, ANY);

        if (b != 0 && b != ai) {
            a->fraud = 1;
            W.acc[b - 1].fraud = 1;
            add_event(a->serial, a->counter, OFFPAY_CASE_DOUBLE_SPEND, b - 1,
                      ai - 1);
            sw->fraud = 1;
        }
    }
    if (ai != 0 && !via_clone && chance(600))
        take_receipt(ti, wi, ai - 1);
    /* Duplicate presentment: the unbound code shown at another merchant. */
    if (ai != 0 && !bound && sw->kind == DUPLICATOR && chance(250)) {
        uint32_t t2 = pick_terminal();
        if (W.t[t2].merchant != W.t[ti].merchant) {
            size_t b;

            W.now += 5;
            b = accept_at(t2, wi, text, charge, 1);
            if (b != 0) {
                sw->fraud = 1;
                W.acc[ai - 1].fraud = 1;
                add_event(W.acc[b - 1].serial, W.acc[b - 1].counter,
                          OFFPAY_CASE_DUPLICATE, ai - 1, b - 1);
                S.duplicates++;
            }
        }
    }
    free(text);
}

/* ---- the network: terminal uploads ------------------------------------ */

typedef struct jwalk {
    sterm    *st;
    uint32_t  ti;
    size_t    k;    /* next model record expected */
    size_t    want; /* collect at most this many not-uploaded entries */
    size_t    n;
    size_t   *idx;
    uint8_t **code;
    size_t   *len;
    uint32_t *at;
} jwalk;

static int journal_fn(const offpay_journal_entry *e, void *ctx)
{
    jwalk *j = ctx;
    acc   *a;

    if (j->k >= j->st->n_acc)
        die("t%u: journal holds seq %" PRId64 " the model never saw accepted",
            j->ti, e->seq);
    a = &W.acc[j->st->acc[j->k]];
    if (a->seq != e->seq || a->serial != e->serial ||
        a->counter != e->counter || a->charged != e->charged)
        die("t%u: journal entry seq %" PRId64 " (serial %" PRIu64
            ", counter %u, charged %" PRId64 ") is not the acceptance "
            "seq %" PRId64 " (serial %" PRIu64 ", counter %u, charged "
            "%" PRId64 ") the model holds: an accepted payment lost",
            j->ti, e->seq, e->serial, e->counter, e->charged, a->seq, a->serial,
            a->counter, a->charged);
    if (!a->uploaded && j->n < j->want) {
        j->idx[j->n] = j->st->acc[j->k];
        j->code[j->n] = malloc(e->code_len);
        if (j->code[j->n] == NULL)
            die("out of memory");
        memcpy(j->code[j->n], e->code, e->code_len);
        j->len[j->n] = e->code_len;
        j->at[j->n] = e->accepted_at;
        j->n++;
    }
    j->k++;
    return 0;
}

/* Every acceptance of the model is in terminal ti's journal, in order,
 * and nothing else; collects up to want entries not yet uploaded. */
static void walk_journal(uint32_t ti, jwalk *j, size_t want)
{
    memset(j, 0, sizeof *j);
    j->st = &W.t[ti];
    j->ti = ti;
    j->want = want;
    j->idx = calloc(want + 1, sizeof *j->idx);
    j->code = calloc(want + 1, sizeof *j->code);
    j->len = calloc(want + 1, sizeof *j->len);
    j->at = calloc(want + 1, sizeof *j->at);
    if (j->idx == NULL || j->code == NULL || j->len == NULL || j->at == NULL)
        die("out of memory");
    OK(offpay_terminal_journal(j->st->t, journal_fn, j));
    if (j->k != j->st->n_acc)
        die("t%u: the journal holds %zu entries, the model %zu accepted: "
            "an accepted payment lost",
            ti, j->k, j->st->n_acc);
}

static void free_walk(jwalk *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->code[i]);
    free(j->idx);
    free(j->code);
    free(j->len);
    free(j->at);
}

/* Sends items [from, from + n) of j as one batch; reply_lost: the ledger
 * commits but the terminal never hears it (nothing is marked uploaded).
 * Returns OFFPAY_EIO when a power cut took the ledger down mid-batch. */
static offpay_err send_batch(uint32_t ti, jwalk *j, size_t from, size_t n,
                             int reply_lost, int *decided_all)
{
    offpay_settle_item   it[200];
    offpay_settle_result res[200];
    offpay_err           rc;
    int                  cut = 0;

    for (size_t i = 0; i < n; i++) {
        acc *a = &W.acc[j->idx[from + i]];
        it[i] = (offpay_settle_item){j->code[from + i], j->len[from + i],
                                     a->charged, j->at[from + i], a->seq};
    }
    if (P.faults && !g_final && chance(8)) { /* a ledger power cut */
        cut = 1;
        arm(40, NULL);
    }
    rc = offpay_ledger_settle_batch(W.l, W.t[ti].id, it, n, W.now, res);
    if (cut) {
        int dead = offpay__faultfs_dead();

        offpay_ledger_close(W.l);
        W.l = NULL;
        reboot();
        open_ledger();
        if (dead) {
            S.cut_ledger++;
            /* the server died: whatever it committed, the terminal never
             * heard it; the resend must replay it */
            if (rc == OFFPAY_OK) {
                for (size_t i = 0; i < n; i++)
                    take_result(j->idx[from + i], &res[i]);
                S.reply_lost++;
            }
            return OFFPAY_EIO;
        }
    }
    if (rc != OFFPAY_OK)
        die("settle_batch: %s", offpay_errname(rc));
    S.batches++;
    S.items += n;
    *decided_all = 1;
    for (size_t i = 0; i < n; i++) {
        acc *a = &W.acc[j->idx[from + i]];
        int  was = a->pres != 0 || a->rejected;

        if (was && !res[i].replay && res[i].outcome != OFFPAY_SETTLE_REJECTED)
            die("t%u seq %" PRId64 " settled again, not as a replay", ti,
                a->seq);
        if (take_result(j->idx[from + i], &res[i]) && !reply_lost)
            a->uploaded = 1;
        else
            *decided_all = 0;
    }
    return OFFPAY_OK;
}

/* Keeps a copy of items [from, from + n) of j: a batch to replay later. */
static void keep_last(uint32_t ti, jwalk *j, size_t from, size_t n)
{
    sterm *st = &W.t[ti];

    for (size_t i = 0; i < st->n_last; i++)
        free(st->last_code[i]);
    st->n_last = 0;
    for (size_t i = 0; i < n; i++) {
        st->last[i] = j->idx[from + i];
        st->last_len[i] = j->len[from + i];
        st->last_at[i] = j->at[from + i];
        st->last_code[i] = malloc(j->len[from + i]);
        if (st->last_code[i] == NULL)
            die("out of memory");
        memcpy(st->last_code[i], j->code[from + i], j->len[from + i]);
        st->n_last++;
    }
}

/* An old batch arrives again (a proxy's retry, an attacker): every item
 * must come back as the replay of the result it had. */
static void replay_old(uint32_t ti)
{
    sterm               *st = &W.t[ti];
    offpay_settle_item   it[200];
    offpay_settle_result res[200];

    for (size_t i = 0; i < st->n_last; i++)
        it[i] = (offpay_settle_item){st->last_code[i], st->last_len[i],
                                     W.acc[st->last[i]].charged, st->last_at[i],
                                     W.acc[st->last[i]].seq};
    OK(offpay_ledger_settle_batch(W.l, st->id, it, st->n_last, W.now, res));
    for (size_t i = 0; i < st->n_last; i++) {
        acc *a = &W.acc[st->last[i]];

        if (res[i].outcome != OFFPAY_SETTLE_REJECTED &&
            (!res[i].replay || res[i].presentment != a->pres ||
             res[i].paid != a->paid))
            die("t%u seq %" PRId64 ": an old batch replayed was not a replay",
                ti, a->seq);
        take_result(st->last[i], &res[i]);
    }
    S.old_replay++;
}

static void terminal_upload(uint32_t ti, int faults)
{
    sterm *st = &W.t[ti];
    jwalk  j;
    size_t done = 0;
    double t0 = mono();

    if (st->lost)
        return;
    walk_journal(ti, &j, st->n_acc + 1);
    if (faults && st->n_last > 0 && chance(100))
        replay_old(ti);
    while (done < j.n) {
        size_t n = 1 + rnd(200);
        int    all = 0;
        int    r = faults ? (int)rnd(100) : 99;

        if (n > j.n - done)
            n = j.n - done;
        if (r < 3) { /* the connection drops before anything arrives */
            S.cut_before++;
            break;
        }
        if (r < 6 && n > 1) { /* cut mid-batch: the first part arrived */
            n = 1 + rnd(n - 1);
            send_batch(ti, &j, done, n, 0, &all);
            S.cut_partial++;
            break;
        }
        if (r < 9) { /* the reply is lost after the commit */
            if (send_batch(ti, &j, done, n, 1, &all) == OFFPAY_OK)
                S.reply_lost++;
            break;
        }
        if (send_batch(ti, &j, done, n, 0, &all) != OFFPAY_OK)
            break;
        if (r < 12) { /* delivered twice */
            send_batch(ti, &j, done, n, 0, &all);
            S.dup_delivery++;
        }
        if (faults && chance(100))
            keep_last(ti, &j, done, n);
        done += n;
    }
    free_walk(&j);
    g_secs[T_TUPLOAD] += mono() - t0;
}

/* ---- wallet uploads --------------------------------------------------- */

/* Wallet wi uploads the codes of its log from its cursor on (the codes it
 * has not uploaded yet; a code with a receipt settles at once, one without
 * is its terminal's to upload), with every receipt it kept. */
static void wallet_upload(uint32_t wi)
{
    swallet             *sw = &W.w[wi];
    size_t               n = offpay_wallet_n_spends(sw->w), from = sw->upl_from;
    offpay_wallet_item   it[100];
    offpay_wallet_result res[100];
    uint8_t              rb[100][OFFPAY_SETTLE_RECEIPTS_MAX]
              [OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    uint8_t *code[100];
    double   t0 = mono();

    while (from < n) {
        size_t k = n - from < 100 ? n - from : 100, done = 0;

        memset(it, 0, sizeof it);
        for (size_t i = 0; i < k; i++) {
            offpay_wallet_spend sp;
            char               *text = NULL;

            OK(offpay_wallet_get_spend(sw->w, from + i, &sp));
            OK(offpay_wallet_code_text(sw->w, from + i, &text));
            OK(offpay_text_decode(text, strlen(text), &code[i],
                                  &it[i].code_len));
            free(text);
            it[i].code = code[i];
            it[i].n_receipts = sp.n_receipts > OFFPAY_SETTLE_RECEIPTS_MAX
                                   ? OFFPAY_SETTLE_RECEIPTS_MAX
                                   : sp.n_receipts;
            for (size_t r = 0; r < it[i].n_receipts; r++) {
                offpay_receipt rc;
                OK(offpay_wallet_get_receipt(sw->w, from + i, r, &rc));
                OK(offpay_receipt_encode(&rc, rb[i][r], sizeof rb[i][r],
                                         &it[i].receipt_len[r]));
                it[i].receipt[r] = rb[i][r];
            }
        }
        OK(offpay_ledger_wallet_upload(W.l, sw->pk, it, k, W.now, res, &done));
        S.wallet_uploads++;
        S.wallet_items += k;
        for (size_t i = 0; i < k; i++) {
            free(code[i]);
            for (size_t r = 0; r < res[i].n_receipts; r++) {
                offpay_receipt_result *rr = &res[i].receipt[r];
                size_t                 a;

                if (rr->outcome == OFFPAY_RECEIPT_REJECTED) {
                    if (rr->reason == OFFPAY_ECODE_FUTURE)
                        continue;
                    if (!sw->fraud)
                        die("wallet %u: a receipt of an honest code "
                            "rejected: %s",
                            wi, offpay_errname(rr->reason));
                    continue;
                }
                if (rr->outcome == OFFPAY_RECEIPT_MISMATCH)
                    die("wallet %u: receipt mismatch case %" PRIu64, wi,
                        rr->case_id);
                a = hget(res[i].serial, res[i].counter,
                         term_index(rr->terminal_id));
                if (a == 0) {
                    if (!sw->fraud)
                        die("wallet %u: a receipt no terminal gave", wi);
                    continue;
                }
                if (rr->outcome == OFFPAY_RECEIPT_SETTLED) {
                    acc *ac = &W.acc[a - 1];
                    if (!rr->replay)
                        S.receipt_settled++;
                    if (ac->pres == 0 && !ac->rejected) {
                        ac->pres = rr->settle.presentment;
                        ac->paid = rr->settle.paid;
                        ac->outcome = (uint8_t)rr->settle.outcome;
                        ac->why = rr->settle.reason;
                        count_outcome(&rr->settle);
                    }
                    note_pres(rr->settle.presentment,
                              (uint32_t)W.t[ac->term].merchant, rr->settle.paid,
                              rr->settle.covered, ac->serial);
                }
            }
        }
        from += k;
    }
    sw->upl_from = n;
    g_secs[T_WUPLOAD] += mono() - t0;
}

/* ---- the checks ------------------------------------------------------- */

static void check_cases(unsigned verify_max)
{
    offpay_case_filter f;
    offpay_case_info  *c = NULL;
    size_t             n = 0;
    unsigned           verified = 0;

    memset(&f, 0, sizeof f);
    for (;;) {
        f.after_id = W.last_case;
        OK(offpay_ledger_cases(W.l, &f, 500, &c, &n));
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            scred *sc = cred_of(c[i].serial);

            S.cases++;
            W.last_case = c[i].id;
            if (sc == NULL)
                die("case %" PRIu64 " against unknown serial", c[i].id);
            sc->kinds |= 1 << c[i].kind;
            if (!W.w[sc->wallet].fraud)
                die("case %" PRIu64 " (%s) against the honest credential "
                    "%" PRIu64 " of wallet %u",
                    c[i].id, offpay_case_kind_name(c[i].kind), c[i].serial,
                    sc->wallet);
            if (c[i].kind == OFFPAY_CASE_RECEIPT_MISMATCH)
                die("receipt_mismatch case %" PRIu64 ": terminals are honest",
                    c[i].id);
            if (verified < verify_max || rnd(20) == 0) {
                char                  *ev = NULL;
                size_t                 len = 0;
                offpay_evidence_report rep;

                OK(offpay_ledger_evidence(W.l, c[i].id, W.bundle_bytes,
                                          W.bundle_len, &ev, &len));
                offpay_err rc = offpay_evidence_verify((const uint8_t *)ev, len,
                                                       W.root.pk, &rep);
                if (rc != OFFPAY_OK) {
                    char  name[700];
                    FILE *fp;

                    snprintf(name, sizeof name, "%s/case-%" PRIu64 ".json",
                             g_dir, c[i].id);
                    fp = fopen(name, "w");
                    if (fp != NULL) {
                        fwrite(ev, 1, len, fp);
                        fclose(fp);
                    }
                    die("evidence of case %" PRIu64 " (%s, serial %" PRIu64
                        ", wallet %u of kind %d) does not verify: %s (%s); "
                        "the file is %s",
                        c[i].id, offpay_case_kind_name(c[i].kind), c[i].serial,
                        sc->wallet, W.w[sc->wallet].kind, offpay_errname(rc),
                        rep.why, name);
                }
                free(ev);
                if (rep.serial != c[i].serial || rep.kind != c[i].kind)
                    die("evidence of case %" PRIu64 " names another case",
                        c[i].id);
                verified++;
                S.evidence_verified++;
            }
        }
        free(c);
        c = NULL;
    }
}

static void check_day(void)
{
    double              t0 = mono();
    offpay_audit_report r;
    offpay_err          rc;
    int64_t            *sum = calloc(W.n_merchants, sizeof *sum), bal;

    if (sum == NULL)
        die("out of memory");
    double ta = mono();
    rc = offpay_ledger_audit(W.l, &r);
    g_secs[T_AUDIT] += mono() - ta;
    if (rc != OFFPAY_OK)
        die("audit: %s (imbalanced %" PRIu64 ", negative %" PRIu64
            ", escrow %" PRIu64 ", settle %" PRIu64 ", release %" PRIu64
            ", request %" PRIu64 ", refund %" PRIu64 ", marks %" PRIu64 ")",
            offpay_errname(rc), r.imbalanced, r.negative, r.escrow_mismatch,
            r.settle_mismatch, r.release_mismatch, r.request_mismatch,
            r.refund_mismatch, r.mark_mismatch);
    for (size_t i = 0; i < r.n_money; i++)
        if (r.money[i].inside != r.money[i].deposits_net)
            die("conservation: currency %u: inside %" PRId64
                " != deposits %" PRId64,
                (unsigned)r.money[i].currency, r.money[i].inside,
                r.money[i].deposits_net);
    /* every merchant holds exactly what the results the ledger gave say,
     * less what it refunded */
    for (size_t i = 0; i < W.cap_pres; i++)
        if (W.pres[i].id != 0)
            sum[W.pres[i].merchant] += W.pres[i].paid - W.pres[i].refunded;
    for (size_t m = 0; m < W.n_merchants; m++)
        sum[m] -= W.m_out[m]; /* paid out, less what refunds paid in */
    for (size_t m = 0; m < W.n_merchants; m++) {
        OK(offpay_ledger_balance(W.l, W.m_account[m], &bal, NULL, NULL));
        if (bal != sum[m])
            die("merchant %zu holds %" PRId64 ", its results say %" PRId64, m,
                bal, sum[m]);
    }
    free(sum);
    /* the issuer's loss: what the guarantee paid, less the refunds that
     * gave it back, within the rule */
    OK(offpay_ledger_balance(W.l, W.guarantee, &bal, NULL, NULL));
    if (W.guarantee_funds - bal != S.covered - S.refunded_g)
        die("the guarantee paid %" PRId64 ", the results and refunds say "
            "%" PRId64,
            W.guarantee_funds - bal, S.covered - S.refunded_g);
    for (size_t i = 0; i < W.n_cred; i++) {
        scred      *sc = &W.cred[i];
        offpay_risk risk;

        offpay_risk_defaults(EUR, &risk);
        if (sc->covered > 0 && !W.w[sc->wallet].fraud)
            die("the guarantee paid %" PRId64 " for honest credential "
                "%" PRIu64,
                sc->covered, sc->serial);
        if (sc->covered > risk.cumulative * (int64_t)sc->n_terms)
            die("loss %" PRId64 " on credential %" PRIu64
                " beyond the rule (%u terminals)",
                sc->covered, sc->serial, sc->n_terms);
    }
    ta = mono();
    check_cases(P.evidence);
    g_secs[T_CASES] += mono() - ta;
    g_secs[T_CHECK] += mono() - t0;
}

static void check_end(void)
{
    /* Every acceptance at a terminal still there is decided; at a lost
     * one, every one whose receipt its wallet kept. */
    for (size_t i = 0; i < W.n_acc; i++) {
        acc     *a = &W.acc[i];
        swallet *sw = &W.w[a->wallet];

        if (W.t[a->term].lost && !a->receipt)
            continue;
        if (W.t[a->term].lost && sw->fraud)
            continue; /* a restored wallet may have lost the receipt */
        if (a->pres == 0 && !a->rejected)
            die("acceptance t%u seq %" PRId64 " (serial %" PRIu64
                ", counter %u) never settled%s",
                a->term, a->seq, a->serial, a->counter,
                W.t[a->term].lost ? " (lost terminal, receipt kept)" : "");
        if (a->rejected && a->reason != OFFPAY_ELATE)
            die("acceptance t%u seq %" PRId64 " rejected: %s", a->term, a->seq,
                offpay_errname(a->reason));
        if (!a->rejected && a->outcome == OFFPAY_SETTLE_UNPAID &&
            a->why == OFFPAY_ELATE) {
            S.late_refused++; /* after the late window: the stated rule */
            continue;
        }
        if (!sw->fraud && !a->rejected && a->paid != a->charged &&
            W.pres[a->pres].covered == 0)
            die("honest acceptance t%u seq %" PRId64 " (serial %" PRIu64
                ", counter %u) charged %" PRId64 ", paid %" PRId64
                " (outcome %d, %s)",
                a->term, a->seq, a->serial, a->counter, a->charged, a->paid,
                a->outcome, offpay_errname(a->why));
    }
    /* Every fraud that reached the issuer is attributed. */
    for (size_t i = 0; i < W.n_ev; i++) {
        fevent *e = &W.ev[i];
        acc    *a = &W.acc[e->a], *b = &W.acc[e->b];
        scred  *sc = cred_of(e->serial);

        if (a->pres == 0 || b->pres == 0 || a->pres == b->pres) {
            S.unattributable++;
            continue;
        }
        if (sc == NULL || !(sc->kinds & (1 << e->kind)))
            die("%s of (serial %" PRIu64 ", counter %u) at t%u and t%u has "
                "no case",
                offpay_case_kind_name((offpay_case_kind)e->kind), e->serial,
                e->counter, a->term, b->term);
    }
}

/* ---- planted violations (--plant): the checks can fail ------------------ */

/* 1: the newest journal row of a terminal deleted behind its back (an
 * accepted payment lost); 2: a merchant credited outside settlement. */
static void plant(void)
{
    if (P.plant == 1) {
        for (uint32_t i = P.terminals; i-- > 0;)
            if (!W.t[i].lost && W.t[i].n_acc > 0) {
                char     path[700];
                sqlite3 *db = NULL;

                snprintf(path, sizeof path, "%s/terminal.db", W.t[i].dir);
                if (sqlite3_open(path, &db) != SQLITE_OK ||
                    sqlite3_exec(db,
                                 "DROP TRIGGER journal_append_only;"
                                 "DELETE FROM journal WHERE seq = (SELECT "
                                 "MAX(seq) FROM journal)",
                                 NULL, NULL, NULL) != SQLITE_OK)
                    die("plant: %s", sqlite3_errmsg(db));
                sqlite3_close(db);
                printf("sim: planted: t%u's newest journal row deleted\n", i);
                return;
            }
    } else {
        OK(offpay_ledger_deposit(W.l, W.m_account[0], 1, "planted", W.now,
                                 NULL));
        printf("sim: planted: 1 cent credited to merchant 0\n");
    }
}

/* ---- refunds ---------------------------------------------------------- */

/* Merchants give money back: a few presentments a day refunded in part
 * or in whole, each under a key, the reply sometimes lost and the refund
 * sent again (docs/settlement.md §13). Now and then a merchant is paid
 * out whole first; a refund its account cannot cover is refused
 * (EFUNDS) and made again funded, the merchant paying the amount in. The
 * model says how much of each goes back to the guarantee (its cover
 * first) and what each merchant holds, and the ledger must agree. */
static void refund_some(void)
{
    size_t n = (size_t)rnd(4);

    if (chance(300)) { /* a merchant paid out */
        size_t  m = (size_t)rnd(W.n_merchants);
        int64_t bal = 0;

        OK(offpay_ledger_balance(W.l, W.m_account[m], &bal, NULL, NULL));
        if (bal > 0) {
            OK(offpay_ledger_withdraw(W.l, W.m_account[m], bal, "payout",
                                      W.now, NULL));
            W.m_out[m] += bal;
            S.payouts++;
        }
    }

    for (size_t k = 0; k < n && W.cap_pres > 0; k++) {
        pres         *p = NULL;
        scred        *sc;
        offpay_refund f, again;
        offpay_err    rc;
        int           replayed = -1, funded = 0;
        int64_t       amount, g;
        char          key[48];

        /* half the time one of a credential the guarantee paid for, if
         * any of that is not back yet: they are few, and their refunds
         * take the other path */
        if (chance(500))
            for (size_t i = 0; i < W.cap_pres && p == NULL; i++) {
                pres *q = &W.pres[(i + rnd(W.cap_pres)) % W.cap_pres];

                sc = q->id != 0 ? cred_of(q->serial) : NULL;
                if (sc != NULL && q->paid > q->refunded &&
                    sc->covered > sc->refunded_g)
                    p = q;
            }
        for (int tries = 0; tries < 20 && p == NULL; tries++) {
            pres *q = &W.pres[rnd(W.cap_pres)];

            if (q->id != 0 && q->paid > q->refunded)
                p = q;
        }
        if (p == NULL)
            return;
        amount = 1 + (int64_t)rnd((uint64_t)(p->paid - p->refunded));
        /* the guarantee first, as far as it paid for the credential and
         * has not had it back through any of its presentments */
        sc = cred_of(p->serial);
        if (sc == NULL)
            die("presentment %" PRIu64 ": serial %" PRIu64 " unknown", p->id,
                p->serial);
        g = sc->covered - sc->refunded_g;
        g = g < 0 ? 0 : g > amount ? amount : g;
        snprintf(key, sizeof key, "refund-%u-%zu", g_day, k);
        rc = offpay_ledger_refund(W.l, p->id, amount, 0, "returned", key,
                                  W.now, &f, &replayed);
        if (rc == OFFPAY_EFUNDS) { /* paid out: the merchant pays it in */
            int64_t bal = 0;

            OK(offpay_ledger_balance(W.l, W.m_account[p->merchant], &bal,
                                     NULL, NULL));
            if (bal >= amount)
                die("refund of %" PRId64 ": EFUNDS with %" PRId64 " held",
                    amount, bal);
            funded = 1;
            rc = offpay_ledger_refund(W.l, p->id, amount, 1, "returned", key,
                                      W.now, &f, &replayed);
        }
        OK(rc);
        if (replayed != 0 || f.amount != amount || f.to_guarantee != g ||
            f.refunded != p->refunded + amount)
            die("refund of %" PRId64 " of presentment %" PRIu64 ": %" PRId64
                " to the guarantee, the model says %" PRId64,
                amount, p->id, f.to_guarantee, g);
        if (chance(300)) { /* the reply lost: the operator sends it again */
            OK(offpay_ledger_refund(W.l, p->id, amount, funded, "returned",
                                    key, W.now, &again, &replayed));
            if (replayed != 1 || again.transfer != f.transfer ||
                again.to_guarantee != g)
                die("refund %s sent again: not replayed", key);
            S.refund_replays++;
        }
        p->refunded += amount;
        sc->refunded_g += g;
        if (funded) {
            W.m_out[p->merchant] -= amount;
            S.funded++;
        }
        S.refunds++;
        S.refunded += amount;
        S.refunded_g += g;
    }
}

/* ---- the days --------------------------------------------------------- */

static void daily(void)
{
    uint8_t *rl = NULL;
    size_t   rl_len = 0, released = 0;

    /* the issuer: releases, revocations, lists */
    OK(offpay_ledger_release_due(W.l, W.now, &released));
    S.released += released;
    {
        /* the marking job, in batches small enough to leave some of the
         * day unmarked: check_day's balances and the audit read the marks
         * (019_balance_marks) */
        uint64_t marked;
        int      more;

        OK(offpay_ledger_marks(W.l, W.now, 1 + rnd(400), &marked, &more));
    }
    refund_some();
    if (chance(300)) { /* an honest payer's credential revoked (lost phone) */
        uint32_t wi = (uint32_t)rnd(P.wallets);
        for (size_t i = W.n_cred; i-- > 0;)
            if (W.cred[i].wallet == wi) {
                OK(offpay_ledger_revoke(W.l, W.cred[i].serial, "lost phone",
                                        W.now));
                S.revocations++;
                renew(wi);
                break;
            }
    }
    OK(offpay_ledger_revlist(W.l, 0, W.now, &rl, &rl_len));
    for (uint32_t i = 0; i < P.terminals; i++) {
        sterm     *st = &W.t[i];
        offpay_err rc;

        if (st->lost)
            continue;
        if (st->down_until == 0 && chance(20)) /* offline for days */
            st->down_until = g_day + 2 + (unsigned)rnd(5);
        if (st->down_until > g_day) {
            S.delayed++;
            continue;
        }
        st->down_until = 0;
        if (!chance(50)) /* one day in twenty it uploads nothing */
            terminal_upload(i, 1);
        else
            S.delayed++;
        rc = offpay_terminal_sync(st->t, NULL, 0, rl, rl_len, tnow(i));
        if (rc != OFFPAY_OK && rc != OFFPAY_EFUTURE_DATED)
            die("t%u sync: %s", i, offpay_errname(rc));
    }
    free(rl);
    for (uint32_t i = 0; i < P.wallets; i++)
        if (!W.w[i].fraud || W.w[i].kind == RESTORER)
            if (chance(350))
                wallet_upload(i);
}

/* Events of the day: frauds set up, clocks, losses, crashes. */
static uint32_t pick_kind(int kind)
{
    for (int tries = 0; tries < 64; tries++) {
        uint32_t wi = (uint32_t)rnd(P.wallets);
        if (W.w[wi].kind == kind)
            return wi;
    }
    return (uint32_t)kind - 1; /* wallets 0, 1, 2 are of each kind */
}

static void events(void)
{
    uint32_t wi = pick_kind(CLONER), ti = (uint32_t)rnd(P.terminals);
    swallet *sw = &W.w[wi];
    sterm   *st = &W.t[ti];

    if (sw->clone == NULL && chance(200)) {
        snprintf(sw->clone_path, sizeof sw->clone_path, "%s.clone", sw->path);
        copy_wallet(sw->path, sw->clone_path);
        OK(offpay_wallet_open(sw->clone_path, PASS, &sw->clone));
        S.clones++;
    }
    wi = pick_kind(RESTORER);
    sw = &W.w[wi];
    if (!sw->snap) {
        snprintf(sw->snap_path, sizeof sw->snap_path, "%s.old", sw->path);
        copy_wallet(sw->path, sw->snap_path);
        sw->snap = 1;
    } else if (sw->snap == 1 && chance(100)) {
        offpay_wallet_close(sw->w);
        copy_wallet(sw->snap_path, sw->path);
        OK(offpay_wallet_open(sw->path, PASS, &sw->w));
        sw->snap = 2;
        sw->fraud = 1;
        sw->upl_from = 0;
        S.restores++;
    }
    if (!st->lost && chance(100)) {
        st->back_until = (int)(W.now + DAY / 2);
        S.clock_jumps++;
    }
    if (!st->lost && !st->flaky && chance(40) &&
        S.lost_terminals + 2 < P.terminals / 4) {
        st->lost = 1; /* destroyed before its next upload */
        offpay_terminal_close(st->t);
        st->t = NULL;
        S.lost_terminals++;
    }
    if (P.faults && chance(300)) { /* crash: handles dropped, reopened */
        ti = (uint32_t)rnd(P.terminals);
        if (!W.t[ti].lost) {
            offpay_terminal_close(W.t[ti].t);
            open_terminal(ti);
            S.crash_terminal++;
        }
        wi = (uint32_t)rnd(P.wallets);
        offpay_wallet_close(W.w[wi].w);
        OK(offpay_wallet_open(W.w[wi].path, PASS, &W.w[wi].w));
        S.crash_wallet++;
        offpay_ledger_close(W.l);
        open_ledger();
        S.crash_ledger++;
    }
}

static void teardown(void)
{
    offpay_ledger_close(W.l);
    for (uint32_t i = 0; i < P.terminals; i++) {
        offpay_terminal_close(W.t[i].t);
        free(W.t[i].acc);
        for (size_t k = 0; k < W.t[i].n_last; k++)
            free(W.t[i].last_code[k]);
    }
    for (uint32_t i = 0; i < P.wallets; i++) {
        offpay_wallet_close(W.w[i].w);
        offpay_wallet_close(W.w[i].clone);
    }
    for (size_t i = 0; i < W.n_cred; i++)
        free(W.cred[i].terms);
    free(W.cred);
    free(W.t);
    free(W.w);
    free(W.acc);
    free(W.pres);
    free(W.ev);
    free(W.hkey);
    free(W.hval);
    free(W.m_account);
    free(W.m_out);
    offpay_keypair_wipe(&W.root);
    offpay_keypair_wipe(&W.issuer);
}

static void rm_rf(const char *dir)
{
    char cmd[700];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "sim: could not remove %s\n", dir);
}

static double elapsed(const struct timespec *a)
{
    struct timespec b;

    clock_gettime(CLOCK_MONOTONIC, &b); /* figures only, never a decision */
    return (double)(b.tv_sec - a->tv_sec) +
           (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void print_stats(const stats *s, const char *what, double secs)
{
    printf("%s: payments %" PRIu64 " (accepted %" PRIu64 ", refused %" PRIu64
           ", bound %" PRIu64 ", unbound %" PRIu64 ", receipts %" PRIu64
           ") in %.1f s = %.0f payments/s\n",
           what, s->payments, s->accepted, s->refused, s->bound, s->unbound,
           s->receipts, secs, secs > 0 ? (double)s->payments / secs : 0.0);
    printf("  actors: clones %" PRIu64 ", restores %" PRIu64
           ", duplicate presentments %" PRIu64 ", revocations %" PRIu64
           ", lost terminals %" PRIu64 ", clock jumps back %" PRIu64
           ", renewals %" PRIu64 "\n",
           s->clones, s->restores, s->duplicates, s->revocations,
           s->lost_terminals, s->clock_jumps, s->renewals);
    printf("  network: batches %" PRIu64 " (items %" PRIu64
           "), cut before %" PRIu64 ", cut mid-batch %" PRIu64
           ", reply lost after commit %" PRIu64 ", delivered twice %" PRIu64
           ", terminal days offline %" PRIu64 ", not yet decided (future) "
           "%" PRIu64 "; wallet uploads %" PRIu64 " (codes %" PRIu64
           ", receipts that settled %" PRIu64 ")\n",
           s->batches, s->items, s->cut_before, s->cut_partial, s->reply_lost,
           s->dup_delivery, s->delayed, s->future, s->wallet_uploads,
           s->wallet_items, s->receipt_settled);
    printf("  faults: power cuts terminal %" PRIu64 " / wallet %" PRIu64
           " / ledger %" PRIu64 ", crashes terminal %" PRIu64 " / wallet "
           "%" PRIu64 " / ledger %" PRIu64 ", refused writes %" PRIu64
           ", EOUTCOME %" PRIu64 "\n",
           s->cut_terminal, s->cut_wallet, s->cut_ledger, s->crash_terminal,
           s->crash_wallet, s->crash_ledger, s->write_refused, s->outcome);
    printf("  settlement: settled %" PRIu64 ", guaranteed %" PRIu64
           ", duplicate %" PRIu64 ", double spend %" PRIu64 ", unpaid "
           "%" PRIu64 ", rejected %" PRIu64 " (late %" PRIu64
           "); escrows released %" PRIu64 "; paid %" PRId64
           " cents, guarantee %" PRId64 " cents; refunds %" PRIu64
           " (sent again %" PRIu64 ", funded %" PRIu64 " after %" PRIu64
           " payouts) of %" PRId64 " cents, %" PRId64
           " of them back to the guarantee\n",
           s->settled, s->guaranteed, s->dup_paid, s->ds_paid, s->unpaid,
           s->rejected, s->late_refused, s->released, s->paid, s->covered,
           s->refunds, s->refund_replays, s->funded, s->payouts, s->refunded,
           s->refunded_g);
    printf("  cases %" PRIu64 " (evidence verified offline %" PRIu64
           "), frauds never seen by the issuer %" PRIu64
           "; invariant violations 0\n",
           s->cases, s->evidence_verified, s->unattributable);
    if (s == &S)
        printf("  seconds: payments %.1f, terminal uploads %.1f, wallet "
               "uploads %.1f, checks %.1f (audit %.1f, cases %.1f), events "
               "%.1f\n",
               g_secs[T_PAY], g_secs[T_TUPLOAD], g_secs[T_WUPLOAD],
               g_secs[T_CHECK], g_secs[T_AUDIT], g_secs[T_CASES],
               g_secs[T_EVENTS]);
    printf("  refused by:");
    for (int e = 0; e < 128; e++)
        if (s->why[e] != 0)
            printf(" %s %" PRIu64, offpay_errname((offpay_err)e), s->why[e]);
    printf("\n");
}

static void add_stats(stats *t, const stats *s)
{
    const uint64_t *a = (const uint64_t *)s;
    uint64_t       *b = (uint64_t *)t;

    for (size_t i = 0; i < sizeof *s / sizeof(uint64_t); i++)
        b[i] += a[i];
}

static void run(void)
{
    const char     *tmp = getenv("TMPDIR");
    struct timespec t0;
    uint64_t        per_day;

    memset(&S, 0, sizeof S);
    memset(g_secs, 0, sizeof g_secs);
    g_final = 0;
    g_rng = P.seed * 0x2545f4914f6cdd1dull + 1;
    g_lib = P.seed ^ 0x6f666670617973ull;
    g_day = 0;
    if (tmp == NULL || *tmp == '\0')
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/offpay-sim-XXXXXX", tmp);
    if (mkdtemp(g_dir) == NULL)
        die("mkdtemp: %s", strerror(errno));
    printf("sim: seed %" PRIu64 " wallets %u terminals %u payments %" PRIu64
           " days %u faults %s dir %s\n",
           P.seed, P.wallets, P.terminals, P.payments, P.days,
           P.faults ? "on" : "off", g_dir);
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    setup();
    /* The keys come from the seed too: the same seed, the same keys. */
    printf("sim: root key %02x%02x%02x%02x..., first wallet key "
           "%02x%02x%02x%02x...\n",
           W.root.pk[0], W.root.pk[1], W.root.pk[2], W.root.pk[3], W.w[0].pk[0],
           W.w[0].pk[1], W.w[0].pk[2], W.w[0].pk[3]);
    fflush(stdout);
    per_day = (P.payments + P.days - 1) / P.days;
    for (g_day = 1; g_day <= P.days; g_day++) {
        uint32_t day0 = T0 + (g_day - 1) * DAY;
        uint64_t n = per_day;

        if (S.payments + n > P.payments)
            n = P.payments - S.payments;
        for (uint64_t i = 0; i < n; i++) {
            W.now = day0 + (uint32_t)((DAY - 7200) * i / (n ? n : 1));
            double t = mono();
            if (rnd(n) < 4 + P.wallets / 25) /* so many events a day */
                events();
            g_secs[T_EVENTS] += mono() - t;
            t = mono();
            one_payment();
            g_secs[T_PAY] += mono() - t;
        }
        W.now = day0 + DAY - 3600;
        if (g_day == 2 && P.plant != 0)
            plant();
        daily();
        check_day();
        if (P.verbose)
            printf("sim: day %u done: %" PRIu64 " payments, %" PRIu64
                   " cases\n",
                   g_day, S.payments, S.cases);
        fflush(stdout);
    }
    /* The end: every terminal still there uploads everything, every
     * wallet its whole log, when the clocks have passed every acceptance. */
    W.now = T0 + P.days * DAY + DAY;
    g_final = 1;
    for (uint32_t i = 0; i < P.terminals; i++)
        if (!W.t[i].lost)
            terminal_upload(i, 0);
    for (uint32_t i = 0; i < P.wallets; i++) {
        if (chance(100)) /* the whole log again: every item a replay */
            W.w[i].upl_from = 0;
        if (W.w[i].kind != CLONER || !W.w[i].fraud)
            wallet_upload(i);
    }
    check_day();
    check_end();
    print_stats(&S, "sim: run", elapsed(&t0));
    add_stats(&TOT, &S);
    teardown();
    if (!P.keep)
        rm_rf(g_dir);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sim [--seed N] [--runs K] [--wallets N] [--terminals N]\n"
            "           [--payments N] [--days N] [--no-faults] [--evidence N]"
            " [--verbose] [--keep]\n"
            "           [--plant lost|money]\n"
            "Runs seeds N..N+K-1; a failure prints what to replay.\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct timespec t0;
    uint64_t        first;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--no-faults") == 0) {
            P.faults = 0;
            continue;
        }
        if (strcmp(a, "--verbose") == 0) {
            P.verbose = 1;
            continue;
        }
        if (strcmp(a, "--keep") == 0) {
            P.keep = 1;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--seed") == 0)
            P.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--runs") == 0)
            P.runs = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--wallets") == 0)
            P.wallets = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--terminals") == 0)
            P.terminals = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--payments") == 0)
            P.payments = strtoull(v, NULL, 10);
        else if (strcmp(a, "--days") == 0)
            P.days = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--plant") == 0)
            P.plant = strcmp(v, "lost") == 0    ? 1
                      : strcmp(v, "money") == 0 ? 2
                                                : -1;
        else if (strcmp(a, "--evidence") == 0)
            P.evidence = (unsigned)strtoul(v, NULL, 10);
        else
            usage();
    }
    if (P.wallets < 2 || P.terminals < 4 || P.days < 1 || P.runs < 1 ||
        P.plant < 0)
        usage();
    setenv("OFFPAY_KDF_COST", "test", 1);
    if (randombytes_set_implementation(&rb_impl) != 0 ||
        offpay_init() != OFFPAY_OK)
        die("cannot initialize");
    if (P.faults) {
        if (offpay__faultfs_install() != 0)
            die("faultfs");
        sqlite3_vfs_register(sqlite3_vfs_find("unix"), 1);
        faultfs_hook = offpay__file_fault_hook;
    }
    offpay__file_fault_hook = sim_hook;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    first = P.seed;
    for (unsigned r = 0; r < P.runs; r++) {
        P.seed = first + r;
        run();
    }
    if (P.runs > 1) {
        printf("sim: seeds %" PRIu64 "..%" PRIu64 "\n", first,
               first + P.runs - 1);
        print_stats(&TOT, "sim: all", elapsed(&t0));
    }
    return 0;
}
