/*
 * parse.c — offpayd's strict request parsers (bodies as (bytes, len), ids,
 * the upload batch), the server's error table, JSON rendering helpers and
 * the clock. No sockets here: fuzz/fuzz_server_*.c drive these directly.
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount_int.h"
#include "core/base64.h"
#include "core/message_int.h"
#include "core/unixtime.h"
#include "server/server.h"
#include "settle/store.h"
#include "store/lockwait.h"

/* ---- errors -------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned    status;
    const char *hint;
} errors[] = {{"NONE", 200, "no error"},
#define X(n, s, h) {#n, s, h},
              SRV_ERRORS(X)
#undef X
};

const char *srv_err_name(srv_err e)
{
    return e < SRV_E_COUNT ? errors[e].name : "INTERNAL";
}

unsigned srv_err_status(srv_err e)
{
    return e < SRV_E_COUNT ? errors[e].status : 500;
}

const char *srv_err_hint(srv_err e)
{
    return e < SRV_E_COUNT ? errors[e].hint : "internal server error";
}

unsigned srv_status_of(offpay_err rc)
{
    switch (rc) {
    case OFFPAY_ENOTFOUND:
    case OFFPAY_ENOT_ISSUED:
        return 404;
    case OFFPAY_EEXISTS:
    case OFFPAY_EFUNDS:
    case OFFPAY_EOVER_REFUND:
    case OFFPAY_EREVLIST_SEQ:
    case OFFPAY_ECONFLICT:
    case OFFPAY_EWALLET_LOST: /* the key's state, not the request's form */
    case OFFPAY_EWALLET_CASE:
    case OFFPAY_EMERCHANT_CLOSED: /* the merchant's state */
    case OFFPAY_ECASE_CLOSED:     /* the case's state */
    case OFFPAY_ECASE_OPEN:
        return 409;
    case OFFPAY_ESTORE:
    case OFFPAY_ERETRY:
    case OFFPAY_EBUSY:
    case OFFPAY_EPKCS11: /* the daily key's token failed or went away */
    /* the ledger's disk: full, read-only, not writable. The request was
     * right and may be sent again once the operator fixed it */
    case OFFPAY_ENOSPC:
    case OFFPAY_EROFS:
    case OFFPAY_EACCES:
    case OFFPAY_ELEDGER_MOVED: /* until the file is put back and offpayd
                                  restarted */
    case OFFPAY_ELEDGER_SEALED: /* copied to PostgreSQL under this offpayd:
                                   until it is stopped */
    case OFFPAY_ECLOCK_BEHIND:  /* offpayd's clock behind the ledger's newest
                                   transfer: until it is set right (a signed
                                   request's stale time is 401 before) */
        return 503;
    case OFFPAY_EVERSION: /* the ledger's, once a newer offpay migrated it
                             under this offpayd: until it is replaced */
        return offpay__store_schema_newer_seen() != 0 ? 503 : 400;
    case OFFPAY_ENOMEM:
    case OFFPAY_ECRYPTO:
    case OFFPAY_EIO:
    case OFFPAY_EAUDIT:
    case OFFPAY_EKID_EXPIRED:
        return 500;
    default:
        return 400; /* the request's values were refused */
    }
}

static json_t *error_body(const char *name, const char *hint)
{
    return json_pack("{s:s, s:s}", "error", name, "hint", hint);
}

void srv_fail(srv_reply *out, srv_err e, const char *hint)
{
    json_decref(out->json);
    out->status = srv_err_status(e);
    out->json = error_body(srv_err_name(e), hint ? hint : srv_err_hint(e));
    /* a hint Jansson refused (not UTF-8): the error's own hint, so the
     * status stays the one the request earned */
    if (out->json == NULL && hint != NULL)
        out->json = error_body(srv_err_name(e), srv_err_hint(e));
}

const char *srv_quote(const char *name, char *buf)
{
    size_t n = strlen(name);

    if (n > SRV_QUOTE_MAX)
        n = offpay__utf8_cut(name, SRV_QUOTE_MAX);
    if (!offpay__utf8_display_ok((const uint8_t *)name, n))
        return strcpy(buf, "(not text)");
    memcpy(buf, name, n);
    buf[n] = '\0';
    return buf;
}

const char *srv_engine_detail(offpay_err rc)
{
    if (rc == OFFPAY_EBUSY && offpay__lockwait_detail()[0] != '\0')
        return offpay__lockwait_detail(); /* the lock's holder */
    if (rc == OFFPAY_ECLOCK_BEHIND && offpay__ledger_clock_detail()[0] != '\0')
        return offpay__ledger_clock_detail(); /* both times */
    return offpay_strerror(rc);
}

void srv_fail_engine(srv_reply *out, offpay_err rc, const char *what)
{
    char hint[1024];

    /* a lock another process holds, waited for in vain: which, and that
     * nothing was changed (store/lockwait.h); a transfer dated behind the
     * ledger's newest (a clock gone back): both times */
    snprintf(hint, sizeof hint, "%s: %s", what, srv_engine_detail(rc));
    if (rc == OFFPAY_EVERSION && offpay__store_schema_newer_seen() != 0)
        snprintf(hint, sizeof hint,
                 "%s: the ledger's schema is version %lu, newer than this "
                 "offpayd %s knows: a newer offpayd upgraded it; nothing was "
                 "written: stop this offpayd and start the new version",
                 what, offpay__store_schema_newer_seen(), offpay_version());
    if (rc == OFFPAY_EPKCS11) { /* what the token said, e.g. a CKR_ name */
        snprintf(hint, sizeof hint, "%s: %s (%.120s)", what,
                 offpay_strerror(rc), offpay_pkcs11_detail());
        srv_metrics_signature(rc); /* the daily key's signature failed */
    }
    json_decref(out->json);
    out->status = srv_status_of(rc);
    out->json = error_body(offpay_errname(rc), hint);
    if (out->json == NULL) /* a token's detail that is not UTF-8 */
        out->json = error_body(offpay_errname(rc), offpay_strerror(rc));
    srv_metrics_engine_error(rc, out->status);
}

int srv_fail_expires_past(srv_reply *out, int sent, uint32_t expires,
                          uint32_t now)
{
    char hint[192];

    if (!sent || expires > now)
        return 0;
    snprintf(hint, sizeof hint,
             "expires: %lu is not after now (%lu): a unix time in seconds "
             "in the future, or leave it out for the default term; "
             "nothing was made",
             (unsigned long)expires, (unsigned long)now);
    srv_fail(out, SRV_E_BAD_FIELD, hint);
    return 1;
}

void srv_fail_amount(srv_reply *out, offpay_err rc, const char *what,
                     const char *text, uint16_t currency)
{
    if (rc == OFFPAY_OK) /* parsed, and not more than 0 */
        srv_fail_engine_hint(out, OFFPAY_EAMOUNT, "%s: more than 0 is needed",
                             what);
    else if (rc == OFFPAY_EAMOUNT) {
        /* the example in the currency's own decimals ("1250" in JPY, not
         * "12.50"), and a text with too many decimals told both counts */
        char        q[SRV_QUOTE_MAX + 1], ex[OFFPAY__AMOUNT_EXAMPLE_MAX];
        char        why[OFFPAY__AMOUNT_WHY_MAX + 2];
        const char *alpha = offpay_currency_alpha(currency);
        int         e = offpay_currency_exponent(currency);

        offpay__amount_example(currency, ex);
        offpay__amount_too_precise(text, currency, why);
        if (why[0] != '\0')
            strcat(why, ": ");
        if (e == 0)
            srv_fail_engine_hint(out, rc,
                                 "%s: \"%s\" is not an amount in %s: %sa "
                                 "string such as \"%s\", no decimals, no "
                                 "sign",
                                 what, srv_quote(text, q), alpha, why, ex);
        else
            srv_fail_engine_hint(out, rc,
                                 "%s: \"%s\" is not an amount in %s: %sa "
                                 "string such as \"%s\" (or \"12\"), at "
                                 "most %d decimals, no sign",
                                 what, srv_quote(text, q), alpha, why, ex, e);
    } else /* EOVERFLOW: beyond 2^63 - 1 minor units */
        srv_fail_engine(out, rc, what);
}

void srv_fail_engine_hint(srv_reply *out, offpay_err rc, const char *fmt, ...)
{
    char hint[1024]; /* a lock's holders (health), two amounts and a
                        time */
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(hint, sizeof hint, fmt, ap);
    va_end(ap);
    json_decref(out->json);
    out->status = srv_status_of(rc);
    out->json = error_body(offpay_errname(rc), hint);
    if (out->json == NULL) /* a hint that is not UTF-8: the error's text */
        out->json = error_body(offpay_errname(rc), offpay_strerror(rc));
    srv_metrics_engine_error(rc, out->status);
}

void srv_currency_words(const char *alpha, char *buf, size_t cap)
{
    char     up[4] = "";
    uint16_t cur;

    /* (every currency field is at most 3 bytes: srv_fields_*) */
    for (size_t i = 0; i < 3 && alpha[i] != '\0'; i++)
        up[i] = alpha[i] >= 'a' && alpha[i] <= 'z' ? (char)(alpha[i] - 32)
                                                   : alpha[i];
    if (strlen(alpha) == 3 && strcmp(up, alpha) != 0 &&
        offpay_currency_from_alpha(up, &cur) == OFFPAY_OK)
        snprintf(buf, cap,
                 "currency \"%s\": ISO 4217 codes are written in capitals: "
                 "%s",
                 alpha, up);
    else
        snprintf(buf, cap,
                 "currency: \"%.3s\" is no ISO 4217 code offpay knows (such "
                 "as EUR, JPY)",
                 alpha);
}

void srv_fail_engine_currency(srv_reply *out, offpay_err rc, const char *what,
                              const char *alpha)
{
    char words[128];

    if (rc != OFFPAY_ECURRENCY_UNKNOWN) {
        srv_fail_engine(out, rc, what);
        return;
    }
    srv_currency_words(alpha, words, sizeof words);
    srv_fail_engine_hint(out, rc, "%s", words);
}

int srv_request_key(srv_req *r, srv_reply *out, const char **key)
{
    *key = r->header(r->conn, "Idempotency-Key");
    if (*key != NULL && !offpay_ledger_request_key_ok(*key)) {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_MALFORMED, NULL);
        return -1;
    }
    return 0;
}

void srv_ok(srv_reply *out, json_t *obj)
{
    if (obj == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        return;
    }
    json_decref(out->json);
    out->status = 200;
    out->json = obj;
}

/* ---- the clock ----------------------------------------------------- */

#ifdef OFFPAY_TEST_HOOKS
static int now_said; /* the malformed OFFPAY_NOW said on the log */
#endif

uint32_t srv_now(void)
{
#ifdef OFFPAY_TEST_HOOKS
    const char *env = getenv("OFFPAY_NOW");
    char       *end = NULL;
    long long   v;

    if (env != NULL && env[0] != '\0') {
        errno = 0;
        v = strtoll(env, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 0 && v <= UINT32_MAX)
            return (uint32_t)v;
        /* said once, as the CLI says it: the clock is read per request */
        if (!__atomic_exchange_n(&now_said, 1, __ATOMIC_RELAXED))
            srv_log("ignoring malformed OFFPAY_NOW");
    }
#endif
    return (uint32_t)time(NULL);
}

void srv_iso_time(uint32_t t, char when[32])
{
    (void)offpay__unix_time_iso(t, when);
}

/* ---- parsers ------------------------------------------------------- */

int srv_parse_u64(const char *s, uint64_t max, uint64_t *v)
{
    size_t   n = s == NULL ? 0 : strlen(s);
    uint64_t x = 0;

    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return -1;
        d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (x > max)
        return -1;
    *v = x;
    return 0;
}

int srv_parse_id(const char *s, uint64_t max, uint64_t *v)
{
    uint64_t x;

    if (srv_parse_u64(s, max, &x) != 0 || x == 0)
        return -1;
    *v = x;
    return 0;
}

int srv_parse_time(const char *name, const char *v, uint64_t *t, char *hint,
                   size_t cap)
{
    uint32_t u;

    /* the command line's time options say the same (core/unixtime.c) */
    if (offpay__unix_time_parse(name, v, 1, &u, hint, cap) != 0)
        return -1;
    *t = u;
    return 0;
}

int srv_parse_period(const char *from_text, const char *to_text, uint64_t *from,
                     uint64_t *to, char *hint, size_t cap)
{
    if (from_text != NULL &&
        srv_parse_time("from", from_text, from, hint, cap) != 0)
        return -1;
    if (to_text != NULL && srv_parse_time("to", to_text, to, hint, cap) != 0)
        return -1;
    return 0;
}

int srv_parse_period_until(const char *from_text, const char *to_text,
                           uint32_t now, uint64_t *from, uint64_t *to,
                           char *hint, size_t cap)
{
    *from = 0;
    *to = now;
    if (srv_parse_period(from_text, to_text, from, to, hint, cap) != 0)
        return -1;
    /* no to and a from after now (a client's clock ahead): the period
     * [from, from], empty so far */
    if (to_text == NULL && *from > *to)
        *to = *from;
    if (*from > *to) {
        snprintf(hint, cap, "from: after to (unix times, both included)");
        return -1;
    }
    return 0;
}

int srv_parse_page(const char *after_text, const char *limit_text,
                   uint64_t *after, uint64_t *limit)
{
    *after = 0;
    *limit = SRV_PAGE_DEFAULT;
    if (after_text != NULL && srv_parse_u64(after_text, INT64_MAX, after) != 0)
        return -1;
    if (limit_text != NULL &&
        (srv_parse_u64(limit_text, SRV_PAGE_MAX, limit) != 0 || *limit == 0))
        return -1;
    return 0;
}

int srv_parse_key(const char *s, uint8_t pk[OFFPAY_PK_BYTES])
{
    size_t got = 0, n = s == NULL ? 0 : strlen(s);

    if (n != 2 * OFFPAY_PK_BYTES)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
    return sodium_hex2bin(pk, OFFPAY_PK_BYTES, s, n, NULL, &got, NULL) == 0 &&
                   got == OFFPAY_PK_BYTES
               ? 0
               : -1;
}

/* A JSON string without embedded NUL of 1..max bytes. */
static const char *str_of(const json_t *j, uint64_t max)
{
    const char *s = json_string_value(j);
    size_t      n = json_string_length(j);

    if (s == NULL || n == 0 || n > max || strlen(s) != n)
        return NULL;
    return s;
}

static int field_value(const json_t *j, const srv_field *f, srv_value *v)
{
    json_int_t i;

    switch (f->type) {
    case SRV_FT_STRING:
    case SRV_FT_AMOUNT:
        v->s = str_of(j, f->max);
        return v->s != NULL ? 0 : -1;
    case SRV_FT_TEXT:
        /* a text an operator reads: a control character would break a log
         * line or a reason in two, a bidirectional mark show it in another
         * order */
        v->s = str_of(j, f->max);
        return v->s != NULL && offpay__utf8_input_ok((const uint8_t *)v->s,
                                                     json_string_length(j))
                   ? 0
                   : -1;
    case SRV_FT_ID:
        v->s = str_of(j, 20);
        return v->s != NULL && srv_parse_u64(v->s, f->max, &v->u) == 0 ? 0 : -1;
    case SRV_FT_UINT:
        if (!json_is_integer(j))
            return -1;
        i = json_integer_value(j);
        if (i < 0 || (uint64_t)i > f->max)
            return -1;
        v->u = (uint64_t)i;
        return 0;
    case SRV_FT_BOOL:
        if (!json_is_boolean(j))
            return -1;
        v->b = json_is_true(j);
        return 0;
    }
    return -1;
}

/* The hint for a body that is not one JSON object: the parser's reason
 * and where (root NULL: json_loadb refused it), else what it is. */
static void not_object_hint(const uint8_t *body, size_t len, const json_t *root,
                            const json_error_t *jerr, char *hint_buf,
                            size_t hint_cap)
{
    /* a UTF-8 byte-order mark, which some editors and .NET's encoders put
     * first: JSON forbids it (RFC 8259 §8.1), and Jansson's reason would
     * quote its bytes as '???' */
    if (len >= 3 && body[0] == 0xEF && body[1] == 0xBB && body[2] == 0xBF)
        snprintf(hint_buf, hint_cap,
                 "the body starts with a byte-order mark: send UTF-8 "
                 "without one");
    else if (root != NULL)
        snprintf(hint_buf, hint_cap,
                 "the body is not one JSON object (it is a JSON %s)",
                 json_is_array(root)    ? "array"
                 : json_is_string(root) ? "string"
                                        : "value");
    else {
        /* Jansson's reason quotes the body near the error, whatever its
         * bytes: printable ASCII kept (its quotes too, which the answer's
         * JSON escapes, unlike srv_log_text for a log line), any other byte
         * '?' (a hint that is not UTF-8 is refused as a JSON string:
         * fuzz.server_admin) */
        char   why[81];
        size_t i = 0;

        for (const char *t = jerr->text; *t != '\0' && i + 1 < sizeof why; t++)
            why[i++] = *t >= 0x20 && *t < 0x7f ? *t : '?';
        why[i] = '\0';
        snprintf(hint_buf, hint_cap,
                 "the body is not one JSON object: %s (byte %d)", why,
                 jerr->position);
    }
}

int srv_parse_object(const uint8_t *body, size_t len, const srv_field *fields,
                     size_t n, srv_value *vals, json_t **doc, char *hint_buf,
                     size_t hint_cap)
{
    json_error_t jerr;
    json_t      *root, *val;
    const char  *key;
    size_t       i;

    *doc = NULL;
    memset(vals, 0, n * sizeof *vals);
    snprintf(hint_buf, hint_cap, "the body is not one JSON object");
    if (body == NULL || len == 0)
        return SRV_E_MALFORMED_JSON;
    root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        not_object_hint(body, len, root, &jerr, hint_buf, hint_cap);
        json_decref(root);
        return SRV_E_MALFORMED_JSON;
    }
    json_object_foreach(root, key, val)
    {
        for (i = 0; i < n; i++)
            if (strcmp(fields[i].name, key) == 0)
                break;
        if (i == n) {
            char q[SRV_QUOTE_MAX + 1];

            snprintf(hint_buf, hint_cap, "unknown field '%s'",
                     srv_quote(key, q));
            goto bad;
        }
        if (field_value(val, &fields[i], &vals[i]) != 0) {
            /* an amount or an id sent as a JSON number (5, not "5.00"):
             * the form it takes said, with the number's own digits when
             * they would do; any other string field as a number: said */
            int amount = fields[i].type == SRV_FT_AMOUNT;
            int whole = json_is_integer(val) &&
                        json_integer_value(val) >= (amount ? 0 : 1);

            if (whole && (amount || fields[i].type == SRV_FT_ID))
                snprintf(hint_buf, hint_cap,
                         "field '%s' is malformed: a JSON string, such as "
                         "\"%" JSON_INTEGER_FORMAT
                         "\", not the number %" JSON_INTEGER_FORMAT,
                         fields[i].name, json_integer_value(val),
                         json_integer_value(val));
            else if (amount && json_is_number(val))
                snprintf(hint_buf, hint_cap,
                         "field '%s' is malformed: a JSON string (an "
                         "amount, such as \"12.50\"), not a number",
                         fields[i].name);
            else if ((fields[i].type == SRV_FT_STRING ||
                      fields[i].type == SRV_FT_ID) &&
                     json_is_number(val))
                snprintf(hint_buf, hint_cap,
                         "field '%s' is malformed: a JSON string, not a "
                         "number",
                         fields[i].name);
            else if (fields[i].type == SRV_FT_TEXT)
                snprintf(hint_buf, hint_cap,
                         "field '%s' is malformed: a string of 1 to %llu "
                         "bytes, without control or invisible format "
                         "characters",
                         fields[i].name, (unsigned long long)fields[i].max);
            else if (fields[i].type == SRV_FT_UINT)
                snprintf(hint_buf, hint_cap,
                         "field '%s' is malformed: a whole JSON number from "
                         "0 to %llu",
                         fields[i].name, (unsigned long long)fields[i].max);
            else if (fields[i].type == SRV_FT_ID)
                snprintf(hint_buf, hint_cap,
                         "field '%s' is malformed: a JSON string of decimal "
                         "digits, no leading zero, at most %llu",
                         fields[i].name, (unsigned long long)fields[i].max);
            else if (fields[i].type == SRV_FT_BOOL)
                snprintf(hint_buf, hint_cap,
                         "field '%s' is malformed: true or false",
                         fields[i].name);
            else
                snprintf(hint_buf, hint_cap, "field '%s' is malformed",
                         fields[i].name);
            goto bad;
        }
        vals[i].present = 1;
    }
    for (i = 0; i < n; i++)
        if (fields[i].required && !vals[i].present) {
            snprintf(hint_buf, hint_cap, "field '%s' is missing",
                     fields[i].name);
            goto bad;
        }
    *doc = root;
    return 0;
bad:
    json_decref(root);
    memset(vals, 0, n * sizeof *vals);
    return SRV_E_BAD_FIELD;
}

#define TIME_MAX UINT32_MAX
#define ID_MAX   SRV_ID_MAX

const srv_field srv_fields_account[2] = {
    {"currency", SRV_FT_STRING, 1, 3},
    {"ref", SRV_FT_TEXT, 0, SRV_REF_MAX},
};
const srv_field srv_fields_money[3] = {
    {"amount", SRV_FT_AMOUNT, 1, 24},
    {"ref", SRV_FT_TEXT, 0, SRV_REF_MAX},
    {"take_held", SRV_FT_BOOL, 0, 0},
};
const srv_field srv_fields_guarantee[1] = {
    {"currency", SRV_FT_STRING, 1, 3},
};
const srv_field srv_fields_merchant[2] = {
    {"name", SRV_FT_TEXT, 1, OFFPAY_NAME_MAX},
    {"currency", SRV_FT_STRING, 1, 3},
};
const srv_field srv_fields_terminal[4] = {
    {"merchant", SRV_FT_ID, 1, ID_MAX},
    {"terminal_key", SRV_FT_STRING, 1, 2 * OFFPAY_PK_BYTES},
    {"expires", SRV_FT_UINT, 0, TIME_MAX},
    {"label", SRV_FT_TEXT, 0, OFFPAY_TERMINAL_LABEL_MAX},
};
const srv_field srv_fields_terminal_label[1] = {
    {"label", SRV_FT_TEXT, 0, OFFPAY_TERMINAL_LABEL_MAX},
};
const srv_field srv_fields_credential[5] = {
    {"account", SRV_FT_ID, 1, ID_MAX},
    {"wallet_key", SRV_FT_STRING, 1, 2 * OFFPAY_PK_BYTES},
    {"limit", SRV_FT_AMOUNT, 1, 24},
    {"expires", SRV_FT_UINT, 0, TIME_MAX},
    {"allow_unbound", SRV_FT_BOOL, 0, 1},
};
const srv_field srv_fields_refund[3] = {
    {"amount", SRV_FT_AMOUNT, 1, 24},
    {"ref", SRV_FT_TEXT, 0, SRV_REF_MAX},
    {"funded", SRV_FT_BOOL, 0, 1},
};
const srv_field srv_fields_release[1] = {
    {"vouch", SRV_FT_BOOL, 0, 1},
};
const srv_field srv_fields_revoke[1] = {
    {"reason", SRV_FT_TEXT, 0, SRV_REF_MAX},
};
const srv_field srv_fields_terminal_revoke[2] = {
    {"reason", SRV_FT_TEXT, 0, SRV_REF_MAX},
    {"chain", SRV_FT_BOOL, 0, 1},
};
const srv_field srv_fields_case_note[2] = {
    {"text", SRV_FT_TEXT, 1, OFFPAY_CASE_TEXT_MAX},
    {"by", SRV_FT_TEXT, 0, OFFPAY_CASE_AUTHOR_MAX},
};
const srv_field srv_fields_case_close[2] = {
    {"resolution", SRV_FT_TEXT, 1, OFFPAY_CASE_TEXT_MAX},
    {"by", SRV_FT_TEXT, 0, OFFPAY_CASE_AUTHOR_MAX},
};
const srv_field srv_fields_case_reopen[2] = {
    {"reason", SRV_FT_TEXT, 1, OFFPAY_CASE_TEXT_MAX},
    {"by", SRV_FT_TEXT, 0, OFFPAY_CASE_AUTHOR_MAX},
};

static const srv_field item_fields[4] = {
    {"seq", SRV_FT_ID, 1, INT64_MAX},
    {"code", SRV_FT_STRING, 1, 4 * ((SRV_CODE_MAX + 2) / 3)},
    {"charged", SRV_FT_UINT, 1, OFFPAY_WIRE_AMOUNT_MAX},
    {"accepted_at", SRV_FT_UINT, 1, TIME_MAX},
};

void srv_upload_free(srv_upload *u)
{
    if (u == NULL)
        return;
    free(u->items);
    free(u->codes);
    memset(u, 0, sizeof *u);
}

/* srv_parse_items' start for a terminal upload: room for n items. */
static int upload_start(void *ctx, size_t n)
{
    srv_upload *out = ctx;

    out->items = calloc(n, sizeof *out->items);
    out->codes = malloc(n * SRV_CODE_MAX);
    out->n = n;
    return out->items != NULL && out->codes != NULL ? 0 : -1;
}

/* One item object into item index (its code at its SRV_CODE_MAX bytes). */
static int parse_item(void *ctx, json_t *obj, size_t index, char *hint_buf,
                      size_t hint_cap)
{
    srv_upload      *up = ctx;
    srv_upload_item *it = &up->items[index];
    uint8_t         *buf = up->codes + index * SRV_CODE_MAX;
    srv_value        v[4];
    const char      *key;
    json_t          *val;
    size_t           i, got = 0;

    memset(v, 0, sizeof v);
    if (!json_is_object(obj)) {
        snprintf(hint_buf, hint_cap, "item %zu is not an object", index);
        return SRV_E_BAD_FIELD;
    }
    json_object_foreach(obj, key, val)
    {
        for (i = 0; i < 4; i++)
            if (strcmp(item_fields[i].name, key) == 0)
                break;
        if (i == 4 || field_value(val, &item_fields[i], &v[i]) != 0) {
            char q[SRV_QUOTE_MAX + 1];

            snprintf(hint_buf, hint_cap, "item %zu: field '%s' %s", index,
                     srv_quote(key, q), i == 4 ? "is unknown" : "is malformed");
            return SRV_E_BAD_FIELD;
        }
        v[i].present = 1;
    }
    for (i = 0; i < 4; i++)
        if (!v[i].present) {
            snprintf(hint_buf, hint_cap, "item %zu: field '%s' is missing",
                     index, item_fields[i].name);
            return SRV_E_BAD_FIELD;
        }
    /* Canonical base64 only: the text must encode back to itself. */
    got = offpay__base64_decode(v[1].s, strlen(v[1].s), buf, SRV_CODE_MAX);
    if (got == 0) {
        snprintf(hint_buf, hint_cap, "item %zu: field 'code' is not base64",
                 index);
        return SRV_E_BAD_FIELD;
    }
    it->seq = (int64_t)v[0].u;
    it->code = buf;
    it->code_len = got;
    it->charged = (int64_t)v[2].u;
    it->accepted_at = (uint32_t)v[3].u;
    return 0;
}

int srv_parse_items(const uint8_t *body, size_t len, size_t batch_max,
                    int (*start)(void *ctx, size_t n),
                    int (*item)(void *ctx, json_t *obj, size_t index,
                                char *hint_buf, size_t hint_cap),
                    void *ctx, char *hint_buf, size_t hint_cap)
{
    json_error_t jerr;
    json_t      *root = NULL, *items;
    size_t       n;
    int          e = SRV_E_MALFORMED_JSON;

    snprintf(hint_buf, hint_cap, "the body is not one JSON object");
    if (body == NULL || len == 0)
        goto out;
    root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        not_object_hint(body, len, root, &jerr, hint_buf, hint_cap);
        goto out;
    }
    e = SRV_E_BAD_FIELD;
    items = json_object_get(root, "items");
    if (json_object_size(root) != 1 || !json_is_array(items)) {
        snprintf(hint_buf, hint_cap, "the body must be {\"items\": [...]}");
        goto out;
    }
    n = json_array_size(items);
    if (n == 0) {
        snprintf(hint_buf, hint_cap, "the batch is empty");
        goto out;
    }
    if (n > batch_max) {
        snprintf(hint_buf, hint_cap, "%zu items, the cap is %zu", n, batch_max);
        e = SRV_E_BATCH_TOO_LARGE;
        goto out;
    }
    if (start(ctx, n) != 0) {
        snprintf(hint_buf, hint_cap, "out of memory");
        e = SRV_E_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        e = item(ctx, json_array_get(items, i), i, hint_buf, hint_cap);
        if (e != 0)
            goto out;
    }
    e = 0;
out:
    json_decref(root);
    return e;
}

int srv_parse_upload(const uint8_t *body, size_t len, size_t batch_max,
                     srv_upload *out, char *hint_buf, size_t hint_cap)
{
    int e;

    memset(out, 0, sizeof *out);
    e = srv_parse_items(body, len, batch_max, upload_start, parse_item, out,
                        hint_buf, hint_cap);
    if (e != 0)
        srv_upload_free(out);
    return e;
}

/* ---- rendering ----------------------------------------------------- */

/* the rendering offpay admin --json shares (src/settle/render.c) */
json_t *srv_json_id(uint64_t v)
{
    return offpay__json_id(v);
}

json_t *srv_json_next_after(size_t n, uint64_t limit, uint64_t last)
{
    return n > 0 && n == (size_t)limit ? srv_json_id(last) : json_null();
}

json_t *srv_json_amount(int64_t minor, uint16_t currency)
{
    return offpay__json_amount(minor, currency);
}

json_t *srv_json_b64(const uint8_t *b, size_t n)
{
    return offpay__json_base64(b, n);
}

json_t *srv_json_hex(const uint8_t *b, size_t n)
{
    char   *buf = malloc(2 * n + 1);
    json_t *j;

    if (buf == NULL)
        return NULL;
    sodium_bin2hex(buf, 2 * n + 1, b, n);
    j = json_string(buf);
    free(buf);
    return j;
}

const char *srv_outcome_name(offpay_settle_outcome o)
{
    return offpay__outcome_name(o);
}
