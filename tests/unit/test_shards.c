/*
 * test_shards.c — the shard map (src/settle/shards.c, docs/scaling.md):
 * the parser accepts exactly the documented form and names the line and
 * the fault of everything else; routing sends an id to the shard whose
 * range holds it, and nowhere when none does. A ledger's location made
 * fit to print (offpay_ledger_redact) hides every form of a PostgreSQL
 * password and changes nothing else.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define U0 "postgresql://u@127.0.0.1:5432/a"
#define U1 "postgresql://u@127.0.0.1:5433/b"
#define U2 "postgres://u@127.0.0.1:5434/c"

static offpay_err parse(const char *text, offpay_shard_config *c, size_t *line,
                        const char **why)
{
    return offpay_shard_config_parse(text, strlen(text), c, line, why);
}

static void test_parse_valid(void)
{
    offpay_shard_config c;
    const char         *why = "x";
    size_t              line = 9;

    REQUIRE_OK(parse("# map\n"
                     "\n"
                     "shard 1-999 " U0 "\n"
                     "  \tshard\t1000-1999   " U1 "  \r\n"
                     "# the last line has no newline\n"
                     "shard 5000-9223372036854775807 " U2,
                     &c, &line, &why));
    CHECK(line == 0 && why == NULL);
    REQUIRE(c.n == 3);
    CHECK(c.shard[0].first == 1 && c.shard[0].last == 999);
    CHECK(c.shard[1].first == 1000 && c.shard[1].last == 1999);
    CHECK(c.shard[2].first == 5000 && c.shard[2].last == INT64_MAX);
    CHECK(strcmp(c.shard[0].url, U0) == 0);
    CHECK(strcmp(c.shard[1].url, U1) == 0);
    CHECK(strcmp(c.shard[2].url, U2) == 0);
    /* one shard: the unsharded case with a range */
    REQUIRE_OK(parse("shard 7-7 " U0 "\n", &c, NULL, NULL));
    CHECK(c.n == 1 && c.shard[0].first == 7 && c.shard[0].last == 7);
}

/* text must fail with want at line, its reason containing part. */
static void bad(const char *text, offpay_err want, size_t want_line,
                const char *part)
{
    offpay_shard_config c;
    const char         *why = NULL;
    size_t              line = 99;
    offpay_err          rc = parse(text, &c, &line, &why);

    if (rc != want || line != want_line || why == NULL ||
        strstr(why, part) == NULL) {
        fprintf(stderr,
                "text %s: got %s line %zu '%s', want %s line %zu '%s'\n", text,
                offpay_errname(rc), line, why ? why : "(null)",
                offpay_errname(want), want_line, part);
        offpay_test_failures++;
    }
    CHECK(c.n == 0); /* nothing half-parsed is left */
}

static void test_parse_errors(void)
{
    bad("", OFFPAY_EMALFORMED, 0, "names no shard");
    bad("# only\n\n", OFFPAY_EMALFORMED, 0, "names no shard");
    bad("shards 1-2 " U0, OFFPAY_EMALFORMED, 1, "shard FIRST-LAST URL");
    bad("SHARD 1-2 " U0, OFFPAY_EMALFORMED, 1, "shard FIRST-LAST URL");
    bad("shard 1-2", OFFPAY_EMALFORMED, 1, "URL is missing");
    bad("shard " U0, OFFPAY_EMALFORMED, 1, "FIRST-LAST");
    bad("shard 1 " U0, OFFPAY_EMALFORMED, 1, "FIRST-LAST");
    bad("shard 1- " U0, OFFPAY_EMALFORMED, 1, "FIRST-LAST");
    bad("shard -5 " U0, OFFPAY_EMALFORMED, 1, "FIRST-LAST");
    bad("shard +1-5 " U0, OFFPAY_EMALFORMED, 1, "FIRST-LAST");
    bad("shard 01-5 " U0, OFFPAY_EMALFORMED, 1, "leading zero");
    bad("shard 1-5-6 " U0, OFFPAY_EMALFORMED, 1, "FIRST-LAST");
    bad("shard 0-5 " U0, OFFPAY_EMALFORMED, 1, "1 <= FIRST");
    bad("shard 6-5 " U0, OFFPAY_EMALFORMED, 1, "1 <= FIRST");
    bad("shard 1-9223372036854775808 " U0, OFFPAY_EMALFORMED, 1,
        "9223372036854775807");
    bad("shard 1-99999999999999999999 " U0, OFFPAY_EMALFORMED, 1, "FIRST-LAST");
    bad("shard 1-5 " U0 "\nshard 5-9 " U1, OFFPAY_EMALFORMED, 2, "overlapping");
    bad("shard 10-20 " U0 "\n\nshard 1-5 " U1, OFFPAY_EMALFORMED, 3, "ascend");
    bad("shard 1-5 " U0 "\nshard 6-9 " U0, OFFPAY_EMALFORMED, 2, "same URL");
    bad("shard 1-5 ledger.db", OFFPAY_EMALFORMED, 1, "PostgreSQL URL");
    bad("shard 1-5 postgresql://", OFFPAY_EMALFORMED, 1, "PostgreSQL URL");
    bad("shard 1-5 " U0 " extra", OFFPAY_EMALFORMED, 1, "after the URL");
    bad("shard 1-5 postgresql://u@h/\x01x", OFFPAY_EMALFORMED, 1, "printable");
    bad("shard 1-5 " U0 "\rx\n", OFFPAY_EMALFORMED, 1, "NUL or CR");
}

static void test_parse_bounds(void)
{
    char               *text = malloc(OFFPAY_SHARD_FILE_MAX + 2);
    char                url[OFFPAY_SHARD_URL_MAX + 2];
    offpay_shard_config c;
    const char         *why = NULL;
    size_t              line = 0, n = 0, last = 0;
    static const char   nul[] = "shard 1-2 " U0 "\0";

    REQUIRE(text != NULL);
    /* OFFPAY_SHARDS_MAX shards, then one more */
    for (int k = 0; k <= OFFPAY_SHARDS_MAX; k++) {
        last = n;
        n +=
            (size_t)snprintf(text + n, 200, "shard %d-%d postgresql://h/db%d\n",
                             k * 10 + 1, k * 10 + 10, k);
    }
    CHECK_ERR(offpay_shard_config_parse(text, n, &c, &line, &why),
              OFFPAY_ETOOBIG);
    CHECK(line == OFFPAY_SHARDS_MAX + 1);
    /* without the last line */
    CHECK_ERR(offpay_shard_config_parse(text, last, &c, NULL, NULL), OFFPAY_OK);
    CHECK(c.n == OFFPAY_SHARDS_MAX);
    /* a URL of the longest length, then one byte longer */
    memcpy(url, "postgresql://", 13);
    memset(url + 13, 'a', OFFPAY_SHARD_URL_MAX - 13);
    url[OFFPAY_SHARD_URL_MAX] = '\0';
    snprintf(text, OFFPAY_SHARD_FILE_MAX, "shard 1-2 %s", url);
    CHECK_ERR(parse(text, &c, NULL, NULL), OFFPAY_OK);
    snprintf(text, OFFPAY_SHARD_FILE_MAX, "shard 1-2 %sa", url);
    CHECK_ERR(parse(text, &c, &line, &why), OFFPAY_ETOOBIG);
    CHECK(line == 1);
    /* a line over OFFPAY_SHARD_LINE_MAX, a text over the file bound */
    memset(text, '#', OFFPAY_SHARD_LINE_MAX + 1);
    CHECK_ERR(offpay_shard_config_parse(text, OFFPAY_SHARD_LINE_MAX + 1, &c,
                                        &line, &why),
              OFFPAY_ETOOBIG);
    CHECK(line == 1);
    memset(text, '\n', OFFPAY_SHARD_FILE_MAX + 1);
    CHECK_ERR(offpay_shard_config_parse(text, OFFPAY_SHARD_FILE_MAX + 1, &c,
                                        &line, &why),
              OFFPAY_ETOOBIG);
    /* a NUL inside the text */
    CHECK_ERR(offpay_shard_config_parse(nul, sizeof nul - 1, &c, &line, &why),
              OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_shard_config_parse(NULL, 0, &c, NULL, NULL),
              OFFPAY_EINVAL);
    free(text);
}

static void test_load(void)
{
    char                path[512];
    offpay_shard_config c;
    const char         *why = NULL;
    size_t              line = 0;
    FILE               *f;

    snprintf(path, sizeof path, "%s/shards.conf", offpay_test_tmpdir());
    CHECK_ERR(offpay_shard_config_load(path, &c, &line, &why), OFFPAY_EIO);
    CHECK(why != NULL && strstr(why, "cannot be read") != NULL);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("shard 1-10 " U0 "\nshard 11-20 " U1 "\n", f);
    fclose(f);
    REQUIRE_OK(offpay_shard_config_load(path, &c, &line, &why));
    CHECK(c.n == 2);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("shard 1-10 " U0 "\nshard 10-20 " U1 "\n", f);
    fclose(f);
    CHECK_ERR(offpay_shard_config_load(path, &c, &line, &why),
              OFFPAY_EMALFORMED);
    CHECK(line == 2);
}

static void test_route(void)
{
    offpay_shard_config c;

    REQUIRE_OK(parse("shard 1-999 " U0 "\nshard 1000-1999 " U1
                     "\nshard 5000-9223372036854775807 " U2,
                     &c, NULL, NULL));
    CHECK(offpay_shard_config_route(&c, 0) == -1);
    CHECK(offpay_shard_config_route(&c, 1) == 0);
    CHECK(offpay_shard_config_route(&c, 999) == 0);
    CHECK(offpay_shard_config_route(&c, 1000) == 1);
    CHECK(offpay_shard_config_route(&c, 1999) == 1);
    CHECK(offpay_shard_config_route(&c, 2000) == -1); /* the gap */
    CHECK(offpay_shard_config_route(&c, 4999) == -1);
    CHECK(offpay_shard_config_route(&c, 5000) == 2);
    CHECK(offpay_shard_config_route(&c, INT64_MAX) == 2);
    CHECK(offpay_shard_config_route(&c, (uint64_t)INT64_MAX + 1) == -1);
    CHECK(offpay_shard_config_route(&c, UINT64_MAX) == -1);
    CHECK(offpay_shard_config_route(NULL, 1) == -1);
    /* every id of a small map goes where a linear scan says */
    REQUIRE_OK(parse("shard 3-5 " U0 "\nshard 6-6 " U1 "\nshard 9-12 " U2, &c,
                     NULL, NULL));
    for (uint64_t id = 0; id < 20; id++) {
        int want = -1;

        for (size_t k = 0; k < c.n; k++)
            if (id >= c.shard[k].first && id <= c.shard[k].last)
                want = (int)k;
        CHECK(offpay_shard_config_route(&c, id) == want);
    }
}

/* Whether a map's ranges hold every id of a range: what opening a ledger
 * checks against the ranges recorded by the map it was last opened with. */
static void test_covers(void)
{
    offpay_shard_config c;

    REQUIRE_OK(parse("shard 1-999 " U0 "\nshard 1000-1999 " U1
                     "\nshard 5000-9223372036854775807 " U2,
                     &c, NULL, NULL));
    CHECK(offpay_shard_config_covers(&c, 1, 999) == 1);
    CHECK(offpay_shard_config_covers(&c, 1, 1999) == 1); /* two lines */
    CHECK(offpay_shard_config_covers(&c, 500, 1500) == 1);
    CHECK(offpay_shard_config_covers(&c, 1, 2000) == 0); /* into the gap */
    CHECK(offpay_shard_config_covers(&c, 1999, 5000) == 0);
    CHECK(offpay_shard_config_covers(&c, 2000, 4999) == 0);
    CHECK(offpay_shard_config_covers(&c, 0, 10) == 0);
    CHECK(offpay_shard_config_covers(&c, 5000, INT64_MAX) == 1);
    CHECK(offpay_shard_config_covers(&c, 5000, (uint64_t)INT64_MAX + 1) == 0);
    CHECK(offpay_shard_config_covers(&c, 7, 7) == 1);
    CHECK(offpay_shard_config_covers(&c, 8, 7) == 0);
    CHECK(offpay_shard_config_covers(NULL, 1, 1) == 0);
    /* a line left out: its range is no longer held */
    REQUIRE_OK(parse("shard 1-999 " U0 "\nshard 5000-6000 " U2, &c, NULL,
                     NULL));
    CHECK(offpay_shard_config_covers(&c, 1000, 1999) == 0);
    CHECK(offpay_shard_config_covers(&c, 1, 999) == 1);
    /* adjacent lines join; every small range agrees with a linear scan */
    REQUIRE_OK(parse("shard 3-5 " U0 "\nshard 6-6 " U1 "\nshard 9-12 " U2, &c,
                     NULL, NULL));
    for (uint64_t a = 0; a < 15; a++)
        for (uint64_t b = a; b < 15; b++) {
            int want = 1;

            for (uint64_t id = a; id <= b; id++)
                if (offpay_shard_config_route(&c, id) < 0)
                    want = 0;
            CHECK(offpay_shard_config_covers(&c, a, b) == want);
        }
}

/* A ledger that cannot be opened from its shard map says why. */
static void test_ledger_open_errors(void)
{
    char           path[512];
    offpay_ledger *l = NULL;
    FILE          *f;

    snprintf(path, sizeof path, "shards:%s/missing.conf", offpay_test_tmpdir());
    CHECK_ERR(offpay_ledger_open(path, NULL, &l), OFFPAY_EIO);
    CHECK(l == NULL);
    snprintf(path, sizeof path, "%s/bad.conf", offpay_test_tmpdir());
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("shard 1-10 ledger.db\n", f);
    fclose(f);
    snprintf(path, sizeof path, "shards:%s/bad.conf", offpay_test_tmpdir());
    CHECK_ERR(offpay_ledger_open(path, NULL, &l), OFFPAY_EMALFORMED);
    CHECK(l == NULL);
}

/* What the sink of offpay_set_log was given, and how often. */
static char logged[2048];
static int  n_logged;

static void capture(void *ctx, const char *line)
{
    (*(int *)ctx)++;
    n_logged++;
    snprintf(logged, sizeof logged, "%s", line);
}

/* The library's diagnostic lines go to the program's sink, one call a
 * line without its newline, from a real failure (a PostgreSQL ledger
 * nobody listens for); with no sink, nowhere; offpay_log_stderr is the
 * default, set back. */
static void test_log_sink(void)
{
    const char    *url = "postgresql://offpay@127.0.0.1:1/none";
    offpay_ledger *l = NULL;
    int            calls = 0;

    offpay_set_log(capture, &calls);
    CHECK(offpay_ledger_open(url, NULL, &l) != OFFPAY_OK && l == NULL);
    CHECK(n_logged == 1 && calls == 1);
    CHECK(strncmp(logged, "offpay: PostgreSQL: ", 20) == 0 &&
          strlen(logged) > 20 && logged[strlen(logged) - 1] != '\n');
    offpay_set_log(NULL, NULL);
    CHECK(offpay_ledger_open(url, NULL, &l) != OFFPAY_OK && l == NULL);
    CHECK(n_logged == 1);
    offpay_set_log(offpay_log_stderr, NULL);
}

/* The backend a ledger path names, as offpay_ledger_open picks it (and
 * offpayd its default items per transaction). */
static void test_backend_of(void)
{
    CHECK(offpay_ledger_backend_of("shards:/etc/offpay/shards.conf") ==
          OFFPAY_LEDGER_SHARDS);
    CHECK(offpay_ledger_backend_of("postgresql://offpay@127.0.0.1/ledger") ==
          OFFPAY_LEDGER_POSTGRES);
    CHECK(offpay_ledger_backend_of("postgres://offpay@127.0.0.1/ledger") ==
          OFFPAY_LEDGER_POSTGRES);
    CHECK(offpay_ledger_backend_of("ledger.db") == OFFPAY_LEDGER_SQLITE);
    CHECK(offpay_ledger_backend_of("./shards:x") == OFFPAY_LEDGER_SQLITE);
    CHECK(offpay_ledger_backend_of("POSTGRESQL://x") == OFFPAY_LEDGER_SQLITE);
    CHECK(offpay_ledger_backend_of("") == OFFPAY_LEDGER_SQLITE);
    CHECK(offpay_ledger_backend_of(NULL) == OFFPAY_LEDGER_SQLITE);
}

/* path made fit to print must read want, and say whether it hid a
 * password. */
static void shown(const char *path, const char *want, int want_hidden)
{
    char out[256];
    int  hidden = -1;

    CHECK_ERR(offpay_ledger_redact(path, out, sizeof out, &hidden), OFFPAY_OK);
    if (strcmp(out, want) != 0 || hidden != want_hidden) {
        CHECK(strcmp(out, want) == 0);
        CHECK(hidden == want_hidden);
        fprintf(stderr, "    %s shown as %s (hidden %d), not %s\n", path, out,
                hidden, want);
    }
}

static void test_redact(void)
{
    char out[64];
    int  hidden = -1;

    /* a URL's password, in the user part and in the query */
    shown("postgresql://user:PGSECRETPW@127.0.0.1:1/db",
          "postgresql://user:***@127.0.0.1:1/db", 1);
    shown("postgres://u:p@h/db", "postgres://u:***@h/db", 1);
    shown("postgresql://u:pw@h1:5432,h2:5433/db?sslmode=require",
          "postgresql://u:***@h1:5432,h2:5433/db?sslmode=require", 1);
    shown("postgresql://u@h/db?sslmode=require&password=PW&x=1",
          "postgresql://u@h/db?sslmode=require&password=***&x=1", 1);
    shown("postgresql://u@h/db?password=PW", "postgresql://u@h/db?password=***",
          1);
    shown("postgresql://u:a@h/db?password=b&connect_timeout=5",
          "postgresql://u:***@h/db?password=***&connect_timeout=5", 1);
    /* libpq decodes a parameter's name too: %70assword is password */
    shown("postgresql://u@h/db?%70assword=qq&x=1",
          "postgresql://u@h/db?%70assword=***&x=1", 1);
    shown("postgresql://u@h/db?pass%77ord=qq",
          "postgresql://u@h/db?pass%77ord=***", 1);
    shown("postgresql://u@h/db?%70asswordx=qq&passwor=q",
          "postgresql://u@h/db?%70asswordx=qq&passwor=q", 0);
    /* nothing to hide: no password, an empty one, a user-less host, a
     * '@' past the path, a passfile named */
    shown("postgresql://offpay@127.0.0.1:5432/ledger",
          "postgresql://offpay@127.0.0.1:5432/ledger", 0);
    shown("postgresql://u:@h/db", "postgresql://u:@h/db", 0);
    shown("postgresql://h:5432/db", "postgresql://h:5432/db", 0);
    shown("postgresql://h/db@x", "postgresql://h/db@x", 0);
    shown("postgresql://u@h/db?passfile=/etc/offpay/pgpass",
          "postgresql://u@h/db?passfile=/etc/offpay/pgpass", 0);
    /* a key/value string: plain, spaced, quoted with escapes */
    shown("host=h password=PW dbname=d", "host=h password=*** dbname=d", 1);
    shown("password = PW", "password = ***", 1);
    shown("host=h password='a b\\' c' user=u", "host=h password=*** user=u", 1);
    shown("host=h passfile=/p mypassword=x", "host=h passfile=/p mypassword=x",
          0);
    /* a SQLite file and a shard map as they are */
    shown("/var/lib/offpay/ledger.db", "/var/lib/offpay/ledger.db", 0);
    shown("shards:/etc/offpay/shards.conf", "shards:/etc/offpay/shards.conf",
          0);
    shown("", "", 0);
    /* cut where out ends, never inside the password */
    CHECK_ERR(offpay_ledger_redact("postgresql://user:PGSECRETPW@h/db", out, 24,
                                   &hidden),
              OFFPAY_ETOOBIG);
    CHECK(strcmp(out, "postgresql://user:***@h") == 0 && hidden == 1);
    CHECK_ERR(offpay_ledger_redact("postgresql://user:PGSECRETPW@h/db", out, 20,
                                   NULL),
              OFFPAY_ETOOBIG);
    CHECK(strcmp(out, "postgresql://user:*") == 0);
    CHECK_ERR(offpay_ledger_redact(NULL, out, sizeof out, &hidden),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_redact("x", out, 0, NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_redact("x", NULL, 1, NULL), OFFPAY_EINVAL);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"parse_valid", test_parse_valid},
        {"parse_errors", test_parse_errors},
        {"parse_bounds", test_parse_bounds},
        {"load", test_load},
        {"route", test_route},
        {"covers", test_covers},
        {"ledger_open_errors", test_ledger_open_errors},
        {"backend_of", test_backend_of},
        {"redact", test_redact},
        {"log_sink", test_log_sink},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
