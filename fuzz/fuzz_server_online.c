/*
 * fuzz_server_online.c — offpayd's parsers of the online endpoints' bodies
 * (src/server/wallet_online.c): POST /v1/admin/enrollments, /v1/wallet/
 * enroll, /v1/wallet/allowance, /v1/wallet/restore-floor,
 * /v1/terminal/rotate (its key_signature: 64 bytes from canonical base64,
 * all zero when refused; taken only with "sums_carried": true),
 * /v1/terminal/expiries (1 to SRV_EXPIRIES_MAX serials, strictly
 * ascending, from 1; none when refused), the optional
 * {"expires"} of a lost wallet's enrollment code and {"reason"} of the
 * revocations, the empty body of status and decommission, the page of
 * /v1/wallet/credentials, and a terminal's status report
 * (/v1/terminal/status: its state an error name, with lists_at and
 * pending_amount, or none of the three). Every input goes through all
 * eleven; each either
 * refuses it with MALFORMED_JSON or BAD_FIELD and a hint Jansson takes as a
 * string (valid UTF-8: the answer quotes it), or yields values within their
 * bounds.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static int is_hex_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[n] == '\0';
}

/* A refusal: one of the two body errors, with a hint that goes into a
 * JSON answer, so a string Jansson takes (valid UTF-8). */
static void refused(int e, const char *hint)
{
    json_t *j = json_string(hint);

    if ((e != SRV_E_MALFORMED_JSON && e != SRV_E_BAD_FIELD) || j == NULL)
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_enrollment_body en;
    srv_allowance_body  al;
    char                code[OFFPAY_ENROLL_CODE_CHARS + 1];
    char                reason[SRV_REF_MAX + 1], hint[160];
    srv_rotate_body     rot;
    srv_wallet_creds_body wcb;
    static uint64_t       serials[SRV_EXPIRIES_MAX];
    size_t                n_serials = 1;
    uint32_t            until = 1;
    uint64_t            serial = 1;
    int                 e;

    e = srv_parse_enrollment(data, size, &en, hint, sizeof hint);
    if (e != 0) {
        refused(e, hint);
        if (en.currency != 0 || en.expires != 0 || en.ref[0] != '\0')
            abort();
    } else if (offpay_currency_alpha(en.currency) == NULL ||
               strlen(en.ref) > SRV_REF_MAX) {
        abort();
    }
    e = srv_parse_enroll(data, size, code, hint, sizeof hint);
    if (e != 0) {
        refused(e, hint);
        if (code[0] != '\0')
            abort();
    } else if (!is_hex_lower(code, OFFPAY_ENROLL_CODE_CHARS)) {
        abort();
    }
    e = srv_parse_allowance(data, size, &al, hint, sizeof hint);
    if (e != 0)
        refused(e, hint);
    else if (al.amount[0] == '\0' || strlen(al.amount) >= sizeof al.amount ||
             (al.allow_unbound != 0 && al.allow_unbound != 1) ||
             (al.request_id[0] != '\0' &&
              !offpay_ledger_request_key_ok(al.request_id)))
        abort();
    e = srv_parse_rotate(data, size, &rot, hint, sizeof hint);
    if (e != 0) {
        refused(e, hint);
        if (!sodium_is_zero((const uint8_t *)&rot, sizeof rot))
            abort();
    } else if (rot.sums_carried != 1) {
        abort();
    }
    e = srv_parse_serial(data, size, &serial, hint, sizeof hint);
    if (e != 0) {
        refused(e, hint);
        if (serial != 0)
            abort();
    } else if (serial == 0 || serial > SRV_ID_MAX) {
        abort();
    }
    e = srv_parse_expires(data, size, &until, hint, sizeof hint);
    if (e != 0) {
        refused(e, hint);
        if (until != 0)
            abort();
    }
    e = srv_parse_reason(data, size, reason, sizeof reason, hint, sizeof hint);
    if (e != 0)
        refused(e, hint);
    else if (strlen(reason) > SRV_REF_MAX)
        abort();
    e = srv_parse_wallet_creds(data, size, &wcb, hint, sizeof hint);
    if (e != 0) {
        refused(e, hint);
        if (wcb.after != 0 || wcb.open != 0 ||
            wcb.limit != OFFPAY_LEDGER_CREDS_PAGE_MAX)
            abort();
    } else if (wcb.limit == 0 || wcb.limit > OFFPAY_LEDGER_CREDS_PAGE_MAX ||
               wcb.after > INT64_MAX || (wcb.open != 0 && wcb.open != 1)) {
        abort();
    }
    e = srv_parse_expiries(data, size, serials, &n_serials, hint, sizeof hint);
    if (e != 0) {
        refused(e, hint);
        if (n_serials != 0)
            abort();
    } else {
        if (n_serials == 0 || n_serials > SRV_EXPIRIES_MAX || serials[0] == 0)
            abort();
        for (size_t i = 1; i < n_serials; i++)
            if (serials[i] <= serials[i - 1])
                abort();
    }
    {
        offpay_terminal_report rp;
        const char            *amount;
        json_t                *doc = NULL;

        e = srv_parse_terminal_status(data, size, &rp, &amount, &doc, hint,
                                      sizeof hint);
        if (e != 0)
            refused(e, hint);
        else if (rp.pending > (1ULL << 53) - 1 || rp.reported_at != 0 ||
                 rp.pending_amount != 0 ||
                 (rp.state_known
                      ? !offpay__terminal_state_ok(rp.state) || amount == NULL
                      : rp.state[0] != '\0' || rp.lists_at != 0 ||
                            amount != NULL))
            abort();
        json_decref(doc);
    }
    /* an empty body takes no field at all: accepted only where a reason
     * body without its reason would be */
    e = srv_parse_empty(data, size, hint, sizeof hint);
    if (e != 0)
        refused(e, hint);
    else if (size != 0 && reason[0] != '\0')
        abort();
    return 0;
}
