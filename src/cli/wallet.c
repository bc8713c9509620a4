/*
 * wallet.c — `offpay wallet ...`: the payer's side (make codes, answer a
 * merchant's request after confirming it, take receipts, balances).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/unixtime.h"
#include "offpay/verify.h"

/* A terminal's default request-ttl (offpay_risk): an older request is
 * paid with a warning. */
#define REQUEST_TTL_DEFAULT 300u
/* The clock skew a terminal allows by default (offpay_risk_defaults). */
#define CLOCK_SKEW_DEFAULT 120u

static const char help[] =
    "Usage: offpay wallet SUBCOMMAND --wallet FILE [OPTIONS]\n"
    "\n"
    "The payer's wallet: one file, encrypted under the wallet passphrase.\n"
    "\n"
    "Subcommands:\n"
    "  init            create a wallet (a fresh key pair on this device)\n"
    "      --root KEY      the issuer's root public key (hex, or root.pub)\n"
    "      --bundle FILE   the issuer's trust bundle (bundle.opb)\n"
    "  key             print the wallet's public key (for the issuer)\n"
    "  add-credential FILE   store a credential from the issuer (the file\n"
    "                    it wrote, or the base64 'credential' offpayd\n"
    "                    answers, saved as text); in a restored wallet\n"
    "                    frozen until 'wallet sync', as the backup's\n"
    "  sync            with --bundle FILE: take a newer trust bundle "
    "(offline);\n"
    "                  else the settlement sync with offpayd (the server\n"
    "                  enrolled with, or --server URL): uploads the log,\n"
    "                  prints each code's status (and its receipts' as\n"
    "                  upload does), raises each credential's\n"
    "                  counter above the highest the server saw (a restored\n"
    "                  credential is frozen until then, and unfrozen at a\n"
    "                  range of counters offpayd hands out once, so two\n"
    "                  copies of one backup never share one), releases what\n"
    "                  settlement did not take, installs credentials issued\n"
    "                  to this key, asks a new allowance (from the account's\n"
    "                  balance, less what it holds for a released\n"
    "                  credential's late codes until their late window\n"
    "                  ends: none when that is all, saying until when)\n"
    "                  when every usable credential is close to\n"
    "                  expiry or nearly spent, or all have expired (not\n"
    "                  for a revoked one), takes the newest trust\n"
    "                  bundle, and prints the balances side by side:\n"
    "                  account (and its held part), escrow, available.\n"
    "                  A renewal offpayd refuses is a warning: the rest\n"
    "                  is synced, exit 0. A credential whose codes\n"
    "                  offpayd refused ENOT_ISSUED and that it does not\n"
    "                  list (its ledger restored from a backup older than\n"
    "                  the credential) is frozen for good: said with a\n"
    "                  WARNING, exit 1. While it waits on\n"
    "                  offpayd the wallet can pay (in other processes):\n"
    "                  codes made after the sync began go at the next\n"
    "                  sync. A second sync or an allowance of the wallet\n"
    "                  while one runs stops at once (EBUSY, exit 3)\n"
    "      --renew-days N      renew within N days of expiry (default 3)\n"
    "      --renew-below PCT   renew below PCT% of the limit (default 10)\n"
    "      --no-renew          never renew\n"
    "  enroll          make this wallet's account at offpayd with the\n"
    "                  operator's one-time code (offpay admin enroll-code);\n"
    "                  the wallet remembers the server and account\n"
    "      --server URL --code CODE   (both required)\n"
    "  allowance       ask offpayd for a credential of --amount AMOUNT from\n"
    "                  the wallet's account (moved into escrow) and install "
    "it\n"
    "                  (interrupted, or its answer lost: the same allowance\n"
    "                  again, or 'wallet sync', takes what offpayd made,\n"
    "                  never a second escrow; another amount is refused\n"
    "                  until then)\n"
    "      --amount AMOUNT (required)   --expires UNIXTIME (optional)\n"
    "      (AMOUNT: 12.50 EUR, 1250 JPY, 12.500 KWD; at most the\n"
    "      currency's decimals, no sign)\n"
    "      --server URL    (default: the server enrolled with)\n"
    "  passphrase      seal the wallet under a new passphrase (its\n"
    "                  credentials, counters and log unchanged); the old\n"
    "                  one opens it no more\n"
    "      --new-passphrase-file FILE   (else asked twice on the terminal;\n"
    "                  never taken from OFFPAY_PASSPHRASE)\n"
    "  backup          write the wallet's key, root, bundle, credentials and\n"
    "                  server, sealed under a backup passphrase; never its\n"
    "                  counters\n"
    "      --out FILE --backup-passphrase-file FILE   (both required; FILE\n"
    "                  must not exist: a backup never replaces a file)\n"
    "  restore         make a new wallet (--wallet FILE, must not exist) from\n"
    "                  a backup: every credential frozen until 'wallet sync'\n"
    "                  is handed a range of counters by offpayd (above the\n"
    "                  highest it saw, and above what a copy restored\n"
    "                  before was handed)\n"
    "                  offpayd cannot count what the lost device paid that\n"
    "                  no terminal uploaded yet: spending the restored\n"
    "                  allowance can then overspend it and get it revoked;\n"
    "                  after losing a device with recent payments, rather\n"
    "                  'wallet report-lost' and take a new allowance\n"
    "      --from FILE --backup-passphrase-file FILE   (both required)\n"
    "  report-lost     revoke this wallet and its credentials at offpayd\n"
    "                  (those that can still be paid; signed by its key,\n"
    "                  e.g. from a restored copy):\n"
    "                  the escrow returns to the account after the upload\n"
    "                  grace, minus what settles meanwhile; prints the\n"
    "                  account, its balance, when the escrow is back, and\n"
    "                  until when the lost device's payments are paid\n"
    "      --reason TEXT (optional)   --server URL (default: the server\n"
    "                  enrolled with)\n"
    "  balance         the allowance of each credential: limit, confirmed\n"
    "                  (receipts taken), pending (codes not yet receipted;\n"
    "                  after a sync, only those not settled then or made\n"
    "                  since: the rest, as authorized, is shown as\n"
    "                  decided; what settlement charged is in the sync's\n"
    "                  lines),\n"
    "                  held (authorized beyond receipts: released only by\n"
    "                  settlement), available; after a sync also the\n"
    "                  part of held settlement paid above the receipts\n"
    "                  (above: a terminal's larger charge, with each code\n"
    "                  and its case), the\n"
    "                  server's escrow and what settlement released; with\n"
    "                  codes pending, when their money is released if no\n"
    "                  terminal presents them (the credential's expiry and\n"
    "                  offpayd's upload grace, 14 days by default); once\n"
    "                  expired, when its escrow comes back and until when\n"
    "                  the account holds what came back for codes\n"
    "                  presented late (no allowance from it until then)\n"
    "  pay             make a consumer-presented payment code; warns\n"
    "                  (stderr) when the last sync found this device's\n"
    "                  clock more than 120 s off offpayd's (terminals\n"
    "                  refuse such codes: set the clock right); so does\n"
    "                  pay-request\n"
    "      --currency CODE   e.g. EUR (required)\n"
    "      --amount AMOUNT   the most the merchant may charge (default: the\n"
    "                        wallet's default cap, one tenth of the limit)\n"
    "      AMOUNT in the currency's major unit, at most its decimals, no\n"
    "      sign: 12.50 (EUR), 1250 (JPY), 12.500 (KWD)\n"
    "  pay-request     answer a merchant's request code: shows the merchant\n"
    "                  and amount, asks to confirm, then makes the bound\n"
    "                  code; a request answered before gets the same code\n"
    "                  again (nothing more reserved)\n"
    "      --image FILE | --code TEXT | (standard input)\n"
    "      --yes           confirm without asking\n"
    "  receipt         take a merchant's receipt code (every valid receipt\n"
    "                  for a code is kept: a code shown to several terminals\n"
    "                  may get several; none may charge above the code)\n"
    "      --image FILE | --code TEXT | (standard input)\n"
    "  log             list every code this wallet made, with every receipt\n"
    "                  taken for it, and what settlement paid when the\n"
    "                  last sync learnt it differs from the receipts\n"
    "  show-code [[SERIAL:]COUNTER]   show again a code that has no receipt\n"
    "                  yet: the same text as when it was made (default: the\n"
    "                  newest unbound such code; a bound code comes back\n"
    "                  bound to its request); nothing new is reserved.\n"
    "                  Output options as for pay\n"
    "  upload          send every code of the log, with every receipt kept\n"
    "                  for it, to offpayd (signed by the wallet's key) and\n"
    "                  print each code's status there: settled (how), not\n"
    "                  settled (no terminal uploaded it yet), rejected; a\n"
    "                  receipt of a terminal that never uploaded settles\n"
    "                  the payment; one that differs from the terminal's\n"
    "                  upload opens a case (each such receipt, and each\n"
    "                  rejected one with its reason, is named on its code's\n"
    "                  line), or error (nothing decided for it: offpayd\n"
    "                  busy, EBUSY; exit 3, run it again). Safe to repeat:\n"
    "                  nothing moves twice. Changes nothing in the wallet\n"
    "      --server URL    offpayd, e.g. http://127.0.0.1:8080 (default:\n"
    "                      the server enrolled with)\n"
    "  nfc             be the card for one payment on a terminal's reader\n"
    "                  (docs/nfc.md; 'offpay wallet nfc --help')\n"
    "\n"
    "Output of pay, pay-request and show-code: the code's text on standard\n"
    "output, even when an image cannot be written;\n"
    "  --png FILE, --svg FILE   also write it as a QR image (mode 0600). An\n"
    "                           existing FILE is replaced only with --force,\n"
    "                           and never a wallet, its lock, or a file in a\n"
    "                           terminal's or issuer's directory. Checked "
    "before\n"
    "                           anything is reserved\n"
    "  --show                   also draw it on the terminal (stderr)\n"
    "Common options: --wallet FILE (required), --passphrase-file FILE.\n"
    "A code's counter and reserved amount are saved before it is shown, so\n"
    "an unscanned or refreshed code still counts against the allowance.\n"
    "The wallet file must have one name: a symbolic link to it, or a second\n"
    "hard link, is refused (ELINKED). A copy of it is not a backup: put\n"
    "back, it reuses counters already spent. Use 'wallet backup' and\n"
    "'wallet restore': never restore a wallet by copying its file back.\n"
    "key, balance, log and upload only read: they write nothing (not even\n"
    "a lock file) and work on a read-only mount or a full disk.\n"
    "Its codes are in FILE.log beside it, and once enrolled its server and\n"
    "account in FILE.online: keep and move the three together.\n";

typedef struct wallet_args {
    const char *wallet, *pass_file, *root, *bundle, *currency, *amount, *image,
        *code, *png, *svg, *server;
    int show, yes, force;
    /* the online life */
    const char *out, *from, *backup_pass, *reason, *expires, *renew_days,
        *renew_below, *new_pass;
    int no_renew;
} wallet_args;

static int parse(int argc, char **argv, void *args)
{
    wallet_args               *a = args;
    static const struct option opts[] = {
        {"wallet", required_argument, NULL, 'w'},
        {"passphrase-file", required_argument, NULL, 'p'},
        {"root", required_argument, NULL, 'r'},
        {"bundle", required_argument, NULL, 'b'},
        {"currency", required_argument, NULL, 'c'},
        {"amount", required_argument, NULL, 'a'},
        {"image", required_argument, NULL, 'i'},
        {"code", required_argument, NULL, 'C'},
        {"png", required_argument, NULL, 'P'},
        {"svg", required_argument, NULL, 'S'},
        {"show", no_argument, NULL, 's'},
        {"yes", no_argument, NULL, 'y'},
        {"force", no_argument, NULL, 'f'},
        {"server", required_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},
        {"out", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, 'F'},
        {"backup-passphrase-file", required_argument, NULL, 'B'},
        {"new-passphrase-file", required_argument, NULL, 'n'},
        {"reason", required_argument, NULL, 'R'},
        {"expires", required_argument, NULL, 'e'},
        {"renew-days", required_argument, NULL, 'D'},
        {"renew-below", required_argument, NULL, 'L'},
        {"no-renew", no_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    uint64_t seen = 0;
    int      c;

    memset(a, 0, sizeof *a);
    optind = 1;
    while ((c = cli_getopt(argc, argv, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'w':
            a->wallet = optarg;
            break;
        case 'p':
            a->pass_file = optarg;
            break;
        case 'r':
            a->root = optarg;
            break;
        case 'b':
            a->bundle = optarg;
            break;
        case 'c':
            a->currency = optarg;
            break;
        case 'a':
            a->amount = optarg;
            break;
        case 'i':
            a->image = optarg;
            break;
        case 'C':
            a->code = optarg;
            break;
        case 'P':
            a->png = optarg;
            break;
        case 'S':
            a->svg = optarg;
            break;
        case 's':
            a->show = 1;
            break;
        case 'y':
            a->yes = 1;
            break;
        case 'f':
            a->force = 1;
            break;
        case 'U':
            a->server = optarg;
            if (cli_server_url("--server", optarg) != 0)
                return EXIT_USAGE;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'F':
            a->from = optarg;
            break;
        case 'B':
            a->backup_pass = optarg;
            break;
        case 'n':
            a->new_pass = optarg;
            break;
        case 'R':
            a->reason = optarg;
            break;
        case 'e':
            a->expires = optarg;
            break;
        case 'D':
            a->renew_days = optarg;
            break;
        case 'L':
            a->renew_below = optarg;
            break;
        case 'N':
            a->no_renew = 1;
            break;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        case 'h':
            return -1; /* cli_dispatch prints the subcommand's help */
        default:
            return cli_usage_error("wallet: bad option");
        }
    }
    if (a->wallet == NULL)
        return cli_usage_error("wallet: --wallet FILE is required");
    return 0;
}

/* Opens the wallet; readonly for commands that only read it (they then
 * work on a read-only mount or a full disk). */
/* 1 when path begins as a sealed wallet file does ("OPWALLET"). */
static int is_wallet_file(const char *path)
{
    char  magic[8];
    FILE *f = fopen(path, "rb");
    int   yes = f != NULL && fread(magic, 1, sizeof magic, f) == sizeof magic &&
              memcmp(magic, "OPWALLET", sizeof magic) == 0;

    if (f != NULL)
        fclose(f);
    return yes;
}

static offpay_wallet *open_wallet_as(const wallet_args *a, int readonly,
                                     int *status)
{
    offpay_wallet *w = NULL;
    char          *pass = cli_passphrase(a->pass_file, "Wallet passphrase", 0);
    offpay_err     rc;

    if (pass == NULL) {
        *status = EXIT_FAILURE_IO;
        return NULL;
    }
    rc = readonly ? offpay_wallet_open_readonly(a->wallet, pass, &w)
                  : offpay_wallet_open(a->wallet, pass, &w);
    cli_passphrase_free(pass);
    if (rc == OFFPAY_ECORRUPT && is_wallet_file(a->wallet)) {
        char        log[PATH_MAX + 8];
        struct stat st;

        snprintf(log, sizeof log, "%s.log", a->wallet);
        if (stat(log, &st) != 0 && errno == ENOENT) {
            fprintf(stderr,
                    "offpay: %s: its spend log %s is missing: the wallet's "
                    "codes are there, and without them their counters would "
                    "be used again; put it back beside the wallet (a wallet "
                    "moves with its .log and .online) (ECORRUPT)\n",
                    a->wallet, log);
            *status = EXIT_FAILURE_IO;
            return NULL;
        }
    }
    if (rc != OFFPAY_OK) {
        *status = cli_fail_at(NULL, "opening", a->wallet, rc);
        return NULL;
    }
    return w;
}

static offpay_wallet *open_wallet(const wallet_args *a, int *status)
{
    return open_wallet_as(a, 0, status);
}

static int cmd_init(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args  *a = args;
    uint8_t             root[OFFPAY_PK_BYTES], *bundle;
    size_t              len = 0;
    char               *pass;
    offpay_wallet      *w = NULL;
    offpay_trust_bundle tb;
    offpay_err          rc;

    if (a->root == NULL || a->bundle == NULL)
        return cli_usage_error("wallet init: --root and --bundle are required");
    if (cli_parse_key(a->root, root) != 0)
        return EXIT_USAGE;
    bundle = cli_read_file(a->bundle, 4096, &len);
    if (bundle == NULL)
        return EXIT_FAILURE_IO;
    if (cli_expect_message("wallet init", "--bundle", a->bundle, bundle, len,
                           OFFPAY_MSG_TRUST_BUNDLE, CLI_GIVE_BUNDLE) != 0) {
        free(bundle);
        return EXIT_REJECTED;
    }
    rc = offpay_bundle_verify(bundle, len, root, &tb);
    if (rc != OFFPAY_OK) {
        free(bundle);
        fprintf(stderr,
                "offpay: %s: not a trust bundle signed by this root key: %s "
                "(%s); give the issuer's bundle.opb (or offpayd's, GET "
                "/v1/bundle) with its root.pub\n",
                a->bundle, offpay_strerror(rc), offpay_errname(rc));
        return cli_is_rejection(rc) ? EXIT_REJECTED : EXIT_USAGE;
    }
    pass = cli_passphrase(a->pass_file, "New wallet passphrase", 1);
    if (pass == NULL) {
        free(bundle);
        return EXIT_FAILURE_IO;
    }
    rc = offpay_wallet_create(a->wallet, pass, root, bundle, len, &w);
    cli_passphrase_free(pass);
    free(bundle);
    if (rc != OFFPAY_OK)
        return cli_fail_at(NULL, "creating", a->wallet, rc);
    offpay_wallet_close(w);
    printf("wallet created: %s\n", a->wallet);
    printf("Backing up: a copy of this file is NOT a backup. A copy put back\n"
           "later makes the wallet reuse counters it already spent: a double\n"
           "spend, and the issuer revokes the credential. Use 'offpay wallet\n"
           "backup' and 'offpay wallet restore' (the restored wallet waits for\n"
           "the server's highest counter, at 'offpay wallet sync', before\n"
           "paying); never restore a wallet by copying its file back.\n");
    return EXIT_OK;
}

static int cmd_key(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    int                status = EXIT_OK;
    offpay_wallet     *w = open_wallet_as(a, 1, &status);
    uint8_t            pk[OFFPAY_PK_BYTES];

    if (w == NULL)
        return status;
    offpay_wallet_public_key(w, pk);
    offpay_wallet_close(w);
    for (int i = 0; i < OFFPAY_PK_BYTES; i++)
        printf("%02x", pk[i]);
    printf("\n");
    return EXIT_OK;
}

static int cmd_add_credential(const void *args, const char *file)
{
    const wallet_args *a = args;
    int                status = EXIT_OK;
    offpay_wallet     *w;
    uint8_t           *bytes;
    size_t             len = 0;
    int                frozen = 0;
    offpay_err         rc;

    if (file == NULL)
        return cli_usage_error("wallet add-credential: give the credential "
                               "file");
    bytes = cli_read_credential(file, 4096, &len, &status);
    if (bytes == NULL)
        return status;
    w = open_wallet(a, &status);
    if (w == NULL) {
        free(bytes);
        return status;
    }
    rc = offpay_wallet_add_credential(w, bytes, len, cli_now());
    free(bytes);
    if (rc == OFFPAY_OK) { /* the one added is the last */
        offpay_wallet_balance b;
        size_t                n = offpay_wallet_n_credentials(w);

        frozen =
            n > 0 &&
            offpay_wallet_get_balance(w, n - 1, cli_now(), &b) == OFFPAY_OK &&
            b.frozen;
    }
    offpay_wallet_close(w);
    if (rc == OFFPAY_EEXISTS) {
        printf("%s: this credential is already in the wallet: nothing "
               "changed\n",
               file);
        return EXIT_OK;
    }
    if (rc == OFFPAY_EINVAL) {
        fprintf(stderr,
                "offpay: %s: this credential is for another wallet "
                "key\n",
                file);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail(file, rc);
    if (frozen)
        printf("credential added, frozen: this wallet was restored from a "
               "backup, and the lost device may have used it; it makes no "
               "code until 'offpay wallet sync' has told the highest counter "
               "offpayd saw\n");
    else
        printf("credential added\n");
    return EXIT_OK;
}

static int cli_wallet_online_sync(const wallet_args *a);
static void say_unknown(FILE *f, const char *lead, uint64_t serial);

/* The risk a restore keeps (docs/settlement.md §12, "Safe restore"):
 * offpayd cannot count what the lost device paid that no terminal has
 * uploaded, so the restored allowance can be spent twice. Said where a
 * payer decides: at the restore, and at the sync that unfreezes. */
static void print_restore_risk(void)
{
    printf("warning: if the lost device made payments that have not "
           "reached offpayd yet, spending the restored allowance can "
           "overspend it and get the credential revoked; a payer who lost "
           "a device with recent payments should rather run 'offpay wallet "
           "report-lost' and take a new allowance\n");
}

static int cmd_sync(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    int                status = EXIT_OK;
    offpay_wallet     *w;
    uint8_t           *bytes;
    size_t             len = 0;
    offpay_err         rc;

    if (a->bundle == NULL)
        return cli_wallet_online_sync(a);
    bytes = cli_read_file(a->bundle, 4096, &len);
    if (bytes == NULL)
        return EXIT_FAILURE_IO;
    if (cli_expect_message("wallet sync", "--bundle", a->bundle, bytes, len,
                           OFFPAY_MSG_TRUST_BUNDLE, CLI_GIVE_BUNDLE) != 0) {
        free(bytes);
        return EXIT_REJECTED;
    }
    w = open_wallet(a, &status);
    if (w != NULL) {
        rc = offpay_wallet_update_bundle(w, bytes, len, cli_now());
        if (rc != OFFPAY_OK)
            status = cli_fail(a->bundle, rc);
        else
            printf("trust bundle updated\n");
    }
    offpay_wallet_close(w);
    free(bytes);
    return status;
}

/* Says how many codes of serial have receipts from more than one terminal
 * (an unbound code shown twice, or taken from a captured screen). */
static void print_multi(const offpay_wallet *w, uint64_t serial)
{
    size_t n = 0, receipts = 0;

    for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
        offpay_wallet_spend s;
        offpay_receipt      first, r;
        int                 multi = 0, have_first = 0;

        if (offpay_wallet_get_spend(w, i, &s) != OFFPAY_OK ||
            s.serial != serial)
            continue;
        receipts += s.n_receipts;
        for (uint32_t j = 0; j < s.n_receipts; j++)
            if (offpay_wallet_get_receipt(w, i, j, &r) == OFFPAY_OK) {
                if (!have_first) { /* the first receipt that reads */
                    first = r;
                    have_first = 1;
                } else if (r.tcred.merchant_id != first.tcred.merchant_id ||
                           r.tcred.terminal_id != first.tcred.terminal_id)
                    multi = 1;
            }
        n += (size_t)multi;
    }
    printf("  receipts   %zu kept", receipts);
    if (n > 0)
        printf("; %zu code(s) receipted by more than one terminal", n);
    printf("  (see 'offpay wallet log')\n");
}

/* Says an allowance asked and not answered (offpay_wallet_allowance_
 * pending), on stream: asking another would move a second amount into
 * escrow. 1 when there is one. */
static int say_pending_allowance(const offpay_wallet *w, FILE *stream)
{
    int64_t  amount = 0;
    uint16_t currency = 0;
    char     m[64];

    if (offpay_wallet_allowance_pending(w, &amount, &currency, NULL) !=
        OFFPAY_OK)
        return 0;
    fprintf(stream,
            "an allowance of %s was asked and not answered: run 'offpay "
            "wallet sync' (or the same allowance again)\n",
            cli_money(amount, currency, m, sizeof m));
    return 1;
}

/* "settled 30.00 EUR, above your receipt's 12.50 EUR: case N": what
 * settlement paid for spend s when the last sync learnt it differs from
 * its receipts (offpay_wallet_spend's settled_paid), into buf. */
static const char *settled_text(const offpay_wallet_spend *s, uint16_t cur,
                                char *buf, size_t cap)
{
    char m1[64], m2[64], c[40] = "";

    if (s->settled_case != 0)
        snprintf(c, sizeof c, ": case %llu",
                 (unsigned long long)s->settled_case);
    snprintf(buf, cap, "settled %s, %s your receipt%s's %s%s",
             cli_money(s->settled_paid, cur, m1, sizeof m1),
             s->settled_paid > s->charged ? "above" : "below",
             s->n_receipts > 1 ? "s" : "",
             cli_money(s->charged, cur, m2, sizeof m2), c);
    return buf;
}

/* The codes of b's credential whose settlement paid more than their
 * receipts charged (the last sync learnt it): not held, spent. */
static void print_settled_above(const offpay_wallet         *w,
                                const offpay_wallet_balance *b)
{
    char m[64], text[200];

    printf("  above      %s  (authorized beyond the receipts of %u code(s), "
           "paid to merchants by settlement at the last sync: no longer "
           "held)\n",
           cli_money(b->settled_above, b->currency, m, sizeof m),
           b->settled_above_codes);
    for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
        offpay_wallet_spend s;

        if (offpay_wallet_get_spend(w, i, &s) != OFFPAY_OK ||
            s.serial != b->serial || s.settled_paid <= s.charged)
            continue;
        printf("    code %u: %s\n", s.counter,
               settled_text(&s, b->currency, text, sizeof text));
    }
}

/* What of b's escrow, once back in the account, is held there for the
 * codes terminals may still upload late (docs/settlement.md §6): no
 * allowance takes it until the late window ends. Released: what came
 * back, until its late window's end (nothing once passed); expired and
 * not released yet: what comes back, held until the end offpayd gave at
 * the last sync, or for the late window after the release. */
static void print_late_hold(const offpay_wallet_balance *b, uint32_t now)
{
    const char *then = "(a new allowance from it then; a deposit funds one "
                       "at once)";
    char        m[64], when[32];

    if (b->escrow_released) {
        /* what came back, not what is held still: a late code paid from
         * the account since took its part (the account's total held is
         * the sync's "held" line, offpayd's figure) */
        if (b->escrow_returned > 0 && b->late_until >= now)
            printf("  account    %s came back; until %s codes presented "
                   "late are paid from the account %s\n",
                   cli_money(b->escrow_returned, b->currency, m, sizeof m),
                   cli_iso_time(b->late_until, when), then);
    } else if (b->late_until != 0)
        printf("  account    what comes back is held until %s for codes "
               "presented late %s\n",
               cli_iso_time(b->late_until, when), then);
    else
        printf("  account    what comes back is held for offpayd's late "
               "window (30 days by default) for codes presented late %s\n",
               then);
}

static int cmd_balance(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    int                status = EXIT_OK;
    offpay_wallet     *w = open_wallet_as(a, 1, &status);
    uint32_t           now = cli_now();
    size_t             n;
    int                asked;

    if (w == NULL)
        return status;
    n = offpay_wallet_n_credentials(w);
    asked = say_pending_allowance(w, stdout);
    if (n == 0 && !asked) {
        offpay_wallet_account acct;

        if (offpay_wallet_server(w, &acct) == OFFPAY_OK)
            printf("no credentials yet: ask one from account %llu at %s "
                   "with 'offpay wallet allowance --amount AMOUNT'\n",
                   (unsigned long long)acct.account, acct.server);
        else
            printf("no credentials yet: enroll with 'offpay wallet enroll', "
                   "or send 'offpay wallet key' to the issuer\n");
    }
    for (size_t i = 0; i < n; i++) {
        offpay_wallet_balance b;
        char                  m1[64], m2[64], m3[64], m4[64], m5[64];
        char                  when[32], due[48];
        int64_t               pending, settled, available;

        if (offpay_wallet_get_balance(w, i, now, &b) != OFFPAY_OK)
            continue;
        /* b.pending counts every code without a receipt here, settled or
         * not. After a sync, what can still be pending is what the escrow
         * still reserves (escrow - available: the codes not presented at
         * that sync and what was reserved since); the rest settlement
         * took, and showing it as pending could exceed the limit. */
        pending = b.pending;
        settled = 0;
        if (b.synced) {
            int64_t open =
                b.escrow - b.available > 0 ? b.escrow - b.available : 0;

            if (pending > open) {
                settled = pending - open;
                pending = open;
            }
        }
        /* a released escrow holds nothing: what the pending codes
         * authorize is the account's to pay if they come late (below) */
        available = b.escrow_released && b.available < 0 ? 0 : b.available;
        /* the date offpayd gave for the release, when a sync was told */
        if (b.release_due != 0)
            snprintf(due, sizeof due, " on %s",
                     cli_iso_time(b.release_due, when));
        else
            snprintf(due, sizeof due, " after offpayd's upload grace");
        printf("credential %llu: %u code(s) made%s\n"
               "  expires    %s\n"
               "  limit      %s\n"
               "  confirmed  %s  (charged, per receipts)\n"
               "  pending    %s  (codes without a receipt yet)\n"
               "  held       %s  (authorized beyond receipts, until "
               "settlement)\n"
               "  available  %s%s%s%s\n",
               (unsigned long long)b.serial, b.codes,
               b.usable ? "" : " (not usable now)",
               cli_iso_time(b.expires, when),
               cli_money(b.limit, b.currency, m1, sizeof m1),
               cli_money(b.confirmed, b.currency, m2, sizeof m2),
               cli_money(pending, b.currency, m3, sizeof m3),
               cli_money(b.held - b.settled_above, b.currency, m4, sizeof m4),
               cli_money(available, b.currency, m5, sizeof m5),
               b.escrow_released
                   ? "  (none of it can be spent: the escrow was released)"
               : b.revoked ? "  (none of it can be spent: revoked)"
               : b.frozen == 2
                   ? "  (none of it can be spent: offpayd does not know "
                     "this credential)"
               : b.frozen ? "  (none of it until 'wallet sync')"
               : !b.usable && b.expires <= now
                   ? "  (none of it can be spent: expired; settlement "
                     "returns it to the account"
               : !b.usable ? "  (none of it can be spent now)"
                           : "",
               !b.escrow_released && !b.revoked && !b.frozen && !b.usable &&
                       b.expires <= now
                   ? due
                   : "",
               !b.escrow_released && !b.revoked && !b.frozen && !b.usable &&
                       b.expires <= now
                   ? ")"
                   : "");
        /* A code never presented keeps its amount reserved: offpayd
         * releases the escrow only after the credential's expiry and its
         * upload grace, which the wallet is not told. */
        if (settled > 0)
            printf("  decided    %s  (authorized by the codes without a "
                   "receipt here that settlement decided at the last sync: "
                   "no longer pending; each one's charge is in that sync's "
                   "lines, and what it authorized beyond the charge is in "
                   "released)\n",
                   cli_money(settled, b.currency, m1, sizeof m1));
        if (b.settled_above > 0)
            print_settled_above(w, &b);
        if (b.escrow_released) {
            printf("  returned   %s released to your account on %s (what "
                   "the escrow held then)\n",
                   cli_money(b.escrow_returned, b.currency, m1, sizeof m1),
                   cli_iso_time(b.escrow_released_at, when));
            if (pending > 0)
                printf("  late       a pending code a terminal presents "
                       "until %s is paid from your account (up to %s)\n",
                       cli_iso_time(b.late_until, when),
                       cli_money(pending, b.currency, m1, sizeof m1));
            print_late_hold(&b, now);
        } else if (b.release_due != 0 && (b.revoked || pending > 0))
            /* offpayd's date: a revoked or lost wallet's escrow comes back
             * when it says, not at the credential's signed expiry */
            printf("  returns    %s: offpayd's release of what the escrow "
                   "still holds%s to your account\n",
                   cli_iso_time(b.release_due, when),
                   pending > 0 ? " (the pending codes' money too, if no "
                                 "terminal presents them)"
                               : "");
        else if (pending > 0)
            printf("  returns    if no terminal ever presents the pending "
                   "codes, their money is released after the credential "
                   "expires (%s) and offpayd's upload grace (14 days by "
                   "default) has passed\n",
                   cli_iso_time(b.expires, when));
        if (!b.escrow_released && !b.usable && b.expires <= now && !b.frozen &&
            (!b.synced || b.escrow > 0))
            print_late_hold(&b, now);
        if (b.frozen == 2)
            say_unknown(stdout, "  unknown    ", b.serial);
        else if (b.frozen)
            printf("  frozen     restored: no code until 'offpay wallet "
                   "sync'\n");
        if (b.revoked)
            printf("  revoked    no code from it: the wallet was reported "
                   "lost, or offpayd opened a case against the credential "
                   "(an overspend, or a code presented twice: duplicate or "
                   "double_spend, which 'offpay wallet upload' lists); a "
                   "code charged twice is put right by a refund from the "
                   "merchant\n");
        if (b.synced && b.frozen != 2)
            printf("  escrow     %s  (the server's, at the last sync)\n"
                   "  released   %s  (by settlement, of what the codes "
                   "reserved: counted in available again)\n",
                   cli_money(b.escrow, b.currency, m1, sizeof m1),
                   cli_money(b.released, b.currency, m2, sizeof m2));
        print_multi(w, b.serial);
    }
    offpay_wallet_close(w);
    return EXIT_OK;
}

static int emit(const wallet_args *a, const char *text)
{
    int status = cli_emit_code(text, a->png, a->svg, a->show, a->force);

    if (status != EXIT_OK)
        fprintf(stderr,
                "offpay: the code above is made and reserved: show it again "
                "with 'offpay wallet show-code' rather than paying again\n");
    return status;
}

/* Checks --png and --svg before anything is reserved. */
static int check_outputs(const wallet_args *a)
{
    int status = cli_output_check("--png", a->png, a->force);

    if (status == 0)
        status = cli_output_check("--svg", a->svg, a->force);
    return status;
}

/* After OFFPAY_EINSUFFICIENT: what each credential in currency has. */
static void print_available(const offpay_wallet *w, uint16_t currency,
                            int64_t wanted)
{
    char   money[64], want[64];
    size_t listed = 0;

    if (wanted > 0)
        fprintf(stderr, "offpay: asked for %s; available:",
                cli_money(wanted, currency, want, sizeof want));
    else
        fprintf(stderr, "offpay: available:");
    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
        offpay_wallet_balance b;
        uint32_t              now = cli_now();

        /* a revoked or expired credential's money is never spendable
         * here: listing it would read as money the payer has */
        if (offpay_wallet_get_balance(w, i, now, &b) != OFFPAY_OK ||
            b.currency != currency || b.revoked || b.frozen == 2 ||
            (!b.usable && b.expires <= now))
            continue;
        fprintf(stderr, " %s on credential %llu%s;",
                cli_money(b.available, b.currency, money, sizeof money),
                (unsigned long long)b.serial,
                b.frozen   ? " (frozen until 'offpay wallet sync')"
                : b.usable ? ""
                           : " (not usable now)");
        listed++;
    }
    if (listed == 0)
        fprintf(stderr, " nothing on a credential that can still pay;");
    fprintf(stderr, " see 'offpay wallet balance'\n");
    {
        offpay_wallet_account acct;

        if (offpay_wallet_server(w, &acct) == OFFPAY_OK)
            fprintf(stderr,
                    "offpay: for more: 'offpay wallet sync' (frees what "
                    "offpayd has settled) or 'offpay wallet allowance "
                    "--amount AMOUNT' (from your account)\n");
    }
}

/* After ENO_CREDENTIAL with credentials in the currency: why none of them
 * can make a code at now (each, the newest first, at most 4). */
static void print_unusable(const offpay_wallet *w, uint16_t currency,
                           uint32_t now)
{
    offpay_wallet_balance b;
    char                  t1[32], t2[32];
    int                   shown = 0;

    for (size_t i = offpay_wallet_n_credentials(w); i-- > 0 && shown < 4;) {
        if (offpay_wallet_get_balance(w, i, now, &b) != OFFPAY_OK ||
            b.currency != currency)
            continue;
        shown++;
        fprintf(stderr, "offpay: credential %llu: ",
                (unsigned long long)b.serial);
        if (b.revoked)
            fprintf(stderr, "revoked (reported lost, or a case against it)\n");
        else if (b.frozen == 2)
            say_unknown(stderr, "", b.serial);
        else if (b.frozen)
            fprintf(stderr, "frozen until 'offpay wallet sync' (restored)\n");
        else if (!b.usable && b.expires <= now)
            fprintf(stderr,
                    "expired %s: 'offpay wallet sync' asks a new one when "
                    "the wallet's account holds money (the unspent escrow "
                    "returns to it after the upload grace)\n",
                    cli_iso_time(b.expires, t1));
        else if (!b.usable)
            fprintf(stderr,
                    "not valid at this device's time, %s (it runs to %s): "
                    "if this clock is slow, set it right (else its issuer "
                    "key was withdrawn: 'offpay wallet sync')\n",
                    cli_iso_time(now, t1), cli_iso_time(b.expires, t2));
        else
            fprintf(stderr, "usable, %s left\n",
                    b.available > 0 ? "some" : "nothing");
    }
}

/* After ENO_CREDENTIAL: the currencies the wallet's credentials are in,
 * when none is the one asked for; else why those in it are not usable. */
static void print_currencies(const offpay_wallet *w, uint16_t currency,
                             uint32_t now)
{
    offpay_wallet_balance b;
    char                  held[128] = "";
    size_t                n = 0;

    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
        const char *alpha;

        if (offpay_wallet_get_balance(w, i, 0, &b) != OFFPAY_OK)
            continue;
        if (b.currency == currency) {
            print_unusable(w, currency, now);
            return;
        }
        alpha = offpay_currency_alpha(b.currency);
        if (alpha != NULL && strstr(held, alpha) == NULL &&
            strlen(held) + 8 < sizeof held) {
            snprintf(held + strlen(held), sizeof held - strlen(held), "%s%s",
                     n ? ", " : "", alpha);
            n++;
        }
    }
    if (held[0] != '\0')
        fprintf(stderr, "offpay: no credential in %s: this wallet's are in %s\n",
                offpay_currency_alpha(currency) ? offpay_currency_alpha(currency)
                                                : "that currency",
                held);
}

/* 1 when a credential of currency is frozen (a restored wallet not
 * synced since): OFFPAY_ESYNC_REQUIRED then means that, not limits. */
static int frozen_in(const offpay_wallet *w, uint16_t currency)
{
    offpay_wallet_balance b;

    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++)
        if (offpay_wallet_get_balance(w, i, 0, &b) == OFFPAY_OK &&
            b.currency == currency && b.frozen && !b.revoked)
            return 1;
    return 0;
}

/* OFFPAY_ESYNC_REQUIRED of a restored wallet, said as what to do (the
 * error's own text also names offline limits, which do not apply). */
static int say_frozen(offpay_err rc)
{
    fprintf(stderr,
            "offpay: cannot make a code: restored: run 'offpay wallet sync' "
            "first (the restored credentials are frozen until offpayd has "
            "told the highest counter the lost device used, so that no "
            "code reuses one) (%s)\n",
            offpay_errname(rc));
    return cli_is_rejection(rc) ? EXIT_REJECTED : EXIT_FAILURE_IO;
}

/* The sentence for a credential offpayd does not know (frozen 2). */
static void say_unknown(FILE *f, const char *lead, uint64_t serial)
{
    fprintf(f,
            "%soffpayd does not know credential %llu: its ledger may have "
            "been restored from a backup older than the credential; it is "
            "not spent again (its codes would be refused ENOT_ISSUED, at the "
            "merchant's cost)\n",
            lead, (unsigned long long)serial);
}

/* OFFPAY_ENOT_ISSUED of 'wallet pay': every credential of currency
 * offpayd does not know, named. */
static int say_unknown_all(const offpay_wallet *w, uint16_t currency,
                           offpay_err rc)
{
    offpay_wallet_balance b;

    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++)
        if (offpay_wallet_get_balance(w, i, 0, &b) == OFFPAY_OK &&
            b.currency == currency && b.frozen == 2 && !b.revoked)
            say_unknown(stderr, "offpay: cannot make a code: ", b.serial);
    fprintf(stderr, "offpay: no other credential in %s can pay (%s)\n",
            offpay_currency_alpha(currency) ? offpay_currency_alpha(currency)
                                            : "that currency",
            offpay_errname(rc));
    return EXIT_REJECTED;
}

/* After a code is made: one line on stderr when the clock offset the
 * last sync measured (offpay_wallet_clock) is beyond a terminal's skew.
 * The code is still made: the clock may have been set right since. */
static void warn_clock(const offpay_wallet *w)
{
    int64_t  offset = 0;
    uint32_t at = 0;
    char     when[32];

    if (offpay_wallet_clock(w, &offset, &at) != OFFPAY_OK ||
        (offset >= -(int64_t)CLOCK_SKEW_DEFAULT &&
         offset <= (int64_t)CLOCK_SKEW_DEFAULT))
        return;
    if (offset < 0)
        fprintf(stderr,
                "offpay: warning: at the last sync (%s) this device's clock "
                "was %lld s ahead of offpayd's: a terminal refuses a code "
                "dated more than %u s after its own clock (ECODE_FUTURE), and "
                "the amount stays reserved until the credential expires and "
                "offpayd's upload grace has passed; set the clock right (if "
                "it was set right since, the code is good)\n",
                cli_iso_time(at, when), (long long)-offset, CLOCK_SKEW_DEFAULT);
    else
        fprintf(stderr,
                "offpay: warning: at the last sync (%s) this device's clock "
                "was %lld s behind offpayd's: a terminal refuses a code that "
                "looks older than it allows (ECODE_TOO_OLD), and the amount "
                "stays reserved until the credential expires and offpayd's "
                "upload grace has passed; set the clock right (if it was set "
                "right since, the code is good)\n",
                cli_iso_time(at, when), (long long)offset);
}

static int cmd_pay(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    int                status = EXIT_OK;
    offpay_wallet     *w;
    uint16_t           currency;
    int64_t            amount = 0;
    char              *text = NULL, money[64], money2[64];
    offpay_payment     p;
    offpay_err         rc;

    if (a->currency == NULL)
        return cli_usage_error("wallet pay: --currency is required");
    if (cli_currency(a->currency, &currency) != 0 ||
        (a->amount != NULL && cli_amount(a->amount, currency, &amount) != 0))
        return EXIT_USAGE;
    if (a->amount != NULL && amount == 0)
        return cli_usage_error("wallet pay: the amount must be more than 0");
    if ((status = check_outputs(a)) != 0)
        return status;
    w = open_wallet(a, &status);
    if (w == NULL)
        return status;
    rc = offpay_wallet_pay(w, amount, currency, cli_now(), &text, &p);
    if (rc == OFFPAY_OK && a->amount == NULL) {
        /* without --amount the code takes the default cap, or what is left
         * when that is less: say so when it took all */
        for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
            offpay_wallet_balance b;

            if (offpay_wallet_get_balance(w, i, cli_now(), &b) == OFFPAY_OK &&
                b.serial == p.cred.serial && b.available == 0)
                fprintf(stderr,
                        "offpay: this code authorizes all that credential %llu "
                        "had left: a sale above it will be refused "
                        "(EOVER_AUTHORIZED)\n",
                        (unsigned long long)b.serial);
        }
    }
    if (rc == OFFPAY_ENOT_YET_VALID)
        fprintf(stderr, "offpay: the newest credential starts later than "
                        "this device's clock: is the clock behind? (a "
                        "credential from offpayd starts at its time)\n");
    if (rc == OFFPAY_EINSUFFICIENT)
        print_available(w, currency, amount);
    if (rc == OFFPAY_ENO_CREDENTIAL)
        print_currencies(w, currency, cli_now());
    if (rc == OFFPAY_ESYNC_REQUIRED && frozen_in(w, currency)) {
        offpay_wallet_close(w);
        return say_frozen(rc);
    }
    if (rc == OFFPAY_ENOT_ISSUED) {
        status = say_unknown_all(w, currency, rc);
        offpay_wallet_close(w);
        return status;
    }
    if (rc != OFFPAY_OK) {
        offpay_wallet_close(w);
        status = cli_fail_at("cannot make a code", "saving", a->wallet, rc);
        if (rc == OFFPAY_EREVOKED)
            fprintf(stderr, "offpay: its credential was revoked (its code "
                            "presented twice, or reported lost): what is "
                            "left comes back to the account after its "
                            "release; take a new allowance from the "
                            "account's money ('offpay wallet allowance "
                            "--amount A'), or ask the operator\n");
        return status;
    }
    fprintf(stderr, "payment code: up to %s, credential %llu, counter %u\n",
            cli_money(p.amount, currency, money, sizeof money),
            (unsigned long long)p.cred.serial, p.counter);
    {
        /* a terminal's default rules take a code the payer shows up to
         * the unbound floor: above it, only a merchant's request */
        offpay_risk d;

        offpay_risk_defaults(currency, &d);
        if (!p.bound && d.floor_unbound > 0 &&
            (int64_t)p.amount > d.floor_unbound)
            fprintf(
                stderr,
                "offpay: warning: terminals by default take a code the "
                "payer shows only up to %s (the money stays reserved "
                "until the credential's release if none takes it): for "
                "more, pay the merchant's request ('wallet "
                "pay-request')\n",
                cli_money(d.floor_unbound, currency, money2, sizeof money2));
    }
    warn_clock(w);
    offpay_wallet_close(w);
    status = emit(a, text);
    free(text);
    return status;
}

/* Asks "Pay X to NAME? [y/N]" on the terminal. 1 when confirmed, 0 when
 * not, -1 when there is no terminal to ask on. */
static int confirm(const offpay_request *q)
{
    char  money[64], answer[16];
    FILE *tty = fopen("/dev/tty", "r+");
    int   yes;

    if (tty == NULL)
        return -1; /* no terminal to ask on */
    fprintf(tty, "Pay %s to \"%s\" (merchant %llu)? [y/N] ",
            cli_money(q->amount, q->currency, money, sizeof money),
            q->tcred.name, (unsigned long long)q->tcred.merchant_id);
    fflush(tty);
    yes = fgets(answer, sizeof answer, tty) != NULL &&
          (answer[0] == 'y' || answer[0] == 'Y');
    fclose(tty);
    return yes;
}

static int cmd_pay_request(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    int                status = EXIT_OK;
    offpay_wallet     *w = NULL;
    offpay_request     q;
    offpay_payment     p;
    char              *req_text, *text = NULL, money[64];
    size_t             before;
    offpay_err         rc;
    uint32_t           now = cli_now();

    if ((status = check_outputs(a)) != 0)
        return status;
    req_text = cli_read_code(a->image, a->code, &status);
    if (req_text == NULL)
        return status;
    w = open_wallet(a, &status);
    if (w == NULL)
        goto out;
    now = cli_now(); /* the request read and the wallet open */
    rc = offpay_wallet_read_request(w, req_text, now, &q);
    if (rc != OFFPAY_OK) {
        status = cli_fail("the request code is refused", rc);
        if (rc == OFFPAY_ECODE_TOO_OLD)
            fprintf(stderr, "  the merchant's request has expired (a "
                            "request is good for a few minutes): ask the "
                            "merchant for a new one; nothing was paid\n");
        else if (rc == OFFPAY_ECODE_FUTURE)
            fprintf(stderr, "  the request is dated after this wallet's "
                            "clock: one of the two clocks is wrong; nothing "
                            "was paid\n");
        goto out;
    }
    fprintf(stderr, "request: %s from \"%s\" (merchant %llu, terminal %u)\n",
            cli_money(q.amount, q.currency, money, sizeof money), q.tcred.name,
            (unsigned long long)q.tcred.merchant_id, q.tcred.terminal_id);
    if (now > q.time && now - q.time > REQUEST_TTL_DEFAULT)
        fprintf(stderr,
                "offpay: warning: this request was made %u s ago by this "
                "device's clock; a terminal keeps a request open %u s by "
                "default, so it has probably expired and the code would be "
                "refused: ask the merchant for a new request. If the "
                "merchant has just made it, this device's clock is ahead: "
                "set it right first\n",
                now - q.time, REQUEST_TTL_DEFAULT);
    else if (now > q.time && now - q.time > CLOCK_SKEW_DEFAULT)
        fprintf(stderr,
                "offpay: warning: this request was made %u s ago by this "
                "device's clock. If the merchant has just made it, this "
                "device's clock is ahead, and a terminal refuses a code "
                "dated more than %u s after its own clock (ECODE_FUTURE): "
                "set the clock right first\n",
                now - q.time, CLOCK_SKEW_DEFAULT);
    if (!a->yes) {
        int yes = confirm(&q);

        if (yes < 0) {
            status = cli_usage_error("wallet pay-request: no terminal to "
                                     "confirm the payment on: give --yes; "
                                     "not paid");
            goto out;
        }
        if (!yes) {
            fprintf(stderr, "not paid\n");
            status = EXIT_REJECTED;
            goto out;
        }
        now = cli_now(); /* the code is dated when the payer said yes */
    }
    before = offpay_wallet_n_spends(w);
    rc = offpay_wallet_pay_request(w, &q, now, &text, &p);
    if (rc == OFFPAY_OK && offpay_wallet_n_spends(w) == before)
        fprintf(stderr,
                "this request was answered before, by code %u of credential "
                "%llu: the same code again, nothing more reserved\n",
                p.counter, (unsigned long long)p.cred.serial);
    if (rc == OFFPAY_EAMOUNT_MISMATCH)
        fprintf(stderr, "offpay: this request was answered before for "
                        "another amount: its terminal reused a request; "
                        "not paid\n");
    if (rc == OFFPAY_EINSUFFICIENT)
        print_available(w, q.currency, q.amount);
    if (rc == OFFPAY_ENO_CREDENTIAL) /* as for 'wallet pay' */
        print_currencies(w, q.currency, now);
    if (rc == OFFPAY_ESYNC_REQUIRED && frozen_in(w, q.currency)) {
        status = say_frozen(rc);
        goto out;
    }
    if (rc == OFFPAY_ENOT_ISSUED) {
        status = say_unknown_all(w, q.currency, rc);
        goto out;
    }
    if (rc != OFFPAY_OK) {
        status = cli_fail_at("cannot make the code", "saving", a->wallet, rc);
        goto out;
    }
    warn_clock(w);
    status = emit(a, text);
out:
    offpay_wallet_close(w);
    free(req_text);
    free(text);
    return status;
}

static int cmd_receipt(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    int                status = EXIT_OK;
    offpay_wallet     *w = NULL;
    offpay_receipt     r;
    char              *text, money[64];
    int                added = 0;
    offpay_err         rc;

    text = cli_read_code(a->image, a->code, &status);
    if (text == NULL)
        return status;
    w = open_wallet(a, &status);
    if (w != NULL) {
        rc = offpay_wallet_keep_receipt(w, text, cli_now(), &r, &added);
        if (rc != OFFPAY_OK)
            status = cli_fail("the receipt is refused", rc);
        else
            printf("receipt%s: \"%s\" charged %s for code %u of credential "
                   "%llu%s\n",
                   added ? "" : " kept already", r.tcred.name,
                   cli_money(r.amount, r.currency, money, sizeof money),
                   r.counter, (unsigned long long)r.serial,
                   added ? ""
                         : " (the same receipt again: nothing changed, "
                           "not charged twice)");
    }
    offpay_wallet_close(w);
    free(text);
    return status;
}

static int cmd_log(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args  *a = args;
    int                 status = EXIT_OK;
    offpay_wallet      *w = open_wallet_as(a, 1, &status);
    offpay_wallet_spend s0;
    offpay_err          rc;

    if (w == NULL)
        return status;
    /* The log before the wallet's checkpoint is read (and checked) here:
     * a damaged one fails the listing rather than shortening it. */
    rc = offpay_wallet_n_spends(w) > 0 ? offpay_wallet_get_spend(w, 0, &s0)
                                       : OFFPAY_OK;
    if (rc != OFFPAY_OK) {
        offpay_wallet_close(w);
        return cli_fail("cannot read the wallet's spend log", rc);
    }
    printf("%-8s %-8s %-7s %-14s %s\n", "serial", "counter", "kind",
           "authorized", "charged");
    for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
        offpay_wallet_spend   s;
        offpay_wallet_balance b;
        uint16_t              cur = 0;
        char                  m1[64], m2[64], text[200];

        if (offpay_wallet_get_spend(w, i, &s) != OFFPAY_OK)
            continue;
        for (size_t k = 0; k < offpay_wallet_n_credentials(w); k++)
            if (offpay_wallet_get_balance(w, k, 0, &b) == OFFPAY_OK &&
                b.serial == s.serial)
                cur = b.currency;
        printf("%-8llu %-8u %-7s %-14s %s", (unsigned long long)s.serial,
               s.counter, s.bound ? "bound" : "unbound",
               cli_money(s.authorized, cur, m1, sizeof m1),
               s.charged < 0 ? "(no receipt yet)"
                             : cli_money(s.charged, cur, m2, sizeof m2));
        if (s.settled_paid >= 0) /* the last sync's: not the receipts' */
            printf("  %s", settled_text(&s, cur, text, sizeof text));
        printf("\n");
        for (uint32_t j = 0; j < s.n_receipts; j++) {
            offpay_receipt r;
            char           when[32];

            if (offpay_wallet_get_receipt(w, i, j, &r) != OFFPAY_OK)
                continue;
            cli_iso_time(r.time, when);
            printf("    receipt %u: %s by \"%s\" (merchant %llu, terminal "
                   "%u) at %s\n",
                   j + 1, cli_money(r.amount, r.currency, m1, sizeof m1),
                   r.tcred.name, (unsigned long long)r.tcred.merchant_id,
                   r.tcred.terminal_id, when);
        }
    }
    offpay_wallet_close(w);
    return EXIT_OK;
}

/* Parses "[SERIAL:]COUNTER". Returns 0, or -1 when malformed. */
static int parse_which(const char *t, int *has_serial, uint64_t *serial,
                       uint32_t *counter)
{
    const char        *colon = strchr(t, ':');
    char              *end = NULL;
    unsigned long long v;

    *has_serial = 0;
    if (colon != NULL) {
        if (t[0] < '0' || t[0] > '9')
            return -1;
        errno = 0;
        v = strtoull(t, &end, 10);
        if (errno != 0 || end != colon)
            return -1;
        *has_serial = 1;
        *serial = v;
        t = colon + 1;
    }
    if (t[0] < '0' || t[0] > '9')
        return -1;
    errno = 0;
    v = strtoull(t, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX)
        return -1;
    *counter = (uint32_t)v;
    return 0;
}

/* The currency of credential serial (0 when the wallet no longer has it). */
static uint16_t currency_of(const offpay_wallet *w, uint64_t serial)
{
    offpay_wallet_balance b;

    for (size_t k = 0; k < offpay_wallet_n_credentials(w); k++)
        if (offpay_wallet_get_balance(w, k, 0, &b) == OFFPAY_OK &&
            b.serial == serial)
            return b.currency;
    return 0;
}

static int cmd_show_code(const void *args, const char *which)
{
    const wallet_args  *a = args;
    int                 status = EXIT_OK, has_serial = 0, matches = 0;
    uint64_t            serial = 0;
    uint32_t            counter = 0, now = cli_now();
    offpay_wallet      *w;
    offpay_wallet_spend s;
    size_t              found = 0;
    char               *text = NULL, money[64];
    offpay_err          rc;

    if (which != NULL &&
        parse_which(which, &has_serial, &serial, &counter) != 0)
        return cli_usage_error("wallet show-code: give [SERIAL:]COUNTER, as "
                               "'offpay wallet log' lists them");
    if ((status = check_outputs(a)) != 0)
        return status;
    w = open_wallet(a, &status);
    if (w == NULL)
        return status;
    for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
        if (offpay_wallet_get_spend(w, i, &s) != OFFPAY_OK)
            continue;
        if (which == NULL
                ? (s.bound || s.charged >= 0)
                : (s.counter != counter || (has_serial && s.serial != serial)))
            continue;
        found = i;
        matches++;
    }
    if (matches == 0) {
        fprintf(stderr, "offpay: %s\n",
                which == NULL ? "no unbound code without a receipt: nothing "
                                "to show again"
                              : "no such code in this wallet's log (see "
                                "'offpay wallet log')");
        status = EXIT_REJECTED;
        goto out;
    }
    if (which != NULL && matches > 1) {
        status = cli_usage_error("wallet show-code: several credentials have "
                                 "a code %u: give SERIAL:%u",
                                 counter, counter);
        goto out;
    }
    if (offpay_wallet_get_spend(w, found, &s) != OFFPAY_OK) {
        status = cli_fail("cannot show the code", OFFPAY_ENOTFOUND);
        goto out;
    }
    if (s.charged >= 0) {
        fprintf(stderr,
                "offpay: code %u of credential %llu already has a receipt: "
                "it was paid; it is not shown again\n",
                s.counter, (unsigned long long)s.serial);
        status = EXIT_REJECTED;
        goto out;
    }
    rc = offpay_wallet_code_text(w, found, &text);
    if (rc != OFFPAY_OK) {
        status = cli_fail("cannot show the code", rc);
        goto out;
    }
    fprintf(
        stderr,
        "payment code (shown again, nothing new reserved): up to %s, "
        "credential %llu, counter %u\n",
        cli_money(s.authorized, currency_of(w, s.serial), money, sizeof money),
        (unsigned long long)s.serial, s.counter);
    if (now > s.time && now - s.time > 60)
        fprintf(stderr,
                "offpay: warning: this code was made %u s ago; terminals "
                "accept an unbound code for 60 s by default\n",
                now - s.time);
    status = emit(a, text);
out:
    offpay_wallet_close(w);
    free(text);
    return status;
}

/* One line per code offpayd answered for. */
/* The table's header, printed before its first row only: a sync refused
 * before any code was sent prints its error alone. One table per run. */
static void upload_header(void)
{
    static int printed;

    if (!printed)
        printf("%-8s %-8s %-28s %-14s\n", "serial", "counter", "status",
               "paid");
    printed = 1;
}

/* What a receipt's rejection by offpayd means (docs/api.md, the wallet
 * upload's receipts[].reason): the receipt's own for the reasons only a
 * receipt gets, else the error's message. */
static const char *receipt_reason_meaning(const char *name)
{
    if (strcmp(name, "ETERMINAL_REVOKED") == 0)
        return "the receipt is dated after its terminal's revocation: "
               "offpayd does not take it as the terminal's upload";
    if (strcmp(name, "ERECEIPT_MISMATCH") == 0)
        return "it names another code, currency or merchant than the code, "
               "or charges more than the code authorized";
    if (strcmp(name, "ENOTFOUND") == 0)
        return "its terminal is not registered at offpayd with that key, id "
               "and merchant";
#define CLI_ERR_MEANING(n, num, msg)                                           \
    if (strcmp(name, #n) == 0)                                                 \
        return offpay_strerror(OFFPAY_##n);
    OFFPAY_ERRORS(CLI_ERR_MEANING)
#undef CLI_ERR_MEANING
    return "an error this version does not know";
}

/* "; receipt J (terminal T, AMOUNT): ..." for each receipt offpayd found
 * charging another amount than its terminal's upload, or rejected. */
static void print_receipt_disputes(const offpay_wallet_upload_status *s,
                                   uint16_t                           cur)
{
    for (uint32_t k = 0; k < s->n_receipt; k++) {
        const offpay_wallet_receipt_status *r = &s->receipt[k];
        char                                m1[64], m2[64];

        if (strcmp(r->outcome, "mismatch") != 0 &&
            strcmp(r->outcome, "rejected") != 0)
            continue;
        printf("; receipt %u (terminal %llu, %s): ", k + 1,
               (unsigned long long)r->terminal_id,
               cli_money(r->amount, cur, m1, sizeof m1));
        if (strcmp(r->outcome, "mismatch") == 0) {
            printf("the terminal's upload charged %s",
                   r->claimed >= 0 ? cli_money(r->claimed, cur, m2, sizeof m2)
                                   : "another amount");
            if (r->case_id != 0)
                printf(", case %llu", (unsigned long long)r->case_id);
        } else
            printf("rejected %s (%s)", r->reason[0] ? r->reason : "UNKNOWN",
                   receipt_reason_meaning(r->reason));
    }
}

static int print_upload_status(const offpay_wallet_upload_status *s, void *ctx)
{
    const offpay_wallet *w = ctx;
    char                 money[64], what[160];

    upload_header();
    snprintf(what, sizeof what, "%s", s->status);
    if (s->reason[0] != '\0' && strcmp(s->status, "not_settled") != 0)
        snprintf(what, sizeof what, "%s (%s)", s->status, s->reason);
    printf("%-8llu %-8u %-28s %-14s", (unsigned long long)s->serial, s->counter,
           what,
           strcmp(s->status, "rejected") == 0 || strcmp(s->status, "error") == 0
               ? "-"
               : cli_money(s->paid, currency_of(w, s->serial), money,
                           sizeof money));
    if (s->refunded > 0)
        printf(" refunded %s", cli_money(s->refunded, currency_of(w, s->serial),
                                         money, sizeof money));
    if (s->receipts > 0)
        printf(" receipts: %u settled, %u agreed, %u waiting, %u mismatch, "
               "%u rejected",
               s->receipts_settled, s->receipts_agreed, s->receipts_waiting,
               s->receipts_mismatch, s->receipts_rejected);
    print_receipt_disputes(s, currency_of(w, s->serial));
    printf("\n");
    return 0;
}

/* Codes presented as a duplicate or a double spend: a case is open
 * against the credential (its lines above say which). */
static void print_cases(size_t n)
{
    if (n > 0)
        printf("%zu of them presented more than once (duplicate or "
               "double_spend, above): a case is open against the "
               "credential, and offpayd may have revoked it\n",
               n);
}

static int cmd_upload(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args          *a = args;
    int                         status = EXIT_OK;
    offpay_wallet              *w;
    offpay_wallet_upload_report r;
    offpay_err                  rc;

    w = open_wallet_as(a, 1, &status);
    if (w == NULL)
        return status;
    /* no --server: the server enrolled with, as sync does */
    rc = offpay_wallet_upload(w, a->server, 0, 0, cli_now(),
                              print_upload_status, w, &r);
    if (rc == OFFPAY_ENOTFOUND && a->server == NULL) {
        status = cli_usage_error("wallet upload: give --server URL (this "
                                 "wallet never enrolled)");
    } else if (rc != OFFPAY_OK) {
        status = cli_fail_online("wallet upload", rc);
    } else {
        printf("%zu codes sent: %zu settled, %zu not settled yet, %zu "
               "rejected, %zu receipt mismatches\n",
               r.sent, r.settled, r.not_settled, r.rejected, r.mismatches);
        print_cases(r.cases);
        if (r.skipped > 0)
            printf("%zu codes of credentials no longer in the wallet were "
                   "not sent\n",
                   r.skipped);
        if (r.decided < r.sent)
            status = cli_fail("wallet upload: some codes were not decided "
                              "(run it again)",
                              OFFPAY_EIO);
    }
    offpay_wallet_close(w);
    return status;
}

/* ---- the online life (src/wallet/online.c) ---------------------------- */

/* A decimal number 0..max, or -1 after a usage message. */
static long long number_arg(const char *opt, const char *text, long long max)
{
    char     *end = NULL;
    long long v;

    if (text == NULL)
        return -1;
    v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < 0 || v > max) {
        cli_usage_error("wallet: %s: a number from 0 to %lld", opt, max);
        return -1;
    }
    return v;
}

/* The balances side by side, as the sync leaves them. */
static void print_sync_balances(const offpay_wallet             *w,
                                const offpay_wallet_sync_report *r,
                                uint32_t                         now)
{
    const offpay_wallet_account *acct = &r->account;
    int64_t                      escrow = 0, avail = 0;
    char                         m1[64], m2[64], m3[64], m4[64], when[32];

    printf("account %llu at %s: balance %s\n",
           (unsigned long long)acct->account, acct->server,
           cli_money(acct->balance, acct->currency, m1, sizeof m1));
    if (acct->late_held > 0 && acct->late_held_until >= now)
        printf("  of it held %s until %s for the codes of released "
               "credentials that terminals may still upload late (a new "
               "allowance from it then; a deposit funds one at once)\n",
               cli_money(acct->late_held, acct->currency, m1, sizeof m1),
               cli_iso_time(acct->late_held_until, when));
    printf("%-10s %-16s %-16s %-16s %-16s %s\n", "credential", "escrow",
           "available", "released", "held", "next-counter");
    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
        offpay_wallet_balance b;
        int64_t               spendable;

        if (offpay_wallet_get_balance(w, i, now, &b) != OFFPAY_OK ||
            b.currency != acct->currency)
            continue;
        /* one offpayd does not know has no escrow there */
        if (b.frozen == 2)
            b.escrow = b.available = 0;
        /* what a code may still take from it: nothing from a revoked,
         * frozen or unusable one, whatever its escrow holds (the total's
         * rule, so the column sums to it) */
        spendable = b.usable && !b.frozen && !b.revoked && b.available > 0
                        ? b.available
                        : 0;
        printf("%-10llu %-16s %-16s %-16s %-16s %u%s\n",
               (unsigned long long)b.serial,
               cli_money(b.escrow, b.currency, m1, sizeof m1),
               cli_money(spendable, b.currency, m2, sizeof m2),
               cli_money(b.released, b.currency, m3, sizeof m3),
               /* what settlement paid of it is no longer held */
               cli_money(b.held - b.settled_above, b.currency, m4, sizeof m4),
               b.next_counter,
               b.revoked       ? " (revoked)"
               : b.frozen == 2 ? " (unknown to offpayd: frozen)"
               : b.frozen      ? " (frozen)"
               : !b.usable     ? " (not usable)"
                               : "");
        escrow += b.escrow;
        avail += spendable;
    }
    printf("total: account %s, escrow %s, available offline %s\n",
           cli_money(acct->balance, acct->currency, m1, sizeof m1),
           cli_money(escrow, acct->currency, m2, sizeof m2),
           cli_money(avail, acct->currency, m3, sizeof m3));
}

/* What became of a renewal the sync found due beyond "renewed": asked
 * for less than the credential's limit, or not asked, because of what
 * the account holds for late codes (docs/settlement.md §6), or refused
 * by offpayd (a warning: the rest of the sync is done). */
static void print_renewal(const offpay_wallet_sync_report *r)
{
    const offpay_wallet_account *acct = &r->account;
    char                         m1[64], m2[64], when[32];

    if (acct->late_held > 0)
        cli_iso_time(acct->late_held_until, when);
    if (r->renewed != 0 && acct->late_held > 0)
        printf("renewed for %s: the account's %s is held until %s\n",
               cli_money(r->renew_amount, acct->currency, m1, sizeof m1),
               cli_money(acct->late_held, acct->currency, m2, sizeof m2), when);
    if (r->renew_held)
        printf("not renewed: the account's %s of %s is held until %s for "
               "the codes of released credentials that terminals may still "
               "upload late (a new allowance from it then; a deposit funds "
               "one at once)\n",
               cli_money(acct->late_held, acct->currency, m1, sizeof m1),
               cli_money(acct->balance, acct->currency, m2, sizeof m2), when);
    if (r->renew_err != OFFPAY_OK)
        fprintf(stderr,
                "offpay: warning: wallet sync: offpayd refused the renewal "
                "of %s (see above; %s): everything else is synced; 'offpay "
                "wallet allowance --amount AMOUNT' asks one by hand\n",
                cli_money(r->renew_amount, acct->currency, m1, sizeof m1),
                offpay_errname(r->renew_err));
}

/* How many credentials offpayd does not know (frozen 2). */
static size_t count_unknown(const offpay_wallet *w)
{
    offpay_wallet_balance b;
    size_t                n = 0;

    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++)
        if (offpay_wallet_get_balance(w, i, 0, &b) == OFFPAY_OK &&
            b.frozen == 2)
            n++;
    return n;
}

static int cli_wallet_online_sync(const wallet_args *a)
{
    offpay_wallet_sync_options o;
    offpay_wallet_sync_report  r;
    offpay_wallet             *w;
    int                        status = EXIT_OK;
    uint32_t                   now = cli_now();
    size_t                     n_unknown;
    long long                  v;
    offpay_err                 rc;

    offpay_wallet_sync_options_defaults(&o);
    if (a->renew_days != NULL) {
        if ((v = number_arg("--renew-days", a->renew_days, 3650)) < 0)
            return EXIT_USAGE;
        o.renew_before = (uint32_t)v * 86400u;
    }
    if (a->renew_below != NULL) {
        if ((v = number_arg("--renew-below", a->renew_below, 100)) < 0)
            return EXIT_USAGE;
        o.renew_below_pct = (uint32_t)v;
    }
    o.no_renew = a->no_renew;
    w = open_wallet(a, &status);
    if (w == NULL)
        return status;
    n_unknown = count_unknown(w);
    rc = offpay_wallet_sync(w, a->server, &o, now, print_upload_status, w, &r);
    if (rc == OFFPAY_ENOTFOUND && a->server != NULL) {
        fprintf(stderr,
                "offpay: wallet sync: offpayd at %s knows no enrolled wallet "
                "with this wallet's key (NOT_ENROLLED). Enroll it with the "
                "operator's code: offpay wallet enroll --server URL --code "
                "CODE. A wallet whose credentials the operator issued "
                "(wallet add-credential) has no account to sync: 'offpay "
                "wallet upload --server URL' sends its codes\n",
                a->server);
        status = EXIT_FAILURE_IO; /* as cli_fail says ENOTFOUND */
    } else if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr,
                "offpay: wallet sync: this wallet is not enrolled: no "
                "%s.online beside it names its server. Enroll it (offpay "
                "wallet enroll --server URL --code CODE), or give --server "
                "URL, or put %s.online back if the wallet was moved without "
                "it (ENOTFOUND)\n",
                a->wallet, a->wallet);
        status = EXIT_FAILURE_IO; /* as cli_fail says ENOTFOUND */
    } else if (rc == OFFPAY_EREVOKED) {
        status = cli_fail("wallet sync: this wallet was revoked at the "
                          "server; nothing changed there, and its "
                          "credentials are marked revoked here",
                          rc);
    } else if (rc != OFFPAY_OK) {
        status = cli_fail_online("wallet sync", rc);
    } else {
        printf("%zu codes sent: %zu settled, %zu not settled yet, %zu "
               "rejected\n",
               r.upload.sent, r.upload.settled, r.upload.not_settled,
               r.upload.rejected);
        if (r.spent_during > 0)
            printf("%zu code(s) made while the sync ran: sent at the next "
                   "sync\n",
                   r.spent_during);
        print_cases(r.upload.cases);
        if (r.unfrozen > 0) {
            printf("%zu restored credential(s) unfrozen above the server's "
                   "counters\n",
                   r.unfrozen);
            print_restore_risk();
        }
        if (r.revoked > 0)
            printf("%zu credential(s) revoked: no code from them\n", r.revoked);
        if (r.installed > 0)
            printf("%zu credential(s) installed from the server\n",
                   r.installed);
        if (r.renewed != 0)
            printf("renewed: credential %llu\n", (unsigned long long)r.renewed);
        print_renewal(&r);
        print_sync_balances(w, &r, now);
        /* frozen by this sync: said, and the sync needs attention */
        if (count_unknown(w) > n_unknown) {
            offpay_wallet_balance b;

            for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++)
                if (offpay_wallet_get_balance(w, i, now, &b) == OFFPAY_OK &&
                    b.frozen == 2)
                    say_unknown(stderr,
                                "offpay: WARNING: wallet sync: ", b.serial);
            status = EXIT_REJECTED;
        }
    }
    offpay_wallet_close(w);
    return status;
}

static int cmd_enroll(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args    *a = args;
    offpay_wallet_account acct;
    offpay_wallet        *w;
    int                   status = EXIT_OK;
    char                  m[64], code[64];
    offpay_err            rc;

    if (a->server == NULL || a->code == NULL)
        return cli_usage_error(
            "wallet enroll: --server URL and --code CODE are required");
    if (strlen(a->code) >= sizeof code)
        return cli_usage_error("wallet enroll: --code is the operator's "
                               "code of 24 characters");
    /* the code is lower-case hex: one typed in capitals is the same */
    for (size_t i = 0, n = strlen(a->code); i <= n; i++)
        code[i] = a->code[i] >= 'A' && a->code[i] <= 'F'
                      ? (char)(a->code[i] + 32)
                      : a->code[i];
    w = open_wallet(a, &status);
    if (w == NULL)
        return status;
    rc = offpay_wallet_enroll(w, a->server, code, cli_now(), &acct);
    if (rc != OFFPAY_OK) {
        status = cli_fail_online("wallet enroll", rc);
        if (rc == OFFPAY_EREFUSED &&
            strncmp(offpay_server_detail(), "ENROLL_CODE_", 12) == 0)
            fprintf(stderr, "offpay: ask the operator for a new enrollment "
                            "code (each is used once, within its time)\n");
    } else
        printf("enrolled: account %llu (%s), balance %s\n",
               (unsigned long long)acct.account,
               offpay_currency_alpha(acct.currency),
               cli_money(acct.balance, acct.currency, m, sizeof m));
    offpay_wallet_close(w);
    return status;
}

static int cmd_allowance(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args    *a = args;
    offpay_wallet_account acct;
    offpay_wallet        *w;
    int                   status = EXIT_OK, asked_before = 0;
    int64_t               amount = 0, balance = 0;
    uint64_t              serial = 0;
    long long             expires = 0;
    char                  m1[64], m2[64];
    offpay_err            rc;

    if (a->amount == NULL)
        return cli_usage_error("wallet allowance: --amount AMOUNT is required");
    if (a->expires != NULL) {
        char     hint[OFFPAY__UNIX_TIME_HINT_MAX];
        uint32_t t;

        /* offpayd's words for a time (core/unixtime.c) */
        if (offpay__unix_time_parse("--expires", a->expires, 0, &t, hint,
                                    sizeof hint) != 0)
            return cli_usage_error("wallet allowance: %s", hint);
        expires = t;
    }
    if (a->expires != NULL && (uint64_t)expires < (uint64_t)cli_now() + 3600)
        return cli_usage_error(
            "wallet allowance: --expires %lld is less than an hour from now "
            "(%u): the escrow would be locked until then and the upload "
            "grace after, for an allowance hardly usable",
            expires, (unsigned)cli_now());
    w = open_wallet(a, &status);
    if (w == NULL)
        return status;
    rc = offpay_wallet_server(w, &acct);
    if (rc == OFFPAY_ENOTFOUND) {
        status = cli_fail("wallet allowance: not enrolled (offpay wallet "
                          "enroll)",
                          rc);
        goto out;
    }
    if (rc != OFFPAY_OK) {
        status = cli_fail_online("wallet allowance", rc);
        goto out;
    }
    if (cli_amount(a->amount, acct.currency, &amount) != 0 || amount <= 0) {
        status = cli_usage_error("wallet allowance: --amount: a positive "
                                 "amount in %s",
                                 offpay_currency_alpha(acct.currency));
        goto out;
    }
    if (amount > OFFPAY_WIRE_AMOUNT_MAX) { /* a credential's limit, a u32 */
        status = cli_usage_error(
            "wallet allowance: --amount: at most %s, the largest limit a "
            "credential carries",
            cli_money(OFFPAY_WIRE_AMOUNT_MAX, acct.currency, m1, sizeof m1));
        goto out;
    }
    {
        int64_t  was = 0;
        uint16_t cur = 0;
        uint32_t until = 0;

        asked_before =
            offpay_wallet_allowance_pending(w, &was, &cur, &until) == OFFPAY_OK;
        if (asked_before) {
            if (was != amount || cur != acct.currency ||
                until != (uint32_t)expires) {
                fprintf(stderr, "offpay: wallet allowance: ");
                (void)say_pending_allowance(w, stderr);
                status = EXIT_REJECTED;
                goto out;
            }
            fprintf(stderr, "offpay: wallet allowance: asking again the "
                            "allowance not answered before (the same "
                            "request: offpayd makes it once)\n");
        }
    }
    rc = offpay_wallet_allowance(w, a->server, amount, acct.currency,
                                 (uint32_t)expires, cli_now(), &serial,
                                 &balance);
    if (rc == OFFPAY_EIO && offpay_server_unreached() && !asked_before) {
        /* nothing was sent, and no earlier try: nothing was made */
        fprintf(stderr,
                "offpay: wallet allowance: offpayd could not be reached "
                "(see above) (EIO): the allowance was NOT made and nothing "
                "left the account; nothing retries it by itself: run the "
                "same 'offpay wallet allowance' again when offpayd "
                "answers\n");
        status = EXIT_FAILURE_IO;
    } else if (rc == OFFPAY_EIO) {
        /* the request may have reached offpayd and its answer been lost:
         * another allowance would be a second escrow */
        fprintf(stderr,
                "offpay: wallet allowance: offpayd could not be reached, "
                "or failed (see above) (EIO); it may have issued the "
                "credential: run 'offpay wallet sync' (it installs a "
                "credential issued to this wallet), or the same allowance "
                "again (the same request: offpayd makes it once), before "
                "asking another\n");
        status = EXIT_FAILURE_IO;
    } else if (rc == OFFPAY_ESYNC_REQUIRED) {
        /* offpayd made the escrow; this wallet could not take the
         * credential now (said above) */
        fprintf(stderr,
                "offpay: wallet allowance: the allowance is made at offpayd "
                "but not installed here: run 'offpay wallet sync' to take "
                "it, not another allowance (ESYNC_REQUIRED)\n");
        status = EXIT_FAILURE_IO;
    } else if (rc != OFFPAY_OK) {
        status = cli_fail_online("wallet allowance", rc);
        /* offpayd's hint is its operator's: the payer's words too */
        if (rc == OFFPAY_EREFUSED &&
            strncmp(offpay_server_detail(), "EWALLET_CASE", 12) == 0)
            fprintf(stderr,
                    "offpay: offpayd holds a case against this wallet: a "
                    "code of one of its credentials was presented twice "
                    "with different contents, or beyond its limit (a copy "
                    "of this wallet may be in use elsewhere). It gives this "
                    "wallet's key no new allowance: contact your operator, "
                    "who reviews the case and can enroll a new wallet on "
                    "the same account\n");
    } else {
        char when[32] = "";

        /* its expiry, from the credential as installed */
        for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
            offpay_wallet_balance b;

            if (offpay_wallet_get_balance(w, i, cli_now(), &b) == OFFPAY_OK &&
                b.serial == serial)
                cli_iso_time(b.expires, when);
        }
        printf("credential %llu installed: %s%s%s; account balance %s\n",
               (unsigned long long)serial,
               cli_money(amount, acct.currency, m1, sizeof m1),
               when[0] != '\0' ? ", expires " : "", when,
               cli_money(balance, acct.currency, m2, sizeof m2));
    }
out:
    offpay_wallet_close(w);
    return status;
}

static int cmd_passphrase(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    offpay_wallet     *w;
    char              *pass;
    int                status = EXIT_OK;
    offpay_err         rc;

    w = open_wallet(a, &status);
    if (w == NULL)
        return status;
    if (a->new_pass == NULL && !cli_has_tty()) {
        /* the new one is never taken from OFFPAY_PASSPHRASE (the old
         * one's): no terminal to ask it on means the option */
        offpay_wallet_close(w);
        return cli_usage_error("wallet passphrase: give the new passphrase "
                               "with --new-passphrase-file FILE (no terminal "
                               "to ask it on)");
    }
    pass = a->new_pass != NULL
               ? cli_passphrase(a->new_pass, "New wallet passphrase", 1)
               : cli_passphrase_tty("New wallet passphrase", 1);
    if (pass == NULL) {
        offpay_wallet_close(w);
        return EXIT_FAILURE_IO;
    }
    rc = offpay_wallet_set_passphrase(w, pass);
    cli_passphrase_free(pass);
    if (rc != OFFPAY_OK)
        status = cli_fail_at(NULL, "sealing under the new passphrase",
                             a->wallet, rc);
    else
        printf("%s is sealed under the new passphrase (the old one opens it "
               "no more; a backup keeps its own)\n",
               a->wallet);
    offpay_wallet_close(w);
    return status;
}

static int cmd_backup(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    offpay_wallet     *w;
    char              *pass;
    int                status = EXIT_OK;
    offpay_err         rc;

    if (a->out == NULL || a->backup_pass == NULL)
        return cli_usage_error("wallet backup: --out FILE and "
                               "--backup-passphrase-file FILE are required");
    /* a backup is sealed like a wallet: it never replaces a file, even
     * with --force (an old backup, or a wallet, lost to a typo) */
    if (access(a->out, F_OK) == 0)
        return cli_usage_error("wallet backup: --out %s exists: a backup "
                               "never replaces a file, even with --force; "
                               "give a new name (EEXISTS)",
                               a->out);
    w = open_wallet_as(a, 1, &status);
    if (w == NULL)
        return status;
    pass = cli_passphrase(a->backup_pass, "Backup passphrase", 1);
    if (pass == NULL) {
        offpay_wallet_close(w);
        return EXIT_FAILURE_IO;
    }
    rc = offpay_wallet_backup(w, a->out, pass);
    cli_passphrase_free(pass);
    if (rc != OFFPAY_OK)
        status = cli_fail_at(NULL, "writing the backup", a->out, rc);
    else
        printf("backup written to %s (restore it with 'offpay wallet "
               "restore')\n",
               a->out);
    offpay_wallet_close(w);
    return status;
}

static int cmd_restore(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args *a = args;
    offpay_wallet     *w = NULL;
    char              *bpass, *pass;
    offpay_err         rc;
    int                status = EXIT_OK;

    if (a->from == NULL || a->backup_pass == NULL)
        return cli_usage_error("wallet restore: --from FILE and "
                               "--backup-passphrase-file FILE are required");
    bpass = cli_passphrase(a->backup_pass, "Backup passphrase", 0);
    if (bpass == NULL)
        return EXIT_FAILURE_IO;
    pass = cli_passphrase(a->pass_file, "New wallet passphrase", 1);
    if (pass == NULL) {
        cli_passphrase_free(bpass);
        return EXIT_FAILURE_IO;
    }
    rc = offpay_wallet_restore(a->from, bpass, a->wallet, pass, cli_now(), &w);
    cli_passphrase_free(bpass);
    cli_passphrase_free(pass);
    if (rc == OFFPAY_EEXISTS) { /* the wallet to restore into */
        fprintf(stderr, "offpay: wallet restore: a wallet (or its .log) is "
                        "already at %s: restore into a new wallet file "
                        "(EEXISTS)\n",
                a->wallet);
        status = EXIT_USAGE;
    } else if (rc == OFFPAY_ETYPE) {
        fprintf(stderr,
                "offpay: wallet restore: %s is a wallet file, not a "
                "backup of one: a copy of a wallet put back reuses "
                "counters already spent; make a backup with 'offpay "
                "wallet backup' (ETYPE)\n",
                a->from);
        status = EXIT_USAGE;
    } else if (rc != OFFPAY_OK) {
        status = cli_fail_at(NULL, "restoring", a->from, rc);
    } else {
        printf("wallet restored: %zu credential(s), frozen until 'offpay "
               "wallet sync' learns their counters from the server\n"
               "note: the backup holds no codes or receipts ('wallet log' "
               "starts empty), and codes the old device made that no "
               "terminal has uploaded yet are still paid from the escrow "
               "when they come: what shows as available can shrink\n",
               offpay_wallet_n_credentials(w));
        if (offpay_wallet_n_credentials(w) > 0)
            print_restore_risk();
    }
    offpay_wallet_close(w);
    return status;
}

/* What the owner of a lost wallet needs next, from offpayd's answer
 * (docs/settlement.md §12): where the money is, when the escrow is back,
 * how long the lost device's payments can still arrive, and how to reach
 * the money from a new wallet. */
static void print_lost(const offpay_wallet_lost_report *r)
{
    char t1[32], t2[32], money[OFFPAY_AMOUNT_TEXT_MAX];

    printf("wallet revoked at the server at %s: %zu credential(s) revoked "
           "now\n",
           cli_iso_time(r->revoked_at, t1), r->revoked);
    if (r->currency != 0 && offpay_amount_format(r->balance, r->currency, money,
                                                 sizeof money) == OFFPAY_OK)
        printf("account %llu holds %s %s\n", (unsigned long long)r->account,
               money, offpay_currency_alpha(r->currency));
    if (r->escrow_back_by != 0 && r->late_until != 0)
        printf("its credentials' escrow is back in the account by %s, less "
               "what settles meanwhile (the lost device's payments "
               "included, until then); what terminals accepted from it "
               "before now is still paid from the account until %s if a "
               "terminal uploads it late; what they accept from it from "
               "now on is never taken from the account once the escrow is "
               "back\n",
               cli_iso_time(r->escrow_back_by, t1),
               cli_iso_time(r->late_until, t2));
    printf("to use the money: make a new wallet ('offpay wallet init') and "
           "enroll it with a code the operator makes for account %llu: it "
           "takes this account, its money and the escrow coming back\n",
           (unsigned long long)r->account);
}

static int cmd_report_lost(const void *args, const char *arg CLI_UNUSED)
{
    const wallet_args        *a = args;
    offpay_wallet            *w;
    offpay_wallet_lost_report r;
    int                       status = EXIT_OK;
    offpay_err                rc;

    w = open_wallet(a, &status);
    if (w == NULL)
        return status;
    rc = offpay_wallet_report_lost(w, a->server, a->reason, cli_now(), &r);
    if (rc == OFFPAY_ESYNC_REQUIRED) {
        /* revoked at offpayd; this copy could not mark it (said above) */
        print_lost(&r);
        fprintf(stderr, "offpay: wallet report-lost: made at offpayd; this "
                        "copy's credentials are not marked revoked yet: run "
                        "it again or 'offpay wallet sync' (ESYNC_REQUIRED)\n");
        status = EXIT_FAILURE_IO;
    } else if (rc != OFFPAY_OK) {
        status = cli_fail_online("wallet report-lost", rc);
        if (rc == OFFPAY_EIO)
            fprintf(stderr, "offpay: the wallet is NOT reported lost yet: "
                            "run this again when offpayd answers, or ask "
                            "the operator to revoke it (offpay admin "
                            "revoke-wallet)\n");
    } else
        print_lost(&r);
    offpay_wallet_close(w);
    return status;
}

int cli_wallet(int argc, char **argv)
{
    static const cli_sub subs[] = {
        {"init", 0, cmd_init, "root bundle"},
        {"key", 0, cmd_key, ""},
        {"add-credential", 1, cmd_add_credential, ""},
        {"sync", 0, cmd_sync, "bundle server no-renew renew-below renew-days"},
        {"balance", 0, cmd_balance, ""},
        {"pay", 0, cmd_pay, "currency amount png svg show force"},
        {"pay-request", 0, cmd_pay_request,
         "image code yes png svg show force"},
        {"receipt", 0, cmd_receipt, "image code"},
        {"log", 0, cmd_log, ""},
        {"show-code", 1, cmd_show_code, "png svg show force"},
        {"upload", 0, cmd_upload, "server"},
        {"enroll", 0, cmd_enroll, "server code"},
        {"allowance", 0, cmd_allowance, "server amount expires"},
        {"passphrase", 0, cmd_passphrase, "new-passphrase-file"},
        {"backup", 0, cmd_backup, "out backup-passphrase-file force"},
        {"restore", 0, cmd_restore, "from backup-passphrase-file"},
        {"report-lost", 0, cmd_report_lost, "server reason"},
        {NULL, 0, NULL, NULL},
    };
    wallet_args a;

    if (argc > 1 && strcmp(argv[1], "nfc") == 0)
        return cli_wallet_nfc(argc - 1, argv + 1);
    return cli_dispatch("wallet", help, "wallet passphrase-file", argc,
                        argv, parse, &a, subs);
}
