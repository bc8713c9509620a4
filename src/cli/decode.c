/*
 * decode.c — `offpay decode`: print any offpay code (or binary message
 * file) in human form and as JSON, without verifying signatures.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/jsonutil.h"
#include "wallet/wallet_file.h"

static const char help[] =
    "Usage: offpay decode [--image FILE | --code TEXT | --file FILE] [--json]\n"
    "\n"
    "Decodes any offpay message and prints what it says. The code comes\n"
    "from a PNG image (--image), an argument (--code), a file (--file:\n"
    "a binary message such as bundle.opb, its base64 as offpayd answers\n"
    "it, or a code's text), or else one\n"
    "line of standard input as a keyboard-wedge scanner types it.\n"
    "Text longer than the longest code of its type is refused (ETOOBIG,\n"
    "with the limit): 334 characters for a payment, 786548 for a\n"
    "revocation list of 65535 serials.\n"
    "\n"
    "  --json     print only JSON (one object)\n"
    "\n"
    "In JSON, 64-bit identifiers (serials, merchant ids) are decimal\n"
    "strings; amounts carry minor units and their decimal text; times are\n"
    "ISO 8601 strings in UTC (\"2026-12-01T09:30:00Z\").\n"
    "Give the code once: --image, --code and --file exclude each other.\n"
    "Decoding checks the format strictly but not signatures or validity:\n"
    "use 'offpay terminal accept' or 'offpay wallet pay-request' for that.\n";

int cli_decode(int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, NULL, 'i'},
        {"code", required_argument, NULL, 'c'},
        {"file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *image = NULL, *code = NULL, *file = NULL;
    int         json_only = 0, c, status = EXIT_OK;
    char       *text = NULL, *dumped = NULL;
    uint8_t    *bytes = NULL;
    size_t      len = 0;
    offpay_msg  m;
    json_t     *j = NULL;
    uint64_t    seen = 0;
    offpay_err  rc;
    static char prog[] = "offpay decode";

    memset(&m, 0, sizeof m);
    argv[0] = prog; /* getopt's messages name the whole command */
    optind = 1;
    while ((c = cli_getopt(argc, argv, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'i':
            image = optarg;
            break;
        case 'c':
            code = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'j':
            json_only = 1;
            break;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        case 'h':
            fputs(help, stdout);
            fputs(cli_exit_help, stdout);
            return 0;
        default:
            return cli_usage_error("decode: bad option");
        }
    }
    if (optind != argc)
        return cli_usage_error("decode: unexpected argument '%s'",
                               argv[optind]);
    if (file != NULL && (image != NULL || code != NULL))
        return cli_usage_error("decode: give the code once: --image, --code "
                               "or --file");
    if (file != NULL) {
        /* A binary message, or a code's text form (what --code takes, for
         * codes too long for an argument); binary starts with version 01. */
        rc = offpay__file_read(file, OFFPAY_TEXT_MAX + 2, &bytes, &len);
        if (rc == OFFPAY_ETOOBIG) {
            fprintf(stderr,
                    "offpay: %s is too long: more than %zu bytes, the most "
                    "for any offpay code (%s)\n",
                    file, (size_t)OFFPAY_TEXT_MAX + 2, offpay_errname(rc));
            return EXIT_REJECTED;
        }
        if (rc != OFFPAY_OK)
            return cli_fail_at(NULL, "reading", file, rc);
        if (len > 0 && bytes[0] == 'O') {
            while (len > 0 &&
                   (bytes[len - 1] == '\n' || bytes[len - 1] == '\r'))
                len--;
            text = malloc(len + 1);
            if (text == NULL) {
                status = cli_fail(file, OFFPAY_ENOMEM);
                goto out;
            }
            memcpy(text, bytes, len);
            text[len] = '\0';
            free(bytes);
            bytes = NULL;
            if (cli_code_too_long(text, len, file, &status))
                goto out;
            rc = offpay_text_decode(text, len, &bytes, &len);
            if (rc != OFFPAY_OK) {
                status = cli_fail("not an offpay code", rc);
                goto out;
            }
        } else {
            uint8_t *bin = malloc(OFFPAY_MSG_MAX_BYTES);
            size_t   got = 0;

            /* or its base64, as offpayd's JSON carries messages */
            if (bin != NULL && len > 0 &&
                cli_base64_text(bytes, len, bin, OFFPAY_MSG_MAX_BYTES,
                                &got) == 1) {
                free(bytes);
                bytes = bin;
                len = got;
            } else {
                free(bin);
            }
            if (len > OFFPAY_MSG_MAX_BYTES) {
                status = cli_fail(file, OFFPAY_ETOOBIG);
                goto out;
            }
            rc = offpay_text_encode(bytes, len, &text);
            if (rc != OFFPAY_OK && rc != OFFPAY_ETYPE && rc != OFFPAY_EINVAL) {
                status = cli_fail(file, rc);
                goto out;
            }
        }
    } else {
        text = cli_read_code(image, code, &status);
        if (text == NULL)
            return status;
        rc = offpay_text_decode(text, strlen(text), &bytes, &len);
        if (rc != OFFPAY_OK) {
            status = cli_fail("not an offpay code", rc);
            goto out;
        }
    }
    rc = offpay_msg_decode_any(bytes, len, &m);
    if (rc != OFFPAY_OK) {
        status = cli_fail("not a valid message", rc);
        goto out;
    }
    j = cli_msg_json(&m, bytes, len);
    if (j != NULL && text != NULL)
        json_object_set_new(j, "text", json_string(text));
    dumped = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (!json_only) {
        cli_msg_print(&m);
        printf("  size              %zu bytes\n\n", len);
    }
    if (dumped != NULL)
        printf("%s\n", dumped);
out:
    offpay_msg_free(&m);
    json_decref(j);
    offpay__json_free(dumped);
    free(text);
    free(bytes);
    return status;
}
