/*
 * issuer.c — `offpay issuer ...`: the issuer's offline key-ceremony tool
 * (create keys, issue credentials, revoke).
 */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/message_int.h"
#include "cli/cli.h"

static const char help[] =
    "Usage: offpay issuer SUBCOMMAND --dir DIR [OPTIONS]\n"
    "\n"
    "The issuer's offline key ceremony. DIR holds issuer.sealed (the signing\n"
    "keys and counters, sealed under the issuer passphrase), the public\n"
    "files root.pub, bundle.opb and revlist.opb (mode 0644) that wallets and\n"
    "terminals need, and issuer.lock (empty: the lock that lets one command\n"
    "at a time change the issuer; it stays). The root key is kept apart in\n"
    "root.sealed (default DIR/root.sealed, --root FILE), sealed under the\n"
    "root passphrase: move it to offline storage after init. Only init,\n"
    "add-key and retire-key need it; the other subcommands never read it.\n"
    "\n"
    "Subcommands:\n"
    "  init                 create a new issuer in DIR and its root key; DIR\n"
    "                       holding an issuer, its public files or its root\n"
    "                       file already is refused (exit 2, naming the\n"
    "                       file). A failed or refused init leaves DIR as\n"
    "                       it found it (nor a key it generated in the\n"
    "                       token): run it again\n"
    "      --key-uri URI      the first signing key (kid 1) is the Ed25519\n"
    "                         key in a PKCS#11 token, as with add-key: no\n"
    "                         signing key is ever sealed in issuer.sealed\n"
    "      --generate-key     with --key-uri: make the key pair in the token\n"
    "                         (under a label no private key there carries)\n"
    "  wallet-credential    issue a wallet credential\n"
    "      --wallet-key KEY   the wallet's public key (hex, or a file with "
    "it)\n"
    "      --limit AMOUNT     offline allowance, e.g. 100.00 (the\n"
    "                         currency's major unit, at most its decimals:\n"
    "                         1250 JPY, 12.500 KWD)\n"
    "      --currency CODE    ISO 4217 code, e.g. EUR\n"
    "      --days N           validity in days (default 30)\n"
    "      --no-unbound       refuse consumer-presented (unbound) codes\n"
    "      --out FILE         where to write the credential (binary, 0644;\n"
    "                         an existing FILE only with --force)\n"
    "  terminal-credential  issue a terminal credential; a terminal key seen\n"
    "                       before keeps its terminal id (renewal), a key\n"
    "                       of another merchant is refused\n"
    "      --terminal-key KEY the terminal's public key (hex, or a file)\n"
    "      --merchant-id N    the merchant's number\n"
    "      --name NAME        the name payers see (1-40 bytes of UTF-8)\n"
    "      --currency CODE    the currency the terminal charges in\n"
    "      --days N           validity in days (default 365)\n"
    "      --out FILE\n"
    "  revoke SERIAL        revoke an issued wallet credential; rewrites\n"
    "                       revlist.opb\n"
    "  publish              sign the revocation list afresh (issued now) and\n"
    "                       rewrite the public files. Run it daily: a\n"
    "                       terminal's offline clock (max-offline-hours, 72 "
    "h)\n"
    "                       restarts only when a sync brings something newer.\n"
    "                       With offpayd, terminals take offpayd's list\n"
    "                       instead (sync --server, or the files of 'offpay\n"
    "                       admin lists'): this one lacks the ledger's\n"
    "                       revocations, and the two are numbered apart (a\n"
    "                       terminal takes lists from one source only)\n"
    "  add-key              key rotation: a new signing key (--days, default\n"
    "                       730); rewrites bundle.opb for wallets and "
    "terminals\n"
    "      --key-uri URI      the new key is the Ed25519 key in a PKCS#11\n"
    "                         token (docs/pkcs11.md), e.g. pkcs11:token=\n"
    "                         offpay;object=issuer-kid-2?pin-source=file:\n"
    "                         /etc/offpay/pin; issuer.sealed keeps only its\n"
    "                         URI and public key, and every credential or\n"
    "                         list signed under it is signed in the token\n"
    "                         (PIN: pin-source or $OFFPAY_PKCS11_PIN, never\n"
    "                         pin-value; module: $OFFPAY_PKCS11_MODULE or\n"
    "                         SoftHSM2's)\n"
    "      --generate-key     with --key-uri: make the key pair in the token\n"
    "                         (under a label no private key there carries)\n"
    "  retire-key KID       withdraw a (compromised) signing key: bundle.opb\n"
    "                       without it; wallets and terminals refuse that kid\n"
    "                       after their next sync. The last key valid now\n"
    "                       cannot be retired (add-key first)\n"
    "  migrate              convert DIR from before the root key was kept\n"
    "                       apart: writes the root key to root.sealed\n"
    "  show                 print the root key and the trust bundle; with\n"
    "                       --passphrase-file also where each signing key\n"
    "                       is kept (sealed, or its token's URI), and a\n"
    "                       WARNING when a sealed key is valid now beside a\n"
    "                       key in a token (the passphrase offpayd is given\n"
    "                       opens it: retire it, docs/pkcs11.md §3)\n"
    "\n"
    "Common options: --dir DIR (required), --passphrase-file FILE.\n"
    "--out is checked before anything is issued and written atomically; it\n"
    "never replaces an existing file without --force, nor, even with --force,\n"
    "a sealed file (a wallet, a key), nor a file in a terminal's or issuer's\n"
    "directory. Times are printed in ISO 8601 (UTC).\n"
    "Root key options (init, add-key, retire-key, migrate): --root FILE,\n"
    "--root-passphrase-file FILE (default: the issuer passphrase file or\n"
    "OFFPAY_PASSPHRASE if given, else a prompt). init warns when the root\n"
    "key is sealed under the issuer's own passphrase, which offpayd holds:\n"
    "give the root key a passphrase kept off the server.\n";

typedef struct issuer_args {
    const char *dir, *pass_file, *wallet_key, *terminal_key, *limit, *currency,
        *name, *out, *merchant_id, *root, *root_pass_file, *key_uri;
    long days;
    int  no_unbound, force, generate_key;
} issuer_args;

static int parse_ulong(const char *s, unsigned long long max,
                       unsigned long long *v)
{
    char *end = NULL;

    errno = 0;
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -1;
    *v = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0' && *v <= max ? 0 : -1;
}

static int parse(int argc, char **argv, void *args)
{
    issuer_args               *a = args;
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"passphrase-file", required_argument, NULL, 'p'},
        {"wallet-key", required_argument, NULL, 'w'},
        {"terminal-key", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'l'},
        {"currency", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},
        {"merchant-id", required_argument, NULL, 'm'},
        {"days", required_argument, NULL, 'D'},
        {"no-unbound", no_argument, NULL, 'u'},
        {"root", required_argument, NULL, 'r'},
        {"root-passphrase-file", required_argument, NULL, 'R'},
        {"force", no_argument, NULL, 'f'},
        {"key-uri", required_argument, NULL, 'K'},
        {"generate-key", no_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long long v;
    uint64_t           seen = 0;
    int                c;

    memset(a, 0, sizeof *a);
    a->days = -1;
    optind = 1;
    while ((c = cli_getopt(argc, argv, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'd':
            a->dir = optarg;
            break;
        case 'p':
            a->pass_file = optarg;
            break;
        case 'w':
            a->wallet_key = optarg;
            break;
        case 't':
            a->terminal_key = optarg;
            break;
        case 'l':
            a->limit = optarg;
            break;
        case 'c':
            a->currency = optarg;
            break;
        case 'n':
            a->name = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'm':
            a->merchant_id = optarg;
            break;
        case 'u':
            a->no_unbound = 1;
            break;
        case 'r':
            a->root = optarg;
            break;
        case 'R':
            a->root_pass_file = optarg;
            break;
        case 'D':
            if (parse_ulong(optarg, 36500, &v) != 0 || v == 0)
                return cli_usage_error("--days: a number of days, 1..36500");
            a->days = (long)v;
            break;
        case 'f':
            a->force = 1;
            break;
        case 'K':
            a->key_uri = optarg;
            break;
        case 'G':
            a->generate_key = 1;
            break;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        case 'h':
            return -1; /* cli_dispatch prints the subcommand's help */
        default:
            return cli_usage_error("issuer: bad option");
        }
    }
    if (a->dir == NULL)
        return cli_usage_error("issuer: --dir DIR is required");
    return 0;
}

/* The root key's passphrase: --root-passphrase-file, else the issuer's
 * --passphrase-file, else a prompt. Free with cli_passphrase_free. */
static char *root_passphrase(const issuer_args *a, int confirm)
{
    if (a->root_pass_file != NULL)
        return cli_passphrase(a->root_pass_file, "Root key passphrase",
                              confirm);
    if (a->pass_file != NULL)
        return cli_passphrase(a->pass_file, "Root key passphrase", confirm);
    return cli_passphrase(
        NULL, confirm ? "New root key passphrase" : "Root key passphrase",
        confirm);
}

/* Writes a file meant to be handed out (a credential) through the checked
 * output writer (cli_output_write): mode 0644. */
static int write_handout(const issuer_args *a, const uint8_t *buf, size_t len)
{
    const char *path = a->out;

    if (cli_output_write("--out", path, a->force, buf, len) != 0)
        return -1;
    if (chmod(path, 0644) != 0) {
        fprintf(stderr, "offpay: %s: cannot make it readable: %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 when path (dir/name, or name alone when dir is NULL) exists. */
static int exists_at(const char *dir, const char *name)
{
    char        path[4200];
    struct stat st;

    if (dir == NULL)
        return lstat(name, &st) == 0;
    return snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path &&
           lstat(path, &st) == 0;
}

/* A failed or refused init: the library's reason (an issuer or its files
 * there already: which, and why it stays), then that nothing of the
 * attempt is left (it removed what it made: the directory, its files,
 * issuer.lock, a key it generated in the token; a line above says what it
 * could not), so init may simply run again once the reason is dealt
 * with. */
static int init_failed(const issuer_args *a, offpay_err rc)
{
    static const char *const pub[] = {"root.pub", "bundle.opb", "revlist.opb"};
    int                      status = -1;

    if (rc == OFFPAY_EEXISTS && exists_at(a->dir, "issuer.sealed")) {
        fprintf(stderr,
                "offpay: %s/issuer.sealed: an issuer is there already: init "
                "never replaces one (its keys and counters are only there); "
                "give another --dir (%s)\n",
                a->dir, offpay_errname(rc));
        status = EXIT_USAGE;
    } else if (rc == OFFPAY_EEXISTS &&
               exists_at(a->root != NULL ? NULL : a->dir,
                         a->root != NULL ? a->root : "root.sealed")) {
        fprintf(stderr,
                "offpay: %s%s: a root key file is there already: init never "
                "replaces one; give --root another path (%s)\n",
                a->root != NULL ? a->root : a->dir,
                a->root != NULL ? "" : "/root.sealed", offpay_errname(rc));
        status = EXIT_USAGE;
    }
    for (size_t i = 0;
         status < 0 && rc == OFFPAY_EEXISTS && i < sizeof pub / sizeof pub[0];
         i++)
        if (exists_at(a->dir, pub[i])) {
            fprintf(stderr,
                    "offpay: %s/%s: an issuer's public files are there "
                    "without its issuer.sealed: terminals and wallets may "
                    "pin their root key, so init does not replace them; "
                    "give another --dir (%s)\n",
                    a->dir, pub[i], offpay_errname(rc));
            status = EXIT_USAGE;
        }
    if (status >= 0) {
        fprintf(stderr,
                "offpay: issuer init: no issuer was made, and nothing in %s "
                "was changed\n",
                a->dir);
        return status;
    }
    status = cli_fail_at(NULL, "creating", a->dir, rc);
    fprintf(stderr,
            "offpay: issuer init: no issuer was made, and nothing of the "
            "attempt is left in %s (what was there before stays): run it "
            "again once the above is dealt with\n",
            a->dir);
    return status;
}

static int cmd_init(const void *args, const char *arg CLI_UNUSED)
{
    const issuer_args *a = args;
    offpay_issuer     *is = NULL;
    char      *pass = cli_passphrase(a->pass_file, "New issuer passphrase", 1);
    char      *root_pass = NULL;
    uint8_t    pk[OFFPAY_PK_BYTES];
    char       hex[65];
    int        same;
    offpay_err rc;

    if (a->generate_key && a->key_uri == NULL) {
        cli_passphrase_free(pass);
        return cli_usage_error("issuer init: --generate-key needs "
                               "--key-uri");
    }
    if (a->key_uri != NULL && !offpay_pkcs11_uri_storable(a->key_uri)) {
        cli_passphrase_free(pass);
        return cli_usage_error(
            "--key-uri: not a PKCS#11 URI that can be kept: it must name "
            "the key (object= or id=) and carry no pin-value (give the PIN "
            "by pin-source or %s) (EPKCS11_URI)",
            OFFPAY_PKCS11_PIN_ENV);
    }
    if (pass == NULL)
        return EXIT_FAILURE_IO;
    root_pass = root_passphrase(a, 1);
    if (root_pass == NULL) {
        cli_passphrase_free(pass);
        return EXIT_FAILURE_IO;
    }
    /* The root key under the issuer's own passphrase (the default when no
     * --root-passphrase-file is given): offpayd is given that passphrase,
     * so root.sealed left on the server, or a copy of it, opens there. */
    same = strlen(root_pass) == strlen(pass) &&
           sodium_memcmp(root_pass, pass, strlen(pass)) == 0;
    rc = a->key_uri != NULL
             ? offpay_issuer_create_in_token(a->dir, pass, a->root, root_pass,
                                             a->key_uri, a->generate_key,
                                             cli_now(), &is)
             : offpay_issuer_create_with_root(a->dir, pass, a->root, root_pass,
                                              cli_now(), &is);
    cli_passphrase_free(pass);
    cli_passphrase_free(root_pass);
    if (rc != OFFPAY_OK)
        return init_failed(a, rc);
    offpay_issuer_root_pk(is, pk);
    offpay_issuer_close(is);
    for (int i = 0; i < OFFPAY_PK_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", pk[i]);
    if (same)
        fprintf(stderr,
                "offpay: WARNING: the root key is sealed under the issuer's "
                "own passphrase%s, which offpayd is given: whoever has that "
                "passphrase and root.sealed can make issuer keys. Give "
                "--root-passphrase-file a passphrase kept off the server "
                "(docs/operations.md §2)\n",
                a->root_pass_file == NULL
                    ? " (no --root-passphrase-file was given)"
                    : " (--root-passphrase-file holds the same one)");
    if (a->key_uri != NULL)
        printf("signing key 1 is in the PKCS#11 token; issuer.sealed keeps "
               "its URI and public key only\n");
    printf("issuer created in %s\nroot key %s\n"
           "give root.pub and bundle.opb to wallets and terminals\n"
           "the root key is in %s%s: move it to offline storage; only "
           "add-key and retire-key need it (--root FILE)\n",
           a->dir, hex, a->root != NULL ? a->root : a->dir,
           a->root != NULL ? "" : "/root.sealed");
    return EXIT_OK;
}

static offpay_issuer *open_issuer(const issuer_args *a, int *status)
{
    offpay_issuer *is = NULL;
    char          *pass = cli_passphrase(a->pass_file, "Issuer passphrase", 0);
    offpay_err     rc;

    if (pass == NULL) {
        *status = EXIT_FAILURE_IO;
        return NULL;
    }
    rc = offpay_issuer_open(a->dir, pass, &is);
    cli_passphrase_free(pass);
    if (rc == OFFPAY_EVERSION) {
        fprintf(stderr,
                "offpay: %s: this issuer directory keeps the root key in "
                "issuer.sealed (the format before the root key was kept "
                "apart); convert it with 'offpay issuer migrate --dir %s', "
                "then move root.sealed to offline storage\n",
                a->dir, a->dir);
        *status = EXIT_FAILURE_IO;
        return NULL;
    }
    if (rc != OFFPAY_OK) {
        *status = cli_fail(a->dir, rc);
        return NULL;
    }
    return is;
}

/* open_issuer, then the root key for signing a bundle. */
static offpay_issuer *open_with_root(const issuer_args *a, int *status)
{
    offpay_issuer *is = open_issuer(a, status);
    char          *root_pass;
    offpay_err     rc;

    if (is == NULL)
        return NULL;
    root_pass = root_passphrase(a, 0);
    if (root_pass == NULL) {
        offpay_issuer_close(is);
        *status = EXIT_FAILURE_IO;
        return NULL;
    }
    rc = offpay_issuer_unlock_root(is, a->root, root_pass);
    cli_passphrase_free(root_pass);
    if (rc != OFFPAY_OK) {
        if (rc == OFFPAY_ENOTFOUND)
            fprintf(stderr,
                    "offpay: the root key file is not at %s%s: "
                    "give it with --root FILE\n",
                    a->root != NULL ? a->root : a->dir,
                    a->root != NULL ? "" : "/root.sealed");
        else if (rc == OFFPAY_EBUNDLE_SIG)
            fprintf(stderr, "offpay: that root key is not this issuer's "
                            "(it does not match root.pub)\n");
        *status = cli_fail("root key", rc);
        offpay_issuer_close(is);
        return NULL;
    }
    return is;
}

static uint32_t plus_days(uint32_t now, long days)
{
    uint64_t t = (uint64_t)now + (uint64_t)days * 86400u;

    return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static int cmd_wallet_cred(const void *args, const char *arg CLI_UNUSED)
{
    const issuer_args *a = args;
    offpay_issuer     *is;
    offpay_wallet_cred cred;
    uint8_t            pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    uint16_t           currency;
    int64_t            limit;
    size_t             len = 0;
    uint32_t           now = cli_now();
    char               money[64];
    int                status = EXIT_OK;
    offpay_err         rc;

    if (a->wallet_key == NULL || a->limit == NULL || a->currency == NULL ||
        a->out == NULL)
        return cli_usage_error("issuer wallet-credential: --wallet-key, "
                               "--limit, --currency and --out are required");
    if (cli_parse_key(a->wallet_key, pk) != 0 ||
        cli_currency(a->currency, &currency) != 0 ||
        cli_amount(a->limit, currency, &limit) != 0)
        return EXIT_USAGE;
    if (limit <= 0)
        return cli_usage_error("--limit: the allowance must be more than 0");
    if (limit > OFFPAY_WIRE_AMOUNT_MAX) {
        char most[64];

        return cli_usage_error(
            "--limit: at most %s",
            cli_money(OFFPAY_WIRE_AMOUNT_MAX, currency, most, sizeof most));
    }
    if ((status = cli_output_check("--out", a->out, a->force)) != 0)
        return status;
    is = open_issuer(a, &status);
    if (is == NULL)
        return status;
    rc = offpay_issuer_issue_wallet(
        is, pk, limit, currency, now,
        plus_days(now, a->days < 0 ? 30 : a->days),
        (uint8_t)(a->no_unbound ? 0 : OFFPAY_CRED_ALLOW_UNBOUND), &cred);
    offpay_issuer_close(is);
    if (rc == OFFPAY_EWEAK_KEY)
        return cli_usage_error("--wallet-key: not a usable Ed25519 public key "
                               "(non-canonical or small order)");
    if (rc != OFFPAY_OK)
        return cli_fail("cannot issue the wallet credential", rc);
    rc = offpay_wallet_cred_encode(&cred, buf, sizeof buf, &len);
    if (rc != OFFPAY_OK)
        return cli_fail("encode", rc);
    if (write_handout(a, buf, len) != 0)
        return EXIT_FAILURE_IO;
    printf("wallet credential serial %llu, limit %s, written to %s\n",
           (unsigned long long)cred.serial,
           cli_money(limit, currency, money, sizeof money), a->out);
    return EXIT_OK;
}

static int cmd_terminal_cred(const void *args, const char *arg CLI_UNUSED)
{
    const issuer_args   *a = args;
    offpay_issuer       *is;
    offpay_terminal_cred cred;
    uint8_t              pk[OFFPAY_PK_BYTES], buf[512];
    uint16_t             currency;
    unsigned long long   merchant;
    size_t               len = 0;
    uint32_t             now = cli_now();
    int                  status = EXIT_OK;
    offpay_err           rc;

    if (a->terminal_key == NULL || a->merchant_id == NULL || a->name == NULL ||
        a->currency == NULL || a->out == NULL)
        return cli_usage_error("issuer terminal-credential: --terminal-key, "
                               "--merchant-id, --name, --currency and --out "
                               "are required");
    if (parse_ulong(a->merchant_id, UINT64_MAX, &merchant) != 0)
        return cli_usage_error("--merchant-id: a non-negative number");
    /* a new name: none of the characters that show nothing either */
    if (!offpay__utf8_input_ok((const uint8_t *)a->name, strlen(a->name)))
        return cli_usage_error("--name: 1 to %d bytes of UTF-8 without "
                               "control characters or characters that "
                               "show nothing",
                               OFFPAY_NAME_MAX);
    if (cli_parse_key(a->terminal_key, pk) != 0 ||
        cli_currency(a->currency, &currency) != 0)
        return EXIT_USAGE;
    if ((status = cli_output_check("--out", a->out, a->force)) != 0)
        return status;
    is = open_issuer(a, &status);
    if (is == NULL)
        return status;
    rc = offpay_issuer_issue_terminal(
        is, merchant, pk, currency, a->name, now,
        plus_days(now, a->days < 0 ? 365 : a->days), &cred);
    offpay_issuer_close(is);
    if (rc == OFFPAY_EMALFORMED)
        return cli_usage_error("--name: 1 to %d bytes of UTF-8 without "
                               "control characters",
                               OFFPAY_NAME_MAX);
    if (rc == OFFPAY_EWEAK_KEY)
        return cli_usage_error("--terminal-key: not a usable Ed25519 public "
                               "key (non-canonical or small order)");
    if (rc == OFFPAY_EEXISTS) {
        fprintf(stderr, "offpay: this terminal key already has a credential "
                        "for another merchant; a terminal key belongs to "
                        "one merchant (EEXISTS)\n");
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("cannot issue the terminal credential", rc);
    rc = offpay_terminal_cred_encode(&cred, buf, sizeof buf, &len);
    if (rc != OFFPAY_OK)
        return cli_fail("encode", rc);
    if (write_handout(a, buf, len) != 0)
        return EXIT_FAILURE_IO;
    printf("terminal credential for \"%s\" (merchant %llu, terminal %u), "
           "written to %s\n",
           cred.name, merchant, cred.terminal_id, a->out);
    return EXIT_OK;
}

static int cmd_revoke(const void *args, const char *serial_text)
{
    const issuer_args *a = args;
    offpay_issuer     *is;
    unsigned long long serial;
    int                status = EXIT_OK;
    offpay_err         rc;

    if (serial_text == NULL ||
        parse_ulong(serial_text, UINT64_MAX, &serial) != 0)
        return cli_usage_error("issuer revoke: give the credential's serial");
    is = open_issuer(a, &status);
    if (is == NULL)
        return status;
    rc = offpay_issuer_revoke(is, serial, cli_now());
    offpay_issuer_close(is);
    if (rc == OFFPAY_EEXISTS) {
        printf("serial %llu was already revoked\n", serial);
        return EXIT_OK;
    }
    if (rc == OFFPAY_ENOT_ISSUED) {
        fprintf(stderr,
                "offpay: serial %llu was never issued by this "
                "issuer: nothing to revoke (ENOT_ISSUED)\n",
                serial);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("cannot revoke", rc);
    printf("serial %llu revoked; give %s/revlist.opb to the terminals\n",
           serial, a->dir);
    return EXIT_OK;
}

static int cmd_add_key(const void *args, const char *arg CLI_UNUSED)
{
    const issuer_args *a = args;
    offpay_issuer     *is;
    uint16_t           kid = 0;
    int                status = EXIT_OK;
    uint32_t           lifetime;
    offpay_err         rc;

    if (a->generate_key && a->key_uri == NULL)
        return cli_usage_error("issuer add-key: --generate-key needs "
                               "--key-uri");
    if (a->key_uri != NULL && !offpay_pkcs11_uri_storable(a->key_uri))
        return cli_usage_error(
            "--key-uri: not a PKCS#11 URI that can be kept: it must name "
            "the key (object= or id=) and carry no pin-value (give the PIN "
            "by pin-source or %s) (EPKCS11_URI)",
            OFFPAY_PKCS11_PIN_ENV);
    is = open_with_root(a, &status);
    if (is == NULL)
        return status;
    lifetime = (uint32_t)(a->days < 0 ? 730 : a->days) * 86400u;
    rc = a->key_uri != NULL
             ? offpay_issuer_add_key_in_token(is, cli_now(), lifetime,
                                              a->key_uri, a->generate_key, &kid)
             : offpay_issuer_add_key(is, cli_now(), lifetime, &kid);
    offpay_issuer_close(is);
    if (rc == OFFPAY_EEXISTS && a->key_uri != NULL && !a->generate_key) {
        fprintf(stderr, "offpay: cannot add a signing key: the token's key "
                        "is a key of the bundle already, or one retired (a "
                        "retired key never signs again: delete it in the "
                        "token, and make a new one with --generate-key) "
                        "(EEXISTS)\n");
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("cannot add a signing key", rc);
    printf("signing key %u added%s. With offpayd: send it SIGHUP (systemctl "
           "reload offpayd), and wallets and terminals take the new bundle "
           "from it at their next sync. Air-gapped terminals: give them "
           "%s/bundle.opb ('offpay terminal sync --bundle')\n",
           kid, a->key_uri != NULL ? " (in the PKCS#11 token)" : "", a->dir);
    return EXIT_OK;
}

static int cmd_retire_key(const void *args, const char *kid_text)
{
    const issuer_args *a = args;
    offpay_issuer     *is;
    unsigned long long kid;
    int                status = EXIT_OK;
    offpay_err         rc;

    if (kid_text == NULL || parse_ulong(kid_text, UINT16_MAX, &kid) != 0 ||
        kid == 0)
        return cli_usage_error("issuer retire-key: give the signing key's "
                               "kid (1..65535)");
    is = open_with_root(a, &status);
    if (is == NULL)
        return status;
    rc = offpay_issuer_retire_key(is, (uint16_t)kid, cli_now());
    offpay_issuer_close(is);
    if (rc == OFFPAY_EUNKNOWN_KID) {
        fprintf(stderr,
                "offpay: no signing key %llu in this issuer's "
                "bundle (EUNKNOWN_KID)\n",
                kid);
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_EKID_EXPIRED) {
        fprintf(stderr,
                "offpay: key %llu is the last signing key valid now; "
                "add one first ('offpay issuer add-key'), then "
                "retire it (EKID_EXPIRED)\n",
                kid);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("cannot retire the signing key", rc);
    printf("signing key %llu retired. With offpayd: send it SIGHUP now "
           "(systemctl reload offpayd; until then it signs with the "
           "retired key), and wallets and terminals take the new bundle "
           "and list from it at their next sync ('offpay admin lists' "
           "writes them for air-gapped terminals; this directory's "
           "revlist.opb lacks the ledger's revocations). Without offpayd: "
           "give %s/bundle.opb and %s/revlist.opb to wallets and "
           "terminals. After their sync they refuse credentials signed "
           "with key %llu: reissue those credentials, and rotate terminals "
           "whose own credential it signed ('offpay terminal status' warns "
           "of them)\n",
           kid, a->dir, a->dir, kid);
    return EXIT_OK;
}

static int cmd_migrate(const void *args, const char *arg CLI_UNUSED)
{
    const issuer_args *a = args;
    char              *pass, *root_pass;
    offpay_err         rc;

    pass = cli_passphrase(a->pass_file, "Issuer passphrase", 0);
    if (pass == NULL)
        return EXIT_FAILURE_IO;
    root_pass =
        root_passphrase(a, a->root_pass_file == NULL && a->pass_file == NULL);
    if (root_pass == NULL) {
        cli_passphrase_free(pass);
        return EXIT_FAILURE_IO;
    }
    rc = offpay_issuer_migrate(a->dir, pass, a->root, root_pass);
    cli_passphrase_free(pass);
    cli_passphrase_free(root_pass);
    if (rc == OFFPAY_EEXISTS) {
        fprintf(stderr,
                "offpay: %s is already in the current format, or "
                "the root file exists and holds another key (EEXISTS)\n",
                a->dir);
        return EXIT_USAGE; /* an output in the way, as the exit table says */
    }
    if (rc != OFFPAY_OK)
        return cli_fail(a->dir, rc);
    printf("migrated %s: the root key is now in %s%s; move it to offline "
           "storage\n",
           a->dir, a->root != NULL ? a->root : a->dir,
           a->root != NULL ? "" : "/root.sealed");
    return EXIT_OK;
}

static int cmd_publish(const void *args, const char *arg CLI_UNUSED)
{
    const issuer_args *a = args;
    offpay_issuer     *is;
    int                status = EXIT_OK;
    offpay_err         rc;

    is = open_issuer(a, &status);
    if (is == NULL)
        return status;
    rc = offpay_issuer_publish(is, cli_now());
    offpay_issuer_close(is);
    if (rc != OFFPAY_OK)
        return cli_fail("cannot publish", rc);
    printf("published %s/revlist.opb and %s/bundle.opb; terminals take them "
           "with 'offpay terminal sync --revlist ... --bundle ...'\n",
           a->dir, a->dir);
    return EXIT_OK;
}

static int cmd_show(const void *args, const char *arg CLI_UNUSED)
{
    const issuer_args  *a = args;
    char                path[4096];
    uint8_t             pk[OFFPAY_PK_BYTES];
    uint8_t            *bytes;
    size_t              len = 0;
    offpay_trust_bundle b;
    char                t1[32], t2[32];
    offpay_issuer      *is = NULL;
    uint16_t            sealed;
    offpay_err          rc;

    snprintf(path, sizeof path, "%s/root.pub", a->dir);
    if (cli_parse_key(path, pk) != 0)
        return EXIT_FAILURE_IO;
    snprintf(path, sizeof path, "%s/bundle.opb", a->dir);
    bytes = cli_read_file(path, 4096, &len);
    if (bytes == NULL)
        return EXIT_FAILURE_IO;
    rc = offpay_bundle_verify(bytes, len, pk, &b);
    free(bytes);
    if (rc != OFFPAY_OK)
        return cli_fail(path, rc);
    printf("root key ");
    for (int i = 0; i < OFFPAY_PK_BYTES; i++)
        printf("%02x", pk[i]);
    printf("\ntrust bundle sequence %u, issued %s\n", b.seq,
           cli_iso_time(b.issued_at, t1));
    if (a->pass_file != NULL) {
        /* where each key is kept: issuer.sealed, read without the lock */
        char *pass = cli_passphrase(a->pass_file, "Issuer passphrase", 0);

        if (pass == NULL)
            return EXIT_FAILURE_IO;
        rc = offpay_issuer_open_readonly(a->dir, pass, &is);
        cli_passphrase_free(pass);
        if (rc != OFFPAY_OK)
            return cli_fail(a->dir, rc);
    }
    for (unsigned i = 0; i < b.n_keys; i++) {
        char uri[OFFPAY_PKCS11_URI_MAX + 1];

        printf("  signing key %u valid %s .. %s", b.keys[i].kid,
               cli_iso_time(b.keys[i].valid_from, t1),
               cli_iso_time(b.keys[i].valid_until, t2));
        if (is != NULL &&
            offpay_issuer_key_uri(is, b.keys[i].kid, uri) == OFFPAY_OK)
            printf(", in the PKCS#11 token %s", uri);
        else if (is != NULL)
            printf(", sealed in issuer.sealed");
        printf("\n");
    }
    sealed = offpay_issuer_sealed_beside_token(is, cli_now());
    offpay_issuer_close(is);
    if (sealed != 0)
        fprintf(stderr,
                "offpay: WARNING: signing key %u is sealed in issuer.sealed "
                "and valid now beside a key in a PKCS#11 token: the issuer "
                "passphrase (which offpayd is given) opens it, and every "
                "wallet and terminal trusts what it signs. Retire it: "
                "'offpay issuer retire-key %u --dir %s --root FILE' "
                "(docs/pkcs11.md §3)\n",
                sealed, sealed, a->dir);
    return EXIT_OK;
}

int cli_issuer(int argc, char **argv)
{
    static const cli_sub subs[] = {
        {"init", 0, cmd_init, "root root-passphrase-file key-uri generate-key"},
        {"wallet-credential", 0, cmd_wallet_cred,
         "wallet-key limit currency days no-unbound out force"},
        {"terminal-credential", 0, cmd_terminal_cred,
         "terminal-key merchant-id name currency days out force"},
        {"revoke", 1, cmd_revoke, ""},
        {"add-key", 0, cmd_add_key,
         "root root-passphrase-file days key-uri generate-key"},
        {"retire-key", 1, cmd_retire_key, "root root-passphrase-file"},
        {"migrate", 0, cmd_migrate, "root root-passphrase-file"},
        {"publish", 0, cmd_publish, ""},
        {"show", 0, cmd_show, ""},
        {NULL, 0, NULL, NULL},
    };
    issuer_args a;

    return cli_dispatch("issuer", help, "dir passphrase-file", argc, argv,
                        parse, &a, subs);
}
