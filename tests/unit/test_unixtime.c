/*
 * test_unixtime.c — a unix time as a person gives it
 * (offpay__unix_time_parse, src/core/unixtime.c), which offpayd's period
 * parameters and the command line's time options share: the times taken,
 * and the words for those refused (milliseconds, a date, anything else),
 * the same under either name.
 */
#include <string.h>

#include "core/unixtime.h"
#include "harness.h"

static void test_times_taken(void)
{
    char     hint[OFFPAY__UNIX_TIME_HINT_MAX];
    uint32_t t = 7;

    CHECK(offpay__unix_time_parse("from", "0", 1, &t, hint, sizeof hint) == 0);
    CHECK(t == 0 && hint[0] == '\0');
    CHECK(offpay__unix_time_parse("--to", "1798761599", 1, &t, hint,
                                  sizeof hint) == 0);
    CHECK(t == 1798761599u);
    CHECK(offpay__unix_time_parse("to", "4294967295", 1, &t, hint,
                                  sizeof hint) == 0);
    CHECK(t == UINT32_MAX);
}

static void test_refusals_say_what_to_give(void)
{
    char     hint[OFFPAY__UNIX_TIME_HINT_MAX];
    uint32_t t = 7;

    /* milliseconds (13 digits): the seconds they hold */
    CHECK(offpay__unix_time_parse("--from", "1796530000000", 1, &t, hint,
                                  sizeof hint) == -1);
    CHECK(strcmp(hint,
                 "--from: 1796530000000 is a time in milliseconds: "
                 "give unix seconds, not milliseconds (1796530000)") == 0);
    CHECK(t == 7);
    /* a date: the seconds of one, and the command that gives them in UTC
     * (date -u, not the local time date +%s gives) */
    CHECK(offpay__unix_time_parse("to", "2026-12-01", 1, &t, hint,
                                  sizeof hint) == -1);
    CHECK(strcmp(hint, "to: a date: give a unix time in seconds "
                       "(2026-12-01T00:00Z is 1796083200: date -u +%s -d "
                       "2026-12-01), both ends of the period included") == 0);
    CHECK(offpay__unix_time_parse("--expires", "2027-01-01T00:00:00Z", 0, &t,
                                  hint, sizeof hint) == -1);
    CHECK(strcmp(hint, "--expires: a date: give a unix time in seconds "
                       "(2026-12-01T00:00Z is 1796083200: date -u +%s -d "
                       "2026-12-01)") == 0);
    /* anything else: the form, and the command */
    {
        static const char *bad[] = {"",    "-5",         "+5",          "01",
                                    "1e9", "4294967296", "99999999999", "1.5",
                                    "12 "};

        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            CHECK(offpay__unix_time_parse("from", bad[i], 1, &t, hint,
                                          sizeof hint) == -1);
            CHECK(strcmp(hint, "from: a unix time in seconds, "
                               "0..4294967295, without sign or leading "
                               "zeros (date -u +%s -d 2027-01-01 gives "
                               "one)") == 0);
        }
    }
    CHECK(t == 7);
    /* a small buffer: cut, never overrun */
    {
        char small[16];

        CHECK(offpay__unix_time_parse("from", "x", 1, &t, small,
                                      sizeof small) == -1);
        CHECK(strlen(small) == sizeof small - 1);
    }
}

static const offpay_test TESTS[] = {
    {"times_taken", test_times_taken},
    {"refusals_say_what_to_give", test_refusals_say_what_to_give},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
