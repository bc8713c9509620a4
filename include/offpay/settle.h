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

#include "offpay/crypto.h"
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
                              is released; seconds (default 14 days). In
                              0.20.0 and 0.21.0 also how long a revocation
                              stayed listed after the expiry (now
                              OFFPAY_REVLIST_LIVE_AFTER) */
    uint32_t late_window;  /* after the release, late presentments are still
                              paid; seconds (default 30 days) */
    uint32_t duplicates_to_revoke; /* duplicate-presentment cases that revoke
                                      a credential (default 1) */
} offpay_ledger_config;

void offpay_ledger_config_defaults(offpay_ledger_config *c);

/*
 * offpay_ledger_open — open (creating if missing, and bringing its schema
 * up to date) the ledger at path: a SQLite file, or a PostgreSQL database
 * named by a libpq URL ("postgresql://user@127.0.0.1:5432/ledger"), or
 * "shards:FILE": the PostgreSQL shards the shard map FILE names
 * (offpay_shard_config_parse below; each shard's ids bound to its range,
 * the directory copied to every shard). c may be NULL for the defaults.
 * Errors: OFFPAY_EINVAL, OFFPAY_ESTORE (cannot open or migrate),
 * OFFPAY_ESHARD_MAP (the reason in the log, nothing changed: against the
 * map the ledger was last opened with, the map leaves out a range, merges
 * two, or gives a range to another database than the one that held it —
 * another shard's, or one without the schema; or a shard's database
 * already assigned ids outside the range its line gives; or a PostgreSQL
 * URL names one shard of a sharded ledger), OFFPAY_EVERSION
 * (made by a newer offpay), OFFPAY_ENOMEM; for a shard map also those of
 * offpay_shard_config_load.
 */
offpay_err offpay_ledger_open(const char *path, const offpay_ledger_config *c,
                              offpay_ledger **out);

/* Whether a ledger is at path, creating nothing (an operator's typo must
 * not be audited as a new, empty ledger): a SQLite file holding the
 * ledger's schema (or one that is no SQLite database: the open says so),
 * a PostgreSQL database holding the schema, every shard of a shard map
 * ("shards:FILE"). OFFPAY_OK when it is; OFFPAY_ENOENT when not (no such
 * file, or a file or database without the schema; before 0.11.0 any
 * SQLite file that existed was taken). Errors:
 * OFFPAY_EINVAL, OFFPAY_ESTORE (cannot connect: the reason in the log),
 * those of offpay_shard_config_load, the file system's. */
offpay_err offpay_ledger_exists(const char *path);

/* The schema version of the ledger at path (*have; 0: none; a sharded
 * ledger's oldest shard) and the one this library brings a ledger to when
 * it opens it (*want), read only: nothing is created or migrated. For a
 * tool that must not upgrade a ledger under a running offpayd of the
 * version before. Errors: as offpay_ledger_exists. */
offpay_err offpay_ledger_schema(const char *path, unsigned *have,
                                unsigned *want);

/* A consistent copy of the SQLite ledger at path, taken while offpayd
 * runs on it (one read transaction: writers go on), into the new file out
 * (refused if it exists), written beside it and renamed into place once
 * synced, mode 0600: a single file, a ledger offpayd or `offpay admin` can
 * open. (A plain copy of a running ledger's file lacks what is still in
 * its write-ahead log.) Errors: OFFPAY_EINVAL (out empty, or path not a
 * SQLite ledger: a PostgreSQL ledger is copied with PostgreSQL's tools),
 * OFFPAY_ENOENT (no ledger at path), OFFPAY_EEXISTS, OFFPAY_ESTORE, the
 * file system's (OFFPAY_ENOSPC, ...). */
offpay_err offpay_ledger_backup(const char *path, const char *out);

/* The most offpay_ledger_skip_ids moves the ids at once. */
#define OFFPAY_LEDGER_SKIP_MAX 1000000000u

/*
 * offpay_ledger_skip_ids — moves the next credential serial (on every
 * shard) and the next terminal id `by` (1 to OFFPAY_LEDGER_SKIP_MAX) past
 * where they stand: after a restore from a backup, wallets and terminals
 * hold serials and ids the restored ledger never issued, and it would
 * issue them again (docs/operations.md §5). Run it with `by` above the
 * number of credentials and terminals issued since the backup, before the
 * ledger issues anything. *next_serial (shard 0's) and *next_terminal
 * (either may be NULL) receive where they stand now. Run twice, it moves
 * them twice. Errors: OFFPAY_EINVAL, OFFPAY_ERANGE (past terminal ids' 32
 * bits: nothing moved; past a shard's range of serials: nothing moved on
 * that shard, while the terminal ids and the shards before it moved),
 * OFFPAY_ESTORE. Run it with offpayd stopped. (Since 0.11.0.)
 */
offpay_err offpay_ledger_skip_ids(offpay_ledger *l, uint64_t by,
                                  uint64_t *next_serial,
                                  uint32_t *next_terminal);

/* The backend offpay_ledger_open picks for path (which need not exist):
 * "shards:" before a shard map, "postgresql://" or "postgres://" before a
 * libpq URL, else a SQLite file. Pure. */
typedef enum offpay_ledger_backend {
    OFFPAY_LEDGER_SQLITE = 1,
    OFFPAY_LEDGER_POSTGRES = 2,
    OFFPAY_LEDGER_SHARDS = 3 /* PostgreSQL shards */
} offpay_ledger_backend;

offpay_ledger_backend offpay_ledger_backend_of(const char *path);

/*
 * offpay_ledger_redact — path (a ledger as offpay_ledger_open takes it, a
 * shard map's URL, or any libpq connection string) made fit to print in
 * a log, an error or JSON: a URL's password ("postgresql://user:PW@host")
 * becomes "***" ("user:***@host"), as does the value of a password
 * parameter in its query ("?password=PW") and of every "password"
 * keyword of a key/value string ("host=h password=PW", quoted or not).
 * Nothing else changes. out receives the text and its NUL within
 * out_size bytes; *hidden (may be NULL) is 1 when a password was
 * replaced, else 0. Errors: OFFPAY_EINVAL (NULL path or out, out_size
 * 0), OFFPAY_ETOOBIG (out too small: it holds as much as fits, cut, and
 * never a part of a password). Pure; thread-safe.
 */
offpay_err offpay_ledger_redact(const char *path, char *out, size_t out_size,
                                int *hidden);

/* Closes the store, wipes the signing key. NULL is a no-op. */
void offpay_ledger_close(offpay_ledger *l);

/* Whether the ledger can be used now, for a health check: every store
 * (each shard) answers a trivial read, and a SQLite ledger's file is
 * still the one at the path it was opened from and not sealed. Outside a
 * transaction; changes nothing. OFFPAY_OK, OFFPAY_ELEDGER_MOVED (the
 * file was moved or deleted under it: every write transaction is refused
 * with it too, since what it committed would be lost at the next start),
 * OFFPAY_ELEDGER_SEALED (since 0.18.0: `offpay admin copy-ledger` copied
 * the file to PostgreSQL and sealed it; every write transaction is
 * refused with it too; the log says when and where to), the store's
 * errors (OFFPAY_ESTORE, ...), OFFPAY_EINVAL (l NULL). */
offpay_err offpay_ledger_check(offpay_ledger *l);

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

/*
 * offpay_ledger_set_next_kid — the key id the issuer's next key will take
 * (offpay_issuer_next_kid), read with the trust bundle. A code whose
 * issuer key is missing from the bundle is then told apart: a kid below
 * it was retired, and the code is rejected (OFFPAY_EUNKNOWN_KID); a kid at
 * or above it was made after the issuer was read (another process holding
 * the same issuer added it), and the code is not decided
 * (OFFPAY_EBUNDLE_OLD) until the ledger is given the newer bundle
 * (docs/settlement.md §4). 0 (the default): unknown, every missing kid is
 * rejected.
 */
void offpay_ledger_set_next_kid(offpay_ledger *l, uint32_t next_kid);

/* The longest name offpay_ledger_set_actor takes, in bytes. */
#define OFFPAY_ACTOR_MAX 64u

/*
 * offpay_ledger_set_actor — who books through l from now on (until set
 * again): every transfer l books keeps who (docs/settlement.md §1, "Who
 * booked it"; offpay_account_transfer.by): an operator's name (offpayd:
 * the name of the bearer token it matched; offpay admin: --by or the
 * login name), or a job's ("offpayd release job"). NULL or "": no one,
 * as for a terminal's upload or a wallet's own request, whose
 * presentment or credential says whose it was. who is 1 to
 * OFFPAY_ACTOR_MAX bytes of one line of text, without control or
 * invisible format characters (as a case step's author). A handle one
 * thread uses at a time, as every handle. Errors: OFFPAY_EINVAL (who
 * malformed: the name in use is unchanged). Since 0.30.0.
 */
offpay_err offpay_ledger_set_actor(offpay_ledger *l, const char *who);

/* What `offpay admin` adds to the name it acts under (its --by, or the
 * login name): no token checked it (since 0.31.0 here). */
#define OFFPAY_ACTOR_ADMIN_SUFFIX " (offpay admin)"

/* ---- what operators did (032_operator_actions; since 0.31.0) -------- */

/* Longest action name and detail kept, in bytes without the NUL. */
#define OFFPAY_ACTION_NAME_MAX   32u
#define OFFPAY_ACTION_DETAIL_MAX 128u

/*
 * An operator's action (a transfer booked among them), kept in its own
 * transaction when the handle names who acts (offpay_ledger_set_actor;
 * a case step whatever it names: the step names its author;
 * docs/settlement.md §1, "What operators did"). The actions and their
 * subjects:
 *   create-account     a payer account       detail: its currency
 *   create-guarantee   the guarantee account detail: its currency (one a
 *                      of a currency (a         shard)
 *                      shard's)
 *   register-merchant  the merchant          detail: its name
 *   register-terminal  the terminal          detail: "merchant N"
 *   issue-credential   the credential serial detail: "account N"
 *   revoke-credential  the credential serial detail: the reason
 *   revoke-wallet      its enrolled account  detail: the reason
 *   revoke-terminal    the terminal          detail: the reason
 *   close-merchant     the merchant
 *   label-terminal     the terminal          detail: the label, none when
 *                                            cleared
 *   enroll-code        the account, 0 for a  detail: "new account, CUR"
 *                      new one                      or none
 *   void-codes         none                  detail: "N codes of NAME"
 *   vouch-clock        none                  detail: the time vouched for
 *   drop-marks         none                  (one a shard that held marks)
 *   skip-ids           none                  detail: "by N"
 *   book               the transfer          detail: its kind, amount and
 *                                            accounts (a transfer booked
 *                                            under the name: also its
 *                                            offpay_account_transfer.by)
 *   case-note          the case              detail: the step's words
 *   case-close                               (the first 128 bytes), under
 *   case-reopen                              the step's author
 *   export-evidence    the case              (kept by the program that
 *                                            exported it:
 *                                            offpay_ledger_note_action)
 *   operator-added     none                  detail: the name (and the
 *   operator-removed                         file's line); renamed: "OLD
 *   operator-new-token                       is NEW now"; kept by the
 *   operator-renamed                         program that reads its
 *                                            operators (offpayd's SIGHUP:
 *                                            offpay_ledger_note_action)
 * Only an action that changed something is kept (a revocation of what
 * was revoked already is not).
 */
typedef struct offpay_operator_action {
    uint32_t at;    /* the clock of the program that did it */
    uint32_t shard; /* the shard it is kept on (0 unsharded) */
    uint64_t id;    /* its row on that shard */
    char     who[OFFPAY_ACTOR_MAX + 1];
    char     action[OFFPAY_ACTION_NAME_MAX + 1];
    uint64_t subject;                              /* 0: the whole ledger */
    char     detail[OFFPAY_ACTION_DETAIL_MAX + 1]; /* "": none */
} offpay_operator_action;

/* Which actions offpay_ledger_actions reads; zero for no bound. */
typedef struct offpay_action_filter {
    const char *who;     /* NULL or "": anyone; else the name, whatever
                            its case, and the same name through offpay
                            admin ("NAME (offpay admin)") */
    const char *action;  /* NULL or "": any */
    uint64_t    subject; /* 0: any */
    uint32_t    from;    /* at >= from */
    uint32_t    to;      /* at <= to; 0: no bound */
    /* the last action of the page before (its at, shard and id), to read
     * the next page: after_set 0 for the first */
    int      after_set;
    uint32_t after_at, after_shard;
    uint64_t after_id;
    size_t   max; /* 1..OFFPAY_ACTIONS_MAX; 0: OFFPAY_ACTIONS_MAX */
} offpay_action_filter;

/* Most actions offpay_ledger_actions gives at once. */
#define OFFPAY_ACTIONS_MAX 10000u

/*
 * offpay_ledger_actions — the actions f selects, every shard's, in time
 * order (at, then shard, then id), at most f->max: *out (malloc'd, free
 * with free(); NULL when none) and *n; *more 1 when more follow (read
 * them with after_* set to the last one's). Errors: OFFPAY_EINVAL (a
 * malformed filter: who not a name set_actor takes, an action name of
 * more than OFFPAY_ACTION_NAME_MAX bytes, max above OFFPAY_ACTIONS_MAX,
 * to before from), the store's. Since 0.31.0.
 */
offpay_err offpay_ledger_actions(offpay_ledger              *l,
                                 const offpay_action_filter *f,
                                 offpay_operator_action **out, size_t *n,
                                 int *more);

/*
 * offpay_ledger_note_action — keeps, on shard 0 in a transaction of its
 * own, an action the library does not see itself, under the handle's
 * actor (nothing kept when it names no one): a change to who may act
 * that the program holding the operators' tokens made (offpayd: its
 * --operators-file read again; operator-added, operator-removed,
 * operator-new-token, operator-renamed, subject 0), or a case's evidence
 * exported (export-evidence, subject the case). detail NULL or 1 to
 * OFFPAY_ACTION_DETAIL_MAX bytes of one line of text. Errors:
 * OFFPAY_EINVAL (another action, a malformed detail), the store's. Since
 * 0.31.0.
 */
offpay_err offpay_ledger_note_action(offpay_ledger *l, uint32_t now,
                                     const char *action, uint64_t subject,
                                     const char *detail);

/* The cursor text of action a ("AT.SHARD.ID"; at most
 * OFFPAY_ACTION_CURSOR_MAX bytes with its NUL), and back: 1 when s is one
 * (f's after_* then set), 0 when not. */
#define OFFPAY_ACTION_CURSOR_MAX 48u
void offpay_action_cursor(const offpay_operator_action *a,
                          char out[OFFPAY_ACTION_CURSOR_MAX]);
int  offpay_action_cursor_parse(const char *s, offpay_action_filter *f);

/* ---- accounts ------------------------------------------------------ */

/* Every function below that books a transfer (a deposit, a withdrawal, a
 * credential's issue, a settlement, a release, a refund, a claim paid)
 * also answers OFFPAY_ECLOCK_BEHIND, nothing booked, when the transfer's
 * time (its now) is more than 60 s before its shard's newest transfer
 * (past those an operator vouched past) or before the time an operator
 * last vouched for (offpay_ledger_clock_vouch; docs/settlement.md §10,
 * "The ledger's clock"; since 0.29.0). */

typedef enum offpay_account_kind {
    OFFPAY_ACCOUNT_WORLD = 1,
    OFFPAY_ACCOUNT_WALLET = 2,
    OFFPAY_ACCOUNT_ESCROW = 3,
    OFFPAY_ACCOUNT_MERCHANT = 4,
    OFFPAY_ACCOUNT_GUARANTEE = 5
} offpay_account_kind;

/* "world", "wallet", "escrow", "merchant", "guarantee"; "unknown" for
 * anything else. */
const char *offpay_account_kind_name(offpay_account_kind k);

/*
 * offpay_ledger_wallet_account — a new payer account in currency, with the
 * operator's reference text (at most 128 bytes). Errors: OFFPAY_EINVAL,
 * OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_wallet_account(offpay_ledger *l, uint16_t currency,
                                        const char *ref, uint32_t now,
                                        uint64_t *account);

/*
 * offpay_ledger_wallet_account made once under the operator's request key
 * (an Idempotency-Key, offpay_ledger_request_key_ok; NULL: no key, a new
 * account each call), booked in the transaction that makes the account:
 * the same key again for the same currency and ref (NULL is "") makes
 * nothing and gives the account made the first time (*replayed = 1;
 * replayed may be NULL). Errors: those of offpay_ledger_wallet_account,
 * and OFFPAY_EEXISTS when the key was used for another request (another
 * currency or ref, or another kind: a deposit's, a merchant's, ...).
 * Since 0.16.0.
 */
offpay_err offpay_ledger_wallet_account_once(offpay_ledger *l, const char *key,
                                             uint16_t currency, const char *ref,
                                             uint32_t now, uint64_t *account,
                                             int *replayed);

/* The issuer's guarantee account of currency (created on first use). */
offpay_err offpay_ledger_guarantee_account(offpay_ledger *l, uint16_t currency,
                                           uint32_t now, uint64_t *account);

/* What each shard's guarantee of currency holds (settlement.md §11: a
 * shard's overspends are covered by its own): into parts (room for
 * OFFPAY_SHARDS_MAX), parts[k] the balance of shard k's, -1 when shard k
 * has none yet (a shard added since: POST /v1/admin/guarantee makes it, a
 * deposit funds it); *n the shards (1 on an unsharded ledger). Reads
 * only. Errors: OFFPAY_EINVAL, OFFPAY_ESTORE. Since 0.8.0. */
offpay_err offpay_ledger_guarantee_parts(offpay_ledger *l, uint16_t currency,
                                         int64_t *parts, size_t *n);

/* A claim on the guarantee still open (docs/settlement.md §5): a payment
 * a terminal took by its risk rules that the guarantee could not cover in
 * full when it settled, owed to its merchant until a deposit into the
 * guarantee (or a release run) pays it. Since 0.28.0. */
typedef struct offpay_open_claim {
    uint64_t presentment;                /* the statement line it is */
    uint64_t case_id;                    /* its overspend case (0: none) */
    uint64_t merchant, merchant_account; /* who is owed */
    uint64_t serial;                     /* the credential overspent */
    uint16_t currency;
    uint32_t uploaded_at; /* owed since */
    int64_t  charged;     /* the payment's charge */
    int64_t  owed;        /* what it still owes (> 0) */
} offpay_open_claim;

/* The guarantee of one currency over a period (offpay admin guarantee,
 * GET /v1/admin/guarantee). All in minor units of currency, from the
 * guarantee's side (out < 0); on a sharded ledger summed over the
 * shards' guarantees. Since 0.28.0. */
typedef struct offpay_guarantee_period {
    uint16_t currency;
    uint64_t account; /* shard 0's guarantee account; 0: the ledger has no
                         guarantee in currency (every figure 0) */
    int64_t balance;  /* now */
    /* before from (every transfer dated before it), and until to */
    int64_t opening_balance, closing_balance;
    /* the period's transfers by each one's own time, by kind: paid to
     * merchants at settlement (cover, <= 0), claims paid to them later
     * (claim, <= 0), refunds of covered payments back (refund, >= 0),
     * deposits, withdrawals, any other kind; opening_balance plus these
     * six is closing_balance, exactly */
    int64_t  covered, claims_paid, refunds, deposits, withdrawals, other;
    uint64_t n_covered, n_claims_paid, n_refunds;
    /* now, whatever the period: the claims still open, and what they owe */
    uint64_t n_owed;
    int64_t  owed;
    /* at the period's end (to): the claims uploaded until then and not paid
     * by then, and what they owed then; a closed period's figure, which a
     * later deposit does not change */
    uint64_t n_owed_at_close;
    int64_t  owed_at_close;
} offpay_guarantee_period;

/*
 * offpay_ledger_guarantee_period — the guarantee of currency over [from,
 * to] (both included) into *out; move (may be NULL) called for each of
 * its transfers in the period by the transfer's own time, ascending by
 * time then id (on a sharded ledger shard after shard); claim (may be
 * NULL) for each open claim now, oldest first (each shard's in turn);
 * period_claim (may be NULL) for each claim uploaded in the period, its
 * owed what it still owed at to (0 when paid by then), oldest first. A
 * non-zero return stops that list, not the figures. Read in one
 * transaction per shard. Reads only: a currency without a guarantee has
 * no money in it (out->account 0), its claims all the same. Errors:
 * OFFPAY_EINVAL (from > to, or an unknown currency), OFFPAY_EOVERFLOW,
 * OFFPAY_ESTORE. Since 0.28.0.
 */
struct offpay_account_transfer; /* below, with offpay_ledger_transfers */
offpay_err offpay_ledger_guarantee_period(
    offpay_ledger *l, uint16_t currency, uint32_t from, uint32_t to,
    int (*move)(const struct offpay_account_transfer *t, void *ctx),
    int (*claim)(const offpay_open_claim *c, void *ctx),
    int (*period_claim)(const offpay_open_claim *c, void *ctx), void *ctx,
    offpay_guarantee_period *out);

/* An account's balance, derived from its transfers, and its kind and
 * currency (either pointer may be NULL). Errors: OFFPAY_ENOTFOUND,
 * OFFPAY_ESTORE. */
offpay_err offpay_ledger_balance(offpay_ledger *l, uint64_t account,
                                 int64_t *balance, offpay_account_kind *kind,
                                 uint16_t *currency);

/* Longest reference text of an account (offpay_ledger_wallet_account). */
#define OFFPAY_LEDGER_REF_MAX 128

/* A payer's account as offpay_ledger_wallet_accounts lists it. */
typedef struct offpay_wallet_account_info {
    uint64_t id;
    uint16_t currency;
    char     ref[OFFPAY_LEDGER_REF_MAX + 1]; /* as it was opened with */
    uint32_t created_at;
    int64_t  balance;            /* its online money, minor units */
    uint32_t credentials;        /* issued from it */
    uint32_t credentials_active; /* of them, neither revoked nor released
                                    (an expired one until its release) */
    /* when its wallet was reported lost (or revoked by the operator); 0:
     * it was not, it never enrolled online, or a new wallet holds it */
    uint32_t lost_at;
    /* the money its credentials' escrows still hold (not released yet),
     * minor units, and when the last of it is due back in the account
     * (the latest ledger expiry among them plus the upload grace; 0:
     * none held); less what settles meanwhile. Since 0.15.0. */
    int64_t  escrow_held;
    uint32_t escrow_back;
    /* the latest end of a late window (settlement.md §6) among its
     * credentials: each one's release (or, not released yet, its release
     * due: the ledger expiry plus the upload grace) plus the late window.
     * Until then a late upload of what a terminal accepted offline may
     * still be paid from the account, after the escrow is back; 0: no
     * credential. A time the caller compares with its clock: once past,
     * nothing more can be. Since 0.15.0. */
    uint32_t late_until;
    /* what the account holds for the late presentments of its released
     * credentials (settlement.md §6; offpay_ledger_late_hold), minor
     * units, and until when (the end of the newest such late window):
     * that part of balance funds no new credential. Filled by
     * offpay_ledger_wallet_accounts_at at its now; 0 for both when
     * nothing is held, and from offpay_ledger_wallet_accounts. Since
     * 0.16.0. */
    int64_t  late_held;
    uint32_t late_held_until;
} offpay_wallet_account_info;

/* Most accounts offpay_ledger_wallet_accounts gives at once. */
#define OFFPAY_LEDGER_ACCOUNTS_MAX 10000u

/*
 * offpay_ledger_wallet_accounts — at most max
 * (1..OFFPAY_LEDGER_ACCOUNTS_MAX) payers' accounts with an id above after
 * (0: from the first), ascending, and when ref is not NULL only those
 * opened with exactly that reference, into *out (malloc'd, free() it;
 * NULL when none) and *n: an operator answering a payer finds the account
 * here. On a sharded ledger each shard's accounts in turn (their ids
 * ascend with the shards). Errors: OFFPAY_EINVAL (ref longer than
 * OFFPAY_LEDGER_REF_MAX), OFFPAY_ENOMEM, OFFPAY_ESTORE. Since 0.7.0.
 */
offpay_err offpay_ledger_wallet_accounts(offpay_ledger *l, const char *ref,
                                         uint64_t after, size_t max,
                                         offpay_wallet_account_info **out,
                                         size_t                      *n);

/*
 * offpay_ledger_wallet_accounts_at — offpay_ledger_wallet_accounts, and
 * each account's late_held and late_held_until at now (what
 * offpay_ledger_late_hold gives, read with the account's row): what an
 * allowance or an operator's issue from it may not take yet. Errors:
 * those of offpay_ledger_wallet_accounts. Since 0.16.0.
 */
offpay_err offpay_ledger_wallet_accounts_at(offpay_ledger *l, const char *ref,
                                            uint64_t after, size_t max,
                                            uint32_t                     now,
                                            offpay_wallet_account_info **out,
                                            size_t                      *n);

/*
 * Money from and to the outside: deposit credits account (a wallet, a
 * merchant or the guarantee) from the world account of its currency;
 * withdraw does the reverse. amount > 0 minor units. A deposit into a
 * guarantee then pays the claims on it (results unpaid OFFPAY_EFUNDS),
 * oldest first, as far as it goes (settlement.md §5; since 0.15.0;
 * a failure there is logged, the deposit stands and the release job pays
 * them). A deposit is at most
 * OFFPAY_LEDGER_DEPOSIT_MAX and leaves the account's balance at most
 * OFFPAY_LEDGER_BALANCE_MAX, so that no balance can overflow 64 bits (the
 * audit's sums of an account's whole history stay within them until
 * 2^63 minor units have been deposited in all, docs/api.md). *transfer (may be
 * NULL) receives the transfer id. A withdrawal from a wallet account takes
 * nothing of what the account holds for its released credentials' late
 * presentments (offpay_ledger_late_hold, settlement.md §6; since 0.23.0): a
 * late code would find it gone and the guarantee would pay. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_EFUNDS (withdrawal above the balance,
 * or above the balance less what is held), OFFPAY_EOVERFLOW (a deposit above
 * those bounds), OFFPAY_ESTORE.
 */
#define OFFPAY_LEDGER_DEPOSIT_MAX INT64_C(10000000000000)  /* 10^13 */
#define OFFPAY_LEDGER_BALANCE_MAX INT64_C(100000000000000) /* 10^14 */
offpay_err offpay_ledger_deposit(offpay_ledger *l, uint64_t account,
                                 int64_t amount, const char *ref, uint32_t now,
                                 uint64_t *transfer);
offpay_err offpay_ledger_withdraw(offpay_ledger *l, uint64_t account,
                                  int64_t amount, const char *ref, uint32_t now,
                                  uint64_t *transfer);

/*
 * offpay_ledger_withdraw_held — a withdrawal that may also take what a
 * wallet account holds for late presentments, which offpay_ledger_withdraw
 * and offpay_ledger_move_once leave: the operator's decision, for a payer
 * paid out in full knowing that what late codes then find missing is the
 * guarantee's loss (settlement.md §6). Under key when key is not NULL, as
 * offpay_ledger_move_once (the same key space; a key a withdrawal refused
 * EFUNDS did not book may be sent again here). Errors as
 * offpay_ledger_withdraw. Since 0.23.0.
 */
offpay_err offpay_ledger_withdraw_held(offpay_ledger *l, uint64_t account,
                                       int64_t amount, const char *ref,
                                       const char *key, uint32_t now,
                                       uint64_t *transfer, int *replayed);

/*
 * A deposit (withdraw 0) or withdrawal (withdraw 1) made once under the
 * operator's request key (an Idempotency-Key: 1 to OFFPAY_REQUEST_KEY_MAX
 * printable ASCII characters, no space), so a request retried after a lost
 * reply moves the money once. The key is booked in the transaction of the
 * transfer. The same key again, for the same account, direction and amount,
 * moves nothing: *transfer is the transfer it booked the first time and
 * *replayed (may be NULL) is 1. On a sharded ledger a guarantee deposit is
 * split over the shards and *transfer is its last part's; one that stopped
 * part-way books only the parts still missing (*replayed 0).
 * Errors as offpay_ledger_deposit / _withdraw, and OFFPAY_EEXISTS when the
 * key was used for another request, OFFPAY_EINVAL for a malformed key.
 */
#define OFFPAY_REQUEST_KEY_MAX 64
offpay_err offpay_ledger_move_once(offpay_ledger *l, uint64_t account,
                                   int64_t amount, int withdraw,
                                   const char *ref, const char *key,
                                   uint32_t now, uint64_t *transfer,
                                   int *replayed);
/* 1 when key is a well-formed request key. */
int offpay_ledger_request_key_ok(const char *key);
/* *used = 1 when the operator's request key was booked by a request (on
 * any shard), else 0: what an OFFPAY_EEXISTS of a keyed call was, when
 * its request can fail so without the key (a terminal key registered
 * already, offpay_ledger_terminal_add_once). Reads only. Errors:
 * OFFPAY_EINVAL (a malformed key), OFFPAY_ESTORE. Since 0.16.0. */
offpay_err offpay_ledger_request_key_used(offpay_ledger *l, const char *key,
                                          int *used);

/* ---- merchants, terminals, credentials ----------------------------- */

/* A merchant and its account; *merchant_id is what terminal credentials
 * name. Errors: OFFPAY_EINVAL (name empty or over OFFPAY_NAME_MAX bytes),
 * OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_ESTORE. */
offpay_err offpay_ledger_merchant_add(offpay_ledger *l, const char *name,
                                      uint16_t currency, uint32_t now,
                                      uint64_t *merchant_id, uint64_t *account);

/*
 * offpay_ledger_merchant_add made once under the operator's request key
 * (NULL: no key), booked in the transaction that makes the merchant: the
 * same key again for the same name and currency makes nothing and gives
 * the merchant and account made the first time (*replayed = 1; replayed
 * may be NULL). Errors: those of offpay_ledger_merchant_add, and
 * OFFPAY_EEXISTS when the key was used for another request. Since 0.16.0.
 */
offpay_err offpay_ledger_merchant_add_once(offpay_ledger *l, const char *key,
                                           const char *name, uint16_t currency,
                                           uint32_t now, uint64_t *merchant_id,
                                           uint64_t *account, int *replayed);

/*
 * offpay_ledger_terminal_add — register a terminal key for a merchant and
 * sign its credential (valid from now to expires, the merchant's name and
 * currency). bytes receives the credential (capacity
 * OFFPAY_TERMINAL_CRED_MAX_BYTES), *len its size; cred (may be NULL) the
 * decoded form, with the terminal id. A key already registered gets
 * OFFPAY_EEXISTS. The credential ends no later than the ledger's signing
 * key (expires is cut to the key's end). Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOTFOUND (merchant), OFFPAY_EWEAK_KEY, OFFPAY_EEXISTS,
 * OFFPAY_ECRYPTO (no signing key set), OFFPAY_EKID_EXPIRED (now is outside
 * the key's validity: nothing is registered), OFFPAY_EMERCHANT_CLOSED (the
 * merchant was closed, offpay_ledger_merchant_close; since 0.23.0),
 * OFFPAY_ESTORE.
 */
offpay_err
offpay_ledger_terminal_add(offpay_ledger *l, uint64_t merchant_id,
                           const uint8_t pk[OFFPAY_PK_BYTES], uint32_t expires,
                           uint32_t now,
                           uint8_t  bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES],
                           size_t *len, offpay_terminal_cred *cred);

/*
 * offpay_ledger_terminal_add made once under the operator's request key
 * (NULL: no key), booked in the transaction that registers the terminal:
 * the same key again for the same merchant and terminal key registers
 * nothing and gives the terminal and the very credential bytes signed the
 * first time (stored with it; *replayed = 1, replayed may be NULL),
 * whatever became of the terminal since (revoked, rotated). Errors: those
 * of offpay_ledger_terminal_add, and OFFPAY_EEXISTS when the key was used
 * for another request (another merchant or terminal key, another kind) or,
 * the request key not booked, for a terminal key registered already
 * (offpay_ledger_request_key_used tells which). expires is not compared
 * (a caller's default term moves with the clock): a caller that was given
 * one asks offpay_ledger_terminal_expires_is of the replayed credential.
 * Since 0.16.0.
 */
offpay_err offpay_ledger_terminal_add_once(
    offpay_ledger *l, const char *key, uint64_t merchant_id,
    const uint8_t pk[OFFPAY_PK_BYTES], uint32_t expires, uint32_t now,
    uint8_t bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES], size_t *len,
    offpay_terminal_cred *cred, int *replayed);

/* As offpay_ledger_issue_expires_is, for a terminal credential this
 * ledger signed (offpay_ledger_terminal_add_once's replay): 1 when its
 * expiry is what a request for expires made (expires, or the end of its
 * signing key when expires was past it), else 0. Since 0.16.0. */
int offpay_ledger_terminal_expires_is(const offpay_ledger        *l,
                                      const offpay_terminal_cred *cred,
                                      uint32_t                    expires);

/*
 * offpay_ledger_merchant_close — closes a merchant that is leaving: from
 * now on the ledger registers no terminal for it (OFFPAY_EMERCHANT_CLOSED,
 * also for a terminal's own rotation), and every terminal of it still
 * active is revoked, with the reason "merchant closed". What they
 * accepted before is still paid when it is uploaded (settlement.md §8),
 * into the merchant's account, which stays, as its statement, its
 * payouts and its refunds do. Closing again changes nothing but to revoke
 * a terminal a call that stopped part way left active: *closed_at (may
 * be NULL) is the first closing's time, *replayed (may be NULL) 1.
 * *revoked (may be NULL): the terminals this call revoked. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND (no such merchant), OFFPAY_ESTORE.
 * Since 0.23.0.
 */
offpay_err offpay_ledger_merchant_close(offpay_ledger *l, uint64_t merchant_id,
                                        uint32_t now, uint32_t *closed_at,
                                        size_t *revoked, int *replayed);

/* Revokes a terminal from now on: what it accepted before now still
 * settles (docs/settlement.md §8). On a sharded ledger every shard holds
 * the revocation when this returns OFFPAY_OK; a call that failed part way
 * may have revoked it on some shards (from its time: a call again keeps
 * that time and finishes it). The ledger keeps "operator" as the reason
 * (since 0.18.0; offpay_ledger_terminal_revoke_why gives one). Errors:
 * OFFPAY_ENOTFOUND, OFFPAY_ESTORE. */
offpay_err offpay_ledger_terminal_revoke(offpay_ledger *l, uint32_t terminal_id,
                                         uint32_t now);

/*
 * offpay_ledger_terminal_revoke_why — offpay_ledger_terminal_revoke with
 * the reason the ledger keeps with the revocation (offpay_ledger_terminals'
 * revoke_reason; offpay_ledger_terminal_revoke keeps "operator", as
 * offpay_ledger_revoke does for a NULL reason): 1 to
 * OFFPAY_LEDGER_REF_MAX bytes of UTF-8 without control or invisible
 * format characters (a line an operator reads), or NULL for "operator".
 * Revoking it again changes nothing: the first time and the first reason
 * stay. On a sharded ledger every shard holds the reason with the
 * revocation; a call that failed part way is finished with the time and
 * reason of the shard that took it first. Errors: OFFPAY_EINVAL (l, or a
 * reason empty, too long or not such text: nothing revoked),
 * OFFPAY_ENOTFOUND, OFFPAY_ESTORE. Since 0.18.0.
 */
offpay_err offpay_ledger_terminal_revoke_why(offpay_ledger *l,
                                             uint32_t       terminal_id,
                                             const char *reason, uint32_t now);

/*
 * offpay_ledger_issue — a wallet credential of limit minor units for
 * wallet_pk, funded from the wallet account: one transaction moves limit
 * into a new escrow and signs the credential (serial chosen by the
 * ledger). bytes receives OFFPAY_WALLET_CRED_BYTES. cred may be NULL. The
 * credential ends no later than the ledger's signing key (expires is cut
 * to the key's end: cred->expires says when). Errors: OFFPAY_EINVAL,
 * OFFPAY_EAMOUNT (limit not in 1..OFFPAY_WIRE_AMOUNT_MAX, what a
 * credential carries; OFFPAY_EINVAL before 0.13.0: nothing moves),
 * OFFPAY_ENOTFOUND (account), OFFPAY_EWEAK_KEY, OFFPAY_EFUNDS,
 * OFFPAY_ECRYPTO, OFFPAY_EKID_EXPIRED (now is outside the key's validity:
 * nothing moves), OFFPAY_EWALLET_LOST (wallet_pk was enrolled and then
 * revoked, reported lost: nothing moves, from any account; a key never
 * enrolled gets its credential), OFFPAY_EWALLET_CASE (a double_spend or
 * overspend case is against a credential of wallet_pk: nothing moves,
 * offpay_ledger_wallet_cases names them; since 0.15.0), OFFPAY_ESTORE.
 * A keyed resend (offpay_ledger_issue_once) replays the first credential
 * whatever became of the key since.
 */
offpay_err offpay_ledger_issue(offpay_ledger *l, uint64_t wallet_account,
                               const uint8_t wallet_pk[OFFPAY_PK_BYTES],
                               int64_t limit, uint8_t flags, uint32_t expires,
                               uint32_t now,
                               uint8_t  bytes[OFFPAY_WALLET_CRED_BYTES],
                               offpay_wallet_cred *cred);

/*
 * offpay_ledger_issue made once under the operator's request key (an
 * Idempotency-Key, offpay_ledger_request_key_ok; NULL: no key), booked in
 * the issue's transaction: the same key again for the same account, wallet
 * key, limit and flags moves nothing and gives the credential issued the
 * first time (*replayed = 1; replayed may be NULL). Errors: those of
 * offpay_ledger_issue, and OFFPAY_EEXISTS when the key was used for
 * another request (other flags too: a credential asked
 * tighter is not the looser one made first). expires is not compared
 * (a caller's default term moves with the clock): a caller that was given
 * one asks offpay_ledger_issue_expires_is of the replayed credential.
 */
offpay_err offpay_ledger_issue_once(offpay_ledger *l, const char *key,
                                    uint64_t      wallet_account,
                                    const uint8_t wallet_pk[OFFPAY_PK_BYTES],
                                    int64_t limit, uint8_t flags,
                                    uint32_t expires, uint32_t now,
                                    uint8_t  bytes[OFFPAY_WALLET_CRED_BYTES],
                                    offpay_wallet_cred *cred, int *replayed);

/*
 * Whether cred, a credential this ledger issued (as a keyed resend gives
 * it back: offpay_ledger_issue_once, offpay_ledger_allowance_once), is
 * what a request for expiry expires made: its expiry is expires, or
 * expires was past the end of the signing key named by cred->kid and cut
 * to it (offpay_ledger_issue). 1 yes, 0 no (also l or cred NULL, and an
 * expiry other than expires whose key is not in the ledger's bundle).
 * Since 0.16.0.
 */
int offpay_ledger_issue_expires_is(const offpay_ledger      *l,
                                   const offpay_wallet_cred *cred,
                                   uint32_t                  expires);

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
    /* Where the escrow's money went, from its transfers: in, the limit
     * funded, late presentments' money taken back from the wallet account
     * (docs/settlement.md §6) and the guarantee's cover (§5); out, what
     * was paid to merchants and what the release returned. remaining =
     * funded + late + covered - paid - released_amount. */
    int64_t funded, late, covered, paid, released_amount;
    uint64_t escrow_account; /* the ledger account holding its escrow */
    /* When the release job returns the escrow: the ledger's expiry (cut to
     * the report for a lost wallet's credentials) plus upload_grace; the
     * job releases it at its first run after. */
    uint32_t release_due;
    /* The end of the late window (docs/settlement.md §6): late_window after
     * released_at once released, else after release_due. Until then a code
     * presented late is taken from the wallet account. */
    uint32_t late_until;
    /* The issuer's loss on it (docs/settlement.md §5): what refunds of
     * its presentments gave back to the guarantee (§13), and covered plus
     * claimed plus owed less that (since 0.15.0, after late_until; claimed
     * and owed counted since 0.16.0). */
    int64_t refunded_to_guarantee, net_loss;
    /* What the guarantee paid later for its presentments, as claims, and
     * what it still owes for them, open claims (docs/settlement.md §5;
     * since 0.16.0, after net_loss); net_loss = covered + claimed + owed
     * - refunded_to_guarantee. */
    int64_t claimed, owed;
} offpay_ledger_cred_info;

/* Errors: OFFPAY_EINVAL, OFFPAY_ENOT_ISSUED, OFFPAY_ESTORE. */
offpay_err offpay_ledger_credential(offpay_ledger *l, uint64_t serial,
                                    offpay_ledger_cred_info *out);

/* ---- settlement ---------------------------------------------------- */

typedef enum offpay_settle_outcome {
    OFFPAY_SETTLE_REJECTED = 0,     /* failed verification; nothing moved
                                       and nothing stored (so a reason of
                                       OFFPAY_ECODE_FUTURE, an acceptance
                                       dated after now, is not final: offpayd
                                       answers it "not decided" and it comes
                                       again; docs/settlement.md §4) */
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
    int64_t        charged;      /* minor units */
    uint32_t       accepted_at;  /* the terminal's acceptance time */
    int64_t        terminal_seq; /* the journal's, >= 0 (negative values are
                                    reserved: a receipt standing for an
                                    upload, docs/settlement.md §7) */
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
 * before now (docs/settlement.md §6); *released (may be NULL) counts those
 * this call released (since 0.12.0 not those another process or
 * connection released while it ran). Each release happens once, however
 * often this runs. On a sharded ledger it then copies the directory
 * (merchants, terminals) to any shard that lacks part of it, after
 * making in the directory any terminal revocation a shard holds and it
 * does not (one that failed part way) (since 0.13.0). It also pays the
 * claims on the guarantee (results unpaid OFFPAY_EFUNDS), oldest first,
 * as far as each guarantee holds, each once (settlement.md §5; added
 * since 0.15.0). */
offpay_err offpay_ledger_release_due(offpay_ledger *l, uint32_t now,
                                     size_t *released);
/* What one release returned, each currency apart (never one sum over
 * several currencies' minor units). Since 0.26.0. */
#define OFFPAY_RELEASE_CURRENCIES 16
typedef struct offpay_release_sum {
    uint16_t currency;
    size_t   escrows;  /* released by this call */
    int64_t  returned; /* to their wallet accounts, minor units */
} offpay_release_sum;

typedef struct offpay_release_report {
    size_t             released; /* escrows, as offpay_ledger_release_due */
    offpay_release_sum sums[OFFPAY_RELEASE_CURRENCIES];
    size_t             n_sums;
    int                more;        /* more currencies than sums holds */
    size_t             claims_paid; /* claims on the guarantee it paid */
} offpay_release_report;

/*
 * offpay_ledger_release_report — offpay_ledger_release_due, and *out
 * (zeroed first) says what it did: how many escrows it released, what
 * they returned per currency, and how many claims on the guarantee it
 * paid. Errors: those of offpay_ledger_release_due (out NULL:
 * OFFPAY_EINVAL). Since 0.26.0.
 */
offpay_err offpay_ledger_release_report(offpay_ledger *l, uint32_t now,
                                        offpay_release_report *out);

/*
 * offpay_ledger_clock_vouch — an operator vouches for the clock that reads
 * now (docs/settlement.md §10, "The ledger's clock"): on every shard, its
 * highest transfer id and now are recorded, and from then on a booking is
 * held to now and to the transfers booked after that id, no longer to
 * those before it (dated ahead by a clock that ran ahead, since set
 * right). *ahead (may be NULL): how far the newest transfer was dated
 * ahead of now, 0 when none was. Refused OFFPAY_ECLOCK_BEHIND when an
 * earlier vouch is more than 60 s after now (one of the two clocks is
 * wrong: offpay__ledger_clock_detail says which times). Each shard in
 * its own transaction: a failure part way leaves the shards before it
 * vouched for, and running it again finishes. Errors: OFFPAY_EINVAL,
 * OFFPAY_ECLOCK_BEHIND, the store's. Since 0.29.0.
 */
offpay_err offpay_ledger_clock_vouch(offpay_ledger *l, uint32_t now,
                                     uint32_t *ahead);
/* (The release above is an operator's: it runs whatever the clock says,
 * and records now as the release's last run, and the newest transfer
 * time it saw, from which offpay_ledger_release_auto measures again.) */

/* offpay_ledger_release_auto's bounds: how far past its last run plus its
 * interval the clock may be (a day: offpayd down that long, or its clock
 * ahead), and how far behind the last run or the newest transfer. */
#define OFFPAY_RELEASE_AUTO_GAP   86400u
#define OFFPAY_RELEASE_AUTO_SLACK 600u

/* offpay_ledger_release_run.held: why an automatic run released nothing */
#define OFFPAY_RELEASE_HELD_AHEAD  1 /* now is far past the last run */
#define OFFPAY_RELEASE_HELD_BEHIND 2 /* now is behind what the ledger saw */

typedef struct offpay_ledger_release_run {
    int      held;     /* 0: it ran; else OFFPAY_RELEASE_HELD_* */
    uint32_t last_run; /* the release's last run the ledger kept; 0: none */
    uint32_t newest;   /* the later of last_run and the newest transfer */
    size_t   released; /* escrows this run released */
} offpay_ledger_release_run;

/*
 * offpay_ledger_release_auto — offpay_ledger_release_due as a job run
 * every `every` seconds (offpayd's), which does not trust a clock that
 * jumped (docs/settlement.md §6): it releases nothing, with out->held
 * saying why, when a last run is recorded and now is more than every +
 * OFFPAY_RELEASE_AUTO_GAP after it (a clock ahead would release live
 * escrows for good), or when now is more than OFFPAY_RELEASE_AUTO_SLACK
 * behind the last run or the newest of the ledger's newest 1000
 * transfers (a clock gone back; transfers an operator's release saw when
 * it ran are not counted again). Otherwise it releases as
 * offpay_ledger_release_due does and moves the last run to now (never
 * back: several processes may run it). A ledger with no run recorded (new,
 * or from before migration 014) runs. An operator's
 * offpay_ledger_release_due runs whatever the gap, and records its time.
 * The last run and the marks are shard 0's on a sharded ledger. Errors:
 * OFFPAY_EINVAL, and offpay_ledger_release_due's.
 */
offpay_err offpay_ledger_release_auto(offpay_ledger *l, uint32_t now,
                                      uint32_t                   every,
                                      offpay_ledger_release_run *out);

/*
 * offpay_ledger_marks — the marking job (docs/settlement.md §10, "Marks";
 * since 0.17.0): marks the transfers above the last transfer mark, at most
 * batch ids a transaction (0: OFFPAY_MARKS_BATCH) and at most
 * OFFPAY_MARKS_ROUNDS transactions a call, each shard on its own, waiting
 * between two transactions as long as the first took. A world, wallet
 * (since 0.18.0), merchant or guarantee account's balance, a statement's
 * period and the merchants list then read only what came after the marks
 * rather than the account's whole history; the audit checks every mark
 * against the transfers. Each transaction holds the ledger's writer lock (on
 * PostgreSQL, SHARE ROW EXCLUSIVE on transfers, had within 100 ms or
 * OFFPAY_EBUSY) while it reads the transfers it marks. *marked (may be
 * NULL) counts the ids marked (transfers and any gaps between their ids),
 * also when a shard failed; *more (may be NULL) is 1 when transfers are
 * left to mark or a shard failed (call again). Safe at any time, from any
 * number of processes. Errors (the first shard's that failed; the others
 * are marked all the same): OFFPAY_EINVAL, OFFPAY_EBUSY, OFFPAY_ESTORE
 * (also, logged, for a PostgreSQL transfers id sequence that caches ids:
 * marks would not be exact), the store's.
 */
/* How far a shard's marks go (offpay_ledger_marks_state; since 0.18.0). */
typedef struct offpay_ledger_marks_info {
    uint64_t transfer_marks; /* transfer marks held (one a run that marked) */
    uint64_t balance_marks;  /* balance marks held (one an account) */
    uint64_t upto;      /* the last transfer mark: every transfer up to this
                           id is marked (0: no mark) */
    uint32_t latest_at; /* the latest time of a transfer up to upto */
    uint32_t made_at;   /* when the last transfer mark was made */
    uint64_t max_id;    /* the highest transfer id (0: no transfer) */
    uint64_t unmarked;  /* transfers above upto: a balance reads these */
} offpay_ledger_marks_info;

/*
 * offpay_ledger_marks_state — how far the marks go, one entry a shard
 * (shard k into out[k]; *n = offpay_ledger_shards, at most max). Reads
 * only. offpay_ledger_marks_drop — removes every mark of every shard,
 * each shard in one transaction under the marking job's lock (the
 * incident step for an audit's mark_mismatch: docs/operations.md §3),
 * out[k] saying what shard k held; balances and statements then read the
 * whole history, exactly, until the marking job marks again. Errors:
 * OFFPAY_EINVAL (NULL, max below the shards), OFFPAY_EBUSY (PostgreSQL:
 * the lock not had within 100 ms; the shards before are dropped), the
 * store's. Since 0.18.0.
 */
offpay_err offpay_ledger_marks_state(offpay_ledger            *l,
                                     offpay_ledger_marks_info *out, size_t max,
                                     size_t *n);
offpay_err offpay_ledger_marks_drop(offpay_ledger            *l,
                                    offpay_ledger_marks_info *out, size_t max,
                                    size_t *n);

#define OFFPAY_MARKS_BATCH  10000u
#define OFFPAY_MARKS_ROUNDS 50u
offpay_err offpay_ledger_marks(offpay_ledger *l, uint32_t now, uint64_t batch,
                               uint64_t *marked, int *more);

/* The digest of a shard's transfers up to an id, or dated until a time
 * (offpay_ledger_digest; since 0.29.0). */
typedef struct offpay_transfers_digest {
    int64_t  upto;      /* the highest transfer id it covers */
    uint32_t until;     /* only those dated until then (UINT32_MAX: any) */
    int      marked;    /* 1: upto is at or below the shard's last transfer
                           mark, so every transfer up to it had committed
                           when the mark was made (0: above it) */
    uint64_t transfers; /* how many transfers it covers */
    int64_t  last_id;   /* the highest id among them (0: none) */
    uint32_t newest_at; /* the latest time among them (0: none) */
    uint8_t  digest[32];
} offpay_transfers_digest;

/*
 * offpay_ledger_digest — a digest of every transfer of each shard with an
 * id up to upto and dated until `until`, in id order (ids below 1 too),
 * each with all it says (id, accounts and their kinds and currencies,
 * amount, kind, presentment, case, reference, time): BLAKE2b-256 over
 * their fixed encoding (docs/settlement.md §10, "The ledger's digest").
 * upto 0: each shard's last transfer mark, or its highest transfer id
 * when it has none, and with `until` below UINT32_MAX every id. Kept by
 * an auditor at a period's close (until its last second), the same digest
 * read again later proves that no transfer dated in or before the period
 * was changed, removed, added or booked since, whatever its id; by id
 * (upto), that none up to it was. Above a shard's last mark (marked 0) a
 * PostgreSQL transaction may still commit a lower id. Shard k into out[k];
 * *n = offpay_ledger_shards, at most max. Reads every transfer up to upto
 * (each shard in one read transaction). Errors: OFFPAY_EINVAL (NULL, max
 * below the shards, upto below 0), the store's. Since 0.29.0.
 */
offpay_err offpay_ledger_digest(offpay_ledger *l, int64_t upto, uint32_t until,
                                offpay_transfers_digest *out, size_t max,
                                size_t *n);

/* The digest of a shard's operator actions dated until a time
 * (offpay_ledger_actions_digest; since 0.31.0). */
typedef struct offpay_actions_digest {
    uint32_t until;     /* those dated until then (UINT32_MAX: all) */
    uint64_t actions;   /* how many it covers */
    uint32_t newest_at; /* the latest time among them (0: none) */
    uint8_t  digest[32];
} offpay_actions_digest;

/*
 * offpay_ledger_actions_digest — a digest of every operator action
 * (offpay_ledger_actions) of each shard dated until `until`, in (time, id)
 * order, each with all it says (id, time, subject, who, action, detail):
 * BLAKE2b-256 over their fixed encoding (docs/settlement.md §10, "The
 * ledger's digest"). Kept beside the transfers' digest at a period's
 * close, the same digest read again later proves that no action dated in
 * or before the period was changed, removed, or added since. Shard k into
 * out[k]; *n = offpay_ledger_shards, at most max. Errors: OFFPAY_EINVAL
 * (NULL, max below the shards), the store's. Since 0.31.0.
 */
offpay_err offpay_ledger_actions_digest(offpay_ledger *l, uint32_t until,
                                        offpay_actions_digest *out, size_t max,
                                        size_t *n);

/* ---- what offpayd serves ------------------------------------------ */

/*
 * offpay_ledger_sign_answer — signs text (offpayd's answer to a signed
 * request, as offpay__http_answer_text lays it out; docs/api.md, "Signed
 * answers") under OFFPAY_DS_HTTP_ANSWER with the ledger's daily key, the
 * one it signs credentials with, valid at now: *kid receives its key id.
 * The domain is fixed, so nothing else can be signed through it. Errors:
 * OFFPAY_EINVAL, OFFPAY_ECRYPTO (no key set: offpay_ledger_set_trust),
 * OFFPAY_EKID_EXPIRED (now outside the key's window: a device would not
 * take the answer), the signer's (OFFPAY_EPKCS11).
 */
offpay_err offpay_ledger_sign_answer(offpay_ledger *l, uint32_t now,
                                     const uint8_t *text, size_t n,
                                     uint16_t *kid,
                                     uint8_t   sig[OFFPAY_SIG_BYTES]);

/*
 * offpay_ledger_revlist — the revocation list signed now with the ledger's
 * key: a delta with every serial revoked after list since_seq, or the full
 * list when since_seq is 0 or is the current list (signed again, so its
 * issued_at is fresh), or when now is before the ledger's nonces' clock
 * mark (the clock went back: a list the asker holds may have been signed
 * ahead; since 0.22.0). Either leaves out a credential whose signed expiry
 * is more than OFFPAY_REVLIST_LIVE_AFTER (a day; since 0.22.0, from 0.20.0
 * the upload grace) before now: no terminal that holds the list takes its
 * codes (docs/protocol.md §2.8), and a list holds at most
 * OFFPAY_REVLIST_MAX serials (a revocation made before 0.20.0 stays in
 * it). *bytes is malloc'd (free it). Errors: OFFPAY_EINVAL,
 * OFFPAY_EREVLIST_SEQ (since_seq is above the current list),
 * OFFPAY_ECRYPTO (no signing key), OFFPAY_EKID_EXPIRED (now is outside the
 * ledger's key's validity), OFFPAY_ENOMEM, OFFPAY_ESTORE.
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
 * now - 2 × window are forgotten (pruned at most once a minute, so kept up
 * to 60 s longer); the caller refuses requests whose time is outside now ±
 * window, so a forgotten nonce can never be replayed, even to a caller
 * whose clock reading lags this one's by up to a window. Each prune moves
 * the ledger's durable mark (never back: migration 014), and a request
 * made before the mark is OFFPAY_ECLOCK_BEHIND whatever now is: a prune
 * on a clock that ran ahead forgets requests the window would take again
 * once the clock is right (offpay_ledger_nonce_mark gives
 * the mark). On a sharded ledger the nonces and the mark are shard 0's.
 * nonce is 16 bytes. Errors: OFFPAY_EINVAL, OFFPAY_EREPLAY,
 * OFFPAY_ECLOCK_BEHIND, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_nonce(offpay_ledger *l,
                               const uint8_t  pk[OFFPAY_PK_BYTES],
                               const uint8_t nonce[16], uint32_t at,
                               uint32_t now, uint32_t window);

/* *before: the time before which the ledger forgot the signed requests'
 * nonces (0: none forgotten yet); a request made before it is refused by
 * offpay_ledger_nonce. Errors: OFFPAY_EINVAL, OFFPAY_ESTORE. */
offpay_err offpay_ledger_nonce_mark(offpay_ledger *l, uint32_t *before);

/* The merchant's account (its credits, one per settled payment) and
 * currency. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_ESTORE. */
offpay_err offpay_ledger_merchant(offpay_ledger *l, uint64_t merchant_id,
                                  uint64_t *account, uint16_t *currency);

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
    int64_t               refunded; /* refunded of paid so far, whenever
                                       (settlement.md §13); since 0.6.0 */
    int late; /* 1: a late presentment (settlement.md §6): uploaded after
                 its credential's escrow was released, so paid from the
                 payer's account (a `late` transfer) and the guarantee, or
                 refused ELATE after the late window; since 0.14.0 */
    int64_t paid_later;     /* of a presentment unpaid EFUNDS (the guarantee
                               short), what the guarantee paid since, by
                               `claim` transfers (settlement.md §5); added
                               since 0.15.0 */
    uint32_t paid_later_at; /* the last of them (0: none) */
    uint64_t case_id;       /* the case its presentment opened or joined
                               (settlement.md §9), 0: none; since 0.16.0 */
} offpay_statement_line;

/*
 * offpay_ledger_held — for each of the n codes in items (only code,
 * code_len and accepted_at are read), whether the ledger holds terminal_id's
 * presentment of exactly those bytes (held[i] 1), as an upload would find it
 * for an exact replay, else 0; -1 for a code that does not decode (no payment
 * code: held nowhere; before 0.8.0 it was 0); -2 for one the ledger does
 * not hold that decodes but whose credential's issuer signature (under
 * the ledger's bundle, its key valid at accepted_at as settlement judges
 * it, or at the code's own time when accepted_at is 0) or wallet
 * signature does not verify (no payment the ledger could have paid;
 * before 0.13.0 it was 0). A held code is 1 whatever the bundle says of
 * it now (its key retired since). Reads
 * only: a terminal
 * checks with it that the ledger still holds what it paid (POST
 * /v1/terminal/check). Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM,
 * OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_held(offpay_ledger *l, uint32_t terminal_id,
                              const offpay_settle_item *items, size_t n,
                              int *held);

/* A merchant as offpay_ledger_merchants lists it. */
typedef struct offpay_merchant_info {
    uint64_t id;
    uint64_t account; /* its account (on a sharded ledger, a row per shard) */
    uint16_t currency;
    char     name[OFFPAY_NAME_MAX + 1];
    uint32_t created_at;
    uint32_t terminals;        /* registered for it */
    uint32_t terminals_active; /* of them, not revoked */
    /* its account's balance, minor units (on a sharded ledger the sum of
     * its rows on every shard, as a statement's balance). Since 0.15.0. */
    int64_t balance;
    /* when it was closed (offpay_ledger_merchant_close), 0 while open.
     * Since 0.23.0. */
    uint32_t closed_at;
} offpay_merchant_info;

/* Most merchants offpay_ledger_merchants gives at once. */
#define OFFPAY_LEDGER_MERCHANTS_MAX 10000u

/*
 * offpay_ledger_merchants — at most max (1..OFFPAY_LEDGER_MERCHANTS_MAX)
 * merchants with an id above after (0: from the first), ascending, into
 * *out (malloc'd, free() it; NULL when none) and *n: an operator finds a
 * merchant's id for its statement or its account here. On a sharded
 * ledger they are read from the directory (shard 0), and each balance
 * sums the account's rows over the shards, one read a shard. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_EOVERFLOW (a balance over the
 * shards), OFFPAY_ESTORE. Since 0.6.0; the balance since 0.15.0.
 */
offpay_err offpay_ledger_merchants(offpay_ledger *l, uint64_t after, size_t max,
                                   offpay_merchant_info **out, size_t *n);

/* Calls fn for each presentment at merchant_id's terminals uploaded in
 * [from, to], in upload order; a non-zero return stops the walk. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND (merchant), OFFPAY_ESTORE. */
offpay_err offpay_ledger_statement(
    offpay_ledger *l, uint64_t merchant_id, uint32_t from, uint32_t to,
    int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx);

/* A payment a revoked terminal uploaded as accepted after its revocation,
 * which settlement refused (settlement.md §8): nothing moved, and the
 * payer keeps the money its code authorized. Since 0.27.0. */
typedef struct offpay_refusal {
    uint32_t   terminal_id;
    uint64_t   serial;
    uint32_t   counter;
    int64_t    charged;     /* what the terminal said it charged */
    offpay_err reason;      /* OFFPAY_ETERMINAL_REVOKED, or since 0.28.0
                               OFFPAY_ENOT_ISSUED */
    uint32_t   accepted_at; /* by the terminal's clock */
    uint32_t   uploaded_at;
} offpay_refusal;

/*
 * offpay_ledger_refusals — calls fn for each payment merchant_id's
 * terminals uploaded in [from, to] that was refused and kept as a refusal
 * (a revoked terminal's, accepted after its revocation; since 0.28.0 also
 * one of a credential the ledger did not issue, taken within its
 * terminal's term; each once, however often it was sent), by upload time on
 * each shard, shard by shard; a non-zero return stops the walk. They are part
 * of neither a statement's lines nor its totals (no money moved): a merchant's
 * statement and the operator's report say them apart. Errors: OFFPAY_EINVAL,
 * OFFPAY_ESTORE. Since 0.27.0.
 */
offpay_err offpay_ledger_refusals(offpay_ledger *l, uint64_t merchant_id,
                                  uint32_t from, uint32_t to,
                                  int (*fn)(const offpay_refusal *r, void *ctx),
                                  void *ctx);

/* The merchant's account as a statement read it. The lines are
 * presentments by their upload time; the period's movements below are the
 * account's transfers by each transfer's own time (its `at`), so a refund
 * booked in January of a December sale is in January's movements, and a
 * closed period's figures never change afterwards. All in minor units. */
typedef struct offpay_statement_account {
    uint64_t account;
    uint16_t currency;
    int64_t  balance; /* when the lines were read (now) */
    /* the balance at from (every transfer before from) and at to (every
     * transfer until to, to included) */
    int64_t opening_balance, closing_balance;
    /* the transfers in [from, to] summed by kind, from the account's side
     * (out < 0): settle (payments), refund, deposit (a funded refund's
     * among them), withdraw, and any other kind; opening_balance plus
     * these five is closing_balance, exactly */
    int64_t settled, refunds, deposits, withdrawals, other;
} offpay_statement_account;

/* offpay_ledger_statement, and into *acct the merchant's account and its
 * balance from the same read as the lines: the balance holds what the
 * lines paid and refunded, and nothing settled after them. (On a sharded
 * ledger, shard by shard: each shard's lines and its part of the balance
 * together.) Since 0.8.0; the period's figures of *acct (opening_balance
 * to other) since 0.14.0. */
offpay_err offpay_ledger_statement_with(
    offpay_ledger *l, uint64_t merchant_id, uint32_t from, uint32_t to,
    int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx,
    offpay_statement_account *acct);

/*
 * offpay_ledger_statement_period — offpay_ledger_statement_with, and move
 * (when not NULL) called for each of the merchant account's transfers in
 * [from, to] by the transfer's own time that is not a payment's settle
 * transfer (refunds with their presentment, deposits, withdrawals, any
 * other), ascending by time then id (on a sharded ledger shard after
 * shard); a non-zero return of move stops that list, not the read. *acct
 * gets the period's opening and closing balances and sums (read in the
 * same transaction as the lines, shard by shard, summed). Errors as
 * offpay_ledger_statement_with (OFFPAY_EOVERFLOW when a sum over the
 * shards would).
 */
struct offpay_account_transfer; /* below, with offpay_ledger_transfers */
offpay_err offpay_ledger_statement_period(
    offpay_ledger *l, uint64_t merchant_id, uint32_t from, uint32_t to,
    int (*fn)(const offpay_statement_line *line, void *ctx),
    int (*move)(const struct offpay_account_transfer *t, void *ctx), void *ctx,
    offpay_statement_account *acct);

/* ---- refunds (docs/settlement.md §13) ------------------------------- */

/* A refund as offpay_ledger_refund booked it (or found it booked). */
typedef struct offpay_refund {
    uint64_t presentment;
    uint16_t currency;
    uint64_t merchant_account;       /* the account it came out of */
    uint64_t wallet_account;         /* the payer's: the code's credential's */
    uint64_t guarantee_account;      /* the presentment's shard's; 0: none
                                        needed */
    int64_t amount;                  /* this refund */
    int64_t to_guarantee, to_wallet; /* of which, back to the guarantee
                                        (what it covered) and to the payer */
    uint64_t transfer;     /* its first refund transfer (the guarantee's part,
                              if any) */
    int64_t deposited;     /* paid in with it by the merchant (funded): amount,
                              or 0 */
    int64_t  paid, covered; /* the presentment's: paid to the merchant, at
                               settlement and since by the guarantee's
                               claims (paid_later, since 0.23.0), and what
                               the guarantee covered at settlement */
    int64_t refunded;      /* refunded in all, this refund included */
} offpay_refund;

/*
 * offpay_ledger_refund — the merchant gives back amount (> 0) of what
 * presentment was paid: `refund` transfers out of the merchant's account,
 * tagged with the presentment and ref (at most 128 bytes, may be NULL),
 * first into the guarantee account for what the guarantee covered of it
 * and not yet got back, the rest into the wallet account the code's
 * credential was issued from. A presentment is refunded in as many parts
 * as wanted, in all at most what it was paid. On a sharded ledger the
 * refund is booked on the presentment's shard, out of the merchant's row
 * there. funded (non-zero): the merchant paid the amount in from outside
 * (its money was paid out), booked in the same transaction as a deposit
 * into the merchant's account, tagged with the presentment, so the
 * refund never needs the account's balance. Under a request key (key not
 * NULL: offpay_ledger_move_once's keys; the same key space) it is made
 * once: the same key again for the same presentment, amount and funded
 * books nothing, *replayed (may be NULL) is 1 and *out describes the
 * refund the key booked, with the presentment's refunded total of now.
 * out may be NULL.
 * Errors: OFFPAY_EINVAL (amount, ref or key malformed), OFFPAY_ENOTFOUND
 * (no such presentment), OFFPAY_EOVER_REFUND (more than what remains of
 * the payment, or nothing was paid), OFFPAY_EFUNDS (not funded, and the
 * merchant's account, or its row on the presentment's shard, holds less
 * than amount: its money was paid out), OFFPAY_EOVERFLOW (funded, and
 * the deposit would pass OFFPAY_LEDGER_BALANCE_MAX), OFFPAY_EEXISTS (key
 * used for another request), OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_refund(offpay_ledger *l, uint64_t presentment,
                                int64_t amount, int funded, const char *ref,
                                const char *key, uint32_t now,
                                offpay_refund *out, int *replayed);

/* What presentment's refunds stand at, as offpay_ledger_refund would
 * begin from: *out with amount, its parts and transfer 0 (what remains
 * to refund is paid - refunded). Reads only. Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOTFOUND, OFFPAY_ESTORE. */
offpay_err offpay_ledger_refund_state(offpay_ledger *l, uint64_t presentment,
                                      offpay_refund *out);

/* ---- an account's transfers ----------------------------------------- */

/* One transfer of an account, seen from the account's side. */
typedef struct offpay_account_transfer {
    uint64_t            id;
    uint32_t            at;
    char                kind[12]; /* deposit, withdraw, fund (a credential's
                                     allowance into its escrow), settle,
                                     cover (from the guarantee), release,
                                     late, refund (settlement.md §1) */
    int64_t             amount;   /* into the account (> 0) or out (< 0) */
    uint64_t            other;    /* the account on the other side */
    offpay_account_kind other_kind;
    uint64_t            presentment; /* settle, cover, late, refund; else
                                        0 */
    uint64_t            case_id;     /* 0: none */
    char                ref[129];    /* the operator's reference, or "" */
    /* the credential it concerns, through its presentment or the escrow
     * on either side (fund, release, and the others of a payment); 0:
     * none (a deposit or withdrawal of no payment). A refund's case_id is
     * its presentment's case when it has one. (Since 0.15.0, at the end.) */
    uint64_t serial;
    /* who booked it (offpay_ledger_set_actor), or "": a payment's upload,
     * a wallet's own request, or a transfer booked before 0.30.0 (since
     * 0.30.0, at the end) */
    char by[OFFPAY_ACTOR_MAX + 1];
} offpay_account_transfer;

/* Most transfers offpay_ledger_transfers gives at once. */
#define OFFPAY_LEDGER_TRANSFERS_MAX 10000u

/* An account as offpay_ledger_transfers read it with its transfers. */
typedef struct offpay_account_state {
    offpay_account_kind kind;
    uint16_t            currency;
    int64_t             balance;
    uint64_t            serial; /* an escrow's credential; else 0 (since
                                   0.15.0, at the end) */
} offpay_account_state;

/*
 * offpay_ledger_account — account's kind, currency and balance (as
 * offpay_ledger_balance: summed over the shards for a merchant or
 * guarantee account) into *out, and for an escrow account the serial of
 * the credential whose escrow it is. Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOTFOUND (no such account), OFFPAY_EOVERFLOW, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_account(offpay_ledger *l, uint64_t account,
                                 offpay_account_state *out);

/*
 * offpay_ledger_transfers — at most max (1..OFFPAY_LEDGER_TRANSFERS_MAX)
 * transfers into or out of account with an id above after (0: from the
 * first), in ascending id order, into *out (malloc'd, free() it; NULL
 * when none) and *n, and *acct (may be NULL) the account's kind, currency
 * and balance (and an escrow's serial) read with them: an account's
 * history, whose amounts sum to
 * the balance when one page holds it all. A caller pages by passing the last id
 * seen. On a sharded ledger a merchant or guarantee account, which has a
 * row on every shard (the guarantee under each shard's own id), lists
 * each shard's transfers in turn, ids ascending with the shards, and its
 * balance is the sum of the shards' reads; any other account lives on
 * one shard, read once. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (no such
 * account), OFFPAY_ENOMEM, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_transfers(offpay_ledger *l, uint64_t account,
                                   uint64_t after, size_t max,
                                   offpay_account_transfer **out, size_t *n,
                                   offpay_account_state *acct);

/*
 * offpay_ledger_transfers_period — offpay_ledger_transfers of only the
 * transfers whose own time is in [from, to] (both included; 0 and
 * UINT32_MAX: the whole history, which offpayd's GET
 * /v1/admin/accounts/N/transfers gives without from and to), still
 * ascending by id and paged by after: a page holds the first max such
 * transfers above after, so pages of one period join without gaps or
 * repeats. *acct's balance is the account's now, whatever the period.
 * A month's history: from its first second, to its last. Errors as
 * offpay_ledger_transfers, and OFFPAY_EINVAL when from > to.
 */
offpay_err offpay_ledger_transfers_period(offpay_ledger *l, uint64_t account,
                                          uint32_t from, uint32_t to,
                                          uint64_t after, size_t max,
                                          offpay_account_transfer **out,
                                          size_t                   *n,
                                          offpay_account_state     *acct);

/*
 * offpay_ledger_account_period — account's period [from, to] (both
 * included) by each transfer's own time, as a merchant statement gives its
 * account's: into *out its balance now, its balance before from and until
 * to, and the period's transfers summed by kind (settled, refunds,
 * deposits, withdrawals, and every other kind in other: a wallet's fund,
 * release and late, a guarantee's cover and claim), opening_balance plus
 * the five being closing_balance exactly. Any account; a merchant's or
 * guarantee's summed over the shards of a sharded ledger, each shard's
 * read in one transaction. Errors: OFFPAY_EINVAL (from > to),
 * OFFPAY_ENOTFOUND (no such account), OFFPAY_EOVERFLOW, OFFPAY_ESTORE.
 * Since 0.28.0.
 */
offpay_err offpay_ledger_account_period(offpay_ledger *l, uint64_t account,
                                        uint32_t from, uint32_t to,
                                        offpay_statement_account *out);

/* ---- the ledger's balances at past dates --------------------------- */

/* The most currencies, and the most (currency, transfer kind, debit kind,
 * credit kind) movements, a balance sheet holds (docs/settlement.md §10,
 * "Balances at past dates"). */
#define OFFPAY_SHEET_CURRENCIES_MAX 64u
#define OFFPAY_SHEET_FLOWS_MAX      512u

/* A period's transfers of one kind between two kinds of account, in one
 * currency: their count and their sum. */
typedef struct offpay_sheet_flow {
    uint16_t currency;
    char     kind[16];        /* the transfers' kind: deposit, settle, ... */
    offpay_account_kind from; /* the debited accounts' kind */
    offpay_account_kind to;   /* the credited accounts' kind */
    uint64_t            count;
    int64_t             amount;
} offpay_sheet_flow;

/* One currency's accounts by kind (index kind - 1: world, wallet,
 * escrow, merchant, guarantee): their balances summed before the
 * period (opening) and at its end (closing), what the period's transfers
 * brought in and took out, and how many it had. For each kind
 * opening + in - out = closing, and every column sums to zero over the
 * kinds (each transfer debits one account and credits another of its
 * currency). */
typedef struct offpay_sheet_currency {
    uint16_t currency;
    int64_t  opening[5], in[5], out[5], closing[5];
    uint64_t transfers;
} offpay_sheet_currency;

/* The ledger's balances by kind over [from, to] (both included, each
 * transfer by its own time), per currency by its numeric code, and the
 * period's movements by kind, ordered by currency, kind, debit kind and
 * credit kind. more: a currency or movement beyond the arrays was left
 * out (the figures of those kept are whole). */
typedef struct offpay_balance_sheet {
    uint32_t              from, to;
    size_t                n_currencies;
    offpay_sheet_currency currencies[OFFPAY_SHEET_CURRENCIES_MAX];
    size_t                n_flows;
    offpay_sheet_flow     flows[OFFPAY_SHEET_FLOWS_MAX];
    int                   more;
} offpay_balance_sheet;

/*
 * offpay_ledger_balance_sheet — the whole ledger's balances by account
 * kind at a past date, and how a period moved them: into *out, per
 * currency, every account's transfers dated before from summed by its
 * kind (the opening balances), the transfers dated in [from, to] by
 * transfer kind and the kinds of the accounts they debit and credit,
 * and the closing balances at to. With from 0 the opening is nothing; a
 * balance sheet at t is [0, t]'s closing. It reads every transfer dated
 * until to, as the audit reads them all (each shard's in one read
 * transaction; a sharded ledger's summed). Errors: OFFPAY_EINVAL (from >
 * to, or NULL), OFFPAY_EOVERFLOW, OFFPAY_ENOMEM, OFFPAY_ESTORE. Since
 * 0.29.0.
 */
offpay_err offpay_ledger_balance_sheet(offpay_ledger *l, uint32_t from,
                                       uint32_t to, offpay_balance_sheet *out);

/* ---- the audit ----------------------------------------------------- */

/* The most currencies an audit report lists: more than offpay's currency
 * table holds (docs/settlement.md §10). */
#define OFFPAY_AUDIT_CURRENCIES_MAX 64u

/* One currency's money in the audit, in minor units of that currency:
 * minor units of different currencies are never added together (0.13.0's
 * report had one inside and one deposits_net over every currency). */
typedef struct offpay_audit_money {
    uint16_t currency;     /* ISO 4217 numeric */
    int64_t  inside;       /* money inside: its non-world balances' sum */
    int64_t  deposits_net; /* its deposits minus withdrawals */
    int64_t  owed;         /* what the guarantee still owes merchants: the open
                              claims on it (settlement.md §5), paid once it is
                              funded; since 0.15.0 */
} offpay_audit_money;

typedef struct offpay_audit_report {
    /* the money per currency, ascending by currency code: money[0 ..
     * n_money); money_more is 1 when the ledger holds accounts in more
     * currencies than OFFPAY_AUDIT_CURRENCIES_MAX (those not listed are
     * still checked) */
    offpay_audit_money money[OFFPAY_AUDIT_CURRENCIES_MAX];
    size_t             n_money;
    int                money_more;
    uint64_t           money_mismatch; /* currencies whose money inside is
                                          not their deposits less
                                          withdrawals, or (since 0.23.0)
                                          with a deposit or withdrawal
                                          not between the world and an
                                          account of theirs, or another
                                          kind moving the world's money */
    uint64_t accounts;         /* accounts checked */
    uint64_t transfers;        /* transfers read */
    uint64_t imbalanced;       /* currencies whose balances do not sum to 0 */
    uint64_t negative;         /* wallet/escrow/merchant/guarantee below
                                  zero (merchant since 0.16.0) */
    uint64_t escrow_mismatch;  /* stored remaining != derived balance */
    uint64_t settle_mismatch;  /* paid results without exactly one settle
                                  transfer of their amount, or settle
                                  transfers without a result; results
                                  whose covered part differs from their
                                  cover transfers, or cover transfers
                                  without a result */
    uint64_t release_mismatch; /* released escrows not released once, or
                                  not empty after it */
    uint64_t request_mismatch; /* request keys naming nothing their
                                  request booked (a transfer of its kind,
                                  a credential of its account and limit) */
    uint64_t refund_mismatch;  /* refund transfers not from their
                                  presentment's merchant to its payer or
                                  the guarantee; presentments refunded
                                  beyond what was paid, or beyond the
                                  covered part into the guarantee; refund
                                  transfers to the payer booked before the
                                  guarantee had its cover back
                                  (settlement.md §13); since 0.6.0 */
    uint32_t newest_transfer_at; /* the newest transfer's time (0: none):
                                    how recent a ledger, or a backup, is;
                                    since 0.12.0 */
    uint64_t mark_mismatch;      /* balance marks other than their
                                    account's transfers up to them, and
                                    transfer marks earlier than a transfer
                                    up to them (offpay_ledger_marks);
                                    since 0.17.0 */
    uint64_t case_mismatch;      /* cases whose closed_at is not their
                                    newest closing's time (or is set with
                                    no closing newest), and closings or
                                    reopenings not alternating (a close
                                    after a close, a reopen first or
                                    after a reopen); since 0.24.0 */
    uint64_t result_mismatch;    /* results whose figures do not hold
                                    together (not 0 <= covered <= paid
                                    <= charged, a reason without a
                                    shortfall or the reverse, an outcome
                                    its figures contradict, a charge
                                    above the code's amount), and
                                    payments whose charged is not their
                                    presentments' paid summed; since
                                    0.25.0 */
    uint64_t fund_mismatch;      /* credentials not funded exactly once
                                    by their limit from their wallet
                                    account, and fund transfers into no
                                    credential's escrow; since 0.25.0 */
    uint64_t trail_mismatch;     /* who booked a transfer or took a case
                                    step, where the record of what
                                    operators did says otherwise
                                    (settlement.md §10, rule 12); since
                                    0.31.0, at the end */
} offpay_audit_report;

/* Recomputes every balance from the transfers and checks
 * docs/settlement.md §10. Returns OFFPAY_EAUDIT when any count of r other
 * than the totals is non-zero; r is filled either way. */
offpay_err offpay_ledger_audit(offpay_ledger *l, offpay_audit_report *r);

/* ---- cases and evidence (docs/settlement.md §9) --------------------- */

typedef enum offpay_case_kind {
    OFFPAY_CASE_DUPLICATE = 1,    /* one code presented by two terminals */
    OFFPAY_CASE_DOUBLE_SPEND = 2, /* two codes, one (serial, counter) */
    OFFPAY_CASE_OVERSPEND = 3,    /* charges beyond the credential's limit */
    OFFPAY_CASE_RECEIPT_MISMATCH = 4, /* a receipt differs from the upload */
    OFFPAY_CASE_CHARGE_MISMATCH = 5   /* a terminal's key uploaded one
                                         payment with two charges: no
                                         evidence file (settlement.md §9) */
} offpay_case_kind;

/* "duplicate", "double_spend", "overspend", "receipt_mismatch",
 * "charge_mismatch"; NULL for
 * anything else. */
const char *offpay_case_kind_name(offpay_case_kind k);
/* The kind named name (as above). Errors: OFFPAY_EINVAL. */
offpay_err offpay_case_kind_from_name(const char *name, offpay_case_kind *k);

/* bytes of a case's note, resolution or reason to reopen, and of the name
 * of who took the step (027_case_notes) */
#define OFFPAY_CASE_TEXT_MAX   1000u
#define OFFPAY_CASE_AUTHOR_MAX 64u
/* seconds within which a step equal to the case's newest is that step
 * sent again (offpay_ledger_case_act) */
#define OFFPAY_CASE_RESEND_WINDOW 600u

/* A case as the ledger records it. */
typedef struct offpay_case_info {
    uint64_t         id;
    offpay_case_kind kind;
    uint64_t         serial;  /* the credential it is opened against */
    uint32_t         counter; /* of the payment whose presentment opened it */
    uint64_t         payment; /* that payment's id ((serial, counter)) */
    uint64_t         presentment; /* the presentment that opened it */
    uint32_t         terminal_id; /* the terminal that uploaded it */
    uint32_t         opened_at;
    /* Since 0.24.0: when it was last closed (offpay_ledger_case_act), 0
     * while open, and that closing's words (its resolution; "" while
     * open). */
    uint32_t closed_at;
    char     resolution[OFFPAY_CASE_TEXT_MAX + 1];
} offpay_case_info;

/* Which cases a list holds, by their state (since 0.24.0). */
typedef enum offpay_case_state {
    OFFPAY_CASES_ANY = 0,
    OFFPAY_CASES_OPEN = 1,  /* never closed, or reopened since */
    OFFPAY_CASES_CLOSED = 2 /* closed, not reopened since */
} offpay_case_state;

/* Which cases to list: every field 0 means "any". */
typedef struct offpay_case_filter {
    uint64_t          serial;   /* this credential only */
    offpay_case_kind  kind;     /* this kind only */
    uint32_t          since;    /* opened at or after this time */
    uint64_t          after_id; /* ids above this one (paging) */
    offpay_case_state state;    /* since 0.24.0 */
} offpay_case_filter;

/*
 * offpay_ledger_cases — at most max cases matching f (NULL: all), in
 * ascending id order, into *out (malloc'd, free() it; NULL when none) and
 * *n. A caller pages by passing the last id seen as f->after_id. Errors:
 * OFFPAY_EINVAL (max 0, an unknown kind or state), OFFPAY_ENOMEM,
 * OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_cases(offpay_ledger *l, const offpay_case_filter *f,
                               size_t max, offpay_case_info **out, size_t *n);

/* One case by id. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_ESTORE. */
offpay_err offpay_ledger_case(offpay_ledger *l, uint64_t id,
                              offpay_case_info *out);

/* ---- working a case (docs/operations.md "Working a case"; since 0.24.0) */

/* What an operator did about a case: each step is kept, in order, never
 * changed nor removed (027_case_notes). */
typedef enum offpay_case_action {
    OFFPAY_CASE_NOTE = 1,  /* words kept with the case; its state stays */
    OFFPAY_CASE_CLOSE = 2, /* closed: the words are its resolution */
    OFFPAY_CASE_REOPEN = 3 /* open again: the words say why */
} offpay_case_action;

/* "note", "close", "reopen"; NULL for anything else. */
const char *offpay_case_action_name(offpay_case_action a);
/* The action named name (as above). Errors: OFFPAY_EINVAL. */
offpay_err offpay_case_action_from_name(const char         *name,
                                        offpay_case_action *a);

/* One step of a case. */
typedef struct offpay_case_note {
    uint64_t           id; /* ascending within its case: the order taken */
    uint64_t           case_id;
    offpay_case_action action;
    uint32_t           at; /* the clock of the process that took it */
    char               text[OFFPAY_CASE_TEXT_MAX + 1];
    /* who took it, as the operator's tool named them: not an identity the
     * ledger checked */
    char author[OFFPAY_CASE_AUTHOR_MAX + 1];
} offpay_case_note;

/*
 * offpay_ledger_case_act — records action on case case_id at now, with
 * text (1 to OFFPAY_CASE_TEXT_MAX bytes of UTF-8 an operator reads: no
 * control character, no invisible or bidirectional mark) by author (1 to
 * OFFPAY_CASE_AUTHOR_MAX bytes of such text): a note, a closing (the case
 * leaves the open ones; text is its resolution) or a reopening. The step
 * is kept in *out (may be NULL). A step whose action, text and author are
 * those of the case's newest step, at most OFFPAY_CASE_RESEND_WINDOW
 * seconds after it, is taken as that step sent again (an answer lost):
 * nothing is added, *out is that step and *replayed (may be NULL) is 1;
 * later, the same words are a step of their own. Errors: OFFPAY_EINVAL
 * (case_id or now 0, an unknown action, text or author NULL, empty, too
 * long or not such text), OFFPAY_ENOTFOUND (no such case),
 * OFFPAY_ECASE_CLOSED (closing a case that is closed), OFFPAY_ECASE_OPEN
 * (reopening a case that is open), OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_case_act(offpay_ledger *l, uint64_t case_id,
                                  offpay_case_action action, const char *text,
                                  const char *author, uint32_t now,
                                  offpay_case_note *out, int *replayed);

/*
 * offpay_ledger_case_notes — the steps of case case_id after step id
 * after (0: from its first), oldest first, at most max
 * (OFFPAY_CASE_NOTES_PAGE_MAX), into *out (malloc'd, free() it; NULL when
 * none) and *n. Errors: OFFPAY_EINVAL (case_id 0, max 0 or above the
 * page), OFFPAY_ENOTFOUND (no such case), OFFPAY_ENOMEM, OFFPAY_ESTORE.
 */
#define OFFPAY_CASE_NOTES_PAGE_MAX 1000u
offpay_err offpay_ledger_case_notes(offpay_ledger *l, uint64_t case_id,
                                    uint64_t after, size_t max,
                                    offpay_case_note **out, size_t *n);

/*
 * offpay_ledger_cases_open — how many cases are open (never closed, or
 * reopened since their last closing) into *n, and the earliest time one
 * of them was opened into *oldest_opened_at (0 when none), over every
 * shard: what an operator's monitoring watches (offpayd's /metrics).
 * Since 0.25.0. Errors: OFFPAY_EINVAL, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_cases_open(offpay_ledger *l, uint64_t *n,
                                    uint32_t *oldest_opened_at);

/* The evidence file (docs/settlement.md §9): one JSON object, version 1,
 * within these bounds. */
#define OFFPAY_EVIDENCE_VERSION          1
#define OFFPAY_EVIDENCE_MAX_BYTES        (4u * 1024u * 1024u)
#define OFFPAY_EVIDENCE_CODES_MAX        1000u
#define OFFPAY_EVIDENCE_PRESENTMENTS_MAX 2000u
#define OFFPAY_EVIDENCE_TERMINALS_MAX    250u
#define OFFPAY_EVIDENCE_RECEIPTS_MAX     2000u
#define OFFPAY_EVIDENCE_BUNDLE_MAX       (14 + OFFPAY_BUNDLE_KEYS_MAX * 42 + 64)

/*
 * offpay_ledger_evidence — case_id exported as one self-contained evidence
 * file: the payment codes' exact bytes, bundle (the trust bundle naming
 * the issuer keys, signed by the root: the caller's copy, e.g. the
 * issuer's bundle.opb; it is decoded, not verified), the terminal
 * credentials involved with what each terminal charged and when it
 * accepted (in a receipt_mismatch file, the terminal's own upload even
 * when a receipt stood for it first and moved the money), and the
 * receipts the ledger holds for the counters of those codes. *out is
 * malloc'd (free() it), *len its size (no NUL counted; one is appended).
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (no such case), the bundle
 * decoder's errors, OFFPAY_EUNKNOWN_KID (a code or terminal credential
 * names a key the bundle lacks), OFFPAY_ETOOBIG (more than the caps),
 * OFFPAY_ENOMEM, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_evidence(offpay_ledger *l, uint64_t case_id,
                                  const uint8_t *bundle, size_t bundle_len,
                                  char **out, size_t *len);

/* One presentment named by a verified evidence file. */
typedef struct offpay_evidence_party {
    size_t   code;        /* index of the code in the file */
    uint32_t counter;     /* that code's counter */
    uint32_t amount;      /* that code's authorized amount */
    uint32_t terminal_id; /* the terminal that presented it */
    uint64_t merchant_id; /* its merchant, and the merchant's name */
    char     merchant_name[OFFPAY_NAME_MAX + 1];
    int64_t  charged; /* what the terminal charged, minor units */
    uint32_t accepted_at;
} offpay_evidence_party;

/* What a verified evidence file proves (see offpay_evidence_verify). */
typedef struct offpay_evidence_report {
    uint64_t         case_id;
    offpay_case_kind kind;
    uint32_t         opened_at;
    uint64_t         serial; /* the credential, as the issuer signed it */
    uint8_t          wallet_pk[OFFPAY_PK_BYTES];
    int64_t          limit;
    uint16_t         currency;
    uint32_t         bundle_seq;
    size_t           n_codes, n_presentments, n_terminals, n_receipts;
    /* duplicate: the first two terminals that presented the one code;
     * double_spend: a presentment of each of the two codes;
     * receipt_mismatch: the case's presentment, the terminal's upload as
     * the ledger records it (a), and the receipt of that terminal's key
     * that contradicts it (b: charged is the receipt's amount,
     * accepted_at the receipt's time) */
    offpay_evidence_party a, b;
    int64_t total;  /* overspend: the charges counted (each presentment's
                       at most its code's authorized amount), > limit */
    int64_t total_once; /* overspend: the same, each code counted once (at
                           its largest charge, a bound code at its first
                           presentment): > limit, the codes alone prove
                           the payer spent beyond it */
    size_t receipt; /* receipt_mismatch: the index in the file of the
                       receipt (b) that contradicts the upload (a) */
    char why[256];  /* on an error: what did not verify, in words */
} offpay_evidence_report;

/*
 * offpay_evidence_verify — checks an evidence file offline against the
 * root public key and nothing else: the format (strict, bounded); the
 * trust bundle under root_pk; every code's wallet credential under the
 * bundle's key for its kid at the time its terminal accepted it, and the
 * wallet's signature; every terminal credential the same way; every
 * receipt (its terminal credential and signature at its own time, a
 * counter of the file's codes, the key of the file's credential of its
 * terminal id); then that the codes and presentments prove the case's kind
 * (docs/settlement.md §9). r is filled on success; on an error r->why says
 * what failed. Pure: no I/O, thread-safe. Errors: OFFPAY_EINVAL,
 * OFFPAY_ETOOBIG, OFFPAY_EMALFORMED (not an evidence file of this
 * format), OFFPAY_EVERSION, the decoders' errors of an embedded message,
 * OFFPAY_EBUNDLE_SIG, OFFPAY_EUNKNOWN_KID, OFFPAY_EKID_EXPIRED,
 * OFFPAY_ECRED_SIG, OFFPAY_ECODE_SIG, OFFPAY_EEVIDENCE (everything
 * verifies but does not prove the kind it names, or does not hang
 * together).
 */
OFFPAY_WUR offpay_err offpay_evidence_verify(
    const uint8_t *file, size_t len, const uint8_t root_pk[OFFPAY_PK_BYTES],
    offpay_evidence_report *r);

/* ---- wallet uploads and receipts (docs/settlement.md §3, §7) ------- */

/* Most receipts one uploaded code carries (a wallet keeps at most 4 per
 * code: OFFPAY_WALLET_RECEIPTS_PER_CODE). */
#define OFFPAY_SETTLE_RECEIPTS_MAX 4

/* The largest receipt code (docs/protocol.md §2.7: 209 + name bytes). */
#define OFFPAY_SETTLE_RECEIPT_MAX_BYTES (209 + OFFPAY_NAME_MAX)

/* One code of a wallet's spend log, as uploaded with its receipts. */
typedef struct offpay_wallet_item {
    const uint8_t *code; /* the payment code's exact bytes */
    size_t         code_len;
    size_t         n_receipts; /* 0..OFFPAY_SETTLE_RECEIPTS_MAX */
    const uint8_t *receipt[OFFPAY_SETTLE_RECEIPTS_MAX]; /* exact bytes */
    size_t         receipt_len[OFFPAY_SETTLE_RECEIPTS_MAX];
} offpay_wallet_item;

typedef enum offpay_receipt_outcome {
    OFFPAY_RECEIPT_REJECTED = 0, /* failed a check (reason); not kept */
    OFFPAY_RECEIPT_SETTLED = 1,  /* no upload of its terminal yet: it stood
                                    for it and settled the payment (settle) */
    OFFPAY_RECEIPT_WAITING = 2,  /* kept: another receipt of its terminal
                                    stood for the upload; checked when the
                                    terminal uploads */
    OFFPAY_RECEIPT_AGREED = 3,   /* the terminal's upload charged the same */
    OFFPAY_RECEIPT_MISMATCH = 4  /* it charged another amount: a
                                    receipt_mismatch case (case_id) */
} offpay_receipt_outcome;

typedef struct offpay_receipt_result {
    offpay_receipt_outcome outcome;
    offpay_err             reason;      /* why REJECTED; else OFFPAY_OK */
    uint32_t               terminal_id; /* 0 if rejected before known */
    int64_t                amount;      /* what the receipt says it charged */
    int64_t  claimed; /* AGREED/MISMATCH: what the terminal's upload says */
    uint64_t case_id; /* MISMATCH: the case */
    int      replay;  /* 1: this receipt was uploaded before; nothing moved */
    offpay_settle_result settle; /* SETTLED (and a replay of it): the
                                    settlement the receipt made */
} offpay_receipt_result;

/* What the ledger holds about one uploaded code, after its receipts. */
typedef struct offpay_wallet_result {
    /* OFFPAY_OK: the code verified, belongs to the signer, and some
     * terminal (or a receipt) presented it: outcome says how it settled.
     * OFFPAY_ENOT_SETTLED: valid, but nobody presented it yet (moves
     * nothing). Else why the code was rejected; its receipts were not
     * judged (each REJECTED with the same reason). */
    offpay_err            reason;
    offpay_settle_outcome outcome; /* SETTLED, GUARANTEED, DUPLICATE (more
                                      than one terminal), DOUBLE_SPEND (the
                                      ledger holds other bytes for its
                                      counter), UNPAID; REJECTED otherwise */
    uint64_t serial;
    uint32_t counter;
    uint32_t presentments; /* terminals that presented it (receipts too) */
    int64_t  paid;         /* credited to merchants for it, in all */
    int64_t  covered;      /* of which the guarantee paid */
    size_t   n_receipts;
    offpay_receipt_result receipt[OFFPAY_SETTLE_RECEIPTS_MAX];
    int64_t refunded; /* of paid, given back to the payer's wallet account
                         by the merchants' refunds (settlement.md §13; what
                         went back to the guarantee is not counted); since
                         0.6.0 */
} offpay_wallet_result;

/*
 * offpay_ledger_wallet_upload — judge n codes uploaded by the wallet whose
 * key is wallet_pk (the caller authenticated the request: docs/api.md),
 * each in its own transaction, by docs/settlement.md §3 and §7:
 *  - the code must decode, its credential verify under the trust bundle
 *    (issuer key valid at the code's time), the wallet's signature verify,
 *    its credential be issued by this ledger (OFFPAY_ENOT_ISSUED) to
 *    wallet_pk (another wallet's code: OFFPAY_ENOT_ISSUED);
 *  - each receipt must decode and verify (issuer chain at its own time,
 *    the terminal's signature; OFFPAY_ECODE_FUTURE beyond the skew), name
 *    the code (serial, counter; a bound code's merchant; currency; amount
 *    at most the authorized one: else OFFPAY_ERECEIPT_MISMATCH) and a
 *    terminal registered in the ledger with that key and merchant
 *    (OFFPAY_ENOTFOUND); then it is compared with the terminal's own
 *    upload, or stands for it (SETTLED, the rules of §4 at the receipt's
 *    amount and time), or waits for it.
 * Uploading the same code and receipts again moves nothing (replay).
 * A terminal upload later compares itself with the waiting receipts
 * (offpay_ledger_settle). res[i] is the result of items[i]. Returns
 * OFFPAY_OK when every item reached a result; on an error return the
 * items before *done (may be NULL) are decided and durable, the rest not.
 * Errors: OFFPAY_EINVAL (NULL, n == 0, more than
 * OFFPAY_SETTLE_RECEIPTS_MAX receipts), OFFPAY_ECRYPTO (no trust set),
 * OFFPAY_ESTORE, OFFPAY_ENOMEM.
 */
offpay_err offpay_ledger_wallet_upload(offpay_ledger *l,
                                       const uint8_t wallet_pk[OFFPAY_PK_BYTES],
                                       const offpay_wallet_item *items,
                                       size_t n, uint32_t now,
                                       offpay_wallet_result *res, size_t *done);

/* OFFPAY_OK when the ledger issued a credential to wallet key pk, else
 * OFFPAY_ENOTFOUND (offpayd refuses a wallet request from any other key).
 * Errors: OFFPAY_EINVAL, OFFPAY_ESTORE. */
offpay_err offpay_ledger_wallet_known(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES]);

/* ---- the operator's overview (docs/dashboard.md, src/settle/overview.c) */

#define OFFPAY_OVERVIEW_BUCKETS_MAX   744u  /* 31 days of hours */
#define OFFPAY_OVERVIEW_TERMINALS_MAX 1000u /* terminals listed, live first */
#define OFFPAY_OVERVIEW_REVOKED_MAX   1000u /* newest revocations listed */
/* bytes of a revocation reason: the ledger's own bound, so a reason is
 * shown whole (64 before 0.19.0, which cut longer ones) */
#define OFFPAY_OVERVIEW_REASON_MAX OFFPAY_LEDGER_REF_MAX

/* The money of one kind of account in one currency. */
typedef struct offpay_overview_kind {
    offpay_account_kind kind;
    uint16_t            currency;
    uint64_t            accounts; /* how many accounts of the kind */
    int64_t             balance;  /* their balances' sum, minor units */
} offpay_overview_kind;

/* Presentments uploaded in [start, start + width) with one outcome. */
typedef struct offpay_overview_bucket {
    uint32_t              start;
    uint16_t              currency;
    offpay_settle_outcome outcome;
    uint64_t              count;
    int64_t               charged, paid, covered; /* sums, minor units */
} offpay_overview_bucket;

/* Longest label an operator gives a terminal (where it stands), in bytes
 * without the NUL (since 0.27.0; offpay_ledger_terminal_label). */
#define OFFPAY_TERMINAL_LABEL_MAX 64

/* Longest state a terminal reports, with its NUL: an offpay error name
 * ("ESYNC_REQUIRED") or "OK". */
#define OFFPAY_TERMINAL_STATE_MAX 32

/* What a terminal reported at its last sync (offpay_ledger_terminal_report;
 * POST /v1/terminal/status). */
typedef struct offpay_terminal_report {
    int      reported;    /* 0: it never did (the rest 0) */
    uint32_t reported_at; /* offpayd's clock when it reported */
    uint32_t synced_at;   /* the terminal's clock at that sync */
    uint64_t pending;     /* journal entries not uploaded, or not decided
                             by offpayd, then */
    /* Since 0.27.0, from terminals of 0.27.0 and later: state_known 0 for
     * an older terminal's report, and the three below then 0 and "". */
    int state_known;
    /* what a payment met at the terminal then, before any code was read
     * (offpay_terminal_status.state's name): "OK" while it accepts, else
     * an error name such as "ESYNC_REQUIRED" or "EREVLIST_STALE" */
    char state[OFFPAY_TERMINAL_STATE_MAX];
    /* when it last took offpayd's trust bundle and revocation list, as it
     * records its sync: by its clock, or by offpayd's when its own ran
     * ahead (offpay_terminal_status.last_sync); 0: never */
    uint32_t lists_at;
    int64_t  pending_amount; /* the pending payments' charges summed, in
                                minor units of the terminal's currency */
} offpay_terminal_report;

/* A terminal as the operator watches it. */
typedef struct offpay_overview_terminal {
    uint32_t terminal_id;
    uint64_t merchant_id;
    char     merchant_name[OFFPAY_NAME_MAX + 1];
    uint16_t currency;
    uint32_t created_at;
    int      revoked;
    uint32_t revoked_at;
    /* why, whole, as offpay_ledger_terminal_entry's (since 0.18.0); ""
     * while active or when the ledger holds none */
    char     revoke_reason[OFFPAY_LEDGER_REF_MAX + 1];
    uint64_t presentments; /* uploaded by it, all time */
    uint32_t last_upload;  /* its newest presentment's upload time; 0: none */
    /* what the terminal itself reported at its last sync
     * (offpay_ledger_terminal_report); report.reported 0: it never did
     * (before 0.27.0 its four first fields stood here alone) */
    offpay_terminal_report report;
    /* the operator's label ("" for none; since 0.27.0) */
    char label[OFFPAY_TERMINAL_LABEL_MAX + 1];
} offpay_overview_terminal;

/* A revoked credential. */
typedef struct offpay_overview_revoked {
    uint64_t serial;
    uint64_t wallet_account;
    uint16_t currency;
    uint32_t revoked_at;
    /* why, whole, as the ledger keeps it (at most OFFPAY_LEDGER_REF_MAX
     * bytes; a longer one, written behind the ledger's back, is cut
     * between two characters) */
    char     reason[OFFPAY_OVERVIEW_REASON_MAX + 1];
    int64_t  remaining; /* what its escrow still holds */
    int      released;  /* the escrow went back to the wallet account */
} offpay_overview_revoked;

/* One read of the ledger: arrays malloc'd with the struct (NULL when
 * empty); free with offpay_overview_free. */
typedef struct offpay_overview {
    uint32_t                  now, from, width; /* the buckets' range */
    offpay_overview_kind     *kinds;            /* by kind, then currency */
    size_t                    n_kinds;
    offpay_overview_bucket   *buckets; /* by start, currency, outcome */
    size_t                    n_buckets;
    offpay_overview_terminal *terminals; /* live ones first, each by id; at
                                            most _TERMINALS_MAX */
    size_t                    n_terminals;
    offpay_overview_revoked  *revoked; /* newest first, at most _REVOKED_MAX */
    size_t                    n_revoked;
    /* 1: the ledger holds more rows than the array lists (the cap) */
    int kinds_more, buckets_more, terminals_more, revoked_more;
} offpay_overview;

/*
 * offpay_ledger_overview — what the operator's dashboard shows, read in
 * one read transaction: money by account kind, presentments uploaded in
 * [from, now] in buckets of width seconds (from is rounded down to a
 * multiple of width), every terminal with its last upload and its last
 * report, and the newest revoked credentials. *out is malloc'd (free
 * with offpay_overview_free). Errors: OFFPAY_EINVAL (width 0, from > now,
 * more than OFFPAY_OVERVIEW_BUCKETS_MAX buckets), OFFPAY_ENOMEM,
 * OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_overview(offpay_ledger *l, uint32_t from,
                                  uint32_t width, uint32_t now,
                                  offpay_overview **out);
/* Frees o and its arrays; NULL is a no-op. */
void offpay_overview_free(offpay_overview *o);

/*
 * offpay_ledger_terminal_report — records what terminal_id reported when
 * it synced (*r: reported_at offpayd's clock, synced_at the terminal's,
 * pending its journal entries not uploaded yet, and from a terminal of
 * 0.27.0 on, state_known 1 with its state, lists_at and pending_amount;
 * r->reported is not read). The newest report replaces the one before.
 * Errors: OFFPAY_EINVAL (pending above INT64_MAX, a negative
 * pending_amount or one above 0 with pending 0, a state not of capitals,
 * digits and '_'),
 * OFFPAY_ENOTFOUND (no such terminal), OFFPAY_ESTORE. Before 0.27.0 it
 * took pending, synced_at and now as arguments.
 */
offpay_err offpay_ledger_terminal_report(offpay_ledger *l, uint32_t terminal_id,
                                         const offpay_terminal_report *r);

/*
 * offpay_ledger_terminal_label — gives terminal_id the operator's label
 * (where it stands: "Central, north gate 3"), replacing the one before;
 * NULL or "" clears it. A rotation carries it to the new terminal
 * (offpay_ledger_terminal_rotate); a revoked terminal keeps it and can
 * still be given one. Errors: OFFPAY_EINVAL (a label over
 * OFFPAY_TERMINAL_LABEL_MAX bytes, on more than one line (U+2028 and
 * U+2029 included), with control or invisible format characters, or a
 * space at either end), OFFPAY_ENOTFOUND (no such terminal),
 * OFFPAY_ESTORE. Since 0.27.0.
 */
offpay_err offpay_ledger_terminal_label(offpay_ledger *l, uint32_t terminal_id,
                                        const char *label, uint32_t now);

/*
 * offpay_terminal_report_lists_time — when the lists r's terminal held
 * at its report were taken, on offpayd's clock: reported_at less their
 * age then, counted on the terminal's clock (synced_at - lists_at), or on
 * offpayd's when the terminal's ran ahead, whose sync it records at
 * offpayd's time (reported_at - lists_at); created_at (its registration)
 * when it never took them; 0 when not known (no report, or one from a
 * terminal before 0.27.0). Since 0.27.0.
 */
uint32_t offpay_terminal_report_lists_time(const offpay_terminal_report *r,
                                           uint32_t created_at);

/*
 * offpay_ledger_terminal_last_report — terminal_id's last report into
 * *out (reported 0 when it never sent one), read only: what an operator
 * revoking it is told about payments it still held (docs/settlement.md
 * §8). Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (no such terminal),
 * OFFPAY_ESTORE. Since 0.15.0.
 */
offpay_err offpay_ledger_terminal_last_report(offpay_ledger *l,
                                              uint32_t       terminal_id,
                                              offpay_terminal_report *out);

/* Where a terminal stands (offpay_ledger_terminal_entry). */
typedef enum offpay_terminal_state {
    OFFPAY_TERMINAL_ACTIVE = 0,         /* not revoked */
    OFFPAY_TERMINAL_REVOKED = 1,        /* revoked by the operator */
    OFFPAY_TERMINAL_DECOMMISSIONED = 2, /* revoked by its own decommission */
    OFFPAY_TERMINAL_ROTATED = 3         /* revoked by its own rotation to
                                           the terminal rotated_to */
} offpay_terminal_state;

/* A registered terminal as offpay_ledger_terminals lists it: the
 * directory's row, its credential's term and its last report. */
typedef struct offpay_ledger_terminal_entry {
    uint32_t              terminal_id;
    uint64_t              merchant_id;
    char                  merchant_name[OFFPAY_NAME_MAX + 1];
    uint16_t              currency;
    uint8_t               pk[OFFPAY_PK_BYTES];
    uint32_t              created_at; /* registered */
    offpay_terminal_state state;
    uint32_t              revoked_at; /* 0 while active */
    uint32_t              rotated_to; /* OFFPAY_TERMINAL_ROTATED: the new
                                         terminal; else 0 */
    /* why it was revoked, as the ledger keeps it (since 0.18.0): the
     * operator's reason (offpay_ledger_terminal_revoke_why),
     * "decommissioned", or "rotated to terminal N"; "" while active and
     * for a revocation made before 0.18.0 (its reason went to offpayd's
     * log only) */
    char revoke_reason[OFFPAY_LEDGER_REF_MAX + 1];
    /* its terminal credential's term; both 0 when the ledger holds no
     * credential for it (one registered before the ledger kept them) */
    uint32_t               valid_from, expires;
    offpay_terminal_report report; /* its last sync's report */
    /* the issuer key (kid) that signed its credential, read from the
     * credential's bytes; -1 when the ledger holds no credential for it,
     * as valid_from and expires are then 0 (since 0.19.0) */
    int32_t kid;
    /* the operator's label ("" for none; since 0.27.0) */
    char label[OFFPAY_TERMINAL_LABEL_MAX + 1];
} offpay_ledger_terminal_entry;

/* Most terminals offpay_ledger_terminals gives at once. */
#define OFFPAY_LEDGER_TERMINALS_MAX 10000u

/*
 * offpay_ledger_terminals — at most max (1..OFFPAY_LEDGER_TERMINALS_MAX)
 * terminals with an id above after (0: from the first), ascending by id,
 * of merchant_id only when it is not 0, into *out (malloc'd, free() it;
 * NULL when none) and *n: the operator's list of terminals, a page at a
 * time, live and revoked alike. Read in one read transaction on the
 * directory (shard 0 of a sharded ledger, which holds the terminals,
 * their revocations and their reports: settlement.md §11). Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND (merchant_id is no merchant),
 * OFFPAY_ENOMEM, OFFPAY_ESTORE. Since 0.17.0.
 */
offpay_err offpay_ledger_terminals(offpay_ledger *l, uint64_t merchant_id,
                                   uint32_t after, size_t max,
                                   offpay_ledger_terminal_entry **out,
                                   size_t                        *n);

/* ---- what each issuer key signed (docs/operations.md §6) ------------- */

/* Most live terminals of one key offpay_ledger_keys names by id. */
#define OFFPAY_LEDGER_KEY_TERMINALS_SHOWN 100u

/* One issuer signing key (kid) as offpay_ledger_keys gives it: what of
 * the ledger's a retirement of it would touch. */
typedef struct offpay_ledger_key_use {
    uint16_t kid;
    /* 1: a key of the trust bundle the ledger was given
     * (offpay_ledger_set_trust), valid_from..valid_until its window; 0:
     * not in it, or the ledger was given none (both times 0) */
    int      in_bundle;
    int      signing; /* 1: the key the ledger signs with */
    uint32_t valid_from, valid_until;
    /* the live terminals whose credential it signed: not revoked, their
     * credential not expired at now; the first of them by id in
     * terminal_ids[0 .. min(terminals, OFFPAY_LEDGER_KEY_TERMINALS_SHOWN)) */
    uint32_t terminals;
    uint32_t terminal_ids[OFFPAY_LEDGER_KEY_TERMINALS_SHOWN];
    /* the wallet credentials it signed that the ledger has not released
     * (their escrow still held: codes made with them may still be
     * uploaded), and of those the ones not expired at now; the latest
     * ledger expiry among them and when the release job returns that
     * one's escrow (expiry plus the upload grace); all 0 when none, or
     * when the credentials were not read */
    uint64_t credentials, credentials_live;
    uint32_t credentials_expire, release_due;
} offpay_ledger_key_use;

/*
 * offpay_ledger_keys — every issuer key that signed the credential of a
 * live terminal or a wallet credential not released yet, with every key
 * of the ledger's trust bundle (when it was given one), ascending by kid,
 * into *out (malloc'd, free() it; NULL when none) and *n: what an
 * operator reads before retiring a key (a retired key's terminals are no
 * longer paid, and codes of its credentials are refused at settlement:
 * docs/operations.md §6). The kid is read from each credential's signed
 * bytes. The terminals are read from the directory, a page at a time
 * (every registered terminal: they are few); with credentials 1, the
 * wallet credentials not released are read too, once each, on every
 * shard: one read of the unreleased credentials (through the partial
 * index of 001_ledger) per call, which grows with them (docs/api.md, GET
 * /v1/admin/keys); with credentials 0 they are not (their fields 0), for
 * a check of the terminals alone. Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM,
 * OFFPAY_ESTORE. Since 0.19.0.
 */
offpay_err offpay_ledger_keys(offpay_ledger *l, uint32_t now, int credentials,
                              offpay_ledger_key_use **out, size_t *n);

/*
 * offpay_ledger_credential_bytes — wallet credential serial as the ledger
 * signed it (OFFPAY_WALLET_CRED_BYTES, its exact bytes: decode them with
 * offpay_wallet_cred_decode for its kid), into bytes. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOT_ISSUED, OFFPAY_ESTORE. Since 0.19.0.
 */
offpay_err
offpay_ledger_credential_bytes(offpay_ledger *l, uint64_t serial,
                               uint8_t bytes[OFFPAY_WALLET_CRED_BYTES]);

/*
 * offpay_ledger_revoked_expiries — for each of the n serials, the signed
 * expiry of the wallet credential when the ledger holds it revoked (from
 * the credential's own bytes, not the ledger's expiry a lost wallet's
 * report brought forward), else 0: into expires[i]. A terminal that holds
 * the serial revoked lets it go once that expiry is more than 15 days
 * before its held list's issued_at (POST /v1/terminal/expiries,
 * docs/protocol.md §5.7). One read a shard.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_ESTORE. Since 0.21.0.
 */
offpay_err offpay_ledger_revoked_expiries(offpay_ledger  *l,
                                          const uint64_t *serials, size_t n,
                                          uint32_t *expires);

/* ---- shards (docs/scaling.md "Sharding by credential serial") -------- */

#define OFFPAY_SHARDS_MAX     16
#define OFFPAY_SHARD_URL_MAX  512
#define OFFPAY_SHARD_LINE_MAX 1024
#define OFFPAY_SHARD_FILE_MAX 65536

/* One shard: a PostgreSQL database and the ids it assigns, first..last
 * (credential serials, account ids and every other row id it creates). */
typedef struct offpay_shard_spec {
    uint64_t first, last;
    char     url[OFFPAY_SHARD_URL_MAX + 1];
} offpay_shard_spec;

typedef struct offpay_shard_config {
    size_t            n;
    offpay_shard_spec shard[OFFPAY_SHARDS_MAX];
} offpay_shard_config;

/*
 * offpay_shard_config_parse — a shard map's text (len bytes, no NUL):
 * lines "shard FIRST-LAST URL", blank lines and "#" comments; words are
 * separated by one or more spaces or tabs. FIRST and LAST are decimal
 * without sign or leading zero, 1 <= FIRST <= LAST <= 2^63 - 1; ranges
 * ascend in file order without overlapping; URL is a PostgreSQL URL
 * ("postgresql://" or "postgres://", printable ASCII, at most
 * OFFPAY_SHARD_URL_MAX bytes, named once). The first line's shard is
 * shard 0, the directory (docs/scaling.md). At most OFFPAY_SHARDS_MAX
 * shards, lines of at most OFFPAY_SHARD_LINE_MAX bytes, a text of at most
 * OFFPAY_SHARD_FILE_MAX bytes. On an error *line (may be NULL) is the
 * 1-based line at fault (0: the whole text) and *why (may be NULL) a
 * static sentence saying what is wrong. Errors: OFFPAY_EINVAL (NULL),
 * OFFPAY_EMALFORMED (the text), OFFPAY_ETOOBIG (a bound).
 */
offpay_err offpay_shard_config_parse(const char *text, size_t len,
                                     offpay_shard_config *c, size_t *line,
                                     const char **why);

/* offpay_shard_config_parse of the file at path (OFFPAY_EIO when it cannot
 * be read; *why says so). */
offpay_err offpay_shard_config_load(const char *path, offpay_shard_config *c,
                                    size_t *line, const char **why);

/* The index of the shard whose range holds id, or -1 when none does. */
int offpay_shard_config_route(const offpay_shard_config *c, uint64_t id);

/* 1 when every id of first..last is in some shard's range of c, else 0
 * (also for first > last). offpay_ledger_open refuses a map that does
 * not cover each range recorded by the map the ledger was last opened
 * with (docs/scaling.md). */
int offpay_shard_config_covers(const offpay_shard_config *c, uint64_t first,
                               uint64_t last);

/* The number of shards of l: 1 for an unsharded ledger (a SQLite file, a
 * PostgreSQL URL) and for a one-line shard map. */
size_t offpay_ledger_shards(const offpay_ledger *l);

/* offpay_ledger_audit of shard k alone (0 <= k < offpay_ledger_shards):
 * its accounts sum to its own deposits minus withdrawals. On a sharded
 * ledger offpay_ledger_audit checks every shard this way and returns the
 * totals; OFFPAY_EAUDIT when any shard fails. Errors as
 * offpay_ledger_audit, OFFPAY_EINVAL for k out of range. */
offpay_err offpay_ledger_audit_shard(offpay_ledger *l, size_t k,
                                     offpay_audit_report *r);

/* ---- the wallet's online life (docs/settlement.md §12) ------------- */

/* An enrollment code: 24 lowercase hex digits (96 random bits). */
#define OFFPAY_ENROLL_CODE_CHARS 24
/* 1 when code has an enrollment code's form (24 lowercase hex digits). */
int offpay_ledger_enroll_code_ok(const char *code);
/* Default lifetime of an enrollment code, seconds (7 days). */
#define OFFPAY_ENROLL_LIFETIME (7u * 86400u)

/*
 * offpay_ledger_enrollment_add — a one-time enrollment code for a wallet
 * account in currency, valid until expires (> now), with the operator's
 * reference (at most 128 bytes, may be NULL). code receives it,
 * NUL-terminated; the ledger keeps only its hash. Errors: OFFPAY_EINVAL,
 * OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_enrollment_add(offpay_ledger *l, uint16_t currency,
                                        const char *ref, uint32_t expires,
                                        uint32_t now,
                                        char code[OFFPAY_ENROLL_CODE_CHARS + 1]);

/*
 * offpay_ledger_enrollment_for — a one-time enrollment code, valid until
 * expires (> now), with which a lost wallet's owner enrolls a new wallet
 * into the same account (docs/settlement.md §12): account must be a wallet
 * account whose every enrolled wallet is revoked (reported lost). The new
 * wallet finds the account's money there, and the escrow of the lost
 * wallet's credentials comes back to it. *currency (may be NULL) receives
 * the account's currency. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (no
 * such account, or no wallet ever enrolled with it: use
 * offpay_ledger_enrollment_add), OFFPAY_EEXISTS (its wallet is not
 * revoked), OFFPAY_ESTORE. Since 0.7.0.
 */
offpay_err offpay_ledger_enrollment_for(offpay_ledger *l, uint64_t account,
                                        uint32_t expires, uint32_t now,
                                        char code[OFFPAY_ENROLL_CODE_CHARS + 1],
                                        uint16_t *currency);

/*
 * offpay_ledger_enrollments_void_by — the enrollment codes made under the
 * name who (offpay_ledger_set_actor's when they were made: an operator
 * by name, "NAME (offpay admin)"), whatever its letters' case, and since
 * 0.31.0 those made under "who (offpay admin)" too (the same person
 * through `offpay admin --by`), that no wallet has used expire at now:
 * a wallet sending one is refused as for an expired code. offpayd calls
 * it for an operator taken out of its --operators-file (docs/operations.md
 * §1). *voided (may be NULL): how many. Each shard in its own
 * transaction. Errors: OFFPAY_EINVAL (who malformed), the store's. Since
 * 0.30.0.
 */
offpay_err offpay_ledger_enrollments_void_by(offpay_ledger *l, const char *who,
                                             uint32_t now, uint64_t *voided);

/*
 * offpay_ledger_enroll — the wallet whose key is pk (its request was
 * authenticated by the caller) uses code: one transaction makes its wallet
 * account in the code's currency (or, for a code of
 * offpay_ledger_enrollment_for, takes that account), binds pk to it and
 * uses the code up.
 * *account and *currency (may be NULL) receive them. The same key with the
 * same code again (a resend after a lost answer) gives the same account
 * and changes nothing. Nothing changes on an error. Errors: OFFPAY_EINVAL,
 * OFFPAY_EWEAK_KEY, OFFPAY_ENOTFOUND (no such code, or not of the code's
 * form), OFFPAY_EEXPIRED (the code expired), OFFPAY_EREPLAY (the code was
 * used by another key), OFFPAY_EEXISTS (pk is enrolled already, with
 * another code; or the code's account has a wallet again), OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_enroll(offpay_ledger *l,
                                const uint8_t  pk[OFFPAY_PK_BYTES],
                                const char *code, uint32_t now,
                                uint64_t *account, uint16_t *currency);
/* What offpay_ledger_enroll would answer, read only: OFFPAY_OK when it
 * would enroll pk (or find pk's own earlier enrollment with code), else
 * its error. For a server, so a request with an unknown or used code is
 * refused before anything (its nonce) is written. */
offpay_err offpay_ledger_enroll_check(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      const char *code, uint32_t now);

/* An enrolled wallet key and its account. */
typedef struct offpay_ledger_wallet_info {
    uint8_t  pk[OFFPAY_PK_BYTES];
    uint64_t account;
    uint16_t currency;
    int64_t  balance; /* the account's */
    uint32_t enrolled_at;
    int      revoked; /* 1: revoked (lost) at revoked_at */
    uint32_t revoked_at;
} offpay_ledger_wallet_info;

/* The wallet enrolled with key pk, or (pk NULL) with account. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND (not enrolled), OFFPAY_ESTORE. */
offpay_err offpay_ledger_wallet_get(offpay_ledger *l, const uint8_t *pk,
                                    uint64_t                   account,
                                    offpay_ledger_wallet_info *out);

/*
 * offpay_ledger_allowance — offpay_ledger_issue for the enrolled wallet
 * key pk, from its own account: limit moves into a new escrow and the
 * credential is signed, in one transaction. Errors: OFFPAY_ENOTFOUND (pk
 * not enrolled), OFFPAY_EREVOKED (the wallet was revoked),
 * OFFPAY_EWALLET_CASE (a double_spend or overspend case against one of
 * pk's credentials: a copy paid too; since 0.15.0), OFFPAY_EFUNDS
 * (limit above the account's balance: nothing moves), and those of
 * offpay_ledger_issue.
 */
offpay_err offpay_ledger_allowance(offpay_ledger *l,
                                   const uint8_t  pk[OFFPAY_PK_BYTES],
                                   int64_t limit, uint8_t flags,
                                   uint32_t expires, uint32_t now,
                                   uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                                   offpay_wallet_cred *cred);
/*
 * offpay_ledger_allowance made once under the wallet's request id key (a
 * well-formed request key, offpay_ledger_request_key_ok), booked in the
 * allowance's transaction: the same key again, from the same wallet for
 * the same limit and flags, moves nothing and gives the credential issued
 * the first time (its bytes, *replayed = 1; replayed may be NULL), so a
 * wallet that resends after a lost reply gets one escrow, not two. key
 * NULL: as offpay_ledger_allowance. Errors: those of
 * offpay_ledger_allowance, and OFFPAY_EEXISTS when key was used for
 * another request (other flags too). expires is not
 * compared: offpay_ledger_issue_expires_is, as for
 * offpay_ledger_issue_once.
 */
offpay_err offpay_ledger_allowance_once(offpay_ledger *l,
                                        const uint8_t  pk[OFFPAY_PK_BYTES],
                                        const char *key, int64_t limit,
                                        uint8_t flags, uint32_t expires,
                                        uint32_t now,
                                        uint8_t  bytes[OFFPAY_WALLET_CRED_BYTES],
                                        offpay_wallet_cred *cred, int *replayed);

/* One credential of a wallet, as its sync sees it. */
typedef struct offpay_ledger_wallet_cred {
    offpay_ledger_cred_info info;
    uint32_t max_counter; /* the highest counter the ledger has seen of
                             it: a payment presented, or a code its wallet
                             uploaded itself (0: none) */
    uint8_t  bytes[OFFPAY_WALLET_CRED_BYTES];
    size_t   len; /* 0 when the ledger kept no bytes */
} offpay_ledger_wallet_cred;

/* Every credential issued to pk, ascending serial, into *out (malloc'd,
 * free() it; NULL when none) and *n: the key's whole history, which
 * grows for good (a wallet's status reads a page of the open ones,
 * offpay_ledger_wallet_creds_page). Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM,
 * OFFPAY_ESTORE. */
offpay_err offpay_ledger_wallet_creds(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      offpay_ledger_wallet_cred **out,
                                      size_t                     *n);

/* What offpay_ledger_wallet_creds_page counts of a key's credentials, on
 * every shard. Since 0.19.0. */
typedef struct offpay_ledger_creds_count {
    uint64_t total; /* every credential issued to the key, with
                       OFFPAY_LEDGER_CREDS_TOTAL (else 0) */
    uint64_t open;  /* of them, those open at the page's now (below),
                       whatever the page lists */
} offpay_ledger_creds_count;

/* The most credentials a page holds (POST /v1/wallet/status lists at
 * most this many). */
#define OFFPAY_LEDGER_CREDS_PAGE_MAX 500
/* offpay_ledger_wallet_creds_page's flags */
#define OFFPAY_LEDGER_CREDS_OPEN   1u /* only those open at now */
#define OFFPAY_LEDGER_CREDS_NEWEST 2u /* the newest first */
#define OFFPAY_LEDGER_CREDS_TOTAL  4u /* count every one too */

/*
 * offpay_ledger_wallet_creds_page — a page of the credentials issued to
 * pk, on every shard, each as offpay_ledger_wallet_creds gives it: at
 * most max (1 to OFFPAY_LEDGER_CREDS_PAGE_MAX) into *out (malloc'd, free()
 * it; NULL when none) and *n. In ascending serial after serial after (0:
 * from the first), or with OFFPAY_LEDGER_CREDS_NEWEST descending from
 * below after (0: from the newest): after is the last serial of the page
 * before, in the page's order. With OFFPAY_LEDGER_CREDS_OPEN only the
 * credentials open at now, those a wallet can still need to know of: not
 * released, or released at most the late window before now (a code
 * presented late is still paid from the account until then, its
 * late_until, docs/settlement.md §6); once that window is over, nothing
 * changes a credential for its wallet. A key renewed for years has
 * thousands of credentials and a few hundred open ones, which are read
 * without the others (migration 023). *count (may be NULL) receives how
 * many are open at now and, with OFFPAY_LEDGER_CREDS_TOTAL, how many
 * credentials the key has (which reads an index entry of each: it grows
 * with the history, 0.3 ms at 10^4 on SQLite, 3 ms at 10^5), read with
 * the page (in one read transaction per shard). Errors: OFFPAY_EINVAL
 * (max 0 or above the page's most, an unknown flag, after above
 * INT64_MAX), OFFPAY_ENOMEM, OFFPAY_ESTORE. Since 0.19.0.
 */
offpay_err offpay_ledger_wallet_creds_page(
    offpay_ledger *l, const uint8_t pk[OFFPAY_PK_BYTES], unsigned flags,
    uint64_t after, size_t max, uint32_t now, offpay_ledger_wallet_cred **out,
    size_t *n, offpay_ledger_creds_count *count);

/*
 * offpay_ledger_wallet_restore_floor — the first counter a restored copy
 * of pk's wallet may sign with credential serial, handed out once
 * (docs/settlement.md §12, "Safe restore"; POST /v1/wallet/restore-floor):
 * in one transaction the credential's restore floor becomes the larger of
 * the highest counter the ledger has seen of it + 1 +
 * OFFPAY_WALLET_RESTORE_GAP and the floor handed out before +
 * OFFPAY_WALLET_RESTORE_GAP, and is put in *floor (UINT32_MAX when that
 * is past the last counter). Two copies restored from one backup so get
 * ranges of their own even when neither uploaded a code yet; an answer
 * that is lost only wastes counters. Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOTFOUND (no such credential, or not issued to pk),
 * OFFPAY_ESTORE. Since 0.13.0.
 */
offpay_err offpay_ledger_wallet_restore_floor(offpay_ledger *l,
                                              const uint8_t pk[OFFPAY_PK_BYTES],
                                              uint64_t serial, uint32_t *floor);

/*
 * offpay_ledger_wallet_cases — the double_spend and overspend cases
 * against any credential issued to wallet key pk (a copy of the wallet
 * paid too: docs/settlement.md §12, "A copied wallet"), on every shard:
 * the first max ids (by shard, then ascending serial, then id) into ids,
 * how many in *n (0: none, the key may be issued credentials). While any
 * exists the key gets none: offpay_ledger_allowance and
 * offpay_ledger_issue answer OFFPAY_EWALLET_CASE. Errors: OFFPAY_EINVAL,
 * OFFPAY_ESTORE. Since 0.15.0.
 */
offpay_err offpay_ledger_wallet_cases(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      uint64_t *ids, size_t max, size_t *n);

/*
 * offpay_ledger_late_hold — what wallet account holds at now for the late
 * presentments of its released credentials (docs/settlement.md §6): for
 * each credential released within the late window before now, what its
 * release returned less what late presentments took back since; *held
 * their sum (0: nothing held), *until the end of the newest such late
 * window (0 when nothing is held). That part of the balance funds no new
 * credential: offpay_ledger_issue and offpay_ledger_allowance answer
 * OFFPAY_EFUNDS for a limit above the balance less it. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND (an id in no shard's range),
 * OFFPAY_ESTORE. Since 0.16.0.
 */
offpay_err offpay_ledger_late_hold(offpay_ledger *l, uint64_t account,
                                   uint32_t now, int64_t *held,
                                   uint32_t *until);

/*
 * offpay_ledger_wallet_revoke — a lost wallet (by key pk, or by account
 * when pk is NULL), in one transaction: the key is revoked (no allowance,
 * status or enrollment any more), and every credential issued to it that
 * can still be paid and is not revoked yet is revoked with reason, its
 * ledger expiry brought forward to now, so its escrow returns to the
 * account upload_grace after now, minus what settles meanwhile
 * (docs/settlement.md §12). Those are the ones not released and those
 * released within the late window before now (and a day more, for a clock
 * ahead of offpayd's); since 0.20.0 one released before that, whose codes
 * nothing pays any more, stays as it was (before, every one was revoked,
 * read with the key's whole history). *revoked
 * (may be NULL) counts the credentials revoked now. Revoking again changes
 * nothing. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (not enrolled),
 * OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_wallet_revoke(offpay_ledger *l, const uint8_t *pk,
                                       uint64_t account, const char *reason,
                                       uint32_t now, size_t *revoked);

/*
 * offpay_ledger_wallet_due — for a wallet revoked at (its key pk), what
 * its owner is told (docs/settlement.md §12): *escrow_back, when the
 * escrow of every credential of pk not released yet is back in the
 * account at the latest (each one's ledger expiry, brought forward to the
 * revocation or earlier, plus upload_grace), and *late_until, the end of
 * their late window (late_window more), until which a late upload of what
 * the lost device paid offline is still paid from the account. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_ESTORE. Since 0.7.0.
 */
offpay_err offpay_ledger_wallet_due(offpay_ledger *l,
                                    const uint8_t  pk[OFFPAY_PK_BYTES],
                                    uint32_t at, uint32_t *escrow_back,
                                    uint32_t *late_until);

/*
 * offpay_ledger_terminal_rotate — terminal old_id (not revoked) gets a new
 * key: one transaction registers new_pk as a new terminal of the same
 * merchant, signs its credential (as offpay_ledger_terminal_add) and
 * revokes old_id from now on as rotated to it (what it accepted before
 * now still settles). The rotation is recorded as one that carried
 * old_id's per-credential sums into the new terminal, so the guarantee's
 * cumulative rule counts the two as one device (docs/settlement.md §5,
 * 018_terminal_sums_carried): call it only for a terminal that does carry
 * them (offpayd requires its "sums_carried": true, docs/api.md). The new
 * credential expires at expires or when old_id's does, whichever is
 * first: a rotation changes the key, never the term. *replayed (may be
 * NULL) is 0.
 * Asked again after it succeeded (its answer lost), with the same new_pk:
 * OFFPAY_OK with the new terminal's stored credential in bytes, *len and
 * cred, *replayed 1, and nothing written (expires is then ignored) — as
 * long as the new terminal is not revoked itself. A sharded ledger's
 * directory is copied to every shard before either answer.
 * Errors: those of offpay_ledger_terminal_add, OFFPAY_ENOTFOUND (old_id),
 * OFFPAY_ETERMINAL_REVOKED (old_id is revoked, and not by a rotation to
 * new_pk's terminal that still stands), OFFPAY_ETERMINAL_EXPIRED (old_id's
 * credential has expired).
 */
offpay_err offpay_ledger_terminal_rotate(
    offpay_ledger *l, uint32_t old_id, const uint8_t new_pk[OFFPAY_PK_BYTES],
    uint32_t expires, uint32_t now,
    uint8_t bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES], size_t *len,
    offpay_terminal_cred *cred, int *replayed);

/*
 * offpay_ledger_terminal_rotated_to — *to: the terminal that terminal_id
 * was rotated to by its own rotation (offpay_ledger_terminal_rotate, which
 * the ledger records with the revocation), or 0 when it was not (live,
 * revoked by the operator, decommissioned). Follow it again from *to for
 * the whole chain: a stolen terminal rotated to its thief's key lives on
 * in the terminal it was rotated to. Reads only. Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOTFOUND, OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_terminal_rotated_to(offpay_ledger *l,
                                             uint32_t       terminal_id,
                                             uint32_t      *to);

/*
 * offpay_ledger_terminal_decommission — terminal terminal_id revokes
 * itself from now on (what it accepted before now still settles), as
 * offpay_ledger_terminal_revoke but recorded as its own decommission:
 * *revoked_at (may be NULL) is now and *replayed (may be NULL) 0. Asked
 * again for a terminal it decommissioned: OFFPAY_OK with the first
 * revocation's time in *revoked_at, *replayed 1, nothing written.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_ETERMINAL_REVOKED
 * (revoked by the operator or by a rotation), OFFPAY_ESTORE.
 */
offpay_err offpay_ledger_terminal_decommission(offpay_ledger *l,
                                               uint32_t       terminal_id,
                                               uint32_t       now,
                                               uint32_t      *revoked_at,
                                               int           *replayed);

#ifdef __cplusplus
}
#endif
#endif
