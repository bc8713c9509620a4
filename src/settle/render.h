/*
 * render.h — internal: the JSON of the operator's views that offpayd's
 * answers (docs/api.md) and `offpay admin ... --json` share, so that the
 * two give one document field for field: amounts as objects with their
 * minor units, decimal text and currency, ids as decimal strings, times
 * as unix seconds. The merchant statement (GET
 * /v1/admin/merchants/N/statement, `offpay admin statement`) is read and
 * rendered here whole.
 */
#ifndef OFFPAY_SETTLE_RENDER_H
#define OFFPAY_SETTLE_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "offpay/settle.h"

/* "123": a 64-bit id as a JSON string. NULL: out of memory. */
json_t *offpay__json_id(uint64_t v);
/* {"minor": n, "decimal": "1.50", "currency": "EUR"} ("" for a decimal
 * or currency that cannot be written). NULL: out of memory. */
json_t *offpay__json_amount(int64_t minor, uint16_t currency);
/* A transfer seen from one account's side, as an account's history and
 * a statement's movements give it. NULL: out of memory. */
json_t *offpay__json_transfer(const offpay_account_transfer *t,
                              uint16_t                       currency);
/* A page of operators' actions as GET /v1/admin/actions and `offpay
 * admin actions --json` give it: {count, actions: [{at, who, action,
 * subject, detail, shard, id}], next_after: the last one's cursor when
 * more follow, else null}. NULL when out of memory. */
/* 1 when name is an action offpay_ledger_actions can find (settle.h,
 * "what operators did"); their names, comma-separated, for a hint. */
int               offpay__action_name_ok(const char *name);
extern const char offpay__action_names_text[];
/* What an action's subject is ("account", "credential", "terminal",
 * "merchant"), NULL for one on the whole ledger. */
const char *offpay__action_subject_kind(const char *name);
json_t     *offpay__actions_json(const offpay_operator_action *a, size_t n,
                                 int more);
/* One issuer key as GET /v1/admin/keys and `offpay admin keys --json`
 * give it (offpay_ledger_keys): the live terminals it signed, the first
 * ids of them, its credentials not released, and what retiring it now
 * would stop and strand. NULL: out of memory. */
json_t *offpay__json_key_use(const offpay_ledger_key_use *k);
/* One wallet credential as GET /v1/admin/credentials/N and `offpay admin
 * credential --json` give it: the ledger's figures of its escrow and of
 * the guarantee's loss on it, and the issuer key that signed it (read from
 * the bytes it was issued as). *out NULL on an error. Errors: those of
 * offpay_ledger_credential and offpay_ledger_credential_bytes,
 * OFFPAY_ESTORE (stored bytes that do not decode), OFFPAY_ENOMEM. */
offpay_err offpay__credential_json(offpay_ledger *l, uint64_t serial,
                                   json_t **out);
/* What the guarantee still owes for a statement line: its claim (a line
 * unpaid EFUNDS, settlement.md §5), charged - paid - paid_later, else 0.
 * What is left of its charge beyond that, charged - paid - paid_later -
 * owed, no one pays (the report's and the statement's unpaid). */
int64_t offpay__line_owed(const offpay_statement_line *x);

/* A settlement outcome's name in the API ("settled", ...). */
const char *offpay__outcome_name(offpay_settle_outcome o);

/* How long after a period's last second (its `to`) what a statement or
 * an account's history of it says can still change: offpayd reads a
 * request's time once its ledger connection is held, and an upload starts
 * no transaction SRV_COMMIT_WITHIN (30 s) after that time; 30 s more for
 * that last transaction's own run (docs/api.md, "Merchant statement"). */
#define OFFPAY__PERIOD_FINAL_AFTER 60u

/* 1 when the period ending at `to` is final at now (`"final": true`): now
 * more than OFFPAY__PERIOD_FINAL_AFTER after to; else 0. */
int offpay__period_final(uint32_t to, uint32_t now);

/* Most lines and movements one statement lists (the totals cover all). */
#define OFFPAY__STATEMENT_LINES 10000u
#define OFFPAY__STATEMENT_MOVES 1000u

/* A merchant statement: what was asked, then what the ledger gave. */
typedef struct offpay__statement {
    /* asked: the merchant, [from, to] (from <= to), the terminal (0:
     * every one), and the lines listed only above presentment after */
    uint64_t merchant;
    uint32_t from, to;
    uint32_t terminal;
    uint64_t after;
    uint32_t now; /* the reader's clock: is the period final? */
    /* given: the lines listed (n, at most OFFPAY__STATEMENT_LINES; beyond
     * more left off), count and the totals of every line of the range */
    offpay_statement_line *lines;
    size_t                 n;
    uint64_t               count, beyond;
    int64_t                paid, covered, refunded;
    /* and of them: charged, paid later by the guarantee, owed by it now,
     * and unpaid, so that charged = paid + paid_later + owed + unpaid
     * (since 0.28.0) */
    int64_t charged, paid_later, owed, unpaid;
    /* the period's movements listed (at most OFFPAY__STATEMENT_MOVES) of
     * moves_count */
    offpay_account_transfer *moves;
    size_t                   n_moves;
    uint64_t                 moves_count;
    offpay_statement_account acct;
    /* the period's refused payments (offpay_ledger_refusals: a revoked
     * terminal's, a credential the ledger did not issue; paid nothing),
     * apart from the lines and their totals, of the terminal when asked:
     * the first
     * OFFPAY__STATEMENT_REFUSALS listed, all counted and their charges
     * summed; since 0.27.0 */
    offpay_refusal *refusals;
    size_t          n_refusals;
    uint64_t        refused_count;
    int64_t         refused_charged;
    /* of refused_count, those refused ENOT_ISSUED (a credential the
     * ledger did not issue; kept since 0.28.0); the rest ETERMINAL_REVOKED */
    uint64_t refused_not_issued;
} offpay__statement;
#define OFFPAY__STATEMENT_REFUSALS 100u

/*
 * offpay__statement_read — the statement s asks for (its merchant to
 * after set by the caller, the rest zero), read in one go with
 * offpay_ledger_statement_period: s's lines and moves are malloc'd,
 * freed by offpay__statement_free (also after a failure). Errors:
 * OFFPAY_EINVAL (from > to), OFFPAY_ENOMEM, and those of
 * offpay_ledger_statement_period (OFFPAY_ENOTFOUND: no such merchant).
 */
offpay_err offpay__statement_read(offpay_ledger *l, offpay__statement *s);
void       offpay__statement_free(offpay__statement *s);

/* What offpay__statement_read does with each movement the ledger gives
 * (ctx: the statement, its moves allocated): counts it and keeps the
 * period's earliest OFFPAY__STATEMENT_MOVES by time, then id, whatever
 * order they come in (a sharded ledger gives them shard after shard, each
 * shard's in order); then offpay__statement_moves_sort puts those kept
 * oldest first. Always 0. */
int  offpay__statement_move(const offpay_account_transfer *t, void *ctx);
void offpay__statement_moves_sort(offpay__statement *s);

/*
 * offpay__statement_terminal — whether terminal (from 1) is merchant's,
 * for a statement of that terminal alone (GET .../statement?terminal=N,
 * `offpay admin statement --terminal N`): OFFPAY_OK when it is;
 * OFFPAY_ENOTFOUND when it is no terminal or another merchant's, with
 * hint (room for OFFPAY__STATEMENT_HINT_MAX) naming it, the same words
 * for both: "terminal: no terminal 101", "terminal: terminal 1 is not
 * merchant 2's (it is merchant 1's)", so that a wrong mapping never reads
 * as "no sales"; else the errors of offpay_ledger_terminal (OFFPAY_EINVAL,
 * OFFPAY_ESTORE), hint "".
 */
#define OFFPAY__STATEMENT_HINT_MAX 128u
offpay_err offpay__statement_terminal(offpay_ledger *l, uint64_t merchant,
                                      uint32_t terminal, char *hint);

/* How far a terminal's clock at its report may be from offpayd's before
 * the operator is told (admin terminals --stale, /metrics'
 * offpayd_terminals_clock_off; the dashboard's CLOCK_OFF): a terminal's
 * default skew (protocol.md §5.4), as offpayd does not know its own. */
#define OFFPAY__CLOCK_OFF_MAX 120u

/* 1 when s is a terminal's label as offpay_ledger_terminal_label keeps
 * it: 1 to OFFPAY_TERMINAL_LABEL_MAX bytes of offpay__text_ok text, on
 * one line (no U+2028 or U+2029 either), without a space at either end;
 * else 0. */
int offpay__terminal_label_ok(const char *s);

/* 1 when s is a state as a terminal reports it (offpay_terminal_report):
 * "OK" or an error name, 1 to OFFPAY_TERMINAL_STATE_MAX - 1 capitals,
 * digits and '_' (what 028_terminal_state's column bounds); else 0. */
int offpay__terminal_state_ok(const char *s);

/* The warning a terminal's revocation answers (POST
 * /v1/admin/terminals/N/revoke, `offpay admin revoke-terminal`) when its
 * last sync reported payments not uploaded or not decided: into buf
 * (room for OFFPAY__REVOKE_WARNING_MAX), NULL when there is none. */
#define OFFPAY__REVOKE_WARNING_MAX 512u
const char *offpay__revoke_warning(uint64_t                      terminal_id,
                                   const offpay_terminal_report *rp, char *buf);

/* The warning a refund answers (POST /v1/admin/presentments/N/refund,
 * `offpay admin refund`) when its payer's part went into a wallet
 * account whose wallet was reported lost: the money lands there all the
 * same, and waits for its owner's new wallet or a payout. Into buf (room
 * for OFFPAY__REFUND_WARNING_MAX), NULL when there is none (nothing to
 * the payer, or the account not lost, or it cannot be read: best effort,
 * the refund is booked). (render.c) */
#define OFFPAY__REFUND_WARNING_MAX 400u
const char *offpay__refund_warning(offpay_ledger *l, const offpay_refund *f,
                                   char *buf);

/* The words for a withdrawal of amount from account id refused
 * OFFPAY_EFUNDS, into buf (room for OFFPAY__WITHDRAW_TEXT_MAX): the
 * balance read again at now and the amount asked; for a sharded
 * guarantee, that it is withdrawn from one part; for a wallet account whose
 * balance would do but for what it holds for late payments (settlement.md §6),
 * that part, until when, what may be withdrawn before then, and how to
 * take it all the same (take_held: "send \"take_held\": true" or "give
 * --take-held"); on a sharded ledger, a balance held in parts none of
 * which holds the amount. NULL when the account cannot be read.
 * (render.c) */
#define OFFPAY__WITHDRAW_TEXT_MAX 640u
const char *offpay__withdraw_refused(offpay_ledger *l, uint64_t id,
                                     int64_t amount, uint32_t now,
                                     const char *take_held, char *buf);

/* The warning a withdrawal from wallet account id answers while late
 * payments may still be taken from it (settlement.md §6), into buf (room
 * for OFFPAY__WITHDRAW_TEXT_MAX): 1 with the words in buf, 0 when there is
 * none, -1 when the account's row cannot be read (best effort: the
 * withdrawal is booked; the caller says nothing rather than "none").
 * (render.c) */
int offpay__withdraw_warning(offpay_ledger *l, uint64_t id, uint32_t now,
                             char *buf);
/* The warning every withdrawal from the guarantee of currency answers
 * (docs/operations.md, "Funding the guarantee"): what it holds now over
 * its shards and what it owes, and what an overspend then meets. The
 * same returns as offpay__withdraw_warning (-1: not read). (render.c) */
int offpay__guarantee_withdraw_warning(offpay_ledger *l, uint16_t currency,
                                       uint32_t now, char *buf);

/* Why no deposit or withdrawal is made into or out of account (of kind,
 * neither a wallet, a merchant nor a guarantee account), into buf (cap
 * bytes): "account N is an escrow account: only settlement moves its
 * money; ...". (render.c) */
void offpay__move_kind_refused(char *buf, size_t cap, uint64_t account,
                               offpay_account_kind kind);

/* 1 when text is 1 to max bytes of UTF-8 an operator reads on one line:
 * no control character, no invisible or bidirectional mark (what the
 * ledger keeps of a ref, a reason, a case's step). (ledger.c) */
int offpay__text_ok(const char *text, size_t max);

/* "account N is a KIND account: why" into buf (cap bytes), "an" before
 * escrow and unknown: the words for a request an account of that kind
 * cannot take. (render.c) */
void offpay__account_kind_hint(char *buf, size_t cap, uint64_t account,
                               offpay_account_kind kind, const char *why);

/* 1 when reason is what a terminal's revocation keeps
 * (offpay_ledger_terminal_revoke_why; `offpay admin revoke-terminal
 * --reason` checks it first): 1 to OFFPAY_LEDGER_REF_MAX bytes of UTF-8
 * without control or invisible format characters. (ledger.c) */
int offpay__revoke_reason_ok(const char *reason);

/* 1 when text is what a case's step keeps (offpay_ledger_case_act;
 * `offpay admin case` checks it first): 1 to OFFPAY_CASE_TEXT_MAX bytes of
 * UTF-8 without control or invisible format characters. (cases.c) */
int offpay__case_text_ok(const char *text);
/* The same for the name of who took it: 1 to OFFPAY_CASE_AUTHOR_MAX bytes. */
int offpay__case_author_ok(const char *author);

/* ---- the settlement report (report.c) -------------------------------- */

/* One merchant's figures over a period: its statement's lines summed
 * (payments uploaded in the period, whatever their outcome) and its
 * account's movements by their own time (acct: opening, by kind,
 * closing, as the statement gives them). In the currency's minor units. */
typedef struct offpay__report_row {
    uint64_t merchant;
    char     name[OFFPAY_NAME_MAX + 1];
    uint16_t currency;
    /* lines and refusals (offpay_ledger_refusals); of those refused (the
     * refusals, whose charges charged holds); late ones */
    uint64_t payments, rejected, late;
    int64_t  charged, paid, covered;   /* covered: of paid, the guarantee */
    int64_t  late_paid;  /* of paid, the late ones' (settlement.md §6) */
    int64_t  owed;       /* claims on the guarantee still open (§5) */
    int64_t  paid_later; /* paid by the guarantee since (claims) */
    int64_t  refunded;   /* of these payments, refunded whenever */
    /* charged that no one pays, now or later: the refused payments', the
     * part outside the guarantee's rules of one unpaid for it, a code
     * presented again whose first presentment was paid; so charged = paid
     * + paid_later + owed + unpaid (since 0.28.0) */
    int64_t                  unpaid;
    offpay_statement_account acct;
} offpay__report_row;

/* A currency's totals over the rows of a report. */
typedef struct offpay__report_total {
    uint16_t currency;
    uint64_t merchants, payments, rejected, late;
    int64_t  charged, paid, covered, late_paid, owed, paid_later, refunded,
        unpaid;
    int64_t  opening_balance, closing_balance;
    int64_t  settled, refunds, deposits, withdrawals, other;
} offpay__report_total;

/* Most merchants one page of the report lists (GET /v1/admin/report's
 * limit), and most currencies its totals tell apart. */
#define OFFPAY__REPORT_PAGE_MAX   1000u
#define OFFPAY__REPORT_CURRENCIES 64u

/* offpay__report_merchant — m's row over [from, to], read with its
 * statement's own read. Errors: OFFPAY_EINVAL, OFFPAY_EOVERFLOW (a sum),
 * those of offpay_ledger_statement_with. */
offpay_err offpay__report_merchant(offpay_ledger              *l,
                                   const offpay_merchant_info *m, uint32_t from,
                                   uint32_t to, offpay__report_row *row);

/* Adds row r to its currency's total among t[0..*n) (a new one at t[*n],
 * at most max). Errors: OFFPAY_ENOMEM (more than max currencies),
 * OFFPAY_EOVERFLOW. */
offpay_err offpay__report_total_add(offpay__report_total *t, size_t *n,
                                    size_t max, const offpay__report_row *r);

/* A row and a total as GET /v1/admin/report gives them (docs/api.md);
 * NULL: out of memory. */
json_t *offpay__report_row_json(const offpay__report_row *r);
json_t *offpay__report_total_json(const offpay__report_total *t);

/*
 * offpay__report_walk — each merchant with an id above after, ascending,
 * at most limit (from 1) of them: its row over [from, to] to each (an
 * error it returns stops the walk, which returns it). *last: the last
 * merchant given (0: none); *more: 1 when merchants follow it. Errors:
 * OFFPAY_EINVAL, each's, and those of offpay__report_merchant and
 * offpay_ledger_merchants.
 */
offpay_err offpay__report_walk(offpay_ledger *l, uint32_t from, uint32_t to,
                               uint64_t after, uint64_t limit,
                               offpay_err (*each)(const offpay__report_row *r,
                                                  void *ctx),
                               void *ctx, uint64_t *last, int *more);

/* The report's page as GET /v1/admin/report answers it (docs/api.md):
 * the merchants after `after`, at most limit, their rows, the totals per
 * currency of those rows, whether the period is final at now and whether
 * the page holds every merchant (`complete`), into *out. Errors as
 * offpay__report_walk. */
offpay_err offpay__report_page(offpay_ledger *l, uint32_t from, uint32_t to,
                               uint64_t after, uint64_t limit, uint32_t now,
                               json_t **out);

/* The statement as GET /v1/admin/merchants/N/statement answers it
 * (docs/api.md); NULL: out of memory. */
json_t *offpay__statement_json(const offpay__statement *s);

/* Most transfers, open claims and credentials one guarantee view lists
 * (its figures cover all). */
#define OFFPAY__GUARANTEE_MOVES  1000u
#define OFFPAY__GUARANTEE_CLAIMS 1000u
#define OFFPAY__GUARANTEE_LOSSES 1000u

/* The guarantee of one currency over a period (GET /v1/admin/guarantee,
 * `offpay admin guarantee`): what was asked, then what the ledger gave. */
typedef struct offpay__guarantee {
    uint16_t                currency;
    uint32_t                from, to;
    uint32_t                now; /* the reader's clock: is the period final? */
    offpay_guarantee_period g;
    /* what left it for merchants in the period (covered, claims paid) less
     * the refunds back: the period's loss as money moved, >= 0 unless
     * refunds of earlier payments outweigh it */
    int64_t paid_out_net;
    /* the period's transfers: the earliest OFFPAY__GUARANTEE_MOVES by
     * time then id, oldest first, of moves_count */
    offpay_account_transfer *moves;
    size_t                   n_moves;
    uint64_t                 moves_count;
    /* the claims open now, oldest first: the first
     * OFFPAY__GUARANTEE_CLAIMS of g.n_owed */
    offpay_open_claim *claims;
    size_t             n_claims;
    /* each listed claim's merchant's name, as claims (room for
     * OFFPAY_NAME_MAX + 1 each; "" when it could not be read) */
    char (*claim_names)[OFFPAY_NAME_MAX + 1];
    /* the loss to date on each credential the period's transfers or the
     * open claims name (offpay_ledger_credential), ascending by serial:
     * the first OFFPAY__GUARANTEE_LOSSES named (losses_more: more were) */
    offpay_ledger_cred_info *losses;
    size_t                   n_losses;
    int                      losses_more;
} offpay__guarantee;

/*
 * offpay__guarantee_read — the view g asks for (currency, from <= to and
 * now set by the caller, the rest zero), read with
 * offpay_ledger_guarantee_period and then offpay_ledger_credential for
 * each credential named; freed by offpay__guarantee_free (also after a
 * failure). Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_EOVERFLOW (a
 * paid_out_net beyond 64 bits), and those of the two.
 */
offpay_err offpay__guarantee_read(offpay_ledger *l, offpay__guarantee *g);
void       offpay__guarantee_free(offpay__guarantee *g);
/* Its JSON, the answer of GET /v1/admin/guarantee (docs/api.md). NULL:
 * out of memory. */
json_t *offpay__guarantee_json(const offpay__guarantee *g);

/* The balance sheet's JSON, the answer of GET /v1/admin/balances
 * (docs/api.md), final as read at now. NULL: out of memory. */
json_t *offpay__sheet_json(const offpay_balance_sheet *s, uint32_t now);

/* The ledger's digest of each shard (d[0..n)), the answer of GET
 * /v1/admin/digest (docs/api.md): {"shards": [{shard, upto, marked,
 * transfers, last_id, newest_at, digest (hex), actions: {until, count,
 * newest_at, digest} of a[k] (null when a is NULL)}]}. NULL: out of
 * memory. */
json_t *offpay__digest_json(const offpay_transfers_digest *d,
                            const offpay_actions_digest *a, size_t n);

#endif
