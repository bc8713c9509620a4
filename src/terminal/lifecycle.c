/*
 * lifecycle.c — a terminal's life through offpayd (terminal.h, "the
 * lifecycle"; docs/api.md, "Terminal lifecycle"): rotating its key and
 * decommissioning it. Both begin with a final upload
 * (offpay_terminal_upload) and refuse to go on while any accepted payment
 * is still not decided by offpayd, so the old key is revoked only after
 * its last upload: nothing it accepted is ever refused as "accepted after
 * the revocation". The request is then signed by the old key (the format
 * of upload_int.h), at the terminal's clock corrected by the offset the
 * upload just measured.
 *
 * Both are safe to run again after a lost reply: offpayd answers a
 * rotation or a decommission it already made with its first answer,
 * "replayed" (docs/api.md, "Terminal lifecycle"), so the rerun finishes
 * the job. Until a request is answered the terminal accepts nothing
 * (OFFPAY_ETERMINAL_RETIRING, recorded before it is sent): offpayd may
 * have made it, and what the terminal took meanwhile would be refused as
 * accepted after the revocation. A refusal offpayd signed (it heard the
 * request and made nothing) ends that; anything else (no answer, a
 * process killed) leaves it for the rerun.
 *
 * A new key is a new terminal directory (offpay_terminal_create): the key
 * never leaves the device that made it, and the old directory stays as
 * the record of what the old key accepted. The new one starts from the
 * old one's per-credential sums (the cumulative limit is the device's,
 * as offpayd's guarantee counts it) and its risk rules. The rotation carries
 * the new key's signature of it (upload_int.h, offpay__rotate_message), so that
 * offpayd registers only a key the rotating side holds.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/jsonutil.h"
#include "offpay/message.h"
#include "offpay/terminal.h"
#include "terminal/terminal_int.h"
#include "terminal/upload_int.h"

#define TRIES 3

/* The final upload: OFFPAY_OK only when nothing is left to decide. */
static offpay_err final_upload(offpay_terminal *t, const char *base,
                               uint32_t now, offpay_upload_report *rep)
{
    offpay_err rc = offpay_terminal_upload(t, base, 0, now, rep);

    if (rc != OFFPAY_OK)
        return rc;
    if (rep->left + rep->accepted_during > 0) {
        offpay__log(
            "offpay: %zu payment(s) not decided by offpayd yet: the key "
            "stays until they are (run it again later)\n",
            rep->left + rep->accepted_during);
        return OFFPAY_ESYNC_REQUIRED;
    }
    return OFFPAY_OK;
}

/* POSTs body signed by t at now corrected by offset; *doc is the reply
 * of a 200. The terminal accepts nothing from before the request is sent
 * until it is answered (the file header): a 200 is left to the caller to
 * record as the revocation, a refusal offpayd signed ends it, anything
 * else leaves it, said in the log. */
static offpay_err post(offpay_terminal *t, const char *base, const char *path,
                       const char *body, uint32_t now, int64_t offset,
                       json_t **doc)
{
    offpay__terminal_signing sg = {t, now, time(NULL), offset};
    offpay__http_signer      s = {
             offpay__terminal_signing_time, offpay__terminal_signing_sign, &sg,
             offpay__terminal_bundle(t),    offpay__terminal_root(t),      now};
    char       err[64] = "";
    offpay_err rc = offpay__terminal_set_retiring(t, now);

    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__http_post_json(base, path, body, &s, TRIES, doc, err,
                                sizeof err);
    if (rc == OFFPAY_EREFUSED && err[0] != '\0') {
        /* offpayd heard it and made nothing; but a terminal it says is
         * revoked (the operator's, or an earlier rotation's) is recorded
         * so here too, whatever the final upload before learnt */
        offpay_err rt = strcmp(err, "TERMINAL_REVOKED") == 0
                            ? offpay__terminal_record_revoked(t, now)
                            : OFFPAY_OK;

        if (rt == OFFPAY_OK)
            rt = offpay__terminal_set_retiring(t, 0);
        return rt != OFFPAY_OK ? rt : rc;
    }
    if (rc != OFFPAY_OK)
        offpay__log("offpay: offpayd may have revoked this terminal (its "
                    "answer did not arrive): it accepts nothing until this is "
                    "run again\n");
    return rc;
}

offpay_err offpay_terminal_rotate(offpay_terminal *old, offpay_terminal *next,
                                  const char *base_url, uint32_t now,
                                  offpay_upload_report *rep, uint32_t *new_id)
{
    offpay_upload_report mine;
    offpay_risk          risk;
    offpay_terminal_cred have, mine_cred;
    int                  installed;
    uint8_t              pk[OFFPAY_PK_BYTES], old_pk[OFFPAY_PK_BYTES];
    uint8_t              msg[OFFPAY__ROTATE_MSG_BYTES], sig[OFFPAY_SIG_BYTES];
    uint8_t              cred[512];
    char                 hex[2 * OFFPAY_PK_BYTES + 1];
    char                 sig_b64[OFFPAY__HTTP_SIG_TEXT];
    const char          *b64;
    json_t              *req = NULL, *doc = NULL;
    char                *body = NULL;
    size_t               n = 0;
    offpay_err           rc;

    if (rep == NULL)
        rep = &mine;
    memset(rep, 0, sizeof *rep);
    if (new_id != NULL)
        *new_id = 0;
    if (old == NULL || next == NULL || base_url == NULL)
        return OFFPAY_EINVAL;
    offpay_terminal_public_key(next, pk);
    if (sodium_is_zero(pk, sizeof pk))
        return OFFPAY_EINVAL;
    rc = final_upload(old, base_url, now, rep);
    if (rc != OFFPAY_OK)
        return rc;
    /* the proof that the new key takes part: signed by next, over old's
     * key and id (the one offpayd holds for the key signing the request) */
    rc = offpay_terminal_credential(old, &mine_cred);
    if (rc != OFFPAY_OK)
        return rc;
    offpay_terminal_public_key(old, old_pk);
    offpay__rotate_message(old_pk, mine_cred.terminal_id, pk, msg);
    rc = offpay__terminal_sign(next, OFFPAY_DS_TERMINAL_ROTATE, msg, sizeof msg,
                               sig);
    if (rc != OFFPAY_OK)
        return rc;
    sodium_bin2base64(sig_b64, sizeof sig_b64, sig, sizeof sig,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    /* sums_carried: this rotation gives next old's per-credential sums
     * (below), so offpayd may count old and next as one device
     * (settlement.md §5); offpayd refuses a rotation that does not say so */
    req = json_pack("{s:s, s:s, s:b}", "terminal_key", hex, "key_signature",
                    sig_b64, "sums_carried", 1);
    body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL)
        return OFFPAY_ENOMEM;
    rc = post(old, base_url, "/v1/terminal/rotate", body, now,
              rep->clock_known ? rep->clock_offset : 0, &doc);
    offpay__json_free(body);
    if (rc != OFFPAY_OK)
        return rc;
    /* a run again: the new terminal may hold its credential already (the
     * first run ended), and the rules set on it since are its own */
    installed = offpay_terminal_credential(next, &have) == OFFPAY_OK;
    if (json_is_true(json_object_get(doc, "replayed")))
        offpay__log(installed
                        ? "offpay: offpayd had made this rotation already, and "
                          "the new terminal holds its credential: nothing to "
                          "change\n"
                        : "offpay: offpayd had made this rotation already (its "
                          "reply was lost): the new terminal takes it now\n");
    b64 = json_string_value(json_object_get(doc, "credential"));
    if (b64 == NULL ||
        sodium_base642bin(cred, sizeof cred, b64, strlen(b64), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        rc = OFFPAY_EIO;
        goto out;
    }
    /* The old key is revoked now: it accepts nothing more, and the new
     * one takes its place, with the old one's per-credential sums and risk
     * rules, and the newest bundle and list. */
    rep->revoked = 1;
    rc = offpay__terminal_record_revoked(old, now);
    if (rc == OFFPAY_OK)
        rc = offpay__terminal_set_retiring(old, 0);
    /* The sums the local cumulative check reads: offpayd's guarantee sums
     * a credential's charges over old and next as one device
     * (settlement.md §5), so next starts from old's, or it would accept
     * what the guarantee no longer covers. Before the credential, so a
     * next that accepts has them; on every run, replacing what an earlier
     * one carried: old accepts nothing since its request went (RETIRING,
     * then revoked), so its sums are the same each time. */
    if (rc == OFFPAY_OK)
        rc = offpay__terminal_carry_sums(next, old);
    /* the rules before the credential: a next holding its credential has
     * had them copied, and a run cut off between the two copies them again */
    if (rc == OFFPAY_OK && !installed &&
        offpay_terminal_get_risk(old, &risk) == OFFPAY_OK)
        rc = offpay_terminal_set_risk(next, &risk);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_set_credential(next, cred, n, now);
    /* a credential under an issuer key newer than next's bundle (next made
     * from the bundle the merchant had before a key was added): next takes
     * offpayd's bundle, checked against its root, and the credential then;
     * without it the old terminal is revoked and the new one accepts
     * nothing */
    if (rc == OFFPAY_EUNKNOWN_KID) {
        uint8_t *bundle = NULL;
        size_t   len = 0;

        rc = offpay__http_get_b64(base_url, "/v1/bundle", "bundle", TRIES,
                                  &bundle, &len);
        if (rc == OFFPAY_OK)
            rc = offpay_terminal_sync(next, bundle, len, NULL, 0, now);
        free(bundle);
        if (rc == OFFPAY_OK)
            rc = offpay_terminal_set_credential(next, cred, n, now);
    }
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_upload(next, base_url, 0, now, NULL);
    if (rc == OFFPAY_OK && new_id != NULL)
        *new_id =
            (uint32_t)json_integer_value(json_object_get(doc, "terminal_id"));
out:
    json_decref(doc);
    return rc;
}

offpay_err offpay_terminal_decommission(offpay_terminal *t,
                                        const char *base_url, uint32_t now,
                                        offpay_upload_report *rep)
{
    offpay_upload_report mine;
    json_t              *doc = NULL;
    offpay_err           rc;

    if (rep == NULL)
        rep = &mine;
    memset(rep, 0, sizeof *rep);
    if (t == NULL || base_url == NULL)
        return OFFPAY_EINVAL;
    rc = final_upload(t, base_url, now, rep);
    if (rc != OFFPAY_OK)
        return rc;
    rc = post(t, base_url, "/v1/terminal/decommission", "{}", now,
              rep->clock_known ? rep->clock_offset : 0, &doc);
    if (rc == OFFPAY_OK && json_is_true(json_object_get(doc, "replayed")))
        offpay__log("offpay: offpayd had decommissioned this terminal "
                    "already (an earlier request, its reply perhaps lost)\n");
    json_decref(doc);
    if (rc == OFFPAY_OK) { /* it accepts nothing more */
        rep->revoked = 1;
        rc = offpay__terminal_record_revoked(t, now);
        if (rc == OFFPAY_OK)
            rc = offpay__terminal_set_retiring(t, 0);
    }
    return rc;
}
