/*
 * terminal_int.h — internal: the terminal's in-memory state, shared by the
 * pure verification pipeline (check.c), the in-memory tables (tables.c)
 * and the durable store (terminal.c).
 *
 * Everything check.c reads lives in memory, mirrored from terminal.db at
 * open and updated after each durable commit, so verifying a code touches
 * no file (DESIGN.md §4: verification is pure).
 */
#ifndef OFFPAY_TERMINAL_INT_H
#define OFFPAY_TERMINAL_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "offpay/crypto.h"
#include "offpay/pkcs11.h"
#include "core/credcache.h"
#include "offpay/terminal.h"

/* Seen-set entry: (serial, counter) of an accepted code. */
typedef struct offpay__seen {
    uint64_t serial;
    uint32_t counter;
    uint8_t  used;
} offpay__seen;

/* Cumulative amount accepted per credential serial. */
typedef struct offpay__cumul {
    uint64_t serial;
    int64_t  sum;
    uint8_t  used;
} offpay__cumul;

/* Open addressing hash tables, doubled at 50% load. */
typedef struct offpay__tables {
    offpay__seen  *seen;
    size_t         seen_cap, seen_n;
    offpay__cumul *cumul;
    size_t         cumul_cap, cumul_n;
} offpay__tables;

/* An open request code, waiting for its bound payment. */
typedef struct offpay__request {
    uint8_t  nonce[OFFPAY_NONCE_BYTES];
    uint32_t amount;
    uint32_t created;
} offpay__request;

struct offpay_terminal {
    char    *dir;
    int      lock_fd; /* flock on dir/terminal.lock, held open */
    sqlite3 *db;
    /* The accept path's statements, prepared once per open (terminal.c). */
    sqlite3_stmt  *st_insert, *st_paid, *st_begin, *st_commit;
    int            has_key;
    offpay_keypair kp; /* valid when has_key */
    /* The key in a PKCS#11 token (terminal.keyuri), else NULL: then kp.pk
     * is its public key and kp.sk stays zero. */
    offpay_pkcs11_key   *p11;
    uint8_t              root_pk[OFFPAY_PK_BYTES];
    offpay_trust_bundle  bundle;
    int                  has_cred;
    offpay_terminal_cred cred;
    uint16_t             currency;
    offpay_risk          risk;
    uint64_t            *revoked; /* ascending */
    uint32_t             n_revoked;
    uint32_t             revlist_seq;
    uint32_t             revlist_issued_at;
    /* the time the serials held are complete for (meta
     * revlist_complete_at; a terminal.db without it: revlist_issued_at):
     * lists leave out credentials a day past their expiry by their own
     * issued_at, so a sync never sets the high-water mark below it. A full
     * list sets it to its issued_at; a delta, or a full list numbered
     * below the one held, never lowers it (docs/protocol.md §5.7). */
    uint32_t revlist_complete_at;
    /* the highest cut the revoked serials were let go by (meta
     * expired_before): a credential that expired before it is refused
     * (check.c), as its serial may be gone. 0: none. */
    uint32_t             expired_before;
    uint32_t             last_sync;  /* time of the last sync */
    uint32_t             high_water; /* newest trusted time (meta) */
    uint32_t             payments_since_sync;
    /* the acceptance time of the oldest journal entry offpayd has not
     * decided (uploaded = 0), the first by seq; 0: none. Every entry before
     * waiting_seq is decided (saved in meta at each sync). */
    uint32_t             oldest_waiting;
    int64_t              waiting_seq;
    offpay__tables       tables;
    int                  tables_stale; /* rebuild from terminal.db first */
    offpay__request     *requests;
    size_t               n_requests, cap_requests;
    int                  cache_on;
    offpay__cache_slot  *cache; /* OFFPAY__CACHE_SLOTS */
    /* payments_since_sync counts the journal rows after sync_seq, its
     * highest seq at the last sync; max_seq is its highest seq now. */
    int64_t sync_seq, max_seq;
    /* Not OFFPAY_OK: this handle changes nothing and accepts nothing, for
     * that reason: OFFPAY_EROFS for an exported copy of a journal
     * (copied_at says when it was taken), or the error that kept an older
     * terminal.db from being upgraded (journal_upgrade). */
    offpay_err frozen;
    uint32_t   copied_at;
    /* 1: opened from a directory holding neither terminal.key nor
     * terminal.keyuri (deleted, or copied without it): it accepts nothing,
     * which no upload could carry (OFFPAY_ETERMINAL_KEY_MISSING) */
    int key_missing;
    /* 1: terminal.db has the results table (offpayd's result for each
     * uploaded entry); 0: made by the first offpay__terminal_mark_uploaded,
     * and until then the journal reads as if no result was kept. */
    int has_results;
    /* 1: the file has the result_order table (the order results were
     * kept in: made with the first result kept by 0.4.0 or later) */
    int has_order;
    /* 1: the file has the lost table (payments a ledger taken back to an
     * older copy lacked: offpay__terminal_lost_list makes it) */
    int has_lost;
    /* The offset of offpayd's clock from this terminal's (server minus
     * terminal, seconds) seen at its last online sync, and when (the
     * terminal's time); clock_seen_at 0: never. */
    int64_t  clock_offset;
    uint32_t clock_seen_at;
    /* offpayd said it revoked this terminal (its upload or status reply,
     * or its own decommission or rotation) at the terminal's time
     * revoked_at, when its credential named terminal revoked_id: from then
     * on it accepts nothing (OFFPAY_ETERMINAL_REVOKED). 0: not known. */
    uint32_t revoked_id, revoked_at;
    /* its rotation or decommission was sent at the terminal's time
     * retiring_at, when its credential named terminal retiring_id, and
     * not answered yet (lifecycle.c): offpayd may have revoked it, so it
     * accepts nothing (OFFPAY_ETERMINAL_RETIRING). 0: none pending. */
    uint32_t retiring_id, retiring_at;
};

/* terminal.c: signs domain || 0x00 || msg with the terminal's key, in the
 * sealed file or in the token. Errors: OFFPAY_EPASSPHRASE (opened without
 * its key), those of offpay_signer_sign. */
offpay_err offpay__terminal_sign(const offpay_terminal *t, const char *domain,
                                 const uint8_t *msg, size_t len,
                                 uint8_t sig[OFFPAY_SIG_BYTES]);

/* tables.c */
void          offpay__tables_free(offpay__tables *tb);
offpay__seen *offpay__seen_find(const offpay__tables *tb, uint64_t serial,
                                uint32_t counter);
offpay_err    offpay__seen_add(offpay__tables *tb, uint64_t serial,
                               uint32_t counter);
int64_t       offpay__cumul_get(const offpay__tables *tb, uint64_t serial);
offpay_err    offpay__cumul_add(offpay__tables *tb, uint64_t serial,
                                int64_t amount);

/* check.c: the verdict on a decoded payment (every check but decoding).
 * *req_index receives the index of the matched request (bound codes) or
 * -1; *charge_out the amount to charge. */
offpay_err offpay__terminal_verdict(offpay_terminal *t, const offpay_payment *p,
                                    const uint8_t *code, size_t code_len,
                                    int64_t charge, uint32_t now,
                                    int64_t *charge_out, long *req_index);

/* check.c: the terminal's own state, checked before any code:
 * t->frozen (a copy: EROFS; a file not upgraded), ENO_TERMINAL_CRED,
 * ECLOCK_BEHIND (now + skew < high_water), ETERMINAL_EXPIRED (its credential
 * outside its window, with skew). */
offpay_err offpay__terminal_self_ok(const offpay_terminal *t, uint32_t now);

/* terminal.c, for the settings fuzz target: a handle over an open
 * database db (taking it over: closed by offpay_terminal_close, also on
 * failure), without a directory, lock or key; loads every setting,
 * table and list exactly as offpay_terminal_open does. Errors: those of
 * loading (OFFPAY_ECORRUPT, OFFPAY_EJOURNAL, OFFPAY_ENOMEM). */
offpay_err offpay__terminal_from_db(sqlite3 *db, offpay_terminal **out);
/* terminal.c: creates terminal.db's tables in db (if missing). */
offpay_err offpay__terminal_schema(sqlite3 *db);

/* terminal.c: gives next the per-credential sums the local cumulative
 * check reads of terminal from (its journal's and those it carried
 * itself), in one transaction of next's terminal.db that replaces what
 * an earlier call carried: a rotation's, so that next judges a
 * credential's charges as offpayd sums them, over the device's rotations
 * (docs/settlement.md §5). from accepts nothing any more, so calling it
 * again carries the same sums. Errors: OFFPAY_EINVAL, next's frozen
 * state (OFFPAY_EROFS, ...), OFFPAY_ENOSPC, OFFPAY_EROFS, OFFPAY_EJOURNAL,
 * OFFPAY_ENOMEM, those of rebuilding from's sums. */
offpay_err offpay__terminal_carry_sums(offpay_terminal *next,
                                       offpay_terminal *from);

/* terminal.c: the most revoked serials a terminal holds (1,000,000; a
 * test lowers it). A list that would make it hold more is not taken
 * (OFFPAY_ETOOBIG, said on the log): the terminal goes on with the list
 * it holds, where a terminal.db holding more is refused at open
 * (OFFPAY_ECORRUPT) and could then upload nothing. */
extern uint32_t offpay__terminal_revoked_max;

/* check.c: the terminal's own offline limits (payments and hours since the
 * last sync, revocation list age): ESYNC_REQUIRED, EREVLIST_STALE. */
offpay_err offpay__terminal_offline_ok(const offpay_terminal *t, uint32_t now);

/* check.c: decode the text form and the payment. */
offpay_err offpay__terminal_decode(const char *text, size_t n, uint8_t *code,
                                   size_t cap, size_t *len, offpay_payment *p);

#endif
