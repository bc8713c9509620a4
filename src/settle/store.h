/*
 * store.h — internal: the storage interface of the settlement engine, one
 * function table that every backend in src/store/ fills (SQLite now,
 * PostgreSQL next). The engine calls begin, then operations, then commit
 * (or rollback), and never sees SQL.
 *
 * Every function returns OFFPAY_OK, a result it names (OFFPAY_ENOTFOUND,
 * OFFPAY_EFUNDS, OFFPAY_EEXISTS), OFFPAY_ERETRY when the transaction met a
 * conflict and must be rerun from begin, OFFPAY_EBUSY when it waited in
 * vain for a lock another process holds (src/store/lockwait.h: the engine
 * reruns it only while its bound leaves time), or OFFPAY_ESTORE. After
 * any error other than the named results the engine rolls back.
 *
 * Amounts are int64 minor units; ids are the store's 64-bit row ids.
 */
#ifndef OFFPAY_SETTLE_STORE_H
#define OFFPAY_SETTLE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/settle.h"

typedef struct offpay__store offpay__store;

typedef struct offpay__transfer {
    uint64_t    debit, credit;
    int64_t     amount;
    const char *kind;        /* deposit withdraw fund settle cover release late
                                refund claim */
    uint64_t    presentment; /* 0: none */
    uint64_t    case_id;     /* 0: none */
    const char *ref;         /* may be NULL */
    uint32_t    at;
} offpay__transfer;

/* What the last transfer refused OFFPAY_ECLOCK_BEHIND on this thread
 * said (offpay__ledger_book, settle_int.h): both times and what to do;
 * "" when none was. For offpayd's hint and the CLI's message. */
const char *offpay__ledger_clock_detail(void);

/* A request made once under its key (005_request_keys). */
enum {
    OFFPAY__REQ_DEPOSIT = 1,
    OFFPAY__REQ_WITHDRAW,
    OFFPAY__REQ_ALLOWANCE,
    OFFPAY__REQ_REFUND,        /* 009_refunds */
    OFFPAY__REQ_REFUND_FUNDED, /* the merchant paid its amount in */
    OFFPAY__REQ_MERCHANT,      /* 017_request_keys_made: rows made */
    OFFPAY__REQ_ACCOUNT,       /* a wallet account */
    OFFPAY__REQ_TERMINAL
};
/* The longest text a request names (a merchant's name, an account's
 * ref: OFFPAY_LEDGER_REF_MAX, the longer). */
#define OFFPAY__REQUEST_TEXT_MAX 128
typedef struct offpay__request {
    int      op;      /* OFFPAY__REQ_* */
    uint64_t account; /* a refund's presentment; a merchant's or wallet
                         account's currency, a terminal's merchant */
    int64_t  amount;  /* 0 for the rows made (MERCHANT, ACCOUNT, TERMINAL) */
    uint64_t result;  /* the transfer it booked (a refund's first); an
                         allowance's serial; the merchant, account or
                         terminal made (a wallet account's claim on shard 0:
                         the shard it is made on) */
    /* a merchant's name, a wallet account's ref (stored as the request
     * column, NULL for the other kinds); "" for the other kinds */
    char text[OFFPAY__REQUEST_TEXT_MAX + 1];
} offpay__request;

/* What a refund of a presentment reads first (src/settle/refund.c,
 * 009_refunds): the presentment, the refund transfers booked for it,
 * what the guarantee paid or owes for its credential (cover, and what its
 * presentments the guarantee could not cover are owed: claims, paid or
 * not) and was not given back by the refunds of any of the credential's
 * presentments into a guarantee (docs/settlement.md §13), and, for a
 * replayed refund, its first transfer's amount when it went into a
 * guarantee (else 0). */
typedef struct offpay__refund_base {
    uint64_t serial;
    uint32_t terminal;
    int64_t  paid, covered;
    int64_t  refunded, guarantee_out, first_to_guarantee;
} offpay__refund_base;
/* The same in SQL both backends accept ($1: the presentment, $2: the
 * replayed refund's first transfer, 0 for none), one row or none. */
extern const char offpay__refund_base_sql[];

/* A terminal's last report as the queries below read it, from
 * terminal_reports r (003_terminal_reports, 028_terminal_state), in this
 * order in both backends; NULL for a terminal that never reported, and
 * the last three for a report from a terminal before 0.27.0. */
#define OFFPAY__REPORT_COLS                                                    \
    "r.reported_at, r.synced_at, r.pending, r.state, r.lists_at,"              \
    " r.pending_amount"

/* A terminal's label (029_terminal_labels) set and cleared ($1 the
 * terminal, $2 the label, $3 the time), and carried to the terminal a
 * rotation made ($1 the new terminal, $2 the time, $3 the old one), in
 * SQL both backends accept. */
extern const char offpay__terminal_label_set_sql[];
extern const char offpay__terminal_label_clear_sql[];
extern const char offpay__terminal_label_carry_sql[];

/* A terminal's last report (offpay__store_ops.terminal_report_get) in
 * SQL both backends accept ($1: the terminal): OFFPAY__REPORT_COLS; one
 * row or none. */
extern const char offpay__terminal_report_get_sql[];

/* The open cases (offpay__store_ops.cases_open) in SQL both backends
 * accept, through the index of the open cases (027_case_notes): how many,
 * and the earliest opened_at among them (0: none); one row. */
extern const char offpay__cases_open_sql[];

/* The merchant list (offpay__store_ops.merchants) in SQL both backends
 * accept ($1: after, $2: at most). Columns: id, account, currency, name,
 * created_at, terminals, active terminals, the account's balance (on
 * this store: a sharded ledger's merchant has a row on every shard),
 * closed_at (NULL while open). */
extern const char offpay__merchants_sql[];
/* The terminal list (offpay__store_ops.terminals) in SQL both backends
 * accept ($1: after, $2: 0 for every merchant's, else 1, $3: the
 * merchant, $4: at most). Columns: id, merchant, its name and currency,
 * pk, the credential's bytes (or NULL), created_at, revoked_at, retired,
 * rotated_to, the revocation's reason, and the last report's
 * OFFPAY__REPORT_COLS (NULL when none). */
extern const char offpay__terminals_sql[];

/* The credentials not released, by the issuer key that signed them, in
 * SQL both backends accept ($1: now): the kid's two bytes as they sit in
 * the credential (substr of its bytes, offsets 2..3: protocol.md §2.2;
 * NULL for a credential without bytes), how many, how many not expired at
 * $1 (expires >= $1), the latest expiry; ascending by those two bytes,
 * which is by kid (big-endian). One read of the unreleased credentials,
 * through credentials_expires (001_ledger). */
extern const char offpay__cred_kids_sql[];
/* Credential $1's bytes, in SQL both backends accept (cred_bytes). */
extern const char offpay__cred_bytes_sql[];
typedef struct offpay__cred_kid_row {
    int      has_kid; /* 0: a credential without bytes (none are made) */
    uint16_t kid;
    uint64_t n, live;
    uint32_t expires;
} offpay__cred_kid_row;
/* Room for every group cred_kids can give: each kid, and NULL. */
#define OFFPAY__CRED_KIDS_MAX (65536 + 1)

/* A row of offpay__terminals_sql: the entry, and its credential's bytes
 * (cred_len 0 when the ledger holds none) for the caller to decode. */
typedef struct offpay__terminal_list_row {
    offpay_ledger_terminal_entry e;
    uint8_t                      cred[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t                       cred_len;
} offpay__terminal_list_row;
/* The payers' accounts (offpay__store_ops.wallet_accounts), likewise ($1:
 * after, $2: at most), and those of one reference ($1: after, $2: the
 * reference, $3: at most). Columns: id, currency, ref, created_at,
 * balance, credentials, active, lost_at, escrow held, the latest ledger
 * expiry of a credential holding escrow (the store puts it in escrow_back;
 * the ledger adds the upload grace), the latest release of a credential
 * and the latest ledger expiry of one not released (the store gives them
 * as offpay__wallet_late; the ledger makes late_until of them). */
extern const char offpay__wallet_accounts_sql[];
/* Of each account the store lists, what its late window's end is made
 * of: the latest release among its credentials (0: none released) and
 * the latest ledger expiry among those not released (0: none). */
typedef struct offpay__wallet_late {
    uint32_t released_at;
    uint32_t expires;
} offpay__wallet_late;
extern const char offpay__wallet_accounts_ref_sql[];

/* where the release job's reading of due credentials stands: the last
 * one read, in (expires, serial) order; all zero before the first */
typedef struct offpay__due_cursor {
    uint32_t expires;
    uint64_t serial;
} offpay__due_cursor;

typedef struct offpay__cred_row {
    uint64_t serial;
    uint64_t wallet_account, escrow_account;
    int64_t  limit;
    uint16_t currency;
    uint32_t valid_from, expires;
    uint8_t  wallet_pk[OFFPAY_PK_BYTES];
    uint8_t  flags;
    int64_t  remaining;
    int      released; /* released_at set */
    uint32_t released_at;
    int      revoked; /* revoked_at set */
    uint32_t revoked_at;
    int      revoked_for_case; /* by settlement, for a double spend, an
                                  overspend or duplicates (revoke_reason) */
    int64_t  released_amount;  /* what its release returned to the wallet
                                  account (wallet_creds only; else 0) */
} offpay__cred_row;

/* A page of a key's credentials (wallet_creds_page). */
typedef struct offpay__creds_page {
    uint64_t lo, hi;     /* serials strictly between */
    uint32_t open_since; /* 0: every one; else not released, or released
                            at or after it */
    int    newest;       /* 1: descending serial */
    size_t max;          /* at most, >= 1 */
} offpay__creds_page;

typedef struct offpay__terminal_row {
    uint32_t id;
    uint64_t merchant;
    uint64_t merchant_account;
    uint16_t currency;
    int      revoked;
    uint32_t revoked_at;
    uint8_t  pk[OFFPAY_PK_BYTES];
    /* why it was revoked (021_terminal_revoke_reason); "" while active
     * and for a revocation made before the ledger kept reasons */
    char revoke_reason[OFFPAY_LEDGER_REF_MAX + 1];
} offpay__terminal_row;

typedef struct offpay__payment_row {
    uint64_t       id;
    const uint8_t *code; /* the first code seen; valid until the next call */
    size_t         code_len;
    int64_t        authorized;
    int64_t        charged; /* sum charged across presentments */
} offpay__payment_row;

typedef struct offpay__presentment_row {
    uint64_t       id;
    uint64_t       payment;
    uint64_t       serial;
    uint32_t       counter;
    uint32_t       terminal;
    uint8_t        code_hash[32];
    const uint8_t *code; /* NULL when the payment's first code */
    size_t         code_len;
    int64_t        charged;
    uint32_t       accepted_at;
    int64_t        terminal_seq;
    uint32_t       uploaded_at;
    int            outcome;
    int            reason;
    int64_t        paid, covered;
    uint64_t       case_id;
} offpay__presentment_row;

/* A refused payment kept (030_refusals) with the hash of its code. */
typedef struct offpay__refusal_row {
    offpay_refusal r;
    uint8_t        code_hash[32];
} offpay__refusal_row;

/* A refusal kept once per terminal and code (ON CONFLICT DO NOTHING), and
 * a merchant's in a period by upload time, in SQL both backends accept:
 * $1 terminal, $2 serial, $3 counter, $4 code hash, $5 charged, $6
 * reason, $7 accepted_at, $8 uploaded_at; and $1 the merchant, $2 and $3
 * the bounds (terminal, serial, counter, charged, reason, accepted_at,
 * uploaded_at). */
extern const char offpay__refusal_add_sql[];
extern const char offpay__refusals_sql[];

/* An operator's action (032_operator_actions): $1 at, $2 who, $3 action,
 * $4 subject, $5 detail. And those after ($1 at, $2 id) up to $3 at, with
 * $4 the action ('' any), $5 the subject (0 any), $6 the limit; in
 * offpay__actions_who_sql, $6 the operator's name (any case) and $7 the
 * limit; each row id, at, who, action, subject, detail. */
extern const char offpay__action_add_sql[];
extern const char offpay__newest_action_sql[];
extern const char offpay__actions_sql[];
extern const char offpay__actions_who_sql[];

/* A receipt a wallet uploaded (docs/settlement.md §7; 002_receipts.sql). */
typedef struct offpay__receipt_row {
    uint64_t       id;
    uint8_t        hash[32]; /* BLAKE2b-256 of its bytes: unique */
    uint64_t       serial;
    uint32_t       counter;
    uint32_t       terminal;
    int64_t        amount;
    uint32_t       made_at; /* the receipt's own time */
    const uint8_t *bytes;   /* receipt_add only: its exact bytes */
    size_t         len;
    uint32_t       uploaded_at;
    int            stood;       /* 1: it made presentment */
    uint64_t       presentment; /* 0: none */
    int            checked;     /* 1: compared with the terminal's upload */
    uint64_t       case_id;     /* 0: none */
} offpay__receipt_row;

/* What the presentments of one (serial, counter) add up to. */
typedef struct offpay__payment_summary {
    uint64_t presentments;
    int64_t  paid, covered;
    uint64_t guaranteed, duplicate, double_spend, unpaid; /* by outcome */
    int64_t  refunded; /* given back to the payer by refunds (009_refunds;
                          not the guarantee's part) */
} offpay__payment_summary;

/* Facts the audit judges (docs/settlement.md §10), computed by the store
 * over all its rows. */
/* What moved into and out of an escrow account, by transfer kind, in SQL
 * both backends accept ($1: the escrow account): fund, late, cover (in),
 * settle, release (out); then what refunds of its credential's
 * presentments gave back to the guarantee, the credential's serial (0:
 * the account is no escrow), the claims the guarantee paid for its
 * presentments, and what those claims were owed in all, paid or not
 * (docs/settlement.md §5). */
#define OFFPAY__ESCROW_FLOWS 9
extern const char offpay__escrow_flows_sql[];

/* What a wallet account holds for late presentments (docs/settlement.md
 * §6), in SQL both backends accept ($1: the account, $2: the oldest
 * release still in its late window): what its credentials' releases
 * returned less what late presentments took back of each, summed over
 * those with something left; and the newest such release's time (0:
 * none). One row. */
extern const char offpay__late_hold_sql[];

/* The columns an account's history adds to a transfer's own, in SQL both
 * backends accept, over the transfer t and its presentment p (a LEFT
 * JOIN presentments p ON p.id = t.presentment): its case, or a refund's
 * presentment's case; the serial of the credential it concerns, through
 * its presentment or else the escrow on either side (0: none). Derived,
 * not stored: a transfer names its presentment or escrow already. */
#define OFFPAY__TRANSFER_CASE(t)                                               \
    "COALESCE(" t ".case_id, CASE WHEN " t ".kind = 'refund'"                  \
    " THEN p.case_id END)"
#define OFFPAY__TRANSFER_SERIAL(t)                                             \
    "COALESCE(p.serial, (SELECT c.serial FROM credentials c"                   \
    " WHERE c.escrow_account = " t ".debit), (SELECT c.serial"                 \
    " FROM credentials c WHERE c.escrow_account = " t ".credit), 0)"
/* Who booked transfer t (031_booked_by), NULL when no one is kept. */
#define OFFPAY__TRANSFER_BY(t)                                                 \
    "(SELECT b.who FROM booked_by b WHERE b.transfer = " t ".id)"

/* A merchant account's period ($1 account, $2 from, $3 to: unix times,
 * by each transfer's own time), in SQL both backends accept: one row of
 * OFFPAY__PERIOD_SUMS sums (opening, closing, settle, refund, deposit,
 * withdraw, other), and the period's transfers but settle ones as rows
 * (id, at, kind, amount from the account's side, presentment, case_id,
 * ref, other account, its kind, the serial, who booked it) ascending by
 * (at, id). */
#define OFFPAY__PERIOD_SUMS 7
extern const char offpay__period_sums_sql[];
extern const char offpay__period_moves_sql[];

/* The marking job's SQL (019_balance_marks), both backends: the last
 * transfer mark and the highest transfer id; the balance marks from $1 to
 * $2; the transfer mark $2. */
extern const char offpay__marks_last_sql[];
extern const char offpay__balance_marks_put_sql[];
/* The wallet accounts' balance marks from $1 to the transfer mark $2,
 * forward only, without the lock (since 0.18.0). */
extern const char offpay__wallet_marks_put_sql[];
extern const char offpay__transfer_mark_put_sql[];
extern const char offpay__marks_state_sql[];
extern const char offpay__balance_marks_drop_sql[];
extern const char offpay__transfer_marks_drop_sql[];

/* A claim on the guarantee still open (docs/settlement.md §5,
 * 015_guarantee_claims): a presentment unpaid for want of funds in the
 * guarantee (reason EFUNDS) whose charged - paid the 'claim' transfers
 * tagged with it have not paid in full. */
/* A transfer as offpay__transfers_range_sql reads it, whole, with its two
 * accounts' kinds and currencies: its texts' bytes as stored, valid
 * during the call they are given to. */
typedef struct offpay__digest_row {
    int64_t     id;
    uint64_t    debit, credit;
    int64_t     amount;
    const char *kind;
    size_t      kind_len;
    uint64_t    presentment, case_id; /* 0: none */
    const char *ref;                  /* NULL: none */
    size_t      ref_len;
    int64_t     at;
    int64_t     debit_kind, debit_currency, credit_kind, credit_currency;
} offpay__digest_row;

/* A group of offpay__sheet_sql: the transfers of one kind, between
 * accounts of two kinds, of one currency, dated before the period (part
 * 0) or in it (part 1). */
typedef struct offpay__sheet_row {
    uint16_t currency;
    int      from_kind, to_kind; /* the debit's and the credit's */
    char     kind[16];
    int      part;
    uint64_t count;
    int64_t  amount;
} offpay__sheet_row;

typedef struct offpay__owed_row {
    uint64_t presentment;
    uint64_t case_id;          /* 0: none */
    uint64_t merchant_account; /* the presentment's merchant's */
    uint16_t currency;         /* its credential's */
    int64_t  open;             /* still owed */
    uint64_t serial;           /* its credential */
    uint64_t merchant;         /* the merchant's id */
    uint32_t uploaded_at;      /* owed since */
    int64_t  charged;          /* the payment's charge */
} offpay__owed_row;
/* The open claims in SQL both backends accept ($1: the currency, 0: any;
 * $2: above this presentment id; $3: at most), ascending by presentment
 * id (the oldest first). Columns as offpay__owed_row's fields. */
extern const char offpay__owed_open_sql[];
/* The claims of a currency ($1) uploaded until $2 and what each owed then
 * (open: <= 0 when paid by then), above presentment $3, at most $4. */
extern const char offpay__owed_at_sql[];
/* The transfers dated until $2 grouped by their debit's currency, their
 * debit's and credit's kinds, their own kind, and whether they are dated
 * before $1 (0) or not (1): count and sum (offpay__sheet_row). */
extern const char offpay__sheet_sql[];
/* The transfers with an id in ($1, $2], at most $3, by id, every column
 * and their accounts' kinds and currencies (offpay__digest_row). */
extern const char offpay__transfers_range_sql[];
#define OFFPAY__OWED_BATCH 64

typedef struct offpay__audit_facts {
    uint64_t accounts, transfers;
    /* per currency (offpay__audit_money_sql), through
     * offpay__audit_money_add */
    offpay_audit_money money[OFFPAY_AUDIT_CURRENCIES_MAX];
    size_t             n_money;
    int                money_more;
    uint64_t           money_mismatch;
    uint64_t           imbalanced, negative, escrow_mismatch, settle_mismatch,
        release_mismatch, request_mismatch, refund_mismatch, mark_mismatch,
        case_mismatch, result_mismatch, fund_mismatch, trail_mismatch;
    uint32_t newest_at; /* the newest transfer's time, 0: none */
} offpay__audit_facts;

/* A ledger copied between backends (src/settle/copy.c, `offpay admin
 * copy-ledger`): its tables as the schema holds them, and their rows as
 * typed values. Names are the schema's own (lower case letters, digits,
 * '_'); a table has at most OFFPAY__COPY_COLS_MAX columns. */
#define OFFPAY__COPY_NAME_MAX   63
#define OFFPAY__COPY_COLS_MAX   32
#define OFFPAY__COPY_REFS_MAX   8
#define OFFPAY__COPY_TABLES_MAX 64
typedef struct offpay__copy_table {
    char name[OFFPAY__COPY_NAME_MAX + 1];
    char id[OFFPAY__COPY_NAME_MAX + 1]; /* the column of the id the store
                                           gives a new row ("": none) */
    size_t n_cols;
    char   col[OFFPAY__COPY_COLS_MAX][OFFPAY__COPY_NAME_MAX + 1];
    size_t n_refs; /* the other tables its foreign keys name */
    char   ref[OFFPAY__COPY_REFS_MAX][OFFPAY__COPY_NAME_MAX + 1];
} offpay__copy_table;

enum {
    OFFPAY__COPY_NULL = 0,
    OFFPAY__COPY_INT,
    OFFPAY__COPY_TEXT,
    OFFPAY__COPY_BLOB
};
typedef struct offpay__copy_value {
    int            type; /* OFFPAY__COPY_* */
    int64_t        i;    /* INT */
    const uint8_t *p;    /* TEXT (no NUL counted), BLOB */
    size_t         len;
} offpay__copy_value;

typedef struct offpay__store_ops {
    offpay_err (*begin)(offpay__store *s);
    /* a transaction that only reads: it never holds the writer's lock */
    offpay_err (*begin_read)(offpay__store *s);
    offpay_err (*commit)(offpay__store *s);
    void (*rollback)(offpay__store *s);
    void (*close)(offpay__store *s);

    /* accounts and transfers */
    offpay_err (*account_add)(offpay__store *s, offpay_account_kind kind,
                              uint16_t currency, const char *ref, uint32_t now,
                              uint64_t *id);
    /* the world or guarantee account of currency, created if missing */
    offpay_err (*account_singleton)(offpay__store *s, offpay_account_kind kind,
                                    uint16_t currency, uint32_t now,
                                    uint64_t *id);
    /* the same, read only: ENOTFOUND when missing */
    offpay_err (*account_singleton_find)(offpay__store      *s,
                                         offpay_account_kind kind,
                                         uint16_t currency, uint64_t *id);
    offpay_err (*account_get)(offpay__store *s, uint64_t id,
                              offpay_account_kind *kind, uint16_t *currency);
    offpay_err (*balance)(offpay__store *s, uint64_t id, int64_t *balance);
    offpay_err (*transfer_add)(offpay__store *s, const offpay__transfer *t,
                               uint64_t *id);
    /* who booked transfer (031_booked_by): 1..64 bytes of one line */
    offpay_err (*booked_by)(offpay__store *s, uint64_t transfer,
                            const char *who);

    /* merchants and terminals */
    offpay_err (*merchant_add)(offpay__store *s, uint64_t account,
                               const char *name, uint16_t currency,
                               uint32_t now, uint64_t *id);
    /* *closed_at (may be NULL): when it was closed, 0 while open
     * (026_merchant_closed) */
    offpay_err (*merchant_get)(offpay__store *s, uint64_t id, uint64_t *account,
                               uint16_t *currency,
                               char      name[OFFPAY_NAME_MAX + 1],
                               uint32_t *closed_at);
    /* closes merchant id at now unless it is closed already (its first
     * time stays) */
    offpay_err (*merchant_close)(offpay__store *s, uint64_t id, uint32_t now);
    /* the merchant's row locked until the transaction ends, against its
     * closing (a terminal's registration and the closing take it; not the
     * lock a terminal's insert takes through its foreign key, nor any
     * money's) */
    offpay_err (*merchant_lock)(offpay__store *s, uint64_t id);
    /* ENOTFOUND or OK with *id set when pk is registered */
    offpay_err (*terminal_by_pk)(offpay__store *s,
                                 const uint8_t  pk[OFFPAY_PK_BYTES],
                                 uint32_t      *id);
    offpay_err (*terminal_add)(offpay__store *s, uint64_t merchant,
                               const uint8_t pk[OFFPAY_PK_BYTES], uint32_t now,
                               uint32_t *id);
    offpay_err (*terminal_set_cred)(offpay__store *s, uint32_t id,
                                    const uint8_t *bytes, size_t len);
    offpay_err (*terminal_get)(offpay__store *s, uint32_t id,
                               offpay__terminal_row *t);
    /* revokes terminal id at now: the operator's revocation (how 0), or
     * the terminal's own (how OFFPAY__RETIRED_*, 006_terminal_retirement)
     * with the terminal it was rotated to (0 unless rotated) and whether
     * that rotation carried id's per-credential sums into it (1, else 0:
     * the guarantee's lineage follows only such links,
     * 018_terminal_sums_carried), and why (1 to OFFPAY_LEDGER_REF_MAX
     * bytes, 021_terminal_revoke_reason); EEXISTS when it is revoked
     * already */
    offpay_err (*terminal_revoke)(offpay__store *s, uint32_t id, uint32_t now,
                                  int how, uint32_t rotated_to,
                                  int sums_carried, const char *reason);

    /* credentials and their escrow */
    offpay_err (*cred_add)(offpay__store *s, const offpay__cred_row *c,
                           const uint8_t pk[OFFPAY_PK_BYTES], uint8_t flags,
                           uint64_t *serial);
    offpay_err (*cred_set_bytes)(offpay__store *s, uint64_t serial,
                                 const uint8_t *bytes, size_t len);
    offpay_err (*cred_get)(offpay__store *s, uint64_t serial,
                           offpay__cred_row *c);
    /* remaining -= amount if remaining >= amount, else EFUNDS */
    offpay_err (*escrow_debit)(offpay__store *s, uint64_t serial,
                               int64_t amount);
    offpay_err (*escrow_credit)(offpay__store *s, uint64_t serial,
                                int64_t amount);
    /* sets released_at and remaining 0 if not released yet, else EEXISTS */
    offpay_err (*cred_release)(offpay__store *s, uint64_t serial, uint32_t now);
    /* credentials due for release (expires < before, not released), at
     * most max, in (expires, serial) order after the cursor *after (which
     * it moves to the last one given): read from the partial index of the
     * unreleased, so a page costs its own rows however many credentials
     * the ledger holds or are due at once */
    offpay_err (*creds_due)(offpay__store *s, uint32_t before,
                            offpay__due_cursor *after, uint64_t *serials,
                            size_t max, size_t *n);
    /* sets revoked_at and a revocation row if not revoked yet, else
     * EEXISTS; the row keeps the credential's expiry as it is then, its
     * signed one (only cred_cut_expiry changes it, and only once the
     * credential is revoked), which says how long the revocation lists
     * name it (revocations) */
    offpay_err (*cred_revoke)(offpay__store *s, uint64_t serial,
                              const char *reason, uint32_t now);

    /* payments, presentments, cases */
    offpay_err (*payment_get)(offpay__store *s, uint64_t serial,
                              uint32_t counter, offpay__payment_row *p);
    /* charged: what its first presentment paid (payment_charge adds what
     * later ones pay) */
    offpay_err (*payment_add)(offpay__store *s, uint64_t serial,
                              uint32_t counter, const uint8_t *code,
                              size_t code_len, int64_t authorized,
                              int64_t charged, uint32_t now, uint64_t *id);
    offpay_err (*payment_charge)(offpay__store *s, uint64_t id, int64_t amount);
    /* ENOTFOUND or the stored row (code pointers valid until the next call
     * on s) */
    offpay_err (*presentment_get)(offpay__store *s, uint64_t serial,
                                  uint32_t counter, uint32_t terminal,
                                  offpay__presentment_row *p);
    offpay_err (*presentment_add)(offpay__store                 *s,
                                  const offpay__presentment_row *p,
                                  uint64_t                      *id);
    offpay_err (*presentment_set_case)(offpay__store *s, uint64_t id,
                                       uint64_t case_id);
    /* sum of charges of serial at terminal and at the terminals it was
     * rotated from and to (one device, docs/settlement.md §5) */
    offpay_err (*charged_at)(offpay__store *s, uint64_t serial,
                             uint32_t terminal, int64_t *sum);
    offpay_err (*case_add)(offpay__store *s, uint64_t serial, const char *kind,
                           uint64_t first, uint64_t second, uint32_t now,
                           uint64_t *id);
    offpay_err (*case_count)(offpay__store *s, uint64_t serial,
                             const char *kind, uint64_t *n);

    /* serials revoked with a revocation seq >= from_seq (0: every one),
     * whose credential's signed expiry is at or after live_since or not
     * known (a revocation made before 025_revocations_expires), ascending
     * by serial, malloc'd into *serials (NULL when none); *max_seq is the
     * highest revocation seq of the ledger (0: none), whatever its
     * credential's expiry. Both seqs are the lists' numbering: each
     * revocation's seq plus the offset `offpay admin skip-ids` raised
     * (ids_skip's OFFPAY__IDS_REVLIST) */
    offpay_err (*revocations)(offpay__store *s, uint64_t from_seq,
                              uint32_t live_since, uint64_t **serials,
                              size_t *n, uint64_t *max_seq);
    /* OK the first time (pk, nonce) is taken, EEXISTS after */
    offpay_err (*nonce_take)(offpay__store *s, const uint8_t pk[32],
                             const uint8_t nonce[16], uint32_t at);
    offpay_err (*nonce_prune)(offpay__store *s, uint32_t before);
    /* a clock mark (014_clock_marks: OFFPAY__MARK_*) into *at; ENOTFOUND
     * when it was never set */
    offpay_err (*mark_get)(offpay__store *s, const char *what, uint32_t *at);
    /* sets mark what to at; with forward, only when that moves it ahead */
    offpay_err (*mark_put)(offpay__store *s, const char *what, uint32_t at,
                           int forward);
    /* the newest time among the store's newest 1000 transfers (by id), 0 when
     * it has none: how far the ledger's own record says the clock has been,
     * read without a scan of every transfer */
    offpay_err (*newest_transfer_at)(offpay__store *s, uint32_t *at);
    /* the newest operator action's time (032_operator_actions), 0 when
     * none (offpay__newest_action_sql) */
    offpay_err (*newest_action_at)(offpay__store *s, uint32_t *at);
    /* the newest time among the newest 64 transfers with an id above after
     * (OFFPAY__NEWEST_AFTER_SQL), 0 when none */
    offpay_err (*newest_after)(offpay__store *s, uint64_t after, uint32_t *at);
    /* the open claims on the guarantee (offpay__owed_open_sql) into
     * out[0 .. *n), at most max */
    offpay_err (*owed_open)(offpay__store *s, uint16_t currency, uint64_t after,
                            offpay__owed_row *out, size_t max, size_t *n);
    /* the claims uploaded until `at` and what each owed then
     * (offpay__owed_at_sql) */
    offpay_err (*owed_at)(offpay__store *s, uint16_t currency, uint32_t at,
                          uint64_t after, offpay__owed_row *out, size_t max,
                          size_t *n);
    /* the balance sheet's groups of transfers (offpay__sheet_sql), each
     * to fn, the row valid during the call; stops when fn returns
     * non-zero */
    offpay_err (*sheet)(offpay__store *s, uint32_t from, uint32_t to,
                        int (*fn)(const offpay__sheet_row *row, void *ctx),
                        void *ctx);
    /* the transfers with an id in (after, upto], at most max read, by
     * id, those dated until `until` each to fn (valid during the call);
     * *n how many were read, *last the last id read */
    offpay_err (*transfers_range)(offpay__store *s, int64_t after, int64_t upto,
                                  uint32_t until, size_t max,
                                  void (*fn)(const offpay__digest_row *row,
                                             void                     *ctx),
                                  void *ctx, size_t *n, int64_t *last);
    /* presentments at merchant's terminals uploaded in [from, to] */
    offpay_err (*statement)(
        offpay__store *s, uint64_t merchant, uint32_t from, uint32_t to,
        int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx);
    /* the account's transfers by their own time (offpay__period_sums_sql):
     * sums[] its balance before from and until to, then the sums in
     * [from, to] by kind; then, when move is not NULL, move for each
     * transfer in [from, to] but settle ones (offpay__period_moves_sql),
     * seen from the account's side, until move returns non-zero */
    offpay_err (*account_period)(
        offpay__store *s, uint64_t account, uint32_t from, uint32_t to,
        int64_t sums[OFFPAY__PERIOD_SUMS],
        int (*move)(const offpay_account_transfer *t, void *ctx), void *ctx);

    /* at most max transfers into or out of account with an id above
     * after and their own time in [from, to], ascending by id, into
     * out[0..*n), seen from the account's side */
    offpay_err (*transfers_of)(offpay__store *s, uint64_t account,
                               uint32_t from, uint32_t to, uint64_t after,
                               size_t max, offpay_account_transfer *out,
                               size_t *n);

    /* the marking job's step (019_balance_marks), in a write transaction:
     * takes the lock that keeps every other writer of transfers out (so
     * all transfers up to the highest id are committed), then marks the
     * transfers above the last transfer mark, at most max of them by id:
     * the balance marks of the world, merchant and guarantee accounts
     * they touch and a transfer mark; *marked how many ids it marked (0:
     * no transfer above the last), *more 1 when transfers above remain,
     * *lo and *hi the ids marked: above the last mark, up to the new */
    offpay_err (*marks_advance)(offpay__store *s, uint32_t now, uint64_t max,
                                uint64_t *marked, int *more, uint64_t *lo,
                                uint64_t *hi);
    /* then, in a write transaction of its own (no lock taken), the balance
     * marks up to the transfer mark hi of the wallet accounts with a
     * transfer in (lo, hi], forward only (offpay__wallet_marks_put_sql) */
    offpay_err (*wallet_marks)(offpay__store *s, uint64_t lo, uint64_t hi);
    /* how far the marks go (offpay__marks_state_sql), in a read
     * transaction; with drop, in a write transaction, then every mark
     * removed under the marking job's lock (out: what there was) */
    offpay_err (*marks_state)(offpay__store *s, int drop,
                              offpay_ledger_marks_info *out);

    /* what wallet account holds for late presentments of credentials
     * released at since or after, and the newest such release
     * (offpay__late_hold_sql) */
    offpay_err (*late_hold)(offpay__store *s, uint64_t account, uint32_t since,
                            int64_t *held, uint32_t *released_at);
    /* the escrow account's flows by kind (offpay__escrow_flows_sql) */
    offpay_err (*escrow_flows)(offpay__store *s, uint64_t escrow,
                               int64_t out[OFFPAY__ESCROW_FLOWS]);
    /* at most max merchants with an id above after, ascending, into
     * out[0..*n), with their terminals counted and their account's
     * balance on this store */
    offpay_err (*merchants)(offpay__store *s, uint64_t after, size_t max,
                            offpay_merchant_info *out, size_t *n);
    /* at most max terminals with an id above after (of merchant only,
     * when not 0), ascending, into out[0..*n) (offpay__terminals_sql) */
    offpay_err (*terminals)(offpay__store *s, uint64_t merchant, uint32_t after,
                            size_t max, offpay__terminal_list_row *out,
                            size_t *n);
    /* the issuer keys of the credentials not released, grouped by the
     * kid in their bytes (offpay__cred_kids_sql): at most max into
     * out[0..*n), ascending by kid; *more 1 when there are more */
    offpay_err (*cred_kids)(offpay__store *s, uint32_t now,
                            offpay__cred_kid_row *out, size_t max, size_t *n,
                            int *more);
    /* credential serial's signed bytes (ENOTFOUND: none) */
    offpay_err (*cred_bytes)(offpay__store *s, uint64_t serial,
                             uint8_t bytes[OFFPAY_WALLET_CRED_BYTES]);
    /* at most max payers' accounts with an id above after (and of
     * reference ref when not NULL), ascending, into out[0..*n) */
    offpay_err (*wallet_accounts)(offpay__store *s, const char *ref,
                                  uint64_t after, size_t max,
                                  offpay_wallet_account_info *out,
                                  offpay__wallet_late *late, size_t *n);
    /* the next credential serial (terminal 0) or terminal id (1) this
     * store gives raised by `by` (012_id_floors): *next the next one now;
     * ERANGE when that passes the store's range (a shard's, or a
     * terminal id's 32 bits). With OFFPAY__IDS_REVLIST the revocation
     * lists' numbers are raised by `by` (revocations) and *next is the
     * offset now; ERANGE past OFFPAY__REVLIST_OFFSET_MAX */
    offpay_err (*ids_skip)(offpay__store *s, int terminal, uint64_t by,
                           uint64_t *next);
    /* presentment id, its refunds and its credential's guarantee money,
     * and refund transfer replayed's guarantee part (0: none asked)
     * (offpay__refund_base_sql); ENOTFOUND */
    offpay_err (*refund_base)(offpay__store *s, uint64_t presentment,
                              uint64_t replayed, offpay__refund_base *out);
    offpay_err (*audit)(offpay__store *s, offpay__audit_facts *f);

    /* cases and their evidence (src/settle/evidence.c) */
    /* at most max cases matching f (kind as its name, NULL: any), by
     * ascending id, into out[0..*n) */
    offpay_err (*cases)(offpay__store *s, const offpay_case_filter *f,
                        const char *kind, size_t max, offpay_case_info *out,
                        size_t *n);
    /* ENOTFOUND or the case (kind: OFFPAY_EINVAL for an unknown name) */
    offpay_err (*case_get)(offpay__store *s, uint64_t id,
                           offpay_case_info *out);
    /* the case's row locked until the transaction ends, against another
     * step of it (027_case_notes); ENOTFOUND when there is no such case */
    offpay_err (*case_lock)(offpay__store *s, uint64_t id);
    /* adds a step of case n->case_id (its action, text and at); *id the
     * new step's. With OFFPAY_CASE_CLOSE the case's closed_at becomes
     * n->at, with OFFPAY_CASE_REOPEN it is cleared */
    offpay_err (*case_note_add)(offpay__store *s, const offpay_case_note *n,
                                uint64_t *id);
    /* at most max steps of case_id with ids above after, ascending, into
     * out[0..*n); newest: the one newest step only (after and max unread) */
    offpay_err (*case_notes)(offpay__store *s, uint64_t case_id, uint64_t after,
                             size_t max, int newest, offpay_case_note *out,
                             size_t *n);
    /* how many cases are open and the earliest opened_at among them (0:
     * none; offpay__cases_open_sql) */
    offpay_err (*cases_open)(offpay__store *s, uint64_t *n, uint32_t *oldest);
    /* calls fn for each presentment of serial (of counter only, unless
     * all_counters) with an id <= max_id, by ascending id; p->code is the
     * code it presented (the payment's first code when it kept none),
     * valid during the call; a non-zero return stops the walk */
    offpay_err (*presentments_of)(
        offpay__store *s, uint64_t serial, uint32_t counter, int all_counters,
        uint64_t max_id,
        int (*fn)(const offpay__presentment_row *p, void *ctx), void *ctx);
    /* the terminal credential stored for terminal id (ENOTFOUND when none);
     * ERANGE when it exceeds cap */
    offpay_err (*terminal_cred)(offpay__store *s, uint32_t id, uint8_t *buf,
                                size_t cap, size_t *len);
    /* receipts of wallet uploads (src/settle/receipts.c) */
    /* ENOTFOUND or the receipt whose hash is hash (r->bytes NULL) */
    offpay_err (*receipt_get)(offpay__store *s, const uint8_t hash[32],
                              offpay__receipt_row *r);
    offpay_err (*receipt_add)(offpay__store *s, const offpay__receipt_row *r,
                              uint64_t *id);
    /* receipts of (serial, counter, terminal) not checked yet, ascending
     * id, at most max: ids and amounts */
    offpay_err (*receipts_waiting)(offpay__store *s, uint64_t serial,
                                   uint32_t counter, uint32_t terminal,
                                   uint64_t *ids, int64_t *amounts, size_t max,
                                   size_t *n);
    /* marks receipt id checked, with its case (0: none) */
    offpay_err (*receipt_checked)(offpay__store *s, uint64_t id,
                                  uint64_t case_id);
    /* the presentment of (serial, counter, terminal) and the terminal's own
     * charge in it: -1 while only a receipt stood for it; ENOTFOUND */
    offpay_err (*claim_get)(offpay__store *s, uint64_t serial, uint32_t counter,
                            uint32_t terminal, uint64_t *presentment,
                            int64_t *claimed);
    /* the terminal's own upload of a presentment a receipt stood for */
    offpay_err (*claim_set)(offpay__store *s, uint64_t presentment,
                            int64_t terminal_seq, int64_t charged);
    /* OK when a credential was issued to wallet key pk, else ENOTFOUND */
    offpay_err (*wallet_known)(offpay__store *s,
                               const uint8_t  pk[OFFPAY_PK_BYTES]);
    offpay_err (*payment_summary)(offpay__store *s, uint64_t serial,
                                  uint32_t                 counter,
                                  offpay__payment_summary *out);
    /* calls fn for each receipt kept for serial (of counter only, unless
     * all_counters), by ascending id; r->bytes is its exact bytes, valid
     * during the call; a non-zero return stops the walk (evidence.c) */
    offpay_err (*receipts_of)(
        offpay__store *s, uint64_t serial, uint32_t counter, int all_counters,
        int (*fn)(const offpay__receipt_row *r, void *ctx), void *ctx);
    /* Row locks, held until the transaction ends, for a backend whose
     * write transactions do not serialize on their own (PostgreSQL runs
     * them at READ COMMITTED; SQLite's one writer makes both no-ops). The
     * engine takes them before it reads what it then writes: credentials
     * first, in ascending serial order, then accounts
     * (docs/settlement.md §4). */
    /* locks the rows of the credentials serials[0..n) that exist, in
     * ascending serial order whatever the order given */
    offpay_err (*creds_lock)(offpay__store *s, const uint64_t *serials,
                             size_t n);
    /* locks account id's row: taken before its balance is read to debit
     * it, so two debits cannot both see the same balance */
    offpay_err (*account_lock)(offpay__store *s, uint64_t id);
    /* the operator's overview (src/settle/overview.c); each walk calls fn
     * once a row, the row valid during the call, and stops when fn
     * returns non-zero */
    /* the money of every (kind, currency) that has accounts, by kind then
     * currency */
    offpay_err (*kind_totals)(offpay__store *s,
                              int (*fn)(const offpay_overview_kind *k,
                                        void                       *ctx),
                              void *ctx);
    /* presentments uploaded in [from, to], grouped by
     * uploaded_at - uploaded_at % width, their merchant's currency and
     * outcome, in that order */
    offpay_err (*settle_buckets)(
        offpay__store *s, uint32_t from, uint32_t to, uint32_t width,
        int (*fn)(const offpay_overview_bucket *b, void *ctx), void *ctx);
    /* at most max terminals, live ones first, each group by ascending id,
     * with their uploads and their last report */
    offpay_err (*terminal_stats)(offpay__store *s, size_t max,
                                 int (*fn)(const offpay_overview_terminal *t,
                                           void                           *ctx),
                                 void *ctx);
    /* at most max revoked credentials, newest revocation first */
    offpay_err (*revoked_list)(offpay__store *s, size_t max,
                               int (*fn)(const offpay_overview_revoked *r,
                                         void                          *ctx),
                               void *ctx);
    /* stores terminal id's report, replacing the one before (r->state,
     * lists_at and pending_amount NULL unless r->state_known) */
    offpay_err (*terminal_report)(offpay__store *s, uint32_t id,
                                  const offpay_terminal_report *r);
    /* terminal id's label (029_terminal_labels) set to label, or cleared
     * for NULL; *changed 0 when it was so already (the same label kept
     * with its time) */
    offpay_err (*terminal_label)(offpay__store *s, uint32_t id,
                                 const char *label, uint32_t at, int *changed);
    /* keeps a refusal (offpay__refusal_add_sql; one already kept for its
     * terminal and code: nothing) */
    offpay_err (*refusal_add)(offpay__store *s, const offpay__refusal_row *r);
    /* keeps an operator's action (032_operator_actions;
     * offpay__action_add_sql): a.subject 0 and a.detail "" as NULL */
    offpay_err (*action_add)(offpay__store *s, const offpay_operator_action *a);
    /* the actions f selects after (f->after_at, after_id) on this store,
     * in (at, id) order, at most max (offpay__actions_sql; f->after_set is
     * not read: from the start, after_at is f->from and after_id -1), each
     * to fn (its shard field 0), which stops the walk by returning
     * non-zero */
    offpay_err (*actions)(offpay__store *s, const offpay_action_filter *f,
                          uint32_t after_at, int64_t after_id, size_t max,
                          int (*fn)(const offpay_operator_action *a, void *ctx),
                          void *ctx);
    /* merchant's refusals uploaded in [from, to] (offpay__refusals_sql) */
    offpay_err (*refusals)(offpay__store *s, uint64_t merchant, uint32_t from,
                           uint32_t to,
                           int (*fn)(const offpay_refusal *r, void *ctx),
                           void *ctx);
    /* terminal from's label, if any, given to terminal to (a rotation) */
    offpay_err (*terminal_label_carry)(offpay__store *s, uint32_t from,
                                       uint32_t to, uint32_t at);
    /* terminal id's last report (offpay__terminal_report_get_sql);
     * ENOTFOUND when it never reported */
    offpay_err (*terminal_report_get)(offpay__store *s, uint32_t id,
                                      offpay_terminal_report *out);

    /* the wallet's online life (src/settle/online.c; 004_wallet_online) */
    /* a new enrollment code, kept as its hash; for a new account, or
     * (account not 0) for a lost wallet's, which its wallet enrolls into */
    offpay_err (*enroll_add)(offpay__store *s, const uint8_t hash[32],
                             uint16_t currency, const char *ref, uint32_t now,
                             uint32_t expires, uint64_t account,
                             const char *made_by);
    /* the unused codes who made, whatever the name's letter case, and
     * those made as "who (offpay admin)", expire at now; *n: how many */
    offpay_err (*enroll_void_by)(offpay__store *s, const char *who,
                                 uint32_t now, uint64_t *n);
    /* ENOTFOUND, or the code's currency, expiry, use (0: unused), the
     * account it made (0: none) and the operator's reference ("": none;
     * ref may be NULL) */
    offpay_err (*enroll_get)(offpay__store *s, const uint8_t hash[32],
                             uint16_t *currency, uint32_t *expires,
                             uint32_t *used_at, uint64_t *account,
                             char ref[OFFPAY_LEDGER_REF_MAX + 1]);
    /* the unused codes for account expire at now */
    offpay_err (*enroll_void)(offpay__store *s, uint64_t account, uint32_t now);
    /* marks the code used for account if unused, else EEXISTS */
    offpay_err (*enroll_use)(offpay__store *s, const uint8_t hash[32],
                             uint64_t account, uint32_t now);
    /* binds wallet key pk to account (the caller checked it is new) */
    offpay_err (*wallet_key_add)(offpay__store *s,
                                 const uint8_t  pk[OFFPAY_PK_BYTES],
                                 uint64_t account, uint32_t now);
    /* ENOTFOUND, or the key's account, enrolment and revocation (0: none);
     * by key, or by account when pk is NULL (pk_out then receives it) */
    offpay_err (*wallet_key_get)(offpay__store *s, const uint8_t *pk,
                                 uint64_t account, uint8_t *pk_out,
                                 uint64_t *account_out, uint32_t *enrolled_at,
                                 uint32_t *revoked_at);
    /* sets revoked_at if not revoked yet, else EEXISTS */
    offpay_err (*wallet_key_revoke)(offpay__store *s,
                                    const uint8_t  pk[OFFPAY_PK_BYTES],
                                    uint32_t       now);
    /* calls fn for each credential issued to pk, ascending serial, with
     * what its release returned (c->released_amount: its escrow's release
     * transfer), the highest counter the ledger has seen of it (a
     * payment, or a code its wallet uploaded: cred_counter_seen; 0: none)
     * and its bytes (valid during the call); a non-zero return stops */
    offpay_err (*wallet_creds)(
        offpay__store *s, const uint8_t pk[OFFPAY_PK_BYTES],
        int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                  const uint8_t *bytes, size_t len, void *ctx),
        void *ctx);
    /* calls fn as wallet_creds does for at most q->max credentials issued
     * to pk whose serial is between q->lo and q->hi (both excluded),
     * ascending serial, or descending when q->newest; with q->open_since
     * only those not released or released at or after it (their late
     * window still open: online.c). The few a wallet can still need are
     * read through credentials_wallet_pk_released (023), whatever the
     * key's history; the rows' bytes, counters and release sums only for
     * the page's own. */
    offpay_err (*wallet_creds_page)(
        offpay__store *s, const uint8_t pk[OFFPAY_PK_BYTES],
        const offpay__creds_page *q,
        int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                  const uint8_t *bytes, size_t len, void *ctx),
        void *ctx);
    /* how many of the credentials issued to pk are not released or
     * released at or after open_since (*open; through
     * credentials_wallet_pk_released's two ranges), and, when total is
     * not NULL, how many there are (*total: every entry of the key in
     * credentials_wallet_pk, which grows with its history) */
    offpay_err (*wallet_creds_count)(offpay__store *s,
                                     const uint8_t  pk[OFFPAY_PK_BYTES],
                                     uint32_t open_since, uint64_t *open,
                                     uint64_t *total);
    /* the serials above after of the credentials issued to pk that are
     * revoked, ascending, at most max into serials[0..*n): a key's double
     * spend and overspend cases are against those (online.c), read
     * without the rows, bytes and counters of all the key's credentials,
     * which a wallet renewed daily gathers by thousands */
    offpay_err (*key_revoked)(offpay__store *s,
                              const uint8_t pk[OFFPAY_PK_BYTES], uint64_t after,
                              uint64_t *serials, size_t max, size_t *n);
    /* serial's wallet uploaded a code of that counter (verified, issued to
     * the uploading key): the highest such counter is kept */
    offpay_err (*cred_counter_seen)(offpay__store *s, uint64_t serial,
                                    uint32_t counter);
    /* a restored copy of serial's wallet unfreezes it (013_restore_floors):
     * its restore floor becomes the larger of the highest counter seen
     * (as wallet_creds gives it) + 1 + gap and the floor before + gap, in
     * one statement, and is returned in *floor; ENOTFOUND */
    offpay_err (*cred_restore_floor)(offpay__store *s, uint64_t serial,
                                     uint32_t gap, uint64_t *floor);
    /* the ledger's expiry of serial becomes at, if later (a lost wallet's
     * credential: its escrow is due at at + the upload grace) */
    offpay_err (*cred_cut_expiry)(offpay__store *s, uint64_t serial,
                                  uint32_t at);
    /* locks the row of wallet key pk against its revocation until the
     * transaction ends (an allowance issued meanwhile is seen by the
     * revocation's list of credentials); a no-op where one writer holds
     * the whole store */
    offpay_err (*wallet_key_lock)(offpay__store *s,
                                  const uint8_t  pk[OFFPAY_PK_BYTES]);

    /* requests made once (ledger.c, online.c; 005_request_keys) */
    /* ENOTFOUND, or what request key did */
    offpay_err (*request_get)(offpay__store *s, const char *key,
                              offpay__request *out);
    /* records request key in the transaction; EEXISTS if it is taken */
    offpay_err (*request_add)(offpay__store *s, const char *key,
                              const offpay__request *rq, uint32_t now);

    /* a terminal that revoked itself (006_terminal_retirement) */
    /* how terminal id was retired (*how 0: not retired by itself) and the
     * terminal it was rotated to (0: none); ENOTFOUND. Locks the row until
     * the transaction ends (PostgreSQL; SQLite's writer holds the whole
     * store), so requests of one terminal queue */
    offpay_err (*terminal_retired)(offpay__store *s, uint32_t id, int *how,
                                   uint32_t *rotated_to);

    /* a ledger copied between backends (src/settle/copy.c) */
    /* the ledger's tables (every table of the schema but schema_version),
     * by name, into out[0..*n) (at most max, else OFFPAY_ETOOBIG) */
    offpay_err (*copy_tables)(offpay__store *s, offpay__copy_table *out,
                              size_t max, size_t *n);
    /* calls fn with the values of cols[0..n) of each row of table, in no
     * particular order (valid during the call); a non-zero return stops */
    offpay_err (*copy_rows)(offpay__store *s, const char *table,
                            const char *const *cols, size_t n,
                            int (*fn)(const offpay__copy_value *v, void *ctx),
                            void *ctx);
    /* writes rows[0..n_rows) (n values each, in the order of cols) into
     * table, ids as given. SQLite: OFFPAY_EINVAL (never a copy's target) */
    offpay_err (*copy_write)(offpay__store *s, const char *table,
                             const char *const *cols, size_t n,
                             const offpay__copy_value *rows, size_t n_rows);
    /* the id the store would give table's next row now (its id column
     * `id`), floors an operator raised included (012_id_floors) */
    offpay_err (*next_id)(offpay__store *s, const char *table, const char *id,
                          uint64_t *next);
    /* makes that next id `next` (1: left as it is). PostgreSQL: its
     * sequence, which a rollback does not move back. SQLite:
     * OFFPAY_EINVAL */
    offpay_err (*next_id_set)(offpay__store *s, const char *table,
                              const char *id, uint64_t next);
    /* SQLite: seals the file (020_ledger_sealed: its every write
     * transaction refused OFFPAY_ELEDGER_SEALED from the commit on),
     * saying reason (at most OFFPAY__SEAL_REASON_MAX bytes), inside the
     * read transaction the copy holds: OFFPAY_ERETRY when anything was
     * committed to the file since that transaction's snapshot (nothing
     * written). PostgreSQL: OFFPAY_EINVAL (never sealed) */
    offpay_err (*seal)(offpay__store *s, uint32_t now, const char *reason);

    /* outside a transaction: the store answers a trivial read of the
     * ledger, and (SQLite) its file is still the one at the path it was
     * opened from. OFFPAY_OK, OFFPAY_ELEDGER_MOVED, or the store's error.
     * (A SQLite write transaction checks the path at its begin too.) */
    offpay_err (*check)(offpay__store *s);
    /* outside a transaction, never waiting: 1 when the writer's lock is
     * free (taken and let go), 0 when another process holds it, -1 when
     * the store cannot tell (PostgreSQL; a writer of this process holds
     * it) (store/lockwait.h) */
    int (*lock_probe)(offpay__store *s);
} offpay__store_ops;

/* A running process found its ledger's schema at `version`, newer than
 * the migrations it knows: a newer offpay migrated the ledger under it.
 * From then on the process writes nothing to any ledger (the backends'
 * write begin answers OFFPAY_EVERSION without asking again), since what
 * it would write follows the older schema's rules; reads go on. The first
 * call logs one line for the process (stop it, start the new version);
 * returns OFFPAY_EVERSION. Thread-safe. (src/store/migrations.c) */
offpay_err offpay__store_schema_newer(unsigned long version);

/* The newer schema version a running process found (0: none), so that
 * offpayd answers its writes' refusal 503 with that reason rather than as
 * a request's unsupported version. Thread-safe. */
unsigned long offpay__store_schema_newer_seen(void);

/* offpay__store_ops.terminal_revoke's how: the terminals.retired column */
#define OFFPAY__RETIRED_DECOMMISSIONED 1
#define OFFPAY__RETIRED_ROTATED        2

/* A terminal's state from its row: revoked (revoked_at set) and retired
 * (OFFPAY__RETIRED_*, or 0: by the operator). */
static inline offpay_terminal_state offpay__terminal_state(int revoked,
                                                           int retired)
{
    if (!revoked)
        return OFFPAY_TERMINAL_ACTIVE;
    return retired == OFFPAY__RETIRED_DECOMMISSIONED
               ? OFFPAY_TERMINAL_DECOMMISSIONED
           : retired == OFFPAY__RETIRED_ROTATED ? OFFPAY_TERMINAL_ROTATED
                                                : OFFPAY_TERMINAL_REVOKED;
}

/* offpay__store_ops.ids_skip's third kind: the offset of the revocation
 * lists' numbers (after a restore from a backup, so that a list a device
 * holds from before is numbered below the restored ledger's: docs/
 * operations.md §5), at most OFFPAY__REVLIST_OFFSET_MAX (a list's number
 * is 32 bits). REVLIST_SKIP_SQL(P): the SQL both backends run, P the
 * parameter that holds `by`. */
#define OFFPAY__IDS_REVLIST        2
#define OFFPAY__REVLIST_OFFSET_MAX 2147483647u
#define REVLIST_SKIP_SQL(P)                                                    \
    "INSERT INTO id_floors (what, next) VALUES ('revlist', COALESCE((SELECT"   \
    " next FROM id_floors WHERE what = 'revlist'), 0) + " P ")"                \
    " ON CONFLICT (what) DO UPDATE SET next = excluded.next RETURNING next"

/* The clock marks (014_clock_marks): the nonces forgotten before it, the
 * escrow release's last run, what an operator's release vouched for.
 * MARK_*_SQL(P1, P2, P3): the SQL both backends run, in their spelling of the
 * parameters (what, at, forward). */
#define OFFPAY__MARK_NONCES  "nonces"
#define OFFPAY__MARK_RELEASE "release"
/* the newest transfer time when an operator's release last ran; the time
 * an operator last vouched for the clock (offpay_ledger_clock_vouch, on
 * every shard: settlement.md §10, "The ledger's clock") */
#define OFFPAY__MARK_RELEASE_SEEN "release_seen"
#define OFFPAY__MARK_VOUCHED      "vouched"
/* the highest transfer id on its shard when an operator vouched (an id,
 * in the mark's time column, which holds 32 bits: its low 32 bits, and
 * in vouched_upto_hi the high ones, absent for an id below 2^32) */
#define OFFPAY__MARK_VOUCHED_UPTO    "vouched_upto"
#define OFFPAY__MARK_VOUCHED_UPTO_HI "vouched_upto_hi"
#define OFFPAY__MARK_GET_SQL(P1)  "SELECT at FROM clock_marks WHERE what = " P1
#define OFFPAY__MARK_PUT_SQL(P1, P2, P3)                                       \
    "INSERT INTO clock_marks (what, at) VALUES (" P1 ", " P2 ")"               \
    " ON CONFLICT (what) DO UPDATE SET at = excluded.at"                       \
    " WHERE " P3 " = 0 OR clock_marks.at < excluded.at"
/* An account's balance (both backends; A the account's id, a parameter or
 * a column): its balance mark (019_balance_marks) plus its transfers
 * above the mark, read through transfers_credit_id and transfers_debit_id
 * (its whole history when it has no mark). One expression, so a statement
 * reads the mark and the transfers in one snapshot. */
#define OFFPAY__MARK_UPTO(A)                                                   \
    "COALESCE((SELECT k.upto FROM balance_marks k WHERE k.account = " A "), "  \
                                                                        "0)"
#define OFFPAY__BALANCE_SQL(A)                                                 \
    "(COALESCE((SELECT k.balance FROM balance_marks k WHERE k.account = " A    \
    "), 0) + (SELECT COALESCE(SUM(x.amount), 0) FROM transfers x"              \
    " WHERE x.credit = " A " AND x.id > " OFFPAY__MARK_UPTO(                   \
        A) ")"                                                                 \
           " - (SELECT COALESCE(SUM(x.amount), 0) FROM transfers x"            \
           " WHERE x.debit = " A " AND x.id > " OFFPAY__MARK_UPTO(A) "))"
/* A merchant's statement lines (both backends; P1 the merchant, P2 and
 * P3 the upload times' bounds). late: its credential released before it
 * was uploaded; in the release's own second, only its late transfer (into
 * the escrow, read through the escrow's (credit, id) index) tells. */
#define OFFPAY__STATEMENT_SQL(P1, P2, P3)                                      \
    "SELECT p.id, p.terminal, p.serial, p.counter, p.charged, p.paid,"         \
    " p.covered, p.outcome, p.reason, p.accepted_at, p.uploaded_at,"           \
    " COALESCE((SELECT SUM(x.amount) FROM transfers x"                         \
    "  WHERE x.presentment = p.id AND x.kind = 'refund'), 0),"                 \
    " CASE WHEN c.released_at IS NULL OR c.released_at > p.uploaded_at"        \
    "  THEN 0 WHEN c.released_at < p.uploaded_at THEN 1"                       \
    "  WHEN EXISTS (SELECT 1 FROM transfers x"                                 \
    "   WHERE x.credit = c.escrow_account AND x.presentment = p.id"            \
    "   AND x.kind = 'late') THEN 1 ELSE 0 END,"                               \
    " COALESCE((SELECT SUM(x.amount) FROM transfers x"                         \
    "  WHERE x.presentment = p.id AND x.kind = 'claim'), 0),"                  \
    " COALESCE((SELECT MAX(x.at) FROM transfers x"                             \
    "  WHERE x.presentment = p.id AND x.kind = 'claim'), 0),"                  \
    " COALESCE(p.case_id, 0)"                                                  \
    " FROM presentments p JOIN terminals t ON t.id = p.terminal"               \
    " LEFT JOIN credentials c ON c.serial = p.serial"                          \
    " WHERE t.merchant = " P1 " AND p.uploaded_at BETWEEN " P2 " AND " P3      \
    " ORDER BY p.id"
/* A credential's row (both backends; P1 its serial). The last column:
 * revoked for a case, or with a case of fraud against it however it was
 * revoked first (a wallet reported lost, then double-spent: settlement.md
 * §6), which makes its late items its owner's to pay. Equalities, not
 * IN (...): SQLite builds an ephemeral table for an IN list at every run,
 * which cost about 30,000 instructions a payment each here. */
#define OFFPAY__CRED_GET_SQL(P1)                                               \
    "SELECT wallet_account, escrow_account, lim, currency, valid_from,"        \
    " expires, remaining, released_at, revoked_at, wallet_pk, flags,"          \
    " CASE WHEN revoke_reason = 'double_spend'"                                \
    "  OR revoke_reason = 'overspend' OR revoke_reason = 'duplicate'"          \
    "  OR EXISTS (SELECT 1 FROM cases x WHERE x.serial = " P1                  \
    "   AND x.kind <> 'receipt_mismatch' AND x.kind <> 'charge_mismatch')"     \
    " THEN 1 ELSE 0 END"                                                       \
    " FROM credentials WHERE serial = " P1
#define OFFPAY__NEWEST_TRANSFER_SQL                                            \
    "SELECT COALESCE(MAX(at), 0) FROM (SELECT at FROM transfers"               \
    " ORDER BY id DESC LIMIT 1000) t"
/* The newest time among the newest 64 transfers with an id above P1: a
 * booking's bound (offpay__ledger_book), past the transfers an operator's
 * release vouched for. 64: transactions committing out of id order on
 * PostgreSQL are the few running at once. */
#define OFFPAY__NEWEST_AFTER_SQL(P1)                                           \
    "SELECT COALESCE(MAX(at), 0) FROM (SELECT at FROM transfers WHERE id "     \
    "> " P1 " ORDER BY id DESC LIMIT 64) t"

/* Every operation's name, in the table's order: a backend fills the table
 * with OFFPAY__STORE_OPS_INIT, naming its functions s_<name>. */
/* clang-format off */
#define OFFPAY__STORE_OP_NAMES(X) \
    X(begin) X(begin_read) X(commit) X(rollback) X(close) X(account_add) \
    X(account_singleton) X(account_singleton_find) X(account_get) X(balance) \
    X(transfer_add) X(booked_by) \
    X(merchant_add) X(merchant_get) X(merchant_close) X(merchant_lock) \
    X(terminal_by_pk) \
    X(terminal_add) \
    X(terminal_set_cred) X(terminal_get) X(terminal_revoke) X(cred_add) \
    X(cred_set_bytes) X(cred_get) X(escrow_debit) X(escrow_credit) \
    X(cred_release) X(creds_due) X(cred_revoke) X(payment_get) X(payment_add) \
    X(payment_charge) X(presentment_get) X(presentment_add) X(presentment_set_case) \
    X(charged_at) X(case_add) X(case_count) X(revocations) X(nonce_take) \
    X(nonce_prune) X(mark_get) X(mark_put) X(newest_transfer_at) X(newest_action_at) X(newest_after) X(owed_open) X(owed_at) X(sheet) X(transfers_range) \
    X(statement) \
    X(account_period) X(audit) \
    X(cases) X(case_get) X(case_lock) X(case_note_add) X(case_notes) \
    X(cases_open) \
    X(presentments_of) X(terminal_cred) \
    X(receipt_get) X(receipt_add) X(receipts_waiting) X(receipt_checked) \
    X(claim_get) X(claim_set) X(wallet_known) X(payment_summary) \
    X(receipts_of) \
    X(creds_lock) X(account_lock) \
    X(kind_totals) X(settle_buckets) X(terminal_stats) X(revoked_list) \
    X(terminal_report) X(terminal_report_get) X(terminal_label)              \
        X(refusal_add) X(refusals) X(action_add) X(actions)                                           \
        X(terminal_label_carry)                                                \
    X(enroll_add) X(enroll_get) X(enroll_void) X(enroll_void_by) \
    X(enroll_use) \
    X(wallet_key_add) \
    X(wallet_key_get) X(wallet_key_revoke) X(wallet_creds) X(key_revoked) \
    X(wallet_creds_page) X(wallet_creds_count) \
    X(cred_cut_expiry) \
    X(cred_counter_seen) X(cred_restore_floor) \
    X(wallet_key_lock) \
    X(request_get) X(request_add) \
    X(terminal_retired) X(transfers_of) X(escrow_flows) X(refund_base) \
    X(late_hold) X(marks_advance) X(marks_state) X(wallet_marks) \
    X(merchants) X(terminals) X(cred_kids) X(cred_bytes) X(wallet_accounts) \
    X(ids_skip) X(copy_tables) \
    X(copy_rows) X(copy_write) X(next_id) X(next_id_set) X(seal) X(check) \
    X(lock_probe)
/* clang-format on */
#define OFFPAY__STORE_OP_INIT(name) .name = s_##name,
#define OFFPAY__STORE_OPS_INIT      OFFPAY__STORE_OP_NAMES(OFFPAY__STORE_OP_INIT)

/* The audit's queries (docs/settlement.md §10, src/store/audit.c), in SQL
 * both backends accept; each returns one integer. A backend runs them in
 * order and hands the numbers to offpay__audit_facts_from. */
#define OFFPAY__AUDIT_QUERIES 15
extern const char *const offpay__audit_sql[OFFPAY__AUDIT_QUERIES];
void offpay__audit_facts_from(const int64_t        v[OFFPAY__AUDIT_QUERIES],
                              offpay__audit_facts *f);
/* The money per currency: rows (currency, inside, deposits_net, owed:
 * what the open claims on the guarantee still owe, odd: the transfers
 * that are not the deposits and withdrawals they say, or move the
 * world's money under another kind) ascending by currency, which a
 * backend hands one by one to offpay__audit_money_add (listed up to the
 * cap, every row checked: odd above 0 is a mismatch). */
extern const char offpay__audit_money_sql[];
void offpay__audit_money_add(offpay__audit_facts *f, int64_t currency,
                             int64_t inside, int64_t deposits_net, int64_t owed,
                             int64_t odd);

/* Opens the SQLite backend on path (schema created or migrated). */
offpay_err offpay__store_sqlite_open(const char *path, offpay__store **s,
                                     const offpay__store_ops **ops);

/* Every step of the plans of the SQLite store's prepared statements (the
 * ones requests and jobs run), and of the statements it runs once that
 * are listed to be planned too (EXPLAIN QUERY PLAN's detail column), on
 * the ledger at path (made and migrated if new): each(ctx, the
 * statement, the step). unit.test_plans holds them to reading by index. */
typedef void (*offpay__plan_step_fn)(void *ctx, const char *sql,
                                     const char *step);
offpay_err offpay__store_sqlite_plans(const char          *path,
                                      offpay__plan_step_fn each, void *ctx);

/* A consistent copy of the SQLite ledger at path into the new file out
 * (offpay_ledger_backup). */
offpay_err offpay__store_sqlite_backup(const char *path, const char *out);

/* Removes the seal of the SQLite ledger at path (offpay admin unseal,
 * 020_ledger_sealed), in a write transaction of its own, the seal's
 * reason into reason[0..cap). Errors: OFFPAY_ENOTFOUND (not sealed:
 * nothing changed), the store's. Migrates nothing. */
#define OFFPAY__SEAL_REASON_MAX 480
offpay_err offpay__store_sqlite_unseal(const char *path, char *reason,
                                       size_t cap);

/* The schema version of the SQLite ledger at path (0: none), read only;
 * nothing is created. Errors: OFFPAY_ESTORE. */
offpay_err offpay__store_sqlite_version(const char *path, unsigned *version);

/* The same for the PostgreSQL database at url. Errors: OFFPAY_ESTORE
 * (cannot connect: libpq's reason in the log). */
offpay_err offpay__store_postgres_version(const char *url, unsigned *version);

/* OFFPAY_OK when the PostgreSQL database at url holds a ledger's schema,
 * OFFPAY_ENOENT when it does not; nothing is created. Errors:
 * OFFPAY_ESTORE (cannot connect: libpq's reason in the log). */
offpay_err offpay__store_postgres_exists(const char *url);

/* 1 when the libpq URLs a and b surely name two databases: a host,
 * hostaddr, port, database or user that both give, and that differ (a
 * password never compared; a part only one of them gives is libpq's
 * default on the other side, which is not known here); else 0 (the
 * same, maybe, or either not a string libpq reads). Pure. */
int offpay__store_postgres_differ(const char *a, const char *b);

/* Opens the PostgreSQL backend on a libpq connection URL
 * ("postgresql://user@127.0.0.1:5432/db"); schema created or migrated. */
offpay_err offpay__store_postgres_open(const char *url, offpay__store **s,
                                       const offpay__store_ops **ops);

#endif
