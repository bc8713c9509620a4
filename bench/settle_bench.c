/*
 * settle_bench.c — settlement throughput end to end over HTTP: a real
 * offpayd on a fresh SQLite ledger, terminals uploading signed batches of
 * real payment codes (one terminal per client thread, a new wallet
 * credential every PER_CRED payments), in payments per second beside the
 * Ed25519 verification rate of the same machine, measured in the same run on
 * the same cores (every payment costs at least one verification). Reports p50
 * and p99 batch latency, throughput after 10^4 and after 10^5 (or --big:
 * 10^6) payments already settled, and offpayd's peak RSS.
 *
 *   settle_bench --offpayd PATH [--quick] [--big] [--payments N]
 *                [--per-cred N]   payments per wallet credential (50)
 *
 * Not a timed test: CTest runs --quick only to prove it works end to end.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/message_int.h"
#include "offpay/offpay.h"
#include "terminal/upload_int.h"

#define TOKEN    "bench-operator-token-0123456789"
#define EUR      978
#define MAX_THR  16
#define CODE_B64 512
/* Payments per wallet credential: a real credential pays a few dozen
 * times (the cumulative rule caps it at 500.00 per terminal), and the
 * guarantee rules sum a credential's charges at the terminal per item. */
#define PER_CRED 50
static unsigned per_cred = PER_CRED; /* --per-cred N */

static char  url[300];
static pid_t server;
static long  ncpu;
static int   srv_threads; /* offpayd --threads (--server-threads N) */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "settle_bench: %s\n", what);
    if (server > 0)
        kill(server, SIGKILL);
    exit(1);
}

/* ---- HTTP ---------------------------------------------------------- */

typedef struct resp {
    char  *p;
    size_t n;
} resp;

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
    resp *r = ctx;
    char *np = realloc(r->p, r->n + sz * nm + 1);

    if (np == NULL)
        return 0;
    memcpy(np + r->n, d, sz * nm);
    r->n += sz * nm;
    np[r->n] = '\0';
    r->p = np;
    return sz * nm;
}

/* One request; returns the parsed JSON reply (status 200 required). */
static json_t *http(CURL *c, const char *method, const char *path,
                    const char *body, struct curl_slist *extra)
{
    char               full[600], auth[128];
    resp               r = {NULL, 0};
    struct curl_slist *h = extra;
    long               status = 0;
    json_t            *j;

    snprintf(full, sizeof full, "%s%s", url, path);
    if (extra == NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", TOKEN);
        h = curl_slist_append(NULL, auth);
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (curl_easy_perform(c) != CURLE_OK)
        die("HTTP request failed");
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (status != 200) {
        fprintf(stderr, "%s %s: %ld %s\n", method, path, status, r.p);
        die("unexpected status");
    }
    j = json_loads(r.p, 0, NULL);
    free(r.p);
    if (j == NULL)
        die("reply is not JSON");
    return j;
}

static const char *jstr(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));

    if (s == NULL)
        die("field missing");
    return s;
}

/* ---- the world: one terminal and one credential per client --------- */

typedef struct client {
    int            id;
    CURL          *c;
    offpay_keypair term, wallet;
    offpay_payment p; /* template: the current credential */
    uint32_t       counter;
    int64_t        seq;
    char           acct[24]; /* the wallet account credentials come from */
    unsigned       creds;    /* credentials issued */
    /* measured phase */
    size_t   batch, n_batches;
    double  *lat;
    size_t   done;
    uint64_t ok_items;
} client;

static client cl[MAX_THR];
static int    n_cl;

static void setup(void)
{
    CURL   *c = curl_easy_init();
    json_t *j;
    char    body[512], hex[65], path[128], merchant[24];

    j = http(c, "POST", "/v1/admin/guarantee", "{\"currency\":\"EUR\"}", NULL);
    json_decref(j);
    j = http(c, "POST", "/v1/admin/merchants",
             "{\"name\":\"Bench Market\",\"currency\":\"EUR\"}", NULL);
    snprintf(merchant, sizeof merchant, "%s", jstr(j, "merchant"));
    json_decref(j);
    for (int i = 0; i < n_cl; i++) {
        client *k = &cl[i];

        k->id = i;
        k->c = curl_easy_init();
        if (offpay_keypair_generate(&k->term) != OFFPAY_OK ||
            offpay_keypair_generate(&k->wallet) != OFFPAY_OK)
            die("keygen");
        sodium_bin2hex(hex, sizeof hex, k->term.pk, 32);
        snprintf(body, sizeof body,
                 "{\"merchant\":\"%s\",\"terminal_key\":\"%s\"}", merchant,
                 hex);
        json_decref(http(c, "POST", "/v1/admin/terminals", body, NULL));
        j = http(c, "POST", "/v1/admin/accounts",
                 "{\"currency\":\"EUR\",\"ref\":\"bench\"}", NULL);
        snprintf(k->acct, sizeof k->acct, "%s", jstr(j, "account"));
        json_decref(j);
        snprintf(path, sizeof path, "/v1/admin/accounts/%s/deposit", k->acct);
        json_decref(
            http(c, "POST", path, "{\"amount\":\"40000000.00\"}", NULL));
    }
    curl_easy_cleanup(c);
}

/* A new credential for client k's wallet key, with room for per_cred
 * payments of 1.00 (and at least 100.00). */
static void new_credential(client *k)
{
    uint8_t cred[OFFPAY_WALLET_CRED_BYTES];
    char    body[256], hex[65];
    size_t  got = 0;
    json_t *j;

    sodium_bin2hex(hex, sizeof hex, k->wallet.pk, 32);
    snprintf(body, sizeof body,
             "{\"account\":\"%s\",\"wallet_key\":\"%s\",\"limit\":"
             "\"%u.00\"}",
             k->acct, hex, per_cred > 100 ? per_cred : 100);
    j = http(k->c, "POST", "/v1/admin/credentials", body, NULL);
    if (sodium_base642bin(cred, sizeof cred, jstr(j, "credential"),
                          strlen(jstr(j, "credential")), NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        offpay_wallet_cred_decode(cred, got, &k->p.cred) != OFFPAY_OK)
        die("credential");
    json_decref(j);
    k->counter = 0;
    k->creds++;
}

/* A batch body of n fresh codes of client k (1.00 EUR each); malloc'd. */
static char *make_batch(client *k, size_t n)
{
    size_t   cap = n * (CODE_B64 + 96) + 32, len = 0;
    char    *b = malloc(cap);
    uint32_t t = (uint32_t)time(NULL);

    if (b == NULL)
        die("out of memory");
    len += (size_t)snprintf(b, cap, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        uint8_t msg[OFFPAY_PAYMENT_BOUND_BYTES],
            code[OFFPAY_PAYMENT_BOUND_BYTES];
        size_t mlen = 0, clen = 0;
        char   b64[CODE_B64];

        if (k->creds == 0 || k->counter >= per_cred)
            new_credential(k);
        k->p.counter = ++k->counter;
        k->p.amount = 100;
        k->p.time = t;
        randombytes_buf(k->p.nonce, sizeof k->p.nonce);
        if (offpay__payment_signed_bytes(&k->p, msg, sizeof msg, &mlen) !=
                OFFPAY_OK ||
            offpay_sign(OFFPAY_DS_PAYMENT, msg, mlen, k->wallet.sk, k->p.sig) !=
                OFFPAY_OK ||
            offpay_payment_encode(&k->p, code, sizeof code, &clen) != OFFPAY_OK)
            die("code");
        sodium_bin2base64(b64, sizeof b64, code, clen,
                          sodium_base64_VARIANT_ORIGINAL);
        len += (size_t)snprintf(
            b + len, cap - len,
            "%s{\"seq\":\"%lld\",\"code\":\"%s\",\"charged\":100,"
            "\"accepted_at\":%u}",
            i ? "," : "", (long long)++k->seq, b64, (unsigned)t);
    }
    snprintf(b + len, cap - len, "]}");
    return b;
}

/* Sends one signed batch; counts the items settled. */
static void upload(client *k, const char *body)
{
    offpay__http_auth      a;
    offpay__http_auth_text t;
    struct curl_slist     *h = NULL;
    char                   line[160];
    json_t                *j, *res;
    size_t                 i;

    if (offpay__http_sign(k->term.sk, k->term.pk, "POST", "/v1/terminal/upload",
                          (uint32_t)time(NULL), (const uint8_t *)body,
                          strlen(body), &a) != OFFPAY_OK)
        die("sign");
    offpay__http_auth_format(&a, &t);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_KEY, t.key);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_TIME, t.time);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_NONCE, t.nonce);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_SIG, t.sig);
    h = curl_slist_append(h, line);
    j = http(k->c, "POST", "/v1/terminal/upload", body, h);
    res = json_object_get(j, "results");
    for (i = 0; i < json_array_size(res); i++)
        if (strcmp(json_string_value(
                       json_object_get(json_array_get(res, i), "outcome")),
                   "settled") == 0)
            k->ok_items++;
    json_decref(j);
}

/* ---- phases -------------------------------------------------------- */

typedef struct phase {
    size_t batch, batches; /* per client */
    char **bodies;         /* [client][batch], pre-made */
} phase;

static phase ph;

static void *run_client(void *arg)
{
    client *k = arg;

    for (size_t b = 0; b < ph.batches; b++) {
        double t0 = now_s();

        upload(k, ph.bodies[(size_t)k->id * ph.batches + b]);
        k->lat[k->done++] = now_s() - t0;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

typedef struct figures {
    double pps, p50, p99;
} figures;

/* total payments in batches of batch, spread over the clients. */
static figures run_phase(size_t total, size_t batch)
{
    pthread_t th[MAX_THR];
    double    t0, dt, *all;
    size_t    n_all = 0;
    uint64_t  ok = 0;
    figures   f;

    ph.batch = batch;
    ph.batches = total / batch / (size_t)n_cl;
    if (ph.batches == 0)
        ph.batches = 1;
    ph.bodies = malloc((size_t)n_cl * ph.batches * sizeof *ph.bodies);
    all = malloc((size_t)n_cl * ph.batches * sizeof *all);
    if (ph.bodies == NULL || all == NULL)
        die("out of memory");
    for (int i = 0; i < n_cl; i++) {
        cl[i].lat = malloc(ph.batches * sizeof(double));
        cl[i].done = 0;
        cl[i].ok_items = 0;
        for (size_t b = 0; b < ph.batches; b++)
            ph.bodies[(size_t)i * ph.batches + b] = make_batch(&cl[i], batch);
    }
    t0 = now_s();
    for (int i = 0; i < n_cl; i++)
        pthread_create(&th[i], NULL, run_client, &cl[i]);
    for (int i = 0; i < n_cl; i++)
        pthread_join(th[i], NULL);
    dt = now_s() - t0;
    for (int i = 0; i < n_cl; i++) {
        ok += cl[i].ok_items;
        memcpy(all + n_all, cl[i].lat, cl[i].done * sizeof(double));
        n_all += cl[i].done;
        free(cl[i].lat);
    }
    if (ok != (uint64_t)n_cl * ph.batches * batch)
        die("not every payment settled");
    qsort(all, n_all, sizeof *all, cmp_d);
    f.pps = (double)ok / dt;
    f.p50 = all[n_all / 2] * 1e3;
    f.p99 = all[(size_t)((double)n_all * 0.99)] * 1e3;
    for (size_t i = 0; i < (size_t)n_cl * ph.batches; i++)
        free(ph.bodies[i]);
    free(ph.bodies);
    free(all);
    return f;
}

/* Settles n more payments, unmeasured (batches of 1000, made as we go). */
static void preload(uint64_t n, uint64_t *settled)
{
    while (n > 0) {
        size_t chunk = n > 20000 ? 20000 : (size_t)n;

        run_phase(chunk,
                  chunk / (size_t)n_cl < 1000 ? chunk / (size_t)n_cl : 1000);
        *settled += (uint64_t)(chunk / (size_t)n_cl) * (size_t)n_cl;
        n = n > chunk ? n - chunk : 0;
    }
}

/* ---- the Ed25519 bound --------------------------------------------- */

static volatile int stop_verify;

static void *verify_loop(void *arg)
{
    uint64_t      *count = arg;
    offpay_keypair kp;
    uint8_t        msg[200], sig[64];

    offpay_keypair_generate(&kp);
    randombytes_buf(msg, sizeof msg);
    if (offpay_sign(OFFPAY_DS_PAYMENT, msg, sizeof msg, kp.sk, sig) !=
        OFFPAY_OK)
        die("sign");
    while (!stop_verify) {
        if (offpay_verify(OFFPAY_DS_PAYMENT, msg, sizeof msg, sig, kp.pk,
                          OFFPAY_ECODE_SIG) != OFFPAY_OK)
            die("verify");
        (*count)++;
    }
    return NULL;
}

/* Verifications per second on every core, for seconds. */
static double ed25519_rate(double seconds)
{
    pthread_t th[MAX_THR];
    uint64_t  counts[MAX_THR] = {0}, total = 0;
    double    t0 = now_s(), dt;

    stop_verify = 0;
    for (long i = 0; i < ncpu; i++)
        pthread_create(&th[i], NULL, verify_loop, &counts[i]);
    usleep((useconds_t)(seconds * 1e6));
    stop_verify = 1;
    for (long i = 0; i < ncpu; i++)
        pthread_join(th[i], NULL);
    dt = now_s() - t0;
    for (long i = 0; i < ncpu; i++)
        total += counts[i];
    return (double)total / dt;
}

/* ---- offpayd ------------------------------------------------------- */

static void start_server(const char *bin, const char *dir)
{
    int   fd[2];
    char  db[512], iss[512], pass[512], root[512], tok[512], threads[16];
    char  line[256];
    FILE *f;

    snprintf(db, sizeof db, "%s/ledger.db", dir);
    snprintf(iss, sizeof iss, "%s/iss", dir);
    snprintf(pass, sizeof pass, "%s/pass", dir);
    snprintf(root, sizeof root, "%s/iss/root.pub", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(threads, sizeof threads, "%d", srv_threads);
    if (pipe(fd) != 0)
        die("pipe");
    server = fork();
    if (server == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        execl(bin, bin, "--db", db, "--listen", "127.0.0.1:0", "--issuer", iss,
              "--passphrase-file", pass, "--root", root, "--token-file", tok,
              "--threads", threads, "--release-every", "0", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    f = fdopen(fd[0], "r");
    if (f == NULL || fgets(line, sizeof line, f) == NULL ||
        strncmp(line, "offpayd listening on ", 21) != 0)
        die("offpayd did not start");
    line[strcspn(line, "\n")] = '\0';
    snprintf(url, sizeof url, "http://%s", line + 21);
    fclose(f);
}

static long peak_rss_kb(void)
{
    char  path[64], line[256];
    long  kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)server);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char  path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL)
        die("write");
    fputs(text, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    const char    *bin = NULL;
    int            quick = 0, big = 0;
    size_t         measured = 20000;
    char           dir[] = "/tmp/offpay-settle-bench.XXXXXX";
    char           cmd[600];
    offpay_issuer *is = NULL;
    uint64_t       settled = 0;
    double         bound, bound2 = 0;
    figures        f100, f1000, fbig;
    long           rss;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--offpayd") == 0 && i + 1 < argc)
            bin = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--big") == 0)
            big = 1;
        else if (strcmp(argv[i], "--per-cred") == 0 && i + 1 < argc)
            per_cred = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--payments") == 0 && i + 1 < argc)
            measured = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            n_cl = (int)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--server-threads") == 0 && i + 1 < argc)
            srv_threads = (int)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: settle_bench --offpayd PATH [--quick] "
                            "[--big] [--payments N] [--per-cred N]\n");
            return 2;
        }
    }
    if (bin == NULL)
        die("--offpayd PATH is required");
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > MAX_THR)
        ncpu = MAX_THR;
    if (n_cl <= 0 || n_cl > MAX_THR)
        n_cl = (int)ncpu;
    if (srv_threads <= 0 || srv_threads > 64)
        srv_threads = (int)ncpu;
    setenv("OFFPAY_KDF_COST", "test", 1);
    if (offpay_init() != OFFPAY_OK || mkdtemp(dir) == NULL ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("init");
    snprintf(cmd, sizeof cmd, "%s/iss", dir);
    if (offpay_issuer_create(cmd, "bench pass", (uint32_t)time(NULL), &is) !=
        OFFPAY_OK)
        die("issuer");
    offpay_issuer_close(is);
    write_file(dir, "pass", "bench pass\n");
    write_file(dir, "token", TOKEN "\n");
    start_server(bin, dir);
    setup();
    if (quick)
        measured = 400 * (size_t)n_cl;

    printf("settlement over HTTP (offpayd, SQLite, %d client threads, "
           "%ld cores); each row beside the Ed25519 verification rate of all "
           "cores measured just before it\n",
           n_cl, ncpu);
    if (!quick) {
        preload(10000, &settled);
        printf("  already settled before measuring: %llu\n",
               (unsigned long long)settled);
    }
    bound = ed25519_rate(quick ? 0.3 : 1.5);
    f100 = run_phase(measured, 100);
    settled += measured;
    printf("  batches of  100: %6.0f payments/s, Ed25519 %6.0f/s (%.2f x), "
           "p50 %.1f ms, p99 %.1f ms\n",
           f100.pps, bound, f100.pps / bound, f100.p50, f100.p99);
    bound = ed25519_rate(quick ? 0.3 : 1.5);
    f1000 = run_phase(measured, quick ? 200 : 1000);
    settled += measured;
    printf("  batches of %4d: %6.0f payments/s, Ed25519 %6.0f/s (%.2f x), "
           "p50 %.1f ms, p99 %.1f ms\n",
           quick ? 200 : 1000, f1000.pps, bound, f1000.pps / bound, f1000.p50,
           f1000.p99);
    if (!quick) {
        uint64_t target = big ? 1000000 : 100000;

        preload(target - settled, &settled);
        bound2 = ed25519_rate(1.5);
        fbig = run_phase(measured, 1000);
        printf("  %llu already settled, batches of 1000: %6.0f payments/s, "
               "Ed25519 %6.0f/s (%.2f x), p50 %.1f ms, p99 %.1f ms "
               "(%+.1f%% vs the row above)\n",
               (unsigned long long)settled, fbig.pps, bound2, fbig.pps / bound2,
               fbig.p50, fbig.p99, 100.0 * (fbig.pps - f1000.pps) / f1000.pps);
    }
    rss = peak_rss_kb();
    printf("  offpayd peak RSS: %ld kB\n", rss);
    fflush(stdout);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    server = 0;
    for (int i = 0; i < n_cl; i++) {
        curl_easy_cleanup(cl[i].c);
        offpay_keypair_wipe(&cl[i].term);
        offpay_keypair_wipe(&cl[i].wallet);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "settle_bench: could not remove %s\n", dir);
    curl_global_cleanup();
    return 0;
}
