/*
 * offpay/error.h — the one error enum of liboffpay.
 *
 * Every fallible function returns an offpay_err. The list is append-only:
 * a value, once released, keeps its number and meaning. The enum, the
 * symbolic names and the human messages are generated from OFFPAY_ERRORS
 * below, so they cannot drift apart.
 *
 * Errors fall in four groups:
 *   - usage and environment (bad argument, no memory, I/O);
 *   - decoding (the input is not a well-formed offpay message);
 *   - verification (well-formed, but a check of docs/protocol.md failed);
 *   - state (the wallet or terminal refuses because of what it holds).
 */
#ifndef OFFPAY_ERROR_H
#define OFFPAY_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, number, message) */
#define OFFPAY_ERRORS(X)                                                       \
    X(OK, 0, "success")                                                        \
    X(EINVAL, 1, "invalid argument")                                           \
    X(ENOMEM, 2, "out of memory")                                              \
    X(EIO, 3, "input/output error")                                            \
    X(ERANGE, 4, "value out of range")                                         \
    X(EOVERFLOW, 5, "arithmetic overflow")                                     \
    X(ECRYPTO, 6, "cryptographic library failure")                             \
    X(EAMOUNT, 7, "malformed amount")                                          \
    X(ECURRENCY_UNKNOWN, 8, "unknown currency code")                           \
    X(EBASE45, 9, "malformed Base45 text")                                     \
    X(EPREFIX, 10, "unknown or mismatched text prefix")                        \
    X(ETRUNCATED, 11, "message is truncated")                                  \
    X(ETRAILING, 12, "trailing bytes after message")                           \
    X(EVERSION, 13, "unsupported protocol version")                            \
    X(ETYPE, 14, "wrong message type")                                         \
    X(EMALFORMED, 15, "malformed message field")                               \
    X(ETOOBIG, 16, "input exceeds the size limit")                             \
    X(EUNKNOWN_KID, 17, "issuer key id is unknown")                            \
    X(EKID_EXPIRED, 18, "issuer key id is outside its validity window")        \
    X(EBUNDLE_SIG, 19, "trust bundle signature is invalid")                    \
    X(ECRED_SIG, 20, "credential signature is invalid")                        \
    X(ECODE_SIG, 21, "code signature is invalid")                              \
    X(EREVLIST_SIG, 22, "revocation list signature is invalid")                \
    X(EEXPIRED, 23, "credential has expired")                                  \
    X(ENOT_YET_VALID, 24, "credential is not yet valid")                       \
    X(EREVOKED, 25, "credential is revoked")                                   \
    X(ECURRENCY, 26, "wrong currency")                                         \
    X(ECODE_TOO_OLD, 27, "code is too old")                                    \
    X(ECODE_FUTURE, 28, "code is dated in the future beyond the allowed skew") \
    X(EOVER_AUTHORIZED, 29, "amount exceeds the amount the payer authorized")  \
    X(EOVER_FLOOR, 30, "amount exceeds the per-payment limit")                 \
    X(EOVER_CUMULATIVE, 31,                                                    \
      "amount exceeds the cumulative limit for this credential here")          \
    X(EOVER_LIMIT, 32, "amount exceeds the credential's limit")                \
    X(EREPLAY, 33, "code was already accepted (replay)")                       \
    X(EWRONG_MERCHANT, 34, "code is bound to another merchant")                \
    X(EWRONG_NONCE, 35,                                                        \
      "code is bound to a request this terminal did not make")                 \
    X(EAMOUNT_MISMATCH, 36, "amount differs from the request")                 \
    X(EUNBOUND_REFUSED, 37, "credential does not allow unbound codes")         \
    X(ESYNC_REQUIRED, 38,                                                      \
      "sync required: offline limits reached, or a restored wallet's "         \
      "counters "                                                              \
      "not yet confirmed by the server")                                       \
    X(EREVLIST_STALE, 39,                                                      \
      "revocation list is missing or too old: the terminal must sync")         \
    X(EREVLIST_SEQ, 40, "revocation list does not follow the one held")        \
    X(EPASSPHRASE, 41, "wrong passphrase")                                     \
    X(ECORRUPT, 42, "file is corrupted")                                       \
    X(EEXISTS, 43, "already exists")                                           \
    X(ENOTFOUND, 44, "not found")                                              \
    X(ECOUNTER, 45, "code counter exhausted")                                  \
    X(EINSUFFICIENT, 46, "offline allowance is insufficient")                  \
    X(ENO_CREDENTIAL, 47, "wallet holds no usable credential")                 \
    X(ERECEIPT_MISMATCH, 48,                                                   \
      "receipt does not match a payment of this wallet")                       \
    X(EJOURNAL, 49, "terminal journal failure")                                \
    X(ESCAN, 50, "no code found in the image")                                 \
    X(EIMAGE, 51, "cannot read or write the image")                            \
    X(EQRENCODE, 52, "text does not fit in a QR code")                         \
    X(EREQUEST_EXPIRED, 53, "the request this code answers has expired")       \
    X(EBUNDLE_OLD, 54, "trust bundle is older than the one held")              \
    X(EBUSY, 55, "in use by another process")                                  \
    X(EOUTCOME, 56,                                                            \
      "the journal write failed and its outcome is unknown: check the "        \
      "journal before handing over goods")                                     \
    X(ECLOCK_BEHIND, 57,                                                       \
      "the clock is behind the newest time this device has seen: fix the "     \
      "clock")                                                                 \
    X(EFUTURE_DATED, 58,                                                       \
      "signed list or bundle is dated in the future beyond the allowed skew")  \
    X(ETERMINAL_EXPIRED, 59,                                                   \
      "this terminal's own credential is expired or not yet valid, or its "    \
      "issuer key is not (retired, or outside its window)")                    \
    X(ENO_TERMINAL_CRED, 60, "this terminal has no credential yet")            \
    X(EDOUBLE_SPEND, 61,                                                       \
      "another code with the same credential and counter was accepted "        \
      "(double spend): evidence kept")                                         \
    X(EIMAGE_DEADLINE, 62, "the image could not be decoded in time")           \
    X(EIMAGE_TOO_LARGE, 63, "the image exceeds the size limit")                \
    X(ELINKED, 64, "path is a symbolic link or has other hard links")          \
    X(EWEAK_KEY, 65,                                                           \
      "not a valid Ed25519 public key (non-canonical or small order)")         \
    X(ENOT_ISSUED, 66, "no credential with this serial was issued")            \
    X(EPASSPHRASE_SHORT, 67, "passphrase is too short")                        \
    X(ENOSPC, 68, "disk full")                                                 \
    X(EROFS, 69, "read-only file system")                                      \
    X(EACCES, 70, "permission denied")                                         \
    X(ENOENT, 71, "no such file or directory")                                 \
    X(EISDIR, 72, "is a directory")                                            \
    X(ENOTDIR, 73, "a component of the path is not a directory")               \
    X(ERETRY, 74, "storage conflict: the transaction must be run again")       \
    X(ESTORE, 75, "ledger storage failure")                                    \
    X(EFUNDS, 76, "account balance is insufficient")                           \
    X(ETERMINAL_REVOKED, 77, "terminal is revoked")                            \
    X(ELATE, 78, "presented after the late-presentment window")                \
    X(EAUDIT, 79, "the ledger audit found a mismatch")                         \
    X(ECONFLICT, 80,                                                           \
      "conflicts with an earlier upload from the same terminal")               \
    X(EEVIDENCE, 81, "the evidence does not prove the case it names")          \
    X(ENOT_SETTLED, 82, "no terminal has uploaded this payment yet")           \
    X(EPKCS11, 83, "the PKCS#11 module or token failed the operation")         \
    X(EPKCS11_URI, 84,                                                         \
      "the PKCS#11 URI names no single key: it is malformed, or no token or "  \
      "key matches it, or several do")                                         \
    X(EREFUSED, 85, "offpayd refused the request (its reason is printed)")     \
    X(ESHARD_MAP, 86,                                                          \
      "the shard map does not match the ledger's shards (the reason is "       \
      "printed)")                                                              \
    X(EOVER_REFUND, 87, "refund exceeds what remains paid of the payment")     \
    X(EANSWER, 88,                                                             \
      "offpayd's answer is not signed by the issuer's key: it is not acted "   \
      "on")                                                                    \
    X(ECARD_SILENT, 89, "the card stopped answering")                          \
    X(ETERMINAL_RETIRING, 90,                                                  \
      "this terminal's rotation or decommission went to offpayd unanswered: "  \
      "it accepts nothing until that is run again")                            \
    X(ETERMINAL_UNKNOWN, 91,                                                   \
      "offpayd does not know this terminal's key (its ledger restored from a " \
      "copy older than the terminal's registration?)")                         \
    X(ELEDGER_MOVED, 92,                                                       \
      "the ledger's file was moved or deleted while it was open: nothing "     \
      "was written; put it back and restart")                                  \
    X(EWALLET_LOST, 93,                                                        \
      "this wallet key was reported lost: it gets no credential any more; "    \
      "enroll a new key with an enrollment code for its account")              \
    X(EWALLET_CASE, 94,                                                        \
      "this wallet key has a double-spend or overspend case against one of "   \
      "its credentials (a copy of the wallet paid too): it gets no "           \
      "credential any more; after the operator's review its owner enrolls a "  \
      "new key with an enrollment code for its account")                       \
    X(EDUPLICATE_MERCHANT, 95,                                                 \
      "this code was presented before by a terminal of the same merchant, "    \
      "which was paid for it then: it is paid again only what remains of "     \
      "its authorized amount, never by the guarantee")                         \
    X(ELEDGER_SEALED, 96,                                                      \
      "this SQLite ledger was copied to PostgreSQL ('offpay admin "            \
      "copy-ledger') and sealed: nothing was written; run offpayd on the "     \
      "ledger it was copied into ('offpay admin unseal' is the way back)")     \
    X(EMERCHANT_CLOSED, 97,                                                    \
      "this merchant was closed ('offpay admin close-merchant'): it gets no "  \
      "new terminal; what its terminals accepted before they were revoked "    \
      "is still paid when it is uploaded")                                     \
    X(ECASE_CLOSED, 98,                                                        \
      "this case is closed already ('offpay admin case CASE' shows when and "  \
      "why): reopen it first to close it with other words")                    \
    X(ECASE_OPEN, 99, "this case is open: only a closed case is reopened")     \
    X(ETERMINAL_KEY_MISSING, 100,                                              \
      "this terminal's key file is missing (terminal.key, or terminal.keyuri " \
      "for a key in a token): nothing it accepted could be uploaded; put the " \
      "file back from where the directory came from")                          \
    X(ESCAN_SEVERAL, 101,                                                      \
      "the image shows more than one offpay code: show one code at a time")

typedef enum offpay_err {
#define OFFPAY__ERR_ENUM(name, num, msg) OFFPAY_##name = num,
    OFFPAY_ERRORS(OFFPAY__ERR_ENUM)
#undef OFFPAY__ERR_ENUM
} offpay_err;

/*
 * offpay_strerror — the human message for err ("unknown error" for values
 * not in the list). The string is static; never free it. Thread-safe.
 */
const char *offpay_strerror(offpay_err err);

/*
 * offpay_errname — the symbolic name without prefix ("EREPLAY"), or
 * "UNKNOWN". Static string; thread-safe. Used in JSON output and tests.
 */
const char *offpay_errname(offpay_err err);

/*
 * offpay_server_detail — offpayd's reason for the calling thread's last
 * request it refused or failed (offpay_*_upload, _sync, _enroll,
 * _allowance, ...: OFFPAY_EREFUSED or OFFPAY_EIO): its error name and hint
 * and the HTTP status, e.g. "EFUNDS: the account holds 3.00 EUR (HTTP
 * 422)"; "" when offpayd gave none. The same text goes to the log
 * (offpay_set_log). Valid until the thread's next request to offpayd.
 * Thread-safe.
 */
const char *offpay_server_detail(void);

/*
 * offpay_server_unreached — 1 when the calling thread's last request to
 * offpayd never connected on any of its tries (the name does not resolve,
 * the address refuses or cannot be routed to): nothing of it reached
 * offpayd, so nothing was made there. 0 when a try connected (offpayd may
 * have acted on it, even if its answer was lost) or no request was made.
 * Read it after an OFFPAY_EIO, before the thread's next request. Since
 * 0.26.0. Thread-safe.
 */
int offpay_server_unreached(void);

/*
 * offpay_set_log — where the library's diagnostic lines go: what offpayd
 * refused and why, a database that failed, a payment offpayd did not pay
 * in full. Each line ("offpay: ...", without its newline) is passed to
 * fn with ctx, from the thread that met it. By default they are printed
 * on stderr (offpay_log_stderr); fn NULL silences them (a program that
 * reads the return codes, the reports and offpay_server_detail() has
 * everything they say). A line may hold a database's own newlines. Call
 * it at start-up, before other threads use the library; fn must be
 * thread-safe if several threads use the library.
 */
typedef void offpay_log_fn(void *ctx, const char *line);
void         offpay_set_log(offpay_log_fn *fn, void *ctx);

/* The default sink: line and a newline on stderr (ctx unused). */
void offpay_log_stderr(void *ctx, const char *line);

#ifdef __cplusplus
}
#endif
#endif /* OFFPAY_ERROR_H */
