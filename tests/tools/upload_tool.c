/*
 * upload_tool.c — test-only client of offpayd's signed terminal upload:
 * reads a terminal's journal (offpay_terminal_journal) and writes the body
 * of POST /v1/terminal/upload and the four signature headers (as curl's
 * -H @FILE reads them), signed with the terminal's own key through the one
 * implementation of the format (src/terminal/upload_sign.c). The e2e
 * scripts then send them with curl, or tamper with them first.
 *
 *   upload_tool --terminal DIR --passphrase-file F --body OUT --headers OUT
 *               [--from SEQ] [--to SEQ] [--time T] [--path P]
 *               [--sign-body FILE]   sign FILE's bytes instead of a batch
 *
 * With --wallet FILE instead of --terminal DIR: the body of POST
 * /v1/wallet/upload (every code of the wallet's log with its receipts, as
 * offpay_wallet_upload sends it) signed with the wallet's key.
 *
 *   upload_tool --terminal OLD --passphrase-file F --rotation-proof NEW
 * prints the key_signature of POST /v1/terminal/rotate from OLD to NEW's
 * key (upload_int.h, offpay__rotate_message: OLD's key and credential's
 * terminal id), signed by NEW (opened with the same passphrase), so the
 * scripts can send raw rotations, or a proof made for another rotation.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jsonutil.h"
#include "offpay/offpay.h"
#include "terminal/terminal_int.h"
#include "terminal/upload_int.h"
#include "wallet/wallet_int.h"

typedef struct batch {
    json_t *items;
    int64_t from, to;
} batch;

static int on_entry(const offpay_journal_entry *e, void *ctx)
{
    batch  *b = ctx;
    size_t  cap;
    char   *b64;
    char    seq[24];
    json_t *it;

    if (e->seq < b->from || e->seq > b->to)
        return 0;
    cap =
        sodium_base64_encoded_len(e->code_len, sodium_base64_VARIANT_ORIGINAL);
    b64 = malloc(cap);
    if (b64 == NULL)
        return 1;
    sodium_bin2base64(b64, cap, e->code, e->code_len,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(seq, sizeof seq, "%lld", (long long)e->seq);
    it = json_pack("{s:s, s:s, s:I, s:I}", "seq", seq, "code", b64, "charged",
                   (json_int_t)e->charged, "accepted_at",
                   (json_int_t)e->accepted_at);
    free(b64);
    return it == NULL || json_array_append_new(b->items, it) != 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long  n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

/* The key_signature of old's rotation to next's key, printed (0), or 1. */
static int rotation_proof(offpay_terminal *old, const char *next_dir,
                          const char *pass)
{
    offpay_terminal     *next = NULL;
    offpay_terminal_cred c;
    uint8_t              old_pk[OFFPAY_PK_BYTES], new_pk[OFFPAY_PK_BYTES];
    uint8_t              msg[OFFPAY__ROTATE_MSG_BYTES], sig[OFFPAY_SIG_BYTES];
    char                 b64[OFFPAY__HTTP_SIG_TEXT];
    offpay_err           rc;

    rc = offpay_terminal_open(next_dir, pass, &next);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_credential(old, &c);
    if (rc == OFFPAY_OK) {
        offpay_terminal_public_key(old, old_pk);
        offpay_terminal_public_key(next, new_pk);
        offpay__rotate_message(old_pk, c.terminal_id, new_pk, msg);
        rc = offpay__terminal_sign(next, OFFPAY_DS_TERMINAL_ROTATE, msg,
                                   sizeof msg, sig);
    }
    offpay_terminal_close(next);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "upload_tool: rotation proof: %s\n",
                offpay_strerror(rc));
        return 1;
    }
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig,
                      sodium_base64_VARIANT_ORIGINAL);
    printf("%s\n", b64);
    return 0;
}

int main(int argc, char **argv)
{
    const char            *dir = NULL, *pass_file = NULL, *body_out = NULL;
    const char            *hdr_out = NULL, *path = "/v1/terminal/upload";
    const char            *sign_body = NULL, *wallet_file = NULL;
    const char            *proof_for = NULL;
    offpay_wallet         *wallet = NULL;
    batch                  b = {NULL, 1, INT64_MAX};
    uint32_t               t = (uint32_t)time(NULL);
    offpay_terminal       *term = NULL;
    offpay__http_auth      a;
    offpay__http_auth_text h;
    char                   pass[256] = "";
    char                  *body = NULL;
    size_t                 len = 0;
    FILE                  *f;
    offpay_err             rc;
    int                    status = 1;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (strcmp(k, "--terminal") == 0)
            dir = v;
        else if (strcmp(k, "--wallet") == 0)
            wallet_file = v, path = "/v1/wallet/upload";
        else if (strcmp(k, "--passphrase-file") == 0)
            pass_file = v;
        else if (strcmp(k, "--body") == 0)
            body_out = v;
        else if (strcmp(k, "--headers") == 0)
            hdr_out = v;
        else if (strcmp(k, "--from") == 0)
            b.from = strtoll(v, NULL, 10);
        else if (strcmp(k, "--to") == 0)
            b.to = strtoll(v, NULL, 10);
        else if (strcmp(k, "--time") == 0)
            t = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(k, "--path") == 0)
            path = v;
        else if (strcmp(k, "--sign-body") == 0)
            sign_body = v;
        else if (strcmp(k, "--rotation-proof") == 0)
            proof_for = v;
        else {
            fprintf(stderr, "upload_tool: unknown option %s\n", k);
            return 2;
        }
    }
    if ((dir == NULL && wallet_file == NULL) || pass_file == NULL ||
        (proof_for == NULL && (body_out == NULL || hdr_out == NULL))) {
        fprintf(stderr, "upload_tool: --terminal, --passphrase-file, --body "
                        "and --headers are required\n");
        return 2;
    }
    if (offpay_init() != OFFPAY_OK || (f = fopen(pass_file, "r")) == NULL)
        return 1;
    if (fgets(pass, sizeof pass, f) == NULL)
        pass[0] = '\0';
    fclose(f);
    pass[strcspn(pass, "\r\n")] = '\0';
    rc = wallet_file != NULL
             ? offpay_wallet_open_readonly(wallet_file, pass, &wallet)
             : offpay_terminal_open(dir, pass, &term);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "upload_tool: %s\n", offpay_strerror(rc));
        goto out;
    }
    if (proof_for != NULL) {
        status = term != NULL ? rotation_proof(term, proof_for, pass) : 2;
        goto out;
    }
    if (sign_body != NULL) {
        body = slurp(sign_body, &len);
    } else if (wallet != NULL) {
        char  *text = NULL;
        size_t n = 0, next = 0;

        rc = offpay__wallet_upload_body(wallet, 0, 200, &text, NULL, NULL, &n,
                                        &next, NULL);
        if (rc == OFFPAY_OK && text != NULL) {
            len = strlen(text);
            body = malloc(len + 1);
            if (body != NULL)
                memcpy(body, text, len + 1);
        }
        offpay__json_free(text);
    } else {
        json_t *doc;

        b.items = json_array();
        rc = offpay_terminal_journal(term, on_entry, &b);
        doc = json_pack("{s:O}", "items", b.items);
        if (rc == OFFPAY_OK && doc != NULL) {
            char *text = json_dumps(doc, JSON_COMPACT);

            if (text != NULL) {
                len = strlen(text);
                body = malloc(len + 1);
                if (body != NULL)
                    memcpy(body, text, len + 1);
                offpay__json_free(text);
            }
        }
        json_decref(doc);
    }
    if (body == NULL) {
        fprintf(stderr, "upload_tool: cannot build the body\n");
        goto out;
    }
    rc = wallet != NULL
             ? offpay__wallet_sign_http(wallet, "POST", path, t,
                                        (const uint8_t *)body, len, &a)
             : offpay__terminal_sign_http(term, "POST", path, t,
                                          (const uint8_t *)body, len, &a);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "upload_tool: sign: %s\n", offpay_strerror(rc));
        goto out;
    }
    offpay__http_auth_format(&a, &h);
    if ((f = fopen(body_out, "wb")) == NULL)
        goto out;
    fwrite(body, 1, len, f);
    fclose(f);
    if ((f = fopen(hdr_out, "w")) == NULL)
        goto out;
    fprintf(f, "%s: %s\n%s: %s\n%s: %s\n%s: %s\n", OFFPAY__HTTP_HDR_KEY, h.key,
            OFFPAY__HTTP_HDR_TIME, h.time, OFFPAY__HTTP_HDR_NONCE, h.nonce,
            OFFPAY__HTTP_HDR_SIG, h.sig);
    fclose(f);
    printf("%zu\n", b.items ? json_array_size(b.items) : 0);
    status = 0;
out:
    sodium_memzero(pass, sizeof pass);
    json_decref(b.items);
    free(body);
    offpay_terminal_close(term);
    offpay_wallet_close(wallet);
    return status;
}
