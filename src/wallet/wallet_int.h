/*
 * wallet/wallet_int.h — internal to liboffpay (not installed): the wallet's
 * state loader and writer on their own, without a file, a lock or a
 * passphrase, for the fuzz target (fuzz/fuzz_wallet_state.c) and tests.
 */
#ifndef OFFPAY_WALLET_INT_H
#define OFFPAY_WALLET_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "offpay/wallet.h"

/*
 * offpay__wallet_state_load — parse a decrypted wallet state (the JSON
 * described at the top of wallet.c, format 1 to 4) into a new wallet
 * handle that has no file: every call that would save fails. The parser is
 * strict: exact key sets, types and ranges, no duplicate credentials,
 * codes of one credential in strictly increasing counter order, (formats
 * 1 and 2) every code's counter below its credential's next counter,
 * every receipt decodable and matching its code, at most
 * OFFPAY_WALLET_RECEIPTS_PER_CODE per code. A format 1 or 2 state (its log
 * inside) gets a fresh log key, as a migration would, so that
 * offpay__wallet_log_image gives the log a format 4 state goes with; a
 * format 3 or 4 state has an empty log until offpay__wallet_log_replay
 * (a format 4 state whose checkpoint counts records has its sums, but
 * offpay_wallet_get_spend and offpay__wallet_log_image refuse it with
 * OFFPAY_EINVAL: its codes are in a log file it does not have).
 * Needs offpay_init().
 * On success *out is the handle (offpay_wallet_close it); else NULL.
 * Errors: OFFPAY_EINVAL (NULL out, or NULL plain with len > 0),
 * OFFPAY_ECORRUPT (anything malformed, or len above the wallet file's
 * plaintext limit), OFFPAY_ENOMEM.
 */
offpay_err offpay__wallet_state_load(const uint8_t *plain, size_t len,
                                     offpay_wallet **out);

/*
 * offpay__wallet_state_dump — the state of w as the JSON the wallet file
 * holds (always the current format, 4: no log; the checkpoint as loaded
 * or last taken). *text is NUL-terminated, *len its length; it holds the
 * wallet's secret key seed: free it with
 * offpay__json_free (core/jsonutil.h), which wipes it after offpay_init().
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_ECRYPTO.
 */
offpay_err offpay__wallet_state_dump(const offpay_wallet *w, char **text,
                                     size_t *len);

/*
 * offpay__wallet_log_image — the whole spend log of w as a log file image
 * (wallet/spendlog.h: header, then each code followed by its receipts,
 * sealed with w's log key and fresh nonces). *img is malloc'd (free it),
 * *len its length. Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_ECRYPTO.
 */
offpay_err offpay__wallet_log_image(const offpay_wallet *w, uint8_t **img,
                                    size_t *len);

/*
 * offpay__wallet_log_replay — replay a whole log file image into w, a
 * format 3 or 4 state from offpay__wallet_state_load whose log is still
 * empty (else OFFPAY_EINVAL), as reading a whole log does: records
 * authenticated under w's log key at their index, a torn last record
 * dropped unless the checkpoint covers it (*valid_len, when not NULL, is
 * the length of what was kept), every record strictly checked, and the
 * checkpoint's chain and sums matched at its record count.
 * On OFFPAY_ECORRUPT w holds what came before the bad record.
 * Errors: OFFPAY_EINVAL, OFFPAY_ECORRUPT, OFFPAY_ENOMEM.
 */
offpay_err offpay__wallet_log_replay(offpay_wallet *w, const uint8_t *img,
                                     size_t len, size_t *valid_len);

/*
 * offpay__wallet_log_seal — seal a 256-byte record plaintext as record
 * index of w's log into rec (280 bytes): lets the log fuzz target reach
 * the record parser past the AEAD. Errors: OFFPAY_EINVAL, OFFPAY_ECRYPTO.
 */
offpay_err offpay__wallet_log_seal(const offpay_wallet *w, uint64_t index,
                                   const uint8_t plain[256], uint8_t rec[280]);

/* Codes between two checkpoints a wallet writes by codes alone (4096; tests
 * lower it). */
extern uint32_t offpay__wallet_checkpoint_every;
/* Credentials a wallet holds before an install drops a finished one
 * (OFFPAY_WALLET_CREDS_MAX; the power-loss test lowers it, never above). */
extern uint32_t offpay__wallet_creds_max;

/*
 * offpay__wallet_sign_http — signs an offpayd request (the format of
 * terminal/upload_int.h) with the wallet's own key: what
 * offpay_wallet_upload (upload.c) sends. out is an offpay__http_auth.
 * Errors: those of offpay__http_sign.
 */
struct offpay__http_auth;
offpay_err offpay__wallet_sign_http(const offpay_wallet *w, const char *method,
                                    const char *path, uint32_t time,
                                    const uint8_t *body, size_t len,
                                    struct offpay__http_auth *out);

/* What signs the wallet's requests to offpayd (upload.c, online.c): its
 * key, at now moved by offset (offpayd's clock minus the wallet's) for
 * the first try, and later by the seconds since t0 (time(NULL) when the
 * signing began) for a resend. The ctx of the two callbacks of an
 * offpay__http_signer (terminal/upload_int.h) below. */
typedef struct offpay__wallet_signing {
    const offpay_wallet *w;
    uint32_t             now;
    int64_t              offset;
    time_t               t0;
} offpay__wallet_signing;

/*
 * offpay__wallet_clock_offset — offpayd's clock at base (GET /v1/health,
 * tried once) minus now, the wallet's: what its requests are signed with
 * added, so that a device whose clock is off is still heard, as a
 * terminal is. Beyond a minute it warns in the log, once per process
 * (codes are dated by the device's clock, and terminals refuse codes that
 * far off). 0 when
 * offpayd's clock cannot be read (the request then says why).
 */
int64_t offpay__wallet_clock_offset(const char *base, uint32_t now);

/* offpay__wallet_clock_offset, and *known (may be NULL) 1 when offpayd's
 * clock was read (the offset is a measure, not the 0 of "unknown"): what
 * the sync keeps for 'wallet pay' to warn by (offpay_wallet_clock). */
int64_t offpay__wallet_clock_read(const char *base, uint32_t now, int *known);

/* base_url when given (checked: http(s), at most OFFPAY_WALLET_URL_MAX),
 * else the server the wallet enrolled with, copied into buf; *base points
 * to the one taken. Errors: OFFPAY_EINVAL, those of offpay_wallet_server
 * (OFFPAY_ENOTFOUND: never enrolled). */
offpay_err offpay__wallet_base(const offpay_wallet *w, const char *base_url,
                               char         buf[OFFPAY_WALLET_URL_MAX + 1],
                               const char **base);
uint32_t   offpay__wallet_signing_time(void *ctx, int attempt);
offpay_err offpay__wallet_signing_sign(void *ctx, const char *method,
                                       const char *path, uint32_t time,
                                       const uint8_t *body, size_t len,
                                       struct offpay__http_auth *out);

/*
 * offpay__wallet_upload_body — the body of POST /v1/wallet/upload for at
 * most max spend log entries from entry from on (upload.c), skipping those
 * whose credential the wallet no longer holds (counted in *skipped, when
 * not NULL). *body is JSON text (free with offpay__json_free), NULL when
 * no entry was left; *n codes are in it, index[k] and receipts[k] (either
 * may be NULL; room for max) say which entry each is and how many
 * receipts it carries; *next is the entry to continue from.
 * Errors: OFFPAY_ENOMEM, those of reading the log.
 */
offpay_err offpay__wallet_upload_body(const offpay_wallet *w, size_t from,
                                      size_t max, char **body, size_t *index,
                                      uint32_t *receipts, size_t *n,
                                      size_t *next, size_t *skipped);

/* ---- the settlement sync and safe restore (online.c) --------------- */

/* offpay_wallet_create with the key pair of seed (a restore). */
/* Marks w as made by a restore (offpay_wallet_add_credential then adds
 * frozen) and saves it. */
offpay_err offpay__wallet_mark_restored(offpay_wallet *w);

offpay_err offpay__wallet_create_seeded(const char    *path,
                                        const char    *passphrase,
                                        const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                        const uint8_t *bundle,
                                        size_t         bundle_len,
                                        const uint8_t  seed[OFFPAY_SEED_BYTES],
                                        offpay_wallet **out);

/* offpay_wallet_add_credential, frozen (no code until a sync unfreezes
 * it) and with its next counter at least floor. */
offpay_err offpay__wallet_add_cred_online(offpay_wallet *w, const uint8_t *cred,
                                          size_t len, uint32_t now, int frozen,
                                          uint32_t floor);

/* What a backup holds: the key's seed (secret: wipe it), the pinned root
 * key and the bundle (cap bytes of room). Errors: OFFPAY_EINVAL,
 * OFFPAY_ECRYPTO. */
offpay_err offpay__wallet_backup_parts(const offpay_wallet *w,
                                       uint8_t  seed[OFFPAY_SEED_BYTES],
                                       uint8_t  root_pk[OFFPAY_PK_BYTES],
                                       uint8_t *bundle, size_t cap,
                                       size_t *bundle_len);

/* Credential i's exact bytes. Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND. */
offpay_err offpay__wallet_cred_bytes(const offpay_wallet *w, size_t i,
                                     uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                                     size_t *len);

/* Dropped credentials whose codes the log holds, whose serials a wallet
 * keeps (wallet.c "pruned"), and how long after its expiry a credential
 * every code of which was presented is finished without offpayd saying
 * it was released (90 days). */
#define OFFPAY__WALLET_PRUNED_MAX       32768
#define OFFPAY__WALLET_EXPIRED_LONG_AGO (90u * 86400u)

/* One line to the library's diagnostics (core/log.h's offpay__log, which
 * wallet.c cannot name: spendlog.h's log type has the name). */
void offpay__wallet_say(const char *line);

/* Codes per credential whose settlement a sync keeps (wallet.c). */
#define OFFPAY__WALLET_DECIDED_MAX 16

/* What settlement decided for a code with a receipt, kept when it differs
 * from what the receipts charged (the upload's answer, online.c). */
typedef struct offpay__wallet_decided {
    uint32_t counter;
    int64_t  paid;    /* credited to merchants for the code */
    int64_t  above;   /* of the code's hold (authorized beyond the receipts),
                         what settlement paid: no longer held */
    uint64_t case_id; /* the case offpayd opened (a receipt's), 0: none */
} offpay__wallet_decided;

/* What a sync learnt about one credential. */
typedef struct offpay__wallet_sync_cred {
    uint64_t serial;
    uint32_t floor;       /* the next counter is at least this (0: no change) */
    int      unfreeze;    /* 1: the server told the highest counter it saw */
    int      synced;      /* 1: remaining and outstanding are the server's */
    int      revoked;     /* 1: revoked (never undone): no code */
    /* 1: offpayd refused its codes ENOT_ISSUED and does not list it: it
     * is frozen for good ("frozen":2 in wallet.c), no code */
    int      unknown;
    int64_t  remaining;   /* the escrow, as the server holds it */
    int64_t  outstanding; /* authorized by codes no terminal presented yet */
    /* the escrow's release, as offpayd tells it (release_due 0: not told,
     * the four are left as they were) */
    int      released;    /* 1: the escrow went back to the account */
    uint32_t released_at; /* when */
    int64_t  returned;    /* what it returned, within [0, the limit] */
    uint32_t release_due; /* when the release is (was) due */
    uint32_t late_until;  /* the late window's end (docs/settlement.md §6) */
    /* decided[0 .. n_decided) (counter order, at most
     * OFFPAY__WALLET_DECIDED_MAX) replace what the credential kept, when
     * has_decided (the sync's upload answered for its codes) */
    int                           has_decided;
    const offpay__wallet_decided *decided;
    size_t                        n_decided;
} offpay__wallet_sync_cred;

/* Applies v[0..n) (serials the wallet does not hold are skipped; the
 * reservations at this moment are recorded with a synced view) and saves
 * once; on an error nothing changed. Errors: OFFPAY_EINVAL, OFFPAY_ERANGE
 * (a synced remaining, outstanding or returned outside [0, the
 * credential's limit]: a bad reply, nothing applied), OFFPAY_ENOMEM,
 * those of saving. */
offpay_err offpay__wallet_sync_apply(offpay_wallet                  *w,
                                     const offpay__wallet_sync_cred *v,
                                     size_t                          n);

/*
 * offpay__wallet_let_go — lets other processes use the wallet (a payment
 * at a gate) while this handle waits on offpayd: the lock is released,
 * and until offpay__wallet_retake the handle writes nothing (OFFPAY_EBUSY)
 * but reads and signs requests from what it holds. *done is 1 when it let
 * go; a reader's handle, one already let go, or one with something held
 * in memory only (a failed append, a file still to migrate) keeps what it
 * has (*done 0); one whose retake failed gets OFFPAY_EBUSY.
 * offpay__wallet_retake takes the lock again (waiting as an open does:
 * OFFPAY_EBUSY after offpay__lock_wait_ms) and reads the wallet's files
 * again, always, under the sealer it holds (OFFPAY_EPASSPHRASE: sealed
 * again under another key; OFFPAY_ECORRUPT: another wallet's file). On
 * failure the handle stays let go, without the lock, and is to be closed
 * (a later retake that succeeds makes it whole again); a no-op for a
 * handle not let go.
 */
offpay_err offpay__wallet_let_go(offpay_wallet *w, int *done);
offpay_err offpay__wallet_retake(offpay_wallet *w);

/* offpay__wallet_take_back — offpay__wallet_retake of a handle this
 * caller let go (*let 1; then set to 0), saying in the log why it could
 * not; a no-op when *let is 0. */
offpay_err offpay__wallet_take_back(offpay_wallet *w, int *let);

/* offpay__wallet_sync_lock — one sync or allowance of a wallet with
 * offpayd at a time: takes path.sync.lock without waiting (OFFPAY_EBUSY:
 * another holds it). *fd is for offpay__lock_release. */
offpay_err offpay__wallet_sync_lock(const offpay_wallet *w, int *fd);

/* The wallet file's path (directories resolved), or NULL for a handle
 * without a file. Valid while w is open. */
const char *offpay__wallet_path(const offpay_wallet *w);

/* The trust bundle w holds (valid while w is open and unchanged). */
const offpay_trust_bundle *offpay__wallet_bundle(const offpay_wallet *w);

/* The root key w pins (valid while w is open). */
const uint8_t *offpay__wallet_root(const offpay_wallet *w);

#endif
