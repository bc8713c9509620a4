/*
 * wallet/spendlog.h — the wallet's append-only spend log (internal to
 * liboffpay; not installed).
 *
 * The log is a file beside the sealed wallet file (path.log): a 32-byte
 * header, then fixed-size 280-byte slots, one record each, each sealed on
 * its own with ChaCha20-Poly1305 (IETF, libsodium) under the wallet's log
 * key, a random 32-byte key kept inside the sealed wallet file:
 *
 *   header  "OPWALLOG" | u32 version (1) | u32 slot size (280) |
 *           key check (16): BLAKE2b-128 keyed with the log key of
 *           "offpay wallet log" (crypto_generichash)
 *   slot    nonce (12, random) | kind (1) | ciphertext (body size of the
 *           kind) | tag (16) | zeros to the end of the slot
 *
 * A record's plaintext is 256 bytes as the caller sees it: byte 0 is its
 * kind, in the clear; what follows, up to the body size of the kind (1: 63
 * bytes, 2: 251 bytes), is encrypted; the rest must be zero. A record's
 * associated data is the header, its index (u64 big-endian, 0 for the
 * first record) and its kind, so a record cannot be forged (no key), moved
 * to another place of the log (index) or taken from another wallet's log
 * (another key). Records are encrypted: a payer's history of merchants,
 * amounts and times is as private as it was inside the sealed file. Only
 * the body of a kind goes through the cipher, so opening a long log costs
 * ~92 bytes of crypto per code, not a whole slot.
 *
 * The key check tells a log of another wallet (or a wallet file put back
 * beside a newer log's key) from a damaged one before any record is read,
 * so such a log is refused whole (OFFPAY_ECORRUPT), never cut as torn.
 *
 * Why a random key and not one derived from the file's sealing key: the
 * sealing key changes whenever the wallet file is resealed with a fresh
 * salt (a file found at a weak KDF cost), and a derived log key would
 * then force a rewrite of the whole log. The random key is exactly as
 * secret: it can only be read with the passphrase. Why random nonces and
 * not the index: a torn record's index is written again with another
 * plaintext, and a nonce must never seal two. 96-bit random nonces are
 * safe for far more records than a log holds (collision odds ~2^-53 at
 * OFFPAY_WALLET_SPENDS_MAX).
 *
 * Durability: offpay__log_append writes one record at the end of what is
 * valid and fdatasyncs before it returns. A power cut in the middle of an
 * append leaves a torn last record (a short tail, or a whole record that
 * does not authenticate, say zeros from a size update that reached the
 * disk before the data); replay drops it, since the append that wrote it
 * never returned. A record that does not authenticate anywhere else is
 * corruption.
 *
 * Not thread-safe: one handle per open wallet, under the wallet's lock.
 */
#ifndef OFFPAY_SPENDLOG_H
#define OFFPAY_SPENDLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "offpay/error.h"

#define OFFPAY__LOG_MAGIC        "OPWALLOG"
#define OFFPAY__LOG_VERSION      1
#define OFFPAY__LOG_HEADER_BYTES 32
#define OFFPAY__LOG_PLAIN_BYTES  256
#define OFFPAY__LOG_NONCE_BYTES  12 /* crypto_aead_chacha20poly1305_ietf */
#define OFFPAY__LOG_TAG_BYTES    16
#define OFFPAY__LOG_KIND_CODE    1
#define OFFPAY__LOG_KIND_RECEIPT 2
#define OFFPAY__LOG_BODY_CODE    63  /* bytes after the kind, encrypted */
#define OFFPAY__LOG_BODY_RECEIPT 251 /* length u16 + the largest receipt */
#define OFFPAY__LOG_RECORD_BYTES                                               \
    (OFFPAY__LOG_NONCE_BYTES + 1 + OFFPAY__LOG_BODY_RECEIPT +                  \
     OFFPAY__LOG_TAG_BYTES)
#define OFFPAY__LOG_KEY_BYTES   32
#define OFFPAY__LOG_CHAIN_BYTES 32

/*
 * The chain of a log binds its records: chain(0) is 32 zero bytes and
 * chain(i + 1) = BLAKE2b-256(chain(i) | the 280 bytes of record i as
 * stored) (crypto_generichash). A checkpoint in the sealed wallet file
 * keeps (K, chain(K)): the log's first K records cannot be cut, swapped or
 * changed without the chain telling, when they are read.
 */
typedef struct offpay__log_mark {
    uint64_t n;                              /* records */
    uint8_t  chain[OFFPAY__LOG_CHAIN_BYTES]; /* chain(n) */
} offpay__log_mark;

/* chain <- the chain after rec (OFFPAY__LOG_RECORD_BYTES bytes). */
void offpay__log_chain_next(uint8_t        chain[OFFPAY__LOG_CHAIN_BYTES],
                            const uint8_t *rec);

/* How many records replays have decrypted since the process started, in
 * a test build (OFFPAY_TEST_HOOKS; else it stays 0: no shared write on
 * the hot path): a test's witness that opening skips the records a
 * checkpoint covers. */
extern uint64_t offpay__log_records_opened;

/* The header of the log sealed with key. Errors: OFFPAY_ECRYPTO. */
offpay_err offpay__log_header(const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                              uint8_t       h[OFFPAY__LOG_HEADER_BYTES]);

/* Seals plain (kind plain[0]) as record index (fresh random nonce) into
 * rec. Errors: OFFPAY_EINVAL (unknown kind, or bytes past its body not
 * zero), OFFPAY_ECRYPTO. */
offpay_err offpay__log_seal(const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                            uint64_t      index,
                            const uint8_t plain[OFFPAY__LOG_PLAIN_BYTES],
                            uint8_t       rec[OFFPAY__LOG_RECORD_BYTES]);

/* Called by replay with each authentic record, in order. A non-OK return
 * stops the replay and is returned by it. */
typedef offpay_err (*offpay__log_visit)(
    void *ctx, uint64_t index, const uint8_t plain[OFFPAY__LOG_PLAIN_BYTES]);

/*
 * offpay__log_replay_image — replay a whole log held in memory (header and
 * records), checking it against mark (NULL: none): the log must hold at
 * least mark->n records, whose chain is mark->chain. *n_valid receives the
 * number of records kept and *valid_len the length of the log they make
 * (header included): less than len when a torn last record was dropped
 * (never one of the first mark->n: the checkpoint was written after them).
 * Errors: OFFPAY_ECORRUPT (bad header or another key's, a record that does
 * not authenticate before the last, fewer records than the mark or another
 * chain), the visitor's errors.
 */
offpay_err offpay__log_replay_image(const uint8_t *img, size_t len,
                                    const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                                    const offpay__log_mark *mark,
                                    offpay__log_visit visit, void *ctx,
                                    uint64_t *n_valid, size_t *valid_len);

/* An open log file. */
typedef struct offpay__log {
    int      fd;       /* -1 when closed */
    int      writable; /* opened read-write */
    char    *path;     /* malloc'd */
    uint64_t n;        /* records that are valid */
    uint64_t size;     /* bytes that are valid: header + n records */
    int      excess;   /* the file may hold bytes past size (torn or a
                          failed append): cut before the next append */
    uint8_t chain[OFFPAY__LOG_CHAIN_BYTES]; /* the chain of the n records */
    dev_t   dev; /* the file opened, to notice it replaced */
    ino_t   ino;
    int     synced; /* this handle made the n records durable (an append's
                       or offpay__log_sync's fdatasync) */
} offpay__log;

/* A closed handle (fd -1). */
void offpay__log_init(offpay__log *lg);

/*
 * offpay__log_create — atomically replace path with image (a header and
 * sealed records, e.g. from a migration), mode 0600, directory synced.
 * Errors: offpay__file_write_atomic's.
 */
offpay_err offpay__log_create(const char *path, const uint8_t *image,
                              size_t len);

/*
 * offpay__log_open — open the log at path (read-write, or read-only where
 * the file system or its mode allows no more) and replay it with visit.
 * mark is the checkpoint of the sealed file ({0, zeros}: none): the file
 * must hold at least mark->n whole records. With skip set, the first
 * mark->n records are neither read nor decrypted (their chain is taken
 * from the mark: offpay__log_reread checks it later); else they are
 * replayed and their chain must be mark->chain. With read_only set the
 * file is only read (a reader's handle writes nothing, not even the cut
 * of a torn tail).
 * Refuses a symbolic link or a file with a second hard link
 * (OFFPAY_ELINKED), like the wallet file. A torn last record is dropped
 * (and cut from the file when it is writable), unless it is one of the
 * first mark->n (corruption). lg->path is a copy of path.
 * Errors: OFFPAY_ECORRUPT (missing log, not a regular file, bad header,
 * damaged record, fewer records than the mark, another chain),
 * OFFPAY_ELINKED, OFFPAY_EIO, OFFPAY_ENOMEM, the visitor's errors. On
 * failure lg is closed.
 */
offpay_err offpay__log_open(offpay__log *lg, const char *path,
                            const uint8_t           key[OFFPAY__LOG_KEY_BYTES],
                            const offpay__log_mark *mark, int skip,
                            int read_only, offpay__log_visit visit, void *ctx);

/*
 * offpay__log_reread — replay the lg->n valid records of an open log again,
 * from the first, with visit: every one must authenticate, the chain at
 * mark->n must be mark->chain (mark->n <= lg->n) and the chain at the end
 * lg->chain. How the records a checkpoint let open skip are read when
 * something needs them.
 * Errors: OFFPAY_EINVAL (closed, or mark past the end), OFFPAY_ECORRUPT,
 * OFFPAY_EIO, OFFPAY_ENOMEM, the visitor's errors.
 */
offpay_err offpay__log_reread(offpay__log  *lg,
                              const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                              const offpay__log_mark *mark,
                              offpay__log_visit visit, void *ctx);

/*
 * offpay__log_sync — the n records on disk (fdatasync) before something
 * read from them leaves the process: opening reads them through the page
 * cache, which may hold a record another process wrote but never synced
 * (killed between its write and its fdatasync), and a power cut would
 * lose it. Once per handle; an append syncs too. OK at once for a closed
 * handle (a log still inside the sealed file, written atomically) and
 * when the file system is read-only (EROFS, EINVAL: nothing of it can be
 * waiting). Errors: those of a failed sync (OFFPAY_EIO, ...).
 */
offpay_err offpay__log_sync(offpay__log *lg);

/*
 * offpay__log_append — seal plain as the next record, write it after the
 * valid records and fdatasync. On success lg->n and lg->size grow and
 * lg->chain takes the record in. On any
 * failure nothing valid was added: the bytes written, if any, are cut
 * again (or, failing that, overwritten by the next append; a replay drops
 * them as a torn tail). Refuses (OFFPAY_ELINKED, nothing written) when
 * the path is now a link or another file than the one opened.
 * Errors: OFFPAY_EINVAL (closed), OFFPAY_ELINKED, OFFPAY_ENOSPC,
 * OFFPAY_EROFS, OFFPAY_EACCES (opened read-only), OFFPAY_EIO,
 * OFFPAY_ECRYPTO.
 */
offpay_err offpay__log_append(offpay__log  *lg,
                              const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                              const uint8_t plain[OFFPAY__LOG_PLAIN_BYTES]);

/* Closes the file and frees the path. A closed handle is a no-op. */
void offpay__log_close(offpay__log *lg);

#endif /* OFFPAY_SPENDLOG_H */
