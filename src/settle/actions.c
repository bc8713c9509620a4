/*
 * actions.c — what operators did (settle.h, "what
 * operators did"; 032_operator_actions; docs/settlement.md §1): each
 * action kept in its own transaction by offpay__ledger_journal, and read
 * back, every shard's, in time order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "settle/render.h"
#include "settle/settle_int.h"

/* Every action offpay__ledger_journal is called with (settle.h). */
static const char *const action_names[] = {
    "create-account",     "create-guarantee",
    "register-merchant",  "register-terminal",
    "issue-credential",   "revoke-credential",
    "revoke-wallet",      "revoke-terminal",
    "close-merchant",     "label-terminal",
    "enroll-code",        "void-codes",
    "vouch-clock",        "drop-marks",
    "skip-ids",           "book",
    "export-evidence",    "case-note",
    "case-close",         "case-reopen",
    "operator-added",     "operator-removed",
    "operator-new-token", "operator-renamed"};

const char offpay__action_names_text[] =
    "create-account, create-guarantee, register-merchant, register-terminal, "
    "issue-credential, revoke-credential, revoke-wallet, revoke-terminal, "
    "close-merchant, label-terminal, enroll-code, void-codes, vouch-clock, "
    "drop-marks, skip-ids, book, export-evidence, case-note, case-close, "
    "case-reopen, operator-added, operator-removed, operator-new-token, "
    "operator-renamed";

int offpay__action_name_ok(const char *name)
{
    for (size_t i = 0;
         name != NULL && i < sizeof action_names / sizeof action_names[0]; i++)
        if (strcmp(name, action_names[i]) == 0)
            return 1;
    return 0;
}

const char *offpay__action_subject_kind(const char *name)
{
    static const struct {
        const char *prefix, *kind;
    } kinds[] = {{"create-account", "account"},
                 {"create-guarantee", "account"},
                 {"revoke-wallet", "account"},
                 {"enroll-code", "account"},
                 {"issue-credential", "credential"},
                 {"revoke-credential", "credential"},
                 {"register-terminal", "terminal"},
                 {"revoke-terminal", "terminal"},
                 {"label-terminal", "terminal"},
                 {"register-merchant", "merchant"},
                 {"close-merchant", "merchant"},
                 {"book", "transfer"},
                 {"export-evidence", "case"},
                 {"case-note", "case"},
                 {"case-close", "case"},
                 {"case-reopen", "case"}};

    for (size_t i = 0; name != NULL && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, kinds[i].prefix) == 0)
            return kinds[i].kind;
    return NULL;
}

offpay_err offpay__ledger_journal(offpay_ledger *l, uint32_t at,
                                  const char *action, uint64_t subject,
                                  const char *detail)
{
    return offpay__ledger_journal_as(l, l->actor, at, action, subject, detail);
}

static offpay_err journal_row(offpay_ledger *l, const char *who, uint32_t at,
                              const char *action, uint64_t subject,
                              const char *detail);

offpay_err offpay__ledger_journal_as(offpay_ledger *l, const char *who,
                                     uint32_t at, const char *action,
                                     uint64_t subject, const char *detail)
{
    offpay_err rc;

    if (who == NULL || who[0] == '\0')
        return OFFPAY_OK; /* no one named: nothing kept */
    /* never dated into a period that may be read as final */
    rc = offpay__ledger_action_at(l, at, &at);
    return rc == OFFPAY_OK ? journal_row(l, who, at, action, subject, detail)
                           : rc;
}

offpay_err offpay__ledger_action_at(offpay_ledger *l, uint32_t at,
                                    uint32_t *out)
{
    uint32_t   newest = 0, acted = 0;
    offpay_err rc = offpay__ledger_newest(l, &newest);

    if (rc == OFFPAY_OK)
        rc = l->ops->newest_action_at(l->store, &acted);
    if (rc != OFFPAY_OK)
        return rc;
    if (acted > newest)
        newest = acted;
    *out = (uint64_t)at + OFFPAY__PERIOD_FINAL_AFTER < newest
               ? newest - OFFPAY__PERIOD_FINAL_AFTER
               : at;
    return OFFPAY_OK;
}

offpay_err offpay__ledger_journal_clock(offpay_ledger *l, const char *action,
                                        const char *detail)
{
    return offpay__ledger_journal(l, offpay__time_clamp((uint64_t)time(NULL)),
                                  action, 0, detail);
}

static offpay_err journal_row(offpay_ledger *l, const char *who, uint32_t at,
                              const char *action, uint64_t subject,
                              const char *detail)
{
    offpay_operator_action a;

    memset(&a, 0, sizeof a);
    a.at = at;
    snprintf(a.who, sizeof a.who, "%s", who);
    snprintf(a.action, sizeof a.action, "%s", action);
    a.subject = subject;
    /* a reason, a label or a name, each at most 128 bytes of text; a
     * case step's words may be longer: cut at a character's start, and
     * marked so with "…" (U+2026) */
    if (detail != NULL) {
        size_t n = strlen(detail);

        if (n > OFFPAY_ACTION_DETAIL_MAX) {
            n = OFFPAY_ACTION_DETAIL_MAX - 3;
            while (n > 0 && ((unsigned char)detail[n] & 0xc0) == 0x80)
                n--;
            memcpy(a.detail + n, "\xe2\x80\xa6", 3);
        }
        memcpy(a.detail, detail, n);
    }
    return l->ops->action_add(l->store, &a);
}

struct actions_ctx {
    const offpay_action_filter *f;
    uint32_t                    after_at;
    int64_t                     after_id;
    size_t                      max;
    uint32_t                    shard;
    offpay_operator_action     *rows;
    size_t                      n, cap;
    size_t base; /* the rows the shards before this one gave */
    offpay_err                  rc;
};

static int action_keep(const offpay_operator_action *a, void *p)
{
    struct actions_ctx *c = p;

    if (c->n == c->cap) {
        size_t                  cap = c->cap != 0 ? c->cap * 2 : 64;
        offpay_operator_action *m = realloc(c->rows, cap * sizeof *m);

        if (m == NULL) {
            c->rc = OFFPAY_ENOMEM;
            return 1;
        }
        c->rows = m;
        c->cap = cap;
    }
    c->rows[c->n] = *a;
    c->rows[c->n++].shard = c->shard;
    return 0;
}

static offpay_err actions_tx(offpay_ledger *l, void *p)
{
    struct actions_ctx *c = p;
    offpay_err          rc;

    /* a rerun (a conflict met before or at the commit) reads this
     * shard's rows again from where they began */
    c->n = c->base;
    c->rc = OFFPAY_OK;
    rc = l->ops->actions(l->store, c->f, c->after_at, c->after_id, c->max + 1,
                         action_keep, c);
    return rc == OFFPAY_OK ? c->rc : rc;
}

static int action_order(const void *x, const void *y)
{
    const offpay_operator_action *a = x, *b = y;

    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    if (a->shard != b->shard)
        return a->shard < b->shard ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

offpay_err offpay_ledger_actions(offpay_ledger              *l,
                                 const offpay_action_filter *f,
                                 offpay_operator_action **out, size_t *n,
                                 int *more)
{
    struct actions_ctx c;
    offpay_err         rc = OFFPAY_OK;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (more != NULL)
        *more = 0;
    if (l == NULL || f == NULL || out == NULL || n == NULL || more == NULL ||
        (f->who != NULL && f->who[0] != '\0' &&
         !offpay__case_author_ok(f->who)) ||
        (f->action != NULL && f->action[0] != '\0' &&
         !offpay__action_name_ok(f->action)) ||
        f->max > OFFPAY_ACTIONS_MAX || (f->to != 0 && f->to < f->from))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.max = f->max != 0 ? f->max : OFFPAY_ACTIONS_MAX;
    /* each shard's first max + 1 after the cursor: the max + 1 first of
     * all are among them */
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        c.shard = (uint32_t)k;
        if (!f->after_set || f->after_at < f->from) {
            c.after_at = f->from;
            c.after_id = -1;
        } else {
            /* after (at, shard, id): on a shard before the cursor's, the
             * actions at its time came before it; on one after, they
             * follow it */
            c.after_at = f->after_at;
            c.after_id = k < f->after_shard        ? INT64_MAX
                         : k > f->after_shard      ? -1
                         : f->after_id > INT64_MAX ? INT64_MAX
                                                   : (int64_t)f->after_id;
        }
        c.base = c.n;
        rc = offpay__ledger_read_on(l, k, actions_tx, &c);
    }
    if (rc != OFFPAY_OK) {
        free(c.rows);
        return rc;
    }
    if (c.n > 1)
        qsort(c.rows, c.n, sizeof *c.rows, action_order);
    *more = c.n > c.max;
    *n = c.n > c.max ? c.max : c.n;
    if (*n == 0) {
        free(c.rows);
        c.rows = NULL;
    }
    *out = c.rows;
    return OFFPAY_OK;
}

void offpay_action_cursor(const offpay_operator_action *a,
                          char out[OFFPAY_ACTION_CURSOR_MAX])
{
    snprintf(out, OFFPAY_ACTION_CURSOR_MAX, "%" PRIu32 ".%" PRIu32 ".%" PRIu64,
             a->at, a->shard, a->id);
}

/* A decimal number of at most max, its digits only, into *v; the rest
 * after it into *end. */
static int cursor_number(const char *s, uint64_t max, uint64_t *v,
                         const char **end)
{
    uint64_t x = 0;
    size_t   i = 0;

    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i == 20 || x > (max - (uint64_t)(s[i] - '0')) / 10)
            return 0;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    *end = s + i;
    return i > 0 && !(i > 1 && s[0] == '0');
}

int offpay_action_cursor_parse(const char *s, offpay_action_filter *f)
{
    uint64_t    at, shard, id;
    const char *p;

    if (s == NULL || f == NULL || !cursor_number(s, UINT32_MAX, &at, &p) ||
        *p != '.' || !cursor_number(p + 1, OFFPAY_SHARDS_MAX - 1, &shard, &p) ||
        *p != '.' || !cursor_number(p + 1, INT64_MAX, &id, &p) || *p != '\0')
        return 0;
    f->after_set = 1;
    f->after_at = (uint32_t)at;
    f->after_shard = (uint32_t)shard;
    f->after_id = id;
    return 1;
}

struct note_ctx {
    uint32_t    now;
    const char *action;
    uint64_t    subject;
    const char *detail;
};

static offpay_err note_tx(offpay_ledger *l, void *p)
{
    struct note_ctx *c = p;

    return offpay__ledger_journal(l, c->now, c->action, c->subject, c->detail);
}

offpay_err offpay_ledger_note_action(offpay_ledger *l, uint32_t now,
                                     const char *action, uint64_t subject,
                                     const char *detail)
{
    struct note_ctx c = {now, action, subject, detail};

    /* the actions the library does not keep itself */
    if (l == NULL || action == NULL ||
        (strncmp(action, "operator-", 9) != 0 &&
         strcmp(action, "export-evidence") != 0) ||
        !offpay__action_name_ok(action) ||
        (detail != NULL && detail[0] != '\0' &&
         !offpay__text_ok(detail, OFFPAY_ACTION_DETAIL_MAX)))
        return OFFPAY_EINVAL;
    if (l->actor[0] == '\0')
        return OFFPAY_OK; /* no one named: nothing kept */
    return offpay__ledger_tx_on(l, 0, note_tx, &c);
}
