/*
 * oserr.c — errno to offpay_err, in one place (oserr.h).
 */
#include "core/oserr.h"

#include <errno.h>

offpay_err offpay__errno_err(int e)
{
    switch (e) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return OFFPAY_ENOSPC;
    case EROFS:
        return OFFPAY_EROFS;
    case EACCES:
    case EPERM:
        return OFFPAY_EACCES;
    case ENOENT:
        return OFFPAY_ENOENT;
    case EISDIR:
        return OFFPAY_EISDIR;
    case ENOTDIR:
        return OFFPAY_ENOTDIR;
    case ENOMEM:
        return OFFPAY_ENOMEM;
    case EWOULDBLOCK:
        return OFFPAY_EBUSY;
    default:
        return OFFPAY_EIO;
    }
}
