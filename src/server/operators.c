/*
 * operators.c — offpayd's --operators-file: one named bearer token per
 * operator, so that what each books is kept with their name
 * (031_booked_by; docs/operations.md §1, "Operators by name"). Read at
 * start-up and on SIGHUP, strictly: a file that is not what it should be
 * is refused whole, with the line and what is wrong with it, and the
 * operators in use stay as they were. Only the tokens' hashes are kept;
 * the file's bytes are read into memory that is wiped when freed.
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "server/server.h"

/* The largest file read: 64 operators of long tokens fit many times. */
#define FILE_MAX (64u * 1024u)

static int name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static int refuse(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -1;
}

int srv_operators_parse(char *text, size_t len, srv_operator *out, size_t *n,
                        char *why, size_t wn)
{
    unsigned line = 0;
    char    *p = text;

    *n = 0;
    if (strlen(text) != len)
        return refuse(why, wn,
                      "holds a NUL byte: it is a text file of "
                      "lines NAME TOKEN");
    while (*p != '\0') {
        char  *eol = strchr(p, '\n'), *name, *token;
        size_t nl, tl;

        line++;
        if (eol != NULL)
            *eol = '\0';
        if (eol != NULL && eol > p && eol[-1] == '\r')
            eol[-1] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#') /* blank, or a comment */
            goto next;
        name = p;
        while (name_char((unsigned char)*p))
            p++;
        nl = (size_t)(p - name);
        if (nl == 0 || nl > SRV_OPERATOR_NAME_MAX || (*p != ' ' && *p != '\t'))
            return refuse(why, wn,
                          "line %u: a line is NAME TOKEN, NAME 1 to %u of "
                          "the characters A-Z a-z 0-9 . _ - (a line "
                          "starting with # is a comment)",
                          line, SRV_OPERATOR_NAME_MAX);
        *p++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        token = p;
        while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
            p++;
        tl = (size_t)(p - token);
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (*p != '\0')
            return refuse(why, wn,
                          "line %u: text after %s's token: a line is NAME "
                          "TOKEN and nothing more (a name has no blank in "
                          "it, a token is one word of printable ASCII, and "
                          "a comment is a line of its own starting with #)",
                          line, name);
        if (tl < SRV_TOKEN_MIN)
            return refuse(why, wn,
                          "line %u: %s's token has fewer than %u bytes "
                          "(make one: head -c 32 /dev/urandom | base64)",
                          line, name, SRV_TOKEN_MIN);
        if (*n == SRV_OPERATORS_MAX)
            return refuse(why, wn, "line %u: more than %u operators", line,
                          SRV_OPERATORS_MAX);
        token[tl] = '\0';
        crypto_generichash(out[*n].hash, sizeof out[*n].hash,
                           (const uint8_t *)token, tl, NULL, 0);
        memcpy(out[*n].name, name, nl + 1);
        out[*n].line = line;
        for (size_t k = 0; k < *n; k++) {
            if (strcasecmp(out[k].name, name) == 0)
                return refuse(why, wn, "line %u: %s is named on line %u too%s",
                              line, name, out[k].line,
                              strcmp(out[k].name, name) != 0
                                  ? " (names that differ only in their "
                                    "letters' case are one name)"
                                  : "");
            if (sodium_memcmp(out[k].hash, out[*n].hash, sizeof out[k].hash) ==
                0)
                return refuse(why, wn,
                              "line %u: %s's token is %s's too (line %u): "
                              "each operator has a token of their own",
                              line, name, out[k].name, out[k].line);
        }
        (*n)++;
    next:
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return 0;
}

/* srv_operators_parse, and on a refusal nothing parsed kept. */
static int parse(char *text, size_t len, srv_operator *out, size_t *n,
                 char *why, size_t wn)
{
    int rc = srv_operators_parse(text, len, out, n, why, wn);

    if (rc != 0) {
        sodium_memzero(out, SRV_OPERATORS_MAX * sizeof *out);
        *n = 0;
    }
    return rc;
}

int srv_operators_read(const char *path, srv_operator *out, size_t *n,
                       char *why, size_t wn)
{
    FILE       *f = fopen(path, "r");
    struct stat sb;
    char       *text = NULL;
    size_t      len = 0;
    int         rc = -1, e;

    *n = 0;
    if (f == NULL) {
        e = errno;
        return refuse(why, wn, "cannot be read: %s", strerror(e));
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        refuse(why, wn, "is not a file");
        goto out;
    }
    if ((uintmax_t)sb.st_size > FILE_MAX) {
        refuse(why, wn, "holds more than %u bytes", FILE_MAX);
        goto out;
    }
    text = sodium_malloc(FILE_MAX + 1);
    if (text == NULL) {
        refuse(why, wn, "%s", strerror(ENOMEM));
        goto out;
    }
    len = fread(text, 1, FILE_MAX + 1, f);
    if (ferror(f)) {
        e = errno;
        refuse(why, wn, "cannot be read: %s", strerror(e));
        goto out;
    }
    if (len > FILE_MAX) {
        refuse(why, wn, "holds more than %u bytes", FILE_MAX);
        goto out;
    }
    text[len] = '\0';
    rc = parse(text, len, out, n, why, wn);
out:
    fclose(f);
    sodium_free(text); /* wiped; NULL is a no-op */
    return rc;
}
