/*
 * mini_terminal.c — the smallest useful offpay terminal, written against the
 * installed liboffpay the way an integrator would (docs/api-c.md):
 *
 *     cc mini_terminal.c $(pkg-config --cflags --libs offpay) -o mini_terminal
 *     ./mini_terminal DIR AMOUNT < code.txt
 *
 * DIR is a terminal made and provisioned with `offpay terminal init`,
 * `set-credential` and `sync`. The program reads one code as a keyboard-wedge
 * scanner types it (one line on standard input), accepts it for AMOUNT (in
 * the terminal's currency, e.g. 12.50) and prints the verdict. No passphrase
 * is needed: accepting only verifies and journals; signing requests and
 * receipts is what needs the terminal's key.
 *
 * Exit status: 0 accepted (durable in the journal), 1 refused, 2 usage,
 * 3 the terminal could not be opened.
 */
#include <offpay/offpay.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    offpay_terminal  *t = NULL;
    offpay_acceptance acc;
    char              line[4096], amount[OFFPAY_AMOUNT_TEXT_MAX];
    int64_t           charge = 0;
    size_t            n;
    offpay_err        rc;
    int               status = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: %s TERMINAL_DIR AMOUNT < code\n", argv[0]);
        return 2;
    }
    if (strcmp(offpay_version(), OFFPAY_HEADER_VERSION) != 0) {
        fprintf(stderr, "built for liboffpay %s, running with %s\n",
                OFFPAY_HEADER_VERSION, offpay_version());
        return 3;
    }
    if (offpay_init() != OFFPAY_OK)
        return 3;
    rc = offpay_terminal_open(argv[1], NULL, &t);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "cannot open terminal %s: %s (%s)\n", argv[1],
                offpay_strerror(rc), offpay_errname(rc));
        return 3;
    }
    rc = offpay_amount_parse(argv[2], offpay_terminal_currency(t), &charge);
    if (rc != OFFPAY_OK || charge <= 0) {
        fprintf(stderr, "bad amount %s\n", argv[2]);
        status = 2;
        goto out;
    }
    if (fgets(line, sizeof line, stdin) == NULL) {
        fprintf(stderr, "no code on standard input\n");
        status = 2;
        goto out;
    }
    n = strcspn(line, "\r\n");
    rc = offpay_terminal_accept(t, line, n, charge, (uint32_t)time(NULL), &acc);
    if (rc != OFFPAY_OK) {
        printf("REFUSED: %s (%s)\n", offpay_strerror(rc), offpay_errname(rc));
        goto out;
    }
    if (offpay_amount_format(acc.charged, offpay_terminal_currency(t), amount,
                             sizeof amount) != OFFPAY_OK)
        amount[0] = '\0';
    printf("ACCEPTED: payment #%lld, %s %s, credential %llu counter %u\n",
           (long long)acc.seq, amount,
           offpay_currency_alpha(offpay_terminal_currency(t)),
           (unsigned long long)acc.payment.cred.serial,
           (unsigned)acc.payment.counter);
    status = 0;
out:
    offpay_terminal_close(t);
    return status;
}
