/*
 * gen_vectors.c — writes tests/vectors/messages.json, the golden vectors of
 * every protocol message (docs/protocol.md §2–§4), from fixed 32-byte seeds
 * and fixed field values. Ed25519 (RFC 8032) is deterministic, so running it
 * again gives the same file byte for byte.
 *
 * Not built by CMake (no test_ prefix, so tests/CMakeLists.txt does not glob
 * it). Build and run by hand, from the source root:
 *
 *   gcc -Wall -Wextra -Wconversion -Wshadow -Werror -Iinclude -Isrc \
 *       tests/vectors/gen_vectors.c /tmp/build-doc/src/liboffpay.a \
 *       $(pkg-config --libs libsodium libqrencode libpng zxing sqlite3 \
 *       jansson) -lstdc++ -o /tmp/gen
 *   /tmp/gen tests/vectors/messages.json
 *
 * The file is checked both ways by tests/unit/test_vectors.c and,
 * independently of this C code, by tests/vectors/check_independent.py.
 * Unsigned 64-bit fields are JSON strings of decimal digits (a JSON number
 * cannot carry every u64 exactly); every other integer is a JSON number;
 * byte strings are lowercase hex.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"

/* ---- the fixed inputs ------------------------------------------------- */

/* Seeds: consecutive byte runs, so they are easy to retype. */
#define SEED_ROOT       0x00 /* 00 01 .. 1f: the root key */
#define SEED_ISSUER_OLD 0x20 /* 20 .. 3f: issuer signing key, kid 6 */
#define SEED_ISSUER     0x40 /* 40 .. 5f: issuer signing key, kid 7 */
#define SEED_WALLET     0x60 /* 60 .. 7f: the wallet's key */
#define SEED_TERMINAL   0x80 /* 80 .. 9f: the terminal's key */

#define T_2025_01_01 1735689600u
#define T_2025_12_01 1764547200u
#define T_2026_01_01 1767225600u
#define T_2026_01_02 1767312000u
#define T_2026_02_01 1769904000u
#define T_2027_01_01 1798761600u
#define T_2028_01_01 1830297600u

#define KID_OLD     6
#define KID         7
#define EUR         978
#define SERIAL      1000042u
#define MERCHANT    78187493520u /* 0x1234567890 */
#define TERMINAL_ID 17u
#define NAME        "Caf\xc3\xa9 Z\xc3\xbcrich" /* "Café Zürich", 13 bytes */

static const uint64_t revoked[3] = {7u, SERIAL, 9223372036854775809u};

/* ---- output helpers --------------------------------------------------- */

static void die(const char *what, offpay_err rc)
{
    fprintf(stderr, "gen_vectors: %s: %s\n", what, offpay_strerror(rc));
    exit(1);
}

static void must(const char *what, offpay_err rc)
{
    if (rc != OFFPAY_OK)
        die(what, rc);
}

static void seed_of(uint8_t first, uint8_t seed[OFFPAY_SEED_BYTES])
{
    for (unsigned i = 0; i < OFFPAY_SEED_BYTES; i++)
        seed[i] = (uint8_t)(first + i);
}

static json_t *hex(const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char             *s = malloc(2 * n + 1);
    json_t           *j;

    if (s == NULL)
        die("hex", OFFPAY_ENOMEM);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = '\0';
    j = json_string(s);
    free(s);
    return j;
}

static json_t *u64s(uint64_t v)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

static json_t *num(uint64_t v)
{
    return json_integer((json_int_t)v);
}

/* A key entry: {"seed": hex, "pk": hex}. */
static json_t *key_json(const uint8_t         seed[OFFPAY_SEED_BYTES],
                        const offpay_keypair *kp)
{
    return json_pack("{s:o, s:o}", "seed", hex(seed, OFFPAY_SEED_BYTES), "pk",
                     hex(kp->pk, OFFPAY_PK_BYTES));
}

/*
 * The common tail of every message entry: its signature, exact bytes, text
 * form and sizes, and the QR version at level M of the text.
 */
static void add_encoding(json_t *m, const uint8_t *bytes, size_t len,
                         const uint8_t sig[OFFPAY_SIG_BYTES])
{
    char *text = NULL;
    int   version = 0;

    must("text", offpay_text_encode(bytes, len, &text));
    must("qr version", offpay_qr_version(text, &version));
    json_object_set_new(m, "sig", hex(sig, OFFPAY_SIG_BYTES));
    json_object_set_new(m, "size", num(len));
    json_object_set_new(m, "hex", hex(bytes, len));
    json_object_set_new(m, "text_length", num(strlen(text)));
    json_object_set_new(m, "text", json_string(text));
    json_object_set_new(m, "qr_version_m", num((uint64_t)version));
    free(text);
}

static json_t *wcred_fields(const offpay_wallet_cred *c)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "kid",
                     num(c->kid), "serial", u64s(c->serial), "wallet_pk",
                     hex(c->wallet_pk, OFFPAY_PK_BYTES), "limit", num(c->limit),
                     "currency", num(c->currency), "valid_from",
                     num(c->valid_from), "expires", num(c->expires), "flags",
                     num(c->flags));
}

static json_t *tcred_fields(const offpay_terminal_cred *c)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "kid",
                     num(c->kid), "merchant_id", u64s(c->merchant_id),
                     "terminal_id", num(c->terminal_id), "terminal_pk",
                     hex(c->terminal_pk, OFFPAY_PK_BYTES), "currency",
                     num(c->currency), "valid_from", num(c->valid_from),
                     "expires", num(c->expires), "name", json_string(c->name),
                     "name_hex", hex((const uint8_t *)c->name, c->name_len));
}

/* An embedded credential: its fields and its issuer signature. */
static json_t *embedded(json_t *fields, const uint8_t sig[OFFPAY_SIG_BYTES])
{
    json_object_set_new(fields, "sig", hex(sig, OFFPAY_SIG_BYTES));
    return fields;
}

/* Signs everything before the final signature of an encoded message. */
static void sign_tail(const char *domain, uint8_t *buf, size_t len,
                      const offpay_keypair *kp, uint8_t sig[OFFPAY_SIG_BYTES])
{
    must("sign", offpay_sign(domain, buf, len - OFFPAY_SIG_BYTES, kp->sk, sig));
}

static json_t *entry(int type, const char *domain, const char *signer)
{
    return json_pack("{s:i, s:s, s:s, s:s}", "type", type, "prefix",
                     offpay_msg_prefix((offpay_msg_type)type), "domain", domain,
                     "signer", signer);
}

/* ---- the vectors ------------------------------------------------------ */

int main(int argc, char **argv)
{
    uint8_t             s_root[32], s_old[32], s_iss[32], s_wal[32], s_term[32];
    offpay_keypair      root, old, iss, wal, term;
    offpay_trust_bundle b;
    offpay_wallet_cred  wc;
    offpay_terminal_cred tc;
    offpay_payment       p, pb;
    offpay_request       q;
    offpay_receipt       r;
    offpay_revlist       l;
    uint8_t              buf[1024];
    size_t               len = 0;
    json_t              *doc, *keys, *msgs, *m, *arr;
    FILE                *out = stdout;
    static const uint8_t nonce[OFFPAY_NONCE_BYTES] = {
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

    must("init", offpay_init());
    seed_of(SEED_ROOT, s_root);
    seed_of(SEED_ISSUER_OLD, s_old);
    seed_of(SEED_ISSUER, s_iss);
    seed_of(SEED_WALLET, s_wal);
    seed_of(SEED_TERMINAL, s_term);
    must("root", offpay_keypair_from_seed(s_root, &root));
    must("old", offpay_keypair_from_seed(s_old, &old));
    must("issuer", offpay_keypair_from_seed(s_iss, &iss));
    must("wallet", offpay_keypair_from_seed(s_wal, &wal));
    must("terminal", offpay_keypair_from_seed(s_term, &term));

    doc = json_object();
    json_object_set_new(
        doc, "description",
        json_string("offpay protocol v1 golden vectors (docs/protocol.md). "
                    "Written by tests/vectors/gen_vectors.c; checked by "
                    "tests/unit/test_vectors.c and "
                    "tests/vectors/check_independent.py. Byte strings are "
                    "lowercase hex; u64 fields are decimal strings; other "
                    "integers are JSON numbers. Every signature is Ed25519 "
                    "(RFC 8032) by the key named in 'signer' over "
                    "domain || 0x00 || (hex without its last 64 bytes)."));
    json_object_set_new(doc, "protocol_version", num(OFFPAY_PROTOCOL_VERSION));
    json_object_set_new(doc, "verify_time", num(T_2026_01_02 + 60));
    keys = json_object();
    json_object_set_new(keys, "root", key_json(s_root, &root));
    json_object_set_new(keys, "issuer_kid6", key_json(s_old, &old));
    json_object_set_new(keys, "issuer_kid7", key_json(s_iss, &iss));
    json_object_set_new(keys, "wallet", key_json(s_wal, &wal));
    json_object_set_new(keys, "terminal", key_json(s_term, &term));
    json_object_set_new(doc, "keys", keys);
    msgs = json_object();
    json_object_set_new(doc, "messages", msgs);

    /* Trust bundle: two issuer keys, kid 6 (old) and kid 7 (current). */
    memset(&b, 0, sizeof b);
    b.seq = 3;
    b.issued_at = T_2026_01_01;
    b.n_keys = 2;
    b.keys[0].kid = KID_OLD;
    memcpy(b.keys[0].pk, old.pk, OFFPAY_PK_BYTES);
    b.keys[0].valid_from = T_2025_01_01;
    b.keys[0].valid_until = T_2027_01_01 - 1;
    b.keys[1].kid = KID;
    memcpy(b.keys[1].pk, iss.pk, OFFPAY_PK_BYTES);
    b.keys[1].valid_from = T_2025_12_01;
    b.keys[1].valid_until = T_2028_01_01 - 1;
    must("sign bundle", offpay_issuer_sign_bundle(root.sk, &b));
    must("encode bundle", offpay_bundle_encode(&b, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_TRUST_BUNDLE, OFFPAY_DS_BUNDLE, "root");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o, s:o, s:o}", "root", hex(s_root, 32),
                                  "issuer_kid6", hex(s_old, 32), "issuer_kid7",
                                  hex(s_iss, 32)));
    arr = json_array();
    for (unsigned i = 0; i < b.n_keys; i++)
        json_array_append_new(
            arr, json_pack("{s:o, s:o, s:o, s:o}", "kid", num(b.keys[i].kid),
                           "pk", hex(b.keys[i].pk, OFFPAY_PK_BYTES),
                           "valid_from", num(b.keys[i].valid_from),
                           "valid_until", num(b.keys[i].valid_until)));
    json_object_set_new(m, "fields",
                        json_pack("{s:o, s:o, s:o}", "seq", num(b.seq),
                                  "issued_at", num(b.issued_at), "keys", arr));
    add_encoding(m, buf, len, b.sig);
    json_object_set_new(msgs, "trust_bundle", m);

    /* Wallet credential. */
    memset(&wc, 0, sizeof wc);
    wc.kid = KID;
    wc.serial = SERIAL;
    memcpy(wc.wallet_pk, wal.pk, OFFPAY_PK_BYTES);
    wc.limit = 20000; /* EUR 200.00 */
    wc.currency = EUR;
    wc.valid_from = T_2026_01_01;
    wc.expires = T_2026_02_01 - 1;
    wc.flags = OFFPAY_CRED_ALLOW_UNBOUND;
    must("sign wcred", offpay_issuer_sign_wallet_cred(iss.sk, &wc));
    must("encode wcred", offpay_wallet_cred_encode(&wc, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_WALLET_CRED, OFFPAY_DS_WALLET_CRED, "issuer_kid7");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o, s:o}", "issuer_kid7", hex(s_iss, 32),
                                  "wallet", hex(s_wal, 32)));
    json_object_set_new(m, "fields", wcred_fields(&wc));
    add_encoding(m, buf, len, wc.sig);
    json_object_set_new(msgs, "wallet_credential", m);

    /* Terminal credential, with a multi-byte UTF-8 name. */
    memset(&tc, 0, sizeof tc);
    tc.kid = KID;
    tc.merchant_id = MERCHANT;
    tc.terminal_id = TERMINAL_ID;
    memcpy(tc.terminal_pk, term.pk, OFFPAY_PK_BYTES);
    tc.currency = EUR;
    tc.valid_from = T_2026_01_01;
    tc.expires = T_2027_01_01 - 1;
    tc.name_len = (uint8_t)strlen(NAME);
    memcpy(tc.name, NAME, tc.name_len);
    must("sign tcred", offpay_issuer_sign_terminal_cred(iss.sk, &tc));
    must("encode tcred",
         offpay_terminal_cred_encode(&tc, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_TERMINAL_CRED, OFFPAY_DS_TERMINAL_CRED, "issuer_kid7");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o, s:o}", "issuer_kid7", hex(s_iss, 32),
                                  "terminal", hex(s_term, 32)));
    json_object_set_new(m, "fields", tcred_fields(&tc));
    add_encoding(m, buf, len, tc.sig);
    json_object_set_new(msgs, "terminal_credential", m);

    /* Consumer-presented payment code. */
    memset(&p, 0, sizeof p);
    p.cred = wc;
    p.counter = 5;
    p.amount = 1250; /* EUR 12.50 */
    p.time = T_2026_01_02;
    must("encode payment", offpay_payment_encode(&p, buf, sizeof buf, &len));
    sign_tail(OFFPAY_DS_PAYMENT, buf, len, &wal, p.sig);
    must("encode payment", offpay_payment_encode(&p, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_PAYMENT, OFFPAY_DS_PAYMENT, "wallet");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o, s:o}", "issuer_kid7", hex(s_iss, 32),
                                  "wallet", hex(s_wal, 32)));
    json_object_set_new(m, "fields",
                        json_pack("{s:o, s:o, s:o, s:o}", "cred",
                                  embedded(wcred_fields(&wc), wc.sig),
                                  "counter", num(p.counter), "amount",
                                  num(p.amount), "time", num(p.time)));
    add_encoding(m, buf, len, p.sig);
    json_object_set_new(msgs, "payment", m);

    /* Request code: the merchant asks EUR 49.90. */
    memset(&q, 0, sizeof q);
    q.tcred = tc;
    q.amount = 4990;
    q.currency = EUR;
    memcpy(q.nonce, nonce, OFFPAY_NONCE_BYTES);
    q.time = T_2026_01_02 + 30;
    must("encode request", offpay_request_encode(&q, buf, sizeof buf, &len));
    sign_tail(OFFPAY_DS_REQUEST, buf, len, &term, q.sig);
    must("encode request", offpay_request_encode(&q, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_REQUEST, OFFPAY_DS_REQUEST, "terminal");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o, s:o}", "issuer_kid7", hex(s_iss, 32),
                                  "terminal", hex(s_term, 32)));
    json_object_set_new(m, "fields",
                        json_pack("{s:o, s:o, s:o, s:o, s:o}", "tcred",
                                  embedded(tcred_fields(&tc), tc.sig), "amount",
                                  num(q.amount), "currency", num(q.currency),
                                  "nonce", hex(q.nonce, OFFPAY_NONCE_BYTES),
                                  "time", num(q.time)));
    add_encoding(m, buf, len, q.sig);
    json_object_set_new(msgs, "request", m);

    /* Bound payment code answering that request. */
    memset(&pb, 0, sizeof pb);
    pb.cred = wc;
    pb.counter = 6;
    pb.amount = q.amount;
    pb.time = T_2026_01_02 + 45;
    pb.bound = 1;
    pb.merchant_id = tc.merchant_id;
    memcpy(pb.nonce, q.nonce, OFFPAY_NONCE_BYTES);
    must("encode bound", offpay_payment_encode(&pb, buf, sizeof buf, &len));
    sign_tail(OFFPAY_DS_PAYMENT, buf, len, &wal, pb.sig);
    must("encode bound", offpay_payment_encode(&pb, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_PAYMENT_BOUND, OFFPAY_DS_PAYMENT, "wallet");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o, s:o}", "issuer_kid7", hex(s_iss, 32),
                                  "wallet", hex(s_wal, 32)));
    json_object_set_new(m, "fields",
                        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "cred",
                                  embedded(wcred_fields(&wc), wc.sig),
                                  "counter", num(pb.counter), "amount",
                                  num(pb.amount), "time", num(pb.time),
                                  "merchant_id", u64s(pb.merchant_id), "nonce",
                                  hex(pb.nonce, OFFPAY_NONCE_BYTES)));
    add_encoding(m, buf, len, pb.sig);
    json_object_set_new(msgs, "bound_payment", m);

    /* Receipt for the bound payment. */
    memset(&r, 0, sizeof r);
    r.tcred = tc;
    r.serial = wc.serial;
    r.counter = pb.counter;
    r.amount = pb.amount;
    r.currency = EUR;
    r.time = T_2026_01_02 + 50;
    must("encode receipt", offpay_receipt_encode(&r, buf, sizeof buf, &len));
    sign_tail(OFFPAY_DS_RECEIPT, buf, len, &term, r.sig);
    must("encode receipt", offpay_receipt_encode(&r, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_RECEIPT, OFFPAY_DS_RECEIPT, "terminal");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o, s:o}", "issuer_kid7", hex(s_iss, 32),
                                  "terminal", hex(s_term, 32)));
    json_object_set_new(m, "fields",
                        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "tcred",
                                  embedded(tcred_fields(&tc), tc.sig), "serial",
                                  u64s(r.serial), "counter", num(r.counter),
                                  "amount", num(r.amount), "currency",
                                  num(r.currency), "time", num(r.time)));
    add_encoding(m, buf, len, r.sig);
    json_object_set_new(msgs, "receipt", m);

    /* Revocation list: a delta from seq 9 to seq 12, three serials (one
     * above 2^63, to catch signed 64-bit arithmetic). */
    memset(&l, 0, sizeof l);
    l.kid = KID;
    l.seq = 12;
    l.base_seq = 9;
    l.issued_at = T_2026_01_02 - 3600;
    l.n_serials = 3;
    l.serials = (uint64_t *)revoked;
    must("sign revlist", offpay_issuer_sign_revlist(iss.sk, &l));
    must("encode revlist", offpay_revlist_encode(&l, buf, sizeof buf, &len));
    m = entry(OFFPAY_MSG_REVLIST, OFFPAY_DS_REVLIST, "issuer_kid7");
    json_object_set_new(m, "seeds",
                        json_pack("{s:o}", "issuer_kid7", hex(s_iss, 32)));
    arr = json_array();
    for (unsigned i = 0; i < l.n_serials; i++)
        json_array_append_new(arr, u64s(l.serials[i]));
    json_object_set_new(m, "fields",
                        json_pack("{s:o, s:o, s:o, s:o, s:o}", "kid",
                                  num(l.kid), "seq", num(l.seq), "base_seq",
                                  num(l.base_seq), "issued_at",
                                  num(l.issued_at), "serials", arr));
    add_encoding(m, buf, len, l.sig);
    json_object_set_new(msgs, "revocation_list", m);

    if (argc > 1 && (out = fopen(argv[1], "w")) == NULL) {
        perror(argv[1]);
        return 1;
    }
    if (json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', out) == EOF || (out != stdout && fclose(out) != 0)) {
        fprintf(stderr, "gen_vectors: cannot write the JSON\n");
        return 1;
    }
    json_decref(doc);
    offpay_keypair_wipe(&root);
    offpay_keypair_wipe(&old);
    offpay_keypair_wipe(&iss);
    offpay_keypair_wipe(&wal);
    offpay_keypair_wipe(&term);
    return 0;
}
