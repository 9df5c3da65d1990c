"""Known hosts rewritten in a JSON text without decoding it: the exact path when the literal one cannot vouch.

`Rewriter.json` rewrites the strings of a decoded document: a known-host origin (regex, case-insensitive in the
Unicode sense) becomes `public_url`. A list of tens of megabytes is not decoded to do that; it is rewritten as
text, in pieces, and the text must give the same document once decoded. What separates a JSON text from its
strings' values is escapes, so they are dealt with first:
- a `\\uXXXX` escape (or surrogate pair) of a character that may stand unescaped in a JSON string is replaced by
  the character itself (UTF-8): every letter, digit, `.`, `-`, `/` or `:` of a URL is then spelled as itself;
- what must stay escaped (`"`, `\\`, control characters, lone surrogates) and the short escapes (`\\/`, `\\n`...)
  stay escaped, a backslash as `\\\\` (so that it ends with a backslash, as it does decoded): each starts with a
  `\\`, which is never a host character, so after a host it ends it just as the character it stands for does,
  and `\\/` is matched where the decoded text has `/` (the `//` after the scheme; no host or port holds a `/`).
Then one regex over the text, with the decoded path's host names, flags, lookahead and lookbehind, finds exactly
the origins the decoded path finds. What stands before a run of slashes without a scheme reads alike: a `:`, a
slash (`/` or `\\/`) or a backslash (`\\\\`) in both, any other escape ends with another character, and where the
decoded string starts, the text has its `"`. A match cannot leave its string (`"` is not in it), and nothing
outside strings (numbers, `true`, punctuation) can start one. Keys are rewritten too (the decoded path leaves keys
alone; no panel writes a URL as a key, and hiding one more host is never a leak).

Pieces: a text cut right after a `"` never splits an escape (none contains `"`, and `\\"` ends at it), nor a UTF-8
character, so each piece is rewritten alone and the pieces join into the whole document's rewrite.
"""

from __future__ import annotations

import re

# a surrogate pair, one \\uXXXX, or any other escape (matched whole, so `\\\\u0041` is `\\\\` then `u0041`)
_ESCAPE = re.compile(rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|.)",
                     re.DOTALL)
_MUST_STAY_ESCAPED = frozenset({0x22, 0x5C}) | frozenset(range(0x20))


def origin_pattern(scheme: str, host: str) -> re.Pattern[str]:
    """The decoded path's origin regex (gateway.clientside.rewrite: `scheme`, what may stand before its run of
    slashes and backslashes, and `host`, what follows it), with JSON's spellings of each (`/`, `\\/`, `\\\\`)."""
    return re.compile(rf"{scheme}(?:/|\\/|\\\\){{2,}}{host}", re.IGNORECASE)


def _spelled_out(match: re.Match[bytes]) -> bytes:
    high, low, one = match.group(1), match.group(2), match.group(3)
    if high is not None:
        code = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
    elif one is not None:
        code = int(one, 16)
        if code == 0x5C:
            return b"\\\\"  # one token of a run of slashes, ending with a backslash as it does decoded (rewrite.SCHEME)
        if code in _MUST_STAY_ESCAPED or 0xD800 <= code <= 0xDFFF:
            return match.group(0)
    else:
        return match.group(0)
    return chr(code).encode()


def unescape(text: bytes) -> bytes:
    """`text` with every `\\u` escape that need not be one replaced by its character (module docstring)."""
    return _ESCAPE.sub(_spelled_out, text) if b"\\u" in text else text


def rewrite(text: bytes, pattern: re.Pattern[str], public: str) -> bytes:
    """A JSON text (or a piece cut after a `"`) with every known-host origin in its strings replaced by `public`."""
    decoded = unescape(text).decode("utf-8", "surrogateescape")
    return pattern.sub(lambda _: public, decoded).encode("utf-8", "surrogateescape")
