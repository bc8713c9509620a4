/*
 * history_tool.c — test-only: a payer's long history made cheaply in a
 * ledger, as bench/creds_bench.c makes it: N credentials issued to a
 * wallet key from an account, in process through the ledger's own
 * offpay_ledger_issue (one transaction each, signed by the issuer's
 * day-to-day key), where N requests to offpayd would take N round trips.
 * The e2e scenarios run it beside offpayd on the same ledger (SQLite or
 * PostgreSQL) to give a wallet thousands of credentials.
 *
 *   history_tool --db URL --issuer DIR --passphrase-file F --account N
 *                --wallet-key HEX --count N --from T [--every S]
 *                [--life S] [--limit MINOR]
 *
 * Credential i is issued at T + i * S (S 60 by default), expires --life
 * seconds after that (a day by default) and holds --limit minor units (1
 * by default). Prints the first and the last serial issued.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"

static int hex_key(const char *s, uint8_t pk[OFFPAY_PK_BYTES])
{
    size_t got = 0;

    return s != NULL && strlen(s) == 2 * OFFPAY_PK_BYTES &&
                   sodium_hex2bin(pk, OFFPAY_PK_BYTES, s, strlen(s), NULL, &got,
                                  NULL) == 0 &&
                   got == OFFPAY_PK_BYTES
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    const char         *db = NULL, *dir = NULL, *pass_file = NULL;
    const char         *key_hex = NULL;
    unsigned long long  account = 0, count = 0, from = 0, every = 60;
    unsigned long long  life = 86400, limit = 1;
    offpay_issuer      *is = NULL;
    offpay_ledger      *l = NULL;
    offpay_trust_bundle b;
    offpay_wallet_cred  wc;
    uint8_t            *bundle = NULL, pk[OFFPAY_PK_BYTES];
    uint8_t             sk[OFFPAY_SK_BYTES], bytes[OFFPAY_WALLET_CRED_BYTES];
    uint64_t            first = 0;
    uint16_t            kid = 0;
    size_t              blen = 0;
    char                pass[256] = "";
    FILE               *f;
    offpay_err          rc = OFFPAY_EINVAL;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (strcmp(k, "--db") == 0)
            db = v;
        else if (strcmp(k, "--issuer") == 0)
            dir = v;
        else if (strcmp(k, "--passphrase-file") == 0)
            pass_file = v;
        else if (strcmp(k, "--wallet-key") == 0)
            key_hex = v;
        else if (strcmp(k, "--account") == 0)
            account = strtoull(v, NULL, 10);
        else if (strcmp(k, "--count") == 0)
            count = strtoull(v, NULL, 10);
        else if (strcmp(k, "--from") == 0)
            from = strtoull(v, NULL, 10);
        else if (strcmp(k, "--every") == 0)
            every = strtoull(v, NULL, 10);
        else if (strcmp(k, "--life") == 0)
            life = strtoull(v, NULL, 10);
        else if (strcmp(k, "--limit") == 0)
            limit = strtoull(v, NULL, 10);
        else
            break;
    }
    if (db == NULL || dir == NULL || pass_file == NULL || account == 0 ||
        count == 0 || from == 0 || hex_key(key_hex, pk) != 0 ||
        from + count * every + life > UINT32_MAX || limit == 0) {
        fprintf(stderr, "usage: history_tool --db URL --issuer DIR "
                        "--passphrase-file F --account N --wallet-key HEX "
                        "--count N --from T [--every S] [--life S] "
                        "[--limit MINOR]\n");
        return 2;
    }
    f = fopen(pass_file, "r");
    if (f == NULL || fgets(pass, sizeof pass, f) == NULL) {
        fprintf(stderr, "history_tool: cannot read %s\n", pass_file);
        if (f != NULL)
            fclose(f);
        return 1;
    }
    fclose(f);
    pass[strcspn(pass, "\r\n")] = '\0';
    if ((rc = offpay_init()) == OFFPAY_OK &&
        (rc = offpay_issuer_open(dir, pass, &is)) == OFFPAY_OK &&
        (rc = offpay_issuer_bundle(is, &bundle, &blen)) == OFFPAY_OK &&
        (rc = offpay_bundle_decode(bundle, blen, &b)) == OFFPAY_OK &&
        (rc = offpay_issuer_signing_key(is, (uint32_t)from, &kid, sk)) ==
            OFFPAY_OK &&
        (rc = offpay_ledger_open(db, NULL, &l)) == OFFPAY_OK)
        rc = offpay_ledger_set_trust(l, &b, kid, sk);
    for (unsigned long long i = 0; rc == OFFPAY_OK && i < count; i++) {
        uint32_t now = (uint32_t)(from + i * every);

        rc = offpay_ledger_issue(l, account, pk, (int64_t)limit,
                                 OFFPAY_CRED_ALLOW_UNBOUND,
                                 (uint32_t)(now + life), now, bytes, &wc);
        if (rc == OFFPAY_OK && first == 0)
            first = wc.serial;
    }
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(pass, sizeof pass);
    free(bundle);
    offpay_ledger_close(l);
    offpay_issuer_close(is);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "history_tool: %s (%s)\n", offpay_strerror(rc),
                offpay_errname(rc));
        return 1;
    }
    printf("%llu %llu\n", (unsigned long long)first,
           (unsigned long long)wc.serial);
    return 0;
}
