/*
 * main.c — entry point of the offpay command-line tool: dispatches to the
 * subcommand groups (issuer, wallet, terminal, decode).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/oserr.h"

static const char help[] =
    "offpay — offline QR-code payments\n"
    "\n"
    "Usage: offpay COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  issuer    the issuer's offline key ceremony: init, wallet-credential,\n"
    "            terminal-credential, revoke, publish, add-key, retire-key,\n"
    "            migrate, show\n"
    "  wallet    the payer: init, key, add-credential, sync, balance, pay,\n"
    "            pay-request, receipt, log, show-code, upload, enroll,\n"
    "            allowance, passphrase, backup, restore, report-lost, nfc\n"
    "  terminal  the merchant: init, key, set-credential, sync, risk,\n"
    "            request, accept, receipt, journal, status, export, rotate,\n"
    "            decommission, nfc\n"
    "  decode    print any offpay code in human form and as JSON\n"
    "  admin     the operator on the settlement ledger: audit, release,\n"
    "            cases, case, evidence, enroll-code, revoke-wallet,\n"
    "            credential, revoke-credential, close-merchant,\n"
    "            label-terminal, revoke-terminal, transfers, statement,\n"
    "            report, guarantee, balances, digest, refund, deposit,\n"
    "            withdraw, merchants, accounts, lists, backup, copy-ledger,\n"
    "            unseal, skip-ids, void-codes, marks, terminals, keys,\n"
    "            actions\n"
    "  verify-evidence  check a case's evidence file offline (root key only)\n"
    "  version   print the version\n"
    "\n"
    "Run 'offpay COMMAND --help' for the subcommands of each, and\n"
    "'offpay COMMAND SUBCOMMAND --help' for one of them.\n"
    "\n"
    "Output files (--png, --svg, --out, --receipt-png) are written\n"
    "atomically; an existing file is replaced only with --force, and a\n"
    "wallet, a key, a journal or any file in a terminal's or issuer's\n"
    "directory never. An option taking a value may be given once.\n"
    "Options are given by their whole names (--account, never --acc).\n"
    "\n"
    "Passphrases are read from --passphrase-file FILE, else the\n"
    "OFFPAY_PASSPHRASE environment variable, else asked on the terminal.\n"
    "A new passphrase needs at least 8 characters. Prefer a passphrase\n"
    "file (mode 0600) or the prompt: an environment variable is seen by\n"
    "the shell that set it, its history, and every child it starts.\n"
    "offpay removes OFFPAY_PASSPHRASE from its own environment and wipes\n"
    "it from /proc/PID/environ as it starts, and it never dumps core.\n"
    "Files it writes are private (0600) unless meant to be handed out.\n";

static int run(int argc, char **argv)
{
    const char *cmd;

    if (offpay_init() != OFFPAY_OK) {
        fprintf(stderr, "offpay: cannot initialize the crypto library\n");
        return EXIT_FAILURE_IO;
    }
    if (cli_secure_start() != 0)
        return EXIT_FAILURE_IO;
    offpay_set_log(cli_log, NULL);
    if (argc < 2)
        return cli_usage_error("missing command");
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(help, stdout);
        fputs(cli_exit_help, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("offpay %s (protocol version %d)\n", offpay_version(),
               OFFPAY_PROTOCOL_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "issuer") == 0)
        return cli_issuer(argc - 1, argv + 1);
    if (strcmp(cmd, "wallet") == 0)
        return cli_wallet(argc - 1, argv + 1);
    if (strcmp(cmd, "terminal") == 0)
        return cli_terminal(argc - 1, argv + 1);
    if (strcmp(cmd, "decode") == 0)
        return cli_decode(argc - 1, argv + 1);
    if (strcmp(cmd, "admin") == 0)
        return cli_admin(argc - 1, argv + 1);
    if (strcmp(cmd, "verify-evidence") == 0)
        return cli_verify_evidence(argc - 1, argv + 1);
    return cli_usage_error("unknown command '%s'", cmd);
}

/* A command's status, unless its output was lost: a report written to a
 * full disk (or /dev/full) is not a success, so what stdio could not write
 * is said with the system's reason and fails the command (exit 3). */
int main(int argc, char **argv)
{
    int status = run(argc, argv);
    int e;

    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return status;
    e = errno != 0 ? errno : EIO;
    fprintf(stderr, "offpay: cannot write standard output: %s (%s)\n",
            offpay_strerror(offpay__errno_err(e)),
            offpay_errname(offpay__errno_err(e)));
    return status == EXIT_OK ? EXIT_FAILURE_IO : status;
}
