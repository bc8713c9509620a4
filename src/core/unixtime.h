/*
 * unixtime.h — internal: a unix time in seconds as a person gives it, in
 * an HTTP query (offpayd's period parameters) or on the command line
 * (`offpay admin --from`, `--expires`, ...): one parser, so that both say
 * the same of a time given in milliseconds or as a date.
 */
#ifndef OFFPAY_CORE_UNIXTIME_H
#define OFFPAY_CORE_UNIXTIME_H

#include <stddef.h>
#include <stdint.h>

/* Room for offpay__unix_time_parse's hint around a value of at most 64
 * bytes and a name of at most 32. */
#define OFFPAY__UNIX_TIME_HINT_MAX 256

/*
 * offpay__unix_time_parse — v as a unix time in seconds of 32 bits:
 * decimal digits, 0..4294967295, without sign or leading zeros. 0 and *t
 * set; else -1 and hint[0..cap) says, under name (the query parameter or
 * option, "from" or "--from"), what v looks like and what to give:
 * thirteen digits, a time in milliseconds ("NAME: V is a time in
 * milliseconds: give unix seconds, not milliseconds (its first 10
 * digits)"); a date ("NAME: a date: give a unix time in seconds
 * (2026-12-01T00:00Z is 1796083200: date -u +%s -d 2026-12-01)", then
 * ", both ends of the period included" when period); else the form, with
 * the command that gives one (`date -u`: UTC, as every time offpay
 * prints). Pure; thread-safe.
 */
int offpay__unix_time_parse(const char *name, const char *v, int period,
                            uint32_t *t, char *hint, size_t cap);

/*
 * offpay__unix_time_iso — t as every time offpay prints one, ISO 8601 in
 * UTC ("2026-12-06T22:50:13Z"), into out; the decimal seconds should the
 * system not convert it. out, returned. Thread-safe.
 */
const char *offpay__unix_time_iso(uint32_t t, char out[32]);

#endif
