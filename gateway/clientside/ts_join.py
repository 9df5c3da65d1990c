"""Where a viewer may join a running live stream: whole 188-byte MPEG-TS packets, from a PAT on.

A shared channel's bytes are cut into pieces that each begin on a packet boundary; a piece that begins with a PAT
(the Program Association Table, PID 0 with payload_unit_start set) is a join point. A player that starts reading
there finds the PAT, then the PMT, then the elementary streams: it starts clean. Encoders write the PAT/PMT right
before each video keyframe (ffmpeg's mpegts muxer forces them there), so a PAT is as good as the next keyframe.

A stream that is not MPEG-TS (no sync byte every 188 bytes) is passed on as it comes, and every piece of it is a
join point: the gateway cannot do better than a read boundary for bytes it does not understand. A TS stream that
loses sync (a panel switching sources) is probed again.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKET = 188
SYNC = 0x47
PROBE = 5  # sync bytes in a row at one phase that make a stream TS (random bytes: 1 chance in 2^40)
# sync byte; transport_error 0, payload_unit_start 1, priority 0, PID 0 (13 bits across the next byte and a half)
PAT = bytes((SYNC, 0x40, 0x00))
MAX_UNSURE = 64 * 1024  # bytes held while probing; past this without sync, the stream is not TS


@dataclass(frozen=True, slots=True)
class Piece:
    data: bytes
    join: bool  # a viewer may start here


class TsSplitter:
    """Feeds a channel's reads in, hands pieces out: whole packets, split before the first PAT of each read."""

    def __init__(self) -> None:
        self.ts: bool | None = None  # None while probing
        self.carry = b""  # a partial packet (TS) or the bytes being probed

    def feed(self, data: bytes) -> list[Piece]:
        buf = self.carry + data if self.carry else data
        self.carry = b""
        if self.ts is False:
            return [Piece(buf, True)] if buf else []
        out: list[Piece] = []
        if self.ts is None:
            phase = find_phase(buf)
            if phase is None:
                if len(buf) < MAX_UNSURE:
                    self.carry = buf  # too short to tell yet
                    return []
                self.ts = False
                return [Piece(buf, True)]
            self.ts = True
            if phase:
                out.append(Piece(buf[:phase], False))
                buf = buf[phase:]
        whole = len(buf) - len(buf) % PACKET
        if whole and (buf[0] != SYNC or buf[whole - PACKET] != SYNC):
            self.ts = None  # lost sync: probe again from here
            self.carry = buf
            return out + self.feed(b"") if len(buf) >= MAX_UNSURE else out
        self.carry = buf[whole:]
        if whole:
            out += split_at_pat(buf[:whole] if whole < len(buf) else buf)
        return out

    def flush(self) -> list[Piece]:
        """What is held back when the stream ends."""
        rest, self.carry = self.carry, b""
        return [Piece(rest, self.ts is not True)] if rest else []


def find_phase(buf: bytes) -> int | None:
    """The offset of the first packet when PROBE sync bytes in a row say `buf` is TS; None when it does not (yet)."""
    for phase in range(min(PACKET, len(buf) - PACKET * (PROBE - 1))):
        if all(buf[phase + k * PACKET] == SYNC for k in range(PROBE)):
            return phase
    return None


def split_at_pat(packets: bytes) -> list[Piece]:
    """Whole packets, split before the first PAT (a packet-aligned match: the same bytes inside a payload are not
    one)."""
    at = packets.find(PAT)
    while at >= 0 and at % PACKET:
        at = packets.find(PAT, at + 1)
    if at < 0:
        return [Piece(packets, False)]
    if at == 0:
        return [Piece(packets, True)]
    return [Piece(packets[:at], False), Piece(packets[at:], True)]
