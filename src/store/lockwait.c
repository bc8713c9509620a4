/*
 * lockwait.c — the bound on a transaction's waits for a lock another
 * process holds on the ledger, the line said while one lasts, and the
 * process's view of them (lockwait.h).
 *
 * Each thread keeps its transaction's state (a ledger handle is used by
 * one thread at a time, and SQLite's busy handler and libpq's statements
 * run on the caller's thread); a transaction that waits is on the
 * process's list while it waits, which health and metrics read.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/deadline.h"
#include "core/log.h"
#include "core/testhook.h"
#include "store/lockwait.h"

#define TEXT_MAX OFFPAY__LOCKWAIT_TEXT_MAX

typedef struct wait_ctx wait_ctx;
struct wait_ctx {
    int             depth; /* nested transactions: the outermost counts */
    struct timespec begun, until; /* the transaction's start and end of waits */
    struct timespec since;        /* the current wait's start */
    int             waiting;      /* since is set: a wait is going on */
    int             listed;       /* on the process's list (under mu) */
    int             said, gave_up, timed_out, want_holders;
    int             own;   /* gave up behind this process's own writers */
    int             pg;    /* the lock is PostgreSQL's, not a file's */
    long            slice; /* the last lock_timeout given, ms */
    char            file[256];
    char            holders[384];
    char            detail[TEXT_MAX];
    wait_ctx       *next, **prev;
};

static __thread wait_ctx me;

static long            bound_set; /* offpay__lockwait_set; 0: none */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static wait_ctx       *waits;  /* the transactions waiting now */
static int             locked; /* written atomically (read so by got) */
static struct timespec locked_at;
static uint64_t        n_acquired, n_gave_up;
static char            last_detail[TEXT_MAX];

static struct timespec now_mono(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

/* b - a in ms */
static long ms_between(struct timespec a, struct timespec b)
{
    return (long)(b.tv_sec - a.tv_sec) * 1000L +
           (b.tv_nsec - a.tv_nsec) / 1000000L;
}

static int before(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec ||
           (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* ms as an operator reads it: "30 s", "1.5 s" */
static const char *secs(long ms, char buf[24])
{
    if (ms < 0)
        ms = 0;
    if (ms >= 10000 || ms % 1000 == 0)
        snprintf(buf, 24, "%ld s", (ms + 500) / 1000);
    else
        snprintf(buf, 24, "%.1f s", (double)ms / 1000.0);
    return buf;
}

void offpay__lockwait_set(long ms)
{
    __atomic_store_n(&bound_set, ms > 0 ? ms : 0, __ATOMIC_RELAXED);
}

long offpay__lockwait_ms(void)
{
    long ms = __atomic_load_n(&bound_set, __ATOMIC_RELAXED);

    if (ms > 0)
        return ms;
#ifdef OFFPAY_TEST_HOOKS
    if ((ms = offpay__test_number("OFFPAY_TEST_LOCK_WAIT_MS")) > 0)
        return ms;
#endif
    return OFFPAY__LOCKWAIT_MS;
}

long offpay__lockwait_say_ms(void)
{
    long half = offpay__lockwait_ms() / 2;

    return half < OFFPAY__LOCKWAIT_SAY_MS ? (half > 0 ? half : 1)
                                          : OFFPAY__LOCKWAIT_SAY_MS;
}

void offpay__lockwait_forget(void)
{
    me.gave_up = 0;
}

/* Under mu: off the process's list. */
static void unlist(void)
{
    if (!me.listed)
        return;
    *me.prev = me.next;
    if (me.next != NULL)
        me.next->prev = me.prev;
    me.listed = 0;
}

static void list(void)
{
    pthread_mutex_lock(&mu);
    if (!me.listed) {
        me.next = waits;
        me.prev = &waits;
        if (waits != NULL)
            waits->prev = &me.next;
        waits = &me;
        me.listed = 1;
    }
    pthread_mutex_unlock(&mu);
}

/* The end of waits of a wait outside a transaction (an open, a tool's
 * own statement): the bound from now. */
static void standalone_start(struct timespec now)
{
    me.until = offpay__time_plus_ms(now, offpay__lockwait_ms());
    me.said = 0;
    me.holders[0] = '\0';
}

void offpay__lockwait_tx_begin(void)
{
    if (me.depth++ > 0)
        return;
    me.begun = now_mono();
    me.until = offpay__time_plus_ms(me.begun, offpay__lockwait_ms());
    me.waiting = me.said = me.gave_up = me.timed_out = me.want_holders = 0;
    me.pg = 0;
    me.file[0] = me.holders[0] = me.detail[0] = '\0';
}

/* What holds the lock, as the line and the hint name it. */
static void what_of(const wait_ctx *w, char *buf, size_t cap)
{
    if (!w->pg)
        snprintf(buf, cap,
                 "the SQLite file %.200s has a write transaction open "
                 "elsewhere (the sqlite3 shell, a script, a tool: `fuser "
                 "%.200s` lists the processes that have it open)",
                 w->file, w->file);
    else
        snprintf(buf, cap,
                 "%s%.384s (pg_stat_activity and pg_locks name who holds "
                 "it: docs/operations.md, \"offpayd answers 503 EBUSY\")",
                 w->holders[0] != '\0' ? "held by " : "",
                 w->holders[0] != '\0' ? w->holders
                                       : "another PostgreSQL session");
}

static void say(struct timespec now)
{
    char what[TEXT_MAX], a[24], b[24];

    me.said = 1;
    what_of(&me, what, sizeof what);
    offpay__log(
        "offpay: waiting for the ledger's %s, held by another "
        "process: %s so far (giving up at %s, with nothing changed): %s",
        me.pg ? "lock" : "write lock", secs(ms_between(me.since, now), a),
        secs(offpay__lockwait_ms(), b), what);
}

/* The wait is given up: the detail a hint gives. */
static void give_up(struct timespec now)
{
    char what[TEXT_MAX], a[24];

    me.gave_up = 1;
    me.own = 0;
    what_of(&me, what, sizeof what);
    snprintf(
        me.detail, sizeof me.detail,
        "another process holds the ledger's %s: %.600s; waited %s, nothing "
        "was changed: try again once it is done",
        me.pg ? "lock" : "write lock", what,
        secs(ms_between(me.waiting ? me.since : me.begun, now), a));
    if (me.depth == 0) { /* no transaction's end will count it */
        pthread_mutex_lock(&mu);
        n_gave_up++;
        __atomic_store_n(&locked, 1, __ATOMIC_RELAXED);
        locked_at = now;
        memcpy(last_detail, me.detail, sizeof last_detail);
        pthread_mutex_unlock(&mu);
    }
}

long offpay__lockwait_busy(int count, const char *file)
{
    static const long steps[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    const size_t      n_steps = sizeof steps / sizeof steps[0];
    struct timespec   now = now_mono();
    long              left, step;

    if (count == 0) {
        me.gave_up = 0;
        if (me.depth == 0) {
            standalone_start(now);
            me.waiting = 0;
        }
        if (!me.waiting) {
            me.since = now;
            me.pg = 0;
            snprintf(me.file, sizeof me.file, "%s", file != NULL ? file : "");
            me.waiting = 1;
            if (me.depth > 0)
                list();
        }
    }
    left = ms_between(now, me.until);
    if (left <= 0) {
        give_up(now);
        return 0;
    }
    if (!me.said && ms_between(me.since, now) >= offpay__lockwait_say_ms())
        say(now);
    step = steps[(size_t)count < n_steps ? (size_t)count : n_steps - 1];
    return step < left ? step : left;
}

int offpay__lockwait_gave_up(void)
{
    return me.gave_up;
}

long offpay__lockwait_left_ms(void)
{
    long left;

    if (me.depth == 0)
        return offpay__lockwait_ms();
    left = ms_between(now_mono(), me.until);
    return left > 0 ? left : 1;
}

void offpay__lockwait_give_up(const char *file, int own)
{
    struct timespec now = now_mono();
    char            a[24];

    if (!own) {
        if (!me.waiting) {
            me.since = me.depth > 0 ? me.begun : now;
            snprintf(me.file, sizeof me.file, "%s", file != NULL ? file : "");
            me.pg = 0;
            me.waiting = 1;
        }
        give_up(now);
        return;
    }
    me.gave_up = 1;
    me.own = 1;
    snprintf(me.detail, sizeof me.detail,
             "the ledger's write lock stayed with this process's other "
             "transactions for %s: nothing was changed; try again",
             secs(ms_between(me.depth > 0 ? me.begun : now, now), a));
}

void offpay__lockwait_got(int write)
{
    if (me.waiting) {
        me.waiting = 0;
        pthread_mutex_lock(&mu);
        unlist();
        pthread_mutex_unlock(&mu);
    }
    if (write && __atomic_load_n(&locked, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&mu);
        __atomic_store_n(&locked, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&mu);
    }
}

long offpay__lockwait_timeout_ms(void)
{
    struct timespec now = now_mono();
    long            left, say_left;

    if (me.depth == 0)
        return me.slice = offpay__lockwait_ms();
    left = ms_between(now, me.until);
    if (left < 1)
        left = 1;
    me.slice = left;
    if (!me.said) {
        say_left = offpay__lockwait_say_ms() -
                   (me.waiting ? ms_between(me.since, now) : 0);
        if (say_left < 1)
            say_left = 1;
        if (say_left < left)
            me.slice = say_left;
    }
    return me.slice;
}

void offpay__lockwait_timed_out(void)
{
    me.timed_out = 1;
    me.want_holders = 1;
}

int offpay__lockwait_want_holders(void)
{
    return me.want_holders;
}

void offpay__lockwait_holders(const char *who)
{
    pthread_mutex_lock(&mu);
    snprintf(me.holders, sizeof me.holders, "%s", who != NULL ? who : "");
    pthread_mutex_unlock(&mu);
    me.want_holders = 0;
}

int offpay__lockwait_tx_again(void)
{
    struct timespec now;

    if (!me.timed_out)
        return 0;
    me.timed_out = 0;
    now = now_mono();
    if (!me.waiting) {
        /* the statement waited its whole lock_timeout */
        me.since = offpay__time_plus_ms(now, -me.slice);
        me.pg = 1;
        me.waiting = 1;
        if (me.depth > 0)
            list();
    }
    if (me.depth == 0 || ms_between(now, me.until) <= 0) {
        give_up(now);
        return 0;
    }
    if (!me.said)
        say(now);
    return 1;
}

void offpay__lockwait_tx_end(offpay_err rc, int wrote)
{
    if (me.depth == 0 || --me.depth > 0)
        return;
    pthread_mutex_lock(&mu);
    unlist();
    if (me.gave_up && !me.own && rc == OFFPAY_EBUSY) {
        n_gave_up++;
        __atomic_store_n(&locked, 1, __ATOMIC_RELAXED);
        locked_at = now_mono();
        memcpy(last_detail, me.detail, sizeof last_detail);
    } else if (!me.gave_up) {
        n_acquired += me.said != 0;
        if (rc == OFFPAY_OK && wrote)
            __atomic_store_n(&locked, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&mu);
    me.waiting = 0;
}

const char *offpay__lockwait_detail(void)
{
    return me.gave_up ? me.detail : "";
}

void offpay__lockwait_state_get(offpay__lockwait_state *out)
{
    struct timespec now = now_mono();
    const wait_ctx *longest = NULL;

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&mu);
    for (const wait_ctx *w = waits; w != NULL; w = w->next) {
        out->waiting++;
        if (longest == NULL || before(w->since, longest->since))
            longest = w;
    }
    if (longest != NULL) {
        out->longest = ms_between(longest->since, now);
        what_of(longest, out->what, sizeof out->what);
    } else if (locked)
        snprintf(out->what, sizeof out->what, "%s", last_detail);
    out->locked = locked;
    out->locked_ago = locked ? ms_between(locked_at, now) : 0;
    out->acquired = n_acquired;
    out->gave_up = n_gave_up;
    pthread_mutex_unlock(&mu);
}

void offpay__lockwait_clear(void)
{
    pthread_mutex_lock(&mu);
    __atomic_store_n(&locked, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mu);
}
