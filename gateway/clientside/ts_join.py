"""Where a viewer may join a running live stream: whole 188-byte MPEG-TS packets, at a keyframe, from its PAT.

A shared channel's bytes are cut into pieces that each begin on a packet boundary. A player joining needs, in
order, the PAT (Program Association Table, PID 0), the PMT, then a keyframe: started anywhere else it shows
artefacts or nothing until the next keyframe. Encoders write the PAT/PMT right before each keyframe (ffmpeg's
mpegts muxer forces them there) and mark the keyframe's first packet with `random_access_indicator` in its
adaptation field; PATs also come far more often (ffmpeg: every 0.1 s), so a PAT alone is not a join point.

A join point is therefore the latest PAT before a keyframe of the PCR PID (the stream carrying the clock: the video
in every encoder's default; audio frames carry the indicator on every frame). The piece that begins at the
keyframe carries `head`, the bytes from that PAT up to the keyframe, which a joiner is sent first (they may lie in
earlier pieces). A TS stream whose encoder marks no keyframe is joined at any PAT; a stream that is not TS (no
sync byte every 188 bytes) at any read boundary, the best the gateway can do for bytes it does not understand.
A TS stream that loses sync (a panel switching sources) is probed again.
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
    head: bytes = b""  # what a viewer starting here is sent before `data` (from the PAT before the keyframe)


MAX_HEAD = 64 * PACKET  # a PAT further back than this before a keyframe is not the keyframe's


class TsSplitter:
    """Feeds a channel's reads in, hands pieces out: whole packets, split at the first join point of each read."""

    def __init__(self) -> None:
        self.ts: bool | None = None  # None while probing
        self.carry = b""  # a partial packet (TS) or the bytes being probed
        self.pat_tail = b""  # from the latest PAT to the end of what was handed out (bounded by MAX_HEAD)
        self.pcr_pid = -1
        self.keyframes = False  # the encoder marks keyframes: join only there

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
            self.carry, self.pat_tail = buf, b""
            return out + self.feed(b"") if len(buf) >= MAX_UNSURE else out
        self.carry = buf[whole:]
        if whole:
            out += self._split(buf[:whole] if whole < len(buf) else buf)
        return out

    def _split(self, packets: bytes) -> list[Piece]:
        pat, key, first_pat = -1, -1, -1  # the latest PAT before the first keyframe, that keyframe, the first PAT
        for at in range(0, len(packets), PACKET):
            flags, pid = packets[at + 1], (packets[at + 1] & 0x1F) << 8 | packets[at + 2]
            if packets[at + 3] & 0x20 and packets[at + 4]:  # an adaptation field, not empty
                af = packets[at + 5]
                if af & 0x10:  # it carries a PCR
                    self.pcr_pid = pid
                if af & 0x40 and flags & 0x40 and pid == self.pcr_pid and pid:  # random access, payload start
                    self.keyframes = True
                    key = at
                    break
            if pid == 0 and flags & 0x40:
                pat = at
                first_pat = at if first_pat < 0 else first_pat
        if key < 0 and not self.keyframes and first_pat >= 0:
            pat = key = first_pat  # the encoder marks no keyframes (yet): a PAT is the best join point there is
        pieces = self._cut(packets, pat, key)
        last = packets.rfind(PAT)
        while last % PACKET and last >= 0:
            last = packets.rfind(PAT, 0, last)
        if last >= 0 and last >= key:
            self.pat_tail = packets[last:]
        elif key >= 0:
            self.pat_tail = b""  # the PATs before this keyframe are not the next one's
        elif self.pat_tail:
            self.pat_tail += packets
        if len(self.pat_tail) > MAX_HEAD:
            self.pat_tail = b""
        return pieces

    def _cut(self, packets: bytes, pat: int, key: int) -> list[Piece]:
        if key < 0:
            return [Piece(packets, False)]
        if 0 <= pat <= key and key - pat <= MAX_HEAD:
            start, head = pat, b""  # the PAT and the keyframe in this read: cut at the PAT
        elif self.pat_tail and len(self.pat_tail) + key <= MAX_HEAD:
            start, head = key, self.pat_tail + packets[:key]  # the PAT was handed out already: the joiner's head
        else:
            return [Piece(packets, False)]  # a keyframe with no PAT before it: a joiner could not read it
        if start == 0:
            return [Piece(packets, True, head)]
        return [Piece(packets[:start], False), Piece(packets[start:], True, head)]

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
