/*
 * evidence.c — cases and their evidence (docs/settlement.md §9): listing
 * the cases the ledger opened, exporting one as a self-contained evidence
 * file, and verifying such a file offline against the root public key.
 *
 * The file is JSON (Jansson) with the signed messages in base64: it is
 * read by people and by other tools as well as by offpay, and every
 * message inside keeps its exact signed bytes. The reader is strict and
 * bounded: one object with exactly the keys of its version, no duplicate
 * keys, canonical base64, every count and size within the caps of
 * settle.h, every index in range and every item used.
 *
 * Verification (offpay_evidence_verify) is pure: it checks every signature
 * under the root key and nothing else, then that the codes prove the case's
 * kind. It never trusts what the file says about itself (the case's
 * serial, counter or kind) beyond what the signed bytes show.
 *
 * Every file carries the receipts wallets uploaded (receipts.c) for the
 * counters of its codes; a receipt_mismatch is proved by one of them,
 * signed by the key of the terminal whose presentment opened the case,
 * against that presentment's charge (the ledger's record of the upload).
 */
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonutil.h"
#include "offpay/core.h"
#include "core/verify_int.h"
#include "offpay/terminal.h"
#include "offpay/verify.h"
#include "settle/settle_int.h"

#define FORMAT_NAME "offpay-evidence"

/* ---- case kinds ---------------------------------------------------- */

static const char *const KIND_NAMES[] = {
    NULL,        "duplicate",        "double_spend",
    "overspend", "receipt_mismatch", "charge_mismatch"};

const char *offpay_case_kind_name(offpay_case_kind k)
{
    if ((int)k < 1 || (int)k > OFFPAY_CASE_CHARGE_MISMATCH)
        return NULL;
    return KIND_NAMES[k];
}

offpay_err offpay_case_kind_from_name(const char *name, offpay_case_kind *k)
{
    if (name == NULL || k == NULL)
        return OFFPAY_EINVAL;
    for (int i = 1; i <= OFFPAY_CASE_CHARGE_MISMATCH; i++)
        if (strcmp(name, KIND_NAMES[i]) == 0) {
            *k = (offpay_case_kind)i;
            return OFFPAY_OK;
        }
    return OFFPAY_EINVAL;
}

/* ---- listing ------------------------------------------------------- */

struct cases_ctx {
    const offpay_case_filter *f;
    const char               *kind;
    size_t                    max;
    offpay_case_info         *out;
    size_t                    n;
};

static offpay_err cases_tx(offpay_ledger *l, void *arg)
{
    struct cases_ctx *c = arg;

    c->n = 0;
    return l->ops->cases(l->store, c->f, c->kind, c->max, c->out, &c->n);
}

offpay_err offpay_ledger_cases(offpay_ledger *l, const offpay_case_filter *f,
                               size_t max, offpay_case_info **out, size_t *n)
{
    static const offpay_case_filter all = {0, 0, 0, 0, OFFPAY_CASES_ANY};
    struct cases_ctx                c;
    offpay_err                      rc;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL || max == 0 ||
        max > SIZE_MAX / sizeof(offpay_case_info))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.f = f != NULL ? f : &all;
    if ((int)c.f->state < OFFPAY_CASES_ANY ||
        (int)c.f->state > OFFPAY_CASES_CLOSED)
        return OFFPAY_EINVAL;
    if (c.f->kind != 0) {
        c.kind = offpay_case_kind_name(c.f->kind);
        if (c.kind == NULL)
            return OFFPAY_EINVAL;
    }
    c.max = max;
    c.out = calloc(max, sizeof *c.out);
    if (c.out == NULL)
        return OFFPAY_ENOMEM;
    /* a case's id is from its shard's range and the ranges ascend: the
     * shards' lists, one after the other, ascend by id */
    {
        offpay_case_info *base = c.out;
        size_t            total = 0;

        rc = OFFPAY_OK;
        for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards && total < max;
             k++) {
            c.max = max - total;
            c.out = base + total;
            rc = offpay__ledger_read_on(l, k, cases_tx, &c);
            total += c.n;
        }
        c.out = base;
        c.n = total;
    }
    if (rc != OFFPAY_OK || c.n == 0) {
        free(c.out);
        return rc;
    }
    *out = c.out;
    *n = c.n;
    return OFFPAY_OK;
}

struct case_ctx {
    uint64_t          id;
    offpay_case_info *out;
};

static offpay_err case_tx(offpay_ledger *l, void *arg)
{
    struct case_ctx *c = arg;

    return l->ops->case_get(l->store, c->id, c->out);
}

offpay_err offpay_ledger_case(offpay_ledger *l, uint64_t id,
                              offpay_case_info *out)
{
    struct case_ctx c = {id, out};

    if (l == NULL || out == NULL || id == 0)
        return OFFPAY_EINVAL;
    /* a case lives on its credential's shard, its id from that range */
    return offpay__ledger_read_on(l, offpay__ledger_home(l, id), case_tx, &c);
}

/* ---- export -------------------------------------------------------- */

/* A presentment of the case, with a copy of the code it presented. */
typedef struct ex_item {
    uint64_t id;
    uint32_t terminal;
    int64_t  charged;
    uint32_t accepted_at;
    size_t   code; /* index into ex.codes */
} ex_item;

typedef struct ex_code {
    uint8_t  bytes[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t   len;
    uint32_t counter;
} ex_code;

/* A receipt the ledger holds for a code of the file: its exact bytes, and
 * what it says (to leave out another saying the same). */
typedef struct ex_rcpt {
    uint8_t  bytes[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t   len;
    uint64_t id;
    uint32_t terminal, counter;
    int64_t  amount;
} ex_rcpt;

typedef struct ex_term {
    uint32_t id;
    uint8_t  bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t   len;
} ex_term;

typedef struct ex {
    uint64_t         case_id;
    offpay_case_info c;
    ex_code         *codes; /* [OFFPAY_EVIDENCE_CODES_MAX] */
    size_t           n_codes;
    ex_item         *items; /* [OFFPAY_EVIDENCE_PRESENTMENTS_MAX] */
    size_t           n_items;
    ex_term         *terms; /* [OFFPAY_EVIDENCE_TERMINALS_MAX] */
    size_t           n_terms;
    ex_rcpt         *rcpts; /* [OFFPAY_EVIDENCE_RECEIPTS_MAX] */
    size_t           n_rcpts;
    ex_code          first; /* double spend: the payment's first code */
    int              have_first;
    int              rpass; /* ex_rcpt_walk: 1, the contradicting receipt */
    offpay_err       err; /* set by the walk: ETOOBIG, ESTORE */
} ex;

static size_t code_index(const ex *e, const uint8_t *code, size_t len)
{
    for (size_t i = 0; i < e->n_codes; i++)
        if (e->codes[i].len == len && memcmp(e->codes[i].bytes, code, len) == 0)
            return i;
    return SIZE_MAX;
}

/* Which presentments belong to the case's evidence (see settlement.md
 * §9): a duplicate's are those of the payment's one code; a double
 * spend's, those of its two codes; an overspend's, every presentment of
 * the credential up to the one that opened the case. */
static int ex_walk(const offpay__presentment_row *p, void *arg)
{
    ex     *e = arg;
    size_t  ci;
    ex_item it;

    if (p->code_len > OFFPAY_PAYMENT_BOUND_BYTES) {
        e->err = OFFPAY_ESTORE;
        return 1;
    }
    if (!e->have_first) { /* the walk starts at the payment's first code */
        memcpy(e->first.bytes, p->code, p->code_len);
        e->first.len = p->code_len;
        e->have_first = 1;
    }
    if (e->c.kind == OFFPAY_CASE_DUPLICATE &&
        (p->code_len != e->first.len ||
         memcmp(p->code, e->first.bytes, p->code_len) != 0))
        return 0; /* another code of the same counter: another case */
    if (e->c.kind == OFFPAY_CASE_DOUBLE_SPEND &&
        code_index(e, p->code, p->code_len) == SIZE_MAX && e->n_codes >= 1 &&
        p->id != e->c.presentment)
        return 0; /* a third code: its own case */
    ci = code_index(e, p->code, p->code_len);
    if (ci == SIZE_MAX) {
        if (e->n_codes == OFFPAY_EVIDENCE_CODES_MAX) {
            e->err = OFFPAY_ETOOBIG;
            return 1;
        }
        ci = e->n_codes++;
        memcpy(e->codes[ci].bytes, p->code, p->code_len);
        e->codes[ci].len = p->code_len;
        e->codes[ci].counter = p->counter;
    }
    if (e->n_items == OFFPAY_EVIDENCE_PRESENTMENTS_MAX) {
        e->err = OFFPAY_ETOOBIG;
        return 1;
    }
    it.id = p->id;
    it.terminal = p->terminal;
    it.charged = p->charged;
    it.accepted_at = p->accepted_at;
    it.code = ci;
    e->items[e->n_items++] = it;
    return 0;
}

/* The receipts the ledger holds for the counters of the file's codes
 * (a receipt names (serial, counter), not one code's bytes: it goes with
 * every code of its counter), in two walks by ascending id. For a
 * receipt_mismatch case the first walk takes the first receipt of the
 * case's terminal and counter whose amount is not the charge its upload
 * claimed: the one the case rests on. The second takes the others, but
 * not one saying what a receipt taken already says (the same terminal,
 * counter and amount: a terminal that signed the same receipt many times
 * adds nothing to the file), and stops at the cap: beyond the one a
 * receipt_mismatch rests on they prove nothing the codes do not, and
 * receipts that would not fit must not make a case unprovable. */
static int ex_rcpt_walk(const offpay__receipt_row *r, void *arg)
{
    ex      *e = arg;
    size_t   k = 0;
    ex_rcpt *to;

    while (k < e->n_codes && e->codes[k].counter != r->counter)
        k++;
    if (k == e->n_codes)
        return 0; /* a counter the case does not involve */
    if (r->len > sizeof e->rcpts[0].bytes) {
        e->err = OFFPAY_ESTORE;
        return 1;
    }
    if (e->rpass == 1) {
        const ex_item *c = NULL;

        for (size_t i = 0; i < e->n_items && c == NULL; i++)
            if (e->items[i].id == e->c.presentment)
                c = &e->items[i];
        if (c == NULL || r->terminal != c->terminal ||
            r->counter != e->c.counter || r->amount == c->charged)
            return 0;
    } else {
        for (size_t i = 0; i < e->n_rcpts; i++)
            if (e->rcpts[i].id == r->id ||
                (e->rcpts[i].terminal == r->terminal &&
                 e->rcpts[i].counter == r->counter &&
                 e->rcpts[i].amount == r->amount))
                return 0;
        if (e->n_rcpts == OFFPAY_EVIDENCE_RECEIPTS_MAX)
            return 1; /* full: the rest are left out */
    }
    to = &e->rcpts[e->n_rcpts++];
    memcpy(to->bytes, r->bytes, r->len);
    to->len = r->len;
    to->id = r->id;
    to->terminal = r->terminal;
    to->counter = r->counter;
    to->amount = r->amount;
    return e->rpass == 1; /* the first contradicting one is enough */
}

static int rcpt_by_id(const void *a, const void *b)
{
    const ex_rcpt *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

/* receipt_mismatch: each presentment's charge is the terminal's own
 * upload. When a receipt stood for the upload first, the money moved at
 * the receipt's amount and the terminal's later charge is its claim
 * (settlement.md §7); the file shows the claim, which is what the receipt
 * contradicts. A presentment only a receipt made keeps the receipt's. */
static offpay_err ex_claims(offpay_ledger *l, ex *e)
{
    offpay_err rc = OFFPAY_OK;

    for (size_t i = 0; rc == OFFPAY_OK && i < e->n_items; i++) {
        uint64_t pid = 0;
        int64_t  claimed = -1;

        rc = l->ops->claim_get(l->store, e->c.serial,
                               e->codes[e->items[i].code].counter,
                               e->items[i].terminal, &pid, &claimed);
        if (rc == OFFPAY_ENOTFOUND ||
            (rc == OFFPAY_OK && pid != e->items[i].id))
            rc = OFFPAY_ESTORE; /* the walk just read it */
        if (rc == OFFPAY_OK && claimed > 0)
            e->items[i].charged = claimed;
    }
    return rc;
}

/* ---- an overspend too large for one file ------------------------------
 * An overspend's file carries every presentment of the credential up to
 * the case's; when they do not fit the caps, a part of them whose counted
 * charges (as the verifier counts them, §9.3) exceed the limit proves the
 * case as well. The part: the case's presentment, then the largest
 * counted charges first, until their sum exceeds the limit within the
 * caps. */

#define OV_MAX 200000u /* presentments read for the choice, at most */

typedef struct ov_pres {
    uint64_t id;
    uint32_t terminal, counter, accepted_at;
    int64_t  charged, counted;
    uint8_t  code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t   len;
    int      chosen;
} ov_pres;

typedef struct ov_all {
    ov_pres   *v;
    size_t     n, cap;
    offpay_err err;
} ov_all;

static int ov_walk(const offpay__presentment_row *p, void *arg)
{
    ov_all  *a = arg;
    ov_pres *x;

    if (p->code_len > OFFPAY_PAYMENT_BOUND_BYTES) {
        a->err = OFFPAY_ESTORE;
        return 1;
    }
    if (a->n == a->cap) {
        size_t   want = a->cap ? a->cap * 2 : 1024;
        ov_pres *nv;

        if (a->cap == OV_MAX) {
            a->err = OFFPAY_ETOOBIG;
            return 1;
        }
        if (want > OV_MAX)
            want = OV_MAX;
        nv = realloc(a->v, want * sizeof *nv);
        if (nv == NULL) {
            a->err = OFFPAY_ENOMEM;
            return 1;
        }
        a->v = nv;
        a->cap = want;
    }
    x = &a->v[a->n++];
    memset(x, 0, sizeof *x);
    x->id = p->id;
    x->terminal = p->terminal;
    x->counter = p->counter;
    x->accepted_at = p->accepted_at;
    x->charged = p->charged;
    memcpy(x->code, p->code, p->code_len);
    x->len = p->code_len;
    return 0;
}

static int ov_by_counted(const void *a, const void *b)
{
    const ov_pres *x = a, *y = b;

    if (x->counted != y->counted)
        return x->counted > y->counted ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int ov_by_counter(const void *a, const void *b)
{
    const ov_pres *x = a, *y = b;

    if (x->counter != y->counter)
        return x->counter < y->counter ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int ov_by_id(const void *a, const void *b)
{
    const ov_pres *x = a, *y = b;

    return (x->id > y->id) - (x->id < y->id);
}

/* Whether taking x keeps the file within its caps. */
static int ov_fits(const ex *e, const ov_pres *x, size_t *n_terms,
                   uint32_t *terms)
{
    int code_new = code_index(e, x->code, x->len) == SIZE_MAX;
    int term_new = 1;

    for (size_t t = 0; t < *n_terms && term_new; t++)
        term_new = terms[t] != x->terminal;
    if ((code_new && e->n_codes == OFFPAY_EVIDENCE_CODES_MAX) ||
        e->n_items == OFFPAY_EVIDENCE_PRESENTMENTS_MAX ||
        (term_new && *n_terms == OFFPAY_EVIDENCE_TERMINALS_MAX))
        return 0;
    if (term_new)
        terms[(*n_terms)++] = x->terminal;
    return 1;
}

static offpay_err ov_choose(offpay_ledger *l, ex *e)
{
    ov_all         a = {NULL, 0, 0, OFFPAY_OK};
    offpay_payment pay;
    int64_t        total = 0, limit = 0;
    size_t         n_terms = 0;
    uint32_t       terms[OFFPAY_EVIDENCE_TERMINALS_MAX];
    offpay_err     rc;

    rc = l->ops->presentments_of(l->store, e->c.serial, e->c.counter, 1,
                                 e->c.presentment, ov_walk, &a);
    if (rc == OFFPAY_OK)
        rc = a.err;
    /* what each counts (§9.3): at most its code's authorized amount, a
     * bound code once, at its first presentment: by counter, then id, so
     * a code's presentments are together, its first first */
    if (rc == OFFPAY_OK)
        qsort(a.v, a.n, sizeof *a.v, ov_by_counter);
    for (size_t i = 0; rc == OFFPAY_OK && i < a.n; i++) {
        ov_pres *x = &a.v[i];

        rc = offpay_payment_decode(x->code, x->len, &pay);
        if (rc != OFFPAY_OK) {
            rc = OFFPAY_ESTORE; /* the ledger verified it */
            break;
        }
        limit = (int64_t)pay.cred.limit;
        x->counted =
            x->charged < (int64_t)pay.amount ? x->charged : (int64_t)pay.amount;
        for (size_t j = i;
             pay.bound && j > 0 && a.v[j - 1].counter == x->counter; j--)
            if (a.v[j - 1].len == x->len &&
                memcmp(a.v[j - 1].code, x->code, x->len) == 0)
                x->counted = 0;
    }
    if (rc == OFFPAY_OK) {
        e->n_codes = e->n_items = 0;
        /* the case's presentment first, then the largest */
        qsort(a.v, a.n, sizeof *a.v, ov_by_counted);
        for (size_t pass = 0; pass < 2 && total <= limit; pass++)
            for (size_t i = 0; i < a.n && total <= limit; i++) {
                ov_pres *x = &a.v[i];

                if ((pass == 0) != (x->id == e->c.presentment) ||
                    (pass == 1 && x->counted == 0) ||
                    !ov_fits(e, x, &n_terms, terms))
                    continue;
                x->chosen = 1;
                e->n_items++; /* counted here; the rows are made below */
                if (code_index(e, x->code, x->len) == SIZE_MAX) {
                    memcpy(e->codes[e->n_codes].bytes, x->code, x->len);
                    e->codes[e->n_codes].len = x->len;
                    e->codes[e->n_codes++].counter = x->counter;
                }
                total += x->counted;
            }
        if (total <= limit)
            rc = OFFPAY_ETOOBIG; /* no part within the caps proves it */
    }
    if (rc == OFFPAY_OK) {
        /* the file's order: presentments by id, codes as they first come */
        qsort(a.v, a.n, sizeof *a.v, ov_by_id);
        e->n_codes = e->n_items = 0;
        for (size_t i = 0; i < a.n; i++) {
            const ov_pres *x = &a.v[i];
            size_t         ci;

            if (!x->chosen)
                continue;
            ci = code_index(e, x->code, x->len);
            if (ci == SIZE_MAX) {
                ci = e->n_codes++;
                memcpy(e->codes[ci].bytes, x->code, x->len);
                e->codes[ci].len = x->len;
                e->codes[ci].counter = x->counter;
            }
            e->items[e->n_items].id = x->id;
            e->items[e->n_items].terminal = x->terminal;
            e->items[e->n_items].charged = x->charged;
            e->items[e->n_items].accepted_at = x->accepted_at;
            e->items[e->n_items++].code = ci;
        }
    }
    free(a.v);
    return rc;
}

/* The credentials of the terminals of e's presentments (ETOOBIG past the
 * cap). */
static offpay_err ex_terms(offpay_ledger *l, ex *e)
{
    offpay_err rc = OFFPAY_OK;

    for (size_t i = 0; rc == OFFPAY_OK && i < e->n_items; i++) {
        size_t t = 0;

        while (t < e->n_terms && e->terms[t].id != e->items[i].terminal)
            t++;
        if (t < e->n_terms)
            continue;
        if (e->n_terms == OFFPAY_EVIDENCE_TERMINALS_MAX)
            return OFFPAY_ETOOBIG;
        e->terms[t].id = e->items[i].terminal;
        rc = l->ops->terminal_cred(l->store, e->items[i].terminal,
                                   e->terms[t].bytes, sizeof e->terms[t].bytes,
                                   &e->terms[t].len);
        if (rc == OFFPAY_ENOTFOUND || rc == OFFPAY_ERANGE)
            rc = OFFPAY_ESTORE; /* a terminal that uploaded has one */
        e->n_terms++;
    }
    return rc;
}

static offpay_err ex_tx(offpay_ledger *l, void *arg)
{
    ex        *e = arg;
    offpay_err rc;
    int        all;

    e->n_codes = e->n_items = e->n_terms = e->n_rcpts = 0;
    e->have_first = 0;
    e->err = OFFPAY_OK;
    rc = l->ops->case_get(l->store, e->case_id, &e->c);
    if (rc != OFFPAY_OK)
        return rc;
    /* its two charges are both the ledger's record of the terminal's
     * uploads: nothing a file could prove offline (settlement.md §9) */
    if (e->c.kind == OFFPAY_CASE_CHARGE_MISMATCH)
        return OFFPAY_EEVIDENCE;
    all = e->c.kind == OFFPAY_CASE_OVERSPEND;
    rc = l->ops->presentments_of(l->store, e->c.serial, e->c.counter, all,
                                 e->c.presentment, ex_walk, e);
    if (rc == OFFPAY_OK)
        rc = e->err;
    if (rc == OFFPAY_OK)
        rc = ex_terms(l, e);
    if (rc == OFFPAY_ETOOBIG && all) { /* a part of them proves it */
        e->err = OFFPAY_OK;
        e->n_terms = 0;
        rc = ov_choose(l, e);
        if (rc == OFFPAY_OK)
            rc = ex_terms(l, e);
    }
    if (rc == OFFPAY_OK && e->n_items == 0)
        rc = OFFPAY_ESTORE; /* a case without its presentment */
    if (rc == OFFPAY_OK && e->c.kind == OFFPAY_CASE_RECEIPT_MISMATCH)
        rc = ex_claims(l, e);
    for (e->rpass = e->c.kind == OFFPAY_CASE_RECEIPT_MISMATCH ? 1 : 2;
         rc == OFFPAY_OK && e->rpass <= 2; e->rpass++) {
        rc = l->ops->receipts_of(l->store, e->c.serial, e->c.counter, all,
                                 ex_rcpt_walk, e);
        if (rc == OFFPAY_OK)
            rc = e->err;
    }
    if (rc == OFFPAY_OK)
        qsort(e->rcpts, e->n_rcpts, sizeof *e->rcpts, rcpt_by_id);
    return rc;
}

static json_t *b64(const uint8_t *b, size_t n)
{
    size_t  cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char   *text = malloc(cap);
    json_t *j;

    if (text == NULL)
        return NULL;
    sodium_bin2base64(text, cap, b, n, sodium_base64_VARIANT_ORIGINAL);
    j = json_string(text);
    free(text);
    return j;
}

static json_t *id_json(uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

/* Appends v to a (taking it); 0 on success. */
static int push(json_t *a, json_t *v)
{
    return v == NULL || json_array_append_new(a, v) != 0;
}

static offpay_err ex_render(const ex *e, const uint8_t *bundle,
                            size_t bundle_len, char **out, size_t *len)
{
    json_t    *doc = NULL, *codes, *terms, *items, *rcpts, *kase;
    char      *text = NULL;
    offpay_err rc = OFFPAY_ENOMEM;
    int        bad = 0;

    codes = json_array();
    terms = json_array();
    items = json_array();
    rcpts = json_array();
    kase = json_pack("{s:o, s:s, s:o, s:I, s:I, s:o}", "id", id_json(e->c.id),
                     "kind", offpay_case_kind_name(e->c.kind), "serial",
                     id_json(e->c.serial), "counter", (json_int_t)e->c.counter,
                     "opened_at", (json_int_t)e->c.opened_at, "presentment",
                     id_json(e->c.presentment));
    doc =
        json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "format",
                  FORMAT_NAME, "version", OFFPAY_EVIDENCE_VERSION, "case", kase,
                  "bundle", b64(bundle, bundle_len), "codes", codes,
                  "terminals", terms, "presentments", items, "receipts", rcpts);
    if (doc == NULL)
        goto out;
    for (size_t i = 0; !bad && i < e->n_codes; i++)
        bad = push(codes, b64(e->codes[i].bytes, e->codes[i].len));
    for (size_t t = 0; !bad && t < e->n_terms; t++)
        bad = push(terms, b64(e->terms[t].bytes, e->terms[t].len));
    for (size_t i = 0; !bad && i < e->n_items; i++) {
        const ex_item *it = &e->items[i];

        bad =
            push(items, json_pack("{s:o, s:I, s:I, s:I, s:I}", "id",
                                  id_json(it->id), "code", (json_int_t)it->code,
                                  "terminal", (json_int_t)it->terminal,
                                  "charged", (json_int_t)it->charged,
                                  "accepted_at", (json_int_t)it->accepted_at));
    }
    for (size_t i = 0; !bad && i < e->n_rcpts; i++)
        bad = push(rcpts, b64(e->rcpts[i].bytes, e->rcpts[i].len));
    if (bad)
        goto out;
    text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        goto out;
    *len = strlen(text);
    if (*len > OFFPAY_EVIDENCE_MAX_BYTES) {
        rc = OFFPAY_ETOOBIG;
        goto out;
    }
    *out = malloc(*len + 1);
    if (*out == NULL)
        goto out;
    memcpy(*out, text, *len + 1);
    rc = OFFPAY_OK;
out:
    if (doc == NULL) { /* json_pack took them only on success */
        json_decref(codes);
        json_decref(terms);
        json_decref(items);
        json_decref(rcpts);
    }
    json_decref(doc);
    if (text != NULL)
        offpay__json_free(text);
    return rc;
}

offpay_err offpay_ledger_evidence(offpay_ledger *l, uint64_t case_id,
                                  const uint8_t *bundle, size_t bundle_len,
                                  char **out, size_t *len)
{
    offpay_trust_bundle b;
    const uint8_t      *pk;
    ex                  e;
    offpay_err          rc;

    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (l == NULL || bundle == NULL || out == NULL || len == NULL ||
        case_id == 0)
        return OFFPAY_EINVAL;
    if (bundle_len > OFFPAY_EVIDENCE_BUNDLE_MAX)
        return OFFPAY_ETOOBIG;
    rc = offpay_bundle_decode(bundle, bundle_len, &b);
    if (rc != OFFPAY_OK)
        return rc;
    memset(&e, 0, sizeof e);
    e.case_id = case_id;
    e.codes = calloc(OFFPAY_EVIDENCE_CODES_MAX, sizeof *e.codes);
    e.items = calloc(OFFPAY_EVIDENCE_PRESENTMENTS_MAX, sizeof *e.items);
    e.terms = calloc(OFFPAY_EVIDENCE_TERMINALS_MAX, sizeof *e.terms);
    e.rcpts = calloc(OFFPAY_EVIDENCE_RECEIPTS_MAX, sizeof *e.rcpts);
    if (e.codes == NULL || e.items == NULL || e.terms == NULL ||
        e.rcpts == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    rc = offpay__ledger_read_on(l, offpay__ledger_home(l, case_id), ex_tx, &e);
    if (rc != OFFPAY_OK)
        goto out;
    /* The file must verify with the bundle given: every key it needs is in
     * it (whether its window fits is the verifier's finding). */
    for (size_t i = 0; rc == OFFPAY_OK && i < e.n_codes; i++) {
        offpay_payment p;

        rc = offpay_payment_decode(e.codes[i].bytes, e.codes[i].len, &p);
        if (rc == OFFPAY_OK)
            rc = offpay_bundle_key_for(&b, p.cred.kid, p.cred.valid_from, &pk);
        if (rc == OFFPAY_EKID_EXPIRED)
            rc = OFFPAY_OK;
    }
    for (size_t t = 0; rc == OFFPAY_OK && t < e.n_terms; t++) {
        offpay_terminal_cred tc;

        rc = offpay_terminal_cred_decode(e.terms[t].bytes, e.terms[t].len, &tc);
        if (rc == OFFPAY_OK)
            rc = offpay_bundle_key_for(&b, tc.kid, tc.valid_from, &pk);
        if (rc == OFFPAY_EKID_EXPIRED)
            rc = OFFPAY_OK;
    }
    for (size_t i = 0; rc == OFFPAY_OK && i < e.n_rcpts; i++) {
        offpay_receipt t;

        rc = offpay_receipt_decode(e.rcpts[i].bytes, e.rcpts[i].len, &t);
        if (rc == OFFPAY_OK)
            rc =
                offpay_bundle_key_for(&b, t.tcred.kid, t.tcred.valid_from, &pk);
        if (rc == OFFPAY_EKID_EXPIRED)
            rc = OFFPAY_OK;
    }
    if (rc == OFFPAY_OK)
        rc = ex_render(&e, bundle, bundle_len, out, len);
out:
    free(e.codes);
    free(e.items);
    free(e.terms);
    free(e.rcpts);
    return rc;
}

/* ---- verification -------------------------------------------------- */

typedef struct vf_item {
    uint64_t id;
    uint32_t terminal_id;    /* as the file names it */
    size_t   code, terminal; /* terminal: index of its credential */
    int64_t  charged;
    uint32_t accepted_at;
} vf_item;

typedef struct vf {
    offpay_evidence_report *r;
    uint8_t                 bundle_bytes[OFFPAY_EVIDENCE_BUNDLE_MAX];
    size_t                  bundle_len;
    offpay_trust_bundle     bundle;
    offpay_payment         *codes;
    uint8_t (*code_bytes)[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               *code_len;
    size_t                n_codes;
    offpay_terminal_cred *terms;
    size_t                n_terms;
    vf_item              *items;
    size_t                n_items;
    offpay_receipt       *receipts;
    size_t                n_receipts;
    uint64_t              case_presentment;
    uint32_t              case_counter;
} vf;

/* Sets r->why and returns err. */
static offpay_err why(offpay_evidence_report *r, offpay_err err,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static offpay_err why(offpay_evidence_report *r, offpay_err err,
                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return err;
}

/* The object o has exactly the n keys of names. */
static int keys_exactly(const json_t *o, const char *const *names, size_t n)
{
    if (!json_is_object(o) || json_object_size(o) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (json_object_get(o, names[i]) == NULL)
            return 0;
    return 1;
}

/* A decimal id string without sign or leading zeros, 1..UINT64_MAX. */
static int get_id(const json_t *o, const char *key, uint64_t *v)
{
    const json_t *j = json_object_get(o, key);
    const char   *s;
    uint64_t      x = 0;

    if (!json_is_string(j))
        return 0;
    s = json_string_value(j);
    if (json_string_length(j) == 0 || json_string_length(j) > 20 || s[0] == '0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        if (x > UINT64_MAX / 10 || x * 10 > UINT64_MAX - (uint64_t)(*s - '0'))
            return 0;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 1;
}

/* A JSON integer in [lo, hi]. */
static int get_int(const json_t *o, const char *key, int64_t lo, int64_t hi,
                   int64_t *v)
{
    const json_t *j = json_object_get(o, key);

    if (!json_is_integer(j) || json_integer_value(j) < lo ||
        json_integer_value(j) > hi)
        return 0;
    *v = (int64_t)json_integer_value(j);
    return 1;
}

/* Canonical base64 of 1..cap bytes into buf. */
static int get_b64(const json_t *j, uint8_t *buf, size_t cap, size_t *n)
{
    const char *s;
    size_t      slen, got = 0, elen;
    char       *back;
    int         ok;

    if (!json_is_string(j))
        return 0;
    s = json_string_value(j);
    slen = json_string_length(j);
    if (slen == 0 ||
        slen > sodium_base64_encoded_len(cap, sodium_base64_VARIANT_ORIGINAL))
        return 0;
    if (sodium_base642bin(buf, cap, s, slen, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got == 0)
        return 0;
    elen = sodium_base64_encoded_len(got, sodium_base64_VARIANT_ORIGINAL);
    back = malloc(elen);
    if (back == NULL)
        return 0;
    sodium_bin2base64(back, elen, buf, got, sodium_base64_VARIANT_ORIGINAL);
    ok = strlen(back) == slen && memcmp(back, s, slen) == 0;
    free(back);
    *n = got;
    return ok;
}

static const char *const TOP_KEYS[] = {"format",       "version", "case",
                                       "bundle",       "codes",   "terminals",
                                       "presentments", "receipts"};
static const char *const CASE_KEYS[] = {"id",      "kind",      "serial",
                                        "counter", "opened_at", "presentment"};
static const char *const ITEM_KEYS[] = {"id", "code", "terminal", "charged",
                                        "accepted_at"};

/* An array of 1..max (or 0..max when empty_ok) elements. */
static int get_array(const json_t *doc, const char *key, size_t max,
                     int empty_ok, const json_t **a)
{
    *a = json_object_get(doc, key);
    return json_is_array(*a) && json_array_size(*a) <= max &&
           (empty_ok || json_array_size(*a) > 0);
}

/* The format: every field parsed and every embedded message decoded; no
 * signature checked yet. */
static offpay_err vf_parse(vf *v, const json_t *doc)
{
    offpay_evidence_report *r = v->r;
    const json_t           *kase, *codes, *terms, *items, *receipts, *j;
    size_t                  n;
    int64_t                 x;
    offpay_err              rc;

    if (!json_is_object(doc))
        return why(r, OFFPAY_EMALFORMED, "not a JSON object");
    j = json_object_get(doc, "format");
    if (!json_is_string(j) || strcmp(json_string_value(j), FORMAT_NAME) != 0)
        return why(r, OFFPAY_EMALFORMED, "not an offpay evidence file");
    j = json_object_get(doc, "version");
    if (!json_is_integer(j))
        return why(r, OFFPAY_EMALFORMED, "no version");
    if (json_integer_value(j) != OFFPAY_EVIDENCE_VERSION)
        return why(r, OFFPAY_EVERSION, "evidence format version %lld",
                   (long long)json_integer_value(j));
    if (!keys_exactly(doc, TOP_KEYS, sizeof TOP_KEYS / sizeof TOP_KEYS[0]))
        return why(r, OFFPAY_EMALFORMED, "keys missing or unknown");

    kase = json_object_get(doc, "case");
    if (!keys_exactly(kase, CASE_KEYS, sizeof CASE_KEYS / sizeof CASE_KEYS[0]))
        return why(r, OFFPAY_EMALFORMED, "case: keys missing or unknown");
    j = json_object_get(kase, "kind");
    if (!json_is_string(j) ||
        offpay_case_kind_from_name(json_string_value(j), &r->kind) != OFFPAY_OK)
        return why(r, OFFPAY_EMALFORMED, "case: unknown kind");
    if (!get_id(kase, "id", &r->case_id) ||
        !get_id(kase, "serial", &r->serial) ||
        !get_id(kase, "presentment", &v->case_presentment))
        return why(r, OFFPAY_EMALFORMED, "case: malformed id");
    if (!get_int(kase, "counter", 0, UINT32_MAX, &x))
        return why(r, OFFPAY_EMALFORMED, "case: malformed counter");
    v->case_counter = (uint32_t)x;
    if (!get_int(kase, "opened_at", 0, UINT32_MAX, &x))
        return why(r, OFFPAY_EMALFORMED, "case: malformed opened_at");
    r->opened_at = (uint32_t)x;

    if (!get_b64(json_object_get(doc, "bundle"), v->bundle_bytes,
                 sizeof v->bundle_bytes, &v->bundle_len))
        return why(r, OFFPAY_EMALFORMED,
                   "bundle: not base64 of at most %u "
                   "bytes",
                   (unsigned)OFFPAY_EVIDENCE_BUNDLE_MAX);
    rc = offpay_bundle_decode(v->bundle_bytes, v->bundle_len, &v->bundle);
    if (rc != OFFPAY_OK)
        return why(r, rc, "bundle: %s", offpay_strerror(rc));

    if (!get_array(doc, "codes", OFFPAY_EVIDENCE_CODES_MAX, 0, &codes) ||
        !get_array(doc, "terminals", OFFPAY_EVIDENCE_TERMINALS_MAX, 0,
                   &terms) ||
        !get_array(doc, "presentments", OFFPAY_EVIDENCE_PRESENTMENTS_MAX, 0,
                   &items) ||
        !get_array(doc, "receipts", OFFPAY_EVIDENCE_RECEIPTS_MAX, 1, &receipts))
        return why(r, OFFPAY_EMALFORMED,
                   "codes, terminals, presentments (1..%u, %u, %u) or "
                   "receipts (0..%u) not arrays within their caps",
                   (unsigned)OFFPAY_EVIDENCE_CODES_MAX,
                   (unsigned)OFFPAY_EVIDENCE_TERMINALS_MAX,
                   (unsigned)OFFPAY_EVIDENCE_PRESENTMENTS_MAX,
                   (unsigned)OFFPAY_EVIDENCE_RECEIPTS_MAX);
    v->n_codes = json_array_size(codes);
    v->n_terms = json_array_size(terms);
    v->n_items = json_array_size(items);
    v->n_receipts = json_array_size(receipts);
    v->codes = calloc(v->n_codes, sizeof *v->codes);
    v->code_bytes = calloc(v->n_codes, sizeof *v->code_bytes);
    v->code_len = calloc(v->n_codes, sizeof *v->code_len);
    v->terms = calloc(v->n_terms, sizeof *v->terms);
    v->items = calloc(v->n_items, sizeof *v->items);
    v->receipts = calloc(v->n_receipts + 1, sizeof *v->receipts);
    if (v->codes == NULL || v->code_bytes == NULL || v->code_len == NULL ||
        v->terms == NULL || v->items == NULL || v->receipts == NULL)
        return why(r, OFFPAY_ENOMEM, "out of memory");

    for (size_t i = 0; i < v->n_codes; i++) {
        if (!get_b64(json_array_get(codes, i), v->code_bytes[i],
                     OFFPAY_PAYMENT_BOUND_BYTES, &v->code_len[i]))
            return why(r, OFFPAY_EMALFORMED, "code %zu: not base64 of a code",
                       i);
        rc = offpay_payment_decode(v->code_bytes[i], v->code_len[i],
                                   &v->codes[i]);
        if (rc != OFFPAY_OK)
            return why(r, rc, "code %zu: %s", i, offpay_strerror(rc));
        for (size_t k = 0; k < i; k++)
            if (v->code_len[k] == v->code_len[i] &&
                memcmp(v->code_bytes[k], v->code_bytes[i], v->code_len[i]) == 0)
                return why(r, OFFPAY_EMALFORMED,
                           "codes %zu and %zu are the "
                           "same bytes",
                           k, i);
    }
    for (size_t t = 0; t < v->n_terms; t++) {
        uint8_t tb[OFFPAY_TERMINAL_CRED_MAX_BYTES];

        if (!get_b64(json_array_get(terms, t), tb, sizeof tb, &n))
            return why(r, OFFPAY_EMALFORMED,
                       "terminal %zu: not base64 of a terminal credential", t);
        rc = offpay_terminal_cred_decode(tb, n, &v->terms[t]);
        if (rc != OFFPAY_OK)
            return why(r, rc, "terminal %zu: %s", t, offpay_strerror(rc));
        for (size_t k = 0; k < t; k++)
            if (v->terms[k].terminal_id == v->terms[t].terminal_id)
                return why(r, OFFPAY_EMALFORMED,
                           "terminals %zu and %zu are both terminal %u", k, t,
                           (unsigned)v->terms[t].terminal_id);
    }
    for (size_t i = 0; i < v->n_items; i++) {
        const json_t *o = json_array_get(items, i);
        vf_item      *it = &v->items[i];
        int64_t       c, t;

        if (!keys_exactly(o, ITEM_KEYS,
                          sizeof ITEM_KEYS / sizeof ITEM_KEYS[0]) ||
            !get_id(o, "id", &it->id) ||
            !get_int(o, "code", 0, (int64_t)v->n_codes - 1, &c) ||
            !get_int(o, "terminal", 1, UINT32_MAX, &t) ||
            !get_int(o, "charged", 1, OFFPAY_WIRE_AMOUNT_MAX, &it->charged) ||
            !get_int(o, "accepted_at", 0, UINT32_MAX, &x))
            return why(r, OFFPAY_EMALFORMED,
                       "presentment %zu: keys missing, unknown, or out of "
                       "range",
                       i);
        if (i > 0 && it->id <= v->items[i - 1].id)
            return why(r, OFFPAY_EMALFORMED,
                       "presentment %zu: ids not ascending", i);
        it->code = (size_t)c;
        it->terminal_id = (uint32_t)t;
        it->accepted_at = (uint32_t)x;
    }
    for (size_t i = 0; i < v->n_receipts; i++) {
        uint8_t rb[OFFPAY_TERMINAL_CRED_MAX_BYTES + 128];

        if (!get_b64(json_array_get(receipts, i), rb, sizeof rb, &n))
            return why(r, OFFPAY_EMALFORMED,
                       "receipt %zu: not base64 of a receipt", i);
        rc = offpay_receipt_decode(rb, n, &v->receipts[i]);
        if (rc != OFFPAY_OK)
            return why(r, rc, "receipt %zu: %s", i, offpay_strerror(rc));
    }
    return OFFPAY_OK;
}

/* Signatures under the root key, and that the pieces hang together. */
static offpay_err vf_check(vf *v)
{
    offpay_evidence_report   *r = v->r;
    const offpay_wallet_cred *c0 = &v->codes[0].cred;
    offpay_risk               risk;
    const uint8_t            *pk;
    offpay_err                rc;

    offpay_risk_defaults(c0->currency, &risk);
    /* A presentment names its terminal by id: the credential of that id. */
    for (size_t i = 0; i < v->n_items; i++) {
        vf_item *it = &v->items[i];

        for (it->terminal = 0; it->terminal < v->n_terms; it->terminal++)
            if (v->terms[it->terminal].terminal_id == it->terminal_id)
                break;
        if (it->terminal == v->n_terms)
            return why(r, OFFPAY_EEVIDENCE,
                       "presentment %zu names terminal %u, whose credential "
                       "is not in the file",
                       i, (unsigned)it->terminal_id);
    }
    /* Every code and every terminal is used by a presentment. */
    for (size_t i = 0; i < v->n_codes; i++) {
        size_t k = 0;

        while (k < v->n_items && v->items[k].code != i)
            k++;
        if (k == v->n_items)
            return why(r, OFFPAY_EEVIDENCE,
                       "code %zu: no terminal presented "
                       "it",
                       i);
    }
    for (size_t t = 0; t < v->n_terms; t++) {
        size_t k = 0;

        while (k < v->n_items && v->items[k].terminal != t)
            k++;
        if (k == v->n_items)
            return why(r, OFFPAY_EEVIDENCE, "terminal %zu: presented nothing",
                       t);
    }
    /* Each code: the issuer's credential under the bundle key valid when
     * its first terminal accepted it, then the wallet's signature. All
     * codes belong to one credential, the case's. */
    for (size_t i = 0; i < v->n_codes; i++) {
        const offpay_payment *p = &v->codes[i];
        size_t                k = 0;

        while (v->items[k].code != i)
            k++;
        rc = offpay_bundle_key_for(&v->bundle, p->cred.kid,
                                   v->items[k].accepted_at, &pk);
        if (rc == OFFPAY_OK)
            rc = offpay__wallet_cred_sig(&p->cred, pk);
        if (rc != OFFPAY_OK)
            return why(r, rc, "code %zu: its wallet credential: %s", i,
                       offpay_strerror(rc));
        rc = offpay_payment_verify_sig(p);
        if (rc != OFFPAY_OK)
            return why(r, rc, "code %zu: the wallet's signature: %s", i,
                       offpay_strerror(rc));
        if (p->cred.serial != r->serial)
            return why(r, OFFPAY_EEVIDENCE,
                       "code %zu is of credential %llu, the case names %llu", i,
                       (unsigned long long)p->cred.serial,
                       (unsigned long long)r->serial);
        if (memcmp(v->code_bytes[i] + 2, v->code_bytes[0] + 2,
                   OFFPAY_WALLET_CRED_BODY_BYTES + OFFPAY_SIG_BYTES) != 0)
            return why(r, OFFPAY_EEVIDENCE,
                       "codes 0 and %zu carry different credentials of one "
                       "serial",
                       i);
    }
    /* Each presentment: its terminal's credential under the bundle at the
     * acceptance time; a terminal of the code's currency, and of the
     * code's merchant when the code is bound. */
    for (size_t i = 0; i < v->n_items; i++) {
        const vf_item              *it = &v->items[i];
        const offpay_terminal_cred *tc = &v->terms[it->terminal];
        const offpay_payment       *p = &v->codes[it->code];

        rc = offpay_terminal_cred_verify(&v->bundle, tc, it->accepted_at,
                                         risk.skew);
        if (rc != OFFPAY_OK)
            return why(r, rc, "presentment %zu: terminal %u's credential: %s",
                       i, (unsigned)tc->terminal_id, offpay_strerror(rc));
        if (tc->currency != p->cred.currency)
            return why(r, OFFPAY_EEVIDENCE,
                       "presentment %zu: terminal %u charges another currency "
                       "than code %zu",
                       i, (unsigned)tc->terminal_id, it->code);
        if (p->bound && p->merchant_id != tc->merchant_id)
            return why(r, OFFPAY_EEVIDENCE,
                       "presentment %zu: code %zu is bound to merchant %llu, "
                       "terminal %u belongs to merchant %llu",
                       i, it->code, (unsigned long long)p->merchant_id,
                       (unsigned)tc->terminal_id,
                       (unsigned long long)tc->merchant_id);
        if (it->charged > (int64_t)p->amount)
            return why(r, OFFPAY_EEVIDENCE,
                       "presentment %zu: charged %lld, above the %u code %zu "
                       "authorized",
                       i, (long long)it->charged, (unsigned)p->amount,
                       it->code);
    }
    {
        size_t k = 0;

        while (k < v->n_items && v->items[k].id != v->case_presentment)
            k++;
        if (k == v->n_items)
            return why(r, OFFPAY_EEVIDENCE,
                       "the presentment that opened the case is not in the "
                       "file");
    }
    /* Each receipt: signed by a credentialed terminal, about a code here. */
    for (size_t i = 0; i < v->n_receipts; i++) {
        const offpay_receipt *t = &v->receipts[i];
        size_t                k = 0;

        rc = offpay_receipt_verify(&v->bundle, t, t->time, risk.skew);
        if (rc != OFFPAY_OK)
            return why(r, rc, "receipt %zu: %s", i, offpay_strerror(rc));
        while (k < v->n_codes && v->codes[k].counter != t->counter)
            k++;
        if (t->serial != r->serial || k == v->n_codes)
            return why(r, OFFPAY_EEVIDENCE,
                       "receipt %zu is about no code of this file", i);
        /* A terminal of the file is one key: its receipts carry it. */
        for (k = 0; k < v->n_terms; k++)
            if (v->terms[k].terminal_id == t->tcred.terminal_id &&
                (sodium_memcmp(v->terms[k].terminal_pk, t->tcred.terminal_pk,
                               OFFPAY_PK_BYTES) != 0 ||
                 v->terms[k].merchant_id != t->tcred.merchant_id))
                return why(r, OFFPAY_EEVIDENCE,
                           "receipt %zu names terminal %u with another key "
                           "or merchant than its credential in the file",
                           i, (unsigned)t->tcred.terminal_id);
    }
    return OFFPAY_OK;
}

static void party(const vf *v, size_t item, offpay_evidence_party *out)
{
    const vf_item              *it = &v->items[item];
    const offpay_terminal_cred *tc = &v->terms[it->terminal];

    memset(out, 0, sizeof *out);
    out->code = it->code;
    out->counter = v->codes[it->code].counter;
    out->amount = v->codes[it->code].amount;
    out->terminal_id = tc->terminal_id;
    out->merchant_id = tc->merchant_id;
    memcpy(out->merchant_name, tc->name, sizeof out->merchant_name);
    out->charged = it->charged;
    out->accepted_at = it->accepted_at;
}

static size_t first_item_of(const vf *v, size_t code)
{
    size_t k = 0;

    while (k < v->n_items && v->items[k].code != code)
        k++;
    return k;
}

/* receipt_mismatch: the case's presentment (its terminal's upload, as the
 * ledger records it) and a receipt signed by that same terminal key for
 * that code's (serial, counter) with another amount. */
static offpay_err vf_mismatch(vf *v)
{
    offpay_evidence_report     *r = v->r;
    const vf_item              *it;
    const offpay_terminal_cred *tc;
    const offpay_payment       *p;
    size_t                      k = 0, agreed = 0;

    while (v->items[k].id != v->case_presentment) /* in the file: vf_check */
        k++;
    it = &v->items[k];
    tc = &v->terms[it->terminal];
    p = &v->codes[it->code];
    if (p->counter != v->case_counter)
        return why(r, OFFPAY_EEVIDENCE,
                   "the case names counter %u, its presentment's code has %u",
                   (unsigned)v->case_counter, (unsigned)p->counter);
    for (size_t i = 0; i < v->n_receipts; i++) {
        const offpay_receipt *t = &v->receipts[i];

        if (t->tcred.terminal_id != tc->terminal_id ||
            sodium_memcmp(t->tcred.terminal_pk, tc->terminal_pk,
                          OFFPAY_PK_BYTES) != 0 ||
            t->serial != p->cred.serial || t->counter != p->counter)
            continue;
        if ((int64_t)t->amount == it->charged) {
            agreed++;
            continue;
        }
        party(v, k, &r->a);
        r->b = r->a;
        r->b.charged = (int64_t)t->amount;
        r->b.accepted_at = t->time;
        r->receipt = i;
        return OFFPAY_OK;
    }
    if (agreed > 0)
        return why(r, OFFPAY_EEVIDENCE,
                   "terminal %u's receipts for counter %u say %lld, as its "
                   "upload: no mismatch",
                   (unsigned)tc->terminal_id, (unsigned)p->counter,
                   (long long)it->charged);
    return why(r, OFFPAY_EEVIDENCE,
               "no receipt of terminal %u for counter %u of credential %llu "
               "in the file",
               (unsigned)tc->terminal_id, (unsigned)p->counter,
               (unsigned long long)p->cred.serial);
}

/* What the verified pieces prove, by the case's kind. */
static offpay_err vf_prove(vf *v)
{
    offpay_evidence_report *r = v->r;

    switch (r->kind) {
    case OFFPAY_CASE_DOUBLE_SPEND:
        if (v->n_codes != 2)
            return why(r, OFFPAY_EEVIDENCE,
                       "a double spend needs exactly two codes, the file "
                       "has %zu",
                       v->n_codes);
        if (v->codes[0].counter != v->codes[1].counter)
            return why(r, OFFPAY_EEVIDENCE,
                       "the two codes have counters %u and %u: no counter "
                       "was signed twice",
                       (unsigned)v->codes[0].counter,
                       (unsigned)v->codes[1].counter);
        party(v, first_item_of(v, 0), &r->a);
        party(v, first_item_of(v, 1), &r->b);
        return OFFPAY_OK;
    case OFFPAY_CASE_DUPLICATE: {
        size_t k;

        if (v->n_codes != 1)
            return why(r, OFFPAY_EEVIDENCE,
                       "a duplicate presentment is of one code, the file has "
                       "%zu",
                       v->n_codes);
        if (v->codes[0].bound)
            return why(r, OFFPAY_EEVIDENCE,
                       "the code is bound to one request of one terminal: "
                       "presented again it is paid nothing and proves "
                       "nothing against its payer (docs/settlement.md §4)");
        for (k = 1; k < v->n_items; k++)
            if (v->items[k].terminal != v->items[0].terminal)
                break;
        if (k == v->n_items)
            return why(r, OFFPAY_EEVIDENCE,
                       "the code was presented by one terminal only");
        party(v, 0, &r->a);
        party(v, k, &r->b);
        return OFFPAY_OK;
    }
    case OFFPAY_CASE_OVERSPEND: {
        int64_t total = 0;

        /* Each presentment counts at most its code's authorized amount: an
         * unbound code presented by two terminals (a duplicate
         * presentment, which the escrow pays too: docs/settlement.md §4)
         * counts at each, so an escrow emptied by duplicates proves its
         * overspend as well. A bound code counts once, at its first
         * presentment (the lowest id), the one paid: presented again it
         * is paid nothing (§4). */
        for (size_t k = 0; k < v->n_items; k++) {
            const offpay_payment *code = &v->codes[v->items[k].code];
            int64_t               c = v->items[k].charged;
            int                   counted = 0;

            if (c > (int64_t)code->amount)
                c = (int64_t)code->amount;
            for (size_t j = 0; code->bound && j < v->n_items; j++)
                if (v->items[j].code == v->items[k].code &&
                    v->items[j].id < v->items[k].id)
                    counted = 1; /* an earlier presentment of it counts */
            if (!counted && offpay_amount_add(total, c, &total) != OFFPAY_OK)
                return why(r, OFFPAY_EEVIDENCE, "charges overflow");
        }
        r->total = total;
        /* each code once, at its largest counted charge (a bound code at
         * its first presentment, the one paid, as above): what the
         * payer's codes alone prove, whoever presented them how often */
        r->total_once = 0;
        for (size_t ci = 0; ci < v->n_codes; ci++) {
            int64_t  most = 0;
            uint64_t first = UINT64_MAX;

            for (size_t k = 0; k < v->n_items; k++) {
                int64_t c = v->items[k].charged;

                if (v->items[k].code != ci)
                    continue;
                if (c > (int64_t)v->codes[ci].amount)
                    c = (int64_t)v->codes[ci].amount;
                if (v->codes[ci].bound) {
                    if (v->items[k].id < first) {
                        first = v->items[k].id;
                        most = c;
                    }
                } else if (c > most) {
                    most = c;
                }
            }
            if (offpay_amount_add(r->total_once, most, &r->total_once) !=
                OFFPAY_OK)
                return why(r, OFFPAY_EEVIDENCE, "charges overflow");
        }
        if (total <= r->limit)
            return why(r, OFFPAY_EEVIDENCE,
                       "the presentments, each at most its code's authorized "
                       "amount, total %lld, within "
                       "the limit %lld",
                       (long long)total, (long long)r->limit);
        return OFFPAY_OK;
    }
    case OFFPAY_CASE_RECEIPT_MISMATCH:
        return vf_mismatch(v);
    case OFFPAY_CASE_CHARGE_MISMATCH: /* no file is made of one */
        break;
    }
    return why(r, OFFPAY_EEVIDENCE, "unknown case kind");
}

offpay_err offpay_evidence_verify(const uint8_t *file, size_t len,
                                  const uint8_t root_pk[OFFPAY_PK_BYTES],
                                  offpay_evidence_report *r)
{
    json_t      *doc = NULL;
    json_error_t jerr;
    vf           v;
    offpay_err   rc;

    if (r == NULL)
        return OFFPAY_EINVAL;
    memset(r, 0, sizeof *r);
    memset(&v, 0, sizeof v);
    v.r = r;
    if (file == NULL || root_pk == NULL)
        return why(r, OFFPAY_EINVAL, "no file or no root key");
    if (len > OFFPAY_EVIDENCE_MAX_BYTES) {
        rc = why(r, OFFPAY_ETOOBIG, "larger than %u bytes",
                 (unsigned)OFFPAY_EVIDENCE_MAX_BYTES);
        goto out;
    }
    doc = json_loadb((const char *)file, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        rc = why(r, OFFPAY_EMALFORMED, "not JSON: %s (line %d)", jerr.text,
                 jerr.line);
        goto out;
    }
    rc = vf_parse(&v, doc);
    if (rc != OFFPAY_OK)
        goto out;
    rc = offpay_bundle_verify(v.bundle_bytes, v.bundle_len, root_pk, &v.bundle);
    if (rc != OFFPAY_OK) {
        why(r, rc, "the trust bundle does not verify under this root key: %s",
            offpay_strerror(rc));
        goto out;
    }
    r->bundle_seq = v.bundle.seq;
    memcpy(r->wallet_pk, v.codes[0].cred.wallet_pk, OFFPAY_PK_BYTES);
    r->limit = (int64_t)v.codes[0].cred.limit;
    r->currency = v.codes[0].cred.currency;
    r->n_codes = v.n_codes;
    r->n_presentments = v.n_items;
    r->n_terminals = v.n_terms;
    r->n_receipts = v.n_receipts;
    rc = vf_check(&v);
    if (rc == OFFPAY_OK)
        rc = vf_prove(&v);
out:
    json_decref(doc);
    free(v.codes);
    free(v.code_bytes);
    free(v.code_len);
    free(v.terms);
    free(v.items);
    free(v.receipts);
    return rc;
}
