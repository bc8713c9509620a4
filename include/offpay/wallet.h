/*
 * offpay/wallet.h — the payer's wallet.
 *
 * A wallet is one file, sealed under the payer's passphrase (Argon2id, then
 * XChaCha20-Poly1305) and replaced atomically on every change. It holds the
 * wallet's Ed25519 key (generated on the device, never leaves it), the
 * pinned root key and trust bundle, the credentials, and the log of every
 * code it made.
 *
 * Overspend safety (DESIGN.md invariant 2): every code reserves its
 * authorized amount the moment it is made, and the reservation and the new
 * counter are on disk before the code is returned. A code that was never
 * scanned stays reserved, so no sequence of crashes, refreshed codes or
 * unscanned codes lets the codes of one credential authorize more than its
 * limit. A receipt records what the merchant charged (confirmed) but does
 * not release the rest (held): offline, the wallet cannot know that no
 * other terminal accepted the same code, say from a captured screen, for
 * more. Only settlement may release it (the settlement sync is not built
 * yet: until then held amounts stay reserved for the credential's life).
 *
 * An offpay_wallet is not thread-safe. An open wallet holds an exclusive
 * lock (the file path.lock beside it): a second open of the same wallet —
 * from another process or this one — waits up to 10 s, then gets
 * OFFPAY_EBUSY.
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

/* Most codes a wallet's log holds. When full, the codes of credentials
 * expired for 90 days are dropped (the credentials and their counters
 * stay); if that frees nothing, making a code fails with OFFPAY_ERANGE. */
#define OFFPAY_WALLET_SPENDS_MAX 6000

/* Defaults for the checks a wallet makes on a merchant's request code. */
#define OFFPAY_WALLET_SKEW        300 /* clock skew allowed, seconds */
#define OFFPAY_WALLET_REQUEST_AGE 600 /* oldest request shown, seconds */

/*
 * offpay_wallet_create — make a new wallet file at path (must not exist):
 * a fresh key pair, the pinned root key and the trust bundle (verified
 * against the root key). Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS, the bundle's
 * decode/verify errors, OFFPAY_EIO, OFFPAY_ENOMEM.
 */
offpay_err offpay_wallet_create(const char *path, const char *passphrase,
                                const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                const uint8_t *bundle, size_t bundle_len,
                                offpay_wallet **out);

/*
 * offpay_wallet_open — open and decrypt a wallet file.
 * Errors: OFFPAY_ENOTFOUND, OFFPAY_EPASSPHRASE, OFFPAY_ECORRUPT, OFFPAY_EIO,
 * OFFPAY_EBUSY (open in another process), OFFPAY_ENOMEM.
 */
offpay_err offpay_wallet_open(const char *path, const char *passphrase,
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
 * same credential twice is OFFPAY_EEXISTS.
 */
offpay_err offpay_wallet_add_credential(offpay_wallet *w, const uint8_t *cred,
                                        size_t len, uint32_t now);

/*
 * offpay_wallet_update_bundle — take a newer trust bundle from the issuer
 * (after a key rotation), verified against the pinned root key. An older
 * bundle (lower sequence number) is OFFPAY_EBUNDLE_OLD.
 * Errors: decode errors, OFFPAY_EBUNDLE_SIG, OFFPAY_EBUNDLE_OLD, OFFPAY_EIO.
 */
offpay_err offpay_wallet_update_bundle(offpay_wallet *w, const uint8_t *bundle,
                                       size_t len);

/* The allowance of one credential, in its currency's minor units. */
typedef struct offpay_wallet_balance {
    uint64_t serial;
    uint16_t currency;
    uint32_t expires;
    int64_t  limit;     /* what the issuer reserved */
    int64_t  confirmed; /* charged, per the receipts taken */
    int64_t  pending;   /* authorized by codes with no receipt yet */
    int64_t  held;      /* authorized beyond what receipts say was charged,
                           held until settlement */
    int64_t  available; /* limit - confirmed - pending - held */
    uint32_t codes;     /* codes made so far */
    int      usable;    /* 1 when valid at the time asked */
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
 * codes), OFFPAY_ECOUNTER, OFFPAY_ERANGE (the log is full, see
 * OFFPAY_WALLET_SPENDS_MAX), OFFPAY_EIO (not saved: no code).
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
 * offpay_wallet_pay; q is re-verified first.
 */
offpay_err offpay_wallet_pay_request(offpay_wallet *w, const offpay_request *q,
                                     uint32_t now, char **text,
                                     offpay_payment *p);

/*
 * offpay_wallet_take_receipt — verify a receipt code (text form) and record
 * the charged amount against the payment it names (the reservation stays:
 * see the top of this file). Taking the same receipt
 * again is OFFPAY_OK. Errors: text/decode errors, offpay_receipt_verify's
 * errors, OFFPAY_ERECEIPT_MISMATCH (no such payment here, or charged more
 * than authorized, or a different amount than an earlier receipt),
 * OFFPAY_EIO.
 */
offpay_err offpay_wallet_take_receipt(offpay_wallet *w, const char *text,
                                      uint32_t now, offpay_receipt *r);

/* One entry of the wallet's spend log. */
typedef struct offpay_wallet_spend {
    uint64_t serial;
    uint32_t counter;
    uint32_t authorized;
    uint32_t time;
    int      bound;
    uint64_t merchant_id; /* bound codes only */
    int64_t  charged;     /* -1 while no receipt */
} offpay_wallet_spend;

/* Number of entries of the spend log, and entry i (oldest first). */
size_t     offpay_wallet_n_spends(const offpay_wallet *w);
offpay_err offpay_wallet_get_spend(const offpay_wallet *w, size_t i,
                                   offpay_wallet_spend *out);

#ifdef __cplusplus
}
#endif
#endif
