/*
 * testhook.h — what the test hooks (-DOFFPAY_TEST_HOOKS=ON) share: a wait
 * a test asks for by an environment variable, to hold a process at a
 * chosen point (a copy before its rename, a claim before its booking)
 * while the test acts around it. Never called in a build without them.
 */
#ifndef OFFPAY_CORE_TESTHOOK_H
#define OFFPAY_CORE_TESTHOOK_H

/* The positive number the environment variable env holds; 0 when it is
 * not set, not a number, or not above 0 (a bound or a count a test
 * build takes from its test: a shorter wait, a lower schema version). */
long offpay__test_number(const char *env);

/* Sleeps the milliseconds the environment variable env holds (none, or
 * not a number: no wait). */
void offpay__test_delay_ms(const char *env);

#endif /* OFFPAY_CORE_TESTHOOK_H */
