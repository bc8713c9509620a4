/*
 * ledger.c — the ledger handle and the operator's side of settlement.h:
 * accounts, deposits and withdrawals, merchants and terminals, credential
 * issuance, revocation, escrow release and the audit.
 *
 * Every public function is one transaction run by offpay__ledger_tx, which
 * reruns it from the start when the store reports a conflict. Signatures
 * are made inside the transaction that allocates the serial or terminal
 * id they cover, so a credential exists signed and funded, or not at all.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/testhook.h"
#include "core/log.h"
#include "core/message_int.h"
#include "core/oserr.h"
#include "core/unixtime.h"
#include "offpay/core.h"
#include "offpay/issuer.h"
#include "settle/render.h"
#include "settle/settle_int.h"
#include "store/lockwait.h"
#include "store/migrations.h"

#define TX_ATTEMPTS    50
#define BACKOFF_MIN_US 200u
#define BACKOFF_MAX_US 20000u
#define REF_MAX        OFFPAY_LEDGER_REF_MAX
#define RELEASE_BATCH  64

void offpay_ledger_config_defaults(offpay_ledger_config *c)
{
    memset(c, 0, sizeof *c);
    c->upload_grace = 14u * 86400;
    c->late_window = 30u * 86400;
    c->duplicates_to_revoke = 1;
}

/* Publishes shard k's new revocations to the directory (shard 0). */
static offpay_err publish(offpay_ledger *l, size_t k)
{
    if (!l->sharded || k == 0)
        return OFFPAY_OK;
    return offpay__pg_revocations_publish(l->shard[k].store, l->shard[0].store,
                                          &l->shard[k].published);
}

/* Terminal revocations the shards took and the directory did not (a
 * revocation answered 503, not sent again) finished in the directory:
 * until then the shards refuse the terminal and the directory does not,
 * and every copy compares unequal and copies every row. And one a shard
 * holds from before the directory's (the terminal, live in the directory
 * meanwhile, rotated: its rotation revoked it there later, for its own
 * reason), given the directory: every shard keeps the first revocation's
 * time and reason. */
static offpay_err directory_finish(offpay_ledger *l)
{
    offpay_err rc = OFFPAY_OK;

    for (size_t k = 1; rc == OFFPAY_OK && l->sharded && k < l->n_shards; k++) {
        size_t n = 0, c = 0;

        rc = offpay__pg_terminal_revocations_finish(l->shard[k].store,
                                                    l->shard[0].store, &n, &c);
        if (rc == OFFPAY_OK && n > 0)
            offpay__log("offpay: %zu terminal revocation(s) shard %zu held "
                        "and the directory did not (a revocation that "
                        "failed part way) made in the directory\n",
                        n, k);
        if (rc == OFFPAY_OK && c > 0)
            offpay__log("offpay: %zu terminal revocation(s) shard %zu held "
                        "from before the directory's, or with a reason where "
                        "it held none, given the directory: every shard keeps "
                        "the first time and reason\n",
                        c, k);
    }
    return rc;
}

/* The directory's rows copied to every shard (after a change to them, and
 * at open: a copy a crash interrupted is finished). When a shard holds a
 * terminal revocation otherwise after its copy (the first one, which the
 * directory lacks or holds later), the directory takes it and is copied
 * again, so that every shard keeps one time and reason. */
static offpay_err directory_copy(offpay_ledger *l)
{
    offpay_err rc = OFFPAY_OK;
    int        differ = 0;

    for (size_t k = 1; rc == OFFPAY_OK && l->sharded && k < l->n_shards; k++) {
        int d = 0;

        rc =
            offpay__pg_directory_copy(l->shard[0].store, l->shard[k].store, &d);
        differ |= d;
    }
    if (rc == OFFPAY_OK && differ)
        rc = directory_finish(l);
    for (size_t k = 1; rc == OFFPAY_OK && differ && k < l->n_shards; k++)
        rc = offpay__pg_directory_copy(l->shard[0].store, l->shard[k].store,
                                       NULL);
    return rc;
}

offpay_err offpay__ledger_directory_copy(offpay_ledger *l)
{
    return directory_copy(l);
}

/* The ranges recorded on each shard by the map the ledger was last opened
 * with (migration 007), and which of them is the shard's own. */
struct recorded {
    uint64_t range[OFFPAY_SHARDS_MAX][2];
    size_t   n, here; /* here: SIZE_MAX when none is the shard's own */
};

static int overlaps(uint64_t a, uint64_t b, const uint64_t r[2])
{
    return a <= r[1] && b >= r[0];
}

/* cfg against what each shard recorded (rec[k] for the database cfg
 * gives as shard k; empty for a database without the schema): every
 * recorded range is still in cfg's ranges (a serial of a shard left out
 * would otherwise be judged "not issued" by shard 0, for good); no range
 * of cfg spans two recorded ranges (shards merged without their rows);
 * each line names the database that held its range (not another shard's,
 * not an empty one). A range may grow into ids no shard held. */
static offpay_err map_check(const offpay_shard_config *cfg,
                            const struct recorded *rec, const char *path)
{
    static const char see[] = "nothing was changed (docs/scaling.md, \"The "
                              "shard map is checked\")";

    for (size_t k = 0; k < cfg->n; k++) {
        const struct recorded *r = &rec[k];
        const uint64_t         m[2] = {cfg->shard[k].first,
                                       cfg->shard[k].last};

        for (size_t i = 0; i < r->n; i++)
            if (!offpay_shard_config_covers(cfg, r->range[i][0],
                                            r->range[i][1])) {
                offpay__log(
                    "offpay: %s names no shard for some of the serials "
                    "%llu-%llu, which the ledger's shards held when it "
                    "was last opened (as recorded in the database the "
                    "map gives as shard %zu): a shard's line is missing "
                    "or its range was cut; %s\n",
                    path, (unsigned long long)r->range[i][0],
                    (unsigned long long)r->range[i][1], k, see);
                return OFFPAY_ESHARD_MAP;
            }
        for (size_t j = 0; j < cfg->n; j++)
            for (size_t i = 0; i + 1 < r->n; i++)
                if (overlaps(cfg->shard[j].first, cfg->shard[j].last,
                             r->range[i]) &&
                    overlaps(cfg->shard[j].first, cfg->shard[j].last,
                             r->range[i + 1])) {
                    offpay__log("offpay: %s gives shard %zu the serials "
                                "%llu-%llu, over the ranges %llu-%llu and "
                                "%llu-%llu of two shards of the map the ledger "
                                "was last opened with: shards are merged by "
                                "moving their rows first; %s\n",
                                path, j,
                                (unsigned long long)cfg->shard[j].first,
                                (unsigned long long)cfg->shard[j].last,
                                (unsigned long long)r->range[i][0],
                                (unsigned long long)r->range[i][1],
                                (unsigned long long)r->range[i + 1][0],
                                (unsigned long long)r->range[i + 1][1], see);
                    return OFFPAY_ESHARD_MAP;
                }
        if (r->here != SIZE_MAX && !overlaps(m[0], m[1], r->range[r->here])) {
            offpay__log("offpay: %s: the database of shard %zu (serials "
                        "%llu-%llu) is the shard of the serials %llu-%llu: is "
                        "its URL another shard's? %s\n",
                        path, k, (unsigned long long)m[0],
                        (unsigned long long)m[1],
                        (unsigned long long)r->range[r->here][0],
                        (unsigned long long)r->range[r->here][1], see);
            return OFFPAY_ESHARD_MAP;
        }
        /* a database that was no shard, given a range a shard held */
        for (size_t j = 0; r->here == SIZE_MAX && j < cfg->n; j++)
            for (size_t i = 0; i < rec[j].n; i++)
                if (overlaps(m[0], m[1], rec[j].range[i])) {
                    offpay__log(
                        "offpay: %s: the database of shard %zu (serials "
                        "%llu-%llu) was no shard of this ledger, but the "
                        "serials %llu-%llu were another database's when "
                        "the ledger was last opened: is its URL right? "
                        "%s\n",
                        path, k, (unsigned long long)m[0],
                        (unsigned long long)m[1],
                        (unsigned long long)rec[j].range[i][0],
                        (unsigned long long)rec[j].range[i][1], see);
                    return OFFPAY_ESHARD_MAP;
                }
    }
    return OFFPAY_OK;
}

/* 1 when shard k's database already records cfg as it is. */
static int recorded_as(const struct recorded *r, const offpay_shard_config *cfg,
                       size_t k)
{
    if (r->n != cfg->n || r->here != k)
        return 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->range[i][0] != cfg->shard[i].first ||
            r->range[i][1] != cfg->shard[i].last)
            return 0;
    return 1;
}

/* Opens shard k's database (giving it the schema if it has none) and
 * reads what it recorded of the map. */
static offpay_err shard_open(offpay_ledger *l, const offpay_shard_config *cfg,
                             size_t k, struct recorded *r, const char *path)
{
    offpay__shard *sh = &l->shard[k];
    offpay_err     rc = offpay__store_postgres_open(cfg->shard[k].url,
                                                    &sh->store, &sh->ops);

    if (rc == OFFPAY_OK)
        rc = offpay__pg_shard_map_get(sh->store, r->range, OFFPAY_SHARDS_MAX,
                                      &r->n, &r->here);
    if (rc == OFFPAY_ETOOBIG)
        offpay__log(
            "offpay: %s: the database of shard %zu records more than %d "
            "ranges (table shard_map, not written by offpay)\n",
            path, k, OFFPAY_SHARDS_MAX);
    return rc;
}

/* Opens the shards of the shard map at path (docs/scaling.md). One open
 * at a time checks and records the map, under a lock on shard 0's
 * database; a database without the schema gets it only after the check,
 * and nothing else is written before it passes. */
static offpay_err open_shards(offpay_ledger *l, const char *path)
{
    offpay_shard_config *cfg = calloc(1, sizeof *cfg);
    struct recorded     *rec = NULL;
    uint64_t             range[OFFPAY_SHARDS_MAX][2];
    int                  fresh[OFFPAY_SHARDS_MAX] = {0};
    void                *lock = NULL;
    offpay_err           rc;

    if (cfg == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay_shard_config_load(path, cfg, NULL, NULL);
    l->sharded = 1;
    l->map = cfg;
    if (rc != OFFPAY_OK)
        return rc;
    rec = calloc(cfg->n, sizeof *rec);
    if (rec == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__pg_map_lock(cfg->shard[0].url, &lock);
    for (size_t k = 0; rc == OFFPAY_OK && k < cfg->n; k++) {
        l->shard[k].first = range[k][0] = cfg->shard[k].first;
        l->shard[k].last = range[k][1] = cfg->shard[k].last;
        rec[k].here = SIZE_MAX;
        rc = offpay__store_postgres_exists(cfg->shard[k].url);
        if (rc == OFFPAY_ENOENT)
            fresh[k] = 1;
        else if (rc == OFFPAY_OK)
            rc = shard_open(l, cfg, k, &rec[k], path);
        rc = rc == OFFPAY_ENOENT ? OFFPAY_OK : rc;
    }
    if (rc == OFFPAY_OK)
        rc = map_check(cfg, rec, path);
    for (size_t k = 0; rc == OFFPAY_OK && k < cfg->n; k++)
        if (fresh[k])
            rc = shard_open(l, cfg, k, &rec[k], path);
    /* the ids each database assigned checked against its range on every
     * shard, then the ranges bound */
    for (int bind = 0; bind < 2; bind++)
        for (size_t k = 0; rc == OFFPAY_OK && k < cfg->n; k++) {
            rc = offpay__pg_shard_range(l->shard[k].store, range[k][0],
                                        range[k][1], bind);
            if (rc == OFFPAY_ESHARD_MAP)
                offpay__log("offpay: %s: the database of shard %zu (serials "
                            "%llu-%llu) holds ids of another range (above): is "
                            "its URL another shard's? nothing was changed\n",
                            path, k, (unsigned long long)range[k][0],
                            (unsigned long long)range[k][1]);
        }
    /* the new databases' records first: a write cut short never leaves a
     * recorded range whose database records nothing */
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; rc == OFFPAY_OK && k < cfg->n; k++)
            if (fresh[k] == (pass == 0) && !recorded_as(&rec[k], cfg, k))
                rc = offpay__pg_shard_map_put(l->shard[k].store, range,
                                              cfg->n, k);
    offpay__pg_map_unlock(lock);
    free(rec);
    if (rc != OFFPAY_OK)
        return rc;
    l->n_shards = cfg->n;
    rc = directory_copy(l);
    for (size_t k = 1; rc == OFFPAY_OK && k < l->n_shards; k++)
        rc = publish(l, k);
    return rc;
}

/* A PostgreSQL URL opens one database as the whole ledger: refused when
 * that database is one shard of a ledger sharded over several. */
static offpay_err one_shard_of_many(offpay__store *s)
{
    uint64_t   range[OFFPAY_SHARDS_MAX][2];
    size_t     n = 0, here;
    offpay_err rc =
        offpay__pg_shard_map_get(s, range, OFFPAY_SHARDS_MAX, &n, &here);

    if (rc != OFFPAY_OK || n <= 1)
        return rc;
    offpay__log(
        "offpay: this PostgreSQL database is one of the %zu shards of a "
        "sharded ledger (serials %llu-%llu ... %llu-%llu): open the "
        "ledger with its shard map (--shards FILE) instead; nothing was "
        "changed\n",
        n, (unsigned long long)range[0][0], (unsigned long long)range[0][1],
        (unsigned long long)range[n - 1][0],
        (unsigned long long)range[n - 1][1]);
    return OFFPAY_ESHARD_MAP;
}

offpay_err offpay_ledger_exists(const char *path)
{
    offpay_shard_config cfg;
    struct stat         st;
    offpay_err          rc = OFFPAY_OK;

    if (path == NULL)
        return OFFPAY_EINVAL;
    switch (offpay_ledger_backend_of(path)) {
    case OFFPAY_LEDGER_SHARDS:
        rc = offpay_shard_config_load(path + 7, &cfg, NULL, NULL);
        for (size_t k = 0; rc == OFFPAY_OK && k < cfg.n; k++) {
            rc = offpay__store_postgres_exists(cfg.shard[k].url);
            if (rc == OFFPAY_ENOENT)
                offpay__log(
                    "offpay: %s: shard %zu (serials %llu-%llu) holds no "
                    "offpay ledger (a database without its schema)\n",
                    path + 7, k, (unsigned long long)cfg.shard[k].first,
                    (unsigned long long)cfg.shard[k].last);
        }
        return rc;
    case OFFPAY_LEDGER_POSTGRES:
        return offpay__store_postgres_exists(path);
    case OFFPAY_LEDGER_SQLITE:
        break;
    }
    if (stat(path, &st) != 0)
        return offpay__errno_err(errno);
    /* a file without the ledger's schema (an empty file after a power
     * cut, another program's database) is no ledger, as an empty
     * PostgreSQL database is not; one that is no database at all is the
     * open's to say */
    {
        unsigned v = 0;

        rc = offpay__store_sqlite_version(path, &v);
        if (rc == OFFPAY_OK && v == 0)
            return OFFPAY_ENOENT;
    }
    return OFFPAY_OK;
}

offpay_err offpay_ledger_schema(const char *path, unsigned *have,
                                unsigned *want)
{
    offpay_shard_config cfg;
    offpay_err          rc = OFFPAY_OK;
    unsigned            v = 0;

    if (path == NULL || have == NULL || want == NULL)
        return OFFPAY_EINVAL;
    *want = (unsigned)offpay__n_migrations;
    *have = 0;
    switch (offpay_ledger_backend_of(path)) {
    case OFFPAY_LEDGER_SHARDS: /* the oldest shard's */
        rc = offpay_shard_config_load(path + 7, &cfg, NULL, NULL);
        *have = UINT_MAX;
        for (size_t k = 0; rc == OFFPAY_OK && k < cfg.n; k++) {
            rc = offpay__store_postgres_version(cfg.shard[k].url, &v);
            if (rc == OFFPAY_OK && v < *have)
                *have = v;
        }
        if (rc != OFFPAY_OK || cfg.n == 0)
            *have = 0;
        return rc;
    case OFFPAY_LEDGER_POSTGRES:
        return offpay__store_postgres_version(path, have);
    case OFFPAY_LEDGER_SQLITE:
        break;
    }
    rc = offpay_ledger_exists(path);
    return rc == OFFPAY_OK ? offpay__store_sqlite_version(path, have) : rc;
}

offpay_err offpay_ledger_backup(const char *path, const char *out)
{
    offpay_err rc;

    if (path == NULL || out == NULL || out[0] == '\0')
        return OFFPAY_EINVAL;
    if (offpay_ledger_backend_of(path) != OFFPAY_LEDGER_SQLITE)
        return OFFPAY_EINVAL; /* PostgreSQL's own tools copy a database */
    rc = offpay_ledger_exists(path);
    return rc == OFFPAY_OK ? offpay__store_sqlite_backup(path, out) : rc;
}

struct skip_ctx {
    int      terminal;
    uint64_t by, next;
};

static offpay_err skip_tx(offpay_ledger *l, void *p)
{
    struct skip_ctx *c = p;
    char             by[32];
    offpay_err       rc;

    rc = l->ops->ids_skip(l->store, c->terminal, c->by, &c->next);
    if (rc != OFFPAY_OK || c->terminal != 1)
        return rc;
    /* kept once, with the terminals' ids, on the directory */
    snprintf(by, sizeof by, "by %llu", (unsigned long long)c->by);
    return offpay__ledger_journal_clock(l, "skip-ids", by);
}

offpay_err offpay_ledger_skip_ids(offpay_ledger *l, uint64_t by,
                                  uint64_t *next_serial,
                                  uint32_t *next_terminal)
{
    struct skip_ctx c = {0, by, 0};
    offpay_err      rc = OFFPAY_OK;

    if (l == NULL || by == 0 || by > OFFPAY_LEDGER_SKIP_MAX)
        return OFFPAY_EINVAL;
    /* the terminals' ids (the directory's: 32 bits, the likelier
     * refusal) first, then each shard's serials */
    c.terminal = 1;
    rc = offpay__ledger_tx_on(l, 0, skip_tx, &c);
    if (rc == OFFPAY_OK && next_terminal != NULL)
        *next_terminal = (uint32_t)c.next;
    c.terminal = 0;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        rc = offpay__ledger_tx_on(l, k, skip_tx, &c);
        if (rc == OFFPAY_OK && k == 0 && next_serial != NULL)
            *next_serial = c.next;
    }
    /* and the revocation lists' numbers, which the directory's (shard
     * 0's) list carries: a device's list from before the restore is then
     * numbered below the restored ledger's, and its next delta from it
     * holds every revocation the restored ledger has (since 0.13.0: a
     * delta from a number the restored ledger passed by revoking anew
     * missed those it numbered below it) */
    c.terminal = OFFPAY__IDS_REVLIST;
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx_on(l, 0, skip_tx, &c);
    return rc;
}

offpay_ledger_backend offpay_ledger_backend_of(const char *path)
{
    if (path != NULL && strncmp(path, "shards:", 7) == 0)
        return OFFPAY_LEDGER_SHARDS;
    if (path != NULL && (strncmp(path, "postgresql://", 13) == 0 ||
                         strncmp(path, "postgres://", 11) == 0))
        return OFFPAY_LEDGER_POSTGRES;
    return OFFPAY_LEDGER_SQLITE;
}

/* The text offpay_ledger_redact writes: bounded, cut at its end. */
struct shown {
    char  *out;
    size_t size, len;
    int    cut;
};

static void shown_put(struct shown *w, const char *s, size_t n)
{
    if (w->cut)
        return;
    if (n >= w->size - w->len) {
        n = w->size - w->len - 1;
        w->cut = 1;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
    w->out[w->len] = '\0';
}

static int space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' ||
           ch == '\v';
}

/* The end of a key/value string's value at s: quoted ('...', with \
 * escapes) or up to the next space (libpq's conninfo_parse). */
static const char *kv_value_end(const char *s)
{
    if (*s == '\'') {
        for (s++; *s != '\0' && *s != '\''; s++)
            if (*s == '\\' && s[1] != '\0')
                s++;
        return *s == '\'' ? s + 1 : s;
    }
    for (; *s != '\0' && !space(*s); s++)
        if (*s == '\\' && s[1] != '\0')
            s++;
    return s;
}

static int hex_digit(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* A URL query parameter at p named "password" once its %XX escapes are
 * decoded (libpq decodes names as well as values): its value's start,
 * else NULL. */
static const char *query_password(const char *p)
{
    static const char name[] = "password";
    size_t            i = 0;

    while (*p != '\0' && *p != '=' && *p != '&') {
        int ch = (unsigned char)*p, hi, lo;

        if (*p == '%' && (hi = hex_digit(p[1])) >= 0 &&
            (lo = hex_digit(p[2])) >= 0) {
            ch = hi * 16 + lo;
            p += 2;
        }
        if (i >= sizeof name - 1 || ch != name[i])
            return NULL;
        i++;
        p++;
    }
    return *p == '=' && i == sizeof name - 1 ? p + 1 : NULL;
}

offpay_err offpay_ledger_redact(const char *path, char *out, size_t out_size,
                                int *hidden)
{
    struct shown w = {out, out_size, 0, 0};
    const char  *p = path, *user_end = NULL, *query = NULL;
    int          url, any = 0;

    if (hidden != NULL)
        *hidden = 0;
    if (path == NULL || out == NULL || out_size == 0)
        return OFFPAY_EINVAL;
    out[0] = '\0';
    url = offpay_ledger_backend_of(path) == OFFPAY_LEDGER_POSTGRES;
    if (url) {
        /* libpq's URL: scheme://[user[:password]@][host...][/db][?params];
         * the user part ends at the first '@' before any '/' */
        const char *a = strstr(path, "://") + 3, *e = a;

        while (*e != '\0' && *e != '@' && *e != '/')
            e++;
        if (*e == '@') {
            const char *colon = memchr(a, ':', (size_t)(e - a));

            if (colon != NULL && colon + 1 < e) {
                shown_put(&w, path, (size_t)(colon + 1 - path));
                shown_put(&w, "***", 3);
                any = 1;
                p = e;
            }
            user_end = e;
        }
        query = strchr(user_end != NULL ? user_end : a, '?');
    }
    while (*p != '\0') {
        const char *v = NULL, *end = NULL;

        if (url && query != NULL && p > query &&
            (p[-1] == '?' || p[-1] == '&') && (v = query_password(p)) != NULL) {
            end = v + strcspn(v, "&");
        } else if (!url && (p == path || space(p[-1])) &&
                   strncmp(p, "password", 8) == 0) {
            const char *q = p + 8;

            while (space(*q))
                q++;
            if (*q == '=') {
                q++;
                while (space(*q))
                    q++;
                v = q;
                end = kv_value_end(v);
            }
        }
        if (v != NULL && end > v) {
            shown_put(&w, p, (size_t)(v - p));
            shown_put(&w, "***", 3);
            any = 1;
            p = end;
        } else {
            shown_put(&w, p, 1);
            p++;
        }
    }
    if (hidden != NULL)
        *hidden = any;
    return w.cut ? OFFPAY_ETOOBIG : OFFPAY_OK;
}

offpay_err offpay_ledger_open(const char *path, const offpay_ledger_config *c,
                              offpay_ledger **out)
{
    offpay_ledger *l;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (path == NULL)
        return OFFPAY_EINVAL;
    l = sodium_malloc(sizeof *l);
    if (l == NULL)
        return OFFPAY_ENOMEM;
    memset(l, 0, sizeof *l);
    l->cache = calloc(OFFPAY__CACHE_SLOTS, sizeof *l->cache);
    if (l->cache == NULL) {
        sodium_free(l);
        return OFFPAY_ENOMEM;
    }
    if (c != NULL)
        l->cfg = *c;
    else
        offpay_ledger_config_defaults(&l->cfg);
    l->n_shards = 1;
    l->shard[0].first = 1;
    l->shard[0].last = UINT64_MAX;
    switch (offpay_ledger_backend_of(path)) {
    case OFFPAY_LEDGER_SHARDS:
        rc = open_shards(l, path + 7);
        break;
    case OFFPAY_LEDGER_POSTGRES:
        rc = offpay__store_postgres_open(path, &l->shard[0].store,
                                         &l->shard[0].ops);
        if (rc == OFFPAY_OK)
            rc = one_shard_of_many(l->shard[0].store);
        break;
    default:
        rc = offpay__store_sqlite_open(path, &l->shard[0].store,
                                       &l->shard[0].ops);
    }
    l->store = l->shard[0].store;
    l->ops = l->shard[0].ops;
    if (rc != OFFPAY_OK) {
        offpay_ledger_close(l);
        return rc;
    }
    *out = l;
    return OFFPAY_OK;
}

size_t offpay_ledger_shards(const offpay_ledger *l)
{
    return l != NULL ? l->n_shards : 0;
}

int offpay__ledger_shard_of(const offpay_ledger *l, uint64_t id)
{
    if (!l->sharded)
        return 0;
    return offpay_shard_config_route(l->map, id);
}

size_t offpay__ledger_home(const offpay_ledger *l, uint64_t id)
{
    int k = offpay__ledger_shard_of(l, id);

    return k < 0 ? 0 : (size_t)k;
}

int offpay__ledger_on_shard(const offpay_ledger *l, uint64_t serial)
{
    return offpay__ledger_home(l, serial) == l->cur;
}

offpay_err offpay_ledger_check(offpay_ledger *l)
{
    offpay_err rc = OFFPAY_OK;

    if (l == NULL)
        return OFFPAY_EINVAL;
    for (size_t k = 0; k < l->n_shards && rc == OFFPAY_OK; k++)
        rc = l->shard[k].ops->check(l->shard[k].store);
    return rc;
}

void offpay_ledger_close(offpay_ledger *l)
{
    if (l == NULL)
        return;
    for (size_t k = 0; k < OFFPAY_SHARDS_MAX; k++)
        if (l->shard[k].ops != NULL)
            l->shard[k].ops->close(l->shard[k].store);
    free(l->map);
    free(l->cache);
    sodium_free(l); /* wipes the signing key */
}

/* set_trust with sk, or (sk NULL) with the token's key p11. */
static offpay_err set_trust_as(offpay_ledger *l, const offpay_trust_bundle *b,
                               uint16_t kid, const uint8_t *sk,
                               offpay_pkcs11_key *p11)
{
    uint8_t pk[OFFPAY_PK_BYTES];
    int     found = 0;

    if (l == NULL || b == NULL || (sk == NULL && p11 == NULL))
        return OFFPAY_EINVAL;
    if (sk == NULL)
        offpay_pkcs11_pk(p11, pk);
    else if (crypto_sign_ed25519_sk_to_pk(pk, sk) != 0)
        return OFFPAY_ECRYPTO;
    for (size_t i = 0; i < b->n_keys; i++)
        if (b->keys[i].kid == kid &&
            sodium_memcmp(b->keys[i].pk, pk, OFFPAY_PK_BYTES) == 0)
            found = 1;
    if (!found)
        return OFFPAY_EUNKNOWN_KID;
    l->bundle = *b;
    memset(l->cache, 0, OFFPAY__CACHE_SLOTS * sizeof *l->cache);
    l->kid = kid;
    if (sk != NULL)
        memcpy(l->sk, sk, OFFPAY_SK_BYTES);
    else
        sodium_memzero(l->sk, sizeof l->sk);
    l->p11 = sk != NULL ? NULL : p11;
    l->has_trust = 1;
    return OFFPAY_OK;
}

offpay_err offpay_ledger_set_trust(offpay_ledger             *l,
                                   const offpay_trust_bundle *b, uint16_t kid,
                                   const uint8_t sk[OFFPAY_SK_BYTES])
{
    if (sk == NULL)
        return OFFPAY_EINVAL;
    return set_trust_as(l, b, kid, sk, NULL);
}

void offpay_ledger_set_next_kid(offpay_ledger *l, uint32_t next_kid)
{
    if (l != NULL)
        l->next_kid = next_kid;
}

offpay_err offpay_ledger_set_trust_token(offpay_ledger             *l,
                                         const offpay_trust_bundle *b,
                                         uint16_t kid, offpay_pkcs11_key *key)
{
    if (key == NULL)
        return OFFPAY_EINVAL;
    return set_trust_as(l, b, kid, NULL, key);
}

/* What the last refusal of a transfer dated behind the ledger's newest
 * said, on this thread (offpay__ledger_book). */
static _Thread_local char clock_detail[640];

/* After a conflict: wait a random time that grows with the attempt (up
 * to BACKOFF_MAX_US), so two transactions that keep meeting on one
 * credential stop colliding in lockstep. */
static void backoff(int attempt)
{
    uint32_t        cap = BACKOFF_MIN_US << (attempt < 10 ? attempt : 10);
    uint32_t        us;
    struct timespec ts;

    if (cap > BACKOFF_MAX_US)
        cap = BACKOFF_MAX_US;
    us = randombytes_uniform(cap) + 1;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)us * 1000;
    nanosleep(&ts, NULL);
}

#ifdef OFFPAY_TEST_HOOKS
int offpay__test_read_conflict_at; /* settle_int.h */
#endif

/* A transaction: rerun from its begin while it meets conflicts, up to
 * TX_ATTEMPTS. Its waits for a lock another process holds are bounded
 * in all (store/lockwait.h): past the bound it fails OFFPAY_EBUSY, rolled
 * back; a PostgreSQL lock wait cut short at its first slice (so that it
 * is said while it lasts) is rerun at once. */
static offpay_err run_tx(offpay_ledger *l, int read_only,
                         offpay_err (*fn)(offpay_ledger *l, void *ctx),
                         void *ctx)
{
    offpay_err rc = OFFPAY_ERETRY;
    int        again = 0;

    offpay__lockwait_tx_begin();
    for (int attempt = 0; attempt < TX_ATTEMPTS && rc == OFFPAY_ERETRY;
         attempt++) {
        if (attempt > 0 && !again)
            backoff(attempt);
        l->newest_read = 0;
        clock_detail[0] = '\0';
        rc = read_only ? l->ops->begin_read(l->store) : l->ops->begin(l->store);
        if (rc == OFFPAY_OK)
            rc = fn(l, ctx);
#ifdef OFFPAY_TEST_HOOKS
        if (rc == OFFPAY_OK && read_only && offpay__test_read_conflict_at > 0 &&
            --offpay__test_read_conflict_at == 0)
            rc = OFFPAY_ERETRY; /* as a conflict after fn ran would */
#endif
        if (rc == OFFPAY_OK)
            rc = l->ops->commit(l->store);
        if (rc != OFFPAY_OK)
            l->ops->rollback(l->store);
        again = rc == OFFPAY_EBUSY && offpay__lockwait_tx_again();
        if (again)
            rc = OFFPAY_ERETRY;
    }
    offpay__lockwait_tx_end(rc, !read_only);
    return rc;
}

int offpay__ledger_lock_probe(offpay_ledger *l)
{
    int r = -1;

    /* only a single SQLite file can be probed: PostgreSQL's locks are on
     * rows and tables, none of which stands for the ledger */
    if (l != NULL && l->n_shards == 1)
        r = l->shard[0].ops->lock_probe(l->shard[0].store);
    if (r == 1)
        offpay__lockwait_clear();
    return r;
}

offpay_err offpay__ledger_tx(offpay_ledger *l,
                             offpay_err (*fn)(offpay_ledger *l, void *ctx),
                             void *ctx)
{
    return run_tx(l, 0, fn, ctx);
}

offpay_err offpay__ledger_read(offpay_ledger *l,
                               offpay_err (*fn)(offpay_ledger *l, void *ctx),
                               void *ctx)
{
    return run_tx(l, 1, fn, ctx);
}

static offpay_err run_on(offpay_ledger *l, size_t k, int read_only,
                         offpay_err (*fn)(offpay_ledger *l, void *ctx),
                         void *ctx)
{
    offpay_err rc;

    if (k >= l->n_shards)
        return OFFPAY_EINVAL;
    l->cur = k;
    l->store = l->shard[k].store;
    l->ops = l->shard[k].ops;
    rc = run_tx(l, read_only, fn, ctx);
    l->cur = 0;
    l->store = l->shard[0].store;
    l->ops = l->shard[0].ops;
    return rc;
}

offpay_err offpay__ledger_tx_on(offpay_ledger *l, size_t k,
                                offpay_err (*fn)(offpay_ledger *l, void *ctx),
                                void *ctx)
{
    return run_on(l, k, 0, fn, ctx);
}

offpay_err offpay__ledger_read_on(offpay_ledger *l, size_t k,
                                  offpay_err (*fn)(offpay_ledger *l, void *ctx),
                                  void *ctx)
{
    return run_on(l, k, 1, fn, ctx);
}

offpay_err
offpay__ledger_tx_serials(offpay_ledger *l, const uint64_t *serials, size_t n,
                          offpay_err (*fn)(offpay_ledger *l, void *ctx),
                          void *ctx)
{
    int        touched[OFFPAY_SHARDS_MAX] = {0};
    offpay_err rc = OFFPAY_OK;

    if (l->n_shards == 1)
        return run_tx(l, 0, fn, ctx);
    for (size_t i = 0; i < n; i++)
        touched[offpay__ledger_home(l, serials[i])] = 1;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        if (!touched[k])
            continue;
        rc = run_on(l, k, 0, fn, ctx);
        if (rc == OFFPAY_OK)
            rc = publish(l, k);
    }
    return rc;
}

const char *offpay__ledger_clock_detail(void)
{
    return clock_detail;
}

/* A booking under a name among what operators did too (settle.h, "what
 * operators did"): each person's bookings in time order beside their
 * other actions, covered by the actions' digest. */
static offpay_err journal_booking(offpay_ledger *l, const offpay__transfer *t,
                                  uint64_t id)
{
    offpay_account_kind dk = 0, ck = 0;
    uint16_t            cur = 0, dcur = 0;
    char                money[OFFPAY_AMOUNT_TEXT_MAX], detail[160];
    offpay_err          rc;

    rc = l->ops->account_get(l->store, t->debit, &dk, &dcur);
    if (rc == OFFPAY_OK)
        rc = l->ops->account_get(l->store, t->credit, &ck, &cur);
    if (rc != OFFPAY_OK)
        return rc;
    if (offpay_amount_format(t->amount, cur, money, sizeof money) != OFFPAY_OK)
        snprintf(money, sizeof money, "%lld", (long long)t->amount);
    snprintf(detail, sizeof detail,
             "%s %s %s: %s account %llu to %s account %llu", t->kind, money,
             offpay_currency_alpha(cur) != NULL ? offpay_currency_alpha(cur)
                                                : "",
             offpay_account_kind_name(dk), (unsigned long long)t->debit,
             offpay_account_kind_name(ck), (unsigned long long)t->credit);
    return offpay__ledger_journal(l, t->at, "book", id, detail);
}

offpay_err offpay__ledger_newest(offpay_ledger *l, uint32_t *newest)
{
    offpay_err rc;

    if (!l->newest_read || l->newest_shard != l->cur) {
        uint32_t vouched = 0, lo = 0, hi = 0;

        rc = l->ops->mark_get(l->store, OFFPAY__MARK_VOUCHED, &vouched);
        if (rc == OFFPAY_OK || rc == OFFPAY_ENOTFOUND)
            rc = l->ops->mark_get(l->store, OFFPAY__MARK_VOUCHED_UPTO, &lo);
        if (rc == OFFPAY_OK || rc == OFFPAY_ENOTFOUND)
            rc = l->ops->mark_get(l->store, OFFPAY__MARK_VOUCHED_UPTO_HI, &hi);
        if (rc == OFFPAY_OK || rc == OFFPAY_ENOTFOUND)
            rc = l->ops->newest_after(l->store, (uint64_t)hi << 32 | lo,
                                      &l->newest_at);
        if (rc != OFFPAY_OK)
            return rc;
        /* the transfers up to the one an operator vouched past (dated
         * ahead by a clock that ran ahead, set right since) hold nothing
         * back: those booked since do, and the vouch's own time does
         * (offpay_ledger_clock_vouch) */
        l->newest_vouched = vouched > l->newest_at;
        if (vouched > l->newest_at)
            l->newest_at = vouched;
        l->newest_read = 1;
        l->newest_shard = l->cur;
    }
    *newest = l->newest_at;
    return OFFPAY_OK;
}

/* offpay__ledger_book's rule of the ledger's clock for a transfer dated
 * at in the current transaction: OFFPAY_OK, or OFFPAY_ECLOCK_BEHIND with
 * offpay__ledger_clock_detail() set. */
static offpay_err clock_ok(offpay_ledger *l, uint32_t at)
{
    char       a[32], b[32];
    uint32_t   newest;
    offpay_err rc = offpay__ledger_newest(l, &newest);

    if (rc != OFFPAY_OK)
        return rc;
    /* a transfer dated up to OFFPAY__PERIOD_FINAL_AFTER before the
     * newest is a request's still committing (an upload's 30 s bound and
     * its last transaction's 30 s); one dated further back, a clock gone
     * back, would book into a period read as final */
    if ((uint64_t)at + OFFPAY__PERIOD_FINAL_AFTER >= l->newest_at)
        return OFFPAY_OK;
    snprintf(clock_detail, sizeof clock_detail,
             "this clock reads %s (%lu), %lu s before %s %s (%lu): a "
             "transfer dated more than %u s before it would change a period "
             "that may already have been read as final; nothing was booked: "
             "set this machine's clock right; if it is right and the "
             "ledger's newest transfers were dated by a clock that ran "
             "ahead, vouch for it: offpay admin release --vouch "
             "(docs/operations.md, \"offpayd's clock jumped\")",
             offpay__unix_time_iso(at, a), (unsigned long)at,
             (unsigned long)(l->newest_at - at),
             l->newest_vouched ? "the time an operator vouched for,"
                               : "the ledger's newest transfer, dated",
             offpay__unix_time_iso(l->newest_at, b),
             (unsigned long)l->newest_at, (unsigned)OFFPAY__PERIOD_FINAL_AFTER);
    return OFFPAY_ECLOCK_BEHIND;
}

offpay_err offpay__ledger_book(offpay_ledger *l, const offpay__transfer *t,
                               uint64_t *id)
{
    offpay_err rc = clock_ok(l, t->at);
    uint64_t   booked = 0;

    if (rc != OFFPAY_OK)
        return rc;
    rc = l->ops->transfer_add(l->store, t, &booked);
    if (rc == OFFPAY_OK && l->actor[0] != '\0')
        rc = l->ops->booked_by(l->store, booked, l->actor);
    if (rc == OFFPAY_OK && l->actor[0] != '\0')
        rc = journal_booking(l, t, booked);
    if (rc == OFFPAY_OK && id != NULL)
        *id = booked;
    return rc;
}

offpay_err offpay_ledger_set_actor(offpay_ledger *l, const char *who)
{
    if (l == NULL ||
        (who != NULL && who[0] != '\0' && !offpay__case_author_ok(who)))
        return OFFPAY_EINVAL;
    snprintf(l->actor, sizeof l->actor, "%s", who != NULL ? who : "");
    return OFFPAY_OK;
}

offpay_err offpay__ledger_move(offpay_ledger *l, uint64_t debit,
                               uint64_t credit, int64_t amount,
                               const char *kind, uint64_t presentment,
                               uint64_t case_id, const char *ref, uint32_t now)
{
    offpay__transfer t = {debit,       credit,  amount, kind,
                          presentment, case_id, ref,    now};

    return offpay__ledger_book(l, &t, NULL);
}

int offpay__text_ok(const char *text, size_t max)
{
    size_t n = text != NULL ? strlen(text) : 0;

    return n >= 1 && n <= max &&
           offpay__utf8_input_ok((const uint8_t *)text, n);
}

int offpay__ref_ok(const char *ref)
{
    /* none, or text kept with what it names and shown on one line, as
     * offpayd takes a request's ref: a newline or broken UTF-8 would be
     * stored and later dropped from offpayd's JSON */
    return ref == NULL || ref[0] == '\0' || offpay__text_ok(ref, REF_MAX);
}

/* ---- accounts ------------------------------------------------------- */

struct account_ctx {
    offpay_account_kind kind;
    uint16_t            currency;
    const char         *ref;
    uint32_t            now;
    uint64_t            id;
};

static offpay_err account_tx(offpay_ledger *l, void *p)
{
    struct account_ctx *c = p;
    offpay_err          rc;

    if (c->kind == OFFPAY_ACCOUNT_GUARANTEE) {
        /* one a currency (each shard's): kept when this one made it */
        rc = l->ops->account_singleton_find(l->store, c->kind, c->currency,
                                            &c->id);
        if (rc != OFFPAY_ENOTFOUND)
            return rc;
        rc = l->ops->account_singleton(l->store, c->kind, c->currency, c->now,
                                       &c->id);
        if (rc == OFFPAY_OK)
            rc = offpay__ledger_journal(l, c->now, "create-guarantee", c->id,
                                        offpay_currency_alpha(c->currency));
        return rc;
    }
    rc = l->ops->account_add(l->store, c->kind, c->currency, c->ref, c->now,
                             &c->id);
    if (rc == OFFPAY_OK && c->kind == OFFPAY_ACCOUNT_WALLET)
        rc = offpay__ledger_journal(l, c->now, "create-account", c->id,
                                    offpay_currency_alpha(c->currency));
    return rc;
}

/* The shard a new wallet account (and so its credentials) goes to: the
 * one holding the fewest wallet accounts, the first of those tied. */
static size_t wallet_shard(offpay_ledger *l)
{
    uint64_t fewest = UINT64_MAX, n;
    size_t   best = 0;

    for (size_t k = 0; l->sharded && k < l->n_shards; k++)
        if (offpay__pg_wallets(l->shard[k].store, &n) == OFFPAY_OK &&
            n < fewest) {
            fewest = n;
            best = k;
        }
    return best;
}

offpay_err offpay_ledger_wallet_account(offpay_ledger *l, uint16_t currency,
                                        const char *ref, uint32_t now,
                                        uint64_t *account)
{
    struct account_ctx c = {OFFPAY_ACCOUNT_WALLET, currency, ref, now, 0};
    offpay_err         rc;

    if (l == NULL || account == NULL || !offpay__ref_ok(ref))
        return OFFPAY_EINVAL;
    if (offpay_currency_alpha(currency) == NULL)
        return OFFPAY_ECURRENCY_UNKNOWN;
    rc = offpay__ledger_tx_on(l, wallet_shard(l), account_tx, &c);
    *account = c.id;
    return rc;
}

offpay_err offpay_ledger_guarantee_account(offpay_ledger *l, uint16_t currency,
                                           uint32_t now, uint64_t *account)
{
    struct account_ctx c = {OFFPAY_ACCOUNT_GUARANTEE, currency, NULL, now, 0};
    offpay_err         rc = OFFPAY_OK;
    uint64_t           first = 0;

    if (l == NULL || account == NULL)
        return OFFPAY_EINVAL;
    if (offpay_currency_alpha(currency) == NULL)
        return OFFPAY_ECURRENCY_UNKNOWN;
    /* one per shard: a shard's overspends are covered by its own */
    for (size_t k = l->n_shards; rc == OFFPAY_OK && k-- > 0;) {
        rc = offpay__ledger_tx_on(l, k, account_tx, &c);
        first = c.id;
    }
    *account = first;
    return rc;
}

struct balance_ctx {
    uint64_t            id;
    int64_t             balance;
    offpay_account_kind kind;
    uint16_t            currency;
};

static offpay_err balance_tx(offpay_ledger *l, void *p)
{
    struct balance_ctx *c = p;
    offpay_err          rc;

    rc = l->ops->account_get(l->store, c->id, &c->kind, &c->currency);
    if (rc == OFFPAY_OK)
        rc = l->ops->balance(l->store, c->id, &c->balance);
    return rc;
}

const char *offpay_account_kind_name(offpay_account_kind k)
{
    switch (k) {
    case OFFPAY_ACCOUNT_WORLD:
        return "world";
    case OFFPAY_ACCOUNT_WALLET:
        return "wallet";
    case OFFPAY_ACCOUNT_ESCROW:
        return "escrow";
    case OFFPAY_ACCOUNT_MERCHANT:
        return "merchant";
    case OFFPAY_ACCOUNT_GUARANTEE:
        return "guarantee";
    }
    return "unknown";
}

/* A merchant account exists on every shard (its id from the directory's
 * range), a guarantee account once per shard: their balance is the sum of
 * the shards' (docs/scaling.md). */
int offpay__ledger_spread(const offpay_ledger *l, offpay_account_kind kind)
{
    return l->n_shards > 1 && (kind == OFFPAY_ACCOUNT_MERCHANT ||
                               kind == OFFPAY_ACCOUNT_GUARANTEE);
}

struct guarantee_ctx {
    uint16_t currency;
    int      make; /* 1: made if missing */
    uint64_t id;
};

static offpay_err guarantee_tx(offpay_ledger *l, void *p)
{
    struct guarantee_ctx *c = p;

    return c->make
               ? l->ops->account_singleton(l->store, OFFPAY_ACCOUNT_GUARANTEE,
                                           c->currency, 0, &c->id)
               : l->ops->account_singleton_find(
                     l->store, OFFPAY_ACCOUNT_GUARANTEE, c->currency, &c->id);
}

/* Shard k's guarantee of currency into *id, made if missing (make: in a
 * transaction of its own) or not (in a read). */
static offpay_err guarantee_at(offpay_ledger *l, size_t k, uint16_t currency,
                               int make, uint64_t *id)
{
    struct guarantee_ctx c = {currency, make, 0};
    offpay_err rc = make ? offpay__ledger_tx_on(l, k, guarantee_tx, &c)
                         : offpay__ledger_read_on(l, k, guarantee_tx, &c);

    if (rc == OFFPAY_OK)
        *id = c.id;
    return rc;
}

offpay_err offpay__ledger_guarantee_on(offpay_ledger *l, size_t k,
                                       uint16_t currency, uint64_t *id)
{
    return guarantee_at(l, k, currency, 1, id);
}

offpay_err offpay__ledger_guarantee_find_on(offpay_ledger *l, size_t k,
                                            uint16_t currency, uint64_t *id)
{
    return guarantee_at(l, k, currency, 0, id);
}

/* Shard k's part of the spread account c names into s->balance (s a
 * copy of c): a guarantee's counterpart on shard k is that shard's own
 * (*none when it has none yet: nothing there, and a read makes none); a
 * merchant account's is itself (the same id). */
static offpay_err part_on(offpay_ledger *l, size_t k,
                          const struct balance_ctx *c, struct balance_ctx *s,
                          int *none)
{
    offpay_err rc = OFFPAY_OK;

    *s = *c;
    *none = 0;
    if (s->kind == OFFPAY_ACCOUNT_GUARANTEE) {
        rc = offpay__ledger_guarantee_find_on(l, k, s->currency, &s->id);
        if (rc == OFFPAY_ENOTFOUND) {
            *none = 1;
            return OFFPAY_OK;
        }
    }
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_read_on(l, k, balance_tx, s);
    return rc;
}

static offpay_err spread_balance(offpay_ledger *l, struct balance_ctx *c)
{
    int64_t    sum = 0;
    offpay_err rc = OFFPAY_OK;

    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        struct balance_ctx s;
        int                none;

        rc = part_on(l, k, c, &s, &none);
        if (rc == OFFPAY_OK && !none &&
            __builtin_add_overflow(sum, s.balance, &sum))
            rc = OFFPAY_EOVERFLOW;
    }
    c->balance = sum;
    return rc;
}

/* The shard of account id: by its range. */
static size_t account_shard(offpay_ledger *l, uint64_t id)
{
    return offpay__ledger_home(l, id);
}

offpay_err offpay_ledger_balance(offpay_ledger *l, uint64_t account,
                                 int64_t *balance, offpay_account_kind *kind,
                                 uint16_t *currency)
{
    struct balance_ctx c = {account, 0, 0, 0};
    offpay_err         rc;

    if (l == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__ledger_read_on(l, account_shard(l, account), balance_tx, &c);
    if (rc == OFFPAY_OK && offpay__ledger_spread(l, c.kind))
        rc = spread_balance(l, &c);
    if (rc == OFFPAY_OK) {
        if (balance != NULL)
            *balance = c.balance;
        if (kind != NULL)
            *kind = c.kind;
        if (currency != NULL)
            *currency = c.currency;
    }
    return rc;
}

/* The serial of escrow account *id (read in its flows), into id[1]. */
static offpay_err escrow_serial_tx(offpay_ledger *l, void *p)
{
    uint64_t  *id = p;
    int64_t    flows[OFFPAY__ESCROW_FLOWS];
    offpay_err rc = l->ops->escrow_flows(l->store, id[0], flows);

    id[1] = rc == OFFPAY_OK ? (uint64_t)flows[6] : 0;
    return rc;
}

offpay_err offpay_ledger_account(offpay_ledger *l, uint64_t account,
                                 offpay_account_state *out)
{
    uint64_t   id[2] = {account, 0};
    offpay_err rc;

    if (l == NULL || out == NULL)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    rc = offpay_ledger_balance(l, account, &out->balance, &out->kind,
                               &out->currency);
    /* an escrow lives on its credential's shard, as its account */
    if (rc == OFFPAY_OK && out->kind == OFFPAY_ACCOUNT_ESCROW)
        rc = offpay__ledger_read_on(l, account_shard(l, account),
                                    escrow_serial_tx, id);
    out->serial = id[1];
    return rc;
}

offpay_err offpay_ledger_guarantee_parts(offpay_ledger *l, uint16_t currency,
                                         int64_t *parts, size_t *n)
{
    struct balance_ctx c = {0, 0, OFFPAY_ACCOUNT_GUARANTEE, currency};
    offpay_err         rc = OFFPAY_OK;

    if (l == NULL || parts == NULL || n == NULL)
        return OFFPAY_EINVAL;
    *n = l->n_shards;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        struct balance_ctx s;
        int                none;

        rc = part_on(l, k, &c, &s, &none);
        parts[k] = none ? -1 : s.balance;
    }
    return rc;
}

struct external_ctx {
    uint64_t    account; /* on the shard of the transaction */
    int64_t     amount;  /* moved there (a split deposit's share) */
    const char *ref;
    uint32_t    now;
    int         withdraw;
    int         take_held; /* a withdrawal may take what is held for late
                              presentments (offpay_ledger_withdraw_held) */
    /* under a request key: the key as stored (offpay__request_key), and
     * what the request named: the account and the whole amount */
    const char *key;
    uint64_t    named;
    int64_t     total;
    int         mark_passed; /* a shard that cannot pay records that */
    uint64_t    transfer;
    int         fresh;  /* the last transaction booked a transfer */
    int         passed; /* ...or found this shard passed over */
    size_t      booked; /* transfers booked by this call, committed */
};

static int op_of(const struct external_ctx *c)
{
    return c->withdraw ? OFFPAY__REQ_WITHDRAW : OFFPAY__REQ_DEPOSIT;
}

/* What key did before on this shard: OFFPAY_OK with *done = 1 and the
 * transfer (c->passed for a shard a withdrawal passed over) when it was
 * this very request, OFFPAY_EEXISTS when it was another, OFFPAY_OK with
 * *done = 0 when the key is new here. */
static offpay_err request_seen(offpay_ledger *l, struct external_ctx *c,
                               int *done)
{
    offpay__request rq;
    offpay_err      rc;

    *done = 0;
    rc = l->ops->request_get(l->store, c->key, &rq);
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK;
    if (rc != OFFPAY_OK)
        return rc;
    if (rq.op != op_of(c) || rq.account != c->named || rq.amount != c->total)
        return OFFPAY_EEXISTS;
    c->transfer = rq.result;
    c->passed = rq.result == 0;
    *done = 1;
    return OFFPAY_OK;
}

/* Books the key with what this shard did (0: passed over). */
static offpay_err request_book(offpay_ledger *l, struct external_ctx *c,
                               uint64_t result)
{
    offpay__request rq = {op_of(c), c->named, c->total, result, ""};
    offpay_err      rc = l->ops->request_add(l->store, c->key, &rq, c->now);

    /* the same key at once in another transaction: rerun, and find it */
    return rc == OFFPAY_EEXISTS ? OFFPAY_ERETRY : rc;
}

static offpay_err external_tx(offpay_ledger *l, void *p)
{
    struct external_ctx *c = p;
    offpay_account_kind  kind;
    uint16_t             currency;
    uint64_t             world;
    int64_t              bal = 0;
    offpay__transfer     t;
    offpay_err           rc;
    int                  done = 0;

    c->fresh = 0;
    c->passed = 0;
    rc = l->ops->account_get(l->store, c->account, &kind, &currency);
    if (rc != OFFPAY_OK)
        return rc;
    if (kind != OFFPAY_ACCOUNT_WALLET && kind != OFFPAY_ACCOUNT_MERCHANT &&
        kind != OFFPAY_ACCOUNT_GUARANTEE)
        return OFFPAY_EINVAL; /* escrow moves only by settlement rules */
    rc = l->ops->account_singleton(l->store, OFFPAY_ACCOUNT_WORLD, currency,
                                   c->now, &world);
    /* the balance read is the balance debited (store.h, row locks); the
     * key is looked up after the lock, so a resend that overlaps the first
     * attempt waits for it and then finds its key */
    if (rc == OFFPAY_OK && c->withdraw)
        rc = l->ops->account_lock(l->store, c->account);
    if (rc == OFFPAY_OK && c->key != NULL)
        rc = request_seen(l, c, &done);
    if (rc != OFFPAY_OK || done)
        return rc;
    if (!c->withdraw) {
        /* bounded, so that no balance and no sum the audit takes can
         * overflow 64 bits (a deposit of 2^63 - 1 once broke every read
         * of the account's currency) */
        if (c->amount > OFFPAY_LEDGER_DEPOSIT_MAX)
            return OFFPAY_EOVERFLOW;
        rc = l->ops->balance(l->store, c->account, &bal);
        if (rc != OFFPAY_OK)
            return rc;
        if (bal > OFFPAY_LEDGER_BALANCE_MAX - c->amount)
            return OFFPAY_EOVERFLOW;
    }
    if (c->withdraw) {
        rc = l->ops->balance(l->store, c->account, &bal);
        if (rc != OFFPAY_OK)
            return rc;
        if (bal < c->amount && c->key != NULL && c->mark_passed) {
            c->passed = 1;
            return request_book(l, c, 0);
        }
        if (bal < c->amount)
            return OFFPAY_EFUNDS;
        /* what a wallet account holds for its released credentials' late
         * presentments (settlement.md §6) is not paid out but on purpose:
         * a late code would find it gone and the guarantee would pay */
        if (kind == OFFPAY_ACCOUNT_WALLET && !c->take_held) {
            int64_t held = 0;

            rc = offpay__ledger_late_held(l, c->account, c->now, &held, NULL);
            if (rc != OFFPAY_OK)
                return rc;
            if (bal - held < c->amount) /* both bounded by the maximum */
                return OFFPAY_EFUNDS;
        }
    }
    t.debit = c->withdraw ? c->account : world;
    t.credit = c->withdraw ? world : c->account;
    t.amount = c->amount;
    t.kind = c->withdraw ? "withdraw" : "deposit";
    t.presentment = 0;
    t.case_id = 0;
    t.ref = c->ref;
    t.at = c->now;
    rc = offpay__ledger_book(l, &t, &c->transfer);
    if (rc == OFFPAY_OK && c->key != NULL)
        rc = request_book(l, c, c->transfer);
    c->fresh = rc == OFFPAY_OK;
    return rc;
}

/* external_tx on shard k, counting what it booked once committed. */
static offpay_err external_on(offpay_ledger *l, size_t k,
                              struct external_ctx *c)
{
    offpay_err rc = offpay__ledger_tx_on(l, k, external_tx, c);

    if (rc == OFFPAY_OK)
        c->booked += (size_t)c->fresh;
    return rc;
}

/*
 * A deposit into or withdrawal from an account spread over the shards
 * (docs/scaling.md): a merchant's deposit goes to shard 0; a guarantee
 * deposit is split evenly over the shards (shard 0 takes the remainder),
 * one transaction each; a withdrawal is taken whole from the first shard
 * whose share covers it (else OFFPAY_EFUNDS: withdraw in parts), in the
 * shards' order, so that a resend under its key meets the shards it
 * passed and the one that paid as the first attempt did. *transfer is
 * the last transfer made. Each shard's guarantee covers only that shard's
 * overspends (settlement.md §11): POST /v1/admin/guarantee, and the
 * answer to a withdrawal from it, show the parts.
 */
static offpay_err spread_external(offpay_ledger *l, struct balance_ctx *b,
                                  struct external_ctx *c)
{
    int64_t    total = c->amount;
    offpay_err rc = OFFPAY_OK;

    /* a deposit's bounds (external_tx) for the whole of it and for each
     * shard's part before any part is booked, so that a part refused
     * after another was booked does not leave the deposit half done (best
     * effort: each part's transaction checks again). Not for a keyed
     * deposit, whose resend replays the parts it booked and would count
     * them twice here. */
    if (!c->withdraw && total > OFFPAY_LEDGER_DEPOSIT_MAX)
        return OFFPAY_EOVERFLOW;
    for (size_t k = 0; !c->withdraw && c->key == NULL &&
                       b->kind == OFFPAY_ACCOUNT_GUARANTEE && k < l->n_shards;
         k++) {
        struct balance_ctx s = *b;
        int64_t part = total / (int64_t)l->n_shards +
                       (k == 0 ? total % (int64_t)l->n_shards : 0);

        rc = offpay__ledger_guarantee_on(l, k, s.currency, &s.id);
        if (rc == OFFPAY_OK)
            rc = offpay__ledger_read_on(l, k, balance_tx, &s);
        if (rc != OFFPAY_OK)
            return rc;
        if (s.balance > OFFPAY_LEDGER_BALANCE_MAX - part)
            return OFFPAY_EOVERFLOW;
    }
    if (!c->withdraw && b->kind == OFFPAY_ACCOUNT_MERCHANT)
        return external_on(l, 0, c);
    for (size_t k = 0; k < l->n_shards; k++) {
        struct balance_ctx s = *b;

        rc = OFFPAY_OK;
        /* a guarantee's counterpart on shard k is that shard's own, made
         * if missing; a merchant account's is itself (the same id) */
        if (s.kind == OFFPAY_ACCOUNT_GUARANTEE)
            rc = offpay__ledger_guarantee_on(l, k, s.currency, &s.id);
        if (rc != OFFPAY_OK)
            return rc;
        c->account = s.id;
        if (c->withdraw) {
            /* under a key, a shard that cannot pay books that it passed
             * (c->passed), so a resend passes it too and replays the
             * shard that paid, even if the first one can pay by then */
            c->mark_passed = c->key != NULL;
            rc = external_on(l, k, c);
            if (rc == OFFPAY_OK && c->passed)
                continue;
            if (rc != OFFPAY_EFUNDS)
                return rc;
            continue;
        }
        /* a retry under the same key replays the parts booked before and
         * books the rest: the same split, so the same amounts */
        c->amount = total / (int64_t)l->n_shards +
                    (k == 0 ? total % (int64_t)l->n_shards : 0);
        if (c->amount > 0)
            rc = external_on(l, k, c);
        if (rc != OFFPAY_OK)
            return rc;
    }
    return c->withdraw ? OFFPAY_EFUNDS : OFFPAY_OK;
}

struct request_find {
    const char     *key;
    offpay__request rq;
    int             found;
};

static offpay_err request_find_tx(offpay_ledger *l, void *p)
{
    struct request_find *f = p;
    offpay_err           rc = l->ops->request_get(l->store, f->key, &f->rq);

    f->found = rc == OFFPAY_OK;
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_OK : rc;
}

/* The claim of a key on shard 0 (offpay__request_check_shards). */
struct request_claim {
    char            key[OFFPAY__REQUEST_KEY_STORED_MAX + 8];
    offpay__request rq;
    uint32_t        now;
};

static offpay_err request_claim_tx(offpay_ledger *l, void *p)
{
    struct request_claim *c = p;
    offpay__request       have;
    offpay_err            rc = l->ops->request_get(l->store, c->key, &have);

    if (rc == OFFPAY_OK)
        return have.op == c->rq.op && have.account == c->rq.account &&
                       have.amount == c->rq.amount
                   ? OFFPAY_OK
                   : OFFPAY_EEXISTS;
    if (rc != OFFPAY_ENOTFOUND)
        return rc;
    rc = l->ops->request_add(l->store, c->key, &c->rq, c->now);
    return rc == OFFPAY_EEXISTS ? OFFPAY_ERETRY : rc; /* claimed at once */
}

/* settle_int.h */
offpay_err offpay__request_check_shards(offpay_ledger *l, const char *key,
                                        int op, uint64_t account,
                                        int64_t amount, uint32_t now)
{
    struct request_claim c;
    offpay_err           rc;

    if (l->n_shards < 2)
        return OFFPAY_OK; /* one database: its transaction checks the key */
    for (size_t k = 0; k < l->n_shards; k++) {
        struct request_find f = {key, {0, 0, 0, 0, ""}, 0};

        rc = offpay__ledger_read_on(l, k, request_find_tx, &f);
        if (rc != OFFPAY_OK)
            return rc;
        if (f.found &&
            (f.rq.op != op || f.rq.account != account || f.rq.amount != amount))
            return OFFPAY_EEXISTS;
    }
    /* The look above sees only keys booked already: two requests under one
     * key at once, whose homes are two shards, both passed it and both
     * booked. The key's claim on shard 0, in its own transaction, lets one
     * request through (and its resends); the other is refused before
     * anything moves. A claim names no money (the audit passes it over):
     * what the request booked is in its home shard's row, as before. */
    memset(&c, 0, sizeof c);
    snprintf(c.key, sizeof c.key, "claim/%s", key);
    c.rq.op = op;
    c.rq.account = account;
    c.rq.amount = amount;
    c.now = now;
    rc = offpay__ledger_tx_on(l, 0, request_claim_tx, &c);
#ifdef OFFPAY_TEST_HOOKS
    /* held between its key's claim and its booking (settle_int.h) */
    if (rc == OFFPAY_OK)
        offpay__test_delay_ms("OFFPAY_TEST_CLAIM_DELAY_MS");
#endif
    return rc;
}

void offpay__request_key(char        out[OFFPAY__REQUEST_KEY_STORED_MAX],
                         const char *who, uint64_t id, const char *key)
{
    if (id != 0)
        snprintf(out, OFFPAY__REQUEST_KEY_STORED_MAX, "%s/%llu/%s", who,
                 (unsigned long long)id, key);
    else
        snprintf(out, OFFPAY__REQUEST_KEY_STORED_MAX, "%s/%s", who, key);
}

static offpay_err external(offpay_ledger *l, uint64_t account, int64_t amount,
                           const char *ref, const char *key, uint32_t now,
                           int withdraw, int take_held, uint64_t *transfer,
                           int *replayed)
{
    struct external_ctx c;
    struct balance_ctx  b = {account, 0, 0, 0};
    char                stored[OFFPAY__REQUEST_KEY_STORED_MAX];
    size_t              home;
    offpay_err          rc;

    if (l == NULL || amount <= 0 || !offpay__ref_ok(ref) ||
        (key != NULL && !offpay_ledger_request_key_ok(key)))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.account = c.named = account;
    c.amount = c.total = amount;
    c.ref = ref;
    c.now = now;
    c.withdraw = withdraw;
    c.take_held = take_held;
    if (key != NULL) {
        offpay__request_key(stored, "operator", 0, key);
        c.key = stored;
    }
    home = account_shard(l, account);
    rc = offpay__ledger_read_on(l, home, balance_tx, &b);
    if (rc == OFFPAY_OK && key != NULL)
        rc = offpay__request_check_shards(l, c.key, op_of(&c), c.named, c.total,
                                          now);
    if (rc == OFFPAY_OK && offpay__ledger_spread(l, b.kind))
        rc = spread_external(l, &b, &c);
    else if (rc == OFFPAY_OK)
        rc = external_on(l, home, &c);
    if (rc == OFFPAY_OK && transfer != NULL)
        *transfer = c.transfer;
    if (rc == OFFPAY_OK && replayed != NULL)
        *replayed = c.booked == 0;
    /* what the guarantee owes is paid right after a deposit into it
     * (settlement.md §5); the deposit stands whatever becomes of that:
     * the release job's next run pays what this could not */
    if (rc == OFFPAY_OK && !withdraw && b.kind == OFFPAY_ACCOUNT_GUARANTEE) {
        offpay_err prc = offpay__ledger_claims_pay(l, b.currency, now, NULL);

        if (prc != OFFPAY_OK)
            offpay__log("offpay: the claims on the guarantee of %s were not "
                        "paid after its deposit (%s): the release job pays "
                        "them",
                        offpay_currency_alpha(b.currency),
                        offpay_strerror(prc));
    }
    return rc;
}

int offpay_ledger_request_key_ok(const char *key)
{
    size_t n = 0;

    if (key == NULL)
        return 0;
    for (; key[n] != '\0'; n++)
        if (n == OFFPAY_REQUEST_KEY_MAX || key[n] < 0x21 || key[n] > 0x7e)
            return 0;
    return n > 0;
}

offpay_err offpay_ledger_deposit(offpay_ledger *l, uint64_t account,
                                 int64_t amount, const char *ref, uint32_t now,
                                 uint64_t *transfer)
{
    return external(l, account, amount, ref, NULL, now, 0, 0, transfer, NULL);
}

offpay_err offpay_ledger_withdraw(offpay_ledger *l, uint64_t account,
                                  int64_t amount, const char *ref, uint32_t now,
                                  uint64_t *transfer)
{
    return external(l, account, amount, ref, NULL, now, 1, 0, transfer, NULL);
}

offpay_err offpay_ledger_withdraw_held(offpay_ledger *l, uint64_t account,
                                       int64_t amount, const char *ref,
                                       const char *key, uint32_t now,
                                       uint64_t *transfer, int *replayed)
{
    return external(l, account, amount, ref, key, now, 1, 1, transfer,
                    replayed);
}

offpay_err offpay_ledger_move_once(offpay_ledger *l, uint64_t account,
                                   int64_t amount, int withdraw,
                                   const char *ref, const char *key,
                                   uint32_t now, uint64_t *transfer,
                                   int *replayed)
{
    if (key == NULL)
        return OFFPAY_EINVAL;
    return external(l, account, amount, ref, key, now, withdraw != 0, 0,
                    transfer, replayed);
}

/* ---- merchants and terminals ---------------------------------------- */

struct merchant_ctx {
    const char *name;
    uint16_t    currency;
    uint32_t    now;
    uint64_t    id, account;
};

static offpay_err merchant_tx(offpay_ledger *l, void *p)
{
    struct merchant_ctx *c = p;
    offpay_err           rc;

    rc = l->ops->account_add(l->store, OFFPAY_ACCOUNT_MERCHANT, c->currency,
                             c->name, c->now, &c->account);
    if (rc == OFFPAY_OK)
        rc = l->ops->merchant_add(l->store, c->account, c->name, c->currency,
                                  c->now, &c->id);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_journal(l, c->now, "register-merchant", c->id,
                                    c->name);
    return rc;
}

offpay_err offpay_ledger_merchant_add(offpay_ledger *l, const char *name,
                                      uint16_t currency, uint32_t now,
                                      uint64_t *merchant_id, uint64_t *account)
{
    struct merchant_ctx c = {name, currency, now, 0, 0};
    offpay_err          rc;
    size_t              n;

    if (l == NULL || name == NULL || merchant_id == NULL)
        return OFFPAY_EINVAL;
    n = strlen(name);
    /* a new name: the text rule (no character that shows nothing) */
    if (n == 0 || n > OFFPAY_NAME_MAX ||
        !offpay__text_ok(name, OFFPAY_NAME_MAX))
        return OFFPAY_EINVAL;
    if (offpay_currency_alpha(currency) == NULL)
        return OFFPAY_ECURRENCY_UNKNOWN;
    rc = offpay__ledger_tx(l, merchant_tx, &c);
    if (rc == OFFPAY_OK)
        rc = directory_copy(l);
    if (rc == OFFPAY_OK) {
        *merchant_id = c.id;
        if (account != NULL)
            *account = c.account;
    }
    return rc;
}

/* What offpayd signs never outlives the daily key that signs it: a
 * terminal or wallet checks the key's window, so a credential running past
 * it would stop working at the key's end (a wallet's escrow locked until
 * its expiry). *expires is cut to the key's end; OFFPAY_EKID_EXPIRED when
 * the key is not valid now (offpayd kept running past it). */
offpay_err offpay__ledger_within_key(const offpay_ledger *l, uint32_t now,
                                     uint32_t *expires)
{
    for (size_t i = 0; i < l->bundle.n_keys; i++) {
        const offpay_bundle_key *k = &l->bundle.keys[i];

        if (k->kid != l->kid)
            continue;
        if (now < k->valid_from || now > k->valid_until)
            return OFFPAY_EKID_EXPIRED;
        if (*expires > k->valid_until)
            *expires = k->valid_until;
        return OFFPAY_OK;
    }
    return OFFPAY_EUNKNOWN_KID;
}

struct terminal_ctx {
    uint64_t             merchant;
    const uint8_t       *pk;
    uint32_t             expires, now;
    uint8_t             *bytes;
    size_t               len;
    offpay_terminal_cred cred;
};

offpay_err
offpay__terminal_add_in_tx(offpay_ledger *l, uint64_t merchant,
                           const uint8_t pk[OFFPAY_PK_BYTES], uint32_t expires,
                           uint32_t now,
                           uint8_t  bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES],
                           size_t *len, offpay_terminal_cred *tc)
{
    offpay_signer sg;
    uint64_t      account;
    uint32_t      id, closed_at = 0;
    offpay_err    rc;

    memset(tc, 0, sizeof *tc);
    rc = offpay__ledger_within_key(l, now, &expires);
    if (rc != OFFPAY_OK)
        return rc;
    /* a closed merchant gets no terminal; its row's lock is the one its
     * closing takes (merchant_close_tx), so a registration either comes
     * before the closing, which then revokes what it registered, or finds
     * the merchant closed (the read after the lock sees it) */
    rc = l->ops->merchant_lock(l->store, merchant);
    if (rc == OFFPAY_OK)
        rc = l->ops->merchant_get(l->store, merchant, &account, &tc->currency,
                                  tc->name, &closed_at);
    if (rc != OFFPAY_OK)
        return rc;
    if (closed_at != 0)
        return OFFPAY_EMERCHANT_CLOSED;
    rc = l->ops->terminal_by_pk(l->store, pk, &id);
    if (rc == OFFPAY_OK)
        return OFFPAY_EEXISTS;
    if (rc != OFFPAY_ENOTFOUND)
        return rc;
    rc = l->ops->terminal_add(l->store, merchant, pk, now, &id);
    if (rc != OFFPAY_OK)
        return rc;
    tc->kid = l->kid;
    tc->merchant_id = merchant;
    tc->terminal_id = id;
    memcpy(tc->terminal_pk, pk, OFFPAY_PK_BYTES);
    tc->valid_from = now;
    tc->expires = expires;
    tc->name_len = (uint8_t)strlen(tc->name);
    sg = offpay__ledger_signer(l);
    rc = offpay_issuer_sign_terminal_cred_by(&sg, tc);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_cred_encode(tc, bytes,
                                         OFFPAY_TERMINAL_CRED_MAX_BYTES, len);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_set_cred(l->store, id, bytes, *len);
    return rc;
}

static offpay_err terminal_tx(offpay_ledger *l, void *p)
{
    struct terminal_ctx *c = p;
    char                 merchant[32];
    offpay_err           rc;

    rc = offpay__terminal_add_in_tx(l, c->merchant, c->pk, c->expires, c->now,
                                    c->bytes, &c->len, &c->cred);
    snprintf(merchant, sizeof merchant, "merchant %llu",
             (unsigned long long)c->merchant);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_journal(l, c->now, "register-terminal",
                                    c->cred.terminal_id, merchant);
    return rc;
}

offpay_err
offpay_ledger_terminal_add(offpay_ledger *l, uint64_t merchant_id,
                           const uint8_t pk[OFFPAY_PK_BYTES], uint32_t expires,
                           uint32_t now,
                           uint8_t  bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES],
                           size_t *len, offpay_terminal_cred *cred)
{
    struct terminal_ctx c;
    offpay_err          rc;

    if (l == NULL || pk == NULL || bytes == NULL || len == NULL ||
        expires <= now)
        return OFFPAY_EINVAL;
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    if (!offpay_pk_usable(pk))
        return OFFPAY_EWEAK_KEY;
    memset(&c, 0, sizeof c);
    c.merchant = merchant_id;
    c.pk = pk;
    c.expires = expires;
    c.now = now;
    c.bytes = bytes;
    rc = offpay__ledger_tx(l, terminal_tx, &c);
    if (rc == OFFPAY_OK)
        rc = directory_copy(l);
    if (rc == OFFPAY_OK) {
        *len = c.len;
        if (cred != NULL)
            *cred = c.cred;
    }
    return rc;
}

/* ---- rows made once under a request key (017_request_keys_made) ------ */

/* 1 when a and b are the same request (what made it aside). */
static int request_same(const offpay__request *a, const offpay__request *b)
{
    return a->op == b->op && a->account == b->account &&
           a->amount == b->amount && strcmp(a->text, b->text) == 0;
}

/* A key's claim on shard 0 that names where its row is made. */
struct home_claim {
    char            key[OFFPAY__REQUEST_KEY_STORED_MAX + 8];
    offpay__request rq; /* result: the shard */
    uint32_t        now;
};

static offpay_err home_claim_tx(offpay_ledger *l, void *p)
{
    struct home_claim *c = p;
    offpay__request    have;
    offpay_err         rc = l->ops->request_get(l->store, c->key, &have);

    if (rc == OFFPAY_OK) {
        if (!request_same(&have, &c->rq))
            return OFFPAY_EEXISTS;
        c->rq.result = have.result; /* where the first one went */
        return OFFPAY_OK;
    }
    if (rc != OFFPAY_ENOTFOUND)
        return rc;
    rc = l->ops->request_add(l->store, c->key, &c->rq, c->now);
    return rc == OFFPAY_EEXISTS ? OFFPAY_ERETRY : rc; /* claimed at once */
}

/*
 * On a ledger of several shards, the shard where the request rq under key
 * (as stored) makes its row: the shard holding the key when it was made
 * before (OFFPAY_EEXISTS when the key there, or on any shard, is another
 * request's), else *home, claimed for the key on shard 0 ("claim/KEY",
 * its own transaction, as offpay__request_check_shards does) with the
 * shard in its result, so that a resend sent while the first is under
 * way goes to the same shard, whose transaction finds the key (a wallet
 * account's shard is the one with the fewest, which the first one
 * changes). *home unchanged on one database.
 */
static offpay_err request_home(offpay_ledger *l, const char *key,
                               const offpay__request *rq, size_t *home,
                               uint32_t now)
{
    struct home_claim c;
    offpay_err        rc;

    if (l->n_shards < 2)
        return OFFPAY_OK;
    for (size_t k = 0; k < l->n_shards; k++) {
        struct request_find f;

        memset(&f, 0, sizeof f);
        f.key = key;
        rc = offpay__ledger_read_on(l, k, request_find_tx, &f);
        if (rc != OFFPAY_OK)
            return rc;
        if (f.found && !request_same(&f.rq, rq))
            return OFFPAY_EEXISTS;
        if (f.found) {
            *home = k;
            return OFFPAY_OK;
        }
    }
    memset(&c, 0, sizeof c);
    snprintf(c.key, sizeof c.key, "claim/%s", key);
    c.rq = *rq;
    c.rq.result = *home;
    c.now = now;
    rc = offpay__ledger_tx_on(l, 0, home_claim_tx, &c);
    if (rc == OFFPAY_OK && c.rq.result >= l->n_shards)
        rc = OFFPAY_ESTORE; /* a claim naming a shard the map lost */
    if (rc == OFFPAY_OK)
        *home = (size_t)c.rq.result;
    return rc;
}

/* What key (as stored) did in this transaction: OFFPAY_OK with *found 1
 * and rq->result set when it made this request's row, OFFPAY_EEXISTS
 * when it was another request, OFFPAY_OK with *found 0 when it is new. */
static offpay_err request_made(offpay_ledger *l, const char *key,
                               offpay__request *rq, int *found)
{
    offpay__request have;
    offpay_err      rc = l->ops->request_get(l->store, key, &have);

    *found = 0;
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK;
    if (rc != OFFPAY_OK)
        return rc;
    if (!request_same(&have, rq))
        return OFFPAY_EEXISTS;
    rq->result = have.result;
    *found = 1;
    return OFFPAY_OK;
}

/* Books key for rq (its result set) in this transaction. */
static offpay_err request_made_book(offpay_ledger *l, const char *key,
                                    const offpay__request *rq, uint32_t now)
{
    offpay_err rc = l->ops->request_add(l->store, key, rq, now);

    /* the same key at once in another transaction: rerun, and find it */
    return rc == OFFPAY_EEXISTS ? OFFPAY_ERETRY : rc;
}

struct account_once_ctx {
    struct account_ctx a;
    const char        *key; /* as stored */
    offpay__request    rq;
    int                replayed;
};

static offpay_err account_once_tx(offpay_ledger *l, void *p)
{
    struct account_once_ctx *c = p;
    offpay_err               rc;

    rc = request_made(l, c->key, &c->rq, &c->replayed);
    if (rc != OFFPAY_OK || c->replayed) {
        c->a.id = c->rq.result;
        return rc;
    }
    rc = account_tx(l, &c->a);
    c->rq.result = c->a.id;
    if (rc == OFFPAY_OK)
        rc = request_made_book(l, c->key, &c->rq, c->a.now);
    return rc;
}

offpay_err offpay_ledger_wallet_account_once(offpay_ledger *l, const char *key,
                                             uint16_t currency, const char *ref,
                                             uint32_t now, uint64_t *account,
                                             int *replayed)
{
    struct account_once_ctx c;
    char                    stored[OFFPAY__REQUEST_KEY_STORED_MAX];
    size_t                  home;
    offpay_err              rc;

    if (replayed != NULL)
        *replayed = 0;
    if (key == NULL)
        return offpay_ledger_wallet_account(l, currency, ref, now, account);
    if (l == NULL || account == NULL || !offpay__ref_ok(ref) ||
        !offpay_ledger_request_key_ok(key))
        return OFFPAY_EINVAL;
    if (offpay_currency_alpha(currency) == NULL)
        return OFFPAY_ECURRENCY_UNKNOWN;
    memset(&c, 0, sizeof c);
    c.a.kind = OFFPAY_ACCOUNT_WALLET;
    c.a.currency = currency;
    c.a.ref = ref != NULL ? ref : "";
    c.a.now = now;
    offpay__request_key(stored, "operator", 0, key);
    c.key = stored;
    c.rq.op = OFFPAY__REQ_ACCOUNT;
    c.rq.account = currency;
    snprintf(c.rq.text, sizeof c.rq.text, "%s", c.a.ref);
    home = wallet_shard(l);
    rc = request_home(l, stored, &c.rq, &home, now);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx_on(l, home, account_once_tx, &c);
    if (rc == OFFPAY_OK) {
        *account = c.a.id;
        if (replayed != NULL)
            *replayed = c.replayed;
    }
    return rc;
}

/* A directory row (a merchant's, a terminal's) made once under key (as
 * stored) by fn in shard 0's transaction: the directory lives there
 * (settlement.md §11), and the key with it; then the directory copied to
 * the other shards. */
static offpay_err directory_once(offpay_ledger *l, const char *stored,
                                 const offpay__request *rq, uint32_t now,
                                 offpay_err (*fn)(offpay_ledger *l, void *ctx),
                                 void *ctx)
{
    size_t     home = 0;
    offpay_err rc = request_home(l, stored, rq, &home, now);

    if (rc == OFFPAY_OK && home != 0)
        rc = OFFPAY_EEXISTS; /* a claim of another kind's */
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, fn, ctx);
    if (rc == OFFPAY_OK)
        rc = directory_copy(l);
    return rc;
}

struct merchant_once_ctx {
    struct merchant_ctx m;
    const char         *key; /* as stored */
    offpay__request     rq;
    int                 replayed;
};

static offpay_err merchant_once_tx(offpay_ledger *l, void *p)
{
    struct merchant_once_ctx *c = p;
    uint16_t                  currency;
    char                      name[OFFPAY_NAME_MAX + 1];
    offpay_err                rc;

    rc = request_made(l, c->key, &c->rq, &c->replayed);
    if (rc == OFFPAY_OK && c->replayed) {
        c->m.id = c->rq.result;
        return l->ops->merchant_get(l->store, c->m.id, &c->m.account, &currency,
                                    name, NULL);
    }
    if (rc != OFFPAY_OK)
        return rc;
    rc = merchant_tx(l, &c->m);
    c->rq.result = c->m.id;
    if (rc == OFFPAY_OK)
        rc = request_made_book(l, c->key, &c->rq, c->m.now);
    return rc;
}

offpay_err offpay_ledger_merchant_add_once(offpay_ledger *l, const char *key,
                                           const char *name, uint16_t currency,
                                           uint32_t now, uint64_t *merchant_id,
                                           uint64_t *account, int *replayed)
{
    struct merchant_once_ctx c;
    char                     stored[OFFPAY__REQUEST_KEY_STORED_MAX];
    size_t                   n;
    offpay_err               rc;

    if (replayed != NULL)
        *replayed = 0;
    if (key == NULL)
        return offpay_ledger_merchant_add(l, name, currency, now, merchant_id,
                                          account);
    if (l == NULL || name == NULL || merchant_id == NULL ||
        !offpay_ledger_request_key_ok(key))
        return OFFPAY_EINVAL;
    n = strlen(name);
    if (n == 0 || n > OFFPAY_NAME_MAX ||
        !offpay__text_ok(name, OFFPAY_NAME_MAX))
        return OFFPAY_EINVAL;
    if (offpay_currency_alpha(currency) == NULL)
        return OFFPAY_ECURRENCY_UNKNOWN;
    memset(&c, 0, sizeof c);
    c.m.name = name;
    c.m.currency = currency;
    c.m.now = now;
    offpay__request_key(stored, "operator", 0, key);
    c.key = stored;
    c.rq.op = OFFPAY__REQ_MERCHANT;
    c.rq.account = currency;
    memcpy(c.rq.text, name, n + 1);
    rc = directory_once(l, stored, &c.rq, now, merchant_once_tx, &c);
    if (rc == OFFPAY_OK) {
        *merchant_id = c.m.id;
        if (account != NULL)
            *account = c.m.account;
        if (replayed != NULL)
            *replayed = c.replayed;
    }
    return rc;
}

struct terminal_once_ctx {
    struct terminal_ctx t;
    const char         *key; /* as stored */
    offpay__request     rq;
    int                 replayed;
};

/* The terminal a key made, as its registration answered: the same key
 * (else OFFPAY_EEXISTS) and the credential stored then. */
static offpay_err terminal_made(offpay_ledger *l, struct terminal_once_ctx *c)
{
    offpay__terminal_row t;
    offpay_err           rc;

    rc = l->ops->terminal_get(l->store, (uint32_t)c->rq.result, &t);
    if (rc == OFFPAY_OK && sodium_memcmp(t.pk, c->t.pk, OFFPAY_PK_BYTES) != 0)
        return OFFPAY_EEXISTS; /* another key under this request key */
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_cred(l->store, (uint32_t)c->rq.result, c->t.bytes,
                                   OFFPAY_TERMINAL_CRED_MAX_BYTES, &c->t.len);
    if (rc == OFFPAY_OK && offpay_terminal_cred_decode(c->t.bytes, c->t.len,
                                                       &c->t.cred) != OFFPAY_OK)
        rc = OFFPAY_ESTORE;
    return rc;
}

#ifdef OFFPAY_TEST_HOOKS
/* Test hook (settle_int.h): the n-th call in the process waits
 * OFFPAY_TEST_ONCE_DELAY_MS times (n mod 8) + 1, so that registrations
 * sent at once end their waits one after another, each after the one
 * before it committed. */
static void once_delay(void)
{
    static atomic_uint calls;
    const char        *v = getenv("OFFPAY_TEST_ONCE_DELAY_MS");
    long               ms = v != NULL ? atol(v) : 0;

    if (ms > 0 && ms < 10000) {
        long            n = (long)(atomic_fetch_add(&calls, 1) % 8) + 1;
        struct timespec ts = {ms * n / 1000, (ms * n % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
}
#endif

static offpay_err terminal_once_tx(offpay_ledger *l, void *p)
{
    struct terminal_once_ctx *c = p;
    offpay_err                rc;

    rc = request_made(l, c->key, &c->rq, &c->replayed);
    if (rc == OFFPAY_OK && c->replayed)
        return terminal_made(l, c);
    if (rc != OFFPAY_OK)
        return rc;
#ifdef OFFPAY_TEST_HOOKS
    once_delay(); /* between the key's look-up and the terminal's */
#endif
    rc = terminal_tx(l, &c->t);
    if (rc == OFFPAY_EEXISTS) {
        int made = 0;

        /* The same request under the same key committed since the key
         * was read (PostgreSQL's READ COMMITTED: each statement sees
         * what committed before it): its terminal has this public key.
         * Run again, and answer it as a replay. */
        if (request_made(l, c->key, &c->rq, &made) == OFFPAY_OK && made)
            return OFFPAY_ERETRY;
        return OFFPAY_EEXISTS;
    }
    c->rq.result = c->t.cred.terminal_id;
    if (rc == OFFPAY_OK)
        rc = request_made_book(l, c->key, &c->rq, c->t.now);
    return rc;
}

offpay_err offpay_ledger_terminal_add_once(
    offpay_ledger *l, const char *key, uint64_t merchant_id,
    const uint8_t pk[OFFPAY_PK_BYTES], uint32_t expires, uint32_t now,
    uint8_t bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES], size_t *len,
    offpay_terminal_cred *cred, int *replayed)
{
    struct terminal_once_ctx c;
    char                     stored[OFFPAY__REQUEST_KEY_STORED_MAX];
    offpay_err               rc;

    if (replayed != NULL)
        *replayed = 0;
    if (key == NULL)
        return offpay_ledger_terminal_add(l, merchant_id, pk, expires, now,
                                          bytes, len, cred);
    if (l == NULL || pk == NULL || bytes == NULL || len == NULL ||
        expires <= now || !offpay_ledger_request_key_ok(key))
        return OFFPAY_EINVAL;
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    if (!offpay_pk_usable(pk))
        return OFFPAY_EWEAK_KEY;
    memset(&c, 0, sizeof c);
    c.t.merchant = merchant_id;
    c.t.pk = pk;
    c.t.expires = expires;
    c.t.now = now;
    c.t.bytes = bytes;
    offpay__request_key(stored, "operator", 0, key);
    c.key = stored;
    c.rq.op = OFFPAY__REQ_TERMINAL;
    c.rq.account = merchant_id;
    rc = directory_once(l, stored, &c.rq, now, terminal_once_tx, &c);
    if (rc == OFFPAY_OK) {
        *len = c.t.len;
        if (cred != NULL)
            *cred = c.t.cred;
        if (replayed != NULL)
            *replayed = c.replayed;
    }
    return rc;
}

offpay_err offpay_ledger_request_key_used(offpay_ledger *l, const char *key,
                                          int *used)
{
    char       stored[OFFPAY__REQUEST_KEY_STORED_MAX];
    offpay_err rc = OFFPAY_OK;

    if (used != NULL)
        *used = 0;
    if (l == NULL || used == NULL || !offpay_ledger_request_key_ok(key))
        return OFFPAY_EINVAL;
    offpay__request_key(stored, "operator", 0, key);
    for (size_t k = 0; rc == OFFPAY_OK && !*used && k < l->n_shards; k++) {
        struct request_find f;

        memset(&f, 0, sizeof f);
        f.key = stored;
        rc = offpay__ledger_read_on(l, k, request_find_tx, &f);
        *used = f.found;
    }
    return rc;
}

/* The expiry a request for expires gets from a credential signed by key
 * kid: expires, or the key's end when expires is past it
 * (offpay__ledger_within_key). 1 when have is that. */
static int expires_is(const offpay_ledger *l, uint32_t kid, uint32_t have,
                      uint32_t expires)
{
    if (have == expires)
        return 1;
    for (size_t i = 0; i < l->bundle.n_keys; i++) {
        const offpay_bundle_key *k = &l->bundle.keys[i];

        if (k->kid == kid)
            return expires > k->valid_until && have == k->valid_until;
    }
    return 0;
}

int offpay_ledger_terminal_expires_is(const offpay_ledger        *l,
                                      const offpay_terminal_cred *cred,
                                      uint32_t                    expires)
{
    if (l == NULL || cred == NULL)
        return 0;
    return expires_is(l, cred->kid, cred->expires, expires);
}

struct revoke_terminal_ctx {
    uint32_t    id, now;
    int         how, revoked; /* revoked: found revoked (the pre-pass) */
    const char *reason;       /* why: the call's, or a shard's (first_why) */
    /* the pre-pass's: the reason of the shard that holds the earliest
     * revocation (at first_at; 0: none holds one with a reason) */
    uint32_t first_at;
    char     first_why[OFFPAY_LEDGER_REF_MAX + 1];
};

static offpay_err revoke_terminal_tx(offpay_ledger *l, void *p)
{
    struct revoke_terminal_ctx *c = p;
    offpay__terminal_row        t;
    offpay_err                  rc;

    rc = l->ops->terminal_get(l->store, c->id, &t);
    if (rc != OFFPAY_OK || t.revoked)
        return rc; /* revoking again changes nothing */
    rc = l->ops->terminal_revoke(l->store, c->id, c->now, c->how, 0, 0,
                                 c->reason);
    /* kept on the directory, whose revocation is the one that answers */
    if (rc == OFFPAY_OK && l->cur == 0)
        rc = offpay__ledger_journal(l, c->now, "revoke-terminal", c->id,
                                    c->reason);
    return rc;
}

/* The pre-pass's read: whether the shard holds the terminal revoked, and
 * the earliest time of it a shard holds in c->now, with that shard's
 * reason in c->first_why. */
static offpay_err revoked_at_tx(offpay_ledger *l, void *p)
{
    struct revoke_terminal_ctx *c = p;
    offpay__terminal_row        t;
    offpay_err                  rc;

    c->revoked = 0;
    rc = l->ops->terminal_get(l->store, c->id, &t);
    if (rc == OFFPAY_OK && t.revoked) {
        c->revoked = 1;
        if (t.revoked_at < c->now)
            c->now = t.revoked_at;
        /* one revoked before reasons were kept has none to give */
        if (t.revoke_reason[0] != '\0' &&
            (c->first_at == 0 || t.revoked_at < c->first_at)) {
            c->first_at = t.revoked_at;
            memcpy(c->first_why, t.revoke_reason, sizeof c->first_why);
        }
    }
    return rc;
}

/*
 * A terminal's revocation on a sharded ledger, before the directory's
 * (shard 0's) transaction: written to shards n-1..1 first, so that once
 * the directory answers every shard refuses the terminal's late payments
 * (settlement.md §11; were it copied after, a shard whose copy failed or
 * had not run yet went on paying them). All with one time, *at, or the
 * earliest a shard holds already (a call that failed part way), and one
 * reason, *why, or that of the shard holding the earliest (why_buf holds
 * it, *why then pointing there). Nothing when the directory holds the
 * terminal revoked: its copy says how and why.
 */
offpay_err
offpay__ledger_terminal_revoke_shards(offpay_ledger *l, uint32_t id,
                                      uint32_t *at, int how, const char **why,
                                      char why_buf[OFFPAY_LEDGER_REF_MAX + 1])
{
    struct revoke_terminal_ctx c;
    offpay_err                 rc;

    if (!l->sharded)
        return OFFPAY_OK;
    memset(&c, 0, sizeof c);
    c.id = id;
    c.now = *at;
    c.how = how;
    c.reason = *why;
    rc = offpay__ledger_read_on(l, 0, revoked_at_tx, &c);
    if (rc != OFFPAY_OK || c.revoked)
        return rc;
    for (size_t k = 1; k < l->n_shards; k++) {
        rc = offpay__ledger_read_on(l, k, revoked_at_tx, &c);
        if (rc != OFFPAY_OK && rc != OFFPAY_ENOTFOUND) /* not copied yet */
            return rc;
    }
    if (c.first_at != 0)
        c.reason = c.first_why; /* the first reason stays, as its time */
    for (size_t k = l->n_shards - 1; k >= 1; k--) {
        rc = offpay__ledger_tx_on(l, k, revoke_terminal_tx, &c);
        if (rc != OFFPAY_OK && rc != OFFPAY_ENOTFOUND)
            return rc;
    }
    *at = c.now;
    if (c.first_at != 0) {
        memcpy(why_buf, c.first_why, OFFPAY_LEDGER_REF_MAX + 1);
        *why = why_buf;
    }
    return OFFPAY_OK;
}

int offpay__revoke_reason_ok(const char *reason)
{
    return offpay__text_ok(reason, OFFPAY_LEDGER_REF_MAX);
}

offpay_err offpay_ledger_terminal_revoke_why(offpay_ledger *l,
                                             uint32_t       terminal_id,
                                             const char *reason, uint32_t now)
{
    struct revoke_terminal_ctx c;
    char                       first[OFFPAY_LEDGER_REF_MAX + 1];
    offpay_err                 rc;

    if (reason == NULL)
        reason = OFFPAY__REVOKE_OPERATOR;
    if (l == NULL || !offpay__revoke_reason_ok(reason))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.id = terminal_id;
    c.now = now;
    c.reason = reason;
    rc = offpay__ledger_terminal_revoke_shards(l, terminal_id, &c.now, 0,
                                               &c.reason, first);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, revoke_terminal_tx, &c);
    return rc == OFFPAY_OK ? directory_copy(l) : rc;
}

offpay_err offpay_ledger_terminal_revoke(offpay_ledger *l, uint32_t terminal_id,
                                         uint32_t now)
{
    return offpay_ledger_terminal_revoke_why(l, terminal_id, NULL, now);
}

/* ---- a merchant's closing ------------------------------------------- */

struct merchant_close_ctx {
    uint64_t merchant;
    uint32_t now, closed_at;
    int      replayed;
};

/* Marks the merchant closed (the directory's row), under its row's lock,
 * the one a terminal's registration takes. */
static offpay_err merchant_close_tx(offpay_ledger *l, void *p)
{
    struct merchant_close_ctx *c = p;
    char                       name[OFFPAY_NAME_MAX + 1];
    uint64_t                   account;
    uint16_t                   currency;
    offpay_err                 rc;

    rc = l->ops->merchant_lock(l->store, c->merchant);
    if (rc == OFFPAY_OK)
        rc = l->ops->merchant_get(l->store, c->merchant, &account, &currency,
                                  name, &c->closed_at);
    if (rc != OFFPAY_OK)
        return rc;
    c->replayed = c->closed_at != 0;
    if (c->replayed)
        return OFFPAY_OK; /* the first time stays */
    c->closed_at = c->now;
    rc = l->ops->merchant_close(l->store, c->merchant, c->now);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_journal(l, c->now, "close-merchant", c->merchant,
                                    NULL);
    return rc;
}

offpay_err offpay_ledger_merchant_close(offpay_ledger *l, uint64_t merchant_id,
                                        uint32_t now, uint32_t *closed_at,
                                        size_t *revoked, int *replayed)
{
    struct merchant_close_ctx     c = {merchant_id, now, 0, 0};
    offpay_ledger_terminal_entry *t = NULL;
    size_t                        n = 0, done = 0;
    uint32_t                      after = 0;
    offpay_err                    rc;

    if (l == NULL || merchant_id == 0)
        return OFFPAY_EINVAL;
    rc = offpay__ledger_tx(l, merchant_close_tx, &c);
    /* then every terminal of it still active, also on a call again (one
     * that stopped part way is finished by it): from here on none is
     * registered, and each revocation stands on every shard when it
     * returns */
    while (rc == OFFPAY_OK) {
        rc = offpay_ledger_terminals(l, merchant_id, after, 500, &t, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
            after = t[i].terminal_id;
            if (t[i].state != OFFPAY_TERMINAL_ACTIVE)
                continue;
            rc = offpay_ledger_terminal_revoke_why(
                l, t[i].terminal_id, OFFPAY__REVOKE_MERCHANT_CLOSED, now);
            done += rc == OFFPAY_OK;
        }
        free(t);
        t = NULL;
        if (n < 500)
            break;
    }
    if (rc != OFFPAY_OK)
        return rc;
    if (closed_at != NULL)
        *closed_at = c.closed_at;
    if (revoked != NULL)
        *revoked = done;
    if (replayed != NULL)
        *replayed = c.replayed;
    return OFFPAY_OK;
}

/* ---- credentials ---------------------------------------------------- */

struct issue_ctx {
    uint64_t           account;
    const uint8_t     *pk;
    const char        *key; /* as stored, or NULL */
    int64_t            limit;
    uint8_t            flags;
    uint32_t           expires, now;
    uint8_t           *bytes;
    offpay_wallet_cred cred;
    int                replayed;
    int                stored_before; /* the key is on the home shard */
    int                enrolled;      /* the wallet key is (shard 0's read) */
};

/* settle_int.h */
uint32_t offpay__time_clamp(uint64_t t)
{
    return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* What wallet account holds at now for late presentments (§6), and
 * until when (may be NULL): the end of the newest such release's late
 * window. */
offpay_err offpay__ledger_late_held(offpay_ledger *l, uint64_t account,
                                    uint32_t now, int64_t *held,
                                    uint32_t *until)
{
    uint32_t   since = now > l->cfg.late_window ? now - l->cfg.late_window : 0;
    uint32_t   released_at = 0;
    offpay_err rc;

    rc = l->ops->late_hold(l->store, account, since, held, &released_at);
    if (rc == OFFPAY_OK && until != NULL)
        *until =
            *held > 0
                ? offpay__time_clamp((uint64_t)released_at + l->cfg.late_window)
                : 0;
    return rc;
}

struct late_hold_ctx {
    uint64_t account;
    uint32_t now, until;
    int64_t  held;
};

static offpay_err late_hold_tx(offpay_ledger *l, void *p)
{
    struct late_hold_ctx *c = p;

    return offpay__ledger_late_held(l, c->account, c->now, &c->held, &c->until);
}

offpay_err offpay_ledger_late_hold(offpay_ledger *l, uint64_t account,
                                   uint32_t now, int64_t *held, uint32_t *until)
{
    struct late_hold_ctx c = {account, now, 0, 0};
    int                  shard;
    offpay_err           rc;

    if (l == NULL || held == NULL || until == NULL)
        return OFFPAY_EINVAL;
    shard = offpay__ledger_shard_of(l, account);
    if (shard < 0)
        return OFFPAY_ENOTFOUND;
    rc = offpay__ledger_read_on(l, (size_t)shard, late_hold_tx, &c);
    if (rc == OFFPAY_OK) {
        *held = c.held;
        *until = c.until;
    }
    return rc;
}

offpay_err offpay__issue_in_tx(offpay_ledger *l, uint64_t account,
                               const uint8_t pk[OFFPAY_PK_BYTES], int64_t limit,
                               uint8_t flags, uint32_t expires, uint32_t now,
                               uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                               offpay_wallet_cred *wc)
{
    offpay_signer       sg;
    offpay__cred_row    row;
    offpay_account_kind kind;
    uint16_t            currency;
    int64_t             bal, held = 0;
    size_t              len = 0;
    offpay_err          rc;

    rc = offpay__ledger_within_key(l, now, &expires);
    if (rc != OFFPAY_OK)
        return rc;
    rc = l->ops->account_get(l->store, account, &kind, &currency);
    if (rc != OFFPAY_OK)
        return rc;
    if (kind != OFFPAY_ACCOUNT_WALLET)
        return OFFPAY_EINVAL;
    /* the balance read is the balance funded from (store.h, row locks) */
    rc = l->ops->account_lock(l->store, account);
    if (rc == OFFPAY_OK)
        rc = l->ops->balance(l->store, account, &bal);
    /* what came back from escrows whose late window is open is held for
     * their late presentments (settlement.md §6): it funds no new
     * credential, or the old codes held back and the new credential
     * would both be spent, the guarantee paying the first */
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_late_held(l, account, now, &held, NULL);
    if (rc != OFFPAY_OK)
        return rc;
    if (bal - held < limit) /* both bounded by the balances' maximum */
        return OFFPAY_EFUNDS;
    memset(&row, 0, sizeof row);
    row.wallet_account = account;
    row.limit = limit;
    row.currency = currency;
    row.valid_from = now;
    row.expires = expires;
    rc = l->ops->account_add(l->store, OFFPAY_ACCOUNT_ESCROW, currency,
                             "escrow", now, &row.escrow_account);
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_add(l->store, &row, pk, flags, &row.serial);
    if (rc != OFFPAY_OK)
        return rc;
    memset(wc, 0, sizeof *wc);
    wc->kid = l->kid;
    wc->serial = row.serial;
    memcpy(wc->wallet_pk, pk, OFFPAY_PK_BYTES);
    wc->limit = (uint32_t)limit;
    wc->currency = currency;
    wc->valid_from = now;
    wc->expires = expires;
    wc->flags = flags;
    sg = offpay__ledger_signer(l);
    rc = offpay_issuer_sign_wallet_cred_by(&sg, wc);
    if (rc == OFFPAY_OK)
        rc = offpay_wallet_cred_encode(wc, bytes, OFFPAY_WALLET_CRED_BYTES,
                                       &len);
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_set_bytes(l->store, row.serial, bytes, len);
    /* fund: the limit moves into the escrow, which now backs the promise */
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_move(l, account, row.escrow_account, limit, "fund",
                                 0, 0, NULL, now);
    if (rc == OFFPAY_OK)
        rc = l->ops->escrow_credit(l->store, row.serial, limit);
    return rc;
}

/* The credential serial a keyed allowance made, when it is pk's: its
 * bytes and what they say; EEXISTS when it is not pk's (the request key
 * made another key's) or its bytes are not a credential. Read by its
 * serial: a resend costs the same whatever the key's history. */
static offpay_err issued_to(offpay_ledger *l, const uint8_t *pk,
                            uint64_t            serial,
                            uint8_t             bytes[OFFPAY_WALLET_CRED_BYTES],
                            offpay_wallet_cred *wc)
{
    offpay__cred_row row;
    offpay_err       rc;

    rc = l->ops->cred_get(l->store, serial, &row);
    if (rc == OFFPAY_OK &&
        sodium_memcmp(row.wallet_pk, pk, OFFPAY_PK_BYTES) != 0)
        rc = OFFPAY_ENOTFOUND;
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_bytes(l->store, serial, bytes);
    if (rc == OFFPAY_OK &&
        offpay_wallet_cred_decode(bytes, OFFPAY_WALLET_CRED_BYTES, wc) !=
            OFFPAY_OK)
        rc = OFFPAY_ENOTFOUND;
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_EEXISTS : rc;
}

offpay_err offpay__issue_once_in_tx(
    offpay_ledger *l, const char *key, uint64_t account,
    const uint8_t pk[OFFPAY_PK_BYTES], int64_t limit, uint8_t flags,
    uint32_t expires, uint32_t now, uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
    offpay_wallet_cred *wc, int *replayed, offpay__issue_gate gate)
{
    offpay__request rq;
    offpay_err      rc;

    *replayed = 0;
    if (key != NULL) {
        rc = l->ops->account_lock(l->store, account);
        if (rc == OFFPAY_OK)
            rc = l->ops->request_get(l->store, key, &rq);
        if (rc == OFFPAY_OK) {
            if (rq.op != OFFPAY__REQ_ALLOWANCE || rq.account != account ||
                rq.amount != limit)
                return OFFPAY_EEXISTS;
            rc = issued_to(l, pk, rq.result, bytes, wc);
            /* asked with other flags (a credential tightened to bound
             * codes only): not this request, whose credential would be
             * looser than what it asks (the flags are in the stored
             * credential's bytes) */
            if (rc == OFFPAY_OK && wc->flags != flags)
                rc = OFFPAY_EEXISTS;
            *replayed = rc == OFFPAY_OK;
            return rc;
        }
        if (rc != OFFPAY_ENOTFOUND)
            return rc;
    }
    if (gate != NULL) {
        rc = gate(l, pk);
        if (rc != OFFPAY_OK)
            return rc;
    }
    rc = offpay__issue_in_tx(l, account, pk, limit, flags, expires, now, bytes,
                             wc);
    if (rc == OFFPAY_OK && key != NULL) {
        rq = (offpay__request){OFFPAY__REQ_ALLOWANCE, account, limit,
                               wc->serial, ""};
        rc = l->ops->request_add(l->store, key, &rq, now);
        if (rc == OFFPAY_EEXISTS) /* the same key at once elsewhere: rerun */
            rc = OFFPAY_ERETRY;
    }
    return rc;
}

int offpay_ledger_issue_expires_is(const offpay_ledger      *l,
                                   const offpay_wallet_cred *cred,
                                   uint32_t                  expires)
{
    if (l == NULL || cred == NULL)
        return 0;
    /* cut to its signing key's end (offpay__ledger_within_key): any
     * expiry past that end asked for this one */
    return expires_is(l, cred->kid, cred->expires, expires);
}

/* Whether wallet key pk may be given a credential: OFFPAY_EWALLET_LOST
 * when it was enrolled and then revoked (reported lost, docs/settlement.md
 * §12); OFFPAY_OK for a live key and for one never enrolled (the
 * operator's own wallets). In a writing transaction the caller locked the
 * key's row first, as allowance_tx does, so that a revocation either comes
 * before (and is seen here) or waits for this transaction's credential
 * (and revokes it). Enrolled keys live on shard 0 (§11 rule 10). */
/* On shard 0: *enrolled whether pk was enrolled (a key never enrolled is
 * the operator's own issue, and none of the wallet rules below apply to
 * it); OFFPAY_EWALLET_LOST when it was, and reported lost. */
static offpay_err wallet_key_live(offpay_ledger *l, const uint8_t *pk,
                                  int *enrolled)
{
    uint32_t   revoked_at = 0;
    offpay_err rc;

    *enrolled = 0;
    rc = l->ops->wallet_key_get(l->store, pk, 0, NULL, NULL, NULL, &revoked_at);
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK;
    if (rc == OFFPAY_OK)
        *enrolled = 1;
    if (rc == OFFPAY_OK && revoked_at != 0)
        return OFFPAY_EWALLET_LOST;
    return rc;
}

static offpay_err key_live_tx(offpay_ledger *l, void *p)
{
    struct issue_ctx *c = p;

    return wallet_key_live(l, c->pk, &c->enrolled);
}

/* issue_tx's gate on shard 0: the key is live (its row is locked
 * already); and, an enrolled key, no double_spend or overspend case is
 * against any of its credentials on this shard (a copied wallet,
 * settlement.md §12) */
static offpay_err issue_gate(offpay_ledger *l, const uint8_t *pk)
{
    int        enrolled;
    offpay_err rc = wallet_key_live(l, pk, &enrolled);

    return rc == OFFPAY_OK && enrolled ? offpay__key_cases_gate(l, pk) : rc;
}

static offpay_err issue_tx(offpay_ledger *l, void *p)
{
    struct issue_ctx *c = p;
    offpay_err        rc = OFFPAY_OK;

    /* the key's shard: its row locked first (as allowance_tx does, the
     * same order of locks), checked once the request's key is known new:
     * a resend replays the first credential even after a loss report */
    if (l->cur == 0)
        rc = l->ops->wallet_key_lock(l->store, c->pk);
    if (rc != OFFPAY_OK)
        return rc;
    /* on another shard the key was read on shard 0 first: an enrolled
     * one's cases are checked here */
    rc = offpay__issue_once_in_tx(l, c->key, c->account, c->pk, c->limit,
                                  c->flags, c->expires, c->now, c->bytes,
                                  &c->cred, &c->replayed,
                                  l->cur == 0   ? issue_gate
                                  : c->enrolled ? offpay__key_cases_gate
                                                : NULL);
    if (rc == OFFPAY_OK && !c->replayed) {
        char account[32];

        snprintf(account, sizeof account, "account %llu",
                 (unsigned long long)c->account);
        rc = offpay__ledger_journal(l, c->now, "issue-credential",
                                    c->cred.serial, account);
    }
    return rc;
}

offpay_err offpay_ledger_issue(offpay_ledger *l, uint64_t wallet_account,
                               const uint8_t wallet_pk[OFFPAY_PK_BYTES],
                               int64_t limit, uint8_t flags, uint32_t expires,
                               uint32_t now,
                               uint8_t  bytes[OFFPAY_WALLET_CRED_BYTES],
                               offpay_wallet_cred *cred)
{
    return offpay_ledger_issue_once(l, NULL, wallet_account, wallet_pk, limit,
                                    flags, expires, now, bytes, cred, NULL);
}

offpay_err offpay_ledger_issue_once(offpay_ledger *l, const char *key,
                                    uint64_t      wallet_account,
                                    const uint8_t wallet_pk[OFFPAY_PK_BYTES],
                                    int64_t limit, uint8_t flags,
                                    uint32_t expires, uint32_t now,
                                    uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                                    offpay_wallet_cred *cred, int *replayed)
{
    struct issue_ctx c;
    char             stored[OFFPAY__REQUEST_KEY_STORED_MAX];
    size_t           home;
    offpay_err       rc;

    if (l == NULL || wallet_pk == NULL || bytes == NULL || expires <= now ||
        (flags & ~OFFPAY_CRED_FLAGS_KNOWN) != 0 ||
        (key != NULL && !offpay_ledger_request_key_ok(key)))
        return OFFPAY_EINVAL;
    /* a credential carries its limit in a u32 (docs/protocol.md) */
    if (limit <= 0 || limit > OFFPAY_WIRE_AMOUNT_MAX)
        return OFFPAY_EAMOUNT;
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    if (!offpay_pk_usable(wallet_pk))
        return OFFPAY_EWEAK_KEY;
    memset(&c, 0, sizeof c);
    c.account = wallet_account;
    c.pk = wallet_pk;
    c.limit = limit;
    c.flags = flags;
    c.expires = expires;
    c.now = now;
    c.bytes = bytes;
    rc = OFFPAY_OK;
    if (key != NULL) {
        offpay__request_key(stored, "operator", 0, key);
        c.key = stored;
        rc = offpay__request_check_shards(l, stored, OFFPAY__REQ_ALLOWANCE,
                                          wallet_account, limit, now);
    }
    /* the credential lives on its wallet account's shard, its serial and
     * escrow from that shard's range, and its key with it. Enrolled keys
     * are on shard 0: an account on another shard (one the operator made)
     * has its key checked there first, in a transaction of its own (a
     * lost wallet's revocation revokes only shard 0's credentials anyway,
     * §11 rule 10). A key already stored on the home shard is a resend:
     * it replays there, whatever became of the wallet key since. The
     * key's cases on the other shards are read there the same way (its
     * credentials may be on several shards; the home shard's are checked
     * in the issue's transaction) */
    home = account_shard(l, wallet_account);
    if (rc == OFFPAY_OK && l->n_shards > 1 && key != NULL) {
        struct request_find f = {stored, {0, 0, 0, 0, ""}, 0};

        rc = offpay__ledger_read_on(l, home, request_find_tx, &f);
        c.stored_before = f.found;
    }
    if (rc == OFFPAY_OK && l->n_shards > 1 && !c.stored_before)
        rc = offpay__ledger_read_on(l, 0, key_live_tx, &c);
    if (rc == OFFPAY_OK && c.enrolled && !c.stored_before)
        rc = offpay__key_cases_elsewhere(l, wallet_pk, home);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx_on(l, home, issue_tx, &c);
    if (rc == OFFPAY_OK && cred != NULL)
        *cred = c.cred;
    if (rc == OFFPAY_OK && replayed != NULL)
        *replayed = c.replayed;
    return rc;
}

struct revoke_ctx {
    uint64_t    serial;
    const char *reason;
    uint32_t    now;
};

static offpay_err revoke_tx(offpay_ledger *l, void *p)
{
    struct revoke_ctx *c = p;
    offpay__cred_row   row;
    offpay_err         rc;

    rc = l->ops->creds_lock(l->store, &c->serial, 1);
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_get(l->store, c->serial, &row);
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_ENOT_ISSUED;
    if (rc != OFFPAY_OK || row.revoked)
        return rc;
    rc = l->ops->cred_revoke(l->store, c->serial, c->reason, c->now);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_journal(l, c->now, "revoke-credential", c->serial,
                                    c->reason);
    return rc;
}

offpay_err offpay_ledger_revoke(offpay_ledger *l, uint64_t serial,
                                const char *reason, uint32_t now)
{
    struct revoke_ctx c = {serial, reason != NULL ? reason : "operator", now};
    int               k;
    offpay_err        rc;

    if (l == NULL || !offpay__ref_ok(reason))
        return OFFPAY_EINVAL;
    k = offpay__ledger_shard_of(l, serial);
    if (k < 0)
        return OFFPAY_ENOT_ISSUED; /* in no shard's range */
    /* committed on the credential's shard, then published */
    rc = offpay__ledger_tx_on(l, (size_t)k, revoke_tx, &c);
    return rc == OFFPAY_OK ? publish(l, (size_t)k) : rc;
}

struct cred_info_ctx {
    uint64_t         serial;
    offpay__cred_row row;
    int64_t          flows[OFFPAY__ESCROW_FLOWS];
};

static offpay_err cred_info_tx(offpay_ledger *l, void *p)
{
    struct cred_info_ctx *c = p;
    offpay_err            rc = l->ops->cred_get(l->store, c->serial, &c->row);

    if (rc == OFFPAY_OK)
        rc = l->ops->escrow_flows(l->store, c->row.escrow_account, c->flows);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ENOT_ISSUED : rc;
}

offpay_err offpay_ledger_credential(offpay_ledger *l, uint64_t serial,
                                    offpay_ledger_cred_info *out)
{
    struct cred_info_ctx c;
    offpay_err           rc;

    if (l == NULL || out == NULL)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.serial = serial;
    if (offpay__ledger_shard_of(l, serial) < 0)
        return OFFPAY_ENOT_ISSUED; /* in no shard's range */
    rc = offpay__ledger_read_on(l, (size_t)offpay__ledger_shard_of(l, serial),
                                cred_info_tx, &c);
    if (rc != OFFPAY_OK)
        return rc;
    memset(out, 0, sizeof *out);
    out->serial = serial;
    out->wallet_account = c.row.wallet_account;
    out->limit = c.row.limit;
    out->remaining = c.row.remaining;
    out->currency = c.row.currency;
    out->valid_from = c.row.valid_from;
    out->expires = c.row.expires;
    out->revoked = c.row.revoked;
    out->revoked_at = c.row.revoked_at;
    out->funded = c.flows[0];
    out->late = c.flows[1];
    out->covered = c.flows[2];
    out->paid = c.flows[3];
    out->released_amount = c.flows[4];
    out->released = c.row.released;
    out->released_at = c.row.released_at;
    out->escrow_account = c.row.escrow_account;
    out->refunded_to_guarantee = c.flows[5];
    out->claimed = c.flows[7];
    out->owed = c.flows[8] - c.flows[7];
    /* never below 0: a refund into the guarantee gives back at most what
     * the guarantee paid or owes for the credential (§13, audit rule 7) */
    out->net_loss = c.flows[2] + c.flows[8] - c.flows[5];
    offpay__ledger_cred_dues(l, out);
    return OFFPAY_OK;
}

void offpay__ledger_cred_dues(const offpay_ledger     *l,
                              offpay_ledger_cred_info *i)
{
    /* release_at: due once the expiry is more than upload_grace past;
     * settle.c: late until late_window after the release */
    i->release_due =
        offpay__time_clamp((uint64_t)i->expires + l->cfg.upload_grace);
    i->late_until = offpay__time_clamp(
        (uint64_t)(i->released ? i->released_at : i->release_due) +
        l->cfg.late_window);
}

/* ---- escrow release ------------------------------------------------- */

struct release_ctx {
    uint64_t serial;
    uint32_t now;      /* the release's time: the credential's released_at */
    uint32_t at;       /* its transfer's: when this transaction runs */
    int      done;     /* 1: this transaction released it */
    uint16_t currency; /* then: its currency */
    int64_t  returned; /* and what went back to the wallet account */
};

/* One credential: what remains goes back to the wallet account, once. */
static offpay_err release_tx(offpay_ledger *l, void *p)
{
    struct release_ctx *c = p;
    offpay__cred_row    row;
    offpay_err          rc;

    /* the remaining read is the remaining released (store.h, row locks) */
    c->done = 0; /* a transaction run again starts over */
    rc = l->ops->creds_lock(l->store, &c->serial, 1);
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_get(l->store, c->serial, &row);
    if (rc != OFFPAY_OK)
        return rc;
    if (row.released)
        return OFFPAY_OK; /* another process was first */
    rc = l->ops->cred_release(l->store, c->serial, c->now);
    if (rc == OFFPAY_OK && row.remaining > 0)
        rc = offpay__ledger_move(l, row.escrow_account, row.wallet_account,
                                 row.remaining, "release", 0, 0, NULL, c->at);
    c->done = rc == OFFPAY_OK;
    c->currency = row.currency;
    c->returned = row.remaining > 0 ? row.remaining : 0;
    return rc;
}

/* Counts one release of c into rep's currency (rep may be NULL). */
static void release_count(offpay_release_report    *rep,
                          const struct release_ctx *c)
{
    offpay_release_sum *x = NULL;

    if (rep == NULL)
        return;
    for (size_t i = 0; i < rep->n_sums && x == NULL; i++)
        if (rep->sums[i].currency == c->currency)
            x = &rep->sums[i];
    if (x == NULL && rep->n_sums < OFFPAY_RELEASE_CURRENCIES) {
        x = &rep->sums[rep->n_sums++];
        x->currency = c->currency;
    }
    if (x == NULL) {
        rep->more = 1;
        return;
    }
    x->escrows++;
    /* saturated: a sum no ledger's escrows reach */
    if (__builtin_add_overflow(x->returned, c->returned, &x->returned))
        x->returned = INT64_MAX;
}

struct due_ctx {
    uint32_t           before;
    offpay__due_cursor after, read; /* before the page, after it */
    uint64_t           serials[RELEASE_BATCH];
    size_t             n;
};

static offpay_err due_tx(offpay_ledger *l, void *p)
{
    struct due_ctx *c = p;

    c->read = c->after; /* a transaction run again reads the page again */
    return l->ops->creds_due(l->store, c->before, &c->read, c->serials,
                             RELEASE_BATCH, &c->n);
}

/* Releases what is due at now on every shard (offpay_ledger_release_due's
 * work, without its mark). */
/* now, plus the whole seconds run since start (monotonic): a long job
 * dates each transfer by when its transaction runs, not by when the job
 * began, so that nothing it books is dated further back than a request may
 * commit (settlement.md §10, "The ledger's clock"); a credential's
 * released_at stays the job's time, which the late window counts from. */
static uint32_t now_since(uint32_t now, const struct timespec *start)
{
    struct timespec t;
    int64_t         ms;
    uint64_t        at = now;

    clock_gettime(CLOCK_MONOTONIC, &t);
    ms = (int64_t)(t.tv_sec - start->tv_sec) * 1000 +
         (t.tv_nsec - start->tv_nsec) / 1000000;
    if (ms > 0)
        at += (uint64_t)(ms / 1000); /* whole seconds run */
    return at > UINT32_MAX ? UINT32_MAX : (uint32_t)at;
}

static offpay_err release_at(offpay_ledger *l, uint32_t now, size_t *released,
                             offpay_release_report *rep)
{
    struct due_ctx  due;
    size_t          count = 0;
    offpay_err      rc;
    struct timespec start;

    if (l == NULL)
        return OFFPAY_EINVAL;
    if (released != NULL)
        *released = 0;
    if (now <= l->cfg.upload_grace)
        return OFFPAY_OK;
    clock_gettime(CLOCK_MONOTONIC, &start);
    rc = OFFPAY_OK;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        memset(&due, 0, sizeof due);
        due.before = now - l->cfg.upload_grace;
        do {
            rc = offpay__ledger_read_on(l, k, due_tx, &due);
            for (size_t i = 0; rc == OFFPAY_OK && i < due.n; i++) {
                struct release_ctx c = {
                    due.serials[i], now, now_since(now, &start), 0, 0, 0};

                rc = offpay__ledger_tx_on(l, k, release_tx, &c);
                /* those this call released: not one another process
                 * released between the read and the lock */
                count += rc == OFFPAY_OK && c.done;
                if (rc == OFFPAY_OK && c.done)
                    release_count(rep, &c);
            }
            due.after = due.read;
        } while (rc == OFFPAY_OK && due.n == RELEASE_BATCH);
    }
    if (released != NULL)
        *released = count;
    /* and pays what the guarantee owes, as far as it holds (§5) */
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_claims_pay(l, 0, now_since(now, &start),
                                       rep != NULL ? &rep->claims_paid : NULL);
    /* the job also finishes a terminal revocation the shards took and the
     * directory did not, and a copy of the directory to the shards that a
     * change's own copy could not make (a shard unreachable then) */
    if (rc == OFFPAY_OK)
        rc = directory_finish(l);
    if (rc == OFFPAY_OK)
        rc = directory_copy(l);
    return rc;
}

struct mark_ctx {
    const char *what;
    uint32_t    at;
    int         forward, found;
};

static offpay_err mark_get_tx(offpay_ledger *l, void *p)
{
    struct mark_ctx *c = p;
    offpay_err       rc = l->ops->mark_get(l->store, c->what, &c->at);

    c->found = rc == OFFPAY_OK;
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_OK : rc;
}

static offpay_err mark_put_tx(offpay_ledger *l, void *p)
{
    struct mark_ctx *c = p;

    return l->ops->mark_put(l->store, c->what, c->at, c->forward);
}

static offpay_err newest_tx(offpay_ledger *l, void *p)
{
    return l->ops->newest_transfer_at(l->store, p);
}

/* *newest: the newest time of each shard's newest 1000 transfers. */
static offpay_err newest_transfer(offpay_ledger *l, uint32_t *newest)
{
    offpay_err rc = OFFPAY_OK;
    uint32_t   at;

    *newest = 0;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        at = 0;
        rc = offpay__ledger_read_on(l, k, newest_tx, &at);
        if (at > *newest)
            *newest = at;
    }
    return rc;
}

offpay_err offpay_ledger_release_due(offpay_ledger *l, uint32_t now,
                                     size_t *released)
{
    offpay_release_report rep;
    offpay_err            rc = offpay_ledger_release_report(l, now, &rep);

    if (released != NULL)
        *released = rep.released;
    return rc;
}

offpay_err offpay_ledger_release_report(offpay_ledger *l, uint32_t now,
                                        offpay_release_report *out)
{
    struct mark_ctx run = {OFFPAY__MARK_RELEASE, now, 0, 0};
    struct mark_ctx seen = {OFFPAY__MARK_RELEASE_SEEN, 0, 0, 0};
    offpay_err      rc;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (l == NULL || out == NULL)
        return OFFPAY_EINVAL;
    rc = release_at(l, now, &out->released, out);
    /* the operator's release vouches for its clock to the automatic job:
     * it measures from it again, and no longer holds back for the
     * transfers the ledger had then (offpay_ledger_release_auto); to
     * bookings only when asked (offpay_ledger_clock_vouch) */
    if (rc == OFFPAY_OK)
        rc = newest_transfer(l, &seen.at);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, mark_put_tx, &run);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, mark_put_tx, &seen);
    return rc;
}

/* One shard's vouch: refused when an earlier vouch is more than the
 * booking slack after now (one of the two clocks is wrong), else the
 * time and the shard's highest transfer id recorded. */
struct vouch_ctx {
    uint32_t now;
    uint64_t upto;    /* the shard's highest transfer id */
    uint32_t newest;  /* out: the shard's newest transfer time */
    uint32_t earlier; /* out: the earlier vouch that refused it */
};

static offpay_err vouch_tx(offpay_ledger *l, void *p)
{
    struct vouch_ctx *c = p;
    uint32_t          before = 0;
    offpay_err rc = l->ops->mark_get(l->store, OFFPAY__MARK_VOUCHED, &before);

    if (rc != OFFPAY_OK && rc != OFFPAY_ENOTFOUND)
        return rc;
    if ((uint64_t)c->now + OFFPAY__PERIOD_FINAL_AFTER < before) {
        c->earlier = before;
        return OFFPAY_ECLOCK_BEHIND;
    }
    rc = l->ops->newest_transfer_at(l->store, &c->newest);
    if (rc == OFFPAY_OK)
        rc = l->ops->mark_put(l->store, OFFPAY__MARK_VOUCHED, c->now, 0);
    /* an id of 64 bits in two marks of 32 (a shard's ids may lie past
     * 2^32): the low half and the high one */
    if (rc == OFFPAY_OK)
        rc = l->ops->mark_put(l->store, OFFPAY__MARK_VOUCHED_UPTO,
                              (uint32_t)c->upto, 0);
    if (rc == OFFPAY_OK)
        rc = l->ops->mark_put(l->store, OFFPAY__MARK_VOUCHED_UPTO_HI,
                              (uint32_t)(c->upto >> 32), 0);
    /* each shard's vouch kept on that shard */
    if (rc == OFFPAY_OK) {
        char when[32];

        rc = offpay__ledger_journal(l, c->now, "vouch-clock", 0,
                                    offpay__unix_time_iso(c->now, when));
    }
    return rc;
}

offpay_err offpay_ledger_clock_vouch(offpay_ledger *l, uint32_t now,
                                     uint32_t *ahead)
{
    offpay_ledger_marks_info info[OFFPAY_SHARDS_MAX];
    size_t                   shards = 0;
    offpay_err               rc;

    if (ahead != NULL)
        *ahead = 0;
    if (l == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_ledger_marks_state(l, info, OFFPAY_SHARDS_MAX, &shards);
    for (size_t k = 0; rc == OFFPAY_OK && k < shards; k++) {
        struct vouch_ctx c = {now, info[k].max_id, 0, 0};
        char             a[32], b[32];

        rc = offpay__ledger_tx_on(l, k, vouch_tx, &c);
        if (rc == OFFPAY_ECLOCK_BEHIND)
            snprintf(clock_detail, sizeof clock_detail,
                     "this clock reads %s (%lu), %lu s before an earlier "
                     "vouch for the clock at %s (%lu): one of the two clocks "
                     "is wrong; nothing was vouched for: set this machine's "
                     "clock right (docs/operations.md, \"offpayd's clock "
                     "jumped\")",
                     offpay__unix_time_iso(now, a), (unsigned long)now,
                     (unsigned long)(c.earlier - now),
                     offpay__unix_time_iso(c.earlier, b),
                     (unsigned long)c.earlier);
        if (rc == OFFPAY_OK && ahead != NULL && c.newest > now &&
            c.newest - now > *ahead)
            *ahead = c.newest - now;
    }
    return rc;
}

offpay_err offpay_ledger_release_auto(offpay_ledger *l, uint32_t now,
                                      uint32_t                   every,
                                      offpay_ledger_release_run *out)
{
    struct mark_ctx run = {OFFPAY__MARK_RELEASE, 0, 1, 0};
    struct mark_ctx seen = {OFFPAY__MARK_RELEASE_SEEN, 0, 0, 0};
    uint32_t        newest = 0;
    offpay_err      rc;

    if (l == NULL || out == NULL)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    rc = offpay__ledger_read(l, mark_get_tx, &run);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_read(l, mark_get_tx, &seen);
    if (rc == OFFPAY_OK)
        rc = newest_transfer(l, &newest);
    if (rc != OFFPAY_OK)
        return rc;
    if (newest <= seen.at)
        newest = 0; /* an operator's release saw them and ran */
    out->last_run = run.at;
    out->newest = run.at > newest ? run.at : newest;
    if (run.found && now > (uint64_t)run.at + every + OFFPAY_RELEASE_AUTO_GAP) {
        out->held = OFFPAY_RELEASE_HELD_AHEAD;
        return OFFPAY_OK;
    }
    if ((uint64_t)now + OFFPAY_RELEASE_AUTO_SLACK < out->newest) {
        out->held = OFFPAY_RELEASE_HELD_BEHIND;
        return OFFPAY_OK;
    }
    rc = release_at(l, now, &out->released, NULL);
    run.at = now; /* forward only: another process may have run later */
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, mark_put_tx, &run);
    return rc;
}

/* ---- the marking job ------------------------------------------------ */

struct marks_ctx {
    uint32_t now;
    uint64_t batch, marked;
    uint64_t lo, hi; /* the ids marked: above lo, up to hi */
    int      more;
};

static offpay_err marks_tx(offpay_ledger *l, void *p)
{
    struct marks_ctx *c = p;

    return l->ops->marks_advance(l->store, c->now, c->batch, &c->marked,
                                 &c->more, &c->lo, &c->hi);
}

/* The wallet accounts' marks up to the transfer mark just made, in a
 * transaction of their own: not under marks_tx's lock, which every
 * writer of transfers waits for, and which they would hold several
 * times as long where most transfers touch a wallet. */
static offpay_err wallet_marks_tx(offpay_ledger *l, void *p)
{
    struct marks_ctx *c = p;

    return l->ops->wallet_marks(l->store, c->lo, c->hi);
}

struct marks_state_ctx {
    int                       drop;
    offpay_ledger_marks_info *out;
};

static offpay_err marks_state_tx(offpay_ledger *l, void *p)
{
    struct marks_state_ctx *c = p;
    offpay_err              rc;

    rc = l->ops->marks_state(l->store, c->drop, c->out);
    /* each shard's drop kept on that shard, when it held marks */
    if (rc == OFFPAY_OK && c->drop &&
        c->out->transfer_marks + c->out->balance_marks > 0)
        rc = offpay__ledger_journal_clock(l, "drop-marks", NULL);
    return rc;
}

/* offpay_ledger_marks_state and _drop: shard by shard. */
static offpay_err marks_state_each(offpay_ledger *l, int drop,
                                   offpay_ledger_marks_info *out, size_t max,
                                   size_t *n)
{
    offpay_err rc = OFFPAY_OK;

    if (l == NULL || out == NULL || n == NULL)
        return OFFPAY_EINVAL;
    *n = 0;
    if (max < l->n_shards)
        return OFFPAY_EINVAL;
    for (size_t k = 0; k < l->n_shards && rc == OFFPAY_OK; k++) {
        struct marks_state_ctx c = {drop, &out[k]};

        memset(&out[k], 0, sizeof out[k]);
        rc = drop ? offpay__ledger_tx_on(l, k, marks_state_tx, &c)
                  : offpay__ledger_read_on(l, k, marks_state_tx, &c);
        if (rc == OFFPAY_OK)
            *n = k + 1;
    }
    return rc;
}

offpay_err offpay_ledger_marks_state(offpay_ledger            *l,
                                     offpay_ledger_marks_info *out, size_t max,
                                     size_t *n)
{
    return marks_state_each(l, 0, out, max, n);
}

offpay_err offpay_ledger_marks_drop(offpay_ledger            *l,
                                    offpay_ledger_marks_info *out, size_t max,
                                    size_t *n)
{
    return marks_state_each(l, 1, out, max, n);
}

offpay_err offpay_ledger_marks(offpay_ledger *l, uint32_t now, uint64_t batch,
                               uint64_t *marked, int *more)
{
    struct marks_ctx c = {now, batch != 0 ? batch : OFFPAY_MARKS_BATCH, 0, 0, 0,
                          0};
    uint64_t         total = 0;
    int              left = 0;
    offpay_err       rc, first = OFFPAY_OK;

    if (l == NULL)
        return OFFPAY_EINVAL;
    /* each shard on its own: one that fails leaves the others marked */
    for (size_t k = 0; k < l->n_shards; k++) {
        c.more = 1;
        rc = OFFPAY_OK;
        for (unsigned round = 0;
             rc == OFFPAY_OK && c.more && round < OFFPAY_MARKS_ROUNDS;
             round++) {
            struct timespec t0, t1;

            clock_gettime(CLOCK_MONOTONIC, &t0);
            c.marked = 0;
            rc = offpay__ledger_tx_on(l, k, marks_tx, &c);
            if (rc == OFFPAY_OK)
                total += c.marked;
            /* (failed, the wallets touched stay marked where they were:
             * their balances read more, never wrongly) */
            if (rc == OFFPAY_OK && c.marked > 0)
                rc = offpay__ledger_tx_on(l, k, wallet_marks_tx, &c);
            /* as long again without the lock before the next: writers
             * have at least half the time while a long backlog is
             * marked */
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (rc == OFFPAY_OK && c.more) {
                struct timespec d = {t1.tv_sec - t0.tv_sec,
                                     t1.tv_nsec - t0.tv_nsec};

                if (d.tv_nsec < 0) {
                    d.tv_sec--;
                    d.tv_nsec += 1000000000L;
                }
                nanosleep(&d, NULL);
            }
        }
        left |= rc != OFFPAY_OK || c.more;
        if (first == OFFPAY_OK)
            first = rc;
    }
    if (marked != NULL)
        *marked = total;
    if (more != NULL)
        *more = left;
    return first;
}

/* ---- the audit ------------------------------------------------------ */

static offpay_err audit_tx(offpay_ledger *l, void *p)
{
    return l->ops->audit(l->store, p);
}

offpay_err offpay_ledger_audit_shard(offpay_ledger *l, size_t k,
                                     offpay_audit_report *r)
{
    offpay__audit_facts f;
    offpay_err          rc;

    if (l == NULL || r == NULL || k >= l->n_shards)
        return OFFPAY_EINVAL;
    memset(&f, 0, sizeof f);
    rc = offpay__ledger_read_on(l, k, audit_tx, &f);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay__audit_report_from(&f, r);
}

offpay_err offpay__audit_report_from(const offpay__audit_facts *f,
                                     offpay_audit_report       *r)
{
    memset(r, 0, sizeof *r);
    memcpy(r->money, f->money, f->n_money * sizeof *f->money);
    r->n_money = f->n_money;
    r->money_more = f->money_more;
    r->money_mismatch = f->money_mismatch;
    r->accounts = f->accounts;
    r->transfers = f->transfers;
    r->imbalanced = f->imbalanced;
    r->negative = f->negative;
    r->escrow_mismatch = f->escrow_mismatch;
    r->settle_mismatch = f->settle_mismatch;
    r->release_mismatch = f->release_mismatch;
    r->request_mismatch = f->request_mismatch;
    r->refund_mismatch = f->refund_mismatch;
    r->newest_transfer_at = f->newest_at;
    r->mark_mismatch = f->mark_mismatch;
    r->case_mismatch = f->case_mismatch;
    r->result_mismatch = f->result_mismatch;
    r->fund_mismatch = f->fund_mismatch;
    r->trail_mismatch = f->trail_mismatch;
    if (f->imbalanced || f->negative || f->escrow_mismatch ||
        f->settle_mismatch || f->release_mismatch || f->request_mismatch ||
        f->refund_mismatch || f->money_mismatch || f->mark_mismatch ||
        f->case_mismatch || f->result_mismatch || f->fund_mismatch ||
        f->trail_mismatch)
        return OFFPAY_EAUDIT;
    return OFFPAY_OK;
}

/* Adds one shard's money of a currency into r's (kept ascending by
 * currency; past the cap, money_more). */
static void money_merge(offpay_audit_report *r, const offpay_audit_money *m)
{
    size_t i = 0;

    while (i < r->n_money && r->money[i].currency < m->currency)
        i++;
    if (i < r->n_money && r->money[i].currency == m->currency) {
        r->money[i].inside += m->inside;
        r->money[i].deposits_net += m->deposits_net;
        r->money[i].owed += m->owed;
        return;
    }
    if (r->n_money == OFFPAY_AUDIT_CURRENCIES_MAX) {
        r->money_more = 1;
        return;
    }
    memmove(&r->money[i + 1], &r->money[i],
            (r->n_money - i) * sizeof r->money[0]);
    r->money[i] = *m;
    r->n_money++;
}

/* Every shard conserves money on its own (its accounts sum to its own
 * deposits minus withdrawals, per currency: no transfer crosses shards),
 * so the ledger does; r holds the sums over the shards, per currency. */
offpay_err offpay_ledger_audit(offpay_ledger *l, offpay_audit_report *r)
{
    offpay_audit_report one;
    offpay_err          rc = OFFPAY_OK, worst = OFFPAY_OK;

    if (l == NULL || r == NULL)
        return OFFPAY_EINVAL;
    memset(r, 0, sizeof *r);
    for (size_t k = 0; k < l->n_shards; k++) {
        rc = offpay_ledger_audit_shard(l, k, &one);
        if (rc != OFFPAY_OK && rc != OFFPAY_EAUDIT)
            return rc;
        if (rc == OFFPAY_EAUDIT)
            worst = rc;
        for (size_t i = 0; i < one.n_money; i++)
            money_merge(r, &one.money[i]);
        r->money_more |= one.money_more;
        r->money_mismatch += one.money_mismatch;
        r->accounts += one.accounts;
        r->transfers += one.transfers;
        r->imbalanced += one.imbalanced;
        r->negative += one.negative;
        r->escrow_mismatch += one.escrow_mismatch;
        r->settle_mismatch += one.settle_mismatch;
        r->release_mismatch += one.release_mismatch;
        r->request_mismatch += one.request_mismatch;
        r->refund_mismatch += one.refund_mismatch;
        r->mark_mismatch += one.mark_mismatch;
        r->case_mismatch += one.case_mismatch;
        r->result_mismatch += one.result_mismatch;
        r->fund_mismatch += one.fund_mismatch;
        r->trail_mismatch += one.trail_mismatch;
        if (one.newest_transfer_at > r->newest_transfer_at)
            r->newest_transfer_at = one.newest_transfer_at;
    }
    return worst;
}
