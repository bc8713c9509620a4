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
 *   settle_bench --offpayd PATH [--quick] [--big]
 *                [--payments N]   payments per measured row (20,000; with
 *                                 --quick 400 per client)
 *                [--per-cred N]   payments per wallet credential (50)
 *                [--clients N]    uploading terminals at once (the cores)
 *                [--server-threads N]  offpayd --threads (the cores)
 *
 * With a PostgreSQL server (--pg URL-PREFIX, by default OFFPAY_TEST_PG as
 * tests/pg/with_postgres.sh sets it), the same run then compares the
 * backends on fresh ledgers under one workload: SQLite with 1 offpayd,
 * PostgreSQL with 1 offpayd and PostgreSQL with 2 offpayd processes on one
 * database (the clients split between them), then the ledger sharded by
 * credential serial over 2 PostgreSQL shards (offpayd --shards; the two
 * servers of `with_postgres.sh --servers 2`, else two databases on the one
 * server) with 1 and 2 offpayd processes. Each client's credentials come
 * from two wallet accounts in turn, which the sharded ledger places on
 * different shards, so that a batch of 100 spans both. Each row gives
 * payments/s, p50 and p99 batch latency, and the CPU seconds per 1,000 payments
 * of each component: offpayd (user+sys of every process, /proc/PID/stat), the
 * PostgreSQL server (its postmaster, --pg-pid or OFFPAY_TEST_PG_PID, and
 * all its children, live or reaped) and the client (getrusage of this
 * process while the batches are sent; the codes are made beforehand).
 *
 *   bash tests/pg/with_postgres.sh --servers 2 settle_bench --offpayd PATH
 *        [--compare-only]
 *
 * Not a timed test: CTest runs --quick only to prove it works end to end.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

#define MAX_PROC 4
static char  url[MAX_PROC][300]; /* url[i]: offpayd process i */
static pid_t server[MAX_PROC];
static int   n_srv;
static long  ncpu;
static int   srv_threads;          /* offpayd --threads (--server-threads N) */
static pid_t pg_pid[MAX_PROC];     /* the PostgreSQL postmasters */
static int   n_pg;                 /* how many (0: none) */
static char  pg_all[2][300];       /* the servers of the 2-shard rows */
static char  tx_items[16]; /* offpayd --tx-items (--tx-items N); empty:
                               * offpayd's default for its backend */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "settle_bench: %s\n", what);
    for (int i = 0; i < n_srv; i++)
        if (server[i] > 0)
            kill(server[i], SIGKILL);
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

/* One request to base (an offpayd's URL); returns the reply's text,
 * malloc'd (status 200 required). */
static char *http_raw(const char *base, CURL *c, const char *method,
                      const char *path, const char *body,
                      struct curl_slist *extra)
{
    char               full[600], auth[128];
    resp               r = {NULL, 0};
    struct curl_slist *h = extra;
    long               status = 0;

    snprintf(full, sizeof full, "%s%s", base, path);
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
    if (r.p == NULL)
        die("empty reply");
    return r.p;
}

/* The same, with the reply parsed as JSON. */
static json_t *http_to(const char *base, CURL *c, const char *method,
                       const char *path, const char *body,
                       struct curl_slist *extra)
{
    char   *text = http_raw(base, c, method, path, body, extra);
    json_t *j = json_loads(text, 0, NULL);

    free(text);
    if (j == NULL)
        die("reply is not JSON");
    return j;
}

/* One request to the first offpayd. */
static json_t *http(CURL *c, const char *method, const char *path,
                    const char *body, struct curl_slist *extra)
{
    return http_to(url[0], c, method, path, body, extra);
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
    const char    *base; /* the offpayd it uploads to */
    CURL          *c;
    offpay_keypair term, wallet;
    offpay_payment p; /* template: the current credential */
    uint32_t       counter;
    int64_t        seq;
    char           acct[2][24]; /* the wallet accounts credentials come from,
                                   in turn (on 2 shards: one on each) */
    unsigned creds;             /* credentials issued */
    /* measured phase */
    size_t   batch, n_batches;
    double  *lat;
    size_t   done;
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

        if (k->c != NULL)
            curl_easy_cleanup(k->c);
        memset(k, 0, sizeof *k);
        k->id = i;
        k->base = url[i % n_srv];
        k->c = curl_easy_init();
        if (offpay_keypair_generate(&k->term) != OFFPAY_OK ||
            offpay_keypair_generate(&k->wallet) != OFFPAY_OK)
            die("keygen");
        sodium_bin2hex(hex, sizeof hex, k->term.pk, 32);
        snprintf(body, sizeof body,
                 "{\"merchant\":\"%s\",\"terminal_key\":\"%s\"}", merchant,
                 hex);
        json_decref(http(c, "POST", "/v1/admin/terminals", body, NULL));
        for (int a = 0; a < 2; a++) {
            j = http(c, "POST", "/v1/admin/accounts",
                     "{\"currency\":\"EUR\",\"ref\":\"bench\"}", NULL);
            snprintf(k->acct[a], sizeof k->acct[a], "%s", jstr(j, "account"));
            json_decref(j);
            snprintf(path, sizeof path, "/v1/admin/accounts/%s/deposit",
                     k->acct[a]);
            json_decref(
                http(c, "POST", path, "{\"amount\":\"40000000.00\"}", NULL));
        }
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
             k->acct[k->creds % 2], hex, per_cred > 100 ? per_cred : 100);
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

/* Sends one signed batch; returns the reply's text, malloc'd, for
 * count_settled() to check once the clock has stopped (a terminal on its own
 * device reads its reply on its own CPU, not on offpayd's cores). */
static char *upload(client *k, const char *body)
{
    offpay__http_auth      a;
    offpay__http_auth_text t;
    struct curl_slist     *h = NULL;
    char                   line[160];

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
    return http_raw(k->base, k->c, "POST", "/v1/terminal/upload", body, h);
}

/* The items an upload's reply says are settled; frees the reply. */
static uint64_t count_settled(char *reply)
{
    json_t  *j = json_loads(reply, 0, NULL), *res;
    uint64_t n = 0;

    free(reply);
    if (j == NULL)
        die("reply is not JSON");
    res = json_object_get(j, "results");
    for (size_t i = 0; i < json_array_size(res); i++) {
        const char *o = json_string_value(
            json_object_get(json_array_get(res, i), "outcome"));

        if (o != NULL && strcmp(o, "settled") == 0)
            n++;
    }
    json_decref(j);
    return n;
}

/* ---- phases -------------------------------------------------------- */

typedef struct phase {
    size_t batch, batches; /* per client */
    char **bodies;         /* [client][batch], pre-made */
    char **replies;        /* [client][batch], checked after the clock */
} phase;

static phase ph;

static void *run_client(void *arg)
{
    client *k = arg;

    for (size_t b = 0; b < ph.batches; b++) {
        double t0 = now_s();

        size_t i = (size_t)k->id * ph.batches + b;

        ph.replies[i] = upload(k, ph.bodies[i]);
        k->lat[k->done++] = now_s() - t0;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* ---- CPU time by component ---------------------------------------- */

/* User+system seconds of a process from /proc/PID/stat, with its reaped
 * children's when children is set; its parent in *ppid. -1: gone. */
static double proc_cpu(pid_t pid, int children, pid_t *ppid)
{
    char          path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    long          cut = 0, cst = 0;
    int           pp = 0;
    size_t        n;
    FILE         *f;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL || sscanf(p + 2,
                            "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%lu %lu %ld %ld",
                            &pp, &ut, &st, &cut, &cst) != 5)
        return -1;
    if (ppid != NULL)
        *ppid = pp;
    return ((double)ut + (double)st + (children ? (double)(cut + cst) : 0)) /
           (double)sysconf(_SC_CLK_TCK);
}

/* The PostgreSQL server's CPU seconds: the postmaster with every child it
 * reaped (backends of closed connections) plus its live children. */
static double pg_cpu_of(pid_t pid)
{
    double         total;
    DIR           *d;
    struct dirent *e;

    if (pid <= 0)
        return 0;
    total = proc_cpu(pid, 1, NULL);
    d = opendir("/proc");
    if (d == NULL)
        return total;
    while ((e = readdir(d)) != NULL) {
        pid_t  pp = 0;
        double t;

        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        t = proc_cpu((pid_t)atoi(e->d_name), 0, &pp);
        if (t >= 0 && pp == pid)
            total += t;
    }
    closedir(d);
    return total;
}

/* ... of every server (the shards' too). */
static double pg_cpu(void)
{
    double total = 0;

    for (int i = 0; i < n_pg; i++)
        total += pg_cpu_of(pg_pid[i]);
    return total;
}

typedef struct cpu {
    double offpayd, pg, client;
} cpu;

static cpu cpu_now(void)
{
    struct rusage ru;
    cpu           c = {0, 0, 0};

    for (int i = 0; i < n_srv; i++)
        c.offpayd += proc_cpu(server[i], 0, NULL);
    c.pg = pg_cpu();
    getrusage(RUSAGE_SELF, &ru);
    c.client = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return c;
}

typedef struct figures {
    double pps, p50, p99;
    cpu    per_k; /* CPU seconds per 1,000 payments, by component */
} figures;

/* total payments in batches of batch, spread over the clients. */
static figures run_phase(size_t total, size_t batch)
{
    pthread_t th[MAX_THR];
    double    t0, dt, *all;
    size_t    n_all = 0;
    uint64_t  ok = 0;
    figures   f;
    cpu       c0, c1;

    ph.batch = batch;
    ph.batches = total / batch / (size_t)n_cl;
    if (ph.batches == 0)
        ph.batches = 1;
    ph.bodies = malloc((size_t)n_cl * ph.batches * sizeof *ph.bodies);
    ph.replies = malloc((size_t)n_cl * ph.batches * sizeof *ph.replies);
    all = malloc((size_t)n_cl * ph.batches * sizeof *all);
    if (ph.bodies == NULL || ph.replies == NULL || all == NULL)
        die("out of memory");
    for (int i = 0; i < n_cl; i++) {
        cl[i].lat = malloc(ph.batches * sizeof(double));
        cl[i].done = 0;
        for (size_t b = 0; b < ph.batches; b++)
            ph.bodies[(size_t)i * ph.batches + b] = make_batch(&cl[i], batch);
    }
    c0 = cpu_now();
    t0 = now_s();
    for (int i = 0; i < n_cl; i++)
        pthread_create(&th[i], NULL, run_client, &cl[i]);
    for (int i = 0; i < n_cl; i++)
        pthread_join(th[i], NULL);
    dt = now_s() - t0;
    c1 = cpu_now();
    for (int i = 0; i < n_cl; i++) {
        memcpy(all + n_all, cl[i].lat, cl[i].done * sizeof(double));
        n_all += cl[i].done;
        free(cl[i].lat);
    }
    for (size_t i = 0; i < (size_t)n_cl * ph.batches; i++)
        ok += count_settled(ph.replies[i]);
    if (ok != (uint64_t)n_cl * ph.batches * batch)
        die("not every payment settled");
    qsort(all, n_all, sizeof *all, cmp_d);
    f.pps = (double)ok / dt;
    f.p50 = all[n_all / 2] * 1e3;
    f.p99 = all[(size_t)((double)n_all * 0.99)] * 1e3;
    f.per_k.offpayd = (c1.offpayd - c0.offpayd) * 1000.0 / (double)ok;
    f.per_k.pg = (c1.pg - c0.pg) * 1000.0 / (double)ok;
    f.per_k.client = (c1.client - c0.client) * 1000.0 / (double)ok;
    for (size_t i = 0; i < (size_t)n_cl * ph.batches; i++)
        free(ph.bodies[i]);
    free(ph.bodies);
    free(ph.replies);
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

static int stop_verify; /* read and written with __atomic_*: the threads
                          * it stops run while the main thread sets it */
static uint64_t     verify_counts[MAX_THR];
static double       verify_cpu[MAX_THR]; /* CPU seconds of each loop */

static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *verify_loop(void *arg)
{
    uint64_t      *count = arg;
    double         c0 = thread_cpu_s();
    offpay_keypair kp;
    uint8_t        msg[200], sig[64];

    offpay_keypair_generate(&kp);
    randombytes_buf(msg, sizeof msg);
    if (offpay_sign(OFFPAY_DS_PAYMENT, msg, sizeof msg, kp.sk, sig) !=
        OFFPAY_OK)
        die("sign");
    while (!__atomic_load_n(&stop_verify, __ATOMIC_RELAXED)) {
        if (offpay_verify(OFFPAY_DS_PAYMENT, msg, sizeof msg, sig, kp.pk,
                          OFFPAY_ECODE_SIG) != OFFPAY_OK)
            die("verify");
        (*count)++;
    }
    verify_cpu[count - verify_counts] = thread_cpu_s() - c0;
    return NULL;
}

/* CPU seconds per 1,000 verifications in the last ed25519_rate: the
 * verifying threads' own CPU time, whatever else the machine was doing. */
static double verify_cpu_per_k;

/* Verifications per second on every core, for seconds. */
static double ed25519_rate(double seconds)
{
    pthread_t th[MAX_THR];
    uint64_t *counts = verify_counts, total = 0;
    double    t0 = now_s(), dt, cpu_s = 0;

    __atomic_store_n(&stop_verify, 0, __ATOMIC_RELAXED);
    memset(verify_counts, 0, sizeof verify_counts);
    for (long i = 0; i < ncpu; i++)
        pthread_create(&th[i], NULL, verify_loop, &counts[i]);
    usleep((useconds_t)(seconds * 1e6));
    __atomic_store_n(&stop_verify, 1, __ATOMIC_RELAXED);
    for (long i = 0; i < ncpu; i++)
        pthread_join(th[i], NULL);
    dt = now_s() - t0;
    for (long i = 0; i < ncpu; i++) {
        total += counts[i];
        cpu_s += verify_cpu[i];
    }
    verify_cpu_per_k = total ? cpu_s * 1000.0 / (double)total : 0;
    return (double)total / dt;
}

/* ---- offpayd ------------------------------------------------------- */

/* One more offpayd (server[n_srv], url[n_srv]) on ledger db. */
static void start_server(const char *bin, const char *dir, const char *db)
{
    int   fd[2];
    char  iss[512], pass[512], root[512], tok[512], threads[16];
    char  line[256];
    FILE *f;
    pid_t pid;

    if (n_srv >= MAX_PROC)
        die("too many offpayd processes");
    snprintf(iss, sizeof iss, "%s/iss", dir);
    snprintf(pass, sizeof pass, "%s/pass", dir);
    snprintf(root, sizeof root, "%s/iss/root.pub", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(threads, sizeof threads, "%d", srv_threads);
    if (pipe(fd) != 0)
        die("pipe");
    pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        execl(bin, bin, "--db", db, "--create", "--listen", "127.0.0.1:0",
              "--issuer", iss,
              "--passphrase-file", pass, "--root", root, "--token-file", tok,
              "--threads", threads, "--release-every", "0",
              tx_items[0] ? "--tx-items" : (char *)NULL, tx_items,
              (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    server[n_srv++] = pid;
    f = fdopen(fd[0], "r");
    if (f == NULL)
        die("offpayd did not start");
    /* its settings first, then the "listening" line, its last */
    do
        if (fgets(line, sizeof line, f) == NULL)
            die("offpayd did not start");
    while (strncmp(line, "offpayd listening on ", 21) != 0);
    line[strcspn(line, "\n")] = '\0';
    snprintf(url[n_srv - 1], sizeof url[0], "http://%s", line + 21);
    fclose(f);
}

/* Stops every offpayd (SIGTERM) and waits for it. */
static void stop_servers(void)
{
    for (int i = 0; i < n_srv; i++) {
        kill(server[i], SIGTERM);
        waitpid(server[i], NULL, 0);
        server[i] = 0;
    }
    n_srv = 0;
}

static long peak_rss_kb(void)
{
    char  path[64], line[256];
    long  kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)server[0]);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void write_file(const char *dir, const char *name, const char *text);

/* ---- the backends side by side ------------------------------------ */

/* Runs sql on the database `postgres` of the server at prefix; a query's
 * first row's columns as integers into out[0..n). */
static void pg_admin(const char *prefix, const char *sql, long long *out, int n)
{
    char      conninfo[600];
    PGconn   *c;
    PGresult *r;

    snprintf(conninfo, sizeof conninfo, "%spostgres", prefix);
    c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s", PQerrorMessage(c));
        die("cannot connect to PostgreSQL");
    }
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        die("PostgreSQL statement failed");
    }
    for (int i = 0; i < n; i++)
        out[i] = PQntuples(r) > 0 && PQnfields(r) > i
                     ? strtoll(PQgetvalue(r, 0, i), NULL, 10)
                     : -1;
    PQclear(r);
    PQfinish(c);
}

/* SQLite with 1 offpayd, PostgreSQL (prefix) with 1 and with 2 offpayd
 * processes on one database: each on a fresh ledger, 2 client threads per
 * core split between the processes, a warm-up, then measured payments in
 * batches of 100, beside the Ed25519 rate measured just before. */
static void compare(const char *bin, const char *dir, const char *prefix,
                    size_t measured, int quick)
{
    static const struct {
        const char *name;
        int         pg, procs; /* pg: 0 SQLite, else the shards */
    } cfg[] = {{"SQLite, 1 offpayd", 0, 1},
               {"PostgreSQL, 1 offpayd", 1, 1},
               {"PostgreSQL, 2 offpayd", 1, 2},
               {"PG 2 shards, 1 offpayd", 2, 1},
               {"PG 2 shards, 2 offpayd", 2, 2}};
    int saved = n_cl;

    n_cl = (int)(2 * ncpu > MAX_THR ? MAX_THR : 2 * ncpu);
    printf("\nbackends side by side (fresh ledgers, %d client threads, batches "
           "of 100, offpayd --tx-items %s, %zu payments measured after %zu of "
           "warm-up; CPU seconds per 1,000 payments)\n",
           n_cl, tx_items[0] ? tx_items : "(its default)", measured,
           measured / 4);
    printf("  2 shards: %s\n", strcmp(pg_all[0], pg_all[1]) != 0
                                   ? "two PostgreSQL servers"
                                   : "two databases on one PostgreSQL server");
    printf("  %-22s %8s %8s %7s %7s %8s %8s %8s %8s\n", "configuration",
           "pay/s", "x Ed25519", "p50 ms", "p99 ms", "offpayd", "postgres",
           "client", "total");
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        char    db[600], name[64];
        double  bound;
        figures f;

        if (cfg[i].pg == 2) {
            char map[1400];

            /* shard k: database name_k on server pg_all[k], ids from
             * k * 10^12 + 1 (docs/scaling.md) */
            map[0] = '\0';
            for (int k = 0; k < 2; k++) {
                size_t at = strlen(map);

                snprintf(name, sizeof name, "offpay_bench_%d_%zu_%d",
                         (int)getpid(), i, k);
                snprintf(db, sizeof db, "CREATE DATABASE \"%s\"", name);
                pg_admin(pg_all[k], db, NULL, 0);
                snprintf(map + at, sizeof map - at, "shard %lld-%lld %s%s\n",
                         k * 1000000000000LL + 1, (k + 1) * 1000000000000LL,
                         pg_all[k], name);
            }
            write_file(dir, "shards.conf", map);
            snprintf(db, sizeof db, "shards:%s/shards.conf", dir);
        } else if (cfg[i].pg) {
            snprintf(name, sizeof name, "offpay_bench_%d_%zu", (int)getpid(),
                     i);
            snprintf(db, sizeof db, "CREATE DATABASE \"%s\"", name);
            pg_admin(prefix, db, NULL, 0);
            snprintf(db, sizeof db, "%s%s", prefix, name);
        } else
            snprintf(db, sizeof db, "%s/compare.db", dir);
        for (int p = 0; p < cfg[i].procs; p++)
            start_server(bin, dir, db);
        setup();
        run_phase(measured / 4, 100); /* warm-up: caches, prepared plans */
        bound = ed25519_rate(quick ? 0.3 : 1.5);
        f = run_phase(measured, 100);
        printf("  %-22s %8.0f %8.2fx %7.1f %7.1f %8.3f %8.3f %8.3f %8.3f\n",
               cfg[i].name, f.pps, f.pps / bound, f.p50, f.p99, f.per_k.offpayd,
               f.per_k.pg, f.per_k.client,
               f.per_k.offpayd + f.per_k.pg + f.per_k.client);
        printf("  %-22s Ed25519 bound of this row: %.0f verifications/s on %ld "
               "cores; %.3f CPU s per 1,000 verifications\n",
               "", bound, ncpu, verify_cpu_per_k);
        stop_servers();
        if (cfg[i].pg) {
            long long st[2], sum[2] = {0, 0};

            /* the backends flushed their counters as they exited */
            usleep(300000);
            for (int k = 0; k < cfg[i].pg; k++) {
                if (cfg[i].pg == 2)
                    snprintf(name, sizeof name, "offpay_bench_%d_%zu_%d",
                             (int)getpid(), i, k);
                snprintf(db, sizeof db,
                         "SELECT xact_commit, xact_rollback FROM "
                         "pg_stat_database WHERE datname = '%s'",
                         name);
                pg_admin(cfg[i].pg == 2 ? pg_all[k] : prefix, db, st, 2);
                sum[0] += st[0];
                sum[1] += st[1];
            }
            printf(
                "  %-22s transactions over warm-up and row: %lld committed, "
                "%lld rolled back (conflicts rerun: deadlocks, unique keys)\n",
                "", sum[0], sum[1]);
        }
        fflush(stdout);
    }
    n_cl = saved;
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

/* Where a row's CPU went, per payment, beside one verification's: the
 * ratio's ceiling on these cores is verification CPU over all CPU. */
static void cpu_line(const figures *f)
{
    double all = f->per_k.offpayd + f->per_k.client;

    printf("    CPU per payment: offpayd %.1f us, client %.1f us; one "
           "verification %.1f us (%.2f of all)\n",
           f->per_k.offpayd * 1e3, f->per_k.client * 1e3,
           verify_cpu_per_k * 1e3, all > 0 ? verify_cpu_per_k / all : 0);
}

/* A row's Ed25519 bound: the rate of all cores measured before and
 * after the row, their mean the ratio's divisor. A shared machine's other
 * load coming or going during the row moves the two apart, and the ratio
 * with them (by up to 3x between runs of the same binaries): such a row
 * is flagged, and the CPU line's share, which that load does not move,
 * is the figure to read. */
typedef struct bound_pair {
    double before, after;
} bound_pair;

static double bound_of(const bound_pair *b)
{
    return (b->before + b->after) / 2;
}

static void bound_line(const bound_pair *b)
{
    double moved = b->before > 0 ? (b->after - b->before) / b->before : 0;

    printf("    Ed25519 before the row %.0f/s, after %.0f/s (%+.0f%%)%s\n",
           b->before, b->after, 100 * moved,
           moved > 0.10 || moved < -0.10
               ? ": the machine's other load changed during the row, so "
                 "its ratio is not reliable; read the CPU line's share"
               : "");
}

/* The SQLite rows of docs/benchmarks.md ("Settlement over HTTP"): one
 * offpayd on ledger.db in dir, one client per core. */
static void sqlite_rows(const char *bin, const char *dir, size_t measured,
                        int quick, int big)
{
    char     db[600];
    uint64_t settled = 0;
    double     seconds = quick ? 0.3 : 1.5;
    bound_pair b100, b1000, bbig;
    figures    f100, f1000, fbig;
    long     rss;

    snprintf(db, sizeof db, "%s/ledger.db", dir);
    start_server(bin, dir, db);
    setup();

    printf("settlement over HTTP (offpayd, SQLite, %d client threads, "
           "%ld cores); each row beside the Ed25519 verification rate of all "
           "cores measured just before and after it (their mean)\n",
           n_cl, ncpu);
    if (!quick) {
        preload(10000, &settled);
        printf("  already settled before measuring: %llu\n",
               (unsigned long long)settled);
    }
    b100.before = ed25519_rate(seconds);
    f100 = run_phase(measured, 100);
    b100.after = ed25519_rate(seconds);
    settled += measured;
    printf("  batches of  100: %6.0f payments/s, Ed25519 %6.0f/s (%.2f x), "
           "p50 %.1f ms, p99 %.1f ms\n",
           f100.pps, bound_of(&b100), f100.pps / bound_of(&b100), f100.p50,
           f100.p99);
    bound_line(&b100);
    cpu_line(&f100);
    b1000.before = ed25519_rate(seconds);
    f1000 = run_phase(measured, quick ? 200 : 1000);
    b1000.after = ed25519_rate(seconds);
    settled += measured;
    printf("  batches of %4d: %6.0f payments/s, Ed25519 %6.0f/s (%.2f x), "
           "p50 %.1f ms, p99 %.1f ms\n",
           quick ? 200 : 1000, f1000.pps, bound_of(&b1000),
           f1000.pps / bound_of(&b1000), f1000.p50, f1000.p99);
    bound_line(&b1000);
    cpu_line(&f1000);
    if (!quick) {
        uint64_t target = big ? 1000000 : 100000;

        /* with --payments N large the rows above may have settled more
         * already: then there is nothing to add (target - settled would
         * wrap around and preload would fill the disk) */
        if (settled < target)
            preload(target - settled, &settled);
        bbig.before = ed25519_rate(1.5);
        fbig = run_phase(measured, 1000);
        bbig.after = ed25519_rate(1.5);
        printf("  %llu already settled, batches of 1000: %6.0f payments/s, "
               "Ed25519 %6.0f/s (%.2f x), p50 %.1f ms, p99 %.1f ms "
               "(%+.1f%% vs the row above)\n",
               (unsigned long long)settled, fbig.pps, bound_of(&bbig),
               fbig.pps / bound_of(&bbig), fbig.p50, fbig.p99,
               100.0 * (fbig.pps - f1000.pps) / f1000.pps);
        bound_line(&bbig);
        cpu_line(&fbig);
    }
    rss = peak_rss_kb();
    printf("  offpayd peak RSS: %ld kB\n", rss);
    fflush(stdout);
    stop_servers();
}

int main(int argc, char **argv)
{
    const char *bin = NULL;
    int         quick = 0, big = 0, compare_only = 0, payments_set = 0;
    size_t      measured = 20000;
    char        dir[] = "/tmp/offpay-settle-bench.XXXXXX";
    char        cmd[600];
    const char *pg = getenv("OFFPAY_TEST_PG"),
               *pg_pid_s = getenv("OFFPAY_TEST_PG_PID");
    offpay_issuer *is = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--offpayd") == 0 && i + 1 < argc)
            bin = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--big") == 0)
            big = 1;
        else if (strcmp(argv[i], "--per-cred") == 0 && i + 1 < argc)
            per_cred = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--payments") == 0 && i + 1 < argc) {
            measured = (size_t)strtoul(argv[++i], NULL, 10);
            payments_set = 1;
        } else if (strcmp(argv[i], "--pg") == 0 && i + 1 < argc)
            pg = argv[++i];
        else if (strcmp(argv[i], "--pg-pid") == 0 && i + 1 < argc)
            pg_pid_s = argv[++i];
        else if (strcmp(argv[i], "--compare-only") == 0)
            compare_only = 1;
        else if (strcmp(argv[i], "--tx-items") == 0 && i + 1 < argc)
            snprintf(tx_items, sizeof tx_items, "%s", argv[++i]);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            n_cl = (int)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--server-threads") == 0 && i + 1 < argc)
            srv_threads = (int)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr,
                    "usage: settle_bench --offpayd PATH [--quick] [--big] "
                    "[--payments N] [--per-cred N] [--pg URL-PREFIX] "
                    "[--pg-pid PID] [--compare-only] [--tx-items N] "
                    "[--clients N] [--server-threads N]\n");
            return 2;
        }
    }
    if (bin == NULL)
        die("--offpayd PATH is required");
    if (pg != NULL && *pg == '\0')
        pg = NULL;
    if (compare_only && pg == NULL)
        die("--compare-only needs --pg (or OFFPAY_TEST_PG)");
    {
        /* every server's postmaster (OFFPAY_TEST_PG_PIDS, with_postgres.sh
         * --servers N) and the shards' servers (OFFPAY_TEST_PG_ALL) */
        const char *pids = getenv("OFFPAY_TEST_PG_PIDS");
        const char *all = getenv("OFFPAY_TEST_PG_ALL");
        char        buf[1200], *save = NULL, *t;

        if (pids != NULL && *pids != '\0' &&
            pg_pid_s == getenv("OFFPAY_TEST_PG_PID")) {
            snprintf(buf, sizeof buf, "%s", pids);
            for (t = strtok_r(buf, " ", &save); t != NULL && n_pg < MAX_PROC;
                 t = strtok_r(NULL, " ", &save))
                pg_pid[n_pg++] = (pid_t)atoi(t);
        } else if (pg_pid_s != NULL) {
            pg_pid[n_pg++] = (pid_t)atoi(pg_pid_s);
        }
        if (pg != NULL) {
            snprintf(pg_all[0], sizeof pg_all[0], "%s", pg);
            snprintf(pg_all[1], sizeof pg_all[1], "%s", pg);
        }
        if (all != NULL && pg == getenv("OFFPAY_TEST_PG")) {
            int k = 0;

            snprintf(buf, sizeof buf, "%s", all);
            save = NULL;
            for (t = strtok_r(buf, " ", &save); t != NULL && k < 2;
                 t = strtok_r(NULL, " ", &save))
                snprintf(pg_all[k++], sizeof pg_all[0], "%s", t);
            if (k < 2)
                snprintf(pg_all[1], sizeof pg_all[1], "%s", pg_all[0]);
        }
    }
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
    if (quick && !payments_set)
        measured = 400 * (size_t)n_cl;
    if (!compare_only)
        sqlite_rows(bin, dir, measured, quick, big);
    if (pg != NULL)
        compare(bin, dir, pg, measured, quick);
    else
        printf("\n(no PostgreSQL: run under tests/pg/with_postgres.sh, or "
               "--pg URL-PREFIX, to compare the backends)\n");
    for (int i = 0; i < MAX_THR; i++) {
        if (cl[i].c == NULL)
            continue;
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
