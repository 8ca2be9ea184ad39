#!/usr/bin/env python3
"""Exit 0 when the ELF64 little-endian file has no PT_INTERP segment (a static binary), 1 when it
has one, 2 when it is not such an ELF file."""
import struct, sys

with open(sys.argv[1], "rb") as f:
    data = f.read(1 << 16)
if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
    sys.exit(2)
phoff, = struct.unpack_from("<Q", data, 0x20)
phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
for i in range(phnum):
    off = phoff + i * phentsize
    if off + 4 > len(data):
        sys.exit(2)
    p_type, = struct.unpack_from("<I", data, off)
    if p_type == 3:  # PT_INTERP
        sys.exit(1)
sys.exit(0)
