/*
 * ble.c — framing of offpay messages over Bluetooth LE GATT (docs/nfc.md
 * §7), pure: a message (a command or response APDU of the NFC application)
 * is cut into fragments that each fit one ATT write or notification
 * (ATT MTU - 3 bytes), and reassembled strictly on the other side.
 *
 * Fragment 0: seq 00, the message length (u16 big-endian), then data.
 * Fragment i > 0: seq i (1..255), then data. With OFFPAY_BLE_MSG_MAX
 * bytes at the smallest MTU a message needs fewer than 256 fragments, so
 * sequence numbers never wrap.
 */
#include <string.h>

#include "offpay/nfc.h"

static int mtu_ok(size_t mtu)
{
    return mtu >= OFFPAY_BLE_MTU_MIN && mtu <= OFFPAY_BLE_MTU_MAX;
}

size_t offpay_ble_fragments(size_t len, size_t mtu)
{
    size_t room, first;

    if (len == 0 || len > OFFPAY_BLE_MSG_MAX || !mtu_ok(mtu))
        return 0;
    room = mtu - 3; /* ATT opcode and handle */
    first = room - 3;
    if (len <= first)
        return 1;
    return 1 + (len - first + (room - 1) - 1) / (room - 1);
}

offpay_err offpay_ble_fragment(const uint8_t *msg, size_t len, size_t mtu,
                               size_t index, uint8_t *frag, size_t cap,
                               size_t *frag_len)
{
    size_t count = offpay_ble_fragments(len, mtu), room, off, n, hdr;

    if (msg == NULL || frag == NULL || frag_len == NULL || count == 0 ||
        index >= count)
        return OFFPAY_EINVAL;
    *frag_len = 0;
    room = mtu - 3;
    if (index == 0) {
        off = 0;
        hdr = 3;
    } else {
        off = (room - 3) + (index - 1) * (room - 1);
        hdr = 1;
    }
    n = len - off;
    if (n > room - hdr)
        n = room - hdr;
    if (cap < hdr + n)
        return OFFPAY_ERANGE;
    frag[0] = (uint8_t)index;
    if (index == 0) {
        frag[1] = (uint8_t)(len >> 8);
        frag[2] = (uint8_t)len;
    }
    memcpy(frag + hdr, msg + off, n);
    *frag_len = hdr + n;
    return OFFPAY_OK;
}

void offpay_ble_rx_init(offpay_ble_rx *rx)
{
    if (rx == NULL)
        return;
    rx->want = 0;
    rx->have = 0;
    rx->next_seq = 0;
    rx->active = 0;
    rx->last_ms = 0;
}

offpay_err offpay_ble_rx_push(offpay_ble_rx *rx, const uint8_t *frag,
                              size_t len, uint64_t now_ms, const uint8_t **msg,
                              size_t *msg_len)
{
    size_t     want, n;
    offpay_err rc = OFFPAY_OK;

    if (rx == NULL || frag == NULL || msg == NULL || msg_len == NULL)
        return OFFPAY_EINVAL;
    *msg = NULL;
    *msg_len = 0;
    if (rx->active && now_ms - rx->last_ms > OFFPAY_BLE_TIMEOUT_MS)
        offpay_ble_rx_init(rx); /* the sender went silent: start over */
    if (len < 1) {
        rc = OFFPAY_ETRUNCATED;
        goto out;
    }
    if (frag[0] == 0) {
        /* A new message; one in progress is abandoned. */
        if (len < 3) {
            rc = OFFPAY_ETRUNCATED;
            goto out;
        }
        want = (size_t)frag[1] << 8 | frag[2];
        if (want == 0) {
            rc = OFFPAY_EMALFORMED;
            goto out;
        }
        if (want > OFFPAY_BLE_MSG_MAX) {
            rc = OFFPAY_ETOOBIG;
            goto out;
        }
        offpay_ble_rx_init(rx);
        rx->active = 1;
        rx->want = want;
        frag += 3;
        len -= 3;
    } else {
        if (!rx->active || frag[0] != rx->next_seq) {
            rc = OFFPAY_EMALFORMED;
            goto out;
        }
        frag += 1;
        len -= 1;
    }
    n = len;
    if (n > rx->want - rx->have) {
        rc = OFFPAY_ETRAILING;
        goto out;
    }
    /* An empty continuation carries nothing and is refused; an empty
     * first fragment is allowed only if the MTU leaves no room. */
    if (n == 0 && rx->next_seq != 0) {
        rc = OFFPAY_EMALFORMED;
        goto out;
    }
    memcpy(rx->buf + rx->have, frag, n);
    rx->have += n;
    rx->next_seq++;
    rx->last_ms = now_ms;
    if (rx->have == rx->want) {
        *msg = rx->buf;
        *msg_len = rx->have;
        rx->active = 0;
        rx->next_seq = 0;
    } else if (rx->next_seq == 0) {
        rc = OFFPAY_EMALFORMED; /* 256 fragments: cannot happen honestly */
    }
out:
    if (rc != OFFPAY_OK)
        offpay_ble_rx_init(rx);
    return rc;
}
