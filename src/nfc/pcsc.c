/*
 * pcsc.c — the terminal's NFC reader through PC/SC (libpcsclite talking to
 * pcscd). The same code drives a USB contactless reader at a shop counter
 * or vsmartcard's virtual reader in tests: PC/SC hides which.
 *
 * The client library finds pcscd's socket at PCSCLITE_CSOCK_NAME when that
 * environment variable is set (tests run a private pcscd), else at the
 * system path.
 *
 * A card must answer each command within OFFPAY_NFC_ANSWER_MS.
 * SCardTransmit itself has no deadline (the client waits on pcscd, which
 * waits on the reader's driver, which may wait on a card that keeps asking
 * for more time), and SCardCancel does not cancel it: so each command runs
 * in a worker thread, and a command not answered in time is given up. The
 * worker then owns the PC/SC context and card handle it was using, and
 * releases them when its call returns (the card leaves, or the driver
 * gives up); the reader goes on with a new context.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <winscard.h>

#include "core/deadline.h"
#include "offpay/nfc.h"

struct offpay_nfc_reader {
    SCARDCONTEXT ctx;
    int          have_ctx; /* 0: a new context could not be had */
    SCARDHANDLE  card;
    DWORD        proto;
    int          connected;
    char         name[256];
};

/* One command in flight: the caller waits for done until the deadline;
 * past it, it sets abandoned and the worker frees it. */
typedef struct xfer {
    pthread_mutex_t         mu;
    pthread_cond_t          cv;
    int                     done, abandoned;
    SCARDCONTEXT            ctx;
    SCARDHANDLE             card;
    const SCARD_IO_REQUEST *pci;
    DWORD                   len, n;
    LONG                    rv;
    uint8_t                 cmd[OFFPAY_APDU_CMD_MAX];
    uint8_t                 resp[OFFPAY_APDU_RESP_MAX];
} xfer;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void reader_disconnect(void *vr)
{
    offpay_nfc_reader *r = vr;

    if (r->connected) {
        /* Leave the card as it is: powering off a card that already left
         * makes pcscd publish the reader as empty until its poller sees a
         * change, which hides the next card (vpcd); every session starts
         * with SELECT anyway. */
        (void)SCardDisconnect(r->card, SCARD_LEAVE_CARD);
        r->connected = 0;
    }
}

static offpay_err reader_connect(void *vr, uint32_t timeout_ms)
{
    offpay_nfc_reader *r = vr;
    SCARD_READERSTATE  st;
    int64_t            deadline = mono_ms() + timeout_ms;
    LONG               rv;

    reader_disconnect(r);
    if (!r->have_ctx) /* lost with a silent card's session: again */
        r->have_ctx = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL,
                                            &r->ctx) == SCARD_S_SUCCESS;
    if (!r->have_ctx)
        return OFFPAY_EIO;
    memset(&st, 0, sizeof st);
    st.szReader = r->name;
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    for (;;) {
        int64_t left = deadline - mono_ms();

        if (left <= 0)
            return OFFPAY_EIO;
        rv = SCardGetStatusChange(r->ctx, (DWORD)(left > 500 ? 500 : left), &st,
                                  1);
        if (rv == SCARD_E_TIMEOUT) {
            st.dwCurrentState = st.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
            continue;
        }
        if (rv != SCARD_S_SUCCESS)
            return OFFPAY_EIO;
        st.dwCurrentState = st.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
        if ((st.dwEventState & SCARD_STATE_PRESENT) == 0 ||
            (st.dwEventState & SCARD_STATE_MUTE) != 0)
            continue;
        rv = SCardConnect(r->ctx, r->name, SCARD_SHARE_EXCLUSIVE,
                          SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &r->card,
                          &r->proto);
        if (rv == SCARD_S_SUCCESS) {
            r->connected = 1;
            return OFFPAY_OK;
        }
        /* Gone again, or still powering: look again shortly. */
        nap_ms(50);
    }
}

static void *xfer_run(void *vx)
{
    xfer *x = vx;
    LONG  rv;
    int   abandoned;

    rv = SCardTransmit(x->card, x->pci, x->cmd, x->len, NULL, x->resp, &x->n);
    pthread_mutex_lock(&x->mu);
    x->rv = rv;
    x->done = 1;
    abandoned = x->abandoned;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    if (abandoned) {
        (void)SCardDisconnect(x->card, SCARD_LEAVE_CARD);
        (void)SCardReleaseContext(x->ctx);
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->mu);
        free(x);
    }
    return NULL;
}

/* Runs x's command in a worker for at most OFFPAY_NFC_ANSWER_MS. 1: done
 * (x->rv, x->n set; x still the caller's); 0: given up (x is the
 * worker's now); -1: no worker could be started (x still the caller's). */
static int xfer_wait(xfer *x)
{
    pthread_condattr_t ca;
    pthread_t          th;
    struct timespec    until;
    int                done, e = 0;

    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    e = pthread_cond_init(&x->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (e != 0)
        return -1;
    if (pthread_mutex_init(&x->mu, NULL) != 0) {
        pthread_cond_destroy(&x->cv);
        return -1;
    }
    if (pthread_create(&th, NULL, xfer_run, x) != 0) {
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->mu);
        return -1;
    }
    offpay__deadline(CLOCK_MONOTONIC, OFFPAY_NFC_ANSWER_MS, &until);
    pthread_mutex_lock(&x->mu);
    while (!x->done && e != ETIMEDOUT)
        e = pthread_cond_timedwait(&x->cv, &x->mu, &until);
    done = x->done;
    if (!done)
        x->abandoned = 1;
    pthread_mutex_unlock(&x->mu);
    if (!done) {
        pthread_detach(th);
        return 0;
    }
    pthread_join(th, NULL);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    return 1;
}

static offpay_err reader_transmit(void *vr, const uint8_t *cmd, size_t len,
                                  uint8_t *resp, size_t cap, size_t *resp_len)
{
    offpay_nfc_reader *r = vr;
    xfer              *x;
    int                ran;
    offpay_err         rc = OFFPAY_OK;

    *resp_len = 0;
    if (!r->connected)
        return OFFPAY_EIO;
    if (len > sizeof x->cmd)
        return OFFPAY_EINVAL;
    x = calloc(1, sizeof *x);
    if (x == NULL)
        return OFFPAY_ENOMEM;
    x->ctx = r->ctx;
    x->card = r->card;
    x->pci = r->proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    memcpy(x->cmd, cmd, len);
    x->len = (DWORD)len;
    x->n = (DWORD)(cap < sizeof x->resp ? cap : sizeof x->resp);
    ran = xfer_wait(x);
    if (ran == 0) {
        /* The card did not answer: its session and this context are the
         * worker's now. Go on with a new context; the card, while it
         * stays, is in use (the next connect finds it so). */
        r->connected = 0;
        r->have_ctx = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL,
                                            &r->ctx) == SCARD_S_SUCCESS;
        return OFFPAY_ECARD_SILENT;
    }
    if (ran < 0)
        rc = OFFPAY_ENOMEM;
    else if (x->rv != SCARD_S_SUCCESS)
        rc = OFFPAY_EIO; /* removed, reset, unresponsive: the card left */
    else if (x->n < 2) {
        /* No status word: some drivers (vpcd among them) report a card
         * gone mid-command as an empty answer. */
        (void)SCardDisconnect(r->card, SCARD_LEAVE_CARD);
        r->connected = 0;
        rc = OFFPAY_EIO;
    } else {
        memcpy(resp, x->resp, x->n);
        *resp_len = x->n;
    }
    free(x);
    return rc;
}

offpay_err offpay_nfc_reader_open(const char *name, offpay_nfc_reader **out,
                                  offpay_nfc_link *link)
{
    offpay_nfc_reader *r = NULL;
    char              *names = NULL;
    const char        *p;
    DWORD              len = 0;
    offpay_err         rc = OFFPAY_OK;

    if (out == NULL || link == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    memset(link, 0, sizeof *link);
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return OFFPAY_ENOMEM;
    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &r->ctx) !=
        SCARD_S_SUCCESS) {
        free(r);
        return OFFPAY_EIO;
    }
    r->have_ctx = 1;
    if (SCardListReaders(r->ctx, NULL, NULL, &len) != SCARD_S_SUCCESS ||
        len == 0) {
        rc = OFFPAY_ENOTFOUND;
        goto out;
    }
    names = malloc(len);
    if (names == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    if (SCardListReaders(r->ctx, NULL, names, &len) != SCARD_S_SUCCESS) {
        rc = OFFPAY_ENOTFOUND;
        goto out;
    }
    rc = OFFPAY_ENOTFOUND;
    for (p = names; *p != '\0'; p += strlen(p) + 1) {
        if ((name == NULL || strstr(p, name) != NULL) &&
            strlen(p) < sizeof r->name) {
            strcpy(r->name, p);
            rc = OFFPAY_OK;
            break;
        }
    }
out:
    free(names);
    if (rc != OFFPAY_OK) {
        SCardReleaseContext(r->ctx);
        free(r);
        return rc;
    }
    link->connect = reader_connect;
    link->transmit = reader_transmit;
    link->disconnect = reader_disconnect;
    link->ctx = r;
    *out = r;
    return OFFPAY_OK;
}

void offpay_nfc_reader_close(offpay_nfc_reader *r)
{
    if (r == NULL)
        return;
    reader_disconnect(r);
    if (r->have_ctx)
        SCardReleaseContext(r->ctx);
    free(r);
}

const char *offpay_nfc_reader_name(const offpay_nfc_reader *r)
{
    return r != NULL ? r->name : "";
}
