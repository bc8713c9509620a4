/*
 * cases.c — working a case (docs/operations.md "Working a case",
 * 027_case_notes): an operator's notes on a case settlement opened, its
 * closing with a resolution, its reopening. Each step is a row of its
 * own, kept in order and never changed; the case's closed_at follows the
 * newest close or reopen in the same transaction. Nothing here moves
 * money: a refund, a withdrawal or a revocation a case calls for is its
 * own request, and its note says so.
 */
#include <stdlib.h>
#include <string.h>

#include "settle/render.h"
#include "settle/settle_int.h"

static const char *const ACTION_NAMES[] = {NULL, "note", "close", "reopen"};

const char *offpay_case_action_name(offpay_case_action a)
{
    if ((int)a < OFFPAY_CASE_NOTE || (int)a > OFFPAY_CASE_REOPEN)
        return NULL;
    return ACTION_NAMES[a];
}

offpay_err offpay_case_action_from_name(const char *name, offpay_case_action *a)
{
    if (name == NULL || a == NULL)
        return OFFPAY_EINVAL;
    for (int i = OFFPAY_CASE_NOTE; i <= OFFPAY_CASE_REOPEN; i++)
        if (strcmp(name, ACTION_NAMES[i]) == 0) {
            *a = (offpay_case_action)i;
            return OFFPAY_OK;
        }
    return OFFPAY_EINVAL;
}

int offpay__case_text_ok(const char *text)
{
    return offpay__text_ok(text, OFFPAY_CASE_TEXT_MAX);
}

int offpay__case_author_ok(const char *author)
{
    return offpay__text_ok(author, OFFPAY_CASE_AUTHOR_MAX);
}

struct act_ctx {
    offpay_case_note want; /* the step asked for (a rerun starts again) */
    offpay_case_note got;  /* the step kept, or the one replayed */
    int              replayed;
};

/* Under the case's lock: the newest step decides a resend, the case's
 * state whether the action is one it can take. */
static offpay_err act_tx(offpay_ledger *l, void *p)
{
    struct act_ctx         *c = p;
    const offpay_case_note *w = &c->want;
    offpay_case_info        info;
    offpay_case_note        last;
    size_t                  n = 0;
    offpay_err              rc;

    c->replayed = 0;
    rc = l->ops->case_lock(l->store, w->case_id);
    if (rc == OFFPAY_OK)
        rc = l->ops->case_get(l->store, w->case_id, &info);
    if (rc == OFFPAY_OK)
        rc = l->ops->case_notes(l->store, w->case_id, 0, 1, 1, &last, &n);
    if (rc != OFFPAY_OK)
        return rc;
    /* the same step again soon after: sent twice (an answer lost), kept
     * once; later, the same words are a step of their own */
    if (n == 1 && last.action == w->action && strcmp(last.text, w->text) == 0 &&
        strcmp(last.author, w->author) == 0 && w->at >= last.at &&
        w->at - last.at <= OFFPAY_CASE_RESEND_WINDOW) {
        c->got = last;
        c->replayed = 1;
        return OFFPAY_OK;
    }
    if (w->action == OFFPAY_CASE_CLOSE && info.closed_at != 0)
        return OFFPAY_ECASE_CLOSED;
    if (w->action == OFFPAY_CASE_REOPEN && info.closed_at == 0)
        return OFFPAY_ECASE_OPEN;
    c->got = *w;
    /* dated as its action is kept (never into a period read as final) */
    rc = offpay__ledger_action_at(l, w->at, &c->got.at);
    if (rc == OFFPAY_OK)
        rc = l->ops->case_note_add(l->store, &c->got, &c->got.id);
    /* among what operators did too, under the step's author, its words
     * cut to the detail's length (the step keeps them whole) */
    if (rc == OFFPAY_OK) {
        char action[16];

        snprintf(action, sizeof action, "case-%s",
                 offpay_case_action_name(w->action));
        rc = offpay__ledger_journal_as(l, w->author, c->got.at, action,
                                       w->case_id, w->text);
    }
    return rc;
}

offpay_err offpay_ledger_case_act(offpay_ledger *l, uint64_t case_id,
                                  offpay_case_action action, const char *text,
                                  const char *author, uint32_t now,
                                  offpay_case_note *out, int *replayed)
{
    struct act_ctx c;
    offpay_err     rc;

    if (replayed != NULL)
        *replayed = 0;
    if (l == NULL || case_id == 0 || now == 0 ||
        offpay_case_action_name(action) == NULL ||
        !offpay__case_text_ok(text) || !offpay__case_author_ok(author))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.want.case_id = case_id;
    c.want.action = action;
    c.want.at = now;
    memcpy(c.want.text, text, strlen(text) + 1);
    memcpy(c.want.author, author, strlen(author) + 1);
    /* a case lives on its credential's shard, its id from that range */
    rc = offpay__ledger_tx_on(l, offpay__ledger_home(l, case_id), act_tx, &c);
    if (rc != OFFPAY_OK)
        return rc;
    if (out != NULL)
        *out = c.got;
    if (replayed != NULL)
        *replayed = c.replayed;
    return OFFPAY_OK;
}

struct notes_ctx {
    uint64_t          case_id, after;
    size_t            max, n;
    offpay_case_note *out;
};

static offpay_err notes_tx(offpay_ledger *l, void *p)
{
    struct notes_ctx *c = p;
    offpay_case_info  info;
    offpay_err        rc;

    c->n = 0;
    rc = l->ops->case_get(l->store, c->case_id, &info);
    if (rc == OFFPAY_OK)
        rc = l->ops->case_notes(l->store, c->case_id, c->after, c->max, 0,
                                c->out, &c->n);
    return rc;
}

struct open_ctx {
    uint64_t n;
    uint32_t oldest;
};

static offpay_err open_tx(offpay_ledger *l, void *p)
{
    struct open_ctx *c = p;

    return l->ops->cases_open(l->store, &c->n, &c->oldest);
}

offpay_err offpay_ledger_cases_open(offpay_ledger *l, uint64_t *n,
                                    uint32_t *oldest_opened_at)
{
    uint64_t   sum = 0;
    uint32_t   oldest = 0;
    offpay_err rc = OFFPAY_OK;

    if (l == NULL || n == NULL || oldest_opened_at == NULL)
        return OFFPAY_EINVAL;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        struct open_ctx c = {0, 0};

        rc = offpay__ledger_read_on(l, k, open_tx, &c);
        if (rc == OFFPAY_OK) {
            sum += c.n;
            if (c.oldest != 0 && (oldest == 0 || c.oldest < oldest))
                oldest = c.oldest;
        }
    }
    if (rc != OFFPAY_OK)
        return rc;
    *n = sum;
    *oldest_opened_at = oldest;
    return OFFPAY_OK;
}

offpay_err offpay_ledger_case_notes(offpay_ledger *l, uint64_t case_id,
                                    uint64_t after, size_t max,
                                    offpay_case_note **out, size_t *n)
{
    struct notes_ctx c;
    offpay_err       rc;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || case_id == 0 || out == NULL || n == NULL || max == 0 ||
        max > OFFPAY_CASE_NOTES_PAGE_MAX)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.case_id = case_id;
    c.after = after;
    c.max = max;
    c.out = calloc(max, sizeof *c.out);
    if (c.out == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__ledger_read_on(l, offpay__ledger_home(l, case_id), notes_tx,
                                &c);
    if (rc != OFFPAY_OK || c.n == 0) {
        free(c.out);
        return rc;
    }
    *out = c.out;
    *n = c.n;
    return OFFPAY_OK;
}
