/*
 * offpay/issuer.h — the issuer: root and signing keys, the trust bundle,
 * wallet and terminal credentials, and the revocation list.
 *
 * Two layers:
 *   - pure signing functions (offpay_issuer_sign_*): given a secret key and
 *     a filled value, write its signature. No I/O. Thread-safe.
 *   - offpay_issuer, the offline key-ceremony tool's state. The root key is
 *     kept apart from the daily state:
 *       dir/issuer.sealed  signing keys, the signed trust bundle, serial and
 *                          terminal counters, issued terminal keys, revoked
 *                          serials; sealed under the issuer passphrase
 *       root.sealed        the root key alone (by default dir/root.sealed,
 *                          meant to be moved to offline storage), sealed
 *                          under the root passphrase
 *       dir/root.pub, dir/bundle.opb, dir/revlist.opb  the public outputs
 *       dir/issuer.lock    empty: the lock below (made by the first open or
 *                          create, and kept)
 *     Issuing credentials, revoking and publishing never need the root key;
 *     only signing a new trust bundle does (creation, add-key, retire-key),
 *     after offpay_issuer_unlock_root. Private files are mode 0600 and the
 *     directory 0700, public files 0644, whatever existed before.
 *     Every change is saved atomically before the function returns. Not
 *     thread-safe; an open issuer holds an exclusive lock (dir/issuer.lock),
 *     and a second open (another process, or this one) waits up to 10 s,
 *     then gets OFFPAY_EBUSY.
 */
#ifndef OFFPAY_ISSUER_H
#define OFFPAY_ISSUER_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/crypto.h"
#include "offpay/message.h"
#include "offpay/pkcs11.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pure signing ---------------------------------------------------- */

/* Each fills the value's sig from sk. The value must be well-formed (what
 * its encoder accepts). A wallet or terminal key that libsodium would not
 * accept as a verifier (crypto_core_ed25519_is_valid_point fails: non-
 * canonical, small order, off the main subgroup) is OFFPAY_EWEAK_KEY.
 * Errors: OFFPAY_EINVAL, OFFPAY_EWEAK_KEY, OFFPAY_ECRYPTO. */
offpay_err offpay_issuer_sign_bundle(const uint8_t        sk[OFFPAY_SK_BYTES],
                                     offpay_trust_bundle *b);
offpay_err offpay_issuer_sign_wallet_cred(const uint8_t sk[OFFPAY_SK_BYTES],
                                          offpay_wallet_cred *c);
offpay_err offpay_issuer_sign_terminal_cred(const uint8_t sk[OFFPAY_SK_BYTES],
                                            offpay_terminal_cred *c);
offpay_err offpay_issuer_sign_revlist(const uint8_t   sk[OFFPAY_SK_BYTES],
                                      offpay_revlist *l);

/* The same with either kind of key (offpay/pkcs11.h: a sealed secret key
 * or a key in a PKCS#11 token); also OFFPAY_EPKCS11. Thread-safe. */
offpay_err offpay_issuer_sign_bundle_by(const offpay_signer *sk,
                                        offpay_trust_bundle *b);
offpay_err offpay_issuer_sign_wallet_cred_by(const offpay_signer *sk,
                                             offpay_wallet_cred  *c);
offpay_err offpay_issuer_sign_terminal_cred_by(const offpay_signer  *sk,
                                               offpay_terminal_cred *c);
offpay_err offpay_issuer_sign_revlist_by(const offpay_signer *sk,
                                         offpay_revlist      *l);

/* ---- the key-ceremony state ------------------------------------------ */

typedef struct offpay_issuer offpay_issuer;

/* Defaults of offpay_issuer_create. */
#define OFFPAY_ISSUER_KEY_LIFETIME (2u * 365 * 86400) /* signing key window */

/* Most distinct terminal keys one issuer credentials (OFFPAY_ERANGE after). */
#define OFFPAY_ISSUER_TERMINALS_MAX 4096

/*
 * offpay_issuer_create_with_root — make a new issuer in directory dir
 * (created if missing, mode forced to 0700; must not already hold an
 * issuer): a fresh root key, sealed alone under root_passphrase into
 * root_path (NULL: dir/root.sealed; must not exist), and one signing key
 * (kid 1) valid from now for OFFPAY_ISSUER_KEY_LIFETIME, sealed with the
 * rest of the daily state under passphrase into dir/issuer.sealed; writes
 * root.pub (hex), bundle.opb and an empty revlist.opb. root_passphrase NULL
 * means passphrase. *out is the open issuer with its root unlocked; close
 * it with offpay_issuer_close. A failure or a refusal leaves dir as it
 * found it, as offpay_terminal_create does: the directory removed if it
 * made it, else the files it made there (issuer.lock among them) removed
 * and the directory's mode given back, and a root file it wrote at
 * root_path removed; what cannot be removed is said on the log.
 * Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS (issuer.sealed, root_path, or a
 * public file root.pub, bundle.opb or revlist.opb exists: an issuer's,
 * never replaced; 0.18.0 and before replaced them), OFFPAY_ENOTDIR,
 * OFFPAY_EACCES, OFFPAY_EIO, OFFPAY_ENOMEM, OFFPAY_ECRYPTO.
 */
offpay_err offpay_issuer_create_with_root(const char *dir,
                                          const char *passphrase,
                                          const char *root_path,
                                          const char *root_passphrase,
                                          uint32_t now, offpay_issuer **out);

/*
 * offpay_issuer_create_in_token — as offpay_issuer_create_with_root, but
 * the first signing key (kid 1) is the Ed25519 key in a PKCS#11 token that
 * key_uri names (offpay/pkcs11.h; generate: make it in the token first),
 * as offpay_issuer_add_key_in_token takes one: issuer.sealed keeps its URI
 * and public key, and no signing key is ever sealed there, so the
 * passphrase a server keeps opens none. The token is asked before anything
 * is written; a key pair it generated is deleted from the token again if
 * the create then fails. Errors: those of
 * offpay_issuer_create_with_root and offpay_pkcs11_open;
 * OFFPAY_EPKCS11_URI (a URI with pin-value: it is stored), OFFPAY_EEXISTS
 * (also: generate and the token has the key).
 */
offpay_err offpay_issuer_create_in_token(const char *dir,
                                         const char *passphrase,
                                         const char *root_path,
                                         const char *root_passphrase,
                                         const char *key_uri, int generate,
                                         uint32_t now, offpay_issuer **out);

/* offpay_issuer_create_with_root(dir, passphrase, NULL, NULL, now, out). */
offpay_err offpay_issuer_create(const char *dir, const char *passphrase,
                                uint32_t now, offpay_issuer **out);

/*
 * offpay_issuer_open — open an existing issuer directory for day-to-day
 * work (credentials, revocation, publishing); the root key is not read.
 * Tightens the directory to 0700 and issuer.sealed to 0600.
 * Errors: OFFPAY_ENOTFOUND, OFFPAY_EPASSPHRASE, OFFPAY_ECORRUPT,
 * OFFPAY_EVERSION (a directory from before the root key was kept apart:
 * convert it with offpay_issuer_migrate), OFFPAY_ENOMEM, OFFPAY_EBUSY, and
 * the file system's reason (OFFPAY_ENOTDIR: dir is a file; OFFPAY_EACCES;
 * OFFPAY_EROFS: on a read-only mount, where the modes cannot be set),
 * else OFFPAY_EIO. Saves report OFFPAY_ENOSPC, OFFPAY_EROFS, ... by name,
 * with the file unchanged. (`offpay issuer show` reads only the public
 * files, so it works on read-only media.)
 */
offpay_err offpay_issuer_open(const char *dir, const char *passphrase,
                              offpay_issuer **out);

/*
 * offpay_issuer_open_readonly — as offpay_issuer_open, to read only: no
 * lock is taken and no mode is changed, so it works on read-only media
 * (`offpay issuer show --passphrase-file`). Only the queries below may be
 * used on it (offpay_issuer_key_uri, offpay_issuer_sealed_beside_token,
 * offpay_issuer_root_pk, ...): anything that would save is OFFPAY_EINVAL.
 * Errors: those of offpay_issuer_open.
 */
offpay_err offpay_issuer_open_readonly(const char *dir, const char *passphrase,
                                       offpay_issuer **out);

/*
 * offpay_issuer_migrate — convert an issuer directory of the first format
 * (root key inside issuer.sealed) to the current one: the root key moves
 * to root_path (NULL: dir/root.sealed) sealed under root_passphrase (NULL:
 * passphrase), issuer.sealed is rewritten without it, with the trust
 * bundle re-signed unchanged (same sequence, same bytes). Revoked serials
 * that were never issued are dropped. Terminal keys credentialed before
 * the migration are not known to the duplicate check. If root_path exists
 * it must hold this issuer's root key (a rerun after an interrupted
 * migration). Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_EPASSPHRASE,
 * OFFPAY_ECORRUPT, OFFPAY_EEXISTS (already migrated, or root_path holds
 * another key), OFFPAY_EIO, OFFPAY_ENOMEM, OFFPAY_EBUSY.
 */
offpay_err offpay_issuer_migrate(const char *dir, const char *passphrase,
                                 const char *root_path,
                                 const char *root_passphrase);

/*
 * offpay_issuer_unlock_root — read the root key from root_path (NULL:
 * dir/root.sealed) under root_passphrase and keep it in is until close, for
 * offpay_issuer_add_key and offpay_issuer_retire_key.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND, OFFPAY_EPASSPHRASE,
 * OFFPAY_ECORRUPT, OFFPAY_EBUNDLE_SIG (a root key that is not this
 * issuer's: its bundles would not verify under root.pub), OFFPAY_EIO,
 * OFFPAY_ENOMEM.
 */
offpay_err offpay_issuer_unlock_root(offpay_issuer *is, const char *root_path,
                                     const char *root_passphrase);

/* Wipes the secrets and frees. NULL is a no-op. */
void offpay_issuer_close(offpay_issuer *is);

/* The pinned root public key. */
void offpay_issuer_root_pk(const offpay_issuer *is,
                           uint8_t              pk[OFFPAY_PK_BYTES]);

/* The key id the next add-key takes. Key ids are never reused, so every
 * kid below it was made, and one of them missing from the bundle was
 * retired; a kid at or above it is one this view of the issuer has not
 * seen made (another process added it since). */
uint32_t offpay_issuer_next_kid(const offpay_issuer *is);

/* Current trust bundle bytes (as last signed by the root key): *bytes
 * malloc'd, free() it. Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM. */
offpay_err offpay_issuer_bundle(const offpay_issuer *is, uint8_t **bytes,
                                size_t *len);

/*
 * offpay_issuer_issue_wallet — sign a wallet credential for wallet_pk with
 * the next serial, the newest signing key valid at valid_from, and save.
 * limit in minor units (1..OFFPAY_WIRE_AMOUNT_MAX). The key's window must
 * cover [valid_from, expires].
 * Errors: OFFPAY_EINVAL, OFFPAY_EWEAK_KEY (wallet_pk is not a key libsodium
 * verifies under: non-canonical, small order or off the curve),
 * OFFPAY_ERANGE, OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_EKID_EXPIRED (no key
 * covers the window), OFFPAY_EIO.
 */
offpay_err offpay_issuer_issue_wallet(offpay_issuer *is,
                                      const uint8_t  wallet_pk[OFFPAY_PK_BYTES],
                                      int64_t limit, uint16_t currency,
                                      uint32_t valid_from, uint32_t expires,
                                      uint8_t flags, offpay_wallet_cred *out);

/*
 * offpay_issuer_issue_terminal — sign a terminal credential for a
 * merchant's terminal key. A key seen for the first time gets the next
 * terminal id; a key already credentialed for the same merchant keeps its
 * terminal id (a renewal: a new credential with the new window and name);
 * a key already credentialed for another merchant is refused. name:
 * 1..OFFPAY_NAME_MAX bytes of UTF-8 without control characters.
 * Errors: as offpay_issuer_issue_wallet (OFFPAY_EWEAK_KEY for terminal_pk),
 * OFFPAY_EMALFORMED (name), OFFPAY_EEXISTS (key held by another merchant),
 * OFFPAY_ERANGE (OFFPAY_ISSUER_TERMINALS_MAX keys, or ids exhausted).
 */
offpay_err
offpay_issuer_issue_terminal(offpay_issuer *is, uint64_t merchant_id,
                             const uint8_t terminal_pk[OFFPAY_PK_BYTES],
                             uint16_t currency, const char *name,
                             uint32_t valid_from, uint32_t expires,
                             offpay_terminal_cred *out);

/*
 * offpay_issuer_add_key — key rotation: a new signing key (the next kid,
 * never one used before) valid from valid_from for lifetime seconds; the
 * root key (offpay_issuer_unlock_root) signs a trust bundle with a new
 * sequence number, and bundle.opb is rewritten. Older keys stay in the
 * bundle until retired, so credentials they signed stay valid. New
 * credentials use the newest key covering their window. The bundle is
 * dated valid_from: pass the current time (a key that starts later makes
 * a bundle that wallets and terminals refuse as future-dated until then).
 * Errors: OFFPAY_EINVAL (root not unlocked), OFFPAY_ERANGE
 * (OFFPAY_BUNDLE_KEYS_MAX keys, or kids exhausted), OFFPAY_EIO,
 * OFFPAY_ECRYPTO. *kid (may be NULL) receives the new kid.
 */
offpay_err offpay_issuer_add_key(offpay_issuer *is, uint32_t valid_from,
                                 uint32_t lifetime, uint16_t *kid);

/*
 * offpay_issuer_add_key_in_token — as offpay_issuer_add_key, but the new
 * signing key is the Ed25519 key in a PKCS#11 token that key_uri names
 * (offpay/pkcs11.h; generate: make it in the token first). issuer.sealed
 * keeps the URI and the public key, never the private key; credentials
 * and revocation lists under that kid are signed by the token, which is
 * opened for each signature (its PIN from the URI's pin-source or
 * $OFFPAY_PKCS11_PIN: a URI with pin-value is refused, OFFPAY_EPKCS11_URI,
 * since it is stored). Retiring the key forgets the URI and keeps its
 * public key (since 0.12.0); the key stays in the token until deleted
 * there. A key pair it generated is deleted from the token again if
 * issuer.sealed cannot then be written (since 0.19.0). Errors: those of
 * offpay_issuer_add_key and offpay_pkcs11_open; OFFPAY_EEXISTS (generate
 * and the token has the key, or the key is already one of the bundle's,
 * or one retired: it never signs again).
 */
offpay_err offpay_issuer_add_key_in_token(offpay_issuer *is,
                                          uint32_t       valid_from,
                                          uint32_t       lifetime,
                                          const char *key_uri, int generate,
                                          uint16_t *kid);

/*
 * offpay_issuer_retire_key — withdraw a (compromised) signing key: its
 * secret is wiped from the state, the root key (offpay_issuer_unlock_root)
 * signs a trust bundle without it (new sequence, issued at now), and
 * bundle.opb and revlist.opb (signed at now by a remaining key) are
 * rewritten. Wallets and terminals refuse credentials, requests and lists
 * under that kid (OFFPAY_EUNKNOWN_KID) once they hold the new bundle; the
 * issuer never signs under it again, and its kid is never reused.
 * Errors: OFFPAY_EINVAL (root not unlocked), OFFPAY_EUNKNOWN_KID (no such
 * key), OFFPAY_EKID_EXPIRED (no other key valid at now would remain — the
 * last key cannot be retired: add one first), OFFPAY_EIO, OFFPAY_ECRYPTO.
 */
offpay_err offpay_issuer_retire_key(offpay_issuer *is, uint16_t kid,
                                    uint32_t now);

/*
 * offpay_issuer_revoke — add serial to the revocation list (a new sequence
 * number), save, and rewrite revlist.opb. Only serials this issuer issued
 * can be revoked. Revoking an already revoked serial is OFFPAY_EEXISTS.
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOT_ISSUED (serial 0 or not yet issued),
 * OFFPAY_EEXISTS, OFFPAY_ERANGE (list full), OFFPAY_EIO.
 */
offpay_err offpay_issuer_revoke(offpay_issuer *is, uint64_t serial,
                                uint32_t now);

/*
 * offpay_issuer_publish — rewrite the public files: root.pub, bundle.opb
 * (the stored bundle; the root key is not needed), and revlist.opb signed
 * afresh at issued_at = now. A terminal's offline clock (max_offline_hours,
 * 72 h by default) restarts only when a sync brings something newer, and it
 * refuses payments once its list is older than max_revlist_age (7 days): so
 * an issuer publishes daily, even when nothing was revoked. Errors:
 * OFFPAY_EKID_EXPIRED (no signing key valid now), OFFPAY_EIO, OFFPAY_ENOMEM,
 * OFFPAY_ECRYPTO.
 */
offpay_err offpay_issuer_publish(offpay_issuer *is, uint32_t now);

/* The full current revocation list, signed at issued_at = now.
 * *bytes malloc'd; free() it. */
offpay_err offpay_issuer_revlist(offpay_issuer *is, uint32_t now,
                                 uint8_t **bytes, size_t *len);

/*
 * offpay_issuer_signing_key — for the online server (offpayd), which signs
 * credentials and revocation lists with the day-to-day key but never holds
 * the root key: copies the newest signing key valid at now into sk (wipe it
 * when done) and its kid into *kid. Errors: OFFPAY_EINVAL,
 * OFFPAY_EKID_EXPIRED (no key valid at now).
 */
offpay_err offpay_issuer_signing_key(const offpay_issuer *is, uint32_t now,
                                     uint16_t *kid,
                                     uint8_t   sk[OFFPAY_SK_BYTES]);
/* (offpay_issuer_signing_key: also OFFPAY_EPKCS11 when that key is in a
 * PKCS#11 token: ask offpay_issuer_signing_key_uri.) */

/*
 * offpay_issuer_signing_key_uri — when the newest signing key valid at now
 * is in a PKCS#11 token: its kid and its URI (as given to
 * offpay_issuer_add_key_in_token) into uri. Errors: OFFPAY_EINVAL,
 * OFFPAY_EKID_EXPIRED, OFFPAY_ENOTFOUND (that key is a sealed one).
 */
offpay_err offpay_issuer_signing_key_uri(const offpay_issuer *is, uint32_t now,
                                         uint16_t *kid,
                                         char uri[OFFPAY_PKCS11_URI_MAX + 1]);

/*
 * offpay_issuer_key_uri — where signing key kid is kept: OFFPAY_OK and its
 * URI in uri when it is in a PKCS#11 token; OFFPAY_ENOTFOUND when it is
 * sealed in issuer.sealed; OFFPAY_EUNKNOWN_KID when the bundle has no such
 * key; OFFPAY_EINVAL.
 */
offpay_err offpay_issuer_key_uri(const offpay_issuer *is, uint16_t kid,
                                 char uri[OFFPAY_PKCS11_URI_MAX + 1]);

/*
 * offpay_issuer_sealed_beside_token — the kid of the newest signing key
 * sealed in issuer.sealed and valid at now, when the bundle also holds a
 * key in a PKCS#11 token; else 0. Such a sealed key is opened by the
 * issuer passphrase (which offpayd is given) and trusted by every wallet
 * and terminal like the token's: retire it (offpay_issuer_retire_key) once
 * the token's key signs. docs/pkcs11.md §3.
 */
uint16_t offpay_issuer_sealed_beside_token(const offpay_issuer *is,
                                           uint32_t             now);

#ifdef __cplusplus
}
#endif
#endif
