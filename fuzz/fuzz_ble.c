/*
 * fuzz_ble.c — libFuzzer target for the Bluetooth LE reassembly
 * (offpay_ble_rx_push, nfc.h): what any device in radio range can write.
 *
 * The input is a sequence of fragments, each preceded by one length byte
 * and one time step byte (milliseconds × 16). Contract checked:
 *   - reassembly never crashes and fails only with its documented errors;
 *   - a completed message is 1..OFFPAY_BLE_MSG_MAX bytes, and fragmenting
 *     it again at the smallest MTU and pushing the fragments into a fresh
 *     receiver gives back exactly the same bytes.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"

static void check_round_trip(const uint8_t *msg, size_t len)
{
    static offpay_ble_rx rx;
    uint8_t              frag[OFFPAY_BLE_MTU_MAX];
    const uint8_t       *out = NULL;
    size_t               i, fl = 0, ml = 0;
    size_t               count = offpay_ble_fragments(len, OFFPAY_BLE_MTU_MIN);

    if (count == 0)
        abort();
    offpay_ble_rx_init(&rx);
    for (i = 0; i < count; i++)
        if (offpay_ble_fragment(msg, len, OFFPAY_BLE_MTU_MIN, i, frag,
                                sizeof frag, &fl) != OFFPAY_OK ||
            offpay_ble_rx_push(&rx, frag, fl, 0, &out, &ml) != OFFPAY_OK)
            abort();
    if (out == NULL || ml != len || memcmp(out, msg, len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static offpay_ble_rx rx;
    static uint8_t       copy[OFFPAY_BLE_MSG_MAX];
    uint64_t             now = 0;
    size_t               off = 0;

    offpay_ble_rx_init(&rx);
    while (off + 2 <= size) {
        size_t         n = data[off];
        const uint8_t *msg = NULL;
        size_t         ml = 0;
        offpay_err     rc;

        now += (uint64_t)data[off + 1] * 16;
        off += 2;
        if (n > size - off)
            n = size - off;
        rc = offpay_ble_rx_push(&rx, data + off, n, now, &msg, &ml);
        off += n;
        if (rc != OFFPAY_OK) {
            if (rc != OFFPAY_ETRUNCATED && rc != OFFPAY_EMALFORMED &&
                rc != OFFPAY_ETOOBIG && rc != OFFPAY_ETRAILING)
                abort();
            continue;
        }
        if (msg == NULL)
            continue;
        if (ml == 0 || ml > OFFPAY_BLE_MSG_MAX)
            abort();
        memcpy(copy, msg, ml);
        check_round_trip(copy, ml);
    }
    return 0;
}
