/*
 * offpay/terminal.h — the merchant's terminal: verifies payment codes fully
 * offline, applies the risk rules, and records accepted payments durably.
 *
 * A terminal is a directory:
 *   terminal.key  the terminal's Ed25519 key, sealed under a passphrase
 *                 (same format as a wallet file);
 *   terminal.db   SQLite (WAL, synchronous=FULL): configuration, the trust
 *                 bundle, the credential, the revocation list, outstanding
 *                 requests, and the journal of accepted payments.
 *
 * "Accepted" is returned only after the payment's journal row is committed
 * durably (docs/protocol.md §7). The journal's unique key (serial,
 * counter) is the seen-set that stops replays, across restarts. The
 * journal is append-only; a terminal.db of an older layout is upgraded
 * when opened (docs/protocol.md §7), and one that cannot be written then
 * opens for reading only (accepting, syncing and changing settings return
 * the cause: OFFPAY_EROFS, OFFPAY_ENOSPC or OFFPAY_EJOURNAL).
 *
 * An offpay_terminal is not thread-safe. An open terminal holds an
 * exclusive lock (dir/terminal.lock): a second open of the same terminal
 * (another process, or this one) waits up to 10 s, then gets OFFPAY_EBUSY. So
 * the in-memory mirror of the journal (seen-set, sums, revocations) never goes
 * stale behind another writer.
 */
#ifndef OFFPAY_TERMINAL_H
#define OFFPAY_TERMINAL_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct offpay_terminal offpay_terminal;

/*
 * Risk rules (docs/protocol.md §5.4), each configurable; 0 disables a rule where
 * noted. Amounts are minor units of the terminal's currency.
 */

/* The widest skew a terminal takes (12 hours; since 0.20.0): a revocation
 * leaves the issuer's lists a day after its credential's expiry
 * (OFFPAY_REVLIST_LIVE_AFTER, docs/protocol.md §2.8), and a terminal
 * allowing more skew could take a revoked credential's codes. */
#define OFFPAY_RISK_SKEW_MAX 43200u

typedef struct offpay_risk {
    int64_t  floor_unbound;        /* per-payment limit, unbound codes */
    int64_t  floor_bound;          /* per-payment limit, bound codes */
    int64_t  cumulative;           /* per credential at this terminal */
    uint32_t max_offline_payments; /* since the last sync; 0: no limit */
    uint32_t max_offline_hours;    /* since the last sync; 0: no limit */
    uint32_t max_code_age;         /* seconds a bound code stays acceptable */
    uint32_t skew;                 /* clock skew allowed, seconds; at most
                                      OFFPAY_RISK_SKEW_MAX */
    uint32_t max_revlist_age;      /* seconds; 0: no limit */
    uint32_t request_ttl;          /* seconds a request code stays open */
    uint32_t max_code_age_unbound; /* seconds an unbound code stays
                                      acceptable: a captured one is a
                                      bearer token for this long */
    uint32_t max_upload_days;      /* days the oldest payment offpayd has
                                      not decided may wait; 0: no limit
                                      (since 0.12.0) */
} offpay_risk;

/* Defaults for a currency: floors of 50 (unbound) and 200 (bound) risk
 * units, cumulative 500 (a risk unit is offpay_currency_risk_unit: EUR
 * 1.00, JPY 100; one major unit in every currency up to 0.14.0), 500
 * payments or 72 hours offline, bound codes valid 300 s and unbound ones
 * 60 s, skew 120 s, revocation list at most 7 days old, requests 300 s, a
 * payment not uploaded at most 14 days. They are also the guarantee's
 * rules: offpayd pays an overspend only for payments within them
 * (docs/settlement.md §5).
 *
 * The offline limits count from the last sync that brought something new
 * from the issuer (a list or bundle, online or from files); the upload
 * limit counts from the oldest payment offpayd has not decided (never
 * uploaded, or left undecided), which only an upload ends: a terminal
 * kept going on carried-in lists alone must still upload before its
 * payments pass offpayd's late window (docs/settlement.md §6) and go
 * unpaid. */
void offpay_risk_defaults(uint16_t currency, offpay_risk *r);

/*
 * offpay_terminal_create — make a terminal in dir (created if missing):
 * a fresh key pair sealed under passphrase, the pinned root key and the
 * trust bundle (verified), default risk rules for currency. dir must not
 * hold a terminal's key file, nor a journal without it (terminal.db, or a
 * terminal.db-wal file alone: it may hold accepted payments not uploaded
 * yet, so it is never reused nor replaced; 0.18.0 and before reused it):
 * OFFPAY_EEXISTS, nothing changed. Then get a credential for
 * offpay_terminal_public_key() from the issuer and give it to
 * offpay_terminal_set_credential. The directory is made (or, if it
 * existed, set) 0700, and terminal.db with its -wal and -shm files and
 * terminal.key 0600, whatever the umask: the journal holds just-accepted
 * codes, usable elsewhere for their lifetime. A failure
 * leaves nothing it made: the directory if it made it, else the files it
 * made there (what was there before stays) and the directory's mode as it
 * was, so the same call may simply be made again; what cannot be removed
 * is said on the log.
 * Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS, OFFPAY_ENOTDIR,
 * OFFPAY_EPASSPHRASE_SHORT (under 8 characters), bundle errors,
 * OFFPAY_EJOURNAL, OFFPAY_EIO (including a directory whose mode cannot be
 * set).
 */
offpay_err offpay_terminal_create(const char *dir, const char *passphrase,
                                  const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                  const uint8_t *bundle, size_t bundle_len,
                                  uint16_t currency, offpay_terminal **out);

/*
 * offpay_terminal_create_in_token — as offpay_terminal_create, but the
 * terminal's key is the Ed25519 key in a PKCS#11 token that key_uri names
 * (offpay/pkcs11.h; generate: make it in the token first, OFFPAY_EEXISTS
 * if it is there). The private key never leaves the token: dir/
 * terminal.keyuri (0600) keeps the URI, and every open that is given a
 * passphrase (any: it is not used) opens the token and signs requests,
 * receipts and upload requests there; the PIN comes from the URI's
 * pin-source or $OFFPAY_PKCS11_PIN, since a URI with pin-value is refused
 * (OFFPAY_EPKCS11_URI). A failure leaves nothing, as offpay_terminal_create,
 * and a key pair it generated is deleted from the token again. Errors:
 * those of offpay_terminal_create and
 * offpay_pkcs11_open (OFFPAY_EPKCS11, OFFPAY_EPKCS11_URI, ...).
 */
offpay_err offpay_terminal_create_in_token(
    const char *dir, const char *key_uri, int generate,
    const uint8_t root_pk[OFFPAY_PK_BYTES], const uint8_t *bundle,
    size_t bundle_len, uint16_t currency, offpay_terminal **out);

/*
 * offpay_terminal_open — open a terminal. passphrase may be NULL: the
 * terminal then verifies and accepts but cannot sign (requests, receipts:
 * OFFPAY_EPASSPHRASE). It tightens the modes of the directory and its
 * files as offpay_terminal_create sets them (best effort: a terminal
 * made by an older version had 0644 files). It creates dir/terminal.lock
 * if missing and opens the database for writing, so it needs a writable
 * directory with some free space (use offpay_terminal_open_readonly to
 * read a terminal on a read-only mount or a full disk).
 * Errors: OFFPAY_ENOTFOUND (no terminal in dir), OFFPAY_EPASSPHRASE,
 * OFFPAY_ETERMINAL_KEY_MISSING (a passphrase given, and neither
 * terminal.key nor terminal.keyuri in dir; opened without one, such a
 * terminal accepts nothing: since 0.25.0), OFFPAY_ECORRUPT, OFFPAY_EBUSY
 * (open in another process), OFFPAY_ENOMEM,
 * the file system's reason (OFFPAY_ENOTDIR: dir is a file;
 * OFFPAY_EROFS, OFFPAY_EACCES, OFFPAY_ENOSPC, OFFPAY_ENOENT), else
 * OFFPAY_EJOURNAL. Later writes of the handle (accept, request, sync,
 * set_risk) report a full disk, a read-only mount or a lost permission by
 * name too (OFFPAY_ENOSPC, OFFPAY_EROFS, OFFPAY_EACCES), with the
 * transaction rolled back: nothing was recorded.
 */
offpay_err offpay_terminal_open(const char *dir, const char *passphrase,
                                offpay_terminal **out);

/*
 * offpay_terminal_open_readonly — open a terminal for reading only (its
 * journal, sync state, rules, credential, public key), writing nothing:
 * no lock file is created, no mode is changed and the database is opened
 * read-only, so it works on a read-only mount, a full disk, or a directory
 * the caller may not write. passphrase as for offpay_terminal_open.
 * Consistency: the handle holds a shared lock on dir/terminal.lock (when
 * that file exists) until closed, so it never sees a writer's half-done
 * work and a writer's offpay_terminal_open waits for it (up to 10 s, then
 * OFFPAY_EBUSY): close it promptly. While it holds that lock, or when the
 * media is read-only, and no write-ahead log is pending, SQLite reads the
 * database file as immutable (no -wal, no -shm, no locks); otherwise it
 * uses SQLite's read-only mode, whose readers see committed transactions
 * only. Functions that would write (accept, request, sync, set_risk,
 * set_credential) fail, recording nothing (OFFPAY_EACCES).
 * Errors: those of offpay_terminal_open.
 */
offpay_err offpay_terminal_open_readonly(const char       *dir,
                                         const char       *passphrase,
                                         offpay_terminal **out);

/* Closes the database, wipes the key, frees. NULL is a no-op. */
void offpay_terminal_close(offpay_terminal *t);

/* The terminal's public key (to send to the issuer for a credential). Opened
 * without a passphrase, it is the credential's key (zeros before one is
 * set). t must not be NULL. */
void offpay_terminal_public_key(const offpay_terminal *t,
                                uint8_t                pk[OFFPAY_PK_BYTES]);

/* Stores the terminal's credential (its bytes: decode offpayd's base64
 * first) after checking it against the trust bundle and this terminal's
 * key (OFFPAY_EINVAL if another key) and currency (OFFPAY_ECURRENCY if
 * another than the terminal's). The held bundle is judged here too, now
 * that the terminal has a clock: dated after now + skew,
 * OFFPAY_EFUTURE_DATED. */
offpay_err offpay_terminal_set_credential(offpay_terminal *t,
                                          const uint8_t *cred, size_t len,
                                          uint32_t now);

/* The stored credential; OFFPAY_ENO_TERMINAL_CRED before set_credential. */
offpay_err offpay_terminal_credential(const offpay_terminal *t,
                                      offpay_terminal_cred  *out);

/*
 * offpay_terminal_sync — what a terminal does when it reaches the issuer:
 * take a new trust bundle (may be NULL), a revocation list (full, or a
 * delta whose base_seq is the held seq; may be NULL), and reset the offline
 * counters — but only when something is newer than what the terminal holds
 * (a higher sequence number, or for a list the same one signed later).
 * Files it already holds change nothing and return OFFPAY_OK (compare
 * offpay_terminal_sync_state before and after), so replaying them never
 * resets the limits.
 * A sync that takes something newer sets the clock's high-water mark to
 * the newest of now and the issued_at of the held bundle and list (so a
 * clock set forward by mistake is forgiven by the issuer's next full list,
 * but never back beyond what the issuer signed). The list's part is the
 * time the revoked serials held are complete for: a full list's issued_at,
 * which a delta signed before it, a full list numbered below it, or a sync
 * without a list does not bring back (since 0.22.0), even when it is after
 * now + skew: the terminal then refuses (OFFPAY_ECLOCK_BEHIND) until a
 * full list comes (docs/protocol.md §5.7).
 * Errors: OFFPAY_EINVAL (both NULL), bundle/revlist decode and signature
 * errors, OFFPAY_EFUTURE_DATED (a bundle or list issued after now + skew),
 * OFFPAY_EREVLIST_SEQ (a delta that does not follow, or a list older than
 * the one held), OFFPAY_EBUNDLE_OLD (a bundle older than the one held),
 * OFFPAY_EJOURNAL.
 */
offpay_err offpay_terminal_sync(offpay_terminal *t, const uint8_t *bundle,
                                size_t bundle_len, const uint8_t *revlist,
                                size_t revlist_len, uint32_t now);

/* What the terminal holds from the issuer, and since when. */
typedef struct offpay_sync_state {
    uint32_t last_sync;           /* when it last took something new */
    uint32_t payments_since_sync; /* accepted since then */
    uint32_t bundle_seq;          /* trust bundle held */
    uint32_t revlist_seq;         /* revocation list held (0: none yet) */
    uint32_t revlist_issued_at;   /* when the issuer signed it */
    uint32_t high_water;          /* newest time seen: the clock may not be
                                     behind it by more than skew */
    uint32_t oldest_waiting;      /* the acceptance time of the oldest
                                     payment offpayd has not decided; 0:
                                     none (since 0.12.0) */
} offpay_sync_state;

/* Fills s. Errors: OFFPAY_EINVAL. */
offpay_err offpay_terminal_sync_state(const offpay_terminal *t,
                                      offpay_sync_state     *s);

/* The ISO 4217 numeric currency the terminal charges in. */
uint16_t offpay_terminal_currency(const offpay_terminal *t);

offpay_err offpay_terminal_get_risk(const offpay_terminal *t, offpay_risk *r);
/* Saves new risk rules. Errors: OFFPAY_EINVAL (negative amounts, a skew
 * above OFFPAY_RISK_SKEW_MAX), OFFPAY_EJOURNAL. Rules saved by a version
 * without max_code_age_unbound load with its default (60 s, or max_code_age if
 * lower); without max_upload_days, with its default (14). */
offpay_err offpay_terminal_set_risk(offpay_terminal *t, const offpay_risk *r);

/*
 * offpay_terminal_request — make a request code for amount minor units with
 * a fresh random nonce, remembered (durably) until it is paid or its
 * request_ttl passes. *text malloc'd; free() it. q may be NULL.
 * Errors: OFFPAY_EINVAL, OFFPAY_EOVER_FLOOR / OFFPAY_EOVER_CUMULATIVE
 * (more than this terminal's risk rules would accept as a bound payment),
 * then the terminal's own state: OFFPAY_ENO_TERMINAL_CRED,
 * OFFPAY_ECLOCK_BEHIND, OFFPAY_ETERMINAL_EXPIRED, then
 * OFFPAY_ESYNC_REQUIRED / OFFPAY_EREVLIST_STALE (it would refuse any
 * payment now: the payer's allowance would be reserved for nothing),
 * OFFPAY_EPASSPHRASE (opened without key), OFFPAY_EJOURNAL.
 */
offpay_err offpay_terminal_request(offpay_terminal *t, int64_t amount,
                                   uint32_t now, char **text,
                                   offpay_request *q);

/* The outcome of an accepted payment. */
typedef struct offpay_acceptance {
    offpay_payment payment; /* the verified code */
    int64_t        charged; /* minor units */
    int64_t        seq;     /* journal sequence number */
    uint32_t       time;    /* acceptance time */
} offpay_acceptance;

/*
 * offpay_terminal_check — every check of docs/protocol.md §5 and the risk
 * rules on a code in text form, charging charge minor units (0: the bound
 * request's amount; required > 0 for unbound codes), WITHOUT recording it.
 * p (may be NULL) receives the decoded code. Errors: every decoding and
 * verification error of the protocol, in its order: decoding errors first,
 * then the terminal's own state (OFFPAY_ENO_TERMINAL_CRED, no credential
 * installed; OFFPAY_ECLOCK_BEHIND, now + skew is before the high-water
 * mark; OFFPAY_ETERMINAL_EXPIRED, its own credential is outside its
 * window), then the code's (OFFPAY_EREPLAY: this very code was accepted;
 * OFFPAY_EDOUBLE_SPEND: another code with its (serial, counter) was), ...
 * OFFPAY_EINVAL (unbound code with charge 0).
 */
offpay_err offpay_terminal_check(offpay_terminal *t, const char *text, size_t n,
                                 int64_t charge, uint32_t now,
                                 offpay_payment *p);

/*
 * offpay_terminal_accept — offpay_terminal_check, then the journal row,
 * committed durably, then OFFPAY_OK. OFFPAY_EOUTCOME: the commit failed
 * and even a reopened journal cannot say whether the payment is in it, or
 * it holds the row but cannot sync it to the disk again —
 * the merchant must check the journal (or the next sync) before handing
 * over goods; out then holds the code (payment, charged, time; seq 0) for
 * offpay_terminal_journal_find (since 0.13.0; it was zeroed). On any other
 * error nothing is recorded (except double-spend evidence: a second code with a
 * seen (serial, counter) but other bytes is kept in the evidence table and
 * refused with OFFPAY_EDOUBLE_SPEND). out may be NULL; it is zeroed first. On
 * OFFPAY_EREPLAY (these exact bytes were accepted) and OFFPAY_EDOUBLE_SPEND,
 * out receives the EARLIER acceptance from the journal (its seq, charge and
 * time; payment is the code just scanned), so the cashier can say "already
 * paid" instead of asking again; out->seq stays 0 if the journal cannot tell.
 * An acceptance also raises the clock's high-water mark to now.
 */
offpay_err offpay_terminal_accept(offpay_terminal *t, const char *text,
                                  size_t n, int64_t charge, uint32_t now,
                                  offpay_acceptance *out);

/*
 * offpay_terminal_receipt — a receipt code for journal entry seq.
 * *text malloc'd. Errors: OFFPAY_ENOTFOUND (no such entry),
 * OFFPAY_ENO_TERMINAL_CRED, OFFPAY_EPASSPHRASE, OFFPAY_EJOURNAL.
 */
offpay_err offpay_terminal_receipt(offpay_terminal *t, int64_t seq,
                                   uint32_t now, char **text);

/* Room for offpayd's result texts kept with a journal entry. */
#define OFFPAY_OUTCOME_MAX 24 /* "settled_guaranteed" and its NUL */
#define OFFPAY_REASON_MAX  40 /* an error name, "ETERMINAL_REVOKED" */
#define OFFPAY_CASE_MAX    24 /* a case id, decimal */

/* One journal entry. code points into storage valid until the callback
 * returns. */
typedef struct offpay_journal_entry {
    int64_t        seq;
    uint64_t       serial;
    uint32_t       counter;
    int64_t        charged;
    uint32_t       authorized;
    uint16_t       currency;
    int            bound;
    uint32_t       accepted_at;
    const uint8_t *code;
    size_t         code_len;
    /* What offpayd decided, as the terminal's online sync recorded it
     * (offpay_terminal_upload). uploaded 0: not decided yet (still to
     * upload). uploaded 1 with outcome "": decided before the terminal
     * kept results (an older version). Else outcome is offpayd's
     * ("settled", "settled_guaranteed", "duplicate", "double_spend",
     * "unpaid", "rejected"; docs/api.md), paid and covered what it
     * credited the merchant and of that what the guarantee paid (minor
     * units), reason the error name of a "rejected", or of the shortfall
     * of a payment not paid in full ("unpaid", or a "duplicate" or
     * "double_spend" that fell short; "" for none), case_id the case
     * opened or joined ("" for none), decided_at the terminal's time when
     * the result came. */
    int            uploaded;
    char           outcome[OFFPAY_OUTCOME_MAX];
    int64_t        paid;
    int64_t        covered;
    char           reason[OFFPAY_REASON_MAX];
    char           case_id[OFFPAY_CASE_MAX];
    uint32_t       decided_at;
    /* A ledger taken back to an older copy lacked this payment after
     * offpayd had decided it (offpay_terminal_upload's check): lost 1,
     * listed to upload again (the result above is still the one it had
     * given); lost 2, uploaded again (the result above is the new one).
     * lost_outcome and lost_paid: what offpayd had decided before. lost 0:
     * never lacked. */
    int            lost;
    char           lost_outcome[OFFPAY_OUTCOME_MAX];
    int64_t        lost_paid;
} offpay_journal_entry;

/* Calls fn for every journal entry in order; a non-zero return stops the
 * walk. Errors: OFFPAY_EINVAL (t or fn NULL), OFFPAY_EJOURNAL. */
offpay_err offpay_terminal_journal(offpay_terminal *t,
                                   int (*fn)(const offpay_journal_entry *e,
                                             void                       *ctx),
                                   void *ctx);

/* The journal entry of (serial, counter) into *out, by the journal's
 * unique key (no walk): after OFFPAY_EOUTCOME, whether the payment is
 * recorded. out->code is NULL (its length is in code_len; the walk above
 * gives the bytes). Errors: OFFPAY_EINVAL, OFFPAY_ENOTFOUND (not in the
 * journal), OFFPAY_EJOURNAL (the journal cannot be read: ask again after
 * reopening). */
offpay_err offpay_terminal_journal_find(offpay_terminal *t, uint64_t serial,
                                        uint32_t              counter,
                                        offpay_journal_entry *out);

/* What offpay_terminal_upload did. */
typedef struct offpay_upload_report {
    size_t sent;          /* entries sent (replays of earlier uploads too) */
    size_t decided;       /* entries offpayd decided, now marked uploaded */
    size_t settled;       /* of which paid (with a case or by the guarantee
                             included); not in full: unpaid */
    size_t rejected;      /* of which refused (their reason is in the log) */
    size_t unpaid;        /* of which not paid in full (late, or an
                             overspend the guarantee does not cover, a
                             duplicate or double spend included: its
                             reason is in the log; with reason EFUNDS the
                             rest is owed by the issuer's guarantee, paid
                             to the merchant once it is funded,
                             settlement.md §5); what was paid is in paid */
    size_t left;          /* entries still to upload: an error stopped the
                             call (the batches it did not send counted too,
                             since 0.25.0; before, at most one batch), or
                             offpayd did not decide them yet */
    int64_t paid;         /* minor units credited to the merchant */
    int     synced;       /* 1: the newest bundle and list were taken */
    int     clock_known;  /* 1: offpayd's time was read (and recorded) */
    int64_t clock_offset; /* offpayd's clock minus the terminal's (now),
                             seconds: positive when the terminal is behind */
    int     revoked;      /* 1: offpayd has revoked this terminal; it is
                             recorded, and the terminal accepts nothing more
                             (OFFPAY_ETERMINAL_REVOKED) */
    size_t rechecked;     /* entries offpayd had paid, asked about to check
                             that its ledger still holds them (none with an
                             offpayd from before POST /v1/terminal/check) */
    size_t lost;          /* entries the ledger no longer held (it was
                             taken back to an older copy), found by this
                             sync or an earlier one cut off: uploaded again,
                             and counted in sent, decided and the sums
                             above once offpayd decided them */
    size_t  accepted_during; /* entries accepted while the sync ran, after
                                its first look at the journal (the terminal
                                is not held while offpayd is asked): for
                                the next sync */
    size_t  mismatched;      /* entries offpayd holds another charge for: this
                                terminal's key uploaded them before with another
                                charge, which was paid (outcome and paid are that
                                upload's), and a case was opened; counted in
                                decided and paid, neither settled nor unpaid
                                (docs/settlement.md §4) */
} offpay_upload_report;

/*
 * offpay_terminal_upload — what a terminal does online: send every journal
 * entry not yet uploaded to offpayd at base_url ("http://127.0.0.1:8080")
 * in signed batches of at most batch entries (0: 500), mark each entry
 * uploaded once offpayd returned its result (results are durable on the
 * server before the reply, and an entry sent twice moves money once), then
 * take offpayd's trust bundle and revocation list as offpay_terminal_sync
 * does (their signatures checked against the pinned root key). It first
 * reads offpayd's clock (GET /v1/health), records the offset durably
 * (offpay_terminal_status.clock_offset; rep->clock_offset) and signs its
 * requests at its own time corrected by it, so that a terminal whose
 * clock drifted is still heard; the offset is trusted for nothing else.
 * An entry offpayd does not decide yet (dated after offpayd's clock) stays
 * for the next call and counts in rep->left. t must be
 * opened with its passphrase (requests are signed with its key). A network
 * error or a 5xx answer is retried after 1, 2, 4 s (three tries); what was
 * not decided stays for the next call, so the call may be cut off at any
 * moment (an entry is marked only after its result arrived).
 * While it waits on offpayd it lets the terminal's lock go, so other
 * processes accept meanwhile (t is taken again and reloaded before each
 * write: t must not be used by this thread meanwhile anyway). It takes
 * only what its first look at the journal found, so a busy till cannot
 * keep it going: what is accepted after that look counts in
 * rep->accepted_during, for the next call, and toward the offline limits.
 * A second call on the same terminal while one runs (another process)
 * fails at once with OFFPAY_EBUSY.
 * Before its new entries it checks that offpayd's ledger still holds what
 * it paid this terminal: it asks about its 20 newest paid entries (batch,
 * if fewer; POST /v1/terminal/check, which changes nothing). If the
 * ledger lacks one —
 * it was taken back to an older copy (docs/operations.md §5) — it asks
 * about the older ones too, a batch at a time, until a batch is held
 * whole, uploads what the ledger lacks again and keeps what offpayd
 * decides for each (rep->lost); what it found is listed durably first, so
 * a call cut off goes on with it at the next. rep may be NULL.
 * Errors: OFFPAY_EINVAL, OFFPAY_EPASSPHRASE (t was opened without its
 * passphrase: refused before anything is sent), OFFPAY_EREFUSED
 * (offpayd refused the upload with a 4xx: its error is in the log and in
 * offpay_server_detail()), OFFPAY_ETERMINAL_UNKNOWN (offpayd refused
 * it UNKNOWN_TERMINAL, and said so again in a signed answer to a small
 * report sent to confirm it: the key is not registered, or no longer is
 * — a ledger restored from a copy older than the terminal's registration,
 * docs/operations.md §5; nothing in the journal changed),
 * OFFPAY_EIO (offpayd unreachable or failing: see the report's left),
 * the sync's errors, the journal's.
 */
offpay_err offpay_terminal_upload(offpay_terminal *t, const char *base_url,
                                  size_t batch, uint32_t now,
                                  offpay_upload_report *rep);

/* The longest offpayd URL a terminal remembers. */
#define OFFPAY_TERMINAL_SERVER_MAX 1024

/*
 * offpay_terminal_set_server — remember url (1..OFFPAY_TERMINAL_SERVER_MAX
 * bytes) as the offpayd this terminal syncs with (`offpay terminal sync`
 * with no --server uses it); offpay_terminal_server — the one remembered,
 * in buf (capacity cap, NUL-terminated). Errors: OFFPAY_EINVAL,
 * OFFPAY_ENOTFOUND (none yet), OFFPAY_ERANGE (cap too small), the
 * journal's; set also t's frozen reason (an export). Since 0.12.0.
 */
offpay_err offpay_terminal_set_server(offpay_terminal *t, const char *url);
offpay_err offpay_terminal_server(const offpay_terminal *t, char *buf,
                                  size_t cap);

/* Enables (1) or disables (0) the cache of already-verified wallet
 * credentials (enabled by default): with it, a code from a credential seen
 * before costs one signature verification instead of two. */
void offpay_terminal_set_cred_cache(offpay_terminal *t, int enabled);

/* ---- status and export (src/terminal/ops.c) ------------------------ */

/* A limit counts as near once this share of it is used. */
#define OFFPAY_STATUS_WARN_PERCENT 80

/* Bits of offpay_terminal_status.warnings: which limit is at
 * OFFPAY_STATUS_WARN_PERCENT % or more of its value. */
#define OFFPAY_STATUS_WARN_PAYMENTS   0x1u /* payments since the last sync */
#define OFFPAY_STATUS_WARN_HOURS      0x2u /* time since the last sync */
#define OFFPAY_STATUS_WARN_REVLIST    0x4u /* revocation list age */
/* own credential's window used, or its end within
 * OFFPAY_STATUS_WARN_CRED_DAYS */
#define OFFPAY_STATUS_WARN_CREDENTIAL 0x8u
/* Days before its own credential's end a terminal warns, however short
 * its window (since 0.13.0). */
#define OFFPAY_STATUS_WARN_CRED_DAYS 14u
/* The oldest payment offpayd has not decided: its wait (since 0.12.0). */
#define OFFPAY_STATUS_WARN_UPLOAD 0x20u
/* Less than OFFPAY_STATUS_DISK_LOW bytes free where the journal is: each
 * payment, and each result a sync keeps, takes some; a full disk refuses
 * payments (OFFPAY_ENOSPC). Since 0.12.0. */
#define OFFPAY_STATUS_WARN_DISK 0x40u
#define OFFPAY_STATUS_DISK_LOW  (16u * 1024u * 1024u)
/* own credential signed by an issuer key its trust bundle no longer holds
 * (retired): wallets refuse its payment requests (EUNKNOWN_KID); since
 * 0.8.0 */
#define OFFPAY_STATUS_WARN_CRED_KEY 0x10u
/* The revoked serials held: no list takes one back (docs/protocol.md
 * §5.7; only a long expiry lets one go, below), and a list that would take
 * the terminal past OFFPAY_TERMINAL_REVOKED_MAX is refused
 * (OFFPAY_ETOOBIG). Since 0.20.0. */
#define OFFPAY_STATUS_WARN_REVOKED  0x80u
#define OFFPAY_TERMINAL_REVOKED_MAX 1000000u
/* A revoked serial is let go once its credential's signed expiry, which
 * offpayd's signed answer gave (offpay_terminal_upload asks it), is more
 * than OFFPAY_TERMINAL_EXPIRED_KEEP (15 days) before the held list's
 * issued_at; the terminal then refuses every credential that expired
 * before that cut (OFFPAY_EEXPIRED), and offpayd's lists no longer name
 * it. Since 0.21.0; before, a terminal kept every serial it took
 * (docs/protocol.md §5.7). */
#define OFFPAY_TERMINAL_EXPIRED_KEEP (15u * 86400u)

/* What a merchant needs to see coming: the terminal's state at one time.
 * Times are Unix seconds; a percentage is floor(100 * used / limit),
 * capped at 9999, and 0 for a limit that is off (0). */
typedef struct offpay_terminal_status {
    uint32_t   now;   /* the time it was judged at */
    offpay_err state; /* what a payment would meet now before any code is
                         read: OFFPAY_OK (accepting), OFFPAY_EROFS (an
                         exported copy), OFFPAY_ENO_TERMINAL_CRED,
                         OFFPAY_ECLOCK_BEHIND, OFFPAY_ETERMINAL_EXPIRED,
                         OFFPAY_ESYNC_REQUIRED, OFFPAY_EREVLIST_STALE, or
                         the cause of a file that could not be upgraded */
    unsigned             warnings; /* OFFPAY_STATUS_WARN_* */
    int                  has_cred;
    offpay_terminal_cred cred; /* valid when has_cred */
    uint16_t             currency;
    uint32_t             credential_pct; /* of valid_from..expires gone */
    uint32_t             last_sync;      /* 0: never */
    uint32_t             payments_since_sync;
    uint32_t             max_offline_payments; /* 0: no limit */
    uint32_t             payments_pct;
    uint64_t             seconds_since_sync; /* 0 if the clock is before,
                                                or never synced */
    uint32_t             max_offline_hours;  /* 0: no limit */
    uint32_t             hours_pct;
    uint32_t             revlist_seq;       /* 0: no list yet */
    uint32_t             revlist_issued_at; /* when the issuer signed it */
    uint64_t             revlist_age;       /* seconds; 0 if dated ahead or
                                               no list yet */
    uint32_t             max_revlist_age;   /* seconds; 0: no limit */
    uint32_t             revlist_pct;
    uint32_t             open_requests;   /* unpaid and not yet expired */
    uint64_t             journal_entries; /* accepted payments held */
    uint64_t             journal_bytes;   /* terminal.db and its -wal */
    uint32_t             high_water;      /* the clock may not be behind it
                                             by more than skew */
    uint32_t skew;
    uint32_t copied_at;     /* an exported copy: when it was
                               taken; 0 for a working terminal */
    uint32_t clock_seen_at; /* the terminal's time at its last online sync
                               (offpay_terminal_upload); 0: never */
    int64_t clock_offset;   /* offpayd's clock minus this terminal's then,
                               seconds (negative: offpayd behind) */
    uint64_t not_uploaded;  /* journal entries offpayd has not decided yet
                               (never uploaded, or left undecided) */
    uint32_t oldest_waiting;  /* the oldest of them: its acceptance time;
                                 0: none (since 0.12.0) */
    uint64_t waiting_age;     /* seconds since, 0 if none or dated ahead */
    uint32_t max_upload_days; /* 0: no limit */
    uint32_t upload_pct;
    uint64_t disk_free; /* bytes free to this process on the journal's
                           file system; UINT64_MAX if unknown (0.12.0) */
    uint32_t revoked_held; /* revoked serials held (since 0.20.0) */
    uint32_t revoked_pct;  /* of OFFPAY_TERMINAL_REVOKED_MAX */
} offpay_terminal_status;

/*
 * offpay_terminal_get_status — fills s as of now: the credential and its
 * expiry, payments and time since the last sync against their limits,
 * the revocation list's age, open requests, the journal's size, the
 * clock's high-water time, the state a payment would meet, and which
 * limits are at OFFPAY_STATUS_WARN_PERCENT % or more (none for an
 * exported copy, which never accepts). Changes nothing.
 * Errors: OFFPAY_EINVAL, OFFPAY_EJOURNAL (the journal cannot be counted).
 */
offpay_err offpay_terminal_get_status(const offpay_terminal *t, uint32_t now,
                                      offpay_terminal_status *s);

/*
 * offpay_terminal_export — writes a consistent copy of terminal.db to path
 * (SQLite's online backup, in one read transaction: every payment the
 * journal held at that moment), for the merchant's records: it opens as a
 * terminal directory's terminal.db (offpay_terminal_open, the journal, the
 * status) but is marked as a copy taken at now, so a handle on it accepts
 * nothing, makes no requests, takes no sync and changes no setting
 * (OFFPAY_EROFS): a journal restored from a copy would have forgotten the
 * payments accepted after it, and accept their codes again. The key
 * (terminal.key) is not in it. The copy is a single file (no -wal), mode
 * 0600, written under a temporary name, fsynced and renamed into place,
 * never over an existing file.
 * Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS (path exists), OFFPAY_ENOENT,
 * OFFPAY_ENOTDIR, OFFPAY_EACCES, OFFPAY_EROFS, OFFPAY_ENOSPC (creating or
 * writing at path), OFFPAY_EJOURNAL (the backup failed), OFFPAY_EIO.
 */
offpay_err offpay_terminal_export(offpay_terminal *t, const char *path,
                                  uint32_t now);

/* ---- the lifecycle through offpayd (src/terminal/lifecycle.c) ------- */

/*
 * offpay_terminal_rotate — a new key for terminal old: next is a new
 * terminal (offpay_terminal_create: its own fresh key, no credential yet),
 * both opened with their passphrases. First old's final upload
 * (offpay_terminal_upload; rep, may be NULL, says what it did): while
 * offpayd has not decided every payment old accepted, nothing else
 * happens (OFFPAY_ESYNC_REQUIRED, run it again later). Then POST
 * /v1/terminal/rotate signed by old's key, carrying next's signature of
 * the rotation (OFFPAY_DS_TERMINAL_ROTATE over old's key, old's terminal
 * id and next's key: offpayd registers only a key the caller holds,
 * since 0.13.0) and saying that next goes on from old's sums
 * ("sums_carried", which offpayd requires since 0.16.0; an older offpayd
 * refuses the field: OFFPAY_EREFUSED): offpayd registers next's key
 * for the same merchant, signs its credential and revokes old from now
 * on, in one transaction. next takes old's per-credential sums (what
 * each credential was charged at old and at the terminals old was
 * rotated from: next's cumulative limit goes on from them, as offpayd's
 * guarantee sums them over the rotation, docs/settlement.md §5; kept in
 * next's terminal.db, replaced by each call), stores the credential,
 * takes old's risk rules and syncs (bundle, revocation list). *new_id (may be
 * NULL) is the new terminal id. Safe to call again with the same old and next
 * when a call failed after offpayd had rotated (its reply lost, next's sync cut
 * off): old's final upload still works (payments it accepted after its
 * revocation are refused, and so decided), and offpayd answers the same
 * rotation again with the same credential (docs/api.md, "Terminal
 * lifecycle"); said in the log. A next that already holds its credential
 * (an earlier call got that far) keeps its own risk rules. A next with
 * another key is refused
 * (OFFPAY_EREFUSED, TERMINAL_REVOKED). A next whose bundle lacks the issuer
 * key that signed its new credential (made from a bundle older than a key
 * added since) takes offpayd's bundle first, checked against its root as
 * offpay_terminal_sync does (since 0.26.0; before, OFFPAY_EUNKNOWN_KID with
 * old revoked already). Errors: OFFPAY_EINVAL,
 * OFFPAY_EPASSPHRASE (next opened without its key), OFFPAY_ESYNC_REQUIRED,
 * OFFPAY_EREFUSED (offpayd refused: its error in the log), OFFPAY_EIO
 * (unreachable), those of offpay_terminal_upload, offpay_terminal_sync (of
 * offpayd's bundle) and offpay_terminal_set_credential.
 */
offpay_err offpay_terminal_rotate(offpay_terminal *old, offpay_terminal *next,
                                  const char *base_url, uint32_t now,
                                  offpay_upload_report *rep,
                                  uint32_t             *new_id);

/*
 * offpay_terminal_decommission — the terminal's final upload (as
 * offpay_terminal_rotate), then POST /v1/terminal/decommission signed by
 * its key: offpayd revokes it from now on. Safe to call again: a
 * terminal offpayd decommissioned already is told so (in the log) and the
 * call succeeds. Errors: as offpay_terminal_rotate.
 */
offpay_err offpay_terminal_decommission(offpay_terminal *t,
                                        const char *base_url, uint32_t now,
                                        offpay_upload_report *rep);

#ifdef __cplusplus
}
#endif
#endif
