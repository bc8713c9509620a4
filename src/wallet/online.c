/*
 * online.c — the wallet's online life (wallet.h, "the online life";
 * docs/api.md, "Wallet online"; docs/settlement.md §12): enrollment with
 * an operator's one-time code, allowances, the settlement sync (upload,
 * status, counters, released reservations, renewal, bundle), a lost
 * wallet's revocation by its owner, and the sealed backup with its safe
 * restore. Every request is signed by the wallet's key (the format of
 * terminal/upload_int.h) and sent by terminal/upload_http.c.
 *
 * The server and account the wallet enrolled with are kept beside the
 * wallet file in path.online ({"server":URL,"account":"N",
 * "currency":"EUR"[,"clock_offset":N,"clock_at":T]}): nothing
 * secret, and nothing the wallet's safety depends on (a lost one is
 * given again with --server). The clock offset the last sync measured
 * (offpayd's clock minus the device's, and the device's time then) is
 * kept there too, as "clock_offset" and "clock_at": codes are dated by
 * the device's clock, so 'wallet pay' warns by it. An allowance asked
 * and not answered yet is kept in path.allowance (its request id,
 * amount and expiry) from before the request leaves until an answer is
 * installed or offpayd refuses it: asked again, in another process after
 * a lost answer or a Ctrl-C, it carries the same request id, and offpayd
 * makes it once.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/jsonutil.h"
#include "offpay/core.h"
#include "offpay/crypto.h"
#include "offpay/verify.h"
#include "offpay/wallet.h"
#include "terminal/upload_int.h"
#include "wallet/wallet_file.h"
#include "wallet/wallet_int.h"

#define TRIES            3
#define SIDE_MAX         1024 /* bytes of path.online */
#define BACKUP_FORMAT    "offpay-wallet-backup"
#define BACKUP_VERSION   1
#define BACKUP_CREDS_MAX OFFPAY_WALLET_CREDS_MAX
#define BUNDLE_BYTES_MAX (2 + 9 + OFFPAY_BUNDLE_KEYS_MAX * 42 + 64)
#define RENEW_BEFORE     (3u * 86400u)
#define RENEW_BELOW_PCT  10u
/* the most credentials offpayd lists a page (OFFPAY_LEDGER_CREDS_PAGE_MAX
 * of settle.h): the status's bound, and the page the sync asks */
#define CREDS_PAGE 500u
/* the most pages a sync reads: 2 million credentials, past any key's
 * history (an honest offpayd's pages end long before) */
#define CREDS_PAGES_MAX 4096u

/* A decimal id as offpayd writes them: digits, no sign, no leading zero,
 * at most INT64_MAX. 0 when s is not one. */
static uint64_t parse_id(const char *s)
{
    uint64_t v = 0;

    if (s == NULL || s[0] < '1' || s[0] > '9')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (uint64_t)(INT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    return v;
}

/* ---- the remembered server (path.online) ----------------------------- */

/* The wallet file's path with suffix ("online", "allowance"), malloc'd;
 * NULL for a wallet without a file. */
static char *beside(const offpay_wallet *w, const char *suffix)
{
    const char *p = offpay__wallet_path(w);
    size_t      n;
    char       *s;

    if (p == NULL)
        return NULL;
    n = strlen(p) + strlen(suffix) + 2;
    s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s.%s", p, suffix);
    return s;
}

static char *side_path(const offpay_wallet *w)
{
    return beside(w, "online");
}

/* doc written as the wallet's file beside it with suffix, atomically
 * (offpay__file_write_atomic); doc stays the caller's. */
static offpay_err write_beside(const offpay_wallet *w, const char *suffix,
                               const json_t *doc)
{
    char      *path = beside(w, suffix);
    char      *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    offpay_err rc = OFFPAY_ENOMEM;

    if (path != NULL && text != NULL)
        rc = offpay__file_write_atomic(path, (const uint8_t *)text,
                                       strlen(text));
    offpay__json_free(text);
    free(path);
    return rc;
}

static offpay_err side_write(const offpay_wallet *w, const char *server,
                             uint64_t account, uint16_t currency)
{
    char        id[24];
    const char *cur = offpay_currency_alpha(currency);
    json_t     *doc;
    offpay_err  rc;

    if (cur == NULL)
        return OFFPAY_EINVAL;
    snprintf(id, sizeof id, "%llu", (unsigned long long)account);
    doc = json_pack("{s:s, s:s, s:s}", "server", server, "account", id,
                    "currency", cur);
    rc = write_beside(w, "online", doc);
    json_decref(doc);
    return rc;
}

/* The clock a sync measured, as path.online keeps it: both keys or
 * neither (a wallet that never synced since 0.13.0). 1 when doc has a
 * well-formed pair (*offset, *at set), 0 when it has neither, -1 when it
 * has anything else. */
static int side_clock(const json_t *doc, int64_t *offset, uint32_t *at)
{
    const json_t *o = json_object_get(doc, "clock_offset");
    const json_t *t = json_object_get(doc, "clock_at");

    if (o == NULL && t == NULL)
        return 0;
    if (!json_is_integer(o) || !json_is_integer(t) ||
        json_integer_value(o) > OFFPAY__CLOCK_OFFSET_MAX ||
        json_integer_value(o) < -OFFPAY__CLOCK_OFFSET_MAX ||
        json_integer_value(t) < 1 || json_integer_value(t) > UINT32_MAX)
        return -1;
    *offset = (int64_t)json_integer_value(o);
    *at = (uint32_t)json_integer_value(t);
    return 1;
}

/* path.online, parsed and checked, into *doc (json_decref it) and out.
 * Errors: OFFPAY_ENOTFOUND (none: never enrolled), OFFPAY_ECORRUPT, the
 * file system's. */
static offpay_err side_read(const offpay_wallet *w, json_t **doc,
                            offpay_wallet_account *out)
{
    char        *path;
    uint8_t     *data = NULL;
    size_t       len = 0;
    json_error_t jerr;
    const char  *s, *a, *cur;
    uint64_t     v = 0;
    uint16_t     currency = 0;
    int64_t      offset = 0;
    uint32_t     at = 0;
    int          clock;
    offpay_err   rc;

    *doc = NULL;
    memset(out, 0, sizeof *out);
    path = side_path(w);
    if (path == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__file_read(path, SIDE_MAX, &data, &len);
    free(path);
    if (rc == OFFPAY_ENOENT)
        return OFFPAY_ENOTFOUND;
    if (rc != OFFPAY_OK)
        return rc;
    *doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    free(data);
    s = json_string_value(json_object_get(*doc, "server"));
    a = json_string_value(json_object_get(*doc, "account"));
    cur = json_string_value(json_object_get(*doc, "currency"));
    clock = side_clock(*doc, &offset, &at);
    if (clock >= 0 && json_object_size(*doc) == 3u + 2u * (size_t)clock &&
        s != NULL && a != NULL && cur != NULL &&
        strlen(s) <= OFFPAY_WALLET_URL_MAX && offpay__http_base_ok(s) &&
        (v = parse_id(a)) > 0 &&
        offpay_currency_from_alpha(cur, &currency) == OFFPAY_OK) {
        snprintf(out->server, sizeof out->server, "%s", s);
        out->account = v;
        out->currency = currency;
        return OFFPAY_OK;
    }
    json_decref(*doc);
    *doc = NULL;
    return OFFPAY_ECORRUPT;
}

offpay_err offpay_wallet_server(const offpay_wallet   *w,
                                offpay_wallet_account *out)
{
    json_t    *doc = NULL;
    offpay_err rc;

    if (w == NULL || out == NULL)
        return OFFPAY_EINVAL;
    rc = side_read(w, &doc, out);
    json_decref(doc);
    return rc;
}

offpay_err offpay_wallet_clock(const offpay_wallet *w, int64_t *offset,
                               uint32_t *at)
{
    offpay_wallet_account a;
    json_t               *doc = NULL;
    offpay_err            rc;

    if (w == NULL || offset == NULL || at == NULL)
        return OFFPAY_EINVAL;
    *offset = 0;
    *at = 0;
    rc = side_read(w, &doc, &a);
    if (rc == OFFPAY_OK && side_clock(doc, offset, at) != 1)
        rc = OFFPAY_ENOTFOUND;
    json_decref(doc);
    return rc;
}

/* Keeps in path.online the clock offset a sync measured at now (what
 * offpay_wallet_clock gives back), when the file is there: the offset is
 * advice for the payer, so a wallet synced with --server and no
 * path.online gains no file for it. Errors: those of reading and
 * writing the file. */
static offpay_err side_set_clock(const offpay_wallet *w, int64_t offset,
                                 uint32_t now)
{
    offpay_wallet_account a;
    json_t               *doc = NULL;
    offpay_err            rc;

    rc = side_read(w, &doc, &a);
    if (rc != OFFPAY_OK)
        return rc;
    rc = OFFPAY_ENOMEM;
    if (json_object_set_new(doc, "clock_offset",
                            json_integer((json_int_t)offset)) == 0 &&
        json_object_set_new(doc, "clock_at", json_integer((json_int_t)now)) ==
            0)
        rc = write_beside(w, "online", doc);
    json_decref(doc);
    return rc;
}

offpay_err offpay__wallet_base(const offpay_wallet *w, const char *base_url,
                               char         buf[OFFPAY_WALLET_URL_MAX + 1],
                               const char **base)
{
    offpay_wallet_account a;
    offpay_err            rc;

    if (base_url != NULL) {
        if (!offpay__http_base_ok(base_url) ||
            strlen(base_url) > OFFPAY_WALLET_URL_MAX)
            return OFFPAY_EINVAL;
        *base = base_url;
        return OFFPAY_OK;
    }
    rc = offpay_wallet_server(w, &a);
    memcpy(buf, a.server, sizeof a.server);
    *base = buf;
    return rc;
}

/* ---- signed requests --------------------------------------------------- */

/*
 * POSTs body to base + path signed by the wallet; *doc is the JSON reply
 * of a 200. A refusal prints offpayd's error and returns OFFPAY_EIO, or
 * the error it names when the caller wants it told apart (*err_name, may
 * be NULL, receives offpayd's "error", truncated); *status (may be NULL)
 * the answer's HTTP status, 0 for none.
 */
static offpay_err post_status(const offpay_wallet *w, const char *base,
                              const char *path, const char *body, uint32_t now,
                              int64_t offset, json_t **doc, char *err_name,
                              size_t err_cap, long *status)
{
    offpay__wallet_signing sg = {w, now, offset, time(NULL)};
    offpay__http_signer    s = {
           offpay__wallet_signing_time, offpay__wallet_signing_sign, &sg,
           offpay__wallet_bundle(w),    offpay__wallet_root(w),      now};

    return offpay__http_post_json_status(base, path, body, &s, TRIES, doc,
                                         err_name, err_cap, status);
}

static offpay_err post(const offpay_wallet *w, const char *base,
                       const char *path, const char *body, uint32_t now,
                       int64_t offset, json_t **doc, char *err_name,
                       size_t err_cap)
{
    return post_status(w, base, path, body, now, offset, doc, err_name, err_cap,
                       NULL);
}

/*
 * Letting the wallet go while a request waits on offpayd, so that a
 * payment at a gate does not wait on the network: offpay__wallet_let_go
 * before the requests, offpay__wallet_take_back before anything is
 * written. A function called with the wallet let go already (the sync's
 * upload) is told *let 0 and leaves taking it back to its caller.
 */
offpay_err offpay__wallet_take_back(offpay_wallet *w, int *let)
{
    offpay_err rc;

    if (!*let)
        return OFFPAY_OK;
    rc = offpay__wallet_retake(w);
    *let = 0; /* taken back, or failed for good: the handle stays let go,
                 writing nothing, and is to be closed */
    if (rc == OFFPAY_OK)
        return OFFPAY_OK;
    if (rc == OFFPAY_EBUSY)
        offpay__log("offpay: another process held the wallet past the wait "
                    "after offpayd was asked: this wallet kept nothing of "
                    "its answer\n");
    else if (rc == OFFPAY_EPASSPHRASE)
        offpay__log("offpay: another process sealed the wallet file again "
                    "(at the default cost) while offpayd was asked: this "
                    "wallet kept nothing of its answer\n");
    else if (rc == OFFPAY_ECORRUPT)
        offpay__log("offpay: %s holds another wallet since offpayd was "
                    "asked\n",
                    offpay__wallet_path(w));
    return rc;
}

/* One sync or allowance at a time (offpay__wallet_sync_lock). */
static offpay_err sync_lock(const offpay_wallet *w, int *fd)
{
    offpay_err rc = offpay__wallet_sync_lock(w, fd);

    if (rc == OFFPAY_EBUSY)
        offpay__log("offpay: another sync or allowance of this wallet with "
                    "offpayd is running\n");
    return rc;
}

/* A decimal id string field, or 0. */
static uint64_t id_field(const json_t *o, const char *key)
{
    return parse_id(json_string_value(json_object_get(o, key)));
}

/* An amount object's minor units ({"minor": n, ...}), or 0. */
static int64_t minor_field(const json_t *o, const char *key)
{
    return (int64_t)json_integer_value(
        json_object_get(json_object_get(o, key), "minor"));
}

/* A unix time of a reply (0: absent or out of range). */
static uint32_t time_field(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

/* The account fields of an enroll or status reply. */
static void account_of(const json_t *doc, const char *base,
                       offpay_wallet_account *a)
{
    const char *cur = json_string_value(json_object_get(doc, "currency"));

    memset(a, 0, sizeof *a);
    snprintf(a->server, sizeof a->server, "%s", base);
    a->account = id_field(doc, "account");
    if (cur == NULL ||
        offpay_currency_from_alpha(cur, &a->currency) != OFFPAY_OK)
        a->currency = 0;
    a->balance = minor_field(doc, "balance");
    a->revoked = json_is_true(json_object_get(doc, "revoked"));
    /* the status's (an older offpayd gives none: 0) */
    a->late_held = minor_field(doc, "late_held");
    a->late_held_until =
        a->late_held > 0 ? time_field(doc, "late_held_until") : 0;
}

/* ---- enrollment and allowance ----------------------------------------- */

offpay_err offpay_wallet_enroll(offpay_wallet *w, const char *base_url,
                                const char *code, uint32_t now,
                                offpay_wallet_account *out)
{
    offpay_wallet_account a;
    json_t               *req = NULL, *doc = NULL;
    char                 *body = NULL;
    offpay_err            rc;

    if (w == NULL || code == NULL || base_url == NULL ||
        !offpay__http_base_ok(base_url) ||
        strlen(base_url) > OFFPAY_WALLET_URL_MAX)
        return OFFPAY_EINVAL;
    req = json_pack("{s:s}", "code", code);
    body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL)
        return OFFPAY_ENOMEM;
    rc = post(w, base_url, "/v1/wallet/enroll", body, now,
              offpay__wallet_clock_offset(base_url, now), &doc, NULL, 0);
    offpay__json_free(body); /* the wiping allocator zeroes the code */
    if (rc != OFFPAY_OK)
        return rc;
    account_of(doc, base_url, &a);
    json_decref(doc);
    if (a.account == 0) {
        offpay__log("offpay: offpayd's enrollment names no account\n");
        return OFFPAY_EIO;
    }
    rc = side_write(w, base_url, a.account, a.currency);
    if (rc == OFFPAY_OK && out != NULL)
        *out = a;
    return rc;
}

/* Installs the base64 credential of field key of doc (frozen, floor). */
static offpay_err install_b64(offpay_wallet *w, const json_t *doc,
                              const char *key, uint32_t now, int frozen,
                              uint32_t floor)
{
    const char *b64 = json_string_value(json_object_get(doc, key));
    uint8_t     buf[OFFPAY_WALLET_CRED_BYTES];
    size_t      n = 0;

    if (b64 == NULL ||
        sodium_base642bin(buf, sizeof buf, b64, strlen(b64), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return OFFPAY_EIO;
    return offpay__wallet_add_cred_online(w, buf, n, now, frozen, floor);
}

/* offpayd's trust bundle as bytes into *bytes (free it), or NULL when it
 * cannot be fetched: taking it is best effort. */
static void fetch_bundle(const char *base, uint8_t **bytes, size_t *len)
{
    if (offpay__http_get_b64(base, "/v1/bundle", "bundle", TRIES, bytes, len) !=
        OFFPAY_OK) {
        *bytes = NULL;
        *len = 0;
    }
}

/* A bundle fetched (NULL: none) taken when newer than the wallet's
 * (verified under its pinned root); one not newer changes nothing and is
 * no error. Errors: those of taking it (OFFPAY_EBUNDLE_SIG, ...). */
static offpay_err install_bundle(offpay_wallet *w, const uint8_t *bytes,
                                 size_t len, uint32_t now)
{
    offpay_err rc;

    if (bytes == NULL)
        return OFFPAY_OK;
    rc = offpay_wallet_update_bundle(w, bytes, len, now);
    return rc == OFFPAY_EBUNDLE_OLD ? OFFPAY_OK : rc;
}

/* offpayd's trust bundle fetched with the wallet let go, then installed
 * (install_bundle). */
static offpay_err take_bundle(offpay_wallet *w, const char *base, uint32_t now)
{
    uint8_t   *bytes = NULL;
    size_t     len = 0;
    int        let = 0;
    offpay_err rc;

    rc = offpay__wallet_let_go(w, &let);
    if (rc != OFFPAY_OK)
        return rc;
    fetch_bundle(base, &bytes, &len);
    rc = offpay__wallet_take_back(w, &let);
    if (rc == OFFPAY_OK)
        rc = install_bundle(w, bytes, len, now);
    free(bytes);
    return rc;
}

/* ---- the allowance asked and not answered (path.allowance) ---------- */

#define PENDING_MAX 512 /* bytes of path.allowance */
#define RID_BYTES   16

typedef struct pending {
    char     rid_hex[2 * RID_BYTES + 1];
    int64_t  amount;
    uint16_t currency;
    uint32_t expires; /* 0: the server's default */
} pending;

static char *pending_path(const offpay_wallet *w)
{
    return beside(w, "allowance");
}

/* The allowance w asked and has no answer to into *out; OFFPAY_ENOTFOUND
 * when none (or one another wallet left at this path: its key is not
 * w's). OFFPAY_ECORRUPT (said in the log) for a file not of this form. */
static offpay_err pending_read(const offpay_wallet *w, pending *out)
{
    char        *path = pending_path(w);
    uint8_t     *data = NULL;
    size_t       len = 0;
    uint8_t      pk[OFFPAY_PK_BYTES], mine[OFFPAY_PK_BYTES];
    uint64_t     amount = 0, expires = 0;
    const char  *rid, *cur;
    json_t      *doc = NULL;
    json_error_t jerr;
    offpay_err   rc;

    memset(out, 0, sizeof *out);
    if (path == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__file_read(path, PENDING_MAX, &data, &len);
    if (rc == OFFPAY_ENOENT)
        rc = OFFPAY_ENOTFOUND;
    if (rc != OFFPAY_OK)
        goto out;
    doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    rid = json_string_value(json_object_get(doc, "request_id"));
    cur = json_string_value(json_object_get(doc, "currency"));
    rc = OFFPAY_ECORRUPT;
    if (json_object_size(doc) != 5 || rid == NULL ||
        strlen(rid) != 2 * RID_BYTES || cur == NULL ||
        offpay_currency_from_alpha(cur, &out->currency) != OFFPAY_OK ||
        offpay__json_get_hex(doc, "wallet_key", pk, sizeof pk) != OFFPAY_OK ||
        offpay__json_get_u64(doc, "amount", INT64_MAX, &amount) != OFFPAY_OK ||
        amount == 0 ||
        offpay__json_get_u64(doc, "expires", UINT32_MAX, &expires) !=
            OFFPAY_OK) {
        offpay__log("offpay: %s is not an allowance this wallet asked: move "
                    "it away after 'offpay wallet sync' (which installs "
                    "what offpayd issued)\n",
                    path);
        goto out;
    }
    offpay_wallet_public_key(w, mine);
    if (memcmp(pk, mine, sizeof pk) != 0) {
        rc = OFFPAY_ENOTFOUND; /* another wallet's, once at this path */
        goto out;
    }
    snprintf(out->rid_hex, sizeof out->rid_hex, "%s", rid);
    out->amount = (int64_t)amount;
    out->expires = (uint32_t)expires;
    rc = OFFPAY_OK;
out:
    if (rc != OFFPAY_OK)
        memset(out, 0, sizeof *out);
    json_decref(doc);
    free(data);
    free(path);
    return rc;
}

/* Writes p as the allowance w asked and has no answer to yet: durable
 * before the request leaves (offpay__file_write_atomic). */
static offpay_err pending_write(const offpay_wallet *w, const pending *p)
{
    uint8_t     pk[OFFPAY_PK_BYTES];
    const char *cur = offpay_currency_alpha(p->currency);
    json_t     *doc = NULL;
    offpay_err  rc = OFFPAY_ENOMEM;

    if (cur == NULL)
        return OFFPAY_EINVAL;
    offpay_wallet_public_key(w, pk);
    doc = json_pack("{s:s, s:I, s:s, s:I}", "request_id", p->rid_hex, "amount",
                    (json_int_t)p->amount, "currency", cur, "expires",
                    (json_int_t)p->expires);
    if (doc != NULL &&
        offpay__json_set_hex(doc, "wallet_key", pk, sizeof pk) == OFFPAY_OK)
        rc = write_beside(w, "allowance", doc);
    json_decref(doc);
    return rc;
}

/* The allowance w asked is answered (installed, or refused by offpayd: it
 * made nothing), or a sync installed what offpayd issued: forgotten. A
 * failure only leaves it to be asked again, which offpayd answers with
 * the same credential: said, not an error. */
static void pending_clear(const offpay_wallet *w)
{
    char *path = pending_path(w);

    if (path != NULL && unlink(path) != 0 && errno != ENOENT)
        offpay__log("offpay: %s could not be removed (%s): 'offpay wallet "
                    "balance' may say an allowance is unanswered until it "
                    "is\n",
                    path, strerror(errno));
    free(path);
}

offpay_err offpay_wallet_allowance_pending(const offpay_wallet *w,
                                           int64_t *amount, uint16_t *currency,
                                           uint32_t *expires)
{
    pending    p;
    offpay_err rc;

    if (w == NULL)
        return OFFPAY_EINVAL;
    rc = pending_read(w, &p);
    if (amount != NULL)
        *amount = p.amount;
    if (currency != NULL)
        *currency = p.currency;
    if (expires != NULL)
        *expires = p.expires;
    return rc;
}

/* offpay_wallet_allowance at base, the sync lock held. */
static offpay_err allowance(offpay_wallet *w, const char *base, int64_t amount,
                            uint16_t currency, uint32_t expires, uint32_t now,
                            uint64_t *serial, int64_t *balance)
{
    char       text[OFFPAY_AMOUNT_TEXT_MAX], was[OFFPAY_AMOUNT_TEXT_MAX];
    uint8_t    rid[RID_BYTES];
    pending    p;
    json_t    *req, *doc = NULL;
    char      *body = NULL, refused[40] = "";
    int        let = 0;
    offpay_err rc;

    rc = offpay_amount_format(amount, currency, text, sizeof text);
    if (rc != OFFPAY_OK)
        return rc;
    /* One id for this allowance, kept in path.allowance before the
     * request leaves: post() resends the same body when an answer is
     * lost, and a rerun after a lost answer or an interrupt sends the id
     * kept, so offpayd gives the credential it issued to the first of them
     * instead of a second escrow. */
    rc = pending_read(w, &p);
    if (rc == OFFPAY_OK && (p.amount != amount || p.currency != currency ||
                            p.expires != expires)) {
        if (offpay_amount_format(p.amount, p.currency, was, sizeof was) !=
            OFFPAY_OK)
            snprintf(was, sizeof was, "?");
        offpay__log("offpay: an allowance of %s %s was asked and not "
                    "answered: run 'offpay wallet sync' (or the same "
                    "allowance again) before asking another\n",
                    was, offpay_currency_alpha(p.currency));
        return OFFPAY_ESYNC_REQUIRED;
    }
    if (rc == OFFPAY_ENOTFOUND) {
        randombytes_buf(rid, sizeof rid);
        sodium_bin2hex(p.rid_hex, sizeof p.rid_hex, rid, sizeof rid);
        p.amount = amount;
        p.currency = currency;
        p.expires = expires;
        rc = pending_write(w, &p);
    }
    if (rc != OFFPAY_OK)
        return rc;
    req = expires ? json_pack("{s:s, s:I, s:s}", "amount", text, "expires",
                              (json_int_t)expires, "request_id", p.rid_hex)
                  : json_pack("{s:s, s:s}", "amount", text, "request_id",
                              p.rid_hex);
    body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__wallet_let_go(w, &let);
    if (rc == OFFPAY_OK)
        rc = post(w, base, "/v1/wallet/allowance", body, now,
                  offpay__wallet_clock_offset(base, now), &doc, refused,
                  sizeof refused);
    offpay__json_free(body);
    if (rc != OFFPAY_OK) {
        /* a failure is said; the handle then stays let go, writing
         * nothing. Refused by offpayd in an answer it signed (a 4xx):
         * nothing was made, and the next allowance is a new one; else
         * (unreachable, a 5xx, a refusal nothing vouches for) it may have
         * been made, and stays asked. */
        if (rc == OFFPAY_EREFUSED && refused[0] != '\0')
            pending_clear(w);
        (void)offpay__wallet_take_back(w, &let);
        return rc;
    }
    /* the escrow is made: from here on a failure says to sync */
    rc = offpay__wallet_take_back(w, &let);
    if (rc == OFFPAY_OK)
        rc = install_b64(w, doc, "credential", now, 0, 1);
    /* signed by a daily key newer than the wallet's bundle (the issuer
     * added one since the last sync): the escrow is made, so take
     * offpayd's bundle and install it */
    if (rc == OFFPAY_EUNKNOWN_KID && take_bundle(w, base, now) == OFFPAY_OK)
        rc = install_b64(w, doc, "credential", now, 0, 1);
    if (rc != OFFPAY_OK) {
        offpay__log("offpay: offpayd issued credential %" PRIu64
                    " (the allowance is in its escrow) but this wallet "
                    "could not install it (%s): run 'offpay wallet sync' "
                    "to take it, not another allowance\n",
                    id_field(doc, "serial"), offpay_errname(rc));
        rc = OFFPAY_ESYNC_REQUIRED; /* whatever the cause: not "try again" */
    }
    if (rc == OFFPAY_OK)
        pending_clear(w); /* installed: answered */
    if (rc == OFFPAY_OK && serial != NULL)
        *serial = id_field(doc, "serial");
    if (rc == OFFPAY_OK && balance != NULL)
        *balance = minor_field(doc, "balance");
    json_decref(doc);
    return rc;
}

offpay_err offpay_wallet_allowance(offpay_wallet *w, const char *base_url,
                                   int64_t amount, uint16_t currency,
                                   uint32_t expires, uint32_t now,
                                   uint64_t *serial, int64_t *balance)
{
    char        buf[OFFPAY_WALLET_URL_MAX + 1];
    const char *base = NULL;
    int         fd = -1;
    offpay_err  rc;

    if (w == NULL || amount <= 0)
        return OFFPAY_EINVAL;
    rc = offpay__wallet_base(w, base_url, buf, &base);
    if (rc == OFFPAY_OK)
        rc = sync_lock(w, &fd);
    if (rc != OFFPAY_OK)
        return rc;
    rc = allowance(w, base, amount, currency, expires, now, serial, balance);
    offpay__lock_release(fd);
    return rc;
}

/* ---- the settlement sync ---------------------------------------------- */

void offpay_wallet_sync_options_defaults(offpay_wallet_sync_options *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->renew_before = RENEW_BEFORE;
    o->renew_below_pct = RENEW_BELOW_PCT;
}

/* What the upload said of each spend log entry. */
enum { ST_UNSEEN = 0, ST_OPEN, ST_DONE };

/* A code with receipts that settlement paid otherwise than they charge. */
typedef struct upload_decided {
    size_t   index; /* spend log entry */
    int64_t  paid;
    uint64_t case_id; /* a receipt's case, 0: none */
} upload_decided;

typedef struct upload_ctx {
    uint8_t *state; /* per spend log entry */
    size_t   n;
    int (*fn)(const offpay_wallet_upload_status *s, void *ctx);
    void           *ctx;
    upload_decided *dec; /* in log order (the upload's) */
    size_t          n_dec, cap_dec;
    int             nomem; /* a decision could not be kept */
    /* the serials of codes refused ENOT_ISSUED (each once) */
    uint64_t *unknown;
    size_t    n_unknown, cap_unknown;
} upload_ctx;

/* What the receipts of s charge by offpayd's reading of them, as the
 * wallet sums them (offpay_wallet_spend's charged): the largest of each
 * terminal's. */
static int64_t receipts_charge(const offpay_wallet_upload_status *s)
{
    int64_t sum = 0;

    for (uint32_t k = 0; k < s->n_receipt; k++) {
        int64_t top = s->receipt[k].amount;
        int     first = 1;

        for (uint32_t j = 0; j < s->n_receipt; j++)
            if (s->receipt[j].terminal_id == s->receipt[k].terminal_id) {
                if (j < k)
                    first = 0;
                if (s->receipt[j].amount > top)
                    top = s->receipt[j].amount;
            }
        if (first)
            sum += top;
    }
    return sum;
}

/* Keeps what settlement decided for a code with receipts when it differs
 * from them (a receipt's mismatch, or another sum paid), for the sync to
 * record (offpay__wallet_sync_apply's decided). */
static void keep_decided(upload_ctx *u, const offpay_wallet_upload_status *s)
{
    upload_decided d = {s->index, s->paid, 0};
    int            mismatch = 0;

    if (s->n_receipt == 0 || strcmp(s->status, "rejected") == 0)
        return;
    for (uint32_t k = 0; k < s->n_receipt; k++)
        if (strcmp(s->receipt[k].outcome, "mismatch") == 0) {
            mismatch = 1;
            if (d.case_id == 0)
                d.case_id = s->receipt[k].case_id;
        }
    if (!mismatch && s->paid == receipts_charge(s))
        return;
    if (u->n_dec == u->cap_dec) {
        size_t          cap = u->cap_dec ? 2 * u->cap_dec : 16;
        upload_decided *g = realloc(u->dec, cap * sizeof *g);

        if (g == NULL) {
            u->nomem = 1;
            return;
        }
        u->dec = g;
        u->cap_dec = cap;
    }
    u->dec[u->n_dec++] = d;
}

/* Keeps serial among the credentials whose codes offpayd refused
 * ENOT_ISSUED (once each). */
static void keep_unknown(upload_ctx *u, uint64_t serial)
{
    for (size_t k = 0; k < u->n_unknown; k++)
        if (u->unknown[k] == serial)
            return;
    if (u->n_unknown == u->cap_unknown) {
        size_t    cap = u->cap_unknown ? 2 * u->cap_unknown : 4;
        uint64_t *nv = realloc(u->unknown, cap * sizeof *nv);

        if (nv == NULL) {
            u->nomem = 1;
            return;
        }
        u->unknown = nv;
        u->cap_unknown = cap;
    }
    u->unknown[u->n_unknown++] = serial;
}

static int on_status(const offpay_wallet_upload_status *s, void *p)
{
    upload_ctx *u = p;

    if (s->index < u->n) {
        /* not presented yet, or nothing decided: it may still settle */
        if (strcmp(s->status, "not_settled") == 0 ||
            strcmp(s->status, "error") == 0)
            u->state[s->index] = ST_OPEN;
        else {
            u->state[s->index] = ST_DONE;
            keep_decided(u, s);
        }
    }
    if (strcmp(s->status, "rejected") == 0 &&
        strcmp(s->reason, "ENOT_ISSUED") == 0)
        keep_unknown(u, s->serial);
    return u->fn != NULL ? u->fn(s, u->ctx) : 0;
}

/* Adds d to a credential's list (counter order), the oldest dropped
 * beyond OFFPAY__WALLET_DECIDED_MAX. */
static void add_decided(offpay__wallet_decided *list, size_t *n,
                        const offpay__wallet_decided *d)
{
    if (*n == OFFPAY__WALLET_DECIDED_MAX) {
        memmove(list, list + 1, (*n - 1) * sizeof *list);
        (*n)--;
    }
    list[(*n)++] = *d;
}

/* The wallet's index of serial, or -1. */
static long cred_index(const offpay_wallet *w, uint64_t serial)
{
    offpay_wallet_balance b;

    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++)
        if (offpay_wallet_get_balance(w, i, 0, &b) == OFFPAY_OK &&
            b.serial == serial)
            return (long)i;
    return -1;
}

/* Marks every credential the wallet holds revoked (the server revoked
 * the wallet: reported lost): it shows no code from them any more. */
static offpay_err revoke_all_local(offpay_wallet *w, uint32_t back_by,
                                   uint32_t late_until)
{
    size_t                    n = offpay_wallet_n_credentials(w), nv = 0;
    offpay__wallet_sync_cred *v = calloc(n ? n : 1, sizeof *v);
    offpay_wallet_balance     b;
    offpay_err                rc;

    if (v == NULL)
        return OFFPAY_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (offpay_wallet_get_balance(w, i, 0, &b) == OFFPAY_OK) {
            v[nv].serial = b.serial;
            v[nv].revoked = 1;
            /* a lost wallet's report says by when its escrows are back
             * (none released yet: a released one keeps what it was told) */
            if (back_by != 0 && !b.escrow_released) {
                v[nv].release_due = back_by;
                v[nv].late_until = late_until;
            }
            nv++;
        }
    rc = offpay__wallet_sync_apply(w, v, nv);
    free(v);
    return rc;
}

/* Renews by o when every usable credential of currency needs it, or
 * when the wallet's credentials of currency have all expired (a revoked
 * one is not renewed: a case was opened against it, or the wallet was
 * reported lost), for at most what the account may fund: its balance
 * less what it holds for late codes (docs/settlement.md §6), which
 * offpayd would refuse (EFUNDS); rep->renew_held when that is nothing. */
static offpay_err renew(offpay_wallet *w, const char *base,
                        const offpay_wallet_sync_options *o,
                        offpay_wallet_account *a, uint32_t now,
                        offpay_wallet_sync_report *rep)
{
    offpay_wallet_balance b;
    int64_t               want = 0, fundable = a->balance;
    int                   fresh = 0;

    rep->renewed = 0;
    if (a->late_held > 0)
        fundable = a->late_held < a->balance ? a->balance - a->late_held : 0;
    if (o->no_renew || a->balance <= 0)
        return OFFPAY_OK;
    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
        if (offpay_wallet_get_balance(w, i, now, &b) != OFFPAY_OK ||
            b.currency != a->currency || b.frozen || b.revoked)
            continue;
        if (!b.usable) {
            if (b.expires <= now)
                want = b.limit; /* expired: renewed like one at its end */
            else
                fresh = 1; /* not valid yet (a clock behind offpayd's, which
                              issued it), or its key retired: renewing
                              would only issue another such one */
            continue;
        }
        if (b.expires - now < o->renew_before ||
            b.available * 100 < b.limit * (int64_t)o->renew_below_pct)
            want = b.limit; /* the newest such credential's limit */
        else
            fresh = 1;
    }
    if (fresh || want == 0)
        return OFFPAY_OK;
    if (fundable <= 0) {
        rep->renew_held = 1; /* held until a->late_held_until */
        return OFFPAY_OK;
    }
    if (want > fundable)
        want = fundable;
    rep->renew_amount = want;
    return allowance(w, base, want, a->currency, 0, now, &rep->renewed,
                     &a->balance);
}

/* offpayd's trust bundle and full revocation list, as bytes (free both);
 * no bundle (*bundle NULL) when it cannot be fetched: taking it is best
 * effort. Errors: OFFPAY_EIO and those of fetching the list. */
static offpay_err fetch_lists(const char *base, uint8_t **bundle,
                              size_t *bundle_len, uint8_t **revlist,
                              size_t *revlist_len)
{
    fetch_bundle(base, bundle, bundle_len);
    return offpay__http_get_b64(base, "/v1/revlist", "revlist", TRIES, revlist,
                                revlist_len);
}

/* The bundle fetched installed (install_bundle), then the list decoded
 * and verified under the wallet's bundle into *list (free it with
 * offpay_revlist_free). Errors: those of taking the bundle and of
 * verifying the list. */
static offpay_err take_lists(offpay_wallet *w, uint32_t now,
                             const uint8_t *bundle, size_t bundle_len,
                             const uint8_t *revlist, size_t revlist_len,
                             offpay_revlist *list)
{
    offpay_err rc;

    memset(list, 0, sizeof *list);
    rc = install_bundle(w, bundle, bundle_len, now);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_revlist_decode(revlist, revlist_len, list);
    if (rc != OFFPAY_OK) {
        memset(list, 0, sizeof *list);
        return rc;
    }
    rc = offpay_revlist_verify(offpay__wallet_bundle(w), list);
    if (rc != OFFPAY_OK) {
        offpay_revlist_free(list);
        memset(list, 0, sizeof *list);
    }
    return rc;
}

/* 1 when serial is in l (its serials ascend). */
static int listed(const offpay_revlist *l, uint64_t serial)
{
    size_t lo = 0, hi = l->n_serials;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (l->serials[mid] == serial)
            return 1;
        if (l->serials[mid] < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/*
 * The first counter this restored copy may sign with credential serial,
 * handed out once by offpayd (POST /v1/wallet/restore-floor;
 * docs/settlement.md §12, "Safe restore"), into *floor. Not the highest
 * counter seen + 1 + the gap, worked out here: a second copy restored
 * from the same backup would work out the same, while the first copy's
 * codes are not uploaded yet, and sign the same counters. An offpayd
 * older than the endpoint (a 404: it refuses an unknown path before it
 * knows who asked, so unsigned) sets *old and *floor 0: the caller falls
 * back to that figure, as such an offpayd's wallets did, and says so.
 * (Taking an unsigned 404 at its word weakens nothing: the fallback is
 * what every wallet did before.)
 */
static offpay_err restore_floor(const offpay_wallet *w, const char *base,
                                uint64_t serial, uint32_t now, int64_t offset,
                                uint32_t *floor, int *old)
{
    char       body[64];
    json_t    *doc = NULL, *f;
    long       status = 0;
    offpay_err rc;

    *floor = 0;
    snprintf(body, sizeof body, "{\"serial\":\"%" PRIu64 "\"}", serial);
    rc = post_status(w, base, "/v1/wallet/restore-floor", body, now, offset,
                     &doc, NULL, 0, &status);
    if (rc != OFFPAY_OK) {
        if (status == 404) {
            *old = 1;
            rc = OFFPAY_OK;
        }
        return rc;
    }
    f = json_object_get(doc, "floor");
    if (id_field(doc, "serial") != serial || !json_is_integer(f) ||
        json_integer_value(f) < 1 || json_integer_value(f) > UINT32_MAX) {
        offpay__log("offpay: offpayd's restore floor of credential %" PRIu64
                    " is not one\n",
                    serial);
        rc = OFFPAY_EIO;
    } else {
        *floor = (uint32_t)json_integer_value(f);
    }
    json_decref(doc);
    return rc;
}

/*
 * Asks offpayd for the restore floor (restore_floor) of each credential of
 * creds (a status answer's) that this sync unfreezes or installs: one
 * the wallet holds frozen, or one it lacks that is neither revoked,
 * released nor expired. (*floors)[k] is creds[k]'s (0: none asked, or an
 * older offpayd), malloc'd. Asked while the wallet is let go; its
 * credentials are read in memory, which no other process changes while
 * the sync lock is held.
 */
static offpay_err ask_floors(const offpay_wallet *w, const char *base,
                             const json_t *creds, uint32_t now, int64_t offset,
                             uint32_t **floors)
{
    size_t     n = json_array_size(creds);
    int        old = 0;
    offpay_err rc = OFFPAY_OK;

    *floors = calloc(n ? n : 1, sizeof **floors);
    if (*floors == NULL)
        return OFFPAY_ENOMEM;
    for (size_t k = 0; k < n && rc == OFFPAY_OK && !old; k++) {
        const json_t         *c = json_array_get(creds, k);
        uint64_t              serial = id_field(c, "serial");
        long                  i = cred_index(w, serial);
        offpay_wallet_balance b;
        int                   need;

        if (json_is_true(json_object_get(c, "revoked")))
            continue;
        if (i < 0)
            need = !json_is_true(json_object_get(c, "released")) &&
                   (uint32_t)json_integer_value(json_object_get(c, "expires")) >
                       now;
        else
            need =
                offpay_wallet_get_balance(w, (size_t)i, now, &b) == OFFPAY_OK &&
                b.frozen;
        if (need)
            rc = restore_floor(w, base, serial, now, offset, &(*floors)[k],
                               &old);
    }
    if (old)
        offpay__log("offpay: offpayd is older than this wallet and hands out "
                    "no restore floor: restored credentials continue %u "
                    "counters above the highest it saw, and another copy "
                    "restored from the same backup must not pay until this "
                    "one's codes are uploaded (or it signs the same "
                    "counters: a double spend)\n",
                    (unsigned)OFFPAY_WALLET_RESTORE_GAP);
    return rc;
}

/* ---- the credentials a sync goes through ---------------------------- */

static int serial_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The serials of the credentials of arr, ascending, into *out (malloc'd)
 * and *n. */
static offpay_err serials_of(const json_t *arr, uint64_t **out, size_t *n)
{
    size_t k = json_array_size(arr);

    *n = 0;
    *out = malloc((k ? k : 1) * sizeof **out);
    if (*out == NULL)
        return OFFPAY_ENOMEM;
    for (size_t i = 0; i < k; i++)
        (*out)[(*n)++] = id_field(json_array_get(arr, i), "serial");
    qsort(*out, *n, sizeof **out, serial_cmp);
    return OFFPAY_OK;
}

static int has_serial(const uint64_t *v, size_t n, uint64_t serial)
{
    return n > 0 && bsearch(&serial, v, n, sizeof *v, serial_cmp) != NULL;
}

/*
 * One page of the key's credentials (POST /v1/wallet/credentials, since
 * 0.19.0) after serial after, ascending, only the open ones when open,
 * into *doc; its credentials are checked to ascend above after, and
 * *next receives its next_after (0: the last page). OFFPAY_ENOTFOUND: an
 * offpayd without the endpoint (an unsigned 404 of an unknown path).
 */
static offpay_err creds_page(const offpay_wallet *w, const char *base,
                             uint64_t after, int open, uint32_t now,
                             int64_t offset, json_t **doc, uint64_t *next)
{
    char       body[96];
    long       status = 0;
    uint64_t   last = after;
    json_t    *creds, *na;
    offpay_err rc;

    *doc = NULL;
    *next = 0;
    snprintf(body, sizeof body, "{\"after\":\"%" PRIu64 "\",\"limit\":%u%s}",
             after, CREDS_PAGE, open ? ",\"open\":true" : "");
    rc = post_status(w, base, "/v1/wallet/credentials", body, now, offset, doc,
                     NULL, 0, &status);
    if (rc != OFFPAY_OK)
        return status == 404 ? OFFPAY_ENOTFOUND : rc;
    creds = json_object_get(*doc, "credentials");
    na = json_object_get(*doc, "next_after");
    rc = json_is_array(creds) && json_array_size(creds) <= CREDS_PAGE &&
                 (json_is_null(na) || id_field(*doc, "next_after") > after)
             ? OFFPAY_OK
             : OFFPAY_EIO;
    for (size_t i = 0; rc == OFFPAY_OK && i < json_array_size(creds); i++) {
        uint64_t serial = id_field(json_array_get(creds, i), "serial");

        if (serial <= last)
            rc = OFFPAY_EIO;
        last = serial;
    }
    if (rc == OFFPAY_OK && !json_is_null(na))
        *next = id_field(*doc, "next_after");
    if (rc != OFFPAY_OK) {
        offpay__log("offpay: offpayd's page of credentials after %" PRIu64
                    " is not one\n",
                    after);
        json_decref(*doc);
        *doc = NULL;
    }
    return rc;
}

/*
 * The credentials this sync goes through, into *all (a new array,
 * json_decref it): those of the status answer doc and, when offpayd
 * lists only the credentials a wallet can still need (since 0.19.0: the
 * answer counts them, "credentials_open", and lists the newest
 * CREDS_PAGE), the ones it left out that this wallet needs, read a page
 * at a time while the wallet is let go: the older open ones when the
 * list was cut (those the wallet holds or could install), and each
 * credential the wallet holds that is not listed and that it does not
 * know to be done with (released, its late window over: nothing changes
 * it any more), say one released while the wallet was away, or one a
 * restore brought back. A credential found nowhere is left as it was:
 * being left out says nothing of it. An older offpayd lists every
 * credential: nothing more is asked. *complete is 0 when offpayd could
 * not be asked for what its list left out (its pages refused 404): then
 * not every credential issued to the key is known here. The wallet's
 * credentials are read in memory, as in ask_floors.
 */
static offpay_err gather_creds(const offpay_wallet *w, const char *base,
                               const json_t *doc, uint32_t now, int64_t offset,
                               json_t **all, int *complete)
{
    const json_t *listed = json_object_get(doc, "credentials");
    const json_t *n_open = json_object_get(doc, "credentials_open");
    json_t       *page = NULL;
    uint64_t     *have = NULL, *need = NULL, after, next = 0;
    size_t        n_have = 0, n_need = 0, n_w = offpay_wallet_n_credentials(w);
    uint32_t      at = time_field(doc, "time");
    uint64_t      pages = 0;
    offpay_err    rc = OFFPAY_OK;

    *complete = 1;
    *all = json_array();
    if (*all == NULL || (json_is_array(listed) &&
                         json_array_extend(*all, (json_t *)listed) != 0)) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    if (!json_is_integer(n_open))
        goto out; /* an offpayd before 0.19.0: every credential listed */
    if (at == 0)
        at = now;
    rc = serials_of(*all, &have, &n_have);
    /* 1. the open ones older than the list's oldest, which its bound left
     * out: those the wallet holds, or could install */
    if (rc == OFFPAY_OK &&
        json_integer_value(n_open) > (json_int_t)json_array_size(listed)) {
        uint64_t oldest = n_have > 0 ? have[0] : UINT64_MAX;
        int      done = 0;

        for (after = 0; rc == OFFPAY_OK && !done; after = next) {
            const json_t *cs;

            if (++pages > CREDS_PAGES_MAX) {
                rc = OFFPAY_EIO;
                break;
            }
            rc = creds_page(w, base, after, 1, now, offset, &page, &next);
            cs = json_object_get(page, "credentials");
            for (size_t i = 0;
                 rc == OFFPAY_OK && !done && i < json_array_size(cs); i++) {
                json_t  *c = json_array_get(cs, i);
                uint64_t serial = id_field(c, "serial");
                int      use = cred_index(w, serial) >= 0 ||
                          (!json_is_true(json_object_get(c, "revoked")) &&
                           !json_is_true(json_object_get(c, "released")) &&
                           time_field(c, "expires") > now);

                if (serial >= oldest)
                    done = 1;
                else if (use && json_array_append(*all, c) != 0)
                    rc = OFFPAY_ENOMEM;
            }
            json_decref(page);
            page = NULL;
            done = done || next == 0;
        }
        free(have);
        have = NULL;
        if (rc == OFFPAY_OK)
            rc = serials_of(*all, &have, &n_have);
    }
    /* 2. those the wallet holds that are not among them, unless it knows
     * them done with (or frozen for good: offpayd does not know them) */
    need = rc == OFFPAY_OK ? malloc((n_w ? n_w : 1) * sizeof *need) : NULL;
    if (rc == OFFPAY_OK && need == NULL)
        rc = OFFPAY_ENOMEM;
    for (size_t i = 0; rc == OFFPAY_OK && i < n_w; i++) {
        offpay_wallet_balance b;

        if (offpay_wallet_get_balance(w, i, now, &b) != OFFPAY_OK ||
            has_serial(have, n_have, b.serial) || b.frozen == 2 ||
            (b.escrow_released && b.late_until != 0 && b.late_until < at))
            continue;
        need[n_need++] = b.serial;
    }
    if (rc == OFFPAY_OK && n_need > 0) {
        int done = 0;

        qsort(need, n_need, sizeof *need, serial_cmp);
        for (after = need[0] > 0 ? need[0] - 1 : 0; rc == OFFPAY_OK && !done;
             after = next) {
            const json_t *cs;

            if (++pages > CREDS_PAGES_MAX) {
                rc = OFFPAY_EIO;
                break;
            }
            rc = creds_page(w, base, after, 0, now, offset, &page, &next);
            cs = json_object_get(page, "credentials");
            for (size_t i = 0; rc == OFFPAY_OK && i < json_array_size(cs);
                 i++) {
                json_t  *c = json_array_get(cs, i);
                uint64_t serial = id_field(c, "serial");

                if (has_serial(need, n_need, serial) &&
                    json_array_append(*all, c) != 0)
                    rc = OFFPAY_ENOMEM;
                if (serial >= need[n_need - 1])
                    done = 1;
            }
            json_decref(page);
            page = NULL;
            done = done || next == 0;
        }
    }
    if (rc == OFFPAY_ENOTFOUND) {
        offpay__log("offpay: offpayd lists only the credentials a wallet "
                    "can still need and does not answer for the others "
                    "(POST /v1/wallet/credentials): those it left out are "
                    "left as they were\n");
        *complete = 0;
        rc = OFFPAY_OK;
    } else if (rc == OFFPAY_EIO && pages > CREDS_PAGES_MAX) {
        offpay__log("offpay: offpayd's pages of credentials go on past "
                    "%u\n",
                    CREDS_PAGES_MAX);
    }
out:
    free(have);
    free(need);
    if (rc != OFFPAY_OK) {
        json_decref(*all);
        *all = NULL;
    }
    return rc;
}

offpay_err offpay_wallet_sync(offpay_wallet *w, const char *base_url,
                              const offpay_wallet_sync_options *o, uint32_t now,
                              int (*fn)(const offpay_wallet_upload_status *s,
                                        void                              *ctx),
                              void *ctx, offpay_wallet_sync_report *rep)
{
    offpay_wallet_sync_report  mine;
    offpay_wallet_sync_options defaults;
    offpay__wallet_sync_cred  *v = NULL;
    upload_ctx u = {NULL, 0, fn, ctx, NULL, 0, 0, 0, NULL, 0, 0};
    offpay__wallet_decided    *dec = NULL; /* per credential of v */
    char                       buf[OFFPAY_WALLET_URL_MAX + 1];
    char                       err[40];
    const char                *base = NULL;
    json_t                    *doc = NULL, *creds = NULL; /* gather_creds' */
    offpay_revlist             list;
    uint8_t                   *bundle = NULL, *revlist = NULL;
    uint32_t                  *floors = NULL; /* ask_floors' */
    size_t     bundle_len = 0, revlist_len = 0, n_creds = 0, nv = 0, n_spends;
    int64_t    offset = 0;
    int        sync_fd = -1, let = 0, clock_known = 0, complete = 0;
    offpay_err rc, rt;

    memset(&list, 0, sizeof list);

    if (rep == NULL)
        rep = &mine;
    memset(rep, 0, sizeof *rep);
    if (o == NULL) {
        offpay_wallet_sync_options_defaults(&defaults);
        o = &defaults;
    }
    if (w == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__wallet_base(w, base_url, buf, &base);
    if (rc != OFFPAY_OK)
        return rc;
    rc = sync_lock(w, &sync_fd);
    if (rc != OFFPAY_OK)
        return rc;
    /* The wallet is let go while offpayd is asked, and taken again before
     * anything of its answers is written: a payment meanwhile waits for
     * none of it. */
    rc = offpay__wallet_let_go(w, &let);
    if (rc != OFFPAY_OK)
        goto out;
    /* once for the sync, and kept for 'wallet pay' to warn by */
    offset = offpay__wallet_clock_read(base, now, &clock_known);
    /* 1. the account first: an unknown wallet changes nothing; a revoked
     * one only marks its credentials revoked here */
    rc = post(w, base, "/v1/wallet/status", "{}", now, offset, &doc, err,
              sizeof err);
    if (rc != OFFPAY_OK) {
        if (strcmp(err, "WALLET_REVOKED") == 0) {
            offpay_err e = offpay__wallet_take_back(w, &let);

            if (e == OFFPAY_OK)
                e = revoke_all_local(w, 0, 0);
            rc = e != OFFPAY_OK ? e : OFFPAY_EREVOKED;
        } else if (strcmp(err, "NOT_ENROLLED") == 0)
            rc = OFFPAY_ENOTFOUND;
        goto out;
    }
    json_decref(doc);
    doc = NULL;
    /* 2. the spend log as it was when the sync began, each code's status
     * kept (codes made meanwhile go at the next sync) */
    u.n = offpay_wallet_n_spends(w);
    u.state = calloc(u.n ? u.n : 1, 1);
    if (u.state == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    if (u.n > 0) {
        rc = offpay_wallet_upload(w, base, 0, 0, now, on_status, &u,
                                  &rep->upload);
        if (rc != OFFPAY_OK)
            goto out;
    }
    /* 3. the account and credentials after the upload settled, the
     * newest bundle and the revocation list */
    rc = post(w, base, "/v1/wallet/status", "{}", now, offset, &doc, err,
              sizeof err);
    /* with the credentials the status left out that this wallet needs */
    if (rc == OFFPAY_OK)
        rc = gather_creds(w, base, doc, now, offset, &creds, &complete);
    /* the counters of what this sync unfreezes or installs, from offpayd
     * (a failure here leaves everything frozen: the sync is run again) */
    if (rc == OFFPAY_OK)
        rc = ask_floors(w, base, creds, now, offset, &floors);
    if (rc == OFFPAY_OK)
        rc = fetch_lists(base, &bundle, &bundle_len, &revlist, &revlist_len);
    if (rc == OFFPAY_OK)
        rc = offpay__wallet_take_back(w, &let);
    if (rc != OFFPAY_OK)
        goto out;
    account_of(doc, base, &rep->account);
    /* the bundle, then the list verified under it */
    rc = take_lists(w, now, bundle, bundle_len, revlist, revlist_len, &list);
    if (rc != OFFPAY_OK) {
        offpay__log("offpay: offpayd's revocation list: %s\n",
                    offpay_strerror(rc));
        goto out;
    }
    n_spends = offpay_wallet_n_spends(w);
    rep->spent_during = n_spends > u.n ? n_spends - u.n : 0;
    n_creds = json_array_size(creds);
    rep->credentials = n_creds;
    rep->bundle_seq =
        (uint32_t)json_integer_value(json_object_get(doc, "bundle_seq"));
    v = calloc(n_creds + u.n_unknown + 1, sizeof *v);
    dec = calloc((n_creds ? n_creds : 1) * OFFPAY__WALLET_DECIDED_MAX,
                 sizeof *dec);
    if (v == NULL || dec == NULL || u.nomem) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < n_creds; k++) {
        const json_t *c = json_array_get(creds, k);
        uint64_t      serial = id_field(c, "serial");
        uint32_t      maxc =
            (uint32_t)json_integer_value(json_object_get(c, "max_counter"));
        int revoked = json_is_true(json_object_get(c, "revoked"));
        int released = json_is_true(json_object_get(c, "released"));
        offpay_wallet_balance   b;
        long                    i = cred_index(w, serial);
        int64_t                 outstanding = 0;
        offpay__wallet_decided *kept = dec + nv * OFFPAY__WALLET_DECIDED_MAX;
        size_t                  n_list = 0, next_dec = 0;

        uint32_t restored; /* the first counter a restored copy signs */

        if (maxc > UINT32_MAX - OFFPAY_WALLET_RESTORE_GAP - 2)
            maxc = UINT32_MAX - OFFPAY_WALLET_RESTORE_GAP - 2;
        /* offpayd's restore floor (ask_floors), at least the highest
         * counter seen + 1 + the gap; that alone from an older offpayd */
        restored = maxc + 1 + OFFPAY_WALLET_RESTORE_GAP;
        if (floors[k] > restored)
            restored = floors[k];
        if (i < 0) {
            /* issued to this key, not held here (a restore from an older
             * backup): installed above the counters the server saw, and
             * above those another copy was handed */
            if (revoked || released ||
                (uint32_t)json_integer_value(json_object_get(c, "expires")) <=
                    now)
                continue;
            rc = install_b64(w, c, "credential", now, 0, restored);
            if (rc != OFFPAY_OK)
                goto out;
            rep->installed++;
            i = cred_index(w, serial);
            if (i < 0)
                continue;
        }
        if (offpay_wallet_get_balance(w, (size_t)i, now, &b) != OFFPAY_OK)
            continue;
        /* not presented yet: the codes the upload did not see settled,
         * and those made while the sync ran */
        for (size_t sp_i = 0; sp_i < n_spends; sp_i++) {
            offpay_wallet_spend sp;

            /* a code that cannot be read is not taken as presented: that
             * would release what it reserves */
            rc = offpay_wallet_get_spend(w, sp_i, &sp);
            if (rc != OFFPAY_OK) {
                offpay__log("offpay: the wallet's log could not be read "
                            "(%s): nothing of the sync was recorded\n",
                            offpay_errname(rc));
                goto out;
            }
            while (next_dec < u.n_dec && u.dec[next_dec].index < sp_i)
                next_dec++;
            if (sp.serial != serial)
                continue;
            if (sp_i >= u.n || u.state[sp_i] != ST_DONE) {
                outstanding += sp.authorized;
                rep->outstanding++;
            }
            /* what settlement decided against the receipts: this upload's
             * answer, else (not decided now) what an earlier sync kept */
            if (sp_i < u.n && u.state[sp_i] == ST_DONE) {
                if (sp.charged >= 0 && next_dec < u.n_dec &&
                    u.dec[next_dec].index == sp_i) {
                    const upload_decided *ud = &u.dec[next_dec];
                    int64_t               top =
                        ud->paid < sp.authorized ? ud->paid : sp.authorized;
                    offpay__wallet_decided d = {
                        sp.counter, ud->paid,
                        top > sp.charged ? top - sp.charged : 0, ud->case_id};

                    add_decided(kept, &n_list, &d);
                }
            } else if (sp.settled_paid >= 0) {
                int64_t top = sp.settled_paid < sp.authorized ? sp.settled_paid
                                                              : sp.authorized;
                offpay__wallet_decided d = {
                    sp.counter, sp.settled_paid,
                    sp.charged >= 0 && top > sp.charged ? top - sp.charged : 0,
                    sp.settled_case};

                add_decided(kept, &n_list, &d);
            }
        }
        v[nv].serial = serial;
        v[nv].floor = b.frozen ? restored : maxc + 1;
        revoked = revoked || listed(&list, serial);
        v[nv].unfreeze = b.frozen && !revoked;
        v[nv].revoked = revoked;
        if (revoked)
            rep->revoked++;
        v[nv].synced = 1;
        v[nv].remaining = minor_field(c, "remaining");
        v[nv].outstanding = outstanding;
        /* when the escrow returns (an older offpayd does not say) */
        v[nv].release_due = time_field(c, "release_due");
        v[nv].late_until = time_field(c, "late_until");
        v[nv].released = released;
        v[nv].released_at = time_field(c, "released_at");
        v[nv].returned = minor_field(c, "released_amount");
        v[nv].has_decided = 1;
        v[nv].decided = kept;
        v[nv].n_decided = n_list;
        if (v[nv].unfreeze)
            rep->unfrozen++;
        nv++;
    }
    /* Codes offpayd refused ENOT_ISSUED, of a credential it does not list:
     * it does not know the credential (a ledger restored from a backup
     * older than it), every code of it would be refused, at the
     * merchant's cost: frozen for good. Not listing alone is not taken
     * as proof (an offpayd before 0.16.0 listed a sharded ledger's shard
     * 0 only; since 0.19.0 the status lists only the credentials a
     * wallet can still need, and a wallet reads only those of the rest
     * it holds and is not done with); the refusal, judged on the serial's
     * own shard, is. */
    for (size_t k = 0; k < u.n_unknown; k++) {
        int listed_here = 0;

        for (size_t j = 0; j < n_creds && !listed_here; j++)
            listed_here =
                id_field(json_array_get(creds, j), "serial") == u.unknown[k];
        if (listed_here || cred_index(w, u.unknown[k]) < 0)
            continue;
        v[nv].serial = u.unknown[k];
        v[nv].unknown = 1;
        nv++;
    }
    rc = offpay__wallet_sync_apply(w, v, nv);
    if (rc != OFFPAY_OK)
        goto out;
    /* every credential offpayd issued to this key is installed now: an
     * allowance asked and not answered was made (and is among them) or
     * never will be (unless offpayd's list was cut and the rest could not
     * be read) */
    if (complete)
        pending_clear(w);
    /* 4. renewal (let go again while offpayd is asked); the account's
     * balance after it as the allowance's answer gives it */
    if (!rep->account.revoked)
        rc = renew(w, base, o, &rep->account, now, rep);
    /* a renewal offpayd refused (in an answer it signed: nothing made) is
     * the report's, not a failed sync: the upload, the counters, the
     * releases and the lists above are kept */
    if (rc == OFFPAY_EREFUSED) {
        rep->renew_err = rc;
        rc = OFFPAY_OK;
    }
out:
    /* the handle is given back holding the wallet, or the sync failed */
    rt = offpay__wallet_take_back(w, &let);
    if (rc == OFFPAY_OK)
        rc = rt;
    /* The clock measured holds whatever offpayd answered after it. A file
     * that cannot be written loses only advice: the sync is not failed
     * for it. */
    if (clock_known && rt == OFFPAY_OK &&
        side_set_clock(w, offset, now) != OFFPAY_OK)
        offpay__log("offpay: the clock offset measured could not be kept "
                    "in %s.online: 'wallet pay' will not warn by it\n",
                    offpay__wallet_path(w));
    offpay__lock_release(sync_fd);
    offpay_revlist_free(&list);
    json_decref(creds);
    json_decref(doc);
    free(bundle);
    free(revlist);
    free(v);
    free(dec);
    free(floors);
    free(u.state);
    free(u.dec);
    free(u.unknown);
    return rc;
}

/* offpayd's answer to a lost wallet's report, as far as it gives it. */
static void lost_report_of(const json_t *doc, offpay_wallet_lost_report *rep)
{
    const char *cur = json_string_value(
        json_object_get(json_object_get(doc, "balance"), "currency"));
    json_int_t n =
        json_integer_value(json_object_get(doc, "credentials_revoked"));

    rep->revoked = n > 0 ? (size_t)n : 0;
    rep->account = id_field(doc, "account");
    rep->revoked_at = time_field(doc, "revoked_at");
    rep->escrow_back_by = time_field(doc, "escrow_back_by");
    rep->late_until = time_field(doc, "late_until");
    rep->balance = minor_field(doc, "balance");
    if (cur == NULL ||
        offpay_currency_from_alpha(cur, &rep->currency) != OFFPAY_OK)
        rep->currency = 0;
}

offpay_err offpay_wallet_report_lost(offpay_wallet *w, const char *base_url,
                                     const char *reason, uint32_t now,
                                     offpay_wallet_lost_report *rep)
{
    char                      buf[OFFPAY_WALLET_URL_MAX + 1];
    const char               *base = NULL;
    json_t                   *req, *doc = NULL;
    char                     *body = NULL;
    int                       let = 0;
    offpay_wallet_lost_report lost;
    offpay_err  rc;

    if (rep != NULL)
        memset(rep, 0, sizeof *rep);
    if (w == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__wallet_base(w, base_url, buf, &base);
    if (rc != OFFPAY_OK)
        return rc;
    req = reason != NULL ? json_pack("{s:s}", "reason", reason) : json_object();
    body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__wallet_let_go(w, &let);
    if (rc == OFFPAY_OK)
        rc = post(w, base, "/v1/wallet/revoke", body, now,
                  offpay__wallet_clock_offset(base, now), &doc, NULL, 0);
    offpay__json_free(body);
    if (rc != OFFPAY_OK) {
        (void)offpay__wallet_take_back(w, &let); /* said if it fails */
        return rc;
    }
    lost_report_of(doc, &lost);
    if (rep != NULL)
        *rep = lost;
    json_decref(doc);
    /* this copy shows no code any more either (the lost phone learns it
     * at its next sync, and terminals from the revocation list) */
    rc = offpay__wallet_take_back(w, &let);
    if (rc == OFFPAY_OK)
        rc = revoke_all_local(w, lost.escrow_back_by, lost.late_until);
    if (rc != OFFPAY_OK) {
        offpay__log("offpay: offpayd revoked the wallet, but this copy "
                    "could not mark its own credentials revoked (%s): run "
                    "the report again (offpayd changes nothing more), or "
                    "'offpay wallet sync'\n",
                    offpay_errname(rc));
        rc = OFFPAY_ESYNC_REQUIRED; /* made at offpayd: not "try again" */
    }
    return rc;
}

/* ---- backup and restore ------------------------------------------------ */

offpay_err offpay_wallet_backup(offpay_wallet *w, const char *path,
                                const char *passphrase)
{
    uint8_t seed[OFFPAY_SEED_BYTES], root[OFFPAY_PK_BYTES];
    uint8_t bundle[BUNDLE_BYTES_MAX], cred[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_account acct;
    size_t                blen = 0, clen = 0;
    json_t               *doc = NULL, *creds = NULL;
    char                 *text = NULL;
    struct stat           st;
    offpay_err            rc;

    if (w == NULL || path == NULL || passphrase == NULL)
        return OFFPAY_EINVAL;
    if (lstat(path, &st) == 0)
        return OFFPAY_EEXISTS;
    rc = offpay__passphrase_check(passphrase);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__wallet_backup_parts(w, seed, root, bundle, sizeof bundle,
                                     &blen);
    if (rc != OFFPAY_OK)
        goto out;
    if (offpay_wallet_server(w, &acct) != OFFPAY_OK)
        memset(&acct, 0, sizeof acct);
    rc = OFFPAY_ENOMEM;
    doc = json_object();
    creds = json_array();
    if (doc == NULL || creds == NULL ||
        json_object_set_new(doc, "format", json_string(BACKUP_FORMAT)) != 0 ||
        json_object_set_new(doc, "version", json_integer(BACKUP_VERSION)) != 0)
        goto out;
    if ((rc = offpay__json_set_hex(doc, "seed", seed, sizeof seed)) !=
            OFFPAY_OK ||
        (rc = offpay__json_set_hex(doc, "root_pk", root, sizeof root)) !=
            OFFPAY_OK ||
        (rc = offpay__json_set_hex(doc, "bundle", bundle, blen)) != OFFPAY_OK)
        goto out;
    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
        char hex[2 * OFFPAY_WALLET_CRED_BYTES + 1];

        rc = offpay__wallet_cred_bytes(w, i, cred, &clen);
        if (rc != OFFPAY_OK)
            goto out;
        sodium_bin2hex(hex, sizeof hex, cred, clen);
        rc = OFFPAY_ENOMEM;
        if (json_array_append_new(creds, json_string(hex)) != 0)
            goto out;
    }
    rc = OFFPAY_ENOMEM;
    if (json_object_set(doc, "creds", creds) != 0 ||
        json_object_set_new(doc, "server",
                            acct.server[0] ? json_string(acct.server)
                                           : json_null()) != 0 ||
        json_object_set_new(doc, "account",
                            json_integer((json_int_t)acct.account)) != 0 ||
        json_object_set_new(doc, "currency",
                            json_integer((json_int_t)acct.currency)) != 0)
        goto out;
    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        goto out;
    rc = offpay__wallet_file_save(path, passphrase, (const uint8_t *)text,
                                  strlen(text));
out:
    offpay__json_free(text); /* the wiping allocator zeroes the seed */
    sodium_memzero(seed, sizeof seed);
    json_decref(creds);
    /* the seed's hex in doc: wiped by freeing through the json allocator
     * (offpay_init sets a wiping one) */
    json_decref(doc);
    return rc;
}

offpay_err offpay_wallet_restore(const char *backup_path,
                                 const char *backup_passphrase,
                                 const char *path, const char *passphrase,
                                 uint32_t now, offpay_wallet **out)
{
    uint8_t       *plain = NULL;
    size_t         plain_len = 0, blen = 0, nc;
    uint8_t        seed[OFFPAY_SEED_BYTES], root[OFFPAY_PK_BYTES];
    uint8_t        bundle[BUNDLE_BYTES_MAX], cred[OFFPAY_WALLET_CRED_BYTES];
    json_t        *doc = NULL, *creds;
    json_error_t   jerr;
    offpay_wallet *w = NULL;
    const char    *fmt, *server;
    uint64_t       ver = 0;
    json_int_t     account, currency;
    offpay_err     rc;

    if (out != NULL)
        *out = NULL;
    if (backup_path == NULL || backup_passphrase == NULL || path == NULL ||
        passphrase == NULL || out == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__wallet_file_load(backup_path, backup_passphrase, &plain,
                                  &plain_len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = OFFPAY_ECORRUPT;
    doc = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES,
                     &jerr);
    fmt = json_string_value(json_object_get(doc, "format"));
    /* a wallet file (its format a number), not a backup of one */
    if (json_is_integer(json_object_get(doc, "format")) &&
        json_object_get(doc, "seed") != NULL) {
        rc = OFFPAY_ETYPE;
        goto out;
    }
    creds = json_object_get(doc, "creds");
    server = json_string_value(json_object_get(doc, "server"));
    account = json_integer_value(json_object_get(doc, "account"));
    currency = json_integer_value(json_object_get(doc, "currency"));
    if (!json_is_object(doc) || json_object_size(doc) != 9 || fmt == NULL ||
        strcmp(fmt, BACKUP_FORMAT) != 0 ||
        offpay__json_get_u64(doc, "version", BACKUP_VERSION, &ver) !=
            OFFPAY_OK ||
        ver != BACKUP_VERSION ||
        offpay__json_get_hex(doc, "seed", seed, sizeof seed) != OFFPAY_OK ||
        offpay__json_get_hex(doc, "root_pk", root, sizeof root) != OFFPAY_OK ||
        offpay__json_get_hexv(doc, "bundle", bundle, sizeof bundle, &blen) !=
            OFFPAY_OK ||
        !json_is_array(creds) || json_array_size(creds) > BACKUP_CREDS_MAX ||
        !json_is_integer(json_object_get(doc, "account")) || account < 0 ||
        !json_is_integer(json_object_get(doc, "currency")) || currency < 0 ||
        currency > 999 ||
        (server != NULL && (!offpay__http_base_ok(server) ||
                            strlen(server) > OFFPAY_WALLET_URL_MAX)))
        goto out;
    rc = offpay__wallet_create_seeded(path, passphrase, root, bundle, blen,
                                      seed, &w);
    if (rc == OFFPAY_OK)
        rc = offpay__wallet_mark_restored(w);
    if (rc != OFFPAY_OK)
        goto out;
    nc = json_array_size(creds);
    for (size_t i = 0; i < nc; i++) {
        const char *hex = json_string_value(json_array_get(creds, i));
        size_t      clen = 0;

        rc = OFFPAY_ECORRUPT;
        if (hex == NULL || sodium_hex2bin(cred, sizeof cred, hex, strlen(hex),
                                          NULL, &clen, NULL) != 0)
            goto out;
        /* frozen: its counter is the server's to tell (never the backup's) */
        rc = offpay__wallet_add_cred_online(w, cred, clen, now, 1, 1);
        if (rc == OFFPAY_EEXPIRED || rc == OFFPAY_EKID_EXPIRED)
            rc = OFFPAY_OK; /* expired meanwhile: nothing to restore */
        if (rc != OFFPAY_OK)
            goto out;
    }
    if (server != NULL && account > 0) {
        rc = side_write(w, server, (uint64_t)account, (uint16_t)currency);
        if (rc != OFFPAY_OK)
            goto out;
    }
    *out = w;
    w = NULL;
    rc = OFFPAY_OK;
out:
    sodium_memzero(seed, sizeof seed);
    offpay_wallet_close(w);
    json_decref(doc);
    offpay__wallet_plain_free(plain, plain_len);
    return rc;
}
