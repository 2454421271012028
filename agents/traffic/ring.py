"""A TPACKET_V3 receive ring on a packet socket: the kernel writes frames into shared memory blocks.

Why: read one `recv` at a time, every frame costs a system call (about a microsecond of the watcher's
time), and the socket's receive buffer is charged a whole kernel buffer (~1 kB) per frame however
small, so 32 MiB holds half a second of 100,000 packets/s: on a shared machine the watcher is
sometimes not scheduled for that long and the kernel drops. In the ring a 66-byte frame takes ~160
bytes, so the same 32 MiB holds seconds of traffic, and a block of hundreds of frames is handed over
with no system call at all (the kernel retires a block when it is full or `RETIRE_MS` after its first
frame). Layouts are those of linux/if_packet.h (tpacket_req3, tpacket_block_desc, tpacket3_hdr).
"""

from __future__ import annotations

import mmap
import select
import socket
import struct
from collections.abc import Callable

SOL_PACKET, PACKET_RX_RING, PACKET_VERSION, TPACKET_V3 = 263, 5, 10, 2
TP_STATUS_USER = 1
BLOCK_SIZE = 1 << 20         # a power of two and a multiple of the page size
FRAME_SIZE = 1 << 11         # only checked by the kernel for V3 (frames are packed in the block)
RETIRE_MS = 20               # a block with frames is handed over at the latest this long after the first
_BLOCK = struct.Struct("=III").unpack_from        # block_status, num_pkts, offset_to_first_pkt (at +8)
_FRAME = struct.Struct("=IIIIIIH").unpack_from    # next_offset, sec, nsec, snaplen, len, status, mac


class Ring:
    """The ring of one packet socket; `read` hands (ts, linktype, frame) of every ready block to `handler`."""

    def __init__(self, sock: socket.socket, size: int) -> None:
        self.sock = sock
        self.blocks = max(2, size // BLOCK_SIZE)
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        req = struct.pack("=7I", BLOCK_SIZE, self.blocks, FRAME_SIZE, BLOCK_SIZE // FRAME_SIZE * self.blocks,
                          RETIRE_MS, 0, 0)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        self.map = mmap.mmap(sock.fileno(), BLOCK_SIZE * self.blocks, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.poll = select.poll()
        self.poll.register(sock.fileno(), select.POLLIN | select.POLLERR)
        self.next = 0   # the block the kernel fills next (blocks are used in order)

    def read(self, handler: Callable[[float, int, bytes], None], linktype: int, timeout: float,
             limit: int = 8192) -> int:
        """Every frame of the ready blocks (up to about `limit`), waiting up to `timeout` s for one."""
        def frames(ring: mmap.mmap, at: int, count: int) -> None:
            for _ in range(count):
                step, sec, nsec, snaplen, _len, _status, mac = _FRAME(ring, at)
                handler(sec + nsec * 1e-9, linktype, ring[at + mac:at + mac + snaplen])
                at += step
        return self.read_blocks(frames, timeout, limit)

    def read_blocks(self, block: Callable[[mmap.mmap, int, int], None], timeout: float, limit: int = 8192) -> int:
        """Hand each ready block to `block(ring, offset of its first frame, frame count)`, then give it
        back to the kernel; wait up to `timeout` s for the first. Returns the number of frames."""
        ring, count, waited = self.map, 0, False
        while count < limit:
            base = self.next * BLOCK_SIZE
            status, frames, offset = _BLOCK(ring, base + 8)
            if not status & TP_STATUS_USER:
                if count or waited or not self.poll.poll(int(timeout * 1000)):
                    return count
                waited = True   # once: a wake-up without a ready block ends this read (no spinning)
                continue
            try:
                block(ring, base + offset, frames)
            finally:
                struct.pack_into("=I", ring, base + 8, 0)   # TP_STATUS_KERNEL: the block is the kernel's again
            count += frames
            self.next = (self.next + 1) % self.blocks
        return count

    def close(self) -> None:
        self.map.close()
