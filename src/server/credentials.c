/*
 * credentials.c — wallet credentials: POST /v1/admin/credentials issues
 * one for a wallet key, moving its limit from the wallet account into a
 * new escrow (offpay_ledger_issue_once: once under an Idempotency-Key,
 * a resend that asks another expires or allow_unbound refused;
 * at most OFFPAY_WIRE_AMOUNT_MAX minor units, srv_fail_credential_max);
 * GET /v1/admin/credentials/SERIAL shows
 * what the ledger holds about it; POST .../SERIAL/revoke revokes it.
 */
#include <sodium.h>

#include "core/amount_int.h"
#include "server/server.h"
#include "settle/render.h"

void srv_credential_new(srv_req *r, srv_reply *out)
{
    srv_value           v[SRV_N(srv_fields_credential)];
    json_t             *doc = NULL;
    char                hint[128];
    uint8_t             pk[OFFPAY_PK_BYTES];
    uint8_t             bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred  wc;
    int64_t             balance, limit = 0;
    offpay_account_kind kind;
    uint16_t            currency = 0;
    uint32_t            expires;
    uint8_t             flags;
    offpay_err          rc;
    int                 e, replayed = 0;
    const char         *key;

    if (srv_request_key(r, out, &key) != 0)
        return;
    e = srv_parse_object(r->body, r->body_len, srv_fields_credential,
                         SRV_N(srv_fields_credential), v, &doc, hint,
                         sizeof hint);
    if (e == 0 && srv_parse_key(v[1].s, pk) != 0) {
        e = SRV_E_BAD_FIELD;
        snprintf(hint, sizeof hint, "wallet_key: 64 lowercase hex digits");
    }
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        goto out;
    }
    rc = offpay_ledger_balance(r->l, v[0].u, &balance, &kind, &currency);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine_hint(out, rc, "account %llu: no such account",
                             (unsigned long long)v[0].u);
        goto out;
    }
    if (rc == OFFPAY_OK && kind != OFFPAY_ACCOUNT_WALLET) {
        offpay__account_kind_hint(hint, sizeof hint, v[0].u, kind,
                                  "credentials are issued from a wallet "
                                  "account");
        srv_fail_engine_hint(out, OFFPAY_EINVAL, "%s", hint);
        goto out;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "account");
        goto out;
    }
    rc = offpay_amount_parse(v[2].s, currency, &limit);
    if (rc != OFFPAY_OK || limit <= 0) {
        srv_fail_amount(out, rc, "limit", v[2].s, currency);
        goto out;
    }
    if (limit > OFFPAY_WIRE_AMOUNT_MAX) { /* a credential's limit is a u32 */
        srv_fail_credential_max(out, "limit", currency);
        goto out;
    }
    if (srv_fail_expires_past(out, v[3].present, (uint32_t)v[3].u, r->now))
        goto out;
    expires = v[3].present ? (uint32_t)v[3].u : r->now + SRV_CRED_LIFETIME;
    flags = (!v[4].present || v[4].b) ? OFFPAY_CRED_ALLOW_UNBOUND : 0;
    rc = offpay_ledger_issue_once(r->l, key, v[0].u, pk, limit, flags,
                                  expires, r->now, bytes, &wc, &replayed);
    /* a replay whose expires, as sent, is not the first one's (the
     * default term moves with the clock: compared only when sent); the
     * ledger compares the flags. Nothing was made. */
    if (rc == OFFPAY_OK && replayed && v[3].present &&
        !offpay_ledger_issue_expires_is(r->l, &wc, expires))
        rc = OFFPAY_EEXISTS;
    if (rc == OFFPAY_EEXISTS && key != NULL) {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_REUSED,
                 "this Idempotency-Key was used for a different request "
                 "(another account, wallet key, limit, expires or "
                 "allow_unbound): nothing was done");
        goto out;
    }
    if (rc == OFFPAY_EWALLET_LOST) {
        srv_fail_wallet_lost(r, out, pk);
        goto out;
    }
    if (rc == OFFPAY_EWALLET_CASE) {
        srv_fail_wallet_case(r, out, pk);
        goto out;
    }
    if (rc == OFFPAY_EFUNDS) {
        srv_fail_funds(r, out, "issue", v[0].u, limit);
        goto out;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "issue");
        goto out;
    }
    {
        char amt[OFFPAY__MONEY_TEXT_MAX], hex[2 * 8 + 1], until[32];

        sodium_bin2hex(hex, sizeof hex, pk, 8);
        srv_iso_time(wc.expires, until);
        srv_log_request(r, replayed,
                        "credential issued from account %llu, limit %s, "
                        "wallet key %s..., expires %s: serial %llu",
                        (unsigned long long)v[0].u,
                        offpay__money_text(wc.limit, wc.currency, amt), hex,
                        until, (unsigned long long)wc.serial);
    }
    srv_ok(out, srv_credential_json(&wc, bytes, key != NULL, replayed));
out:
    json_decref(doc);
}

/* A wallet key reported lost (OFFPAY_EWALLET_LOST, 409): the hint names
 * the key, its account and the revocation's time, and says how its owner
 * gets a credential again (docs/settlement.md §12). */
void srv_fail_wallet_lost(srv_req *r, srv_reply *out,
                          const uint8_t pk[OFFPAY_PK_BYTES])
{
    offpay_ledger_wallet_info w;
    char                      hex[2 * 8 + 1];

    sodium_bin2hex(hex, sizeof hex, pk, 8);
    if (offpay_ledger_wallet_get(r->l, pk, 0, &w) != OFFPAY_OK) {
        srv_fail_engine_hint(out, OFFPAY_EWALLET_LOST, "wallet key %s...: %s",
                             hex, offpay_strerror(OFFPAY_EWALLET_LOST));
        return;
    }
    srv_fail_engine_hint(
        out, OFFPAY_EWALLET_LOST,
        "wallet key %s... of account %llu was reported lost at %lu: no "
        "credential any more; enroll its owner's new key with a code from "
        "offpay admin enroll-code --account %llu (POST /v1/admin/wallets/"
        "%llu/enrollment)",
        hex, (unsigned long long)w.account, (unsigned long)w.revoked_at,
        (unsigned long long)w.account, (unsigned long long)w.account);
}

void srv_fail_funds(srv_req *r, srv_reply *out, const char *what,
                    uint64_t account, int64_t limit)
{
    offpay_account_kind kind;
    uint16_t            cur = 0;
    int64_t             bal = 0, held = 0;
    uint32_t            until = 0;
    char                b[OFFPAY_AMOUNT_TEXT_MAX], h[OFFPAY_AMOUNT_TEXT_MAX];
    char                want[OFFPAY_AMOUNT_TEXT_MAX], when[32];

    if (offpay_ledger_balance(r->l, account, &bal, &kind, &cur) != OFFPAY_OK ||
        offpay_ledger_late_hold(r->l, account, r->now, &held, &until) !=
            OFFPAY_OK ||
        offpay_amount_format(bal, cur, b, sizeof b) != OFFPAY_OK ||
        offpay_amount_format(held, cur, h, sizeof h) != OFFPAY_OK ||
        offpay_amount_format(limit, cur, want, sizeof want) != OFFPAY_OK) {
        srv_fail_engine(out, OFFPAY_EFUNDS, what);
        return;
    }
    if (held == 0) {
        srv_fail_engine_hint(out, OFFPAY_EFUNDS,
                             "%s: the limit %s %s is above account %llu's "
                             "balance of %s %s",
                             what, want, offpay_currency_alpha(cur),
                             (unsigned long long)account, b,
                             offpay_currency_alpha(cur));
        return;
    }
    srv_iso_time(until, when);
    srv_fail_engine_hint(
        out, OFFPAY_EFUNDS,
        "%s: the limit %s %s is above what account %llu may fund: of its "
        "balance of %s %s, %s came back from released escrows and is held "
        "until %s for their codes still to be uploaded late "
        "(docs/settlement.md §6); a deposit funds a credential at once",
        what, want, offpay_currency_alpha(cur), (unsigned long long)account, b,
        offpay_currency_alpha(cur), h, when);
}

void srv_fail_credential_max(srv_reply *out, const char *what,
                             uint16_t currency)
{
    char most[OFFPAY__MONEY_TEXT_MAX];

    srv_fail_engine_hint(
        out, OFFPAY_EAMOUNT,
        "%s: at most %s, the largest limit a credential carries", what,
        offpay__money_text(OFFPAY_WIRE_AMOUNT_MAX, currency, most));
}

json_t *srv_credential_json(const offpay_wallet_cred *wc,
                            const uint8_t bytes[OFFPAY_WALLET_CRED_BYTES],
                            int keyed, int replayed)
{
    json_t *j = json_pack(
        "{s:o, s:o, s:I, s:I, s:b, s:o}", "serial", srv_json_id(wc->serial),
        "limit", srv_json_amount(wc->limit, wc->currency), "valid_from",
        (json_int_t)wc->valid_from, "expires", (json_int_t)wc->expires,
        "allow_unbound", (wc->flags & OFFPAY_CRED_ALLOW_UNBOUND) != 0,
        "credential", srv_json_b64(bytes, OFFPAY_WALLET_CRED_BYTES));

    if (j != NULL && keyed &&
        json_object_set_new(j, "replayed", json_boolean(replayed)) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

void srv_credential_get(srv_req *r, srv_reply *out)
{
    json_t    *j = NULL;
    uint64_t   serial;
    offpay_err rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &serial) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "serial: a decimal id from 1");
        return;
    }
    /* the rendering offpay admin credential --json shares */
    rc = offpay__credential_json(r->l, serial, &j);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "credential");
        return;
    }
    srv_ok(out, j);
}

void srv_credential_revoke(srv_req *r, srv_reply *out)
{
    srv_value               v[SRV_N(srv_fields_revoke)];
    json_t                 *doc = NULL;
    char                    hint[128];
    uint64_t                serial;
    offpay_ledger_cred_info before;
    offpay_err              rc;
    int                     e, was_revoked;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &serial) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "serial: a decimal id from 1");
        return;
    }
    v[0].present = 0;
    if (r->body_len != 0) {
        e = srv_parse_object(r->body, r->body_len, srv_fields_revoke,
                             SRV_N(srv_fields_revoke), v, &doc, hint,
                             sizeof hint);
        if (e != 0) {
            srv_fail(out, (srv_err)e, hint);
            return;
        }
    }
    /* revoked before (in whatever second): the ledger keeps the first
     * time and reason, and the log says nothing changed */
    was_revoked =
        offpay_ledger_credential(r->l, serial, &before) == OFFPAY_OK &&
        before.revoked;
    rc = offpay_ledger_revoke(r->l, serial, v[0].present ? v[0].s : "operator",
                              r->now);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "revocation");
    } else if (was_revoked) {
        char when[32];

        srv_iso_time(before.revoked_at, when);
        srv_log_request(r, 0,
                        "credential %llu already revoked at %s: nothing "
                        "changed (its first reason kept)",
                        (unsigned long long)serial, when);
        srv_ok(out, json_pack("{s:o, s:b}", "serial", srv_json_id(serial),
                              "revoked", 1));
    } else {
        char why[SRV_REF_MAX + 1];

        srv_log_text(v[0].present ? v[0].s : "operator", why, sizeof why);
        srv_log_request(r, 0, "credential %llu revoked (reason \"%s\")",
                        (unsigned long long)serial, why);
        srv_ok(out, json_pack("{s:o, s:b}", "serial", srv_json_id(serial),
                              "revoked", 1));
    }
    json_decref(doc);
}

#define CASES_SHOWN 16
#define HINT_CASES  4

/* server.h */
json_t *srv_wallet_cases_json(srv_req *r, const uint8_t pk[OFFPAY_PK_BYTES])
{
    uint64_t ids[CASES_SHOWN];
    size_t   n = 0;
    json_t  *a = json_array();

    if (a == NULL ||
        offpay_ledger_wallet_cases(r->l, pk, ids, CASES_SHOWN, &n) != OFFPAY_OK)
        return a;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(a, srv_json_id(ids[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* server.h */
void srv_fail_wallet_case(srv_req *r, srv_reply *out,
                          const uint8_t pk[OFFPAY_PK_BYTES])
{
    offpay_ledger_wallet_info w;
    uint64_t                  ids[HINT_CASES + 1];
    size_t                    n = 0, len = 0;
    char                      hex[2 * 8 + 1], list[HINT_CASES * 22 + 8];

    /* the hint has room for a few: GET /v1/admin/wallets/N lists more */
    sodium_bin2hex(hex, sizeof hex, pk, 8);
    snprintf(list, sizeof list, "?");
    if (offpay_ledger_wallet_cases(r->l, pk, ids, HINT_CASES + 1, &n) !=
        OFFPAY_OK)
        n = 0;
    for (size_t i = 0; i < n && i < HINT_CASES; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%llu",
                                i > 0 ? ", " : "", (unsigned long long)ids[i]);
    if (n > HINT_CASES)
        snprintf(list + len, sizeof list - len, ", ...");
    if (offpay_ledger_wallet_get(r->l, pk, 0, &w) != OFFPAY_OK) {
        /* a key never enrolled (the operator's own wallet) */
        srv_fail_engine_hint(
            out, OFFPAY_EWALLET_CASE,
            "wallet key %s...: double-spend/overspend case(s) %s (a copy "
            "paid too): no credential any more; issue one to a new key after "
            "review",
            hex, list);
        return;
    }
    srv_fail_engine_hint(
        out, OFFPAY_EWALLET_CASE,
        "wallet key %s... of account %llu: double-spend/overspend case(s) %s "
        "(a copy paid too): no credential any more; after review revoke it "
        "(POST /v1/admin/wallets/%llu/revoke), then enroll a new key "
        "(offpay admin enroll-code --account %llu)",
        hex, (unsigned long long)w.account, list, (unsigned long long)w.account,
        (unsigned long long)w.account);
}
