/*
 * engine_bench.c — what settling one payment costs inside offpayd's
 * engine, without HTTP: CPU time per payment of the settlement engine
 * (offpay_ledger_settle_batch on a real SQLite ledger, batches of 100 or
 * --batch N, one durable commit each), split into the checks that need no ledger state
 * (decoding, the cached issuer chain, the wallet's signature) and the
 * store's transaction, beside one bare Ed25519 verification measured in
 * the same run on the same thread.
 *
 *   engine_bench [--quick] [--payments N] [--per-cred N] [--batch N]
 *
 * Every figure is the thread's own CPU time (CLOCK_THREAD_CPUTIME_ID), so
 * the machine's other load changes it little; time spent waiting for
 * fsync is not CPU time and is reported apart, as wall time. The last line
 * is the ceiling this engine puts on settle_bench's ratio to the Ed25519
 * bound before any HTTP, JSON or client work: bare verification CPU over
 * engine CPU per payment (docs/benchmarks.md, "Settlement over HTTP").
 *
 * Not a timed test: CTest runs --quick only to prove it works end to end.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/message_int.h"
#include "offpay/offpay.h"
#include "settle/settle_int.h"

#define EUR   978
#define T0    1780000000u
#define DAY   86400u
#define BATCH_MAX 1000

static void die(const char *what, offpay_err rc)
{
    fprintf(stderr, "engine_bench: %s: %s\n", what, offpay_strerror(rc));
    exit(1);
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct world {
    offpay_ledger      *l;
    offpay_ledger      *checks; /* a second handle on the ledger, with its
                                   own credential cache, for the checks
                                   timed alone */
    offpay_keypair      root, issuer, wallet;
    offpay_trust_bundle bundle;
    uint64_t            account;
    uint32_t            terminal;
} world;

static void make_world(world *w, const char *path, int64_t deposit)
{
    uint8_t              tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               tlen = 0;
    offpay_keypair       tk;
    offpay_terminal_cred tc;
    uint64_t             merchant = 0, macct = 0, g = 0;
    offpay_err           rc;

    memset(w, 0, sizeof *w);
    if ((rc = offpay_keypair_generate(&w->root)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->issuer)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->wallet)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&tk)) != OFFPAY_OK)
        die("keys", rc);
    w->bundle.seq = 1;
    w->bundle.issued_at = T0 - DAY;
    w->bundle.n_keys = 1;
    w->bundle.keys[0].kid = 1;
    memcpy(w->bundle.keys[0].pk, w->issuer.pk, OFFPAY_PK_BYTES);
    w->bundle.keys[0].valid_from = T0 - DAY;
    w->bundle.keys[0].valid_until = T0 + 400 * DAY;
    if ((rc = offpay_issuer_sign_bundle(w->root.sk, &w->bundle)) != OFFPAY_OK ||
        (rc = offpay_ledger_open(path, NULL, &w->l)) != OFFPAY_OK ||
        (rc = offpay_ledger_set_trust(w->l, &w->bundle, 1, w->issuer.sk)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_open(path, NULL, &w->checks)) != OFFPAY_OK ||
        (rc = offpay_ledger_set_trust(w->checks, &w->bundle, 1,
                                      w->issuer.sk)) != OFFPAY_OK ||
        (rc = offpay_ledger_wallet_account(w->l, EUR, "bench", T0,
                                           &w->account)) != OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->account, deposit, "top-up", T0,
                                    NULL)) != OFFPAY_OK ||
        (rc = offpay_ledger_guarantee_account(w->l, EUR, T0, &g)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_merchant_add(w->l, "Bench Market", EUR, T0,
                                         &merchant, &macct)) != OFFPAY_OK ||
        (rc = offpay_ledger_terminal_add(w->l, merchant, tk.pk, T0 + 365 * DAY,
                                         T0, tbytes, &tlen, &tc)) != OFFPAY_OK)
        die("ledger set-up", rc);
    w->terminal = tc.terminal_id;
    offpay_keypair_wipe(&tk);
}

/* n codes of 1.00, a new credential every per_cred; code i at codes + i *
 * OFFPAY_PAYMENT_BOUND_BYTES, its length in lens[i]. */
static void make_codes(world *w, size_t n, unsigned per_cred, uint8_t *codes,
                       size_t *lens)
{
    uint8_t        cred_bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_payment p;
    offpay_err     rc;

    memset(&p, 0, sizeof p);
    for (size_t i = 0; i < n; i++) {
        uint8_t msg[OFFPAY_PAYMENT_BOUND_BYTES];
        size_t  mlen = 0;

        if (i % per_cred == 0 &&
            (rc = offpay_ledger_issue(w->l, w->account, w->wallet.pk,
                                      (int64_t)per_cred * 100,
                                      OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY,
                                      T0, cred_bytes, &p.cred)) != OFFPAY_OK)
            die("issue", rc);
        p.counter = (uint32_t)(i % per_cred) + 1;
        p.amount = 100;
        p.time = T0 + 60;
        randombytes_buf(p.nonce, sizeof p.nonce);
        if ((rc = offpay__payment_signed_bytes(&p, msg, sizeof msg, &mlen)) !=
                OFFPAY_OK ||
            (rc = offpay_sign(OFFPAY_DS_PAYMENT, msg, mlen, w->wallet.sk,
                              p.sig)) != OFFPAY_OK ||
            (rc = offpay_payment_encode(
                 &p, codes + i * OFFPAY_PAYMENT_BOUND_BYTES,
                 OFFPAY_PAYMENT_BOUND_BYTES, &lens[i])) != OFFPAY_OK)
            die("code", rc);
    }
}

/* CPU microseconds of one bare verification of a code-sized message. */
static double verify_us(size_t rounds)
{
    offpay_keypair kp;
    uint8_t        msg[200], sig[64];
    double         c0;

    offpay_keypair_generate(&kp);
    randombytes_buf(msg, sizeof msg);
    if (offpay_sign(OFFPAY_DS_PAYMENT, msg, sizeof msg, kp.sk, sig) !=
        OFFPAY_OK)
        die("sign", OFFPAY_ECRYPTO);
    c0 = cpu_s();
    for (size_t i = 0; i < rounds; i++)
        if (offpay_verify(OFFPAY_DS_PAYMENT, msg, sizeof msg, sig, kp.pk,
                          OFFPAY_ECODE_SIG) != OFFPAY_OK)
            die("verify", OFFPAY_ECRYPTO);
    return (cpu_s() - c0) * 1e6 / (double)rounds;
}

int main(int argc, char **argv)
{
    size_t               n = 20000;
    unsigned             per_cred = 50;
    char                 dir[] = "/tmp/offpay-engine-bench.XXXXXX", path[64];
    char                 cmd[96];
    world                w;
    uint8_t             *codes;
    size_t              *lens;
    size_t               batch = 100;
    offpay_settle_item  *it;
    offpay_settle_result *res;
    offpay_payment       p;
    double               c0, w0, pure_cpu, batch_cpu, batch_wall, v;
    offpay_err           rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            n = 1000;
        else if (strcmp(argv[i], "--payments") == 0 && i + 1 < argc)
            n = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--per-cred") == 0 && i + 1 < argc)
            per_cred = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = (size_t)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: engine_bench [--quick] [--payments N] "
                            "[--per-cred N] [--batch N]\n");
            return 2;
        }
    }
    if (batch == 0 || batch > BATCH_MAX)
        die("--batch must be 1..1000", OFFPAY_EINVAL);
    n -= n % batch;
    it = calloc(batch, sizeof *it);
    res = calloc(batch, sizeof *res);
    if (n == 0 || per_cred == 0 || it == NULL || res == NULL || offpay_init() != OFFPAY_OK ||
        mkdtemp(dir) == NULL)
        die("start", OFFPAY_EINVAL);
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    make_world(&w, path, (int64_t)n * 100 + (int64_t)per_cred * 100);
    codes = malloc(n * OFFPAY_PAYMENT_BOUND_BYTES);
    lens = malloc(n * sizeof *lens);
    if (codes == NULL || lens == NULL)
        die("memory", OFFPAY_ENOMEM);
    make_codes(&w, n, per_cred, codes, lens);

    /* Each batch twice, in turn, so both figures see the same load: first
     * the checks without ledger state alone (the credential cache warm
     * after each credential's first code, as in offpayd), then the engine:
     * the same checks again and one transaction for the batch. Each has
     * its own ledger handle, so each meets a credential's first code with
     * a cold cache, as offpayd does. */
    pure_cpu = batch_cpu = batch_wall = 0;
    for (size_t b = 0; b < n; b += batch) {
        for (size_t i = 0; i < batch; i++) {
            it[i].code = codes + (b + i) * OFFPAY_PAYMENT_BOUND_BYTES;
            it[i].code_len = lens[b + i];
            it[i].charged = 100;
            it[i].accepted_at = T0 + 90;
            it[i].terminal_seq = (int64_t)(b + i);
        }
        c0 = cpu_s();
        for (size_t i = 0; i < batch; i++)
            if ((rc = offpay__settle_pure(w.checks, &it[i], T0 + 3600, &p)) !=
                OFFPAY_OK)
                die("pure checks", rc);
        pure_cpu += cpu_s() - c0;
        c0 = cpu_s();
        w0 = wall_s();
        if ((rc = offpay_ledger_settle_batch(w.l, w.terminal, it, batch,
                                             T0 + 3600, res)) != OFFPAY_OK)
            die("settle", rc);
        batch_cpu += cpu_s() - c0;
        batch_wall += wall_s() - w0;
        for (size_t i = 0; i < batch; i++)
            if (res[i].outcome != OFFPAY_SETTLE_SETTLED)
                die("an item did not settle", res[i].reason);
    }
    pure_cpu = pure_cpu * 1e6 / (double)n;
    batch_cpu = batch_cpu * 1e6 / (double)n;
    batch_wall = batch_wall * 1e6 / (double)n;
    v = verify_us(n);

    printf("settlement engine, in process (SQLite, batches of %zu, %zu "
           "payments, %u per credential), CPU time of one thread:\n",
           batch, n, per_cred);
    printf("  Ed25519 verification, bare:           %6.1f us\n", v);
    printf("  checks without ledger state:          %6.1f us  (%.2f x a "
           "verification)\n",
           pure_cpu, pure_cpu / v);
    printf("  engine per payment (checks + store):  %6.1f us  (store %.1f "
           "us = %.2f x a verification)\n",
           batch_cpu, batch_cpu - pure_cpu, (batch_cpu - pure_cpu) / v);
    printf("  wall time per payment (with fsync):   %6.1f us\n", batch_wall);
    printf("  ceiling before HTTP, JSON and client: %.2f x the Ed25519 "
           "bound\n",
           v / batch_cpu);

    offpay_ledger_close(w.checks);
    offpay_ledger_close(w.l);
    free(codes);
    free(lens);
    free(it);
    free(res);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
