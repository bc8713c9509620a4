/*
 * error.c — names and messages of offpay_err, generated from OFFPAY_ERRORS.
 */
#include "offpay/error.h"

const char *offpay_strerror(offpay_err err)
{
    switch (err) {
#define OFFPAY__ERR_MSG(name, num, msg)                                        \
    case OFFPAY_##name:                                                        \
        return msg;
        OFFPAY_ERRORS(OFFPAY__ERR_MSG)
#undef OFFPAY__ERR_MSG
    }
    return "unknown error";
}

const char *offpay_errname(offpay_err err)
{
    switch (err) {
#define OFFPAY__ERR_NAME(name, num, msg)                                       \
    case OFFPAY_##name:                                                        \
        return #name;
        OFFPAY_ERRORS(OFFPAY__ERR_NAME)
#undef OFFPAY__ERR_NAME
    }
    return "UNKNOWN";
}
