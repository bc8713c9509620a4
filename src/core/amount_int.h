/*
 * amount_int.h — internal helpers of amount.c for saying how an amount is
 * written when one is refused (the CLI's and offpayd's hints), and money
 * in a log line: pure, no I/O, thread-safe.
 */
#ifndef OFFPAY_AMOUNT_INT_H
#define OFFPAY_AMOUNT_INT_H

#include <stddef.h>
#include <stdint.h>

/* Longest example offpay__amount_example writes, with its NUL. */
#define OFFPAY__AMOUNT_EXAMPLE_MAX 16

/*
 * offpay__amount_example — an amount as the currency writes it, built from
 * its exponent: "12.50" (EUR), "1250" (JPY: no decimals), "12.500" (KWD),
 * "12.5000" (CLF). An unknown currency gets "12.50".
 */
void offpay__amount_example(uint16_t currency_code,
                            char     buf[OFFPAY__AMOUNT_EXAMPLE_MAX]);

/*
 * offpay__amount_decimals — how many digits follow the point of text when
 * it is digits, a point and digits ("12.505": 3); -1 for any other text
 * (no point, a sign, a comma, a space).
 */
int offpay__amount_decimals(const char *text);

/* Longest sentence offpay__amount_too_precise writes, with its NUL. */
#define OFFPAY__AMOUNT_WHY_MAX 64

/*
 * offpay__amount_too_precise — when text has more decimals than the
 * currency ("12.5" in JPY), the sentence that says so ("it has 1 decimal
 * and JPY has none", "it has 4 decimals and KWD has 3"); when it starts
 * with a zero before another digit ("007.50", which the parser refuses),
 * that (since 0.25.0); else "".
 */
void offpay__amount_too_precise(const char *text, uint16_t currency_code,
                                char buf[OFFPAY__AMOUNT_WHY_MAX]);

/* Longest text offpay__money_text writes, with its NUL. */
#define OFFPAY__MONEY_TEXT_MAX 48

/*
 * offpay__money_text — minor units as a person reads them, for the log
 * lines that name money: "8.00 EUR", "1250 JPY"; "800 minor units" when
 * the currency is unknown. Returns buf.
 */
const char *offpay__money_text(int64_t minor, uint16_t currency_code,
                               char buf[OFFPAY__MONEY_TEXT_MAX]);

#endif
