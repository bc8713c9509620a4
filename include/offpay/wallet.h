/*
 * offpay/wallet.h — the payer's wallet.
 *
 * A wallet is two files. The wallet file (path), sealed under the payer's
 * passphrase (Argon2id, then XChaCha20-Poly1305) and replaced atomically
 * when it changes, holds the wallet's Ed25519 key (generated on the
 * device, never leaves it), the pinned root key and trust bundle, the
 * credentials and a random key for the log. The spend log (path.log, the
 * same directory) holds every code the wallet made and every receipt it
 * took, one fixed-size record each, appended and never rewritten; each
 * record is encrypted and authenticated (ChaCha20-Poly1305) under the log
 * key, with its place in the log bound in, so records cannot be read,
 * forged, reordered or moved from another wallet. A code costs one
 * signature and one durable append, however long the history. The two
 * files belong together: copy, move or delete them together (a wallet
 * file without its log does not open: OFFPAY_ECORRUPT).
 *
 * Overspend safety (docs/protocol.md §6): every code reserves its
 * authorized amount the moment it is made, and the reservation and the new
 * counter are on disk (appended to the log and fdatasync'd) before the code
 * is returned. The next counter of a credential comes from the log (one
 * more than the highest logged), so no crash can make it be used twice; a
 * power cut in the middle of an append leaves a torn last record, which is
 * dropped at the next open (its code was never returned). A code that was never
 * scanned stays reserved, so no sequence of crashes, refreshed codes or
 * unscanned codes lets the codes of one credential authorize more than its
 * limit. A receipt records what the merchant charged (confirmed) but does
 * not release the rest (held): offline, the wallet cannot know that no
 * other terminal accepted the same code, say from a captured screen, for
 * more. Only settlement may release it: offpay_wallet_sync does, from
 * the server's view of the escrow (docs/settlement.md §11).
 * Every valid receipt for a code is kept (up to
 * OFFPAY_WALLET_RECEIPTS_PER_CODE), not just the first: an unbound code may
 * have been taken by more than one terminal, and each receipt is evidence
 * for settlement.
 *
 * One file, one name. The wallet resolves the directories of its path and
 * locks the real file (path.lock beside it). It refuses (OFFPAY_ELINKED) a
 * wallet file or log that is a symbolic link or has more than one hard
 * link, at open, at create and before every save or append: two names for
 * one wallet would let each be locked and written on its own, forking the
 * wallet into two histories that reuse counters.
 *
 * A copy is not a backup. Putting an older copy of the files back makes the
 * wallet reuse counters it already spent (a double spend, which gets the
 * credential revoked). offpay_wallet_backup and offpay_wallet_restore are
 * the safe way: the restored credentials stay frozen until
 * offpay_wallet_sync reports the highest counter the server has seen.
 *
 * An offpay_wallet is not thread-safe. An open wallet holds an exclusive
 * lock (the file path.lock beside it): a second open of the same wallet —
 * from another process or this one — waits up to 10 s, then gets
 * OFFPAY_EBUSY. While offpay_wallet_sync, _upload, _allowance or
 * _report_lost waits on offpayd, the handle lets the lock go (a payment
 * through another handle goes on), writes nothing, and takes the lock
 * back, reading the wallet's files again, before it writes anything of
 * the answer; a callback they call (fn) runs with the lock let go, when
 * writes through this handle fail with OFFPAY_EBUSY. If the lock cannot be
 * taken back (another handle held it past the wait: OFFPAY_EBUSY; the
 * file sealed under another key meanwhile: OFFPAY_EPASSPHRASE), the call
 * fails and the handle writes nothing more: close it and open the wallet
 * again. One sync or allowance of a wallet runs at a time (path.sync.lock):
 * another gets OFFPAY_EBUSY at once.
 */
#ifndef OFFPAY_WALLET_H
#define OFFPAY_WALLET_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct offpay_wallet offpay_wallet;

/* Most codes a wallet's log holds: a limit no payer meets (100 codes a day
 * for 100 years is 3.65 million), there to bound memory (~90 bytes a code)
 * and the log (280 bytes a record, ~1.1 GB at the limit). Past it, making
 * a code is OFFPAY_ERANGE. Opening reads the whole log: ~0.3 s more per
 * million codes (docs/benchmarks.md). */
#define OFFPAY_WALLET_SPENDS_MAX 4000000

/* Most credentials a wallet holds (each ~300 bytes of the sealed file's
 * 1 MiB). Adding one more drops the oldest the wallet is finished with
 * (released by offpayd and past its late window, or expired 90 days ago
 * with every code seen by offpayd; never a frozen one), in the same
 * atomic write; its codes stay in the log. With none finished it is
 * OFFPAY_ERANGE (the log line says why), nothing changed. */
#define OFFPAY_WALLET_CREDS_MAX 2048

/* Most receipts kept for one code. Taking another distinct receipt for a
 * code that has this many is OFFPAY_ERANGE (it is not kept). Terminals
 * make one receipt per acceptance, so more than a few means the code was
 * shown to several terminals. */
#define OFFPAY_WALLET_RECEIPTS_PER_CODE 4

/* Defaults for the checks a wallet makes on a merchant's request code. */
#define OFFPAY_WALLET_SKEW        300 /* clock skew allowed, seconds */
#define OFFPAY_WALLET_REQUEST_AGE 600 /* oldest request shown, seconds */

/*
 * offpay_wallet_create — make a new wallet file at path (must not exist):
 * a fresh key pair, the pinned root key and the trust bundle (verified
 * against the root key). Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS,
 * OFFPAY_EPASSPHRASE_SHORT (under 8 characters), OFFPAY_EISDIR (path is a
 * directory), OFFPAY_ELINKED (path is a symbolic
 * link, even a dangling one), the bundle's decode/verify errors,
 * OFFPAY_ENOMEM, and the file system's reason when the file cannot be
 * written, with nothing created: OFFPAY_ENOENT (its directory does not
 * exist), OFFPAY_ENOTDIR, OFFPAY_EACCES, OFFPAY_EROFS, OFFPAY_ENOSPC (disk
 * full), else OFFPAY_EIO.
 */
offpay_err offpay_wallet_create(const char *path, const char *passphrase,
                                const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                const uint8_t *bundle, size_t bundle_len,
                                offpay_wallet **out);

/*
 * offpay_wallet_open — open and decrypt a wallet file and replay its log.
 * A file written by an older version (state formats 1 and 2, which kept
 * the log inside the sealed file) opens and is migrated once: the log is
 * written beside it, then the file is rewritten in the current format
 * (where that cannot be written, say on read-only media, it opens all the
 * same and the next change migrates it). A torn last record of the log
 * (a power cut during an append) is dropped. Only the log records since
 * the checkpoint the file carries (at most 4,095 codes' worth, unless
 * receipts follow) are decrypted: balances and counters start from the
 * checkpoint, and older records are read when first needed
 * (offpay_wallet_get_spend).
 * The handle holds the wallet's lock (path.lock, created if missing)
 * until closed, so it needs write access to the directory: on a read-only
 * mount it fails with OFFPAY_EROFS (use offpay_wallet_open_readonly).
 * Errors: OFFPAY_ENOTFOUND (no file at path), OFFPAY_ELINKED (the file or
 * its log is a symbolic link or has more than one hard link; nothing is
 * read or written), OFFPAY_EISDIR (path is a directory),
 * OFFPAY_EPASSPHRASE, OFFPAY_ECORRUPT (including a missing log, a
 * damaged record before the last, or a log shorter than its checkpoint),
 * OFFPAY_EBUSY (open in another
 * process), OFFPAY_ENOMEM, and the file system's reason: OFFPAY_ENOENT
 * (its directory does not exist), OFFPAY_ENOTDIR, OFFPAY_EACCES,
 * OFFPAY_EROFS, else OFFPAY_EIO. Every save of the handle reports a full
 * disk, a read-only mount or a lost permission by name (OFFPAY_ENOSPC,
 * OFFPAY_EROFS, OFFPAY_EACCES), and then the file is unchanged.
 */
offpay_err offpay_wallet_open(const char *path, const char *passphrase,
                              offpay_wallet **out);

/*
 * offpay_wallet_open_readonly — open a wallet for reading only (balances,
 * the spend log, the public key), without writing anything: no lock file
 * is created, so it works on a read-only mount, a full disk, or a
 * directory the caller may not write. It takes a shared lock on path.lock
 * (when that file exists) while it reads the file, so it waits for a
 * writer that holds the wallet open (up to 10 s, then OFFPAY_EBUSY) and
 * never reads a state a writer is in the middle of; the file itself is
 * only ever replaced whole (rename), so even without a lock file the read
 * is one complete state. The handle is a snapshot taken at open: it holds
 * no lock afterwards (writers are not held up) and does not see later
 * changes. It keeps no file key: every function that would change the
 * wallet (add a credential, pay, take a receipt, ...) fails with
 * OFFPAY_EINVAL and writes nothing, though it may have changed the
 * handle's memory, so use the handle only for reading.
 * Errors: those of offpay_wallet_open, less OFFPAY_EROFS from the lock.
 */
offpay_err offpay_wallet_open_readonly(const char *path, const char *passphrase,
                                       offpay_wallet **out);

/* Wipes the secrets and frees. NULL is a no-op. */
void offpay_wallet_close(offpay_wallet *w);

/* The wallet's public key (to send to the issuer for a credential). The key
 * pair is generated on the device; the secret half never leaves the sealed
 * wallet file. w must not be NULL. */
void offpay_wallet_public_key(const offpay_wallet *w,
                              uint8_t              pk[OFFPAY_PK_BYTES]);

/*
 * offpay_wallet_add_credential — store a credential from the issuer after
 * checking it: issuer key and signature (trust bundle), wallet key equal to
 * this wallet's (OFFPAY_EINVAL otherwise), not expired at now. Adding the
 * same credential twice is OFFPAY_EEXISTS. cred is the credential's bytes
 * (offpayd's JSON gives them in base64: decode first). Errors: also the
 * decoder's (OFFPAY_ETYPE, OFFPAY_ETRUNCATED, ...), OFFPAY_EEXPIRED,
 * OFFPAY_EKID_EXPIRED (its issuer key not valid at now: is the clock
 * behind?), OFFPAY_ECRED_SIG, OFFPAY_EUNKNOWN_KID, and those of writing
 * the wallet file. In a wallet made by offpay_wallet_restore the
 * credential is added frozen, as the backup's are: the lost device may
 * have used it, so it makes no code until a sync has told the highest
 * counter the server saw (offpay_wallet_get_balance says frozen).
 */
offpay_err offpay_wallet_add_credential(offpay_wallet *w, const uint8_t *cred,
                                        size_t len, uint32_t now);

/*
 * offpay_wallet_update_bundle — take a newer trust bundle from the issuer
 * (after a key rotation), verified against the pinned root key. A bundle
 * dated more than the wallet's skew after now is OFFPAY_EFUTURE_DATED; an
 * older bundle (lower sequence number) is OFFPAY_EBUNDLE_OLD.
 * Errors: decode errors, OFFPAY_EBUNDLE_SIG, OFFPAY_EFUTURE_DATED,
 * OFFPAY_EBUNDLE_OLD, OFFPAY_EIO.
 */
offpay_err offpay_wallet_update_bundle(offpay_wallet *w, const uint8_t *bundle,
                                       size_t len, uint32_t now);

/* The allowance of one credential, in its currency's minor units. */
typedef struct offpay_wallet_balance {
    uint64_t serial;
    uint16_t currency;
    uint32_t expires;
    int64_t  limit;     /* what the issuer reserved */
    int64_t  confirmed; /* charged, per the receipts taken (each code's
                           charged, see offpay_wallet_spend) */
    int64_t pending;    /* authorized by codes with no receipt yet */
    int64_t held;       /* authorized beyond what receipts say was charged,
                           held until settlement */
    int64_t available;  /* limit - confirmed - pending - held; below 0 when
                           receipts from several terminals for one code
                           charge more than it authorized */
    uint32_t codes;     /* codes made so far */
    int      usable;    /* 1 when valid at the time asked */
    /* the settlement sync's view (offpay_wallet_sync) */
    int frozen;      /* 1: restored, no code until a sync (ESYNC_REQUIRED);
                        2: offpayd does not know it (a sync's upload was
                        answered ENOT_ISSUED for its codes and offpayd lists
                        no such serial: its ledger restored from a backup
                        older than the credential), no code (ENOT_ISSUED) */
    int      synced; /* 1: available follows the last sync (below) */
    int64_t  escrow; /* the server's escrow at the last sync (else limit) */
    int64_t  released;     /* reservations settlement released: available -
                              (limit - confirmed - pending - held), or 0
                              when below (a restored wallet's log knows
                              less than the server) */
    uint32_t next_counter; /* the counter of the next code */
    int      revoked;      /* 1: a sync learnt it is revoked (EREVOKED) */
    /* The escrow's release, as the last sync (or lost-wallet report) was
     * told by offpayd; 0 for each when not told (an older offpayd, or
     * never synced). Once released the escrow holds nothing: available
     * is then below 0 by what the codes no terminal presented yet
     * authorize, which the account pays if they are presented before
     * late_until (docs/settlement.md §6); nothing of it can be spent. */
    int      escrow_released;    /* 1: the escrow went back to the account */
    uint32_t escrow_released_at; /* when */
    int64_t  escrow_returned;    /* what the release moved to the account */
    uint32_t release_due;        /* when the release is (was) due: the expiry
                                    offpayd holds (a lost wallet's: the report)
                                    plus its upload grace; after a lost-wallet
                                    report, the latest of the wallet's */
    uint32_t late_until;         /* the end of the late window */
    /* Of held: what settlement paid merchants beyond the receipts'
     * charges, for codes whose settlement the last sync learnt differs from
     * their receipts (offpay_wallet_spend's settled_paid): spent, no longer
     * held until settlement; in settled_above_codes codes. Since 0.15.0. */
    int64_t  settled_above;
    uint32_t settled_above_codes;
} offpay_wallet_balance;

/* Number of credentials held. */
size_t offpay_wallet_n_credentials(const offpay_wallet *w);

/* Balance of credential i (0-based, oldest first), judged at now.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (i out of range). */
offpay_err offpay_wallet_get_balance(const offpay_wallet *w, size_t i,
                                     uint32_t now, offpay_wallet_balance *out);

/* Cap of a consumer-presented code made without an amount: 0 means one tenth
 * of the credential's limit (the default). Saved in the wallet file. */
offpay_err offpay_wallet_set_default_cap(offpay_wallet *w, int64_t cap);

/*
 * offpay_wallet_pay — make a consumer-presented code authorizing up to
 * amount minor units (0: the default cap, limited to what is available) in
 * currency, from the newest usable credential that can cover it. The new
 * counter and the reservation are saved before *text is returned.
 * *text (the code's text form) is malloc'd: free() it. p (may be NULL)
 * receives the decoded code.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENO_CREDENTIAL (none valid in currency),
 * OFFPAY_EINSUFFICIENT, OFFPAY_EUNBOUND_REFUSED (credential forbids unbound
 * codes), OFFPAY_ESYNC_REQUIRED (restored: frozen until a sync),
 * OFFPAY_ENOT_ISSUED (the only credentials in currency are ones offpayd
 * does not know: offpay_wallet_balance's frozen 2), OFFPAY_ECOUNTER,
 * OFFPAY_ERANGE (OFFPAY_WALLET_SPENDS_MAX codes made), OFFPAY_ELINKED (the file
 * or its log gained a second name since it was opened: not logged, no code),
 * OFFPAY_ENOSPC, OFFPAY_EROFS, OFFPAY_EACCES, OFFPAY_EIO (not logged: no code;
 * the reservation stays in memory until the wallet is closed, the safe side).
 */
offpay_err offpay_wallet_pay(offpay_wallet *w, int64_t amount,
                             uint16_t currency, uint32_t now, char **text,
                             offpay_payment *p);

/*
 * offpay_wallet_read_request — decode and verify a merchant's request code
 * (text form) offline, so the payer can be shown the merchant's name and the
 * amount before confirming. Errors: the text and decode errors,
 * offpay_request_verify's errors.
 */
offpay_err offpay_wallet_read_request(const offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_request *q);

/*
 * offpay_wallet_pay_request — after the payer confirmed q (from
 * offpay_wallet_read_request), make the code bound to it: the request's
 * amount, merchant and nonce. Same saving rule and errors as
 * offpay_wallet_pay; q is re-verified first. A request answered before
 * (same merchant and nonce: the payer scanned it twice, or the terminal
 * never read the first code) gets the same code again, byte for byte,
 * and nothing more is reserved or written (offpay_wallet_n_spends does
 * not change); with another amount than the first answer's it is refused,
 * OFFPAY_EAMOUNT_MISMATCH. The wallet looks for that first answer in the
 * log it holds in memory, then, when opening read only the codes since
 * the checkpoint (every 4,096 codes, and when the sealed file is
 * rewritten: a credential added, a settlement sync), in the older log,
 * read once for it as offpay_wallet_get_spend does (~0.3 s per million
 * codes). Only if that older log cannot be read (damaged: see
 * offpay_wallet_get_spend) does a request answered before get a new code,
 * which reserves anew (the terminal takes only one of the two; the
 * other's reservation is released by settlement). Before 0.13.0 that
 * was so after every checkpoint.
 */
offpay_err offpay_wallet_pay_request(offpay_wallet *w, const offpay_request *q,
                                     uint32_t now, char **text,
                                     offpay_payment *p);

/*
 * offpay_wallet_take_receipt — verify a receipt code (text form) and keep
 * it with the payment it names (the reservation stays: see the top of this
 * file). Every distinct valid receipt for a code is kept, whichever
 * terminal made it and in whatever order they come: a terminal that only
 * saw an unbound code cannot, by delivering its receipt first, make the
 * genuine one refused. Taking the same receipt (same bytes) again is
 * OFFPAY_OK and changes nothing. The code's charged amount becomes the sum,
 * over the terminals that sent receipts, of the largest amount each
 * receipted (a reprinted receipt is not counted twice); it can only grow,
 * so a receipt never makes more available.
 * Errors: text/decode errors, offpay_receipt_verify's errors,
 * OFFPAY_ERECEIPT_MISMATCH (no such payment here, another currency, a
 * bound code's receipt from another merchant, or charged more than the
 * code authorized: such a receipt is never kept), OFFPAY_ERANGE (the code
 * already has OFFPAY_WALLET_RECEIPTS_PER_CODE receipts), OFFPAY_ELINKED,
 * OFFPAY_ENOSPC, OFFPAY_EROFS, OFFPAY_EACCES, OFFPAY_EIO (not kept); for a
 * code before the wallet's checkpoint, those of reading the older log
 * (offpay_wallet_get_spend).
 */
offpay_err offpay_wallet_take_receipt(offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_receipt *r);

/*
 * offpay_wallet_keep_receipt — offpay_wallet_take_receipt, and *added
 * (may be NULL) says whether the receipt was kept by this call (1) or had
 * been kept before, the same bytes, nothing changed (0; 0 on every error
 * too), so that the payer is not shown a reprint as a new charge. Since
 * 0.26.0.
 */
offpay_err offpay_wallet_keep_receipt(offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_receipt *r,
                                      int *added);

/* One entry of the wallet's spend log. */
typedef struct offpay_wallet_spend {
    uint64_t serial;
    uint32_t counter;
    uint32_t authorized;
    uint32_t time;
    int      bound;
    uint64_t merchant_id; /* bound codes only */
    int64_t  charged;     /* -1 while no receipt; else the sum over the
                             terminals of the largest amount each receipted,
                             plus the amount an older version recorded
                             without keeping its receipt */
    uint32_t n_receipts;  /* receipts kept (offpay_wallet_get_receipt) */
    /* What settlement paid merchants for it, as the last sync
     * (offpay_wallet_sync) was told, kept when that differs from what its
     * receipts charged (a terminal, or a copy of its key, uploaded another
     * charge than its receipt says); -1: none kept (no receipt, settled as
     * the receipts say, not settled yet, or not among the newest 16 such
     * codes of its credential). settled_case: the case offpayd opened for
     * it, 0: none. Since 0.15.0. */
    int64_t  settled_paid;
    uint64_t settled_case;
} offpay_wallet_spend;

/* Number of entries of the spend log, and entry i (oldest first).
 * Opening reads only the log since the wallet's last checkpoint: the first
 * call here (or to offpay_wallet_get_receipt or offpay_wallet_code_text)
 * that needs an older entry reads the whole log once, checked against the
 * checkpoint, and keeps it in w (so these take a const w that is never a
 * const object: not concurrently with any other call on w).
 * offpay_wallet_n_spends never reads.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (i out of range), and from that
 * first read OFFPAY_ECORRUPT (the log before the checkpoint damaged,
 * swapped or cut: balances and new codes are unaffected), OFFPAY_EIO (a
 * read failed, or a code whose append failed is held in w), OFFPAY_ENOMEM.
 */
size_t     offpay_wallet_n_spends(const offpay_wallet *w);
offpay_err offpay_wallet_get_spend(const offpay_wallet *w, size_t i,
                                   offpay_wallet_spend *out);

/* Receipt j (0-based, in the order taken) of spend log entry i, decoded;
 * offpay_receipt_encode gives back its exact bytes (evidence for
 * settlement). Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (i or j out of
 * range), those of reading the older log (offpay_wallet_get_spend). */
offpay_err offpay_wallet_get_receipt(const offpay_wallet *w, size_t i, size_t j,
                                     offpay_receipt *out);

/*
 * offpay_wallet_code_text — the text of code i of the spend log
 * (offpay_wallet_get_spend) once more: its fields signed again with the
 * wallet key. Ed25519 signatures are deterministic, so this is the very
 * text the wallet showed when it made the code, byte for byte: showing it
 * again reserves nothing and changes nothing (the code keeps its counter
 * and reservation). For a payer whose code was lost before a terminal
 * read it (an image that could not be written, a closed window).
 * *text (malloc'd, free() it) is NULL on error.
 * Errors: OFFPAY_EINVAL (NULL argument), OFFPAY_ENOTFOUND (i out of range,
 * or the code's credential is no longer in the wallet), OFFPAY_ENOMEM,
 * those of reading the older log (offpay_wallet_get_spend), and those of
 * making the log durable first (OFFPAY_EIO, ...: a record another process
 * wrote may not have reached the disk yet; nothing is shown).
 * A bound code comes back bound to its request (the log keeps the
 * request's nonce).
 * Thread safety: as the other readers (no concurrent change of w).
 */
offpay_err offpay_wallet_code_text(const offpay_wallet *w, size_t i,
                                   char **text);

/* ---- upload to offpayd (docs/api.md, POST /v1/wallet/upload) ------- */

/* What offpayd answered for one receipt sent with a code (docs/api.md,
 * the wallet upload's receipts[]). Since 0.15.0. */
typedef struct offpay_wallet_receipt_status {
    /* "settled", "agreed", "waiting", "mismatch", "rejected" */
    char outcome[12];
    char reason[40];      /* why rejected (an error name: offpay_errname), or
                             "" */
    uint64_t terminal_id; /* the receipt's terminal, 0: unknown */
    int64_t  amount;      /* the receipt's charge, minor units */
    int64_t  claimed;     /* what that terminal's own upload charged
                             (agreed, mismatch); -1: offpayd said none */
    uint64_t case_id;     /* the receipt_mismatch case it opened, 0: none */
} offpay_wallet_receipt_status;

/* What offpayd answered for one code of the spend log. */
typedef struct offpay_wallet_upload_status {
    size_t   index; /* spend log entry (offpay_wallet_get_spend) */
    uint64_t serial;
    uint32_t counter;
    /* "settled", "settled_guaranteed", "duplicate", "double_spend",
     * "unpaid", "not_settled" (no terminal nor receipt presented it yet),
     * "rejected" (reason says why), "error" (nothing decided: sent again
     * by the next upload) */
    char     status[24];
    char     reason[40]; /* an error name (offpay_errname), or "" */
    int64_t  paid;       /* credited to merchants for it, minor units */
    uint32_t receipts;   /* receipts sent with it */
    /* what offpayd made of them (docs/settlement.md §7) */
    uint32_t receipts_settled;  /* stood for a lost terminal's upload */
    uint32_t receipts_agreed;   /* the terminal uploaded the same charge */
    uint32_t receipts_waiting;  /* kept until the terminal uploads */
    uint32_t receipts_mismatch; /* a receipt_mismatch case was opened */
    uint32_t receipts_rejected;
    int64_t  refunded; /* of paid, given back to the payer's account by the
                          merchants' refunds (not what went back to the
                          guarantee); since 0.6.0 */
    /* each receipt's answer, receipt[0 .. n_receipt) in the order sent
     * (offpay_wallet_get_receipt's); n_receipt <= receipts. Since 0.15.0 */
    uint32_t                     n_receipt;
    offpay_wallet_receipt_status receipt[OFFPAY_WALLET_RECEIPTS_PER_CODE];
} offpay_wallet_upload_status;

typedef struct offpay_wallet_upload_report {
    size_t sent;        /* codes sent */
    size_t decided;     /* codes offpayd judged (every status but "error") */
    size_t settled;     /* of which some terminal or receipt presented */
    size_t not_settled; /* valid, not presented yet */
    size_t rejected;
    size_t skipped;    /* codes whose credential the wallet no longer holds */
    size_t mismatches; /* receipts offpayd found differing from the upload */
    size_t cases;      /* of the settled: presented as a duplicate or a double
                          spend, which opened a case against the credential */
} offpay_wallet_upload_report;

/*
 * offpay_wallet_upload — send the wallet's spend log from entry `from` on
 * (0: all of it) to offpayd at base_url ("http://127.0.0.1:8080"; NULL:
 * the server the wallet enrolled with, as for offpay_wallet_sync): each
 * code's exact bytes with every receipt kept for it, in batches of
 * batch_max codes (0: 100; offpayd's cap is 200), each request signed by
 * the wallet's key with a fresh time and nonce. Uploading again is safe:
 * offpayd moves nothing twice. fn (may be NULL) is called once per code
 * decided or not, in log order, with offpayd's answer; a non-zero return
 * stops the upload after that batch (OFFPAY_OK). rep (may be NULL) sums
 * it. Changes nothing in the wallet: a later sync builds on this (the
 * wallet is let go meanwhile: above).
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (base_url NULL, and the wallet
 * never enrolled), OFFPAY_EREFUSED (offpayd refused the request
 * with a 4xx: its error in the log), OFFPAY_EIO (offpayd unreachable or
 * answering what it should not: a line in the log),
 * OFFPAY_ENOMEM, those of reading the log (offpay_wallet_get_spend).
 */
offpay_err offpay_wallet_upload(offpay_wallet *w, const char *base_url,
                                size_t from, size_t batch_max, uint32_t now,
                                int (*fn)(const offpay_wallet_upload_status *s,
                                          void *ctx),
                                void *ctx, offpay_wallet_upload_report *rep);

/* ---- the online life (docs/api.md, "Wallet online"; online.c) ------ */

/* Longest offpayd URL a wallet remembers. */
#define OFFPAY_WALLET_URL_MAX 255

/* Counters a restored credential skips above the highest the server saw,
 * and above the range offpayd handed the copy restored before it
 * (POST /v1/wallet/restore-floor): room for codes the lost device, or
 * that copy, made that no terminal uploaded yet. */
#define OFFPAY_WALLET_RESTORE_GAP 100

/* The wallet's account at offpayd, as the server last said. */
typedef struct offpay_wallet_account {
    char     server[OFFPAY_WALLET_URL_MAX + 1];
    uint64_t account;
    uint16_t currency;
    int64_t  balance;
    int      revoked;
    /* Of balance, what offpayd holds for the codes of released
     * credentials that terminals may still upload late, until
     * late_held_until (docs/settlement.md §6): no allowance takes it
     * until then, a deposit funds one at once. From the sync's status (0
     * for both elsewhere, and from an offpayd before 0.16.0). Since
     * 0.16.0. */
    int64_t  late_held;
    uint32_t late_held_until;
} offpay_wallet_account;

/*
 * offpay_wallet_server — the offpayd URL, account and currency the wallet
 * enrolled with (kept beside the wallet file, path.online; balance and
 * revoked are 0 here). Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (never
 * enrolled), OFFPAY_ECORRUPT, the file system's.
 */
offpay_err offpay_wallet_server(const offpay_wallet  *w,
                                offpay_wallet_account *out);

/*
 * offpay_wallet_clock — the clock offset the last settlement sync
 * measured (offpay_wallet_sync): *offset is offpayd's clock minus this
 * device's, in seconds (below 0: the device's clock was ahead), and *at
 * the device's time of that sync. Codes are dated by the device's clock,
 * and a terminal refuses one dated beyond its skew (ECODE_FUTURE) while
 * its amount stays reserved, so a payer is warned by it; the clock may
 * have been set right since. Kept in path.online beside the wallet (only
 * when that file is there: a wallet enrolled). Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOTFOUND (never enrolled, or no sync measured it since
 * 0.13.0), OFFPAY_ECORRUPT, the file system's. Since 0.13.0.
 */
offpay_err offpay_wallet_clock(const offpay_wallet *w, int64_t *offset,
                               uint32_t *at);

/*
 * offpay_wallet_enroll — POST /v1/wallet/enroll to base_url with the
 * operator's one-time code, signed by the wallet's key: offpayd makes the
 * wallet's account. The wallet remembers base_url and the account
 * (path.online). out (may be NULL) receives the account. Errors:
 * OFFPAY_EINVAL, OFFPAY_EREFUSED (refused: offpayd's error in the log),
 * OFFPAY_EIO (unreachable), OFFPAY_ENOMEM, the file system's.
 */
offpay_err offpay_wallet_enroll(offpay_wallet *w, const char *base_url,
                                const char *code, uint32_t now,
                                offpay_wallet_account *out);

/*
 * offpay_wallet_allowance — POST /v1/wallet/allowance (base_url NULL: the
 * remembered server) for amount minor units of currency: offpayd moves it
 * from the wallet's account into a new escrow and signs a credential,
 * which is installed (a credential the server issued is fresh: counter 1).
 * expires 0: the server's default. *serial (may be NULL) receives its
 * serial, *balance (may be NULL) the account's balance after it. Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND (no server known), OFFPAY_EBUSY (a sync
 * or allowance of this wallet runs), OFFPAY_EREFUSED (refused, e.g.
 * EFUNDS: in the log), OFFPAY_EIO (unreachable: offpayd may have made it,
 * and the next sync installs it, as does the same allowance asked again:
 * offpay_wallet_allowance_pending), OFFPAY_ESYNC_REQUIRED (offpayd made
 * the escrow and its credential, but the wallet could not install it: why
 * is in the log; offpay_wallet_sync installs it, where another allowance
 * would make a second escrow; or another allowance is pending, below),
 * and the errors of taking the wallet back (above). The request id is
 * kept beside the wallet file until the answer is installed or offpayd
 * refuses the request, so a rerun of an interrupted allowance is the same
 * request.
 */
offpay_err offpay_wallet_allowance(offpay_wallet *w, const char *base_url,
                                   int64_t amount, uint16_t currency,
                                   uint32_t expires, uint32_t now,
                                   uint64_t *serial, int64_t *balance);

/*
 * offpay_wallet_allowance_pending — the allowance this wallet asked that
 * has no answer installed yet (its answer lost, or the process
 * interrupted after the request left): *amount minor units of
 * *currency, *expires as asked (0: the server's default); each may be
 * NULL. Such an allowance is kept beside the wallet file
 * (path.allowance) from before the request leaves; offpay_wallet_allowance
 * sends it again with the same request id (offpayd makes it once) and
 * refuses another amount (OFFPAY_ESYNC_REQUIRED) until it is answered or
 * offpay_wallet_sync has installed what offpayd issued. Errors:
 * OFFPAY_ENOTFOUND (none pending), OFFPAY_EINVAL, OFFPAY_ECORRUPT (the
 * file is not one: said in the log), the file system's. Since
 * 0.13.0.
 */
offpay_err offpay_wallet_allowance_pending(const offpay_wallet *w,
                                           int64_t *amount, uint16_t *currency,
                                           uint32_t *expires);

/* When a sync renews: a credential within renew_before seconds of its
 * expiry, or with less than renew_below_pct percent of its limit
 * available, or already expired, gets a new one of the same limit (at
 * most the account's balance less what it holds for late codes,
 * offpay_wallet_account.late_held; none when that leaves nothing),
 * unless another usable credential of the currency needs no renewal. A
 * revoked credential is not renewed. */
typedef struct offpay_wallet_sync_options {
    uint32_t renew_before;    /* default 3 days */
    uint32_t renew_below_pct; /* default 10 */
    int      no_renew;        /* 1: never */
} offpay_wallet_sync_options;

void offpay_wallet_sync_options_defaults(offpay_wallet_sync_options *o);

typedef struct offpay_wallet_sync_report {
    offpay_wallet_upload_report upload;
    offpay_wallet_account       account;
    size_t credentials;   /* the server's credentials for this key that
                             the sync went through (since 0.19.0 those
                             its wallet can still need) */
    size_t   unfrozen;    /* restored credentials usable again */
    size_t   installed;   /* credentials installed from the server */
    size_t   outstanding; /* codes no terminal presented yet */
    size_t   revoked;     /* credentials revoked (status or revocation
                             list) */
    uint64_t renewed;     /* serial of a renewal, 0: none */
    uint32_t bundle_seq;  /* the server's trust bundle */
    size_t   spent_during; /* codes made while the sync ran (by another
                              process: the wallet is let go while offpayd
                              is asked); uploaded at the next sync */
    /* The renewal (since 0.16.0): renew_amount, the limit asked (0: none
     * asked); renew_held 1 when one was due but the account's balance
     * less what it holds for late codes (account.late_held, until
     * account.late_held_until) left nothing to ask; renew_err
     * OFFPAY_EREFUSED when offpayd refused the one asked (its error in
     * the log): the rest of the sync stands and the sync returns
     * OFFPAY_OK; else OFFPAY_OK. */
    int64_t    renew_amount;
    int        renew_held;
    offpay_err renew_err;
} offpay_wallet_sync_report;

/*
 * offpay_wallet_sync — the settlement sync with base_url (NULL: the
 * remembered server): uploads the spend log (offpay_wallet_upload; fn and
 * ctx as there), reads the wallet's account and credentials
 * (POST /v1/wallet/status; since 0.19.0 it lists the newest 500 a wallet
 * can still need, and the sync reads a page at a time, POST
 * /v1/wallet/credentials, the open ones past them and those it holds
 * that it left out and that the wallet does not know to be done with:
 * one found nowhere is left as it was), and then per credential: raises
 * the next
 * counter above the highest the server saw; a frozen one (a restore) is
 * unfrozen at the restore floor offpayd hands out once
 * (POST /v1/wallet/restore-floor: at least that counter + 1 +
 * OFFPAY_WALLET_RESTORE_GAP, and a gap above what an earlier copy of the
 * same backup was handed; from an offpayd without it, that counter + 1 +
 * the gap, said in the log); records
 * the server's escrow and the codes not presented yet, so available
 * offline releases what settlement did not take (offpay_wallet_balance);
 * installs the credentials issued to this key the wallet lacks (a
 * restore), renews by o (NULL: defaults), takes the newest trust bundle,
 * and marks revoked (no code: OFFPAY_EREVOKED) each credential the server
 * says is revoked or its revocation list names (verified under the
 * bundle), freezes for good (offpay_wallet_balance's frozen 2, no code:
 * OFFPAY_ENOT_ISSUED) each credential whose codes the upload answered
 * ENOT_ISSUED and that the server does not list (a ledger restored from
 * a backup older than the credential: its codes would be refused at
 * settlement; a credential merely missing from the list, with no such
 * answer, is left as it was: an offpayd before 0.16.0 listed only a
 * sharded ledger's shard 0),
 * and keeps the clock offset it measured (offpay_wallet_clock).
 * rep (may be NULL) sums it. A wallet the server revoked
 * (reported lost) only marks every credential it holds revoked, so it
 * shows no code from them (OFFPAY_EREVOKED). The spend log is sent as it
 * was when the sync began; codes made meanwhile through another handle
 * (the wallet is let go while offpayd is asked: above) count as not
 * presented, are counted in rep->spent_during, and go at the next sync.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (no server known), OFFPAY_EBUSY
 * (a sync or allowance of this wallet runs), OFFPAY_EREVOKED,
 * OFFPAY_EREFUSED (offpayd refused: in the log), OFFPAY_EIO (unreachable),
 * OFFPAY_ENOMEM, those of reading the log, of taking the wallet back
 * (above), and of saving the wallet.
 */
offpay_err offpay_wallet_sync(offpay_wallet *w, const char *base_url,
                              const offpay_wallet_sync_options *o,
                              uint32_t                          now,
                              int (*fn)(const offpay_wallet_upload_status *s,
                                        void *ctx),
                              void *ctx, offpay_wallet_sync_report *rep);

/* What offpayd answered a report of a lost wallet: what its owner needs
 * to know next (docs/settlement.md §12). Since 0.7.0. */
typedef struct offpay_wallet_lost_report {
    size_t   revoked;    /* credentials revoked now (0: reported before) */
    uint64_t account;    /* the wallet's account */
    uint32_t revoked_at; /* when the wallet was revoked (now, or before) */
    /* the escrow of its credentials is back in the account by then, less
     * what settles meanwhile; what the lost device paid offline is still
     * paid from the account until late_until when a terminal uploads it
     * late. 0: offpayd did not say */
    uint32_t escrow_back_by, late_until;
    int64_t  balance; /* the account's, when revoked (minor units) */
    uint16_t currency;
} offpay_wallet_lost_report;

/*
 * offpay_wallet_report_lost — POST /v1/wallet/revoke (base_url NULL: the
 * remembered server), signed by the wallet's key, from a restored copy
 * or another device holding the key: the wallet and every credential of
 * it that can still be paid are revoked (docs/settlement.md §12); escrow
 * returns to the account after the upload grace.
 * This wallet marks every credential it holds revoked too. *rep (may be
 * NULL) receives offpayd's answer (zeroed on failure). Errors:
 * OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_EREFUSED, OFFPAY_EIO,
 * OFFPAY_ESYNC_REQUIRED (offpayd revoked the wallet, *rep says so, but
 * this copy could not mark its credentials revoked: why is in the log;
 * the report again, or a sync, does it). (Before 0.7.0 the last argument
 * was the count.)
 */
offpay_err offpay_wallet_report_lost(offpay_wallet *w, const char *base_url,
                                     const char *reason, uint32_t now,
                                     offpay_wallet_lost_report *rep);

/*
 * offpay_wallet_set_passphrase — seals the wallet file under a new
 * passphrase (a fresh salt), replacing it atomically: afterwards only the
 * new one opens it; its credentials, counters and log are unchanged (the
 * log's key is inside the sealed file). Since 0.13.0. Errors:
 * OFFPAY_EINVAL, OFFPAY_EROFS (opened read-only), OFFPAY_EBUSY (let go
 * during a sync), OFFPAY_EPASSPHRASE_SHORT, OFFPAY_ENOMEM, the file
 * system's (the file then unchanged, under the old passphrase).
 */
offpay_err offpay_wallet_set_passphrase(offpay_wallet *w,
                                        const char    *passphrase);

/*
 * offpay_wallet_backup — writes to path (must not exist) what a restore
 * needs, sealed under passphrase as a wallet file is (Argon2id,
 * XChaCha20-Poly1305): the wallet's key, the pinned root key, the trust
 * bundle, the credentials and the remembered server and account. Never
 * the counters: a restore learns them from the server. Errors:
 * OFFPAY_EINVAL, OFFPAY_EEXISTS, OFFPAY_EPASSPHRASE_SHORT, OFFPAY_ENOMEM,
 * the file system's.
 */
offpay_err offpay_wallet_backup(offpay_wallet *w, const char *path,
                                const char *passphrase);

/*
 * offpay_wallet_restore — makes a new wallet at path (passphrase) from the
 * backup at backup_path (backup_passphrase): the same key, root and
 * bundle, every credential frozen (no code: OFFPAY_ESYNC_REQUIRED) until
 * offpay_wallet_sync reports the highest counter the server saw, and the
 * remembered server. *out is the open wallet. Errors: OFFPAY_EINVAL,
 * OFFPAY_EPASSPHRASE, OFFPAY_ECORRUPT (not a backup), OFFPAY_ETYPE (a
 * wallet file, not a backup of one), and those of offpay_wallet_create.
 */
offpay_err offpay_wallet_restore(const char *backup_path,
                                 const char *backup_passphrase,
                                 const char *path, const char *passphrase,
                                 uint32_t now, offpay_wallet **out);

#ifdef __cplusplus
}
#endif
#endif
