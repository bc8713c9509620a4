/*
 * pcsc.c — the terminal's NFC reader through PC/SC (libpcsclite talking to
 * pcscd). The same code drives a USB contactless reader at a shop counter
 * or vsmartcard's virtual reader in tests: PC/SC hides which.
 *
 * The client library finds pcscd's socket at PCSCLITE_CSOCK_NAME when that
 * environment variable is set (tests run a private pcscd), else at the
 * system path.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <winscard.h>

#include "offpay/nfc.h"

struct offpay_nfc_reader {
    SCARDCONTEXT ctx;
    SCARDHANDLE  card;
    DWORD        proto;
    int          connected;
    char         name[256];
};

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

static offpay_err reader_transmit(void *vr, const uint8_t *cmd, size_t len,
                                  uint8_t *resp, size_t cap, size_t *resp_len)
{
    offpay_nfc_reader      *r = vr;
    const SCARD_IO_REQUEST *pci;
    DWORD                   n = (DWORD)cap;
    LONG                    rv;

    *resp_len = 0;
    if (!r->connected)
        return OFFPAY_EIO;
    pci = r->proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    rv = SCardTransmit(r->card, pci, cmd, (DWORD)len, NULL, resp, &n);
    if (rv != SCARD_S_SUCCESS)
        return OFFPAY_EIO; /* removed, reset, unresponsive: the card left */
    if (n < 2) {
        /* No status word: some drivers (vpcd among them) report a card
         * gone mid-command as an empty answer. */
        (void)SCardDisconnect(r->card, SCARD_LEAVE_CARD);
        r->connected = 0;
        return OFFPAY_EIO;
    }
    *resp_len = n;
    return OFFPAY_OK;
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
    SCardReleaseContext(r->ctx);
    free(r);
}

const char *offpay_nfc_reader_name(const offpay_nfc_reader *r)
{
    return r != NULL ? r->name : "";
}
