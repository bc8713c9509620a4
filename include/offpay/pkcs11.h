/*
 * offpay/pkcs11.h — Ed25519 keys kept in a PKCS#11 token (docs/pkcs11.md).
 *
 * An issuer's signing key or a terminal's key may live in a PKCS#11 token
 * instead of a sealed file; offpay names it by a PKCS#11 URI (RFC 7512),
 * e.g. "pkcs11:token=offpay;object=issuer-kid-2?pin-source=file:/run/pin",
 * and the private key never leaves the token: offpay asks the token to sign
 * (CKM_EDDSA, pure Ed25519) and reads only the public key.
 *
 * The module (the token's PKCS#11 library) is, in this order: the URI's
 * module-path, the module argument, $OFFPAY_PKCS11_MODULE, or
 * OFFPAY_PKCS11_DEFAULT_MODULE (Debian's SoftHSM2). p11-kit's proxy module
 * works too. The PIN is, in this order: the URI's pin-value, the file its
 * pin-source names (first line), or $OFFPAY_PKCS11_PIN; it is wiped as soon
 * as the token has seen it.
 *
 * Errors: OFFPAY_EPKCS11_URI (a malformed URI, or one that names no token,
 * no key or several keys), OFFPAY_EPKCS11 (the module or token failed: the CKR_
 * name and the function are in offpay_pkcs11_detail()), OFFPAY_EPASSPHRASE (the
 * token refused the PIN: CKR_PIN_INCORRECT).
 */
#ifndef OFFPAY_PKCS11_H
#define OFFPAY_PKCS11_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OFFPAY_PKCS11_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define OFFPAY_PKCS11_MODULE_ENV     "OFFPAY_PKCS11_MODULE"
#define OFFPAY_PKCS11_PIN_ENV        "OFFPAY_PKCS11_PIN"

/* Caps of a URI and of its decoded attributes (longer is refused). */
#define OFFPAY_PKCS11_URI_MAX    1024
#define OFFPAY_PKCS11_TOKEN_MAX  32 /* CK_TOKEN_INFO.label */
#define OFFPAY_PKCS11_SERIAL_MAX 16 /* CK_TOKEN_INFO.serialNumber */
#define OFFPAY_PKCS11_OBJECT_MAX 128
#define OFFPAY_PKCS11_ID_MAX     64
#define OFFPAY_PKCS11_PIN_MAX    128
#define OFFPAY_PKCS11_PATH_MAX   512

/*
 * A parsed URI. Text members are NUL-terminated decoded UTF-8 without
 * control characters; an absent attribute is the empty string (id: id_len
 * 0). pin_value is a secret: offpay_pkcs11_uri_wipe() it.
 */
typedef struct offpay_pkcs11_uri {
    char    token[OFFPAY_PKCS11_TOKEN_MAX + 1];
    char    serial[OFFPAY_PKCS11_SERIAL_MAX + 1];
    char    object[OFFPAY_PKCS11_OBJECT_MAX + 1];
    uint8_t id[OFFPAY_PKCS11_ID_MAX];
    size_t  id_len;
    char    type[8]; /* "", "private" or "public" */
    char    pin_value[OFFPAY_PKCS11_PIN_MAX + 1];
    char    pin_source[OFFPAY_PKCS11_PATH_MAX + 1];
    char    module_path[OFFPAY_PKCS11_PATH_MAX + 1];
} offpay_pkcs11_uri;

/*
 * offpay_pkcs11_uri_parse — parse text as an RFC 7512 URI, strictly:
 * "pkcs11:" then path attributes (token, serial, object, id, type)
 * separated by ';', then optionally '?' and query attributes (pin-value,
 * pin-source, module-path) separated by '&'. Each attribute at most once,
 * no empty value, only the characters RFC 7512 allows unencoded, '%' only
 * as %XX, no unknown attribute; object or id is required (a URI must name
 * one key). pin-source is "file:/abs/path" or "/abs/path". *out is filled
 * (and wiped on failure). Errors: OFFPAY_EINVAL (NULL),
 * OFFPAY_EPKCS11_URI. Pure; thread-safe.
 */
offpay_err offpay_pkcs11_uri_parse(const char *text, offpay_pkcs11_uri *out);

/* Wipes the parsed URI (its PIN). NULL is a no-op. */
void offpay_pkcs11_uri_wipe(offpay_pkcs11_uri *u);

/* 1 when text parses and carries no pin-value (so it may be stored in a
 * plain file or shown), else 0. */
int offpay_pkcs11_uri_storable(const char *text);

/* An open key: a session with the token, logged in, holding the handle of
 * the private key and a copy of the public key. */
typedef struct offpay_pkcs11_key offpay_pkcs11_key;

/*
 * offpay_pkcs11_open — load the module (see above; module may be NULL),
 * find the URI's token, log in with the PIN, and find exactly one Ed25519
 * private key (CKK_EC_EDWARDS on the edwards25519 curve) matching the
 * URI's object label and/or id, and its public key (CKA_EC_POINT). The
 * token then signs a test message, verified with libsodium, so a key pair
 * whose halves disagree or a token whose CKM_EDDSA is not pure Ed25519 is
 * refused (OFFPAY_EPKCS11), as is a private key that can leave the token
 * or was not made in it (CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE and
 * CKA_NEVER_EXTRACTABLE must be true, CKA_EXTRACTABLE false). *out: close with
 * offpay_pkcs11_close. Errors: OFFPAY_EINVAL, OFFPAY_EPKCS11_URI (malformed; no
 * such token, no such key, or several: the detail names them),
 * OFFPAY_EPASSPHRASE (wrong PIN; or, with
 * the token logged in already by another key of this process, a PIN other than
 * the one that logged in; a URI that gives no PIN then is OFFPAY_EPKCS11_URI,
 * as it would be opened alone: its private key is seen only through that
 * login), OFFPAY_EPKCS11, OFFPAY_ENOMEM, OFFPAY_ENOTFOUND (the
 * module or pin-source file does not exist).
 */
offpay_err offpay_pkcs11_open(const char *module, const char *uri,
                              offpay_pkcs11_key **out);

/*
 * offpay_pkcs11_generate — make a new Ed25519 key pair in the URI's token
 * (CKM_EC_EDWARDS_KEY_PAIR_GEN; the private key sensitive and never
 * extractable, both on the token, labelled with the URI's object and
 * given its id), then open it as offpay_pkcs11_open does. A token where
 * a private key of any type or id already carries the URI's label (a URI
 * without object: its id) is OFFPAY_EEXISTS, offpay_pkcs11_detail()
 * naming that key: beside it, the new key would make a URI of the label
 * name several keys. A pair made and then refused (offpay_pkcs11_open's
 * checks) is deleted from the token again. Errors: those of
 * offpay_pkcs11_open, OFFPAY_EEXISTS.
 */
offpay_err offpay_pkcs11_generate(const char *module, const char *uri,
                                  offpay_pkcs11_key **out);

/* The key's public key. */
void offpay_pkcs11_pk(const offpay_pkcs11_key *k, uint8_t pk[OFFPAY_PK_BYTES]);

/*
 * offpay_pkcs11_sign — as offpay_sign, by the token: sig = Ed25519 of
 * domain || 0x00 || msg under the token's key, verified under its public
 * key before it is returned. Thread-safe (one session per key, taken
 * under a lock). When the token lost the session or the key's handle
 * (removed and put back, reset: CKR_SESSION_HANDLE_INVALID,
 * CKR_OBJECT_HANDLE_INVALID, CKR_DEVICE_REMOVED, ...), the key is opened
 * anew from its URI in a new session (the PIN read again; the module
 * initialized anew when no token matches and offpay initialized it), at
 * once and then at most every 5 s, and used only if it is the same key;
 * meanwhile OFFPAY_EPKCS11, the detail saying why. The loss and the
 * recovery are said once each on the log. Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOMEM, OFFPAY_EPKCS11.
 */
offpay_err offpay_pkcs11_sign(offpay_pkcs11_key *k, const char *domain,
                              const uint8_t *msg, size_t len,
                              uint8_t sig[OFFPAY_SIG_BYTES]);

/* Closes the session (and the module with its last key). NULL: no-op. */
void offpay_pkcs11_close(offpay_pkcs11_key *k);

/* What the token said about the calling thread's last OFFPAY_EPKCS11,
 * OFFPAY_EPKCS11_URI or OFFPAY_EPASSPHRASE of this module, e.g.
 * "C_Login: CKR_PIN_INCORRECT"; "" if none. Valid until the thread's next
 * offpay_pkcs11_* call. */
const char *offpay_pkcs11_detail(void);

/*
 * A signing key of either kind: the sealed-file secret key sk (the
 * default), or, when sk is NULL, a key in a token. Borrowed pointers: they
 * stay the caller's. offpay_signer_sign signs as offpay_sign.
 */
typedef struct offpay_signer {
    const uint8_t     *sk;
    offpay_pkcs11_key *p11;
} offpay_signer;

offpay_err offpay_signer_sign(const offpay_signer *s, const char *domain,
                              const uint8_t *msg, size_t len,
                              uint8_t sig[OFFPAY_SIG_BYTES]);

#ifdef __cplusplus
}
#endif
#endif
