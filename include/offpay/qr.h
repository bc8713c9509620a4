/* offpay/qr.h — (being written) */
#ifndef OFFPAY_QR_H
#define OFFPAY_QR_H
#include "offpay/error.h"
#endif
