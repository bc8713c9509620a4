/*
 * test_powerloss.c — power loss, not just SIGKILL (issue 10, item 2).
 *
 * tests/fault/faultfs.c simulates a power cut: every write not yet synced is
 * lost (mode LOST), partly kept, sector by sector and with a torn log tail
 * (TORN), or all kept (KEPT, what SIGKILL leaves). Each test runs one
 * operation once to count its I/O steps N, then for k = 1..N and each mode
 * runs it again from the same files, cuts the power at step k, "reboots"
 * (writes what survived over the files) and reopens, checking:
 *
 *   - the terminal journal: every payment accept() said "accepted" is in
 *     the journal exactly once, nothing else is, and a replay is refused;
 *   - the ledger: every per-item result settle returned survives (a resend
 *     replays it), the audit passes, and a final resend settles every item
 *     once, the merchant holding their sum;
 *   - the wallet: it opens, every code it showed is in its spend log, a
 *     receipt it took is kept, no counter is ever reused by the next code,
 *     and its balance is what its log adds up to (never a wrong balance).
 *
 * OFFPAY_POWERLOSS_STRIDE=n (default 1) cuts at every n-th step only, to
 * bound a slow build; OFFPAY_POWERLOSS_TORN_PASSES=n (default 1) runs the
 * torn mode n times with other sectors torn (the long form). The figures
 * printed say how many cuts ran.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fault/faultfs.h"
#include "core/message_int.h"
#include "offpay/settle.h"
#include "wallet/wallet_int.h"

#define NOW    1700000000u
#define DAY    86400u
#define EUR    978
#define PASS   "power loss test passphrase"
#define NCODES 4
#define NMODES 3

static const char *const mode_name[NMODES] = {"lost", "torn", "kept"};

/* Cuts run and violations seen, per test (printed). */
static unsigned long cuts_run;

/* The passes over every cut: lost, torn, kept, then
 * OFFPAY_POWERLOSS_TORN_PASSES - 1 more torn passes (default 1), each
 * with other torn sectors (the long form). */
static int passes(void)
{
    const char *s = getenv("OFFPAY_POWERLOSS_TORN_PASSES");
    long        v = s != NULL ? atol(s) : 1;

    return NMODES - 1 + (v > 0 && v < 100000 ? (int)v : 1);
}

static uint64_t stride(void)
{
    const char *s = getenv("OFFPAY_POWERLOSS_STRIDE");
    long        v = s != NULL ? atol(s) : 1;

    return v > 0 ? (uint64_t)v : 1;
}

/* ---- files ---------------------------------------------------------- */

static int copy_file(const char *src, const char *dst)
{
    size_t n = 0;
    char  *b = offpay_test_read_file(src, &n);
    int    fd, ok;

    if (b == NULL)
        return 0;
    fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd >= 0 && write(fd, b, n) == (ssize_t)n;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    free(b);
    return ok;
}

/* Empties directory dst (creating it), then copies src's regular files. */
static int copy_dir(const char *src, const char *dst)
{
    DIR           *d;
    struct dirent *e;
    char           a[1024], b[1024];
    int            ok = 1;

    if (mkdir(dst, 0700) != 0 && errno != EEXIST)
        return 0;
    if ((d = opendir(dst)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
            unlink(b);
        }
    closedir(d);
    if ((d = opendir(src)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        struct stat st;

        snprintf(a, sizeof a, "%s/%s", src, e->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
        if (stat(a, &st) == 0 && S_ISREG(st.st_mode) && !copy_file(a, b))
            ok = 0;
    }
    closedir(d);
    return ok;
}

/* 1 when SQLite's integrity_check of the file at path says "ok". */
static int integrity_ok(const char *path)
{
    sqlite3      *db = NULL;
    sqlite3_stmt *st = NULL;
    int           ok = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

/* ---- the terminal journal -------------------------------------------- */

typedef struct tally {
    int      count[NCODES];
    int      strangers; /* entries that are none of the codes */
    uint8_t *code[NCODES];
    size_t   len[NCODES];
} tally;

static int count_entry(const offpay_journal_entry *e, void *ctx)
{
    tally *t = ctx;

    for (int i = 0; i < NCODES; i++)
        if (e->code_len == t->len[i] &&
            memcmp(e->code, t->code[i], e->code_len) == 0) {
            t->count[i]++;
            return 0;
        }
    t->strangers++;
    return 0;
}

/* An issuer, a wallet with an EUR credential, and a synced terminal of
 * merchant 1 in dir/base; the wallet's NCODES codes in codes[]. */
static int terminal_world(const char *dir, char *codes[NCODES])
{
    char                 path[600];
    offpay_issuer       *is = NULL;
    offpay_wallet       *w = NULL;
    offpay_terminal     *t = NULL;
    offpay_terminal_cred tc;
    offpay_wallet_cred   wc;
    uint8_t              root[OFFPAY_PK_BYTES], pk[OFFPAY_PK_BYTES];
    uint8_t              buf[512], *bundle = NULL, *rl = NULL;
    size_t               blen = 0, rllen = 0, n = 0;
    int                  ok = 0;

    snprintf(path, sizeof path, "%s/issuer", dir);
    if (offpay_issuer_create(path, PASS, NOW - DAY, &is) != OFFPAY_OK)
        goto out;
    offpay_issuer_root_pk(is, root);
    snprintf(path, sizeof path, "%s/wallet", dir);
    if (offpay_issuer_bundle(is, &bundle, &blen) != OFFPAY_OK ||
        offpay_wallet_create(path, PASS, root, bundle, blen, &w) != OFFPAY_OK)
        goto out;
    offpay_wallet_public_key(w, pk);
    if (offpay_issuer_issue_wallet(is, pk, 100000, EUR, NOW - DAY,
                                   NOW + 30 * DAY, OFFPAY_CRED_ALLOW_UNBOUND,
                                   &wc) != OFFPAY_OK ||
        offpay_wallet_cred_encode(&wc, buf, sizeof buf, &n) != OFFPAY_OK ||
        offpay_wallet_add_credential(w, buf, n, NOW) != OFFPAY_OK)
        goto out;
    snprintf(path, sizeof path, "%s/base", dir);
    if (offpay_terminal_create(path, PASS, root, bundle, blen, EUR, &t) !=
        OFFPAY_OK)
        goto out;
    offpay_terminal_public_key(t, pk);
    if (offpay_issuer_issue_terminal(is, 1, pk, EUR, "Power Cut Bakery",
                                     NOW - DAY, NOW + 365 * DAY,
                                     &tc) != OFFPAY_OK ||
        offpay_terminal_cred_encode(&tc, buf, sizeof buf, &n) != OFFPAY_OK ||
        offpay_terminal_set_credential(t, buf, n, NOW) != OFFPAY_OK ||
        offpay_issuer_revlist(is, NOW, &rl, &rllen) != OFFPAY_OK ||
        offpay_terminal_sync(t, NULL, 0, rl, rllen, NOW) != OFFPAY_OK)
        goto out;
    for (int i = 0; i < NCODES; i++)
        if (offpay_wallet_pay(w, 100 + i, EUR, NOW + (uint32_t)i, &codes[i],
                              NULL) != OFFPAY_OK)
            goto out;
    ok = 1;
out:
    offpay_terminal_close(t);
    offpay_wallet_close(w);
    offpay_issuer_close(is);
    free(bundle);
    free(rl);
    return ok;
}

static void test_terminal_accepted_survive_power_loss(void)
{
    char          dir[512], base[600], run[600];
    char         *codes[NCODES] = {0};
    tally         tl;
    int           fails = 0;
    unsigned long cuts = 0;

    snprintf(dir, sizeof dir, "%s/terminal", offpay_test_tmpdir());
    REQUIRE(mkdir(dir, 0700) == 0);
    setenv("OFFPAY_KDF_COST", "test", 1);
    REQUIRE(terminal_world(dir, codes));
    snprintf(base, sizeof base, "%s/base", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    memset(&tl, 0, sizeof tl);
    for (int i = 0; i < NCODES; i++)
        REQUIRE(offpay_text_decode(codes[i], strlen(codes[i]), &tl.code[i],
                                   &tl.len[i]) == OFFPAY_OK);

    for (int pass = 0; pass < passes() && fails == 0; pass++) {
        int      mode = pass < NMODES ? pass : OFFPAY__FAULTFS_TORN;
        uint64_t n = 1;

        for (uint64_t k = 0; k <= n && fails == 0;
             k += (k == 0 ? 1 : stride())) {
            offpay_terminal *t = NULL;
            int              accepted[NCODES] = {0};

            REQUIRE(copy_dir(base, run));
            REQUIRE_OK(offpay_terminal_open(run, PASS, &t));
            offpay__faultfs_arm(k, (offpay__faultfs_mode)mode,
                                k * 7 + 1 + (uint64_t)pass * 1000003u);
            for (int i = 0; i < NCODES; i++)
                accepted[i] = offpay_terminal_accept(
                                  t, codes[i], strlen(codes[i]), 100 + i,
                                  NOW + 60, NULL) == OFFPAY_OK;
            offpay_terminal_close(t);
            if (k == 0)
                n = offpay__faultfs_steps();
            else
                cuts++;
            REQUIRE(offpay__faultfs_reboot() == 0);

            /* After the reboot: open succeeds, the journal is whole. */
            t = NULL;
            CHECK_ERR(offpay_terminal_open(run, PASS, &t), OFFPAY_OK);
            REQUIRE(t != NULL);
            memset(tl.count, 0, sizeof tl.count);
            tl.strangers = 0;
            CHECK_ERR(offpay_terminal_journal(t, count_entry, &tl), OFFPAY_OK);
            CHECK(tl.strangers == 0);
            for (int i = 0; i < NCODES; i++) {
                if (accepted[i] && tl.count[i] != 1) {
                    fprintf(stderr,
                            "%s cut at step %llu/%llu: accepted code %d in "
                            "the journal %d times\n",
                            mode_name[mode], (unsigned long long)k,
                            (unsigned long long)n, i, tl.count[i]);
                    fails++;
                }
                CHECK(tl.count[i] <= 1);
                if (k == 0)
                    CHECK(accepted[i]);
                /* Whatever survived is refused as a replay; the rest is
                 * accepted now, once. */
                CHECK_ERR(offpay_terminal_accept(t, codes[i], strlen(codes[i]),
                                                 100 + i, NOW + 60, NULL),
                          tl.count[i] == 1 ? OFFPAY_EREPLAY : OFFPAY_OK);
            }
            offpay_terminal_close(t);
            {
                char db[700];

                snprintf(db, sizeof db, "%s/terminal.db", run);
                CHECK(integrity_ok(db));
            }
        }
        CHECK(n >= 4 * NCODES); /* each accept is a write and a sync at least */
        printf("terminal journal, %s: %llu I/O steps\n", mode_name[mode],
               (unsigned long long)n);
    }
    CHECK(fails == 0);
    printf("terminal journal: %lu power cuts, %d lost acceptances\n", cuts,
           fails);
    cuts_run += cuts;
    for (int i = 0; i < NCODES; i++) {
        free(codes[i]);
        free(tl.code[i]);
    }
}

/* The regression test of the bug the loop above found: a COMMIT whose WAL
 * sync fails leaves the row readable (in the page cache), and accept used
 * to say "accepted" for it; a power cut then lost it. A cut at any step of
 * one accept must leave it not accepted, and at its last step (the
 * commit's sync, the row already written) with OFFPAY_EOUTCOME. */
static void test_terminal_cut_mid_accept_never_says_accepted(void)
{
    char             dir[512], base[600], run[600];
    char            *codes[NCODES] = {0};
    offpay_terminal *t = NULL;
    uint64_t         n;

    snprintf(dir, sizeof dir, "%s/midaccept", offpay_test_tmpdir());
    REQUIRE(mkdir(dir, 0700) == 0);
    setenv("OFFPAY_KDF_COST", "test", 1);
    REQUIRE(terminal_world(dir, codes));
    snprintf(base, sizeof base, "%s/base", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    /* One accept's steps, the handle kept open (no checkpoint at close). */
    REQUIRE(copy_dir(base, run));
    REQUIRE_OK(offpay_terminal_open(run, PASS, &t));
    offpay__faultfs_arm(0, OFFPAY__FAULTFS_LOST, 1);
    CHECK_ERR(offpay_terminal_accept(t, codes[0], strlen(codes[0]), 100,
                                     NOW + 60, NULL),
              OFFPAY_OK);
    n = offpay__faultfs_steps();
    offpay_terminal_close(t);
    offpay__faultfs_reboot();
    CHECK(n >= 2);
    for (uint64_t k = 1; k <= n; k++) {
        offpay_acceptance acc;
        offpay_err        rc;

        REQUIRE(copy_dir(base, run));
        t = NULL;
        REQUIRE_OK(offpay_terminal_open(run, PASS, &t));
        offpay__faultfs_arm(k, OFFPAY__FAULTFS_LOST, 1);
        rc = offpay_terminal_accept(t, codes[0], strlen(codes[0]), 100,
                                    NOW + 60, &acc);
        CHECK(rc != OFFPAY_OK);
        cuts_run++;
        if (k == n) {
            CHECK_ERR(rc, OFFPAY_EOUTCOME);
            /* what to look the payment up with (since 0.13.0) */
            CHECK(acc.payment.cred.serial != 0 && acc.payment.counter != 0 &&
                  acc.charged == 100 && acc.seq == 0 && acc.time == NOW + 60);
        }
        offpay_terminal_close(t);
        REQUIRE(offpay__faultfs_reboot() == 0);
    }
    for (int i = 0; i < NCODES; i++)
        free(codes[i]);
}

/* ---- the ledger ----------------------------------------------------- */

#define NITEMS 5

typedef struct ledger_world {
    offpay_keypair      root, issuer, wallet;
    offpay_trust_bundle bundle;
    uint64_t            merchant_acct;
    uint32_t            terminal;
    offpay_wallet_cred  cred;
    uint8_t             code[NITEMS][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t              len[NITEMS];
    offpay_settle_item  item[NITEMS];
} ledger_world;

static int ledger_base(ledger_world *w, const char *path)
{
    offpay_ledger       *l = NULL;
    uint8_t              cb[OFFPAY_WALLET_CRED_BYTES];
    uint8_t              tb[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               tlen = 0;
    uint64_t             acct = 0, guarantee = 0, merchant = 0;
    offpay_keypair       tk;
    offpay_terminal_cred tc;
    int                  ok = 0;

    memset(w, 0, sizeof *w);
    if (offpay_keypair_generate(&w->root) != OFFPAY_OK ||
        offpay_keypair_generate(&w->issuer) != OFFPAY_OK ||
        offpay_keypair_generate(&w->wallet) != OFFPAY_OK ||
        offpay_keypair_generate(&tk) != OFFPAY_OK)
        return 0;
    w->bundle.seq = 1;
    w->bundle.issued_at = NOW - DAY;
    w->bundle.n_keys = 1;
    w->bundle.keys[0].kid = 1;
    memcpy(w->bundle.keys[0].pk, w->issuer.pk, OFFPAY_PK_BYTES);
    w->bundle.keys[0].valid_from = NOW - DAY;
    w->bundle.keys[0].valid_until = NOW + 400 * DAY;
    if (offpay_issuer_sign_bundle(w->root.sk, &w->bundle) != OFFPAY_OK ||
        offpay_ledger_open(path, NULL, &l) != OFFPAY_OK ||
        offpay_ledger_set_trust(l, &w->bundle, 1, w->issuer.sk) != OFFPAY_OK ||
        offpay_ledger_wallet_account(l, EUR, "payer", NOW, &acct) !=
            OFFPAY_OK ||
        offpay_ledger_deposit(l, acct, 100000, "top-up", NOW, NULL) !=
            OFFPAY_OK ||
        offpay_ledger_guarantee_account(l, EUR, NOW, &guarantee) != OFFPAY_OK ||
        offpay_ledger_deposit(l, guarantee, 100000, "fund", NOW, NULL) !=
            OFFPAY_OK ||
        offpay_ledger_merchant_add(l, "Power Cut Bakery", EUR, NOW, &merchant,
                                   &w->merchant_acct) != OFFPAY_OK ||
        offpay_ledger_terminal_add(l, merchant, tk.pk, NOW + 365 * DAY, NOW, tb,
                                   &tlen, &tc) != OFFPAY_OK ||
        offpay_ledger_issue(l, acct, w->wallet.pk, 50000,
                            OFFPAY_CRED_ALLOW_UNBOUND, NOW + 30 * DAY, NOW, cb,
                            &w->cred) != OFFPAY_OK)
        goto out;
    w->terminal = tc.terminal_id;
    for (int i = 0; i < NITEMS; i++) {
        offpay_payment p;
        uint8_t        msg[OFFPAY_PAYMENT_BOUND_BYTES];
        size_t         mlen = 0;

        memset(&p, 0, sizeof p);
        p.cred = w->cred;
        p.counter = (uint32_t)i + 1;
        p.amount = 1000;
        p.time = NOW;
        if (offpay__payment_signed_bytes(&p, msg, sizeof msg, &mlen) !=
                OFFPAY_OK ||
            offpay_sign(OFFPAY_DS_PAYMENT, msg, mlen, w->wallet.sk, p.sig) !=
                OFFPAY_OK ||
            offpay_payment_encode(&p, w->code[i], sizeof w->code[i],
                                  &w->len[i]) != OFFPAY_OK)
            goto out;
        w->item[i].code = w->code[i];
        w->item[i].code_len = w->len[i];
        w->item[i].charged = 500 + 100 * i;
        w->item[i].accepted_at = NOW + 10;
        w->item[i].terminal_seq = i + 1;
    }
    ok = 1;
out:
    offpay_keypair_wipe(&tk);
    offpay_ledger_close(l);
    return ok;
}

/* What the ledger acknowledged for each item (-1: nothing yet). */
typedef struct acks {
    int     outcome[NITEMS];
    int64_t paid[NITEMS];
} acks;

static void ack(acks *a, size_t first, size_t n,
                const offpay_settle_result *res)
{
    for (size_t i = 0; i < n; i++)
        if (a->outcome[first + i] < 0) {
            a->outcome[first + i] = (int)res[i].outcome;
            a->paid[first + i] = res[i].paid;
        }
}

static void remove_ledger(const char *path)
{
    char p[700];

    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static void test_ledger_acknowledged_survive_power_loss(void)
{
    ledger_world  w;
    char          base[600], run[600];
    int           fails = 0;
    unsigned long cuts = 0;
    int64_t       total = 0;

    snprintf(base, sizeof base, "%s/ledger-base.db", offpay_test_tmpdir());
    snprintf(run, sizeof run, "%s/ledger-run.db", offpay_test_tmpdir());
    REQUIRE(ledger_base(&w, base));
    for (int i = 0; i < NITEMS; i++)
        total += w.item[i].charged;

    for (int pass = 0; pass < passes() && fails == 0; pass++) {
        int      mode = pass < NMODES ? pass : OFFPAY__FAULTFS_TORN;
        uint64_t n = 1;

        for (uint64_t k = 0; k <= n && fails == 0;
             k += (k == 0 ? 1 : stride())) {
            offpay_ledger       *l = NULL;
            offpay_settle_result res[NITEMS];
            offpay_audit_report  ar;
            acks                 a;
            int64_t              bal = 0;

            for (int i = 0; i < NITEMS; i++)
                a.outcome[i] = -1;
            remove_ledger(run);
            REQUIRE(copy_file(base, run));
            REQUIRE_OK(offpay_ledger_open(run, NULL, &l));
            REQUIRE_OK(offpay_ledger_set_trust(l, &w.bundle, 1, w.issuer.sk));
            offpay__faultfs_arm(k, (offpay__faultfs_mode)mode,
                                k * 7 + 3 + (uint64_t)pass * 1000003u);
            /* An upload of two, one alone, a resend of two with a new
             * one, and the last alone. */
            if (offpay_ledger_settle_batch(l, w.terminal, &w.item[0], 2,
                                           NOW + 60, res) == OFFPAY_OK)
                ack(&a, 0, 2, res);
            if (offpay_ledger_settle(l, w.terminal, &w.item[2], NOW + 61,
                                     res) == OFFPAY_OK)
                ack(&a, 2, 1, res);
            if (offpay_ledger_settle_batch(l, w.terminal, &w.item[1], 3,
                                           NOW + 62, res) == OFFPAY_OK)
                ack(&a, 1, 3, res);
            if (offpay_ledger_settle(l, w.terminal, &w.item[4], NOW + 63,
                                     res) == OFFPAY_OK)
                ack(&a, 4, 1, res);
            offpay_ledger_close(l);
            if (k == 0)
                n = offpay__faultfs_steps();
            else
                cuts++;
            REQUIRE(offpay__faultfs_reboot() == 0);

            /* After the reboot: it opens, the audit passes, every
             * acknowledged result is still there, and the final resend
             * settles each item once. */
            l = NULL;
            CHECK_ERR(offpay_ledger_open(run, NULL, &l), OFFPAY_OK);
            REQUIRE(l != NULL);
            CHECK_ERR(offpay_ledger_set_trust(l, &w.bundle, 1, w.issuer.sk),
                      OFFPAY_OK);
            CHECK_ERR(offpay_ledger_audit(l, &ar), OFFPAY_OK);
            CHECK_ERR(offpay_ledger_settle_batch(l, w.terminal, w.item, NITEMS,
                                                 NOW + 100, res),
                      OFFPAY_OK);
            for (int i = 0; i < NITEMS; i++) {
                CHECK(res[i].outcome == OFFPAY_SETTLE_SETTLED);
                if (a.outcome[i] >= 0 &&
                    (!res[i].replay || (int)res[i].outcome != a.outcome[i] ||
                     res[i].paid != a.paid[i])) {
                    fprintf(stderr,
                            "%s cut at step %llu/%llu: acknowledged item %d "
                            "not kept (replay %d, paid %lld, was %lld)\n",
                            mode_name[mode], (unsigned long long)k,
                            (unsigned long long)n, i, res[i].replay,
                            (long long)res[i].paid, (long long)a.paid[i]);
                    fails++;
                }
                if (k == 0)
                    CHECK(a.outcome[i] == OFFPAY_SETTLE_SETTLED);
            }
            CHECK_ERR(
                offpay_ledger_balance(l, w.merchant_acct, &bal, NULL, NULL),
                OFFPAY_OK);
            CHECK(bal == total);
            CHECK_ERR(offpay_ledger_audit(l, &ar), OFFPAY_OK);
            offpay_ledger_close(l);
            CHECK(integrity_ok(run));
        }
        printf("ledger, %s: %llu I/O steps\n", mode_name[mode],
               (unsigned long long)n);
    }
    CHECK(fails == 0);
    printf("ledger: %lu power cuts, %d lost acknowledgements\n", cuts, fails);
    cuts_run += cuts;
    offpay_keypair_wipe(&w.root);
    offpay_keypair_wipe(&w.issuer);
    offpay_keypair_wipe(&w.wallet);
}

/* ---- the wallet ----------------------------------------------------- */

/* The wallet at run opened after the cut at step k of n into *w: 1, or 0
 * with what failed said (*w NULL). */
static int reopened(const char *run, int mode, uint64_t k, uint64_t n,
                    offpay_wallet **w)
{
    offpay_err rc;

    *w = NULL;
    rc = offpay_wallet_open(run, PASS, w);
    if (rc == OFFPAY_OK)
        return 1;
    fprintf(stderr, "%s cut at step %llu/%llu: wallet open: %s\n",
            mode_name[mode], (unsigned long long)k, (unsigned long long)n,
            offpay_errname(rc));
    return 0;
}

static void copy_wallet(const char *from, const char *to, int *ok)
{
    char a[700], b[700];

    *ok = copy_file(from, to);
    snprintf(a, sizeof a, "%s.log", from);
    snprintf(b, sizeof b, "%s.log", to);
    if (!copy_file(a, b))
        *ok = 0;
    snprintf(b, sizeof b, "%s.tmp", to);
    unlink(b);
}

/* A world (terminal_world) in dir whose wallet dir/wallet has four codes,
 * the first accepted at the terminal for 100: its receipt in *receipt
 * (malloc'd). Returns 0 on failure. */
static int wallet_with_receipt(const char *dir, char **receipt)
{
    char             *codes[NCODES] = {0}, path[600];
    offpay_terminal  *t = NULL;
    offpay_acceptance acc;
    int               ok = 0;

    *receipt = NULL;
    if (mkdir(dir, 0700) != 0 || !terminal_world(dir, codes))
        goto out;
    snprintf(path, sizeof path, "%s/base", dir);
    if (offpay_terminal_open(path, PASS, &t) != OFFPAY_OK ||
        offpay_terminal_accept(t, codes[0], strlen(codes[0]), 100, NOW + 60,
                               &acc) != OFFPAY_OK ||
        offpay_terminal_receipt(t, acc.seq, NOW + 60, receipt) != OFFPAY_OK)
        goto out;
    ok = 1;
out:
    offpay_terminal_close(t);
    for (int i = 0; i < NCODES; i++)
        free(codes[i]);
    return ok;
}

static void test_wallet_codes_survive_power_loss(void)
{
    char          dir[512], base[600], run[600], *receipt = NULL;
    int           fails = 0, ok = 0;
    unsigned long cuts = 0;
    uint32_t      saved_every = offpay__wallet_checkpoint_every;

    snprintf(dir, sizeof dir, "%s/wallet-world", offpay_test_tmpdir());
    snprintf(base, sizeof base, "%s/wallet", dir);
    snprintf(run, sizeof run, "%s/wallet-run", offpay_test_tmpdir());
    setenv("OFFPAY_KDF_COST", "test", 1);
    unsetenv("OFFPAY_WALLET_CHECKPOINT_EVERY");
    /* A checkpoint (the sealed file's atomic replace) every second code,
     * so the cuts fall in both files. */
    offpay__wallet_checkpoint_every = 2;
    REQUIRE(wallet_with_receipt(dir, &receipt));

    for (int pass = 0; pass < passes() && fails == 0; pass++) {
        int      mode = pass < NMODES ? pass : OFFPAY__FAULTFS_TORN;
        uint64_t n = 1;

        for (uint64_t k = 0; k <= n && fails == 0;
             k += (k == 0 ? 1 : stride())) {
            offpay_wallet        *w = NULL;
            offpay_wallet_balance b;
            offpay_payment        p;
            uint32_t              shown[NCODES], max_logged = 0;
            int64_t               authorized = 0;
            int                   n_shown = 0, took;
            offpay_receipt        rcpt;

            copy_wallet(base, run, &ok);
            REQUIRE(ok);
            REQUIRE_OK(offpay_wallet_open(run, PASS, &w));
            offpay__faultfs_track_wallet(run);
            offpay__faultfs_arm(k, (offpay__faultfs_mode)mode,
                                k * 7 + 5 + (uint64_t)pass * 1000003u);
            /* The receipt of the first code (a record in the log), then
             * four codes. */
            took = offpay_wallet_take_receipt(w, receipt, NOW + 70, &rcpt) ==
                   OFFPAY_OK;
            for (int i = 0; i < NCODES; i++) {
                char *text = NULL;

                if (offpay_wallet_pay(w, 100 + i, EUR, NOW + 1 + (uint32_t)i,
                                      &text, &p) == OFFPAY_OK)
                    shown[n_shown++] = p.counter;
                free(text);
            }
            offpay_wallet_close(w);
            if (k == 0)
                n = offpay__faultfs_steps();
            else
                cuts++;
            REQUIRE(offpay__faultfs_reboot() == 0);
            offpay__faultfs_track_wallet(NULL);

            /* After the reboot: it opens; every shown code is logged; the
             * balance is what the log adds up to; the next counter is new. */
            if (!reopened(run, mode, k, n, &w)) {
                fails++;
                continue;
            }
            for (int j = 0; j < n_shown; j++) {
                int found = 0;

                for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
                    offpay_wallet_spend s;

                    if (offpay_wallet_get_spend(w, i, &s) == OFFPAY_OK &&
                        s.counter == shown[j])
                        found++;
                }
                if (found != 1) {
                    fprintf(stderr,
                            "%s cut at step %llu/%llu: shown counter %u "
                            "logged %d times\n",
                            mode_name[mode], (unsigned long long)k,
                            (unsigned long long)n, shown[j], found);
                    fails++;
                }
            }
            for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
                offpay_wallet_spend s;

                CHECK_ERR(offpay_wallet_get_spend(w, i, &s), OFFPAY_OK);
                CHECK(s.counter > max_logged || i == 0);
                if (i == 0) {
                    /* A receipt taken is kept; none is made up. */
                    if (took && s.n_receipts != 1) {
                        fprintf(stderr,
                                "%s cut at step %llu/%llu: receipt taken, "
                                "%u kept\n",
                                mode_name[mode], (unsigned long long)k,
                                (unsigned long long)n, s.n_receipts);
                        fails++;
                    }
                    CHECK(s.n_receipts <= 1);
                    CHECK(s.charged == (s.n_receipts == 1 ? 100 : -1));
                }
                if (s.counter > max_logged)
                    max_logged = s.counter;
                authorized += s.authorized;
            }
            if (k == 0)
                CHECK(n_shown == NCODES && took);
            CHECK_ERR(offpay_wallet_get_balance(w, 0, NOW + 50, &b), OFFPAY_OK);
            CHECK(b.pending + b.confirmed + b.held == authorized);
            CHECK(b.available == b.limit - authorized);
            CHECK(b.codes == offpay_wallet_n_spends(w));
            {
                char *text = NULL;

                CHECK_ERR(offpay_wallet_pay(w, 7, EUR, NOW + 100, &text, &p),
                          OFFPAY_OK);
                CHECK(p.counter > max_logged);
                for (int j = 0; j < n_shown; j++)
                    if (p.counter <= shown[j]) {
                        fprintf(stderr,
                                "%s cut at step %llu/%llu: counter %u "
                                "reused (shown %u)\n",
                                mode_name[mode], (unsigned long long)k,
                                (unsigned long long)n, p.counter, shown[j]);
                        fails++;
                    }
                free(text);
            }
            offpay_wallet_close(w);
        }
        printf("wallet, %s: %llu I/O steps\n", mode_name[mode],
               (unsigned long long)n);
    }
    offpay__wallet_checkpoint_every = saved_every;
    free(receipt);
    CHECK(fails == 0);
    printf("wallet: %lu power cuts, %d violations\n", cuts, fails);
    cuts_run += cuts;
}

/* Issues a credential of 10.00 for the wallet at w into cred (*len). */
static int issue_into(offpay_issuer *is, offpay_wallet *w, uint32_t expires,
                      uint8_t cred[512], size_t *len, uint64_t *serial)
{
    offpay_wallet_cred wc;
    uint8_t            pk[OFFPAY_PK_BYTES];

    offpay_wallet_public_key(w, pk);
    if (offpay_issuer_issue_wallet(is, pk, 1000, EUR, NOW - DAY, expires,
                                   OFFPAY_CRED_ALLOW_UNBOUND,
                                   &wc) != OFFPAY_OK ||
        offpay_wallet_cred_encode(&wc, cred, 512, len) != OFFPAY_OK)
        return 0;
    *serial = wc.serial;
    return 1;
}

#define DROP_CAP 4

/*
 * A full wallet's install drops its oldest finished credential in the same
 * atomic write as the new one (src/wallet/wallet.c, add_cred_as). Cut at
 * every step of that install, the wallet opens as one of the two states
 * and never a mix: the old credential held and the new one not, or the
 * new one held and the old one gone for good (never installed again); an
 * install it said was done is there; the dropped credential's code stays
 * in the log; no counter is reused. The cap is lowered to DROP_CAP so the
 * wallet fills in a moment (the same code as at 2,048).
 */
/* REQUIRE and REQUIRE_OK that end the test through its clean-up (out:),
 * which puts back the cap it lowered. */
#define TRY(c)                                                                 \
    do {                                                                       \
        if (!(c)) {                                                            \
            CHECK(0 && #c); /* (c not evaluated again) */                      \
            goto out;                                                          \
        }                                                                      \
    } while (0)
#define TRY_OK(e) TRY((e) == OFFPAY_OK)

static void test_wallet_drop_survives_power_loss(void)
{
    char           dir[512], base[600], run[600], path[700];
    uint8_t        root[OFFPAY_PK_BYTES], cred[512], fresh[512], old[512];
    uint8_t       *bundle = NULL;
    size_t         blen = 0, len = 0, fresh_len = 0, old_len = 0;
    uint64_t       old_serial = 0, fresh_serial = 0, serial = 0;
    offpay_issuer *is = NULL;
    offpay_wallet *w = NULL;
    int            fails = 0, ok = 0;
    unsigned long  cuts = 0;
    uint32_t       saved_cap = offpay__wallet_creds_max;
    const uint32_t later = NOW + 11 * DAY;
    char          *code = NULL;
    offpay__wallet_sync_cred v;

    snprintf(dir, sizeof dir, "%s/wallet-drop", offpay_test_tmpdir());
    snprintf(base, sizeof base, "%s/wallet", dir);
    snprintf(run, sizeof run, "%s/wallet-run", dir);
    setenv("OFFPAY_KDF_COST", "test", 1);
    offpay__wallet_creds_max = DROP_CAP;
    TRY(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/issuer", dir);
    TRY_OK(offpay_issuer_create(path, PASS, NOW - DAY, &is));
    offpay_issuer_root_pk(is, root);
    TRY_OK(offpay_issuer_bundle(is, &bundle, &blen));
    TRY_OK(offpay_wallet_create(base, PASS, root, bundle, blen, &w));
    /* The oldest, spent whole (a code in the log), then released by
     * offpayd with its late window over by `later`: finished. */
    TRY(issue_into(is, w, NOW + DAY, old, &old_len, &old_serial));
    TRY_OK(offpay_wallet_add_credential(w, old, old_len, NOW));
    TRY_OK(offpay_wallet_pay(w, 1000, EUR, NOW, &code, NULL));
    free(code);
    for (int i = 1; i < DROP_CAP; i++) {
        TRY(issue_into(is, w, NOW + 30 * DAY, cred, &len, &serial));
        TRY_OK(offpay_wallet_add_credential(w, cred, len, NOW));
    }
    memset(&v, 0, sizeof v);
    v.serial = old_serial;
    v.synced = 1;
    v.released = 1;
    v.released_at = v.release_due = NOW + 5 * DAY;
    v.late_until = NOW + 10 * DAY;
    TRY_OK(offpay__wallet_sync_apply(w, &v, 1));
    TRY(offpay_wallet_n_credentials(w) == DROP_CAP);
    TRY(issue_into(is, w, NOW + 60 * DAY, fresh, &fresh_len, &fresh_serial));
    offpay_wallet_close(w);
    w = NULL;

    for (int pass = 0; pass < passes() && fails == 0; pass++) {
        int      mode = pass < NMODES ? pass : OFFPAY__FAULTFS_TORN;
        uint64_t n = 1;

        for (uint64_t k = 0; k <= n && fails == 0;
             k += (k == 0 ? 1 : stride())) {
            offpay_wallet_spend sp;
            offpay_payment      p;
            offpay_err          said;
            int                 has_new, has_old;

            copy_wallet(base, run, &ok);
            TRY(ok);
            TRY_OK(offpay_wallet_open(run, PASS, &w));
            offpay__faultfs_track_wallet(run);
            offpay__faultfs_arm(k, (offpay__faultfs_mode)mode,
                                k * 11 + 3 + (uint64_t)pass * 1000003u);
            said = offpay_wallet_add_credential(w, fresh, fresh_len, later);
            offpay_wallet_close(w);
            w = NULL;
            if (k == 0)
                n = offpay__faultfs_steps();
            else
                cuts++;
            TRY(offpay__faultfs_reboot() == 0);
            offpay__faultfs_track_wallet(NULL);

            if (!reopened(run, mode, k, n, &w)) {
                fails++;
                continue;
            }
            has_new = offpay_test_wallet_holds(w, fresh_serial, later);
            has_old = offpay_test_wallet_holds(w, old_serial, later);
            if (k == 0)
                CHECK(said == OFFPAY_OK);
            /* one state or the other, never a mix; a done install kept */
            if (offpay_wallet_n_credentials(w) != DROP_CAP ||
                has_new == has_old || (said == OFFPAY_OK && !has_new)) {
                fprintf(stderr,
                        "%s cut at step %llu/%llu: install said %s, %zu "
                        "credentials, new %d, dropped one %d\n",
                        mode_name[mode], (unsigned long long)k,
                        (unsigned long long)n, offpay_errname(said),
                        offpay_wallet_n_credentials(w), has_new, has_old);
                fails++;
            }
            /* the dropped credential's code stays in the log */
            CHECK(offpay_wallet_n_spends(w) == 1);
            CHECK_ERR(offpay_wallet_get_spend(w, 0, &sp), OFFPAY_OK);
            CHECK(sp.serial == old_serial && sp.counter == 1 &&
                  sp.authorized == 1000);
            /* the install again: done once, the old one gone for good */
            CHECK_ERR(offpay_wallet_add_credential(w, fresh, fresh_len, later),
                      has_new ? OFFPAY_EEXISTS : OFFPAY_OK);
            CHECK(offpay_test_wallet_holds(w, fresh_serial, later));
            CHECK(!offpay_test_wallet_holds(w, old_serial, later));
            CHECK_ERR(offpay_wallet_add_credential(w, old, old_len, NOW),
                      OFFPAY_EEXISTS);
            CHECK_ERR(offpay_wallet_pay(w, 100, EUR, later, &code, &p),
                      OFFPAY_OK);
            free(code);
            code = NULL;
            CHECK(p.cred.serial != old_serial);
            offpay_wallet_close(w);
            w = NULL;
            /* and the same after another open */
            TRY_OK(offpay_wallet_open(run, PASS, &w));
            CHECK(offpay_wallet_n_spends(w) == 2);
            CHECK(offpay_test_wallet_holds(w, fresh_serial, later) &&
                  !offpay_test_wallet_holds(w, old_serial, later));
            offpay_wallet_close(w);
            w = NULL;
        }
        printf("wallet drop, %s: %llu I/O steps\n", mode_name[mode],
               (unsigned long long)n);
    }
    CHECK(fails == 0);
    printf("wallet drop: %lu power cuts, %d violations\n", cuts, fails);
    cuts_run += cuts;
out: /* the cap and the layer as the other tests expect them */
    offpay__faultfs_track_wallet(NULL);
    offpay__wallet_creds_max = saved_cap;
    offpay_wallet_close(w);
    offpay_issuer_close(is);
    free(bundle);
}
#undef TRY
#undef TRY_OK

/* Rows in the table t of the SQLite file at path (-1: unreadable). */
static int rows(const char *path)
{
    sqlite3      *db = NULL;
    sqlite3_stmt *st = NULL;
    int           n = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* One row inserted with synchronous=sync_mode, then the power cut at the
 * next write; the rows left after the reboot. */
static int rows_after_cut(const char *path, const char *sync_mode,
                          offpay__faultfs_mode mode)
{
    sqlite3 *db = NULL;
    char     sql[200];
    uint64_t n;

    remove_ledger(path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     " CREATE TABLE t(x); INSERT INTO t VALUES(1);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sync_mode);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    /* Count the insert's steps, then cut at the first step after it. */
    offpay__faultfs_arm(0, mode, 1);
    sqlite3_exec(db, "INSERT INTO t VALUES(2)", NULL, NULL, NULL);
    n = offpay__faultfs_steps();
    offpay__faultfs_reboot();
    sqlite3_exec(db, "DELETE FROM t WHERE x = 2", NULL, NULL, NULL);
    offpay__faultfs_arm(n + 1, mode, 1);
    sqlite3_exec(db, "INSERT INTO t VALUES(2)", NULL, NULL, NULL);
    sqlite3_exec(db, "INSERT INTO t VALUES(3)", NULL, NULL, NULL);
    if (!offpay__faultfs_dead())
        return -1;
    sqlite3_close(db);
    if (offpay__faultfs_reboot() != 0)
        return -1;
    return rows(path);
}

/* The layer itself: a cut really loses what was not synced, and keeps
 * what was (else the tests above could pass over a layer doing nothing). */
static void test_unsynced_write_is_lost(void)
{
    char path[600];

    snprintf(path, sizeof path, "%s/layer.db", offpay_test_tmpdir());
    CHECK(rows_after_cut(path, "OFF", OFFPAY__FAULTFS_LOST) == 1);
    CHECK(rows_after_cut(path, "OFF", OFFPAY__FAULTFS_KEPT) == 2);
    CHECK(rows_after_cut(path, "FULL", OFFPAY__FAULTFS_LOST) == 2);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"unsynced_write_is_lost", test_unsynced_write_is_lost},
        {"terminal_accepted_survive_power_loss",
         test_terminal_accepted_survive_power_loss},
        {"terminal_cut_mid_accept_never_says_accepted",
         test_terminal_cut_mid_accept_never_says_accepted},
        {"ledger_acknowledged_survive_power_loss",
         test_ledger_acknowledged_survive_power_loss},
        {"wallet_drop_survives_power_loss",
         test_wallet_drop_survives_power_loss},
        {"wallet_codes_survive_power_loss",
         test_wallet_codes_survive_power_loss},
        {NULL, NULL},
    };
    int rc;

    if (offpay__faultfs_install() != 0) {
        fprintf(stderr, "cannot register the power-loss VFS\n");
        return 1;
    }
    rc = offpay_test_main(tests);
    printf("power cuts run: %lu\n", cuts_run);
    return rc;
}
