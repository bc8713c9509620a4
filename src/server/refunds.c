/*
 * refunds.c — POST /v1/admin/presentments/ID/refund: the merchant gives
 * back part or all of what a presentment was paid (docs/settlement.md
 * §13), made once under an Idempotency-Key as a deposit is.
 */
#include "core/amount_int.h"
#include "server/server.h"
#include "settle/render.h"

static json_t *refund_json(const offpay_refund *f, int replayed,
                           const char *warning)
{
    uint16_t cur = f->currency;

    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o?, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:o, s:o}",
        "presentment", srv_json_id(f->presentment), "amount",
        srv_json_amount(f->amount, cur), "to_guarantee",
        srv_json_amount(f->to_guarantee, cur), "to_wallet",
        srv_json_amount(f->to_wallet, cur), "merchant_account",
        srv_json_id(f->merchant_account), "wallet_account",
        srv_json_id(f->wallet_account), "guarantee_account",
        f->guarantee_account != 0 ? srv_json_id(f->guarantee_account) : NULL,
        "transfer", srv_json_id(f->transfer), "deposited",
        srv_json_amount(f->deposited, cur), "paid",
        srv_json_amount(f->paid, cur), "covered",
        srv_json_amount(f->covered, cur), "refunded",
        srv_json_amount(f->refunded, cur), "refundable",
        srv_json_amount(f->paid - f->refunded, cur), "replayed",
        json_boolean(replayed), "warning",
        warning != NULL ? json_string(warning) : json_null());
}

void srv_refund(srv_req *r, srv_reply *out)
{
    srv_value v[SRV_N(srv_fields_refund)];
    json_t   *doc = NULL;
    char      hint[128], a[OFFPAY_AMOUNT_TEXT_MAX], b[OFFPAY_AMOUNT_TEXT_MAX];
    uint64_t  id;
    int64_t   amount = 0;
    offpay_refund st, f;
    const char   *key;
    offpay_err    rc;
    int           e, replayed = 0;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "presentment: a decimal id from 1");
        return;
    }
    if (srv_request_key(r, out, &key) != 0)
        return;
    e = srv_parse_object(r->body, r->body_len, srv_fields_refund,
                         SRV_N(srv_fields_refund), v, &doc, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    /* the amount is in the presentment's currency */
    rc = offpay_ledger_refund_state(r->l, id, &st);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "presentment");
        goto out;
    }
    rc = offpay_amount_parse(v[0].s, st.currency, &amount);
    if (rc != OFFPAY_OK || amount <= 0) {
        srv_fail_amount(out, rc, "amount", v[0].s, st.currency);
        goto out;
    }
    rc = offpay_ledger_refund(r->l, id, amount, v[2].present && v[2].b,
                              v[1].present ? v[1].s : "", key, r->now, &f,
                              &replayed);
    if (rc == OFFPAY_OK) {
        char ref[SRV_REF_MAX + 1];

        char amt[OFFPAY__MONEY_TEXT_MAX];

        srv_log_text(v[1].present ? v[1].s : "", ref, sizeof ref);
        srv_log_request(r, replayed,
                        "refund %s of presentment %llu from merchant "
                        "account %llu to wallet account %llu%s (ref \"%s\"): "
                        "transfer %llu",
                        offpay__money_text(f.amount, f.currency, amt),
                        (unsigned long long)id,
                        (unsigned long long)f.merchant_account,
                        (unsigned long long)f.wallet_account,
                        v[2].present && v[2].b ? ", funded" : "", ref,
                        (unsigned long long)f.transfer);
        char why[OFFPAY__REFUND_WARNING_MAX];

        srv_metrics_refund(replayed);
        srv_ok(out, refund_json(&f, replayed,
                                offpay__refund_warning(r->l, &f, why)));
    } else if (rc == OFFPAY_EEXISTS && key != NULL) {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_REUSED, NULL);
    } else if (rc == OFFPAY_EOVER_REFUND &&
               offpay_ledger_refund_state(r->l, id, &st) == OFFPAY_OK) {
        offpay_amount_format(st.paid - st.refunded, st.currency, a, sizeof a);
        offpay_amount_format(st.paid, st.currency, b, sizeof b);
        srv_fail_engine_hint(out, rc,
                             "refund: %s remains to refund of the %s %s "
                             "paid for presentment %llu",
                             a, b, offpay_currency_alpha(st.currency),
                             (unsigned long long)id);
    } else if (rc == OFFPAY_EFUNDS) {
        char asked[OFFPAY__MONEY_TEXT_MAX];

        srv_fail_engine_hint(out, rc,
                             "refund: merchant account %llu holds less than "
                             "the %s refund (its money was paid out; on a "
                             "sharded ledger, its part on the payment's "
                             "shard): nothing was refunded; send it with "
                             "\"funded\":true once the merchant paid the "
                             "amount in",
                             (unsigned long long)st.merchant_account,
                             offpay__money_text(amount, st.currency, asked));
    } else {
        srv_fail_engine(out, rc, "refund");
    }
out:
    json_decref(doc);
}
