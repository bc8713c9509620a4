/*
 * offpay/issuer.h — the issuer: root and signing keys, the trust bundle,
 * wallet and terminal credentials, and the revocation list.
 *
 * Two layers:
 *   - pure signing functions (offpay_issuer_sign_*): given a secret key and
 *     a filled value, write its signature. No I/O. Thread-safe.
 *   - offpay_issuer, the offline key-ceremony tool's state: a directory
 *     holding one file sealed under a passphrase (issuer.sealed: root key,
 *     signing keys, serial counters, revoked serials) and the public
 *     outputs (root.pub, bundle.opb, revlist.opb). Every change is saved
 *     atomically before the function returns. Not thread-safe; an open
 *     issuer holds an exclusive lock (dir/issuer.lock), and a second open
 *     (another process, or this one) waits up to 10 s, then gets
 *     OFFPAY_EBUSY.
 */
#ifndef OFFPAY_ISSUER_H
#define OFFPAY_ISSUER_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/crypto.h"
#include "offpay/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pure signing ---------------------------------------------------- */

/* Each fills the value's sig from sk. The value must be well-formed (what
 * its encoder accepts). Errors: OFFPAY_EINVAL, OFFPAY_ECRYPTO. */
offpay_err offpay_issuer_sign_bundle(const uint8_t        sk[OFFPAY_SK_BYTES],
                                     offpay_trust_bundle *b);
offpay_err offpay_issuer_sign_wallet_cred(const uint8_t sk[OFFPAY_SK_BYTES],
                                          offpay_wallet_cred *c);
offpay_err offpay_issuer_sign_terminal_cred(const uint8_t sk[OFFPAY_SK_BYTES],
                                            offpay_terminal_cred *c);
offpay_err offpay_issuer_sign_revlist(const uint8_t   sk[OFFPAY_SK_BYTES],
                                      offpay_revlist *l);

/* ---- the key-ceremony state ------------------------------------------ */

typedef struct offpay_issuer offpay_issuer;

/* Defaults of offpay_issuer_create. */
#define OFFPAY_ISSUER_KEY_LIFETIME (2u * 365 * 86400) /* signing key window */

/*
 * offpay_issuer_create — make a new issuer in directory dir (created if
 * missing, must not already hold an issuer): a fresh root key and one
 * signing key (kid 1) valid from now for OFFPAY_ISSUER_KEY_LIFETIME, sealed
 * under passphrase; writes root.pub (hex), bundle.opb and an empty
 * revlist.opb. *out is the open issuer; close it with offpay_issuer_close.
 * Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS, OFFPAY_EIO, OFFPAY_ENOMEM,
 * OFFPAY_ECRYPTO.
 */
offpay_err offpay_issuer_create(const char *dir, const char *passphrase,
                                uint32_t now, offpay_issuer **out);

/*
 * offpay_issuer_open — open an existing issuer directory.
 * Errors: OFFPAY_ENOTFOUND, OFFPAY_EPASSPHRASE, OFFPAY_ECORRUPT, OFFPAY_EIO,
 * OFFPAY_ENOMEM.
 */
offpay_err offpay_issuer_open(const char *dir, const char *passphrase,
                              offpay_issuer **out);

/* Wipes the secrets and frees. NULL is a no-op. */
void offpay_issuer_close(offpay_issuer *is);

/* The pinned root public key. */
void offpay_issuer_root_pk(const offpay_issuer *is,
                           uint8_t              pk[OFFPAY_PK_BYTES]);

/* Current trust bundle bytes: *bytes malloc'd, free() it. */
offpay_err offpay_issuer_bundle(const offpay_issuer *is, uint8_t **bytes,
                                size_t *len);

/*
 * offpay_issuer_issue_wallet — sign a wallet credential for wallet_pk with
 * the next serial, the newest signing key valid at valid_from, and save.
 * limit in minor units (1..OFFPAY_WIRE_AMOUNT_MAX). The key's window must
 * cover [valid_from, expires].
 * Errors: OFFPAY_EINVAL, OFFPAY_ERANGE, OFFPAY_ECURRENCY_UNKNOWN,
 * OFFPAY_EKID_EXPIRED (no key covers the window), OFFPAY_EIO.
 */
offpay_err offpay_issuer_issue_wallet(offpay_issuer *is,
                                      const uint8_t  wallet_pk[OFFPAY_PK_BYTES],
                                      int64_t limit, uint16_t currency,
                                      uint32_t valid_from, uint32_t expires,
                                      uint8_t flags, offpay_wallet_cred *out);

/*
 * offpay_issuer_issue_terminal — sign a terminal credential (the next
 * terminal id) for a merchant's terminal key. name: 1..OFFPAY_NAME_MAX bytes
 * of UTF-8 without control characters.
 * Errors: as offpay_issuer_issue_wallet, and OFFPAY_EMALFORMED (name).
 */
offpay_err
offpay_issuer_issue_terminal(offpay_issuer *is, uint64_t merchant_id,
                             const uint8_t terminal_pk[OFFPAY_PK_BYTES],
                             uint16_t currency, const char *name,
                             uint32_t valid_from, uint32_t expires,
                             offpay_terminal_cred *out);

/*
 * offpay_issuer_add_key — key rotation: a new signing key (the next kid)
 * valid from valid_from for lifetime seconds; the trust bundle gets a new
 * sequence number and bundle.opb is rewritten. Older keys stay in the
 * bundle until their window ends, so credentials they signed stay valid.
 * New credentials use the newest key covering their window.
 * Errors: OFFPAY_EINVAL, OFFPAY_ERANGE (OFFPAY_BUNDLE_KEYS_MAX keys),
 * OFFPAY_EIO, OFFPAY_ECRYPTO. *kid (may be NULL) receives the new kid.
 */
offpay_err offpay_issuer_add_key(offpay_issuer *is, uint32_t valid_from,
                                 uint32_t lifetime, uint16_t *kid);

/*
 * offpay_issuer_revoke — add serial to the revocation list (a new sequence
 * number), save, and rewrite revlist.opb. Revoking an already revoked serial
 * is OFFPAY_EEXISTS. Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS, OFFPAY_ERANGE
 * (list full), OFFPAY_EIO.
 */
offpay_err offpay_issuer_revoke(offpay_issuer *is, uint64_t serial,
                                uint32_t now);

/*
 * offpay_issuer_publish — rewrite the public files: root.pub, bundle.opb,
 * and revlist.opb signed afresh at issued_at = now. A terminal's offline
 * clock (max_offline_hours, 72 h by default) restarts only when a sync
 * brings something newer, and it refuses payments once its list is older
 * than max_revlist_age (7 days): so an issuer publishes daily, even when
 * nothing was revoked. Errors: OFFPAY_EKID_EXPIRED (no signing key valid now),
 * OFFPAY_EIO, OFFPAY_ENOMEM, OFFPAY_ECRYPTO.
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

#ifdef __cplusplus
}
#endif
#endif
