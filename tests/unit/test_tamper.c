/*
 * test_tamper.c — DESIGN.md invariant 5, "any change to any byte of a code
 * makes it rejected", checked exhaustively on real codes.
 *
 * A real issuer, wallet and terminal make one consumer-presented code and
 * one code bound to a request. Then every single-bit flip of each binary
 * code, every truncation of the binary and of the text, and every
 * substitution of one text character by another Base45 character is shown
 * to offpay_terminal_check, which must reject each variant with a known,
 * non-OK error (and never crash: the sanitizer build runs this too). Bit
 * flips run twice, with the terminal's credential cache on and off, since
 * the cache is a path that skips a signature check. Each test prints how
 * many variants it tried and which errors they drew.
 */
#include "harness.h"

#include <stdlib.h>

#define NOW     1700000000u
#define EUR     978
#define PASS    "tamper test passphrase"
#define CPM_AMT 2000
#define REQ_AMT 1500

static const char B45[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/* The fixture: made once by the first test, shared by the others. */
static struct {
    int              ready;
    offpay_issuer   *is;
    offpay_wallet   *w;
    offpay_terminal *t;
    char            *cpm_text;   /* consumer-presented code, text form */
    char            *bound_text; /* code bound to a request of t */
    uint8_t         *cpm;        /* binary forms */
    size_t           cpm_len;
    uint8_t         *bound;
    size_t           bound_len;
} fx;

/* Errors seen among rejected variants, for the printed summary. */
static unsigned long err_hist[128];
static unsigned long total_variants; /* over every test */

/* Records a failure that no single condition expresses. */
#define FAIL(why)                                                              \
    do {                                                                       \
        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, (why));             \
        offpay_test_failures++;                                                \
    } while (0)

static void hist_reset(void)
{
    memset(err_hist, 0, sizeof err_hist);
}

static void hist_print(const char *what, unsigned long n)
{
    total_variants += n;
    printf("     %s: %lu variants, all rejected:", what, n);
    for (int e = 0; e < 128; e++)
        if (err_hist[e] != 0)
            printf(" %s=%lu", offpay_errname((offpay_err)e), err_hist[e]);
    printf("\n");
}

static const char *subdir(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", offpay_test_tmpdir(), name);
    return buf;
}

/* Issuer, wallet with an unbound-capable credential, provisioned and
 * synced terminal, and the two codes. Returns 0 on any failure. */
static int fixture(void)
{
    char                 path[512];
    uint8_t              root_pk[OFFPAY_PK_BYTES], pk[OFFPAY_PK_BYTES];
    uint8_t             *bundle = NULL, *rl = NULL, buf[512];
    size_t               blen = 0, rllen = 0, n = 0;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    offpay_request       q;
    char                *rq = NULL;
    int                  ok = 0;

    if (fx.ready)
        return 1;
    setenv("OFFPAY_KDF_COST", "test", 1);
    if (offpay_issuer_create(subdir("issuer", path, sizeof path), PASS,
                             NOW - 86400, &fx.is) != OFFPAY_OK)
        goto out;
    offpay_issuer_root_pk(fx.is, root_pk);
    if (offpay_issuer_bundle(fx.is, &bundle, &blen) != OFFPAY_OK ||
        offpay_wallet_create(subdir("wallet", path, sizeof path), PASS, root_pk,
                             bundle, blen, &fx.w) != OFFPAY_OK)
        goto out;
    offpay_wallet_public_key(fx.w, pk);
    if (offpay_issuer_issue_wallet(fx.is, pk, 100000, EUR, NOW - 3600,
                                   NOW + 30 * 86400, OFFPAY_CRED_ALLOW_UNBOUND,
                                   &wc) != OFFPAY_OK ||
        offpay_wallet_cred_encode(&wc, buf, sizeof buf, &n) != OFFPAY_OK ||
        offpay_wallet_add_credential(fx.w, buf, n, NOW) != OFFPAY_OK)
        goto out;
    if (offpay_terminal_create(subdir("terminal", path, sizeof path), PASS,
                               root_pk, bundle, blen, EUR, &fx.t) != OFFPAY_OK)
        goto out;
    offpay_terminal_public_key(fx.t, pk);
    if (offpay_issuer_issue_terminal(fx.is, 7, pk, EUR, "Tamper Shop",
                                     NOW - 3600, NOW + 365 * 86400,
                                     &tc) != OFFPAY_OK ||
        offpay_terminal_cred_encode(&tc, buf, sizeof buf, &n) != OFFPAY_OK ||
        offpay_terminal_set_credential(fx.t, buf, n, NOW) != OFFPAY_OK ||
        offpay_issuer_revlist(fx.is, NOW, &rl, &rllen) != OFFPAY_OK ||
        offpay_terminal_sync(fx.t, NULL, 0, rl, rllen, NOW) != OFFPAY_OK)
        goto out;
    if (offpay_wallet_pay(fx.w, CPM_AMT, EUR, NOW, &fx.cpm_text, NULL) !=
            OFFPAY_OK ||
        offpay_terminal_request(fx.t, REQ_AMT, NOW, &rq, NULL) != OFFPAY_OK ||
        offpay_wallet_read_request(fx.w, rq, NOW, &q) != OFFPAY_OK ||
        offpay_wallet_pay_request(fx.w, &q, NOW, &fx.bound_text, NULL) !=
            OFFPAY_OK)
        goto out;
    if (offpay_text_decode(fx.cpm_text, strlen(fx.cpm_text), &fx.cpm,
                           &fx.cpm_len) != OFFPAY_OK ||
        offpay_text_decode(fx.bound_text, strlen(fx.bound_text), &fx.bound,
                           &fx.bound_len) != OFFPAY_OK)
        goto out;
    ok = fx.cpm_len == OFFPAY_PAYMENT_BYTES &&
         fx.bound_len == OFFPAY_PAYMENT_BOUND_BYTES;
    fx.ready = ok;
out:
    free(bundle);
    free(rl);
    free(rq);
    return ok;
}

/* What offpay_terminal_check charges for each code: the whole amount for
 * the unbound code, the request's amount (0) for the bound one. */
static int64_t charge_for(const uint8_t *orig)
{
    return orig == fx.cpm ? CPM_AMT : 0;
}

/* Shows text[0..n) to the terminal; it must be rejected with a known
 * error. Returns 1 when it was (so callers can count). */
static int rejected(const char *text, size_t n, int64_t charge)
{
    offpay_err rc = offpay_terminal_check(fx.t, text, n, charge, NOW + 1, NULL);

    if (rc == OFFPAY_OK || strcmp(offpay_strerror(rc), "unknown error") == 0) {
        fprintf(stderr, "variant not rejected properly: %s (%.*s)\n",
                offpay_errname(rc), (int)(n > 60 ? 60 : n), text);
        return 0;
    }
    if ((unsigned)rc < 128)
        err_hist[rc]++;
    return 1;
}

/* The text the terminal would receive for (possibly damaged) bytes: their
 * own text form when their type byte names a message type, else the
 * original prefix followed by their Base45. malloc'd; NULL on failure. */
static char *text_of(const uint8_t *b, size_t n, const char *orig_text)
{
    char      *text = NULL;
    offpay_err rc = offpay_text_encode(b, n, &text);

    if (rc == OFFPAY_OK)
        return text;
    if (rc != OFFPAY_ETYPE && rc != OFFPAY_EINVAL)
        return NULL; /* EINVAL: fewer than 2 bytes, no type byte at all */
    text = malloc(5 + OFFPAY_BASE45_ENCODED_LEN(n) + 1);
    if (text == NULL)
        return NULL;
    memcpy(text, orig_text, 5);
    if (offpay_base45_encode(b, n, text + 5, OFFPAY_BASE45_ENCODED_LEN(n) + 1,
                             NULL) != OFFPAY_OK) {
        free(text);
        return NULL;
    }
    return text;
}

/* Every single-bit flip of orig[0..len). Returns the number rejected. */
static unsigned long flip_bits(const uint8_t *orig, size_t len,
                               const char *orig_text)
{
    uint8_t       buf[OFFPAY_PAYMENT_BOUND_BYTES];
    unsigned long n = 0;

    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            char *text;

            memcpy(buf, orig, len);
            buf[i] ^= (uint8_t)(1u << bit);
            text = text_of(buf, len, orig_text);
            CHECK(text != NULL);
            if (text == NULL)
                continue;
            if (rejected(text, strlen(text), charge_for(orig)))
                n++;
            else
                FAIL("bit flip accepted");
            free(text);
        }
    return n;
}

/* The two codes are accepted as they are (so every rejection below is
 * due to the change alone). */
static void test_originals_pass(void)
{
    offpay_payment p;

    REQUIRE(fixture());
    printf("     code sizes: consumer-presented %zu bytes (%zu chars), "
           "bound %zu bytes (%zu chars)\n",
           fx.cpm_len, strlen(fx.cpm_text), fx.bound_len,
           strlen(fx.bound_text));
    CHECK(fx.cpm_len <= 200); /* DESIGN.md size budget */
    CHECK_ERR(offpay_terminal_check(fx.t, fx.cpm_text, strlen(fx.cpm_text),
                                    CPM_AMT, NOW + 1, &p),
              OFFPAY_OK);
    CHECK(!p.bound && p.amount == CPM_AMT);
    CHECK_ERR(offpay_terminal_check(fx.t, fx.bound_text, strlen(fx.bound_text),
                                    0, NOW + 1, &p),
              OFFPAY_OK);
    CHECK(p.bound && p.amount == REQ_AMT);
}

static void test_bit_flips(void)
{
    unsigned long n = 0, want;

    REQUIRE(fixture());
    want = 2 * 8 * (fx.cpm_len + fx.bound_len);
    hist_reset();
    for (int cache = 1; cache >= 0; cache--) {
        offpay_terminal_set_cred_cache(fx.t, cache);
        /* Warm the cache with the genuine credential first. */
        CHECK_ERR(offpay_terminal_check(fx.t, fx.cpm_text, strlen(fx.cpm_text),
                                        CPM_AMT, NOW + 1, NULL),
                  OFFPAY_OK);
        n += flip_bits(fx.cpm, fx.cpm_len, fx.cpm_text);
        n += flip_bits(fx.bound, fx.bound_len, fx.bound_text);
    }
    offpay_terminal_set_cred_cache(fx.t, 1);
    CHECK(n == want);
    hist_print("single-bit flips (cache on and off)", n);
}

/* Every proper prefix of the binary code (as text) and of the text. */
static void truncate_one(const uint8_t *orig, size_t len, const char *orig_text,
                         unsigned long *n)
{
    size_t tlen = strlen(orig_text);

    for (size_t k = 0; k < len; k++) {
        char *text = text_of(orig, k, orig_text);

        CHECK(text != NULL);
        if (text == NULL)
            continue;
        if (rejected(text, strlen(text), charge_for(orig)))
            (*n)++;
        else
            FAIL("truncated binary accepted");
        free(text);
    }
    for (size_t k = 0; k < tlen; k++) {
        /* A copy of exactly k characters, so that ASan sees any read past
         * the length the terminal was given. */
        char *text = malloc(k > 0 ? k : 1);

        REQUIRE(text != NULL);
        memcpy(text, orig_text, k);
        if (rejected(text, k, charge_for(orig)))
            (*n)++;
        else
            FAIL("truncated text accepted");
        free(text);
    }
}

static void test_truncations(void)
{
    unsigned long n = 0;

    REQUIRE(fixture());
    hist_reset();
    truncate_one(fx.cpm, fx.cpm_len, fx.cpm_text, &n);
    truncate_one(fx.bound, fx.bound_len, fx.bound_text, &n);
    CHECK(n == fx.cpm_len + fx.bound_len + strlen(fx.cpm_text) +
                   strlen(fx.bound_text));
    hist_print("truncations (binary and text)", n);
}

/* Every character of the text, prefix included, replaced by each of the
 * 44 other Base45 characters. */
static unsigned long substitute(const char *orig_text, const uint8_t *orig)
{
    size_t        tlen = strlen(orig_text);
    char         *text = malloc(tlen + 1);
    unsigned long n = 0;

    if (text == NULL)
        return 0;
    for (size_t i = 0; i < tlen; i++)
        for (const char *c = B45; *c != '\0'; c++) {
            if (*c == orig_text[i])
                continue;
            memcpy(text, orig_text, tlen + 1);
            text[i] = *c;
            if (rejected(text, tlen, charge_for(orig)))
                n++;
            else
                FAIL("substituted text accepted");
        }
    free(text);
    return n;
}

static void test_text_substitutions(void)
{
    unsigned long n = 0;

    REQUIRE(fixture());
    hist_reset();
    n += substitute(fx.cpm_text, fx.cpm);
    n += substitute(fx.bound_text, fx.bound);
    CHECK(n == 44 * (strlen(fx.cpm_text) + strlen(fx.bound_text)));
    hist_print("text character substitutions", n);
}

/* Bytes appended to the binary, and characters appended to the text. */
static void test_extensions(void)
{
    const uint8_t *codes[2];
    const char    *texts[2];
    size_t         lens[2];
    unsigned long  n = 0;

    REQUIRE(fixture());
    codes[0] = fx.cpm, texts[0] = fx.cpm_text, lens[0] = fx.cpm_len;
    codes[1] = fx.bound, texts[1] = fx.bound_text, lens[1] = fx.bound_len;
    hist_reset();
    for (int c = 0; c < 2; c++) {
        uint8_t buf[OFFPAY_PAYMENT_BOUND_BYTES + 4];
        char    tbuf[400];
        size_t  tlen = strlen(texts[c]);

        for (size_t extra = 1; extra <= 3; extra++) {
            char *text;

            memcpy(buf, codes[c], lens[c]);
            memset(buf + lens[c], 0xa5, extra);
            text = text_of(buf, lens[c] + extra, texts[c]);
            REQUIRE(text != NULL);
            n += (unsigned long)rejected(text, strlen(text),
                                         charge_for(codes[c]));
            free(text);
        }
        REQUIRE(tlen + 3 < sizeof tbuf);
        for (const char *ch = B45; *ch != '\0'; ch++) {
            memcpy(tbuf, texts[c], tlen);
            tbuf[tlen] = *ch;
            tbuf[tlen + 1] = *ch;
            n += (unsigned long)rejected(tbuf, tlen + 1, charge_for(codes[c]));
            n += (unsigned long)rejected(tbuf, tlen + 2, charge_for(codes[c]));
        }
        /* A scanner's CR/LF must be stripped by the caller. */
        memcpy(tbuf, texts[c], tlen);
        memcpy(tbuf + tlen, "\r\n", 2);
        n += (unsigned long)rejected(tbuf, tlen + 2, charge_for(codes[c]));
    }
    CHECK(n == 2 * (3 + 2 * 45 + 1));
    hist_print("extensions (bytes and characters appended)", n);
}

/* A text one Base45 pair longer than the largest message decodes to
 * OFFPAY_MSG_MAX_BYTES + 1 bytes: refused as too big (message.h). */
static void test_text_size_bound(void)
{
    size_t   n = OFFPAY_MSG_MAX_BYTES + 1;
    size_t   tlen = 5 + OFFPAY_BASE45_ENCODED_LEN(n);
    uint8_t *b = calloc(n, 1), *out = NULL;
    char    *text = malloc(tlen + 1);
    size_t   olen = 0;

    if (b == NULL || text == NULL) {
        free(b);
        free(text);
        FAIL("out of memory");
        return;
    }
    b[0] = OFFPAY_PROTOCOL_VERSION;
    b[1] = OFFPAY_MSG_REVLIST;
    memcpy(text, "OPRL:", 5);
    CHECK_ERR(offpay_base45_encode(b, n, text + 5, tlen - 5 + 1, NULL),
              OFFPAY_OK);
    CHECK_ERR(offpay_text_decode(text, tlen, &out, &olen), OFFPAY_ETOOBIG);
    CHECK(out == NULL && olen == 0);
    /* One byte less is within the limit. */
    tlen = 5 + OFFPAY_BASE45_ENCODED_LEN(n - 1);
    CHECK_ERR(offpay_base45_encode(b, n - 1, text + 5, tlen - 5 + 1, NULL),
              OFFPAY_OK);
    CHECK_ERR(offpay_text_decode(text, tlen, &out, &olen), OFFPAY_OK);
    CHECK(olen == n - 1);
    free(out);
    free(text);
    free(b);
}

/* After all that, the genuine codes are still accepted, exactly once. */
static void test_originals_still_accepted(void)
{
    offpay_acceptance a;

    REQUIRE(fixture());
    CHECK_ERR(offpay_terminal_accept(fx.t, fx.cpm_text, strlen(fx.cpm_text),
                                     CPM_AMT, NOW + 2, &a),
              OFFPAY_OK);
    CHECK(a.charged == CPM_AMT);
    CHECK_ERR(offpay_terminal_accept(fx.t, fx.bound_text, strlen(fx.bound_text),
                                     0, NOW + 2, &a),
              OFFPAY_OK);
    CHECK(a.charged == REQ_AMT);
    CHECK_ERR(offpay_terminal_accept(fx.t, fx.cpm_text, strlen(fx.cpm_text),
                                     CPM_AMT, NOW + 3, NULL),
              OFFPAY_EREPLAY);
}

static void test_cleanup(void)
{
    printf("     %lu tampered variants tried, every one rejected\n",
           total_variants);
    offpay_terminal_close(fx.t);
    offpay_wallet_close(fx.w);
    offpay_issuer_close(fx.is);
    free(fx.cpm_text);
    free(fx.bound_text);
    free(fx.cpm);
    free(fx.bound);
    memset(&fx, 0, sizeof fx);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"originals_pass", test_originals_pass},
        {"bit_flips", test_bit_flips},
        {"truncations", test_truncations},
        {"text_substitutions", test_text_substitutions},
        {"extensions", test_extensions},
        {"text_size_bound", test_text_size_bound},
        {"originals_still_accepted", test_originals_still_accepted},
        {"cleanup", test_cleanup},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
