"""Real media for the simulated panel: a short MPEG-TS clip and the same clip as AES-128 encrypted HLS.

Made by ffmpeg into a directory (the tests generate it in a temp dir, `make_media`), read back here. With media,
the simulated panel serves what real panels serve with `encrypt_hls` on: live channels are the clip looped, catch-up
is the clip with byte ranges, and an `.m3u8` is an encrypted media playlist whose key is fetched from a relative
`/key/{token}` URI, as XC_VM's `generateHLS` writes it (`src/includes/streaming.php`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIP = "clip.ts"
PLAYLIST = "index.m3u8"
KEY = "enc.key"
IV = "00112233445566778899aabbccddeeff"


@dataclass(frozen=True)
class Media:
    clip: bytes  # MPEG-TS, H.264
    segments: tuple[bytes, ...]  # the same picture, AES-128-CBC encrypted segments
    durations: tuple[float, ...]
    key: bytes  # 16 bytes: what `/key/{token}` answers
    iv: bytes

    @classmethod
    def load(cls, directory: Path) -> Media:
        text = (directory / PLAYLIST).read_text()
        durations = tuple(float(m) for m in re.findall(r"#EXTINF:([\d.]+),", text))
        names = [line for line in text.splitlines() if line and not line.startswith("#")]
        iv = re.search(r"IV=0x([0-9a-fA-F]{32})", text)
        return cls(
            clip=(directory / CLIP).read_bytes(),
            segments=tuple((directory / name).read_bytes() for name in names),
            durations=durations,
            key=(directory / KEY).read_bytes(),
            iv=bytes.fromhex(iv.group(1) if iv else IV),
        )


def make_media(directory: Path, ffmpeg: str | None = None, seconds: int = 4) -> Media:
    """Generate the clip and the encrypted HLS with ffmpeg (`-hls_key_info_file`), then load them."""
    binary = ffmpeg or shutil.which("ffmpeg")
    if binary is None:
        raise FileNotFoundError("ffmpeg")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / KEY).write_bytes(bytes(range(16)))
    # key info file: the URI written into the playlist (replaced per request), the key file, the IV
    (directory / "keyinfo").write_text(f"/key/placeholder\n{directory / KEY}\n{IV}\n")
    source = ["-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=160x120:rate=10",
              "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p"]  # fmt: skip
    quiet = [binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    subprocess.run([*quiet, *source, "-f", "mpegts", str(directory / CLIP)], check=True, timeout=120)
    subprocess.run([*quiet, *source, "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
                    "-hls_key_info_file", str(directory / "keyinfo"),
                    "-hls_segment_filename", str(directory / "seg_%d.ts"), str(directory / PLAYLIST)],
                   check=True, timeout=120)  # fmt: skip
    return Media.load(directory)
