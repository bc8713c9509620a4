/*
 * online.c — the wallet's and the terminal's online life in the ledger
 * (settle.h, "the wallet's online life"; docs/settlement.md §12):
 * one-time enrollment codes, enrollment of a wallet key with its own
 * account, allowances the wallet asks for itself, what a wallet's sync
 * reads (its account and credentials with the highest counter seen), the
 * counter range a restored copy of it unfreezes a credential at, the
 * revocation of a lost wallet, and a terminal's key rotation.
 *
 * Each public function is one transaction (offpay__ledger_tx). Issuing an
 * allowance and registering a rotated terminal sign inside the
 * transaction, as ledger.c does, so a credential exists signed and funded,
 * or not at all.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/core.h"
#include "offpay/wallet.h" /* OFFPAY_WALLET_RESTORE_GAP */
#include "settle/render.h"
#include "settle/settle_int.h"

#define REF_MAX 128

/* The ledger keeps an enrollment code as this hash of its text. */
static void code_hash(const char *code, uint8_t hash[32])
{
    crypto_generichash(hash, 32, (const uint8_t *)code, strlen(code),
                       (const uint8_t *)"offpay/v1/enroll", 16);
}

int offpay_ledger_enroll_code_ok(const char *code)
{
    size_t i;

    if (code == NULL)
        return 0;
    for (i = 0; code[i] != '\0'; i++)
        if (i >= OFFPAY_ENROLL_CODE_CHARS ||
            !((code[i] >= '0' && code[i] <= '9') ||
              (code[i] >= 'a' && code[i] <= 'f')))
            return 0;
    return i == OFFPAY_ENROLL_CODE_CHARS;
}

/* ---- enrollment codes ----------------------------------------------- */

struct code_ctx {
    uint8_t     hash[32];
    uint16_t    currency;
    const char *ref;
    uint32_t    expires, now;
    uint64_t    account; /* a lost wallet's, or 0: a new one */
};

/* A lost wallet's account: a wallet account with an enrolled key, none
 * of them live. Its currency into *currency. */
static offpay_err lost_account(offpay_ledger *l, uint64_t account,
                               uint16_t *currency)
{
    offpay_account_kind kind;
    uint32_t            revoked_at = 0;
    offpay_err          rc;

    rc = l->ops->account_get(l->store, account, &kind, currency);
    if (rc == OFFPAY_OK && kind != OFFPAY_ACCOUNT_WALLET)
        rc = OFFPAY_ENOTFOUND;
    if (rc == OFFPAY_OK) /* the live key first, else the latest */
        rc = l->ops->wallet_key_get(l->store, NULL, account, NULL, NULL, NULL,
                                    &revoked_at);
    if (rc == OFFPAY_OK && revoked_at == 0)
        rc = OFFPAY_EEXISTS;
    return rc;
}

static offpay_err code_tx(offpay_ledger *l, void *p)
{
    struct code_ctx *c = p;
    offpay_err       rc = OFFPAY_OK;

    if (c->account != 0)
        rc = lost_account(l, c->account, &c->currency);
    if (rc == OFFPAY_OK)
        rc = l->ops->enroll_add(l->store, c->hash, c->currency, c->ref, c->now,
                                c->expires, c->account,
                                l->actor[0] != '\0' ? l->actor : NULL);
    /* the code itself is never kept, only that one was made */
    if (rc == OFFPAY_OK) {
        char detail[32];

        snprintf(detail, sizeof detail, "new account, %s",
                 offpay_currency_alpha(c->currency));
        rc = offpay__ledger_journal(l, c->now, "enroll-code", c->account,
                                    c->account != 0 ? NULL : detail);
    }
    return rc;
}

/* A new random code into code, booked as c says (its hash only); wiped
 * on failure. */
static offpay_err new_code(offpay_ledger *l, struct code_ctx *c,
                           char code[OFFPAY_ENROLL_CODE_CHARS + 1])
{
    uint8_t    raw[OFFPAY_ENROLL_CODE_CHARS / 2];
    offpay_err rc;

    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(code, OFFPAY_ENROLL_CODE_CHARS + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    code_hash(code, c->hash);
    rc = offpay__ledger_tx(l, code_tx, c);
    if (rc != OFFPAY_OK)
        sodium_memzero(code, OFFPAY_ENROLL_CODE_CHARS + 1);
    return rc;
}

offpay_err offpay_ledger_enrollment_add(offpay_ledger *l, uint16_t currency,
                                        const char *ref, uint32_t expires,
                                        uint32_t now,
                                        char code[OFFPAY_ENROLL_CODE_CHARS + 1])
{
    struct code_ctx c;

    if (code != NULL)
        code[0] = '\0';
    if (l == NULL || code == NULL || expires <= now ||
        (ref != NULL && strlen(ref) > REF_MAX))
        return OFFPAY_EINVAL;
    if (offpay_currency_alpha(currency) == NULL)
        return OFFPAY_ECURRENCY_UNKNOWN;
    memset(&c, 0, sizeof c);
    c.currency = currency;
    c.ref = ref;
    c.expires = expires;
    c.now = now;
    return new_code(l, &c, code);
}

offpay_err offpay_ledger_enrollment_for(offpay_ledger *l, uint64_t account,
                                        uint32_t expires, uint32_t now,
                                        char code[OFFPAY_ENROLL_CODE_CHARS + 1],
                                        uint16_t *currency)
{
    struct code_ctx c;
    offpay_err      rc;

    if (code != NULL)
        code[0] = '\0';
    if (l == NULL || code == NULL || account == 0 || expires <= now)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.ref = "a lost wallet's account";
    c.expires = expires;
    c.now = now;
    c.account = account;
    rc = new_code(l, &c, code);
    if (rc == OFFPAY_OK && currency != NULL)
        *currency = c.currency;
    return rc;
}

struct void_by_ctx {
    const char *who;
    uint32_t    now;
    uint64_t    n;
};

static offpay_err void_by_tx(offpay_ledger *l, void *p)
{
    struct void_by_ctx *c = p;
    char                detail[OFFPAY_ACTION_DETAIL_MAX + 1];
    offpay_err          rc;

    /* (the store finds those made through offpay admin too) */
    rc = l->ops->enroll_void_by(l->store, c->who, c->now, &c->n);
    if (rc != OFFPAY_OK || c->n == 0)
        return rc;
    snprintf(detail, sizeof detail, "%llu code%s of %s",
             (unsigned long long)c->n, c->n == 1 ? "" : "s", c->who);
    return offpay__ledger_journal(l, c->now, "void-codes", 0, detail);
}

offpay_err offpay_ledger_enrollments_void_by(offpay_ledger *l, const char *who,
                                             uint32_t now, uint64_t *voided)
{
    offpay_err rc = OFFPAY_OK;
    uint64_t   n = 0;

    if (voided != NULL)
        *voided = 0;
    if (l == NULL || who == NULL || !offpay__case_author_ok(who))
        return OFFPAY_EINVAL;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        struct void_by_ctx c = {who, now, 0};

        rc = offpay__ledger_tx_on(l, k, void_by_tx, &c);
        n += c.n;
    }
    if (voided != NULL)
        *voided = n;
    return rc;
}

/* ---- enrollment ----------------------------------------------------- */

struct enroll_ctx {
    const uint8_t *pk;
    uint8_t        hash[32];
    uint32_t       now;
    uint64_t       account;
    uint16_t       currency;
    int            dry; /* 1: the checks only, nothing written */
};

static offpay_err enroll_tx(offpay_ledger *l, void *p)
{
    struct enroll_ctx *c = p;
    char               ref[OFFPAY_LEDGER_REF_MAX + 1];
    uint32_t           expires = 0, used_at = 0, enrolled_at = 0;
    uint64_t           made = 0, mine = 0;
    offpay_err         rc;

    rc = l->ops->enroll_get(l->store, c->hash, &c->currency, &expires, &used_at,
                            &made, ref);
    if (rc != OFFPAY_OK)
        return rc;
    if (used_at != 0) {
        /* this key enrolled with this code before and the answer was
         * lost: the same account again, nothing written. (The key was
         * enrolled when the code was used, in one transaction: an account
         * may have had other keys, a lost one and its successor, and
         * neither may answer for the other's code.) */
        rc = l->ops->wallet_key_get(l->store, c->pk, 0, NULL, &mine,
                                    &enrolled_at, NULL);
        if (rc == OFFPAY_OK && made != 0 && mine == made &&
            enrolled_at == used_at) {
            c->account = made;
            return OFFPAY_OK;
        }
        return rc == OFFPAY_OK || rc == OFFPAY_ENOTFOUND ? OFFPAY_EREPLAY : rc;
    }
    if (expires <= c->now)
        return OFFPAY_EEXPIRED;
    rc = l->ops->wallet_key_get(l->store, c->pk, 0, NULL, NULL, NULL, NULL);
    if (rc == OFFPAY_OK)
        return OFFPAY_EEXISTS;
    if (rc != OFFPAY_ENOTFOUND)
        return rc;
    if (made != 0) {
        /* a code for a lost wallet's account: the new key takes it, if no
         * other code gave it a wallet meanwhile */
        rc = lost_account(l, made, &c->currency);
        if (rc == OFFPAY_OK)
            c->account = made;
        if (rc != OFFPAY_OK || c->dry)
            return rc;
        rc = l->ops->enroll_use(l->store, c->hash, made, c->now);
        if (rc == OFFPAY_EEXISTS) /* used meanwhile: the rerun says by whom */
            return OFFPAY_ERETRY;
        if (rc == OFFPAY_OK) /* EEXISTS: another code's wallet took it */
            rc = l->ops->wallet_key_add(l->store, c->pk, made, c->now);
        /* the account's other codes are void: each was for one new
         * wallet, and one holds the account now */
        if (rc == OFFPAY_OK)
            rc = l->ops->enroll_void(l->store, made, c->now);
        return rc;
    }
    if (c->dry)
        return OFFPAY_OK;
    /* the account is opened with the operator's reference of the code (a
     * customer number: offpay_ledger_wallet_accounts finds it by it) */
    rc = l->ops->account_add(l->store, OFFPAY_ACCOUNT_WALLET, c->currency,
                             ref[0] != '\0' ? ref : "enrolled wallet", c->now,
                             &c->account);
    if (rc == OFFPAY_OK)
        rc = l->ops->enroll_use(l->store, c->hash, c->account, c->now);
    /* used by an enrollment that committed meanwhile: rerun, and the
     * rerun tells this key's own resend (its account again) from another
     * key (EREPLAY) */
    if (rc == OFFPAY_EEXISTS)
        return OFFPAY_ERETRY;
    if (rc == OFFPAY_OK)
        rc = l->ops->wallet_key_add(l->store, c->pk, c->account, c->now);
    return rc;
}

/* enroll_tx, or (dry) its checks in a read. */
static offpay_err enroll_run(offpay_ledger *l, const uint8_t *pk,
                             const char *code, uint32_t now, int dry,
                             uint64_t *account, uint16_t *currency)
{
    struct enroll_ctx c;
    offpay_err        rc;

    if (l == NULL || pk == NULL || code == NULL)
        return OFFPAY_EINVAL;
    if (!offpay_pk_usable(pk))
        return OFFPAY_EWEAK_KEY;
    if (!offpay_ledger_enroll_code_ok(code))
        return OFFPAY_ENOTFOUND;
    memset(&c, 0, sizeof c);
    c.pk = pk;
    c.now = now;
    c.dry = dry;
    code_hash(code, c.hash);
    rc = dry ? offpay__ledger_read(l, enroll_tx, &c)
             : offpay__ledger_tx(l, enroll_tx, &c);
    if (rc == OFFPAY_OK) {
        if (account != NULL)
            *account = c.account;
        if (currency != NULL)
            *currency = c.currency;
    }
    return rc;
}

offpay_err offpay_ledger_enroll(offpay_ledger *l,
                                const uint8_t  pk[OFFPAY_PK_BYTES],
                                const char *code, uint32_t now,
                                uint64_t *account, uint16_t *currency)
{
    return enroll_run(l, pk, code, now, 0, account, currency);
}

offpay_err offpay_ledger_enroll_check(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      const char *code, uint32_t now)
{
    return enroll_run(l, pk, code, now, 1, NULL, NULL);
}

/* ---- an enrolled wallet --------------------------------------------- */

struct wallet_ctx {
    const uint8_t            *pk;
    uint64_t                  account;
    offpay_ledger_wallet_info info;
};

static offpay_err wallet_tx(offpay_ledger *l, void *p)
{
    struct wallet_ctx         *c = p;
    offpay_ledger_wallet_info *w = &c->info;
    offpay_account_kind        kind;
    offpay_err                 rc;

    memset(w, 0, sizeof *w);
    rc = l->ops->wallet_key_get(l->store, c->pk, c->account, w->pk, &w->account,
                                &w->enrolled_at, &w->revoked_at);
    if (rc == OFFPAY_OK)
        rc = l->ops->account_get(l->store, w->account, &kind, &w->currency);
    if (rc == OFFPAY_OK)
        rc = l->ops->balance(l->store, w->account, &w->balance);
    w->revoked = w->revoked_at != 0;
    return rc;
}

offpay_err offpay_ledger_wallet_get(offpay_ledger *l, const uint8_t *pk,
                                    uint64_t                   account,
                                    offpay_ledger_wallet_info *out)
{
    struct wallet_ctx c;
    offpay_err        rc;

    if (l == NULL || out == NULL || (pk == NULL && account == 0))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.pk = pk;
    c.account = account;
    rc = offpay__ledger_read(l, wallet_tx, &c);
    if (rc == OFFPAY_OK)
        *out = c.info;
    return rc;
}

/* ---- a copied wallet's key ------------------------------------------ */

/* A page of a key's revoked serials (key_revoked). */
#define KEY_PAGE 32
struct revoked_page {
    uint64_t after;
    uint64_t serial[KEY_PAGE];
    size_t   n;
};

/* settle_int.h */
offpay_err offpay__key_cases_in_tx(offpay_ledger *l, const uint8_t *pk,
                                   uint64_t *ids, size_t max, size_t *n)
{
    static const char *const kinds[] = {"double_spend", "overspend"};
    struct revoked_page      g;
    offpay_case_filter       f;
    offpay_case_info         one[8];
    size_t                   got;
    offpay_err               rc;

    *n = 0;
    memset(&g, 0, sizeof g);
    do {
        rc = l->ops->key_revoked(l->store, pk, g.after, g.serial, KEY_PAGE,
                                 &g.n);
        for (size_t i = 0; rc == OFFPAY_OK && i < g.n; i++) {
            for (size_t k = 0; rc == OFFPAY_OK && k < 2; k++) {
                memset(&f, 0, sizeof f);
                f.serial = g.serial[i];
                f.kind =
                    k == 0 ? OFFPAY_CASE_DOUBLE_SPEND : OFFPAY_CASE_OVERSPEND;
                got = 0;
                rc = l->ops->cases(l->store, &f, kinds[k], 8, one, &got);
                for (size_t j = 0; rc == OFFPAY_OK && j < got; j++) {
                    if (*n < max)
                        ids[*n] = one[j].id;
                    if (*n < max || *n == 0)
                        (*n)++;
                }
                if (*n > 0 && *n >= max)
                    return rc;
            }
        }
        if (g.n > 0)
            g.after = g.serial[g.n - 1];
    } while (rc == OFFPAY_OK && g.n == KEY_PAGE);
    return rc;
}

/* settle_int.h */
offpay_err offpay__key_cases_gate(offpay_ledger *l, const uint8_t *pk)
{
    size_t     n = 0;
    offpay_err rc = offpay__key_cases_in_tx(l, pk, NULL, 0, &n);

    return rc == OFFPAY_OK && n > 0 ? OFFPAY_EWALLET_CASE : rc;
}

struct key_cases_ctx {
    const uint8_t *pk;
    uint64_t      *ids;
    size_t         max, n;
};

static offpay_err key_cases_tx(offpay_ledger *l, void *p)
{
    struct key_cases_ctx *c = p;

    return offpay__key_cases_in_tx(l, c->pk, c->ids, c->max, &c->n);
}

/* settle_int.h */
offpay_err offpay__key_cases_elsewhere(offpay_ledger *l, const uint8_t *pk,
                                       size_t skip)
{
    struct key_cases_ctx c = {pk, NULL, 0, 0};
    offpay_err           rc = OFFPAY_OK;

    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        if (k == skip)
            continue;
        rc = offpay__ledger_read_on(l, k, key_cases_tx, &c);
        if (rc == OFFPAY_OK && c.n > 0)
            rc = OFFPAY_EWALLET_CASE;
    }
    return rc;
}

offpay_err offpay_ledger_wallet_cases(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      uint64_t *ids, size_t max, size_t *n)
{
    struct key_cases_ctx c;
    offpay_err           rc = OFFPAY_OK;

    if (l == NULL || pk == NULL || n == NULL || (ids == NULL && max > 0))
        return OFFPAY_EINVAL;
    *n = 0;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards && *n < max; k++) {
        c = (struct key_cases_ctx){pk, ids + *n, max - *n, 0};
        rc = offpay__ledger_read_on(l, k, key_cases_tx, &c);
        *n += c.n;
    }
    return rc;
}

/* ---- the allowance -------------------------------------------------- */

struct allowance_ctx {
    const uint8_t     *pk;
    const char        *key; /* the wallet's request id, or NULL */
    char               stored[OFFPAY__REQUEST_KEY_STORED_MAX]; /* as kept */
    int64_t            limit;
    uint8_t            flags;
    uint32_t           expires, now;
    uint8_t           *bytes;
    offpay_wallet_cred cred;
    int                replayed;
};

/* As ledger.c's issue_tx, from the account pk is enrolled with: the
 * wallet's check and the issue in one transaction, so a wallet revoked
 * meanwhile gets nothing. */
static offpay_err allowance_tx(offpay_ledger *l, void *p)
{
    struct allowance_ctx *c = p;
    uint64_t              account = 0;
    uint32_t              revoked_at = 0;
    offpay_err            rc;

    /* the key's row locked first, so that a revocation either comes
     * before (and is seen here) or waits for this credential (and lists
     * it): no credential escapes a lost wallet's revocation */
    rc = l->ops->wallet_key_lock(l->store, c->pk);
    if (rc == OFFPAY_OK)
        rc = l->ops->wallet_key_get(l->store, c->pk, 0, NULL, &account, NULL,
                                    &revoked_at);
    if (rc != OFFPAY_OK)
        return rc;
    if (revoked_at != 0)
        return OFFPAY_EREVOKED;
    if (c->key != NULL)
        offpay__request_key(c->stored, "wallet", account, c->key);
    rc = offpay__issue_once_in_tx(l, c->key != NULL ? c->stored : NULL, account,
                                  c->pk, c->limit, c->flags, c->expires, c->now,
                                  c->bytes, &c->cred, &c->replayed,
                                  offpay__key_cases_gate);
    /* an enrolled key's account is a wallet's */
    return rc == OFFPAY_EINVAL ? OFFPAY_ESTORE : rc;
}

/* Whether the allowance's request id is stored already (a resend): into
 * c->replayed. */
static offpay_err allowance_stored_tx(offpay_ledger *l, void *p)
{
    struct allowance_ctx *c = p;
    offpay__request       rq;
    uint64_t              account = 0;
    offpay_err            rc;

    if (c->key == NULL)
        return OFFPAY_OK;
    rc = l->ops->wallet_key_get(l->store, c->pk, 0, NULL, &account, NULL, NULL);
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK; /* the transaction says so */
    if (rc == OFFPAY_OK) {
        offpay__request_key(c->stored, "wallet", account, c->key);
        rc = l->ops->request_get(l->store, c->stored, &rq);
    }
    c->replayed = rc == OFFPAY_OK;
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_OK : rc;
}

offpay_err offpay_ledger_allowance(offpay_ledger *l,
                                   const uint8_t  pk[OFFPAY_PK_BYTES],
                                   int64_t limit, uint8_t flags,
                                   uint32_t expires, uint32_t now,
                                   uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                                   offpay_wallet_cred *cred)
{
    return offpay_ledger_allowance_once(l, pk, NULL, limit, flags, expires, now,
                                        bytes, cred, NULL);
}

offpay_err offpay_ledger_allowance_once(offpay_ledger *l,
                                        const uint8_t  pk[OFFPAY_PK_BYTES],
                                        const char *key, int64_t limit,
                                        uint8_t flags, uint32_t expires,
                                        uint32_t now,
                                        uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                                        offpay_wallet_cred *cred, int *replayed)
{
    struct allowance_ctx c;
    offpay_err           rc;

    if (l == NULL || pk == NULL || bytes == NULL || expires <= now ||
        (flags & ~OFFPAY_CRED_FLAGS_KNOWN) != 0 ||
        (key != NULL && !offpay_ledger_request_key_ok(key)))
        return OFFPAY_EINVAL;
    /* a credential carries its limit in a u32 (docs/protocol.md) */
    if (limit <= 0 || limit > OFFPAY_WIRE_AMOUNT_MAX)
        return OFFPAY_EAMOUNT;
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    memset(&c, 0, sizeof c);
    c.pk = pk;
    c.limit = limit;
    c.flags = flags;
    c.expires = expires;
    c.now = now;
    c.bytes = bytes;
    c.key = key;
    rc = OFFPAY_OK;
    /* a sharded ledger: the key's credentials made by the operator from
     * accounts on other shards, with their cases, are read there first
     * (shard 0's, where the allowances are, in the transaction below),
     * unless this is a resend, which replays */
    if (l->n_shards > 1) {
        rc = offpay__ledger_read(l, allowance_stored_tx, &c);
        if (rc == OFFPAY_OK && !c.replayed)
            rc = offpay__key_cases_elsewhere(l, pk, 0);
        c.replayed = 0;
    }
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, allowance_tx, &c);
    if (rc == OFFPAY_OK && cred != NULL)
        *cred = c.cred;
    if (rc == OFFPAY_OK && replayed != NULL)
        *replayed = c.replayed;
    return rc;
}

/* ---- a wallet's credentials ----------------------------------------- */

struct creds_ctx {
    const uint8_t             *pk;
    offpay_ledger_wallet_cred *v;
    size_t                     n, cap;
    size_t                     base; /* the shards' before this one */
    offpay_err                 rc;
};

static int creds_one(const offpay__cred_row *r, uint32_t max_counter,
                     const uint8_t *bytes, size_t len, void *p)
{
    struct creds_ctx          *c = p;
    offpay_ledger_wallet_cred *e;

    if (c->n == c->cap) {
        size_t                     cap = c->cap ? 2 * c->cap : 8;
        offpay_ledger_wallet_cred *nv = realloc(c->v, cap * sizeof *nv);

        if (nv == NULL) {
            c->rc = OFFPAY_ENOMEM;
            return 1;
        }
        c->v = nv;
        c->cap = cap;
    }
    e = &c->v[c->n++];
    memset(e, 0, sizeof *e);
    e->info.serial = r->serial;
    e->info.wallet_account = r->wallet_account;
    e->info.limit = r->limit;
    e->info.remaining = r->remaining;
    e->info.currency = r->currency;
    e->info.valid_from = r->valid_from;
    e->info.expires = r->expires;
    e->info.revoked = r->revoked;
    e->info.revoked_at = r->revoked_at;
    e->info.released = r->released;
    e->info.released_at = r->released_at;
    e->info.escrow_account = r->escrow_account;
    e->info.released_amount = r->released_amount;
    e->max_counter = max_counter;
    if (bytes != NULL && len <= sizeof e->bytes) {
        memcpy(e->bytes, bytes, len);
        e->len = len;
    }
    return 0;
}

static offpay_err creds_tx(offpay_ledger *l, void *p)
{
    struct creds_ctx *c = p;
    offpay_err        rc;

    c->n = c->base; /* a rerun reads this shard again */
    c->rc = OFFPAY_OK;
    rc = l->ops->wallet_creds(l->store, c->pk, creds_one, c);
    return rc != OFFPAY_OK ? rc : c->rc;
}

offpay_err offpay_ledger_wallet_creds(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      offpay_ledger_wallet_cred **out,
                                      size_t                     *n)
{
    struct creds_ctx c;
    offpay_err       rc = OFFPAY_OK;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || pk == NULL || out == NULL || n == NULL)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.pk = pk;
    /* every shard's: the operator issues a key credentials from accounts
     * on any shard, each on its account's shard */
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        c.base = c.n;
        rc = offpay__ledger_read_on(l, k, creds_tx, &c);
    }
    /* (what a release returned is read with each credential, from its
     * escrow's transfers on its own shard: a read of each credential
     * released, one transaction each, made a wallet's sync slower with
     * every credential it was ever given) */
    for (size_t i = 0; rc == OFFPAY_OK && i < c.n; i++)
        offpay__ledger_cred_dues(l, &c.v[i].info);
    if (rc != OFFPAY_OK || c.n == 0) {
        free(c.v);
        return rc;
    }
    *out = c.v;
    *n = c.n;
    return OFFPAY_OK;
}

/* ---- a page of them -------------------------------------------------- */

/* A credential is open at now when it is not released, or released no
 * longer than the late window ago: a code presented late is paid from it
 * until then (settle.c), which changes what the wallet holds of it;
 * after, nothing does. The release time from which on one is open (a
 * clock within the window of 1970 reads every release as open). */
static uint32_t open_since(const offpay_ledger *l, uint32_t now)
{
    return now > l->cfg.late_window ? now - l->cfg.late_window : 1;
}

struct page_ctx {
    struct creds_ctx   c; /* the rows (creds_one) */
    offpay__creds_page q;
    const uint8_t     *pk;
    uint32_t           open_since;  /* counted as open at now */
    uint64_t           open, total; /* every shard's so far */
    uint64_t           open_here, total_here;
    int                count, total_too;
};

/* One shard's count and page, in one read transaction (a rerun reads
 * the shard again). */
static offpay_err page_tx(offpay_ledger *l, void *p)
{
    struct page_ctx *c = p;
    offpay_err       rc = OFFPAY_OK;

    c->c.n = c->c.base;
    c->c.rc = OFFPAY_OK;
    c->open_here = c->total_here = 0;
    if (c->count)
        rc = l->ops->wallet_creds_count(l->store, c->pk, c->open_since,
                                        &c->open_here,
                                        c->total_too ? &c->total_here : NULL);
    if (rc == OFFPAY_OK)
        rc =
            l->ops->wallet_creds_page(l->store, c->pk, &c->q, creds_one, &c->c);
    return rc != OFFPAY_OK ? rc : c->c.rc;
}

static int serial_up(const void *a, const void *b)
{
    uint64_t x = ((const offpay_ledger_wallet_cred *)a)->info.serial;
    uint64_t y = ((const offpay_ledger_wallet_cred *)b)->info.serial;

    return x < y ? -1 : x > y;
}

static int serial_down(const void *a, const void *b)
{
    return serial_up(b, a);
}

offpay_err offpay_ledger_wallet_creds_page(
    offpay_ledger *l, const uint8_t pk[OFFPAY_PK_BYTES], unsigned flags,
    uint64_t after, size_t max, uint32_t now, offpay_ledger_wallet_cred **out,
    size_t *n, offpay_ledger_creds_count *count)
{
    struct page_ctx c;
    offpay_err      rc = OFFPAY_OK;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (count != NULL)
        memset(count, 0, sizeof *count);
    if (l == NULL || pk == NULL || out == NULL || n == NULL || max == 0 ||
        max > OFFPAY_LEDGER_CREDS_PAGE_MAX ||
        (flags &
         ~(unsigned)(OFFPAY_LEDGER_CREDS_OPEN | OFFPAY_LEDGER_CREDS_NEWEST |
                     OFFPAY_LEDGER_CREDS_TOTAL)) != 0 ||
        after > INT64_MAX)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.pk = pk;
    c.c.pk = pk;
    c.count = count != NULL;
    c.total_too = (flags & OFFPAY_LEDGER_CREDS_TOTAL) != 0;
    c.q.max = max;
    c.q.newest = (flags & OFFPAY_LEDGER_CREDS_NEWEST) != 0;
    /* after: the last serial of the page before, in the page's order */
    c.q.lo = c.q.newest ? 0 : after;
    c.q.hi = c.q.newest && after != 0 ? after : INT64_MAX;
    c.open_since = open_since(l, now);
    if (flags & OFFPAY_LEDGER_CREDS_OPEN)
        c.q.open_since = c.open_since;
    /* every shard's first max in the page's order, then the first max of
     * them all */
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        c.c.base = c.c.n;
        rc = offpay__ledger_read_on(l, k, page_tx, &c);
        c.open += c.open_here;
        c.total += c.total_here;
    }
    if (rc == OFFPAY_OK && c.c.n > 1)
        qsort(c.c.v, c.c.n, sizeof *c.c.v,
              c.q.newest ? serial_down : serial_up);
    if (c.c.n > max)
        c.c.n = max;
    for (size_t i = 0; rc == OFFPAY_OK && i < c.c.n; i++)
        offpay__ledger_cred_dues(l, &c.c.v[i].info);
    if (rc == OFFPAY_OK && count != NULL) {
        count->open = c.open;
        count->total = c.total;
    }
    if (rc != OFFPAY_OK || c.c.n == 0) {
        free(c.c.v);
        return rc;
    }
    *out = c.c.v;
    *n = c.c.n;
    return OFFPAY_OK;
}

/* ---- a restored copy's counters ------------------------------------- */

struct floor_ctx {
    const uint8_t *pk;
    uint64_t       serial;
    uint64_t       floor;
};

static offpay_err floor_tx(offpay_ledger *l, void *p)
{
    struct floor_ctx *c = p;
    offpay__cred_row  row;
    offpay_err        rc;

    rc = l->ops->creds_lock(l->store, &c->serial, 1);
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_get(l->store, c->serial, &row);
    if (rc != OFFPAY_OK)
        return rc;
    /* another key's credential is no business of this wallet's: not
     * told apart from one that does not exist */
    if (sodium_memcmp(row.wallet_pk, c->pk, OFFPAY_PK_BYTES) != 0)
        return OFFPAY_ENOTFOUND;
    return l->ops->cred_restore_floor(l->store, c->serial,
                                      OFFPAY_WALLET_RESTORE_GAP, &c->floor);
}

offpay_err offpay_ledger_wallet_restore_floor(offpay_ledger *l,
                                              const uint8_t pk[OFFPAY_PK_BYTES],
                                              uint64_t serial, uint32_t *floor)
{
    struct floor_ctx c;
    offpay_err       rc;

    if (floor != NULL)
        *floor = 0;
    if (l == NULL || pk == NULL || serial == 0 || floor == NULL)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.pk = pk;
    c.serial = serial;
    /* on the credential's own shard (shard 0, which answers ENOTFOUND,
     * for a serial in no shard's range) */
    rc = offpay__ledger_tx_on(l, offpay__ledger_home(l, serial), floor_tx, &c);
    if (rc != OFFPAY_OK)
        return rc;
    /* past the last counter: the credential makes no code any more */
    *floor = c.floor > UINT32_MAX ? UINT32_MAX : (uint32_t)c.floor;
    return OFFPAY_OK;
}

/* ---- a lost wallet -------------------------------------------------- */

typedef int (*cred_fn)(const offpay__cred_row *r, uint32_t max_counter,
                       const uint8_t *bytes, size_t len, void *ctx);

struct open_ctx {
    cred_fn  fn;
    void    *ctx;
    size_t   n;    /* rows of this page */
    uint64_t last; /* the page's last serial */
    int      stop; /* fn stopped */
};

static int open_one(const offpay__cred_row *r, uint32_t max_counter,
                    const uint8_t *bytes, size_t len, void *p)
{
    struct open_ctx *o = p;

    o->n++;
    o->last = r->serial;
    o->stop = o->fn(r, max_counter, bytes, len, o->ctx);
    return o->stop;
}

/* What a lost wallet's report revokes: the open ones, and those released a
 * day before the late window began (LOST_CLOCK_MARGIN): a report made
 * with `offpay admin revoke-wallet` on a host whose clock is ahead of
 * offpayd's would otherwise skip a credential whose late codes offpayd
 * still pays from the account. Revoking one more costs nothing. */
#define LOST_CLOCK_MARGIN 86400u

static uint32_t lost_since(const offpay_ledger *l, uint32_t now)
{
    uint32_t since = open_since(l, now);

    return since > LOST_CLOCK_MARGIN ? since - LOST_CLOCK_MARGIN : 1;
}

/* Calls fn, as wallet_creds does, for each credential issued to pk on the
 * current shard that is not released or was released at or after since,
 * in ascending serial, a page at a time: read through the key's index of
 * what is not released and what was released lately (023), so a lost
 * wallet's report costs what can still change, not the key's whole
 * history (a transit card renewed a few times a day holds thousands of
 * credentials, nearly all released long ago). */
static offpay_err each_open(offpay_ledger *l, const uint8_t *pk, uint32_t since,
                            cred_fn fn, void *ctx)
{
    offpay__creds_page q;
    struct open_ctx    o = {fn, ctx, 0, 0, 0};
    offpay_err         rc;

    memset(&q, 0, sizeof q);
    q.hi = INT64_MAX;
    q.open_since = since != 0 ? since : 1; /* 0 would read every one */
    q.max = OFFPAY_LEDGER_CREDS_PAGE_MAX;
    do {
        o.n = 0;
        rc = l->ops->wallet_creds_page(l->store, pk, &q, open_one, &o);
        q.lo = o.last;
    } while (rc == OFFPAY_OK && !o.stop && o.n == q.max);
    return rc;
}

struct wallet_due_ctx {
    const uint8_t *pk;
    uint32_t       at;
    uint64_t       upload_grace;
    uint64_t       back;
};

static int due_one(const offpay__cred_row *r, uint32_t max_counter,
                   const uint8_t *bytes, size_t len, void *p)
{
    struct wallet_due_ctx *c = p;

    (void)max_counter;
    (void)bytes;
    (void)len;
    if (!r->released && (uint64_t)r->expires + c->upload_grace > c->back)
        c->back = (uint64_t)r->expires + c->upload_grace;
    return 0;
}

static offpay_err due_tx(offpay_ledger *l, void *p)
{
    struct wallet_due_ctx *c = p;

    /* what is not released: the open ones since the revocation hold it */
    return each_open(l, c->pk, c->at, due_one, c);
}

offpay_err offpay_ledger_wallet_due(offpay_ledger *l,
                                    const uint8_t  pk[OFFPAY_PK_BYTES],
                                    uint32_t at, uint32_t *escrow_back,
                                    uint32_t *late_until)
{
    struct wallet_due_ctx c;
    offpay_err            rc = OFFPAY_OK;

    if (l == NULL || pk == NULL || escrow_back == NULL || late_until == NULL)
        return OFFPAY_EINVAL;
    /* the release job's rule (offpay_ledger_release_due): due once the
     * ledger's expiry is upload_grace past */
    c.pk = pk;
    c.at = at;
    c.upload_grace = l->cfg.upload_grace;
    c.back = (uint64_t)at + l->cfg.upload_grace;
    /* every shard's: the operator issues a key credentials from accounts
     * on any shard (a rerun reads again: the latest is the same) */
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++)
        rc = offpay__ledger_read_on(l, k, due_tx, &c);
    if (rc != OFFPAY_OK)
        return rc;
    *escrow_back = offpay__time_clamp(c.back);
    *late_until = offpay__time_clamp(c.back + l->cfg.late_window);
    return OFFPAY_OK;
}

struct lost_ctx {
    const uint8_t *pk;
    uint64_t       account;
    const char    *reason;
    uint32_t       now;
    uint8_t        key[OFFPAY_PK_BYTES];
    uint64_t      *serials;
    size_t         n, cap, revoked;
    offpay_err     rc;
};

static int lost_one(const offpay__cred_row *r, uint32_t max_counter,
                    const uint8_t *bytes, size_t len, void *p)
{
    struct lost_ctx *c = p;

    (void)max_counter;
    (void)bytes;
    (void)len;
    if (r->revoked && r->released)
        return 0;
    if (c->n == c->cap) {
        size_t    cap = c->cap ? 2 * c->cap : 8;
        uint64_t *nv = realloc(c->serials, cap * sizeof *nv);

        if (nv == NULL) {
            c->rc = OFFPAY_ENOMEM;
            return 1;
        }
        c->serials = nv;
        c->cap = cap;
    }
    c->serials[c->n++] = r->serial;
    return 0;
}

/* The key's credentials on the current shard: revoked, their escrows
 * due upload_grace after now. */
static offpay_err lost_creds_tx(offpay_ledger *l, void *p)
{
    struct lost_ctx *c = p;
    offpay__cred_row row;
    offpay_err       rc;

    c->n = 0;
    c->revoked = 0;
    c->rc = OFFPAY_OK;
    /* those whose codes can still be paid: not released, or released
     * within the late window, when a code the lost device made is paid
     * from the account unless accepted after this revocation (settle.c),
     * and a day more (lost_since). One released before that is done:
     * nothing of it is paid any more, and it stays as it was. */
    rc = each_open(l, c->key, lost_since(l, c->now), lost_one, c);
    if (rc == OFFPAY_OK)
        rc = c->rc;
    /* credentials first, ascending (store.h, row locks) */
    if (rc == OFFPAY_OK && c->n > 0)
        rc = l->ops->creds_lock(l->store, c->serials, c->n);
    for (size_t i = 0; rc == OFFPAY_OK && i < c->n; i++) {
        rc = l->ops->cred_get(l->store, c->serials[i], &row);
        if (rc != OFFPAY_OK)
            break;
        if (!row.revoked) {
            rc = l->ops->cred_revoke(l->store, row.serial, c->reason, c->now);
            c->revoked++;
        }
        /* its escrow is due upload_grace after now (§6, §12) */
        if (rc == OFFPAY_OK && !row.released)
            rc = l->ops->cred_cut_expiry(l->store, row.serial, c->now);
    }
    return rc;
}

/* On shard 0, where enrolled keys live: the key revoked, then its
 * credentials there. */
static offpay_err lost_tx(offpay_ledger *l, void *p)
{
    struct lost_ctx *c = p;
    uint64_t         account = 0;
    offpay_err       rc;

    rc = l->ops->wallet_key_get(l->store, c->pk, c->account, c->key, &account,
                                NULL, NULL);
    if (rc != OFFPAY_OK)
        return rc;
    rc = l->ops->wallet_key_revoke(l->store, c->key, c->now);
    if (rc == OFFPAY_OK) /* (EEXISTS: revoked before) */
        rc = offpay__ledger_journal(l, c->now, "revoke-wallet", account,
                                    c->reason);
    if (rc != OFFPAY_OK && rc != OFFPAY_EEXISTS)
        return rc;
    return lost_creds_tx(l, c);
}

offpay_err offpay_ledger_wallet_revoke(offpay_ledger *l, const uint8_t *pk,
                                       uint64_t account, const char *reason,
                                       uint32_t now, size_t *revoked)
{
    struct lost_ctx c;
    size_t          n;
    offpay_err      rc;

    if (revoked != NULL)
        *revoked = 0;
    if (l == NULL || (pk == NULL && account == 0) ||
        (reason != NULL && strlen(reason) > REF_MAX))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.pk = pk;
    c.account = account;
    c.reason = reason != NULL ? reason : "wallet lost";
    c.now = now;
    rc = offpay__ledger_tx(l, lost_tx, &c);
    n = c.revoked;
    /* a sharded ledger: the credentials the operator issued to the key
     * from accounts on other shards live there (§11), each shard's in a
     * transaction of its own after the key's revocation, which the
     * issue reads on shard 0 first */
    for (size_t k = 1; rc == OFFPAY_OK && k < l->n_shards; k++) {
        rc = offpay__ledger_tx_on(l, k, lost_creds_tx, &c);
        n += c.revoked;
    }
    free(c.serials);
    if (rc == OFFPAY_OK && revoked != NULL)
        *revoked = n;
    return rc;
}

/* ---- a terminal's key rotation -------------------------------------- */

struct rotate_ctx {
    uint32_t             old_id;
    const uint8_t       *pk;
    uint32_t             expires, now;
    uint8_t             *bytes;
    size_t               len;
    offpay_terminal_cred cred;
    int                  replayed;
};

/* The rotation that revoked old, asked again: OFFPAY_OK with the stored
 * credential of the terminal it registered when that is c->pk's and is
 * not revoked since; OFFPAY_ETERMINAL_REVOKED otherwise. Writes nothing. */
static offpay_err rotate_again(offpay_ledger *l, struct rotate_ctx *c, int how,
                               uint32_t to)
{
    offpay__terminal_row next;
    offpay_err           rc;

    if (how != OFFPAY__RETIRED_ROTATED || to == 0)
        return OFFPAY_ETERMINAL_REVOKED;
    rc = l->ops->terminal_get(l->store, to, &next);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    if (next.revoked || memcmp(next.pk, c->pk, OFFPAY_PK_BYTES) != 0)
        return OFFPAY_ETERMINAL_REVOKED;
    rc = l->ops->terminal_cred(l->store, to, c->bytes,
                               OFFPAY_TERMINAL_CRED_MAX_BYTES, &c->len);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_cred_decode(c->bytes, c->len, &c->cred);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    c->replayed = 1;
    return OFFPAY_OK;
}

/* As ledger.c's terminal_tx for the old terminal's merchant, then the old
 * terminal's revocation as rotated to the new one, with its sums carried
 * into it (the caller's statement: offpayd requires the terminal's
 * "sums_carried", settlement.md §5), in one transaction; or that rotation
 * again (rotate_again). */
static offpay_err rotate_tx(offpay_ledger *l, void *p)
{
    struct rotate_ctx    *c = p;
    offpay_terminal_cred *tc = &c->cred;
    offpay__terminal_row  old;
    uint32_t              to = 0;
    int                   how = 0;
    offpay_err            rc;

    c->replayed = 0;
    c->len = 0;
    /* first, so that a retry arriving during the rotation waits for it */
    rc = l->ops->terminal_retired(l->store, c->old_id, &how, &to);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_get(l->store, c->old_id, &old);
    if (rc != OFFPAY_OK)
        return rc;
    if (old.revoked)
        return rotate_again(l, c, how, to);
    /* A rotation changes the key, never the term: the new credential
     * expires when the old one does, and an expired terminal cannot
     * rotate (only the operator registers a terminal anew). */
    rc = l->ops->terminal_cred(l->store, c->old_id, c->bytes,
                               OFFPAY_TERMINAL_CRED_MAX_BYTES, &c->len);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_cred_decode(c->bytes, c->len, tc);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    if (tc->expires <= c->now)
        return OFFPAY_ETERMINAL_EXPIRED;
    if (c->expires > tc->expires)
        c->expires = tc->expires;
    rc = offpay__terminal_add_in_tx(l, old.merchant, c->pk, c->expires, c->now,
                                    c->bytes, &c->len, tc);
    /* where it stands, the operator's label, goes with it */
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_label_carry(l->store, c->old_id, tc->terminal_id,
                                          c->now);
    if (rc == OFFPAY_OK) {
        char why[sizeof OFFPAY__REVOKE_ROTATED_FMT + 16];

        snprintf(why, sizeof why, OFFPAY__REVOKE_ROTATED_FMT,
                 (unsigned long)tc->terminal_id);
        rc = l->ops->terminal_revoke(l->store, c->old_id, c->now,
                                     OFFPAY__RETIRED_ROTATED, tc->terminal_id,
                                     1, why);
    }
    return rc;
}

offpay_err offpay_ledger_terminal_rotate(
    offpay_ledger *l, uint32_t old_id, const uint8_t new_pk[OFFPAY_PK_BYTES],
    uint32_t expires, uint32_t now,
    uint8_t bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES], size_t *len,
    offpay_terminal_cred *cred, int *replayed)
{
    struct rotate_ctx c;
    offpay_err        rc;

    if (replayed != NULL)
        *replayed = 0;
    if (l == NULL || new_pk == NULL || bytes == NULL || len == NULL ||
        expires <= now)
        return OFFPAY_EINVAL;
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    if (!offpay_pk_usable(new_pk))
        return OFFPAY_EWEAK_KEY;
    memset(&c, 0, sizeof c);
    c.old_id = old_id;
    c.pk = new_pk;
    c.expires = expires;
    c.now = now;
    c.bytes = bytes;
    /* a sharded ledger: a revocation that reached a shard but not the
     * directory (cut off) is finished in the directory first, so that a
     * terminal revoked anywhere never rotates to a new key (a stolen
     * one's thief would) */
    rc = l->n_shards > 1 ? offpay__ledger_directory_copy(l) : OFFPAY_OK;
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, rotate_tx, &c);
    /* a sharded ledger's shards learn the new terminal and the old one's
     * revocation before either is answered (settlement.md §11); a replay
     * copies too, finishing a first request whose copy failed */
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_directory_copy(l);
    if (rc == OFFPAY_OK) {
        *len = c.len;
        if (cred != NULL)
            *cred = c.cred;
        if (replayed != NULL)
            *replayed = c.replayed;
    }
    return rc;
}

/* ---- where a terminal was rotated to ---------------------------------- */

struct rotated_ctx {
    uint32_t id, to;
};

static offpay_err rotated_tx(offpay_ledger *l, void *p)
{
    struct rotated_ctx *c = p;
    int                 how = 0;
    offpay_err          rc;

    rc = l->ops->terminal_retired(l->store, c->id, &how, &c->to);
    if (rc == OFFPAY_OK && how != OFFPAY__RETIRED_ROTATED)
        c->to = 0;
    return rc;
}

offpay_err offpay_ledger_terminal_rotated_to(offpay_ledger *l,
                                             uint32_t terminal_id, uint32_t *to)
{
    struct rotated_ctx c = {terminal_id, 0};
    offpay_err         rc;

    if (to != NULL)
        *to = 0;
    if (l == NULL || to == NULL || terminal_id == 0)
        return OFFPAY_EINVAL;
    rc = offpay__ledger_tx(l, rotated_tx, &c);
    if (rc == OFFPAY_OK)
        *to = c.to;
    return rc;
}

/* ---- a terminal's decommission --------------------------------------- */

struct decommission_ctx {
    uint32_t    id, now, revoked_at;
    int         replayed;
    const char *why; /* OFFPAY__REVOKE_DECOMMISSIONED, or the reason a
                        shard took first (a call that failed part way) */
};

static offpay_err decommission_tx(offpay_ledger *l, void *p)
{
    struct decommission_ctx *c = p;
    offpay__terminal_row     t;
    uint32_t                 to = 0;
    int                      how = 0;
    offpay_err               rc;

    c->replayed = 0;
    rc = l->ops->terminal_retired(l->store, c->id, &how, &to);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_get(l->store, c->id, &t);
    if (rc != OFFPAY_OK)
        return rc;
    if (t.revoked) {
        if (how != OFFPAY__RETIRED_DECOMMISSIONED)
            return OFFPAY_ETERMINAL_REVOKED;
        c->revoked_at = t.revoked_at;
        c->replayed = 1;
        return OFFPAY_OK;
    }
    c->revoked_at = c->now;
    return l->ops->terminal_revoke(
        l->store, c->id, c->now, OFFPAY__RETIRED_DECOMMISSIONED, 0, 0, c->why);
}

offpay_err offpay_ledger_terminal_decommission(offpay_ledger *l,
                                               uint32_t       terminal_id,
                                               uint32_t       now,
                                               uint32_t      *revoked_at,
                                               int           *replayed)
{
    struct decommission_ctx c = {terminal_id, now, 0, 0,
                                 OFFPAY__REVOKE_DECOMMISSIONED};
    char                    first[OFFPAY_LEDGER_REF_MAX + 1];
    offpay_err              rc;

    if (revoked_at != NULL)
        *revoked_at = 0;
    if (replayed != NULL)
        *replayed = 0;
    if (l == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__ledger_terminal_revoke_shards(
        l, terminal_id, &c.now, OFFPAY__RETIRED_DECOMMISSIONED, &c.why, first);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_tx(l, decommission_tx, &c);
    if (rc == OFFPAY_OK)
        rc = offpay__ledger_directory_copy(l);
    if (rc == OFFPAY_OK) {
        if (revoked_at != NULL)
            *revoked_at = c.revoked_at;
        if (replayed != NULL)
            *replayed = c.replayed;
    }
    return rc;
}
