/*
 * creds_bench.c — what a payer's long history costs the reads and writes
 * that touch its account (docs/benchmarks.md, "A payer's long history"):
 * a transit payer's account lives for years and takes a new credential
 * every day or more often. On a real SQLite ledger (WAL, synchronous
 * FULL) one enrolled wallet takes N allowances of 10.00, one every 6
 * hours, 2.00 of each settled by a terminal, the release job and the
 * marking job run once a day as offpayd runs them (so the history holds
 * expired, released and live credentials, and the marks); the audit must
 * pass. Then, as medians of RUNS, on that account and on accounts of one
 * credential in the same ledger, taken in turn so that both see the same
 * load: an operator's credential issue (offpay_ledger_issue, POST
 * /v1/admin/credentials), the wallet's allowance, what the account holds
 * for late codes (offpay_ledger_late_hold), the wallet's status with its
 * balance (offpay_ledger_wallet_get), the operator's account found by its
 * reference (offpay_ledger_wallet_accounts_at), the wallet's credentials
 * as its sync read them before 0.19.0, every one
 * (offpay_ledger_wallet_creds), its key's cases
 * (offpay_ledger_wallet_cases), and the page of the open ones its status
 * lists since (offpay_ledger_wallet_creds_page, the newest 500 open ones
 * with their count); beside SQLite's own durable write of one
 * row into the same file. Wall time, and the thread's CPU time (which
 * the machine's other load changes less; a commit's fsync is not in it).
 * Last, once each (it is done once to a wallet), the lost wallet's report
 * (offpay_ledger_wallet_revoke with offpay_ledger_wallet_due, as POST
 * /v1/admin/wallets/N/revoke makes it) on the long history and on an
 * account of one, with how many credentials each revoked, and how many
 * serials the full revocation list then names.
 *
 *   creds_bench [--quick] [--creds N]... [--dir DIR]
 *
 * --dir keeps the ledger of N credentials as DIR/N.db, or measures the
 * one found there (its keys come from fixed seeds), always on a copy.
 * Not a timed test: CTest runs --quick only to prove it works.
 */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/message_int.h"
#include "offpay/offpay.h"
#include "timing.h"

#define EUR     978
#define T0      1780000000u
#define DAY     86400u
#define STEP    (DAY / 4) /* a credential every 6 hours */
#define RUNS    15
/* the big account's first credential: after the accounts of one have
 * each had theirs, an hour and more apart (a payment is settled an hour
 * after its credential, and the ledger takes no transfer dated more than
 * a minute before its newest: docs/settlement.md §10) */
#define T1      (T0 + RUNS * 3700u)
#define FIGURES 9

static void die(const char *what, offpay_err rc)
{
    fprintf(stderr, "creds_bench: %s: %s\n", what, offpay_strerror(rc));
    exit(1);
}

static void key(uint8_t tag, uint32_t i, offpay_keypair *kp)
{
    uint8_t    seed[OFFPAY_SEED_BYTES] = {0};
    offpay_err rc;

    seed[0] = tag;
    memcpy(seed + 1, &i, sizeof i);
    if ((rc = offpay_keypair_from_seed(seed, kp)) != OFFPAY_OK)
        die("keys", rc);
}

typedef struct payer {
    offpay_keypair k;
    uint64_t       account;
    char           ref[32];
} payer;

typedef struct world {
    offpay_ledger      *l;
    sqlite3            *raw; /* the same file, for the raw write */
    offpay_trust_bundle bundle;
    offpay_keypair      issuer;
    uint32_t            terminal, now;
    payer               big, one[RUNS];
} world;

static void open_ledger(world *w, const char *path)
{
    offpay_keypair root;
    offpay_err     rc;

    key(1, 0, &root);
    key(2, 0, &w->issuer);
    memset(&w->bundle, 0, sizeof w->bundle);
    w->bundle.seq = 1;
    w->bundle.issued_at = T0 - DAY;
    w->bundle.n_keys = 1;
    w->bundle.keys[0].kid = 1;
    memcpy(w->bundle.keys[0].pk, w->issuer.pk, OFFPAY_PK_BYTES);
    w->bundle.keys[0].valid_from = T0 - DAY;
    w->bundle.keys[0].valid_until = UINT32_MAX - 1;
    if ((rc = offpay_issuer_sign_bundle(root.sk, &w->bundle)) != OFFPAY_OK ||
        (rc = offpay_ledger_open(path, NULL, &w->l)) != OFFPAY_OK ||
        (rc = offpay_ledger_set_trust(w->l, &w->bundle, 1, w->issuer.sk)) !=
            OFFPAY_OK)
        die("open", rc);
}

static void enroll(world *w, payer *p, uint32_t i, int64_t deposit)
{
    char       code[OFFPAY_ENROLL_CODE_CHARS + 1];
    offpay_err rc;

    key(4, i, &p->k);
    snprintf(p->ref, sizeof p->ref, "payer-%u", i);
    if ((rc = offpay_ledger_enrollment_add(w->l, EUR, p->ref, T0 + DAY, T0,
                                           code)) != OFFPAY_OK ||
        (rc = offpay_ledger_enroll(w->l, p->k.pk, code, T0, &p->account,
                                   NULL)) != OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, p->account, deposit, "top-up", T0,
                                    NULL)) != OFFPAY_OK)
        die("enroll", rc);
}

/* p's allowance of 10.00 for a day at now, a payment of 2.00 settled */
static void one_cred(world *w, payer *p, uint32_t now)
{
    uint8_t              bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t              msg[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               mlen = 0, clen = 0;
    offpay_payment       pay;
    offpay_settle_item   it;
    offpay_settle_result res;
    offpay_err           rc;

    memset(&pay, 0, sizeof pay);
    if ((rc = offpay_ledger_allowance(w->l, p->k.pk, 1000,
                                      OFFPAY_CRED_ALLOW_UNBOUND, now + DAY, now,
                                      bytes, &pay.cred)) != OFFPAY_OK)
        die("allowance", rc);
    pay.counter = 1;
    pay.amount = 200;
    pay.time = now + 60;
    randombytes_buf(pay.nonce, sizeof pay.nonce);
    if ((rc = offpay__payment_signed_bytes(&pay, msg, sizeof msg, &mlen)) !=
            OFFPAY_OK ||
        (rc = offpay_sign(OFFPAY_DS_PAYMENT, msg, mlen, p->k.sk, pay.sig)) !=
            OFFPAY_OK ||
        (rc = offpay_payment_encode(&pay, code, sizeof code, &clen)) !=
            OFFPAY_OK)
        die("code", rc);
    memset(&it, 0, sizeof it);
    it.code = code;
    it.code_len = clen;
    it.charged = 200;
    it.accepted_at = now + 90;
    it.terminal_seq = (int64_t)now;
    if ((rc = offpay_ledger_settle(w->l, w->terminal, &it, now + 3600, &res)) !=
            OFFPAY_OK ||
        res.outcome != OFFPAY_SETTLE_SETTLED)
        die("settle", rc != OFFPAY_OK ? rc : res.reason);
}

/* The history: n allowances of the big payer, a code of 2.00 settled on
 * each, and one of each other payer at the start; the release and the
 * marking job once a day, as offpayd runs them, and the marking at the
 * end. */
static void build(world *w, long n)
{
    uint8_t              tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               tlen = 0;
    offpay_keypair       tk;
    offpay_terminal_cred tc;
    uint64_t             merchant = 0, macct = 0, g = 0, marked = 0;
    int                  more = 1;
    offpay_err           rc;

    key(3, 0, &tk);
    if ((rc = offpay_ledger_guarantee_account(w->l, EUR, T0, &g)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_merchant_add(w->l, "Transit", EUR, T0, &merchant,
                                         &macct)) != OFFPAY_OK ||
        (rc = offpay_ledger_terminal_add(w->l, merchant, tk.pk, UINT32_MAX - 1,
                                         T0, tbytes, &tlen, &tc)) != OFFPAY_OK)
        die("ledger set-up", rc);
    w->terminal = tc.terminal_id;
    enroll(w, &w->big, 0, (int64_t)n * 1000 + 1000000);
    for (uint32_t i = 0; i < RUNS; i++)
        enroll(w, &w->one[i], i + 1, 100000);
    for (uint32_t i = 0; i < RUNS; i++)
        one_cred(w, &w->one[i], T0 + i * 3700u);
    for (long i = 0; i < n; i++) {
        w->now = T1 + (uint32_t)i * STEP;
        one_cred(w, &w->big, w->now);
        if (i % (DAY / STEP) != 0)
            continue;
        /* offpayd's jobs, once a day, after the day's first payment
         * settled: the release, the marking */
        if ((rc = offpay_ledger_release_due(w->l, w->now + 3700, NULL)) !=
            OFFPAY_OK)
            die("release", rc);
        for (more = 1; more;)
            if ((rc = offpay_ledger_marks(w->l, w->now + 3700, 0, &marked,
                                          &more)) != OFFPAY_OK)
                die("marks", rc);
    }
    for (more = 1; more;)
        if ((rc = offpay_ledger_marks(w->l, w->now, 0, &marked, &more)) !=
            OFFPAY_OK)
            die("marks", rc);
}

typedef struct figs {
    double v[FIGURES], cpu[FIGURES];
} figs;

static const char *const NAMES[FIGURES] = {
    "issue (operator)", "allowance",          "late hold",
    "wallet status",    "accounts by ref",    "wallet's credentials",
    "key's cases",      "status's open page", "SQLite's write"};

/* Figure k on payer p at now: wall and CPU time, ms. */
static void figure(world *w, payer *p, int k, uint32_t now, double *wall,
                   double *cpu)
{
    uint8_t                     bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred          wc;
    int64_t                     held;
    uint32_t                    until;
    offpay_ledger_wallet_info   wi;
    offpay_wallet_account_info *acc = NULL;
    offpay_ledger_wallet_cred  *cr = NULL;
    offpay_ledger_creds_count   count;
    size_t                      n = 1;
    uint64_t                    ids[4];
    offpay_err                  rc = OFFPAY_OK;
    double                      t = wall_ms(), c = cpu_ms();

    switch (k) {
    case 0:
        rc = offpay_ledger_issue(w->l, p->account, p->k.pk, 100, 0, now + DAY,
                                 now, bytes, &wc);
        break;
    case 1:
        rc = offpay_ledger_allowance(w->l, p->k.pk, 100, 0, now + DAY, now,
                                     bytes, &wc);
        break;
    case 2:
        rc = offpay_ledger_late_hold(w->l, p->account, now, &held, &until);
        break;
    case 3:
        rc = offpay_ledger_wallet_get(w->l, p->k.pk, 0, &wi);
        break;
    case 4:
        rc = offpay_ledger_wallet_accounts_at(w->l, p->ref, 0, 10, now, &acc,
                                              &n);
        free(acc);
        break;
    case 5:
        rc = offpay_ledger_wallet_creds(w->l, p->k.pk, &cr, &n);
        free(cr);
        break;
    case 6:
        rc = offpay_ledger_wallet_cases(w->l, p->k.pk, ids, 4, &n);
        break;
    case 7: /* what POST /v1/wallet/status lists since 0.19.0 */
        rc = offpay_ledger_wallet_creds_page(
            w->l, p->k.pk,
            OFFPAY_LEDGER_CREDS_OPEN | OFFPAY_LEDGER_CREDS_NEWEST, 0,
            OFFPAY_LEDGER_CREDS_PAGE_MAX, now, &cr, &n, &count);
        free(cr);
        if (rc == OFFPAY_OK && n != count.open)
            rc = OFFPAY_ESTORE; /* the page holds every open one here */
        break;
    default:
        if (bench_raw_write(w->raw) != 0)
            rc = OFFPAY_ESTORE;
    }
    *wall = wall_ms() - t;
    *cpu = cpu_ms() - c;
    if (rc != OFFPAY_OK || (k == 4 && n != 1))
        die(NAMES[k], rc);
}

/* Every figure on the big payer and on a payer of 1 credential (one[i] in
 * run i), in turn, so that both see the same load. */
static void measure(world *w, figs *big, figs *one)
{
    double   vb[FIGURES][RUNS], vo[FIGURES][RUNS];
    double   cb[FIGURES][RUNS], co[FIGURES][RUNS];
    uint32_t now = w->now + STEP;

    for (int i = 0; i < RUNS; i++)
        for (int k = 0; k < FIGURES; k++) {
            figure(w, &w->one[i], k, now, &vo[k][i], &co[k][i]);
            figure(w, &w->big, k, now, &vb[k][i], &cb[k][i]);
        }
    for (int k = 0; k < FIGURES; k++) {
        big->v[k] = median(vb[k], RUNS);
        one->v[k] = median(vo[k], RUNS);
        big->cpu[k] = median(cb[k], RUNS);
        one->cpu[k] = median(co[k], RUNS);
    }
    /* the raw write is the same in both columns: the median of all */
    {
        double all[2 * RUNS], cpu[2 * RUNS];

        memcpy(all, vb[FIGURES - 1], sizeof vb[0]);
        memcpy(all + RUNS, vo[FIGURES - 1], sizeof vo[0]);
        memcpy(cpu, cb[FIGURES - 1], sizeof cb[0]);
        memcpy(cpu + RUNS, co[FIGURES - 1], sizeof co[0]);
        big->v[FIGURES - 1] = one->v[FIGURES - 1] = median(all, 2 * RUNS);
        big->cpu[FIGURES - 1] = one->cpu[FIGURES - 1] = median(cpu, 2 * RUNS);
    }
}

/* The payers of a ledger built before (their keys from the seeds). */
static void find_payers(world *w, long n)
{
    offpay_ledger_wallet_info wi;

    for (uint32_t i = 0; i <= RUNS; i++) {
        payer *p = i == 0 ? &w->big : &w->one[i - 1];

        key(4, i, &p->k);
        snprintf(p->ref, sizeof p->ref, "payer-%u", i);
        if (offpay_ledger_wallet_get(w->l, p->k.pk, 0, &wi) != OFFPAY_OK)
            die("a kept ledger's payer", OFFPAY_ENOTFOUND);
        p->account = wi.account;
    }
    w->now = T1 + (uint32_t)(n - 1) * STEP;
}

/* The lost wallet's report on p, once: ms of wall and CPU time, and the
 * credentials it revoked. */
static void lost_report(world *w, payer *p, double *wall, double *cpu,
                        size_t *n)
{
    uint32_t   now = w->now + 2 * STEP, back = 0, late = 0;
    double     t = wall_ms(), c = cpu_ms();
    offpay_err rc;

    rc = offpay_ledger_wallet_revoke(w->l, p->k.pk, 0, "lost", now, n);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_wallet_due(w->l, p->k.pk, now, &back, &late);
    *wall = wall_ms() - t;
    *cpu = cpu_ms() - c;
    if (rc != OFFPAY_OK)
        die("the lost wallet's report", rc);
}

/* How many serials the full revocation list names at now. */
static uint32_t revlist_count(world *w, uint32_t now)
{
    uint8_t       *b = NULL;
    size_t         len = 0;
    offpay_revlist rl;
    offpay_err     rc;

    memset(&rl, 0, sizeof rl);
    rc = offpay_ledger_revlist(w->l, 0, now, &b, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_revlist_decode(b, len, &rl);
    free(b);
    if (rc != OFFPAY_OK)
        die("the revocation list", rc);
    free(rl.serials);
    return rl.n_serials;
}

static void audit(world *w, const char *when)
{
    offpay_audit_report r;
    offpay_err          rc = offpay_ledger_audit(w->l, &r);

    if (rc != OFFPAY_OK)
        die(when, rc);
}

static void one(long n, const char *keep)
{
    char        dir[] = "/tmp/creds_bench.XXXXXX", path[300], cmd[700];
    char        kept[256];
    world       w;
    figs        fb, fo;
    double      t = wall_ms(), lo_v, lo_c, lb_v, lb_c;
    size_t      lo_n = 0, lb_n = 0;
    struct stat sb;

    memset(&w, 0, sizeof w);
    if (mkdtemp(dir) == NULL) {
        perror("creds_bench: mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    if (keep != NULL) {
        snprintf(kept, sizeof kept, "%s/%ld.db", keep, n);
        if (stat(kept, &sb) != 0) {
            open_ledger(&w, kept);
            build(&w, n);
            audit(&w, "the audit after the history");
            offpay_ledger_close(w.l);
        }
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", kept, path);
        if (system(cmd) != 0)
            die("copying the kept ledger", OFFPAY_EIO);
        open_ledger(&w, path);
        find_payers(&w, n);
    } else {
        open_ledger(&w, path);
        build(&w, n);
        audit(&w, "the audit after the history");
    }
    t = wall_ms() - t;
    if (bench_raw_open(path, &w.raw) != 0)
        die("the raw write's table", OFFPAY_ESTORE);
    measure(&w, &fb, &fo);
    lost_report(&w, &w.one[0], &lo_v, &lo_c, &lo_n);
    lost_report(&w, &w.big, &lb_v, &lb_c, &lb_n);
    audit(&w, "the audit after the figures");
    printf("N = %ld (ready in %.1f s)\n", n, t / 1e3);
    printf("  %-22s %20s %20s %16s\n", "", "1 credential", "N credentials",
           "N / 1");
    for (int k = 0; k < FIGURES; k++)
        printf("  %-22s %9.3f (%8.3f) %9.3f (%8.3f) %6.2f (%6.2f)\n", NAMES[k],
               fo.v[k], fo.cpu[k], fb.v[k], fb.cpu[k], fb.v[k] / fo.v[k],
               fb.cpu[k] / fo.cpu[k]);
    printf("  issue / SQLite's own write: %.2f with 1 credential, %.2f with "
           "N; allowance / it: %.2f and %.2f\n",
           fo.v[0] / fo.v[FIGURES - 1], fb.v[0] / fb.v[FIGURES - 1],
           fo.v[1] / fo.v[FIGURES - 1], fb.v[1] / fb.v[FIGURES - 1]);
    printf("  %-22s %9.3f (%8.3f) %9.3f (%8.3f) %6.2f (%6.2f)\n",
           "lost report (once)", lo_v, lo_c, lb_v, lb_c, lb_v / lo_v,
           lb_c / lo_c);
    printf("  the lost report revoked %zu credential(s) with 1, %zu with N "
           "(what can still be paid: not released, or released within the "
           "late window); the full revocation list then names %u\n",
           lo_n, lb_n, revlist_count(&w, w.now + 2 * STEP));
    offpay_ledger_close(w.l);
    sqlite3_close(w.raw);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        exit(1);
}

int main(int argc, char **argv)
{
    long        ns[8];
    size_t      k = 0;
    int         quick = 0;
    const char *keep = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--creds") == 0 && i + 1 < argc && k < 8 &&
                 atol(argv[i + 1]) > 0)
            ns[k++] = atol(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            keep = argv[++i];
        else {
            fprintf(stderr,
                    "usage: creds_bench [--quick] [--creds N]... [--dir D]\n");
            return 2;
        }
    }
    if (offpay_init() != OFFPAY_OK)
        die("init", OFFPAY_ECRYPTO);
    if (k == 0) {
        ns[k++] = quick ? 100 : 1000;
        ns[k++] = quick ? 300 : 10000;
    }
    printf("creds_bench: a payer's account of N credentials (4 a day, "
           "2.00 of each settled, released, marked) beside accounts of 1 in "
           "the same SQLite ledger; medians of %d runs, ms of wall time (of "
           "CPU time)\n",
           RUNS);
    for (size_t i = 0; i < k; i++)
        one(ns[i], keep);
    return 0;
}
