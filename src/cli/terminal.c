/*
 * terminal.c — `offpay terminal ...`: the merchant's side (request codes,
 * accept codes offline, receipts, the journal, sync, risk rules).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/dbcopy.h"
#include "core/jsonutil.h"

static const char help[] =
    "Usage: offpay terminal SUBCOMMAND --terminal DIR [OPTIONS]\n"
    "\n"
    "The merchant's terminal. DIR holds terminal.key (sealed under the\n"
    "terminal passphrase) and terminal.db (SQLite: settings and the journal\n"
    "of accepted payments).\n"
    "\n"
    "Subcommands:\n"
    "  init              create a terminal (a fresh key pair)\n"
    "      --root KEY      the issuer's root public key (hex, or root.pub)\n"
    "      --bundle FILE   the trust bundle (bundle.opb)\n"
    "      --currency CODE the currency it charges in, e.g. EUR\n"
    "      --key-uri URI   keep the key in a PKCS#11 token instead of\n"
    "                      terminal.key (docs/pkcs11.md), e.g.\n"
    "                      pkcs11:token=shop;object=till-1?pin-source=\n"
    "                      file:/etc/offpay/pin; DIR keeps only the URI\n"
    "                      (terminal.keyuri), no passphrase is asked, and\n"
    "                      the PIN comes from pin-source or\n"
    "                      $OFFPAY_PKCS11_PIN (a pin-value is refused); the\n"
    "                      module is $OFFPAY_PKCS11_MODULE or SoftHSM2's\n"
    "      --generate-key  with --key-uri: make the key pair in the token\n"
    "                      (under a label no private key there carries)\n"
    "                    A failed init leaves nothing of itself (nor a key\n"
    "                    it generated in the token): run it again. A DIR\n"
    "                    holding a terminal, or a journal (terminal.db)\n"
    "                    without its key, is refused (exit 2): a journal\n"
    "                    is never reused nor replaced, and what it holds\n"
    "                    is said (payments offpayd has not decided)\n"
    "  key               print the terminal's public key (for the issuer)\n"
    "  set-credential FILE   install the issuer's terminal credential (the\n"
    "                    file the issuer wrote, or the base64 'credential'\n"
    "                    offpayd answers, saved as text)\n"
    "  sync              after reaching the issuer: a new revocation list\n"
    "                    and/or bundle; resets the offline counters when\n"
    "                    something is newer than what the terminal holds\n"
    "      --revlist FILE  --bundle FILE   from files (air-gapped), or\n"
    "      --server URL    online (remembered: a later sync with neither\n"
    "                    --server nor files goes to it again): upload every\n"
    "                    payment not yet uploaded to offpayd (signed\n"
    "                    batches; each marked uploaded once\n"
    "                    offpayd returned its result, so it is safe to stop\n"
    "                    at any moment and run again), print what settled,\n"
    "                    then take offpayd's bundle and revocation list\n"
    "                    (the full list when the one held is dated ahead\n"
    "                    of the clock: only that one sets the newest time\n"
    "                    seen back), and ask the expiries of revoked\n"
    "                    serials held (to let go of those expired over 15\n"
    "                    days before);\n"
    "                    --batch N payments per request (default 500; a\n"
    "                    smaller one for a slow or flaky link, or an\n"
    "                    offpayd with a lower --batch-max);\n"
    "                    needs the passphrase (requests are signed). It\n"
    "                    records and prints how far this terminal's clock\n"
    "                    is from offpayd's (see 'status'), warns beyond\n"
    "                    the skew, and leaves for later what offpayd does\n"
    "                    not decide yet (dated after offpayd's clock, or\n"
    "                    its ledger failing): then it exits 3; it exits 1\n"
    "                    when offpayd refused payments or did not pay them\n"
    "                    in full (each is named, as is each paid with a\n"
    "                    case; a shortfall the issuer's guarantee could\n"
    "                    not pay, EFUNDS, is owed by it and paid once it\n"
    "                    is funded: said so), or revoked the terminal. It\n"
    "                    first asks\n"
    "                    offpayd whether its ledger still holds the 20\n"
    "                    newest payments it paid (N with a smaller\n"
    "                    --batch N; then older ones, a batch at a time,\n"
    "                    while it lacks some); if not (the\n"
    "                    ledger was taken back to an older copy) it prints\n"
    "                    'LEDGER LOST PAYMENTS: ...' and uploads those the\n"
    "                    ledger lacks again. If\n"
    "                    offpayd has revoked this terminal it prints\n"
    "                    'REVOKED: ...' and the terminal accepts nothing\n"
    "                    more (ETERMINAL_REVOKED). While it waits on\n"
    "                    offpayd the terminal goes on accepting (in other\n"
    "                    processes): what it accepts after the sync's first\n"
    "                    look at the journal goes at the next sync. A\n"
    "                    second sync of the terminal while one runs stops\n"
    "                    at once (EBUSY, exit 3). --json: one JSON object\n"
    "                    on standard output instead of the text (counts,\n"
    "                    what was paid, those owed by the guarantee, the\n"
    "                    clock offset, revoked, the\n"
    "                    payments checked again and those the ledger lost,\n"
    "                    those accepted during the sync, the exit status);\n"
    "                    the lines naming payments stay on stderr\n"
    "  risk              print the risk rules; change them with\n"
    "      --set NAME=VALUE (repeatable): floor-unbound, floor-bound,\n"
    "      cumulative (amounts), max-offline-payments, max-offline-hours,\n"
    "      max-code-age (bound codes), max-code-age-unbound, skew (at\n"
    "      most 43200), max-revlist-age, request-ttl (seconds),\n"
    "      max-upload-days (days). The amounts default to 50, 200 and 500 risk "
    "units\n"
    "      of the terminal's currency, printed last (EUR 1.00, JPY 100:\n"
    "      about a euro's worth, never less than one major unit); one\n"
    "      below its default is noted on stderr. An unbound code is a\n"
    "      bearer token while it is acceptable: by default it gets 60 s\n"
    "      and at most floor-unbound, a bound code 300 s and\n"
    "      floor-bound.\n"
    "      max-upload-days (default 14; 0: no limit): how long the oldest\n"
    "      payment offpayd has not decided may wait; past it the terminal\n"
    "      refuses payments until it uploads (a list carried in does not\n"
    "      end the wait): offpayd pays nothing after its late window,\n"
    "      at the earliest 44 days after a payment with its defaults, so\n"
    "      0 or more than 44 is warned. Rules looser than the issuer's\n"
    "      guarantee (docs/settlement.md §5; max-revlist-age 0 too) are\n"
    "      warned on stderr.\n"
    "  request           make a request code for an amount (refused when\n"
    "                    the terminal would refuse the payment: above its\n"
    "                    limits, or offline too long)\n"
    "      --amount AMOUNT (12.50 EUR, 1250 JPY, 12.500 KWD: the\n"
    "                      currency's decimals at most, no sign)\n"
    "  accept            verify a payment code offline and record it;\n"
    "                    warns (stderr) once an offline limit is at 80 %\n"
    "      --image FILE | --code TEXT | (standard input, as a keyboard-\n"
    "                      wedge scanner types it)\n"
    "      --amount AMOUNT what to charge (required for consumer-presented\n"
    "                      codes; a bound code charges its request's amount)\n"
    "      AMOUNT in the currency's major unit, at most its decimals, no\n"
    "      sign: 12.50 (EUR), 1250 (JPY), 12.500 (KWD)\n"
    "      --receipt-png FILE  also write a receipt code for the payer\n"
    "  receipt           a receipt code for a journal entry\n"
    "      --seq N\n"
    "  journal           list accepted payments and, once 'sync --server'\n"
    "                    uploaded them, what offpayd paid for each (or why\n"
    "                    it refused it); --json for JSON lines, each with\n"
    "                    its code's text\n"
    "  status            the credential and its expiry, payments and hours\n"
    "                    since the last sync against their limits, the\n"
    "                    revocation list's age, the revoked serials held\n"
    "                    (of 1,000,000), open requests, the journal's\n"
    "                    size and its payments offpayd has not decided yet,\n"
    "                    the clock's high-water time; warns when a limit\n"
    "                    is at 80 % or more, before 'sync required', and\n"
    "                    14 days before the credential ends (--json)\n"
    "  rotate            a new key: --new-terminal DIR2 is a new terminal\n"
    "                    (terminal init, no credential yet). After a final\n"
    "                    upload of this one (refused while a payment is not\n"
    "                    decided), offpayd registers DIR2's key for the same\n"
    "                    merchant and revokes this one's from now on; DIR2\n"
    "                    gets its credential, this one's risk rules and\n"
    "                    its sums per credential (the cumulative limit is\n"
    "                    the device's, as offpayd's guarantee counts it),\n"
    "                    and --server for its syncs without one; offpayd\n"
    "                    gives it this one's label (where it stands).\n"
    "                    Run it again if it failed after offpayd rotated\n"
    "                    (the reply lost): offpayd answers the same\n"
    "                    rotation again and DIR2 gets its credential.\n"
    "                    Until offpayd answers, this terminal accepts\n"
    "                    nothing (RETIRING). Exit 1 if the final upload\n"
    "                    had payments refused (the rotation is made); exit\n"
    "                    3, nothing done, while offpayd has payments to\n"
    "                    decide (one dated after its clock)\n"
    "      --server URL --new-terminal DIR2 [--new-passphrase-file FILE]\n"
    "  decommission      the final upload (refused while a payment is not\n"
    "                    decided), then offpayd revokes this terminal; run\n"
    "                    again, it reports the decommission already made.\n"
    "                    Until offpayd answers, this terminal accepts\n"
    "                    nothing (RETIRING). Exit 1 if the final upload\n"
    "                    had payments refused or not paid in full (the\n"
    "                    revocation is made); exit 3, nothing done, while\n"
    "                    offpayd has payments to decide\n"
    "      --server URL\n"
    "  export DIR        a new directory DIR (refused if it exists) with a\n"
    "                    consistent copy of the journal (terminal.db, "
    "read-only:\n"
    "                    never to accept with again) and payments.csv and\n"
    "                    payments.json for accounting (with what\n"
    "                    offpayd paid for each payment uploaded, and of\n"
    "                    it what its guarantee covered)\n"
    "  nfc               take one payment from a wallet on the PC/SC reader\n"
    "                    (docs/nfc.md; 'offpay terminal nfc --help')\n"
    "\n"
    "Code output (request, receipt): the text on standard output, and\n"
    "  --png FILE, --svg FILE, --show (draw it on stderr).\n"
    "Output files (--png, --svg, --receipt-png) are written atomically,\n"
    "mode 0600; an existing file is replaced only with --force, and never\n"
    "a file in a terminal's or issuer's directory or a wallet. They are\n"
    "checked before the payment is recorded or the request made.\n"
    "Common options: --terminal DIR (required), --passphrase-file FILE.\n"
    "'accept' needs the passphrase only with --receipt-png: verifying needs\n"
    "no secret. It prints 'accepted' only once the payment is on disk.\n"
    "A code that was already accepted here is refused (exit 1) with when,\n"
    "as which journal entry and for how much it was paid: do not charge\n"
    "the payer again (OFFPAY_EREPLAY). Another code reusing its counter is\n"
    "refused as OFFPAY_EDOUBLE_SPEND and kept as evidence. Exit 1 also when\n"
    "the terminal itself may not accept now (sync required, its clock\n"
    "behind the newest time it has seen, its own credential expired or\n"
    "signed by an issuer key its bundle no longer holds (named, with\n"
    "'terminal rotate'), revoked by offpayd as its last sync learnt, or\n"
    "its key file terminal.key missing: nothing it took could be uploaded);\n"
    "exit 3 when it has no credential yet (OFFPAY_ENO_TERMINAL_CRED),\n"
    "checked after the code is decoded. A full disk or read-only mount is "
    "named\n"
    "(ENOSPC, EROFS) and nothing is recorded. key and journal only read:\n"
    "they write nothing and work on a read-only mount or a full disk.\n";

#define MAX_SETS 16
/* sync --server --batch: at most this many payments per request (offpayd
 * refuses more than its --batch-max, 1,000 by default) */
#define SYNC_BATCH_MAX 10000

typedef struct term_args {
    const char *dir, *pass_file, *root, *bundle, *revlist, *currency, *amount,
        *image, *code, *png, *svg, *receipt_png, *seq, *server, *key_uri;
    size_t      batch; /* sync --server --batch (0: the library's 500) */
    const char *sets[MAX_SETS];
    int         n_sets, show, json, force, generate_key;
    const char *new_dir, *new_pass_file; /* rotate */
} term_args;

static int parse(int argc, char **argv, void *args)
{
    term_args                 *a = args;
    static const struct option opts[] = {
        {"terminal", required_argument, NULL, 'T'},
        {"passphrase-file", required_argument, NULL, 'p'},
        {"root", required_argument, NULL, 'r'},
        {"bundle", required_argument, NULL, 'b'},
        {"revlist", required_argument, NULL, 'l'},
        {"server", required_argument, NULL, 'U'},
        {"currency", required_argument, NULL, 'c'},
        {"amount", required_argument, NULL, 'a'},
        {"image", required_argument, NULL, 'i'},
        {"code", required_argument, NULL, 'C'},
        {"png", required_argument, NULL, 'P'},
        {"svg", required_argument, NULL, 'S'},
        {"receipt-png", required_argument, NULL, 'R'},
        {"seq", required_argument, NULL, 'q'},
        {"set", required_argument, NULL, 's'},
        {"show", no_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"force", no_argument, NULL, 'f'},
        {"key-uri", required_argument, NULL, 'K'},
        {"generate-key", no_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {"new-terminal", required_argument, NULL, 'N'},
        {"new-passphrase-file", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'B'},
        {NULL, 0, NULL, 0},
    };
    uint64_t seen = 0;
    int      c;

    memset(a, 0, sizeof *a);
    optind = 1;
    while ((c = cli_getopt(argc, argv, opts, "set", &seen)) != -1) {
        switch (c) {
        case 'T':
            a->dir = optarg;
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
        case 'l':
            a->revlist = optarg;
            break;
        case 'U':
            a->server = optarg;
            if (cli_server_url("--server", optarg) != 0)
                return EXIT_USAGE;
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
        case 'R':
            a->receipt_png = optarg;
            break;
        case 'q':
            a->seq = optarg;
            break;
        case 'w':
            a->show = 1;
            break;
        case 'j':
            a->json = 1;
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
        case 'N':
            a->new_dir = optarg;
            break;
        case 'n':
            a->new_pass_file = optarg;
            break;
        case 'B': {
            char              *end;
            unsigned long long n;

            errno = 0;
            n = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' ||
                optarg[0] == '-' || n < 1 || n > SYNC_BATCH_MAX)
                return cli_usage_error("--batch: a number of payments from 1 "
                                       "to %d, not '%s'",
                                       SYNC_BATCH_MAX, optarg);
            a->batch = (size_t)n;
            break;
        }
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        case 's':
            if (a->n_sets == MAX_SETS)
                return cli_usage_error("too many --set options");
            a->sets[a->n_sets++] = optarg;
            break;
        case 'h':
            return -1; /* cli_dispatch prints the subcommand's help */
        default:
            return cli_usage_error("terminal: bad option");
        }
    }
    if (a->dir == NULL)
        return cli_usage_error("terminal: --terminal DIR is required");
    return 0;
}

/* 1 when dir's key is in a PKCS#11 token (dir/terminal.keyuri). */
static int key_in_token(const char *dir)
{
    char        path[4096];
    struct stat st;

    return snprintf(path, sizeof path, "%s/terminal.keyuri", dir) <
               (int)sizeof path &&
           stat(path, &st) == 0;
}

/* Whether dir holds any file a terminal keeps (a path too long to tell
 * counts as one: the library names that error). */
static int has_terminal_file(const char *dir)
{
    static const char *const names[] = {"terminal.key", "terminal.keyuri",
                                        "terminal.db", "terminal.lock"};
    char                     path[4200];
    struct stat              st;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >=
                (int)sizeof path ||
            lstat(path, &st) == 0)
            return 1;
    }
    return 0;
}

/* Opens the terminal; with need_key the passphrase is asked for;
 * readonly for commands that only read it (they then work on a read-only
 * mount or a full disk). */
/* 1 when dir's journal opens and reads without the terminal's key. */
static int journal_reads(const char *dir)
{
    offpay_terminal *t = NULL;
    offpay_err       rc = offpay_terminal_open_readonly(dir, NULL, &t);

    offpay_terminal_close(t);
    return rc == OFFPAY_OK;
}

/* When the journal in dir opens and is an exported copy: when it was
 * taken (0: not a copy, or it does not open). */
static uint32_t export_taken_at(const char *dir)
{
    offpay_terminal       *t = NULL;
    offpay_terminal_status st;
    uint32_t               at = 0;

    if (offpay_terminal_open_readonly(dir, NULL, &t) == OFFPAY_OK &&
        offpay_terminal_get_status(t, cli_now(), &st) == OFFPAY_OK)
        at = st.copied_at;
    offpay_terminal_close(t);
    return at;
}

/* The terminal's key file is gone (OFFPAY_ETERMINAL_KEY_MISSING): which
 * file, what that means for the journal, what to do. */
static void key_missing_said(const char *dir)
{
    fprintf(stderr,
            "offpay: %s/terminal.key, this terminal's key, is missing (and "
            "no terminal.keyuri names one in a token): nothing in its "
            "journal can be uploaded without it, and it accepts no payment "
            "meanwhile. Put the file back from where the directory came "
            "from (the key never changes); if it is lost, see "
            "docs/operations.md, \"A terminal's directory without its key\" "
            "(%s)\n",
            dir, offpay_errname(OFFPAY_ETERMINAL_KEY_MISSING));
}

static offpay_terminal *open_terminal_as(const term_args *a, int need_key,
                                         int readonly, int *status)
{
    offpay_terminal *t = NULL;
    int              pass_given = 0;
    char            *pass = NULL;
    struct stat      st;
    offpay_err       rc;

    if (stat(a->dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "offpay: --terminal %s: not a directory: give the terminal's "
                "directory (the one holding terminal.key and terminal.db) "
                "(%s)\n",
                a->dir, offpay_errname(OFFPAY_ENOTDIR));
        *status = EXIT_USAGE;
        return NULL;
    }
    if (!has_terminal_file(a->dir)) {
        /* a typo, or another directory: said before any passphrase is
         * asked (a terminal missing a file of its own is another matter:
         * the library names it) */
        fprintf(stderr,
                "offpay: --terminal %s: no terminal there (%s): give the "
                "terminal's directory (the one holding terminal.key and "
                "terminal.db), or make one with 'offpay terminal init' "
                "(%s)\n",
                a->dir,
                stat(a->dir, &st) != 0 ? "no such directory"
                                       : "no terminal.key or terminal.db",
                offpay_errname(OFFPAY_ENOTFOUND));
        *status = EXIT_USAGE;
        return NULL;
    }
    /* A key in a PKCS#11 token needs no passphrase (its PIN comes from
     * the URI's pin-source or the environment). */
    if (need_key && key_in_token(a->dir)) {
        pass = sodium_malloc(1); /* freed by cli_passphrase_free */
        if (pass != NULL)
            pass[0] = '\0';
        if (pass == NULL) {
            *status = cli_fail(a->dir, OFFPAY_ENOMEM);
            return NULL;
        }
    } else if (need_key) {
        pass = cli_passphrase(a->pass_file, "Terminal passphrase", 0);
        if (pass == NULL) {
            *status = EXIT_FAILURE_IO;
            return NULL;
        }
    }
    pass_given = pass != NULL;
    rc = readonly ? offpay_terminal_open_readonly(a->dir, pass, &t)
                  : offpay_terminal_open(a->dir, pass, &t);
    cli_passphrase_free(pass);
    if (rc == OFFPAY_ECORRUPT && pass_given && journal_reads(a->dir)) {
        /* the journal opens without the key: the key file is what failed */
        fprintf(stderr,
                "offpay: %s: terminal.key (or terminal.keyuri) could not be "
                "read (damaged or truncated?); the journal is fine, keep it: "
                "put back that file alone from a copy (the key never "
                "changes) (%s)\n",
                a->dir, offpay_errname(rc));
        *status = EXIT_FAILURE_IO;
        return NULL;
    }
    if ((rc == OFFPAY_ENOENT || rc == OFFPAY_ETERMINAL_KEY_MISSING) &&
        pass_given) {
        uint32_t at = export_taken_at(a->dir);
        char     when[32];

        if (at != 0) { /* an export has no key: it only reads */
            fprintf(stderr,
                    "offpay: %s is an exported copy of a terminal's journal "
                    "(taken %s): it holds no key and never syncs, accepts "
                    "or signs; run this on the terminal itself (journal and "
                    "status read the copy) (EROFS)\n",
                    a->dir, cli_iso_time(at, when));
            *status = EXIT_USAGE;
            return NULL;
        }
    }
    if (rc == OFFPAY_ETERMINAL_KEY_MISSING) {
        key_missing_said(a->dir);
        *status = EXIT_FAILURE_IO;
        return NULL;
    }
    if (rc == OFFPAY_ENOTFOUND || rc == OFFPAY_ECORRUPT ||
        rc == OFFPAY_EJOURNAL) {
        /* the journal holds the payments taken: name it, and keep it */
        fprintf(stderr,
                "offpay: %s/terminal.db, the terminal's journal, %s: the "
                "payments it accepted are in it. Keep what is left of it; a "
                "copy of the directory holds only what was accepted before "
                "the copy was made, and an export ('terminal export') tells "
                "what the journal held then (%s)\n",
                a->dir,
                rc == OFFPAY_ENOTFOUND
                    ? "is missing"
                    : "could not be read (damaged or truncated?)",
                offpay_errname(rc));
        *status = EXIT_FAILURE_IO;
        return NULL;
    }
    if (rc != OFFPAY_OK) {
        *status = cli_fail_at(NULL, "opening", a->dir, rc);
        return NULL;
    }
    return t;
}

static offpay_terminal *open_terminal(const term_args *a, int need_key,
                                      int *status)
{
    return open_terminal_as(a, need_key, 0, status);
}

/* Checks --png and --svg before anything is made. */
static int check_outputs(const term_args *a)
{
    int status = cli_output_check("--png", a->png, a->force);

    if (status == 0)
        status = cli_output_check("--svg", a->svg, a->force);
    return status;
}

/* 1 when dir/name exists (as anything; a path too long counts as not). */
static int file_there(const char *dir, const char *name, int regular_only)
{
    char        path[4200];
    struct stat st;

    return snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path &&
           lstat(path, &st) == 0 && (!regular_only || S_ISREG(st.st_mode));
}

/* init refused a directory holding a journal without its key (left by a
 * crash of an older init, or a directory copied without its key file,
 * or an export): says what the journal holds, read without the key, and
 * what to do; never that it may go while it holds an accepted payment. */
static int journal_without_key(const char *dir)
{
    offpay_terminal       *t = NULL;
    offpay_terminal_status st;
    char                   when[32];
    offpay_err             rc;

    if (!file_there(dir, "terminal.db", 0)) {
        fprintf(stderr,
                "offpay: %s/terminal.db-wal is there without terminal.db: "
                "it may hold the newest payments of a terminal's journal, "
                "which a new journal beside it would drop, so init does not "
                "touch it: put back the terminal.db it belongs to, or make "
                "the terminal in another directory (%s)\n",
                dir, offpay_errname(OFFPAY_EEXISTS));
        return EXIT_USAGE;
    }
    rc = offpay_terminal_open_readonly(dir, NULL, &t);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_get_status(t, cli_now(), &st);
    offpay_terminal_close(t);
    if (rc != OFFPAY_OK) {
        fprintf(stderr,
                "offpay: %s/terminal.db is there without the terminal's key "
                "(no terminal.key or terminal.keyuri beside it), and does not "
                "open as a terminal's journal (%s): it may hold accepted "
                "payments, so init neither reuses nor replaces it: keep it "
                "(move the directory aside) and make the terminal in "
                "another directory (%s)\n",
                dir, offpay_errname(rc), offpay_errname(OFFPAY_EEXISTS));
        return EXIT_USAGE;
    }
    if (st.copied_at != 0) {
        fprintf(stderr,
                "offpay: %s/terminal.db is an exported copy of a terminal's "
                "journal (taken %s, %llu payment(s)): init neither reuses "
                "nor replaces it: keep it for the merchant's records and "
                "make the terminal in another directory (%s)\n",
                dir, cli_iso_time(st.copied_at, when),
                (unsigned long long)st.journal_entries,
                offpay_errname(OFFPAY_EEXISTS));
        return EXIT_USAGE;
    }
    if (st.journal_entries == 0) {
        fprintf(stderr,
                "offpay: %s/terminal.db is a terminal's journal without its "
                "key (no terminal.key or terminal.keyuri beside it), holding "
                "no accepted payment (an init that failed in an older "
                "version left such a one): init does not reuse it; remove it "
                "(with its -wal and -shm files) and run init again, or make "
                "the terminal in another directory (%s)\n",
                dir, offpay_errname(OFFPAY_EEXISTS));
        return EXIT_USAGE;
    }
    fprintf(stderr,
            "offpay: %s/terminal.db is a terminal's journal without its key "
            "(no terminal.key or terminal.keyuri beside it): %llu accepted "
            "payment(s), ",
            dir, (unsigned long long)st.journal_entries);
    if (st.not_uploaded == 0)
        fprintf(stderr, "each decided by offpayd");
    else
        fprintf(stderr,
                "%llu of them NOT decided by offpayd yet (never uploaded, "
                "or left undecided; the oldest accepted %s)",
                (unsigned long long)st.not_uploaded,
                cli_iso_time(st.oldest_waiting, when));
    fprintf(stderr,
            " (%s)\n"
            "offpay: init neither reuses nor replaces a journal: those "
            "payments are only there. Put the terminal's key file back "
            "beside it (terminal.key, or terminal.keyuri for a key in a "
            "PKCS#11 token, from where this directory was copied) and the "
            "terminal goes on%s; without its key nothing can be uploaded "
            "from it: keep the directory as it is ('offpay terminal "
            "journal --terminal %s' lists the payments) and make the new "
            "terminal in another directory\n",
            offpay_errname(OFFPAY_EEXISTS),
            st.not_uploaded != 0 ? " ('offpay terminal sync --server URL' "
                                   "uploads them)"
                                 : "",
            dir);
    return EXIT_USAGE;
}

/* A failed init: the library's reason, then that it left nothing (it
 * removed what it made: the directory, its files, a key it generated in
 * the token; a line above says what it could not), so init may simply
 * run again once the reason is dealt with. A journal there without its
 * key is said as such. */
static int init_failed(const char *dir, offpay_err rc)
{
    int status;

    if (rc == OFFPAY_EEXISTS && !file_there(dir, "terminal.key", 0) &&
        !file_there(dir, "terminal.keyuri", 0) &&
        (file_there(dir, "terminal.db", 0) ||
         file_there(dir, "terminal.db-wal", 1))) {
        status = journal_without_key(dir);
        fprintf(stderr,
                "offpay: terminal init: no terminal was made, and nothing in "
                "%s was changed\n",
                dir);
        return status;
    }
    status = cli_fail_at(NULL, "creating", dir, rc);

    fprintf(stderr,
            "offpay: terminal init: no terminal was made, and nothing of "
            "the attempt is left in %s (what was there before stays): run "
            "it again once the above is dealt with\n",
            dir);
    return status;
}

static int cmd_init(const void *args, const char *arg CLI_UNUSED)
{
    const term_args *a = args;
    uint8_t          root[OFFPAY_PK_BYTES], *bundle;
    size_t           len = 0;
    uint16_t         currency;
    char            *pass;
    offpay_terminal *t = NULL;
    offpay_err       rc;

    if (a->root == NULL || a->bundle == NULL || a->currency == NULL)
        return cli_usage_error("terminal init: --root, --bundle and "
                               "--currency are required");
    if (cli_parse_key(a->root, root) != 0 ||
        cli_currency(a->currency, &currency) != 0)
        return EXIT_USAGE;
    if (a->generate_key && a->key_uri == NULL)
        return cli_usage_error("terminal init: --generate-key needs "
                               "--key-uri");
    if (a->key_uri != NULL && !offpay_pkcs11_uri_storable(a->key_uri))
        return cli_usage_error(
            "--key-uri: not a PKCS#11 URI that can be kept: it must name "
            "the key (object= or id=) and carry no pin-value (give the PIN "
            "by pin-source or %s) (EPKCS11_URI)",
            OFFPAY_PKCS11_PIN_ENV);
    bundle = cli_read_file(a->bundle, 4096, &len);
    if (bundle == NULL)
        return EXIT_FAILURE_IO;
    if (cli_expect_message("terminal init", "--bundle", a->bundle, bundle, len,
                           OFFPAY_MSG_TRUST_BUNDLE, CLI_GIVE_BUNDLE) != 0) {
        free(bundle);
        return EXIT_REJECTED;
    }
    if (a->key_uri != NULL) {
        rc =
            offpay_terminal_create_in_token(a->dir, a->key_uri, a->generate_key,
                                            root, bundle, len, currency, &t);
        free(bundle);
        if (rc != OFFPAY_OK)
            return init_failed(a->dir, rc);
        offpay_terminal_close(t);
        printf("terminal created in %s (key in the PKCS#11 token)\n", a->dir);
        return EXIT_OK;
    }
    pass = cli_passphrase(a->pass_file, "New terminal passphrase", 1);
    if (pass == NULL) {
        free(bundle);
        return EXIT_FAILURE_IO;
    }
    rc = offpay_terminal_create(a->dir, pass, root, bundle, len, currency, &t);
    cli_passphrase_free(pass);
    free(bundle);
    if (rc != OFFPAY_OK)
        return init_failed(a->dir, rc);
    offpay_terminal_close(t);
    printf("terminal created in %s\n", a->dir);
    return EXIT_OK;
}

static int cmd_key(const void *args, const char *arg CLI_UNUSED)
{
    const term_args *a = args;
    int              status = EXIT_OK;
    offpay_terminal *t = open_terminal_as(a, 1, 1, &status);
    uint8_t          pk[OFFPAY_PK_BYTES];

    if (t == NULL)
        return status;
    offpay_terminal_public_key(t, pk);
    offpay_terminal_close(t);
    for (int i = 0; i < OFFPAY_PK_BYTES; i++)
        printf("%02x", pk[i]);
    printf("\n");
    return EXIT_OK;
}

static int cmd_set_credential(const void *args, const char *file)
{
    const term_args     *a = args;
    int                  status = EXIT_OK;
    offpay_terminal     *t;
    offpay_terminal_cred c;
    uint8_t             *bytes;
    size_t               len = 0;
    offpay_err           rc;

    if (file == NULL)
        return cli_usage_error("terminal set-credential: give the file");
    bytes = cli_read_credential(file, 4096, &len, &status);
    if (bytes == NULL)
        return status;
    t = open_terminal(a, 1, &status);
    if (t == NULL) {
        free(bytes);
        return status;
    }
    rc = offpay_terminal_set_credential(t, bytes, len, cli_now());
    if (rc == OFFPAY_ECURRENCY &&
        offpay_terminal_cred_decode(bytes, len, &c) == OFFPAY_OK) {
        const char *theirs = offpay_currency_alpha(c.currency);
        const char *ours = offpay_currency_alpha(offpay_terminal_currency(t));

        fprintf(stderr,
                "offpay: %s: this credential is in %s and this terminal "
                "charges in %s (its 'terminal init --currency'): nothing "
                "was installed (ECURRENCY)\n"
                "  the terminal was registered for merchant %llu, whose "
                "currency is %s: have the operator revoke that registration "
                "('offpay admin revoke-terminal --terminal-id %u') and "
                "register this key for a merchant in %s, or make a new "
                "terminal in %s for that merchant\n",
                file, theirs ? theirs : "an unknown currency", ours,
                (unsigned long long)c.merchant_id, theirs ? theirs : "another",
                c.terminal_id, ours, theirs ? theirs : "its currency");
        free(bytes);
        offpay_terminal_close(t);
        return EXIT_REJECTED;
    }
    free(bytes);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_credential(t, &c);
    offpay_terminal_close(t);
    if (rc == OFFPAY_EINVAL) {
        fprintf(stderr,
                "offpay: %s: this credential is for another terminal "
                "key\n",
                file);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail(file, rc);
    printf("credential installed: \"%s\" (merchant %llu, terminal %u)\n",
           c.name, (unsigned long long)c.merchant_id, c.terminal_id);
    return EXIT_OK;
}

/* How the terminal's clock stood against offpayd's: offset is offpayd's
 * minus the terminal's, seconds. */
static const char *clock_words(int64_t offset, char *buf, size_t cap)
{
    if (offset == 0)
        snprintf(buf, cap, "in step with offpayd's clock");
    else
        snprintf(buf, cap, "%lld s %s offpayd's clock",
                 (long long)(offset < 0 ? -offset : offset),
                 offset > 0 ? "behind" : "ahead of");
    return buf;
}

/* Off by more than the skew the terminal allows. */
static int clock_off(int64_t offset, uint32_t skew)
{
    return offset > (int64_t)skew || -offset > (int64_t)skew;
}

static void clock_warning(int64_t offset, uint32_t skew)
{
    char w[64];

    printf("WARNING: this terminal's clock was %s, more than the %u s it "
           "allows: set it right (it dates every payment, and offpayd's "
           "lists look %s to it)\n",
           clock_words(offset, w, sizeof w), skew,
           offset > 0 ? "future-dated" : "old");
}

/* The exit status of an online sync that returned OFFPAY_OK (the exit
 * table): 3 when it left payments undecided, 1 when offpayd refused
 * payments or did not pay them in full, or revoked the terminal (which
 * accepts nothing more: a fleet's script must see it), else 0. */
static int sync_status(const offpay_upload_report *r)
{
    if (r->left > 0)
        return EXIT_FAILURE_IO;
    return r->rejected + r->unpaid > 0 || r->revoked ? EXIT_REJECTED : EXIT_OK;
}

static int count_paid(const offpay_journal_entry *e, void *ctx)
{
    /* paid before: what offpayd decided paid, the ledger's loss found
     * since included */
    if (e->uploaded && (e->paid > 0 || (e->lost != 0 && e->lost_paid > 0)))
        (*(uint64_t *)ctx)++;
    return 0;
}

/* offpayd does not know this terminal's key (OFFPAY_ETERMINAL_UNKNOWN):
 * said on out (stdout, or stderr beside --json's object). One with a
 * credential that synced before was known to it: its ledger went back to
 * before the terminal's registration. */
static int sync_unknown(offpay_terminal *t, FILE *out)
{
    offpay_terminal_status st;
    uint64_t               paid = 0;

    if (offpay_terminal_get_status(t, cli_now(), &st) != OFFPAY_OK ||
        !st.has_cred || st.last_sync == 0 || st.clock_seen_at == 0) {
        fprintf(out, "NOT SYNCED: offpayd does not know this terminal's key: "
                     "ask its operator to register it (docs/operations.md "
                     "section 2)\n");
        return EXIT_REJECTED;
    }
    (void)offpay_terminal_journal(t, count_paid, &paid);
    fprintf(out,
            "NOT SYNCED: offpayd does not know this terminal (terminal %u): "
            "its ledger may have been restored from a copy older than the "
            "terminal's registration. Ask the operator to register this "
            "terminal's key again (docs/operations.md section 5)",
            (unsigned)st.cred.terminal_id);
    if (paid > 0)
        fprintf(out,
                "; its %llu payment(s) paid before are kept in its journal "
                "and uploaded again then",
                (unsigned long long)paid);
    else
        fprintf(out, "; what it accepts meanwhile is kept in its journal "
                     "and paid once it is");
    fputc('\n', out);
    fprintf(stderr, "offpay: sync with offpayd: %s (ETERMINAL_UNKNOWN)\n",
            offpay_strerror(OFFPAY_ETERMINAL_UNKNOWN));
    return EXIT_REJECTED;
}

/* The exit status of an online sync that failed with rc, said on stderr:
 * lists offpayd signed that look future-dated to a terminal whose clock
 * is behind offpayd's beyond the skew are this clock's fault (a reset, a
 * battery gone), not a refusal: 3; else as cli_fail_online. */
static int sync_failed(offpay_terminal *t, offpay_err rc,
                       const offpay_upload_report *r, int json)
{
    offpay_risk risk;

    if (rc == OFFPAY_ETERMINAL_UNKNOWN)
        return sync_unknown(t, json ? stderr : stdout);

    if (rc == OFFPAY_EFUTURE_DATED && r->clock_known &&
        offpay_terminal_get_risk(t, &risk) == OFFPAY_OK &&
        r->clock_offset > (int64_t)risk.skew) {
        fprintf(stderr,
                "offpay: sync with offpayd: the lists offpayd signed now "
                "look dated in the future to this terminal, whose clock is "
                "behind (above): set it right and sync again; what was "
                "uploaded stays uploaded (EFUTURE_DATED)\n");
        return EXIT_FAILURE_IO;
    }
    return cli_fail_online("sync with offpayd", rc);
}

/* Counts the journal entries offpayd decided at or after `since` (the
 * sync's start, on the terminal's clock) whose shortfall is owed by the
 * issuer's guarantee: reason EFUNDS, a claim on it (settlement.md §5). */
struct owed_count {
    uint32_t since;
    size_t   n;
};

static int count_owed(const offpay_journal_entry *e, void *ctx)
{
    struct owed_count *c = ctx;

    if (e->uploaded && e->decided_at >= c->since &&
        strcmp(e->outcome, "rejected") != 0 && strcmp(e->reason, "EFUNDS") == 0)
        c->n++;
    return 0;
}

/* Of a sync's r->unpaid, how many the guarantee owes (0 when the journal
 * cannot be read: then none is said to be owed). */
static size_t owed_by_guarantee(offpay_terminal            *t,
                                const offpay_upload_report *r, uint32_t since)
{
    struct owed_count c = {since, 0};

    if (r->unpaid == 0 ||
        offpay_terminal_journal(t, count_owed, &c) != OFFPAY_OK)
        return 0;
    return c.n < r->unpaid ? c.n : r->unpaid;
}

/* A sync's last word on what offpayd refused (r->rejected) and did not
 * pay in full (r->unpaid, owed of them by the issuer's guarantee: paid
 * once it is funded; the rest never), on stderr. */
static void final_words(const offpay_upload_report *r, size_t owed)
{
    char head[96];

    if (r->rejected > 0)
        snprintf(head, sizeof head,
                 "%zu payment(s) refused by offpayd and %zu not paid in full",
                 r->rejected, r->unpaid);
    else
        snprintf(head, sizeof head, "%zu payment(s) not paid in full",
                 r->unpaid);
    fprintf(stderr, "offpay: sync with offpayd: %s (why is above): ", head);
    if (owed == 0) {
        fprintf(stderr, "what was not paid will not be\n");
        return;
    }
    if (r->rejected > 0)
        fprintf(stderr, "what was refused will not be paid; ");
    fprintf(stderr,
            "%zu of %s owed by the issuer's guarantee, paid once it is "
            "funded",
            owed, r->rejected > 0 ? "those not paid in full" : "them");
    if (owed < r->unpaid)
        fprintf(stderr, "; what the other %zu were not paid will not be",
                r->unpaid - owed);
    fprintf(stderr, "\n");
}

/* `terminal sync --server URL --json`: the report as one object, for a
 * script watching a fleet of terminals; what failed is still said on
 * stderr. */
static int sync_json(offpay_terminal *t, offpay_err rc,
                     const offpay_upload_report *r, uint32_t began)
{
    char     amount[OFFPAY_AMOUNT_TEXT_MAX];
    uint16_t cur = offpay_terminal_currency(t);
    int status = rc != OFFPAY_OK ? sync_failed(t, rc, r, 1) : sync_status(r);
    json_t  *j;
    char    *s;

    if (offpay_amount_format(r->paid, cur, amount, sizeof amount) != OFFPAY_OK)
        amount[0] = '\0';
    j = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:s, s:s}, s:b, "
        "s:o, s:b, s:I, s:I, s:I, s:I, s:s, s:I}",
        "sent", (json_int_t)r->sent, "decided", (json_int_t)r->decided,
        "paid_count", (json_int_t)r->settled, "refused",
        (json_int_t)r->rejected, "not_paid_in_full", (json_int_t)r->unpaid,
        "owed_by_guarantee",
        (json_int_t)(rc == OFFPAY_OK ? owed_by_guarantee(t, r, began) : 0),
        "left", (json_int_t)r->left, "paid", "minor", (json_int_t)r->paid,
        "decimal", amount, "currency", offpay_currency_alpha(cur), "synced",
        r->synced, "clock_offset",
        r->clock_known ? json_integer((json_int_t)r->clock_offset)
                       : json_null(),
        "revoked", r->revoked, "rechecked", (json_int_t)r->rechecked, "lost",
        (json_int_t)r->lost, "accepted_during", (json_int_t)r->accepted_during,
        "mismatched", (json_int_t)r->mismatched, "error",
        rc == OFFPAY_OK ? "" : offpay_errname(rc), "exit", (json_int_t)status);
    s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s == NULL) {
        json_decref(j);
        return cli_fail("sync with offpayd", OFFPAY_ENOMEM);
    }
    printf("%s\n", s);
    offpay__json_free(s);
    json_decref(j);
    return status;
}

static int cmd_sync(const void *args, const char *arg CLI_UNUSED)
{
    const term_args *a = args;
    int              status = EXIT_OK;
    offpay_terminal *t;
    uint8_t         *bundle = NULL, *revlist = NULL;
    size_t           blen = 0, rlen = 0;
    offpay_err       rc;
    const char      *server = a->server;
    char             known[OFFPAY_TERMINAL_SERVER_MAX + 1] = "";

    /* nothing named: the offpayd this terminal last synced with */
    if (server == NULL && a->bundle == NULL && a->revlist == NULL) {
        t = open_terminal_as(a, 0, 1, &status);
        if (t == NULL)
            return status;
        rc = offpay_terminal_server(t, known, sizeof known);
        offpay_terminal_close(t);
        if (rc != OFFPAY_OK)
            return cli_usage_error("terminal sync: give --server URL "
                                   "(offpayd; remembered after its first "
                                   "sync), or --revlist FILE and/or "
                                   "--bundle FILE from the issuer");
        server = known;
        fprintf(stderr,
                "offpay: syncing with %s (the offpayd this terminal last "
                "synced with)\n",
                server);
    }
    if (server != NULL) {
        offpay_upload_report r;
        char                 money[OFFPAY_AMOUNT_TEXT_MAX + 8], count[64];
        uint32_t             began;

        if (a->bundle != NULL || a->revlist != NULL)
            return cli_usage_error("terminal sync: --server takes the bundle "
                                   "and list from offpayd: not with --bundle "
                                   "or --revlist");
        t = open_terminal(a, 1, &status);
        if (t == NULL)
            return status;
        began = cli_now();
        rc = offpay_terminal_upload(t, server, a->batch, began, &r);
        /* remembered for the next sync without --server */
        if (rc == OFFPAY_OK && a->server != NULL &&
            (offpay_terminal_server(t, known, sizeof known) != OFFPAY_OK ||
             strcmp(known, a->server) != 0))
            (void)offpay_terminal_set_server(t, a->server);
        if (a->json) {
            status = sync_json(t, rc, &r, began);
            offpay_terminal_close(t);
            return status;
        }
        if (rc != OFFPAY_OK && rc != OFFPAY_ETERMINAL_UNKNOWN) {
            /* first, before the counts: nothing is lost, try again
             * (offpayd not knowing the terminal is said below) */
            offpay_terminal_status st;

            if (offpay_terminal_get_status(t, cli_now(), &st) == OFFPAY_OK)
                printf("NOT SYNCED with %s: %llu payment(s) not uploaded "
                       "yet stay safe in the journal, for the next sync "
                       "(why is on stderr)\n",
                       server, (unsigned long long)st.not_uploaded);
            else
                printf("NOT SYNCED with %s (why is on stderr)\n", server);
            fflush(stdout);
        }
        if (r.clock_known) {
            char                   w[64];
            offpay_terminal_status st;

            printf("clock: this terminal's is %s\n",
                   clock_words(r.clock_offset, w, sizeof w));
            if (offpay_terminal_get_status(t, cli_now(), &st) == OFFPAY_OK &&
                clock_off(r.clock_offset, st.skew))
                clock_warning(r.clock_offset, st.skew);
        }
        if (r.lost > 0) {
            /* offpayd's ledger went back in time: said first, and to the
             * operator too (stderr), whatever offpayd decided again */
            printf("LEDGER LOST PAYMENTS: offpayd's ledger no longer held "
                   "%zu payment(s) it had paid this terminal: uploaded again "
                   "(counted below), and at each sync until offpayd decides "
                   "them\n",
                   r.lost);
            fprintf(stderr,
                    "offpay: sync with offpayd: offpayd's ledger had lost "
                    "%zu payment(s) it had paid this terminal (was it taken "
                    "back to an older copy? docs/operations.md section 5): "
                    "this terminal uploads them again; tell offpayd's "
                    "operator\n",
                    r.lost);
        }
        /* what was paid in part is in the sum: say so beside it */
        if (r.unpaid > 0)
            snprintf(count, sizeof count,
                     " in full, %zu in part or not at all,", r.unpaid);
        else
            snprintf(count, sizeof count, ",");
        /* a sync that stopped because another one runs counted nothing:
         * "0 left to upload" under NOT SYNCED's count of the journal read
         * as a contradiction */
        if (rc != OFFPAY_EBUSY || r.sent > 0)
            printf("uploaded %zu payment(s): %zu decided (%zu paid%s %s%s; "
                   "%zu refused), %zu left to upload\n",
                   r.sent, r.decided, r.settled, count,
                   cli_money(r.paid, offpay_terminal_currency(t), money,
                             sizeof money),
                   r.unpaid > 0 ? " in all" : "", r.rejected, r.left);
        if (r.mismatched > 0)
            printf("warning: %zu payment(s): offpayd holds another charge for "
                   "this payment (uploaded before by this terminal's key, "
                   "and paid; a case is opened): tell offpayd's operator "
                   "(details on stderr)\n",
                   r.mismatched);
        if (r.accepted_during > 0)
            printf("%zu payment(s) accepted while the sync ran: uploaded at "
                   "the next sync\n",
                   r.accepted_during);
        if (rc != OFFPAY_OK)
            status = sync_failed(t, rc, &r, 0);
        else
            printf("synced with %s: the newest bundle and revocation list "
                   "taken\n",
                   server);
        if (rc == OFFPAY_OK && r.rejected + r.unpaid > 0 && r.left == 0) {
            /* final: offpayd will not pay them, or not in full (its
             * reasons above) */
            size_t owed = owed_by_guarantee(t, &r, began);

            if (r.unpaid == 0)
                fprintf(stderr,
                        "offpay: sync with offpayd: %zu payment(s) refused "
                        "by offpayd (why is above): they will not be paid\n",
                        r.rejected);
            else
                final_words(&r, owed);
            status = EXIT_REJECTED;
        }
        if (rc == OFFPAY_OK && r.left > 0) {
            /* offpayd answered, but left entries undecided (a ledger or
             * shard that failed, entries dated after its clock): a script
             * running the sync must see that they are not settled */
            fprintf(stderr,
                    "offpay: sync with offpayd: %zu payment(s) not decided by "
                    "offpayd (why is above): they stay in the journal and "
                    "are sent again at the next sync\n",
                    r.left);
            status = EXIT_FAILURE_IO;
        }
        if (r.revoked) {
            printf("REVOKED: offpayd has revoked this terminal: it accepts "
                   "no more payments (those it accepted before the "
                   "revocation are paid)\n");
            if (status == EXIT_OK)
                status = EXIT_REJECTED;
        }
        offpay_terminal_close(t);
        return status;
    }
    if (a->batch != 0)
        return cli_usage_error("terminal sync: --batch goes with --server");
    if (a->bundle == NULL && a->revlist == NULL)
        return cli_usage_error("terminal sync: give --revlist FILE and/or "
                               "--bundle FILE from the issuer, or --server "
                               "URL");
    if (a->bundle != NULL &&
        (bundle = cli_read_file(a->bundle, 4096, &blen)) == NULL)
        return EXIT_FAILURE_IO;
    if (a->revlist != NULL &&
        (revlist = cli_read_file(a->revlist, OFFPAY_MSG_MAX_BYTES, &rlen)) ==
            NULL) {
        free(bundle);
        return EXIT_FAILURE_IO;
    }
    if ((bundle != NULL &&
         cli_expect_message("terminal sync", "--bundle", a->bundle, bundle,
                            blen, OFFPAY_MSG_TRUST_BUNDLE,
                            CLI_GIVE_BUNDLE) != 0) ||
        (revlist != NULL &&
         cli_expect_message("terminal sync", "--revlist", a->revlist, revlist,
                            rlen, OFFPAY_MSG_REVLIST, CLI_GIVE_REVLIST) != 0)) {
        free(bundle);
        free(revlist);
        return EXIT_REJECTED;
    }
    t = open_terminal(a, 0, &status);
    if (t != NULL) {
        offpay_sync_state before, after;

        offpay_terminal_sync_state(t, &before);
        rc = offpay_terminal_sync(t, bundle, blen, revlist, rlen, cli_now());
        offpay_terminal_sync_state(t, &after);
        if (rc != OFFPAY_OK)
            status = cli_fail("sync refused", rc);
        else if (after.bundle_seq == before.bundle_seq &&
                 after.revlist_seq == before.revlist_seq &&
                 after.revlist_issued_at == before.revlist_issued_at)
            printf("nothing newer than what the terminal holds: offline "
                   "limits unchanged\n");
        else
            printf("synced\n");
    }
    offpay_terminal_close(t);
    free(bundle);
    free(revlist);
    return status;
}

/* Applies one NAME=VALUE to r. */
static int set_rule(offpay_risk *r, uint16_t currency, const char *set)
{
    static const struct {
        const char *name;
        size_t      off;
    } secs[] = {
        {"max-offline-payments", offsetof(offpay_risk, max_offline_payments)},
        {"max-offline-hours", offsetof(offpay_risk, max_offline_hours)},
        {"max-code-age", offsetof(offpay_risk, max_code_age)},
        {"max-code-age-unbound", offsetof(offpay_risk, max_code_age_unbound)},
        {"skew", offsetof(offpay_risk, skew)},
        {"max-revlist-age", offsetof(offpay_risk, max_revlist_age)},
        {"request-ttl", offsetof(offpay_risk, request_ttl)},
        {"max-upload-days", offsetof(offpay_risk, max_upload_days)},
    };
    const char *eq = strchr(set, '=');
    size_t      nlen;

    if (eq == NULL)
        return cli_usage_error("--set %s: expected NAME=VALUE", set);
    nlen = (size_t)(eq - set);
    if (strncmp(set, "floor-unbound", nlen) == 0 && nlen == 13)
        return cli_amount(eq + 1, currency, &r->floor_unbound) ? EXIT_USAGE : 0;
    if (strncmp(set, "floor-bound", nlen) == 0 && nlen == 11)
        return cli_amount(eq + 1, currency, &r->floor_bound) ? EXIT_USAGE : 0;
    if (strncmp(set, "cumulative", nlen) == 0 && nlen == 10)
        return cli_amount(eq + 1, currency, &r->cumulative) ? EXIT_USAGE : 0;
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        if (strlen(secs[i].name) == nlen &&
            strncmp(set, secs[i].name, nlen) == 0) {
            char         *end = NULL;
            unsigned long v;

            errno = 0;
            v = strtoul(eq + 1, &end, 10);
            if (eq[1] < '0' || eq[1] > '9' || errno != 0 || *end != '\0' ||
                v > UINT32_MAX)
                return cli_usage_error("--set %s: a whole number", set);
            if (strcmp(secs[i].name, "skew") == 0 && v > OFFPAY_RISK_SKEW_MAX)
                return cli_usage_error(
                    "--set %s: at most %u s (12 hours): a revocation "
                    "leaves the issuer's lists a day after its "
                    "credential's expiry, and a terminal allowing more "
                    "skew could take a revoked credential's codes",
                    set, (unsigned)OFFPAY_RISK_SKEW_MAX);
            *(uint32_t *)(void *)((char *)r + secs[i].off) = (uint32_t)v;
            return 0;
        }
    }
    return cli_usage_error("--set: unknown rule '%.*s'", (int)nlen, set);
}

/* A terminal made before the defaults counted in the currency's risk unit
 * (0.14.0 and older: one major unit, so 50 JPY unbound) kept the rules it
 * saved then: each amount rule below today's default says so, on stderr,
 * with the setting that takes the default (the guarantee covers it). */
static void warn_below_defaults(const offpay_risk *r, uint16_t cur)
{
    static const char *names[] = {"floor-unbound", "floor-bound", "cumulative"};
    offpay_risk        d;
    int64_t            have[3], dflt[3];
    char               m1[64], m2[64], num[OFFPAY_AMOUNT_TEXT_MAX];

    offpay_risk_defaults(cur, &d);
    have[0] = r->floor_unbound, dflt[0] = d.floor_unbound;
    have[1] = r->floor_bound, dflt[1] = d.floor_bound;
    have[2] = r->cumulative, dflt[2] = d.cumulative;
    for (size_t i = 0; i < 3; i++)
        if (have[i] < dflt[i] &&
            offpay_amount_format(dflt[i], cur, num, sizeof num) == OFFPAY_OK)
            fprintf(stderr,
                    "note: %s %s is below the default %s, which the "
                    "guarantee covers (--set %s=%s takes it)\n",
                    names[i], cli_money(have[i], cur, m1, sizeof m1),
                    cli_money(dflt[i], cur, m2, sizeof m2), names[i], num);
}

/* The guarantee pays an overspend only for payments within the issuer's
 * default rules (docs/settlement.md §5), whatever a terminal is set to:
 * a rule set looser says so, on stderr, each time the rules are shown. */
static void warn_beyond_guarantee(const offpay_risk *r, uint16_t cur)
{
    offpay_risk d;
    char        m[64];
    int         beyond = 0;

    offpay_risk_defaults(cur, &d);
    if (r->floor_unbound > d.floor_unbound)
        beyond = fprintf(stderr,
                         "warning: floor-unbound is above the guarantee's "
                         "%s\n",
                         cli_money(d.floor_unbound, cur, m, sizeof m));
    if (r->floor_bound > d.floor_bound)
        beyond = fprintf(stderr,
                         "warning: floor-bound is above the guarantee's %s\n",
                         cli_money(d.floor_bound, cur, m, sizeof m));
    if (r->cumulative > d.cumulative)
        beyond =
            fprintf(stderr, "warning: cumulative is above the guarantee's %s\n",
                    cli_money(d.cumulative, cur, m, sizeof m));
    if (r->max_code_age > d.max_code_age)
        beyond = fprintf(stderr,
                         "warning: max-code-age is above the guarantee's "
                         "%u s\n",
                         d.max_code_age);
    if (r->max_code_age_unbound > d.max_code_age_unbound)
        beyond = fprintf(stderr,
                         "warning: max-code-age-unbound is above the "
                         "guarantee's %u s\n",
                         d.max_code_age_unbound);
    if (r->skew > d.skew)
        beyond = fprintf(
            stderr, "warning: skew is above the guarantee's %u s\n", d.skew);
    if (r->max_revlist_age == 0)
        beyond = fprintf(stderr,
                         "warning: max-revlist-age 0 (no limit) is looser "
                         "than the guarantee's %u s\n",
                         d.max_revlist_age);
    else if (r->max_revlist_age > d.max_revlist_age)
        beyond = fprintf(stderr,
                         "warning: max-revlist-age is above the guarantee's "
                         "%u s\n",
                         d.max_revlist_age);
    if (beyond)
        fprintf(stderr,
                "  a payment accepted beyond the guarantee's rules is paid "
                "from the payer's escrow only: if the payer overspent, the "
                "merchant is not paid the rest (docs/settlement.md §5)\n");
}

/* max-upload-days is no guarantee rule but bounds what is paid at all: a
 * payment offpayd receives after its late window (docs/settlement.md §6;
 * with offpayd's defaults, the upload grace and the late window after
 * the credential's expiry: at the earliest that many days after the
 * payment) is ELATE and paid 0. A rule that lets a payment wait longer,
 * or forever, says so on stderr. offpayd's own settings are not known
 * here: its defaults are the yardstick. */
static void warn_beyond_late_window(const offpay_risk *r)
{
    offpay_ledger_config c;
    uint32_t             days;

    offpay_ledger_config_defaults(&c);
    days = (c.upload_grace + c.late_window) / 86400u;
    if (r->max_upload_days == 0)
        fprintf(stderr,
                "warning: max-upload-days 0 (no limit) lets a payment wait "
                "past offpayd's late window, at the earliest %u days after "
                "it (offpayd's defaults): a payment uploaded later is not "
                "paid at all (ELATE, docs/settlement.md §6)\n",
                days);
    else if (r->max_upload_days > days)
        fprintf(stderr,
                "warning: max-upload-days is above offpayd's late window, at "
                "the earliest %u days after a payment (offpayd's defaults): "
                "a payment uploaded later is not paid at all (ELATE, "
                "docs/settlement.md §6)\n",
                days);
}

static int cmd_risk(const void *args, const char *arg CLI_UNUSED)
{
    const term_args *a = args;
    int              status = EXIT_OK;
    offpay_terminal *t = open_terminal(a, 0, &status);
    offpay_risk      r;
    uint16_t         cur;
    char             m1[64], m2[64], m3[64];

    if (t == NULL)
        return status;
    offpay_terminal_get_risk(t, &r);
    cur = offpay_terminal_currency(t);
    for (int i = 0; i < a->n_sets && status == EXIT_OK; i++)
        status = set_rule(&r, cur, a->sets[i]);
    if (status == EXIT_OK && a->n_sets > 0) {
        offpay_err rc = offpay_terminal_set_risk(t, &r);

        if (rc != OFFPAY_OK)
            status = cli_fail("cannot save the rules", rc);
    }
    if (status == EXIT_OK)
        printf("floor-unbound         %s\nfloor-bound           %s\n"
               "cumulative            %s\nmax-offline-payments  %u\n"
               "max-offline-hours     %u\nmax-code-age          %u s\n"
               "max-code-age-unbound  %u s\n"
               "skew                  %u s\nmax-revlist-age       %u s\n"
               "request-ttl           %u s\n"
               "max-upload-days       %u d\n",
               cli_money(r.floor_unbound, cur, m1, sizeof m1),
               cli_money(r.floor_bound, cur, m2, sizeof m2),
               cli_money(r.cumulative, cur, m3, sizeof m3),
               r.max_offline_payments, r.max_offline_hours, r.max_code_age,
               r.max_code_age_unbound, r.skew, r.max_revlist_age, r.request_ttl,
               r.max_upload_days);
    if (status == EXIT_OK) {
        printf("(risk unit %s: the defaults are 50, 200 and 500 of it)\n",
               cli_money(offpay_currency_risk_unit(cur), cur, m1, sizeof m1));
        warn_below_defaults(&r, cur);
        warn_beyond_guarantee(&r, cur);
        warn_beyond_late_window(&r);
    }
    offpay_terminal_close(t);
    return status;
}

/* After a request for amount refused by the floor for bound codes or the
 * cumulative limit: what the cashier can do. Splitting helps only within
 * the cumulative limit, which counts every payment of one payer's
 * credential here: past it, no split is taken offline. */
static void request_limit_hint(const offpay_risk *risk, uint16_t cur,
                               int64_t amount)
{
    char floor[64], cumul[64];

    cli_money(risk->floor_bound, cur, floor, sizeof floor);
    cli_money(risk->cumulative, cur, cumul, sizeof cumul);
    if (amount > risk->cumulative)
        fprintf(stderr,
                "  one payer pays at most %s in all here offline (terminal "
                "risk: cumulative, per credential), and at most %s a "
                "payment (floor-bound): split or not, this amount is not "
                "taken offline; take it another way\n",
                cumul, floor);
    else
        fprintf(stderr,
                "  a payment above %s is not accepted offline here "
                "(terminal risk: floor-bound): split it into payments of "
                "at most that, %s in all from one payer (cumulative)\n",
                floor, cumul);
}

static int cmd_request(const void *args, const char *arg CLI_UNUSED)
{
    const term_args *a = args;
    int              status = EXIT_OK;
    offpay_terminal *t;
    uint16_t         cur;
    int64_t          amount;
    char            *text = NULL, money[64];
    offpay_err       rc;

    if (a->amount == NULL)
        return cli_usage_error("terminal request: --amount is required");
    if ((status = check_outputs(a)) != 0)
        return status;
    t = open_terminal(a, 1, &status);
    if (t == NULL)
        return status;
    cur = offpay_terminal_currency(t);
    if (cli_amount(a->amount, cur, &amount) != 0) {
        status = EXIT_USAGE;
    } else if (amount <= 0) {
        status = cli_usage_error("terminal request: the amount must be more "
                                 "than 0");
    } else if ((rc = offpay_terminal_request(t, amount, cli_now(), &text,
                                             NULL)) != OFFPAY_OK) {
        offpay_risk risk;

        if ((rc == OFFPAY_ESYNC_REQUIRED &&
             cli_sync_required_why(t, cli_now(), "cannot make a request")) ||
            (rc == OFFPAY_ETERMINAL_EXPIRED &&
             cli_terminal_expired_why(t, cli_now(), "cannot make a request")))
            status = EXIT_REJECTED;
        else
            status = cli_fail("cannot make a request", rc);
        if ((rc == OFFPAY_EOVER_FLOOR || rc == OFFPAY_EOVER_CUMULATIVE) &&
            offpay_terminal_get_risk(t, &risk) == OFFPAY_OK)
            request_limit_hint(&risk, cur, amount);
    } else {
        fprintf(stderr, "request code for %s\n",
                cli_money(amount, cur, money, sizeof money));
        status = cli_emit_code(text, a->png, a->svg, a->show, a->force);
    }
    free(text);
    offpay_terminal_close(t);
    return status;
}

typedef struct nonce_find {
    uint8_t            nonce[OFFPAY_NONCE_BYTES];
    offpay_acceptance *acc;
    int                found;
} nonce_find;

static int match_nonce(const offpay_journal_entry *e, void *vctx)
{
    nonce_find    *f = vctx;
    offpay_payment p;

    if (!e->bound ||
        offpay_payment_decode(e->code, e->code_len, &p) != OFFPAY_OK)
        return 0;
    if (!p.bound || memcmp(p.nonce, f->nonce, OFFPAY_NONCE_BYTES) != 0)
        return 0;
    f->acc->seq = e->seq;
    f->acc->time = e->accepted_at;
    f->acc->charged = e->charged;
    f->found = 1;
    return 1;
}

/* After OFFPAY_EWRONG_NONCE: whether the journal holds a payment of the
 * same request (the request was answered twice); fills acc's seq, time and
 * charged from it. */
static int paid_request(offpay_terminal *t, const char *text,
                        offpay_acceptance *acc)
{
    uint8_t       *bytes = NULL;
    size_t         len = 0;
    offpay_payment p;
    nonce_find     f;

    memset(&f, 0, sizeof f);
    if (offpay_text_decode(text, strlen(text), &bytes, &len) != OFFPAY_OK)
        return 0;
    if (offpay_payment_decode(bytes, len, &p) == OFFPAY_OK && p.bound) {
        memcpy(f.nonce, p.nonce, OFFPAY_NONCE_BYTES);
        f.acc = acc;
        (void)offpay_terminal_journal(t, match_nonce, &f);
    }
    free(bytes);
    return f.found;
}

/* After an acceptance: an offline limit at 80 % or more, on stderr, so
 * the cashier hears of it before the terminal starts refusing (as
 * 'terminal status' warns). From the sync state and the rules alone: no
 * look at the journal per payment. */
static void accept_warnings(const offpay_terminal *t, uint32_t now)
{
    offpay_sync_state s;
    offpay_risk       r;
    char              h[32], h2[32];

    if (offpay_terminal_sync_state(t, &s) != OFFPAY_OK ||
        offpay_terminal_get_risk(t, &r) != OFFPAY_OK)
        return;
    /* the last one the limit allows: the next is refused, not "soon" */
    if (r.max_offline_payments != 0 &&
        s.payments_since_sync >= r.max_offline_payments)
        fprintf(stderr,
                "WARNING: %u of %u payments since the last sync: that was "
                "the last one; the next is refused ('sync required') until "
                "the terminal syncs\n",
                s.payments_since_sync, r.max_offline_payments);
    else if (r.max_offline_payments != 0 &&
             (uint64_t)s.payments_since_sync * 100 >=
                 80ULL * r.max_offline_payments)
        fprintf(stderr,
                "WARNING: %u of %u payments since the last sync: sync soon, "
                "or the terminal will refuse payments ('sync required')\n",
                s.payments_since_sync, r.max_offline_payments);
    if (r.max_offline_hours != 0 && s.last_sync != 0 && now > s.last_sync &&
        (uint64_t)(now - s.last_sync) * 100 >=
            80ULL * 3600 * r.max_offline_hours)
        fprintf(stderr,
                "WARNING: %s h since the last sync, of %u h: sync soon, or "
                "the terminal will refuse payments ('sync required')\n",
                cli_hours(now - s.last_sync, h), r.max_offline_hours);
    if (r.max_revlist_age != 0 && s.revlist_issued_at != 0 &&
        now > s.revlist_issued_at &&
        (uint64_t)(now - s.revlist_issued_at) * 100 >=
            80ULL * r.max_revlist_age)
        fprintf(stderr,
                "WARNING: the revocation list is %s h old, of %s h: sync "
                "soon, or the terminal will refuse payments\n",
                cli_hours(now - s.revlist_issued_at, h),
                cli_hours(r.max_revlist_age, h2));
    if (r.max_upload_days != 0 && s.oldest_waiting != 0 &&
        now > s.oldest_waiting &&
        (uint64_t)(now - s.oldest_waiting) * 100 >=
            80ULL * 86400 * r.max_upload_days)
        fprintf(stderr,
                "WARNING: a payment has waited %s h for offpayd, of %u "
                "day(s): upload soon ('terminal sync --server URL'), or the "
                "terminal will refuse payments\n",
                cli_hours(now - s.oldest_waiting, h), r.max_upload_days);
}

/* After ECODE_TOO_OLD or ECODE_FUTURE (rc): the code's time (the payer's
 * clock) beside this terminal's, so the cashier knows what to check. A
 * bound code answers a request this terminal dated by its own clock, so
 * one from the future means the payer's clock is ahead. */
static void code_time_hint(const char *text, uint32_t now, offpay_err rc)
{
    uint8_t       *bytes = NULL;
    size_t         len = 0;
    offpay_payment p;
    char           t1[32], t2[32];

    if (offpay_text_decode(text, strlen(text), &bytes, &len) != OFFPAY_OK ||
        offpay_payment_decode(bytes, len, &p) != OFFPAY_OK) {
        free(bytes);
        return;
    }
    cli_iso_time(p.time, t1);
    cli_iso_time(now, t2);
    if (p.bound && rc == OFFPAY_ECODE_FUTURE)
        fprintf(stderr,
                "  the code was made at %s by the payer's clock, %lld s "
                "after this terminal's %s; it answers a request this "
                "terminal made by its own clock, so the payer's clock is "
                "ahead: the payer should set the device's clock right (or "
                "pay with a code shown on the device)\n",
                t1, (long long)p.time - (long long)now, t2);
    else if (rc == OFFPAY_ECODE_FUTURE)
        fprintf(stderr,
                "  the code was made at %s by the payer's clock, %lld s "
                "after this terminal's %s: the payer's clock is ahead, or "
                "this terminal's is behind (a fresh code from a payer "
                "whose clock is right means this terminal's clock is "
                "off)\n",
                t1, (long long)p.time - (long long)now, t2);
    else
        fprintf(stderr,
                "  the code was made at %s by the payer's clock, %lld s "
                "before this terminal's %s: an old code, or this "
                "terminal's clock is ahead (a fresh code from a payer "
                "whose clock is right means this terminal's clock is "
                "off)\n",
                t1, (long long)now - (long long)p.time, t2);
    free(bytes);
}

/* Which of the terminal's own limits s has reached, in the order a payment
 * meets them (check.c): the payments, the hours since the sync, the
 * upload wait; LIMIT_NONE when s names none (another cause). */
enum { LIMIT_NONE, LIMIT_PAYMENTS, LIMIT_HOURS, LIMIT_UPLOAD };

static int limit_reached(const offpay_terminal_status *s)
{
    if (s->max_offline_payments &&
        s->payments_since_sync >= s->max_offline_payments)
        return LIMIT_PAYMENTS;
    if (s->max_offline_hours && s->hours_pct >= 100)
        return LIMIT_HOURS;
    if (s->max_upload_days && s->upload_pct >= 100)
        return LIMIT_UPLOAD;
    return LIMIT_NONE;
}

int cli_sync_required_why(offpay_terminal *t, uint32_t now, const char *verdict)
{
    offpay_terminal_status st;
    char                   h1[32];
    int                    which;

    if (offpay_terminal_get_status(t, now, &st) != OFFPAY_OK)
        return 0;
    which = limit_reached(&st);
    if (which == LIMIT_PAYMENTS)
        fprintf(stderr,
                "%s: this terminal must sync first: %u payments since its "
                "last sync, its limit is %u (ESYNC_REQUIRED)\n",
                verdict, st.payments_since_sync, st.max_offline_payments);
    else if (which == LIMIT_HOURS)
        fprintf(stderr,
                "%s: this terminal must sync first: %s h since its last "
                "sync, its limit is %u h (ESYNC_REQUIRED)\n",
                verdict, cli_hours(st.seconds_since_sync, h1),
                st.max_offline_hours);
    else if (which == LIMIT_UPLOAD)
        fprintf(stderr,
                "%s: this terminal must upload first: its oldest payment "
                "not decided by offpayd has waited %s h, its limit is %u "
                "day(s); a list carried in does not end this, 'terminal "
                "sync --server URL' does (ESYNC_REQUIRED)\n",
                verdict, cli_hours(st.waiting_age, h1), st.max_upload_days);
    else
        fprintf(stderr, "%s: this terminal must sync first (ESYNC_REQUIRED)\n",
                verdict);
    return 1;
}

/* What a new credential comes from, for a terminal whose own credential
 * its issuer key no longer vouches for. */
#define NEW_CREDENTIAL_HOW                                                     \
    "'offpay terminal rotate --server URL --new-terminal DIR2' with "          \
    "offpayd (DIR2 made first by 'offpay terminal init'), else from the "      \
    "issuer ('offpay terminal set-credential FILE')"

/* The cause of a state OFFPAY_ETERMINAL_EXPIRED that is not the
 * credential's own term (valid_from .. expires, with the skew the
 * terminal judges it with, check.c): the issuer key that signed it, which
 * the trust bundle no longer holds (retired) or holds for another time.
 * Words into buf ("was signed by issuer key 2, ...", of the credential),
 * or NULL when the term is the cause. */
static const char *cred_key_words(const offpay_terminal_status *s, char *buf,
                                  size_t cap)
{
    offpay_risk d;
    uint32_t    skew;

    if (s->state != OFFPAY_ETERMINAL_EXPIRED || !s->has_cred)
        return NULL;
    offpay_risk_defaults(s->currency, &d);
    skew = s->skew < d.skew ? s->skew : d.skew;
    if ((uint64_t)s->now + skew < s->cred.valid_from ||
        (uint64_t)s->now > (uint64_t)s->cred.expires + skew)
        return NULL;
    if (s->warnings & OFFPAY_STATUS_WARN_CRED_KEY)
        snprintf(buf, cap,
                 "was signed by issuer key %u, which its trust bundle no "
                 "longer holds (retired)",
                 (unsigned)s->cred.kid);
    else
        snprintf(buf, cap,
                 "was signed by issuer key %u, which its trust bundle "
                 "holds for another time than now (the key's window)",
                 (unsigned)s->cred.kid);
    return buf;
}

int cli_terminal_expired_why(offpay_terminal *t, uint32_t now,
                             const char *verdict)
{
    offpay_terminal_status st;
    char                   why[160];

    if (offpay_terminal_get_status(t, now, &st) != OFFPAY_OK ||
        cred_key_words(&st, why, sizeof why) == NULL)
        return 0;
    fprintf(stderr,
            "%s: this terminal's own credential %s: it accepts no payment "
            "until it has a new credential: " NEW_CREDENTIAL_HOW
            " (ETERMINAL_EXPIRED)\n",
            verdict, why);
    return 1;
}

/* The first character of text no offpay code holds (not of the Base45
 * alphabet, the prefix's lower case letters aside), or NULL: a scanner
 * typing in another keyboard layout than the computer's. */
static const char *foreign_char(const char *text)
{
    for (const char *c = text; *c != '\0'; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= 'a' && *c <= 'z') || strchr(" $%*+-./:", *c) != NULL))
            return c;
    return NULL;
}

/* 1 when text holds a byte outside ASCII. */
static int non_ascii(const char *text)
{
    for (; *text != '\0'; text++)
        if ((unsigned char)*text >= 0x80)
            return 1;
    return 0;
}

/* After a refusal of the code in text (charge: what --amount asked, 0
 * for none): what the cashier can do about it, on a line of its own, for
 * the refusals a cashier meets and can act on. */
static void refusal_hint(offpay_terminal *t, const char *text, offpay_err rc,
                         int64_t charge, int from_image)
{
    const char    *foreign = foreign_char(text);
    uint8_t       *bytes = NULL;
    size_t         len = 0;
    offpay_payment p;
    offpay_risk    risk;
    uint16_t       cur = offpay_terminal_currency(t);
    char           m1[64], m2[64];
    int            decoded, lower = 0;

    decoded = offpay_text_decode(text, strlen(text), &bytes, &len) == OFFPAY_OK;
    if (!decoded) { /* a code typed in lower case (Caps Lock) reads then */
        char *up = strdup(text);

        for (char *c = up; c != NULL && *c != '\0'; c++)
            if (*c >= 'a' && *c <= 'z') {
                *c = (char)(*c - 'a' + 'A');
                lower = 1;
            }
        if (lower && up != NULL) {
            uint8_t *b2 = NULL;
            size_t   l2 = 0;

            lower = offpay_text_decode(up, strlen(up), &b2, &l2) == OFFPAY_OK;
            free(b2);
        }
        free(up);
    }
    if (rc == OFFPAY_ETERMINAL_KEY_MISSING) {
        fprintf(stderr, "  this terminal's key file (terminal.key) is not in "
                        "its directory: nothing it accepted could be "
                        "uploaded, so it accepts nothing (nothing was "
                        "charged): put the file back, or ask the operator "
                        "(docs/operations.md, \"A terminal's directory "
                        "without its key\")\n");
    } else if (rc == OFFPAY_ECLOCK_BEHIND) {
        offpay_sync_state s;
        char              w1[32], w2[32];

        if (offpay_terminal_sync_state(t, &s) == OFFPAY_OK)
            fprintf(stderr,
                    "  the newest time this terminal has seen is %s (its "
                    "clock ran ahead then, or a list was dated so) and its "
                    "clock says %s: if the clock is right now, a sync with "
                    "offpayd ('terminal sync --server URL', or a full "
                    "revocation list carried in from 'offpay admin lists') "
                    "vouches for it and sets the mark back; else set the "
                    "clock right (nothing was charged)\n",
                    cli_iso_time(s.high_water, w1),
                    cli_iso_time(cli_now(), w2));
    } else if (rc == OFFPAY_EEXPIRED) {
        fprintf(stderr, "  the payer's wallet credential has expired: its "
                        "wallet needs a new one (an online sync, or the "
                        "issuer); ask for another way to pay (nothing was "
                        "charged)\n");
    } else if (rc == OFFPAY_EWRONG_MERCHANT) {
        fprintf(stderr, "  this code answers another merchant's request: "
                        "ask the payer to scan this terminal's request, or "
                        "to show a payment code (nothing was charged)\n");
    } else if (rc == OFFPAY_EREVOKED) {
        fprintf(stderr, "  the payer's wallet credential is revoked (blocked "
                        "by the issuer: reported lost, or misused): it pays "
                        "nothing here; ask for another way to pay (nothing "
                        "was charged)\n");
    } else if (rc == OFFPAY_EUNKNOWN_KID) {
        fprintf(stderr, "  the payer's credential was signed by an issuer "
                        "key this terminal does not know: sync the terminal "
                        "(the issuer may have added a key) and scan again; "
                        "if the key was retired, that credential pays "
                        "nothing: the payer's wallet needs a new one\n");
    } else if (rc == OFFPAY_ECODE_TOO_OLD) { /* after code_time_hint */
        fprintf(stderr, "  if this terminal's clock is right: ask the payer "
                        "for a new code (a code is good for a short time "
                        "only: terminal risk)\n");
    } else if (rc == OFFPAY_EPREFIX && strncasecmp(text, "OPP", 3) != 0 &&
               (from_image || !non_ascii(text))) {
        /* another kind of code altogether (a web address, a ticket's):
         * what it reads, cut short, controls and non-ASCII as '?'. Not
         * for a scan of letters outside ASCII: a Latin keyboard layout
         * leaves "OPP" alone, a Cyrillic or Greek one types other letters
         * (the keyboard's hint below) */
        char   shown[44];
        size_t k = 0;

        for (; text[k] != '\0' && k < 40; k++)
            shown[k] = text[k] >= 0x20 && text[k] < 0x7f ? text[k] : '?';
        shown[k] = '\0';
        fprintf(stderr,
                "  this is not an offpay payment code (it reads \"%s%s\"): "
                "ask the payer for the code their offpay wallet shows "
                "(nothing was charged)\n",
                shown, text[k] != '\0' ? "..." : "");
    } else if (foreign != NULL &&
               (rc == OFFPAY_EBASE45 || rc == OFFPAY_EPREFIX ||
                rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETOOBIG)) {
        /* the byte itself may be half of a UTF-8 character: its value;
         * from an image, read as it is, no keyboard came between */
        fprintf(stderr,
                "  %s holds a character no offpay code has (byte "
                "0x%02X, character %ld): %s (nothing was charged)\n",
                from_image ? "the image's code" : "the scan",
                (unsigned)(unsigned char)*foreign, (long)(foreign - text) + 1,
                from_image
                    ? "it is not an offpay payment code, or a damaged one; "
                      "ask the payer to show it again"
                    : "is the scanner set to another keyboard layout than "
                      "this computer's? Set them the same (a code has "
                      "capitals, digits and ' $%*+-./:' only); scanning "
                      "again reads the same");
    } else if (rc == OFFPAY_EBASE45 || rc == OFFPAY_EPREFIX ||
               rc == OFFPAY_ETRUNCATED) {
        fprintf(stderr, "  the scan is %s: scan it again (nothing was "
                        "charged)\n",
                lower ? "in lower case (is Caps Lock on?)"
                      : "incomplete or garbled, or not an offpay code");
    } else if (rc == OFFPAY_ETYPE && decoded && len >= 2) {
        offpay_msg_type type = (offpay_msg_type)bytes[1];

        fprintf(stderr, "  this is %s code, not a payment: %s\n",
                type == OFFPAY_MSG_REQUEST   ? "a payment request"
                : type == OFFPAY_MSG_RECEIPT ? "a receipt"
                                             : "another kind of",
                type == OFFPAY_MSG_REQUEST
                    ? "show it to the payer, and scan the code the payer's "
                      "wallet shows in answer"
                : type == OFFPAY_MSG_RECEIPT
                    ? "it is the payer's, to scan into the wallet"
                    : "scan the payer's payment code");
    } else if (decoded && offpay_payment_decode(bytes, len, &p) == OFFPAY_OK) {
        if (rc == OFFPAY_EOVER_AUTHORIZED)
            fprintf(stderr, "  the payer authorized at most %1$s, and %2$s was "
                            "asked: charge %1$s or less, or ask the payer "
                            "for a new code\n",
                    cli_money(p.amount, cur, m1, sizeof m1),
                    cli_money(charge, cur, m2, sizeof m2));
        else if (rc == OFFPAY_ECURRENCY) {
            const char *theirs = offpay_currency_alpha(p.cred.currency);

            fprintf(stderr,
                    "  the payer's wallet pays in %s and this terminal "
                    "charges in %s: it cannot pay here offline; the payer "
                    "needs a %s credential (nothing was charged)\n",
                    theirs ? theirs : "another currency",
                    offpay_currency_alpha(cur), offpay_currency_alpha(cur));
        } else if (rc == OFFPAY_EAMOUNT_MISMATCH && charge != 0)
            fprintf(stderr, "  this code pays a request for %s: accept it "
                            "without --amount\n",
                    cli_money(p.amount, cur, m1, sizeof m1));
        else if (rc == OFFPAY_EOVER_FLOOR &&
                 offpay_terminal_get_risk(t, &risk) == OFFPAY_OK)
            fprintf(stderr,
                    p.bound ? "  a payment above %s is not accepted offline "
                              "here (terminal risk: floor-bound)\n"
                            : "  a code the payer shows is limited to %s "
                              "here: for more, make a request ('offpay "
                              "terminal request --amount ...') for the "
                              "payer to answer\n",
                    cli_money(p.bound ? risk.floor_bound : risk.floor_unbound,
                              cur, m1, sizeof m1));
    }
    free(bytes);
}

static int cmd_accept(const void *args, const char *arg CLI_UNUSED)
{
    const term_args  *a = args;
    int               status = EXIT_OK;
    offpay_terminal  *t;
    offpay_acceptance acc;
    uint16_t          cur;
    int64_t           charge = 0;
    char             *text, *receipt = NULL, money[64];
    offpay_err        rc;
    uint32_t          now;

    status = cli_output_check("--receipt-png", a->receipt_png, a->force);
    if (status != 0) {
        /* checked before the code is read: the cashier must not take the
         * refusal of a file for a payment made */
        fprintf(stderr, "offpay: NOT ACCEPTED: --receipt-png cannot be "
                        "written (above); no code was read and nothing was "
                        "recorded: do not hand over the goods\n");
        return status;
    }
    text = cli_read_code(a->image, a->code, &status);
    if (text == NULL)
        return status;
    t = open_terminal(a, a->receipt_png != NULL, &status);
    if (t == NULL) {
        fprintf(stderr, "offpay: NOT ACCEPTED: the terminal could not be "
                        "opened (above); nothing was recorded: do not hand "
                        "over the goods\n");
        goto out;
    }
    /* The terminal's own currency (set at init): whether it has a
     * credential yet is the library's check, after decoding the code. */
    cur = offpay_terminal_currency(t);
    if (a->amount != NULL && cli_amount(a->amount, cur, &charge) != 0) {
        status = EXIT_USAGE;
        goto out;
    }
    if (a->amount != NULL && charge <= 0) {
        status = cli_usage_error("terminal accept: --amount must be more "
                                 "than 0 (what to charge)");
        goto out;
    }
    /* the time of the payment: now, once the code is read (a scanner may
     * have waited minutes for the customer) and the terminal open */
    now = cli_now();
    rc = offpay_terminal_accept(t, text, strlen(text), charge, now, &acc);
    if (rc == OFFPAY_EINVAL && a->amount == NULL) {
        status = cli_usage_error("terminal accept: a consumer-presented code "
                                 "needs --amount (what to charge)");
        goto out;
    }
    if ((rc == OFFPAY_EREPLAY || rc == OFFPAY_EDOUBLE_SPEND) && acc.seq > 0) {
        char when[32];

        cli_iso_time(acc.time, when);
        if (rc == OFFPAY_EREPLAY)
            fprintf(stderr,
                    "REJECTED: already accepted at %s as payment #%lld for "
                    "%s: do not charge again (%s)\n",
                    when, (long long)acc.seq,
                    cli_money(acc.charged, cur, money, sizeof money),
                    offpay_errname(rc));
        else
            fprintf(stderr,
                    "REJECTED: %s; the first code with this counter was "
                    "accepted at %s as payment #%lld for %s (%s)\n",
                    offpay_strerror(rc), when, (long long)acc.seq,
                    cli_money(acc.charged, cur, money, sizeof money),
                    offpay_errname(rc));
        status = EXIT_REJECTED;
        goto out;
    }
    if (rc == OFFPAY_EWRONG_NONCE && paid_request(t, text, &acc)) {
        char when[32];

        cli_iso_time(acc.time, when);
        fprintf(stderr,
                "REJECTED: the request this code answers was already paid, "
                "at %s as payment #%lld for %s: do not charge again (%s)\n",
                when, (long long)acc.seq,
                cli_money(acc.charged, cur, money, sizeof money),
                offpay_errname(rc));
        status = EXIT_REJECTED;
        goto out;
    }
    if ((rc == OFFPAY_ESYNC_REQUIRED && /* the terminal's own limits */
         cli_sync_required_why(t, now, "REJECTED")) ||
        (rc == OFFPAY_ETERMINAL_EXPIRED &&
         cli_terminal_expired_why(t, now, "REJECTED"))) {
        status = EXIT_REJECTED;
        goto out;
    }
    if (rc != OFFPAY_OK && cli_is_rejection(rc)) {
        fprintf(stderr, "REJECTED: %s (%s)\n", offpay_strerror(rc),
                offpay_errname(rc));
        if (rc == OFFPAY_ECODE_TOO_OLD || rc == OFFPAY_ECODE_FUTURE)
            code_time_hint(text, now, rc);
        refusal_hint(t, text, rc, charge, a->image != NULL);
        status = EXIT_REJECTED;
        goto out;
    }
    if (rc == OFFPAY_EROFS) {
        offpay_terminal_status st;
        char                   when[32];

        if (offpay_terminal_get_status(t, now, &st) == OFFPAY_OK &&
            st.copied_at != 0) {
            fprintf(stderr,
                    "NOT ACCEPTED: %s is an exported copy of a terminal's "
                    "journal (taken %s): it never accepts; nothing was "
                    "recorded: accept on the terminal itself (EROFS)\n",
                    a->dir, cli_iso_time(st.copied_at, when));
            status = EXIT_USAGE;
            goto out;
        }
    }
    if (rc != OFFPAY_OK) {
        /* Not a verdict on the code: the terminal itself failed. */
        status = cli_fail_at("NOT ACCEPTED", "saving", a->dir, rc);
        if (rc == OFFPAY_ENO_TERMINAL_CRED)
            fprintf(stderr, "  give 'offpay terminal key' to the operator, "
                            "then install the credential it sends back: "
                            "offpay terminal set-credential FILE\n");
        goto out;
    }
    printf("accepted: %s from credential %llu (code %u), journal entry "
           "%lld\n",
           cli_money(acc.charged, cur, money, sizeof money),
           (unsigned long long)acc.payment.cred.serial, acc.payment.counter,
           (long long)acc.seq);
    accept_warnings(t, now);
    fflush(stdout);
    if (a->receipt_png != NULL) {
        rc = offpay_terminal_receipt(t, acc.seq, now, &receipt);
        if (rc != OFFPAY_OK) {
            fprintf(stderr, "offpay: cannot make the receipt: %s (%s)\n",
                    offpay_strerror(rc), offpay_errname(rc));
        }
        if (rc != OFFPAY_OK || cli_output_qr("--receipt-png", a->receipt_png,
                                             a->force, receipt, 0) != 0) {
            /* Still exit 0: the payment is accepted and on disk; a script
             * must not refuse the goods over a missing receipt. */
            fprintf(stderr,
                    "offpay: warning: the payment is accepted, but "
                    "the receipt could not be written; use 'terminal "
                    "receipt --seq %lld'\n",
                    (long long)acc.seq);
        } else {
            fprintf(stderr, "receipt written to %s\n", a->receipt_png);
        }
    }
out:
    offpay_terminal_close(t);
    free(text);
    free(receipt);
    return status;
}

static int cmd_receipt(const void *args, const char *arg CLI_UNUSED)
{
    const term_args *a = args;
    int              status = EXIT_OK;
    offpay_terminal *t;
    char            *text = NULL, *end = NULL;
    long long        seq;
    offpay_err       rc;

    if (a->seq == NULL)
        return cli_usage_error("terminal receipt: --seq N is required");
    if ((status = check_outputs(a)) != 0)
        return status;
    errno = 0;
    seq = strtoll(a->seq, &end, 10);
    if (errno != 0 || *end != '\0' || seq <= 0)
        return cli_usage_error("--seq: a journal entry number");
    t = open_terminal(a, 1, &status);
    if (t == NULL)
        return status;
    rc = offpay_terminal_receipt(t, seq, cli_now(), &text);
    if (rc == OFFPAY_ENOTFOUND) {
        offpay_terminal_status st;

        if (offpay_terminal_get_status(t, cli_now(), &st) == OFFPAY_OK)
            status = cli_usage_error("--seq %lld: no such journal entry "
                                     "(the journal has %llu; 'terminal "
                                     "journal' lists them)",
                                     seq, (unsigned long long)st.journal_entries);
        else
            status = cli_usage_error("--seq %lld: no such journal entry", seq);
    } else if (rc != OFFPAY_OK)
        status = cli_fail("cannot make the receipt", rc);
    else
        status = cli_emit_code(text, a->png, a->svg, a->show, a->force);
    free(text);
    offpay_terminal_close(t);
    return status;
}

/* Where e stands with offpayd. Paid in part: decided, not refused, with
 * a reason for a shortfall (settlement.md §4: "unpaid", or a duplicate or
 * double spend that fell short and names its reason too); not paid: the
 * same with nothing paid (ELATE: past the late window). Another charge:
 * offpayd holds an upload of this payment from this terminal's key with
 * another charge (ECONFLICT, a charge_mismatch case) and paid that one,
 * more or less than this entry charged: neither in full nor in part. */
typedef enum {
    ST_NOT_UPLOADED,
    ST_NOT_KEPT, /* decided before the terminal kept results */
    ST_REFUSED,
    ST_PAID_FULL,
    ST_PAID_PART,
    ST_OTHER_CHARGE,
    ST_NOT_PAID
} settlement_state;

typedef struct journal_ctx {
    int     json;
    int64_t total;
    int     n;
    /* what offpayd decided, as the syncs recorded it: entries by
     * settlement_state, and what was paid */
    int     count[ST_NOT_PAID + 1];
    int64_t paid;
} journal_ctx;

static settlement_state settlement_of(const offpay_journal_entry *e)
{
    if (!e->uploaded)
        return ST_NOT_UPLOADED;
    if (e->outcome[0] == '\0')
        return ST_NOT_KEPT;
    if (strcmp(e->outcome, "rejected") == 0)
        return ST_REFUSED;
    if (e->reason[0] == '\0')
        return ST_PAID_FULL;
    if (strcmp(e->reason, "ECONFLICT") == 0)
        return ST_OTHER_CHARGE;
    return e->paid > 0 ? ST_PAID_PART : ST_NOT_PAID;
}

/* The journal's settlement column: what offpayd decided for e. */
static const char *settlement_text(const offpay_journal_entry *e, char *buf,
                                   size_t cap)
{
    char        paid[OFFPAY_AMOUNT_TEXT_MAX];
    const char *owed = "";

    switch (settlement_of(e)) {
    case ST_NOT_UPLOADED:
        return "not uploaded yet";
    case ST_NOT_KEPT:
        return "uploaded (result not kept)";
    case ST_REFUSED:
        snprintf(buf, cap, "refused: %s", e->reason);
        return buf;
    default:
        break;
    }
    if (offpay_amount_format(e->paid, e->currency, paid, sizeof paid) !=
        OFFPAY_OK)
        snprintf(paid, sizeof paid, "%lld", (long long)e->paid);
    /* a claim on the guarantee (settlement.md §5): the terminal never
     * learns when it is paid; the merchant's statement does */
    if (strcmp(e->reason, "EFUNDS") == 0)
        owed = ", owed by the issuer's guarantee";
    if (settlement_of(e) == ST_OTHER_CHARGE)
        snprintf(buf, cap,
                 "paid %s: offpayd holds another charge from this "
                 "terminal's key%s%s",
                 paid, e->case_id[0] != '\0' ? ", case " : "", e->case_id);
    else if (strcmp(e->outcome, "unpaid") == 0)
        snprintf(buf, cap, "paid %s of it: %s%s", paid, e->reason, owed);
    else if (strcmp(e->outcome, "settled") == 0)
        snprintf(buf, cap, "paid %s", paid);
    else
        snprintf(buf, cap, "paid %s%s%s%s (%s%s%s)", paid,
                 e->reason[0] != '\0' ? " of it: " : "", e->reason, owed,
                 e->outcome, e->case_id[0] != '\0' ? ", case " : "",
                 e->case_id);
    return buf;
}

/* The settlement column, and what a ledger taken back to an older copy
 * did to it: lost it, to upload again; or lost it after paying it. */
static const char *settlement_column(const offpay_journal_entry *e,
                                     char *buf, size_t cap)
{
    char        was[OFFPAY_AMOUNT_TEXT_MAX], now[160];
    const char *text;

    if (e->lost == 0)
        return settlement_text(e, buf, cap);
    text = settlement_text(e, now, sizeof now);
    if (offpay_amount_format(e->lost_paid, e->currency, was, sizeof was) !=
        OFFPAY_OK)
        snprintf(was, sizeof was, "%lld", (long long)e->lost_paid);
    if (e->lost == 1)
        snprintf(buf, cap, "%s; LOST by offpayd's ledger: to upload again",
                 text);
    else
        snprintf(buf, cap, "%s (offpayd's ledger lost it after paying %s)",
                 text, was);
    return buf;
}

/* What offpayd decided for e as JSON (journal --json, export), or null
 * when nothing is kept: not uploaded yet, or uploaded by a version that
 * kept no result. */
static json_t *settlement_json(const offpay_journal_entry *e)
{
    char    paid[OFFPAY_AMOUNT_TEXT_MAX], covered[OFFPAY_AMOUNT_TEXT_MAX];
    char    lost_paid[OFFPAY_AMOUNT_TEXT_MAX], decided[32];
    json_t *j;

    if (settlement_of(e) < ST_REFUSED) /* nothing kept */
        return json_null();
    /* every amount as minor units and its decimal text (README) */
    if (offpay_amount_format(e->paid, e->currency, paid, sizeof paid) !=
        OFFPAY_OK)
        paid[0] = '\0';
    if (offpay_amount_format(e->covered, e->currency, covered,
                             sizeof covered) != OFFPAY_OK)
        covered[0] = '\0';
    if (offpay_amount_format(e->lost_paid, e->currency, lost_paid,
                             sizeof lost_paid) != OFFPAY_OK)
        lost_paid[0] = '\0';
    j = json_pack(
        "{s:s, s:I, s:s, s:I, s:s, s:o, s:o, s:s, s:o}", "outcome", e->outcome,
        "paid_minor", (json_int_t)e->paid, "paid", paid, "covered_minor",
        (json_int_t)e->covered, "covered", covered, "reason",
        e->reason[0] != '\0' ? json_string(e->reason) : json_null(), "case",
        e->case_id[0] != '\0' ? json_string(e->case_id) : json_null(),
        "decided_at", cli_iso_time(e->decided_at, decided), "lost",
        e->lost == 0
            ? json_null()
            : json_pack("{s:b, s:s, s:I, s:s}", "uploaded_again", e->lost == 2,
                        "outcome", e->lost_outcome, "paid_minor",
                        (json_int_t)e->lost_paid, "paid", lost_paid));
    return j != NULL ? j : json_null();
}

static int print_entry(const offpay_journal_entry *e, void *vctx)
{
    journal_ctx *ctx = vctx;
    char         m1[64], m2[64], when[32], st[256];
    time_t       tt = (time_t)e->accepted_at;
    struct tm    tm;

    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (ctx->json) {
        char    a1[OFFPAY_AMOUNT_TEXT_MAX], a2[OFFPAY_AMOUNT_TEXT_MAX];
        char   *s, *code = NULL;
        json_t *j;

        /* Amounts as minor units and as their decimal text, as in
         * 'offpay decode --json'. */
        if (offpay_amount_format(e->charged, e->currency, a1, sizeof a1) !=
            OFFPAY_OK)
            a1[0] = '\0';
        if (offpay_amount_format(e->authorized, e->currency, a2, sizeof a2) !=
            OFFPAY_OK)
            a2[0] = '\0';
        if (offpay_text_encode(e->code, e->code_len, &code) != OFFPAY_OK)
            code = NULL;
        j = json_pack("{s:I, s:o, s:I, s:I, s:s, s:I, s:s, s:s, s:b, s:s, "
                      "s:b, s:o, s:s?}",
                      "seq", (json_int_t)e->seq, "serial",
                      cli_json_u64(e->serial), "counter",
                      (json_int_t)e->counter, "charged_minor",
                      (json_int_t)e->charged, "charged", a1,
                      "authorized_minor", (json_int_t)e->authorized,
                      "authorized", a2, "currency",
                      offpay_currency_alpha(e->currency), "bound", e->bound,
                      "accepted_at", when, "uploaded", e->uploaded,
                      "settlement", settlement_json(e), "code",
                      code);
        free(code);
        s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s != NULL)
            printf("%s\n", s);
        offpay__json_free(s);
        json_decref(j);
    } else {
        printf("%-5lld %-20s %-8llu %-7u %-7s %14s %14s  %s\n",
               (long long)e->seq, when, (unsigned long long)e->serial,
               e->counter, e->bound ? "bound" : "unbound",
               cli_money(e->charged, e->currency, m1, sizeof m1),
               cli_money(e->authorized, e->currency, m2, sizeof m2),
               settlement_column(e, st, sizeof st));
    }
    ctx->total += e->charged;
    ctx->n++;
    ctx->count[settlement_of(e)]++;
    if (settlement_of(e) >= ST_PAID_FULL)
        ctx->paid += e->paid;
    return 0;
}

static int cmd_journal(const void *args, const char *arg CLI_UNUSED)
{
    const term_args *a = args;
    int              status = EXIT_OK;
    offpay_terminal *t = open_terminal_as(a, 0, 1, &status);
    journal_ctx      ctx = {0};
    uint16_t         cur = 0;
    char             money[64];
    offpay_err       rc;

    if (t == NULL)
        return status;
    ctx.json = a->json;
    if (!a->json)
        printf("%-5s %-20s %-8s %-7s %-7s %14s %14s  %s\n", "seq",
               "accepted (UTC)", "serial", "counter", "kind", "charged",
               "authorized", "settlement");
    rc = offpay_terminal_journal(t, print_entry, &ctx);
    if (rc != OFFPAY_OK)
        status = cli_fail("journal", rc);
    else if (!a->json) {
        cur = offpay_terminal_currency(t);
        printf("%d payment(s), total %s\n", ctx.n,
               cli_money(ctx.total, cur, money, sizeof money));
        printf("settlement: %d paid in full, %d paid in part, ",
               ctx.count[ST_PAID_FULL], ctx.count[ST_PAID_PART]);
        if (ctx.count[ST_OTHER_CHARGE] > 0)
            printf("%d paid another charge offpayd holds (a case each), ",
                   ctx.count[ST_OTHER_CHARGE]);
        printf("%d not paid, %d refused; paid %s in all; %d not uploaded "
               "yet",
               ctx.count[ST_NOT_PAID], ctx.count[ST_REFUSED],
               cli_money(ctx.paid, cur, money, sizeof money),
               ctx.count[ST_NOT_UPLOADED]);
        if (ctx.count[ST_NOT_KEPT] > 0)
            printf("; %d uploaded before results were kept",
                   ctx.count[ST_NOT_KEPT]);
        printf("\n");
    }
    offpay_terminal_close(t);
    return status;
}

/* "2026-12-01T09:30:00Z" into buf (32 bytes). */

/* seconds as hours with one decimal ("12.5"), in integer arithmetic. */
static json_t *limit_json(uint64_t value, uint64_t limit, uint32_t pct)
{
    return json_pack("{s:I, s:o, s:I}", "value", (json_int_t)value, "limit",
                     limit ? json_integer((json_int_t)limit) : json_null(),
                     "percent", (json_int_t)pct);
}

/* Less free on the journal's disk than a payment's journal write needs,
 * with room to spare (64 KiB: a few SQLite pages and the log's frames). */
#define DISK_FULL_BYTES (64u * 1024u)

/* The human words for what a payment would meet now. */
static const char *state_words(const offpay_terminal_status *s)
{
    static char low[128];

    switch (s->state) {
    case OFFPAY_OK:
        return "accepting payments";
    case OFFPAY_ESYNC_REQUIRED:
        if (limit_reached(s) == LIMIT_UPLOAD)
            return "UPLOAD REQUIRED: refusing payments until its payments "
                   "are uploaded ('terminal sync --server URL'; a list "
                   "carried in does not end it)";
        return "SYNC REQUIRED: refusing payments until the next sync";
    case OFFPAY_EREVLIST_STALE:
        return "SYNC REQUIRED: refusing payments until the next sync";
    case OFFPAY_EROFS:
        return s->copied_at ? "an exported copy: for reading only, never "
                              "for accepting"
                            : "read-only: not accepting payments";
    case OFFPAY_ENOSPC:
        /* below DISK_FULL_BYTES a payment's write may still fit, or not:
         * a warning, not a refusal the next accept would contradict */
        snprintf(low, sizeof low,
                 "DISK NEARLY FULL: may refuse payments: %llu KiB free",
                 (unsigned long long)(s->disk_free / 1024));
        return low;
    case OFFPAY_ETERMINAL_RETIRING:
        return "RETIRING: its rotation or decommission went to offpayd "
               "unanswered (offpayd may have revoked it): not accepting "
               "payments; run it again to finish";
    case OFFPAY_ETERMINAL_KEY_MISSING:
        return "KEY MISSING: terminal.key is not in its directory: not "
               "accepting payments (nothing accepted could be uploaded); "
               "put the file back";
    default:
        return "NOT ACCEPTING payments";
    }
}

static int status_json(const char *dir, const offpay_terminal_status *s,
                       const char *key_problem)
{
    char        t1[32], t2[32], t3[32], kw[160], why[256];
    json_t     *j, *w = json_array(), *cred = json_null();
    char       *out;
    const char *message = offpay_strerror(s->state);

    if (s->state == OFFPAY_OK)
        message = "accepting payments";
    else if (s->state == OFFPAY_ENOSPC)
        message = "disk nearly full: payments may be refused";
    else if (cred_key_words(s, kw, sizeof kw) != NULL) {
        snprintf(why, sizeof why,
                 "its credential %s: it accepts no payment until it has a "
                 "new credential",
                 kw);
        message = why;
    }

    if (s->has_cred)
        cred = json_pack("{s:o, s:I, s:s, s:s, s:s, s:s, s:I}", "merchant_id",
                         cli_json_u64(s->cred.merchant_id), "terminal_id",
                         (json_int_t)s->cred.terminal_id, "name", s->cred.name,
                         "currency", offpay_currency_alpha(s->cred.currency),
                         "valid_from", cli_iso_time(s->cred.valid_from, t1),
                         "expires", cli_iso_time(s->cred.expires, t2),
                         "window_used_percent", (json_int_t)s->credential_pct);
    if (s->warnings & OFFPAY_STATUS_WARN_PAYMENTS)
        json_array_append_new(w, json_string("payments_since_sync"));
    if (s->warnings & OFFPAY_STATUS_WARN_HOURS)
        json_array_append_new(w, json_string("seconds_since_sync"));
    if (s->warnings & OFFPAY_STATUS_WARN_REVLIST)
        json_array_append_new(w, json_string("revocation_list_age"));
    if (s->warnings & OFFPAY_STATUS_WARN_CREDENTIAL)
        json_array_append_new(w, json_string("credential"));
    if (s->warnings & OFFPAY_STATUS_WARN_UPLOAD)
        json_array_append_new(w, json_string("upload_wait"));
    if (s->warnings & OFFPAY_STATUS_WARN_DISK)
        json_array_append_new(w, json_string("disk_free"));
    if (s->warnings & OFFPAY_STATUS_WARN_REVOKED)
        json_array_append_new(w, json_string("revoked_serials"));
    if (key_problem != NULL)
        json_array_append_new(w, json_string("key_unusable"));
    if (s->warnings & OFFPAY_STATUS_WARN_CRED_KEY)
        json_array_append_new(w, json_string("credential_key_retired"));
    j = json_pack(
        "{s:s, s:s, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I,"
        " s:{s:I, s:I, s:I, s:o, s:o, s:o}, s:{s:s, s:s, s:I, s:o, s:o},"
        " s:o}",
        "terminal", dir, "state", offpay_errname(s->state), "accepting",
        s->state == OFFPAY_OK, "message", message, "copied_at",
        s->copied_at ? json_string(cli_iso_time(s->copied_at, t1))
                     : json_null(),
        "credential", cred, "last_sync",
        s->last_sync ? json_string(cli_iso_time(s->last_sync, t1))
                     : json_null(),
        "payments_since_sync",
        limit_json(s->payments_since_sync, s->max_offline_payments,
                   s->payments_pct),
        "seconds_since_sync",
        limit_json(s->seconds_since_sync, 3600ULL * s->max_offline_hours,
                   s->hours_pct),
        "revocation_list",
        json_pack(
            "{s:I, s:o, s:o, s:o}", "seq", (json_int_t)s->revlist_seq,
            "issued_at",
            s->revlist_seq ? json_string(cli_iso_time(s->revlist_issued_at, t1))
                           : json_null(),
            "age_seconds",
            limit_json(s->revlist_age, s->max_revlist_age, s->revlist_pct),
            "serials_held",
            limit_json(s->revoked_held, OFFPAY_TERMINAL_REVOKED_MAX,
                       s->revoked_pct)),
        "warnings", w, "open_requests", (json_int_t)s->open_requests, "journal",
        "entries", (json_int_t)s->journal_entries, "not_uploaded",
        (json_int_t)s->not_uploaded, "bytes", (json_int_t)s->journal_bytes,
        "disk_free_bytes",
        s->disk_free != UINT64_MAX ? json_integer((json_int_t)s->disk_free)
                                   : json_null(),
        "oldest_not_uploaded",
        s->oldest_waiting ? json_string(cli_iso_time(s->oldest_waiting, t1))
                          : json_null(),
        "wait_seconds",
        limit_json(s->waiting_age, 86400ULL * s->max_upload_days,
                   s->upload_pct),
        "clock", "high_water", cli_iso_time(s->high_water, t2), "now",
        cli_iso_time(s->now, t3), "skew_seconds", (json_int_t)s->skew,
        "offpayd_offset_seconds",
        s->clock_seen_at ? json_integer((json_int_t)s->clock_offset)
                         : json_null(),
        "offset_seen_at",
        s->clock_seen_at ? json_string(cli_iso_time(s->clock_seen_at, t1))
                         : json_null(),
        "warn_percent", json_integer(OFFPAY_STATUS_WARN_PERCENT));
    out = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (out == NULL) {
        fprintf(stderr, "offpay: terminal status: out of memory\n");
        return EXIT_FAILURE_IO;
    }
    printf("%s\n", out);
    offpay__json_free(out);
    return EXIT_OK;
}

/* One warning line for a limit at OFFPAY_STATUS_WARN_PERCENT % or more. */
static void warn_limit(const char *what, uint32_t pct, const char *detail)
{
    printf("WARNING: %s at %u %% of its limit (%s): %s\n", what, pct, detail,
           pct >= 100 ? "payments are refused until the terminal syncs"
                      : "sync soon, or the terminal will refuse payments "
                        "('sync required')");
}

static void status_human(const char *dir, const offpay_terminal_status *s,
                         const char *key_problem)
{
    char t1[32], t2[32], h1[32], h2[32], d[160];

    if (s->has_cred)
        printf("terminal         %s: \"%s\" (merchant %llu, terminal %u), "
               "%s\n",
               dir, s->cred.name, (unsigned long long)s->cred.merchant_id,
               s->cred.terminal_id, offpay_currency_alpha(s->currency));
    else
        printf("terminal         %s: no credential yet, %s\n", dir,
               offpay_currency_alpha(s->currency));
    printf("state            %s", state_words(s));
    if (cred_key_words(s, d, sizeof d) != NULL)
        /* not its term: the key that signed it (ETERMINAL_EXPIRED's
         * words say expired) */
        printf(": its credential %s: it accepts no payment until it has a "
               "new credential (below) (%s)",
               d, offpay_errname(s->state));
    else if (s->state == OFFPAY_ENOSPC) /* nearly full: the words say it all */
        printf(" (%s)", offpay_errname(s->state));
    else if (s->state != OFFPAY_OK)
        printf(" (%s: %s)", offpay_errname(s->state),
               offpay_strerror(s->state));
    printf("\n");
    if (s->copied_at)
        printf("copy taken at    %s\n", cli_iso_time(s->copied_at, t1));
    if (s->has_cred) {
        long long left = (long long)s->cred.expires - (long long)s->now;

        /* (an hour past its end is expired, not "expires in 0 days") */
        printf("credential       valid %s to %s (%s %lld day(s)%s; %u %% of "
               "its window used)\n",
               cli_iso_time(s->cred.valid_from, t1),
               cli_iso_time(s->cred.expires, t2),
               left > 0 ? "expires in" : "EXPIRED",
               (left > 0 ? left : -left) / 86400, left > 0 ? "" : " ago",
               s->credential_pct);
    }
    printf("last sync        %s%s\n",
           s->last_sync ? cli_iso_time(s->last_sync, t1) : "never",
           s->last_sync && s->revlist_seq == 0
               ? " (its credential's installation, or a bundle: no "
                 "revocation list taken yet)"
               : "");
    if (s->max_offline_payments)
        printf("payments         %u since the last sync, limit %u (%u %%)\n",
               s->payments_since_sync, s->max_offline_payments,
               s->payments_pct);
    else
        printf("payments         %u since the last sync, no limit\n",
               s->payments_since_sync);
    if (s->last_sync == 0)
        printf("offline time     none: never synced\n");
    else if (s->max_offline_hours)
        printf("offline time     %s h since the last sync, limit %u h "
               "(%u %%)\n",
               cli_hours(s->seconds_since_sync, h1), s->max_offline_hours,
               s->hours_pct);
    else
        printf("offline time     %s h since the last sync, no limit\n",
               cli_hours(s->seconds_since_sync, h1));
    if (s->revlist_seq == 0)
        printf("revocation list  none yet (run 'terminal sync --server URL',\n"
               "                 or --revlist FILE offline)\n");
    else if (s->max_revlist_age)
        printf("revocation list  #%u signed %s, %s h old, limit %s h "
               "(%u %%)\n",
               s->revlist_seq, cli_iso_time(s->revlist_issued_at, t1),
               cli_hours(s->revlist_age, h1), cli_hours(s->max_revlist_age, h2),
               s->revlist_pct);
    else
        printf("revocation list  #%u signed %s, %s h old, no limit\n",
               s->revlist_seq, cli_iso_time(s->revlist_issued_at, t1),
               cli_hours(s->revlist_age, h1));
    printf("revoked serials  %u held, limit %u (%u %%)\n", s->revoked_held,
           (unsigned)OFFPAY_TERMINAL_REVOKED_MAX, s->revoked_pct);
    printf("open requests    %u\n", s->open_requests);
    printf("journal          %llu payment(s), %llu bytes on disk; %llu "
           "not yet decided by offpayd%s\n",
           (unsigned long long)s->journal_entries,
           (unsigned long long)s->journal_bytes,
           (unsigned long long)s->not_uploaded,
           s->not_uploaded > 0 ? " (terminal sync --server)" : "");
    if (s->disk_free != UINT64_MAX)
        printf("                 %llu KiB free on its disk\n",
               (unsigned long long)(s->disk_free / 1024));
    if (s->oldest_waiting > s->now) /* accepted on a clock run ahead */
        printf("                 the oldest accepted %s: after this clock "
               "now, as the clock read then (it ran ahead); offpayd decides "
               "it once its own clock passes that time\n",
               cli_iso_time(s->oldest_waiting, t1));
    else if (s->oldest_waiting != 0 && s->max_upload_days)
        printf("                 the oldest accepted %s, %s h ago, limit %u "
               "day(s) (%u %%)\n",
               cli_iso_time(s->oldest_waiting, t1),
               cli_hours(s->waiting_age, h1), s->max_upload_days,
               s->upload_pct);
    else if (s->oldest_waiting != 0)
        printf("                 the oldest accepted %s, %s h ago, no limit\n",
               cli_iso_time(s->oldest_waiting, t1),
               cli_hours(s->waiting_age, h1));
    printf("clock            high-water %s, now %s (skew %u s)\n",
           cli_iso_time(s->high_water, t1), cli_iso_time(s->now, t2), s->skew);
    if (s->state == OFFPAY_ECLOCK_BEHIND)
        printf("                 behind the newest time seen: if the clock "
               "is right now (it ran ahead before), 'terminal sync --server "
               "URL' (or a full revocation list carried in from 'offpay "
               "admin lists') vouches for it and sets the mark back; else "
               "set the clock right\n");
    if (s->clock_seen_at)
        printf("                 at the last sync (%s): %s\n",
               cli_iso_time(s->clock_seen_at, t1),
               clock_words(s->clock_offset, d, sizeof d));
    if (s->clock_seen_at && clock_off(s->clock_offset, s->skew))
        clock_warning(s->clock_offset, s->skew);
    if (s->warnings & OFFPAY_STATUS_WARN_PAYMENTS) {
        snprintf(d, sizeof d, "%u of %u", s->payments_since_sync,
                 s->max_offline_payments);
        warn_limit("payments since the last sync", s->payments_pct, d);
    }
    if (s->warnings & OFFPAY_STATUS_WARN_HOURS) {
        snprintf(d, sizeof d, "%s of %u h",
                 cli_hours(s->seconds_since_sync, h1), s->max_offline_hours);
        warn_limit("time since the last sync", s->hours_pct, d);
    }
    if (s->warnings & OFFPAY_STATUS_WARN_REVLIST) {
        snprintf(d, sizeof d, "%s of %s h", cli_hours(s->revlist_age, h1),
                 cli_hours(s->max_revlist_age, h2));
        warn_limit("the revocation list's age", s->revlist_pct, d);
    }
    if (s->warnings & OFFPAY_STATUS_WARN_REVOKED)
        printf("WARNING: the terminal holds %u revoked serials, %u %% of "
               "the %u it can: a revocation list that would take it past "
               "that is refused (ETOOBIG), and payments are refused once "
               "the list held is too old. An online sync (offpay terminal "
               "sync --server) lets go of those expired long ago; or make "
               "a new terminal (offpay "
               "terminal init DIR2, offpay terminal rotate --new-terminal "
               "DIR2, then offpay terminal sync of DIR2): it takes only "
               "the current list\n",
               s->revoked_held, s->revoked_pct,
               (unsigned)OFFPAY_TERMINAL_REVOKED_MAX);
    if (key_problem != NULL)
        printf("WARNING: the terminal's key in its token cannot be used "
               "(%s): what it accepts now cannot be uploaded, nor receipts "
               "signed, until it can (status opens it as a sync would: with "
               "the PIN from the URI's pin-source or $OFFPAY_PKCS11_PIN; "
               "docs/pkcs11.md)\n",
               key_problem);
    if (s->warnings & OFFPAY_STATUS_WARN_DISK)
        printf("WARNING: %llu KiB free where the journal is: each payment "
               "and each result a sync keeps takes some, and a full disk "
               "refuses payments (ENOSPC): free space, or move the terminal "
               "to a larger disk\n",
               (unsigned long long)(s->disk_free / 1024));
    if (s->warnings & OFFPAY_STATUS_WARN_UPLOAD)
        printf("WARNING: a payment has waited for offpayd %s h, %u %% of the "
               "%u day(s) allowed: %s. Only an upload ends the wait ('terminal "
               "sync --server URL'; a list carried in does not): past "
               "offpayd's late window it is not paid\n",
               cli_hours(s->waiting_age, h1), s->upload_pct, s->max_upload_days,
               s->upload_pct >= 100 ? "payments are refused until it is "
                                      "uploaded"
                                    : "upload soon, or the terminal will "
                                      "refuse payments");
    if (s->warnings & OFFPAY_STATUS_WARN_CREDENTIAL)
        printf("WARNING: the terminal's own credential has used %u %% of its "
               "window and expires %s (in %lld day(s)): ask the issuer for a "
               "renewal\n",
               s->credential_pct, cli_iso_time(s->cred.expires, t1),
               s->cred.expires > s->now
                   ? ((long long)s->cred.expires - (long long)s->now) / 86400
                   : 0LL);
    if (s->warnings & OFFPAY_STATUS_WARN_CRED_KEY)
        printf("WARNING: the terminal's own credential was signed by issuer "
               "key %u, which its trust bundle no longer holds (retired): "
               "it accepts no payment, consumer-presented or bound (offpayd "
               "would pay none: ETERMINAL_EXPIRED), and wallets refuse its "
               "payment requests (EUNKNOWN_KID). Get a new "
               "credential: " NEW_CREDENTIAL_HOW "\n",
               (unsigned)s->cred.kid);
}

static int cmd_status(const void *args, const char *arg CLI_UNUSED)
{
    const term_args       *a = args;
    int                    status = EXIT_OK;
    offpay_terminal       *t = open_terminal_as(a, 0, 1, &status);
    offpay_terminal_status s;
    offpay_err             rc;
    char                   key_problem[320];
    int                    key_bad = 0;

    if (t == NULL)
        return status;
    rc = offpay_terminal_get_status(t, cli_now(), &s);
    offpay_terminal_close(t);
    /* a key kept in a token: whether it can still sign (a key deleted
     * there, a token gone): the journal opens without it, and accepts
     * consumer-presented codes that nothing could then upload. Opened as
     * a sync opens it (the token's PIN, no passphrase), read-only. */
    if (rc == OFFPAY_OK && s.copied_at == 0 && key_in_token(a->dir)) {
        offpay_terminal *k = NULL;
        offpay_err       kr = offpay_terminal_open_readonly(a->dir, "", &k);

        if (kr != OFFPAY_OK) {
            snprintf(key_problem, sizeof key_problem, "%s%s%s",
                     offpay_errname(kr),
                     offpay_pkcs11_detail()[0] != '\0' ? ": " : "",
                     offpay_pkcs11_detail());
            key_bad = 1;
        } else if (s.has_cred) {
            uint8_t tpk[OFFPAY_PK_BYTES];

            offpay_terminal_public_key(k, tpk); /* the token's */
            if (memcmp(tpk, s.cred.terminal_pk, sizeof tpk) != 0) {
                snprintf(key_problem, sizeof key_problem,
                         "the token's key that terminal.keyuri names is not "
                         "the key of this terminal's credential");
                key_bad = 1;
            }
        }
        offpay_terminal_close(k);
    }
    if (rc != OFFPAY_OK)
        return cli_fail(a->dir, rc);
    /* status opens the terminal for reading: whether accept could write
     * its journal there is asked of the directory */
    if (s.state == OFFPAY_OK && access(a->dir, W_OK) != 0 &&
        (errno == EROFS || errno == EACCES))
        s.state = errno == EROFS ? OFFPAY_EROFS : OFFPAY_EACCES;
    /* and whether it has room: an accept records a payment first, and a
     * disk with less than a few pages free may refuse it; said as the
     * state ENOSPC, not accepting (a monitor is told before a payment
     * is refused), in words that say "may" (the next accept may fit) */
    if (s.state == OFFPAY_OK && s.disk_free < DISK_FULL_BYTES)
        s.state = OFFPAY_ENOSPC;
    if (a->json)
        return status_json(a->dir, &s, key_bad ? key_problem : NULL);
    status_human(a->dir, &s, key_bad ? key_problem : NULL);
    return EXIT_OK;
}

/* The payments of an export, as CSV text and as a JSON array. */
typedef struct export_ctx {
    FILE   *csv;
    json_t *list;
    int64_t total;
    size_t  n;
    int     failed;
} export_ctx;

static int export_entry(const offpay_journal_entry *e, void *vctx)
{
    export_ctx *x = vctx;
    char when[32], ch[OFFPAY_AMOUNT_TEXT_MAX], au[OFFPAY_AMOUNT_TEXT_MAX];
    char        pd[OFFPAY_AMOUNT_TEXT_MAX];
    const char *cur = offpay_currency_alpha(e->currency);

    if (cur == NULL ||
        offpay_amount_format(e->charged, e->currency, ch, sizeof ch) !=
            OFFPAY_OK ||
        offpay_amount_format(e->authorized, e->currency, au, sizeof au) !=
            OFFPAY_OK ||
        offpay_amount_add(x->total, e->charged, &x->total) != OFFPAY_OK) {
        x->failed = 1;
        return 1;
    }
    cli_iso_time(e->accepted_at, when);
    fprintf(x->csv, "%lld,%s,%llu,%u,%s,%s,%lld,%s,%u,%s,", (long long)e->seq,
            when, (unsigned long long)e->serial, e->counter,
            e->bound ? "bound" : "unbound", cur, (long long)e->charged, ch,
            e->authorized, au);
    /* settlement: offpayd's outcome, not_uploaded, or uploaded (decided
     * by a version that kept no result); paid only with an outcome */
    if (settlement_of(e) < ST_REFUSED ||
        offpay_amount_format(e->paid, e->currency, pd, sizeof pd) != OFFPAY_OK)
        fprintf(x->csv, "%s,,,,,",
                settlement_of(e) == ST_NOT_UPLOADED ? "not_uploaded"
                : settlement_of(e) == ST_NOT_KEPT   ? "uploaded"
                                                    : e->outcome);
    else
        fprintf(x->csv, "%s,%lld,%s,%s,%s,", e->outcome, (long long)e->paid,
                pd, e->reason, e->case_id);
    /* ledger_lost: a ledger taken back to an older copy lacked it, and
     * what offpayd had paid before */
    if (e->lost == 0)
        fprintf(x->csv, ",");
    else
        fprintf(x->csv, "%s,%lld",
                e->lost == 1 ? "to_upload_again" : "uploaded_again",
                (long long)e->lost_paid);
    /* covered (appended after the columns of older versions, so their
     * spreadsheets keep working): of paid, what the guarantee paid, only
     * with an outcome, as paid */
    if (settlement_of(e) < ST_REFUSED ||
        offpay_amount_format(e->covered, e->currency, pd, sizeof pd) !=
            OFFPAY_OK)
        fprintf(x->csv, ",,\r\n");
    else
        fprintf(x->csv, ",%lld,%s\r\n", (long long)e->covered, pd);
    if (json_array_append_new(
            x->list,
            json_pack("{s:I, s:s, s:o, s:I, s:s, s:s, s:I, s:s, s:I, s:s, "
                      "s:b, s:o}",
                      "seq", (json_int_t)e->seq, "accepted_at", when, "serial",
                      cli_json_u64(e->serial), "counter",
                      (json_int_t)e->counter, "kind",
                      e->bound ? "bound" : "unbound", "currency", cur,
                      "charged_minor", (json_int_t)e->charged, "charged", ch,
                      "authorized_minor", (json_int_t)e->authorized,
                      "authorized", au, "uploaded", e->uploaded, "settlement",
                      settlement_json(e))) != 0) {
        x->failed = 1;
        return 1;
    }
    x->n++;
    return 0;
}

/* Writes payments.csv and payments.json into dir. */
static int export_payments(offpay_terminal *t, const char *dir, uint32_t now)
{
    export_ctx           x = {NULL, json_array(), 0, 0, 0};
    offpay_terminal_cred c;
    char                *csv = NULL, *js = NULL, path[4400], when[32];
    char                 total[OFFPAY_AMOUNT_TEXT_MAX];
    size_t               csv_len = 0;
    uint16_t             cur = offpay_terminal_currency(t);
    int                  has_cred = offpay_terminal_credential(t, &c) == 0;
    json_t              *j = NULL;
    offpay_err           rc;
    int                  status = EXIT_FAILURE_IO;

    x.csv = open_memstream(&csv, &csv_len);
    if (x.csv == NULL || x.list == NULL)
        goto out;
    fputs("seq,accepted_at,serial,counter,kind,currency,charged_minor,"
          "charged,authorized_minor,authorized,settlement,paid_minor,paid,"
          "reason,case,ledger_lost,lost_paid_minor,covered_minor,covered\r\n",
          x.csv);
    rc = offpay_terminal_journal(t, export_entry, &x);
    if (fclose(x.csv) != 0)
        x.failed = 1;
    x.csv = NULL;
    if (rc != OFFPAY_OK) {
        status = cli_fail("export: the journal", rc);
        goto out;
    }
    if (x.failed ||
        offpay_amount_format(x.total, cur, total, sizeof total) != OFFPAY_OK)
        goto out;
    j = json_pack(
        "{s:o, s:s, s:s, s:I, s:I, s:s, s:O}", "terminal",
        has_cred ? json_pack("{s:o, s:I, s:s}", "merchant_id",
                             cli_json_u64(c.merchant_id), "terminal_id",
                             (json_int_t)c.terminal_id, "name", c.name)
                 : json_null(),
        "currency", offpay_currency_alpha(cur), "exported_at",
        cli_iso_time(now, when), "count", (json_int_t)x.n, "total_charged_minor",
        (json_int_t)x.total, "total_charged", total, "payments", x.list);
    js = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (js == NULL)
        goto out;
    snprintf(path, sizeof path, "%s/payments.csv", dir);
    if (cli_write_file(path, (const uint8_t *)csv, csv_len) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/payments.json", dir);
    if (cli_write_file(path, (const uint8_t *)js, strlen(js)) != 0)
        goto out;
    printf("exported %zu payment(s), total %s %s\n", x.n, total,
           offpay_currency_alpha(cur));
    status = EXIT_OK;
out:
    if (x.csv != NULL)
        fclose(x.csv);
    if (status == EXIT_FAILURE_IO && (x.failed || js == NULL))
        fprintf(stderr, "offpay: export: cannot write the payments\n");
    free(csv);
    offpay__json_free(js);
    json_decref(j);
    json_decref(x.list);
    return status;
}

/* What cmd_export writes into its temporary directory. */
static const char *const export_names[] = {"terminal.db", "payments.csv",
                                           "payments.json", NULL};

/* Removes what cmd_export wrote into the temporary directory, and it. */
static void export_cleanup(const char *tmp)
{
    char path[4400];

    for (size_t i = 0; export_names[i] != NULL; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, export_names[i]);
        unlink(path);
    }
    rmdir(tmp);
}

/*
 * terminal export DIR: DIR is made new (refused if it exists, so nothing
 * is ever written over), filled as DIR.tmp-XXXXXX beside it, and renamed
 * into place once complete, so DIR is either whole or absent. The
 * temporary is locked while this runs: one an export killed midway left
 * (a copy of every payment) is removed by the next export to DIR.
 */
static int cmd_export(const void *args, const char *out)
{
    const term_args *a = args;
    int              status = EXIT_OK;
    offpay_terminal *t;
    char             tmp[4200], path[4300], base[4200];
    uint32_t         now = cli_now();
    offpay_err       rc;
    size_t           n, swept;
    int              lock = -1;

    if (out == NULL || out[0] == '\0')
        return cli_usage_error("terminal export: give a new directory");
    n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        n--;
    if (n + 16 >= sizeof tmp)
        return cli_usage_error("terminal export: path too long");
    snprintf(base, sizeof base, "%.*s", (int)n, out);
    t = open_terminal_as(a, 0, 1, &status);
    if (t == NULL)
        return status;
    swept = offpay__tmp_sweep(base, 1, export_names);
    /* DIR itself, made empty now: refused if anything has that name. */
    if (mkdir(out, 0700) != 0) {
        int e = errno;

        offpay_terminal_close(t);
        if (e == EEXIST) {
            fprintf(stderr,
                    "offpay: %s already exists: export writes a new "
                    "directory, never over anything (nothing written)%s\n",
                    out,
                    swept > 0 ? "; an export to it was stopped midway (its "
                                "temporary copy is removed now): if it is "
                                "empty, remove it (rmdir) and export again"
                              : "");
            return EXIT_USAGE;
        }
        fprintf(stderr, "offpay: %s: cannot make the directory: %s\n", out,
                strerror(e));
        return EXIT_FAILURE_IO;
    }
    rc = offpay__tmp_make(base, 1, tmp, sizeof tmp, &lock);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "offpay: %s.tmp-XXXXXX: %s (%s)\n", base,
                offpay_strerror(rc), offpay_errname(rc));
        rmdir(out);
        offpay_terminal_close(t);
        return EXIT_FAILURE_IO;
    }
    snprintf(path, sizeof path, "%s/terminal.db", tmp);
    rc = offpay_terminal_export(t, path, now);
    if (rc != OFFPAY_OK)
        status = cli_fail("export: the journal copy", rc);
    else
        status = export_payments(t, tmp, now);
    offpay_terminal_close(t);
    /* Over the empty DIR made above: atomic, and DIR is ours. Then the
     * parent directory is synced, so the rename itself is durable. */
    if (status == EXIT_OK && rename(tmp, out) != 0) {
        fprintf(stderr, "offpay: %s: %s\n", out, strerror(errno));
        status = EXIT_FAILURE_IO;
    }
    if (status == EXIT_OK) {
        const char *slash = strrchr(tmp, '/');
        int         fd;

        if (slash == NULL)
            snprintf(path, sizeof path, ".");
        else
            snprintf(path, sizeof path, "%.*s", (int)(slash - tmp + 1), tmp);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd); /* best effort: the files are synced */
            close(fd);
        }
    }
    if (status != EXIT_OK) {
        export_cleanup(tmp);
        rmdir(out);
    }
    close(lock);
    if (status != EXIT_OK)
        return status;
    printf("to %s: terminal.db (a read-only copy of the journal: keep it, "
           "never accept with it), payments.csv, payments.json\n",
           out);
    return EXIT_OK;
}

/* ---- the lifecycle through offpayd (src/terminal/lifecycle.c) -------- */

static void print_final(const offpay_upload_report *r, uint16_t cur)
{
    char money[OFFPAY_AMOUNT_TEXT_MAX + 8];

    printf("final upload: %zu payment(s) sent, %zu decided (%zu paid, %s%s), "
           "%zu left\n",
           r->sent, r->decided, r->settled,
           cli_money(r->paid, cur, money, sizeof money),
           r->rejected + r->unpaid > 0 ? "; some refused or not paid in full"
                                       : "",
           r->left);
}

/* A final upload that had payments refused or not paid in full exits as
 * a sync's does (EXIT_REJECTED), though the rotation or decommission is
 * done. */
static int final_refused(const offpay_upload_report *r, const char *dir)
{
    if (r->rejected + r->unpaid == 0)
        return EXIT_OK;
    fprintf(stderr,
            "offpay: %zu payment(s) of the final upload refused or not paid "
            "in full: 'offpay terminal journal --terminal %s' shows which and "
            "why\n",
            r->rejected + r->unpaid, dir);
    return EXIT_REJECTED;
}

/* A rotation or decommission that stopped at its final upload because
 * offpayd left payments undecided (OFFPAY_ESYNC_REQUIRED from the
 * library): nothing was retired, said in the words of the case, exiting
 * as a sync that left payments does; else cli_fail_online. */
static int lifecycle_fail(const char *what, offpay_err rc,
                          const offpay_upload_report *r)
{
    if (rc != OFFPAY_ESYNC_REQUIRED)
        return cli_fail_online(what, rc);
    fprintf(stderr,
            "offpay: %s: %zu payment(s) not decided by offpayd yet (why is "
            "above: one dated after offpayd's clock is decided once its "
            "clock reaches it): nothing was done, this terminal keeps its "
            "key and accepts as before; run it again then "
            "(ESYNC_REQUIRED)\n",
            what, r->left + r->accepted_during);
    return EXIT_FAILURE_IO;
}

static int cmd_rotate(const void *args, const char *arg CLI_UNUSED)
{
    const term_args     *a = args;
    term_args            b;
    offpay_terminal     *old = NULL, *next = NULL;
    offpay_upload_report r;
    uint32_t             id = 0;
    int                  status = EXIT_OK;
    offpay_err           rc;

    if (a->server == NULL || a->new_dir == NULL)
        return cli_usage_error("terminal rotate: --server URL and "
                               "--new-terminal DIR are required");
    old = open_terminal(a, 1, &status);
    if (old == NULL)
        return status;
    b = *a;
    b.dir = a->new_dir;
    if (a->new_pass_file != NULL)
        b.pass_file = a->new_pass_file;
    next = open_terminal(&b, 1, &status);
    if (next == NULL) {
        offpay_terminal_close(old);
        return status;
    }
    rc = offpay_terminal_rotate(old, next, a->server, cli_now(), &r, &id);
    print_final(&r, offpay_terminal_currency(old));
    if (rc != OFFPAY_OK)
        status = lifecycle_fail("terminal rotate", rc, &r);
    else {
        /* the new terminal syncs with the same offpayd without --server,
         * as the old one did after its first sync */
        (void)offpay_terminal_set_server(next, a->server);
        printf("rotated: %s is terminal %u with the new key; %s is revoked "
               "from now on\n",
               a->new_dir, (unsigned)id, a->dir);
        status = final_refused(&r, a->dir);
    }
    offpay_terminal_close(next);
    offpay_terminal_close(old);
    return status;
}

static int cmd_decommission(const void *args, const char *arg CLI_UNUSED)
{
    const term_args     *a = args;
    offpay_terminal     *t;
    offpay_upload_report r;
    int                  status = EXIT_OK;
    offpay_err           rc;

    if (a->server == NULL)
        return cli_usage_error("terminal decommission: --server URL is "
                               "required");
    t = open_terminal(a, 1, &status);
    if (t == NULL)
        return status;
    rc = offpay_terminal_decommission(t, a->server, cli_now(), &r);
    print_final(&r, offpay_terminal_currency(t));
    if (rc != OFFPAY_OK)
        status = lifecycle_fail("terminal decommission", rc, &r);
    else {
        printf("decommissioned: offpayd revoked this terminal; keep %s as "
               "the record of its payments\n",
               a->dir);
        status = final_refused(&r, a->dir);
    }
    offpay_terminal_close(t);
    return status;
}

int cli_terminal(int argc, char **argv)
{
    static const cli_sub subs[] = {
        {"init", 0, cmd_init, "root bundle currency key-uri generate-key"},
        {"key", 0, cmd_key, ""},
        {"set-credential", 1, cmd_set_credential, ""},
        {"sync", 0, cmd_sync, "revlist bundle server batch json"},
        {"risk", 0, cmd_risk, "set"},
        {"request", 0, cmd_request, "amount png svg show force"},
        {"accept", 0, cmd_accept, "image code amount receipt-png force"},
        {"receipt", 0, cmd_receipt, "seq png svg show force"},
        {"journal", 0, cmd_journal, "json"},
        {"status", 0, cmd_status, "json"},
        {"export", 1, cmd_export, ""},
        {"rotate", 0, cmd_rotate, "server new-terminal new-passphrase-file"},
        {"decommission", 0, cmd_decommission, "server"},
        {NULL, 0, NULL, NULL},
    };
    term_args a;

    if (argc > 1 && strcmp(argv[1], "nfc") == 0)
        return cli_terminal_nfc(argc - 1, argv + 1);
    return cli_dispatch("terminal", help, "terminal passphrase-file", argc,
                        argv, parse, &a, subs);
}
