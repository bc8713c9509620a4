/* offpay/terminal.h — (being written) */
#ifndef OFFPAY_TERMINAL_H
#define OFFPAY_TERMINAL_H
#include "offpay/message.h"
#endif
