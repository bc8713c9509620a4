/*
 * nfc.c — `offpay terminal nfc` and `offpay wallet nfc`: one payment over
 * NFC (docs/nfc.md). The terminal drives a PC/SC reader through pcscd; the
 * wallet plays the card, armed beforehand with a maximum amount, through
 * vsmartcard's virtual reader (what a phone's host card emulation does
 * over the air).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static const char term_help[] =
    "Usage: offpay terminal nfc --terminal DIR --amount AMOUNT [OPTIONS]\n"
    "\n"
    "Take one payment over NFC: make a request for AMOUNT, wait for a\n"
    "wallet on the PC/SC reader, send the request, accept the bound code it\n"
    "answers (printing 'accepted' only once the payment is on disk), and\n"
    "hand the receipt back to the wallet.\n"
    "\n"
    "If the card leaves the field before the terminal has the code, the\n"
    "terminal waits for it to come back and sends the same request again\n"
    "(the wallet answers with the same code). Once the code is in hand, the\n"
    "payment is decided on the code alone; a receipt the card could not\n"
    "take can be made again with 'terminal receipt --seq N'. A card that\n"
    "does not answer a command within 5 seconds, or whose session takes\n"
    "more than 10 seconds in all, is taken as gone, as if it had left: a\n"
    "card that stalls holds the terminal at most 15 s past --wait (and\n"
    "past --receipt-wait while the receipt is delivered).\n"
    "\n"
    "Options:\n"
    "  --terminal DIR          the terminal (required)\n"
    "  --amount AMOUNT         what to charge (required): the currency's\n"
    "                          major unit, at most its decimals, no sign\n"
    "                          (12.50 EUR, 1250 JPY, 12.500 KWD)\n"
    "  --reader NAME           the first PC/SC reader whose name contains\n"
    "                          NAME (default: the first reader)\n"
    "  --wait SECONDS          for a card, in all (default 30)\n"
    "  --receipt-wait SECONDS  for the card's return to take the receipt\n"
    "                          (default 5)\n"
    "  --chunk N               APDU data bytes, 1..255 (default 255)\n"
    "  --passphrase-file FILE  the terminal passphrase\n"
    "pcscd is found at its usual socket, or at PCSCLITE_CSOCK_NAME.\n";

static const char wallet_help[] =
    "Usage: offpay wallet nfc --wallet FILE --max AMOUNT --currency CODE\n"
    "       [OPTIONS]\n"
    "\n"
    "Be the card for one payment (like a phone's 'tap to pay up to X'):\n"
    "the payer arms the wallet now with a maximum; then a terminal's\n"
    "request up to that maximum is paid without asking, with a code bound\n"
    "to the request (reserved on disk before it leaves), and the receipt is\n"
    "taken. Larger requests are refused with a status word. The same\n"
    "request again (the card left the field and came back) gets the same\n"
    "code: nothing more is reserved.\n"
    "\n"
    "The card is presented to vsmartcard's virtual reader (vpcd); the\n"
    "command ends when the receipt is taken, or after --timeout.\n"
    "\n"
    "Options:\n"
    "  --wallet FILE           the wallet (required)\n"
    "  --max AMOUNT            the most one request may ask (required)\n"
    "  --currency CODE         the currency of --max, e.g. EUR (required)\n"
    "  --payments N            payments armed for (default 1)\n"
    "  --vpcd HOST:PORT        vpcd's address (default 127.0.0.1:35963)\n"
    "  --timeout SECONDS       give up after this long (default 60)\n"
    "  --stay                  stay in the field after the armed payments\n"
    "                          (a phone left on the reader: later\n"
    "                          requests are refused) until --timeout\n"
    "  --taps N                leave for good after N taps (default: come\n"
    "                          back after leaving, until --timeout)\n"
    "  --passphrase-file FILE  the wallet passphrase\n"
    "Exit status 0 once every armed payment was made (receipt or not).\n";

typedef struct nfc_args {
    const char *dir, *wallet, *pass_file, *amount, *reader, *max, *currency,
        *vpcd;
    long wait, receipt_wait, chunk, payments, timeout, drop_at, taps;
    int  stay;
} nfc_args;

/* A whole number in [lo, hi] or -1 after a usage message. */
static long number(const char *opt, const char *s, long lo, long hi)
{
    char *end = NULL;
    long  v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        cli_usage_error("%s: a whole number from %ld to %ld", opt, lo, hi);
        return -1;
    }
    return v;
}

static int parse(int argc, char **argv, nfc_args *a, int wallet)
{
    static const struct option opts[] = {
        {"terminal", required_argument, NULL, 'T'},
        {"wallet", required_argument, NULL, 'W'},
        {"passphrase-file", required_argument, NULL, 'p'},
        {"amount", required_argument, NULL, 'a'},
        {"reader", required_argument, NULL, 'r'},
        {"wait", required_argument, NULL, 'w'},
        {"receipt-wait", required_argument, NULL, 'R'},
        {"chunk", required_argument, NULL, 'k'},
        {"max", required_argument, NULL, 'm'},
        {"currency", required_argument, NULL, 'c'},
        {"payments", required_argument, NULL, 'n'},
        {"vpcd", required_argument, NULL, 'v'},
        {"timeout", required_argument, NULL, 't'},
        {"stay", no_argument, NULL, 's'},
        {"taps", required_argument, NULL, 'N'},
#ifdef OFFPAY_TEST_HOOKS
        /* Tests: leave the field on the K-th APDU of the first tap,
         * processed but not answered. */
        {"drop-at", required_argument, NULL, 'D'},
#endif
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char tprog[] = "offpay terminal nfc", wprog[] = "offpay wallet nfc";
    uint64_t    seen = 0;
    int         c;

    argv[0] = wallet ? wprog : tprog; /* getopt's messages name the command */
    memset(a, 0, sizeof *a);
    a->wait = 30;
    a->receipt_wait = 5;
    a->chunk = 255;
    a->payments = 1;
    a->timeout = 60;
    optind = 1;
    while ((c = cli_getopt(argc, argv, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'T':
            a->dir = optarg;
            break;
        case 'W':
            a->wallet = optarg;
            break;
        case 'p':
            a->pass_file = optarg;
            break;
        case 'a':
            a->amount = optarg;
            break;
        case 'r':
            a->reader = optarg;
            break;
        case 'm':
            a->max = optarg;
            break;
        case 'c':
            a->currency = optarg;
            break;
        case 'v':
            a->vpcd = optarg;
            break;
        case 'w':
            if ((a->wait = number("--wait", optarg, 0, 3600)) < 0)
                return EXIT_USAGE;
            break;
        case 'R':
            if ((a->receipt_wait = number("--receipt-wait", optarg, 0, 3600)) <
                0)
                return EXIT_USAGE;
            break;
        case 'k':
            if ((a->chunk = number("--chunk", optarg, 1, 255)) < 0)
                return EXIT_USAGE;
            break;
        case 'n':
            if ((a->payments = number("--payments", optarg, 1, 1000)) < 0)
                return EXIT_USAGE;
            break;
        case 't':
            if ((a->timeout = number("--timeout", optarg, 1, 86400)) < 0)
                return EXIT_USAGE;
            break;
        case 's':
            a->stay = 1;
            break;
        case 'N':
            if ((a->taps = number("--taps", optarg, 1, 1000000)) < 0)
                return EXIT_USAGE;
            break;
        case 'D':
            if ((a->drop_at = number("--drop-at", optarg, 0, 1000)) < 0)
                return EXIT_USAGE;
            break;
        case 'h':
            fputs(wallet ? wallet_help : term_help, stdout);
            fputs(cli_exit_help, stdout);
            return -1;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        default:
            return cli_usage_error("%s nfc: bad option",
                                   wallet ? "wallet" : "terminal");
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    /* one parser for both roles: the other role's options are refused */
    return wallet ? cli_only_opts("wallet nfc",
                                  "wallet passphrase-file max currency "
                                  "payments vpcd timeout stay taps drop-at",
                                  NULL, "wallet nfc")
                  : cli_only_opts("terminal nfc",
                                  "terminal passphrase-file amount reader "
                                  "wait receipt-wait chunk",
                                  NULL, "terminal nfc");
}

int cli_terminal_nfc(int argc, char **argv)
{
    nfc_args             a;
    offpay_terminal     *t = NULL;
    offpay_nfc_reader   *r = NULL;
    offpay_nfc_link      link;
    offpay_nfc_term_opts o;
    offpay_nfc_outcome   res;
    offpay_terminal_cred tc;
    int64_t              amount = 0;
    char                *pass = NULL, money[64];
    int                  status;
    offpay_err           rc;

    status = parse(argc, argv, &a, 0);
    if (status != 0)
        return status < 0 ? EXIT_OK : status;
    if (a.dir == NULL || a.amount == NULL)
        return cli_usage_error("terminal nfc: --terminal DIR and --amount "
                               "are required");
    pass = cli_passphrase(a.pass_file, "Terminal passphrase", 0);
    if (pass == NULL)
        return EXIT_FAILURE_IO;
    rc = offpay_terminal_open(a.dir, pass, &t);
    cli_passphrase_free(pass);
    if (rc != OFFPAY_OK) {
        status = cli_fail(a.dir, rc);
        goto out;
    }
    rc = offpay_terminal_credential(t, &tc);
    if (rc != OFFPAY_OK) {
        status = cli_fail("this terminal has no credential yet", rc);
        goto out;
    }
    if (cli_amount(a.amount, tc.currency, &amount) != 0) {
        status = EXIT_USAGE;
        goto out;
    }
    rc = offpay_nfc_reader_open(a.reader, &r, &link);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "offpay: %s\n",
                rc == OFFPAY_ENOTFOUND ? "no such PC/SC reader"
                                       : "cannot reach pcscd");
        status = EXIT_FAILURE_IO;
        goto out;
    }
    fprintf(stderr, "reader: %s\nwaiting for a wallet: %s\n",
            offpay_nfc_reader_name(r),
            cli_money(amount, tc.currency, money, sizeof money));
    memset(&o, 0, sizeof o);
    o.chunk = (size_t)a.chunk;
    o.wait_ms = (uint32_t)a.wait * 1000u;
    o.receipt_wait_ms = (uint32_t)a.receipt_wait * 1000u;
    o.now = cli_now();
    rc = offpay_nfc_terminal_pay(t, amount, &link, &o, &res);
    if (rc == OFFPAY_OK) {
        printf("accepted: %s from credential %llu (code %u), journal entry "
               "%lld\n",
               cli_money(res.acc.charged, tc.currency, money, sizeof money),
               (unsigned long long)res.acc.payment.cred.serial,
               res.acc.payment.counter, (long long)res.acc.seq);
        fflush(stdout);
        if (res.receipt)
            fprintf(stderr, "receipt taken by the wallet\n");
        else
            fprintf(stderr,
                    "receipt not delivered (%s): 'offpay terminal receipt "
                    "--seq %lld' makes it again\n",
                    res.receipt_sw != 0 ? offpay_nfc_sw_text(res.receipt_sw)
                                        : "the card left",
                    (long long)res.acc.seq);
        status = EXIT_OK;
    } else if (rc == OFFPAY_ENOTFOUND && res.sw == OFFPAY_SW_OK) {
        fprintf(stderr, "NOT ACCEPTED: the card's offpay application is "
                        "another version\n");
        status = EXIT_REJECTED;
    } else if (res.sw != 0) {
        fprintf(stderr, "NOT ACCEPTED: the card refused: %s (SW %04X)\n",
                offpay_nfc_sw_text(res.sw), res.sw);
        status = EXIT_REJECTED;
    } else if (rc == OFFPAY_EIO && res.silent > 0) {
        fprintf(stderr,
                "NOT ACCEPTED: the card stopped answering (no answer within "
                "%d s) and no card answered after it; nothing was recorded\n",
                OFFPAY_NFC_ANSWER_MS / 1000);
        status = EXIT_REJECTED;
    } else if (rc == OFFPAY_EIO) {
        fprintf(stderr, "NOT ACCEPTED: no card, or it left before the "
                        "payment code was read; nothing was recorded\n");
        status = EXIT_REJECTED;
    } else if (rc == OFFPAY_EWRONG_NONCE) {
        fprintf(stderr, "REJECTED: the card answered with a code for another "
                        "request than the one it was sent; nothing was "
                        "recorded (EWRONG_NONCE)\n");
        status = EXIT_REJECTED;
    } else if ((rc == OFFPAY_ESYNC_REQUIRED &&
                cli_sync_required_why(t, cli_now(), "NOT ACCEPTED")) ||
               (rc == OFFPAY_ETERMINAL_EXPIRED &&
                cli_terminal_expired_why(t, cli_now(), "REJECTED"))) {
        status = EXIT_REJECTED;
    } else if (cli_is_rejection(rc)) {
        fprintf(stderr, "REJECTED: %s (%s)\n", offpay_strerror(rc),
                offpay_errname(rc));
        status = EXIT_REJECTED;
    } else {
        status = cli_fail("NOT ACCEPTED", rc);
    }
    if (res.taps > 1)
        fprintf(stderr, "(%u taps)\n", res.taps);
out:
    offpay_nfc_reader_close(r);
    offpay_terminal_close(t);
    return status;
}

/* ---------------------------------------------------------------- wallet */

typedef struct wallet_run {
    offpay_nfc_wallet_card *wc;
    uint32_t                payments;
    int                     stay;
} wallet_run;

static uint32_t run_now(void *ctx)
{
    (void)ctx;
    return cli_now();
}

static void on_event(void *ctx, const offpay_nfc_event *e)
{
    char m[64];

    (void)ctx;
    switch (e->kind) {
    case OFFPAY_NFC_PAID:
        fprintf(
            stderr, "paid %s to %s (merchant %llu): code %u\n",
            cli_money(e->request->amount, e->request->currency, m, sizeof m),
            e->request->tcred.name,
            (unsigned long long)e->request->tcred.merchant_id,
            e->payment->counter);
        break;
    case OFFPAY_NFC_RESENT:
        fprintf(stderr,
                "the same request again: code %u sent again, "
                "nothing more reserved\n",
                e->payment->counter);
        break;
    case OFFPAY_NFC_REFUSED:
        if (e->request != NULL)
            fprintf(stderr, "refused %s to %s: %s (SW %04X)\n",
                    cli_money(e->request->amount, e->request->currency, m,
                              sizeof m),
                    e->request->tcred.name, offpay_nfc_sw_text(e->sw), e->sw);
        else
            fprintf(stderr, "refused: %s (SW %04X, %s)\n",
                    offpay_nfc_sw_text(e->sw), e->sw, offpay_errname(e->rc));
        break;
    case OFFPAY_NFC_RECEIPT:
        fprintf(
            stderr, "receipt: %s charged by %s\n",
            cli_money(e->receipt->amount, e->receipt->currency, m, sizeof m),
            e->receipt->tcred.name);
        break;
    }
}

static int run_done(void *ctx)
{
    const wallet_run *run = ctx;

    return !run->stay &&
           offpay_nfc_wallet_card_receipts(run->wc) >= run->payments;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "HOST:PORT" into host (capacity cap) and port. 0 or a usage status. */
static int parse_vpcd(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    long        p;

    if (colon == NULL || colon == s || (size_t)(colon - s) >= cap)
        return cli_usage_error("--vpcd: HOST:PORT");
    p = number("--vpcd port", colon + 1, 1, 65535);
    if (p < 0)
        return EXIT_USAGE;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (uint16_t)p;
    return 0;
}

int cli_wallet_nfc(int argc, char **argv)
{
    nfc_args              a;
    offpay_wallet        *w = NULL;
    offpay_nfc_wallet_cfg cfg;
    wallet_run            run = {NULL, 0, 0};
    char                 *pass = NULL, host[256] = "127.0.0.1", m[64];
    uint16_t              port = 35963, currency = 0;
    int64_t               max = 0, deadline;
    int                   status, taps = 0;
    offpay_err            rc;

    status = parse(argc, argv, &a, 1);
    if (status != 0)
        return status < 0 ? EXIT_OK : status;
    if (a.wallet == NULL || a.max == NULL || a.currency == NULL)
        return cli_usage_error("wallet nfc: --wallet FILE, --max AMOUNT and "
                               "--currency CODE are required");
    if (cli_currency(a.currency, &currency) != 0 ||
        cli_amount(a.max, currency, &max) != 0)
        return EXIT_USAGE;
    if (max < 1)
        return cli_usage_error("--max: more than zero");
    if (a.vpcd != NULL &&
        (status = parse_vpcd(a.vpcd, host, sizeof host, &port)) != 0)
        return status;
    pass = cli_passphrase(a.pass_file, "Wallet passphrase", 0);
    if (pass == NULL)
        return EXIT_FAILURE_IO;
    rc = offpay_wallet_open(a.wallet, pass, &w);
    cli_passphrase_free(pass);
    if (rc != OFFPAY_OK)
        return cli_fail(a.wallet, rc);
    memset(&cfg, 0, sizeof cfg);
    cfg.max_amount = max;
    cfg.currency = currency;
    cfg.payments = (uint32_t)a.payments;
    cfg.now = run_now;
    cfg.event = on_event;
    run.payments = (uint32_t)a.payments;
    run.stay = a.stay;
    rc = offpay_nfc_wallet_card_new(w, &cfg, &run.wc);
    if (rc != OFFPAY_OK) {
        status = cli_fail("wallet nfc", rc);
        goto out;
    }
    fprintf(stderr, "armed: up to %s, %ld payment(s); card at %s:%u\n",
            cli_money(max, currency, m, sizeof m), a.payments, host,
            (unsigned)port);
    deadline = mono_ms() + a.timeout * 1000;
    while (!run_done(&run)) {
        offpay_nfc_vpcd_opts o;
        int64_t              left = deadline - mono_ms();
        uint32_t             apdus = 0;

        if (left <= 0)
            break;
        memset(&o, 0, sizeof o);
        o.connect_ms = (uint32_t)left;
        o.max_ms = (uint32_t)left;
        o.drop_at = taps == 0 ? (uint32_t)a.drop_at : 0;
        o.done = run_done;
        o.ctx = &run;
        rc = offpay_nfc_vpcd_tap(
            host, port, offpay_nfc_wallet_card_card(run.wc), &o, &apdus);
        if (rc != OFFPAY_OK && apdus == 0 && taps == 0) {
            fprintf(stderr, "offpay: cannot reach vpcd at %s:%u\n", host,
                    (unsigned)port);
            status = EXIT_FAILURE_IO;
            goto out;
        }
        taps++;
        if (a.taps > 0 && taps >= a.taps)
            break;
        if (!run_done(&run)) {
            /* Out of the field for a second, then back: long enough for
             * pcscd, which polls a reader every 400 ms, to see the card
             * go (a quicker return can leave its state "empty"). */
            struct timespec ts = {1, 0};

            nanosleep(&ts, NULL);
        }
    }
    printf("paid %u, receipts %u\n", offpay_nfc_wallet_card_paid(run.wc),
           offpay_nfc_wallet_card_receipts(run.wc));
    status = offpay_nfc_wallet_card_paid(run.wc) >= run.payments
                 ? EXIT_OK
                 : EXIT_REJECTED;
out:
    offpay_nfc_wallet_card_free(run.wc);
    offpay_wallet_close(w);
    return status;
}
