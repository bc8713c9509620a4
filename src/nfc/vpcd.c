/*
 * vpcd.c — the card side of vsmartcard's virtual reader (vpcd, Debian's
 * vsmartcard-vpcd): what a phone's host card emulation does over the air,
 * done over vpcd's socket so that pcscd sees a card in its virtual reader.
 *
 * vpcd's protocol (its default port is 35963, set by CHANNELID in its
 * reader.conf entry): vpcd listens, the card connects. Every message in
 * either direction is a 2-byte big-endian length and that many bytes. A
 * 1-byte message from vpcd is a control: 00 power off, 01 power on,
 * 02 reset (no answer), 04 "send your ATR" (answered with the ATR). Any
 * longer message is a command APDU, answered with the response APDU.
 * Closing the connection is the card leaving the field.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "offpay/nfc.h"

#define CTRL_OFF   0x00
#define CTRL_ON    0x01
#define CTRL_RESET 0x02
#define CTRL_ATR   0x04

/* An ISO 14443-4 card's ATR as PC/SC part 3 builds it, no historical
 * bytes: T=1. */
static const uint8_t atr[] = {0x3B, 0x80, 0x80, 0x01, 0x01};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_once(const char *host, uint16_t port)
{
    struct addrinfo hints, *res = NULL, *ai;
    char            serv[8];
    int             fd = -1;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(serv, sizeof serv, "%u", (unsigned)port);
    if (getaddrinfo(host, serv, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;

            /* Each answer is one small write: send it now (Nagle would
             * hold it for the peer's delayed acknowledgement). */
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* vpcd writes a message's length and its bytes in two writes, on a socket
 * without TCP_NODELAY: Nagle holds the bytes until the length is
 * acknowledged, and a delayed acknowledgement costs 40 ms per APDU. So
 * acknowledge at once (Linux re-arms delayed acks, hence after every read). */
static void quick_ack(int fd)
{
#ifdef TCP_QUICKACK
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
    (void)fd;
#endif
}

/* Reads exactly n bytes. 1: done, 0: the peer closed, -1: error or
 * timeout (timeout_ms < 0: none). */
static int read_full(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t       r;
        int           pr = poll(&pfd, 1, timeout_ms);

        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        r = recv(fd, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        quick_ack(fd);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

static int send_msg(int fd, const uint8_t *data, size_t n)
{
    uint8_t buf[2 + OFFPAY_APDU_RESP_MAX];
    size_t  off = 0;

    if (n > OFFPAY_APDU_RESP_MAX)
        return -1;
    buf[0] = (uint8_t)(n >> 8);
    buf[1] = (uint8_t)n;
    memcpy(buf + 2, data, n);
    n += 2;
    while (off < n) {
        ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

offpay_err offpay_nfc_vpcd_tap(const char *host, uint16_t port,
                               offpay_nfc_card            *c,
                               const offpay_nfc_vpcd_opts *opts,
                               uint32_t                   *apdus)
{
    uint8_t   *msg = NULL, hdr[2], resp[OFFPAY_APDU_RESP_MAX];
    int        fd = -1;
    int64_t    deadline;
    uint32_t   count = 0;
    offpay_err rc = OFFPAY_OK;

    if (apdus != NULL)
        *apdus = 0;
    if (host == NULL || c == NULL || opts == NULL)
        return OFFPAY_EINVAL;
    msg = malloc(0x10000); /* any length vpcd can announce */
    if (msg == NULL)
        return OFFPAY_ENOMEM;
    deadline = mono_ms() + opts->connect_ms;
    for (;;) {
        struct timespec ts = {0, 50 * 1000000L};

        fd = connect_once(host, port);
        if (fd >= 0 || mono_ms() >= deadline)
            break;
        nanosleep(&ts, NULL);
    }
    if (fd < 0) {
        rc = OFFPAY_EIO;
        goto out;
    }
    offpay_nfc_card_reset(c);
    deadline = opts->max_ms > 0 ? mono_ms() + opts->max_ms : 0;
    for (;;) {
        size_t n, rlen;
        int timeout = count > 0 && opts->idle_ms > 0 ? (int)opts->idle_ms : -1;
        int r;

        if (deadline != 0) {
            int64_t left = deadline - mono_ms();

            if (left <= 0)
                break;
            if (timeout < 0 || left < timeout)
                timeout = (int)left;
        }
        r = read_full(fd, hdr, 2, timeout);

        if (r == 0)
            break; /* vpcd closed: pcscd stopped */
        if (r < 0) {
            if (timeout >= 0)
                break; /* idle: the card leaves */
            rc = OFFPAY_EIO;
            break;
        }
        n = (size_t)hdr[0] << 8 | hdr[1];
        if (n == 0) {
            rc = OFFPAY_EIO;
            break;
        }
        r = read_full(fd, msg, n, 5000);
        if (r <= 0) {
            rc = r == 0 ? OFFPAY_OK : OFFPAY_EIO;
            break;
        }
        if (n == 1) {
            if (msg[0] == CTRL_ATR) {
                if (send_msg(fd, atr, sizeof atr) != 0)
                    break;
            } else if (msg[0] == CTRL_OFF || msg[0] == CTRL_ON ||
                       msg[0] == CTRL_RESET) {
                offpay_nfc_card_reset(c);
            }
            continue;
        }
        count++;
        rlen = offpay_nfc_card_process(c, msg, n, resp);
        if (opts->drop_at != 0 && count == opts->drop_at)
            break; /* pulled away: processed, never answered */
        if (send_msg(fd, resp, rlen) != 0)
            break;
        if (opts->done != NULL && opts->done(opts->ctx))
            break;
    }
out:
    if (fd >= 0)
        close(fd);
    offpay_nfc_card_reset(c);
    free(msg);
    if (apdus != NULL)
        *apdus = count;
    return rc;
}
