/*
 * token.c — Ed25519 keys in a PKCS#11 token (offpay/pkcs11.h): loading the
 * module, finding the token and the key, logging in, signing with
 * CKM_EDDSA, generating a key pair; and offpay_signer_sign, the one place
 * that picks a sealed-file key or a token key.
 *
 * Modules are loaded once per process (dlopen + C_GetFunctionList +
 * C_Initialize with CKF_OS_LOCKING_OK) and kept in a small table with a
 * count of open keys; the last close finalizes (C_Finalize) and leaves the
 * module mapped. Each key has
 * its own session, used under the key's mutex; a session or key handle
 * the token lost is replaced by a new session at a later signature, at
 * most every few seconds (recover), the module initialized anew when
 * needed under its lock for writing (module_reinit). PKCS#11 login is per
 * application and token: a second session finds the user already logged
 * in (CKR_USER_ALREADY_LOGGED_IN), and its PIN is then compared with the
 * one that logged in (login); sessions are closed, never logged out, so
 * one key's close never logs out another's.
 *
 * The header is p11-kit's (libp11-kit-dev), which defines the PKCS#11 3.0
 * names used here (CKM_EDDSA, CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#include "core/log.h"
#include "offpay/pkcs11.h"
#include "pkcs11/pkcs11_int.h"

#if !defined(CKM_EDDSA) || !defined(CKK_EC_EDWARDS) ||                         \
    !defined(CKM_EC_EDWARDS_KEY_PAIR_GEN)
#error "pkcs11.h lacks the PKCS#11 3.0 Ed25519 names"
#endif

#define MODULES_MAX 4
#define SLOTS_MAX   64
#define FOUND_MAX   4

/* DER of the edwards25519 curve: the OID 1.3.101.112 (RFC 8410), or the
 * PrintableString "edwards25519" that PKCS#11 3.0 also allows. */
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static const uint8_t str_ed25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
                                      'd',  's',  '2', '5', '5', '1', '9'};

/* The PIN a token of the module was logged in with, as a keyed hash
 * (BLAKE2b under a random per-process key: never the PIN itself), so that
 * a later key of the same token, whose session finds the token logged in
 * already (CKR_USER_ALREADY_LOGGED_IN), has its own PIN checked against
 * it rather than not at all. */
#define LOGINS_MAX 8
typedef struct p11_login {
    CK_SLOT_ID slot;
    uint8_t    pin_hash[crypto_generichash_BYTES];
} p11_login;

/* A loaded module. Keys call into it holding rw for reading; its
 * initialization anew (module_reinit) holds it for writing, and counts
 * gen up: every session opened before is gone then, and a key whose
 * session is of an older gen opens a new one rather than use a handle
 * that may now name another key's session. */
typedef struct p11_module {
    char                 path[OFFPAY_PKCS11_PATH_MAX + 1];
    void                *dl;
    CK_FUNCTION_LIST_PTR f;
    unsigned             refs;
    int                  finalize; /* we initialized it */
    p11_login            logins[LOGINS_MAX];
    unsigned             n_logins;
    pthread_rwlock_t     rw;
    unsigned             gen;
    int                  init_failed; /* module_reinit's C_Initialize */
} p11_module;

struct offpay_pkcs11_key {
    p11_module       *m;
    unsigned          gen; /* m->gen its session was opened in */
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE  priv;
    uint8_t           pk[OFFPAY_PK_BYTES];
    pthread_mutex_t   mu;
    /* the pair offpay_pkcs11_generate made, while its maker may still
     * undo it (offpay__pkcs11_unmake); made 0 for a key only opened */
    int              made;
    CK_OBJECT_HANDLE made_pub, made_priv;
    /* The URI it was opened by (a pin-value in it wiped at the close), to
     * open it anew when the token lost its session or handle (recover):
     * lost, the next attempt's time (monotonic ms), the signatures
     * refused since, what lost it and the last attempt's reason. Under
     * mu. */
    offpay_pkcs11_uri uri;
    int               lost, wrong_key_said;
    uint64_t          retry_at;
    unsigned long     refused;
    char              lost_why[160], retry_why[512];
};

static pthread_mutex_t modules_mu = PTHREAD_MUTEX_INITIALIZER;
static p11_module      modules[MODULES_MAX];

/* room for a stored URI (OFFPAY_PKCS11_URI_MAX) and the words around it */
static _Thread_local char detail[1536];

#if defined(__SANITIZE_ADDRESS__)
#define OFFPAY__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OFFPAY__ASAN 1
#endif
#endif
#ifdef OFFPAY__ASAN
/* Sanitizer builds only: SoftHSM2 2.6.1 leaks the key it decodes in every
 * C_SignInit (ASN1_item_d2i in libcrypto, 37 bytes, never freed). A
 * module's leak is not offpay's. LeakSanitizer's fast unwinder stops in
 * libcrypto (no frame pointers), so the module cannot be named: libcrypto's
 * leaks are ignored, but only in a process that loaded SoftHSM2 (the hook
 * is read at the leak check, at exit). */
static int softhsm_loaded;

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return softhsm_loaded ? "leak:libcrypto.so\n" : "";
}
#endif

const char *offpay_pkcs11_detail(void)
{
    return detail;
}

void offpay__pkcs11_detail_set(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
}

static const char *ckr_name(CK_RV rv)
{
    switch (rv) {
#define N(x)                                                                   \
    case x:                                                                    \
        return #x
        N(CKR_OK);
        N(CKR_CANCEL);
        N(CKR_HOST_MEMORY);
        N(CKR_SLOT_ID_INVALID);
        N(CKR_GENERAL_ERROR);
        N(CKR_FUNCTION_FAILED);
        N(CKR_ARGUMENTS_BAD);
        N(CKR_ATTRIBUTE_READ_ONLY);
        N(CKR_ATTRIBUTE_SENSITIVE);
        N(CKR_ATTRIBUTE_TYPE_INVALID);
        N(CKR_ATTRIBUTE_VALUE_INVALID);
        N(CKR_DATA_INVALID);
        N(CKR_DATA_LEN_RANGE);
        N(CKR_DEVICE_ERROR);
        N(CKR_DEVICE_MEMORY);
        N(CKR_DEVICE_REMOVED);
        N(CKR_FUNCTION_NOT_SUPPORTED);
        N(CKR_KEY_HANDLE_INVALID);
        N(CKR_KEY_TYPE_INCONSISTENT);
        N(CKR_KEY_FUNCTION_NOT_PERMITTED);
        N(CKR_MECHANISM_INVALID);
        N(CKR_MECHANISM_PARAM_INVALID);
        N(CKR_OBJECT_HANDLE_INVALID);
        N(CKR_OPERATION_ACTIVE);
        N(CKR_OPERATION_NOT_INITIALIZED);
        N(CKR_PIN_INCORRECT);
        N(CKR_PIN_INVALID);
        N(CKR_PIN_LEN_RANGE);
        N(CKR_PIN_EXPIRED);
        N(CKR_PIN_LOCKED);
        N(CKR_SESSION_CLOSED);
        N(CKR_SESSION_COUNT);
        N(CKR_SESSION_HANDLE_INVALID);
        N(CKR_SESSION_READ_ONLY);
        N(CKR_SIGNATURE_INVALID);
        N(CKR_TEMPLATE_INCOMPLETE);
        N(CKR_TEMPLATE_INCONSISTENT);
        N(CKR_TOKEN_NOT_PRESENT);
        N(CKR_TOKEN_NOT_RECOGNIZED);
        N(CKR_TOKEN_WRITE_PROTECTED);
        N(CKR_USER_ALREADY_LOGGED_IN);
        N(CKR_USER_NOT_LOGGED_IN);
        N(CKR_USER_PIN_NOT_INITIALIZED);
        N(CKR_USER_TYPE_INVALID);
        N(CKR_BUFFER_TOO_SMALL);
        N(CKR_CRYPTOKI_NOT_INITIALIZED);
        N(CKR_CRYPTOKI_ALREADY_INITIALIZED);
#undef N
    default:
        return "CKR_(unknown)";
    }
}

/* Records fn's failure rv and maps it to an offpay error. */
static offpay_err fail(const char *fn, CK_RV rv)
{
    snprintf(detail, sizeof detail, "%s: %s (0x%lx)", fn, ckr_name(rv),
             (unsigned long)rv);
    if (rv == CKR_PIN_INCORRECT)
        return OFFPAY_EPASSPHRASE;
    if (rv == CKR_HOST_MEMORY)
        return OFFPAY_ENOMEM;
    return OFFPAY_EPKCS11;
}

static offpay_err say(offpay_err rc, const char *what)
{
    snprintf(detail, sizeof detail, "%s", what);
    return rc;
}

/* ---- modules ---------------------------------------------------------- */

static const char *module_path(const char *arg, const offpay_pkcs11_uri *u)
{
    const char *env = getenv(OFFPAY_PKCS11_MODULE_ENV);

    if (u->module_path[0] != '\0')
        return u->module_path;
    if (arg != NULL && arg[0] != '\0')
        return arg;
    if (env != NULL && env[0] != '\0')
        return env;
    return OFFPAY_PKCS11_DEFAULT_MODULE;
}

static offpay_err module_get(const char *path, p11_module **out)
{
    p11_module          *m = NULL;
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args;
    CK_RV                rv;
    offpay_err           rc = OFFPAY_OK;

    if (strlen(path) > OFFPAY_PKCS11_PATH_MAX)
        return say(OFFPAY_EPKCS11_URI, "module path too long");
    pthread_mutex_lock(&modules_mu);
    for (int i = 0; i < MODULES_MAX; i++)
        if (modules[i].refs > 0 && strcmp(modules[i].path, path) == 0)
            m = &modules[i];
    if (m != NULL) {
        m->refs++;
        goto out;
    }
    for (int i = 0; i < MODULES_MAX && m == NULL; i++)
        if (modules[i].refs == 0)
            m = &modules[i];
    if (m == NULL) {
        rc = say(OFFPAY_EPKCS11, "too many PKCS#11 modules");
        goto out;
    }
    memset(m, 0, sizeof *m);
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL) {
        snprintf(detail, sizeof detail, "dlopen %.160s failed", path);
        rc = OFFPAY_ENOTFOUND;
        goto fail_m;
    }
    *(void **)(&get) = dlsym(m->dl, "C_GetFunctionList");
    if (get == NULL || (rv = get(&m->f)) != CKR_OK || m->f == NULL) {
        rc = say(OFFPAY_EPKCS11, "C_GetFunctionList missing or failed");
        goto fail_m;
    }
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        rc = fail("C_Initialize", rv);
        goto fail_m;
    }
    m->finalize = rv == CKR_OK;
#ifdef OFFPAY__ASAN
    if (strstr(path, "softhsm") != NULL)
        softhsm_loaded = 1;
#endif
    snprintf(m->path, sizeof m->path, "%s", path);
    pthread_rwlock_init(&m->rw, NULL);
    m->refs = 1;
    goto out;
fail_m:
    if (m->dl != NULL)
        dlclose(m->dl);
    memset(m, 0, sizeof *m);
    m = NULL;
out:
    pthread_mutex_unlock(&modules_mu);
    *out = m;
    return rc;
}

static void module_put(p11_module *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&modules_mu);
    if (--m->refs == 0) {
        if (m->finalize)
            m->f->C_Finalize(NULL);
        pthread_rwlock_destroy(&m->rw);
        /* The module stays mapped (dlopen of the same path finds it
         * again): modules that leave atexit handlers or thread-local
         * destructors behind crash the process when unloaded. */
        memset(m, 0, sizeof *m);
    }
    pthread_mutex_unlock(&modules_mu);
}

/* Initializes m anew (C_Finalize, C_Initialize), when a lost key's token
 * is not found by a new session: SoftHSM2 reads its token files only at
 * C_Initialize, so a token whose files went away and came back is found
 * again only then (hardware tokens' modules see a token put back by
 * themselves). Only a module offpay initialized (not one another part
 * of the process did: its sessions are not offpay's to end). Every
 * session of m ends: the logins are forgotten, and gen counts up, so
 * every key of m opens a new session at its next signature. The caller
 * holds neither m->rw nor modules_mu. */
static offpay_err module_reinit(p11_module *m)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV                rv;

    if (!m->finalize)
        return say(OFFPAY_EPKCS11, "the module was initialized by another "
                                   "part of the process: not initialized anew");
    pthread_rwlock_wrlock(&m->rw);
    pthread_mutex_lock(&modules_mu);
    m->f->C_Finalize(NULL);
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->f->C_Initialize(&args);
    m->init_failed = rv != CKR_OK;
    m->gen++;
    sodium_memzero(m->logins, sizeof m->logins);
    m->n_logins = 0;
    pthread_mutex_unlock(&modules_mu);
    pthread_rwlock_unlock(&m->rw);
    if (rv == CKR_OK)
        return OFFPAY_OK;
    /* SoftHSM2 fails it while its token directory is away */
    fail("C_Initialize", rv);
    return OFFPAY_EPKCS11;
}

/* ---- token, PIN, objects ---------------------------------------------- */

/* A fixed, space-padded PKCS#11 field equals text. */
static int padded_eq(const CK_UTF8CHAR *field, size_t cap, const char *text)
{
    size_t n = strlen(text);

    if (n > cap || memcmp(field, text, n) != 0)
        return 0;
    for (size_t i = n; i < cap; i++)
        if (field[i] != ' ')
            return 0;
    return 1;
}

/* The one initialized token matching u's token and serial. */
static offpay_err find_slot(p11_module *m, const offpay_pkcs11_uri *u,
                            CK_SLOT_ID *slot)
{
    CK_SLOT_ID    slots[SLOTS_MAX];
    CK_ULONG      n = SLOTS_MAX;
    CK_TOKEN_INFO ti;
    CK_RV         rv;
    unsigned      found = 0;

    rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK)
        return fail("C_GetSlotList", rv);
    for (CK_ULONG i = 0; i < n; i++) {
        if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
            !(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        if (u->token[0] != '\0' &&
            !padded_eq(ti.label, sizeof ti.label, u->token))
            continue;
        if (u->serial[0] != '\0' &&
            !padded_eq(ti.serialNumber, sizeof ti.serialNumber, u->serial))
            continue;
        if (found++ == 0)
            *slot = slots[i];
    }
    if (found == 0)
        return say(OFFPAY_EPKCS11_URI, "no token matches the URI");
    if (found > 1)
        return say(OFFPAY_EPKCS11_URI,
                   "several tokens match the URI: name token= or serial=");
    return OFFPAY_OK;
}

/* The pin-source files warned of (pin_file_mode), so each is said once
 * per process, not at every key opened from it. */
#define WARNED_MAX 8
static pthread_mutex_t warned_mu = PTHREAD_MUTEX_INITIALIZER;
static char            warned[WARNED_MAX][OFFPAY_PKCS11_PATH_MAX + 1];
static unsigned        n_warned;

/* A pin-source file f (path) that its group or others may read is
 * warned of, once per path: its PIN is theirs to read (offpayd refuses
 * pin-value on its command line for the same reason). Still used: the
 * token's key keeps working while the operator fixes the mode. */
static void pin_file_mode(FILE *f, const char *path)
{
    struct stat st;
    int         seen = 0;

    if (fstat(fileno(f), &st) != 0 || (st.st_mode & (S_IRGRP | S_IROTH)) == 0)
        return;
    pthread_mutex_lock(&warned_mu);
    for (unsigned i = 0; i < n_warned && !seen; i++)
        seen = strcmp(warned[i], path) == 0;
    if (!seen && n_warned < WARNED_MAX)
        snprintf(warned[n_warned++], sizeof warned[0], "%s", path);
    pthread_mutex_unlock(&warned_mu);
    if (!seen)
        offpay__log("offpay: WARNING: the PKCS#11 pin-source %s is readable "
                    "by %s (mode %04o): the token's PIN is theirs to read; "
                    "chmod 600 it, owned by the user that runs offpay or "
                    "offpayd (docs/pkcs11.md §2)\n",
                    path,
                    (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH)
                        ? "its group and others"
                    : (st.st_mode & S_IRGRP) ? "its group"
                                             : "others",
                    (unsigned)(st.st_mode & 07777));
}

/* The PIN into pin (NUL-terminated); *have 0 when none is configured.
 * from[] says where it came from, for a message ("pin-source /p"). */
static offpay_err get_pin(const offpay_pkcs11_uri *u,
                          char pin[OFFPAY_PKCS11_PIN_MAX + 2], int *have,
                          char from[OFFPAY_PKCS11_PATH_MAX + 16])
{
    const char *env = getenv(OFFPAY_PKCS11_PIN_ENV);
    FILE       *f;
    size_t      n;

    *have = 1;
    from[0] = '\0';
    if (u->pin_value[0] != '\0') {
        snprintf(from, OFFPAY_PKCS11_PATH_MAX + 16, "the URI's pin-value");
        memcpy(pin, u->pin_value, strlen(u->pin_value) + 1);
        return OFFPAY_OK;
    }
    if (u->pin_source[0] != '\0') {
        const char *path =
            u->pin_source[0] == '/' ? u->pin_source : u->pin_source + 5;

        snprintf(from, OFFPAY_PKCS11_PATH_MAX + 16, "pin-source %s", path);
        f = fopen(path, "re");
        if (f == NULL) {
            snprintf(detail, sizeof detail, "pin-source %.100s: %.60s", path,
                     strerror(errno));
            return errno == ENOENT ? OFFPAY_ENOTFOUND : OFFPAY_EACCES;
        }
        pin_file_mode(f, path);
        setvbuf(f, NULL, _IONBF, 0); /* no copy of the PIN in stdio */
        n = fread(pin, 1, OFFPAY_PKCS11_PIN_MAX + 1, f);
        if (ferror(f)) { /* a directory, an unreadable file */
            snprintf(detail, sizeof detail, "pin-source %.100s: %.60s", path,
                     strerror(errno));
            fclose(f);
            return OFFPAY_EACCES;
        }
        fclose(f);
        pin[n] = '\0';
        pin[strcspn(pin, "\r\n")] = '\0';
        if (n > OFFPAY_PKCS11_PIN_MAX && strlen(pin) == n)
            return say(OFFPAY_EPKCS11_URI, "PIN in pin-source too long");
        /* never a token's try spent on nothing (a token locks after a few) */
        if (pin[0] == '\0')
            return say(OFFPAY_EPKCS11_URI, "pin-source holds no PIN");
        return OFFPAY_OK;
    }
    if (env != NULL && env[0] != '\0') {
        snprintf(from, OFFPAY_PKCS11_PATH_MAX + 16, "$%s",
                 OFFPAY_PKCS11_PIN_ENV);
        if (strlen(env) > OFFPAY_PKCS11_PIN_MAX)
            return say(OFFPAY_EPKCS11_URI, "PIN too long");
        memcpy(pin, env, strlen(env) + 1);
        return OFFPAY_OK;
    }
    *have = 0;
    return OFFPAY_OK;
}

/* The key of the PINs' hashes, random, made once per process. */
static uint8_t        pin_hash_key[crypto_generichash_KEYBYTES];
static pthread_once_t pin_hash_once = PTHREAD_ONCE_INIT;

static void pin_hash_key_init(void)
{
    randombytes_buf(pin_hash_key, sizeof pin_hash_key);
}

/* The keyed hash of pin. */
static void pin_hash(const char *pin, uint8_t h[crypto_generichash_BYTES])
{
    pthread_once(&pin_hash_once, pin_hash_key_init);
    crypto_generichash(h, crypto_generichash_BYTES, (const uint8_t *)pin,
                       strlen(pin), pin_hash_key, sizeof pin_hash_key);
}

/* Logs in to slot's token with the URI's PIN. PKCS#11 login is per
 * application and token: when another key's session logged in already
 * (CKR_USER_ALREADY_LOGGED_IN), the token does not check this PIN, and a
 * wrong one would pass now (a SIGHUP's new key) only to fail at the next
 * start. So it is compared with the one that logged in (a keyed hash
 * kept per slot) and a different one is refused (OFFPAY_EPASSPHRASE):
 * the token may also have had its PIN changed since, which a restart
 * settles either way. A URI that gives no PIN logs nothing in; *borrowed
 * is then 1 when the session is logged in all the same (another key's
 * login: see borrowed_key). */
static offpay_err login(p11_module *m, CK_SLOT_ID slot, CK_SESSION_HANDLE s,
                        const offpay_pkcs11_uri *u, int *borrowed)
{
    char       pin[OFFPAY_PKCS11_PIN_MAX + 2];
    char       from[OFFPAY_PKCS11_PATH_MAX + 16];
    uint8_t    h[crypto_generichash_BYTES];
    int        have = 0, known = 0, same = 0;
    CK_RV      rv;
    offpay_err rc;

    *borrowed = 0;
    rc = get_pin(u, pin, &have, from);
    if (rc != OFFPAY_OK)
        goto out;
    if (!have) { /* logged in already, by another key's PIN? */
        CK_SESSION_INFO si;

        *borrowed = m->f->C_GetSessionInfo(s, &si) == CKR_OK &&
                    (si.state == CKS_RO_USER_FUNCTIONS ||
                     si.state == CKS_RW_USER_FUNCTIONS);
        goto out;
    }
    pin_hash(pin, h);
    rv =
        m->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
    pthread_mutex_lock(&modules_mu);
    for (unsigned i = 0; i < m->n_logins; i++)
        if (m->logins[i].slot == slot) {
            known = 1;
            same = sodium_memcmp(m->logins[i].pin_hash, h, sizeof h) == 0;
            if (rv == CKR_OK) /* logged in anew (after a close of all) */
                memcpy(m->logins[i].pin_hash, h, sizeof h);
        }
    if (rv == CKR_OK && !known && m->n_logins < LOGINS_MAX) {
        m->logins[m->n_logins].slot = slot;
        memcpy(m->logins[m->n_logins++].pin_hash, h, sizeof h);
    }
    pthread_mutex_unlock(&modules_mu);
    if (rv == CKR_USER_ALREADY_LOGGED_IN && known && !same) {
        rc = OFFPAY_EPASSPHRASE;
        snprintf(detail, sizeof detail,
                 "C_Login: CKR_USER_ALREADY_LOGGED_IN: the token is logged "
                 "in already with another PIN than this URI's (%s): this "
                 "one was not checked by the token, and would fail at the "
                 "next start (a wrong PIN, or the token's PIN changed since)",
                 from);
    } else if (rv == CKR_USER_ALREADY_LOGGED_IN && !known)
        offpay__log("offpay: WARNING: PKCS#11 PIN not checked: the token "
                    "is logged in already (by another program's use of the "
                    "module in this process)\n");
    else if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        size_t len;

        rc = fail("C_Login", rv);
        len = strlen(detail);
        /* which PIN the token refused: the file to correct */
        snprintf(detail + len, sizeof detail - len, ": the PIN of %s", from);
    }
out:
    sodium_memzero(pin, sizeof pin);
    sodium_memzero(h, sizeof h);
    return rc;
}

/* Up to FOUND_MAX objects of class cls labelled label (NULL: any label)
 * and with id (id_len 0: any id), of key type *kt (NULL: any type). */
static offpay_err find_by(p11_module *m, CK_SESSION_HANDLE s,
                          CK_OBJECT_CLASS cls, const CK_KEY_TYPE *kt,
                          const char *label, const uint8_t *id, size_t id_len,
                          CK_OBJECT_HANDLE *objs, CK_ULONG *n)
{
    CK_ATTRIBUTE t[4];
    CK_ULONG     nt = 0;
    CK_RV        rv;

    t[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof cls};
    if (kt != NULL)
        t[nt++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, (void *)kt, sizeof *kt};
    if (label != NULL)
        t[nt++] =
            (CK_ATTRIBUTE){CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)};
    if (id_len > 0)
        t[nt++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, (CK_ULONG)id_len};
    rv = m->f->C_FindObjectsInit(s, t, nt);
    if (rv != CKR_OK)
        return fail("C_FindObjectsInit", rv);
    rv = m->f->C_FindObjects(s, objs, FOUND_MAX, n);
    m->f->C_FindObjectsFinal(s);
    return rv == CKR_OK ? OFFPAY_OK : fail("C_FindObjects", rv);
}

/* Up to FOUND_MAX objects of class cls (an Ed25519 key) matching u. */
static offpay_err find(p11_module *m, CK_SESSION_HANDLE s,
                       const offpay_pkcs11_uri *u, CK_OBJECT_CLASS cls,
                       CK_OBJECT_HANDLE *objs, CK_ULONG *n)
{
    static const CK_KEY_TYPE ed25519 = CKK_EC_EDWARDS;

    return find_by(m, s, cls, &ed25519, u->object[0] != '\0' ? u->object : NULL,
                   u->id, u->id_len, objs, n);
}

/* The name of key type kt ("CKK_EC"), into buf for one offpay has none. */
static const char *ckk_name(CK_KEY_TYPE kt, char buf[32])
{
    switch (kt) {
    case CKK_RSA:
        return "CKK_RSA";
    case CKK_DSA:
        return "CKK_DSA";
    case CKK_DH:
        return "CKK_DH";
    case CKK_EC:
        return "CKK_EC";
    case CKK_EC_EDWARDS:
        return "CKK_EC_EDWARDS";
    case CKK_GENERIC_SECRET:
        return "CKK_GENERIC_SECRET";
    case CKK_AES:
        return "CKK_AES";
    default:
        snprintf(buf, 32, "CKK_(0x%lx)", (unsigned long)kt);
        return buf;
    }
}

/* Object o in a few words for a message: "label 'k', id 02, CKK_EC". */
static void describe(p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                     char *out, size_t cap)
{
    char         label[OFFPAY_PKCS11_OBJECT_MAX + 1], kbuf[32];
    char         idhex[2 * OFFPAY_PKCS11_ID_MAX + 1] = "none";
    uint8_t      id[OFFPAY_PKCS11_ID_MAX];
    CK_KEY_TYPE  kt = 0;
    CK_ATTRIBUTE t[3] = {{CKA_LABEL, label, sizeof label - 1},
                         {CKA_ID, id, sizeof id},
                         {CKA_KEY_TYPE, &kt, sizeof kt}};

    /* an attribute it cannot give (too long, absent) is left out: the
     * token says so per attribute (CK_UNAVAILABLE_INFORMATION, which is
     * above every buffer's size) */
    (void)m->f->C_GetAttributeValue(s, o, t, 3);
    if (t[0].ulValueLen > sizeof label - 1)
        t[0].ulValueLen = 0;
    label[t[0].ulValueLen] = '\0';
    for (size_t i = 0; i < t[0].ulValueLen; i++)
        if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
            label[i] = '?';
    if (t[1].ulValueLen > 0 && t[1].ulValueLen <= sizeof id)
        sodium_bin2hex(idhex, sizeof idhex, id, t[1].ulValueLen);
    snprintf(out, cap, "label '%s', id %s, %s", label, idhex,
             t[2].ulValueLen == sizeof kt ? ckk_name(kt, kbuf)
                                          : "key type unknown");
}

/* For --generate-key: a private key of any type or id that carries u's
 * label already (a URI without object: its id) is refused
 * (OFFPAY_EEXISTS), naming it: the new key beside it would make the URI
 * of one, or both, name several keys. */
static offpay_err name_free(p11_module *m, CK_SESSION_HANDLE s,
                            const offpay_pkcs11_uri *u)
{
    CK_OBJECT_HANDLE objs[FOUND_MAX];
    CK_ULONG         n = 0;
    char             what[256];
    offpay_err       rc;

    if (u->object[0] != '\0')
        rc = find_by(m, s, CKO_PRIVATE_KEY, NULL, u->object, NULL, 0, objs, &n);
    else
        rc = find_by(m, s, CKO_PRIVATE_KEY, NULL, NULL, u->id, u->id_len, objs,
                     &n);
    if (rc != OFFPAY_OK || n == 0)
        return rc;
    describe(m, s, objs[0], what, sizeof what);
    snprintf(detail, sizeof detail,
             "the token already holds a private key with that %s (%s): "
             "--generate-key makes a key under a name no other key carries; "
             "choose another %s (or delete that key with the token's tool)",
             u->object[0] != '\0' ? "label" : "id", what,
             u->object[0] != '\0' ? "object=" : "id=");
    return OFFPAY_EEXISTS;
}

/* The Ed25519 public key of public key object o. */
static offpay_err read_pk(p11_module *m, CK_SESSION_HANDLE s,
                          CK_OBJECT_HANDLE o, uint8_t pk[OFFPAY_PK_BYTES])
{
    uint8_t      params[32], point[40];
    CK_ATTRIBUTE t[2] = {{CKA_EC_PARAMS, params, sizeof params},
                         {CKA_EC_POINT, point, sizeof point}};
    CK_RV        rv = m->f->C_GetAttributeValue(s, o, t, 2);

    if (rv != CKR_OK)
        return fail("C_GetAttributeValue", rv);
    if (!((t[0].ulValueLen == sizeof oid_ed25519 &&
           memcmp(params, oid_ed25519, sizeof oid_ed25519) == 0) ||
          (t[0].ulValueLen == sizeof str_ed25519 &&
           memcmp(params, str_ed25519, sizeof str_ed25519) == 0)))
        return say(OFFPAY_EPKCS11, "the key is not on the Ed25519 curve");
    /* A DER OCTET STRING (PKCS#11 3.0), or the raw 32 bytes some tokens
     * return. */
    if (t[1].ulValueLen == 34 && point[0] == 0x04 && point[1] == 32)
        memcpy(pk, point + 2, OFFPAY_PK_BYTES);
    else if (t[1].ulValueLen == OFFPAY_PK_BYTES)
        memcpy(pk, point, OFFPAY_PK_BYTES);
    else
        return say(OFFPAY_EPKCS11, "CKA_EC_POINT is not an Ed25519 key");
    if (!offpay_pk_usable(pk))
        return say(OFFPAY_EWEAK_KEY, "the token's public key is unusable");
    return OFFPAY_OK;
}

/* Signs buf with k's key; the caller holds k->mu (or k is not shared
 * yet). *rv: what the token answered (CKR_OK when it signed). */
static offpay_err sign_raw(offpay_pkcs11_key *k, const uint8_t *buf, size_t n,
                           uint8_t sig[OFFPAY_SIG_BYTES], CK_RV *rv)
{
    CK_MECHANISM mech = {CKM_EDDSA, NULL, 0};
    CK_ULONG     sig_len = OFFPAY_SIG_BYTES;

    *rv = k->m->f->C_SignInit(k->session, &mech, k->priv);
    if (*rv != CKR_OK)
        return fail("C_SignInit", *rv);
    *rv = k->m->f->C_Sign(k->session, (CK_BYTE_PTR)buf, (CK_ULONG)n, sig,
                          &sig_len);
    if (*rv != CKR_OK)
        return fail("C_Sign", *rv);
    if (sig_len != OFFPAY_SIG_BYTES)
        return say(OFFPAY_EPKCS11, "C_Sign: not a 64-byte signature");
    return OFFPAY_OK;
}

#ifdef OFFPAY_TEST_HOOKS
/* Tests: keygen makes a key that can leave the token, as a careless
 * operator's tool could (what open_key must refuse). */
int offpay__pkcs11_keygen_extractable;
#endif

/* The private key o must never leave the token, and never have been out
 * of it: CKA_SENSITIVE and not CKA_EXTRACTABLE (else the token protects
 * nothing), and CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE (else it
 * was imported, or was once readable: a copy may exist outside). */
static offpay_err key_stays(p11_module *m, CK_SESSION_HANDLE s,
                            CK_OBJECT_HANDLE o)
{
    CK_BBOOL     sensitive = CK_FALSE, extractable = CK_TRUE;
    CK_BBOOL     always = CK_FALSE, never = CK_FALSE;
    CK_ATTRIBUTE t[4] = {{CKA_SENSITIVE, &sensitive, sizeof sensitive},
                         {CKA_EXTRACTABLE, &extractable, sizeof extractable},
                         {CKA_ALWAYS_SENSITIVE, &always, sizeof always},
                         {CKA_NEVER_EXTRACTABLE, &never, sizeof never}};
    CK_RV        rv = m->f->C_GetAttributeValue(s, o, t, 4);

    if (rv != CKR_OK)
        return fail("C_GetAttributeValue", rv);
    if (t[0].ulValueLen != sizeof sensitive ||
        t[1].ulValueLen != sizeof extractable || sensitive != CK_TRUE ||
        extractable != CK_FALSE)
        return say(OFFPAY_EPKCS11,
                   "the private key can leave the token (CKA_EXTRACTABLE, or "
                   "not CKA_SENSITIVE): use a key made not to leave it "
                   "(--generate-key makes one)");
    if (t[2].ulValueLen != sizeof always || t[3].ulValueLen != sizeof never ||
        always != CK_TRUE || never != CK_TRUE)
        return say(OFFPAY_EPKCS11,
                   "the private key was not made in the token (not "
                   "CKA_ALWAYS_SENSITIVE or not CKA_NEVER_EXTRACTABLE): it "
                   "was imported, or was once readable, so a copy may "
                   "exist outside the token; generate one in the token "
                   "with --generate-key");
    return OFFPAY_OK;
}

/* Generates the key pair u names in session s: its handles into *pub and
 * *priv. */
static offpay_err keygen(p11_module *m, CK_SESSION_HANDLE s,
                         const offpay_pkcs11_uri *u, CK_OBJECT_HANDLE *pub,
                         CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM     mech = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL         yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE     pt[6], st[9];
    CK_ULONG         np = 0, ns = 0;
    CK_RV            rv;

    pt[np++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof yes};
    pt[np++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, sizeof yes};
    pt[np++] =
        (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_ed25519, sizeof oid_ed25519};
    st[ns++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof yes};
    st[ns++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, sizeof yes};
    st[ns++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, sizeof yes};
    st[ns++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, sizeof no};
#ifdef OFFPAY_TEST_HOOKS
    if (offpay__pkcs11_keygen_extractable) {
        st[ns - 2].pValue = &no;
        st[ns - 1].pValue = &yes;
    }
#endif
    st[ns++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, sizeof yes};
    if (u->object[0] != '\0') {
        pt[np++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)u->object,
                                  (CK_ULONG)strlen(u->object)};
        st[ns++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)u->object,
                                  (CK_ULONG)strlen(u->object)};
    }
    if (u->id_len > 0) {
        pt[np++] = (CK_ATTRIBUTE){CKA_ID, (void *)u->id, (CK_ULONG)u->id_len};
        st[ns++] = (CK_ATTRIBUTE){CKA_ID, (void *)u->id, (CK_ULONG)u->id_len};
    }
    rv = m->f->C_GenerateKeyPair(s, &mech, pt, np, st, ns, pub, priv);
    return rv == CKR_OK ? OFFPAY_OK : fail("C_GenerateKeyPair", rv);
}

/* The detail of a URI that matches no Ed25519 private key: a private key
 * of another type that it matches is named (an ECDSA or RSA key under the
 * label, say), else none is there (or no PIN: private keys are
 * invisible). OFFPAY_EPKCS11_URI either way. */
static offpay_err no_key(p11_module *m, CK_SESSION_HANDLE s,
                         const offpay_pkcs11_uri *u)
{
    CK_OBJECT_HANDLE objs[FOUND_MAX];
    CK_ULONG         n = 0;
    char             what[256];

    if (find_by(m, s, CKO_PRIVATE_KEY, NULL,
                u->object[0] != '\0' ? u->object : NULL, u->id, u->id_len, objs,
                &n) != OFFPAY_OK ||
        n == 0)
        return say(OFFPAY_EPKCS11_URI,
                   "no Ed25519 private key matches the URI (or no PIN)");
    describe(m, s, objs[0], what, sizeof what);
    snprintf(detail, sizeof detail,
             "no Ed25519 private key matches the URI: a private key of "
             "another type carries its %s (%s); offpay's keys are Ed25519 "
             "(CKK_EC_EDWARDS): make one under another label with "
             "--generate-key",
             u->object[0] != '\0' ? "label" : "id", what);
    return OFFPAY_EPKCS11_URI;
}

/* The detail of a URI that matches the n > 1 private keys objs: which. */
static void several(p11_module *m, CK_SESSION_HANDLE s,
                    const CK_OBJECT_HANDLE *objs, CK_ULONG n)
{
    char   what[256];
    size_t len;

    len = (size_t)snprintf(detail, sizeof detail,
                           "several Ed25519 private keys match the URI (%s%lu",
                           n == FOUND_MAX ? "at least " : "", (unsigned long)n);
    for (CK_ULONG i = 0; i < n && len < sizeof detail; i++) {
        describe(m, s, objs[i], what, sizeof what);
        len += (size_t)snprintf(detail + len, sizeof detail - len, "%s%s",
                                i == 0 ? ": " : "; ", what);
    }
    if (len < sizeof detail)
        snprintf(detail + len, sizeof detail - len,
                 "): it names no single key; add the key's id= to the URI, or "
                 "delete the stray key with the token's tool");
}

/* The private key o, found by a URI that gives no PIN in a session that
 * another key's login made a user session (login's *borrowed): a private
 * object (CKA_PRIVATE) is visible only through that login, so the URI
 * opened alone (offpayd's next start, once the key it would replace is
 * gone) finds no key. Refused now as it would be then
 * (OFFPAY_EPKCS11_URI), not taken on a SIGHUP to fail at the next start.
 * A key the token shows without a login passes. */
static offpay_err borrowed_key(p11_module *m, CK_SESSION_HANDLE s,
                               CK_OBJECT_HANDLE o)
{
    CK_BBOOL     priv = CK_TRUE;
    CK_ATTRIBUTE t = {CKA_PRIVATE, &priv, sizeof priv};

    if (m->f->C_GetAttributeValue(s, o, &t, 1) == CKR_OK &&
        t.ulValueLen == sizeof priv && priv == CK_FALSE)
        return OFFPAY_OK;
    snprintf(detail, sizeof detail,
             "the URI gives no PIN (no pin-source or pin-value, and $%s is "
             "not set): its private key is visible only because another key "
             "of this process logged the token in, and the URI opened alone "
             "(at the next start) finds no key; give it "
             "pin-source=file:PATH",
             OFFPAY_PKCS11_PIN_ENV);
    return OFFPAY_EPKCS11_URI;
}

/* Opens a session with k->uri's token in k->m into k->session, logs in,
 * (generate: makes the key pair there first, k->made), finds the URI's
 * one Ed25519 private key, which must never leave the token, into
 * k->priv and its public key into pk, and has the token sign a test
 * message that must verify under pk. k->session is k's to close, also
 * on failure; *no_token 1 when no token matched the URI. For open_key,
 * and for reopen with a key whose session was lost (then under k->mu).
 * The caller holds k->m->rw for reading. */
static offpay_err attach(offpay_pkcs11_key *k, int generate,
                         uint8_t pk[OFFPAY_PK_BYTES], int *no_token)
{
    const offpay_pkcs11_uri *u = &k->uri;
    CK_SLOT_ID               slot = 0;
    CK_OBJECT_HANDLE         objs[FOUND_MAX];
    CK_ULONG                 n = 0;
    CK_RV                    rv;
    uint8_t                  sig[OFFPAY_SIG_BYTES];
    static const char        probe[] = "offpay pkcs11 key check";
    int                      borrowed = 0;
    offpay_err               rc;

    k->session = CK_INVALID_HANDLE;
    k->gen = k->m->gen;
    *no_token = 0;
    if ((rc = find_slot(k->m, u, &slot)) != OFFPAY_OK) {
        *no_token = 1;
        return rc;
    }
    rv = k->m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                                NULL, &k->session);
    if (rv != CKR_OK) {
        k->session = CK_INVALID_HANDLE;
        return fail("C_OpenSession", rv);
    }
    if ((rc = login(k->m, slot, k->session, u, &borrowed)) != OFFPAY_OK)
        return rc;
    if (generate) {
        if ((rc = name_free(k->m, k->session, u)) != OFFPAY_OK ||
            (rc = keygen(k->m, k->session, u, &k->made_pub, &k->made_priv)) !=
                OFFPAY_OK)
            return rc;
        k->made = 1;
    }
    if ((rc = find(k->m, k->session, u, CKO_PRIVATE_KEY, objs, &n)) !=
        OFFPAY_OK)
        return rc;
    if (n == 0)
        return no_key(k->m, k->session, u);
    if (n > 1) {
        several(k->m, k->session, objs, n);
        return OFFPAY_EPKCS11_URI;
    }
    k->priv = objs[0];
    if ((borrowed &&
         (rc = borrowed_key(k->m, k->session, k->priv)) != OFFPAY_OK) ||
        (rc = key_stays(k->m, k->session, k->priv)) != OFFPAY_OK)
        return rc;
    if ((rc = find(k->m, k->session, u, CKO_PUBLIC_KEY, objs, &n)) != OFFPAY_OK)
        return rc;
    if (n != 1)
        return say(OFFPAY_EPKCS11_URI,
                   "no single public key matches the URI beside the private");
    if ((rc = read_pk(k->m, k->session, objs[0], pk)) != OFFPAY_OK)
        return rc;
    /* The halves belong together and CKM_EDDSA is pure Ed25519. */
    if ((rc = sign_raw(k, (const uint8_t *)probe, sizeof probe - 1, sig,
                       &rv)) != OFFPAY_OK)
        return rc;
    if (crypto_sign_verify_detached(sig, (const uint8_t *)probe,
                                    sizeof probe - 1, pk) != 0)
        return say(OFFPAY_EPKCS11,
                   "the token's signature does not verify as Ed25519");
    return OFFPAY_OK;
}

/* offpay_pkcs11_open and offpay_pkcs11_generate. */
static offpay_err open_key(const char *module, const char *uri, int generate,
                           offpay_pkcs11_key **out)
{
    offpay_pkcs11_key *k = NULL;
    int                no_token = 0;
    offpay_err         rc;

    detail[0] = '\0';
    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (uri == NULL)
        return OFFPAY_EINVAL;
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return OFFPAY_ENOMEM;
    k->session = CK_INVALID_HANDLE;
    pthread_mutex_init(&k->mu, NULL);
    rc = offpay_pkcs11_uri_parse(uri, &k->uri);
    if (rc != OFFPAY_OK) {
        say(rc, "malformed PKCS#11 URI");
        goto out;
    }
    if ((rc = module_get(module_path(module, &k->uri), &k->m)) != OFFPAY_OK)
        goto out;
    /* left uninitialized by a lost key's attempt (its token away) */
    if (k->m->init_failed && (rc = module_reinit(k->m)) != OFFPAY_OK)
        goto out;
    pthread_rwlock_rdlock(&k->m->rw);
    rc = attach(k, generate, k->pk, &no_token);
    pthread_rwlock_unlock(&k->m->rw);
    if (rc != OFFPAY_OK)
        goto out;
    *out = k;
    k = NULL;
out:
    /* a pair made here that cannot be used is not left in the token: its
     * label would refuse the next --generate-key (EEXISTS) */
    if (k != NULL && k->made)
        (void)offpay__pkcs11_unmake(k);
    offpay_pkcs11_close(k);
    return rc;
}

offpay_err offpay_pkcs11_open(const char *module, const char *uri,
                              offpay_pkcs11_key **out)
{
    return open_key(module, uri, 0, out);
}

offpay_err offpay_pkcs11_generate(const char *module, const char *uri,
                                  offpay_pkcs11_key **out)
{
    return open_key(module, uri, 1, out);
}

void offpay_pkcs11_pk(const offpay_pkcs11_key *k, uint8_t pk[OFFPAY_PK_BYTES])
{
    memcpy(pk, k->pk, OFFPAY_PK_BYTES);
}

/* ---- a lost session, opened anew ------------------------------------ */

/* At most one attempt per REOPEN_MS to open a lost key anew: a token that
 * stays away is not asked at every request (a network HSM's timeout
 * each), and its signatures are refused at once meanwhile. */
#ifdef OFFPAY_TEST_HOOKS
unsigned offpay__pkcs11_reopen_ms = 5000; /* tests: shorter */
#define REOPEN_MS offpay__pkcs11_reopen_ms
#else
#define REOPEN_MS 5000u
#endif

/* What a token answers when the session or the key's handle is gone
 * while the key may still be there: the token removed or reset, its
 * module's state reloaded (SoftHSM2 with its files replaced). A new
 * session may find the key again. */
static int session_lost(CK_RV rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return 1;
    default:
        return 0;
    }
}

static uint64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* k's key for the log: "token 'offpay', object 'issuer-kid-2'" (never
 * the PIN). */
static void key_name(const offpay_pkcs11_key *k, char *out, size_t cap)
{
    char idhex[2 * OFFPAY_PKCS11_ID_MAX + 1] = "";

    if (k->uri.id_len > 0)
        sodium_bin2hex(idhex, sizeof idhex, k->uri.id, k->uri.id_len);
    snprintf(out, cap, "token '%s'%s%s%s, object '%s'%s%s",
             k->uri.token[0] ? k->uri.token : "(any)",
             k->uri.serial[0] ? " serial '" : "", k->uri.serial,
             k->uri.serial[0] ? "'" : "", k->uri.object,
             idhex[0] ? ", id " : "", idhex);
}

/* Opens k's key anew in a new session (logged in, found by its URI,
 * checked as at its open; the module initialized anew first when no
 * token matches, module_reinit) and, when the token holds the same key
 * (the same public key), signs with it from then on. Anything else
 * keeps the session that was lost: a token replaced by another one of
 * the same label, or its label reused, signs nothing (said on the log
 * once per loss). The caller holds k->mu. */
static offpay_err reopen(offpay_pkcs11_key *k)
{
    CK_SESSION_HANDLE old = k->session;
    CK_OBJECT_HANDLE  old_priv = k->priv;
    unsigned          old_gen = k->gen;
    uint8_t           pk[OFFPAY_PK_BYTES];
    char              has[17], was[17], name[OFFPAY_PKCS11_OBJECT_MAX + 96];
    char              why[256];
    int               no_token = 0;
    offpay_err        rc;

    for (int round = 0;; round++) {
        pthread_rwlock_rdlock(&k->m->rw);
        rc = attach(k, 0, pk, &no_token);
        if (rc != OFFPAY_OK && k->session != CK_INVALID_HANDLE)
            k->m->f->C_CloseSession(k->session);
        pthread_rwlock_unlock(&k->m->rw);
        if (rc == OFFPAY_OK || !no_token || round > 0 || !k->m->finalize)
            break;
        snprintf(why, sizeof why, "%.200s", detail);
        if ((rc = module_reinit(k->m)) != OFFPAY_OK) {
            char init[256];

            snprintf(init, sizeof init, "%.200s", detail);
            snprintf(detail, sizeof detail,
                     "%s; initializing the module anew to find it failed: %s",
                     why, init);
            break;
        }
    }
    if (rc == OFFPAY_OK && sodium_memcmp(pk, k->pk, sizeof pk) != 0) {
        sodium_bin2hex(has, sizeof has, pk, 8);
        sodium_bin2hex(was, sizeof was, k->pk, 8);
        snprintf(detail, sizeof detail,
                 "the URI names another key now (public key %s..., the key "
                 "opened %s...): the token was replaced or its label reused",
                 has, was);
        if (!k->wrong_key_said) {
            key_name(k, name, sizeof name);
            offpay__log("offpay: WARNING: PKCS#11 %s: %s; nothing is signed "
                        "with it: put back the token that holds the key, or "
                        "restart with another key\n",
                        name, detail);
            k->wrong_key_said = 1;
        }
        pthread_rwlock_rdlock(&k->m->rw);
        if (k->gen == k->m->gen)
            k->m->f->C_CloseSession(k->session);
        pthread_rwlock_unlock(&k->m->rw);
        rc = OFFPAY_EPKCS11;
    }
    if (rc != OFFPAY_OK) {
        k->session = old;
        k->priv = old_priv;
        k->gen = old_gen;
        return rc;
    }
    /* the old session after the new one logged in (the login is the
     * token's, not the session's), and only if it is of this module's
     * initialization (else its handle may be another key's session now) */
    pthread_rwlock_rdlock(&k->m->rw);
    if (old_gen == k->m->gen)
        k->m->f->C_CloseSession(old);
    pthread_rwlock_unlock(&k->m->rw);
    return OFFPAY_OK;
}

/* k's last signature failed with rv: a lost session or handle (said on
 * the log once per loss), or anything else (the caller's failure). */
static void note_failure(offpay_pkcs11_key *k, CK_RV rv)
{
    char  name[OFFPAY_PKCS11_OBJECT_MAX + 96];
    char *hex;

    if (!session_lost(rv) || k->lost)
        return;
    k->lost = 1;
    k->wrong_key_said = 0;
    k->refused = 0;
    /* "C_SignInit: CKR_OBJECT_HANDLE_INVALID": a hint shows the start of
     * what follows it only */
    snprintf(k->lost_why, sizeof k->lost_why, "%.159s", detail);
    if ((hex = strstr(k->lost_why, " (0x")) != NULL)
        *hex = '\0';
    /* what a signature refused before the next attempt says */
    snprintf(k->retry_why, sizeof k->retry_why,
             "%s: the token's session was lost; opened anew at a signature "
             "at most every %.1f s",
             k->lost_why, (double)REOPEN_MS / 1000.0);
    key_name(k, name, sizeof name);
    offpay__log("offpay: PKCS#11 %s: the token lost the key's session or "
                "handle (%s): it is opened anew at the next signature, at "
                "most every %.1f s, until it signs again\n",
                name, k->lost_why, (double)REOPEN_MS / 1000.0);
}

/* A lost key (k->lost) opened anew, at most once per REOPEN_MS; between
 * attempts refused at once with the last attempt's reason. The caller
 * holds k->mu. */
static offpay_err recover(offpay_pkcs11_key *k)
{
    uint64_t   now = now_ms();
    char       name[OFFPAY_PKCS11_OBJECT_MAX + 96];
    offpay_err rc;

    if (now < k->retry_at) {
        k->refused++;
        snprintf(detail, sizeof detail, "%s", k->retry_why);
        return OFFPAY_EPKCS11;
    }
    k->retry_at = now + REOPEN_MS;
    rc = reopen(k);
    if (rc != OFFPAY_OK) {
        char why[sizeof detail];

        k->refused++;
        snprintf(why, sizeof why, "%s", detail);
        /* what lost it, then why it is still lost: a hint shows the
         * start only (120 characters in an answer, 160 in health's) */
        snprintf(k->retry_why, sizeof k->retry_why,
                 "%s; opened anew: %.300s (%s); tried again in %.1f s",
                 k->lost_why, why, offpay_errname(rc),
                 (double)REOPEN_MS / 1000.0);
        snprintf(detail, sizeof detail, "%s", k->retry_why);
        /* whatever the attempt met, the key stays lost: EPKCS11 */
        return OFFPAY_EPKCS11;
    }
    k->lost = 0;
    key_name(k, name, sizeof name);
    offpay__log("offpay: PKCS#11 %s: opened anew in a new session after "
                "%s; the key signs again (%lu signature(s) refused "
                "meanwhile)\n",
                name, k->lost_why, k->refused);
    return OFFPAY_OK;
}

/* Signs buf with k's key, opening it anew first when its session was lost,
 * and once more when this signature finds it lost (the token back since:
 * the request is answered rather than refused). The caller holds k->mu. */
static offpay_err sign_locked(offpay_pkcs11_key *k, const uint8_t *buf,
                              size_t n, uint8_t sig[OFFPAY_SIG_BYTES])
{
    CK_RV      rv = CKR_OK;
    offpay_err rc;

    for (int attempt = 0;; attempt++) {
        if (k->lost && (rc = recover(k)) != OFFPAY_OK)
            return rc;
        pthread_rwlock_rdlock(&k->m->rw);
        if (k->gen == k->m->gen)
            rc = sign_raw(k, buf, n, sig, &rv);
        else { /* the module was initialized anew since its open */
            rv = CKR_SESSION_HANDLE_INVALID;
            rc = say(OFFPAY_EPKCS11,
                     "the module was initialized anew (another key's token "
                     "was lost): CKR_SESSION_HANDLE_INVALID");
        }
        pthread_rwlock_unlock(&k->m->rw);
        if (rc == OFFPAY_OK)
            return rc;
        note_failure(k, rv);
        if (!k->lost || attempt > 0)
            return rc;
    }
}

offpay_err offpay_pkcs11_sign(offpay_pkcs11_key *k, const char *domain,
                              const uint8_t *msg, size_t len,
                              uint8_t sig[OFFPAY_SIG_BYTES])
{
    uint8_t    stack[1024];
    uint8_t   *buf;
    size_t     dlen, n;
    offpay_err rc;

    if (k == NULL || domain == NULL || (msg == NULL && len > 0) || sig == NULL)
        return OFFPAY_EINVAL;
    dlen = strlen(domain);
    if (len > SIZE_MAX - dlen - 1)
        return OFFPAY_EINVAL;
    n = dlen + 1 + len;
    buf = n <= sizeof stack ? stack : malloc(n);
    if (buf == NULL)
        return OFFPAY_ENOMEM;
    memcpy(buf, domain, dlen);
    buf[dlen] = 0;
    if (len > 0)
        memcpy(buf + dlen + 1, msg, len);
    pthread_mutex_lock(&k->mu);
    rc = sign_locked(k, buf, n, sig);
    pthread_mutex_unlock(&k->mu);
    /* what the token signed is checked before it goes out: a faulty token
     * (or module) would otherwise have credentials and answers issued
     * that nothing verifies, and money moved for them (one verification,
     * ~50 µs, beside the token's own call) */
    if (rc == OFFPAY_OK &&
        crypto_sign_verify_detached(sig, buf, n, k->pk) != 0) {
        sodium_memzero(sig, OFFPAY_SIG_BYTES);
        rc = say(OFFPAY_EPKCS11, "the token's signature does not verify: "
                                 "the token or its module is faulty");
    }
    if (buf != stack)
        free(buf);
    return rc;
}

offpay_err offpay__pkcs11_unmake(offpay_pkcs11_key *k)
{
    char       kept[sizeof detail], what[256];
    CK_RV      rv_priv, rv_pub;
    offpay_err rc = OFFPAY_OK;

    if (k == NULL || !k->made)
        return OFFPAY_OK;
    /* the caller reports its own failure: its detail stays */
    memcpy(kept, detail, sizeof kept);
    pthread_mutex_lock(&k->mu);
    pthread_rwlock_rdlock(&k->m->rw);
    describe(k->m, k->session, k->made_priv, what, sizeof what);
    rv_priv = k->m->f->C_DestroyObject(k->session, k->made_priv);
    rv_pub = k->m->f->C_DestroyObject(k->session, k->made_pub);
    pthread_rwlock_unlock(&k->m->rw);
    k->made = 0;
    pthread_mutex_unlock(&k->mu);
    if (rv_priv != CKR_OK || rv_pub != CKR_OK) {
        CK_RV rv = rv_priv != CKR_OK ? rv_priv : rv_pub;

        offpay__log("offpay: WARNING: the key pair just made in the PKCS#11 "
                    "token (%s) could not be deleted after the failure "
                    "(C_DestroyObject: %s (0x%lx)): delete it with the "
                    "token's tool before making a key under its name "
                    "again\n",
                    what, ckr_name(rv), (unsigned long)rv);
        rc = OFFPAY_EPKCS11;
    }
    memcpy(detail, kept, sizeof kept);
    return rc;
}

void offpay_pkcs11_close(offpay_pkcs11_key *k)
{
    if (k == NULL)
        return;
    if (k->m != NULL && k->session != CK_INVALID_HANDLE) {
        pthread_rwlock_rdlock(&k->m->rw);
        if (k->gen == k->m->gen) /* else gone, its handle maybe another's */
            k->m->f->C_CloseSession(k->session);
        pthread_rwlock_unlock(&k->m->rw);
    }
    module_put(k->m);
    pthread_mutex_destroy(&k->mu);
    offpay_pkcs11_uri_wipe(&k->uri);
    free(k);
}

offpay_err offpay_signer_sign(const offpay_signer *s, const char *domain,
                              const uint8_t *msg, size_t len,
                              uint8_t sig[OFFPAY_SIG_BYTES])
{
    if (s == NULL)
        return OFFPAY_EINVAL;
    if (s->sk != NULL)
        return offpay_sign(domain, msg, len, s->sk, sig);
    return offpay_pkcs11_sign(s->p11, domain, msg, len, sig);
}
