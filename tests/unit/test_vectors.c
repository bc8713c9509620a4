/*
 * test_vectors.c — the golden vectors of tests/vectors/messages.json, both
 * ways: every message rebuilt from its fields and key seeds (signed with the
 * issuer, wallet and terminal signing paths) gives exactly the recorded
 * bytes and text; decoding the bytes and the text gives exactly the fields;
 * every signature verifies with the verify.h functions; and flipping any bit
 * of any vector makes decoding or verification fail (DESIGN.md invariant 5).
 *
 * The vectors are written by tests/vectors/gen_vectors.c and re-derived
 * independently of this library by tests/vectors/check_independent.py.
 */
#include <jansson.h>
#include <stdlib.h>

#include "core/message_int.h"
#include "harness.h"

#define VECTORS OFFPAY_SOURCE_DIR "/tests/vectors/messages.json"

static json_t *doc;

/* The parsed file (loaded once), or NULL after a CHECK failure. */
static json_t *vectors(void)
{
    json_error_t err;

    if (doc == NULL) {
        doc = json_load_file(VECTORS, JSON_REJECT_DUPLICATES, &err);
        if (doc == NULL)
            fprintf(stderr, "%s:%d: %s\n", VECTORS, err.line, err.text);
    }
    CHECK(doc != NULL);
    return doc;
}

static json_t *message(const char *name)
{
    json_t *d = vectors();
    json_t *m =
        d ? json_object_get(json_object_get(d, "messages"), name) : NULL;

    CHECK(m != NULL);
    return m;
}

/* ---- field readers (a missing or malformed field fails the test) ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes the hex string obj[key] into out; *n its length (<= cap).
 * Returns 1 on success. */
static int get_hexv(const json_t *obj, const char *key, uint8_t *out,
                    size_t cap, size_t *n)
{
    const char *s = json_string_value(json_object_get(obj, key));
    size_t      len;

    if (s == NULL || (len = strlen(s)) % 2 != 0 || len / 2 > cap) {
        fprintf(stderr, "vectors: bad hex field %s\n", key);
        return 0;
    }
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = len / 2;
    return 1;
}

static int get_hex(const json_t *obj, const char *key, uint8_t *out, size_t n)
{
    size_t got = 0;

    return get_hexv(obj, key, out, n, &got) && got == n;
}

static int get_uint(const json_t *obj, const char *key, uint64_t max,
                    uint64_t *v)
{
    json_t *j = json_object_get(obj, key);

    if (!json_is_integer(j) || json_integer_value(j) < 0 ||
        (uint64_t)json_integer_value(j) > max) {
        fprintf(stderr, "vectors: bad integer field %s\n", key);
        return 0;
    }
    *v = (uint64_t)json_integer_value(j);
    return 1;
}

static int u32f(const json_t *obj, const char *key, uint32_t *v)
{
    uint64_t x = 0;

    if (!get_uint(obj, key, UINT32_MAX, &x))
        return 0;
    *v = (uint32_t)x;
    return 1;
}

static int u16f(const json_t *obj, const char *key, uint16_t *v)
{
    uint64_t x = 0;

    if (!get_uint(obj, key, UINT16_MAX, &x))
        return 0;
    *v = (uint16_t)x;
    return 1;
}

static int u8f(const json_t *obj, const char *key, uint8_t *v)
{
    uint64_t x = 0;

    if (!get_uint(obj, key, UINT8_MAX, &x))
        return 0;
    *v = (uint8_t)x;
    return 1;
}

/* A u64 written as a decimal string. */
static int u64_of(const json_t *j, uint64_t *v)
{
    const char *s = json_string_value(j);
    char       *end = NULL;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return 0;
    *v = strtoull(s, &end, 10);
    return *end == '\0';
}

static int u64f(const json_t *obj, const char *key, uint64_t *v)
{
    if (!u64_of(json_object_get(obj, key), v)) {
        fprintf(stderr, "vectors: bad u64 field %s\n", key);
        return 0;
    }
    return 1;
}

/* The key pair whose seed is keys[name].seed; checks its recorded pk. */
static int keypair(const char *name, offpay_keypair *kp)
{
    json_t *k = json_object_get(json_object_get(vectors(), "keys"), name);
    uint8_t seed[OFFPAY_SEED_BYTES], pk[OFFPAY_PK_BYTES];

    if (k == NULL || !get_hex(k, "seed", seed, sizeof seed) ||
        !get_hex(k, "pk", pk, sizeof pk) ||
        offpay_keypair_from_seed(seed, kp) != OFFPAY_OK)
        return 0;
    return memcmp(kp->pk, pk, sizeof pk) == 0;
}

/* ---- building values from fields ------------------------------------ */

static int wcred_from(const json_t *f, offpay_wallet_cred *c, int with_sig)
{
    memset(c, 0, sizeof *c);
    return u16f(f, "kid", &c->kid) && u64f(f, "serial", &c->serial) &&
           get_hex(f, "wallet_pk", c->wallet_pk, OFFPAY_PK_BYTES) &&
           u32f(f, "limit", &c->limit) && u16f(f, "currency", &c->currency) &&
           u32f(f, "valid_from", &c->valid_from) &&
           u32f(f, "expires", &c->expires) && u8f(f, "flags", &c->flags) &&
           (!with_sig || get_hex(f, "sig", c->sig, OFFPAY_SIG_BYTES));
}

static int tcred_from(const json_t *f, offpay_terminal_cred *c, int with_sig)
{
    size_t      n = 0;
    const char *name = json_string_value(json_object_get(f, "name"));

    memset(c, 0, sizeof *c);
    if (!(u16f(f, "kid", &c->kid) && u64f(f, "merchant_id", &c->merchant_id) &&
          u32f(f, "terminal_id", &c->terminal_id) &&
          get_hex(f, "terminal_pk", c->terminal_pk, OFFPAY_PK_BYTES) &&
          u16f(f, "currency", &c->currency) &&
          u32f(f, "valid_from", &c->valid_from) &&
          u32f(f, "expires", &c->expires) &&
          get_hexv(f, "name_hex", (uint8_t *)c->name, OFFPAY_NAME_MAX, &n) &&
          (!with_sig || get_hex(f, "sig", c->sig, OFFPAY_SIG_BYTES))))
        return 0;
    c->name_len = (uint8_t)n;
    c->name[n] = '\0';
    /* The readable name and its hex must agree. */
    return name != NULL && strcmp(name, c->name) == 0;
}

static int bundle_from(const json_t *f, offpay_trust_bundle *b)
{
    json_t *keys = json_object_get(f, "keys");

    memset(b, 0, sizeof *b);
    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > OFFPAY_BUNDLE_KEYS_MAX ||
        !u32f(f, "seq", &b->seq) || !u32f(f, "issued_at", &b->issued_at))
        return 0;
    b->n_keys = (uint8_t)json_array_size(keys);
    for (unsigned i = 0; i < b->n_keys; i++) {
        json_t *k = json_array_get(keys, i);

        if (!(u16f(k, "kid", &b->keys[i].kid) &&
              get_hex(k, "pk", b->keys[i].pk, OFFPAY_PK_BYTES) &&
              u32f(k, "valid_from", &b->keys[i].valid_from) &&
              u32f(k, "valid_until", &b->keys[i].valid_until)))
            return 0;
    }
    return 1;
}

/* serials (caller's array of cap) receives the list's serials. */
static int revlist_from(const json_t *f, offpay_revlist *l, uint64_t *serials,
                        size_t cap)
{
    json_t *arr = json_object_get(f, "serials");

    memset(l, 0, sizeof *l);
    if (!json_is_array(arr) || json_array_size(arr) > cap ||
        !u16f(f, "kid", &l->kid) || !u32f(f, "seq", &l->seq) ||
        !u32f(f, "base_seq", &l->base_seq) ||
        !u32f(f, "issued_at", &l->issued_at))
        return 0;
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!u64_of(json_array_get(arr, i), &serials[i]))
            return 0;
    l->n_serials = (uint32_t)json_array_size(arr);
    l->serials = serials;
    return 1;
}

static int payment_from(const json_t *f, offpay_payment *p, int bound)
{
    memset(p, 0, sizeof *p);
    if (!(wcred_from(json_object_get(f, "cred"), &p->cred, 1) &&
          u32f(f, "counter", &p->counter) && u32f(f, "amount", &p->amount) &&
          u32f(f, "time", &p->time)))
        return 0;
    p->bound = bound;
    return !bound || (u64f(f, "merchant_id", &p->merchant_id) &&
                      get_hex(f, "nonce", p->nonce, OFFPAY_NONCE_BYTES));
}

static int request_from(const json_t *f, offpay_request *q)
{
    memset(q, 0, sizeof *q);
    return tcred_from(json_object_get(f, "tcred"), &q->tcred, 1) &&
           u32f(f, "amount", &q->amount) && u16f(f, "currency", &q->currency) &&
           get_hex(f, "nonce", q->nonce, OFFPAY_NONCE_BYTES) &&
           u32f(f, "time", &q->time);
}

static int receipt_from(const json_t *f, offpay_receipt *t)
{
    memset(t, 0, sizeof *t);
    return tcred_from(json_object_get(f, "tcred"), &t->tcred, 1) &&
           u64f(f, "serial", &t->serial) && u32f(f, "counter", &t->counter) &&
           u32f(f, "amount", &t->amount) && u16f(f, "currency", &t->currency) &&
           u32f(f, "time", &t->time);
}

/* ---- field-by-field equality (structs have padding: no memcmp) ------ */

static int wcred_eq(const offpay_wallet_cred *a, const offpay_wallet_cred *b)
{
    return a->kid == b->kid && a->serial == b->serial &&
           memcmp(a->wallet_pk, b->wallet_pk, OFFPAY_PK_BYTES) == 0 &&
           a->limit == b->limit && a->currency == b->currency &&
           a->valid_from == b->valid_from && a->expires == b->expires &&
           a->flags == b->flags &&
           memcmp(a->sig, b->sig, OFFPAY_SIG_BYTES) == 0;
}

static int tcred_eq(const offpay_terminal_cred *a,
                    const offpay_terminal_cred *b)
{
    return a->kid == b->kid && a->merchant_id == b->merchant_id &&
           a->terminal_id == b->terminal_id &&
           memcmp(a->terminal_pk, b->terminal_pk, OFFPAY_PK_BYTES) == 0 &&
           a->currency == b->currency && a->valid_from == b->valid_from &&
           a->expires == b->expires && a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0 &&
           a->name[a->name_len] == '\0' &&
           memcmp(a->sig, b->sig, OFFPAY_SIG_BYTES) == 0;
}

static int bundle_eq(const offpay_trust_bundle *a, const offpay_trust_bundle *b)
{
    if (a->seq != b->seq || a->issued_at != b->issued_at ||
        a->n_keys != b->n_keys || memcmp(a->sig, b->sig, OFFPAY_SIG_BYTES))
        return 0;
    for (unsigned i = 0; i < a->n_keys; i++)
        if (a->keys[i].kid != b->keys[i].kid ||
            memcmp(a->keys[i].pk, b->keys[i].pk, OFFPAY_PK_BYTES) != 0 ||
            a->keys[i].valid_from != b->keys[i].valid_from ||
            a->keys[i].valid_until != b->keys[i].valid_until)
            return 0;
    return 1;
}

static int payment_eq(const offpay_payment *a, const offpay_payment *b)
{
    return wcred_eq(&a->cred, &b->cred) && a->counter == b->counter &&
           a->amount == b->amount && a->time == b->time &&
           a->bound == b->bound && a->merchant_id == b->merchant_id &&
           memcmp(a->nonce, b->nonce, OFFPAY_NONCE_BYTES) == 0 &&
           memcmp(a->sig, b->sig, OFFPAY_SIG_BYTES) == 0;
}

static int request_eq(const offpay_request *a, const offpay_request *b)
{
    return tcred_eq(&a->tcred, &b->tcred) && a->amount == b->amount &&
           a->currency == b->currency &&
           memcmp(a->nonce, b->nonce, OFFPAY_NONCE_BYTES) == 0 &&
           a->time == b->time && memcmp(a->sig, b->sig, OFFPAY_SIG_BYTES) == 0;
}

static int receipt_eq(const offpay_receipt *a, const offpay_receipt *b)
{
    return tcred_eq(&a->tcred, &b->tcred) && a->serial == b->serial &&
           a->counter == b->counter && a->amount == b->amount &&
           a->currency == b->currency && a->time == b->time &&
           memcmp(a->sig, b->sig, OFFPAY_SIG_BYTES) == 0;
}

static int revlist_eq(const offpay_revlist *a, const offpay_revlist *b)
{
    if (a->kid != b->kid || a->seq != b->seq || a->base_seq != b->base_seq ||
        a->issued_at != b->issued_at || a->n_serials != b->n_serials ||
        memcmp(a->sig, b->sig, OFFPAY_SIG_BYTES) != 0)
        return 0;
    for (uint32_t i = 0; i < a->n_serials; i++)
        if (a->serials[i] != b->serials[i])
            return 0;
    return 1;
}

/* ---- shared checks ---------------------------------------------------- */

#define MAXB 1024

/* The recorded signature of m. */
static int recorded_sig(const json_t *m, uint8_t sig[OFFPAY_SIG_BYTES])
{
    return get_hex(m, "sig", sig, OFFPAY_SIG_BYTES);
}

/*
 * CHECKs that bytes[0..len) are m's recorded bytes, that its text form is
 * the recorded text, that the recorded text decodes to the recorded bytes,
 * and the recorded sizes and QR version.
 */
static void check_encoding(const json_t *m, const uint8_t *bytes, size_t len)
{
    uint8_t     want[MAXB];
    size_t      n = 0, tlen = 0;
    uint8_t    *back = NULL;
    char       *text = NULL;
    const char *want_text = json_string_value(json_object_get(m, "text"));
    const char *prefix = json_string_value(json_object_get(m, "prefix"));
    uint64_t    size = 0, text_len = 0, version = 0, type = 0;
    int         qrv = 0;

    REQUIRE(get_hexv(m, "hex", want, sizeof want, &n));
    REQUIRE(want_text != NULL && prefix != NULL);
    REQUIRE(get_uint(m, "size", MAXB, &size) &&
            get_uint(m, "text_length", 4 * MAXB, &text_len) &&
            get_uint(m, "qr_version_m", 40, &version) &&
            get_uint(m, "type", 255, &type));
    CHECK(len == n && memcmp(bytes, want, n) == 0);
    CHECK(size == n && text_len == strlen(want_text));
    CHECK(bytes[0] == OFFPAY_PROTOCOL_VERSION && bytes[1] == type);
    CHECK(strcmp(offpay_msg_prefix((offpay_msg_type)type), prefix) == 0);
    CHECK(strncmp(want_text, prefix, 5) == 0);
    CHECK(text_len == 5 + OFFPAY_BASE45_ENCODED_LEN(n));

    REQUIRE_OK(offpay_text_encode(bytes, len, &text));
    CHECK(strcmp(text, want_text) == 0);
    free(text);
    REQUIRE_OK(offpay_text_decode(want_text, strlen(want_text), &back, &tlen));
    CHECK(tlen == n && memcmp(back, want, n) == 0);
    free(back);
    CHECK_ERR(offpay_qr_version(want_text, &qrv), OFFPAY_OK);
    CHECK((uint64_t)qrv == version);
}

/* The recorded bytes of m. */
static int recorded_bytes(const json_t *m, uint8_t *buf, size_t *len)
{
    return get_hexv(m, "hex", buf, MAXB, len);
}

/* The recorded bytes of message name, decoded from its text form. */
static int text_bytes(const char *name, uint8_t **bytes, size_t *len)
{
    const char *t = json_string_value(json_object_get(message(name), "text"));

    return t != NULL && offpay_text_decode(t, strlen(t), bytes, len) == 0;
}

static uint32_t verify_time(void)
{
    uint32_t t = 0;

    CHECK(u32f(vectors(), "verify_time", &t));
    return t;
}

/* The recorded trust bundle, verified under the recorded root key. */
static int the_bundle(offpay_trust_bundle *b)
{
    offpay_keypair root;
    uint8_t        buf[MAXB];
    size_t         len = 0;

    return keypair("root", &root) &&
           recorded_bytes(message("trust_bundle"), buf, &len) &&
           offpay_bundle_verify(buf, len, root.pk, b) == OFFPAY_OK;
}

/* ---- the tests ---------------------------------------------------------- */

static void test_keys(void)
{
    static const char *names[] = {"root", "issuer_kid6", "issuer_kid7",
                                  "wallet", "terminal"};
    offpay_keypair     kp;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(keypair(names[i], &kp));
    CHECK(json_integer_value(json_object_get(vectors(), "protocol_version")) ==
          OFFPAY_PROTOCOL_VERSION);
}

static void test_trust_bundle(void)
{
    json_t             *m = message("trust_bundle");
    offpay_trust_bundle b, d;
    offpay_keypair      root, k6, k7;
    uint8_t             buf[MAXB], sig[OFFPAY_SIG_BYTES];
    uint8_t            *tb = NULL;
    size_t              len = 0, tlen = 0;

    REQUIRE(m != NULL && keypair("root", &root) &&
            keypair("issuer_kid6", &k6) && keypair("issuer_kid7", &k7));
    REQUIRE(bundle_from(json_object_get(m, "fields"), &b));
    REQUIRE(recorded_sig(m, sig));
    CHECK(b.n_keys == 2 && memcmp(b.keys[0].pk, k6.pk, OFFPAY_PK_BYTES) == 0 &&
          memcmp(b.keys[1].pk, k7.pk, OFFPAY_PK_BYTES) == 0);
    REQUIRE_OK(offpay_issuer_sign_bundle(root.sk, &b));
    CHECK(memcmp(b.sig, sig, sizeof sig) == 0);
    REQUIRE_OK(offpay_bundle_encode(&b, buf, sizeof buf, &len));
    CHECK(len == 75 + 42u * b.n_keys);
    check_encoding(m, buf, len);

    REQUIRE(recorded_bytes(m, buf, &len));
    REQUIRE_OK(offpay_bundle_decode(buf, len, &d));
    CHECK(bundle_eq(&b, &d));
    REQUIRE(text_bytes("trust_bundle", &tb, &tlen));
    REQUIRE_OK(offpay_bundle_decode(tb, tlen, &d));
    free(tb);
    CHECK(bundle_eq(&b, &d));
    CHECK_ERR(offpay_bundle_verify(buf, len, root.pk, &d), OFFPAY_OK);
    CHECK_ERR(offpay_bundle_verify(buf, len, k7.pk, &d), OFFPAY_EBUNDLE_SIG);
}

static void test_wallet_credential(void)
{
    json_t             *m = message("wallet_credential");
    offpay_wallet_cred  c, d;
    offpay_trust_bundle b;
    offpay_keypair      iss, wal;
    uint8_t             buf[MAXB], sig[OFFPAY_SIG_BYTES];
    uint8_t            *tb = NULL;
    size_t              len = 0, tlen = 0;

    REQUIRE(m != NULL && keypair("issuer_kid7", &iss) &&
            keypair("wallet", &wal) && the_bundle(&b));
    REQUIRE(wcred_from(json_object_get(m, "fields"), &c, 0));
    REQUIRE(recorded_sig(m, sig));
    CHECK(memcmp(c.wallet_pk, wal.pk, OFFPAY_PK_BYTES) == 0);
    REQUIRE_OK(offpay_issuer_sign_wallet_cred(iss.sk, &c));
    CHECK(memcmp(c.sig, sig, sizeof sig) == 0);
    REQUIRE_OK(offpay_wallet_cred_encode(&c, buf, sizeof buf, &len));
    CHECK(len == OFFPAY_WALLET_CRED_BYTES && len == 123);
    check_encoding(m, buf, len);

    REQUIRE(recorded_bytes(m, buf, &len));
    REQUIRE_OK(offpay_wallet_cred_decode(buf, len, &d));
    CHECK(wcred_eq(&c, &d));
    REQUIRE(text_bytes("wallet_credential", &tb, &tlen));
    REQUIRE_OK(offpay_wallet_cred_decode(tb, tlen, &d));
    free(tb);
    CHECK(wcred_eq(&c, &d));
    CHECK_ERR(offpay_wallet_cred_verify(&b, &d, verify_time(), 0), OFFPAY_OK);
}

static void test_terminal_credential(void)
{
    json_t              *m = message("terminal_credential");
    offpay_terminal_cred c, d;
    offpay_trust_bundle  b;
    offpay_keypair       iss, term;
    uint8_t              buf[MAXB], sig[OFFPAY_SIG_BYTES];
    uint8_t             *tb = NULL;
    size_t               len = 0, tlen = 0;

    REQUIRE(m != NULL && keypair("issuer_kid7", &iss) &&
            keypair("terminal", &term) && the_bundle(&b));
    REQUIRE(tcred_from(json_object_get(m, "fields"), &c, 0));
    REQUIRE(recorded_sig(m, sig));
    CHECK(memcmp(c.terminal_pk, term.pk, OFFPAY_PK_BYTES) == 0);
    REQUIRE_OK(offpay_issuer_sign_terminal_cred(iss.sk, &c));
    CHECK(memcmp(c.sig, sig, sizeof sig) == 0);
    REQUIRE_OK(offpay_terminal_cred_encode(&c, buf, sizeof buf, &len));
    CHECK(len == 123u + c.name_len);
    check_encoding(m, buf, len);

    REQUIRE(recorded_bytes(m, buf, &len));
    REQUIRE_OK(offpay_terminal_cred_decode(buf, len, &d));
    CHECK(tcred_eq(&c, &d));
    REQUIRE(text_bytes("terminal_credential", &tb, &tlen));
    REQUIRE_OK(offpay_terminal_cred_decode(tb, tlen, &d));
    free(tb);
    CHECK(tcred_eq(&c, &d));
    CHECK_ERR(offpay_terminal_cred_verify(&b, &d, verify_time(), 0), OFFPAY_OK);
}

/*
 * Signs a payment, request or receipt the way its maker does: the encoded
 * bytes without the final signature, under domain. enc encodes v.
 */
typedef offpay_err (*encode_fn)(const void *v, uint8_t *buf, size_t cap,
                                size_t *len);

static offpay_err enc_payment(const void *v, uint8_t *buf, size_t cap,
                              size_t *len)
{
    return offpay_payment_encode(v, buf, cap, len);
}

static offpay_err enc_request(const void *v, uint8_t *buf, size_t cap,
                              size_t *len)
{
    return offpay_request_encode(v, buf, cap, len);
}

static offpay_err enc_receipt(const void *v, uint8_t *buf, size_t cap,
                              size_t *len)
{
    return offpay_receipt_encode(v, buf, cap, len);
}

static offpay_err sign_code(encode_fn enc, const void *v, const char *domain,
                            const offpay_keypair *kp,
                            uint8_t               sig[OFFPAY_SIG_BYTES])
{
    uint8_t    buf[MAXB];
    size_t     len = 0;
    offpay_err rc = enc(v, buf, sizeof buf, &len);

    if (rc != OFFPAY_OK)
        return rc;
    return offpay_sign(domain, buf, len - OFFPAY_SIG_BYTES, kp->sk, sig);
}

/* The shared part of the two payment vectors. */
static void check_payment(const char *name, int bound, size_t want_len)
{
    json_t             *m = message(name);
    json_t             *wm = message("wallet_credential");
    offpay_payment      p, d;
    offpay_trust_bundle b;
    offpay_keypair      wal;
    uint8_t             buf[MAXB], cbuf[MAXB], sig[OFFPAY_SIG_BYTES];
    uint8_t            *tb = NULL;
    size_t              len = 0, clen = 0, tlen = 0;

    REQUIRE(m != NULL && wm != NULL && keypair("wallet", &wal) &&
            the_bundle(&b));
    REQUIRE(payment_from(json_object_get(m, "fields"), &p, bound));
    REQUIRE(recorded_sig(m, sig));
    REQUIRE_OK(sign_code(enc_payment, &p, OFFPAY_DS_PAYMENT, &wal, p.sig));
    CHECK(memcmp(p.sig, sig, sizeof sig) == 0);
    REQUIRE_OK(offpay_payment_encode(&p, buf, sizeof buf, &len));
    CHECK(len == want_len);
    check_encoding(m, buf, len);

    /* The embedded credential is the standalone one without its header. */
    REQUIRE(recorded_bytes(wm, cbuf, &clen));
    CHECK(clen == OFFPAY_WALLET_CRED_BYTES &&
          memcmp(buf + 2, cbuf + 2, clen - 2) == 0);

    REQUIRE(recorded_bytes(m, buf, &len));
    REQUIRE_OK(offpay_payment_decode(buf, len, &d));
    CHECK(payment_eq(&p, &d));
    REQUIRE(text_bytes(name, &tb, &tlen));
    REQUIRE_OK(offpay_payment_decode(tb, tlen, &d));
    free(tb);
    CHECK(payment_eq(&p, &d));
    CHECK_ERR(offpay_wallet_cred_verify(&b, &d.cred, verify_time(), 0),
              OFFPAY_OK);
    CHECK_ERR(offpay_payment_verify_sig(&d), OFFPAY_OK);
    CHECK_ERR(offpay_code_time_check(d.time, verify_time(), 0, 300), OFFPAY_OK);
}

static void test_payment(void)
{
    CHECK(OFFPAY_PAYMENT_BYTES == 199);
    check_payment("payment", 0, OFFPAY_PAYMENT_BYTES);
}

static void test_bound_payment(void)
{
    offpay_payment p;
    offpay_request q;

    CHECK(OFFPAY_PAYMENT_BOUND_BYTES == 219);
    check_payment("bound_payment", 1, OFFPAY_PAYMENT_BOUND_BYTES);
    /* It answers the request vector: same merchant, nonce and amount. */
    REQUIRE(payment_from(json_object_get(message("bound_payment"), "fields"),
                         &p, 1));
    REQUIRE(request_from(json_object_get(message("request"), "fields"), &q));
    CHECK(p.merchant_id == q.tcred.merchant_id);
    CHECK(memcmp(p.nonce, q.nonce, OFFPAY_NONCE_BYTES) == 0);
    CHECK(p.amount == q.amount);
}

static void test_request(void)
{
    json_t             *m = message("request");
    offpay_request      q, d;
    offpay_trust_bundle b;
    offpay_keypair      term;
    uint8_t             buf[MAXB], sig[OFFPAY_SIG_BYTES];
    uint8_t            *tb = NULL;
    size_t              len = 0, tlen = 0;

    REQUIRE(m != NULL && keypair("terminal", &term) && the_bundle(&b));
    REQUIRE(request_from(json_object_get(m, "fields"), &q));
    REQUIRE(recorded_sig(m, sig));
    REQUIRE_OK(sign_code(enc_request, &q, OFFPAY_DS_REQUEST, &term, q.sig));
    CHECK(memcmp(q.sig, sig, sizeof sig) == 0);
    REQUIRE_OK(offpay_request_encode(&q, buf, sizeof buf, &len));
    CHECK(len == 209u + q.tcred.name_len);
    check_encoding(m, buf, len);

    REQUIRE(recorded_bytes(m, buf, &len));
    REQUIRE_OK(offpay_request_decode(buf, len, &d));
    CHECK(request_eq(&q, &d));
    REQUIRE(text_bytes("request", &tb, &tlen));
    REQUIRE_OK(offpay_request_decode(tb, tlen, &d));
    free(tb);
    CHECK(request_eq(&q, &d));
    CHECK_ERR(offpay_request_verify(&b, &d, verify_time(), 0, 600), OFFPAY_OK);
}

static void test_receipt(void)
{
    json_t             *m = message("receipt");
    offpay_receipt      t, d;
    offpay_trust_bundle b;
    offpay_keypair      term;
    uint8_t             buf[MAXB], sig[OFFPAY_SIG_BYTES];
    uint8_t            *tb = NULL;
    size_t              len = 0, tlen = 0;

    REQUIRE(m != NULL && keypair("terminal", &term) && the_bundle(&b));
    REQUIRE(receipt_from(json_object_get(m, "fields"), &t));
    REQUIRE(recorded_sig(m, sig));
    REQUIRE_OK(sign_code(enc_receipt, &t, OFFPAY_DS_RECEIPT, &term, t.sig));
    CHECK(memcmp(t.sig, sig, sizeof sig) == 0);
    REQUIRE_OK(offpay_receipt_encode(&t, buf, sizeof buf, &len));
    CHECK(len == 209u + t.tcred.name_len);
    check_encoding(m, buf, len);

    REQUIRE(recorded_bytes(m, buf, &len));
    REQUIRE_OK(offpay_receipt_decode(buf, len, &d));
    CHECK(receipt_eq(&t, &d));
    REQUIRE(text_bytes("receipt", &tb, &tlen));
    REQUIRE_OK(offpay_receipt_decode(tb, tlen, &d));
    free(tb);
    CHECK(receipt_eq(&t, &d));
    CHECK_ERR(offpay_receipt_verify(&b, &d, verify_time(), 0), OFFPAY_OK);
}

static void test_revocation_list(void)
{
    json_t             *m = message("revocation_list");
    offpay_revlist      l, d;
    offpay_trust_bundle b;
    offpay_keypair      iss;
    uint64_t            serials[16];
    uint8_t             buf[MAXB], sig[OFFPAY_SIG_BYTES];
    uint8_t            *tb = NULL;
    size_t              len = 0, tlen = 0;

    REQUIRE(m != NULL && keypair("issuer_kid7", &iss) && the_bundle(&b));
    REQUIRE(revlist_from(json_object_get(m, "fields"), &l, serials, 16));
    CHECK(l.n_serials == 3);
    REQUIRE(recorded_sig(m, sig));
    REQUIRE_OK(offpay_issuer_sign_revlist(iss.sk, &l));
    CHECK(memcmp(l.sig, sig, sizeof sig) == 0);
    REQUIRE_OK(offpay_revlist_encode(&l, buf, sizeof buf, &len));
    CHECK(len == OFFPAY_REVLIST_HEADER_BYTES + 8u * l.n_serials + 64);
    check_encoding(m, buf, len);

    REQUIRE(recorded_bytes(m, buf, &len));
    REQUIRE_OK(offpay_revlist_decode(buf, len, &d));
    CHECK(revlist_eq(&l, &d));
    CHECK_ERR(offpay_revlist_verify(&b, &d), OFFPAY_OK);
    offpay_revlist_free(&d);
    REQUIRE(text_bytes("revocation_list", &tb, &tlen));
    REQUIRE_OK(offpay_revlist_decode(tb, tlen, &d));
    free(tb);
    CHECK(revlist_eq(&l, &d));
    offpay_revlist_free(&d);
}

/*
 * Decodes bytes as whatever message they hold and runs that message's
 * verification (as its verifier would at the vectors' time, skew 0).
 */
static offpay_err verify_any(const offpay_trust_bundle *b,
                             const uint8_t  root_pk[OFFPAY_PK_BYTES],
                             const uint8_t *bytes, size_t len)
{
    offpay_trust_bundle tb;
    offpay_msg          m;
    uint32_t            now = verify_time();
    offpay_err          rc;

    rc = offpay_msg_decode_any(bytes, len, &m);
    if (rc != OFFPAY_OK)
        return rc;
    switch (m.type) {
    case OFFPAY_MSG_TRUST_BUNDLE:
        rc = offpay_bundle_verify(bytes, len, root_pk, &tb);
        break;
    case OFFPAY_MSG_WALLET_CRED:
        rc = offpay_wallet_cred_verify(b, &m.u.wcred, now, 0);
        break;
    case OFFPAY_MSG_TERMINAL_CRED:
        rc = offpay_terminal_cred_verify(b, &m.u.tcred, now, 0);
        break;
    case OFFPAY_MSG_PAYMENT:
    case OFFPAY_MSG_PAYMENT_BOUND:
        rc = offpay_wallet_cred_verify(b, &m.u.payment.cred, now, 0);
        if (rc == OFFPAY_OK)
            rc = offpay_payment_verify_sig(&m.u.payment);
        break;
    case OFFPAY_MSG_REQUEST:
        rc = offpay_request_verify(b, &m.u.request, now, 0, 600);
        break;
    case OFFPAY_MSG_RECEIPT:
        rc = offpay_receipt_verify(b, &m.u.receipt, now, 0);
        break;
    case OFFPAY_MSG_REVLIST:
        rc = offpay_revlist_verify(b, &m.u.revlist);
        break;
    default:
        rc = OFFPAY_ETYPE;
    }
    offpay_msg_free(&m);
    return rc;
}

static void test_every_bit_matters(void)
{
    json_t             *msgs = json_object_get(vectors(), "messages");
    offpay_trust_bundle b;
    offpay_keypair      root;
    const char         *name;
    json_t             *m;

    REQUIRE(msgs != NULL && the_bundle(&b) && keypair("root", &root));
    json_object_foreach(msgs, name, m)
    {
        uint8_t buf[MAXB];
        size_t  len = 0;
        size_t  accepted = 0;

        REQUIRE(recorded_bytes(m, buf, &len));
        CHECK_ERR(verify_any(&b, root.pk, buf, len), OFFPAY_OK);
        for (size_t i = 0; i < len; i++)
            for (unsigned bit = 0; bit < 8; bit++) {
                buf[i] ^= (uint8_t)(1u << bit);
                if (verify_any(&b, root.pk, buf, len) == OFFPAY_OK)
                    accepted++;
                buf[i] ^= (uint8_t)(1u << bit);
            }
        if (accepted != 0)
            fprintf(stderr, "%s: %zu one-bit changes accepted\n", name,
                    accepted);
        CHECK(accepted == 0);
    }
}

/* ---- the rules docs/protocol.md states, on variations of the vectors --- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* The recorded bytes of message name in buf (MAXB + 1 bytes of room). */
static size_t bytes_of(const char *name, uint8_t *buf)
{
    size_t len = 0;

    CHECK(recorded_bytes(message(name), buf, &len));
    return len;
}

/* §2.10: decoding errors and their precedence. */
static void test_decode_precedence(void)
{
    uint8_t    b[MAXB + 1];
    size_t     n;
    offpay_msg m;

    /* Header: truncated before version before type. */
    CHECK_ERR(offpay_msg_decode_any((const uint8_t *)"\x02", 1, &m),
              OFFPAY_ETRUNCATED);
    CHECK_ERR(offpay_msg_decode_any((const uint8_t *)"\x02\x99", 2, &m),
              OFFPAY_EVERSION);
    CHECK_ERR(offpay_msg_decode_any((const uint8_t *)"\x01\x99", 2, &m),
              OFFPAY_ETYPE);
    n = bytes_of("wallet_credential", b);
    CHECK_ERR(offpay_payment_decode(b, n, &m.u.payment), OFFPAY_ETYPE);
    b[0] = 2;
    CHECK_ERR(offpay_payment_decode(b, 2, &m.u.payment), OFFPAY_EVERSION);

    /* Wallet credential: content rules before trailing bytes. */
    n = bytes_of("wallet_credential", b);
    put16(b + 48, 999);
    b[n] = 0;
    CHECK_ERR(offpay_wallet_cred_decode(b, n + 1, &m.u.wcred),
              OFFPAY_ECURRENCY_UNKNOWN);
    b[58] = 0x03;
    CHECK_ERR(offpay_wallet_cred_decode(b, n + 1, &m.u.wcred),
              OFFPAY_EMALFORMED);
    n = bytes_of("wallet_credential", b);
    put32(b + 44, 0);
    CHECK_ERR(offpay_wallet_cred_decode(b, n, &m.u.wcred), OFFPAY_EMALFORMED);
    n = bytes_of("wallet_credential", b);
    put32(b + 50, 0xffffffffu);
    CHECK_ERR(offpay_wallet_cred_decode(b, n, &m.u.wcred), OFFPAY_EMALFORMED);

    /* Payment: the embedded credential is judged before the rest is read;
     * counter and amount only after the trailing check. */
    n = bytes_of("payment", b);
    b[58] = 0x81;
    CHECK_ERR(offpay_payment_decode(b, 150, &m.u.payment), OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_payment_decode(b, 100, &m.u.payment), OFFPAY_ETRUNCATED);
    n = bytes_of("payment", b);
    put32(b + 123, 0);
    CHECK_ERR(offpay_payment_decode(b, n, &m.u.payment), OFFPAY_EMALFORMED);
    b[n] = 0;
    CHECK_ERR(offpay_payment_decode(b, n + 1, &m.u.payment), OFFPAY_ETRAILING);
    CHECK_ERR(offpay_payment_decode(b, n - 1, &m.u.payment), OFFPAY_ETRUNCATED);
    n = bytes_of("bound_payment", b);
    CHECK_ERR(offpay_payment_decode(b, n - 20, &m.u.payment),
              OFFPAY_ETRUNCATED);
    n = bytes_of("payment", b);
    b[1] = OFFPAY_MSG_PAYMENT_BOUND;
    CHECK_ERR(offpay_payment_decode(b, n, &m.u.payment), OFFPAY_ETRUNCATED);

    /* Terminal credential: name_len > 40 at once; name rule; before
     * trailing. */
    n = bytes_of("terminal_credential", b);
    b[58] = 41;
    CHECK_ERR(offpay_terminal_cred_decode(b, 60, &m.u.tcred),
              OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_terminal_cred_decode(b, 58, &m.u.tcred),
              OFFPAY_ETRUNCATED);
    b[58] = 0; /* the name's bytes become the signature and trailing bytes */
    CHECK_ERR(offpay_terminal_cred_decode(b, n, &m.u.tcred), OFFPAY_EMALFORMED);
    n = bytes_of("terminal_credential", b);
    b[59] = 0x07; /* a C0 control */
    CHECK_ERR(offpay_terminal_cred_decode(b, n, &m.u.tcred), OFFPAY_EMALFORMED);
    n = bytes_of("terminal_credential", b);
    b[62] = 0xc2, b[63] = 0x85; /* "é" -> U+0085, a C1 control */
    CHECK_ERR(offpay_terminal_cred_decode(b, n, &m.u.tcred), OFFPAY_EMALFORMED);
    b[62] = 0xc0, b[63] = 0xa9; /* overlong */
    CHECK_ERR(offpay_terminal_cred_decode(b, n, &m.u.tcred), OFFPAY_EMALFORMED);
    b[62] = 0xc3, b[63] = 0xa8; /* "è": well-formed, decodes */
    CHECK_ERR(offpay_terminal_cred_decode(b, n, &m.u.tcred), OFFPAY_OK);
    /* Characters that show nothing beyond §2.3's list, at " Zü" (bytes
     * 64..67): the Hangul filler U+3164, a tag character, the combining
     * grapheme joiner U+034F, U+115F, U+206A: a name signed with one
     * before 0.28.0 still decodes (new text refuses them:
     * offpay__utf8_input_ok, below) */
    static const struct {
        uint8_t at[4];
        int     input_ok;
    } shown[] = {
        {{0xe3, 0x85, 0xa4, 'x'}, 0},  /* U+3164 */
        {{0xf3, 0xa0, 0x81, 0x81}, 0}, /* U+E0041 */
        {{0xcd, 0x8f, 'x', 'x'}, 0},   /* U+034F */
        {{0xe1, 0x85, 0x9f, 'x'}, 0},  /* U+115F */
        {{0xe2, 0x81, 0xaa, 'x'}, 0},  /* U+206A */
        {{'x', 0xef, 0xb8, 0x8f}, 0},  /* U+FE0F after a letter */
        {{0xe3, 0x85, 0xa3, 'x'}, 1},  /* U+3163, shown */
        {{0xe2, 0x98, 0x95, 'x'}, 1},  /* U+2615 */
    };
    for (size_t k = 0; k < sizeof shown / sizeof shown[0]; k++) {
        n = bytes_of("terminal_credential", b);
        memcpy(b + 64, shown[k].at, 4);
        CHECK_ERR(offpay_terminal_cred_decode(b, n, &m.u.tcred), OFFPAY_OK);
        CHECK(offpay__utf8_input_ok(b + 59, b[58]) == shown[k].input_ok);
    }
    /* an emoji's variation selector, right after it: new text takes it;
     * two in a row, or one first, it does not */
    CHECK(offpay__utf8_input_ok((const uint8_t *)"Caf\xe2\x98\x95\xef\xb8\x8f",
                                9) == 1);
    CHECK(offpay__utf8_input_ok(
              (const uint8_t *)"\xe2\x98\x95\xef\xb8\x8f\xef\xb8\x8f", 9) == 0);
    CHECK(offpay__utf8_input_ok((const uint8_t *)"\xef\xb8\x8f", 3) == 0);
    /* a keycap (1, U+FE0F, U+20E3) is an emoji too; Mongolian's free
     * variation selector after a Mongolian letter, not after a Latin one;
     * its vowel separator U+180E never */
    CHECK(offpay__utf8_input_ok((const uint8_t *)"1\xef\xb8\x8f\xe2\x83\xa3",
                                7) == 1);
    CHECK(offpay__utf8_input_ok((const uint8_t *)"\xe1\xa0\xa0\xe1\xa0\x8b",
                                6) == 1);
    CHECK(offpay__utf8_input_ok((const uint8_t *)"a\xe1\xa0\x8b", 4) == 0);
    CHECK(offpay__utf8_input_ok((const uint8_t *)"\xe1\xa0\xa0\xe1\xa0\x8e",
                                6) == 0);

    /* Request: amount, then currency, both after trailing. */
    n = bytes_of("request", b);
    put32(b + n - 64 - 22, 0);   /* amount */
    put16(b + n - 64 - 18, 999); /* currency */
    CHECK_ERR(offpay_request_decode(b, n, &m.u.request), OFFPAY_EMALFORMED);
    b[n] = 0;
    CHECK_ERR(offpay_request_decode(b, n + 1, &m.u.request), OFFPAY_ETRAILING);
    put32(b + n - 64 - 22, 1);
    CHECK_ERR(offpay_request_decode(b, n, &m.u.request),
              OFFPAY_ECURRENCY_UNKNOWN);

    /* Receipt: counter/amount, then currency. */
    n = bytes_of("receipt", b);
    put16(b + n - 64 - 6, 999);
    CHECK_ERR(offpay_receipt_decode(b, n, &m.u.receipt),
              OFFPAY_ECURRENCY_UNKNOWN);
    put32(b + n - 64 - 14, 0); /* counter */
    CHECK_ERR(offpay_receipt_decode(b, n, &m.u.receipt), OFFPAY_EMALFORMED);

    /* Trust bundle: n_keys at once; order and windows after trailing. */
    n = bytes_of("trust_bundle", b);
    b[10] = 0;
    CHECK_ERR(offpay_bundle_decode(b, 12, &m.u.bundle), OFFPAY_EMALFORMED);
    b[10] = 17;
    CHECK_ERR(offpay_bundle_decode(b, n, &m.u.bundle), OFFPAY_EMALFORMED);
    n = bytes_of("trust_bundle", b);
    put16(b + 11 + 42, 6); /* second kid equal to the first */
    CHECK_ERR(offpay_bundle_decode(b, n, &m.u.bundle), OFFPAY_EMALFORMED);
    b[n] = 0;
    CHECK_ERR(offpay_bundle_decode(b, n + 1, &m.u.bundle), OFFPAY_ETRAILING);

    /* Revocation list: length against count first, then the rules. */
    n = bytes_of("revocation_list", b);
    put16(b + 16, 4);
    CHECK_ERR(offpay_revlist_decode(b, n, &m.u.revlist), OFFPAY_ETRUNCATED);
    put16(b + 16, 2);
    CHECK_ERR(offpay_revlist_decode(b, n, &m.u.revlist), OFFPAY_ETRAILING);
    n = bytes_of("revocation_list", b);
    put32(b + 8, 12); /* base_seq = seq */
    CHECK_ERR(offpay_revlist_decode(b, n, &m.u.revlist), OFFPAY_EMALFORMED);
    n = bytes_of("revocation_list", b);
    memcpy(b + 18, b + 26, 8); /* two equal serials */
    CHECK_ERR(offpay_revlist_decode(b, n, &m.u.revlist), OFFPAY_EMALFORMED);
}

/* Decodes text (NUL-terminated) and returns the error. */
static offpay_err text_err(const char *text)
{
    uint8_t   *bytes = NULL;
    size_t     len = 0;
    offpay_err rc = offpay_text_decode(text, strlen(text), &bytes, &len);

    free(bytes);
    return rc;
}

/* §4: the text form's decoding errors. */
static void test_text_rules(void)
{
    const char *pay =
        json_string_value(json_object_get(message("payment"), "text"));
    const char *rec =
        json_string_value(json_object_get(message("receipt"), "text"));
    char buf[512];

    REQUIRE(pay != NULL && rec != NULL && strlen(rec) < sizeof buf);
    CHECK_ERR(text_err("OPP"), OFFPAY_EPREFIX);
    CHECK_ERR(text_err("oppy:00"), OFFPAY_EPREFIX);
    CHECK_ERR(text_err("OPXX:000"), OFFPAY_EPREFIX);
    CHECK_ERR(text_err("OPPY:"), OFFPAY_ETRUNCATED);
    CHECK_ERR(text_err("OPPY:00"), OFFPAY_ETRUNCATED);
    CHECK_ERR(text_err("OPPY:0"), OFFPAY_EBASE45);
    snprintf(buf, sizeof buf, "OPPY:%s", rec + 5); /* a receipt's bytes */
    CHECK_ERR(text_err(buf), OFFPAY_EPREFIX);
    snprintf(buf, sizeof buf, "%s\n", pay);
    CHECK_ERR(text_err(buf), OFFPAY_EBASE45);
    snprintf(buf, sizeof buf, "%s", pay);
    for (size_t i = 5; buf[i] != '\0'; i++)
        if (buf[i] >= 'A' && buf[i] <= 'Z') {
            buf[i] = (char)(buf[i] - 'A' + 'a'); /* one letter lower case */
            break;
        }
    CHECK_ERR(text_err(buf), OFFPAY_EBASE45);
    CHECK_ERR(text_err(pay), OFFPAY_OK);
}

/* §5: verification order on the vectors, re-signed where a field changes. */
static void test_verify_order(void)
{
    offpay_trust_bundle b, only6;
    offpay_keypair      root, iss, term;
    offpay_request      q;
    offpay_receipt      t;
    offpay_wallet_cred  c;
    offpay_revlist      l;
    uint8_t             buf[MAXB];
    size_t              len = 0;
    uint32_t            now = verify_time();
    uint32_t            after_tcred = 1798761600u; /* 2027-01-01 */

    REQUIRE(the_bundle(&b) && keypair("root", &root) &&
            keypair("issuer_kid7", &iss) && keypair("terminal", &term));

    /* Wallet credential: key window before the credential's window; the
     * window is widened by skew on both sides. */
    REQUIRE(recorded_bytes(message("wallet_credential"), buf, &len));
    REQUIRE_OK(offpay_wallet_cred_decode(buf, len, &c));
    CHECK_ERR(offpay_wallet_cred_verify(&b, &c, 1830297600u, 0),
              OFFPAY_EKID_EXPIRED);
    CHECK_ERR(offpay_wallet_cred_verify(&b, &c, c.expires + 120, 120),
              OFFPAY_OK);
    CHECK_ERR(offpay_wallet_cred_verify(&b, &c, c.expires + 121, 120),
              OFFPAY_EEXPIRED);
    CHECK_ERR(offpay_wallet_cred_verify(&b, &c, c.valid_from - 120, 120),
              OFFPAY_OK);
    CHECK_ERR(offpay_wallet_cred_verify(&b, &c, c.valid_from - 121, 120),
              OFFPAY_ENOT_YET_VALID);
    c.limit++;
    CHECK_ERR(offpay_wallet_cred_verify(&b, &c, 1830297600u, 0),
              OFFPAY_EKID_EXPIRED); /* the key is looked up first */
    CHECK_ERR(offpay_wallet_cred_verify(&b, &c, now, 0), OFFPAY_ECRED_SIG);
    only6 = b;
    only6.n_keys = 1;
    CHECK_ERR(offpay_wallet_cred_verify(&only6, &c, now, 0),
              OFFPAY_EUNKNOWN_KID);

    /* Request: credential, then signature, then currency, then time. */
    REQUIRE(request_from(json_object_get(message("request"), "fields"), &q));
    REQUIRE(recorded_sig(message("request"), q.sig));
    CHECK_ERR(offpay_request_verify(&b, &q, now, 0, 600), OFFPAY_OK);
    CHECK_ERR(offpay_request_verify(&b, &q, now + 600, 0, 600),
              OFFPAY_ECODE_TOO_OLD);
    CHECK_ERR(offpay_request_verify(&b, &q, q.time - 301, 300, 600),
              OFFPAY_ECODE_FUTURE);
    CHECK_ERR(offpay_request_verify(&b, &q, after_tcred, 0, 600),
              OFFPAY_EEXPIRED);
    q.currency = 840;
    CHECK_ERR(offpay_request_verify(&b, &q, now, 0, 600), OFFPAY_ECODE_SIG);
    REQUIRE_OK(sign_code(enc_request, &q, OFFPAY_DS_REQUEST, &term, q.sig));
    CHECK_ERR(offpay_request_verify(&b, &q, now + 600, 0, 600),
              OFFPAY_ECURRENCY);

    /* Receipt: judged at its own time, not now. */
    REQUIRE(receipt_from(json_object_get(message("receipt"), "fields"), &t));
    REQUIRE(recorded_sig(message("receipt"), t.sig));
    CHECK_ERR(offpay_receipt_verify(&b, &t, after_tcred, 0), OFFPAY_OK);
    t.time = after_tcred;
    REQUIRE_OK(sign_code(enc_receipt, &t, OFFPAY_DS_RECEIPT, &term, t.sig));
    CHECK_ERR(offpay_receipt_verify(&b, &t, now, 0), OFFPAY_EEXPIRED);

    /* Revocation list: the key is judged at the list's issued_at. */
    {
        uint64_t serials[16];

        REQUIRE(
            revlist_from(json_object_get(message("revocation_list"), "fields"),
                         &l, serials, 16));
        REQUIRE(recorded_sig(message("revocation_list"), l.sig));
        CHECK_ERR(offpay_revlist_verify(&b, &l), OFFPAY_OK);
        l.issued_at = 1830297600u;
        CHECK_ERR(offpay_revlist_verify(&b, &l), OFFPAY_EKID_EXPIRED);
        l.issued_at = 1767225600u;
        CHECK_ERR(offpay_revlist_verify(&b, &l), OFFPAY_EREVLIST_SIG);
        REQUIRE_OK(offpay_issuer_sign_revlist(iss.sk, &l));
        CHECK_ERR(offpay_revlist_verify(&b, &l), OFFPAY_OK);
    }
}

int main(void)
{
    static const offpay_test tests[] = {
        {"keys", test_keys},
        {"trust_bundle", test_trust_bundle},
        {"wallet_credential", test_wallet_credential},
        {"terminal_credential", test_terminal_credential},
        {"payment", test_payment},
        {"bound_payment", test_bound_payment},
        {"request", test_request},
        {"receipt", test_receipt},
        {"revocation_list", test_revocation_list},
        {"every_bit_matters", test_every_bit_matters},
        {"decode_precedence", test_decode_precedence},
        {"text_rules", test_text_rules},
        {"verify_order", test_verify_order},
        {NULL, NULL},
    };
    int rc = offpay_test_main(tests);

    json_decref(doc);
    return rc;
}
