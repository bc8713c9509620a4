/*
 * amount.c — ISO 4217 currencies and money as int64_t minor units: the one
 * place where amounts are parsed from and printed to text, and the checked
 * arithmetic every balance and limit goes through. No floating point.
 */
#include "offpay/core.h"

#include "core/amount_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct currency {
    uint16_t numeric;  /* ISO 4217 numeric code */
    char     alpha[4]; /* ISO 4217 alphabetic code, NUL-terminated */
    uint8_t  exponent; /* ISO 4217 minor unit: digits after the point */
    uint16_t risk;     /* major units the default risk rules count as one
                          (offpay_currency_risk_unit) */
} currency;

/*
 * The currencies offpay knows, with their ISO 4217 minor units (the ISO
 * list, not common cash practice: IDR and HUF are 2 even though their
 * smallest coins are larger). Largest exponent is 4 (CLF), which keeps every
 * formatted amount within OFFPAY_AMOUNT_TEXT_MAX.
 *
 * The risk unit (docs/protocol.md §5.4): one major unit where a euro buys
 * fewer than 6 of the currency; else the largest 1, 2 or 5 x 10^k major
 * units worth at most about a euro at late-2025 rates (JPY 100, KRW 1000).
 * Approximate by design, and never below one major unit, the unit of every
 * currency up to 0.14.0: terminals saved the defaults at init, and
 * settlement must go on guaranteeing what they accept. A change here
 * changes the guarantee (docs/settlement.md §5): raise only.
 */
static const currency currencies[] = {
    {32, "ARS", 2, 1000},   {36, "AUD", 2, 1},     {48, "BHD", 3, 1},
    {50, "BDT", 2, 100},    {124, "CAD", 2, 1},    {152, "CLP", 0, 1000},
    {156, "CNY", 2, 5},     {170, "COP", 2, 2000}, {203, "CZK", 2, 20},
    {208, "DKK", 2, 5},     {344, "HKD", 2, 5},    {348, "HUF", 2, 200},
    {352, "ISK", 0, 100},   {356, "INR", 2, 100},  {360, "IDR", 2, 10000},
    {368, "IQD", 3, 1000},  {376, "ILS", 2, 1},    {392, "JPY", 0, 100},
    {400, "JOD", 3, 1},     {404, "KES", 2, 100},  {410, "KRW", 0, 1000},
    {414, "KWD", 3, 1},     {434, "LYD", 3, 5},    {458, "MYR", 2, 1},
    {484, "MXN", 2, 20},    {504, "MAD", 2, 10},   {512, "OMR", 3, 1},
    {554, "NZD", 2, 1},     {566, "NGN", 2, 1000}, {578, "NOK", 2, 10},
    {586, "PKR", 2, 200},   {600, "PYG", 0, 5000}, {604, "PEN", 2, 1},
    {608, "PHP", 2, 50},    {634, "QAR", 2, 1},    {643, "RUB", 2, 50},
    {646, "RWF", 0, 1000},  {682, "SAR", 2, 1},    {702, "SGD", 2, 1},
    {704, "VND", 0, 20000}, {710, "ZAR", 2, 20},   {752, "SEK", 2, 10},
    {756, "CHF", 2, 1},     {764, "THB", 2, 20},   {784, "AED", 2, 1},
    {788, "TND", 3, 1},     {800, "UGX", 0, 2000}, {818, "EGP", 2, 50},
    {826, "GBP", 2, 1},     {840, "USD", 2, 1},    {901, "TWD", 2, 20},
    {936, "GHS", 2, 10},    {946, "RON", 2, 1},    {949, "TRY", 2, 20},
    {950, "XAF", 0, 500},   {952, "XOF", 0, 500},  {978, "EUR", 2, 1},
    {980, "UAH", 2, 20},    {985, "PLN", 2, 1},    {986, "BRL", 2, 5},
    {990, "CLF", 4, 1},
};

#define N_CURRENCIES (sizeof currencies / sizeof currencies[0])

/* The table entry for a numeric code, or NULL. */
static const currency *currency_find(uint16_t numeric)
{
    for (size_t i = 0; i < N_CURRENCIES; i++)
        if (currencies[i].numeric == numeric)
            return &currencies[i];
    return NULL;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

offpay_err offpay_currency_from_alpha(const char *alpha, uint16_t *numeric)
{
    if (alpha == NULL || numeric == NULL)
        return OFFPAY_EINVAL;
    /* Short-circuit order never reads past the terminating NUL. */
    if (!(is_upper(alpha[0]) && is_upper(alpha[1]) && is_upper(alpha[2]) &&
          alpha[3] == '\0'))
        return OFFPAY_ECURRENCY_UNKNOWN;
    for (size_t i = 0; i < N_CURRENCIES; i++) {
        if (memcmp(currencies[i].alpha, alpha, 4) == 0) {
            *numeric = currencies[i].numeric;
            return OFFPAY_OK;
        }
    }
    return OFFPAY_ECURRENCY_UNKNOWN;
}

const char *offpay_currency_alpha(uint16_t numeric)
{
    const currency *c = currency_find(numeric);

    return c != NULL ? c->alpha : NULL;
}

int offpay_currency_exponent(uint16_t numeric)
{
    const currency *c = currency_find(numeric);

    return c != NULL ? (int)c->exponent : -1;
}

int64_t offpay_currency_risk_unit(uint16_t numeric)
{
    const currency *c = currency_find(numeric);
    int64_t         unit;

    if (c == NULL)
        return -1;
    unit = c->risk; /* at most 20000 x 10^4: no overflow */
    for (int i = 0; i < c->exponent; i++)
        unit *= 10;
    return unit;
}

void offpay__amount_example(uint16_t currency_code,
                            char     buf[OFFPAY__AMOUNT_EXAMPLE_MAX])
{
    int     e = offpay_currency_exponent(currency_code);
    int64_t minor = 125; /* 12.5 major units, padded to the exponent */

    if (e < 0) {
        memcpy(buf, "12.50", sizeof "12.50");
        return;
    }
    if (e == 0)
        minor = 1250; /* no decimals: a whole number, not "13" */
    for (int i = 1; i < e; i++)
        minor *= 10;
    if (offpay_amount_format(minor, currency_code, buf,
                             OFFPAY__AMOUNT_EXAMPLE_MAX) != OFFPAY_OK)
        memcpy(buf, "12.50", sizeof "12.50");
}

int offpay__amount_decimals(const char *text)
{
    const char *p = text;
    int         n = 0;

    if (p == NULL || !is_digit(*p))
        return -1;
    while (is_digit(*p))
        p++;
    if (*p++ != '.')
        return -1;
    while (is_digit(p[n]))
        n++;
    return n > 0 && p[n] == '\0' ? n : -1;
}

void offpay__amount_too_precise(const char *text, uint16_t currency_code,
                                char buf[OFFPAY__AMOUNT_WHY_MAX])
{
    const currency *c = currency_find(currency_code);
    int             d = offpay__amount_decimals(text);

    buf[0] = '\0';
    /* "007.50", "00": a leading zero before another digit (a plain "0"
     * or "0.50" is fine) */
    if (c != NULL && text[0] == '0' && text[1] >= '0' && text[1] <= '9') {
        snprintf(buf, OFFPAY__AMOUNT_WHY_MAX,
                 "it starts with a zero before another digit");
        return;
    }
    if (c == NULL || d <= (int)c->exponent)
        return;
    if (c->exponent == 0)
        snprintf(buf, OFFPAY__AMOUNT_WHY_MAX,
                 "it has %d decimal%s and %s has none", d, d == 1 ? "" : "s",
                 c->alpha);
    else
        snprintf(buf, OFFPAY__AMOUNT_WHY_MAX,
                 "it has %d decimals and %s has %d", d, c->alpha,
                 (int)c->exponent);
}

/*
 * Syntax is checked in full before any arithmetic, so malformed text is
 * always OFFPAY_EAMOUNT and only well-formed text can be OFFPAY_EOVERFLOW.
 */
offpay_err offpay_amount_parse(const char *text, uint16_t currency_code,
                               int64_t *minor)
{
    const currency *c;
    size_t          int_len = 0;
    size_t          frac_len = 0;
    const char     *frac = NULL;
    int64_t         v = 0;
    offpay_err      rc = OFFPAY_OK;

    if (text == NULL || minor == NULL) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    c = currency_find(currency_code);
    if (c == NULL) {
        rc = OFFPAY_ECURRENCY_UNKNOWN;
        goto out;
    }
    while (is_digit(text[int_len]))
        int_len++;
    /* At least one integer digit, and no leading zero ("0.50", not "00.50"
     * or "007"): one text form per amount up to trailing fraction zeros. */
    if (int_len == 0 || (int_len > 1 && text[0] == '0')) {
        rc = OFFPAY_EAMOUNT;
        goto out;
    }
    if (text[int_len] == '.') {
        frac = text + int_len + 1;
        while (is_digit(frac[frac_len]))
            frac_len++;
        if (frac_len == 0 || frac_len > c->exponent || frac[frac_len] != '\0') {
            rc = OFFPAY_EAMOUNT;
            goto out;
        }
    } else if (text[int_len] != '\0') {
        rc = OFFPAY_EAMOUNT;
        goto out;
    }

    for (size_t i = 0; i < int_len + c->exponent; i++) {
        int64_t d;

        if (i < int_len)
            d = text[i] - '0';
        else if (i - int_len < frac_len)
            d = frac[i - int_len] - '0';
        else
            d = 0; /* pad the fraction to the exponent: "12.5" -> 1250 */
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, d, &v)) {
            rc = OFFPAY_EOVERFLOW;
            goto out;
        }
    }
    *minor = v;
out:
    return rc;
}

offpay_err offpay_amount_format(int64_t minor, uint16_t currency_code,
                                char *buf, size_t cap)
{
    const currency *c;
    char            tmp[OFFPAY_AMOUNT_TEXT_MAX];
    size_t          pos = sizeof tmp; /* tmp is filled from its end */
    size_t          len;
    size_t          ndigits = 0;
    uint64_t        mag;
    offpay_err      rc = OFFPAY_OK;

    if (buf == NULL) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    c = currency_find(currency_code);
    if (c == NULL) {
        rc = OFFPAY_ECURRENCY_UNKNOWN;
        goto out;
    }
    /* Magnitude in unsigned arithmetic, where -INT64_MIN is representable. */
    mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    tmp[--pos] = '\0';
    /* At least exponent + 1 digits, so 5 EUR cents prints as "0.05". */
    do {
        if (c->exponent > 0 && ndigits == c->exponent)
            tmp[--pos] = '.';
        tmp[--pos] = (char)('0' + (int)(mag % 10));
        mag /= 10;
        ndigits++;
    } while (mag != 0 || ndigits <= c->exponent);
    if (minor < 0)
        tmp[--pos] = '-';
    len = sizeof tmp - pos; /* including the NUL */
    if (cap < len) {
        rc = OFFPAY_ERANGE;
        goto out;
    }
    memcpy(buf, tmp + pos, len);
out:
    if (rc != OFFPAY_OK && buf != NULL && cap > 0)
        buf[0] = '\0';
    return rc;
}

offpay_err offpay_amount_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (out == NULL)
        return OFFPAY_EINVAL;
    if (__builtin_add_overflow(a, b, &r))
        return OFFPAY_EOVERFLOW;
    *out = r;
    return OFFPAY_OK;
}

offpay_err offpay_amount_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (out == NULL)
        return OFFPAY_EINVAL;
    if (__builtin_sub_overflow(a, b, &r))
        return OFFPAY_EOVERFLOW;
    *out = r;
    return OFFPAY_OK;
}

const char *offpay__money_text(int64_t minor, uint16_t currency_code,
                               char buf[OFFPAY__MONEY_TEXT_MAX])
{
    char        amount[OFFPAY_AMOUNT_TEXT_MAX];
    const char *alpha = offpay_currency_alpha(currency_code);

    if (alpha != NULL && offpay_amount_format(minor, currency_code, amount,
                                              sizeof amount) == OFFPAY_OK)
        snprintf(buf, OFFPAY__MONEY_TEXT_MAX, "%s %s", amount, alpha);
    else
        snprintf(buf, OFFPAY__MONEY_TEXT_MAX, "%lld minor units",
                 (long long)minor);
    return buf;
}
