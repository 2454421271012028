"""Live capture: a scapy packet socket with a kernel BPF filter and a TPACKET_V3 ring, read raw.

scapy opens the AF_PACKET socket and compiles the filter (libpcap); we truncate matched packets in the
kernel (the filter's return value becomes the snap length), map a receive ring of `ring` bytes
(ring.py: no system call per frame, seconds of traffic buffered) and decode the frames ourselves. A
kernel without the ring falls back to a large receive buffer read one `recv` at a time. Kernel drops
come from PACKET_STATISTICS and are summed for the heartbeat.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import select
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from typing import Any

from .packets import LINK_ETHERNET, LINK_RAW, addr_key
from .ring import Ring

log = logging.getLogger("govwatch.traffic")
SOL_PACKET, PACKET_STATISTICS = 263, 6
SO_RCVBUFFORCE, SO_ATTACH_FILTER = 33, 26
BPF_RET_K = 0x06
ARPHRD_RAW_IP = {65534, 512, 776, 778}   # none (tun), ppp, sit, gre: frames start at the IP header


class LiveCapture:
    """One interface, read raw: `read(handler, timeout)` hands (ts, linktype, frame) to `handler`."""

    def __init__(self, interface: str, bpf: str, snaplen: int, buffer_bytes: int, ring_bytes: int = 8 << 20) -> None:
        self.interface, self.bpf, self.snaplen, self.buffer_bytes = interface, bpf, snaplen, buffer_bytes
        self.ring_bytes = ring_bytes
        self.sock: socket.socket | None = None
        self.scapy_socket = None
        self.linktype = LINK_ETHERNET
        self.kernel_drops = 0
        self.kernel_packets = 0
        self.ring: Ring | None = None
        self.reader = "recv"   # how frames were read: "ring" (TPACKET_V3) or "recv" (the fallback)

    def open(self) -> None:
        """Open the socket; raises PermissionError without CAP_NET_RAW, OSError for a missing interface."""
        import scapy.layers.l2  # noqa: F401 - registers link types, so scapy does not warn
        from scapy.arch.linux import L2ListenSocket

        self.scapy_socket = L2ListenSocket(iface=self.interface, promisc=False, nofilter=1)
        sock = self.scapy_socket.ins
        self._attach_filter(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.buffer_bytes)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer_bytes)
        hatype = sock.getsockname()[3]
        self.linktype = LINK_RAW if hatype in ARPHRD_RAW_IP else LINK_ETHERNET
        try:
            self.ring = Ring(sock, self.ring_bytes)
            self.reader = "ring"
        except OSError as exc:
            log.warning("traffic: no TPACKET_V3 ring on %s (%s); reading with recv", self.interface, exc)
        sock.setblocking(False)
        self.sock = sock
        self.drops()  # reset the kernel's counters: count from now

    def _attach_filter(self, sock: socket.socket) -> None:
        from scapy.arch.common import compile_filter

        program = compile_filter(self.bpf, iface=self.interface)
        insns = ctypes.cast(program.bf_insns, ctypes.POINTER(ctypes.c_uint16 * 4 * program.bf_len)).contents
        raw = bytearray(bytes(insns))
        for i in range(program.bf_len):  # "accept the whole packet" becomes "accept snaplen bytes"
            code, _jt, _jf, k = struct.unpack_from("HBBI", raw, i * 8)
            if code == BPF_RET_K and k:
                struct.pack_into("HBBI", raw, i * 8, code, _jt, _jf, self.snaplen)
        buf = ctypes.create_string_buffer(bytes(raw))
        fprog = struct.pack("HL", program.bf_len, ctypes.addressof(buf))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)

    def read(self, handler: Callable[[float, int, bytes], None], timeout: float) -> int:
        """Drain every queued packet into `handler`, waiting up to `timeout` for the first. Returns count."""
        if self.ring is not None:
            return self.ring.read(handler, self.linktype, timeout)
        sock = self.sock
        assert sock is not None
        recv, clock, link, size = sock.recv, time.time, self.linktype, self.snaplen
        count = 0
        while True:
            try:
                frame = recv(size)
            except BlockingIOError:
                if count:
                    return count
                ready, _w, _x = select.select([sock], [], [], timeout)
                if not ready:
                    return 0
                continue
            handler(clock(), link, frame)
            count += 1
            if count >= 4096:
                return count

    def read_blocks(self, block: Callable[[Any, int, int], None], timeout: float) -> int | None:
        """With the ring: hand each ready block to `block(ring, first frame offset, frame count)`
        (fastpath.ring_block: no call per frame); None without a ring (use `read`)."""
        if self.ring is None:
            return None
        return self.ring.read_blocks(block, timeout)

    def drops(self) -> int:
        """Add the kernel's packet/drop counters (which reset on read) to our totals; return total drops."""
        if self.sock is not None:
            packets, drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            self.kernel_packets += packets
            self.kernel_drops += drops
        return self.kernel_drops

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
            self.ring = None
        if self.scapy_socket is not None:
            self.scapy_socket.close()
        self.sock = self.scapy_socket = None


def interface_addresses(interface: str) -> set[int | bytes]:
    """The interface's own IPv4/IPv6 addresses (these are the protected host)."""
    try:
        out = subprocess.run(["ip", "-j", "addr", "show", "dev", interface], capture_output=True, text=True,
                             timeout=5, check=True).stdout
        infos = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return set()
    found = set()
    for info in infos:
        for addr in info.get("addr_info", []):
            family = socket.AF_INET6 if addr.get("family") == "inet6" else socket.AF_INET
            try:
                found.add(addr_key(socket.inet_pton(family, addr["local"])))
            except (KeyError, OSError):
                continue
    return found


def listening_ports(proc: str = "/proc") -> tuple[set[int], set[int]] | None:
    """(TCP listening ports, bound UDP ports) from /proc/net; None when /proc cannot be read."""
    tcp, udp = set(), set()
    try:
        for name, into, state in (("tcp", tcp, "0A"), ("tcp6", tcp, "0A"), ("udp", udp, None), ("udp6", udp, None)):
            path = os.path.join(proc, "net", name)
            if not os.path.exists(path):
                continue
            with open(path, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 3 and (state is None or fields[3] == state):
                        into.add(int(fields[1].rsplit(":", 1)[1], 16))
    except OSError:
        return None
    return tcp, udp
