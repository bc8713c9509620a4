/*
 * log.h — offpay__log: one diagnostic line to the program's sink
 * (offpay_set_log; stderr by default), printf-style; a trailing newline
 * is dropped, the sink ends the line.
 */
#ifndef OFFPAY_CORE_LOG_H
#define OFFPAY_CORE_LOG_H

void offpay__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* OFFPAY_CORE_LOG_H */
