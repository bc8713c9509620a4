/*
 * fuzz_server_auth.c — libFuzzer target for offpay__http_auth_parse
 * (src/terminal/upload_sign.c): the four signature headers of a signed
 * request, as any client sends them. The input is split at newlines into
 * key, time, nonce, signature, method and path.
 *
 * Contract checked on every input:
 *   - parsing never crashes; it fails only with OFFPAY_ENOTFOUND (a header
 *     missing) or OFFPAY_EMALFORMED;
 *   - the accepted form is canonical: formatting the parsed value gives
 *     back exactly the four header texts;
 *   - verifying the parsed signature over any method and path never
 *     crashes and fails with OFFPAY_EINVAL or OFFPAY_ECODE_SIG (a forged
 *     signature from random bytes does not verify).
 * The first line is also taken as the X-Offpay-Answer header a client
 * checks (offpay__http_answer_verify, under a bundle with key 6): it never
 * verifies, fails only with OFFPAY_EMALFORMED, OFFPAY_EUNKNOWN_KID or
 * OFFPAY_ECODE_SIG, and a header that parsed starts with its key id as
 * the canonical form writes it.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "terminal/upload_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  *buf = malloc(size + 1), *part[6] = {0};
    offpay__http_auth      a;
    offpay__http_auth_text t;
    offpay_err             rc;
    size_t                 n = 0;

    if (buf == NULL)
        abort();
    if (size > 0)
        memcpy(buf, data, size);
    buf[size] = '\0';
    for (char *p = buf; n < 6; n++) {
        part[n] = p;
        p = strchr(p, '\n');
        if (p == NULL) {
            n++;
            break;
        }
        *p++ = '\0';
    }
    {
        static const offpay__http_auth nonce = {{1}, 2, {1, 2, 3}, {0}};
        offpay_trust_bundle  b;
        uint16_t             kid = 0;
        char                 prefix[8];

        memset(&b, 0, sizeof b);
        b.n_keys = 1;
        b.keys[0].kid = 6;
        memset(b.keys[0].pk, 0x5a, OFFPAY_PK_BYTES);
        b.keys[0].valid_until = UINT32_MAX;
        uint8_t digest[OFFPAY__HTTP_DIGEST_BYTES] = {0};

        rc = offpay__http_answer_verify(&b, part[0], 1, 200,
                                        "/v1/terminal/upload", &nonce, digest,
                                        data, size, &kid);
        if (rc != OFFPAY_EMALFORMED && rc != OFFPAY_EUNKNOWN_KID &&
            rc != OFFPAY_ECODE_SIG)
            abort();
        snprintf(prefix, sizeof prefix, "%u ", (unsigned)kid);
        if (rc != OFFPAY_EMALFORMED &&
            strncmp(part[0], prefix, strlen(prefix)) != 0)
            abort();
    }
    rc = offpay__http_auth_parse(part[0], part[1], part[2], part[3], &a);
    if (rc != OFFPAY_OK) {
        if (rc != OFFPAY_ENOTFOUND && rc != OFFPAY_EMALFORMED)
            abort();
        goto out;
    }
    offpay__http_auth_format(&a, &t);
    if (strcmp(t.key, part[0]) != 0 || strcmp(t.time, part[1]) != 0 ||
        strcmp(t.nonce, part[2]) != 0 || strcmp(t.sig, part[3]) != 0)
        abort();
    rc = offpay__http_verify(&a, part[4] ? part[4] : "POST",
                             part[5] ? part[5] : "/v1/terminal/upload",
                             (const uint8_t *)buf, size);
    if (rc != OFFPAY_EINVAL && rc != OFFPAY_ECODE_SIG)
        abort();
out:
    free(buf);
    return 0;
}
