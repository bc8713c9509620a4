/* offpay/issuer.h — (being written) */
#ifndef OFFPAY_ISSUER_H
#define OFFPAY_ISSUER_H
#include "offpay/message.h"
#endif
