"""Join points in a live MPEG-TS stream: whole packets, the PAT before a keyframe, whatever the read sizes."""

from __future__ import annotations

import random

import pytest

from gateway.clientside.ts_join import PACKET, TsSplitter


def packet(pid: int, start: bool = False, keyframe: bool = False, pcr: bool = False) -> bytes:
    flags = (0x40 if start else 0) | pid >> 8
    if keyframe or pcr:
        af = bytes((1, (0x40 if keyframe else 0) | (0x10 if pcr else 0)))
        head = bytes((0x47, flags, pid & 0xFF, 0x30))
        return head + af + bytes(PACKET - 4 - len(af))
    return bytes((0x47, flags, pid & 0xFF, 0x10)) + bytes(PACKET - 4)


def gop(frames: int = 12) -> bytes:
    """PAT + PMT every frame (as ffmpeg's 0.1 s), a keyframe (PCR PID 256) at the first: one GOP."""
    out = b""
    for n in range(frames):
        out += packet(0, start=True) + packet(4096, start=True)
        out += packet(256, start=True, keyframe=n == 0, pcr=True) + packet(256) * 3 + packet(257, start=True)
    return out


@pytest.mark.parametrize("read", [1, 100, 188, 1000, 4096, 70_000])
def test_joins_start_at_the_pat_before_each_keyframe(read: int) -> None:
    stream = b"\x00" * 100 + gop() * 6  # a stray start, then six GOPs
    splitter, rng, pos, out = TsSplitter(), random.Random(read), 0, []
    while pos < len(stream):
        size = rng.randint(1, read)
        out += splitter.feed(stream[pos : pos + size])
        pos += size
    out += splitter.flush()
    assert b"".join(p.data for p in out) == stream  # every byte, in order, once
    offset, starts = 0, []
    for piece in out:
        if piece.join:
            starts.append(offset - len(piece.head))
            joined = piece.head + piece.data
            assert joined[:3] == b"\x47\x40\x00" and joined[2 * PACKET + 5] & 0x40  # PAT, PMT, then the keyframe
        offset += len(piece.data)
    keyframes = [100 + k * len(gop()) for k in range(6)]
    assert set(starts) <= set(keyframes) and len(starts) >= (2 if read >= 70_000 else 5)


def test_bytes_that_are_not_ts_join_anywhere() -> None:
    splitter = TsSplitter()
    data = bytes(random.Random(1).randrange(256) for _ in range(200_000))
    out = splitter.feed(data[:1000]) + splitter.feed(data[1000:]) + splitter.flush()
    assert b"".join(p.data for p in out) == data and all(p.join for p in out)
