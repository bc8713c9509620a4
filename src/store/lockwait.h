/*
 * lockwait.h — internal: how long a transaction of the ledger waits for a
 * lock another process holds (the SQLite file's write lock; on PostgreSQL
 * a lock another session holds), what is said while it waits, and what
 * the process knows of such waits (offpayd's health and metrics).
 *
 * One transaction, with the reruns of its conflicts, waits in all at most
 * the bound (offpay__lockwait_ms, 30 s by default) and then fails
 * OFFPAY_EBUSY, rolled back: nothing of it was written. A wait past
 * offpay__lockwait_say_ms is said once on the library's log while it lasts.
 * A real conflict (SQLITE_BUSY_SNAPSHOT, a PostgreSQL serialization
 * failure or deadlock) is still OFFPAY_ERETRY, rerun as before; only the
 * time spent waiting for someone else's lock is bounded.
 *
 * The state of a transaction is the calling thread's (a ledger handle is
 * used by one thread at a time); the counts are the process's.
 */
#ifndef OFFPAY_STORE_LOCKWAIT_H
#define OFFPAY_STORE_LOCKWAIT_H

#include <stdint.h>
#include <time.h>

#include "offpay/error.h"
#include "offpay/settle.h"

/* The default bound, ms: an upload's own (offpayd starts none of its
 * transactions 30 s after its time, src/server/server.h
 * SRV_COMMIT_WITHIN), so that one waiting no longer than that for the
 * lock never starts later. */
#define OFFPAY__LOCKWAIT_MS 30000L
/* A wait this long is said once on the log (or half the bound, when that
 * is shorter). */
#define OFFPAY__LOCKWAIT_SAY_MS 2000L

/* Sets the bound (ms > 0) for every transaction of the process from now
 * on (offpayd's --lock-wait). Without it: OFFPAY__LOCKWAIT_MS, or in a
 * test build $OFFPAY_TEST_LOCK_WAIT_MS when set. */
void offpay__lockwait_set(long ms);
long offpay__lockwait_ms(void);
long offpay__lockwait_say_ms(void);

/* A request of offpayd starts or ends on the calling thread:
 * offpay__lockwait_detail says nothing of an earlier one's. (Each
 * transaction has its own bound, not the request: a request of many
 * transactions, such as an operator's release of every escrow due, would
 * else give up the wait its later ones make for the gate behind this
 * process's other writers. An upload starts no transaction 30 s after
 * its time, so its last waits until 30 s after that at most.) */
void offpay__lockwait_forget(void);

/* ---- the engine's transaction (src/settle/ledger.c, run_tx) ---------- */

/* A transaction starts (its first attempt): its bound starts now. Nested
 * calls count, only the outermost starts and ends one. */
void offpay__lockwait_tx_begin(void);
/* After an attempt failed OFFPAY_EBUSY and was rolled back: 1 when that
 * was a lock's wait cut at its slice with time left (PostgreSQL's
 * lock_timeout, offpay__lockwait_timeout_ms): run it again; else 0, and
 * OFFPAY_EBUSY stands (when the bound ran out, it is said why:
 * offpay__lockwait_detail). */
int offpay__lockwait_tx_again(void);
/* The transaction ended with rc (wrote: a write transaction): a wait it
 * made is counted by how it ended; a write that went through clears the
 * process's "locked" state. */
void offpay__lockwait_tx_end(offpay_err rc, int wrote);

/* ---- the backends --------------------------------------------------- */

/* SQLite's busy handler's body: called as the store waits for the lock
 * of the file `file` (count: SQLite's, 0 at a wait's first call). The ms
 * to sleep before it tries again, or 0 to give up: the transaction's time
 * is out (offpay__lockwait_gave_up then says 1). */
long offpay__lockwait_busy(int count, const char *file);
/* The last wait of the calling thread gave up at the bound, or the
 * store's own wait ran out (offpay__lockwait_give_up): SQLITE_BUSY is then
 * OFFPAY_EBUSY, not a conflict to rerun. Cleared as a wait or a
 * transaction starts. */
int offpay__lockwait_gave_up(void);
/* The ms the calling thread's transaction may still wait (at least 1):
 * outside one, the bound. */
long offpay__lockwait_left_ms(void);
/* The store gave up a wait of its own (SQLite's writer gate, behind this
 * process's other writers: own is 1 when none of them waits for another
 * process) at the bound: said as offpay__lockwait_busy's would be. */
void offpay__lockwait_give_up(const char *file, int own);
/* The wait on a SQLite file ended with its lock had: the transaction no
 * longer waits (health), and, a write lock, nobody holds it. */
void offpay__lockwait_got(int write);
/* PostgreSQL: the lock_timeout (ms, at least 1) of the calling thread's
 * next transaction: what its bound leaves, cut to offpay__lockwait_say_ms
 * until its wait was said, so that a wait is said while it lasts. */
long offpay__lockwait_timeout_ms(void);
/* PostgreSQL: a statement's lock_timeout ran out (SQLSTATE 55P03). */
void offpay__lockwait_timed_out(void);
/* 1 when the calling thread's last statement ran out its lock_timeout
 * and who holds the lock is to be named (offpay__lockwait_holders). */
int offpay__lockwait_want_holders(void);
/* PostgreSQL: the sessions that hold locks on the ledger's tables, as
 * the store could name them ("" none), for the line and the hint. */
void offpay__lockwait_holders(const char *who);

/* ---- what offpayd and the CLI say ----------------------------------- */

/* Why the calling thread's last transaction failed OFFPAY_EBUSY waiting
 * for a lock: another process holds it, which, for how long, and that
 * nothing was changed; "" when it did not. Valid until its next
 * transaction. */
const char *offpay__lockwait_detail(void);

/* What the process knows of the waits, for health and metrics. */
#define OFFPAY__LOCKWAIT_TEXT_MAX 768
typedef struct offpay__lockwait_state {
    unsigned waiting; /* transactions waiting now for another's lock */
    long     longest; /* ms the longest of them has waited */
    int      locked;  /* the last such wait gave up, and no write went
                         through since */
    long locked_ago;  /* ms since it gave up */
    /* transactions whose wait was said (past offpay__lockwait_say_ms) that
     * had the lock in the end, and those that gave up */
    uint64_t acquired, gave_up;
    char     what[OFFPAY__LOCKWAIT_TEXT_MAX]; /* the longest wait's lock, or the
                               last give-up's     detail when none waits; "" */
} offpay__lockwait_state;
void offpay__lockwait_state_get(offpay__lockwait_state *out);
/* The lock was found free (a probe took and released it): not locked. */
void offpay__lockwait_clear(void);
/* Whether the write lock of l's ledger is free: 1 (taken and let go at
 * once, and offpay__lockwait_clear done), 0 (another process holds it), -1
 * (cannot tell: a PostgreSQL ledger, or a writer of this process holds
 * it). Never waits. l is not in a transaction. */
int offpay__ledger_lock_probe(offpay_ledger *l);

#endif /* OFFPAY_STORE_LOCKWAIT_H */
