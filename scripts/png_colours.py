"""Fails unless a PNG shows a picture: at least MIN distinct colours (a blank or error page
has one or two), and each colour given as RRGGBB somewhere in it (the fills of a chart, which
show it was drawn). Decodes the PNG with the standard library alone.

    python3 png_colours.py FILE.png MIN [RRGGBB...]
"""

import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = header
    channels = {2: 3, 6: 4, 0: 1, 4: 2}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise SystemExit(f"{path}: unsupported PNG (depth {depth}, colour type {colour})")
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def main():
    path, minimum = sys.argv[1], int(sys.argv[2])
    wanted = {bytes.fromhex(c): c for c in sys.argv[3:]}
    width, height, channels, rows = pixels(path)
    colours = set()
    for row in rows:
        for x in range(0, len(row), channels):
            colours.add(row[x : x + 3])
    missing = [name for colour, name in wanted.items() if colour not in colours]
    if missing:
        raise SystemExit(f"{path}: the chart's colours {', '.join(missing)} are not in it")
    print(f"{path}: {width}x{height}, {len(colours)} colours")
    if len(colours) < minimum:
        raise SystemExit(f"{path}: looks blank ({len(colours)} colours, at least {minimum} expected)")


if __name__ == "__main__":
    main()
