#!/usr/bin/env python3
"""qr_pair.py LIBOFFPAY TEXT1 TEXT2 OUT.png — one picture of two QR codes
side by side, as a camera sees a phone's code beside another (a second
phone, a poster), for the end-to-end tests of the terminal's scanner.

Each code's modules come from liboffpay's own QR writer
(offpay_qr_render_utf8, called through ctypes): each character cell holds
two module rows, light modules drawn as blocks (█ both, ▀ the upper, ▄ the
lower, a space neither), with the quiet zone around the code. The two
matrices are put side by side on white, 4 pixels a module, dark modules
black, and written as an 8-bit grey PNG with the standard library's zlib.
"""
import ctypes
import struct
import sys
import zlib

SCALE = 4
LIGHT = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}


def modules(lib, text):
    """The code's rows of modules, 1 for light, quiet zone included."""
    out = ctypes.c_char_p()
    rc = lib.offpay_qr_render_utf8(text.encode(), ctypes.byref(out))
    if rc != 0:
        sys.exit(f"qr_pair.py: offpay_qr_render_utf8 failed ({rc})")
    art = out.value.decode()
    # the free of the process's global namespace, which the library's
    # malloc resolved to (a sanitizer build's runtime, loaded after
    # python's libc, has its own free, which this memory is not from)
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(ctypes.cast(out, ctypes.c_void_p))
    rows = []
    for line in art.rstrip("\n").split("\n"):
        upper = [LIGHT[c][0] for c in line]
        lower = [LIGHT[c][1] for c in line]
        rows += [upper, lower]
    return rows


def png(path, pixels, width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\0" + bytes(pixels[y * width:(y + 1) * width])
                   for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                           0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: qr_pair.py LIBOFFPAY TEXT1 TEXT2 OUT.png")
    lib = ctypes.CDLL(sys.argv[1])
    lib.offpay_qr_render_utf8.argtypes = [ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_char_p)]
    left, right = modules(lib, sys.argv[2]), modules(lib, sys.argv[3])
    gap = 8  # light modules between the two quiet zones
    height = max(len(left), len(right))
    width = len(left[0]) + gap + len(right[0])
    grid = [[1] * width for _ in range(height)]
    for y, row in enumerate(left):
        grid[y][:len(row)] = row
    for y, row in enumerate(right):
        x0 = len(left[0]) + gap
        grid[y][x0:x0 + len(row)] = row
    pixels = bytearray()
    for row in grid:
        line = bytearray()
        for light in row:
            line += bytes([255 if light else 0]) * SCALE
        pixels += line * SCALE
    png(sys.argv[4], pixels, width * SCALE, height * SCALE)


if __name__ == "__main__":
    main()
