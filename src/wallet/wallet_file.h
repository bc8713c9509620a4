/*
 * wallet/wallet_file.h — the wallet's encrypted file and atomic file replace
 * (internal to liboffpay; not installed).
 *
 * A wallet file is a passphrase-sealed image: an Argon2id key derivation
 * (libsodium crypto_pwhash) and an XChaCha20-Poly1305 AEAD whose associated
 * data is the whole header. The byte layout is documented at the top of
 * wallet_file.c; the offsets below are exported for tests and the fuzz
 * target.
 *
 * KDF cost. Every file records the Argon2id cost it was sealed with, and
 * opening always uses that, within the bounds below. New files are sealed
 * at a strength chosen by their owner (offpay__kdf_strength):
 * INTERACTIVE, libsodium's crypto_pwhash_*_INTERACTIVE (2 passes, 64 MiB),
 * for wallets and the terminal key; MODERATE, crypto_pwhash_*_MODERATE
 * (3 passes, 256 MiB), for the issuer's state, whose root key is worth far
 * more than a wallet and which is opened rarely. A file found sealed at a
 * lower cost than its owner's strength is resealed at that strength on its
 * next save (offpay__wallet_sealer_load_kdf). If the library was built
 * with -DOFFPAY_TEST_HOOKS=ON (test builds only) and the environment
 * variable OFFPAY_KDF_COST is exactly "test", new files use 8 MiB and
 * crypto_pwhash_OPSLIMIT_MIN (1 pass; 2 for MODERATE) so that tests run
 * fast. Any other value of OFFPAY_KDF_COST is ignored. NEVER set it for a
 * real wallet: it makes offline guessing of the passphrase ~10x cheaper.
 *
 * New passphrases (offpay__wallet_seal, offpay__wallet_file_save,
 * offpay__wallet_sealer_new*) must have at least OFFPAY__PASSPHRASE_MIN
 * characters, else OFFPAY_EPASSPHRASE_SHORT; opening accepts any
 * passphrase, so files sealed before the rule still open.
 *
 * File modes. Sealed files and everything written by
 * offpay__file_write_atomic are mode 0600, whatever the umask and whatever
 * mode an earlier file or a stale path.tmp had.
 *
 * Thread safety: the functions are reentrant; offpay__file_fault_hook is a
 * test-only global that must not be changed while another thread writes.
 */
#ifndef OFFPAY_WALLET_FILE_H
#define OFFPAY_WALLET_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/error.h"

/* The format (see wallet_file.c for the full description). */
#define OFFPAY__WALLET_MAGIC        "OPWALLET"
#define OFFPAY__WALLET_MAGIC_BYTES  8
#define OFFPAY__WALLET_VERSION      1
#define OFFPAY__WALLET_KDF_ARGON2ID 1
#define OFFPAY__WALLET_SALT_BYTES   16 /* crypto_pwhash_SALTBYTES */
#define OFFPAY__WALLET_NONCE_BYTES                                             \
    24                              /* ..._xchacha20poly1305_ietf_NPUBBYTES    \
                                     */
#define OFFPAY__WALLET_TAG_BYTES 16 /* ..._xchacha20poly1305_ietf_ABYTES */

/* Byte offsets of the header fields. */
#define OFFPAY__WALLET_OFF_VERSION  8
#define OFFPAY__WALLET_OFF_KDF      9
#define OFFPAY__WALLET_OFF_OPSLIMIT 10 /* u32 big-endian */
#define OFFPAY__WALLET_OFF_MEMLIMIT 14 /* u32 big-endian, KiB */
#define OFFPAY__WALLET_OFF_SALT     18
#define OFFPAY__WALLET_OFF_NONCE    34
#define OFFPAY__WALLET_OFF_CT_LEN   58 /* u32 big-endian */
#define OFFPAY__WALLET_HEADER_BYTES 62 /* ciphertext starts here */

/* Largest plaintext a wallet file may hold (1 MiB). */
#define OFFPAY__WALLET_PLAIN_MAX (1024u * 1024u)

/* Largest well-formed wallet file. */
#define OFFPAY__WALLET_FILE_MAX                                                \
    (OFFPAY__WALLET_HEADER_BYTES + OFFPAY__WALLET_TAG_BYTES +                  \
     OFFPAY__WALLET_PLAIN_MAX)

/* KDF parameters a file may ask for; anything else is OFFPAY_ECORRUPT and
 * the KDF is not run (a hostile file cannot make it run for minutes or
 * allocate gigabytes). The opslimit floor is crypto_pwhash_OPSLIMIT_MIN. */
#define OFFPAY__WALLET_OPSLIMIT_MAX      16u
#define OFFPAY__WALLET_MEMLIMIT_KIB_MIN  (8u * 1024u)    /* 8 MiB */
#define OFFPAY__WALLET_MEMLIMIT_KIB_MAX  (1024u * 1024u) /* 1 GiB */
#define OFFPAY__WALLET_TEST_MEMLIMIT_KIB OFFPAY__WALLET_MEMLIMIT_KIB_MIN

/* Fewest characters (UTF-8 code points) of a new passphrase. Eight is the
 * floor NIST SP 800-63B sets for memorized secrets: with Argon2id at the
 * interactive cost, shorter ones fall to an offline guesser with a stolen
 * file in hours. */
#define OFFPAY__PASSPHRASE_MIN 8

/*
 * offpay__passphrase_check — OFFPAY_OK when passphrase (NUL-terminated)
 * may be set as a new passphrase: at least OFFPAY__PASSPHRASE_MIN
 * characters, counted as UTF-8 code points. The CLI calls it before asking
 * to repeat a new passphrase.
 * Errors: OFFPAY_EINVAL (NULL), OFFPAY_EPASSPHRASE_SHORT.
 */
offpay_err offpay__passphrase_check(const char *passphrase);

/* How costly the key derivation of a new sealed file is (see above). */
typedef enum offpay__kdf_strength {
    OFFPAY__KDF_INTERACTIVE = 0, /* wallets, the terminal key */
    OFFPAY__KDF_MODERATE = 1     /* the issuer's state */
} offpay__kdf_strength;

/* offpay__kdf_cost — the Argon2id cost new files of strength get in this
 * process (honouring OFFPAY_KDF_COST=test in test builds). */
void offpay__kdf_cost(offpay__kdf_strength strength, uint32_t *opslimit,
                      uint32_t *memlimit_kib);

/*
 * offpay__file_write_atomic — atomically replace path with data[0..len).
 * Writes path.tmp (O_CREAT|O_TRUNC|O_WRONLY|O_CLOEXEC|O_NOFOLLOW, mode 0600,
 * also forced with fchmod in case a stale path.tmp existed), writes
 * everything, fsyncs, closes, renames it over path, then opens the
 * containing directory and fsyncs it so the rename itself is durable.
 * On any failure before the rename, path is untouched and path.tmp removed,
 * and the error names the system's reason (offpay__errno_err):
 * OFFPAY_ENOSPC (disk full), OFFPAY_EROFS, OFFPAY_EACCES, OFFPAY_ENOENT (a
 * missing directory), OFFPAY_ENOTDIR, OFFPAY_EISDIR (path is a directory),
 * OFFPAY_EIO (anything else). Any of these therefore means "nothing was
 * changed". A failure of the directory fsync (after the rename) returns
 * OFFPAY_EIO whatever its cause, with path already holding the new data; a
 * file system that does not support syncing directories (EINVAL) is not an
 * error. data may be NULL when len is 0.
 * Errors: OFFPAY_EINVAL (NULL or empty path, path too long, NULL data),
 * the named errors above, OFFPAY_EIO.
 */
offpay_err offpay__file_write_atomic(const char *path, const uint8_t *data,
                                     size_t len);

/*
 * offpay__file_write_atomic_owned — offpay__file_write_atomic, and when
 * the process runs as root and path is a regular file, the new file gets
 * its owner and group (fchown of path.tmp before the rename): a file of a
 * service's own user rewritten by root (the issuer's state, which offpayd
 * reads again on SIGHUP) stays that user's to read. Errors: those of
 * offpay__file_write_atomic (a failed fchown is named, nothing changed).
 */
offpay_err offpay__file_write_atomic_owned(const char    *path,
                                           const uint8_t *data, size_t len);

/*
 * offpay__file_read — read the whole file at path, at most max bytes.
 * On success *data is a malloc'd buffer (never NULL, even for an empty
 * file; the caller frees it) of *len bytes. On failure *data is NULL and
 * *len 0.
 * Errors: OFFPAY_EINVAL, OFFPAY_ETOOBIG (more than max bytes),
 * OFFPAY_ENOMEM, OFFPAY_EISDIR (path is a directory), and an open or read
 * failure as offpay__errno_err names it: OFFPAY_ENOENT (no such file or
 * directory), OFFPAY_ENOTDIR, OFFPAY_EACCES, OFFPAY_EIO, ...
 */
offpay_err offpay__file_read(const char *path, size_t max, uint8_t **data,
                             size_t *len);

/*
 * offpay__wallet_seal — seal plain[0..plain_len) under passphrase (a
 * NUL-terminated new passphrase, see offpay__passphrase_check) into a
 * wallet file image at the INTERACTIVE cost. Fresh random salt and nonce
 * every call. On success
 * *out is malloc'd (the caller frees it; it holds no secret in the clear)
 * and *out_len is OFFPAY__WALLET_HEADER_BYTES + 16 + plain_len. On failure
 * *out is NULL and *out_len 0. plain may be NULL when plain_len is 0.
 * Errors: OFFPAY_EINVAL, OFFPAY_EPASSPHRASE_SHORT, OFFPAY_ETOOBIG
 * (plain_len > OFFPAY__WALLET_PLAIN_MAX), OFFPAY_ENOMEM (including the KDF
 * failing to allocate), OFFPAY_ECRYPTO.
 */
offpay_err offpay__wallet_seal(const char *passphrase, const uint8_t *plain,
                               size_t plain_len, uint8_t **out,
                               size_t *out_len);

/*
 * offpay__wallet_open — authenticate and decrypt a wallet file image.
 * On success *plain is allocated with sodium_malloc (guarded, never NULL)
 * and must be released with offpay__wallet_plain_free(), which wipes it.
 * On failure *plain is NULL and *plain_len 0.
 *
 * Errors:
 *  - OFFPAY_EINVAL: a NULL argument.
 *  - OFFPAY_ECORRUPT: the file is not structurally a wallet file — shorter
 *    than the header, bad magic, unknown version or KDF id, KDF parameters
 *    outside the bounds above, ciphertext length below the tag size or
 *    above the plaintext limit, truncated, or trailing bytes. These checks
 *    run before the KDF.
 *  - OFFPAY_EPASSPHRASE: authentication failed. The AEAD cannot tell a
 *    wrong passphrase from a tampered ciphertext, nor from a tampered but
 *    structurally valid header (salt, nonce, in-bounds KDF parameters),
 *    since the header is associated data and feeds the KDF: all of these
 *    report OFFPAY_EPASSPHRASE. Callers should word it as "wrong passphrase
 *    or damaged file".
 *  - OFFPAY_ENOMEM: out of memory (including the KDF's own allocation).
 */
offpay_err offpay__wallet_open(const uint8_t *file, size_t file_len,
                               const char *passphrase, uint8_t **plain,
                               size_t *plain_len);

/* offpay__wallet_plain_free — wipe and free a plaintext returned by
 * offpay__wallet_open or offpay__wallet_file_load. NULL is a no-op. */
void offpay__wallet_plain_free(uint8_t *plain, size_t plain_len);

/*
 * offpay__wallet_file_save — offpay__wallet_seal then
 * offpay__file_write_atomic (the file is mode 0600). Errors: those two
 * functions' errors.
 */
offpay_err offpay__wallet_file_save(const char *path, const char *passphrase,
                                    const uint8_t *plain, size_t len);

/*
 * offpay__wallet_file_load — offpay__file_read then offpay__wallet_open;
 * ownership of *plain as for offpay__wallet_open. A file larger than
 * OFFPAY__WALLET_FILE_MAX is OFFPAY_ECORRUPT.
 * Errors: those of offpay__file_read (OFFPAY_ENOENT for a missing file),
 * OFFPAY_ECORRUPT, OFFPAY_EPASSPHRASE, OFFPAY_ENOMEM.
 */
offpay_err offpay__wallet_file_load(const char *path, const char *passphrase,
                                    uint8_t **plain, size_t *len);

/*
 * offpay__path_check_unlinked — refuse a state file reached through a link.
 * A symbolic link, or a regular file with more than one hard link, would let
 * two names reach one state while each is locked (path.lock) and replaced
 * (rename) by its own name, forking it: two histories reusing counters.
 * Returns OFFPAY_OK when path is missing or has exactly one name,
 * OFFPAY_ELINKED when path is a symbolic link (even a dangling one) or a
 * regular file with st_nlink > 1, the error offpay__errno_err names when
 * lstat fails otherwise (OFFPAY_ENOTDIR, OFFPAY_EACCES, ...), OFFPAY_EINVAL
 * for NULL. Links among the directories above are harmless:
 * the lock file sits beside the file, so it is reached the same way.
 */
offpay_err offpay__path_check_unlinked(const char *path);

/*
 * offpay__lock_acquire — take an exclusive advisory lock (flock) on path,
 * creating it (mode 0600) if missing, waiting up to timeout_ms for another
 * process to let go. Wallets, terminals and issuers hold one for the life
 * of their handle, so two processes never interleave their read-modify-
 * write of one file (which could reuse a counter or lose a reservation).
 * *fd receives the descriptor; give it to offpay__lock_release.
 * Errors: OFFPAY_EINVAL, OFFPAY_EBUSY (still held after the wait), and
 * the open's failure as offpay__errno_err names it (OFFPAY_EROFS on a
 * read-only mount, OFFPAY_EACCES, OFFPAY_ENOENT, ...).
 */
offpay_err offpay__lock_acquire(const char *path, int timeout_ms, int *fd);

/*
 * offpay__lock_acquire_shared — the readers' side of offpay__lock_acquire:
 * a shared flock on the lock file path, which is opened read-only and never
 * created, so a reader writes nothing (it works on a read-only mount, a
 * full disk, a directory it may not write). Readers share it; a writer's
 * exclusive lock waits for them, and they for it, up to timeout_ms. When
 * path does not exist no writer has ever locked it (writers create it
 * first): *fd is -1 and the result OFFPAY_OK, with no lock; callers whose
 * reads are not otherwise consistent must take that into account.
 * Errors: OFFPAY_EINVAL, OFFPAY_EBUSY (a writer still holds it after the
 * wait), the open's failure as offpay__errno_err names it.
 */
offpay_err offpay__lock_acquire_shared(const char *path, int timeout_ms,
                                       int *fd);

/* Releases a lock from offpay__lock_acquire; fd < 0 is a no-op. */
void offpay__lock_release(int fd);

/* How long a second process waits for a wallet, terminal or issuer, in
 * milliseconds (10 s). A variable only so that tests can shorten it. */
extern int offpay__lock_wait_ms;

/*
 * A sealer is a derived key with the salt and KDF parameters it came from,
 * in sodium_malloc'd memory. Deriving is deliberately slow (Argon2id), so
 * a long-lived owner of a file (an open wallet) derives once and then
 * re-seals every save with the same key and a fresh random 24-byte nonce,
 * which XChaCha20-Poly1305 makes safe.
 */
typedef struct offpay__wallet_sealer offpay__wallet_sealer;

/* New sealer for a new passphrase: fresh salt, the KDF cost of strength.
 * Errors: OFFPAY_EINVAL, OFFPAY_EPASSPHRASE_SHORT, OFFPAY_ENOMEM. */
offpay_err offpay__wallet_sealer_new_kdf(const char             *passphrase,
                                         offpay__kdf_strength    strength,
                                         offpay__wallet_sealer **out);
/* offpay__wallet_sealer_new_kdf at OFFPAY__KDF_INTERACTIVE. */
offpay_err offpay__wallet_sealer_new(const char             *passphrase,
                                     offpay__wallet_sealer **out);

/*
 * offpay__wallet_sealer_load_kdf — offpay__wallet_file_load that also
 * returns a sealer for the file (when sealer is not NULL; free it with
 * offpay__wallet_sealer_free; on failure *sealer is NULL). That is the
 * file's own key, unless the file was sealed at a lower cost than the
 * default of strength (either dimension): then it is a key newly derived
 * from the same passphrase with a fresh salt at the higher cost of the two
 * in each dimension, so the next save reseals the file at the default (one
 * more KDF run at open, only for such files). The passphrase policy does
 * not apply: an existing passphrase stays valid.
 * Errors: those of offpay__wallet_file_load.
 */
offpay_err offpay__wallet_sealer_load_kdf(const char          *path,
                                          const char          *passphrase,
                                          offpay__kdf_strength strength,
                                          uint8_t **plain, size_t *len,
                                          offpay__wallet_sealer **sealer);
/* offpay__wallet_sealer_load_kdf at OFFPAY__KDF_INTERACTIVE. */
offpay_err offpay__wallet_sealer_load(const char *path, const char *passphrase,
                                      uint8_t **plain, size_t *len,
                                      offpay__wallet_sealer **sealer);

/* Seals plain with s (fresh nonce) and replaces path atomically.
 * Errors: OFFPAY_EINVAL, OFFPAY_ETOOBIG, OFFPAY_ENOMEM, OFFPAY_ECRYPTO,
 * OFFPAY_EIO. */
offpay_err offpay__wallet_sealer_save(const offpay__wallet_sealer *s,
                                      const char *path, const uint8_t *plain,
                                      size_t len);

/* offpay__wallet_seal with s's key, salt and cost (fresh nonce), in
 * memory: no KDF run. Ownership and errors as for offpay__wallet_seal
 * (less OFFPAY_EPASSPHRASE_SHORT). */
offpay_err offpay__wallet_sealer_seal(const offpay__wallet_sealer *s,
                                      const uint8_t *plain, size_t plain_len,
                                      uint8_t **out, size_t *out_len);

/*
 * offpay__wallet_sealer_open — offpay__wallet_open with s's already derived
 * key instead of a passphrase: the same structural checks, then the same
 * AEAD step, and no KDF run. A file whose salt or KDF cost differs from s's
 * was not sealed with this key: OFFPAY_EPASSPHRASE. Ownership and errors
 * as for offpay__wallet_open. (Lets the fuzz target reach the decryption
 * path on every input at no KDF cost.)
 */
offpay_err offpay__wallet_sealer_open(const offpay__wallet_sealer *s,
                                      const uint8_t *file, size_t file_len,
                                      uint8_t **plain, size_t *plain_len);

/* Wipes and frees. NULL is a no-op. */
void offpay__wallet_sealer_free(offpay__wallet_sealer *s);

/*
 * offpay__file_fault_hook — fault injection for tests; NULL in production.
 * When set, offpay__file_write_atomic calls it before each step with the
 * step's name: "open", "write", "fsync", "close", "rename", "dirsync". A
 * non-zero return makes that step fail as if its system call had failed
 * (the close and dirsync steps still release their descriptor). Not
 * thread-safe: set it only while no other thread writes files.
 */
extern int (*offpay__file_fault_hook)(const char *step);

#endif /* OFFPAY_WALLET_FILE_H */
