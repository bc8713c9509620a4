/*
 * pkcs11_bench.c — Ed25519 signatures through a PKCS#11 token (SoftHSM2,
 * CKM_EDDSA) beside libsodium's crypto_sign_detached, in the same run
 * (docs/pkcs11.md, "Benchmark").
 *
 * It makes its own SoftHSM2 token in a temporary directory (a private
 * softhsm2.conf, softhsm2-util --init-token), generates a key there, and
 * signs the same message — a wallet credential's signed bytes with their
 * domain — alternately by the token (offpay_pkcs11_sign: one
 * C_SignInit + C_Sign under the key's lock) and by libsodium (offpay_sign),
 * so a busy moment of the machine falls on both alike. Every token
 * signature is checked with libsodium once, outside the timing. Also:
 * what opening the key costs (module already loaded: session, login,
 * find, the check signature), which the issuer's ceremony tool pays per
 * credential and offpayd once at start.
 * Usage: pkcs11_bench [--quick] [N]. Exit 0; 0 with a message when
 * SoftHSM2 is not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/message_int.h"
#include "offpay/offpay.h"

#define PIN     "bench-pin-1234"
#define DOMAIN  OFFPAY_DS_WALLET_CRED
#define MSG_LEN OFFPAY_WALLET_CRED_SIGNED_BYTES

static char dir[256];

static void cleanup(void)
{
    char cmd[300];

    if (dir[0] != '\0') {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "pkcs11_bench: could not remove %s\n", dir);
    }
}

static void die(const char *what, offpay_err rc)
{
    fprintf(stderr, "pkcs11_bench: %s: %s %s\n", what, offpay_strerror(rc),
            offpay_pkcs11_detail());
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

static double sum(const double *v, size_t n)
{
    double s = 0;

    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

static void row(const char *name, double *v, size_t n)
{
    double total = sum(v, n);

    printf("  %-28s %9.0f sig/s  p50 %7.1f us  p99 %7.1f us\n", name,
           total > 0 ? (double)n / (total / 1e6) : 0.0, quantile(v, n, 0.5),
           quantile(v, n, 0.99));
}

int main(int argc, char **argv)
{
    int                n = 5000, quick = 0, opens;
    offpay_pkcs11_key *k = NULL, *k2 = NULL;
    offpay_keypair     kp;
    uint8_t            msg[MSG_LEN], sig[OFFPAY_SIG_BYTES];
    uint8_t            pk[OFFPAY_PK_BYTES], framed[128];
    char               conf[400], cmd[1024], uri[200];
    double            *tok, *lib, *op;
    FILE              *f;
    offpay_err         rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1, n = 200;
        else if (atoi(argv[i]) > 0)
            n = atoi(argv[i]);
    }
    opens = quick ? 5 : 50;
    if (access(OFFPAY_PKCS11_DEFAULT_MODULE, R_OK) != 0) {
        printf("pkcs11_bench: %s missing (apt-get install softhsm2): "
               "skipped\n",
               OFFPAY_PKCS11_DEFAULT_MODULE);
        return 0;
    }
    if (offpay_init() != OFFPAY_OK)
        die("init", OFFPAY_ECRYPTO);
    snprintf(dir, sizeof dir, "%s/offpay-p11bench.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        dir[0] = '\0';
        die("mkdtemp", OFFPAY_EIO);
    }
    atexit(cleanup);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
    f = fopen(conf, "w");
    if (f == NULL)
        die("softhsm2.conf", OFFPAY_EIO);
    fprintf(f,
            "directories.tokendir = %s\nobjectstore.backend = file\n"
            "log.level = ERROR\n",
            dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label bench --pin %s "
             "--so-pin so-%s >/dev/null",
             PIN, PIN);
    if (system(cmd) != 0)
        die("softhsm2-util --init-token", OFFPAY_EPKCS11);
    snprintf(uri, sizeof uri,
             "pkcs11:token=bench;object=bench-key?pin-value=%s", PIN);
    if ((rc = offpay_pkcs11_generate(NULL, uri, &k)) != OFFPAY_OK)
        die("generate", rc);
    offpay_pkcs11_pk(k, pk);
    if ((rc = offpay_keypair_generate(&kp)) != OFFPAY_OK)
        die("keypair", rc);
    randombytes_buf(msg, sizeof msg);

    tok = calloc((size_t)n, sizeof *tok);
    lib = calloc((size_t)n, sizeof *lib);
    op = calloc((size_t)opens, sizeof *op);
    if (tok == NULL || lib == NULL || op == NULL)
        die("calloc", OFFPAY_ENOMEM);
    /* A warm-up of each, then interleaved. */
    if ((rc = offpay_pkcs11_sign(k, DOMAIN, msg, sizeof msg, sig)) !=
            OFFPAY_OK ||
        (rc = offpay_sign(DOMAIN, msg, sizeof msg, kp.sk, sig)) != OFFPAY_OK)
        die("warm-up", rc);
    for (int i = 0; i < n; i++) {
        double t0;

        msg[0] = (uint8_t)i;
        t0 = now_us();
        rc = offpay_pkcs11_sign(k, DOMAIN, msg, sizeof msg, sig);
        tok[i] = now_us() - t0;
        if (rc != OFFPAY_OK)
            die("token sign", rc);
        if (i == 0 || i == n - 1) {
            /* Pure Ed25519 over domain || 0x00 || msg. */
            memcpy(framed, DOMAIN, strlen(DOMAIN) + 1);
            memcpy(framed + strlen(DOMAIN) + 1, msg, sizeof msg);
            if (crypto_sign_verify_detached(
                    sig, framed, strlen(DOMAIN) + 1 + sizeof msg, pk) != 0)
                die("token signature does not verify", OFFPAY_ECODE_SIG);
        }
        t0 = now_us();
        rc = offpay_sign(DOMAIN, msg, sizeof msg, kp.sk, sig);
        lib[i] = now_us() - t0;
        if (rc != OFFPAY_OK)
            die("libsodium sign", rc);
    }
    /* Opening the key while k keeps the module loaded. */
    for (int i = 0; i < opens; i++) {
        double t0 = now_us();

        rc = offpay_pkcs11_open(NULL, uri, &k2);
        op[i] = now_us() - t0;
        if (rc != OFFPAY_OK)
            die("open", rc);
        offpay_pkcs11_close(k2);
        k2 = NULL;
    }
    printf("Ed25519 signatures, %d of each, interleaved, %d-byte message%s\n",
           n, (int)(strlen(DOMAIN) + 1 + sizeof msg), quick ? " [quick]" : "");
    row("libsodium crypto_sign", lib, (size_t)n);
    row("PKCS#11 SoftHSM2 CKM_EDDSA", tok, (size_t)n);
    printf("  open the key (session, login, find, check signature): "
           "p50 %.0f us  p99 %.0f us (%d)\n",
           quantile(op, (size_t)opens, 0.5), quantile(op, (size_t)opens, 0.99),
           opens);
    offpay_pkcs11_close(k);
    offpay_keypair_wipe(&kp);
    free(tok);
    free(lib);
    free(op);
    return 0;
}
