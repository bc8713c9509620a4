/*
 * cli.h — shared pieces of the offpay command-line tool: exit statuses,
 * passphrase and code input, amounts, output of codes (text, PNG, SVG,
 * terminal art), and the subcommand entry points (one file each).
 */
#ifndef OFFPAY_CLI_H
#define OFFPAY_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "offpay/offpay.h"

#if defined(__GNUC__)
#define CLI_UNUSED __attribute__((unused))
#else
#define CLI_UNUSED
#endif

/* Exit statuses, the same for every subcommand (see `offpay --help`). */
#define EXIT_OK         0 /* done; for `terminal accept`: accepted */
#define EXIT_REJECTED   1 /* a code or credential was refused: reason printed */
#define EXIT_USAGE      2 /* bad command line */
#define EXIT_FAILURE_IO 3 /* a file, database, passphrase or system error */

/* Subcommand groups: each parses its own arguments after the group name. */
int cli_issuer(int argc, char **argv);
int cli_wallet(int argc, char **argv);
int cli_terminal(int argc, char **argv);
int cli_decode(int argc, char **argv);
int cli_admin(int argc, char **argv);
int cli_verify_evidence(int argc, char **argv);

/* "offpay: <what>: <offpay_strerror(rc)>" on stderr. Returns the exit
 * status for rc: EXIT_REJECTED for verification errors, else
 * EXIT_FAILURE_IO (or EXIT_USAGE for OFFPAY_EINVAL). */
int cli_fail(const char *what, offpay_err rc);
/* The library's log sink (offpay_set_log) for the CLI: stderr, as the
 * default, and it notes offpayd's reason once printed, so that cli_fail
 * says "(see above)" instead of printing it again. */
void cli_log(void *ctx, const char *line);
/* cli_fail for a command that talks to offpayd: OFFPAY_EIO is said as
 * offpayd unreachable (or answering what it should not), not as a disk
 * error. */
int cli_fail_online(const char *what, offpay_err rc);
/*
 * cli_fail_at — cli_fail for a failure rc while doing ("opening",
 * "reading", "saving", "creating") the file or directory path, after what
 * (a context such as "cannot make a code", or NULL). An OS error reads as
 * its cause and the path: "offpay: disk full while saving me.opw: nothing
 * was changed (ENOSPC)" ("nothing was changed" when saving: the library
 * names these errors only for a write that changed nothing). Any other
 * error prints as cli_fail(what, or else path, rc). Returns the exit status.
 */
int cli_fail_at(const char *what, const char *doing, const char *path,
                offpay_err rc);
/* Prints a usage error and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* 1 when rc is a refusal of the input (decode or verification error). */
int cli_is_rejection(offpay_err rc);

/* The current time: the system clock; in test builds
 * (-DOFFPAY_TEST_HOOKS=ON) OFFPAY_NOW from the environment when set. */
uint32_t cli_now(void);

/*
 * cli_secure_start — first thing main does (after offpay_init): umask 077;
 * the process made non-dumpable (prctl PR_SET_DUMPABLE 0) with a core size
 * limit of 0, so its keys and passphrases never reach a core file and other
 * processes of the user cannot read its memory or /proc/PID/environ; and
 * OFFPAY_PASSPHRASE moved out of the environment (kept in guarded memory
 * for cli_passphrase, unsetenv'd, and its string in the original
 * environment block zeroed). Returns 0, or -1 with a message printed.
 */
int cli_secure_start(void);

/*
 * The passphrase, from (in order) --passphrase-file, the OFFPAY_PASSPHRASE
 * environment variable (as taken by cli_secure_start), or a prompt on the
 * terminal. With confirm (a new passphrase) it must have at least
 * OFFPAY__PASSPHRASE_MIN characters, whatever its source, and the prompt
 * refuses a short one before asking to repeat it. Returns a malloc'd
 * string (free with cli_passphrase_free, which wipes), or NULL with a
 * message printed.
 */
char *cli_passphrase(const char *file, const char *prompt, int confirm);
/* The same asked on the terminal only (never the environment's, which is
 * the old one when a passphrase is changed). */
char *cli_passphrase_tty(const char *prompt, int confirm);
/* 1 when a terminal can be asked (/dev/tty opens). */
int   cli_has_tty(void);
void  cli_passphrase_free(char *p);

/*
 * A code's text: from an image (--image), an argument (--code), or standard
 * input as a keyboard-wedge scanner types it (one line; a trailing CR/LF is
 * removed; piped input holding a second non-blank line is refused).
 * Returns malloc'd text, or NULL with a message printed and *status set
 * (EXIT_USAGE for --image with --code or a second line, EXIT_REJECTED
 * when an image holds no readable code or the text is empty or too long,
 * EXIT_FAILURE_IO otherwise).
 */
char *cli_read_code(const char *image, const char *code, int *status);

/* Refuses the code text text[0..n) when it is longer than the longest
 * valid text of its prefix (offpay_text_max_len, docs/protocol.md §4):
 * prints "the code WHERE is too long: N characters, at most L ... (ETOOBIG)"
 * and sets *status to EXIT_REJECTED. Returns 1 when refused, else 0. */
int cli_code_too_long(const char *text, size_t n, const char *where,
                      int *status);

/* 0 when url is an offpayd address the clients take (http://HOST:PORT
 * or https://...); else prints a usage error for option and returns
 * EXIT_USAGE. */
int cli_server_url(const char *option, const char *url);

/* Reads a whole (small) file: malloc'd, *len set. NULL with a message. */
uint8_t *cli_read_file(const char *path, size_t max, size_t *len);
/* 1 when data[0..n) (a trailing newline allowed) is text in the base64
 * alphabet that decodes canonically into out (cap bytes, *got set); -1
 * when it is in the alphabet but does not decode; 0 when it is not base64
 * text (binary, say). */
int cli_base64_text(const uint8_t *data, size_t n, uint8_t *out, size_t cap,
                    size_t *got);
/* What a file's bytes b[0..n) look like, in words, for a message about a
 * file given where another was meant: "a revocation list (an offpay
 * message)", "a public key in hex (as the issuer's root.pub holds)", "a
 * passphrase-sealed file (...)", "a SQLite database (...)", a message's
 * text form or base64, an evidence file, JSON, "a text file"; into buf
 * (cap bytes) or a constant; NULL for binary bytes of nothing offpay
 * writes. */
const char *cli_looks_like(const uint8_t *b, size_t n, char *buf, size_t cap);

/* Whether b[0..n), read from path for option opt (command what), is an
 * offpay message of type want (its version byte and type; its contents
 * are the library's to check): 0; else says on stderr "WHAT: OPT PATH is
 * not a TYPE: it looks like ...; give GIVE" and returns -1 (the caller
 * exits 1, as the library's refusal of such bytes did). */
int cli_expect_message(const char *what, const char *opt, const char *path,
                       const uint8_t *b, size_t n, offpay_msg_type want,
                       const char *give);
/* What a --bundle is, for cli_expect_message's "give". */
#define CLI_GIVE_BUNDLE                                                        \
    "the issuer's bundle.opb (or offpayd's: GET /v1/bundle, its \"bundle\" "   \
    "base64-decoded)"
/* What a --revlist is. */
#define CLI_GIVE_REVLIST                                                       \
    "the issuer's revlist.opb (or offpayd's: GET /v1/revlist, its "            \
    "\"revlist\" base64-decoded)"

/* Reads a credential file (at most max bytes decoded): its bytes as the
 * issuer wrote them, or the base64 text offpayd answers with ("credential"
 * of POST /v1/admin/terminals, /credentials, ...), a trailing newline
 * allowed. malloc'd, *len set; NULL with a message and *status set
 * (EXIT_REJECTED for text that is not canonical base64 or a file too
 * large, EXIT_FAILURE_IO when it cannot be read). */
uint8_t *cli_read_credential(const char *path, size_t max, size_t *len,
                             int *status);
/* t as ISO 8601 UTC ("2026-12-01T22:44:48Z") in buf; returns buf. */
const char *cli_iso_time(uint32_t t, char buf[32]);
/* seconds as hours with a tenth ("72.0"), rounded down */
const char *cli_hours(uint64_t seconds, char buf[32]);

/* Writes a file atomically. Returns 0 or prints and returns -1. */
int cli_write_file(const char *path, const uint8_t *data, size_t len);

/* Parses 64 hex digits (a public key), from a string or a file holding it.
 * Returns 0 or prints and returns -1. */
int cli_parse_key(const char *hex_or_file, uint8_t pk[OFFPAY_PK_BYTES]);

/* Currency from alphabetic code; amount text in that currency. Print and
 * return -1 on error. */
int cli_currency(const char *alpha, uint16_t *currency);
int cli_amount(const char *text, uint16_t currency, int64_t *minor);
/* "12.50 EUR" into buf. */
const char *cli_money(int64_t minor, uint16_t currency, char *buf, size_t cap);

/*
 * Shows a code: its text on stdout (always, one line, even when an image
 * cannot be written), and optionally as a PNG, an SVG (through
 * cli_output_qr, force as there), and UTF-8 art on stderr (show_art).
 * Returns 0 or an exit status.
 */
int cli_emit_code(const char *text, const char *png, const char *svg,
                  int show_art, int force);

/*
 * Output files. Every option that writes a file (--png, --svg, --out,
 * --receipt-png) goes through these: opt is the option's name for
 * messages. A path is refused (EXIT_USAGE, message printed) when it names
 * an existing file and force is 0, a directory, or anything that belongs
 * to an offpay state even with force: a sealed file (wallet, terminal.key,
 * issuer.sealed, root.sealed: the magic of wallet_file.h), a SQLite
 * database, the .lock or .tmp of a sealed file, or any file in a
 * directory holding terminal.db, terminal.key, issuer.sealed or
 * root.sealed. cli_output_check also proves that a file can be created in
 * the target's directory (EXIT_FAILURE_IO when not): commands check their
 * outputs with it before they change any state. cli_output_write checks
 * again, then writes with offpay__file_write_atomic (temporary file,
 * fsync, rename, directory fsync; mode 0600). cli_output_qr draws text as
 * a PNG (svg 0) or an SVG and writes it the same way. Return 0 or an exit
 * status.
 */
int cli_output_check(const char *opt, const char *path, int force);
int cli_output_write(const char *opt, const char *path, int force,
                     const uint8_t *data, size_t len);
int cli_output_qr(const char *opt, const char *path, int force,
                  const char *text, int svg);

/*
 * cli_getopt — getopt_long (short options: "h") that refuses an option
 * taking a value when it is given twice (a second --amount would silently
 * win), except the one named repeatable (may be NULL). seen is the
 * caller's bit set of options met, zeroed before the first call; opts
 * must have at most 64 entries. Returns getopt_long's result, or
 * CLI_OPT_TWICE after printing a usage message.
 */
#define CLI_OPT_TWICE 0x7ffe
struct option;
int cli_getopt(int argc, char **argv, const struct option *opts,
               const char *repeatable, uint64_t *seen);

/* A 64-bit identifier as a JSON decimal string (see describe.c). */
json_t *cli_json_u64(uint64_t v);

/* Prints doc as one compact line of JSON, its keys in their order, and
 * releases it (doc may be NULL: out of memory). EXIT_OK, or what
 * cli_fail(what, OFFPAY_ENOMEM) returns. */
int cli_print_json(json_t *doc, const char *what);

/* JSON description of any decoded message (decode, journal --json). */
json_t *cli_msg_json(const offpay_msg *m, const uint8_t *bytes, size_t len);
/* Human-readable description of a message on stdout. */
void cli_msg_print(const offpay_msg *m);

/* 1 when name is one of the space-separated words of list (may be NULL). */
int cli_listed(const char *list, const char *name);

/*
 * cli_only_opts — after a cli_getopt loop: a usage error (EXIT_USAGE)
 * naming the first long option it met that is a word of neither common
 * nor own (space-separated names without "--"; either may be NULL), for
 * a command whose parser also knows its siblings' options, so that one
 * given to the wrong command is refused, not ignored. cmd names the
 * command ("admin audit"), help_of what 'offpay ... --help' to suggest.
 * 0 when every option is the command's.
 */
int cli_only_opts(const char *cmd, const char *common, const char *own,
                  const char *help_of);

/*
 * One subcommand of a group: its name, whether it takes one positional
 * argument (a file or a serial; NULL when missing), its handler, which
 * gets the group's parsed options, and the long options it takes besides
 * the group's common ones (space-separated names, without "--").
 */
typedef struct cli_sub {
    const char *name;
    int         positional;
    int (*run)(const void *args, const char *arg);
    const char *opts;
} cli_sub;

/*
 * cli_dispatch — the shared front of a command group: prints help for
 * "GROUP", "GROUP --help" (exit 0) or no subcommand (exit 2), parses the
 * options with parse (which returns 0, a usage exit status, or -1 after
 * printing --help), refuses an option that is neither in common nor in
 * the subcommand's opts (a usage error naming it: the group's parser
 * knows every subcommand's options, and one given to a subcommand that
 * does not take it would otherwise be ignored), checks the positional
 * arguments and runs the subcommand from subs (terminated by a NULL
 * name).
 */
int cli_dispatch(const char *group, const char *help, const char *common,
                 int argc, char **argv,
                 int (*parse)(int argc, char **argv, void *args), void *args,
                 const cli_sub *subs);

/* Common --help footer for exit statuses. */
extern const char cli_exit_help[];

/* After OFFPAY_ESYNC_REQUIRED from terminal t at now: "VERDICT: this
 * terminal must sync first: ..." on stderr, naming the limit it reached
 * (payments, hours, the upload wait). 0 if its status could not be read
 * (nothing said). terminal.c. */
int cli_sync_required_why(offpay_terminal *t, uint32_t now,
                          const char *verdict);

/* After OFFPAY_ETERMINAL_EXPIRED from terminal t at now: when the cause
 * is the issuer key that signed its own credential (retired from its
 * trust bundle, or outside its window) rather than the credential's term,
 * "VERDICT: this terminal's own credential was signed by issuer key K,
 * ...", what to do, on stderr, and 1; else 0 (nothing said). terminal.c.
 */
int cli_terminal_expired_why(offpay_terminal *t, uint32_t now,
                             const char *verdict);

/* `terminal nfc` and `wallet nfc` (nfc.c); argv[0] is "nfc". */
int cli_terminal_nfc(int argc, char **argv);
int cli_wallet_nfc(int argc, char **argv);

#endif
