/*
 * main.c — offpayd, the issuer's settlement server: options, start-up (the
 * operator token, the issuer's day-to-day signing key and trust bundle from
 * its sealed state, verified against the pinned root public key; the root
 * private key is never needed), the HTTP daemon, the escrow release job,
 * the operator token and the issuer read again on SIGHUP, and a clean stop
 * on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/oserr.h"
#include "core/testhook.h"
#include "issuer/issuer_int.h"
#include "offpay/issuer.h"
#include "offpay/pkcs11.h"
#include "offpay/verify.h"
#include "server/server.h"
#include "store/lockwait.h"

static const char help[] =
    "offpayd — the offpay settlement server (docs/api.md)\n"
    "\n"
    "Usage: offpayd --db FILE --issuer DIR --passphrase-file FILE\n"
    "               --root FILE --token-file FILE [options]\n"
    "       offpayd ... --operators-file FILE (operators by name, beside or\n"
    "               instead of --token-file)\n"
    "       offpayd --shards FILE ... (the same, on a sharded ledger)\n"
    "\n"
    "  --db FILE               the SQLite ledger, or a PostgreSQL URL\n"
    "                          (postgresql://USER@HOST:PORT/DB; an empty\n"
    "                          database gets the schema with --create).\n"
    "                          A password in the URL is warned of (every\n"
    "                          local user can read a command line) and never\n"
    "                          logged: give it in a passfile (PGPASSFILE,\n"
    "                          or passfile=FILE in the URL's query)\n"
    "  --create                make a new ledger: the SQLite FILE if it does\n"
    "                          not exist, the schema in an empty PostgreSQL\n"
    "                          database (or in shard 0 of a new sharded\n"
    "                          ledger). Without it, a missing FILE or an\n"
    "                          empty database is refused: a volume that\n"
    "                          did not mount or a wrong URL is not taken\n"
    "                          for a new, empty ledger\n"
    "  --shards FILE           instead of --db: the ledger is sharded by\n"
    "                          credential serial over the PostgreSQL\n"
    "                          databases FILE names, one line each:\n"
    "                          \"shard FIRST-LAST URL\" (docs/scaling.md);\n"
    "                          a map that leaves out or moves a shard the\n"
    "                          ledger had is refused (ESHARD_MAP)\n"
    "  --listen ADDR:PORT      where to listen: an IPv4 address and a port\n"
    "                          (default 127.0.0.1:8080; port 0 picks a free\n"
    "                          one)\n"
    "  --issuer DIR            the issuer's directory (issuer.sealed);\n"
    "                          a root.sealed there is warned of: the\n"
    "                          root key belongs offline\n"
    "  --passphrase-file FILE  the issuer state's passphrase\n"
    "  --issuer-key-uri URI    the daily signing key is this Ed25519 key in\n"
    "                          a PKCS#11 token (RFC 7512 URI, docs/pkcs11.md;\n"
    "                          it must be a key of the trust bundle valid\n"
    "                          now). Without it, a newest key that the\n"
    "                          issuer added with --key-uri is opened by its\n"
    "                          stored URI. PIN: the URI's pin-source or\n"
    "                          $OFFPAY_PKCS11_PIN; module:\n"
    "                          $OFFPAY_PKCS11_MODULE or SoftHSM2's\n"
    "  --root FILE             the pinned root public key (hex), which the\n"
    "                          trust bundle must verify against\n"
    "  --token-file FILE       the operator's bearer token (>= 16 bytes);\n"
    "                          what its bearer books is kept as booked by\n"
    "                          \"operator token\"\n"
    "  --operators-file FILE   operators by name: a line NAME TOKEN each\n"
    "                          (NAME 1-32 of A-Z a-z 0-9 . _ -, TOKEN >= 16\n"
    "                          bytes, each their own; # comments; at most\n"
    "                          64): what each books is kept with the name\n"
    "                          (offpay admin transfers shows it;\n"
    "                          docs/operations.md §1)\n"
    "  --metrics-token-file FILE\n"
    "                          /metrics asks for a bearer token: this one\n"
    "                          (>= 16 bytes, for the scraper) or the\n"
    "                          operator's. Without it /metrics is public\n"
    "  --threads N             ledger connections: requests that use the\n"
    "                          ledger at once, the release job taking its\n"
    "                          turn among them (default: the CPU count);\n"
    "                          each open connection has its own thread,\n"
    "                          up to 256\n"
    "  --lock-wait SECONDS     the longest a request waits in all for a\n"
    "                          lock another process holds on the ledger\n"
    "                          (SQLite: the file's write lock, held by a\n"
    "                          sqlite3 shell, a script; PostgreSQL: a\n"
    "                          session's lock), then answered 503 EBUSY,\n"
    "                          nothing changed (1..30; default 30, the\n"
    "                          bound of an upload's own). A wait is logged\n"
    "                          once past 2 s, and /v1/health answers 503\n"
    "                          while it lasts. A request waits as long\n"
    "                          for a free ledger connection (--threads),\n"
    "                          then is answered 503 EBUSY, nothing done\n"
    "  --max-per-ip N          open connections one client address may\n"
    "                          hold (default 64 of the 256; 0: no limit,\n"
    "                          for a proxy in front that limits them)\n"
    "  --body-max BYTES        cap of an upload body (default 1048576)\n"
    "  --batch-max N           cap of items per upload (default 1000)\n"
    "  --tx-items N            upload items settled per transaction, one\n"
    "                          durable commit each (1..1000; default 1000\n"
    "                          on SQLite, 100 on PostgreSQL)\n"
    "  --window SECONDS        allowed clock difference of signed requests\n"
    "                          (default 300). One made before the time up\n"
    "                          to which offpayd forgot requests on a clock\n"
    "                          that ran ahead (kept in the ledger) is\n"
    "                          refused whatever the clock says now\n"
    "  --release-every SECONDS how often the escrow release job runs\n"
    "                          (default 3600; 0: never, use the endpoint);\n"
    "                          /metrics says when it last ran through. It\n"
    "                          releases nothing, and logs why, when the\n"
    "                          clock reads more than SECONDS + 1 day past\n"
    "                          its last run (kept in the ledger), or over\n"
    "                          10 minutes behind that run or the ledger's\n"
    "                          newest transfer: a clock that jumped. An\n"
    "                          operator's release (POST /v1/admin/release,\n"
    "                          offpay admin release) runs whatever the\n"
    "                          clock, and the job measures from it again\n"
    "  --mark-every SECONDS    how often the marking job runs (default\n"
    "                          600; 0: never): it marks the transfers\n"
    "                          made since, so that a merchant's or the\n"
    "                          guarantee's balance and a statement read\n"
    "                          only what came after the marks, not the\n"
    "                          whole history (docs/settlement.md §10). A\n"
    "                          run that left transfers to mark runs again\n"
    "                          a second after its end; the first runs at\n"
    "                          the start\n"
    "  --duplicates-to-revoke N  the duplicate-presentment case of a\n"
    "                          credential that revokes it (1..1000; default\n"
    "                          1: the first). One unbound code read by two\n"
    "                          readers side by side (gates) is such a case;\n"
    "                          a higher N tolerates that, each duplicate\n"
    "                          still paid only from the payer's money and\n"
    "                          the guarantee (docs/settlement.md §4)\n"
    "  --help                  this text\n"
    "\n"
    "Prints its ledger's backend, connections and items per transaction,\n"
    "then \"offpayd listening on ADDR:PORT\" once ready, on standard\n"
    "output; its log, each line dated (UTC), goes to standard error.\n"
    "Stops cleanly on SIGTERM or SIGINT: the requests in progress get\n"
    "their replies first; one answered 503 STOPPING did nothing. SIGHUP\n"
    "reads the token files, the operators file and the issuer's directory\n"
    "again (a daily key\n"
    "added or retired takes effect, and the new trust bundle is served);\n"
    "what cannot be read stays as it was, and the log says why; a token\n"
    "file that holds the token in use is said to be unchanged (under\n"
    "systemd's LoadCredential= it is a copy made at the start: restart\n"
    "the unit to change a token). Exit\n"
    "status: 0 stopped, 2 usage, 3 start-up failed (neither mends by a\n"
    "restart: systemd's RestartPreventExitStatus=2 3, docs/operations.md\n"
    "§2), 4 the ledger could not be opened for a reason that may pass\n"
    "(its disk full, its PostgreSQL server not answering yet, busy): a\n"
    "unit restarts it.\n";

typedef struct opts {
    const char *db, *listen, *issuer, *pass_file, *root, *token_file, *key_uri;
    const char *metrics_token_file, *operators_file;
    const char *shards;
    unsigned    threads;
    uint64_t    body_max, batch_max, window, release_every, tx_items;
    uint64_t    mark_every, lock_wait;
    uint64_t    per_ip, dup_revoke;
    int         create;
} opts;

static int usage(const char *msg)
{
    fprintf(stderr, "offpayd: %s\n(see --help)\n", msg);
    return 2;
}

static int num_opt(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    return srv_parse_u64(v, hi, out) == 0 && *out >= lo ? 0 : -1;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    uint64_t threads = 0;
    long     ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8080";
    o->body_max = SRV_BODY_MAX_DEFAULT;
    o->batch_max = SRV_BATCH_MAX_DEFAULT;
    o->window = SRV_WINDOW_DEFAULT;
    o->release_every = 3600;
    o->mark_every = 600;
    o->per_ip = SRV_PER_IP_DEFAULT;
    o->dup_revoke = 1;
    o->threads = ncpu > 0 ? (unsigned)ncpu : 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int         bad = 0;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            return -1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("offpayd %s\n", offpay_version());
            return -1;
        }
        if (strcmp(a, "--create") == 0) {
            o->create = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || v == NULL) {
            fprintf(stderr, "offpayd: %s: %s\n(see --help)\n", a,
                    strncmp(a, "--", 2) != 0 ? "not an option"
                                             : "this option needs a value");
            return 2;
        }
        i++;
        if (strcmp(a, "--db") == 0)
            o->db = v;
        else if (strcmp(a, "--shards") == 0)
            o->shards = v;
        else if (strcmp(a, "--listen") == 0)
            o->listen = v;
        else if (strcmp(a, "--issuer") == 0)
            o->issuer = v;
        else if (strcmp(a, "--passphrase-file") == 0)
            o->pass_file = v;
        else if (strcmp(a, "--root") == 0)
            o->root = v;
        else if (strcmp(a, "--token-file") == 0)
            o->token_file = v;
        else if (strcmp(a, "--metrics-token-file") == 0)
            o->metrics_token_file = v;
        else if (strcmp(a, "--operators-file") == 0)
            o->operators_file = v;
        else if (strcmp(a, "--issuer-key-uri") == 0) {
            offpay_pkcs11_uri u;
            int               pin = 0;

            o->key_uri = v;
            /* a PIN in argv is every local user's to read (ps); a URI that
             * does not parse is said when it is opened */
            if (offpay_pkcs11_uri_parse(v, &u) == OFFPAY_OK) {
                pin = u.pin_value[0] != '\0';
                offpay_pkcs11_uri_wipe(&u);
            }
            if (pin) {
                fprintf(stderr,
                        "offpayd: --issuer-key-uri holds the PIN "
                        "(pin-value): anyone on this machine can read a "
                        "command line; give pin-source=file:PATH in the URI "
                        "or $OFFPAY_PKCS11_PIN\n(see --help)\n");
                return 2;
            }
        } else if (strcmp(a, "--threads") == 0)
            bad = num_opt(v, 1, 256, &threads);
        else if (strcmp(a, "--max-per-ip") == 0)
            bad = num_opt(v, 0, SRV_CONNECTIONS_MAX, &o->per_ip);
        else if (strcmp(a, "--body-max") == 0)
            bad = num_opt(v, 1024, 256u << 20, &o->body_max);
        else if (strcmp(a, "--batch-max") == 0)
            bad = num_opt(v, 1, 100000, &o->batch_max);
        else if (strcmp(a, "--tx-items") == 0)
            bad = num_opt(v, 1, SRV_TX_ITEMS, &o->tx_items);
        else if (strcmp(a, "--window") == 0)
            bad = num_opt(v, 1, 86400, &o->window);
        else if (strcmp(a, "--release-every") == 0)
            bad = num_opt(v, 0, 86400 * 7, &o->release_every);
        else if (strcmp(a, "--mark-every") == 0)
            bad = num_opt(v, 0, 86400, &o->mark_every);
        else if (strcmp(a, "--lock-wait") == 0)
            bad = num_opt(v, 1, SRV_COMMIT_WITHIN, &o->lock_wait);
        else if (strcmp(a, "--duplicates-to-revoke") == 0)
            bad = num_opt(v, 1, 1000, &o->dup_revoke);
        else {
            fprintf(stderr, "offpayd: %s: unknown option\n(see --help)\n", a);
            return 2;
        }
        if (bad) {
            /* "10s", "1h": the unit is not taken, nor written */
            int digits = v[0] != '\0' && strspn(v, "0123456789") == strlen(v);
            int secs = strcmp(a, "--window") == 0 ||
                       strcmp(a, "--release-every") == 0 ||
                       strcmp(a, "--mark-every") == 0 ||
                       strcmp(a, "--lock-wait") == 0;

            fprintf(stderr, "offpayd: %s %s: %s\n(see --help)\n", a, v,
                    digits || !secs ? "out of range"
                                    : "a whole number of seconds");
            return 2;
        }
    }
    if (threads)
        o->threads = (unsigned)threads;
    if (o->shards != NULL) {
        static char         db[4096 + 8];
        offpay_shard_config cfg;
        const char         *why = NULL;
        size_t              line = 0;

        if (o->db != NULL)
            return usage("give --db or --shards, not both");
        if (offpay_shard_config_load(o->shards, &cfg, &line, &why) !=
            OFFPAY_OK) {
            fprintf(stderr, "offpayd: %s:%zu: %s\n", o->shards, line, why);
            return usage("--shards names an unusable shard map");
        }
        if (snprintf(db, sizeof db, "shards:%s", o->shards) >= (int)sizeof db)
            return usage("--shards: the path is too long");
        o->db = db;
    }
    if (!o->db || !o->issuer || !o->pass_file || !o->root ||
        (!o->token_file && !o->operators_file))
        return usage(
            "--db (or --shards), --issuer, --passphrase-file, --root and "
            "--token-file or --operators-file (or both) are required");
    if (o->tx_items == 0)
        o->tx_items = offpay_ledger_backend_of(o->db) == OFFPAY_LEDGER_SQLITE
                          ? SRV_TX_ITEMS
                          : SRV_TX_ITEMS_PG;
    return 0;
}

/* The library's diagnostic lines (offpay_set_log: "offpay: ..."; a
 * ledger moved away, a migration, PostgreSQL's errors) on offpayd's log as
 * its own: "offpayd: TIME ...", like every other line of it. Not through
 * srv_log, whose line is shorter than the library's. */
static void log_line(void *ctx, const char *line)
{
    char      when[32] = "";
    time_t    now = time(NULL);
    struct tm tm;

    (void)ctx;
    if (strncmp(line, "offpay: ", 8) == 0)
        line += 8;
    if (gmtime_r(&now, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "offpayd: %s %s\n", when, line);
}

/* The system's reason for errno e as the CLI says it: offpay's words and
 * error name ("permission denied (EACCES)"), or, for an errno offpay has no
 * name of its own for, the system's words ("(EIO)" after them). */
static void os_reason(int e, char *out, size_t n)
{
    offpay_err rc = offpay__errno_err(e);

    snprintf(out, n, "%s (%s)",
             rc == OFFPAY_EIO && e != 0 ? strerror(e) : offpay_strerror(rc),
             offpay_errname(rc));
}

/* A small secret file's first line, in sodium_malloc'd memory; NULL, with
 * the option that named it (opt), the file and the system's reason logged,
 * when it cannot be read (missing, not readable by offpayd's user, a
 * directory) or is shorter than min. */
static char *read_secret(const char *opt, const char *path, size_t min)
{
    FILE  *f = fopen(path, "r");
    char  *buf = NULL;
    char   why[128];
    size_t n;
    int    e = errno;

    if (f == NULL)
        goto fail;
    buf = sodium_malloc(1024);
    if (buf == NULL) {
        e = ENOMEM;
        goto fail;
    }
    errno = 0;
    if (fgets(buf, 1024, f) == NULL) {
        buf[0] = '\0';
        if (ferror(f)) { /* a directory: fopen takes it, reading fails */
            e = errno;
            goto fail;
        }
    }
    fclose(f);
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    if (n < min) {
        srv_log("%s %s holds fewer than %zu bytes", opt, path, min);
        sodium_free(buf);
        return NULL;
    }
    return buf;
fail:
    if (f)
        fclose(f);
    sodium_free(buf); /* wiped; NULL is a no-op */
    os_reason(e, why, sizeof why);
    srv_log("cannot read %s %s: %s", opt, path, why);
    return NULL;
}

/* The hash offpayd keeps of a token it was given (BLAKE2b, as the server
 * keeps it), to tell at a SIGHUP whether the file holds another one. */
static void token_hash(const char *token, uint8_t hash[32])
{
    crypto_generichash(hash, 32, (const uint8_t *)token, strlen(token), NULL,
                       0);
}

/* A change to who may act, kept on the ledger as what the operators
 * file did (settle.h, "what operators did"); a failure to keep it is
 * said on the log, which has the change either way. */
static void note_change(srv_ctx *srv, const char *action, const char *fmt, ...)
{
    offpay_ledger *l = srv_pool_get(srv->pool);
    char           detail[OFFPAY_ACTION_DETAIL_MAX + 1];
    va_list        ap;
    offpay_err     rc;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    rc = offpay_ledger_set_actor(l, SRV_OPERATORS_FILE);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_note_action(l, srv_now(), action, 0, detail);
    srv_pool_put(srv->pool, l);
    if (rc != OFFPAY_OK)
        srv_log("SIGHUP: the ledger could NOT keep %s \"%s\" among what "
                "operators did (%s): this log line is its only record",
                action, detail, offpay_errname(rc));
}

/* SIGHUP: a token file (what: "operator" or "metrics") is read again and
 * given to set, so a token is changed without a restart; a file that
 * cannot be read, or holds a token too short, leaves the token in use. A
 * file that holds the token in use is said to: under systemd's
 * LoadCredential= offpayd reads the copy made at the unit's start, and an
 * operator who changed the file in /etc and sent SIGHUP must not be told
 * the token was taken. held is the hash of the token in use, updated.
 * (The issuer is read again after them: reload_issuer.) */
static void reload_token(srv_ctx *srv, const char *opt, const char *path,
                         const char *what,
                         void (*set)(srv_ctx *srv, const char *token),
                         uint8_t held[32])
{
    char   *token = read_secret(opt, path, 16);
    uint8_t hash[32];
    char    name[SRV_OPERATOR_NAME_MAX + 1];

    if (token == NULL) {
        srv_log("SIGHUP: the %s token is unchanged (above)", what);
        return;
    }
    token_hash(token, hash);
    if (set == srv_set_token && srv_token_is_operators(srv, hash, name)) {
        sodium_free(token); /* wiped */
        sodium_memzero(hash, sizeof hash);
        srv_log("SIGHUP: the operator token is unchanged: %s holds the "
                "token of operator %s (--operators-file): each operator "
                "has a token of their own",
                path, name);
        return;
    }
    if (sodium_memcmp(hash, held, sizeof hash) == 0) {
        sodium_free(token); /* wiped */
        sodium_memzero(hash, sizeof hash);
        srv_log("SIGHUP: %s token unchanged: %s holds the token in use, "
                "which still works (under systemd's LoadCredential= it is "
                "the copy made when the unit started: restart the unit "
                "to take a new token, docs/operations.md §6)",
                what, path);
        return;
    }
    if (set == srv_set_token) { /* the old one, named if still tried */
        srv_operator was = {SRV_TOKEN_OPERATOR, {0}, 0};

        memcpy(was.hash, held, sizeof was.hash);
        srv_operator_gone(srv, &was);
        sodium_memzero(&was, sizeof was);
    }
    set(srv, token);
    sodium_free(token); /* wiped */
    memcpy(held, hash, sizeof hash);
    sodium_memzero(hash, sizeof hash);
    srv_log("SIGHUP: %s token read again from %s: a new token, the one "
            "before refused from now on",
            what, path);
    if (set == srv_set_token)
        note_change(srv, "operator-new-token",
                    SRV_TOKEN_OPERATOR " (--token-file)");
}

/* --operators-file read into v[0..*n) and checked against the token of
 * --token-file (held: its hash; NULL without the option): 0, or -1 with
 * why. A token shared with --token-file's would let an operator taken
 * out of the file go on as "operator token". */
static int read_operators(const char *path, const uint8_t *held,
                          srv_operator *v, size_t *n, char *why, size_t wn)
{
    if (srv_operators_read(path, v, n, why, wn) != 0)
        return -1;
    if (*n == 0 && held == NULL) {
        snprintf(why, wn,
                 "names no operator (lines NAME TOKEN), and no --token-file "
                 "is given: nobody could use the operator endpoints");
        return -1;
    }
    for (size_t i = 0; held != NULL && i < *n; i++)
        if (sodium_memcmp(v[i].hash, held, 32) == 0) {
            snprintf(why, wn,
                     "line %u: %s's token is --token-file's: each operator "
                     "has a token of their own",
                     v[i].line, v[i].name);
            sodium_memzero(v, SRV_OPERATORS_MAX * sizeof *v);
            *n = 0;
            return -1;
        }
    return 0;
}

/* --operators-file at start-up: 1 when read (the operators it names
 * logged), 0 when not (why logged). */
static int load_operators(srv_ctx *srv, const char *path, const uint8_t *held)
{
    srv_operator *v = sodium_malloc(SRV_OPERATORS_MAX * sizeof *v);
    char          why[256], names[800];
    size_t        n = 0, used = 0;

    if (v == NULL || read_operators(path, held, v, &n, why, sizeof why) != 0) {
        srv_log("--operators-file %s: %s", path,
                v == NULL ? strerror(ENOMEM) : why);
        sodium_free(v);
        return 0;
    }
    srv_set_operators(srv, v, n);
    srv_metrics_operators(1, n);
    names[0] = '\0';
    /* the names as a log line holds them (srv_log's 1,024 bytes) */
    size_t shown = 0;

    for (; shown < n && used < 700; shown++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                 shown > 0 ? ", " : "", v[shown].name);
    sodium_free(v); /* wiped */
    srv_log("operators from %s: %s%s", path, n > 0 ? names : "none",
            shown < n ? ", …" : "");
    if (held != NULL)
        srv_log("--token-file and --operators-file are both given: whoever "
                "holds --token-file's token books as \"operator token\", "
                "and an operator taken out of %s who knows that token can "
                "still use it: change it when one leaves, and restart "
                "without --token-file once every operator has a token of "
                "their own (docs/operations.md §1)",
                path);
    return 1;
}

/* SIGHUP: --operators-file read again, whole or not at all: a file that
 * cannot be read, or has a line that is not right, leaves the operators
 * in use (the log says which line and why, and
 * offpayd_operators_reload_refused_total counts it). Each operator added,
 * removed or given a new token is logged on a line of its own, so the
 * change is on record. */
/* The codes who made and no wallet used, voided (reload_operators). */
static offpay_err void_codes(srv_ctx *srv, const char *who, uint64_t *voided)
{
    offpay_ledger *l = srv_pool_get(srv->pool);
    offpay_err     rc = offpay_ledger_set_actor(l, SRV_OPERATORS_FILE);

    /* kept as what the operators file's SIGHUP did (the pool takes the
     * name off the handle) */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_enrollments_void_by(l, who, srv_now(), voided);

    srv_pool_put(srv->pool, l);
    return rc;
}

/* The operators taken out at the last SIGHUP, whose codes are voided
 * once more VOID_AGAIN_AFTER s later: a request of theirs that passed
 * the token check before the SIGHUP may commit a code after the first
 * voiding (a request commits within SRV_COMMIT_WITHIN of its time). */
#define VOID_AGAIN_AFTER (SRV_COMMIT_WITHIN + 5)
static srv_operator later[SRV_OPERATORS_MAX];
static size_t       n_later;

static void void_again(srv_ctx *srv)
{
    for (size_t i = 0; i < n_later; i++) {
        uint64_t   voided = 0;
        offpay_err rc = void_codes(srv, later[i].name, &voided);

        if (rc != OFFPAY_OK)
            srv_log("operator %s, removed: the enrollment codes their "
                    "requests in flight at the SIGHUP made could NOT all be "
                    "voided (%s): run offpay admin void-codes --by %s",
                    later[i].name, offpay_errname(rc), later[i].name);
        else if (voided > 0)
            srv_log("operator %s, removed: %llu more unused enrollment "
                    "code(s), made by their requests in flight at the "
                    "SIGHUP, voided",
                    later[i].name, (unsigned long long)voided);
    }
    sodium_memzero(later, sizeof later);
    n_later = 0;
}

/* The operators taken out at the last SIGHUP (names, comma-separated)
 * and when: once that time is final, the ledger's digests until it are
 * written on the log (removal_digests), which is kept outside the ledger,
 * so that what a leaver did up to their removal can be proven unchanged
 * later (docs/operations.md §1, "Letting an operator go"). */
static char     removed_names[256];
static uint32_t removed_at;
static int      removed_now; /* the last reload took someone out */

static void removal_digests(srv_ctx *srv)
{
    offpay_transfers_digest d[OFFPAY_SHARDS_MAX];
    offpay_actions_digest   a[OFFPAY_SHARDS_MAX];
    offpay_ledger          *l = srv_pool_get(srv->pool);
    size_t                  n = 0, na = 0;
    char                    at[32], hd[65], ha[65];
    /* until their requests in flight at the SIGHUP committed, dated at
     * most SRV_COMMIT_WITHIN after it (void_again's window) */
    uint32_t   until = removed_at + SRV_COMMIT_WITHIN;
    offpay_err rc = offpay_ledger_digest(l, 0, until, d, OFFPAY_SHARDS_MAX, &n);

    if (rc == OFFPAY_OK)
        rc = offpay_ledger_actions_digest(l, until, a, OFFPAY_SHARDS_MAX, &na);
    srv_pool_put(srv->pool, l);
    srv_iso_time(until, at);
    if (rc != OFFPAY_OK || na != n) {
        srv_log("operators %s taken out: the ledger's digests until %s "
                "could NOT be read (%s): run offpay admin digest --to %lu "
                "and keep what it prints",
                removed_names, at, offpay_errname(rc), (unsigned long)until);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        char shard[32] = "";

        sodium_bin2hex(hd, sizeof hd, d[k].digest, sizeof d[k].digest);
        sodium_bin2hex(ha, sizeof ha, a[k].digest, sizeof a[k].digest);
        if (n > 1)
            snprintf(shard, sizeof shard, " (shard %zu)", k);
        /* the digests first: the names may be long */
        srv_log("the ledger's digests until %s (%lu)%s, to keep with the "
                "removal of operators %s: %llu transfer(s), digest %s; %llu "
                "operator action(s), actions digest %s (offpay admin digest "
                "--to %lu --expect ... --expect-actions ... compares them "
                "later)",
                at, (unsigned long)until, shard, removed_names,
                (unsigned long long)d[k].transfers, hd,
                (unsigned long long)a[k].actions, ha, (unsigned long)until);
    }
}

static void reload_operators(srv_ctx *srv, const char *path,
                             const uint8_t *held)
{
    srv_operator *v = sodium_malloc(2 * SRV_OPERATORS_MAX * sizeof *v);
    srv_operator *old = v != NULL ? v + SRV_OPERATORS_MAX : NULL;
    char          why[256];
    size_t        n = 0, n_old, changes = 0;

    if (v == NULL || read_operators(path, held, v, &n, why, sizeof why) != 0) {
        srv_log("SIGHUP: --operators-file %s: %s: the operators are "
                "unchanged: every one in use before (%zu), one taken out "
                "of the file too, is still let in",
                path, v == NULL ? strerror(ENOMEM) : why,
                old != NULL ? srv_operators_copy(srv, old) : (size_t)0);
        srv_metrics_operators(0, 0);
        sodium_free(v);
        return;
    }
    n_old = srv_operators_copy(srv, old);
    srv_set_operators(srv, v, n);
    srv_metrics_operators(1, n);
    for (size_t j = 0; j < n_old; j++) {
        int gone = 1;

        /* a name written in another case is the same operator's */
        for (size_t i = 0; i < n; i++)
            gone &= strcasecmp(v[i].name, old[j].name) != 0;
        if (gone) {
            uint64_t    voided = 0;
            offpay_err  rc;
            const char *heir = NULL; /* the token is now this name's */
            char        whose[2 * SRV_OPERATOR_NAME_MAX + 96] = "";

            for (size_t i = 0; i < n; i++)
                if (sodium_memcmp(v[i].hash, old[j].hash, 32) == 0)
                    heir = v[i].name;
            if (heir != NULL)
                snprintf(whose, sizeof whose,
                         "their token is %s's now: what it books from now "
                         "on is kept under %s",
                         heir, heir);
            else
                snprintf(whose, sizeof whose,
                         "their token is refused from now on");
            /* (kept among those taken out whoever holds the token now:
             * the shared token's case steps may not claim the name) */
            srv_operator_gone(srv, &old[j]);
            /* what they handed out goes with them: an enrollment code is
             * a way into a payer's account (and once more when their
             * requests in flight now are done: void_again) */
            rc = void_codes(srv, old[j].name, &voided);
            if (rc == OFFPAY_OK)
                srv_log("SIGHUP: operator %s removed (%s): %s; %llu unused "
                        "enrollment code(s) they made voided",
                        old[j].name, path, whose, (unsigned long long)voided);
            else
                srv_log("SIGHUP: operator %s removed (%s): %s; the "
                        "enrollment codes they made could NOT all be voided "
                        "(%s): run offpay admin void-codes --by %s",
                        old[j].name, path, whose, offpay_errname(rc),
                        old[j].name);
            note_change(srv, "operator-removed", "%s%s%s", old[j].name,
                        heir != NULL ? ": their token is now " : "",
                        heir != NULL ? heir : "");
            if (n_later < SRV_OPERATORS_MAX)
                later[n_later++] = old[j];
            if (removed_at == 0)
                removed_names[0] = '\0';
            removed_at = srv_now();
            removed_now = 1;
            /* (a few names: the log line is cut at 1 KiB) */
            if (strlen(removed_names) < 200)
                snprintf(removed_names + strlen(removed_names),
                         sizeof removed_names - strlen(removed_names), "%s%s",
                         removed_names[0] != '\0' ? ", " : "", old[j].name);
            else if (strstr(removed_names, ", ...") == NULL)
                strcat(removed_names, ", ...");
            changes++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int         seen = 0, same = 0;
        const char *was = NULL;

        for (size_t j = 0; j < n_old; j++)
            if (strcasecmp(v[i].name, old[j].name) == 0) {
                seen = 1;
                same = sodium_memcmp(v[i].hash, old[j].hash, 32) == 0;
                was = old[j].name;
            }
        if (!seen) {
            srv_log("SIGHUP: operator %s added (%s, line %u)", v[i].name, path,
                    v[i].line);
            note_change(srv, "operator-added", "%s (line %u)", v[i].name,
                        v[i].line);
        } else if (!same) {
            srv_log("SIGHUP: operator %s has a new token (%s, line %u): the "
                    "one before is refused from now on (the enrollment "
                    "codes they made are still theirs)",
                    v[i].name, path, v[i].line);
            for (size_t j = 0; j < n_old; j++)
                if (strcasecmp(v[i].name, old[j].name) == 0)
                    srv_operator_gone(srv, &old[j]);
            note_change(srv, "operator-new-token", "%s (line %u)", v[i].name,
                        v[i].line);
        }
        if (seen && strcmp(was, v[i].name) != 0) {
            srv_log("SIGHUP: operator %s is written %s now (%s, line %u): "
                    "what they book from now on is kept under %s",
                    was, v[i].name, path, v[i].line, v[i].name);
            note_change(srv, "operator-renamed", "%s is %s now", was,
                        v[i].name);
        }
        changes += !seen || !same || strcmp(was, v[i].name) != 0;
    }
    sodium_free(v); /* wiped, old with it */
    if (changes == 0)
        srv_log("SIGHUP: operators unchanged: %s names the same operators "
                "with the same tokens (under systemd's LoadCredential= it "
                "is the copy made when the unit started: restart the unit "
                "to take a new file, docs/operations.md §6)",
                path);
}

/* The operator's token given to a metrics scraper too: whoever reads the
 * scraper's configuration can move money. Said at start-up and on SIGHUP. */
static void metrics_token_check(srv_ctx *srv)
{
    char name[SRV_OPERATOR_NAME_MAX + 1];

    if (srv_metrics_token_is_operators(srv, name))
        srv_log("WARNING: --metrics-token-file holds the operator's token "
                "(%s's): a scraper holding it can do everything that "
                "operator can; give it a token of its own",
                name);
}

static int read_root(const char *path, uint8_t pk[OFFPAY_PK_BYTES])
{
    FILE *f = fopen(path, "r");
    char  line[200];
    int   ok;

    if (f == NULL)
        return -1;
    ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    line[strcspn(line, "\r\n")] = '\0';
    return srv_parse_key(line, pk);
}

/* root.sealed left in the issuer's directory (where `offpay issuer init`
 * writes it, sealed by default under the issuer's own passphrase, which
 * offpayd holds): whoever reads this server can then make issuer keys.
 * Said at start-up; the root key belongs offline. */
static void root_key_check(const char *issuer)
{
    char        path[4096];
    struct stat st;

    if (snprintf(path, sizeof path, "%s/root.sealed", issuer) <
            (int)sizeof path &&
        stat(path, &st) == 0)
        srv_log("WARNING: %s holds the issuer's root key: whoever reads "
                "this server (and the passphrase offpayd is given) can make "
                "issuer keys; move it to offline storage (docs/"
                "operations.md §2) and give add-key and retire-key --root "
                "FILE",
                path);
}

/* The kid of the token's key: the newest key of bundle b valid at now
 * whose public key it is. */
static offpay_err token_kid(const offpay_trust_bundle *b,
                            offpay_pkcs11_key *key, uint32_t now, uint16_t *kid)
{
    uint8_t pk[OFFPAY_PK_BYTES];

    offpay_pkcs11_pk(key, pk);
    for (size_t i = b->n_keys; i > 0; i--) {
        const offpay_bundle_key *k = &b->keys[i - 1];

        if (k->valid_from <= now && now <= k->valid_until &&
            sodium_memcmp(k->pk, pk, OFFPAY_PK_BYTES) == 0) {
            *kid = k->kid;
            return OFFPAY_OK;
        }
    }
    return OFFPAY_EUNKNOWN_KID;
}

/* The daily key in a token: --issuer-key-uri, or the URI the issuer
 * stored for its newest key (then *key stays NULL for a sealed key). */
static offpay_err load_token_key(const opts *o, const offpay_issuer *is,
                                 const offpay_trust_bundle *b, uint32_t now,
                                 uint16_t *kid, offpay_pkcs11_key **key)
{
    char       uri[OFFPAY_PKCS11_URI_MAX + 1];
    uint16_t   stored = 0;
    offpay_err rc;

    if (o->key_uri == NULL) {
        rc = offpay_issuer_signing_key_uri(is, now, &stored, uri);
        if (rc == OFFPAY_ENOTFOUND)
            return OFFPAY_OK; /* sealed: the default */
        if (rc != OFFPAY_OK) {
            srv_log("issuer's daily key: %s (%s)%s", offpay_strerror(rc),
                    offpay_errname(rc),
                    rc == OFFPAY_EKID_EXPIRED
                        ? ": none is valid now; add one with 'offpay issuer "
                          "add-key' (offpayd reads it when it starts, or on "
                          "SIGHUP)"
                        : "");
            return rc;
        }
    }
    rc = offpay_pkcs11_open(NULL, o->key_uri != NULL ? o->key_uri : uri, key);
    /* the stored URI must still hold the key the issuer recorded (the
     * token replaced, or the label reused, is another key) */
    if (rc == OFFPAY_OK && o->key_uri == NULL)
        rc = offpay__issuer_token_key_is(is, stored, *key);
    if (rc == OFFPAY_OK)
        rc = token_kid(b, *key, now, kid);
    if (rc == OFFPAY_OK && o->key_uri == NULL && *kid != stored)
        rc = OFFPAY_EUNKNOWN_KID;
    if (rc != OFFPAY_OK) {
        srv_log("issuer key in the token: %s (%s)%s%s", offpay_strerror(rc),
                offpay_errname(rc), offpay_pkcs11_detail()[0] ? ": " : "",
                offpay_pkcs11_detail());
        offpay_pkcs11_close(*key);
        *key = NULL;
    }
    return rc;
}

/* What offpayd holds of the issuer: read at start-up and again on SIGHUP. */
typedef struct issuer_view {
    offpay_trust_bundle b; /* verified against the root */
    /* its bytes (malloc'd), until the server takes them (NULL then) */
    uint8_t           *bundle;
    size_t             bundle_len;
    uint16_t           kid;                 /* the daily key offpayd signs */
    uint32_t           next_kid;            /* offpay_issuer_next_kid */
    uint8_t            sk[OFFPAY_SK_BYTES]; /* with: sealed, or */
    offpay_pkcs11_key *key;                 /* in a token (or NULL) */
    uint8_t            root[OFFPAY_PK_BYTES]; /* --root, read at start */
} issuer_view;

static void issuer_view_free(issuer_view *v)
{
    free(v->bundle);
    offpay_pkcs11_close(v->key);
    sodium_memzero(v, sizeof *v);
}

/* Loads what the server needs of the issuer into *v, then closes it
 * (releasing its lock, so the offline ceremony tool can still open it).
 * The daily key is copied into v->sk, or opened in its token into v->key.
 * On failure *v holds nothing and the reason is on stderr. */
/* The issuer's directory read (as at start-up, or again on SIGHUP), its
 * bundle verified under root (NULL: the key of --root, read now; a reload
 * keeps the one read at start-up, so a directory replaced by another
 * issuer's is refused). */
static offpay_err load_issuer(const opts *o, const uint8_t *root,
                              issuer_view *v, uint32_t now)
{
    offpay_issuer *is = NULL;
    char          *pass = read_secret("--passphrase-file", o->pass_file, 1);
    offpay_err     rc = OFFPAY_EINVAL;

    memset(v, 0, sizeof *v);
    if (pass == NULL)
        goto out;
    if (root != NULL)
        memcpy(v->root, root, sizeof v->root);
    else if (read_root(o->root, v->root) != 0) {
        srv_log("%s is not a root public key", o->root);
        goto out;
    }
    rc = offpay_issuer_open(o->issuer, pass, &is);
    if (rc == OFFPAY_OK)
        rc = offpay_issuer_bundle(is, &v->bundle, &v->bundle_len);
    if (rc == OFFPAY_OK)
        rc = offpay_bundle_verify(v->bundle, v->bundle_len, v->root, &v->b);
    if (rc == OFFPAY_OK)
        v->next_kid = offpay_issuer_next_kid(is);
    if (rc == OFFPAY_OK) {
        uint16_t sealed = offpay_issuer_sealed_beside_token(is, now);

        if (sealed != 0)
            srv_log(
                "WARNING: the issuer's daily key %u is sealed in "
                "issuer.sealed and valid now beside a key in a PKCS#11 "
                "token: the passphrase offpayd is given opens it, and every "
                "wallet and terminal trusts what it signs; retire it "
                "('offpay issuer retire-key %u --dir %s --root FILE', then "
                "SIGHUP; docs/pkcs11.md §3)",
                (unsigned)sealed, (unsigned)sealed, o->issuer);
    }
    if (rc == OFFPAY_OK) {
        rc = load_token_key(o, is, &v->b, now, &v->kid, &v->key);
        if (rc != OFFPAY_OK)
            goto out;
    }
    if (rc == OFFPAY_OK && v->key == NULL)
        rc = offpay_issuer_signing_key(is, now, &v->kid, v->sk);
    if (rc != OFFPAY_OK)
        srv_log("issuer %s: %s (%s)%s", o->issuer, offpay_strerror(rc),
                offpay_errname(rc),
                rc == OFFPAY_EKID_EXPIRED
                    ? ": no daily key is valid now; add one with 'offpay "
                      "issuer add-key' (offpayd reads it when it starts, "
                      "or on SIGHUP)"
                    : "");
out:
    if (rc != OFFPAY_OK)
        issuer_view_free(v);
    offpay_issuer_close(is);
    if (pass)
        sodium_free(pass);
    return rc;
}

/* The end of daily key kid in b, as ISO 8601 into when[32] ("" when b
 * has no such key); *end (may be NULL) its unix time (0: none). */
static void key_end(const offpay_trust_bundle *b, uint16_t kid, char when[32],
                    uint32_t *end)
{
    when[0] = '\0';
    if (end != NULL)
        *end = 0;
    for (size_t i = 0; i < b->n_keys; i++) {
        time_t    t = (time_t)b->keys[i].valid_until;
        struct tm tm;

        if (b->keys[i].kid != kid)
            continue;
        if (end != NULL)
            *end = b->keys[i].valid_until;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(when, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
}

/* Token keys replaced by a reload: a request that took its ledger handle
 * before the reload may still sign with one, so they are closed only at
 * exit, after the ledger handles. */
typedef struct key_list {
    offpay_pkcs11_key **k;
    size_t              n;
} key_list;

/* Live terminals named in a warning of retired_key_warning. */
#define RETIRED_IDS_SHOWN 10

/* The reload's bundle b (the one before: was) in use: each key that
 * signed the credential of a live terminal (not revoked, its credential
 * not expired) and is not in b is warned of, with how many, the first of
 * them and the command that lists them: such a terminal's uploads are
 * refused (ETERMINAL_EXPIRED) and, once it has synced, it refuses every
 * code (docs/operations.md §6). Reads the terminals only, not the
 * credentials. */
static void retired_key_warning(const opts *o, srv_ctx *srv,
                                const offpay_trust_bundle *was,
                                const offpay_trust_bundle *b)
{
    offpay_ledger         *l = srv_pool_get(srv->pool);
    offpay_ledger_key_use *v = NULL;
    size_t                 n = 0;
    char                   where[4096 + 64];
    offpay_err             rc = offpay_ledger_keys(l, srv_now(), 0, &v, &n);

    srv_pool_put(srv->pool, l);
    if (rc != OFFPAY_OK) {
        srv_log("SIGHUP: could not read which issuer keys signed the live "
                "terminals' credentials: %s (%s); 'offpay admin keys' says",
                offpay_strerror(rc), offpay_errname(rc));
        return;
    }
    if (o->db != NULL)
        (void)offpay_ledger_redact(o->db, where, sizeof where, NULL);
    else
        snprintf(where, sizeof where, "%s", o->shards != NULL ? o->shards : "");
    for (size_t i = 0; i < n; i++) {
        char   ids[RETIRED_IDS_SHOWN * 12 + 8];
        size_t len = 0, shown = v[i].terminals < RETIRED_IDS_SHOWN
                                    ? v[i].terminals
                                    : RETIRED_IDS_SHOWN;
        int    held = 0, before = 0;

        for (size_t j = 0; j < b->n_keys; j++)
            held |= b->keys[j].kid == v[i].kid;
        for (size_t j = 0; j < was->n_keys; j++)
            before |= was->keys[j].kid == v[i].kid;
        if (held || v[i].terminals == 0)
            continue;
        ids[0] = '\0';
        for (size_t j = 0; j < shown; j++)
            len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%lu",
                                    j > 0 ? ", " : "",
                                    (unsigned long)v[i].terminal_ids[j]);
        if (v[i].terminals > shown)
            snprintf(ids + len, sizeof ids - len, ", ...");
        srv_log("WARNING: issuer key %u, %s trust bundle %u, signed the "
                "credential of %lu live terminal(s) (%s): what they upload "
                "is refused (ETERMINAL_EXPIRED) and, once they sync, they "
                "refuse every code; rotate each (offpay terminal rotate). "
                "List them: offpay admin keys %s %s (or GET /v1/admin/keys)",
                (unsigned)v[i].kid,
                before ? "retired: it is not in the new" : "not in",
                (unsigned)b->seq, (unsigned long)v[i].terminals, ids,
                o->db != NULL ? "--db" : "--shards", where);
    }
    free(v);
}

/* SIGHUP: the issuer's directory read again, as at start-up, so a daily
 * key added (offpay issuer add-key) or retired (retire-key) takes effect
 * without a restart: the new bundle is served, and every ledger handle
 * signs with the newest key valid now and verifies under the new bundle
 * from its next request on. Anything that cannot be read or verified
 * leaves the issuer in use, and the log says why. */
static void reload_issuer(const opts *o, srv_ctx *srv, issuer_view *v,
                          key_list *old)
{
    issuer_view         n;
    offpay_pkcs11_key **grown;
    uint8_t            *cur = NULL;
    size_t              cur_len = 0;
    char                when[32];
    uint32_t            end = 0;
    offpay_err          rc = load_issuer(o, v->root, &n, srv_now());
    int                 same;

    if (rc == OFFPAY_OK)
        rc = srv_bundle_copy(srv, &cur, &cur_len, NULL);
    same = rc == OFFPAY_OK && n.kid == v->kid && n.bundle_len == cur_len &&
           memcmp(n.bundle, cur, cur_len) == 0;
    /* The issuer numbers every change of its bundle: an older number (a
     * copy of the directory from before a key was retired, put back) or
     * the same number with other keys is no change of its. */
    if (rc == OFFPAY_OK && !same &&
        (n.b.seq < v->b.seq ||
         (n.b.seq == v->b.seq &&
          (n.bundle_len != cur_len || memcmp(n.bundle, cur, cur_len) != 0)))) {
        srv_log("SIGHUP: %s holds trust bundle %u, %s the one in "
                "use (%u): a copy of the issuer's directory from before its "
                "last change? Refused: it would bring back keys retired "
                "since",
                o->issuer, (unsigned)n.b.seq,
                n.b.seq < v->b.seq ? "older than" : "another than",
                (unsigned)v->b.seq);
        rc = OFFPAY_EBUNDLE_OLD;
    }
    if (same) {
        srv_log("SIGHUP: issuer read again from %s: unchanged "
                "(daily key %u, trust bundle %u)",
                o->issuer, (unsigned)v->kid, (unsigned)v->b.seq);
        issuer_view_free(&n);
        free(cur);
        return;
    }
    if (rc == OFFPAY_OK && v->key != NULL) { /* room to keep it (below) */
        grown = realloc(old->k, (old->n + 1) * sizeof *old->k);
        if (grown == NULL)
            rc = OFFPAY_ENOMEM;
        else
            old->k = grown;
    }
    /* The new bundle is served before its key signs anything, so no
     * credential of the new key goes out while /v1/bundle lacks it (a
     * retired key's absence from it is the retirement). */
    if (rc == OFFPAY_OK) {
        srv_bundle_set(srv, n.bundle, n.bundle_len, n.b.seq);
        n.bundle = NULL; /* the server's now */
        rc = srv_pool_retrust(srv->pool, &n.b, n.kid, n.next_kid, n.sk, n.key);
        if (rc != OFFPAY_OK) { /* the bundle in use again */
            srv_bundle_set(srv, cur, cur_len, v->b.seq);
            cur = NULL;
        }
    }
    free(cur);
    if (rc != OFFPAY_OK) {
        srv_log("SIGHUP: the issuer is unchanged (%s): signing "
                "with daily key %u, trust bundle %u",
                rc == OFFPAY_ENOMEM ? "out of memory" : "above",
                (unsigned)v->kid, (unsigned)v->b.seq);
        if (rc == OFFPAY_EUNKNOWN_KID && o->key_uri != NULL)
            srv_log("WARNING: the key of --issuer-key-uri is no key "
                    "of the issuer's trust bundle valid now (retired?): "
                    "offpayd goes on signing with it and serving the trust "
                    "bundle before; restart it with the URI of a key of the "
                    "new bundle, or without --issuer-key-uri");
        issuer_view_free(&n);
        return;
    }
    if (v->key != NULL)
        old->k[old->n++] = v->key;
    v->key = NULL;
    key_end(&n.b, n.kid, when, &end);
    srv_metrics_signing_key(n.kid, end);
    srv_log("SIGHUP: issuer read again from %s: signing with daily "
            "key %u%s (until %s; was %u), trust bundle %u (was %u)",
            o->issuer, (unsigned)n.kid, n.key != NULL ? " in its token" : "",
            when, (unsigned)v->kid, (unsigned)n.b.seq, (unsigned)v->b.seq);
    retired_key_warning(o, srv, &v->b, &n.b);
    issuer_view_free(v);
    *v = n;
    sodium_memzero(&n, sizeof n);
}

/* Says, once a day at most, when the daily signing key ends within 30
 * days or has ended: what offpayd signs ends with the key, and past its end
 * it signs nothing (credentials, terminal credentials, revocation lists)
 * until a newer one is added and offpayd sent SIGHUP (or started). */
static void key_end_warning(const offpay_trust_bundle *b, uint16_t kid,
                            uint32_t now)
{
    static uint32_t said;
    static uint16_t said_of; /* the key it was said of: a reload's new key
                                is warned of at once */
    char            when[32];
    uint32_t        end;

    if (kid != said_of) {
        said = 0;
        said_of = kid;
    }
    key_end(b, kid, when, &end);
    /* (the loop wakes daily by the monotonic clock; a little slack so a
     * wall clock slowed by NTP does not skip a day) */
    if (end == 0 || end > now + 30u * 86400u ||
        (said != 0 && now - said < 86400u - 600u))
        return;
    said = now;
    if (end < now)
        srv_log("the issuer's daily key %u ended at %s: nothing "
                "is signed any more (EKID_EXPIRED); add a newer key "
                "(offpay issuer add-key) and send offpayd SIGHUP",
                (unsigned)kid, when);
    else
        srv_log("WARNING: the issuer's daily key %u ends at %s, "
                "in %u day(s); credentials signed now end with it: add a "
                "newer key (offpay issuer add-key) and send offpayd "
                "SIGHUP before then",
                (unsigned)kid, when, (unsigned)((end - now) / 86400u));
}

/* The escrow release job: runs in the main thread between signals. The
 * ledger is checked first (offpay_ledger_check), so a run with nothing due
 * on a ledger that cannot be used (moved away, its database down) counts
 * as the failure it is (offpayd_release_failures_total). A run on a clock
 * that jumped (offpay_ledger_release_auto) releases nothing, says so and
 * counts as a failure too: an operator's release confirms the clock. */
static void release_due(srv_pool *pool, uint32_t every)
{
    offpay_ledger            *l = srv_pool_get(pool);
    offpay_ledger_release_run run = {0};
    uint32_t                  now = srv_now();
    offpay_err                rc = offpay_ledger_check(l);
    char                      when[32], last[32];

    if (rc == OFFPAY_OK)
        rc = offpay_ledger_set_actor(l, SRV_RELEASE_JOB);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_release_auto(l, now, every, &run);
    srv_pool_put(pool, l);
    if (rc == OFFPAY_OK && run.held) {
        srv_metrics_release_held(run.held == OFFPAY_RELEASE_HELD_BEHIND);
        srv_iso_time(now, when);
        if (run.held == OFFPAY_RELEASE_HELD_AHEAD) {
            srv_iso_time(run.last_run, last);
            srv_log("release job: NOT RUN: offpayd's clock reads %s, %u s "
                    "after the release's last run at %s (more than "
                    "--release-every + 1 day): a clock run ahead would "
                    "release live escrows for good. If the time is right "
                    "(offpayd was stopped that long), release by hand: "
                    "POST /v1/admin/release or offpay admin release "
                    "(docs/operations.md)",
                    when, (unsigned)(now - run.last_run), last);
        } else {
            srv_iso_time(run.newest, last);
            srv_log("release job: NOT RUN: offpayd's clock reads %s, %u s "
                    "behind the ledger's last release or newest transfer "
                    "at %s: the clock went back? Set it right; if it is "
                    "right, release by hand: POST /v1/admin/release or "
                    "offpay admin release (docs/operations.md)",
                    when, (unsigned)(run.newest - now), last);
        }
        return;
    }
    srv_metrics_release(rc == OFFPAY_OK, srv_now());
    if (rc != OFFPAY_OK)
        srv_log("release job: %s", offpay_strerror(rc));
    else if (run.released > 0)
        srv_log("released %zu escrow(s)", run.released);
}

/* How often the open cases are counted for /metrics (seconds): a case
 * step or an upload that opened a case through this offpayd counts them at
 * once; this catches the rest (`offpay admin case` on the ledger, another
 * offpayd on it). */
#define CASES_EVERY 60

/* The marking job (offpay_ledger_marks): runs in the main thread between
 * signals, as the release job does. Returns the seconds until its next
 * run, counted from its end: a second when it left transfers to mark, 10
 * when it could not have the transfers table's lock in time (PostgreSQL:
 * VACUUM, ANALYZE or an index being built hold it; said once until a run
 * gets through, not a failure), else every. */
static time_t marks_due(srv_pool *pool, time_t every)
{
    static int     waiting;
    offpay_ledger *l = srv_pool_get(pool);
    uint64_t       marked = 0;
    int            more = 0;
    offpay_err     rc = offpay_ledger_marks(l, srv_now(), 0, &marked, &more);

    srv_pool_put(pool, l);
    if (rc == OFFPAY_EBUSY) {
        if (!waiting)
            srv_log("marking job: the transfers table was busy past 100 ms "
                    "(maintenance such as VACUUM or an index being built, or "
                    "a long transaction): trying again every 10 s");
        waiting = 1;
        srv_metrics_marks(1, 0, marked);
        return 10;
    }
    waiting = 0;
    srv_metrics_marks(rc == OFFPAY_OK, srv_now(), marked);
    if (rc != OFFPAY_OK)
        srv_log("marking job: %s (balances are read from the transfers "
                "since the last marks meanwhile, exactly, only more slowly)",
                offpay_strerror(rc));
    return rc == OFFPAY_OK && more ? 1 : every;
}

/* A ledger's location as logged: a SQLite path, or a PostgreSQL URL
 * without its password (offpay_ledger_redact). */
#define SHOWN_MAX (4096 + 64)

static const char *shown(const char *db, char out[SHOWN_MAX])
{
    (void)offpay_ledger_redact(db, out, SHOWN_MAX, NULL);
    return out;
}

/* A SQLite ledger's directory must exist: SQLite alone would say only
 * "unable to open". And its file must, unless create: a ledger that went
 * missing (a volume not mounted, a wrong path) is not silently replaced by
 * an empty one, which would issue the same credential serials again. 1
 * when it may be opened (or the ledger is not a file). */
static int sqlite_dir_ok(const char *db, int create)
{
    char        dir[4096], db_[SHOWN_MAX], dir_[SHOWN_MAX];
    const char *slash = strrchr(db, '/');
    struct stat st;

    if (offpay_ledger_backend_of(db) != OFFPAY_LEDGER_SQLITE)
        return 1;
    if (!create && stat(db, &st) != 0 && errno == ENOENT) {
        srv_log("ledger %s does not exist: give --create to make a "
                "new, empty ledger there (if a ledger should be there, check "
                "the path and that its volume is mounted)",
                shown(db, db_));
        return 0;
    }
    /* nor is a file without the ledger's schema made a new ledger, which
     * would issue credential serials from 1 again */
    if (!create && offpay_ledger_exists(db) == OFFPAY_ENOENT &&
        stat(db, &st) == 0) {
        srv_log("%s holds no offpay ledger (an empty file, or "
                "another program's database): give --create to make a new, "
                "empty ledger there; if a ledger should be there, restore "
                "it from its backup (docs/operations.md §4)",
                shown(db, db_));
        return 0;
    }
    if (slash == NULL)
        return 1;
    if ((size_t)(slash - db) >= sizeof dir)
        return 1;
    memcpy(dir, db, (size_t)(slash - db));
    dir[slash - db] = '\0';
    if (slash == db)
        return 1;
    if (stat(dir, &st) != 0)
        srv_log("ledger %s: its directory %s: %s", shown(db, db_),
                shown(dir, dir_), strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        srv_log("ledger %s: %s is not a directory", shown(db, db_),
                shown(dir, dir_));
    else
        return 1;
    return 0;
}

/* A PostgreSQL ledger without --create must hold the ledger's schema: an
 * empty database (a wrong URL, a database restored empty) is not made a
 * new ledger that would issue credential serials from 1 again, as a
 * missing SQLite file is not (sqlite_dir_ok). On a sharded ledger, the
 * directory (shard 0): a shard added at the end of the map gets its
 * schema at the start all the same (docs/scaling.md). 1 when it may be
 * opened (errors other than a missing schema are the open's to say). */
static int pg_ledger_ok(const char *db, int create)
{
    offpay_ledger_backend kind = offpay_ledger_backend_of(db);
    offpay_shard_config  *cfg = NULL;
    const char           *url = db;
    char                  url_[SHOWN_MAX];
    int                   ok = 1;

    if (create ||
        (kind != OFFPAY_LEDGER_POSTGRES && kind != OFFPAY_LEDGER_SHARDS))
        return 1;
    if (kind == OFFPAY_LEDGER_SHARDS) {
        cfg = malloc(sizeof *cfg);
        if (cfg == NULL ||
            offpay_shard_config_load(db + 7, cfg, NULL, NULL) != OFFPAY_OK ||
            cfg->n == 0) {
            free(cfg);
            return 1;
        }
        url = cfg->shard[0].url;
    }
    if (offpay_ledger_exists(url) == OFFPAY_ENOENT) {
        srv_log("%s%s holds no offpay ledger (a database without its "
                "schema): give --create to make a new, empty ledger there (if "
                "a ledger should be there, check the URL)",
                kind == OFFPAY_LEDGER_SHARDS ? "shard 0 of the map: " : "",
                shown(url, url_));
        ok = 0;
    }
    free(cfg);
    return ok;
}

/* The exit status of a start whose ledger could not be opened for a
 * reason that may pass by itself: the documented unit restarts it (its
 * RestartPreventExitStatus= names 2 and 3, not 4). */
#define EXIT_LEDGER_TRANSIENT 4

/* The log's words for such a start: what would let it pass. */
static const char *transient_hint(offpay_err err)
{
    switch (err) {
    case OFFPAY_ENOSPC:
        return ": this may pass (once the disk has room); exit status 4, so "
               "that a unit restarts offpayd (docs/operations.md §2)";
    case OFFPAY_EIO:
        return ": this may pass (once the PostgreSQL server answers); exit "
               "status 4, so that a unit restarts offpayd "
               "(docs/operations.md §2)";
    default:
        return ": this may pass (once what holds the ledger lets go); exit "
               "status 4, so that a unit restarts offpayd "
               "(docs/operations.md §2)";
    }
}

/* Whether err, from opening the ledger, may pass without the operator
 * changing offpayd's setup: a full disk (freed by whoever filled it), a
 * PostgreSQL server not answering yet (OFFPAY_EIO: still starting, the
 * network not up), a lock or statement that timed out. A missing or
 * foreign ledger, a newer schema, a wrong shard map, a refused login stay
 * exit 3: restarting would only repeat them. */
static int ledger_transient(offpay_err err)
{
    return err == OFFPAY_ENOSPC || err == OFFPAY_EIO || err == OFFPAY_EBUSY ||
           err == OFFPAY_ERETRY;
}

/* Whether addr:port can be listened on now, before the ledger is opened
 * (or created): a port in use is said with its reason and leaves no new
 * ledger file behind. MHD binds again later; port 0 always can. */
static int port_free(const char *addr, uint16_t port, const char *listen)
{
    struct sockaddr_in sa;
    int                fd, one = 1, ok;

    if (port == 0)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return 0;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1; /* MHD will say */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (!ok)
        srv_log("cannot listen on %s: %s", listen, strerror(errno));
    close(fd);
    return ok;
}

/* The open-file limit against what offpayd may hold: the files open now
 * (the ledger's, its connections) and a descriptor per HTTP connection.
 * A soft limit below it is raised as far as the hard one allows; what is
 * still short is said once: beyond it libmicrohttpd refuses connections
 * (docs/operations.md, LimitNOFILE=). */
static void nofile_check(void)
{
    struct rlimit  rl;
    DIR           *dir = opendir("/proc/self/fd");
    struct dirent *e;
    rlim_t         open_now = 0, need;

    if (dir == NULL || getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        if (dir != NULL)
            closedir(dir);
        return;
    }
    while ((e = readdir(dir)) != NULL)
        open_now += e->d_name[0] != '.';
    closedir(dir);
    need = open_now + SRV_CONNECTIONS_MAX + 16;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
                      ? need
                      : rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
        srv_log("WARNING: the open-file limit is %llu, and offpayd may need "
                "%llu (%llu files open now, one per connection up to %u): "
                "beyond it new connections are refused unanswered; raise it "
                "(LimitNOFILE= in the systemd unit, ulimit -n; "
                "docs/operations.md)",
                (unsigned long long)rl.rlim_cur, (unsigned long long)need,
                (unsigned long long)open_now, (unsigned)SRV_CONNECTIONS_MAX);
}

int main(int argc, char **argv)
{
    opts                o;
    srv_ctx             srv;
    issuer_view         iv;
    key_list            old_keys = {NULL, 0};
    uint16_t            port = 0, bound = 0;
    char                addr[64];
    char               *token = NULL, *colon;
    /* the hashes of the tokens in use, for SIGHUP to tell a new one */
    uint8_t              token_held[32] = {0}, metrics_held[32] = {0};
    srv_daemon         *d = NULL;
    sigset_t            sigs;
    time_t               next_release, next_marks, next_cases;
    time_t               void_at = 0; /* void_again's time; 0: none */
    /* removal_digests' time, once the removal's time is final */
    time_t               digests_at = 0;
    uint64_t            p;
    int                 rc, status = 3;
    offpay_err          err;
    offpay_ledger_config lcfg;

    memset(&srv, 0, sizeof srv);
    memset(&iv, 0, sizeof iv);
    rc = parse_opts(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (o.lock_wait)
        offpay__lockwait_set((long)o.lock_wait * 1000L);
    if (o.shards == NULL) {
        char db_[SHOWN_MAX];
        int  hidden = 0;

        /* warned, not refused as a PIN in --issuer-key-uri is:
         * deployments that give it so must keep starting */
        (void)offpay_ledger_redact(o.db, db_, sizeof db_, &hidden);
        if (hidden)
            srv_log("WARNING: --db holds the PostgreSQL password, which "
                    "every user of this machine can read in a command line "
                    "(ps, /proc/PID/cmdline): give it in a passfile instead "
                    "(PGPASSFILE=FILE in the environment, or passfile=FILE "
                    "in the URL's query; docs/operations.md §2)");
    }
    colon = strrchr(o.listen, ':');
    if (colon == NULL || (size_t)(colon - o.listen) >= sizeof addr ||
        srv_parse_u64(colon + 1, 65535, &p) != 0)
        return usage("--listen wants ADDR:PORT");
    memcpy(addr, o.listen, (size_t)(colon - o.listen));
    addr[colon - o.listen] = '\0';
    port = (uint16_t)p;
    {
        struct in_addr ia;

        if (inet_pton(AF_INET, addr, &ia) != 1)
            return usage("--listen ADDR:PORT takes an IPv4 address, such as "
                         "127.0.0.1:8080 (a host name is not looked up)");
    }
    if (offpay_init() != OFFPAY_OK) {
        srv_log("cannot initialize the crypto library");
        return 3;
    }
    offpay_set_log(log_line, NULL);
    /* Signals are taken by sigtimedwait below, in this thread only: block
     * them before any thread starts, so every thread inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP); /* the tokens and the issuer read again */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* the ledger's files (SQLite's, its WAL and shared memory) hold every
     * account: readable by offpayd's user only */
    umask(077);
    /* no core dumps and no ptrace by other processes of its user: the
     * tokens, a PIN from the environment, the daily key stay in memory */
    {
        struct rlimit no_core = {0, 0};

        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
            setrlimit(RLIMIT_CORE, &no_core) != 0) {
            srv_log("cannot disable core dumps: %s", strerror(errno));
            goto out;
        }
    }

    if (o.token_file != NULL) {
        token = read_secret("--token-file", o.token_file, SRV_TOKEN_MIN);
        if (token == NULL)
            goto out;
        srv_set_token(&srv, token);
        token_hash(token, token_held);
    }
    if (o.operators_file != NULL &&
        !load_operators(&srv, o.operators_file,
                        o.token_file != NULL ? token_held : NULL))
        goto out;
    if (o.metrics_token_file != NULL) {
        char *mt =
            read_secret("--metrics-token-file", o.metrics_token_file, 16);

        if (mt == NULL)
            goto out;
        srv_set_metrics_token(&srv, mt);
        token_hash(mt, metrics_held);
        sodium_free(mt); /* wiped */
        metrics_token_check(&srv);
    }
    srv.cfg.body_max = (size_t)o.body_max;
    srv.cfg.batch_max = (size_t)o.batch_max;
    srv.cfg.window = (uint32_t)o.window;
    srv.cfg.tx_items = (size_t)o.tx_items;
    srv.cfg.per_ip = (unsigned)o.per_ip;
    if (load_issuer(&o, NULL, &iv, srv_now()) != OFFPAY_OK)
        goto out;
    root_key_check(o.issuer);
    srv_bundle_set(&srv, iv.bundle, iv.bundle_len, iv.b.seq);
    iv.bundle = NULL; /* the server's now */
    {
        char     when[32];
        uint32_t end;

        key_end(&iv.b, iv.kid, when, &end);
        srv_metrics_signing_key(iv.kid, end);
    }
    if (!sqlite_dir_ok(o.db, o.create) || !pg_ledger_ok(o.db, o.create) ||
        !port_free(addr, port, o.listen))
        goto out;
    offpay_ledger_config_defaults(&lcfg);
    lcfg.duplicates_to_revoke = (uint32_t)o.dup_revoke;
    err = srv_pool_open(o.db, o.threads, &lcfg, &iv.b, iv.kid, iv.next_kid,
                        iv.sk, iv.key, &srv.pool);
    if (err != OFFPAY_OK) {
        char db_[SHOWN_MAX];

        srv_log("ledger %s: %s (%s)%s", shown(o.db, db_), offpay_strerror(err),
                offpay_errname(err),
                ledger_transient(err) ? transient_hint(err) : "");
        if (ledger_transient(err))
            status = EXIT_LEDGER_TRANSIENT;
        goto out;
    }
    nofile_check();
    if (srv_daemon_start(&srv, addr, port, &d, &bound) !=
        OFFPAY_OK) {
        srv_log("cannot listen on %s (the reason is above)", o.listen);
        goto out;
    }
    {
        static const char *const kind[] = {"", "SQLite", "PostgreSQL",
                                           "PostgreSQL shards"};

        printf("offpayd: ledger on %s, %u ledger connection%s, up to %zu "
               "upload items per transaction\n",
               kind[offpay_ledger_backend_of(o.db)], (unsigned)o.threads,
               o.threads == 1 ? "" : "s", (size_t)o.tx_items);
        if (o.dup_revoke != 1)
            printf("offpayd: a credential is revoked at its duplicate "
                   "presentment case %u, not at the first\n",
                   (unsigned)o.dup_revoke);
    }
    printf("offpayd listening on %s:%u\n", addr, (unsigned)bound);
    fflush(stdout);
    key_end_warning(&iv.b, iv.kid, srv_now());
    /* The main thread waits for signals, waking for the release job every
     * --release-every seconds and the marking job every --mark-every (on
     * a fixed schedule: a signal does not postpone them; the marking job
     * when it left transfers to mark, a second after its end; see
     * marks_due), every minute to count the open cases for /metrics,
     * and at least daily for the daily key's warning. */
    {
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        next_release = t.tv_sec + (time_t)o.release_every;
        next_marks = t.tv_sec; /* at once: an upgraded ledger's backlog
                                  starts now, and the last success is set */
        next_cases = t.tv_sec; /* at once */
    }
    for (;;) {
        struct timespec ts = {86400, 0}, t;
        int             sig;

        clock_gettime(CLOCK_MONOTONIC, &t);
        if (o.release_every && next_release - t.tv_sec < ts.tv_sec)
            ts.tv_sec = next_release > t.tv_sec ? next_release - t.tv_sec : 0;
        if (o.mark_every && next_marks - t.tv_sec < ts.tv_sec)
            ts.tv_sec = next_marks > t.tv_sec ? next_marks - t.tv_sec : 0;
        if (next_cases - t.tv_sec < ts.tv_sec)
            ts.tv_sec = next_cases > t.tv_sec ? next_cases - t.tv_sec : 0;
        if (void_at != 0 && void_at - t.tv_sec < ts.tv_sec)
            ts.tv_sec = void_at > t.tv_sec ? void_at - t.tv_sec : 0;
        if (digests_at != 0 && digests_at - t.tv_sec < ts.tv_sec)
            ts.tv_sec = digests_at > t.tv_sec ? digests_at - t.tv_sec : 0;
        sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP) {
            if (o.token_file != NULL)
                reload_token(&srv, "--token-file", o.token_file, "operator",
                             srv_set_token, token_held);
            if (o.operators_file != NULL) {
                reload_operators(&srv, o.operators_file,
                                 o.token_file != NULL ? token_held : NULL);
                clock_gettime(CLOCK_MONOTONIC, &t);
                if (n_later > 0)
                    void_at = t.tv_sec + VOID_AGAIN_AFTER;
                /* (a later removal before then: the digests until it) */
                if (removed_now) {
                    time_t wait =
                        SRV_COMMIT_WITHIN + OFFPAY__PERIOD_FINAL_AFTER + 1;

#ifdef OFFPAY_TEST_HOOKS
                    /* a test does not wait a minute */
                    if (offpay__test_number("OFFPAY_TEST_DIGESTS_AFTER") > 0)
                        wait = (time_t)offpay__test_number(
                            "OFFPAY_TEST_DIGESTS_AFTER");
#endif
                    digests_at = t.tv_sec + wait;
                    removed_now = 0;
                }
            }
            if (o.metrics_token_file != NULL)
                reload_token(&srv, "--metrics-token-file", o.metrics_token_file,
                             "metrics", srv_set_metrics_token, metrics_held);
            metrics_token_check(&srv);
            reload_issuer(&o, &srv, &iv, &old_keys);
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (void_at != 0 && t.tv_sec >= void_at) {
            void_again(&srv);
            void_at = 0;
        }
        if (digests_at != 0 && t.tv_sec >= digests_at) {
            removal_digests(&srv);
            digests_at = 0;
            removed_at = 0;
        }
        if (o.release_every && t.tv_sec >= next_release) {
            release_due(srv.pool, (uint32_t)o.release_every);
            next_release = t.tv_sec + (time_t)o.release_every;
        }
        if (o.mark_every && t.tv_sec >= next_marks) {
            time_t wait = marks_due(srv.pool, (time_t)o.mark_every);

            clock_gettime(CLOCK_MONOTONIC, &t); /* from the run's end */
            next_marks = t.tv_sec + wait;
        }
        if (t.tv_sec >= next_cases) {
            offpay_ledger *l = srv_pool_get(srv.pool);

            srv_cases_count(l);
            srv_terminals_count(l);
            srv_pool_put(srv.pool, l);
            clock_gettime(CLOCK_MONOTONIC, &t);
            next_cases = t.tv_sec + CASES_EVERY;
        }
        key_end_warning(&iv.b, iv.kid, srv_now());
    }
    if (digests_at != 0) {
        char at[32];

        srv_iso_time(removed_at + SRV_COMMIT_WITHIN, at);
        srv_log("operators %s taken out: offpayd stops before %s is final: "
                "once it is, run offpay admin digest --to %lu and keep what "
                "it prints with their removal",
                removed_names, at,
                (unsigned long)(removed_at + SRV_COMMIT_WITHIN));
    }
    srv_log("stopping");
    status = 0;
out:
    srv_daemon_stop(d); /* waits for requests in progress */
    srv_pool_close(srv.pool);
    /* the token keys after every ledger that signs with them */
    issuer_view_free(&iv);
    for (size_t i = 0; i < old_keys.n; i++)
        offpay_pkcs11_close(old_keys.k[i]);
    free(old_keys.k);
    free(srv.bundle);
    if (token)
        sodium_free(token);
    sodium_memzero(token_held, sizeof token_held);
    sodium_memzero(metrics_held, sizeof metrics_held);
    return status;
}
