/*
 * test_receipt.c — offpay_receipt_verify on its own, without the wallet
 * around it: the wallet compares a receipt's currency with its credential's
 * and so hides a verifier that forgot to compare it with the terminal
 * credential's (docs/protocol.md §5.6). Each test builds a fresh world in
 * memory (root, issuer key, bundle, terminal credential) and signs receipts
 * with the terminal key, so only the field under test differs.
 */
#include "harness.h"

#define NOW 1767225600u /* 2026-01-01 */
#define DAY 86400u

typedef struct world {
    offpay_keypair       root, iss, term;
    offpay_trust_bundle  b;
    offpay_terminal_cred tc;
} world;

static int world_init(world *x)
{
    memset(x, 0, sizeof *x);
    if (offpay_keypair_generate(&x->root) != OFFPAY_OK ||
        offpay_keypair_generate(&x->iss) != OFFPAY_OK ||
        offpay_keypair_generate(&x->term) != OFFPAY_OK)
        return 0;
    x->b.seq = 1;
    x->b.issued_at = NOW - DAY;
    x->b.n_keys = 1;
    x->b.keys[0].kid = 1;
    memcpy(x->b.keys[0].pk, x->iss.pk, OFFPAY_PK_BYTES);
    x->b.keys[0].valid_from = NOW - DAY;
    x->b.keys[0].valid_until = NOW + 365 * DAY;
    if (offpay_issuer_sign_bundle(x->root.sk, &x->b) != OFFPAY_OK)
        return 0;
    x->tc.kid = 1;
    x->tc.merchant_id = 7;
    x->tc.terminal_id = 1;
    memcpy(x->tc.terminal_pk, x->term.pk, OFFPAY_PK_BYTES);
    x->tc.currency = 978; /* EUR */
    x->tc.valid_from = NOW - DAY;
    x->tc.expires = NOW + 30 * DAY;
    x->tc.name_len = 4;
    memcpy(x->tc.name, "Shop", 5);
    return offpay_issuer_sign_terminal_cred(x->iss.sk, &x->tc) == OFFPAY_OK;
}

/* A receipt for 2.50 in currency, signed by the world's terminal key. */
static int receipt_make(const world *x, uint16_t currency, offpay_receipt *t)
{
    uint8_t buf[512];
    size_t  len = 0;

    memset(t, 0, sizeof *t);
    t->tcred = x->tc;
    t->serial = 42;
    t->counter = 1;
    t->amount = 250;
    t->currency = currency;
    t->time = NOW;
    if (offpay_receipt_encode(t, buf, sizeof buf, &len) != OFFPAY_OK)
        return 0;
    return offpay_sign(OFFPAY_DS_RECEIPT, buf, len - OFFPAY_SIG_BYTES,
                       x->term.sk, t->sig) == OFFPAY_OK;
}

/* The control: a receipt in the terminal's currency verifies. */
static void test_receipt_in_terminal_currency_verifies(void)
{
    world          x;
    offpay_receipt t;

    REQUIRE(world_init(&x));
    REQUIRE(receipt_make(&x, 978, &t));
    CHECK_ERR(offpay_receipt_verify(&x.b, &t, NOW, 0), OFFPAY_OK);
}

/* A receipt correctly signed by the terminal but in another (known)
 * currency than its terminal credential is ECURRENCY. */
static void test_receipt_in_other_currency_is_ecurrency(void)
{
    world          x;
    offpay_receipt t;

    REQUIRE(world_init(&x));
    REQUIRE(receipt_make(&x, 840, &t)); /* USD on a EUR terminal */
    CHECK_ERR(offpay_receipt_verify(&x.b, &t, NOW, 0), OFFPAY_ECURRENCY);
    /* Also through the wire form, as a wallet reads it. */
    {
        uint8_t        buf[512];
        size_t         len = 0;
        offpay_receipt d;

        REQUIRE_OK(offpay_receipt_encode(&t, buf, sizeof buf, &len));
        REQUIRE_OK(offpay_receipt_decode(buf, len, &d));
        CHECK_ERR(offpay_receipt_verify(&x.b, &d, NOW, 0), OFFPAY_ECURRENCY);
    }
}

/* The currency is compared after the signature: a currency changed after
 * signing is ECODE_SIG (the documented order, §5.6). */
static void test_receipt_currency_changed_after_signing_is_ecode_sig(void)
{
    world          x;
    offpay_receipt t;

    REQUIRE(world_init(&x));
    REQUIRE(receipt_make(&x, 978, &t));
    t.currency = 840;
    CHECK_ERR(offpay_receipt_verify(&x.b, &t, NOW, 0), OFFPAY_ECODE_SIG);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"receipt_in_terminal_currency_verifies",
         test_receipt_in_terminal_currency_verifies},
        {"receipt_in_other_currency_is_ecurrency",
         test_receipt_in_other_currency_is_ecurrency},
        {"receipt_currency_changed_after_signing_is_ecode_sig",
         test_receipt_currency_changed_after_signing_is_ecode_sig},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
