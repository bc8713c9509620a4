/*
 * settle_int.h — internal: the ledger handle shared by ledger.c (operator
 * functions) and settle.c (settlement of uploaded payments).
 */
#ifndef OFFPAY_SETTLE_INT_H
#define OFFPAY_SETTLE_INT_H

#include "core/credcache.h"
#include "offpay/pkcs11.h"
#include "offpay/settle.h"
#include "settle/store.h"

/* Lives in sodium_malloc memory: sk is wiped when it is freed. */
struct offpay_ledger {
    offpay__store           *store;
    const offpay__store_ops *ops;
    offpay_ledger_config     cfg;
    offpay_trust_bundle      bundle; /* issuer keys codes are checked with */
    int                      has_trust;
    uint16_t                 kid; /* the key the ledger signs with */
    uint8_t                  sk[OFFPAY_SK_BYTES];
    offpay_pkcs11_key       *p11; /* borrowed; not NULL: the key is in a
                                     token, and sk stays zero */
    offpay__cache_slot *cache;    /* credentials verified under bundle;
                                     calloc'd, emptied by set_trust */
};

/* Runs fn between begin and commit, rolling back on any error and
 * rerunning the whole transaction (up to a bound) on OFFPAY_ERETRY. fn must
 * leave nothing outside the store changed before it returns OFFPAY_OK. */
offpay_err offpay__ledger_tx(offpay_ledger *l,
                             offpay_err (*fn)(offpay_ledger *l, void *ctx),
                             void *ctx);

/* offpay__ledger_tx for fn that only reads: a read transaction, which
 * does not wait for or hold up the writer. */
offpay_err offpay__ledger_read(offpay_ledger *l,
                               offpay_err (*fn)(offpay_ledger *l, void *ctx),
                               void *ctx);

/* One transfer inside the current transaction. */
offpay_err offpay__ledger_move(offpay_ledger *l, uint64_t debit,
                               uint64_t credit, int64_t amount,
                               const char *kind, uint64_t presentment,
                               uint64_t case_id, const char *ref, uint32_t now);

#endif
