/*
 * common.c — helpers shared by the offpay subcommands (cli.h).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/amount_int.h"
#include "core/base64.h"
#include "core/unixtime.h"
#include "settle/store.h"
#include "store/lockwait.h"
#include "wallet/spendlog.h"
#include "wallet/wallet_file.h"

extern char **environ; /* POSIX: the process's environment */

const char cli_exit_help[] =
    "\nExit status (the same for every command):\n"
    "  0  success; for 'terminal accept': accepted and recorded\n"
    "  1  refused: a code, credential, list, key or image was not accepted,\n"
    "     or offpayd refused the request (the reason is printed)\n"
    "  2  usage error: a bad or ambiguous command line, or an output file\n"
    "     that exists (without --force) or belongs to an offpay state\n"
    "  3  failure: a file, database, passphrase or system error, or\n"
    "     offpayd unreachable, or (terminal sync --server) payments\n"
    "     offpayd left undecided, or standard output that could not be\n"
    "     written (a full disk: \"cannot write standard output\")\n";

int cli_is_rejection(offpay_err rc)
{
    switch (rc) {
    case OFFPAY_EBASE45:
    case OFFPAY_EPREFIX:
    case OFFPAY_ETRUNCATED:
    case OFFPAY_ETRAILING:
    case OFFPAY_EVERSION:
    case OFFPAY_ETYPE:
    case OFFPAY_EMALFORMED:
    case OFFPAY_ETOOBIG:
    case OFFPAY_ECURRENCY_UNKNOWN:
    case OFFPAY_EUNKNOWN_KID:
    case OFFPAY_EKID_EXPIRED:
    case OFFPAY_EBUNDLE_SIG:
    case OFFPAY_ECRED_SIG:
    case OFFPAY_ECODE_SIG:
    case OFFPAY_EREVLIST_SIG:
    case OFFPAY_EEXPIRED:
    case OFFPAY_ENOT_YET_VALID:
    case OFFPAY_EREVOKED:
    case OFFPAY_ECURRENCY:
    case OFFPAY_ECODE_TOO_OLD:
    case OFFPAY_ECODE_FUTURE:
    case OFFPAY_EOVER_AUTHORIZED:
    case OFFPAY_EOVER_FLOOR:
    case OFFPAY_EOVER_CUMULATIVE:
    case OFFPAY_EOVER_LIMIT:
    case OFFPAY_EREPLAY:
    case OFFPAY_EWRONG_MERCHANT:
    case OFFPAY_EWRONG_NONCE:
    case OFFPAY_EAMOUNT_MISMATCH:
    case OFFPAY_EUNBOUND_REFUSED:
    case OFFPAY_ESYNC_REQUIRED:
    case OFFPAY_EREVLIST_STALE:
    case OFFPAY_EREVLIST_SEQ:
    case OFFPAY_EBUNDLE_OLD:
    case OFFPAY_EINSUFFICIENT:
    case OFFPAY_ENO_CREDENTIAL:
    case OFFPAY_ERECEIPT_MISMATCH:
    case OFFPAY_EREQUEST_EXPIRED:
    case OFFPAY_ESCAN:
    case OFFPAY_ESCAN_SEVERAL:
    case OFFPAY_EDOUBLE_SPEND:
    case OFFPAY_ECLOCK_BEHIND:
    case OFFPAY_ETERMINAL_EXPIRED:
    case OFFPAY_ETERMINAL_REVOKED:
    case OFFPAY_ETERMINAL_RETIRING:
    case OFFPAY_ETERMINAL_KEY_MISSING:
    case OFFPAY_ETERMINAL_UNKNOWN:
    case OFFPAY_EFUTURE_DATED:
    case OFFPAY_EIMAGE_DEADLINE:
    case OFFPAY_EIMAGE_TOO_LARGE:
    case OFFPAY_EWEAK_KEY:
    case OFFPAY_ENOT_ISSUED:
    case OFFPAY_EREFUSED:
    case OFFPAY_EWALLET_LOST:
    case OFFPAY_EWALLET_CASE:
    case OFFPAY_EDUPLICATE_MERCHANT:
        return 1;
    default:
        return 0;
    }
}

/* offpayd's reason as the library's log last printed it (cli_log). */
static char logged_detail[512];

void cli_log(void *ctx, const char *line)
{
    offpay_log_stderr(ctx, line);
    if (strncmp(line, "offpay: offpayd refused ", 24) == 0 ||
        strncmp(line, "offpay: offpayd answered ", 25) == 0)
        snprintf(logged_detail, sizeof logged_detail, "%s",
                 offpay_server_detail());
}

int cli_fail(const char *what, offpay_err rc)
{
    const char *detail = offpay_server_detail();

    if (rc == OFFPAY_EREFUSED && detail[0] != '\0' &&
        strcmp(detail, logged_detail) == 0)
        /* the library's line just said what and why: not twice */
        fprintf(stderr, "offpay: %s: offpayd refused the request (see above) "
                        "(%s)\n",
                what, offpay_errname(rc));
    else if (rc == OFFPAY_EREFUSED && detail[0] != '\0')
        /* offpayd's reason, as the library keeps it for this thread */
        fprintf(stderr, "offpay: %s: offpayd refused the request: %s (%s)\n",
                what, detail, offpay_errname(rc));
    else if (rc == OFFPAY_EBUSY && offpay__lockwait_detail()[0] != '\0')
        /* a ledger's lock another process held past the bound: whose,
         * and that nothing was changed (store/lockwait.h) */
        fprintf(stderr, "offpay: %s: %s (%s)\n", what,
                offpay__lockwait_detail(), offpay_errname(rc));
    else if (rc == OFFPAY_ECLOCK_BEHIND &&
             offpay__ledger_clock_detail()[0] != '\0')
        /* a transfer dated behind the ledger's newest: both times */
        fprintf(stderr, "offpay: %s: %s (%s)\n", what,
                offpay__ledger_clock_detail(), offpay_errname(rc));
    else
        fprintf(stderr, "offpay: %s: %s (%s)\n", what, offpay_strerror(rc),
                offpay_errname(rc));
    /* What the PKCS#11 token said: the function and its CKR_ name, or
     * which key took the name --generate-key was given (EEXISTS). */
    if ((rc == OFFPAY_EPKCS11 || rc == OFFPAY_EPKCS11_URI ||
         rc == OFFPAY_EEXISTS ||
         (rc == OFFPAY_EPASSPHRASE &&
          strstr(offpay_pkcs11_detail(), "CKR_") != NULL)) &&
        offpay_pkcs11_detail()[0] != '\0')
        fprintf(stderr, "offpay: token: %s\n", offpay_pkcs11_detail());
    if (rc == OFFPAY_EPASSPHRASE &&
        strstr(offpay_pkcs11_detail(), "CKR_") == NULL)
        fprintf(stderr, "offpay: type the passphrase again; if it is "
                        "surely right, the file may be damaged (the "
                        "decryption cannot tell the two apart)\n");
    if (rc == OFFPAY_EBUSY && offpay__lockwait_detail()[0] == '\0')
        fprintf(stderr,
                "offpay: (a terminal or wallet: another offpay command "
                "holds it: a sync with offpayd of the same terminal or "
                "wallet, which a second one does not wait for, or for 10 s "
                "something else; a ledger: another process held a lock past "
                "the wait, or PostgreSQL cut the statement off, as a line "
                "above says; try again when it is done)\n");
    if (rc == OFFPAY_EPASSPHRASE_SHORT)
        fprintf(stderr,
                "offpay: (a new passphrase needs at least %d characters: it "
                "alone protects the keys in a copied file against guessing)\n",
                OFFPAY__PASSPHRASE_MIN);
    if (cli_is_rejection(rc))
        return EXIT_REJECTED;
    /* an output that exists (a wallet, a terminal, an export, a token's
     * key): the exit table's usage error, as with --out FILE */
    return rc == OFFPAY_EINVAL || rc == OFFPAY_EEXISTS ? EXIT_USAGE
                                                       : EXIT_FAILURE_IO;
}

int cli_fail_online(const char *what, offpay_err rc)
{
    if (rc != OFFPAY_EIO)
        return cli_fail(what, rc);
    fprintf(stderr,
            "offpay: %s: offpayd could not be reached, or failed "
            "(see above) (EIO); nothing retries it by itself: run it "
            "again when offpayd answers, and what this run did not "
            "do is done then\n",
            what);
    return EXIT_FAILURE_IO;
}

int cli_fail_at(const char *what, const char *doing, const char *path,
                offpay_err rc)
{
    if (rc != OFFPAY_ENOSPC && rc != OFFPAY_EROFS && rc != OFFPAY_EACCES &&
        rc != OFFPAY_ENOENT && rc != OFFPAY_EISDIR && rc != OFFPAY_ENOTDIR)
        return cli_fail(what != NULL ? what : path, rc);
    /* The library names these only for a write that changed nothing (an
     * atomic replace not done, a transaction rolled back). */
    fprintf(stderr, "offpay: %s%s%s while %s %s%s (%s)\n",
            what != NULL ? what : "", what != NULL ? ": " : "",
            offpay_strerror(rc), doing, path,
            strcmp(doing, "saving") == 0 ? ": nothing was changed" : "",
            offpay_errname(rc));
    return EXIT_FAILURE_IO;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("offpay: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see --help)\n", stderr);
    return EXIT_USAGE;
}

uint32_t cli_now(void)
{
#ifdef OFFPAY_TEST_HOOKS
    const char *env = getenv("OFFPAY_NOW");
    char       *end = NULL;
    long long   v;

    if (env != NULL && env[0] != '\0') {
        errno = 0;
        v = strtoll(env, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 0 && v <= UINT32_MAX)
            return (uint32_t)v;
        fprintf(stderr, "offpay: ignoring malformed OFFPAY_NOW\n");
    }
#endif
    return (uint32_t)time(NULL);
}

/* The terminal's settings while a passphrase is read without echo, for
 * a signal that ends the process meanwhile (Ctrl-C) to give back: else
 * the shell is left typing blind. */
static struct termios        prompt_tty;
static volatile sig_atomic_t prompt_fd = -1;
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_PROMPT_SIGNALS (sizeof prompt_signals / sizeof *prompt_signals)

static void prompt_signal(int sig)
{
    if (prompt_fd >= 0)
        tcsetattr(prompt_fd, TCSAFLUSH, &prompt_tty); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line into a sodium_malloc'd buffer, without echo on a tty. */
static char *read_secret_line(FILE *in, int tty)
{
    struct termios   noecho;
    struct sigaction sa, was[N_PROMPT_SIGNALS];
    char            *buf = sodium_malloc(1024);
    size_t           n;

    if (buf == NULL)
        return NULL;
    if (tty && tcgetattr(fileno(in), &prompt_tty) == 0) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = prompt_signal;
        sigemptyset(&sa.sa_mask);
        prompt_fd = fileno(in);
        for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
            sigaction(prompt_signals[i], &sa, &was[i]);
        noecho = prompt_tty;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(in), TCSAFLUSH, &noecho);
    } else {
        tty = 0;
    }
    if (fgets(buf, 1024, in) == NULL)
        buf[0] = '\0';
    if (tty) {
        tcsetattr(fileno(in), TCSAFLUSH, &prompt_tty);
        prompt_fd = -1;
        for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
            sigaction(prompt_signals[i], &was[i], NULL);
        fputc('\n', stderr);
    }
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

/* Copies s into sodium_malloc'd memory. */
static char *secret_dup(const char *s, size_t n)
{
    char *p = sodium_malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* OFFPAY_PASSPHRASE, taken out of the environment by cli_secure_start
 * (sodium_malloc'd), or NULL when unset or empty. */
static char *env_passphrase;

static void env_passphrase_free(void)
{
    if (env_passphrase != NULL)
        sodium_free(env_passphrase); /* zeroes it */
    env_passphrase = NULL;
}

/* Moves OFFPAY_PASSPHRASE out of the environment: copies the value into
 * guarded memory, removes every entry with unsetenv, then zeroes the
 * entries' strings in place. /proc/PID/environ shows the process's
 * original environment block, which unsetenv alone leaves intact.
 * Returns 0, or -1 when out of memory. */
static int take_env_passphrase(void)
{
    static const char name[] = "OFFPAY_PASSPHRASE=";
    const size_t      nlen = sizeof name - 1;
    char            **found = NULL;
    size_t            count = 0, k = 0;
    int               rc = 0;

    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, name, nlen) == 0)
            count++;
    if (count == 0)
        return 0;
    found = calloc(count, sizeof *found);
    if (found == NULL)
        return -1;
    for (char **e = environ; *e != NULL && k < count; e++)
        if (strncmp(*e, name, nlen) == 0)
            found[k++] = *e;
    /* The first entry is the one getenv would have returned. */
    if (found[0][nlen] != '\0') {
        env_passphrase = secret_dup(found[0] + nlen, strlen(found[0] + nlen));
        if (env_passphrase == NULL)
            rc = -1; /* still wiped below */
        else
            atexit(env_passphrase_free);
    }
    unsetenv("OFFPAY_PASSPHRASE");
    for (k = 0; k < count; k++)
        sodium_memzero(found[k], strlen(found[k]));
    free(found);
    return rc;
}

int cli_secure_start(void)
{
    struct rlimit no_core = {0, 0};

    /* Private state is written 0600/0700 whatever the caller's umask;
     * files meant to be handed out are chmod'ed 0644 explicitly. */
    umask(077);
    /* No core dumps, no ptrace by other processes of the same user, and
     * /proc/PID/{environ,mem,...} owned by root: keys and passphrases in
     * this process's memory stay in it. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
        setrlimit(RLIMIT_CORE, &no_core) != 0) {
        fprintf(stderr, "offpay: cannot disable core dumps: %s\n",
                strerror(errno));
        return -1;
    }
    if (take_env_passphrase() != 0) {
        fprintf(stderr, "offpay: out of memory\n");
        return -1;
    }
    return 0;
}

/* Refuses a new passphrase shorter than the minimum, saying why.
 * Returns 1 when p is refused (message printed). */
static int new_passphrase_too_short(const char *p)
{
    if (offpay__passphrase_check(p) == OFFPAY_OK)
        return 0;
    fprintf(stderr,
            "offpay: the new passphrase is too short: use at least %d "
            "characters. It alone protects the keys in a copied file "
            "against guessing (%s)\n",
            OFFPAY__PASSPHRASE_MIN, offpay_errname(OFFPAY_EPASSPHRASE_SHORT));
    return 1;
}

char *cli_passphrase(const char *file, const char *prompt, int confirm)
{
    char *p;

    if (file != NULL) {
        size_t   len = 0;
        uint8_t *data = cli_read_file(file, 1024, &len);

        if (data == NULL)
            return NULL;
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
            len--;
        p = secret_dup((const char *)data, len);
        sodium_memzero(data, len);
        free(data);
        if (p != NULL && p[0] == '\0') {
            fprintf(stderr, "offpay: %s: the passphrase is empty\n", file);
            sodium_free(p);
            return NULL;
        }
        if (p != NULL && confirm && new_passphrase_too_short(p)) {
            sodium_free(p);
            return NULL;
        }
        return p;
    }
    if (env_passphrase != NULL) {
        if (confirm && new_passphrase_too_short(env_passphrase))
            return NULL;
        return secret_dup(env_passphrase, strlen(env_passphrase));
    }
    return cli_passphrase_tty(prompt, confirm);
}

int cli_has_tty(void)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

char *cli_passphrase_tty(const char *prompt, int confirm)
{
    char *p, *again;
    FILE *tty;

    tty = fopen("/dev/tty", "r+");
    if (tty == NULL) {
        fprintf(stderr, "offpay: no passphrase: use --passphrase-file FILE or "
                        "set OFFPAY_PASSPHRASE (no terminal to ask on)\n");
        return NULL;
    }
    fprintf(stderr, "%s: ", prompt);
    p = read_secret_line(tty, 1);
    if (p != NULL && p[0] == '\0') {
        fprintf(stderr, "offpay: the passphrase is empty\n");
        sodium_free(p);
        p = NULL;
    }
    /* Refuse a short new passphrase before asking to repeat it. */
    if (p != NULL && confirm && new_passphrase_too_short(p)) {
        sodium_free(p);
        p = NULL;
    }
    if (p != NULL && confirm) {
        fprintf(stderr, "Repeat it: ");
        again = read_secret_line(tty, 1);
        if (again == NULL || strlen(p) != strlen(again) ||
            sodium_memcmp(p, again, strlen(p)) != 0) {
            fprintf(stderr, "offpay: the passphrases differ\n");
            sodium_free(p);
            p = NULL;
        }
        if (again != NULL)
            sodium_free(again);
    }
    fclose(tty);
    return p;
}

void cli_passphrase_free(char *p)
{
    if (p != NULL)
        sodium_free(p);
}

int cli_code_too_long(const char *text, size_t n, const char *where,
                      int *status)
{
    size_t most = offpay_text_max_len(text, n);

    if (n <= most)
        return 0;
    fprintf(stderr,
            "offpay: the code %s is too long: %zu characters, at most %zu "
            "for %s (%s)\n",
            where, n, most,
            most == OFFPAY_TEXT_MAX ? "any offpay code" : "its type",
            offpay_errname(OFFPAY_ETOOBIG));
    *status = EXIT_REJECTED;
    return 1;
}

/* Reads one line of standard input into a malloc'd buffer that grows as
 * needed, never beyond OFFPAY_TEXT_MAX characters plus a CR LF; *n gets the
 * length. Returns NULL at end of input before any character, or on a line
 * longer than that (*too_long set) or no memory. */
static char *read_line(size_t *n, int *too_long)
{
    size_t cap = 4096, len = 0;
    char  *buf = malloc(cap), *nb;
    int    c;

    *n = 0;
    *too_long = 0;
    if (buf == NULL)
        return NULL;
    while ((c = getchar()) != EOF) {
        if (len + 1 >= cap) {
            if (cap >= OFFPAY_TEXT_MAX + 3) {
                *too_long = 1;
                *n = len;
                free(buf);
                return NULL;
            }
            cap = cap * 2 < OFFPAY_TEXT_MAX + 3 ? cap * 2 : OFFPAY_TEXT_MAX + 3;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        buf[len++] = (char)c;
        if (c == '\n')
            break;
    }
    if (len == 0 && c == EOF) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *n = len;
    return buf;
}

/* The width and height a PNG file's header states (its IHDR chunk).
 * Returns 0, or -1 when path is not a PNG. */
static int png_size(const char *path, uint32_t *w, uint32_t *h)
{
    static const uint8_t sig[12] = {0x89, 'P',  'N', 'G', '\r', '\n',
                                    0x1a, '\n', 0,   0,   0,    13};
    uint8_t              head[24];
    FILE                *f = fopen(path, "rb");
    size_t               got;

    if (f == NULL)
        return -1;
    got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got != sizeof head || memcmp(head, sig, sizeof sig) != 0 ||
        memcmp(head + 12, "IHDR", 4) != 0)
        return -1;
    *w = (uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 |
         (uint32_t)head[18] << 8 | head[19];
    *h = (uint32_t)head[20] << 24 | (uint32_t)head[21] << 16 |
         (uint32_t)head[22] << 8 | head[23];
    return 0;
}

/* What the file at path is by its first bytes: "PNG", another image
 * format's name, or NULL (unknown, or it does not read). */
static const char *image_kind(const char *path)
{
    static const struct {
        size_t      at, len;
        const char *magic, *name;
    } kinds[] = {
        {0, 8, "\x89PNG\r\n\x1a\n", "PNG"},
        {0, 3, "\xff\xd8\xff", "JPEG"},
        {0, 4, "GIF8", "GIF"},
        {0, 2, "BM", "BMP"},
        {8, 4, "WEBP", "WebP"},
        {4, 8, "ftypheic", "HEIC"},
        {4, 8, "ftypmif1", "HEIF"},
        {0, 4, "II*\0", "TIFF"},
        {0, 4, "MM\0*", "TIFF"},
        {0, 4, "%PDF", "PDF"},
    };
    uint8_t head[16];
    FILE   *f = fopen(path, "rb");
    size_t  got;

    if (f == NULL)
        return NULL;
    got = fread(head, 1, sizeof head, f);
    fclose(f);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (got >= kinds[i].at + kinds[i].len &&
            memcmp(head + kinds[i].at, kinds[i].magic, kinds[i].len) == 0)
            return kinds[i].name;
    return NULL;
}

/* 1 when standard input holds anything but blank lines after the line
 * already read. */
static int more_input(void)
{
    int c;

    while ((c = getchar()) != EOF)
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t')
            return 1;
    return 0;
}

static char *read_code(const char *image, const char *code, int *status)
{
    char      *text = NULL;
    size_t     n;
    int        too_long = 0;
    offpay_err rc;

    if (image != NULL && code != NULL) {
        *status = cli_usage_error("give the code once: --image or --code, "
                                  "not both");
        return NULL;
    }
    if (image != NULL) {
        rc = offpay_qr_scan_file(image, &text);
        if (rc != OFFPAY_OK) {
            uint32_t w = 0, h = 0;

            if (cli_is_rejection(rc)) /* no code, too large, too crowded */
                *status = EXIT_REJECTED;
            if ((rc == OFFPAY_EIMAGE || rc == OFFPAY_EIMAGE_TOO_LARGE) &&
                png_size(image, &w, &h) == 0 &&
                (w > OFFPAY_QR_MAX_DIM || h > OFFPAY_QR_MAX_DIM)) {
                fprintf(stderr,
                        "offpay: %s: the image is %u x %u pixels; at most "
                        "%d a side is read: crop or scale it down (%s)\n",
                        image, w, h, OFFPAY_QR_MAX_DIM,
                        offpay_errname(OFFPAY_EIMAGE_TOO_LARGE));
                *status = EXIT_REJECTED;
                return NULL;
            }
            if (rc == OFFPAY_EIMAGE_TOO_LARGE) {
                struct stat st;

                if (stat(image, &st) == 0 &&
                    st.st_size > OFFPAY_QR_SCAN_MAX_BYTES)
                    fprintf(stderr,
                            "offpay: %s: the file is larger than the %ld "
                            "MiB read: crop the image to the code or scale "
                            "it down (%s)\n",
                            image, OFFPAY_QR_SCAN_MAX_BYTES / (1024 * 1024),
                            offpay_errname(rc));
                else if (png_size(image, &w, &h) == 0)
                    fprintf(stderr,
                            "offpay: %s: the image is %u x %u pixels, more "
                            "than is read at once (%ld MiB once decoded): "
                            "crop it to the code or scale it down (%s)\n",
                            image, w, h, OFFPAY_QR_SCAN_MAX_RAW / (1024 * 1024),
                            offpay_errname(rc));
                else
                    fprintf(stderr,
                            "offpay: %s: the image is larger than is read "
                            "at once: crop it to the code or scale it down "
                            "(%s)\n",
                            image, offpay_errname(rc));
                *status = EXIT_REJECTED;
                return NULL;
            }
            if (rc == OFFPAY_EIMAGE) {
                /* what the file is, not "cannot read or write" */
                const char *kind = image_kind(image);

                if (kind != NULL && strcmp(kind, "PNG") == 0)
                    fprintf(stderr,
                            "offpay: %s: a damaged or cut-short PNG image: "
                            "save or take it again (%s)\n",
                            image, offpay_errname(rc));
                else if (kind != NULL)
                    fprintf(stderr,
                            "offpay: %s is a %s image: only PNG images are "
                            "read; save or convert it as PNG (%s)\n",
                            image, kind, offpay_errname(rc));
                else
                    fprintf(stderr,
                            "offpay: %s is not a PNG image: only PNG images "
                            "are read (%s)\n",
                            image, offpay_errname(rc));
                *status = EXIT_REJECTED;
                return NULL;
            }
            cli_fail_at(NULL, "reading", image, rc);
            if (rc == OFFPAY_ESCAN)
                fprintf(stderr, "  take the picture again: the whole code, "
                                "sharp, with a little white around it "
                                "(nothing was read, nothing charged)\n");
            if (rc == OFFPAY_ESCAN_SEVERAL)
                fprintf(stderr, "  take the picture again with one code "
                                "in it: cover the others or crop them out "
                                "(nothing was read, nothing charged)\n");
            return NULL;
        }
        return text;
    }
    if (code != NULL) {
        if (cli_code_too_long(code, strlen(code), "argument", status))
            return NULL;
        return strdup(code);
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "Scan the code (or paste it and press Enter): ");
    for (;;) {
        text = read_line(&n, &too_long);
        if (text == NULL)
            break;
        /* A keyboard-wedge scanner ends what it types with Enter (CR, LF or
         * both), some with a Tab or a space before it: none is part of a
         * code (Base45 text never ends in a space). */
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
                         text[n - 1] == '\t' || text[n - 1] == ' '))
            text[--n] = '\0';
        /* On a terminal an empty line is what a scanner ending with CR LF
         * left of the last scan (the terminal made its CR the line's end):
         * the code comes next. */
        if (n > 0 || !isatty(STDIN_FILENO))
            break;
        free(text);
    }
    if (text == NULL) {
        if (too_long) {
            fprintf(stderr,
                    "offpay: the code on standard input is too long: more "
                    "than %zu characters, the most for any offpay code (%s)\n",
                    (size_t)OFFPAY_TEXT_MAX, offpay_errname(OFFPAY_ETOOBIG));
            *status = EXIT_REJECTED;
        } else {
            fprintf(stderr, "offpay: no code on standard input\n");
        }
        return NULL;
    }
    if (n == 0) {
        fprintf(stderr, "offpay: an empty line, not a code\n");
        *status = EXIT_REJECTED;
        free(text);
        return NULL;
    }
    /* a NUL byte would end the text early and the rest go unread */
    if (memchr(text, '\0', n) != NULL) {
        fprintf(stderr, "offpay: the line on standard input holds a NUL byte: "
                        "not a code (%s)\n",
                offpay_errname(OFFPAY_EMALFORMED));
        *status = EXIT_REJECTED;
        free(text);
        return NULL;
    }
    /* a scanner that ends each code with CR alone, twice: two lines */
    if (memchr(text, '\r', n) != NULL) {
        *status = cli_usage_error("more than one line on standard input "
                                  "(lines ended by CR): give one code");
        free(text);
        return NULL;
    }
    if (cli_code_too_long(text, n, "on standard input", status)) {
        free(text);
        return NULL;
    }
    /* A pipe or file must hold one code: a second one would be ignored.
     * (A terminal is not read further: a scanner types one line.) */
    if (!isatty(STDIN_FILENO) && more_input()) {
        *status = cli_usage_error("more than one line on standard input: "
                                  "give one code");
        free(text);
        return NULL;
    }
    return text;
}

uint8_t *cli_read_file(const char *path, size_t max, size_t *len)
{
    uint8_t   *data = NULL;
    offpay_err rc = offpay__file_read(path, max, &data, len);

    if (rc != OFFPAY_OK) {
        cli_fail_at(NULL, "reading", path, rc);
        return NULL;
    }
    return data;
}

const char *cli_looks_like(const uint8_t *b, size_t n, char *buf, size_t cap)
{
    uint8_t *bin = NULL;
    size_t   text = n, got = 0, i;
    int      printable = n > 0;

    if (n >= 2 && b[0] == OFFPAY_PROTOCOL_VERSION &&
        strcmp(offpay_msg_type_name((offpay_msg_type)b[1]), "unknown") != 0) {
        snprintf(buf, cap, "a %s (an offpay message)",
                 offpay_msg_type_name((offpay_msg_type)b[1]));
        return buf;
    }
    if (n >= 8 && memcmp(b, OFFPAY__WALLET_MAGIC, 8) == 0)
        return "a passphrase-sealed file (a wallet, issuer.sealed, "
               "root.sealed or terminal.key)";
    if (n >= 8 && memcmp(b, OFFPAY__LOG_MAGIC, 8) == 0)
        return "a wallet's spend log";
    if (n >= 16 && memcmp(b, "SQLite format 3", 16) == 0)
        return "a SQLite database (a ledger, or a terminal's terminal.db)";
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "a PNG image (a QR code? 'offpay decode --image FILE' reads "
               "it)";
    while (text > 0 &&
           (b[text - 1] == '\n' || b[text - 1] == '\r' || b[text - 1] == ' '))
        text--;
    for (i = 0; i < text; i++)
        printable &= (b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\n' ||
                     b[i] == '\r' || b[i] == '\t';
    if (!printable)
        return NULL;
    if (text == 2 * OFFPAY_PK_BYTES &&
        strspn((const char *)b, "0123456789abcdefABCDEF") >= text)
        return "a public key in hex (as the issuer's root.pub holds)";
    if (text > 5 && b[0] == 'O' && b[1] == 'P' && b[4] == ':') {
        for (unsigned t = 0; t < 256; t++)
            if (offpay_msg_prefix((offpay_msg_type)t) != NULL &&
                memcmp(b, offpay_msg_prefix((offpay_msg_type)t), 5) == 0) {
                snprintf(buf, cap,
                         "a %s's text form (%.5s...), not its "
                         "binary file",
                         offpay_msg_type_name((offpay_msg_type)t),
                         (const char *)b);
                return buf;
            }
    }
    for (i = 0; text > 0 && b[0] == '{' && i + 17 <= text; i++)
        if (memcmp(b + i, "\"offpay-evidence\"", 17) == 0)
            return "a case's evidence file (JSON)";
    if (text > 0 && b[0] == '{')
        return "JSON (an answer of offpayd's? its messages are base64 "
               "fields: decode the one meant, base64 -d)";
    bin = malloc(OFFPAY_MSG_MAX_BYTES);
    if (bin != NULL &&
        cli_base64_text(b, n, bin, OFFPAY_MSG_MAX_BYTES, &got) == 1 &&
        got >= 2 && bin[0] == OFFPAY_PROTOCOL_VERSION &&
        strcmp(offpay_msg_type_name((offpay_msg_type)bin[1]), "unknown") != 0) {
        snprintf(buf, cap, "a %s in base64 (as offpayd's JSON carries it)",
                 offpay_msg_type_name((offpay_msg_type)bin[1]));
        free(bin);
        return buf;
    }
    free(bin);
    return "a text file";
}

int cli_expect_message(const char *what, const char *opt, const char *path,
                       const uint8_t *b, size_t n, offpay_msg_type want,
                       const char *give)
{
    char        like[128];
    const char *l;

    if (n >= 2 && b[0] == OFFPAY_PROTOCOL_VERSION && b[1] == (uint8_t)want)
        return 0;
    l = cli_looks_like(b, n, like, sizeof like);
    fprintf(stderr,
            "offpay: %s: %s %s is not a %s: it looks like %s; give %s\n", what,
            opt, path, offpay_msg_type_name(want),
            l != NULL ? l : "nothing offpay writes", give);
    return -1;
}

int cli_server_url(const char *option, const char *url)
{
    const char *path;
    size_t      n;

    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cli_usage_error("%s is offpayd's address with its scheme, "
                               "such as http://127.0.0.1:8080 (got '%.100s')",
                               option, url);
    /* every request's path begins with /v1: an address whose path ends
     * with it (after the host, whatever the host is named) would give
     * /v1/v1/..., "no such endpoint" (a proxy's prefix before it stays) */
    path = strchr(strstr(url, "://") + 3, '/');
    n = path != NULL ? strlen(path) : 0;
    while (n > 0 && path[n - 1] == '/')
        n--;
    if (n >= 3 && strncmp(path + n - 3, "/v1", 3) == 0)
        return cli_usage_error("%s is offpayd's address without /v1 (each "
                               "request's path begins with it), such as "
                               "http://127.0.0.1:8080 (got '%.100s')",
                               option, url);
    return 0;
}

int cli_base64_text(const uint8_t *data, size_t n, uint8_t *out, size_t cap,
                    size_t *got)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                   "opqrstuvwxyz0123456789+/=";
    size_t            text = n, i;

    while (text > 0 && (data[text - 1] == '\n' || data[text - 1] == '\r'))
        text--;
    for (i = 0; i < text && data[i] != 0 &&
                memchr(alphabet, data[i], sizeof alphabet - 1) != NULL;
         i++)
        ;
    if (text == 0 || i < text)
        return 0;
    *got = offpay__base64_decode((const char *)data, text, out, cap);
    return *got != 0 ? 1 : -1;
}

uint8_t *cli_read_credential(const char *path, size_t max, size_t *len,
                             int *status)
{
    size_t   n = 0;
    uint8_t *data = cli_read_file(path, 4 * max / 3 + 8, &n), *bin = NULL;
    int      b64;

    *status = EXIT_FAILURE_IO;
    if (data == NULL)
        return NULL;
    *status = EXIT_REJECTED;
    /* Binary credentials begin with their version byte, never a base64
     * character: text that is all base64 is the text form. */
    bin = malloc(max);
    b64 = bin != NULL ? cli_base64_text(data, n, bin, max, len) : 0;
    if (b64 == 1) {
        free(data);
        return bin;
    }
    free(bin);
    if (b64 < 0) {
        fprintf(stderr, "offpay: %s: neither a credential nor one in base64 "
                        "(EMALFORMED)\n",
                path);
        free(data);
        return NULL;
    }
    if (n > max) {
        fprintf(stderr, "offpay: %s: too large for a credential (ETOOBIG)\n",
                path);
        free(data);
        return NULL;
    }
    *len = n;
    return data;
}

const char *cli_hours(uint64_t seconds, char buf[32])
{
    uint64_t tenths = seconds / 360;

    snprintf(buf, 32, "%llu.%llu", (unsigned long long)(tenths / 10),
             (unsigned long long)(tenths % 10));
    return buf;
}

const char *cli_iso_time(uint32_t t, char buf[32])
{
    return offpay__unix_time_iso(t, buf);
}

int cli_write_file(const char *path, const uint8_t *data, size_t len)
{
    offpay_err rc = offpay__file_write_atomic(path, data, len);

    if (rc != OFFPAY_OK) {
        cli_fail_at("cannot write", "saving", path, rc);
        return -1;
    }
    return 0;
}

int cli_parse_key(const char *hex_or_file, uint8_t pk[OFFPAY_PK_BYTES])
{
    char        buf[2 * OFFPAY_PK_BYTES + 8];
    const char *hex = hex_or_file;
    size_t      got = 0, n;
    const char *end = NULL;
    int         binary = 0;
    char        like[128];
    const char *l = NULL;

    if (strlen(hex_or_file) != 2 * OFFPAY_PK_BYTES) {
        size_t   len = 0;
        /* read more than a key holds, to say what the file is instead */
        uint8_t *data = cli_read_file(hex_or_file, 65536, &len);

        if (data == NULL)
            return -1;
        for (size_t i = 0; i < len; i++)
            binary |= data[i] == 0 || data[i] >= 0x80;
        l = cli_looks_like(data, len, like, sizeof like);
        if (len > sizeof buf - 1)
            len = sizeof buf - 1;
        memcpy(buf, data, len);
        free(data);
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        buf[len] = '\0';
        hex = buf;
    }
    n = strlen(hex);
    if (binary || n != 2 * OFFPAY_PK_BYTES ||
        sodium_hex2bin(pk, OFFPAY_PK_BYTES, hex, n, NULL, &got, &end) != 0 ||
        got != OFFPAY_PK_BYTES || end != hex + n) {
        if (l != NULL && strcmp(l, "a text file") != 0)
            fprintf(stderr,
                    "offpay: %s: not a public key: give 64 hex digits, or "
                    "the file that holds them (the issuer's root.pub); this "
                    "file looks like %s\n",
                    hex_or_file, l);
        else
            fprintf(stderr,
                    "offpay: %s: not a public key: give 64 hex digits, or the "
                    "file that holds them (the issuer's root.pub)%s\n",
                    hex_or_file,
                    binary ? "; this is a binary file of nothing offpay "
                             "writes"
                           : "");
        return -1;
    }
    return 0;
}

int cli_currency(const char *alpha, uint16_t *currency)
{
    char up[4] = "";

    /* "eur" is EUR: the codes are upper case, people type either */
    for (size_t i = 0; i < 3 && alpha[i] != '\0'; i++)
        up[i] = alpha[i] >= 'a' && alpha[i] <= 'z' ? (char)(alpha[i] - 32)
                                                   : alpha[i];
    if (strlen(alpha) > 3 ||
        offpay_currency_from_alpha(up, currency) != OFFPAY_OK) {
        fprintf(stderr,
                "offpay: %s: unknown currency (use an ISO 4217 "
                "code such as EUR or USD)\n",
                alpha);
        return -1;
    }
    return 0;
}

/* The example is the currency's own ("1250" in JPY, "12.500" in KWD), and
 * a text with more decimals than the currency has is told both counts. */
int cli_amount(const char *text, uint16_t currency, int64_t *minor)
{
    offpay_err  rc = offpay_amount_parse(text, currency, minor);
    const char *alpha = offpay_currency_alpha(currency);
    int         e = offpay_currency_exponent(currency);
    char        ex[OFFPAY__AMOUNT_EXAMPLE_MAX], why[OFFPAY__AMOUNT_WHY_MAX];

    if (rc == OFFPAY_OK)
        return 0;
    offpay__amount_example(currency, ex);
    offpay__amount_too_precise(text, currency, why);
    if (rc == OFFPAY_EAMOUNT && why[0] != '\0')
        fprintf(stderr, "offpay: %s: %s (%s: write amounts like %s)\n", text,
                offpay_strerror(rc), why, ex);
    else if (e == 0)
        fprintf(stderr,
                "offpay: %s: %s (write %s amounts like %s: digits only, no "
                "decimals, no sign)\n",
                text, offpay_strerror(rc), alpha, ex);
    else
        fprintf(stderr,
                "offpay: %s: %s (write %s amounts like %s, with at most %d "
                "decimals, no sign)\n",
                text, offpay_strerror(rc), alpha, ex, e);
    return -1;
}

const char *cli_money(int64_t minor, uint16_t currency, char *buf, size_t cap)
{
    char        num[OFFPAY_AMOUNT_TEXT_MAX];
    const char *alpha = offpay_currency_alpha(currency);

    if (offpay_amount_format(minor, currency, num, sizeof num) != OFFPAY_OK)
        snprintf(num, sizeof num, "%lld", (long long)minor);
    snprintf(buf, cap, "%s %s", num, alpha ? alpha : "???");
    return buf;
}

int cli_emit_code(const char *text, const char *png, const char *svg,
                  int show_art, int force)
{
    offpay_err rc;
    int        status = 0;

    if (png != NULL)
        status = cli_output_qr("--png", png, force, text, 0);
    if (status == 0 && svg != NULL)
        status = cli_output_qr("--svg", svg, force, text, 1);
    if (status == 0 && show_art) {
        char *art = NULL;

        if ((rc = offpay_qr_render_utf8(text, &art)) != OFFPAY_OK) {
            fprintf(stderr, "offpay: cannot draw the code: %s (%s)\n",
                    offpay_strerror(rc), offpay_errname(rc));
            status = EXIT_FAILURE_IO;
        } else {
            fputs(art, stderr);
        }
        free(art);
    }
    /* The text always: a code already made must not be lost. */
    printf("%s\n", text);
    fflush(stdout);
    return status;
}

char *cli_read_code(const char *image, const char *code, int *status)
{
    int   fail = EXIT_FAILURE_IO;
    char *text = read_code(image, code, &fail);

    if (text == NULL)
        *status = fail;
    return text;
}

/* Prints the part of a group's help about one subcommand: its entry in
 * the list (the line "  NAME ..." and the indented lines under it), then
 * the notes after the list. */
static void print_sub_help(const char *group, const char *help,
                           const char *name)
{
    size_t      nlen = strlen(name);
    const char *p = help, *notes = NULL;
    int         in = 0, in_list = 0;

    /* The group's usage line with SUBCOMMAND replaced by name. */
    {
        const char *sub = strstr(help, "SUBCOMMAND");
        const char *eol = strchr(help, '\n');

        if (sub != NULL && eol != NULL && sub < eol)
            printf("%.*s%s%.*s\n\n", (int)(sub - help), help, name,
                   (int)(eol - sub - 10), sub + 10);
        else
            printf("Usage: offpay %s %s [OPTIONS]\n\n", group, name);
    }
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t      n = eol != NULL ? (size_t)(eol - p) + 1 : strlen(p);
        int         entry = n > 2 && p[0] == ' ' && p[1] == ' ' && p[2] != ' ';

        if (strncmp(p, "Subcommands:", 12) == 0)
            in_list = 1;
        else if (in_list && n <= 1) {
            in_list = 0;
            notes = p + n;
        }
        if (in && (n <= 1 || entry))
            in = 0;
        if (in_list && entry && n > 2 + nlen &&
            strncmp(p + 2, name, nlen) == 0 &&
            (p[2 + nlen] == ' ' || p[2 + nlen] == '\n'))
            in = 1;
        if (in)
            fwrite(p, 1, n, stdout);
        p += n;
    }
    if (notes != NULL)
        printf("\n%s", notes);
    printf("\nRun 'offpay %s --help' for every %s subcommand.\n", group, group);
}

/* The long options the current parse met (cli_getopt), which
 * cli_dispatch checks against the subcommand's; more than the array holds
 * is refused (met_over). */
static const char *met[64];
static size_t      n_met;
static int         met_over;

int cli_listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    while (list != NULL && *list != '\0') {
        const char *end = strchr(list, ' ');
        size_t      len = end != NULL ? (size_t)(end - list) : strlen(list);

        if (len == n && strncmp(list, name, n) == 0)
            return 1;
        list = end != NULL ? end + 1 : list + len;
    }
    return 0;
}

int cli_only_opts(const char *cmd, const char *common, const char *own,
                  const char *help_of)
{
    if (met_over)
        return cli_usage_error("%s: more than %zu options: see 'offpay %s "
                               "--help'",
                               cmd, sizeof met / sizeof *met, help_of);
    for (size_t i = 0; i < n_met; i++)
        if (strcmp(met[i], "help") != 0 && !cli_listed(common, met[i]) &&
            !cli_listed(own, met[i]))
            return cli_usage_error("%s: --%s is not an option of '%s'; see "
                                   "'offpay %s --help'",
                                   cmd, met[i], cmd, help_of);
    return 0;
}

int cli_getopt(int argc, char **argv, const struct option *opts,
               const char *repeatable, uint64_t *seen)
{
    int idx = -1;
    int c = getopt_long(argc, argv, "h", opts, &idx);

    /* getopt_long takes a long option's unambiguous prefix (--acc for
     * --account); offpay wants each given whole, so that a mistaken name
     * (--backup for --from) is never taken as another option it begins */
    if (c != -1 && c != '?' && idx >= 0 && optind >= 2) {
        /* the element that named it: before its value, when the value
         * was the next element */
        const char *el =
            optarg != NULL && optind >= 3 && optarg == argv[optind - 1]
                ? argv[optind - 2]
                : argv[optind - 1];
        size_t n = strncmp(el, "--", 2) == 0 ? strcspn(el + 2, "=") : 0;

        if (n != 0 && n != strlen(opts[idx].name)) {
            fprintf(stderr,
                    "%s: unrecognized option '--%.*s' (options are given "
                    "whole: it only begins --%s)\n"
                    "(see --help)\n",
                    argv[0], (int)n, el + 2, opts[idx].name);
            return '?';
        }
    }
    if (c != -1 && c != '?' && idx >= 0) {
        if (n_met < sizeof met / sizeof *met)
            met[n_met++] = opts[idx].name;
        else
            met_over = 1;
    }

    if (c == -1 || c == '?' || idx < 0 || idx >= 64 ||
        opts[idx].has_arg == no_argument ||
        (repeatable != NULL && strcmp(opts[idx].name, repeatable) == 0))
        return c;
    if (*seen & ((uint64_t)1 << idx)) {
        fprintf(stderr,
                "%s: option '--%s' given twice: give it once\n"
                "(see --help)\n",
                argv[0], opts[idx].name);
        return CLI_OPT_TWICE;
    }
    *seen |= (uint64_t)1 << idx;
    return c;
}

int cli_dispatch(const char *group, const char *help, const char *common,
                 int argc, char **argv,
                 int (*parse)(int argc, char **argv, void *args), void *args,
                 const cli_sub *subs)
{
    static char    prog[128];
    const cli_sub *s;
    const char    *name;
    int            rc, npos;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(help, stdout);
        fputs(cli_exit_help, stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    name = argv[1];
    for (s = subs; s->name != NULL; s++)
        if (strcmp(s->name, name) == 0)
            break;
    if (s->name == NULL)
        return cli_usage_error("%s: unknown subcommand '%s'", group, name);
    /* getopt sees "SUBCOMMAND OPTIONS...": argv[1] is its program name,
     * which prefixes its messages: make it the whole command. */
    snprintf(prog, sizeof prog, "offpay %s %s", group, name);
    argv[1] = prog;
    n_met = 0;
    met_over = 0;
    rc = parse(argc - 1, argv + 1, args);
    if (rc < 0) {
        print_sub_help(group, help, name);
        fputs(cli_exit_help, stdout);
        return EXIT_OK;
    }
    if (rc != 0)
        return rc;
    {
        char cmd[96];

        snprintf(cmd, sizeof cmd, "%s %s", group, name);
        if ((rc = cli_only_opts(cmd, common, s->opts, cmd)) != 0)
            return rc;
    }
    npos = argc - 1 - optind;
    if (npos > (s->positional ? 1 : 0))
        return cli_usage_error("%s %s: unexpected argument '%s'", group, name,
                               argv[1 + optind + (s->positional ? 1 : 0)]);
    return s->run(args, npos == 1 ? argv[1 + optind] : NULL);
}

/* ---- Output files (--png, --svg, --out, --receipt-png) ---------------- */

/* Files that mark a directory as an offpay state's: a terminal's or an
 * issuer's. Nothing is ever written inside such a directory. */
static const char *const state_markers[] = {
    "terminal.db", "terminal.key", "issuer.sealed", "root.sealed", NULL};

/* 1 when the existing file at path starts like a sealed offpay file (a
 * wallet, terminal.key, issuer.sealed, root.sealed), a wallet's spend log,
 * or a SQLite database (a terminal's journal). */
static int looks_like_state(const char *path)
{
    static const char sqlite_magic[16] = "SQLite format 3";
    char              head[16];
    size_t            got;
    struct stat       st;
    FILE             *f;

    /* Only regular files are read: opening a FIFO would block. */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    got = fread(head, 1, sizeof head, f);
    fclose(f);
    return (got >= OFFPAY__WALLET_MAGIC_BYTES &&
            (memcmp(head, OFFPAY__WALLET_MAGIC, OFFPAY__WALLET_MAGIC_BYTES) ==
                 0 ||
             memcmp(head, OFFPAY__LOG_MAGIC, OFFPAY__WALLET_MAGIC_BYTES) ==
                 0)) ||
           (got == sizeof head && memcmp(head, sqlite_magic, sizeof head) == 0);
}

/* The directory part of path into dir ("." when it has none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Why path must never be written by an output option, or NULL. Checks the
 * directory (its marker files), the path itself, its "path.tmp" (which
 * offpay__file_write_atomic truncates) and, for a name ending in .lock or
 * .tmp, the file it belongs to. */
static const char *state_reason(const char *path)
{
    char        dir[4096], other[4200];
    size_t      n = strlen(path), cut = 0;
    struct stat st;

    dir_of(path, dir, sizeof dir);
    for (int i = 0; state_markers[i] != NULL; i++) {
        snprintf(other, sizeof other, "%s/%s", dir, state_markers[i]);
        if (stat(other, &st) == 0)
            return strncmp(state_markers[i], "terminal", 8) == 0
                       ? "it is inside a terminal's directory"
                       : "it is inside an issuer's directory";
    }
    if (looks_like_state(path))
        return "it holds an offpay state (a wallet, a key or a journal)";
    snprintf(other, sizeof other, "%s.tmp", path);
    if (looks_like_state(other))
        return "its temporary file would overwrite an offpay state";
    if (n > 5 && strcmp(path + n - 5, ".lock") == 0)
        cut = 5;
    else if (n > 4 && strcmp(path + n - 4, ".tmp") == 0)
        cut = 4;
    if (cut > 0) {
        snprintf(other, sizeof other, "%.*s", (int)(n - cut), path);
        if (looks_like_state(other))
            return "it is the lock or temporary file of an offpay state";
    }
    return NULL;
}

int cli_output_check(const char *opt, const char *path, int force)
{
    char        dir[4096], probe[4200];
    const char *why;
    struct stat st;
    int         fd;

    if (path == NULL)
        return 0;
    if (path[0] == '\0')
        return cli_usage_error("%s: an empty file name", opt);
    why = state_reason(path);
    if (why != NULL) {
        fprintf(stderr,
                "offpay: %s %s: refused: %s; an output option never "
                "writes there, even with --force\n",
                opt, path, why);
        return EXIT_USAGE;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "offpay: %s %s: is a directory (%s)\n", opt, path,
                    offpay_errname(OFFPAY_EISDIR));
            return EXIT_USAGE;
        }
        if (!force) {
            fprintf(stderr,
                    "offpay: %s %s: the file exists; give --force to "
                    "replace it (%s)\n",
                    opt, path, offpay_errname(OFFPAY_EEXISTS));
            return EXIT_USAGE;
        }
    }
    /* Whether a file can be created there: create one and remove it. */
    dir_of(path, dir, sizeof dir);
    snprintf(probe, sizeof probe, "%s/.offpay-out-XXXXXX", dir);
    fd = mkstemp(probe);
    if (fd < 0) {
        fprintf(stderr, "offpay: %s %s: cannot create a file in %s: %s\n", opt,
                path, dir, strerror(errno));
        return EXIT_FAILURE_IO;
    }
    close(fd);
    unlink(probe);
    return 0;
}

int cli_output_write(const char *opt, const char *path, int force,
                     const uint8_t *data, size_t len)
{
    offpay_err rc;
    int        status = cli_output_check(opt, path, force);

    if (status != 0)
        return status;
    rc = offpay__file_write_atomic(path, data, len);
    if (rc != OFFPAY_OK) {
        fprintf(stderr, "offpay: %s %s: cannot write: %s (%s)\n", opt, path,
                offpay_strerror(rc), offpay_errname(rc));
        return EXIT_FAILURE_IO;
    }
    return 0;
}

/* Draws text as a PNG (svg 0) or an SVG into a private temporary file
 * beside path and returns its bytes (malloc'd, *len set), or NULL with a
 * message printed. The QR library writes files only; the bytes then go
 * through cli_output_write like every other output. */
static uint8_t *render_qr(const char *opt, const char *path, const char *text,
                          int svg, size_t *len)
{
    char       dir[4096], tmp[4200], tmp2[4210];
    uint8_t   *bytes = NULL;
    offpay_err rc;
    int        fd;

    dir_of(path, dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s/.offpay-out-XXXXXX", dir);
    fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "offpay: %s %s: cannot create a file in %s: %s\n", opt,
                path, dir, strerror(errno));
        return NULL;
    }
    close(fd);
    rc = svg ? offpay_qr_write_svg(text, tmp, 4)
             : offpay_qr_write_png(text, tmp, 4, 4);
    if (rc == OFFPAY_OK)
        rc = offpay__file_read(tmp, 64u * 1024u * 1024u, &bytes, len);
    if (rc != OFFPAY_OK)
        fprintf(stderr, "offpay: %s %s: cannot draw the code: %s (%s)\n", opt,
                path, offpay_strerror(rc), offpay_errname(rc));
    unlink(tmp);
    snprintf(tmp2, sizeof tmp2, "%s.tmp", tmp);
    unlink(tmp2);
    return bytes;
}

int cli_output_qr(const char *opt, const char *path, int force,
                  const char *text, int svg)
{
    size_t   len = 0;
    uint8_t *bytes;
    int      status = cli_output_check(opt, path, force);

    if (status != 0)
        return status;
    bytes = render_qr(opt, path, text, svg, &len);
    if (bytes == NULL)
        return EXIT_FAILURE_IO;
    status = cli_output_write(opt, path, force, bytes, len);
    free(bytes);
    return status;
}
