#!/usr/bin/env python3
"""Run inside a sandbox: tries every way this machine offers to send from an address that is
not the sandbox's own, so that the gate would judge it by another sandbox's policy.
Usage: forge_probe.py OTHER_IP GATE_IP NAME_ONLY_OTHER_MAY_REACH
Prints one line per attempt: "refused <what>: <why>" or "FORGED <what>". A request whose bind
and connect succeed counts as refused only when the gate answers it 403 (judged by this
sandbox's own policy).
"""
import errno
import socket
import sys

other, gate, name = sys.argv[1], sys.argv[2], sys.argv[3]


class Judged(Exception):
    """The packet left, but the gate judged it by this sandbox's own address."""


def attempt(what, fn):
    try:
        result = fn()
    except OSError as e:
        print(f"refused {what}: {errno.errorcode.get(e.errno, e.errno)}")
        return
    except Judged as e:
        print(f"refused {what}: {e}")
        return
    print(f"FORGED {what}" + (f": {result}" if result else ""))


def raw_packet():
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()


def raw_ip():
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close()


def raw_udp():
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()


def request_from(setup):
    def run():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        setup(s)
        s.bind((other, 0))
        s.connect((gate, 80))
        s.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        line = s.recv(200).split(b"\r\n")[0].decode(errors="replace")
        s.close()
        # Connected from somewhere: the gate must still have judged it as this sandbox.
        if " 403 " in line:
            raise Judged(f"connected, and the gate judged it as this sandbox ({line})")
        return line
    return run


def transparent(s):
    s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT


def freebind(s):
    s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND


attempt("AF_PACKET socket", raw_packet)
attempt("SOCK_RAW tcp socket", raw_ip)
attempt("SOCK_RAW udp socket", raw_udp)
attempt(f"bind to {other}", request_from(lambda s: None))
attempt(f"IP_TRANSPARENT bind to {other}", request_from(transparent))
attempt(f"IP_FREEBIND bind to {other}", request_from(freebind))


def add_address():
    # RTM_NEWADDR through rtnetlink, as `ip addr add` would.
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    import struct
    ip = socket.inet_aton(other)
    ifa = struct.pack("=BBBBI", socket.AF_INET, 16, 0, 0, 2)
    rta = struct.pack("=HH", 8, 2) + ip  # IFA_LOCAL
    rta += struct.pack("=HH", 8, 1) + ip  # IFA_ADDRESS
    body = ifa + rta
    hdr = struct.pack("=IHHII", 16 + len(body), 20, 0x1 | 0x4 | 0x400 | 0x200, 1, 0)
    s.sendto(hdr + body, (0, 0))
    reply = s.recv(4096)
    s.close()
    code = struct.unpack("=i", reply[16:20])[0] if len(reply) >= 20 else 0
    if code < 0:
        raise OSError(-code, "netlink")
    return "address added"


attempt(f"add {other} to an interface (rtnetlink)", add_address)
