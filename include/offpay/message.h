/*
 * offpay/message.h — the protocol messages as C values, their canonical
 * binary form and their text form (prefix + Base45).
 *
 * docs/protocol.md is the normative description of every byte; this header
 * is its C mirror. Decoding is strict: exact lengths, no trailing bytes,
 * reserved bits zero, ordered lists, known currencies. Decoding never checks
 * signatures: verification is the job of offpay_*_verify (verify.h), which
 * works on the decoded value and its exact bytes.
 *
 * All structs are plain caller-owned values with fixed-size fields; no
 * function here allocates except where a prototype says so.
 */
#ifndef OFFPAY_MESSAGE_H
#define OFFPAY_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OFFPAY_PROTOCOL_VERSION 1

#define OFFPAY_PK_BYTES        32 /* Ed25519 public key */
#define OFFPAY_SK_BYTES        64 /* Ed25519 secret key (libsodium layout) */
#define OFFPAY_SEED_BYTES      32 /* Ed25519 seed */
#define OFFPAY_SIG_BYTES       64 /* Ed25519 signature */
#define OFFPAY_NONCE_BYTES     12 /* request nonce */
#define OFFPAY_NAME_MAX        40 /* merchant display name, UTF-8 bytes */
#define OFFPAY_BUNDLE_KEYS_MAX 16
#define OFFPAY_REVLIST_MAX     65535
/* A revocation list names a revoked credential while its signed expiry is
 * at most this before the list's issued_at (docs/protocol.md §2.8, "Live";
 * since 0.22.0, before which it was the issuer's upload grace): a day,
 * twice the widest skew a terminal takes (OFFPAY_RISK_SKEW_MAX), so no
 * terminal holding the list could take a code of a credential it leaves
 * out. */
#define OFFPAY_REVLIST_LIVE_AFTER 86400u

/* Message types: the second byte of every message. */
typedef enum offpay_msg_type {
    OFFPAY_MSG_TRUST_BUNDLE = 0x01,
    OFFPAY_MSG_WALLET_CRED = 0x02,
    OFFPAY_MSG_TERMINAL_CRED = 0x03,
    OFFPAY_MSG_PAYMENT = 0x10,       /* consumer-presented (unbound) */
    OFFPAY_MSG_PAYMENT_BOUND = 0x11, /* answers a merchant request */
    OFFPAY_MSG_REQUEST = 0x20,
    OFFPAY_MSG_RECEIPT = 0x30,
    OFFPAY_MSG_REVLIST = 0x40,
} offpay_msg_type;

/* Wallet credential flags. Bits not defined here must be zero. */
#define OFFPAY_CRED_ALLOW_UNBOUND                                              \
    0x01u /* may make consumer-presented codes                                 \
           */
#define OFFPAY_CRED_FLAGS_KNOWN 0x01u

/* Exact encoded sizes of the fixed-size messages. */
#define OFFPAY_WALLET_CRED_BODY_BYTES 57 /* kid..flags, no header, no sig */
#define OFFPAY_WALLET_CRED_BYTES      (2 + OFFPAY_WALLET_CRED_BODY_BYTES + 64)
#define OFFPAY_PAYMENT_BYTES          (2 + OFFPAY_WALLET_CRED_BODY_BYTES + 64 + 12 + 64)
#define OFFPAY_PAYMENT_BOUND_BYTES                                             \
    (OFFPAY_PAYMENT_BYTES + 8 + OFFPAY_NONCE_BYTES)
#define OFFPAY_REVLIST_HEADER_BYTES 18 /* version..count */
#define OFFPAY_MSG_MAX_BYTES                                                   \
    (OFFPAY_REVLIST_HEADER_BYTES + OFFPAY_REVLIST_MAX * 8 + 64)

/* One issuer signing key in a trust bundle. */
typedef struct offpay_bundle_key {
    uint16_t kid;
    uint8_t  pk[OFFPAY_PK_BYTES];
    uint32_t valid_from;  /* unix seconds, inclusive */
    uint32_t valid_until; /* unix seconds, inclusive */
} offpay_bundle_key;

/* Trust bundle: the issuer's signing keys, signed by the root key. */
typedef struct offpay_trust_bundle {
    uint32_t          seq;       /* grows with every new bundle */
    uint32_t          issued_at; /* unix seconds */
    uint8_t           n_keys;    /* 1..OFFPAY_BUNDLE_KEYS_MAX */
    offpay_bundle_key keys[OFFPAY_BUNDLE_KEYS_MAX]; /* kid strictly ascending */
    uint8_t           sig[OFFPAY_SIG_BYTES];        /* root signature */
} offpay_trust_bundle;

/* Wallet credential: the issuer's promise that serial's escrow holds limit. */
typedef struct offpay_wallet_cred {
    uint16_t kid;    /* issuer signing key */
    uint64_t serial; /* unique; names the escrow */
    uint8_t  wallet_pk[OFFPAY_PK_BYTES];
    uint32_t limit;                 /* minor units */
    uint16_t currency;              /* ISO 4217 numeric */
    uint32_t valid_from;            /* unix seconds, inclusive */
    uint32_t expires;               /* unix seconds, inclusive */
    uint8_t  flags;                 /* OFFPAY_CRED_* */
    uint8_t  sig[OFFPAY_SIG_BYTES]; /* issuer signature */
} offpay_wallet_cred;

/* Terminal credential: binds a terminal key to a merchant. */
typedef struct offpay_terminal_cred {
    uint16_t kid;
    uint64_t merchant_id;
    uint32_t terminal_id;
    uint8_t  terminal_pk[OFFPAY_PK_BYTES];
    uint16_t currency; /* the currency this terminal charges in */
    uint32_t valid_from;
    uint32_t expires;
    uint8_t  name_len;                  /* 1..OFFPAY_NAME_MAX */
    char     name[OFFPAY_NAME_MAX + 1]; /* UTF-8, NUL-terminated copy */
    uint8_t  sig[OFFPAY_SIG_BYTES];
} offpay_terminal_cred;

/* Payment code, consumer-presented (bound == 0) or bound to a request. */
typedef struct offpay_payment {
    offpay_wallet_cred cred;
    uint32_t           counter; /* strictly increasing per credential, from 1 */
    uint32_t amount; /* the most the merchant may charge, minor units */
    uint32_t time;   /* when the wallet made the code, unix seconds */
    int      bound;  /* 1: merchant_id and nonce are present */
    uint64_t merchant_id;
    uint8_t  nonce[OFFPAY_NONCE_BYTES];
    uint8_t  sig[OFFPAY_SIG_BYTES]; /* wallet signature */
} offpay_payment;

/* Request code: the merchant asks for an amount. */
typedef struct offpay_request {
    offpay_terminal_cred tcred;
    uint32_t             amount;
    uint16_t             currency;
    uint8_t              nonce[OFFPAY_NONCE_BYTES];
    uint32_t             time;
    uint8_t              sig[OFFPAY_SIG_BYTES]; /* terminal signature */
} offpay_request;

/* Receipt code: what the terminal charged for one payment. */
typedef struct offpay_receipt {
    offpay_terminal_cred tcred;
    uint64_t             serial;  /* the payer's credential */
    uint32_t             counter; /* the payment's counter */
    uint32_t             amount;  /* charged, minor units */
    uint16_t             currency;
    uint32_t             time;
    uint8_t              sig[OFFPAY_SIG_BYTES];
} offpay_receipt;

/* Revocation list: serials revoked after base_seq, up to seq. */
typedef struct offpay_revlist {
    uint16_t  kid;
    uint32_t  seq;
    uint32_t  base_seq; /* 0 for a full list, else the list it extends */
    uint32_t  issued_at;
    uint32_t  n_serials; /* 0..OFFPAY_REVLIST_MAX */
    uint64_t *serials;   /* strictly ascending; owned by the decoder's caller */
    uint8_t   sig[OFFPAY_SIG_BYTES];
} offpay_revlist;

/* Any decoded message (offpay_msg_decode_any). */
typedef struct offpay_msg {
    offpay_msg_type type;
    union {
        offpay_trust_bundle  bundle;
        offpay_wallet_cred   wcred;
        offpay_terminal_cred tcred;
        offpay_payment       payment;
        offpay_request       request;
        offpay_receipt       receipt;
        offpay_revlist       revlist;
    } u;
} offpay_msg;

/*
 * Encoders write the exact canonical bytes into buf (capacity cap) and set
 * *len. Errors: OFFPAY_EINVAL (NULL or a field out of its allowed range,
 * e.g. an unknown flag bit), OFFPAY_ERANGE (cap too small).
 * Decoders read exactly len bytes. Errors: OFFPAY_ETRUNCATED,
 * OFFPAY_ETRAILING, OFFPAY_EVERSION, OFFPAY_ETYPE, OFFPAY_EMALFORMED,
 * OFFPAY_ECURRENCY_UNKNOWN. A decoded value re-encodes to the same bytes.
 */
offpay_err offpay_bundle_encode(const offpay_trust_bundle *b, uint8_t *buf,
                                size_t cap, size_t *len);
offpay_err offpay_bundle_decode(const uint8_t *buf, size_t len,
                                offpay_trust_bundle *b);
offpay_err offpay_wallet_cred_encode(const offpay_wallet_cred *c, uint8_t *buf,
                                     size_t cap, size_t *len);
offpay_err offpay_wallet_cred_decode(const uint8_t *buf, size_t len,
                                     offpay_wallet_cred *c);
offpay_err offpay_terminal_cred_encode(const offpay_terminal_cred *c,
                                       uint8_t *buf, size_t cap, size_t *len);
offpay_err offpay_terminal_cred_decode(const uint8_t *buf, size_t len,
                                       offpay_terminal_cred *c);
offpay_err offpay_payment_encode(const offpay_payment *p, uint8_t *buf,
                                 size_t cap, size_t *len);
offpay_err offpay_payment_decode(const uint8_t *buf, size_t len,
                                 offpay_payment *p);
offpay_err offpay_request_encode(const offpay_request *r, uint8_t *buf,
                                 size_t cap, size_t *len);
offpay_err offpay_request_decode(const uint8_t *buf, size_t len,
                                 offpay_request *r);
offpay_err offpay_receipt_encode(const offpay_receipt *r, uint8_t *buf,
                                 size_t cap, size_t *len);
offpay_err offpay_receipt_decode(const uint8_t *buf, size_t len,
                                 offpay_receipt *r);
offpay_err offpay_revlist_encode(const offpay_revlist *l, uint8_t *buf,
                                 size_t cap, size_t *len);
/* On success l->serials is malloc'd (NULL when empty): free with
 * offpay_revlist_free(). On error nothing is allocated. */
offpay_err offpay_revlist_decode(const uint8_t *buf, size_t len,
                                 offpay_revlist *l);
void       offpay_revlist_free(offpay_revlist *l);

/*
 * offpay_msg_decode_any — decode whichever message buf holds (by its type
 * byte). For a revocation list, free with offpay_msg_free().
 */
offpay_err offpay_msg_decode_any(const uint8_t *buf, size_t len, offpay_msg *m);
void       offpay_msg_free(offpay_msg *m);

/* The text prefix of a message type ("OPPY:"), or NULL for an unknown type. */
const char *offpay_msg_prefix(offpay_msg_type type);
/* A short English name of a type ("payment"), or "unknown". */
const char *offpay_msg_type_name(offpay_msg_type type);

/*
 * offpay_text_encode — the text form of a message: its type's prefix followed
 * by the Base45 of bytes. *text is malloc'd (NUL-terminated); free() it.
 * The type is read from bytes[1]. Errors: OFFPAY_EINVAL, OFFPAY_ETYPE,
 * OFFPAY_ENOMEM.
 */
offpay_err offpay_text_encode(const uint8_t *bytes, size_t len, char **text);

/* Characters of the longest text form of any message (a full revocation
 * list of OFFPAY_REVLIST_MAX serials): 786 548. */
#define OFFPAY_TEXT_MAX (5 + OFFPAY_BASE45_ENCODED_LEN(OFFPAY_MSG_MAX_BYTES))

/*
 * offpay_msg_max_bytes — the size of the largest valid message of type
 * (docs/protocol.md §2.9: a bundle of 16 keys, a name of 40 bytes, a list
 * of OFFPAY_REVLIST_MAX serials, ...), or 0 for an unknown type.
 */
size_t offpay_msg_max_bytes(offpay_msg_type type);

/*
 * offpay_text_max_len — the most characters a valid text form beginning
 * with text[0..n) may have: the prefix and the Base45 of the largest
 * message among the prefix's types (§2.9, §4). When n < 5 or the prefix is
 * unknown, OFFPAY_TEXT_MAX. Readers of text (a scanner, an argument) use it
 * to refuse longer input with OFFPAY_ETOOBIG before decoding or even
 * buffering all of it.
 */
size_t offpay_text_max_len(const char *text, size_t n);

/*
 * offpay_text_decode — the bytes of a text form. Strict: a known prefix,
 * then Base45 only (its alphabet has a space, which is part of the text:
 * never trim or split on it; no other whitespace: callers strip a
 * scanner's trailing CR/LF first), at most OFFPAY_MSG_MAX_BYTES decoded,
 * and the type byte must match the prefix. *bytes is malloc'd; free() it.
 * Errors: OFFPAY_EINVAL, OFFPAY_EPREFIX, OFFPAY_EBASE45, OFFPAY_ETOOBIG,
 * OFFPAY_ETRUNCATED, OFFPAY_ENOMEM.
 */
offpay_err offpay_text_decode(const char *text, size_t n, uint8_t **bytes,
                              size_t *len);

/*
 * offpay_base64_decode — the bytes of standard base64 text (RFC 4648,
 * padded), as offpayd's JSON carries credentials, the trust bundle and
 * revocation lists, for offpay_wallet_add_credential,
 * offpay_terminal_set_credential and the sync functions. Strict: the
 * canonical form only (the text must encode back to itself), no
 * whitespace, at most OFFPAY_BASE64_MAX bytes decoded (any message,
 * a full revocation list included). *bytes is malloc'd; free() it.
 * Errors: OFFPAY_EINVAL (NULL), OFFPAY_EMALFORMED (not canonical base64,
 * or empty), OFFPAY_ETOOBIG, OFFPAY_ENOMEM.
 */
#define OFFPAY_BASE64_MAX OFFPAY_MSG_MAX_BYTES
offpay_err offpay_base64_decode(const char *text, size_t n, uint8_t **bytes,
                                size_t *len);

/*
 * offpay_key_from_hex — a 32-byte public key (the issuer's root.pub, a
 * terminal's or wallet's key) from its 64 hex digits (either case), with
 * at most one trailing newline (a file's). Errors: OFFPAY_EINVAL (NULL),
 * OFFPAY_EMALFORMED (anything else).
 */
offpay_err offpay_key_from_hex(const char *text, size_t n,
                               uint8_t pk[OFFPAY_PK_BYTES]);

/* Domain-separation strings of the signatures (docs/protocol.md §3). */
#define OFFPAY_DS_BUNDLE        "offpay/v1/trust-bundle"
#define OFFPAY_DS_WALLET_CRED   "offpay/v1/wallet-credential"
#define OFFPAY_DS_TERMINAL_CRED "offpay/v1/terminal-credential"
#define OFFPAY_DS_PAYMENT       "offpay/v1/payment"
#define OFFPAY_DS_REQUEST       "offpay/v1/request"
#define OFFPAY_DS_RECEIPT       "offpay/v1/receipt"
#define OFFPAY_DS_REVLIST       "offpay/v1/revocation-list"
/* offpayd's answer to a signed request (docs/api.md, "Signed answers") */
#define OFFPAY_DS_HTTP_ANSWER "offpay/v1/http-answer"
/* a terminal's new key proving it takes part in a rotation (docs/api.md,
 * "Terminal lifecycle"; since 0.13.0) */
#define OFFPAY_DS_TERMINAL_ROTATE "offpay/v1/terminal-rotate"

#ifdef __cplusplus
}
#endif
#endif /* OFFPAY_MESSAGE_H */
