/*
 * terminals.c — POST /v1/admin/terminals: register a merchant's terminal
 * key and return its terminal credential (signed with the issuer's
 * day-to-day key; once under an Idempotency-Key, a resend given the
 * credential stored the first time); POST /v1/admin/terminals/ID/revoke: revoke
 * it from now on (docs/settlement.md §8), naming the terminals it was rotated
 * to and, with "chain": true, revoking them too, and warning when its last sync
 * reported payments it still held; the ledger keeps the revocation's reason;
 * POST /v1/admin/terminals/ID/label: the operator's label of where it
 * stands (also the registration's "label"), which a rotation carries.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server/server.h"
#include "settle/render.h"

/* A label refused, by the parser or by the ledger's rule: *e
 * BAD_FIELD, and hint the rule (cap bytes) and how to clear one. */
static void label_rule(int *e, const char *label, char *hint, size_t cap)
{
    if ((*e == SRV_E_BAD_FIELD && strstr(hint, "'label'") != NULL) ||
        (*e == 0 && label != NULL && !offpay__terminal_label_ok(label))) {
        *e = SRV_E_BAD_FIELD;
        snprintf(hint, cap,
                 "field 'label': 1 to %u bytes of text on one line, without "
                 "control or invisible format characters or a space at "
                 "either end (a label is cleared by {} sent to "
                 "/v1/admin/terminals/N/label)",
                 (unsigned)OFFPAY_TERMINAL_LABEL_MAX);
    }
}

static offpay_err terminal_entry(srv_req *r, uint32_t id,
                                 offpay_ledger_terminal_entry *e);

void srv_terminal_new(srv_req *r, srv_reply *out)
{
    srv_value            v[SRV_N(srv_fields_terminal)];
    json_t              *doc = NULL;
    char                         hint[256];
    uint8_t              pk[OFFPAY_PK_BYTES];
    uint8_t              bytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               len = 0;
    offpay_terminal_cred tc;
    uint32_t             expires;
    offpay_err           rc;
    int                  e, replayed = 0, used = 0;
    const char                  *key, *label;
    json_t              *j;
    offpay_ledger_terminal_entry now_t; /* a replay's: its label now */
    offpay_err                   lrc = OFFPAY_OK; /* the label's */

    if (srv_request_key(r, out, &key) != 0)
        return;
    e = srv_parse_object(r->body, r->body_len, srv_fields_terminal,
                         SRV_N(srv_fields_terminal), v, &doc, hint,
                         sizeof hint);
    if (e == 0 && srv_parse_key(v[1].s, pk) != 0) {
        e = SRV_E_BAD_FIELD;
        snprintf(hint, sizeof hint, "terminal_key: 64 lowercase hex digits");
    }
    label_rule(&e, e == 0 && v[3].present ? v[3].s : NULL, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        goto out;
    }
    if (srv_fail_expires_past(out, v[2].present, (uint32_t)v[2].u, r->now))
        goto out;
    expires =
        v[2].present ? (uint32_t)v[2].u : r->now + SRV_TERMINAL_LIFETIME;
    /* once under an Idempotency-Key: a resend after a lost reply gets the
     * credential signed the first time (stored with the terminal) */
    rc = offpay_ledger_terminal_add_once(r->l, key, v[0].u, pk, expires, r->now,
                                         bytes, &len, &tc, &replayed);
    if (rc == OFFPAY_OK)
        srv_terminals_due(); /* a live terminal more */
    /* a replay whose expires, as sent, is not the first one's (the
     * default term moves with the clock: compared only when sent) */
    if (rc == OFFPAY_OK && replayed && v[2].present &&
        !offpay_ledger_terminal_expires_is(r->l, &tc, expires))
        rc = OFFPAY_EEXISTS;
    /* the key booked: it was another request's; not booked: the
     * terminal key is registered already (answered below) */
    if (rc == OFFPAY_EEXISTS && key != NULL &&
        (offpay_ledger_request_key_used(r->l, key, &used) != OFFPAY_OK ||
         used)) {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_REUSED,
                 "this Idempotency-Key was used for a different request "
                 "(another merchant, terminal_key or expires, or another "
                 "kind of request): nothing was done");
        goto out;
    }
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine_hint(out, rc, "merchant %llu: no such merchant",
                             (unsigned long long)v[0].u);
        goto out;
    }
    if (rc == OFFPAY_EEXISTS) {
        offpay_ledger_terminal_info held;

        /* which terminal holds the key: a device sold with its shop
         * keeps its old merchant's key until it is set up anew */
        if (offpay_ledger_terminal(r->l, 0, pk, &held) == OFFPAY_OK) {
            srv_fail_engine_hint(
                out, rc,
                "terminal_key: registered already as terminal %lu of "
                "merchant %llu (%s); a device moving to another merchant "
                "(a shop sold) needs a new key: 'offpay terminal init' "
                "anew, then register that key",
                (unsigned long)held.terminal_id,
                (unsigned long long)held.merchant_id,
                held.revoked ? "revoked" : "active");
            goto out;
        }
    }
    /* where it stands: set just after the registration; a resend under
     * the same key changes nothing (an operator may have labelled the
     * terminal anew since) and answers the label it has now */
    /* the terminal is registered whatever becomes of its label: a label
     * not kept is a warning in the 200, never an error whose resend would
     * meet EEXISTS and lose the credential */
    if (rc == OFFPAY_OK && v[3].present && !replayed &&
        (lrc = offpay_ledger_terminal_label(r->l, tc.terminal_id, v[3].s,
                                            r->now)) != OFFPAY_OK)
        srv_log_request(r, 0,
                        "terminal %lu registered, but its label was not "
                        "kept: %s",
                        (unsigned long)tc.terminal_id, offpay_strerror(lrc));
    if (rc == OFFPAY_OK && replayed)
        rc = terminal_entry(r, tc.terminal_id, &now_t);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "new terminal");
        goto out;
    }
    label = replayed ? (now_t.label[0] != '\0' ? now_t.label : NULL)
                     : (v[3].present && lrc == OFFPAY_OK ? v[3].s : NULL);
    {
        char hex[2 * 8 + 1], until[32], shown[SRV_REF_MAX + 1];

        sodium_bin2hex(hex, sizeof hex, pk, 8);
        srv_iso_time(tc.expires, until);
        srv_log_text(label != NULL ? label : "", shown, sizeof shown);
        srv_log_request(r, replayed,
                        "new terminal %lu of merchant %llu, key %s..., "
                        "expires %s%s%s%s",
                        (unsigned long)tc.terminal_id,
                        (unsigned long long)tc.merchant_id, hex, until,
                        label != NULL ? ", label \"" : "",
                        label != NULL ? shown : "", label != NULL ? "\"" : "");
    }
    j = json_pack("{s:I, s:o, s:s, s:I, s:o, s:o}", "terminal_id",
                  (json_int_t)tc.terminal_id, "merchant",
                  srv_json_id(tc.merchant_id), "name", tc.name, "expires",
                  (json_int_t)tc.expires, "credential",
                  srv_json_b64(bytes, len), "label",
                  label != NULL ? json_string(label) : json_null());
    if (j != NULL && key != NULL)
        json_object_set_new(j, "replayed", json_boolean(replayed));
    if (j != NULL && lrc != OFFPAY_OK) {
        char w[200];

        snprintf(w, sizeof w,
                 "terminal %lu was registered, but its label was not kept "
                 "(%s): POST /v1/admin/terminals/%lu/label sets it",
                 (unsigned long)tc.terminal_id, offpay_errname(lrc),
                 (unsigned long)tc.terminal_id);
        json_object_set_new(j, "warning", json_string(w));
    }
    srv_ok(out, j);
out:
    json_decref(doc);
}

/* The most terminals a chain of rotations is followed through (as the
 * CLI's revoke-terminal): far more than a terminal's life holds. */
#define ROTATION_CHAIN_MAX 64

/* Terminal id as the operator's list gives it (offpay_ledger_terminals,
 * the directory's row): its state, revocation and the reason kept. */
static offpay_err terminal_entry(srv_req *r, uint32_t id,
                                 offpay_ledger_terminal_entry *e)
{
    offpay_ledger_terminal_entry *v = NULL;
    size_t                        n = 0;
    offpay_err                    rc;

    rc = offpay_ledger_terminals(r->l, 0, id - 1, 1, &v, &n);
    if (rc == OFFPAY_OK && (n == 0 || v[0].terminal_id != id))
        rc = OFFPAY_ENOTFOUND;
    if (rc == OFFPAY_OK)
        *e = v[0];
    free(v);
    return rc;
}

/* A revocation's reason as the answers give it: the text the ledger
 * keeps, or null (active, or revoked before the ledger kept reasons). */
static json_t *reason_json(const offpay_ledger_terminal_entry *e)
{
    return e->state != OFFPAY_TERMINAL_ACTIVE && e->revoke_reason[0] != '\0'
               ? json_string(e->revoke_reason)
               : json_null();
}

/* The terminals id was rotated to, each revoked too (for reason, NULL:
 * "operator") when chain, as the answer's "rotated_to": [{terminal,
 * rotated_from, revoked, revoked_at, revoke_reason}] into arr; each one
 * revoked now is logged. *active counts those left active (without
 * chain), *first the first of them and *first_from what it was rotated
 * from. */
static offpay_err revoke_chain(srv_req *r, uint32_t id, int chain,
                               const char *reason, json_t *arr, size_t *active,
                               uint32_t *first, uint32_t *first_from)
{
    offpay_ledger_terminal_entry t;
    uint32_t                     next = 0;
    offpay_err                   rc;

    for (size_t i = 0; i < ROTATION_CHAIN_MAX; i++) {
        int was, now;

        rc = offpay_ledger_terminal_rotated_to(r->l, id, &next);
        if (rc != OFFPAY_OK || next <= id) /* a new id is above the old */
            return rc;
        rc = terminal_entry(r, next, &t);
        was = rc == OFFPAY_OK && t.state != OFFPAY_TERMINAL_ACTIVE;
        if (rc == OFFPAY_OK && chain && !was) {
            rc = offpay_ledger_terminal_revoke_why(r->l, next, reason, r->now);
            if (rc == OFFPAY_OK)
                rc = terminal_entry(r, next, &t);
        }
        if (rc != OFFPAY_OK)
            return rc;
        now = t.state != OFFPAY_TERMINAL_ACTIVE;
        if (!now && (*active)++ == 0) {
            *first = next;
            *first_from = id;
        }
        if (now && !was) {
            char why[SRV_REF_MAX + 1], when[32];

            srv_log_text(t.revoke_reason, why, sizeof why);
            srv_iso_time(t.revoked_at, when);
            srv_log_request(r, 0,
                            "terminal %lu (rotated from terminal %lu) "
                            "revoked at %s with the chain: %s",
                            (unsigned long)next, (unsigned long)id, when, why);
        }
        json_array_append_new(
            arr, json_pack("{s:I, s:I, s:b, s:o, s:o}", "terminal",
                           (json_int_t)next, "rotated_from", (json_int_t)id,
                           "revoked", now, "revoked_at",
                           now ? json_integer((json_int_t)t.revoked_at)
                               : json_null(),
                           "revoke_reason", reason_json(&t)));
        id = next;
    }
    return OFFPAY_OK;
}

/* The revocation answer's "report" (the terminal's last, as GET
 * /v1/admin/overview gives it, or null) and "warning" into j: text when a
 * terminal it was rotated to is still active (active of them, the first
 * rotated from first_from), or when that report held payments; else
 * null. */
static void revoke_report(uint64_t id, const offpay_terminal_report *rp,
                          uint16_t currency, size_t active, uint32_t first,
                          uint32_t first_from, json_t *j)
{
    char warning[OFFPAY__REVOKE_WARNING_MAX], chain[320];
    char both[sizeof chain + sizeof warning + 1];
    int  pending = offpay__revoke_warning(id, rp, warning) != NULL;

    json_object_set_new(j, "report", srv_json_report(rp, currency));
    if (active != 0)
        snprintf(chain, sizeof chain,
                 "terminal %lu was rotated to terminal %lu, which is still "
                 "ACTIVE%s: whoever holds its key (a stolen terminal rotated "
                 "to a key of its thief's) is still paid for what it "
                 "accepts. Revoke it: POST /v1/admin/terminals/%lu/revoke, "
                 "or this request again with \"chain\": true",
                 (unsigned long)first_from, (unsigned long)first,
                 active > 1 ? " (and the terminals rotated from it)" : "",
                 (unsigned long)first);
    snprintf(both, sizeof both, "%s%s%s", active != 0 ? chain : "",
             active != 0 && pending ? ". " : "", pending ? warning : "");
    json_object_set_new(j, "warning",
                        both[0] != '\0' ? json_string(both) : json_null());
}

void srv_terminal_revoke(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_entry t;
    offpay_terminal_report       rp;
    srv_value                    v[SRV_N(srv_fields_terminal_revoke)];
    json_t                      *doc = NULL, *chain = NULL;
    char                         hint[128];
    const char                  *reason;
    uint64_t                     id;
    offpay_err                   rc;
    int                          e, was_revoked;
    size_t                       active = 0; /* rotated to, left active */
    uint32_t                     first = 0, first_from = 0;

    if (srv_parse_id(r->cap[0], UINT32_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "terminal: a decimal id from 1");
        return;
    }
    /* The body is optional here: {} or {"reason": text, "chain": bool}.
     * The ledger keeps the reason with the revocation ("operator" when
     * none is given), and offpayd's log says it. */
    v[0].present = v[1].present = 0;
    if (r->body_len != 0) {
        e = srv_parse_object(r->body, r->body_len, srv_fields_terminal_revoke,
                             SRV_N(srv_fields_terminal_revoke), v, &doc, hint,
                             sizeof hint);
        if (e != 0) {
            srv_fail(out, (srv_err)e, hint);
            return;
        }
    }
    reason = v[0].present ? v[0].s : NULL;
    /* revoked before this request, in whatever second: the log says
     * "already" (nothing changed) */
    was_revoked = terminal_entry(r, (uint32_t)id, &t) == OFFPAY_OK &&
                  t.state != OFFPAY_TERMINAL_ACTIVE;
    rc = offpay_ledger_terminal_revoke_why(r->l, (uint32_t)id, reason, r->now);
    srv_terminals_due(); /* one live terminal fewer, or a chain of them */
    /* revoked again, it keeps the first time and reason: the answer says
     * those */
    if (rc == OFFPAY_OK)
        rc = terminal_entry(r, (uint32_t)id, &t);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_terminal_last_report(r->l, (uint32_t)id, &rp);
    if (rc == OFFPAY_OK) {
        chain = json_array();
        rc = chain != NULL ? OFFPAY_OK : OFFPAY_ENOMEM;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal revocation");
    } else {
        char why[SRV_REF_MAX + 1], when[32];

        srv_log_text(t.revoke_reason[0] != '\0' ? t.revoke_reason
                                                : "(no reason kept)",
                     why, sizeof why);
        srv_iso_time(t.revoked_at, when);
        /* revoked before this request (its time and reason kept): said
         * so, as the log holds what changed the ledger */
        srv_log_request(r, 0, "terminal %llu %srevoked at %s: %s",
                        (unsigned long long)id, was_revoked ? "already " : "",
                        when, why);
        rc = revoke_chain(r, (uint32_t)id, v[1].present && v[1].b, reason,
                          chain, &active, &first, &first_from);
        if (rc != OFFPAY_OK) {
            srv_fail_engine(out, rc, "the terminals it was rotated to");
        } else {
            json_t *j = json_pack("{s:I, s:b, s:I, s:o, s:O}", "terminal_id",
                                  (json_int_t)id, "revoked", 1, "revoked_at",
                                  (json_int_t)t.revoked_at, "revoke_reason",
                                  reason_json(&t), "rotated_to", chain);

            if (active != 0)
                srv_log_request(r, 0,
                                "WARNING: terminal %lu, rotated from terminal "
                                "%lu, is still active (revoked without "
                                "\"chain\")",
                                (unsigned long)first,
                                (unsigned long)first_from);
            if (j != NULL)
                revoke_report(id, &rp, t.currency, active, first, first_from,
                              j);
            srv_ok(out, j);
        }
    }
    json_decref(chain);
    json_decref(doc);
}

void srv_terminal_label(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_entry t;
    srv_value                    v[SRV_N(srv_fields_terminal_label)];
    json_t                      *doc = NULL;
    char                         hint[256], shown[SRV_REF_MAX + 1];
    uint64_t                     id;
    offpay_err                   rc;
    int                          e;

    if (srv_parse_id(r->cap[0], UINT32_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "terminal: a decimal id from 1");
        return;
    }
    /* {"label": text}, or {} to clear it */
    e = srv_parse_object(r->body, r->body_len, srv_fields_terminal_label,
                         SRV_N(srv_fields_terminal_label), v, &doc, hint,
                         sizeof hint);
    label_rule(&e, v[0].present ? v[0].s : NULL, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        goto out;
    }
    rc = offpay_ledger_terminal_label(r->l, (uint32_t)id,
                                      v[0].present ? v[0].s : NULL, r->now);
    if (rc == OFFPAY_OK)
        rc = terminal_entry(r, (uint32_t)id, &t);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine_hint(out, rc, "terminal %lu: no such terminal",
                             (unsigned long)id);
        goto out;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal label");
        goto out;
    }
    srv_terminals_due();
    if (t.label[0] != '\0') {
        srv_log_text(t.label, shown, sizeof shown);
        srv_log_request(r, 0, "terminal %lu labelled \"%s\"", (unsigned long)id,
                        shown);
    } else {
        srv_log_request(r, 0, "terminal %lu: label cleared", (unsigned long)id);
    }
    srv_ok(out,
           json_pack("{s:I, s:o}", "terminal_id", (json_int_t)id, "label",
                     t.label[0] != '\0' ? json_string(t.label) : json_null()));
out:
    json_decref(doc);
}
