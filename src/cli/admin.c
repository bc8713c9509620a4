/*
 * admin.c — `offpay admin`: what an operator runs against the settlement
 * ledger itself (docs/settlement.md), with offpayd running or not:
 * `audit` recomputes every balance and checks conservation, `release`
 * returns the escrows that are due. The ledger is a SQLite file or a
 * PostgreSQL URL, as for offpayd --db.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/oserr.h"
#include "offpay/settle.h"

static const char help[] =
    "Usage: offpay admin COMMAND --db LEDGER [--json]\n"
    "\n"
    "The operator's commands on the settlement ledger (docs/settlement.md).\n"
    "LEDGER is offpayd's --db: a SQLite file, or a PostgreSQL URL such as\n"
    "postgresql://offpay@127.0.0.1:5432/ledger. Both commands are safe\n"
    "while offpayd runs on the same ledger.\n"
    "\n"
    "Commands:\n"
    "  audit     recompute every balance from the transfers and check\n"
    "            conservation, escrows, settlements and releases; exit 0\n"
    "            when everything holds, 1 (with the counts) when not\n"
    "  release   return every escrow whose credential expired more than the\n"
    "            upload grace ago to its wallet account, now (offpayd also\n"
    "            does it on its own schedule); each escrow once\n"
    "\n"
    "  --db LEDGER   the ledger (required)\n"
    "  --json        print one JSON object\n";

static int audit(offpay_ledger *l, int json)
{
    offpay_audit_report r;
    offpay_err          rc = offpay_ledger_audit(l, &r);

    if (rc != OFFPAY_OK && rc != OFFPAY_EAUDIT)
        return cli_fail("audit", rc);
    if (json) {
        printf("{\"ok\":%s,\"accounts\":%llu,\"transfers\":%llu,"
               "\"inside_minor\":%lld,\"deposits_net_minor\":%lld,"
               "\"imbalanced\":%llu,\"negative\":%llu,"
               "\"escrow_mismatch\":%llu,\"settle_mismatch\":%llu,"
               "\"release_mismatch\":%llu}\n",
               rc == OFFPAY_OK ? "true" : "false",
               (unsigned long long)r.accounts, (unsigned long long)r.transfers,
               (long long)r.inside, (long long)r.deposits_net,
               (unsigned long long)r.imbalanced, (unsigned long long)r.negative,
               (unsigned long long)r.escrow_mismatch,
               (unsigned long long)r.settle_mismatch,
               (unsigned long long)r.release_mismatch);
    } else {
        printf("accounts %llu, transfers %llu; money inside %lld, deposits "
               "less withdrawals %lld (minor units, all currencies)\n",
               (unsigned long long)r.accounts, (unsigned long long)r.transfers,
               (long long)r.inside, (long long)r.deposits_net);
        printf("currencies whose balances do not sum to zero: %llu\n"
               "wallet, escrow or guarantee balances below zero: %llu\n"
               "escrows whose stored remainder differs from their "
               "transfers: %llu\n"
               "settlements without exactly one settle transfer: %llu\n"
               "releases not done exactly once: %llu\n",
               (unsigned long long)r.imbalanced, (unsigned long long)r.negative,
               (unsigned long long)r.escrow_mismatch,
               (unsigned long long)r.settle_mismatch,
               (unsigned long long)r.release_mismatch);
        printf("%s\n",
               rc == OFFPAY_OK ? "audit passed" : "AUDIT FAILED (EAUDIT)");
    }
    return rc == OFFPAY_OK ? EXIT_OK : EXIT_REJECTED;
}

static int release(offpay_ledger *l, int json)
{
    size_t     n = 0;
    offpay_err rc = offpay_ledger_release_due(l, cli_now(), &n);

    if (rc != OFFPAY_OK)
        return cli_fail("release", rc);
    if (json)
        printf("{\"released\":%zu}\n", n);
    else
        printf("released %zu escrow(s)\n", n);
    return EXIT_OK;
}

int cli_admin(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char    prog[] = "offpay admin";
    const char    *db = NULL, *cmd;
    offpay_ledger *l = NULL;
    uint64_t       seen = 0;
    int            json = 0, c, status;
    offpay_err     rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        if (argc < 2)
            return cli_usage_error("admin: give a command (audit, release)");
        fputs(help, stdout);
        fputs(cli_exit_help, stdout);
        return EXIT_OK;
    }
    cmd = argv[1];
    if (strcmp(cmd, "audit") != 0 && strcmp(cmd, "release") != 0)
        return cli_usage_error("admin: unknown command '%s'", cmd);
    argv[1] = prog; /* getopt's messages name the whole command */
    optind = 1;
    while ((c = cli_getopt(argc - 1, argv + 1, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(help, stdout);
            fputs(cli_exit_help, stdout);
            return EXIT_OK;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        default:
            return cli_usage_error("admin %s: bad option", cmd);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("admin %s: unexpected argument '%s'", cmd,
                               argv[optind + 1]);
    if (db == NULL)
        return cli_usage_error("admin %s: --db LEDGER is required", cmd);
    /* Opening makes a missing SQLite ledger: an operator's typo must not
     * audit a new, empty one. */
    if (strncmp(db, "postgresql://", 13) != 0 &&
        strncmp(db, "postgres://", 11) != 0) {
        struct stat st;

        if (stat(db, &st) != 0)
            return cli_fail_at(NULL, "opening", db, offpay__errno_err(errno));
    }
    rc = offpay_ledger_open(db, NULL, &l);
    if (rc != OFFPAY_OK)
        return cli_fail_at(NULL, "opening", db, rc);
    status = strcmp(cmd, "audit") == 0 ? audit(l, json) : release(l, json);
    offpay_ledger_close(l);
    return status;
}
