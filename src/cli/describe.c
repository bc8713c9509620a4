/*
 * describe.c — any decoded message in human form and as JSON, for
 * `offpay decode` and `offpay terminal journal --json`, and the one way
 * the commands print a JSON object on a line.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/jsonutil.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, b, n);
}

static const char *when(uint32_t t, char *buf, size_t cap)
{
    time_t    tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* A time as JSON: an ISO 8601 UTC string, as everywhere in offpay's
 * output (terminal journal --json too). */
static json_t *time_json(uint32_t t)
{
    char buf[32];

    return json_string(when(t, buf, sizeof buf));
}

static json_t *money_json(int64_t minor, uint16_t currency)
{
    char        num[OFFPAY_AMOUNT_TEXT_MAX];
    const char *alpha = offpay_currency_alpha(currency);

    if (offpay_amount_format(minor, currency, num, sizeof num) != OFFPAY_OK)
        num[0] = '\0';
    return json_pack("{s:I, s:s, s:s}", "minor", (json_int_t)minor, "amount",
                     num, "currency", alpha ? alpha : "");
}

/* 64-bit identifiers (serials, merchant ids) as decimal strings: JSON
 * numbers are signed 64-bit in Jansson and doubles in many readers, and
 * these use all 64 bits. */
json_t *cli_json_u64(uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

int cli_print_json(json_t *doc, const char *what)
{
    char *text = doc != NULL
                     ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)
                     : NULL;

    json_decref(doc);
    if (text == NULL)
        return cli_fail(what, OFFPAY_ENOMEM);
    printf("%s\n", text);
    offpay__json_free(text);
    return EXIT_OK;
}

static json_t *wcred_json(const offpay_wallet_cred *c)
{
    char pk[65];

    hex(c->wallet_pk, 32, pk);
    return json_pack("{s:i, s:o, s:s, s:o, s:o, s:o, s:b}", "kid", c->kid,
                     "serial", cli_json_u64(c->serial), "wallet_pk", pk,
                     "limit", money_json(c->limit, c->currency), "valid_from",
                     time_json(c->valid_from), "expires", time_json(c->expires),
                     "allow_unbound",
                     (c->flags & OFFPAY_CRED_ALLOW_UNBOUND) != 0);
}

static json_t *tcred_json(const offpay_terminal_cred *c)
{
    char        pk[65];
    const char *alpha = offpay_currency_alpha(c->currency);

    hex(c->terminal_pk, 32, pk);
    return json_pack("{s:i, s:o, s:I, s:s, s:s, s:s, s:o, s:o}", "kid", c->kid,
                     "merchant_id", cli_json_u64(c->merchant_id), "terminal_id",
                     (json_int_t)c->terminal_id, "terminal_pk", pk, "name",
                     c->name, "currency", alpha ? alpha : "", "valid_from",
                     time_json(c->valid_from), "expires",
                     time_json(c->expires));
}

json_t *cli_msg_json(const offpay_msg *m, const uint8_t *bytes, size_t len)
{
    json_t *j = NULL;
    char    nonce[2 * OFFPAY_NONCE_BYTES + 1];

    switch (m->type) {
    case OFFPAY_MSG_TRUST_BUNDLE: {
        json_t *keys = json_array();

        for (unsigned i = 0; i < m->u.bundle.n_keys; i++) {
            char pk[65];

            hex(m->u.bundle.keys[i].pk, 32, pk);
            json_array_append_new(
                keys, json_pack("{s:i, s:s, s:o, s:o}", "kid",
                                m->u.bundle.keys[i].kid, "pk", pk, "valid_from",
                                time_json(m->u.bundle.keys[i].valid_from),
                                "valid_until",
                                time_json(m->u.bundle.keys[i].valid_until)));
        }
        j = json_pack("{s:I, s:o, s:o}", "seq", (json_int_t)m->u.bundle.seq,
                      "issued_at", time_json(m->u.bundle.issued_at), "keys",
                      keys);
        break;
    }
    case OFFPAY_MSG_WALLET_CRED:
        j = wcred_json(&m->u.wcred);
        break;
    case OFFPAY_MSG_TERMINAL_CRED:
        j = tcred_json(&m->u.tcred);
        break;
    case OFFPAY_MSG_PAYMENT:
    case OFFPAY_MSG_PAYMENT_BOUND: {
        const offpay_payment *p = &m->u.payment;

        j = json_pack("{s:o, s:I, s:o, s:o, s:b}", "credential",
                      wcred_json(&p->cred), "counter", (json_int_t)p->counter,
                      "authorized", money_json(p->amount, p->cred.currency),
                      "time", time_json(p->time), "bound", p->bound);
        if (p->bound) {
            hex(p->nonce, OFFPAY_NONCE_BYTES, nonce);
            json_object_set_new(j, "merchant_id", cli_json_u64(p->merchant_id));
            json_object_set_new(j, "nonce", json_string(nonce));
        }
        break;
    }
    case OFFPAY_MSG_REQUEST:
        hex(m->u.request.nonce, OFFPAY_NONCE_BYTES, nonce);
        j = json_pack("{s:o, s:o, s:s, s:o}", "terminal",
                      tcred_json(&m->u.request.tcred), "amount",
                      money_json(m->u.request.amount, m->u.request.currency),
                      "nonce", nonce, "time", time_json(m->u.request.time));
        break;
    case OFFPAY_MSG_RECEIPT:
        j = json_pack("{s:o, s:o, s:I, s:o, s:o}", "terminal",
                      tcred_json(&m->u.receipt.tcred), "serial",
                      cli_json_u64(m->u.receipt.serial), "counter",
                      (json_int_t)m->u.receipt.counter, "charged",
                      money_json(m->u.receipt.amount, m->u.receipt.currency),
                      "time", time_json(m->u.receipt.time));
        break;
    case OFFPAY_MSG_REVLIST: {
        json_t *serials = json_array();

        for (uint32_t i = 0; i < m->u.revlist.n_serials; i++)
            json_array_append_new(serials,
                                  cli_json_u64(m->u.revlist.serials[i]));
        j = json_pack("{s:i, s:I, s:I, s:o, s:o}", "kid", m->u.revlist.kid,
                      "seq", (json_int_t)m->u.revlist.seq, "base_seq",
                      (json_int_t)m->u.revlist.base_seq, "issued_at",
                      time_json(m->u.revlist.issued_at), "serials", serials);
        break;
    }
    }
    if (j == NULL)
        return NULL;
    json_object_set_new(j, "type", json_string(offpay_msg_type_name(m->type)));
    json_object_set_new(j, "bytes", json_integer((json_int_t)len));
    (void)bytes;
    return j;
}

static void print_wcred(const offpay_wallet_cred *c)
{
    char money[64], t1[32], t2[32];

    printf("  credential serial %llu (issuer key %u)\n",
           (unsigned long long)c->serial, c->kid);
    printf("  limit             %s\n",
           cli_money(c->limit, c->currency, money, sizeof money));
    printf("  valid             %s .. %s\n", when(c->valid_from, t1, sizeof t1),
           when(c->expires, t2, sizeof t2));
    printf("  unbound codes     %s\n",
           c->flags & OFFPAY_CRED_ALLOW_UNBOUND ? "allowed" : "refused");
}

static void print_tcred(const offpay_terminal_cred *c)
{
    char t1[32], t2[32];

    printf("  merchant          %s (merchant %llu, terminal %u)\n", c->name,
           (unsigned long long)c->merchant_id, c->terminal_id);
    printf("  currency          %s\n", offpay_currency_alpha(c->currency));
    printf("  valid             %s .. %s\n", when(c->valid_from, t1, sizeof t1),
           when(c->expires, t2, sizeof t2));
}

void cli_msg_print(const offpay_msg *m)
{
    char money[64], t[32];

    printf("%s\n", offpay_msg_type_name(m->type));
    switch (m->type) {
    case OFFPAY_MSG_TRUST_BUNDLE:
        printf("  sequence          %u, %u signing key(s)\n", m->u.bundle.seq,
               m->u.bundle.n_keys);
        break;
    case OFFPAY_MSG_WALLET_CRED:
        print_wcred(&m->u.wcred);
        break;
    case OFFPAY_MSG_TERMINAL_CRED:
        print_tcred(&m->u.tcred);
        break;
    case OFFPAY_MSG_PAYMENT:
    case OFFPAY_MSG_PAYMENT_BOUND:
        printf("  authorizes        up to %s\n",
               cli_money(m->u.payment.amount, m->u.payment.cred.currency, money,
                         sizeof money));
        printf("  counter           %u\n", m->u.payment.counter);
        printf("  made at           %s\n",
               when(m->u.payment.time, t, sizeof t));
        if (m->u.payment.bound)
            printf("  bound to          merchant %llu's request\n",
                   (unsigned long long)m->u.payment.merchant_id);
        print_wcred(&m->u.payment.cred);
        break;
    case OFFPAY_MSG_REQUEST:
        printf("  asks for          %s\n",
               cli_money(m->u.request.amount, m->u.request.currency, money,
                         sizeof money));
        printf("  made at           %s\n",
               when(m->u.request.time, t, sizeof t));
        print_tcred(&m->u.request.tcred);
        break;
    case OFFPAY_MSG_RECEIPT:
        printf("  charged           %s\n",
               cli_money(m->u.receipt.amount, m->u.receipt.currency, money,
                         sizeof money));
        printf("  for payment       serial %llu, counter %u\n",
               (unsigned long long)m->u.receipt.serial, m->u.receipt.counter);
        printf("  made at           %s\n",
               when(m->u.receipt.time, t, sizeof t));
        print_tcred(&m->u.receipt.tcred);
        break;
    case OFFPAY_MSG_REVLIST:
        printf("  sequence          %u (extends %u), %u serial(s), issued %s\n",
               m->u.revlist.seq, m->u.revlist.base_seq, m->u.revlist.n_serials,
               when(m->u.revlist.issued_at, t, sizeof t));
        break;
    }
}
