"""Gateway API keys: generated here, stored in config only as digests, looked up by digest."""

from __future__ import annotations

import hashlib
import secrets

DIGEST_PREFIX = "sha256:"


def new_key() -> str:
    """A fresh client key: 32 random bytes, URL-safe, prefixed so leaked keys are recognisable in scans."""
    return "pg_" + secrets.token_urlsafe(32)


def digest_of(key: str) -> str:
    """The digest stored in config for `key`.

    A plain SHA-256 is enough: keys are 256-bit random strings, not passwords, so there is nothing to
    brute-force; and looking up by digest means the secret itself is never compared byte by byte.
    """
    return DIGEST_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_digest(text: str) -> bool:
    hexpart = text[len(DIGEST_PREFIX) :]
    return (
        text.startswith(DIGEST_PREFIX)
        and len(hexpart) == 64
        and all(c in "0123456789abcdef" for c in hexpart)
    )
