/*
 * test_base45.c — RFC 9285 Base45: the RFC's examples both ways, the golden
 * vectors of tests/vectors/base45.json, strict rejection of every
 * non-canonical or malformed text, buffer bounds, and exhaustive and random
 * round trips; and the public base64 and key-hex decoders.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/base64.h"

#define ALPHABET "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

/* Encodes in[0..n) and CHECKs the result is want. */
static void check_encode(const uint8_t *in, size_t n, const char *want)
{
    char   buf[128];
    size_t len = 12345;

    CHECK_ERR(offpay_base45_encode(in, n, buf, sizeof buf, &len), OFFPAY_OK);
    CHECK(len == strlen(want));
    CHECK(len == OFFPAY_BASE45_ENCODED_LEN(n));
    CHECK(strcmp(buf, want) == 0);
}

/* Decodes text and CHECKs the result is want[0..n). */
static void check_decode(const char *text, const uint8_t *want, size_t n)
{
    uint8_t buf[128];
    size_t  len = 12345;

    CHECK_ERR(offpay_base45_decode(text, strlen(text), buf, sizeof buf, &len),
              OFFPAY_OK);
    CHECK(len == n);
    CHECK(len != n || n == 0 || memcmp(buf, want, n) == 0);
}

/* CHECKs that text is rejected as malformed Base45. */
static void check_invalid(const char *text, size_t n)
{
    uint8_t buf[128];
    size_t  len = 12345;

    CHECK_ERR(offpay_base45_decode(text, n, buf, sizeof buf, &len),
              OFFPAY_EBASE45);
    CHECK(len == 0);
}

static void test_rfc_examples(void)
{
    check_encode((const uint8_t *)"AB", 2, "BB8");
    check_encode((const uint8_t *)"Hello!!", 7, "%69 VD92EX0");
    check_encode((const uint8_t *)"base-45", 7, "UJCLQE7W581");
    check_encode((const uint8_t *)"ietf!", 5, "QED8WEX0");

    check_decode("BB8", (const uint8_t *)"AB", 2);
    check_decode("%69 VD92EX0", (const uint8_t *)"Hello!!", 7);
    check_decode("UJCLQE7W581", (const uint8_t *)"base-45", 7);
    check_decode("QED8WEX0", (const uint8_t *)"ietf!", 5);
}

static void test_empty(void)
{
    char    text[1] = {'x'};
    uint8_t bytes[1];
    size_t  len = 99;

    CHECK_ERR(offpay_base45_encode(NULL, 0, text, sizeof text, &len),
              OFFPAY_OK);
    CHECK(text[0] == '\0');
    CHECK(len == 0);
    len = 99;
    CHECK_ERR(offpay_base45_decode("", 0, bytes, sizeof bytes, &len),
              OFFPAY_OK);
    CHECK(len == 0);
    /* Nothing to write, so no buffer is needed. */
    CHECK_ERR(offpay_base45_decode(NULL, 0, NULL, 0, NULL), OFFPAY_OK);
}

static void test_boundaries(void)
{
    static const uint8_t ffff[2] = {0xFF, 0xFF};
    static const uint8_t zero[2] = {0, 0};

    check_decode("FGW", ffff, 2); /* 65535, largest triple */
    check_decode("000", zero, 2);
    check_decode("U5", ffff, 1); /* 255, largest pair */
    check_decode("00", zero, 1);
    check_invalid("GGW", 3);    /* 65536 */
    check_invalid(":::", 3);    /* 91124, largest value of three digits */
    check_invalid("V5", 2);     /* 256 */
    check_invalid("::", 2);     /* 2024 */
    check_invalid("BB8GGW", 6); /* bad triple after a good one */
    check_invalid("BB8V5", 5);  /* bad final pair after a good triple */
}

static void test_invalid_text(void)
{
    check_invalid("B", 1);
    check_invalid("BB8B", 4);
    check_invalid("BB8BB8B", 7);
    check_invalid("bb8", 3);
    check_invalid("qed8wex0", 8);
    check_invalid("BB8=", 4);
    check_invalid("BB\n", 3);
    check_invalid("BB8\0", 4); /* an embedded NUL counts, n is the length */
    check_invalid("\0BB", 3);
    check_invalid("%69 VD92EX0 ", 12); /* last triple "X0 " is 72933 */
}

/*
 * Every byte outside the alphabet is rejected in every position; every
 * alphabet character is accepted wherever the value stays in range
 * ("00x" is 2025 * x, over 65535 past 'W'; "0x" is 45 * x, over 255 past
 * '5').
 */
static void test_every_byte(void)
{
    for (int c = 0; c < 256; c++) {
        const char *at = c != 0 ? strchr(ALPHABET, c) : NULL;
        long        val = at != NULL ? at - ALPHABET : -1;

        for (size_t pos = 0; pos < 3; pos++) {
            char    text[3] = {'0', '0', '0'};
            uint8_t out[2];

            text[pos] = (char)c;
            CHECK_ERR(offpay_base45_decode(text, 3, out, sizeof out, NULL),
                      val >= 0 && (pos < 2 || val <= 32) ? OFFPAY_OK
                                                         : OFFPAY_EBASE45);
            if (pos < 2)
                CHECK_ERR(offpay_base45_decode(text, 2, out, sizeof out, NULL),
                          val >= 0 && (pos == 0 || val <= 5) ? OFFPAY_OK
                                                             : OFFPAY_EBASE45);
        }
    }
}

/* Every one of the 45^3 triples: valid exactly when its value is < 65536,
 * and then re-encoding gives back the same text (one text per bytes). */
static void test_all_triples(void)
{
    static const char alphabet[] = ALPHABET;
    long              valid = 0;

    for (uint32_t e = 0; e < 45; e++)
        for (uint32_t d = 0; d < 45; d++)
            for (uint32_t c = 0; c < 45; c++) {
                char       text[3] = {alphabet[c], alphabet[d], alphabet[e]};
                char       again[4];
                uint8_t    out[2];
                uint32_t   v = c + 45 * d + 2025 * e;
                offpay_err rc =
                    offpay_base45_decode(text, 3, out, sizeof out, NULL);

                if (v > 65535) {
                    CHECK_ERR(rc, OFFPAY_EBASE45);
                    continue;
                }
                CHECK_ERR(rc, OFFPAY_OK);
                CHECK(((uint32_t)out[0] << 8 | out[1]) == v);
                CHECK_ERR(
                    offpay_base45_encode(out, 2, again, sizeof again, NULL),
                    OFFPAY_OK);
                CHECK(memcmp(again, text, 3) == 0);
                valid++;
            }
    CHECK(valid == 65536);
}

/* Every single byte and every pair of bytes survives a round trip. */
static void test_all_short_inputs(void)
{
    for (uint32_t v = 0; v < 65536; v++) {
        uint8_t in[2] = {(uint8_t)(v >> 8), (uint8_t)v};
        char    text[4];
        uint8_t out[2];
        size_t  tlen, olen;

        REQUIRE_OK(offpay_base45_encode(in, 2, text, sizeof text, &tlen));
        REQUIRE(tlen == 3);
        REQUIRE_OK(offpay_base45_decode(text, tlen, out, sizeof out, &olen));
        REQUIRE(olen == 2 && memcmp(in, out, 2) == 0);
        if (v < 256) {
            REQUIRE_OK(
                offpay_base45_encode(in + 1, 1, text, sizeof text, &tlen));
            REQUIRE(tlen == 2);
            REQUIRE_OK(
                offpay_base45_decode(text, tlen, out, sizeof out, &olen));
            REQUIRE(olen == 1 && out[0] == in[1]);
        }
    }
}

/* All 256 byte values in one message, then random messages of 0..300. */
static void test_random_round_trips(void)
{
    uint8_t in[300], out[300];
    char    text[OFFPAY_BASE45_ENCODED_LEN(300) + 1];
    size_t  tlen, olen;

    for (size_t i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    REQUIRE_OK(offpay_base45_encode(in, 256, text, sizeof text, &tlen));
    REQUIRE(tlen == OFFPAY_BASE45_ENCODED_LEN(256));
    REQUIRE_OK(offpay_base45_decode(text, tlen, out, sizeof out, &olen));
    REQUIRE(olen == 256 && memcmp(in, out, 256) == 0);

    for (int iter = 0; iter < 2000; iter++) {
        size_t n = randombytes_uniform(301);

        randombytes_buf(in, n);
        REQUIRE_OK(offpay_base45_encode(in, n, text, sizeof text, &tlen));
        REQUIRE(tlen == OFFPAY_BASE45_ENCODED_LEN(n));
        REQUIRE(strlen(text) == tlen);
        REQUIRE(strspn(text, ALPHABET) == tlen);
        REQUIRE_OK(offpay_base45_decode(text, tlen, out, sizeof out, &olen));
        REQUIRE(olen == n);
        REQUIRE(n == 0 || memcmp(in, out, n) == 0);
    }
}

static void test_buffer_too_small(void)
{
    const uint8_t *hello = (const uint8_t *)"Hello!!";
    char           text[12];
    uint8_t        out[7];
    size_t         len = 99;

    /* 11 characters and the NUL need 12. */
    memset(text, 'x', sizeof text);
    CHECK_ERR(offpay_base45_encode(hello, 7, text, 11, &len), OFFPAY_ERANGE);
    CHECK(len == 0);
    CHECK(text[0] == '\0'); /* no stale or partial text is left behind */
    CHECK_ERR(offpay_base45_encode(hello, 7, text, 0, NULL), OFFPAY_ERANGE);
    CHECK_ERR(offpay_base45_encode(hello, 7, text, 12, &len), OFFPAY_OK);
    CHECK(len == 11);
    CHECK_ERR(offpay_base45_encode(NULL, 0, text, 0, NULL), OFFPAY_ERANGE);

    len = 99;
    CHECK_ERR(offpay_base45_decode("%69 VD92EX0", 11, out, 6, &len),
              OFFPAY_ERANGE);
    CHECK(len == 0);
    CHECK_ERR(offpay_base45_decode("%69 VD92EX0", 11, NULL, 0, NULL),
              OFFPAY_ERANGE);
    CHECK_ERR(offpay_base45_decode("%69 VD92EX0", 11, out, 7, &len), OFFPAY_OK);
    CHECK(len == 7 && memcmp(out, hello, 7) == 0);
    /* Malformed text is reported as malformed even into a small buffer. */
    CHECK_ERR(offpay_base45_decode("BB8GGW", 6, out, 1, NULL), OFFPAY_EBASE45);
    CHECK_ERR(offpay_base45_decode("BB8B", 4, out, 0, NULL), OFFPAY_EBASE45);
}

static void test_bad_arguments(void)
{
    char    text[8];
    uint8_t out[8];

    CHECK_ERR(offpay_base45_encode(NULL, 1, text, sizeof text, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_base45_encode((const uint8_t *)"A", 1, NULL, 8, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_base45_decode(NULL, 3, out, sizeof out, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_base45_decode("BB8", 3, NULL, 8, NULL), OFFPAY_EINVAL);
    /* A size so large its encoded length would not fit in a size_t. */
    CHECK_ERR(offpay_base45_encode((const uint8_t *)"A", SIZE_MAX, text,
                                   sizeof text, NULL),
              OFFPAY_ERANGE);
}

/* tests/vectors/base45.json: valid pairs both ways, invalid texts rejected. */
static void test_json_vectors(void)
{
    json_error_t err;
    json_t      *root =
        json_load_file(OFFPAY_SOURCE_DIR "/tests/vectors/base45.json", 0, &err);
    json_t *valid, *invalid, *v;
    size_t  i;

    if (root == NULL)
        fprintf(stderr, "base45.json:%d: %s\n", err.line, err.text);
    REQUIRE(root != NULL);
    valid = json_object_get(root, "valid");
    invalid = json_object_get(root, "invalid");
    CHECK(json_array_size(valid) >= 5);
    CHECK(json_array_size(invalid) >= 5);
    json_array_foreach(valid, i, v)
    {
        const char *hex = json_string_value(json_object_get(v, "hex"));
        const char *text = json_string_value(json_object_get(v, "text"));
        uint8_t     bytes[64];
        size_t      n = 0;

        CHECK(hex != NULL && text != NULL);
        if (hex == NULL || text == NULL)
            continue;
        CHECK(sodium_hex2bin(bytes, sizeof bytes, hex, strlen(hex), NULL, &n,
                             NULL) == 0);
        check_encode(bytes, n, text);
        check_decode(text, bytes, n);
    }
    json_array_foreach(invalid, i, v)
    {
        const char *text = json_string_value(json_object_get(v, "text"));

        CHECK(text != NULL);
        if (text != NULL)
            check_invalid(text, strlen(text));
    }
    json_decref(root);
}

/* The canonical check of offpay__base64_decode re-encodes only the last
 * group of four (src/core/base64.c): the same verdict as the whole text
 * encoded again and compared, on every text of up to 8 characters drawn
 * from a few letters around the groups' edges (A, B, Q, g, w, /, =) and
 * on random texts of up to 24 characters, mutated in their last group. */
static int whole_canonical(const char *t, size_t len, uint8_t *buf, size_t cap,
                           size_t *got)
{
    char back[64];

    if (len == 0 ||
        sodium_base642bin(buf, cap, t, len, NULL, got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *got == 0)
        return 0;
    sodium_bin2base64(back, sizeof back, buf, *got,
                      sodium_base64_VARIANT_ORIGINAL);
    return strlen(back) == len && memcmp(back, t, len) == 0;
}

static void test_base64_canonical_same_as_whole(void)
{
    static const char few[] = "ABQgw/=";
    static const char all[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    char    t[32];
    uint8_t a[32], b[32];
    size_t  ga = 0, gb = 0, differ = 0, ok = 0;

    for (size_t len = 1; len <= 8; len++) {
        size_t total = 1;

        for (size_t i = 0; i < len; i++)
            total *= sizeof few - 1;
        for (size_t x = 0; x < total; x++) {
            size_t v = x;
            int    want, got;

            for (size_t i = 0; i < len; i++, v /= sizeof few - 1)
                t[i] = few[v % (sizeof few - 1)];
            want = whole_canonical(t, len, a, sizeof a, &ga);
            gb = offpay__base64_decode(t, len, b, sizeof b);
            got = gb != 0;
            differ +=
                want != got || (got && (gb != ga || memcmp(a, b, ga) != 0));
            ok += got != 0;
        }
    }
    for (int r = 0; r < 200000; r++) {
        size_t  n = 1 + randombytes_uniform(18), len;
        uint8_t raw[18];
        int     want, got;

        randombytes_buf(raw, n);
        sodium_bin2base64(t, sizeof t, raw, n, sodium_base64_VARIANT_ORIGINAL);
        len = strlen(t);
        /* one of the last group's characters changed, or one added or
         * taken away at the end */
        switch (randombytes_uniform(3)) {
        case 0:
            t[len - 1 - randombytes_uniform(4)] =
                all[randombytes_uniform(sizeof all - 1)];
            break;
        case 1:
            t[len++] = all[randombytes_uniform(sizeof all - 1)];
            break;
        default:
            len--;
        }
        want = whole_canonical(t, len, a, sizeof a, &ga);
        gb = offpay__base64_decode(t, len, b, sizeof b);
        got = gb != 0;
        differ += want != got || (got && (gb != ga || memcmp(a, b, ga) != 0));
        ok += got != 0;
    }
    CHECK(differ == 0);
    CHECK(ok > 1000); /* canonical texts were among them */

    /* The check alone, on what a looser decoder could have handed it. */
    {
        static const uint8_t z[4] = {0, 0, 0, 0}, ab[4] = {0, 1, 2, 0xff};

        CHECK(offpay__base64_canonical(z, 1, "AA==", 4));
        CHECK(!offpay__base64_canonical(z, 1, "AB==", 4)); /* unused bits */
        CHECK(!offpay__base64_canonical(z, 2, "AAB=", 4));
        CHECK(offpay__base64_canonical(z, 2, "AAA=", 4));
        CHECK(offpay__base64_canonical(z, 3, "AAAA", 4));
        CHECK(!offpay__base64_canonical(z, 1, "AA==AAAA", 8)); /* length */
        CHECK(!offpay__base64_canonical(z, 1, "AA", 2));
        CHECK(!offpay__base64_canonical(z, 3, "AAAAA", 5));
        CHECK(offpay__base64_canonical(ab, 4, "AAEC/w==", 8));
        CHECK(!offpay__base64_canonical(ab, 4, "AAEC/x==", 8));
        CHECK(!offpay__base64_canonical(ab, 4, "AAEC/w=", 7));
        CHECK(!offpay__base64_canonical(ab, 4, "AAEC/w==", 9));
    }
}

/* The public decoders of what offpayd and the issuer hand out: base64
 * (canonical only) and a key's hex. */
static void test_base64_and_hex(void)
{
    uint8_t *b = NULL;
    size_t   n = 0;
    uint8_t  pk[OFFPAY_PK_BYTES], want[OFFPAY_PK_BYTES];
    char     hex[2 * OFFPAY_PK_BYTES + 2];

    REQUIRE_OK(offpay_base64_decode("AAEC/w==", 8, &b, &n));
    CHECK(n == 4 && b[0] == 0 && b[1] == 1 && b[2] == 2 && b[3] == 0xff);
    free(b);
    /* not canonical (other padding bits, no padding), not base64, empty */
    CHECK_ERR(offpay_base64_decode("AAEC/x==", 8, &b, &n), OFFPAY_EMALFORMED);
    CHECK(b == NULL);
    CHECK_ERR(offpay_base64_decode("AAEC/w", 6, &b, &n), OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_base64_decode("AAEC /w=", 8, &b, &n), OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_base64_decode("AAEC/w==\n", 9, &b, &n), OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_base64_decode("", 0, &b, &n), OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_base64_decode(NULL, 0, &b, &n), OFFPAY_EINVAL);
    /* the bound, to the byte: a full revocation list decodes; one byte
     * more is ETOOBIG */
    {
        size_t   cap = OFFPAY_BASE64_MAX + 1;
        uint8_t *raw = calloc(1, cap);
        char    *txt = malloc(sodium_base64_encoded_len(
            cap, sodium_base64_VARIANT_ORIGINAL));

        REQUIRE(raw != NULL && txt != NULL);
        for (size_t k = OFFPAY_BASE64_MAX - 1; k <= cap; k++) {
            sodium_bin2base64(txt,
                              sodium_base64_encoded_len(
                                  cap, sodium_base64_VARIANT_ORIGINAL),
                              raw, k, sodium_base64_VARIANT_ORIGINAL);
            CHECK_ERR(offpay_base64_decode(txt, strlen(txt), &b, &n),
                      k <= OFFPAY_BASE64_MAX ? OFFPAY_OK : OFFPAY_ETOOBIG);
            CHECK(k > OFFPAY_BASE64_MAX || n == k);
            free(b);
            b = NULL;
        }
        CHECK(OFFPAY_BASE64_MAX >= 18 + 65535 * 8 + 64); /* a full list */
        free(raw);
        free(txt);
    }
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (uint8_t)(i * 7 + 1);
    sodium_bin2hex(hex, sizeof hex, want, sizeof want);
    REQUIRE_OK(offpay_key_from_hex(hex, 64, pk));
    CHECK(memcmp(pk, want, sizeof pk) == 0);
    hex[64] = '\n'; /* a file's newline */
    REQUIRE_OK(offpay_key_from_hex(hex, 65, pk));
    CHECK_ERR(offpay_key_from_hex(hex, 63, pk), OFFPAY_EMALFORMED);
    hex[3] = 'g';
    CHECK_ERR(offpay_key_from_hex(hex, 64, pk), OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_key_from_hex(NULL, 64, pk), OFFPAY_EINVAL);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"rfc_examples", test_rfc_examples},
        {"empty", test_empty},
        {"boundaries", test_boundaries},
        {"invalid_text", test_invalid_text},
        {"every_byte", test_every_byte},
        {"all_triples", test_all_triples},
        {"all_short_inputs", test_all_short_inputs},
        {"random_round_trips", test_random_round_trips},
        {"buffer_too_small", test_buffer_too_small},
        {"bad_arguments", test_bad_arguments},
        {"json_vectors", test_json_vectors},
        {"base64_and_hex", test_base64_and_hex},
        {"base64_canonical_same_as_whole", test_base64_canonical_same_as_whole},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
