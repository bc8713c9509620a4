/*
 * wallet_online.c — the wallet's and the terminal's online life
 * (docs/api.md, "Wallet online" and "Terminal lifecycle";
 * docs/settlement.md §12):
 *   POST /v1/admin/enrollments          a one-time enrollment code
 *   GET  /v1/admin/wallets/ACCOUNT      an enrolled wallet
 *   POST /v1/admin/wallets/ACCOUNT/revoke   the operator revokes a lost one
 *   POST /v1/wallet/enroll              a wallet key uses a code
 *   POST /v1/wallet/status              its account and the credentials
 *                                       it can still need
 *   POST /v1/wallet/credentials         every credential, a page at a time
 *   POST /v1/wallet/allowance           a new credential from its account
 *   POST /v1/wallet/restore-floor       a restored copy's counters
 *   POST /v1/wallet/revoke              the owner revokes a lost wallet
 *   POST /v1/terminal/rotate            a terminal's new key
 *   POST /v1/terminal/decommission      a terminal revokes itself
 * Wallet requests are signed by the wallet's key, terminal requests by the
 * terminal's (auth.c). Also the bodies' strict parsers (fuzzed:
 * fuzz/fuzz_server_wallet_online.c).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amount_int.h"
#include "server/server.h"

/* ---- the bodies ----------------------------------------------------- */

static const srv_field fields_enrollment[3] = {
    {"currency", SRV_FT_STRING, 1, 3},
    {"ref", SRV_FT_TEXT, 0, SRV_REF_MAX},
    {"expires", SRV_FT_UINT, 0, UINT32_MAX},
};
static const srv_field fields_enroll[1] = {
    {"code", SRV_FT_STRING, 1, OFFPAY_ENROLL_CODE_CHARS},
};
static const srv_field fields_allowance[4] = {
    {"amount", SRV_FT_AMOUNT, 1, 31},
    {"expires", SRV_FT_UINT, 0, UINT32_MAX},
    {"allow_unbound", SRV_FT_BOOL, 0, 0},
    {"request_id", SRV_FT_STRING, 0, OFFPAY_REQUEST_KEY_MAX},
};
static const srv_field fields_rotate[4] = {
    {"terminal_key", SRV_FT_STRING, 1, 64},
    {"expires", SRV_FT_UINT, 0, UINT32_MAX},
    /* both optional here only to answer their absence with their own hint */
    {"key_signature", SRV_FT_STRING, 0, OFFPAY__HTTP_SIG_TEXT - 1},
    {"sums_carried", SRV_FT_BOOL, 0, 1},
};
static const srv_field fields_reason[1] = {
    {"reason", SRV_FT_TEXT, 0, SRV_REF_MAX},
};
static const srv_field fields_serial[1] = {
    {"serial", SRV_FT_ID, 1, SRV_ID_MAX},
};
static const srv_field fields_expires[1] = {
    {"expires", SRV_FT_UINT, 0, UINT32_MAX},
};
static const srv_field fields_wallet_creds[3] = {
    {"after", SRV_FT_ID, 0, INT64_MAX},
    {"limit", SRV_FT_UINT, 0, OFFPAY_LEDGER_CREDS_PAGE_MAX},
    {"open", SRV_FT_BOOL, 0, 1},
};

static int bad(char *hint_buf, size_t hint_cap, const char *what)
{
    snprintf(hint_buf, hint_cap, "%s", what);
    return SRV_E_BAD_FIELD;
}

int srv_parse_enrollment(const uint8_t *body, size_t len,
                         srv_enrollment_body *out, char *hint_buf,
                         size_t hint_cap)
{
    srv_value v[SRV_N(fields_enrollment)];
    json_t   *doc = NULL;
    int       e;

    memset(out, 0, sizeof *out);
    e = srv_parse_object(body, len, fields_enrollment, SRV_N(fields_enrollment),
                         v, &doc, hint_buf, hint_cap);
    if (e == 0 &&
        offpay_currency_from_alpha(v[0].s, &out->currency) != OFFPAY_OK) {
        char words[128];

        srv_currency_words(v[0].s, words, sizeof words);
        e = bad(hint_buf, hint_cap, words);
    }
    if (e == 0 && v[1].present)
        snprintf(out->ref, sizeof out->ref, "%s", v[1].s);
    if (e == 0 && v[2].present) {
        if (v[2].u == 0)
            e = bad(hint_buf, hint_cap, "expires: a unix time");
        out->expires = (uint32_t)v[2].u;
    }
    json_decref(doc);
    if (e != 0)
        memset(out, 0, sizeof *out);
    return e;
}

int srv_parse_enroll(const uint8_t *body, size_t len,
                     char code[OFFPAY_ENROLL_CODE_CHARS + 1], char *hint_buf,
                     size_t hint_cap)
{
    srv_value v[SRV_N(fields_enroll)];
    json_t   *doc = NULL;
    int       e;

    code[0] = '\0';
    e = srv_parse_object(body, len, fields_enroll, SRV_N(fields_enroll), v,
                         &doc, hint_buf, hint_cap);
    if (e == 0 && !offpay_ledger_enroll_code_ok(v[0].s))
        e = bad(hint_buf, hint_cap, "code: 24 lowercase hex digits");
    else if (e == 0)
        memcpy(code, v[0].s, OFFPAY_ENROLL_CODE_CHARS + 1);
    json_decref(doc);
    return e;
}

int srv_parse_allowance(const uint8_t *body, size_t len,
                        srv_allowance_body *out, char *hint_buf,
                        size_t hint_cap)
{
    srv_value v[SRV_N(fields_allowance)];
    json_t   *doc = NULL;
    int       e;

    memset(out, 0, sizeof *out);
    out->allow_unbound = 1;
    e = srv_parse_object(body, len, fields_allowance, SRV_N(fields_allowance),
                         v, &doc, hint_buf, hint_cap);
    if (e == 0) {
        snprintf(out->amount, sizeof out->amount, "%s", v[0].s);
        if (v[1].present && v[1].u == 0)
            e = bad(hint_buf, hint_cap, "expires: a unix time");
        out->expires = v[1].present ? (uint32_t)v[1].u : 0;
        out->allow_unbound = !v[2].present || v[2].b;
        if (e == 0 && v[3].present && !offpay_ledger_request_key_ok(v[3].s))
            e = bad(hint_buf, hint_cap,
                    "request_id: 1 to 64 printable ASCII characters, no space");
        else if (v[3].present)
            snprintf(out->request_id, sizeof out->request_id, "%s", v[3].s);
    }
    json_decref(doc);
    return e;
}

int srv_parse_rotate(const uint8_t *body, size_t len, srv_rotate_body *out,
                     char *hint_buf, size_t hint_cap)
{
    srv_value v[SRV_N(fields_rotate)];
    json_t   *doc = NULL;
    int       e;

    memset(out, 0, sizeof *out);
    e = srv_parse_object(body, len, fields_rotate, SRV_N(fields_rotate), v,
                         &doc, hint_buf, hint_cap);
    if (e == 0 && srv_parse_key(v[0].s, out->pk) != 0)
        e = bad(hint_buf, hint_cap, "terminal_key: 64 lowercase hex digits");
    if (e == 0 && v[1].present) {
        if (v[1].u == 0)
            e = bad(hint_buf, hint_cap, "expires: a unix time");
        out->expires = (uint32_t)v[1].u;
    }
    /* an older terminal sends no proof: told what to do about it */
    if (e == 0 && !v[2].present)
        e = bad(hint_buf, hint_cap,
                "key_signature missing: since 0.13.0 a rotation carries the "
                "new key's signature of it, which this terminal's offpay is "
                "too old to make; upgrade offpay and run the rotation again");
    if (e == 0 && (v[2].s == NULL || !offpay__sig_b64(v[2].s, out->sig)))
        e = bad(hint_buf, hint_cap,
                "key_signature: a signature in base64 with padding (88 "
                "characters)");
    /* A terminal that does not say it carries its sums into the new one
     * (an offpay older than 0.16.0 carries none): the guarantee sums the
     * lineage (settlement.md §5), so such a new terminal would accept
     * what is then left unpaid. Nothing is registered. */
    if (e == 0 && !v[3].present)
        e = bad(hint_buf, hint_cap,
                "sums_carried missing: since 0.16.0 a rotation carries the "
                "terminal's per-credential sums into the new terminal and "
                "says so, which this terminal's offpay is too old to do; "
                "upgrade offpay and run the rotation again");
    if (e == 0 && !v[3].b)
        e = bad(hint_buf, hint_cap,
                "sums_carried: true (the new terminal goes on from this "
                "one's per-credential sums); a rotation that does not carry "
                "them is not made");
    out->sums_carried = e == 0;
    json_decref(doc);
    if (e != 0)
        memset(out, 0, sizeof *out);
    return e;
}

int srv_parse_reason(const uint8_t *body, size_t len, char *reason, size_t cap,
                     char *hint_buf, size_t hint_cap)
{
    srv_value v[SRV_N(fields_reason)];
    json_t   *doc = NULL;
    int       e;

    if (cap > 0)
        reason[0] = '\0';
    if (len == 0)
        return 0;
    e = srv_parse_object(body, len, fields_reason, SRV_N(fields_reason), v,
                         &doc, hint_buf, hint_cap);
    if (e == 0 && v[0].present && cap > 0)
        snprintf(reason, cap, "%s", v[0].s);
    json_decref(doc);
    return e;
}

int srv_parse_expires(const uint8_t *body, size_t len, uint32_t *expires,
                      char *hint_buf, size_t hint_cap)
{
    srv_value v[SRV_N(fields_expires)];
    json_t   *doc = NULL;
    int       e;

    *expires = 0;
    if (len == 0)
        return 0;
    e = srv_parse_object(body, len, fields_expires, SRV_N(fields_expires), v,
                         &doc, hint_buf, hint_cap);
    if (e == 0 && v[0].present && v[0].u == 0)
        e = bad(hint_buf, hint_cap, "expires: a unix time");
    if (e == 0 && v[0].present)
        *expires = (uint32_t)v[0].u;
    json_decref(doc);
    return e;
}

int srv_parse_serial(const uint8_t *body, size_t len, uint64_t *serial,
                     char *hint_buf, size_t hint_cap)
{
    srv_value v[SRV_N(fields_serial)];
    json_t   *doc = NULL;
    int       e;

    *serial = 0;
    e = srv_parse_object(body, len, fields_serial, SRV_N(fields_serial), v,
                         &doc, hint_buf, hint_cap);
    if (e == 0 && v[0].u == 0)
        e = bad(hint_buf, hint_cap, "serial: a credential's serial");
    if (e == 0)
        *serial = v[0].u;
    json_decref(doc);
    return e;
}

int srv_parse_wallet_creds(const uint8_t *body, size_t len,
                           srv_wallet_creds_body *out, char *hint_buf,
                           size_t hint_cap)
{
    srv_value v[SRV_N(fields_wallet_creds)];
    json_t   *doc = NULL;
    int       e;

    memset(out, 0, sizeof *out);
    out->limit = OFFPAY_LEDGER_CREDS_PAGE_MAX;
    if (len == 0)
        return 0;
    e = srv_parse_object(body, len, fields_wallet_creds,
                         SRV_N(fields_wallet_creds), v, &doc, hint_buf,
                         hint_cap);
    if (e == 0 && v[1].present && v[1].u == 0)
        e = bad(hint_buf, hint_cap, "limit: 1 to 500 credentials a page");
    if (e == 0) {
        out->after = v[0].present ? v[0].u : 0;
        if (v[1].present)
            out->limit = (size_t)v[1].u;
        out->open = v[2].present && v[2].b;
    }
    json_decref(doc);
    if (e != 0) {
        memset(out, 0, sizeof *out);
        out->limit = OFFPAY_LEDGER_CREDS_PAGE_MAX;
    }
    return e;
}

int srv_parse_empty(const uint8_t *body, size_t len, char *hint_buf,
                    size_t hint_cap)
{
    srv_value none[1];
    json_t   *doc = NULL;
    int       e;

    if (len == 0)
        return 0;
    e = srv_parse_object(body, len, fields_reason, 0, none, &doc, hint_buf,
                         hint_cap);
    json_decref(doc);
    return e;
}

/* ---- authentication ------------------------------------------------- */

/* Any key with an enrollment code it may use: enrolling is what makes a
 * wallet known. Checked before the nonce is taken, so that a request with
 * a made-up code writes nothing. */
struct enroll_auth {
    const char *code;
    offpay_err  rc; /* the check's answer */
};

static offpay_err find_enrollable(srv_req                 *r,
                                  const uint8_t pk[OFFPAY_PK_BYTES], void *ctx)
{
    struct enroll_auth *e = ctx;

    e->rc = offpay_ledger_enroll_check(r->l, pk, e->code, r->now);
    return e->rc;
}

/* An enrolled wallet key (revoked ones included), into ctx. */
static offpay_err find_enrolled(srv_req *r, const uint8_t pk[OFFPAY_PK_BYTES],
                                void *ctx)
{
    return offpay_ledger_wallet_get(r->l, pk, 0, ctx);
}

static const srv_signer_kind enrollable_kind = {
    find_enrollable, SRV_E_ENROLL_CODE_UNKNOWN, "enrollment"};
static const srv_signer_kind enrolled_kind = {find_enrolled, SRV_E_NOT_ENROLLED,
                                              "wallet look-up"};

/* Authenticates a request signed by an enrolled wallet into *w; a
 * revoked one is refused unless allow_revoked. 0, or -1 with out set. */
static int auth_wallet(srv_req *r, offpay_ledger_wallet_info *w,
                       int allow_revoked, srv_reply *out)
{
    if (srv_auth_signed(r, &enrolled_kind, w, NULL, out) != 0)
        return -1;
    if (w->revoked && !allow_revoked) {
        srv_fail(out, SRV_E_WALLET_REVOKED, NULL);
        return -1;
    }
    return 0;
}

/* ---- rendering ------------------------------------------------------ */

/* The wallet w; "cases": the double_spend and overspend cases against its
 * key's credentials, which stop its allowances (settlement.md §12). */
static json_t *wallet_json(srv_req *r, const offpay_ledger_wallet_info *w)
{
    return json_pack(
        "{s:o, s:o, s:s, s:o, s:I, s:b, s:I, s:o}", "wallet_key",
        srv_json_hex(w->pk, sizeof w->pk), "account", srv_json_id(w->account),
        "currency", offpay_currency_alpha(w->currency), "balance",
        srv_json_amount(w->balance, w->currency), "enrolled_at",
        (json_int_t)w->enrolled_at, "revoked", w->revoked, "revoked_at",
        (json_int_t)w->revoked_at, "cases", srv_wallet_cases_json(r, w->pk));
}

static json_t *cred_json(const offpay_ledger_wallet_cred *c)
{
    const offpay_ledger_cred_info *i = &c->info;

    return json_pack(
        "{s:o, s:o, s:o, s:I, s:I, s:b, s:b, s:I, s:o, s:I, s:I, s:I, s:o?}",
        "serial", srv_json_id(i->serial), "limit",
        srv_json_amount(i->limit, i->currency), "remaining",
        srv_json_amount(i->remaining, i->currency), "valid_from",
        (json_int_t)i->valid_from, "expires", (json_int_t)i->expires, "revoked",
        i->revoked, "released", i->released, "released_at",
        (json_int_t)i->released_at, "released_amount",
        srv_json_amount(i->released_amount, i->currency), "release_due",
        (json_int_t)i->release_due, "late_until", (json_int_t)i->late_until,
        "max_counter", (json_int_t)c->max_counter, "credential",
        c->len ? srv_json_b64(c->bytes, c->len) : NULL);
}

/* ---- operator endpoints --------------------------------------------- */

/* The code's fingerprint for the log (8 hex digits of its BLAKE2b): names
 * the code to whoever holds it, and tells nobody else the code. */
static void code_print(const char *code, char hex[9])
{
    uint8_t h[16];

    crypto_generichash(h, sizeof h, (const uint8_t *)code, strlen(code), NULL,
                       0);
    sodium_bin2hex(hex, 9, h, 4);
}

void srv_enrollment_new(srv_req *r, srv_reply *out)
{
    srv_enrollment_body b;
    char                hint[128];
    char                code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint32_t            expires;
    offpay_err          rc;
    int                 e;

    e = srv_parse_enrollment(r->body, r->body_len, &b, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (srv_fail_expires_past(out, b.expires != 0, b.expires, r->now))
        return;
    expires = b.expires ? b.expires : r->now + OFFPAY_ENROLL_LIFETIME;
    rc = offpay_ledger_enrollment_add(r->l, b.currency, b.ref, expires, r->now,
                                      code);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "enrollment code");
        return;
    }
    {
        char ref[SRV_REF_MAX + 1], fp[9], until[32];

        srv_log_text(b.ref, ref, sizeof ref);
        code_print(code, fp);
        srv_iso_time(expires, until);
        srv_log_request(r, 0,
                        "enrollment code for a new account (%s, ref \"%s\", "
                        "expires %s): code fingerprint %s",
                        offpay_currency_alpha(b.currency), ref, until, fp);
    }
    srv_ok(out, json_pack("{s:s, s:s, s:I}", "code", code, "currency",
                          offpay_currency_alpha(b.currency), "expires",
                          (json_int_t)expires));
    sodium_memzero(code, sizeof code);
}

/* A code for the owner of the lost wallet of the path's account: the new
 * wallet that enrolls with it takes the account (settlement.md §12). */
void srv_admin_wallet_enrollment(srv_req *r, srv_reply *out)
{
    char       hint[128];
    char       code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint64_t   account;
    uint32_t   expires;
    uint16_t   currency = 0;
    offpay_err rc;
    int        e;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &account) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "account: a decimal id from 1");
        return;
    }
    e = srv_parse_expires(r->body, r->body_len, &expires, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (srv_fail_expires_past(out, expires != 0, expires, r->now))
        return;
    if (expires == 0)
        expires = r->now + OFFPAY_ENROLL_LIFETIME;
    rc = offpay_ledger_enrollment_for(r->l, account, expires, r->now, code,
                                      &currency);
    if (rc == OFFPAY_EEXISTS)
        srv_fail_engine_hint(out, rc,
                             "its wallet is not revoked: a code for an "
                             "account is for the owner of a lost wallet "
                             "(revoke it first: POST /v1/admin/wallets/N/"
                             "revoke)");
    else if (rc == OFFPAY_ENOTFOUND)
        srv_fail_engine_hint(
            out, rc,
            "no wallet enrolled with this account: a new "
            "wallet gets a code of POST /v1/admin/enrollments");
    else if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "enrollment code");
    else {
        char fp[9], until[32];

        code_print(code, fp);
        srv_iso_time(expires, until);
        srv_log_request(r, 0,
                        "enrollment code for account %llu (%s, expires %s): "
                        "code fingerprint %s",
                        (unsigned long long)account,
                        offpay_currency_alpha(currency), until, fp);
        srv_ok(out, json_pack("{s:s, s:o, s:s, s:I}", "code", code, "account",
                              srv_json_id(account), "currency",
                              offpay_currency_alpha(currency), "expires",
                              (json_int_t)expires));
    }
    sodium_memzero(code, sizeof code);
}

/* The wallet the path's account names, or a failure. */
static int path_wallet(srv_req *r, offpay_ledger_wallet_info *w, srv_reply *out)
{
    uint64_t   account;
    offpay_err rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &account) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "account: a decimal id from 1");
        return -1;
    }
    rc = offpay_ledger_wallet_get(r->l, NULL, account, w);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "enrolled wallet");
        return -1;
    }
    return 0;
}

void srv_admin_wallet_get(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info   w;
    offpay_wallet_account_info *a = NULL;
    size_t                      n = 0;
    json_t                     *j;
    offpay_err                  rc;

    if (path_wallet(r, &w, out) != 0)
        return;
    /* the account's row: the escrow its credentials still hold */
    rc = offpay_ledger_wallet_accounts_at(r->l, NULL, w.account - 1, 1, r->now,
                                          &a, &n);
    if (rc != OFFPAY_OK || n != 1 || a[0].id != w.account) {
        free(a);
        srv_fail_engine(out, rc != OFFPAY_OK ? rc : OFFPAY_ESTORE, "account");
        return;
    }
    j = wallet_json(r, &w);
    if (srv_json_escrow_held(j, &a[0], r->now) != 0) {
        json_decref(j);
        j = NULL;
    }
    free(a);
    srv_ok(out, j);
}

/* The wallet w revoked (lost), and what its owner needs to know next
 * (docs/settlement.md §12): when it was revoked, when its escrow is back
 * in the account, until when a late upload of what the lost device paid
 * offline is still paid from the account (the late window after that),
 * and the account's balance now, unless the key asking was revoked before
 * (balance null: a lost device must not go on reading an account that
 * its owner's new wallet may hold). (Read after the revocation: a failure
 * then leaves the times null, and the revocation stands.) */
static void revoke_wallet(srv_req *r, const offpay_ledger_wallet_info *w,
                          const char *reason, int show_balance, srv_reply *out)
{
    size_t                    n = 0;
    uint32_t                  at, back = 0, late = 0;
    int                       known;
    offpay_ledger_wallet_info now;
    offpay_err                rc;

    rc = offpay_ledger_wallet_revoke(
        r->l, w->pk, 0, reason[0] ? reason : "wallet lost", r->now, &n);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "wallet revocation");
        return;
    }
    /* what the ledger holds now: the first revocation's time (another may
     * have come between w's read and this one) and the balance after what
     * the revocation took back (a credential issued meanwhile) */
    if (offpay_ledger_wallet_get(r->l, w->pk, 0, &now) != OFFPAY_OK) {
        now = *w;
        now.revoked_at = w->revoked ? w->revoked_at : r->now;
    }
    at = now.revoked_at;
    w = &now;
    known =
        offpay_ledger_wallet_due(r->l, w->pk, at, &back, &late) == OFFPAY_OK;
    {
        char why[SRV_REF_MAX + 1], when[32];

        srv_log_text(reason[0] ? reason : "wallet lost", why, sizeof why);
        srv_iso_time(at, when);
        srv_log_request(r, 0,
                        "wallet of account %llu revoked at %s (reason "
                        "\"%s\"): %zu credential(s) revoked now",
                        (unsigned long long)w->account, when, why, n);
    }
    srv_ok(out,
           json_pack(
               "{s:o, s:b, s:I, s:I, s:o, s:o, s:o}", "account",
               srv_json_id(w->account), "revoked", 1, "credentials_revoked",
               (json_int_t)n, "revoked_at", (json_int_t)at, "escrow_back_by",
               known ? json_integer((json_int_t)back) : json_null(),
               "late_until",
               known ? json_integer((json_int_t)late) : json_null(), "balance",
               show_balance ? srv_json_amount(w->balance, w->currency)
                            : json_null()));
}

void srv_admin_wallet_revoke(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info w;
    char                      reason[SRV_REF_MAX + 1], hint[128];
    int                       e;

    e = srv_parse_reason(r->body, r->body_len, reason, sizeof reason, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (path_wallet(r, &w, out) == 0)
        revoke_wallet(r, &w, reason, 1, out); /* the operator's */
}

/* ---- wallet endpoints ----------------------------------------------- */

void srv_wallet_enroll(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info w;
    struct enroll_auth        ea;
    char                      code[OFFPAY_ENROLL_CODE_CHARS + 1], hint[128];
    uint8_t                   pk[OFFPAY_PK_BYTES];
    offpay_err                rc;
    int                       e;

    e = srv_parse_enroll(r->body, r->body_len, code, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    ea.code = code;
    ea.rc = OFFPAY_OK;
    if (srv_auth_signed(r, &enrollable_kind, &ea, pk, out) != 0) {
        if (ea.rc == OFFPAY_OK) /* refused before the code's check, or
                                   its nonce: out says why */
            goto out;
        rc = ea.rc; /* the code's check refused it: said below */
    } else {
        rc = offpay_ledger_enroll(r->l, pk, code, r->now, NULL, NULL);
    }
    if (rc == OFFPAY_ENOTFOUND)
        srv_fail(out, SRV_E_ENROLL_CODE_UNKNOWN, NULL);
    else if (rc == OFFPAY_EREPLAY)
        srv_fail(out, SRV_E_ENROLL_CODE_USED, NULL);
    else if (rc == OFFPAY_EEXPIRED)
        srv_fail(out, SRV_E_ENROLL_CODE_EXPIRED, NULL);
    else if (rc == OFFPAY_EEXISTS)
        srv_fail(out, SRV_E_ALREADY_ENROLLED,
                 "the signing key is enrolled already, or the code's account "
                 "(a lost wallet's) has a wallet again");
    else if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "enrollment");
    else if ((rc = offpay_ledger_wallet_get(r->l, pk, 0, &w)) != OFFPAY_OK)
        srv_fail_engine(out, rc, "enrolled wallet");
    else {
        /* who took an account, with which code: a leaked code's trail */
        char hex[2 * 8 + 1], fp[9];

        sodium_bin2hex(hex, sizeof hex, pk, 8);
        code_print(code, fp);
        srv_log_request(r, 0,
                        "wallet key %s... enrolled into account %llu (%s) "
                        "with the code of fingerprint %s",
                        hex, (unsigned long long)w.account,
                        offpay_currency_alpha(w.currency), fp);
        srv_ok(out, wallet_json(r, &w));
    }
out:
    sodium_memzero(code, sizeof code);
}

/* creds[0..n) as an array of cred_json, or NULL (out of memory). */
static json_t *creds_json(const offpay_ledger_wallet_cred *creds, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, cred_json(&creds[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    return arr;
}

/* How many of the key's credentials are open, and, when total, how
 * many it has, into doc; 0, or -1 (out of memory). */
static int creds_counts(json_t *doc, const offpay_ledger_creds_count *c,
                        int total)
{
    return json_object_set_new(doc, "credentials_open",
                               json_integer((json_int_t)c->open)) != 0 ||
                   (total && json_object_set_new(
                                 doc, "credentials_total",
                                 json_integer((json_int_t)c->total)) != 0)
               ? -1
               : 0;
}

/* The account, and the credentials the wallet can still need (open: not
 * released, or released within the late window, which a code presented
 * late still changes), the newest OFFPAY_LEDGER_CREDS_PAGE_MAX of them,
 * with how many there are: before 0.19.0 every credential the key was
 * ever given, so a wallet renewed for years got an answer past its reply
 * cap. Nothing here reads the rest of the history (not even to count
 * it); that is POST /v1/wallet/credentials'. */
void srv_wallet_status(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info  w;
    offpay_ledger_wallet_cred *creds = NULL;
    offpay_ledger_creds_count  count;
    json_t                    *arr = NULL, *doc;
    char                       hint[128];
    size_t                     n = 0;
    int64_t                    held = 0;
    uint32_t                   until = 0;
    offpay_err                 rc;
    int                        e;

    e = srv_parse_empty(r->body, r->body_len, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (auth_wallet(r, &w, 0, out) != 0)
        return;
    /* what the account holds for its released credentials' late codes:
     * the wallet's renewal asks at most the balance less it */
    rc = offpay_ledger_late_hold(r->l, w.account, r->now, &held, &until);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_wallet_creds_page(
            r->l, w.pk, OFFPAY_LEDGER_CREDS_OPEN | OFFPAY_LEDGER_CREDS_NEWEST,
            0, OFFPAY_LEDGER_CREDS_PAGE_MAX, r->now, &creds, &n, &count);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "credentials");
        return;
    }
    arr = creds_json(creds, n);
    free(creds);
    doc = arr != NULL ? wallet_json(r, &w) : NULL;
    if (doc == NULL || json_object_set_new(doc, "credentials", arr) != 0 ||
        creds_counts(doc, &count, 0) != 0 ||
        json_object_set_new(doc, "bundle_seq",
                            json_integer(srv_bundle_seq(r->srv))) != 0 ||
        json_object_set_new(doc, "time", json_integer(r->now)) != 0 ||
        srv_json_late_held(doc, held, until, w.currency) != 0) {
        if (doc == NULL)
            json_decref(arr);
        json_decref(doc);
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        return;
    }
    srv_ok(out, doc);
}

/* Every credential issued to the key, a page at a time in serial order
 * (or the open ones only), for a wallet that needs one its status left
 * out, and for whoever wants the whole history; the first page (after 0)
 * counts them all too (each page would read the key's whole index). */
void srv_wallet_credentials(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info  w;
    offpay_ledger_wallet_cred *creds = NULL;
    offpay_ledger_creds_count  count;
    srv_wallet_creds_body      b;
    json_t                    *arr, *doc;
    char                       hint[128];
    size_t                     n = 0;
    offpay_err                 rc;
    int                        e;

    e = srv_parse_wallet_creds(r->body, r->body_len, &b, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (auth_wallet(r, &w, 0, out) != 0)
        return;
    rc = offpay_ledger_wallet_creds_page(
        r->l, w.pk,
        (b.open ? OFFPAY_LEDGER_CREDS_OPEN : 0) |
            (b.after == 0 ? OFFPAY_LEDGER_CREDS_TOTAL : 0),
        b.after, b.limit, r->now, &creds, &n, &count);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "credentials");
        return;
    }
    arr = creds_json(creds, n);
    doc = arr != NULL
              ? json_pack("{s:o, s:o}", "credentials", arr, "next_after",
                          srv_json_next_after(
                              n, b.limit, n > 0 ? creds[n - 1].info.serial : 0))
              : NULL;
    free(creds);
    if (doc == NULL || creds_counts(doc, &count, b.after == 0) != 0 ||
        json_object_set_new(doc, "time", json_integer(r->now)) != 0) {
        json_decref(doc);
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        return;
    }
    srv_ok(out, doc);
}

void srv_wallet_allowance(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info w;
    srv_allowance_body        b;
    offpay_wallet_cred        wc;
    uint8_t                   bytes[OFFPAY_WALLET_CRED_BYTES];
    char                      hint[128];
    int64_t                   limit = 0;
    uint32_t                  expires;
    uint8_t                   flags;
    json_t                   *reply;
    offpay_err                rc;
    int                       e, replayed = 0;

    e = srv_parse_allowance(r->body, r->body_len, &b, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (auth_wallet(r, &w, 0, out) != 0)
        return;
    rc = offpay_amount_parse(b.amount, w.currency, &limit);
    if (rc != OFFPAY_OK || limit <= 0) {
        srv_fail_amount(out, rc, "amount", b.amount, w.currency);
        return;
    }
    if (limit > OFFPAY_WIRE_AMOUNT_MAX) { /* a credential's limit is a u32 */
        srv_fail_credential_max(out, "amount", w.currency);
        return;
    }
    /* a wallet asks for at most the default term; longer ones are the
     * operator's (POST /v1/admin/credentials) */
    if (b.expires > r->now + SRV_CRED_LIFETIME) {
        snprintf(hint, sizeof hint, "expires: at most %u days ahead",
                 SRV_CRED_LIFETIME / 86400u);
        srv_fail(out, SRV_E_BAD_FIELD, hint);
        return;
    }
    /* nor so soon that it could not be spent: its escrow would stay
     * locked until the expiry plus the upload grace for nothing */
    if (b.expires != 0 && b.expires < r->now + SRV_ALLOWANCE_MIN) {
        snprintf(hint, sizeof hint,
                 "expires: at least %u minutes ahead (the escrow is locked "
                 "until the expiry and the upload grace)",
                 SRV_ALLOWANCE_MIN / 60u);
        srv_fail(out, SRV_E_BAD_FIELD, hint);
        return;
    }
    expires = b.expires ? b.expires : r->now + SRV_CRED_LIFETIME;
    flags = b.allow_unbound ? OFFPAY_CRED_ALLOW_UNBOUND : 0;
    rc = offpay_ledger_allowance_once(
        r->l, w.pk, b.request_id[0] != '\0' ? b.request_id : NULL, limit, flags,
        expires, r->now, bytes, &wc, &replayed);
    /* a replay whose expires, as sent, is not the first one's (compared
     * only when sent: the default term moves with the clock); the ledger
     * compares allow_unbound. Nothing was made. */
    if (rc == OFFPAY_OK && replayed && b.expires != 0 &&
        !offpay_ledger_issue_expires_is(r->l, &wc, expires))
        rc = OFFPAY_EEXISTS;
    if (rc == OFFPAY_EEXISTS && b.request_id[0] != '\0') {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_REUSED,
                 "this request_id was used for another allowance (another "
                 "amount, expires or allow_unbound): nothing was done");
        return;
    }
    if (rc == OFFPAY_EREVOKED) {
        srv_fail(out, SRV_E_WALLET_REVOKED, NULL);
        return;
    }
    if (rc == OFFPAY_EWALLET_CASE) {
        srv_fail_wallet_case(r, out, w.pk);
        return;
    }
    if (rc == OFFPAY_EFUNDS) {
        srv_fail_funds(r, out, "allowance", w.account, limit);
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "allowance");
        return;
    }
    /* the account's balance after the move */
    if (offpay_ledger_wallet_get(r->l, w.pk, 0, &w) != OFFPAY_OK)
        w.balance = 0;
    {
        char amt[OFFPAY__MONEY_TEXT_MAX], hex[2 * 8 + 1], id[80];

        sodium_bin2hex(hex, sizeof hex, w.pk, 8);
        srv_log_text(b.request_id, id, sizeof id);
        srv_log_request(r, replayed,
                        "allowance of wallet key %s... from account %llu, "
                        "limit %s (request_id \"%s\"): serial %llu",
                        hex, (unsigned long long)w.account,
                        offpay__money_text(wc.limit, wc.currency, amt), id,
                        (unsigned long long)wc.serial);
    }
    reply = srv_credential_json(&wc, bytes, b.request_id[0] != '\0', replayed);
    if (reply != NULL &&
        json_object_set_new(reply, "balance",
                            srv_json_amount(w.balance, w.currency)) != 0) {
        json_decref(reply);
        reply = NULL;
    }
    srv_ok(out, reply);
}

/* A restored copy of the wallet unfreezing one of its credentials: the
 * first counter it may sign, handed out once (docs/settlement.md §12,
 * "Safe restore"). The answer is signed as every answer is. */
void srv_wallet_restore_floor(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info w;
    char                      hint[128];
    uint64_t                  serial = 0;
    uint32_t                  floor = 0;
    offpay_err                rc;
    int                       e;

    e = srv_parse_serial(r->body, r->body_len, &serial, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (auth_wallet(r, &w, 0, out) != 0)
        return;
    rc = offpay_ledger_wallet_restore_floor(r->l, w.pk, serial, &floor);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine(out, rc,
                        "serial: no credential of this wallet's key has it");
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "restore floor");
        return;
    }
    srv_ok(out, json_pack("{s:o, s:I}", "serial", srv_json_id(serial), "floor",
                          (json_int_t)floor));
}

void srv_wallet_revoke(srv_req *r, srv_reply *out)
{
    offpay_ledger_wallet_info w;
    char                      reason[SRV_REF_MAX + 1], hint[128];
    int                       e;

    e = srv_parse_reason(r->body, r->body_len, reason, sizeof reason, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (auth_wallet(r, &w, 1, out) == 0)
        revoke_wallet(r, &w, reason[0] ? reason : "reported lost by its owner",
                      !w.revoked, out);
}

/* ---- terminal endpoints --------------------------------------------- */

void srv_terminal_rotate(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_info t;
    offpay_terminal_cred        tc;
    srv_rotate_body             b;
    uint8_t                     msg[OFFPAY__ROTATE_MSG_BYTES];
    uint8_t                     bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    char                        hint[256];
    size_t                      len = 0;
    offpay_err                  rc;
    int                         e, replayed = 0;

    e = srv_parse_rotate(r->body, r->body_len, &b, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    /* a revoked terminal is heard too: the ledger answers the rotation
     * that revoked it again (its reply lost), and refuses anything else */
    if (srv_auth_terminal(r, &t, out) != 0)
        return;
    /* The new key must prove it takes part: else a terminal could register
     * any public key it has seen (an enrolled wallet's, another
     * merchant's terminal's) as its merchant's, and take over that key's
     * registration. Checked before the ledger, replays included: the
     * retry of a rotation carries the same proof. */
    offpay__rotate_message(r->auth.pk, t.terminal_id, b.pk, msg);
    if (offpay_verify(OFFPAY_DS_TERMINAL_ROTATE, msg, sizeof msg, b.sig, b.pk,
                      OFFPAY_ECODE_SIG) != OFFPAY_OK) {
        srv_fail(out, SRV_E_KEY_SIGNATURE_INVALID,
                 "key_signature is not terminal_key's signature of this "
                 "rotation (domain offpay/v1/terminal-rotate, over the "
                 "signing terminal's key, its id and terminal_key): a "
                 "rotation registers only a key its sender holds");
        return;
    }
    if (srv_fail_expires_past(out, b.expires != 0, b.expires, r->now))
        return;
    if (b.expires == 0)
        b.expires = r->now + SRV_TERMINAL_LIFETIME;
    /* the parser took only "sums_carried": true (b.sums_carried): the
     * ledger records the rotation as one that carried the old terminal's
     * sums, so the guarantee counts both as one device */
    rc = offpay_ledger_terminal_rotate(r->l, t.terminal_id, b.pk, b.expires,
                                       r->now, bytes, &len, &tc, &replayed);
    if (rc == OFFPAY_ETERMINAL_REVOKED) {
        srv_fail(out, SRV_E_TERMINAL_REVOKED, NULL);
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "rotation");
        return;
    }
    srv_terminals_due(); /* one live terminal for another */
    {
        char until[32];

        srv_iso_time(tc.expires, until);
        srv_log_request(r, replayed,
                        "terminal %lu (merchant %llu) rotated to terminal "
                        "%lu, expires %s",
                        (unsigned long)t.terminal_id,
                        (unsigned long long)tc.merchant_id,
                        (unsigned long)tc.terminal_id, until);
    }
    srv_ok(out, json_pack("{s:I, s:I, s:o, s:s, s:I, s:o, s:b}",
                          "old_terminal_id", (json_int_t)t.terminal_id,
                          "terminal_id", (json_int_t)tc.terminal_id, "merchant",
                          srv_json_id(tc.merchant_id), "name", tc.name,
                          "expires", (json_int_t)tc.expires, "credential",
                          srv_json_b64(bytes, len), "replayed", replayed));
}

void srv_terminal_decommission(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_info t;
    char                        hint[128];
    uint32_t                    revoked_at = 0;
    offpay_err                  rc;
    int                         e, replayed = 0;

    e = srv_parse_empty(r->body, r->body_len, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    /* a decommissioned terminal asking again (its reply lost) gets the
     * first answer; one revoked otherwise is refused by the ledger */
    if (srv_auth_terminal(r, &t, out) != 0)
        return;
    rc = offpay_ledger_terminal_decommission(r->l, t.terminal_id, r->now,
                                             &revoked_at, &replayed);
    if (rc == OFFPAY_ETERMINAL_REVOKED) {
        srv_fail(out, SRV_E_TERMINAL_REVOKED, NULL);
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "decommission");
        return;
    }
    srv_terminals_due(); /* one live terminal fewer */
    {
        char when[32];

        srv_iso_time(revoked_at, when);
        srv_log_request(r, replayed,
                        "terminal %lu (merchant %llu) decommissioned at %s",
                        (unsigned long)t.terminal_id,
                        (unsigned long long)t.merchant_id, when);
    }
    srv_ok(out, json_pack("{s:I, s:b, s:I, s:b}", "terminal_id",
                          (json_int_t)t.terminal_id, "revoked", 1, "revoked_at",
                          (json_int_t)revoked_at, "replayed", replayed));
}
