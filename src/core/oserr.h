/*
 * oserr.h — internal: the one translation of a system error (errno) into
 * an offpay_err, used wherever a system call of liboffpay fails, so that a
 * full disk, a read-only file system or a missing directory is named as
 * such (docs/protocol.md Appendix B) rather than as OFFPAY_EIO.
 */
#ifndef OFFPAY_CORE_OSERR_H
#define OFFPAY_CORE_OSERR_H

#include "offpay/error.h"

/*
 * offpay__errno_err — the offpay_err for errno value e:
 *   ENOSPC, EDQUOT     OFFPAY_ENOSPC   (disk full, or quota exhausted)
 *   EROFS              OFFPAY_EROFS
 *   EACCES, EPERM      OFFPAY_EACCES
 *   ENOENT             OFFPAY_ENOENT
 *   EISDIR             OFFPAY_EISDIR
 *   ENOTDIR            OFFPAY_ENOTDIR
 *   ENOMEM             OFFPAY_ENOMEM
 *   EWOULDBLOCK        OFFPAY_EBUSY    (a lock held elsewhere)
 *   anything else      OFFPAY_EIO      (including e == 0)
 * Pure and thread-safe; the caller reads errno right after the failing
 * call and passes it here.
 */
offpay_err offpay__errno_err(int e);

#endif
