/*
 * fuzz_wallet_log.c — fuzz target for the wallet's spend log replay
 * (offpay__wallet_log_replay, src/wallet/wallet.c and spendlog.c): the
 * record parser that runs on every record of path.log at open, and the
 * torn-tail rule.
 *
 * The records are sealed (ChaCha20-Poly1305 under the wallet's log key),
 * so random bytes never get past the AEAD. Like fuzz_wallet_file.c, this
 * target seals the input itself: the state below (a real format 3 state,
 * migrated from the v2_two_terminals seed of fuzz/corpus/wallet_state/)
 * gives the key, and the input is a sequence of 256-byte record
 * plaintexts (byte 0 the kind), each sealed at its index (bytes past the
 * kind's body zeroed; a slot of an unknown kind written as garbage). A
 * remainder of r < 256 bytes, when there is one, damages the image: by its
 * first byte, a torn tail (part of one more sealed record), a flipped byte
 * somewhere, or one more record sealed at the wrong index.
 *
 * Properties checked on every input: the replay answers OK, ECORRUPT or
 * ENOMEM and nothing else; a torn tail or a damaged last record is
 * dropped (OK, with the whole records before it kept), never an error;
 * a log it accepts leaves a consistent wallet (receipts within the
 * per-code cap and matching their code, balances adding up) whose log,
 * dumped again and replayed, gives the same codes and receipts.
 *
 * Seeds (fuzz/corpus/wallet_log/): v3_two_terminals (the eight records of
 * that state's log: four codes, four receipts), v3_migrated_from_v1 (its
 * three codes with format 1's charged amounts), and torn_* / bad_*
 * variations (a record sealed at the wrong index at the end is a torn
 * last record: dropped).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"
#include "wallet/spendlog.h"
#include "wallet/wallet_int.h"

#define PLAIN  256
#define RECORD OFFPAY__LOG_RECORD_BYTES
#define HEADER OFFPAY__LOG_HEADER_BYTES

static const char state[] =
    "{\"format\":3,\"seed\":"
    "\"132cc4ec9b74760940cbc31e67cae8cdc904323933be5268eb"
    "27145a925ac943\",\"root_pk\":\"af0df7f056963d80b1970810e385bd6433f617a919f"
    "8903681744037de37ad0f\",\"bundle\":\"0101000000016b0f491d010001659c76e039c"
    "79ec27a1a78d598b73515d22aa52adf348e810c89aa9dbed985986b0f491d6ed1b01dd"
    "2bbb6f54574d9e69d5729d225afe92cc68393dab94a38f9ea097c1922fa05fd3eaa7c1"
    "a871b62135b1e7990652b17e0a06f2632af92c7b79bff9d7244d4170a\",\"default_ca"
    "p\":0,\"log_key\":\"27fe9c27c9b8c87831d4171f3e252d771f71b000a47d5bd08d2121"
    "a4318909d1\",\"creds\":[{\"cred\":"
    "\"010200010000000000000001077c27693f12664c"
    "e03898ce1e1297d114b3b6e053566928124092034fb5e2480000271003d26b0f491d6b"
    "36d61d01120bd695f4acd1b2da05104b5648f14569b223777118193b58dd7d6e21287e"
    "40b203830ec903a4d2b6955261cf1dc68153dd14a5e06f1bb0189ec92ad3e2380d\",\"n"
    "ext_counter\":5}]}";

/* A consistent wallet: see the file comment. */
static void check_state(const offpay_wallet *w)
{
    for (size_t i = 0; i < offpay_wallet_n_credentials(w); i++) {
        offpay_wallet_balance b;

        if (offpay_wallet_get_balance(w, i, 0, &b) != OFFPAY_OK ||
            b.confirmed < 0 || b.pending < 0 || b.held < 0 ||
            b.available != b.limit - b.confirmed - b.pending - b.held)
            abort();
    }
    for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
        offpay_wallet_spend s;
        offpay_receipt      r;

        if (offpay_wallet_get_spend(w, i, &s) != OFFPAY_OK ||
            s.n_receipts > OFFPAY_WALLET_RECEIPTS_PER_CODE ||
            (s.n_receipts > 0 && s.charged < 0) || s.counter == 0)
            abort();
        for (uint32_t j = 0; j < s.n_receipts; j++)
            if (offpay_wallet_get_receipt(w, i, j, &r) != OFFPAY_OK ||
                r.serial != s.serial || r.counter != s.counter ||
                r.amount > s.authorized)
                abort();
    }
}

/* Seals plaintext p as record index of w's log into rec: the bytes past
 * its kind's body are zeroed first (the wallet never writes others); a
 * kind the log does not know is written as it comes, unsealed (garbage
 * the replay must refuse). */
static offpay_err seal(const offpay_wallet *w, uint64_t index, const uint8_t *p,
                       uint8_t *rec)
{
    uint8_t pl[PLAIN];
    size_t  body = p[0] == OFFPAY__LOG_KIND_CODE      ? OFFPAY__LOG_BODY_CODE
                   : p[0] == OFFPAY__LOG_KIND_RECEIPT ? OFFPAY__LOG_BODY_RECEIPT
                                                      : 0;

    if (body == 0) {
        memset(rec, 0, RECORD);
        memcpy(rec, p, PLAIN);
        return OFFPAY_OK;
    }
    memset(pl, 0, sizeof pl);
    memcpy(pl, p, 1 + body);
    return offpay__wallet_log_seal(w, index, pl, rec);
}

static offpay_wallet *fresh(void)
{
    offpay_wallet *w = NULL;

    if (offpay__wallet_state_load((const uint8_t *)state, sizeof state - 1,
                                  &w) != OFFPAY_OK)
        abort();
    return w;
}

/* libFuzzer entry point: data is record plaintexts, then a damage. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int     inited;
    offpay_wallet *w, *w2;
    uint8_t       *img, *img2 = NULL;
    uint8_t        pl[PLAIN];
    size_t         n = size / PLAIN, r = size % PLAIN, len, len2 = 0;
    size_t         valid = 0, valid2 = 0, whole;
    int            mode = r > 0 ? data[n * PLAIN] % 3 : -1;
    offpay_err     rc;

    if (!inited) {
        if (offpay_init() != OFFPAY_OK)
            abort();
        inited = 1;
    }
    if (n > 4096)
        return 0;
    w = fresh();
    img = malloc(HEADER + (n + 1) * RECORD);
    if (img == NULL)
        abort();
    /* The header is the one the wallet writes: taken from an empty log. */
    if (offpay__wallet_log_image(w, &img2, &len2) != OFFPAY_OK ||
        len2 != HEADER)
        abort();
    memcpy(img, img2, HEADER);
    free(img2);
    img2 = NULL;
    len = HEADER;
    for (size_t i = 0; i < n; i++, len += RECORD)
        if (seal(w, i, data + i * PLAIN, img + len) != OFFPAY_OK)
            abort();
    whole = len;
    if (mode >= 0) {
        memset(pl, 0, sizeof pl);
        memcpy(pl, data + n * PLAIN, r);
        if (mode == 0) { /* torn: part of one more record */
            if (seal(w, n, pl, img + len) != OFFPAY_OK)
                abort();
            len += (r * RECORD) / PLAIN % RECORD;
        } else if (mode == 1 && len > 0) { /* a flipped byte */
            size_t at =
                r > 2
                    ? ((size_t)data[n * PLAIN + 1] << 8 | data[n * PLAIN + 2]) %
                          len
                    : len - 1;
            img[at] ^= (uint8_t)(r | 1);
        } else { /* a whole record at the wrong index */
            if (seal(w, n + 1 + r, pl, img + len) != OFFPAY_OK)
                abort();
            len += RECORD;
        }
    }
    rc = offpay__wallet_log_replay(w, img, len, &valid);
    if (rc != OFFPAY_OK && rc != OFFPAY_ECORRUPT && rc != OFFPAY_ENOMEM)
        abort();
    /* A torn tail after whole records that replay is never an error. */
    if (mode == 0 && valid == whole && rc != OFFPAY_OK)
        abort();
    if (rc == OFFPAY_OK) {
        if (valid > len || valid < HEADER || (valid - HEADER) % RECORD != 0)
            abort();
        check_state(w);
        w2 = fresh();
        if (offpay__wallet_log_image(w, &img2, &len2) != OFFPAY_OK ||
            offpay__wallet_log_replay(w2, img2, len2, &valid2) != OFFPAY_OK ||
            valid2 != len2 ||
            offpay_wallet_n_spends(w2) != offpay_wallet_n_spends(w))
            abort();
        for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
            offpay_wallet_spend a, b;

            if (offpay_wallet_get_spend(w, i, &a) != OFFPAY_OK ||
                offpay_wallet_get_spend(w2, i, &b) != OFFPAY_OK ||
                memcmp(&a, &b, sizeof a) != 0)
                abort();
        }
        offpay_wallet_close(w2);
        free(img2);
    }
    free(img);
    offpay_wallet_close(w);
    return 0;
}
