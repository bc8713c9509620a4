/*
 * testhook.h — what the test hooks (-DOFFPAY_TEST_HOOKS=ON) share: a wait
 * a test asks for by an environment variable, to hold a process at a
 * chosen point (a copy before its rename, a claim before its booking)
 * while the test acts around it. Never called in a build without them.
 */
#ifndef OFFPAY_CORE_TESTHOOK_H
#define OFFPAY_CORE_TESTHOOK_H

/* Sleeps the milliseconds the environment variable env holds (none, or
 * not a number: no wait). */
void offpay__test_delay_ms(const char *env);

#endif /* OFFPAY_CORE_TESTHOOK_H */
