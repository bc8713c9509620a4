/*
 * nfc_bench.c — the time of one NFC payment through a real pcscd and
 * vsmartcard's virtual reader (docs/nfc.md), beside the raw APDU round
 * trip of the same reader (docs/benchmarks.md, "NFC").
 *
 * It starts its own pcscd (a private socket handed over as systemd would,
 * a private reader.conf.d with vpcd on a free port), plays the wallet's
 * card role in a thread connected to vpcd, and drives the terminal through
 * PC/SC from the main thread:
 *   raw:      SELECT and its 9000, one APDU there and back;
 *   exchange: offpay_nfc_terminal_pay from start to end — request made and
 *             stored, card connected, SELECT, request, the wallet's checks,
 *             reservation (on disk) and signature, the terminal's checks
 *             and durable journal row, receipt made, taken and saved;
 *             through the reader with 255- and 64-byte APDUs, and with the
 *             same card called in memory (what the roles cost with no
 *             transport at all).
 * Usage: nfc_bench [--quick] [N]. Exit 0; 0 with a message when pcscd or
 * vpcd is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "offpay/offpay.h"

#define VPCD_DRIVER "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
#define PASS        "nfc bench passphrase"
#define EUR         978

static char  dir[256];
static pid_t pcscd = -1;

static void cleanup(void)
{
    char cmd[300];

    if (pcscd > 0) {
        kill(pcscd, SIGTERM);
        waitpid(pcscd, NULL, 0);
    }
    if (dir[0] != '\0') {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "nfc_bench: could not remove %s\n", dir);
    }
}

static void die(const char *what, offpay_err rc)
{
    fprintf(stderr, "nfc_bench: %s: %s\n", what, offpay_strerror(rc));
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) by nearest rank; sorts v. */
static double quantile(double *v, size_t n, double q)
{
    size_t i;

    qsort(v, n, sizeof *v, cmp_double);
    i = (size_t)(q * (double)n);
    return v[i >= n ? n - 1 : i];
}

/* A port p with p and p + 1 free on every address (vpcd takes both). */
static uint16_t free_ports(void)
{
    unsigned seed = (unsigned)getpid();

    for (int tries = 0; tries < 200; tries++) {
        uint16_t p = (uint16_t)(20000 + rand_r(&seed) % 40000);
        int      ok = 1;

        for (int k = 0; k < 2 && ok; k++) {
            struct sockaddr_in a;
            int                fd = socket(AF_INET, SOCK_STREAM, 0);

            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_port = htons((uint16_t)(p + k));
            ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
            if (fd >= 0)
                close(fd);
        }
        if (ok)
            return p;
    }
    return 0;
}

/* pcscd on a private socket (socket activation) with vpcd on port. */
static int start_pcscd(uint16_t port)
{
    char               conf[300], sock[300], path[320];
    struct sockaddr_un sa;
    FILE              *f;
    int                fd;

    snprintf(conf, sizeof conf, "%s/conf", dir);
    snprintf(sock, sizeof sock, "%s/pcscd.comm", dir);
    snprintf(path, sizeof path, "%s/vpcd", conf);
    if (mkdir(conf, 0700) != 0 || (f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f,
            "FRIENDLYNAME \"offpay bench vpcd\"\nDEVICENAME /dev/null:0x%X\n"
            "LIBPATH %s\nCHANNELID 0x%X\n",
            port, VPCD_DRIVER, port);
    fclose(f);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(sock) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(fd, 64) != 0)
        return -1;
    setenv("PCSCLITE_CSOCK_NAME", sock, 1);
    pcscd = fork();
    if (pcscd < 0)
        return -1;
    if (pcscd == 0) {
        char pid[32];
        int  null = open("/dev/null", O_RDWR);

        if (dup2(fd, 3) < 0)
            _exit(127);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_PID", pid, 1);
        execlp("pcscd", "pcscd", "--foreground", "--config", conf,
               (char *)NULL);
        _exit(127);
    }
    close(fd);
    return 0;
}

/* ---- the card ---------------------------------------------------------- */

typedef struct card_thread {
    offpay_nfc_card *card;
    uint16_t         port;
    volatile int     stop;
} card_thread;

static int card_stop(void *ctx)
{
    return ((card_thread *)ctx)->stop;
}

static void *card_main(void *arg)
{
    card_thread *ct = arg;

    while (!ct->stop) {
        offpay_nfc_vpcd_opts o;

        memset(&o, 0, sizeof o);
        o.connect_ms = 5000;
        o.done = card_stop; /* else until pcscd goes away */
        o.ctx = ct;
        if (offpay_nfc_vpcd_tap("127.0.0.1", ct->port, ct->card, &o, NULL) !=
                OFFPAY_OK ||
            ct->stop)
            break;
    }
    return NULL;
}

/* The same card without a reader: transmit is a function call. Used
 * between taps of the reader (one card, never two sessions at once). */
static offpay_err mem_connect(void *ctx, uint32_t timeout_ms)
{
    (void)timeout_ms;
    offpay_nfc_card_reset(ctx);
    return OFFPAY_OK;
}

static offpay_err mem_transmit(void *ctx, const uint8_t *cmd, size_t len,
                               uint8_t *resp, size_t cap, size_t *rlen)
{
    uint8_t r[OFFPAY_APDU_RESP_MAX];
    size_t  n = offpay_nfc_card_process(ctx, cmd, len, r);

    if (n > cap)
        return OFFPAY_EIO;
    memcpy(resp, r, n);
    *rlen = n;
    return OFFPAY_OK;
}

static void mem_disconnect(void *ctx)
{
    offpay_nfc_card_reset(ctx);
}

static uint32_t fixed_now;

static uint32_t bench_now(void *ctx)
{
    (void)ctx;
    return fixed_now;
}

/* ---- the world --------------------------------------------------------- */

static void world(offpay_wallet **w, offpay_terminal **t)
{
    char                 path[320];
    offpay_issuer       *is = NULL;
    uint8_t              root[OFFPAY_PK_BYTES], pk[OFFPAY_PK_BYTES], buf[512];
    uint8_t             *bundle = NULL, *rl = NULL;
    size_t               blen = 0, n = 0, rllen = 0;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    offpay_risk          r;
    offpay_err           rc;

    snprintf(path, sizeof path, "%s/issuer", dir);
    if ((rc = offpay_issuer_create(path, PASS, fixed_now - 86400, &is)) ||
        (rc = offpay_issuer_bundle(is, &bundle, &blen)))
        die("issuer", rc);
    offpay_issuer_root_pk(is, root);
    snprintf(path, sizeof path, "%s/wallet", dir);
    if ((rc = offpay_wallet_create(path, PASS, root, bundle, blen, w)))
        die("wallet", rc);
    offpay_wallet_public_key(*w, pk);
    if ((rc = offpay_issuer_issue_wallet(is, pk, 10000000, EUR,
                                         fixed_now - 86400,
                                         fixed_now + 30 * 86400, 0, &wc)) ||
        (rc = offpay_wallet_cred_encode(&wc, buf, sizeof buf, &n)) ||
        (rc = offpay_wallet_add_credential(*w, buf, n, fixed_now)))
        die("wallet credential", rc);
    snprintf(path, sizeof path, "%s/terminal", dir);
    if ((rc = offpay_terminal_create(path, PASS, root, bundle, blen, EUR, t)))
        die("terminal", rc);
    offpay_terminal_public_key(*t, pk);
    if ((rc = offpay_issuer_issue_terminal(is, 7, pk, EUR, "NFC Bench",
                                           fixed_now - 86400,
                                           fixed_now + 365 * 86400, &tc)) ||
        (rc = offpay_terminal_cred_encode(&tc, buf, sizeof buf, &n)) ||
        (rc = offpay_terminal_set_credential(*t, buf, n, fixed_now)) ||
        (rc = offpay_issuer_revlist(is, fixed_now, &rl, &rllen)) ||
        (rc = offpay_terminal_sync(*t, NULL, 0, rl, rllen, fixed_now)))
        die("terminal credential", rc);
    /* Many payments from one credential, offline: lift the limits that
     * would stop the run (they are not what is measured). */
    offpay_terminal_get_risk(*t, &r);
    r.cumulative = 10000000;
    r.max_offline_payments = 0;
    if ((rc = offpay_terminal_set_risk(*t, &r)))
        die("risk", rc);
    free(bundle);
    free(rl);
    offpay_issuer_close(is);
}

int main(int argc, char **argv)
{
    int                     n = 200, quick = 0;
    uint16_t                port;
    offpay_wallet          *w = NULL;
    offpay_terminal        *t = NULL;
    offpay_nfc_wallet_card *wc = NULL, *wc_mem = NULL;
    offpay_nfc_wallet_cfg   cfg;
    offpay_nfc_reader      *reader = NULL;
    offpay_nfc_link         link;
    card_thread             ct;
    pthread_t               th;
    double                 *raw, *ex, *ex64, *exmem, t0;
    offpay_nfc_link mem = {mem_connect, mem_transmit, mem_disconnect, NULL};
    offpay_err      rc;
    static const uint8_t select_apdu[] = {0x00, 0xA4, 0x04, 0x00, 0x08,
                                          0xF0, 'o',  'f',  'f',  'p',
                                          'a',  'y',  0x01, 0x00};

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1, n = 20;
        else if (atoi(argv[i]) > 0)
            n = atoi(argv[i]);
    }
    if (access(VPCD_DRIVER, R_OK) != 0 || system("command -v pcscd "
                                                 ">/dev/null") != 0) {
        printf("nfc_bench: pcscd or vsmartcard-vpcd not installed "
               "(scripts/setup.sh): nothing measured\n");
        return 0;
    }
    setenv("OFFPAY_KDF_COST", "test", 1);
    if (offpay_init() != OFFPAY_OK)
        die("init", OFFPAY_ECRYPTO);
    snprintf(dir, sizeof dir, "%s/offpay-nfcbench.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        dir[0] = '\0';
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    fixed_now = (uint32_t)time(NULL);
    port = free_ports();
    if (port == 0 || start_pcscd(port) != 0) {
        fprintf(stderr, "nfc_bench: cannot start pcscd\n");
        return 1;
    }
    world(&w, &t);
    memset(&cfg, 0, sizeof cfg);
    cfg.max_amount = 100;
    cfg.currency = EUR;
    cfg.payments = (uint32_t)(3 * n);
    cfg.now = bench_now;
    if ((rc = offpay_nfc_wallet_card_new(w, &cfg, &wc)))
        die("card", rc);
    memset(&ct, 0, sizeof ct);
    ct.card = offpay_nfc_wallet_card_card(wc);
    ct.port = port;
    /* pcscd may take a moment to read its configuration. */
    for (int i = 0; i < 50; i++) {
        rc = offpay_nfc_reader_open("offpay bench vpcd", &reader, &link);
        if (rc == OFFPAY_OK)
            break;
        usleep(100000);
    }
    if (rc != OFFPAY_OK)
        die("reader", rc);
    if (pthread_create(&th, NULL, card_main, &ct) != 0)
        die("thread", OFFPAY_ENOMEM);
    if ((rc = link.connect(link.ctx, 10000)))
        die("card never came", rc);

    raw = calloc((size_t)n * 5, sizeof *raw);
    ex = calloc((size_t)n, sizeof *ex);
    ex64 = calloc((size_t)n, sizeof *ex64);
    exmem = calloc((size_t)n, sizeof *exmem);
    /* A second card role on the same wallet: the vpcd thread may reset
     * its card on a power change while this one is in use. */
    if ((rc = offpay_nfc_wallet_card_new(w, &cfg, &wc_mem)))
        die("card", rc);
    mem.ctx = offpay_nfc_wallet_card_card(wc_mem);
    if (raw == NULL || ex == NULL || ex64 == NULL || exmem == NULL)
        die("memory", OFFPAY_ENOMEM);
    for (int i = 0; i < n * 5; i++) {
        uint8_t resp[OFFPAY_APDU_RESP_MAX];
        size_t  rl = 0;

        t0 = now_us();
        rc = link.transmit(link.ctx, select_apdu, sizeof select_apdu, resp,
                           sizeof resp, &rl);
        raw[i] = now_us() - t0;
        if (rc != OFFPAY_OK || rl != 3 || resp[1] != 0x90)
            die("raw SELECT", rc != OFFPAY_OK ? rc : OFFPAY_EIO);
    }
    link.disconnect(link.ctx);
    /* Interleaved, so that a busy moment of the machine falls on all
     * three alike: through the reader at 255 and 64 bytes, and the same
     * exchange with the card in memory (no reader: the roles' own work,
     * disk included). */
    for (int i = 0; i < n; i++) {
        for (int mode = 0; mode < 3; mode++) {
            offpay_nfc_term_opts   o = {mode == 1 ? 64u : 255u, 10000, 0,
                                      fixed_now};
            const offpay_nfc_link *l = mode == 2 ? &mem : &link;
            offpay_nfc_outcome     res;

            t0 = now_us();
            rc = offpay_nfc_terminal_pay(t, 100, l, &o, &res);
            (mode == 0 ? ex : mode == 1 ? ex64 : exmem)[i] = now_us() - t0;
            if (rc != OFFPAY_OK || !res.receipt)
                die("exchange", rc != OFFPAY_OK ? rc : OFFPAY_EIO);
        }
    }
    /* The card leaves when vpcd goes away with pcscd. */
    ct.stop = 1;
    offpay_nfc_reader_close(reader);
    kill(pcscd, SIGTERM);
    waitpid(pcscd, NULL, 0);
    pcscd = -1;
    pthread_join(th, NULL);

    printf("NFC through pcscd + vpcd (%d exchanges, %d raw APDUs)%s\n", n,
           5 * n, quick ? " [quick]" : "");
    printf("  raw APDU round trip (SELECT)   p50 %8.0f us  p99 %8.0f us\n",
           quantile(raw, (size_t)n * 5, 0.5),
           quantile(raw, (size_t)n * 5, 0.99));
    printf("  exchange, 255-byte APDUs (4)   p50 %8.0f us  p99 %8.0f us\n",
           quantile(ex, (size_t)n, 0.5), quantile(ex, (size_t)n, 0.99));
    printf("  exchange, 64-byte APDUs (12)   p50 %8.0f us  p99 %8.0f us\n",
           quantile(ex64, (size_t)n, 0.5), quantile(ex64, (size_t)n, 0.99));
    printf("  exchange, card in memory (4)   p50 %8.0f us  p99 %8.0f us\n",
           quantile(exmem, (size_t)n, 0.5), quantile(exmem, (size_t)n, 0.99));
    printf("  payments made %u, receipts taken %u\n",
           offpay_nfc_wallet_card_paid(wc) +
               offpay_nfc_wallet_card_paid(wc_mem),
           offpay_nfc_wallet_card_receipts(wc) +
               offpay_nfc_wallet_card_receipts(wc_mem));
    free(raw);
    free(ex);
    free(ex64);
    free(exmem);
    offpay_nfc_wallet_card_free(wc);
    offpay_nfc_wallet_card_free(wc_mem);
    offpay_wallet_close(w);
    offpay_terminal_close(t);
    return 0;
}
