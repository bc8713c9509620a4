/* offpay/wallet.h — (being written) */
#ifndef OFFPAY_WALLET_H
#define OFFPAY_WALLET_H
#include "offpay/message.h"
#endif
