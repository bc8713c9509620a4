/*
 * harness.c — runner for offpay's unit tests (see harness.h).
 */
#include "harness.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int offpay_test_failures;

static char tmpdir[256];

const char *offpay_test_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/offpay-test-XXXXXX",
                 base ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

char *offpay_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long  n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (buf == NULL)
        goto out;
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
out:
    fclose(f);
    return buf;
}

int offpay_test_main(const offpay_test *tests)
{
    int passed = 0, failed = 0;

    if (offpay_init() != OFFPAY_OK) {
        fprintf(stderr, "offpay_init failed\n");
        return 2;
    }
    for (const offpay_test *t = tests; t->name != NULL; t++) {
        offpay_test_failures = 0;
        t->fn();
        if (offpay_test_failures == 0) {
            passed++;
            printf("ok   %s\n", t->name);
        } else {
            failed++;
            printf("FAIL %s (%d checks)\n", t->name, offpay_test_failures);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    if (failed == 0 && tmpdir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return failed == 0 ? 0 : 1;
}

int offpay_test_wallet_holds(offpay_wallet *w, uint64_t serial, uint32_t now)
{
    offpay_wallet_balance b;

    for (size_t k = 0; k < offpay_wallet_n_credentials(w); k++)
        if (offpay_wallet_get_balance(w, k, now, &b) == OFFPAY_OK &&
            b.serial == serial)
            return 1;
    return 0;
}
