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

/* One shard of a ledger: its store and the ids it assigns. */
typedef struct offpay__shard {
    offpay__store           *store;
    const offpay__store_ops *ops;
    uint64_t                 first, last;
    uint64_t published; /* its revocations published to the directory up
                           to this revocation seq (shards 1.. only) */
} offpay__shard;

/* Lives in sodium_malloc memory: sk is wiped when it is freed. */
struct offpay_ledger {
    /* the store the current transaction runs on: shard 0 (the directory)
     * outside offpay__ledger_tx_on and offpay__ledger_tx_serials */
    offpay__store           *store;
    const offpay__store_ops *ops;
    size_t                   n_shards; /* 1: unsharded */
    int                      sharded;  /* opened from a shard map */
    size_t                   cur;      /* the shard store/ops point to */
    offpay__shard            shard[OFFPAY_SHARDS_MAX];
    offpay_shard_config     *map; /* calloc'd; NULL unless sharded */
    offpay_ledger_config     cfg;
    offpay_trust_bundle      bundle; /* issuer keys codes are checked with */
    int                      has_trust;
    uint32_t                 next_kid; /* offpay_ledger_set_next_kid */
    uint16_t                 kid; /* the key the ledger signs with */
    uint8_t                  sk[OFFPAY_SK_BYTES];
    offpay_pkcs11_key       *p11; /* borrowed; not NULL: the key is in a
                                     token, and sk stays zero */
    offpay__cache_slot *cache;    /* credentials verified under bundle;
                                     calloc'd, emptied by set_trust */
    /* the current transaction's read of its store's newest transfer time
     * (offpay__ledger_book), for shard newest_shard; unread: 0 */
    int      newest_read;
    size_t   newest_shard;
    uint32_t newest_at;
    int      newest_vouched; /* newest_at is an operator's vouch */
    /* who books through this handle (offpay_ledger_set_actor): kept with
     * each transfer offpay__ledger_book books; "": no one */
    char actor[OFFPAY_ACTOR_MAX + 1];
};

/* Runs fn between begin and commit, rolling back on any error and
 * rerunning the whole transaction (up to a bound) on OFFPAY_ERETRY. fn must
 * leave nothing outside the store changed before it returns OFFPAY_OK. */
offpay_err offpay__ledger_tx(offpay_ledger *l,
                             offpay_err (*fn)(offpay_ledger *l, void *ctx),
                             void *ctx);

/* Books transfer t (its id into *id when not NULL) in the current
 * transaction: every transfer the engine and the operator's side book
 * goes through it. The ledger's time does not go back (settlement.md
 * §10, "The ledger's clock"): a transfer dated more than
 * OFFPAY__PERIOD_FINAL_AFTER s before the newest of the store's newest
 * transfers (read once per transaction) is refused OFFPAY_ECLOCK_BEHIND,
 * with offpay__ledger_clock_detail() saying both times: it would change a
 * period that may already have been read as final. Who books through l
 * (offpay_ledger_set_actor), when someone does, is kept with it in the
 * same transaction (031_booked_by). */
offpay_err offpay__ledger_book(offpay_ledger *l, const offpay__transfer *t,
                               uint64_t *id);
/* The newest time the rule holds bookings to on the current shard (its
 * newest transfers', or an operator's vouch), read once a transaction. */
offpay_err offpay__ledger_newest(offpay_ledger *l, uint32_t *newest);
/* The time an operator's action done at at is kept at on the current
 * shard: at, but never more than OFFPAY__PERIOD_FINAL_AFTER before the
 * shard's newest transfer (offpay__ledger_newest) or newest action, so
 * that a clock behind never dates one into a period that may have been
 * read as final (its actions' digest kept); an action is never refused
 * for its clock (a revocation must stand). */
offpay_err offpay__ledger_action_at(offpay_ledger *l, uint32_t at,
                                    uint32_t *out);

/* Inside the current transaction, on the store it runs on: keeps the
 * action the handle's actor did (offpay_ledger_set_actor; settle.h,
 * "what operators did"; 032_operator_actions) at at, on subject (0: the
 * whole ledger), with detail (NULL or "": none; more than
 * OFFPAY_ACTION_DETAIL_MAX bytes cut at a character); nothing when the
 * handle names no one. Call it only once the action changed something.
 * Errors: the store's. */
offpay_err offpay__ledger_journal(offpay_ledger *l, uint32_t at,
                                  const char *action, uint64_t subject,
                                  const char *detail);
/* The same under the name who (a case step's author, which offpayd may
 * have qualified: "NAME (operator token)"), whatever the handle names:
 * nothing when who is NULL or "". */
offpay_err offpay__ledger_journal_as(offpay_ledger *l, const char *who,
                                     uint32_t at, const char *action,
                                     uint64_t subject, const char *detail);
/* offpay__ledger_journal for a step that repairs the ledger (skip-ids,
 * the marks dropped), which takes no time from its caller: dated by this
 * machine's clock (as offpay__ledger_action_at keeps it). */
offpay_err offpay__ledger_journal_clock(offpay_ledger *l, const char *action,
                                        const char *detail);

/* The audit's report of a store's facts; OFFPAY_EAUDIT when any count
 * other than the totals is non-zero (r filled either way). */
offpay_err offpay__audit_report_from(const offpay__audit_facts *f,
                                     offpay_audit_report       *r);

#ifdef OFFPAY_TEST_HOOKS
/* Test hook (test builds only): when N > 0, the N-th read transaction
 * from now meets a conflict (OFFPAY_ERETRY) once its fn has run, and is
 * run again, as a read can be; one thread (tests/unit/test_settle.c). */
extern int offpay__test_read_conflict_at;
/* And from the environment, a wait in milliseconds:
 * OFFPAY_TEST_CLAIM_DELAY_MS between a sharded request key's claim on
 * shard 0 and its booking; OFFPAY_TEST_ONCE_DELAY_MS between a keyed
 * terminal registration's look-up of its key and of its terminal (the
 * n-th such call in a process waits (n mod 8) + 1 times as long). */
#endif

/* offpay__ledger_tx for fn that only reads: a read transaction, which
 * does not wait for or hold up the writer. */
offpay_err offpay__ledger_read(offpay_ledger *l,
                               offpay_err (*fn)(offpay_ledger *l, void *ctx),
                               void *ctx);

/* Sets i->release_due and i->late_until from its expires, released and
 * released_at as the release job and settlement judge them
 * (offpay_ledger_release_due; settle.c's late window). */
void offpay__ledger_cred_dues(const offpay_ledger     *l,
                              offpay_ledger_cred_info *i);

/* t as a uint32_t time: one past 2106 is said as the last one it holds. */
uint32_t offpay__time_clamp(uint64_t t);

/* Inside a transaction on account's shard: what wallet account holds at
 * now for the late presentments of its released credentials, and until
 * when (may be NULL; 0 when nothing is held): offpay_ledger_late_hold's
 * figures (docs/settlement.md §6). Errors: the store's. */
offpay_err offpay__ledger_late_held(offpay_ledger *l, uint64_t account,
                                    uint32_t now, int64_t *held,
                                    uint32_t *until);

/* ---- shards (shards.c, ledger.c; docs/scaling.md) ---- */

/* The shard whose range holds id (a serial, an account or case id): 0 on
 * an unsharded ledger, -1 when no shard's range holds it. */
int offpay__ledger_shard_of(const offpay_ledger *l, uint64_t id);

/* offpay__ledger_shard_of, with 0 (shard 0, which does not know it) for
 * an id in no shard's range. */
size_t offpay__ledger_home(const offpay_ledger *l, uint64_t id);

/* offpay__ledger_tx and offpay__ledger_read on shard k: l->store and
 * l->ops are shard k's while fn runs, shard 0's again after. */
offpay_err offpay__ledger_tx_on(offpay_ledger *l, size_t k,
                                offpay_err (*fn)(offpay_ledger *l, void *ctx),
                                void *ctx);
/*
 * A request key as the ledger stores it (005_request_keys): who is
 * "operator" (id 0) or "wallet" with the wallet's account as id, so the
 * operator's keys and each wallet's request ids never meet: no wallet can
 * take a key an operator will use, nor another wallet's.
 */
#define OFFPAY__REQUEST_KEY_STORED_MAX (OFFPAY_REQUEST_KEY_MAX + 32)
void offpay__request_key(char out[OFFPAY__REQUEST_KEY_STORED_MAX],
                         const char *who, uint64_t id, const char *key);
/* 1 when ref, an operator's reference, is NULL or at most 128 bytes. */
int offpay__ref_ok(const char *ref); /* NULL, "" or offpay__text_ok */

/* On a ledger of several shards a key is unique within each shard only:
 * before anything moves, key (as stored) used on any shard for another
 * request than (op, account, amount) is OFFPAY_EEXISTS, and the key is
 * claimed for this request on shard 0 ("claim/KEY", its own transaction),
 * so that of two requests under one key at once only one goes on. (Each
 * shard's transaction checks again under its locks.) OFFPAY_OK on one
 * shard. */
offpay_err offpay__request_check_shards(offpay_ledger *l, const char *key,
                                        int op, uint64_t account,
                                        int64_t amount, uint32_t now);

/* A terminal's revocation (how: store.h's OFFPAY__RETIRED_*, or 0) written
 * to shards n-1..1 before shard 0's own transaction, at *at or the
 * earliest time a shard holds already (set in *at), with the reason *why
 * or the one the shard holding the earliest keeps (copied into why_buf,
 * *why set to it); nothing when shard 0 holds it revoked, or on one
 * database (ledger.c). */
offpay_err
offpay__ledger_terminal_revoke_shards(offpay_ledger *l, uint32_t id,
                                      uint32_t *at, int how, const char **why,
                                      char why_buf[OFFPAY_LEDGER_REF_MAX + 1]);

/* The reasons a terminal's revocation keeps when no operator gave one
 * (021_terminal_revoke_reason): the operator's revocation without a
 * reason, the terminal's own decommission, its own rotation (with the
 * new terminal's id), and its merchant's closing (since 0.23.0). */
#define OFFPAY__REVOKE_OPERATOR        "operator"
#define OFFPAY__REVOKE_DECOMMISSIONED  "decommissioned"
#define OFFPAY__REVOKE_ROTATED_FMT     "rotated to terminal %lu"
#define OFFPAY__REVOKE_MERCHANT_CLOSED "merchant closed"

/* An uploaded code's signatures as settlement checks them (settle.c): the
 * issuer key of its credential valid at `at` (its acceptance time;
 * OFFPAY_EBUNDLE_OLD for a key newer than the ledger's bundle), the
 * credential's signature (once per credential: l->cache) and the
 * wallet's. code is the code's bytes p was decoded from. */
offpay_err offpay__ledger_code_sigs(offpay_ledger *l, const offpay_payment *p,
                                    const uint8_t *code, uint32_t at);

/* Pays the open claims on the guarantee (claims.c, settlement.md §5) of
 * currency (0: every currency with open claims), oldest first, as far as
 * each shard's guarantee holds, one transaction per shard and currency;
 * *paid (may be NULL): the claim transfers booked. Errors: the store's. */
offpay_err offpay__ledger_claims_pay(offpay_ledger *l, uint16_t currency,
                                     uint32_t now, size_t *paid);

offpay_err offpay__ledger_read_on(offpay_ledger *l, size_t k,
                                  offpay_err (*fn)(offpay_ledger *l, void *ctx),
                                  void *ctx);

/* An account of this kind has a row on every shard of a sharded ledger: a
 * merchant's (the same id on each), a guarantee (each shard its own,
 * offpay__ledger_guarantee_on); its balance is the sum of the rows'. */
int offpay__ledger_spread(const offpay_ledger *l, offpay_account_kind kind);

/* *id: shard k's guarantee account of currency, made if missing (its own
 * transaction). */
offpay_err offpay__ledger_guarantee_on(offpay_ledger *l, size_t k,
                                       uint16_t currency, uint64_t *id);
/* The same for a read: ENOTFOUND when shard k has none yet (nothing is
 * made: a shard whose guarantee never covered anything holds none). */
offpay_err offpay__ledger_guarantee_find_on(offpay_ledger *l, size_t k,
                                            uint16_t currency, uint64_t *id);

/* Settlement's transactions: fn runs once on each shard holding one of
 * serials[0..n) (a serial in no shard's range goes to shard 0, which does
 * not know it: its item is rejected as not issued), in ascending shard
 * order, each its own transaction; fn settles only the items of its shard
 * (offpay__ledger_on_shard). Revocations made on a shard other than 0 are
 * then published to the directory. Stops at the first error: the shards
 * before it committed. */
offpay_err
offpay__ledger_tx_serials(offpay_ledger *l, const uint64_t *serials, size_t n,
                          offpay_err (*fn)(offpay_ledger *l, void *ctx),
                          void *ctx);

/* Copies the directory's merchants, their accounts and terminals from
 * shard 0 to every other shard (after a change to them outside ledger.c);
 * OFFPAY_OK at once on an unsharded ledger. */
offpay_err offpay__ledger_directory_copy(offpay_ledger *l);

/* 1 when serial belongs to the shard the current transaction runs on. */
int offpay__ledger_on_shard(const offpay_ledger *l, uint64_t serial);

/* PostgreSQL only (src/store/postgres.c), for the shards of a shard map: */
/* with bind, makes the store assign every row id from [first, last] (the
 * terminals' and revocations' ids excepted: those of the directory
 * count); without, changes nothing. OFFPAY_ESHARD_MAP (the table and id
 * in the log) when the store already assigned ids outside it: the map's
 * line names another shard's database */
offpay_err offpay__pg_shard_range(offpay__store *s, uint64_t first,
                                  uint64_t last, int bind);
/* holds the lock every open of a sharded ledger takes on shard 0's
 * database (url) while it checks and records the map: *lock until
 * offpay__pg_map_unlock (NULL: nothing) */
offpay_err offpay__pg_map_lock(const char *url, void **lock);
void       offpay__pg_map_unlock(void *lock);
/* copies the directory's merchants (with their accounts) and terminals
 * from store `from` to store `to`, keeping their ids, each terminal's
 * revocation the first of the two (the earlier time and its reason; for
 * one time `from`'s); idempotent. *differ (may be NULL): 1 when `to`
 * still holds a revocation otherwise after it (one that came first, or
 * that `from` lacks: offpay__pg_terminal_revocations_finish gives it to
 * `from`) */
offpay_err offpay__pg_directory_copy(offpay__store *from, offpay__store *to,
                                     int *differ);
/* a terminal revocation store `from` (a shard) holds and store `to` (the
 * directory) does not — one whose call failed after the shards took it
 * (ledger.c, offpay__ledger_terminal_revoke_shards) and was not sent
 * again — made in `to` at `from`'s time, how and reason (*finished counts
 * them); and one `from` holds from an earlier time than `to` (`to` took
 * the terminal's own rotation for a revocation then: online.c) or with a
 * reason where `to` holds none, given `from`'s time and reason
 * (*corrected) */
offpay_err offpay__pg_terminal_revocations_finish(offpay__store *from,
                                                  offpay__store *to,
                                                  size_t        *finished,
                                                  size_t        *corrected);
/* publishes the revocations of store `from` with a seq above *seq into
 * the revocation list of store `to` (each serial once), *seq advanced */
offpay_err offpay__pg_revocations_publish(offpay__store *from,
                                          offpay__store *to, uint64_t *seq);
/* the ranges of the shard map recorded on the store (migration 007), in
 * ascending order: at most max (OFFPAY_ETOOBIG beyond), *n of them;
 * *here the index of the store's own, SIZE_MAX when none is marked */
offpay_err offpay__pg_shard_map_get(offpay__store *s,
                                    uint64_t (*range)[2], size_t max,
                                    size_t *n, size_t *here);
/* replaces the ranges recorded on the store with range[0..n), range[here]
 * marked as the store's own */
offpay_err offpay__pg_shard_map_put(offpay__store *s, const uint64_t (*range)[2],
                                    size_t n, size_t here);
/* the number of wallet accounts of the store */
offpay_err offpay__pg_wallets(offpay__store *s, uint64_t *n);

/* ledger.c: inside the caller's transaction, a wallet credential of limit
 * for pk funded from wallet account `account` (ledger.c's issue and
 * online.c's allowance): EINVAL when account is not a wallet account,
 * EFUNDS when its balance is short; bytes and *wc receive it. */
offpay_err offpay__issue_in_tx(offpay_ledger *l, uint64_t account,
                               const uint8_t pk[OFFPAY_PK_BYTES], int64_t limit,
                               uint8_t flags, uint32_t expires, uint32_t now,
                               uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                               offpay_wallet_cred *wc);

/* ledger.c: offpay__issue_in_tx made once under request key `key` (as
 * stored, offpay__request_key; NULL: no key): the same key again for the
 * same account, key pk and limit gives the credential issued the first
 * time (bytes, *wc) with *replayed = 1 and moves nothing; EEXISTS when the
 * key was another request's. The key is looked up under the account's
 * lock, so a resend overlapping the first attempt waits and finds it.
 * gate (NULL: none) runs only when a new credential would be made, after
 * the look-up: whether pk may have one (a refusal is returned as is), so
 * that a resend replays what the first send did whatever became of pk
 * since. */
typedef offpay_err (*offpay__issue_gate)(offpay_ledger *l, const uint8_t *pk);
offpay_err offpay__issue_once_in_tx(
    offpay_ledger *l, const char *key, uint64_t account,
    const uint8_t pk[OFFPAY_PK_BYTES], int64_t limit, uint8_t flags,
    uint32_t expires, uint32_t now, uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
    offpay_wallet_cred *wc, int *replayed, offpay__issue_gate gate);

/* online.c: the double_spend and overspend cases against any credential
 * of wallet key pk on the store l points to (docs/settlement.md §12, "A
 * copied wallet"): the first max ids, by ascending serial then id, into
 * ids (may be NULL with max 0), their count (at most max, at least 1 when
 * any exists) in *n. A case revokes its credential, so only revoked
 * credentials are looked at. */
offpay_err offpay__key_cases_in_tx(offpay_ledger *l, const uint8_t *pk,
                                   uint64_t *ids, size_t max, size_t *n);
/* online.c: an offpay__issue_gate: OFFPAY_EWALLET_CASE when pk has such
 * a case on the store l points to. */
offpay_err offpay__key_cases_gate(offpay_ledger *l, const uint8_t *pk);
/* online.c: the same, read on every shard but skip (SIZE_MAX: none
 * skipped), each in a read-only transaction of its own (a sharded
 * ledger's credentials of one key may be on several shards). */
offpay_err offpay__key_cases_elsewhere(offpay_ledger *l, const uint8_t *pk,
                                       size_t skip);

/* ledger.c: inside the caller's transaction, terminal key pk registered
 * for merchant with its credential signed and stored (ledger.c's terminal
 * add and online.c's rotation): EEXISTS when pk is registered already;
 * bytes, *len and *tc receive the credential. */
offpay_err
offpay__terminal_add_in_tx(offpay_ledger *l, uint64_t merchant,
                           const uint8_t pk[OFFPAY_PK_BYTES], uint32_t expires,
                           uint32_t now,
                           uint8_t  bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES],
                           size_t *len, offpay_terminal_cred *tc);

/* One transfer inside the current transaction. */
offpay_err offpay__ledger_move(offpay_ledger *l, uint64_t debit,
                               uint64_t credit, int64_t amount,
                               const char *kind, uint64_t presentment,
                               uint64_t case_id, const char *ref, uint32_t now);

/* ---- between settle.c and receipts.c (docs/settlement.md §7) ---- */

/* 1 when the credential a code carries is the one the ledger issued
 * under its serial: the same wallet key, limit, currency, start of
 * validity and flags. A credential signed by the issuer elsewhere (the offline
 * `offpay issuer wallet-credential`) may reuse a serial the ledger gave
 * another wallet; its payments must not touch that wallet's escrow. */
int offpay__cred_is_issued(const offpay__cred_row *row,
                           const offpay_wallet_cred *c);

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

/* Everything the ledger signs ends no later than its daily key: *expires
 * is cut to the key's end; OFFPAY_EKID_EXPIRED when the key is not valid
 * at now (offpayd kept running past it), OFFPAY_EUNKNOWN_KID without a
 * key. */
offpay_err offpay__ledger_within_key(const offpay_ledger *l, uint32_t now,
                                     uint32_t *expires);

/* The ledger's daily key as a signer: sealed (l->sk), or in a token. */
static inline offpay_signer offpay__ledger_signer(const offpay_ledger *l)
{
    return (offpay_signer){l->p11 != NULL ? NULL : l->sk, l->p11};
}

#endif
