#!/usr/bin/env python3
"""Independent Nitro PCR computation from an EIF file, written from the EIF specification
(aws-nitro-enclaves-image-format): no kiln code. Prints JSON {"PCR0","PCR1","PCR2","crc_ok"}.

  PCR0 = extend(SHA384(kernel | cmdline | all ramdisks))
  PCR1 = extend(SHA384(kernel | cmdline | first ramdisk))
  PCR2 = extend(SHA384(remaining ramdisks))
  extend(d) = SHA384(48 zero bytes | d)
"""
import hashlib
import json
import struct
import sys
import zlib

KERNEL, CMDLINE, RAMDISK, SIGNATURE, METADATA = 1, 2, 3, 4, 5


def main(path):
    data = open(path, "rb").read()
    magic, version, flags, mem, cpus, _res, n = struct.unpack_from(">4sHHQQHH", data, 0)
    assert magic == b".eif", "bad magic"
    offsets = struct.unpack_from(">32Q", data, 28)
    sizes = struct.unpack_from(">32Q", data, 28 + 256)
    _unused, crc = struct.unpack_from(">II", data, 540)
    crc_ok = zlib.crc32(data[:544] + data[548:]) == crc
    h0, h1, h2 = hashlib.sha384(), hashlib.sha384(), hashlib.sha384()
    ramdisks = 0
    for i in range(n):
        kind, _flags, size = struct.unpack_from(">HHQ", data, offsets[i])
        assert size == sizes[i], "section size mismatch"
        body = data[offsets[i] + 12 : offsets[i] + 12 + size]
        if kind in (KERNEL, CMDLINE):
            h0.update(body)
            h1.update(body)
        elif kind == RAMDISK:
            h0.update(body)
            (h1 if ramdisks == 0 else h2).update(body)
            ramdisks += 1

    def extend(h):
        return hashlib.sha384(b"\0" * 48 + h.digest()).hexdigest()

    print(json.dumps({"version": version, "crc_ok": crc_ok, "PCR0": extend(h0), "PCR1": extend(h1), "PCR2": extend(h2)}))


if __name__ == "__main__":
    main(sys.argv[1])
