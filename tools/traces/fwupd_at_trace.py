#!/usr/bin/env python3
"""Turn a line-by-line transcript of an fwupd device-emulation recording of an AT port
(lines `> [tty at] "..."`, `< [tty at] "..."`, `! [tty at] read ... timeout`) into a
modemflash recording (docs/recording.md). Usage: fwupd_at_trace.py TRANSCRIPT > OUT.jsonl

The transcript has no per-event times, so every event gets t_us 0. fwupd's AT read
timeout (1500 ms) is written as the timeout's length."""
import json
import re
import sys

READ_TIMEOUT_MS = 1500


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"r": b"\r", "n": b"\n", "t": b"\t", '"': b'"', "\\": b"\\"}[n]
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def payload(data):
    if data and all(32 <= b < 127 or b in (9, 10, 13) for b in data):
        return {"len": len(data), "ascii": data.decode()}
    return {"len": len(data), "hex": data.hex()}


def main(path):
    props = {}
    events = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        m = re.match(r'@ (\w+): (.*)$', line)
        if m:
            props[m.group(1)] = json.loads(m.group(2))
            continue
        m = re.match(r'([<>]) \[tty at\] "((?:[^"\\]|\\.)*)"', line)
        if m:
            ev = "out" if m.group(1) == ">" else "in"
            events.append({"t_us": 0, "ev": ev, "ep": 0, **payload(unescape(m.group(2)))})
            continue
        if re.match(r'! \[tty at\] read .*timeout', line):
            events.append({"t_us": 0, "ev": "read_failed", "ep": 0, "failed": "timeout", "ms": READ_TIMEOUT_MS})
            continue
        if line.startswith(("<", ">", "!")):
            raise SystemExit(f"not understood: {line}")
    created = props.get("Created", "")
    header = {
        "format": "modemflash-recording",
        "version": 1,
        "tool": "converted from an fwupd device-emulation recording",
        "command": f"fwupd modem-manager setup of {props.get('Version', '?')} (recorded {created})",
        "started_unix": 0,
        "large_payload": 4096,
        "whole_data": False,
    }
    phys = props.get("PhysicalId", "")
    opened = {"t_us": 0, "ev": "detect", "mode": "normal"}
    port = {"t_us": 0, "ev": "open", "port": "at", "ep": 0, "kind": "tty",
            "endpoint": props.get("DeviceFile", "/dev/ttyUSB2"), "zlp": False,
            "port_path": "usb:" + phys.rsplit("/", 1)[-1] if phys else None}
    port = {k: v for k, v in port.items() if v is not None}
    for obj in [header, opened, port, *events, {"t_us": 0, "ev": "close", "ep": 0}]:
        print(json.dumps(obj, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1])
