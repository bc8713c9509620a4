/*
 * test_amount.c — ISO 4217 currency table, strict amount parsing (every
 * syntax error, overflow at INT64_MAX), exact formatting down to INT64_MIN,
 * parse/format round trips for exponents 0, 2, 3 and 4, checked
 * add/sub, and each currency's risk unit with the default risk rules it
 * gives.
 */
#include <inttypes.h>
#include <sodium.h>

#include "harness.h"

enum {
    EUR = 978,
    USD = 840,
    JPY = 392,
    KWD = 414,
    CLF = 990, /* Chilean Unidad de Fomento: exponent 4 */
};

/* The currencies offpay must know, with their ISO 4217 minor units. */
static const struct {
    const char *alpha;
    uint16_t    numeric;
    int         exponent;
} known[] = {
    {"EUR", 978, 2}, {"USD", 840, 2}, {"GBP", 826, 2}, {"JPY", 392, 0},
    {"CHF", 756, 2}, {"CNY", 156, 2}, {"HKD", 344, 2}, {"SGD", 702, 2},
    {"INR", 356, 2}, {"IDR", 360, 2}, {"KRW", 410, 0}, {"VND", 704, 0},
    {"BRL", 986, 2}, {"MXN", 484, 2}, {"KES", 404, 2}, {"NGN", 566, 2},
    {"ZAR", 710, 2}, {"SEK", 752, 2}, {"NOK", 578, 2}, {"DKK", 208, 2},
    {"PLN", 985, 2}, {"CZK", 203, 2}, {"HUF", 348, 2}, {"TRY", 949, 2},
    {"AUD", 36, 2},  {"CAD", 124, 2}, {"NZD", 554, 2}, {"THB", 764, 2},
    {"PHP", 608, 2}, {"MYR", 458, 2}, {"KWD", 414, 3}, {"BHD", 48, 3},
    {"JOD", 400, 3}, {"OMR", 512, 3}, {"TND", 788, 3}, {"AED", 784, 2},
    {"SAR", 682, 2}, {"EGP", 818, 2}, {"ILS", 376, 2}, {"CLP", 152, 0},
    {"COP", 170, 2}, {"PEN", 604, 2}, {"ARS", 32, 2},  {"UAH", 980, 2},
    {"RUB", 643, 2}, {"ISK", 352, 0}, {"CLF", 990, 4},
};

static void test_currency_table(void)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        uint16_t    num = 0;
        const char *alpha;

        CHECK_ERR(offpay_currency_from_alpha(known[i].alpha, &num), OFFPAY_OK);
        CHECK(num == known[i].numeric);
        alpha = offpay_currency_alpha(known[i].numeric);
        CHECK(alpha != NULL && strcmp(alpha, known[i].alpha) == 0);
        CHECK(offpay_currency_exponent(known[i].numeric) == known[i].exponent);
        if (offpay_currency_exponent(known[i].numeric) != known[i].exponent)
            fprintf(stderr, "  %s: exponent %d, want %d\n", known[i].alpha,
                    offpay_currency_exponent(known[i].numeric),
                    known[i].exponent);
    }
}

/* The whole table is consistent: each numeric code maps to a three-letter
 * code that maps back to it, with an exponent offpay can print. */
static void test_currency_table_consistent(void)
{
    int n = 0;

    for (uint32_t code = 0; code <= UINT16_MAX; code++) {
        const char *alpha = offpay_currency_alpha((uint16_t)code);
        int         exp = offpay_currency_exponent((uint16_t)code);
        uint16_t    back = 0;

        CHECK((alpha == NULL) == (exp < 0));
        if (alpha == NULL)
            continue;
        n++;
        CHECK(code >= 1 && code <= 999);
        CHECK(exp >= 0 && exp <= 4);
        CHECK(strlen(alpha) == 3);
        CHECK_ERR(offpay_currency_from_alpha(alpha, &back), OFFPAY_OK);
        CHECK(back == code);
    }
    CHECK(n >= (int)(sizeof known / sizeof known[0]));
}

/* The risk unit the default risk rules and the guarantee count in: a
 * euro's worth or so (JPY 100, KRW 1000), one major unit for the strong
 * currencies, and in every currency at least one major unit, the unit of
 * every currency up to 0.14.0: terminals saved those defaults, and the
 * guarantee must keep covering what they accept. */
static void test_risk_unit(void)
{
    static const struct {
        uint16_t numeric;
        int64_t  unit;
    } want[] = {
        {EUR, 100},
        {JPY, 100},
        {410 /* KRW */, 1000},
        {KWD, 1000},
        {USD, 100},
        {CLF, 10000},
        {826 /* GBP */, 100},
        {704 /* VND */, 20000},
        {360 /* IDR */, 1000000},
        {950 /* XAF */, 500},
        {152 /* CLP */, 1000},
        {356 /* INR */, 10000},
        {348 /* HUF */, 20000},
    };
    offpay_risk r;
    int         n = 0;

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK(offpay_currency_risk_unit(want[i].numeric) == want[i].unit);
        if (offpay_currency_risk_unit(want[i].numeric) != want[i].unit)
            fprintf(stderr, "  %s: risk unit %" PRId64 ", want %" PRId64 "\n",
                    offpay_currency_alpha(want[i].numeric),
                    offpay_currency_risk_unit(want[i].numeric), want[i].unit);
    }
    CHECK(offpay_currency_risk_unit(0) == -1);
    CHECK(offpay_currency_risk_unit(999) == -1);

    /* the defaults per currency: 50, 200 and 500 risk units */
    offpay_risk_defaults(JPY, &r); /* 1,200 yen is taken unbound */
    CHECK(r.floor_unbound == 5000 && r.floor_bound == 20000 &&
          r.cumulative == 50000);
    offpay_risk_defaults(410 /* KRW */, &r);
    CHECK(r.floor_unbound == 50000 && r.floor_bound == 200000 &&
          r.cumulative == 500000);
    offpay_risk_defaults(EUR, &r); /* as before: EUR 50.00, 200.00, 500.00 */
    CHECK(r.floor_unbound == 5000 && r.floor_bound == 20000 &&
          r.cumulative == 50000 && r.skew == 120 && r.max_code_age == 300);
    offpay_risk_defaults(KWD, &r); /* as before: KWD 50.000, ... */
    CHECK(r.floor_unbound == 50000 && r.floor_bound == 200000 &&
          r.cumulative == 500000);
    offpay_risk_defaults(0, &r); /* unknown: counted in minor units */
    CHECK(r.floor_unbound == 50 && r.cumulative == 500);

    /* every currency: never below one major unit (the old defaults), a
     * round 1, 2 or 5 x 10^k major units, and every default within what
     * a payment code carries */
    for (uint32_t code = 1; code <= 999; code++) {
        int64_t major = 1, unit = offpay_currency_risk_unit((uint16_t)code);
        int64_t m;
        int     exp = offpay_currency_exponent((uint16_t)code);

        if (exp < 0)
            continue;
        n++;
        for (int i = 0; i < exp; i++)
            major *= 10;
        CHECK(unit >= major && unit % major == 0);
        for (m = unit / major; m % 10 == 0; m /= 10)
            ;
        CHECK(m == 1 || m == 2 || m == 5);
        offpay_risk_defaults((uint16_t)code, &r);
        CHECK(r.floor_unbound == 50 * unit && r.floor_bound == 200 * unit &&
              r.cumulative == 500 * unit);
        CHECK(r.floor_unbound >= 50 * major && r.floor_bound >= 200 * major &&
              r.cumulative >= 500 * major);
        CHECK(r.cumulative <= OFFPAY_WIRE_AMOUNT_MAX);
        if (unit < major || r.cumulative > OFFPAY_WIRE_AMOUNT_MAX)
            fprintf(stderr, "  %s: risk unit %" PRId64 "\n",
                    offpay_currency_alpha((uint16_t)code), unit);
    }
    CHECK(n == 61);
}

static void test_currency_errors(void)
{
    static const char *bad[] = {"eur", "Eur", "EU",  "EURO", "",
                                "E1R", "XXX", "ZZZ", "EUR ", " EUR"};
    uint16_t           num = 4242;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(offpay_currency_from_alpha(bad[i], &num),
                  OFFPAY_ECURRENCY_UNKNOWN);
    CHECK(num == 4242);
    CHECK_ERR(offpay_currency_from_alpha(NULL, &num), OFFPAY_EINVAL);
    CHECK_ERR(offpay_currency_from_alpha("EUR", NULL), OFFPAY_EINVAL);
    CHECK(offpay_currency_alpha(0) == NULL);
    CHECK(offpay_currency_alpha(999) == NULL);
    CHECK(offpay_currency_alpha(UINT16_MAX) == NULL);
    CHECK(offpay_currency_exponent(0) == -1);
    CHECK(offpay_currency_exponent(999) == -1);
}

static const struct {
    const char *text;
    uint16_t    currency;
    offpay_err  rc;
    int64_t     minor;
} parse_cases[] = {
    /* well-formed */
    {"12.50", EUR, OFFPAY_OK, 1250},
    {"12.5", EUR, OFFPAY_OK, 1250},
    {"12", EUR, OFFPAY_OK, 1200},
    {"0", EUR, OFFPAY_OK, 0},
    {"0.00", EUR, OFFPAY_OK, 0},
    {"0.50", EUR, OFFPAY_OK, 50},
    {"0.05", EUR, OFFPAY_OK, 5},
    {"10", EUR, OFFPAY_OK, 1000},
    {"1500", JPY, OFFPAY_OK, 1500},
    {"0", JPY, OFFPAY_OK, 0},
    {"1.234", KWD, OFFPAY_OK, 1234},
    {"1.2", KWD, OFFPAY_OK, 1200},
    {"0.001", KWD, OFFPAY_OK, 1},
    {"1.2345", CLF, OFFPAY_OK, 12345},
    {"0.0001", CLF, OFFPAY_OK, 1},
    /* syntax */
    {"", EUR, OFFPAY_EAMOUNT, 0},
    {".5", EUR, OFFPAY_EAMOUNT, 0},
    {"5.", EUR, OFFPAY_EAMOUNT, 0},
    {".", EUR, OFFPAY_EAMOUNT, 0},
    {"12.505", EUR, OFFPAY_EAMOUNT, 0},
    {"12.500", EUR, OFFPAY_EAMOUNT, 0},
    {"00.50", EUR, OFFPAY_EAMOUNT, 0},
    {"007", EUR, OFFPAY_EAMOUNT, 0},
    {"00", EUR, OFFPAY_EAMOUNT, 0},
    {"01.00", EUR, OFFPAY_EAMOUNT, 0},
    {"-1", EUR, OFFPAY_EAMOUNT, 0},
    {"+1", EUR, OFFPAY_EAMOUNT, 0},
    {" 1", EUR, OFFPAY_EAMOUNT, 0},
    {"1 ", EUR, OFFPAY_EAMOUNT, 0},
    {"1,50", EUR, OFFPAY_EAMOUNT, 0},
    {"1e3", EUR, OFFPAY_EAMOUNT, 0},
    {"1.2.3", EUR, OFFPAY_EAMOUNT, 0},
    {"1..2", EUR, OFFPAY_EAMOUNT, 0},
    {"12.5x", EUR, OFFPAY_EAMOUNT, 0},
    {"0x10", EUR, OFFPAY_EAMOUNT, 0},
    {"1\n", EUR, OFFPAY_EAMOUNT, 0},
    {"\xef\xbc\x91", EUR, OFFPAY_EAMOUNT, 0}, /* U+FF11 FULLWIDTH DIGIT ONE */
    {"1.5", JPY, OFFPAY_EAMOUNT, 0},
    {"1.", JPY, OFFPAY_EAMOUNT, 0},
    {"1.0", JPY, OFFPAY_EAMOUNT, 0},
    {"1.2345", KWD, OFFPAY_EAMOUNT, 0},
    {"1.23456", CLF, OFFPAY_EAMOUNT, 0},
    /* syntax is judged before magnitude */
    {"99999999999999999999999.999", EUR, OFFPAY_EAMOUNT, 0},
    {"099999999999999999999999", EUR, OFFPAY_EAMOUNT, 0},
    /* range */
    {"92233720368547758.07", EUR, OFFPAY_OK, INT64_MAX},
    {"92233720368547758.08", EUR, OFFPAY_EOVERFLOW, 0},
    {"92233720368547758.1", EUR, OFFPAY_EOVERFLOW, 0},
    {"92233720368547758", EUR, OFFPAY_OK, INT64_C(9223372036854775800)},
    {"92233720368547759", EUR, OFFPAY_EOVERFLOW, 0},
    {"9223372036854775807", JPY, OFFPAY_OK, INT64_MAX},
    {"9223372036854775808", JPY, OFFPAY_EOVERFLOW, 0},
    {"18446744073709551616", JPY, OFFPAY_EOVERFLOW, 0},
    {"99999999999999999999999999999999999999", JPY, OFFPAY_EOVERFLOW, 0},
    {"9223372036854775.807", KWD, OFFPAY_OK, INT64_MAX},
    {"9223372036854775.808", KWD, OFFPAY_EOVERFLOW, 0},
    {"922337203685477.5807", CLF, OFFPAY_OK, INT64_MAX},
    {"922337203685477.5808", CLF, OFFPAY_EOVERFLOW, 0},
    /* currency */
    {"1", 0, OFFPAY_ECURRENCY_UNKNOWN, 0},
    {"1", 999, OFFPAY_ECURRENCY_UNKNOWN, 0},
    {"x", 999, OFFPAY_ECURRENCY_UNKNOWN, 0},
};

static void test_parse(void)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        int64_t    minor = -42;
        offpay_err rc = offpay_amount_parse(parse_cases[i].text,
                                            parse_cases[i].currency, &minor);

        if (rc != parse_cases[i].rc ||
            (rc == OFFPAY_OK && minor != parse_cases[i].minor) ||
            (rc != OFFPAY_OK && minor != -42)) {
            fprintf(stderr, "  parse(\"%s\", %u) = %s, %" PRId64 "\n",
                    parse_cases[i].text, parse_cases[i].currency,
                    offpay_errname(rc), minor);
            offpay_test_failures++;
        }
    }
    CHECK_ERR(offpay_amount_parse(NULL, EUR, &(int64_t){0}), OFFPAY_EINVAL);
    CHECK_ERR(offpay_amount_parse("1", EUR, NULL), OFFPAY_EINVAL);
}

static const struct {
    int64_t     minor;
    uint16_t    currency;
    const char *text;
} format_cases[] = {
    {1250, EUR, "12.50"},
    {5, EUR, "0.05"},
    {50, EUR, "0.50"},
    {0, EUR, "0.00"},
    {100, EUR, "1.00"},
    {-5, EUR, "-0.05"},
    {-1250, EUR, "-12.50"},
    {1999, USD, "19.99"},
    {1500, JPY, "1500"},
    {0, JPY, "0"},
    {-7, JPY, "-7"},
    {1234, KWD, "1.234"},
    {1, KWD, "0.001"},
    {-1, KWD, "-0.001"},
    {1, CLF, "0.0001"},
    {12345, CLF, "1.2345"},
    {INT64_MAX, EUR, "92233720368547758.07"},
    {INT64_MIN, EUR, "-92233720368547758.08"},
    {INT64_MIN + 1, EUR, "-92233720368547758.07"},
    {INT64_MAX, JPY, "9223372036854775807"},
    {INT64_MIN, JPY, "-9223372036854775808"},
    {INT64_MAX, KWD, "9223372036854775.807"},
    {INT64_MIN, KWD, "-9223372036854775.808"},
    {INT64_MAX, CLF, "922337203685477.5807"},
    {INT64_MIN, CLF, "-922337203685477.5808"},
};

static void test_format(void)
{
    for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
        char       buf[OFFPAY_AMOUNT_TEXT_MAX];
        offpay_err rc = offpay_amount_format(
            format_cases[i].minor, format_cases[i].currency, buf, sizeof buf);

        if (rc != OFFPAY_OK || strcmp(buf, format_cases[i].text) != 0) {
            fprintf(stderr, "  format(%" PRId64 ", %u) = %s \"%s\", want %s\n",
                    format_cases[i].minor, format_cases[i].currency,
                    offpay_errname(rc), buf, format_cases[i].text);
            offpay_test_failures++;
        }
    }
}

static void test_format_errors(void)
{
    char buf[OFFPAY_AMOUNT_TEXT_MAX];

    CHECK_ERR(offpay_amount_format(1, EUR, NULL, 32), OFFPAY_EINVAL);
    memset(buf, 'x', sizeof buf);
    CHECK_ERR(offpay_amount_format(1, 999, buf, sizeof buf),
              OFFPAY_ECURRENCY_UNKNOWN);
    CHECK(buf[0] == '\0');
    /* "12.50" needs 6 bytes with its NUL. */
    CHECK_ERR(offpay_amount_format(1250, EUR, buf, 6), OFFPAY_OK);
    CHECK(strcmp(buf, "12.50") == 0);
    CHECK_ERR(offpay_amount_format(1250, EUR, buf, 5), OFFPAY_ERANGE);
    CHECK(buf[0] == '\0');
    CHECK_ERR(offpay_amount_format(1250, EUR, buf, 0), OFFPAY_ERANGE);
    CHECK_ERR(offpay_amount_format(-1, JPY, buf, 2), OFFPAY_ERANGE);
    CHECK_ERR(offpay_amount_format(-1, JPY, buf, 3), OFFPAY_OK);
    CHECK(strcmp(buf, "-1") == 0);
}

/* OFFPAY_AMOUNT_TEXT_MAX suffices for every amount in every currency. */
static void test_format_text_max(void)
{
    for (uint32_t code = 0; code <= 999; code++) {
        char buf[OFFPAY_AMOUNT_TEXT_MAX];

        if (offpay_currency_exponent((uint16_t)code) < 0)
            continue;
        CHECK_ERR(
            offpay_amount_format(INT64_MIN, (uint16_t)code, buf, sizeof buf),
            OFFPAY_OK);
        CHECK_ERR(
            offpay_amount_format(INT64_MAX, (uint16_t)code, buf, sizeof buf),
            OFFPAY_OK);
    }
}

/* format then parse gives the same amount back, and parse then format gives
 * the canonical text back, for exponents 0, 2, 3 and 4. */
static void test_round_trips(void)
{
    static const uint16_t currencies[] = {JPY, EUR, KWD, CLF};
    static const int64_t  edges[] = {
         0, 1, 9, 10, 99, 100, 101, 999, 1000, 1001, INT64_MAX - 1, INT64_MAX};

    for (size_t c = 0; c < sizeof currencies / sizeof currencies[0]; c++) {
        for (int iter = 0; iter < 3000; iter++) {
            char     buf[OFFPAY_AMOUNT_TEXT_MAX];
            uint64_t r;
            int64_t  v, back = -1;

            if (iter < (int)(sizeof edges / sizeof edges[0])) {
                v = edges[iter];
            } else {
                randombytes_buf(&r, sizeof r);
                /* Random magnitudes of every size, not only huge ones. */
                r >>= randombytes_uniform(64);
                v = (int64_t)(r & (uint64_t)INT64_MAX);
            }
            REQUIRE_OK(offpay_amount_format(v, currencies[c], buf, sizeof buf));
            REQUIRE_OK(offpay_amount_parse(buf, currencies[c], &back));
            if (back != v)
                fprintf(stderr, "  %" PRId64 " -> \"%s\" -> %" PRId64 "\n", v,
                        buf, back);
            REQUIRE(back == v);
        }
    }
}

static void test_add_sub(void)
{
    int64_t r = 77;

    CHECK_ERR(offpay_amount_add(1250, 50, &r), OFFPAY_OK);
    CHECK(r == 1300);
    CHECK_ERR(offpay_amount_add(-5, 3, &r), OFFPAY_OK);
    CHECK(r == -2);
    CHECK_ERR(offpay_amount_add(INT64_MAX - 1, 1, &r), OFFPAY_OK);
    CHECK(r == INT64_MAX);
    CHECK_ERR(offpay_amount_add(INT64_MIN, INT64_MAX, &r), OFFPAY_OK);
    CHECK(r == -1);
    CHECK_ERR(offpay_amount_sub(1300, 50, &r), OFFPAY_OK);
    CHECK(r == 1250);
    CHECK_ERR(offpay_amount_sub(0, INT64_MAX, &r), OFFPAY_OK);
    CHECK(r == -INT64_MAX);
    CHECK_ERR(offpay_amount_sub(-1, INT64_MIN, &r), OFFPAY_OK);
    CHECK(r == INT64_MAX);
    CHECK_ERR(offpay_amount_sub(INT64_MIN + 1, 1, &r), OFFPAY_OK);
    CHECK(r == INT64_MIN);

    /* Overflow is an error and leaves *out alone. */
    r = 77;
    CHECK_ERR(offpay_amount_add(INT64_MAX, 1, &r), OFFPAY_EOVERFLOW);
    CHECK_ERR(offpay_amount_add(INT64_MIN, -1, &r), OFFPAY_EOVERFLOW);
    CHECK_ERR(offpay_amount_add(INT64_MAX, INT64_MAX, &r), OFFPAY_EOVERFLOW);
    CHECK_ERR(offpay_amount_add(INT64_MIN, INT64_MIN, &r), OFFPAY_EOVERFLOW);
    CHECK_ERR(offpay_amount_sub(INT64_MIN, 1, &r), OFFPAY_EOVERFLOW);
    CHECK_ERR(offpay_amount_sub(0, INT64_MIN, &r), OFFPAY_EOVERFLOW);
    CHECK_ERR(offpay_amount_sub(INT64_MAX, -1, &r), OFFPAY_EOVERFLOW);
    CHECK_ERR(offpay_amount_sub(INT64_MIN, INT64_MAX, &r), OFFPAY_EOVERFLOW);
    CHECK(r == 77);

    CHECK_ERR(offpay_amount_add(1, 2, NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay_amount_sub(1, 2, NULL), OFFPAY_EINVAL);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"currency_table", test_currency_table},
        {"currency_table_consistent", test_currency_table_consistent},
        {"currency_errors", test_currency_errors},
        {"risk_unit", test_risk_unit},
        {"parse", test_parse},
        {"format", test_format},
        {"format_errors", test_format_errors},
        {"format_text_max", test_format_text_max},
        {"round_trips", test_round_trips},
        {"add_sub", test_add_sub},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
