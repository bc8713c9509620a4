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

/* ---- between settle.c and receipts.c (docs/settlement.md §7) ---- */

/* The terminal_seq of a presentment a wallet's receipt stood for, until
 * the terminal uploads the payment itself. */
#define OFFPAY__SEQ_RECEIPT (-1)

/* settle.c: the checks of an item that need no ledger state (decode,
 * issuer chain at accepted_at, wallet signature, 0 < charged <= the
 * authorized amount), the code decoded into *p. */
offpay_err offpay__settle_pure(offpay_ledger *l, const offpay_settle_item *item,
                               uint32_t now, offpay_payment *p);

/* settle.c: settles item (pure checks passed, decoded in p) as uploaded by
 * terminal_id, inside the caller's transaction; rejections are results. */
offpay_err offpay__settle_in_tx(offpay_ledger *l, uint32_t terminal_id,
                                const offpay_settle_item *item,
                                const offpay_payment *p, uint32_t now,
                                offpay_settle_result *res);

/* receipts.c, inside settle.c's transaction: a terminal's own upload
 * (journal seq, charged) of (serial, counter) whose presentment is pid
 * (stood: a receipt had stood for it until now) is compared with the
 * receipts wallets uploaded for it and still waiting; *case_id is the
 * receipt_mismatch case opened when one differs, else 0. */
offpay_err offpay__receipts_on_upload(offpay_ledger *l, uint64_t serial,
                                      uint32_t counter, uint32_t terminal,
                                      uint64_t payment, uint64_t pid, int stood,
                                      int64_t seq, int64_t charged,
                                      uint32_t now, uint64_t *case_id);

#endif
