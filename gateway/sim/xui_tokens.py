"""Stream tokens the way XUI-derived panels make them, for the simulated panel.

XUI encrypts `type/username/password/stream[/ext[/mag-token]]` (a `/play/` token), `ip/stream` (a `/key/`
token) and the like with AES-256-CBC under its `live_streaming_pass` and writes them base64url without padding
(`CoreUtilities::encryptData` in XC_VM `src/includes/xc_vm.php`). Players and the gateway only ever pass them on:
what matters to the tests is that they are opaque, URL-safe and read back by the panel alone.

A line's `access_token` (32 hex digits) is the other token: `/live/{token}/{id}.ts` stands for the line itself, and
`stream/auth.php` tells the two apart by `ctype_xdigit`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LIVE_STREAMING_PASS = "sim-live-streaming-pass"
OPENSSL_EXTRA = "sim-openssl-extra"


def _cipher() -> Cipher[modes.CBC]:
    # PHP hands openssl the hex digests themselves as key (32 characters) and IV (16 characters)
    key = hashlib.md5((hashlib.sha1(OPENSSL_EXTRA.encode()).hexdigest() + LIVE_STREAMING_PASS).encode()).hexdigest()
    iv = hashlib.md5(hashlib.sha1(LIVE_STREAMING_PASS.encode()).hexdigest().encode()).hexdigest()[:16]
    return Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode()))


def encrypt(text: str) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode()) + padder.finalize()
    encryptor = _cipher().encryptor()
    sealed = encryptor.update(data) + encryptor.finalize()
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def decrypt(token: str) -> str | None:
    """The text of a token, None when it is not one of this panel's (openssl_decrypt's false)."""
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decryptor = _cipher().decryptor()
        data = decryptor.update(sealed) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(data) + unpadder.finalize()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def is_access_token(token: str) -> bool:
    return len(token) == 32 and all(c in "0123456789abcdefABCDEF" for c in token)


def access_token(line: dict[str, Any]) -> str | None:
    """The line's access token when it has one (XUI puts token URLs in its playlists only then)."""
    token = line.get("access_token")
    return token if isinstance(token, str) and is_access_token(token) else None
