/*
 * faultfs.h — simulated power loss for tests. It lives with the tests and
 * is linked into test_powerloss only (tests/CMakeLists.txt): the library
 * and every production build hold none of it.
 *
 * A power cut loses every write that was not yet synced. This layer
 * counts the I/O steps of an operation and, at step k, takes the image of
 * what would be on disk if the power failed there; every later step fails
 * as if the machine were dead; offpay__faultfs_reboot() then writes that
 * image over the real files, and the test reopens them as after a reboot.
 * The technique of SQLite's crash tests (test6.c), applied to:
 *
 *   - SQLite files (the terminal journal terminal.db, the ledger): a VFS
 *     wrapping the default "unix" VFS, registered as the default by
 *     offpay__faultfs_install(), so every later sqlite3_open_v2 of the
 *     library goes through it. Steps: xWrite, xTruncate, xSync, xDelete.
 *     Each file's durable bytes are what it held at its last xSync.
 *   - the wallet's files (wallet_file.c, spendlog.c), through the
 *     library's own offpay__file_fault_hook: the sealed file's atomic
 *     replace (steps open, write, fsync, close, rename, dirsync) and the
 *     spend log's appends (append, datasync). The temporary file's data is
 *     durable after its fsync; the rename after the directory's fsync; the
 *     log's bytes after its fdatasync.
 *
 * Modes say what a cut keeps of what was not synced:
 *   OFFPAY__FAULTFS_LOST  nothing: every file as at its last sync, every
 *                         unsynced rename undone;
 *   OFFPAY__FAULTFS_TORN  some of it: each unsynced 512-byte sector of a
 *                         SQLite file is old or new at random, the file
 *                         old or new length; a random prefix of the log's
 *                         unsynced tail; an unsynced rename kept;
 *   OFFPAY__FAULTFS_KEPT  all of it (what a SIGKILL leaves).
 *
 * Not thread-safe: one test thread at a time.
 */
#ifndef OFFPAY_TESTS_FAULTFS_H
#define OFFPAY_TESTS_FAULTFS_H

#include <stdint.h>

typedef enum offpay__faultfs_mode {
    OFFPAY__FAULTFS_LOST = 0,
    OFFPAY__FAULTFS_TORN = 1,
    OFFPAY__FAULTFS_KEPT = 2
} offpay__faultfs_mode;

/* Registers the VFS "offpay-powerloss" as SQLite's default and sets
 * offpay__file_fault_hook. Call before the databases are opened.
 * Returns 0, or -1 when SQLite refuses. Idempotent. */
int offpay__faultfs_install(void);

/* The wallet whose sealed file (path), path.tmp and path.log the hook
 * models; NULL for none. The path is copied. */
void offpay__faultfs_track_wallet(const char *path);

/* Starts counting steps from 0, taking every tracked file as durable now.
 * cut_at == 0: only count; else the power fails at step cut_at (1-based).
 * seed chooses the torn sectors. */
void offpay__faultfs_arm(uint64_t cut_at, offpay__faultfs_mode mode,
                         uint64_t seed);

/* Steps counted since offpay__faultfs_arm. */
uint64_t offpay__faultfs_steps(void);

/* 1 once the power has failed (and every I/O step fails). */
int offpay__faultfs_dead(void);

/* After the cut, with every handle closed: writes the image taken at the
 * cut over the tracked files (removing those it does not hold, and SQLite's
 * -shm files), then disarms. Without a cut it only disarms. Returns 0, or
 * -1 when a file could not be written. */
int offpay__faultfs_reboot(void);

#endif /* OFFPAY_TESTS_FAULTFS_H */
