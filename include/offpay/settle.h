/*
 * offpay/settle.h — the issuer's ledger and settlement engine: accounts,
 * escrow per wallet credential, merchants and terminals, and the settlement
 * of uploaded payments exactly once, by the rules of docs/settlement.md.
 *
 * The engine works over a storage backend (src/store/; SQLite by default)
 * through one function table, and never sees SQL itself. Every operation
 * is one transaction, rerun from the start when the store reports a
 * conflict (OFFPAY_ERETRY), so several processes may share one ledger.
 *
 * An offpay_ledger is not thread-safe: use one per thread (each opens its
 * own connection to the same store).
 */
#ifndef OFFPAY_SETTLE_H
#define OFFPAY_SETTLE_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/message.h"
#include "offpay/pkcs11.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct offpay_ledger offpay_ledger;

/* The largest encoded terminal credential (a name of OFFPAY_NAME_MAX). */
#define OFFPAY_TERMINAL_CRED_MAX_BYTES (2 + 57 + OFFPAY_NAME_MAX + 64)

/* The operator's settings (docs/settlement.md §4-§6). */
typedef struct offpay_ledger_config {
    uint32_t upload_grace; /* after a credential's expiry, before its escrow
                              is released; seconds (default 14 days) */
    uint32_t late_window;  /* after the release, late presentments are still
                              paid; seconds (default 30 days) */
    uint32_t duplicates_to_revoke; /* duplicate-presentment cases that revoke
                                      a credential (default 1) */
} offpay_ledger_config;

void offpay_ledger_config_defaults(offpay_ledger_config *c);

/*
 * offpay_ledger_open — open (creating if missing, and bringing its schema
 * up to date) the ledger at path: a SQLite file, or a PostgreSQL database
 * named by a libpq URL ("postgresql://user@127.0.0.1:5432/ledger"). c may
 * be NULL for the defaults. Errors: OFFPAY_EINVAL, OFFPAY_ESTORE (cannot
 * open or migrate), OFFPAY_EVERSION (made by a newer offpay),
 * OFFPAY_ENOMEM.
 */
offpay_err offpay_ledger_open(const char *path, const offpay_ledger_config *c,
                              offpay_ledger **out);

/* Closes the store, wipes the signing key. NULL is a no-op. */
void offpay_ledger_close(offpay_ledger *l);

/*
 * offpay_ledger_set_trust — the issuer's current trust bundle (already
 * verified against the root key by the caller: offpay_bundle_verify) and
 * the daily signing key the ledger signs credentials with, which must be a
 * key of the bundle. The key is copied into guarded memory, wiped at close.
 * Errors: OFFPAY_EINVAL, OFFPAY_EUNKNOWN_KID (kid not in the bundle or
 * the key does not match it), OFFPAY_ENOMEM.
 */
offpay_err offpay_ledger_set_trust(offpay_ledger             *l,
                                   const offpay_trust_bundle *b, uint16_t kid,
                                   const uint8_t sk[OFFPAY_SK_BYTES]);

/*
 * offpay_ledger_set_trust_token — as offpay_ledger_set_trust, but the
 * daily key is in a PKCS#11 token (offpay/pkcs11.h): key is borrowed and
 * must stay open until the ledger is closed; several ledgers (one per
 * server thread) may share it, since its signing is serialized. Errors:
 * OFFPAY_EINVAL, OFFPAY_EUNKNOWN_KID (key is not kid's key of the
 * bundle); signing later also OFFPAY_EPKCS11.
 */
offpay_err offpay_ledger_set_trust_token(offpay_ledger             *l,
                                         const offpay_trust_bundle *b,
                                         uint16_t kid, offpay_pkcs11_key *key);

/* ---- accounts ------------------------------------------------------ */

typedef enum offpay_account_kind {
    OFFPAY_ACCOUNT_WORLD = 1,
    OFFPAY_ACCOUNT_WALLET = 2,
    OFFPAY_ACCOUNT_ESCROW = 3,
    OFFPAY_ACCOUNT_MERCHANT = 4,
    OFFPAY_ACCOUNT_GUARANTEE = 5
} offpay_account_kind;

/*
 * offpay_ledger_wallet_account — a new payer account in currency, with the
 * operator's reference text (at most 128 bytes). Errors: OFFPAY_EINVAL,
 * OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_wallet_account(offpay_ledger *l, uint16_t currency,
                                        const char *ref, uint32_t now,
                                        uint64_t *account);

/* The issuer's guarantee account of currency (created on first use). */
offpay_err offpay_ledger_guarantee_account(offpay_ledger *l, uint16_t currency,
                                           uint32_t now, uint64_t *account);

/* An account's balance, derived from its transfers, and its kind and
 * currency (either pointer may be NULL). Errors: OFFPAY_ENOTFOUND,
 * OFFPAY_ESTORE. */
offpay_err offpay_ledger_balance(offpay_ledger *l, uint64_t account,
                                 int64_t *balance, offpay_account_kind *kind,
                                 uint16_t *currency);

/*
 * Money from and to the outside: deposit credits account (a wallet, a
 * merchant or the guarantee) from the world account of its currency;
 * withdraw does the reverse. amount > 0 minor units. *transfer (may be
 * NULL) receives the transfer id. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND,
 * OFFPAY_EFUNDS (withdrawal above the balance), OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_deposit(offpay_ledger *l, uint64_t account,
                                 int64_t amount, const char *ref, uint32_t now,
                                 uint64_t *transfer);
offpay_err offpay_ledger_withdraw(offpay_ledger *l, uint64_t account,
                                  int64_t amount, const char *ref, uint32_t now,
                                  uint64_t *transfer);

/* ---- merchants, terminals, credentials ----------------------------- */

/* A merchant and its account; *merchant_id is what terminal credentials
 * name. Errors: OFFPAY_EINVAL (name empty or over OFFPAY_NAME_MAX bytes),
 * OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_ESTORE. */
offpay_err offpay_ledger_merchant_add(offpay_ledger *l, const char *name,
                                      uint16_t currency, uint32_t now,
                                      uint64_t *merchant_id, uint64_t *account);

/*
 * offpay_ledger_terminal_add — register a terminal key for a merchant and
 * sign its credential (valid from now to expires, the merchant's name and
 * currency). bytes receives the credential (capacity
 * OFFPAY_TERMINAL_CRED_MAX_BYTES), *len its size; cred (may be NULL) the
 * decoded form, with the terminal id. A key already registered gets
 * OFFPAY_EEXISTS. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (merchant),
 * OFFPAY_EWEAK_KEY, OFFPAY_EEXISTS, OFFPAY_ECRYPTO (no signing key set),
 * OFFPAY_ESTORE.
 */
offpay_err
offpay_ledger_terminal_add(offpay_ledger *l, uint64_t merchant_id,
                           const uint8_t pk[OFFPAY_PK_BYTES], uint32_t expires,
                           uint32_t now,
                           uint8_t  bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES],
                           size_t *len, offpay_terminal_cred *cred);

/* Revokes a terminal from now on: what it accepted before now still
 * settles (docs/settlement.md §8). Errors: OFFPAY_ENOTFOUND, OFFPAY_ESTORE. */
offpay_err offpay_ledger_terminal_revoke(offpay_ledger *l, uint32_t terminal_id,
                                         uint32_t now);

/*
 * offpay_ledger_issue — a wallet credential of limit minor units for
 * wallet_pk, funded from the wallet account: one transaction moves limit
 * into a new escrow and signs the credential (serial chosen by the
 * ledger). bytes receives OFFPAY_WALLET_CRED_BYTES. cred may be NULL.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (account), OFFPAY_EWEAK_KEY,
 * OFFPAY_EFUNDS, OFFPAY_ECRYPTO, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_issue(offpay_ledger *l, uint64_t wallet_account,
                               const uint8_t wallet_pk[OFFPAY_PK_BYTES],
                               int64_t limit, uint8_t flags, uint32_t expires,
                               uint32_t now,
                               uint8_t  bytes[OFFPAY_WALLET_CRED_BYTES],
                               offpay_wallet_cred *cred);

/* Revokes a credential (reason: at most 128 bytes). Revoking it again
 * changes nothing. Errors: OFFPAY_ENOT_ISSUED, OFFPAY_ESTORE. */
offpay_err offpay_ledger_revoke(offpay_ledger *l, uint64_t serial,
                                const char *reason, uint32_t now);

/* What the ledger holds about a wallet credential. */
typedef struct offpay_ledger_cred_info {
    uint64_t serial;
    uint64_t wallet_account;
    int64_t  limit;
    int64_t  remaining; /* in its escrow */
    uint16_t currency;
    uint32_t valid_from, expires;
    int      revoked; /* 1: revoked at revoked_at */
    uint32_t revoked_at;
    int      released; /* 1: escrow released at released_at */
    uint32_t released_at;
} offpay_ledger_cred_info;

/* Errors: OFFPAY_EINVAL, OFFPAY_ENOT_ISSUED, OFFPAY_ESTORE. */
offpay_err offpay_ledger_credential(offpay_ledger *l, uint64_t serial,
                                    offpay_ledger_cred_info *out);

/* ---- settlement ---------------------------------------------------- */

typedef enum offpay_settle_outcome {
    OFFPAY_SETTLE_REJECTED = 0,     /* failed verification; nothing moved */
    OFFPAY_SETTLE_SETTLED = 1,      /* paid from the escrow */
    OFFPAY_SETTLE_GUARANTEED = 2,   /* paid, partly under the guarantee */
    OFFPAY_SETTLE_DUPLICATE = 3,    /* same code from another terminal: paid
                                       by §4's rule, case opened */
    OFFPAY_SETTLE_DOUBLE_SPEND = 4, /* same (serial, counter), other bytes:
                                       paid as an overspend, case opened,
                                       credential revoked */
    OFFPAY_SETTLE_UNPAID = 5 /* (partly) unpaid: a guarantee rule was broken
                                or the late window passed; reason says */
} offpay_settle_outcome;

/* One journal entry of a terminal, as uploaded. */
typedef struct offpay_settle_item {
    const uint8_t *code; /* the payment code's exact bytes */
    size_t         code_len;
    int64_t        charged;     /* minor units */
    uint32_t       accepted_at; /* the terminal's acceptance time */
    int64_t        terminal_seq;
} offpay_settle_item;

typedef struct offpay_settle_result {
    offpay_settle_outcome outcome;
    offpay_err            reason;  /* why REJECTED / UNPAID; else OFFPAY_OK */
    int64_t               paid;    /* credited to the merchant */
    int64_t               covered; /* of which the guarantee paid */
    uint64_t presentment;          /* id of the stored result (0 if rejected) */
    uint64_t case_id;              /* case opened or joined (0: none) */
    int      replay; /* 1: the stored result of an earlier upload */
} offpay_settle_result;

/*
 * offpay_ledger_settle — settle one item uploaded by terminal terminal_id,
 * exactly once (docs/settlement.md §4). Returns OFFPAY_OK whenever it
 * reached a result (rejections included: see res->outcome and res->reason);
 * an error return means nothing was decided (OFFPAY_ENOTFOUND: unknown
 * terminal, OFFPAY_ESTORE, OFFPAY_ECRYPTO: no trust set).
 */
offpay_err offpay_ledger_settle(offpay_ledger *l, uint32_t terminal_id,
                                const offpay_settle_item *item, uint32_t now,
                                offpay_settle_result *res);

/*
 * offpay_ledger_settle_batch — offpay_ledger_settle for n items uploaded
 * together by terminal terminal_id, in one transaction (one durable commit
 * for all of them): res[i] is what offpay_ledger_settle would give for
 * items[i] settled one after the other in order. All or nothing: on an
 * error return no item was decided (res is zeroed) and the caller resends
 * them. Errors: as offpay_ledger_settle, OFFPAY_EINVAL (n == 0),
 * OFFPAY_ENOMEM.
 */
offpay_err offpay_ledger_settle_batch(offpay_ledger *l, uint32_t terminal_id,
                                      const offpay_settle_item *items, size_t n,
                                      uint32_t now, offpay_settle_result *res);

/* Releases every escrow whose credential expired more than upload_grace
 * before now (docs/settlement.md §6); *released (may be NULL) counts them.
 * Each release happens once, however often this runs. */
offpay_err offpay_ledger_release_due(offpay_ledger *l, uint32_t now,
                                     size_t *released);

/* ---- what offpayd serves ------------------------------------------ */

/*
 * offpay_ledger_revlist — the revocation list signed now with the ledger's
 * key: a delta with every serial revoked after list since_seq, or the full
 * list when since_seq is 0 or is the current list (signed again, so its
 * issued_at is fresh). *bytes is malloc'd (free it). Errors: OFFPAY_EINVAL,
 * OFFPAY_EREVLIST_SEQ (since_seq is above the current list),
 * OFFPAY_ECRYPTO (no signing key), OFFPAY_ENOMEM, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_revlist(offpay_ledger *l, uint32_t since_seq,
                                 uint32_t now, uint8_t **bytes, size_t *len);

/* A registered terminal. */
typedef struct offpay_ledger_terminal_info {
    uint32_t terminal_id;
    uint64_t merchant_id;
    uint64_t merchant_account;
    uint16_t currency;
    uint8_t  pk[OFFPAY_PK_BYTES];
    int      revoked;
    uint32_t revoked_at;
} offpay_ledger_terminal_info;

/* By id, or by its key (terminal_id 0 and pk given). Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_ESTORE. */
offpay_err offpay_ledger_terminal(offpay_ledger *l, uint32_t terminal_id,
                                  const uint8_t               *pk,
                                  offpay_ledger_terminal_info *out);

/*
 * offpay_ledger_nonce — takes (pk, nonce) for a signed request made at time
 * at: OFFPAY_OK the first time, OFFPAY_EREPLAY after. Nonces older than
 * now - window are forgotten (the caller refuses requests whose time is
 * outside now ± window, so a forgotten nonce can never be replayed).
 * nonce is 16 bytes. Errors: OFFPAY_EINVAL, OFFPAY_EREPLAY, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_nonce(offpay_ledger *l,
                               const uint8_t  pk[OFFPAY_PK_BYTES],
                               const uint8_t nonce[16], uint32_t at,
                               uint32_t now, uint32_t window);

/* One settled (or refused) presentment at a merchant. */
typedef struct offpay_statement_line {
    uint64_t              presentment;
    uint32_t              terminal_id;
    uint64_t              serial;
    uint32_t              counter;
    int64_t               charged, paid, covered;
    offpay_settle_outcome outcome;
    offpay_err            reason;
    uint32_t              accepted_at, uploaded_at;
} offpay_statement_line;

/* Calls fn for each presentment at merchant_id's terminals uploaded in
 * [from, to], in upload order; a non-zero return stops the walk. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND (merchant), OFFPAY_ESTORE. */
offpay_err offpay_ledger_statement(
    offpay_ledger *l, uint64_t merchant_id, uint32_t from, uint32_t to,
    int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx);

/* ---- the audit ----------------------------------------------------- */

typedef struct offpay_audit_report {
    int64_t  inside;           /* money inside: sum of non-world balances */
    int64_t  deposits_net;     /* deposits minus withdrawals */
    uint64_t accounts;         /* accounts checked */
    uint64_t transfers;        /* transfers read */
    uint64_t imbalanced;       /* currencies whose balances do not sum to 0 */
    uint64_t negative;         /* wallet/escrow/guarantee below zero */
    uint64_t escrow_mismatch;  /* stored remaining != derived balance */
    uint64_t settle_mismatch;  /* paid results without exactly one settle
                                  transfer of their amount, or settle
                                  transfers without a result */
    uint64_t release_mismatch; /* released escrows not released once, or
                                  not empty after it */
} offpay_audit_report;

/* Recomputes every balance from the transfers and checks
 * docs/settlement.md §10. Returns OFFPAY_EAUDIT when any count of r other
 * than the totals is non-zero; r is filled either way. */
offpay_err offpay_ledger_audit(offpay_ledger *l, offpay_audit_report *r);

#ifdef __cplusplus
}
#endif
#endif
