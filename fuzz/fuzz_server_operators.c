/*
 * fuzz_server_operators.c — libFuzzer target for offpayd's
 * --operators-file parser (srv_operators_parse, src/server/operators.c;
 * docs/operations.md §1, "Operators by name"). The input is the file's
 * text, NUL bytes included.
 *
 * Contract checked on every input:
 *   - parsing never crashes, and gives 0 or -1;
 *   - -1 says why, and a "line N" in it is a line of the input; *n is 0
 *     when the input holds a NUL byte (refused before any line);
 *   - 0 gives 0 to SRV_OPERATORS_MAX operators (none: a file of blank
 *     lines and comments, which offpayd takes beside --token-file only),
 *     each named by 1 to SRV_OPERATOR_NAME_MAX of A-Z a-z 0-9 . _ -, a
 *     name that begins a line of the input, with names (whatever their
 *     letters' case) and token hashes all distinct.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"

static int name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > SRV_OPERATOR_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789._-",
                   s[i]) == NULL)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static srv_operator v[SRV_OPERATORS_MAX];
    char               *text = malloc(size + 1), *copy = malloc(size + 1);
    char                why[256] = "";
    size_t              n = 99, lines = 1;
    unsigned            line;
    int                 rc;

    if (text == NULL || copy == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    memcpy(copy, text, size + 1);
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    rc = srv_operators_parse(text, size, v, &n, why, sizeof why);
    if (rc != 0) {
        if (rc != -1 || why[0] == '\0')
            abort();
        if (sscanf(why, "line %u:", &line) == 1 && (line < 1 || line > lines))
            abort();
        if (memchr(data, '\0', size) != NULL && n != 0)
            abort();
    } else {
        if (n > SRV_OPERATORS_MAX)
            abort();
        for (size_t k = 0; k < n; k++) {
            size_t      len = strlen(v[k].name);
            const char *p = copy;
            int         found = 0;

            if (!name_ok(v[k].name))
                abort();
            /* the name begins a line (after blanks), then a blank */
            while (p != NULL && !found) {
                while (*p == ' ' || *p == '\t')
                    p++;
                found = strncmp(p, v[k].name, len) == 0 &&
                        (p[len] == ' ' || p[len] == '\t');
                p = strchr(p, '\n');
                if (p != NULL)
                    p++;
            }
            if (!found)
                abort();
            for (size_t j = 0; j < k; j++)
                if (strcasecmp(v[j].name, v[k].name) == 0 ||
                    memcmp(v[j].hash, v[k].hash, sizeof v[k].hash) == 0)
                    abort();
        }
    }
    free(text);
    free(copy);
    return 0;
}
