/*
 * digest.c — the ledger's digest (offpay_ledger_digest; docs/settlement.md
 * §10, "The ledger's digest"): one BLAKE2b-256 over every transfer of a
 * shard up to an id or dated until a time, in id order, each with all it
 * says and its accounts' kinds and currencies. An auditor keeps it at a
 * period's close; read again later, the same digest proves that no
 * transfer it covers was changed, removed or added since. The ledger keeps
 * no copy of it: whoever can write the ledger could rewrite a copy too.
 */
#include <sodium.h>
#include <string.h>

#include "settle/settle_int.h"

/* Transfers read at a time. */
#define DIGEST_PAGE 10000u

/* What every digest starts with: its name and the encoding's version,
 * with the zero byte that ends it. */
static const char DIGEST_DOMAIN[] = "offpay transfers v1";

struct digest_ctx {
    int64_t                  upto;
    uint32_t                 until;
    crypto_generichash_state st;
    offpay_transfers_digest *out;
};

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* A transfer into the digest: its numbers in fixed widths, big-endian
 * (signed ones in two's complement), each text as its length and bytes (a
 * missing reference apart from an empty one), then its accounts' kinds
 * and currencies. */
static void digest_add(const offpay__digest_row *r, void *p)
{
    struct digest_ctx *c = p;
    uint8_t            b[7 * 8 + 4];

    put_u64(b, (uint64_t)r->id);
    put_u64(b + 8, r->debit);
    put_u64(b + 16, r->credit);
    put_u64(b + 24, (uint64_t)r->amount);
    put_u64(b + 32, (uint64_t)r->at);
    put_u64(b + 40, r->presentment);
    put_u64(b + 48, r->case_id);
    put_u32(b + 56, (uint32_t)r->kind_len);
    crypto_generichash_update(&c->st, b, sizeof b);
    crypto_generichash_update(&c->st, (const uint8_t *)r->kind, r->kind_len);
    b[0] = r->ref != NULL;
    put_u32(b + 1, (uint32_t)r->ref_len);
    crypto_generichash_update(&c->st, b, 5);
    if (r->ref != NULL)
        crypto_generichash_update(&c->st, (const uint8_t *)r->ref, r->ref_len);
    put_u64(b, (uint64_t)r->debit_kind);
    put_u64(b + 8, (uint64_t)r->debit_currency);
    put_u64(b + 16, (uint64_t)r->credit_kind);
    put_u64(b + 24, (uint64_t)r->credit_currency);
    crypto_generichash_update(&c->st, b, 32);
    c->out->transfers++;
    c->out->last_id = r->id;
    if (r->at > (int64_t)c->out->newest_at && r->at <= (int64_t)UINT32_MAX)
        c->out->newest_at = (uint32_t)r->at;
}

/* One shard's transfers, a page at a time from the lowest id, in one read
 * transaction; rerun after a conflict, it starts over. */
static offpay_err digest_tx(offpay_ledger *l, void *p)
{
    struct digest_ctx *c = p;
    int64_t            after = INT64_MIN, last = INT64_MIN;
    size_t             n = DIGEST_PAGE;
    offpay_err         rc = OFFPAY_OK;

    c->out->transfers = 0;
    c->out->last_id = 0;
    c->out->newest_at = 0;
    crypto_generichash_init(&c->st, NULL, 0, sizeof c->out->digest);
    crypto_generichash_update(&c->st, (const uint8_t *)DIGEST_DOMAIN,
                              sizeof DIGEST_DOMAIN);
    while (rc == OFFPAY_OK && n == DIGEST_PAGE && after < c->upto) {
        rc = l->ops->transfers_range(l->store, after, c->upto, c->until,
                                     DIGEST_PAGE, digest_add, c, &n, &last);
        after = last;
    }
    if (rc == OFFPAY_OK)
        crypto_generichash_final(&c->st, c->out->digest, sizeof c->out->digest);
    return rc;
}

offpay_err offpay_ledger_digest(offpay_ledger *l, int64_t upto, uint32_t until,
                                offpay_transfers_digest *out, size_t max,
                                size_t *n)
{
    offpay_ledger_marks_info info[OFFPAY_SHARDS_MAX];
    size_t                   shards = 0;
    offpay_err               rc;

    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL || max < l->n_shards || upto < 0)
        return OFFPAY_EINVAL;
    rc = offpay_ledger_marks_state(l, info, OFFPAY_SHARDS_MAX, &shards);
    for (size_t k = 0; rc == OFFPAY_OK && k < shards; k++) {
        struct digest_ctx c;

        memset(&out[k], 0, sizeof out[k]);
        c.out = &out[k];
        c.until = until;
        c.upto = upto != 0             ? upto
                 : until != UINT32_MAX ? INT64_MAX
                 : info[k].upto != 0   ? (int64_t)info[k].upto
                                       : (int64_t)info[k].max_id;
        out[k].upto = c.upto;
        out[k].until = until;
        out[k].marked = info[k].upto != 0 && c.upto <= (int64_t)info[k].upto;
        rc = offpay__ledger_read_on(l, k, digest_tx, &c);
    }
    if (rc == OFFPAY_OK)
        *n = shards;
    return rc;
}

/* ---- the digest of what operators did (032_operator_actions) -------- */

static const char ACTIONS_DOMAIN[] = "offpay operator actions v1";

struct actions_digest_ctx {
    crypto_generichash_state st;
    offpay_actions_digest   *out;
    uint32_t                 last_at;
    uint64_t                 last_id;
    size_t                   page;
};

/* A text into the digest: whether there is one, its length, its bytes. */
static void digest_text(crypto_generichash_state *st, const char *t)
{
    uint8_t b[5];
    size_t  n = t != NULL ? strlen(t) : 0;

    b[0] = t != NULL && n > 0;
    put_u32(b + 1, (uint32_t)n);
    crypto_generichash_update(st, b, sizeof b);
    if (n > 0)
        crypto_generichash_update(st, (const uint8_t *)t, n);
}

/* An action into the digest: its id, time and subject in fixed widths,
 * big-endian, then who, the action and the detail as texts. */
static int action_add(const offpay_operator_action *a, void *p)
{
    struct actions_digest_ctx *c = p;
    uint8_t                    b[24];

    put_u64(b, a->id);
    put_u64(b + 8, a->at);
    put_u64(b + 16, a->subject);
    crypto_generichash_update(&c->st, b, sizeof b);
    digest_text(&c->st, a->who);
    digest_text(&c->st, a->action);
    digest_text(&c->st, a->detail);
    c->out->actions++;
    if (a->at > c->out->newest_at)
        c->out->newest_at = a->at;
    c->last_at = a->at;
    c->last_id = a->id;
    c->page++;
    return 0;
}

/* One shard's actions dated until out->until, in (at, id) order, a page
 * at a time, in one read transaction; rerun, it starts over. */
static offpay_err actions_digest_tx(offpay_ledger *l, void *p)
{
    struct actions_digest_ctx *c = p;
    offpay_action_filter       f;
    int                        first = 1;
    offpay_err                 rc = OFFPAY_OK;

    memset(&f, 0, sizeof f);
    f.to = c->out->until;
    c->out->actions = 0;
    c->out->newest_at = 0;
    crypto_generichash_init(&c->st, NULL, 0, sizeof c->out->digest);
    crypto_generichash_update(&c->st, (const uint8_t *)ACTIONS_DOMAIN,
                              sizeof ACTIONS_DOMAIN);
    /* (until 0: none is dated until then; a filter's to 0 is no bound) */
    c->page = c->out->until != 0 ? DIGEST_PAGE : 0;
    while (rc == OFFPAY_OK && c->page == DIGEST_PAGE) {
        c->page = 0;
        rc = l->ops->actions(l->store, &f, first ? 0 : c->last_at,
                             first ? -1 : (int64_t)c->last_id, DIGEST_PAGE,
                             action_add, c);
        first = 0;
    }
    if (rc == OFFPAY_OK)
        crypto_generichash_final(&c->st, c->out->digest, sizeof c->out->digest);
    return rc;
}

offpay_err offpay_ledger_actions_digest(offpay_ledger *l, uint32_t until,
                                        offpay_actions_digest *out, size_t max,
                                        size_t *n)
{
    offpay_err rc = OFFPAY_OK;

    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL || max < l->n_shards)
        return OFFPAY_EINVAL;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        struct actions_digest_ctx c;

        memset(&out[k], 0, sizeof out[k]);
        memset(&c, 0, sizeof c);
        out[k].until = until;
        c.out = &out[k];
        rc = offpay__ledger_read_on(l, k, actions_digest_tx, &c);
    }
    if (rc == OFFPAY_OK)
        *n = l->n_shards;
    return rc;
}
