/*
 * test_text_limits.c — the size limits of messages and of their text form
 * per type (offpay_msg_max_bytes, offpay_text_max_len; docs/protocol.md
 * §2.9 and §4): the figures of the spec's table, and the largest message
 * of each type actually built and encoded to exactly its limit, so the
 * limit can neither refuse a valid code nor drift from the encoders.
 */
#include <stdlib.h>

#include "harness.h"

/* Characters of the text form of an n-byte message (§2.9). */
static size_t text_len(size_t n)
{
    return 5 + OFFPAY_BASE45_ENCODED_LEN(n);
}

/* The limits are the figures of the spec's table §2.9. */
static void test_limits_match_spec_table(void)
{
    static const struct {
        const char *prefix;
        size_t      chars;
    } want[] = {
        {"OPTB:", 1126}, {"OPWC:", 190}, {"OPTC:", 250},    {"OPPY:", 334},
        {"OPRQ:", 379},  {"OPRC:", 379}, {"OPRL:", 786548},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t got = offpay_text_max_len(want[i].prefix, 5);

        if (got != want[i].chars) {
            fprintf(stderr, "  %s: %zu, want %zu\n", want[i].prefix, got,
                    want[i].chars);
            offpay_test_failures++;
        }
    }
    CHECK(OFFPAY_TEXT_MAX == 786548);
    CHECK(offpay_text_max_len("OPXX:", 5) == OFFPAY_TEXT_MAX);
    CHECK(offpay_text_max_len("OPP", 3) == OFFPAY_TEXT_MAX);
    CHECK(offpay_text_max_len(NULL, 0) == OFFPAY_TEXT_MAX);
    CHECK(offpay_msg_max_bytes((offpay_msg_type)0x77) == 0);
    CHECK(offpay_msg_max_bytes(OFFPAY_MSG_PAYMENT) == 199);
    CHECK(offpay_msg_max_bytes(OFFPAY_MSG_PAYMENT_BOUND) == 219);
    CHECK(offpay_msg_max_bytes(OFFPAY_MSG_REVLIST) == OFFPAY_MSG_MAX_BYTES);
}

static void fill_tcred(offpay_terminal_cred *c)
{
    memset(c, 0, sizeof *c);
    c->kid = 1;
    c->merchant_id = 7;
    c->terminal_id = 1;
    c->currency = 978;
    c->valid_from = 1;
    c->expires = 2;
    c->name_len = OFFPAY_NAME_MAX;
    memset(c->name, 'N', OFFPAY_NAME_MAX);
}

/* Encodes the largest message of each type with a variable size and
 * checks its size and text length are exactly the limits. */
static void test_largest_messages_fit_exactly(void)
{
    uint8_t              buf[1024];
    size_t               len = 0;
    offpay_trust_bundle  b;
    offpay_terminal_cred tc;
    offpay_request       q;
    offpay_receipt       t;
    offpay_payment       p;
    offpay_revlist       l;
    uint64_t            *serials;
    uint8_t             *big;
    char                *text = NULL;

    memset(&b, 0, sizeof b);
    b.seq = 1;
    b.n_keys = OFFPAY_BUNDLE_KEYS_MAX;
    for (unsigned i = 0; i < b.n_keys; i++) {
        b.keys[i].kid = (uint16_t)(i + 1);
        b.keys[i].valid_until = 1;
    }
    REQUIRE_OK(offpay_bundle_encode(&b, buf, sizeof buf, &len));
    CHECK(len == offpay_msg_max_bytes(OFFPAY_MSG_TRUST_BUNDLE));
    CHECK(text_len(len) == offpay_text_max_len("OPTB:", 5));

    fill_tcred(&tc);
    REQUIRE_OK(offpay_terminal_cred_encode(&tc, buf, sizeof buf, &len));
    CHECK(len == offpay_msg_max_bytes(OFFPAY_MSG_TERMINAL_CRED));
    CHECK(text_len(len) == offpay_text_max_len("OPTC:", 5));

    memset(&q, 0, sizeof q);
    fill_tcred(&q.tcred);
    q.amount = 1;
    q.currency = 978;
    REQUIRE_OK(offpay_request_encode(&q, buf, sizeof buf, &len));
    CHECK(len == offpay_msg_max_bytes(OFFPAY_MSG_REQUEST));
    CHECK(text_len(len) == offpay_text_max_len("OPRQ:", 5));

    memset(&t, 0, sizeof t);
    fill_tcred(&t.tcred);
    t.counter = 1;
    t.amount = 1;
    t.currency = 978;
    REQUIRE_OK(offpay_receipt_encode(&t, buf, sizeof buf, &len));
    CHECK(len == offpay_msg_max_bytes(OFFPAY_MSG_RECEIPT));
    CHECK(text_len(len) == offpay_text_max_len("OPRC:", 5));

    memset(&p, 0, sizeof p);
    p.cred.currency = 978;
    p.cred.limit = 1;
    p.counter = 1;
    p.amount = 1;
    p.bound = 1;
    p.merchant_id = 7;
    REQUIRE_OK(offpay_payment_encode(&p, buf, sizeof buf, &len));
    CHECK(len == offpay_msg_max_bytes(OFFPAY_MSG_PAYMENT_BOUND));
    CHECK(text_len(len) == offpay_text_max_len("OPPY:", 5));

    /* A full list of OFFPAY_REVLIST_MAX serials, through the text form. */
    serials = calloc(OFFPAY_REVLIST_MAX, sizeof *serials);
    big = malloc(OFFPAY_MSG_MAX_BYTES);
    REQUIRE(serials != NULL && big != NULL);
    for (uint32_t i = 0; i < OFFPAY_REVLIST_MAX; i++)
        serials[i] = 1000u + 3u * i;
    memset(&l, 0, sizeof l);
    l.kid = 1;
    l.seq = 1;
    l.n_serials = OFFPAY_REVLIST_MAX;
    l.serials = serials;
    CHECK_ERR(offpay_revlist_encode(&l, big, OFFPAY_MSG_MAX_BYTES, &len),
              OFFPAY_OK);
    CHECK(len == OFFPAY_MSG_MAX_BYTES);
    CHECK_ERR(offpay_text_encode(big, len, &text), OFFPAY_OK);
    CHECK(text != NULL && strlen(text) == OFFPAY_TEXT_MAX);
    CHECK(text != NULL &&
          offpay_text_max_len(text, strlen(text)) == strlen(text));
    free(text);
    free(big);
    free(serials);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"limits_match_spec_table", test_limits_match_spec_table},
        {"largest_messages_fit_exactly", test_largest_messages_fit_exactly},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
