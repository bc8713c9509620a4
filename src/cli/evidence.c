/*
 * evidence.c — `offpay verify-evidence FILE --root root.pub`: checks an
 * evidence file (docs/settlement.md §9) offline, with the root public key
 * and nothing else, and says exactly what it proves. The checking is the
 * library's (offpay_evidence_verify); this file only prints.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/jsonutil.h"
#include "offpay/settle.h"

static const char help[] =
    "Usage: offpay verify-evidence FILE --root ROOT [--json]\n"
    "\n"
    "Checks the evidence file FILE (written by 'offpay admin evidence')\n"
    "offline, with nothing but the issuer's root public key: the trust\n"
    "bundle under the root key, each payment code's wallet credential under\n"
    "the bundle's keys and the wallet's signature on it, each terminal's\n"
    "credential, each receipt; then whether they prove the case's kind:\n"
    "  double_spend      two different codes of one credential with the\n"
    "                    same counter: the wallet key signed twice\n"
    "  duplicate         one code presented by two terminals (named, with\n"
    "                    their merchants)\n"
    "  overspend         codes of one credential whose charges, each within\n"
    "                    what its code authorized, exceed the limit\n"
    "  receipt_mismatch  a receipt signed by the key of the terminal whose\n"
    "                    upload opened the case names that code and another\n"
    "                    amount than the upload (the upload's amount is the\n"
    "                    ledger's record, not a signature in the file)\n"
    "Prints what it proves and exits 0; anything that does not verify or\n"
    "does not prove its kind exits 1 with the reason and the error\n"
    "(EEVIDENCE, or the signature or format error).\n"
    "\n"
    "  --root ROOT   the root public key: 64 hex digits or a file holding\n"
    "                them (the issuer's root.pub)\n"
    "  --json        print one JSON object\n";

static void when(uint32_t t, char *buf, size_t cap)
{
    time_t    tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "%u", (unsigned)t);
}

static void print_party(const char *label, const offpay_evidence_party *p,
                        uint16_t currency)
{
    char auth[48], charged[48], at[32], name[OFFPAY_NAME_MAX + 1];

    /* The name is the issuer's, but the file came from anywhere: no
     * control characters reach the terminal. */
    memcpy(name, p->merchant_name, sizeof name);
    name[OFFPAY_NAME_MAX] = '\0';
    for (char *c = name; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';

    cli_money((int64_t)p->amount, currency, auth, sizeof auth);
    cli_money(p->charged, currency, charged, sizeof charged);
    when(p->accepted_at, at, sizeof at);
    printf("  %s code %zu (counter %u, authorized %s): terminal %u of "
           "merchant %llu \"%s\" charged %s, accepted %s\n",
           label, p->code, (unsigned)p->counter, auth, (unsigned)p->terminal_id,
           (unsigned long long)p->merchant_id, name, charged, at);
}

static void print_proof(const offpay_evidence_report *r)
{
    char limit[48], total[48], once[48], pk[2 * OFFPAY_PK_BYTES + 1];

    cli_money(r->limit, r->currency, limit, sizeof limit);
    for (size_t i = 0; i < OFFPAY_PK_BYTES; i++)
        snprintf(pk + 2 * i, 3, "%02x", r->wallet_pk[i]);
    printf("evidence verified: case %llu (%s) against credential %llu "
           "(limit %s)\n",
           (unsigned long long)r->case_id, offpay_case_kind_name(r->kind),
           (unsigned long long)r->serial, limit);
    printf("checked offline under the root key: trust bundle %u; %zu "
           "code(s) signed by wallet key %s under an issuer-signed "
           "credential; %zu terminal credential(s); %zu presentment(s); %zu "
           "receipt(s)\n",
           (unsigned)r->bundle_seq, r->n_codes, pk, r->n_terminals,
           r->n_presentments, r->n_receipts);
    switch (r->kind) {
    case OFFPAY_CASE_DOUBLE_SPEND:
        printf("PROVES: the wallet key of credential %llu signed two "
               "different payment codes with the same counter %u; an honest "
               "wallet signs each counter once, so the key was used twice "
               "(a cloned or restored wallet):\n",
               (unsigned long long)r->serial, (unsigned)r->a.counter);
        print_party("first: ", &r->a, r->currency);
        print_party("second:", &r->b, r->currency);
        break;
    case OFFPAY_CASE_DUPLICATE:
        printf("PROVES: one payment code of credential %llu (counter %u), "
               "signed by its wallet, was presented by two terminals:\n",
               (unsigned long long)r->serial, (unsigned)r->a.counter);
        print_party("first: ", &r->a, r->currency);
        print_party("second:", &r->b, r->currency);
        break;
    case OFFPAY_CASE_OVERSPEND:
        cli_money(r->total, r->currency, total, sizeof total);
        printf("PROVES: the wallet of credential %llu signed codes whose "
               "charges, each within the amount its code authorized, total "
               "%s, above the credential's limit %s\n",
               (unsigned long long)r->serial, total, limit);
        if (r->total_once <= r->limit)
            printf("NOT PROVED by the file: that the payer spent more than "
                   "the limit. Each code counted once, they total %s: a "
                   "code presented by more than one terminal (copied or "
                   "photographed) counts at each, as the escrow pays it at "
                   "each (docs/settlement.md §4)\n",
                   cli_money(r->total_once, r->currency, once, sizeof once));
        break;
    case OFFPAY_CASE_RECEIPT_MISMATCH:
        cli_money(r->b.charged, r->currency, total, sizeof total);
        cli_money(r->a.charged, r->currency, limit, sizeof limit);
        printf("PROVES: terminal %u's own key signed a receipt (receipt %zu "
               "of the file) telling the payer it charged %s for counter %u "
               "of credential %llu; the ledger records that terminal's "
               "upload of the code as charging %s:\n",
               (unsigned)r->a.terminal_id, r->receipt, total,
               (unsigned)r->a.counter, (unsigned long long)r->serial, limit);
        print_party("upload: ", &r->a, r->currency);
        print_party("receipt:", &r->b, r->currency);
        printf("NOT PROVED by the file: the upload's amount is the ledger's "
               "record of the terminal's signed upload batch, whose "
               "signature the file does not carry\n");
        break;
    case OFFPAY_CASE_CHARGE_MISMATCH: /* never proved by a file */
        break;
    }
}

static json_t *party_json(const offpay_evidence_party *p)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:s, s:I, s:I}", "code",
                     (json_int_t)p->code, "counter", (json_int_t)p->counter,
                     "authorized_minor", (json_int_t)p->amount, "terminal",
                     (json_int_t)p->terminal_id, "merchant",
                     cli_json_u64(p->merchant_id), "merchant_name",
                     p->merchant_name, "charged_minor", (json_int_t)p->charged,
                     "accepted_at", (json_int_t)p->accepted_at);
}

static void print_json(const offpay_evidence_report *r, offpay_err rc)
{
    json_t *doc;
    char   *text;

    if (rc != OFFPAY_OK) {
        doc = json_pack("{s:b, s:s, s:s}", "verified", 0, "error",
                        offpay_errname(rc), "why", r->why);
    } else {
        doc = json_pack(
            "{s:b, s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "verified", 1,
            "case", cli_json_u64(r->case_id), "kind",
            offpay_case_kind_name(r->kind), "serial", cli_json_u64(r->serial),
            "limit_minor", (json_int_t)r->limit, "bundle_seq",
            (json_int_t)r->bundle_seq, "codes", (json_int_t)r->n_codes,
            "terminals", (json_int_t)r->n_terminals, "presentments",
            (json_int_t)r->n_presentments, "receipts",
            (json_int_t)r->n_receipts);
        if (doc != NULL && r->kind == OFFPAY_CASE_OVERSPEND)
            json_object_set_new(doc, "total_minor", json_integer(r->total));
        else if (doc != NULL) {
            json_object_set_new(doc, "a", party_json(&r->a));
            json_object_set_new(doc, "b", party_json(&r->b));
            if (r->kind == OFFPAY_CASE_RECEIPT_MISMATCH)
                json_object_set_new(doc, "receipt",
                                    json_integer((json_int_t)r->receipt));
        }
    }
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)
                       : NULL;
    json_decref(doc);
    if (text != NULL) {
        printf("%s\n", text);
        offpay__json_free(text);
    }
}

int cli_verify_evidence(int argc, char **argv)
{
    static const struct option opts[] = {
        {"root", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char            *root = NULL, *path;
    uint8_t                pk[OFFPAY_PK_BYTES];
    uint8_t               *file = NULL;
    size_t                 len = 0;
    uint64_t               seen = 0;
    offpay_evidence_report r;
    offpay_err             rc;
    int                    c, json = 0;

    optind = 1;
    while ((c = cli_getopt(argc, argv, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'r':
            root = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(help, stdout);
            fputs(cli_exit_help, stdout);
            return EXIT_OK;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        default:
            return cli_usage_error("verify-evidence: bad option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(optind >= argc
                                   ? "verify-evidence: give the evidence FILE"
                                   : "verify-evidence: one FILE only");
    path = argv[optind];
    if (root == NULL)
        return cli_usage_error("verify-evidence: --root ROOT is required");
    if (cli_parse_key(root, pk) != 0)
        return EXIT_USAGE;
    file = cli_read_file(path, OFFPAY_EVIDENCE_MAX_BYTES + 1, &len);
    if (file == NULL)
        return EXIT_FAILURE_IO;
    rc = offpay_evidence_verify(file, len, pk, &r);
    free(file);
    if (json)
        print_json(&r, rc);
    if (rc == OFFPAY_ENOMEM)
        return cli_fail("verify-evidence", rc);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "offpay: evidence NOT verified: %s: %s (%s)\n", path,
                r.why[0] != '\0' ? r.why : offpay_strerror(rc),
                offpay_errname(rc));
        return EXIT_REJECTED;
    }
    if (!json)
        print_proof(&r);
    return EXIT_OK;
}
