"""Known-host rewriting at C speed: the exact origins a panel writes, replaced as bytes, proven by counting.

A panel writes one fixed `http(s)://domain:port` per server into every list (XC_VM's `getDomainName`), so a 30k-
channel playlist holds tens of thousands of copies of one or two byte strings. Replacing those literals costs a few
passes of C over the text (SIMD: gateway.fastbytes); the regex (gateway.clientside.rewrite) costs a Python-level
step per position.

The fast path must give exactly what the regex gives, or nothing (the caller then runs the regex). It holds when:
- each literal it replaces is followed, everywhere, by a byte that ends a host (`/`, `"`, a space...): then each
  occurrence is precisely one regex match (no longer host name, no longer port, no trailing dot can follow, and
  no such byte can be part of a user and password, so no match starts earlier and runs over it);
- the literals account for every place a regex match could start: a run of two or more slashes and backslashes
  (`//`, with a scheme before it or not; rewrite.RUN). Two ways to count those places: every `//` (or JSON's
  `/\\/`) at all, when each one is in a replaced literal or a foreign one (`://host` of a host that is not known,
  followed by a byte that ends it: no known name can match there, nor be the host after a user and password,
  which that byte would end), and no backslash stands next to a slash or another - the usual text, proven in a
  pass or two per literal; or else every end of such a run followed by a known host name, in any case, and every
  `@` followed by one (counted in the lower-cased text, a pass per name). A count that differs (an upper-case
  `HTTP://`, a host name followed by `x`, a port never met before, `user@panel`, `//panel` without a scheme)
  sends the text to the regex.
Literals are learned from what the regex matched (bounded), so a panel's origins are found on the first text that
needs the regex and replaced at C speed from then on. A literal that occurs in the replacement itself is never
used (its count would include the replacement's own text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway import fastbytes

MAX_LITERALS = 16
RELEARN_EVERY = 256
# bytes after a host[:port] that cannot continue it (regex `(?![\w-]|\.[\w.-])`), most frequent first; others:
# the regex. Each also ends a URL's user and password, so a literal or foreign origin before one is never the user
# of a known host (`://cdn.net,x@panel.tv` is panel.tv: `,` and `)` are not here)
TEXT_FOLLOWERS = (b"/", b'"', b"\n", b"'", b" ", b"<", b"?", b"\\", b"\r", b"\t", b"#")
# in raw JSON a `\\` starts an escape: `\\/`, `\\"`... decode to non-word characters, `\\u` may not (é is a word)
JSON_FOLLOWERS = (b"\\/", b'"', b"/", b'\\"', b" ", b"\\\\", b"\\n", b"\\r", b"\\t", b"?", b"#", b"'", b"<")
# in a playlist only `/` and white space: there they end a host for every rule (a URL line's origin runs to
# `/` or a space, a catch-up source's to `/`, `"` or a space), so one literal replacement is each rule's result
M3U_FOLLOWERS = (b"/", b"\n", b" ", b"\r", b"\t", b"\x0b", b"\x0c")
# Where a URL can start, counted: `//`. A `://` holds one and it is counted there (no `//` can start at its `:`);
# a run of slashes anywhere else (`//panel` without a scheme, `http:///panel`) is counted apart, at least once.
SEPARATORS = (b"//",)
# JSON spells `://` four ways without `\\u` escapes (those are refused before): `://`, `:\\/\\/`, `:/\\/`, `:\\//`.
# Counting `//` and `/\\/` counts every one of them once (`:\\//` holds `//`, `:\\/\\/` and `:/\\/` hold `/\\/`; none
# starts at the `:` or `\\` before it), and any other run of slashes apart, at least once.
JSON_SEPARATORS = (b"//", b"/\\/")
# What ends a run of two or more slashes and backslashes (rewrite.RUN), each run once, by its last two: a host
# name after one of these counts every place a URL of that host starts (with a scheme or not). In a text: `//`,
# `\\/`, and a backslash (`/\\`, `\\\\`; one alone is counted too, which only sends the text the longer way). In
# JSON, a slash is `/` or `\\/` and a backslash `\\\\`: `//` ends `//` and `\\//`, `/\\/` ends `/\\/` and `\\/\\/`,
# `\\\\/` ends a backslash and a slash in either spelling, `\\\\` a backslash.
PAIR_ENDS = (b"//", b"\\/", b"\\")
JSON_PAIR_ENDS = (b"//", b"/\\/", b"\\\\/", b"\\\\")
# an origin the literals can stand for: a scheme and two slashes, no other run
_PLAIN_ORIGIN = re.compile(rb"https?://[^/\\]", re.IGNORECASE)


class Literals:
    """Origins met (exact bytes) and what replaces each, for one Rewriter (public URL, host names)."""

    def __init__(self, public: bytes, hosts: Iterable[str], *, json: bool = False, usable: bool = True) -> None:
        self.public = public
        self.json = json
        self.separators = JSON_SEPARATORS if json else SEPARATORS
        self.followers = JSON_FOLLOWERS if json else TEXT_FOLLOWERS
        names = sorted({h.lower().encode() for h in hosts if h}, key=len)
        # every `//` + known name position (a scheme before it or not) ends one of these (a name whose prefix is
        # also known is counted under that prefix, so no position is counted twice)
        minimal = [n for i, n in enumerate(names) if not any(n.startswith(m) for m in names[:i])]
        self.needles = [pair + name for pair in (JSON_PAIR_ENDS if json else PAIR_ENDS) for name in minimal]
        # a known host after a user and password (`://user:pass@panel.tv`): any `@name` makes `alone` say no
        self.needles += [b"@" + name for name in minimal]
        self.names = frozenset(names)
        self._pairs: list[tuple[bytes, bytes]] = []  # (literal, replacement), longest literal first
        self._foreign: list[bytes] = []  # `://host[:port]` of hosts not known: places no known-host URL starts
        self.slow = 0  # texts the literals could not vouch for
        self._gap = 1
        self._next = 0
        # a replacement holding another origin could be counted as one
        self.usable = usable and public.lower().count(b"http") == 1

    def learn(self, origins: Iterable[bytes]) -> int:
        """Add origins (`scheme://host[:port]`, as the regex matched them, any case) and their JSON spelling;
        how many literals were new. Left to the regex: one with a user and password (each line's own would fill
        the table, and a panel writes none in its own URLs) and one with a host's trailing dot (the regex keeps
        that dot where no path or port follows it, as in `see http://panel.tv.`), and one without a scheme or with
        another run of slashes (`//panel.tv` is also the end of every `http://panel.tv`; the proofs count `//`)."""
        known = {lit for lit, _ in self._pairs}
        before = len(known)
        for origin in origins:
            if b"@" in origin or b".:" in origin or origin.endswith(b".") or not _PLAIN_ORIGIN.match(origin):
                continue
            forms = [(origin, self.public)]
            if self.json:
                forms.append((origin.replace(b"/", b"\\/"), self.public.replace(b"/", b"\\/")))
            for literal, replacement in forms:
                if literal in known or len(known) >= MAX_LITERALS or literal in replacement:
                    continue
                known.add(literal)
                self._pairs.append((literal, replacement))
        self._pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
        return len(known) - before

    def learn_foreign(self, found: Iterable[bytes]) -> int:
        """Add `://host[:port]` (or `:\\/\\/host[:port]`) of hosts that are not known: counted, they prove
        their places hold no known-host URL (a known name there would be the whole host, or be followed by a
        host character), so a text whose every `://` is a known or a foreign literal needs no search per name."""
        before = len(self._foreign)
        for origin in found:
            host = origin.split(b"/")[-1].split(b":")[0].lower().rstrip(b".")  # `panel.tv.` is panel.tv
            if host not in self.names and origin not in self._foreign and len(self._foreign) < MAX_LITERALS:
                self._foreign.append(origin)
        return len(self._foreign) - before

    def may_learn(self) -> bool:
        """Whether to read a text the literals could not vouch for for its origins (a regex pass of its own).
        After a reading that found nothing new, the next waits for twice as many such texts (up to RELEARN_EVERY):
        a panel that keeps sending what cannot be learned (a header every playlist starts with) does not pay
        for it every time, and a new server's origin is still met."""
        if len(self._pairs) >= MAX_LITERALS:
            return False  # (a full table of foreign origins is no reason: logos on many hosts fill it at once)
        self.slow += 1
        return self.slow >= self._next

    def learned(self, added: int) -> None:
        self._gap = 1 if added else min(2 * self._gap, RELEARN_EVERY)
        self._next = self.slow + self._gap

    def replace(self, text: bytes, lowered: bytes | None = None) -> bytes | None:
        """`text` with every known-host URL origin replaced, exactly as the regex would; None when it cannot tell.
        `lowered`: `text.lower()` when the caller has it (made here only when the counts need it)."""
        done = self.replaced(text, self.followers)
        if done is None:
            return None
        out, count, everywhere = done
        return out if everywhere or self.alone(text, count, lowered) else None

    def replaced(self, text: bytes, followers: tuple[bytes, ...], *,
                 foreign: bool = True) -> tuple[bytes, int, bool] | None:  # fmt: skip
        """(the text with the literals replaced, how many, whether they and the foreign literals were every `://`
        in it), or None when a literal is followed by something not in `followers` somewhere. Everywhere: no
        other place for the known-host rule to rewrite. `foreign=False` for rules that rewrite any host (M3U URL
        lines, catch-up sources): then everywhere means no URL at all but the replaced ones."""
        if not self.usable:
            return None
        # a spelling absent: its literals skipped
        present = {sep: fastbytes.count(text, sep) for sep in self.separators}
        places = sum(present.values())
        quick = self._usual(text, present, places, followers[0], foreign)
        if quick is not None:  # every `//` covered, every literal replaced: unless a run holds a backslash
            return quick if self._no_backslash_runs(text) else (quick[0], quick[1], False)
        out = text
        count = 0
        for literal, replacement in self._pairs:
            if not present[self._separator(literal)]:
                continue
            done = _swap(out, literal, replacement, followers)
            if done is None:
                return None
            out, found = done
            count += found
        covered = count
        for literal in self._foreign if foreign else ():
            found = fastbytes.count(text, literal) if present[self._separator(literal)] else 0
            if found and not _ends_host_everywhere(text, literal, found, followers):
                return out, count, False
            covered += found
        return out, count, places == covered and self._no_backslash_runs(text)

    def _no_backslash_runs(self, text: bytes) -> bool:
        """Whether no backslash in `text` stands next to a slash or another backslash, so that every run of two
        or more is made of slashes, all counted as separators. In JSON a backslash is `\\\\` (a text with `\\u005c`
        takes the exact path): there, none at all."""
        if self.json:
            return not fastbytes.contains(text, b"\\\\")
        return not fastbytes.contains(text, b"\\") or not any(
            fastbytes.contains(text, pair) for pair in (b"\\/", b"/\\", b"\\\\"))

    def _usual(self, text: bytes, present: dict[bytes, int], places: int, usual: bytes,
               foreign: bool) -> tuple[bytes, int, bool] | None:  # fmt: skip
        """The usual text in a pass per literal: every literal followed by the usual byte, replaced with it
        and counted, foreign ones counted with it, and together they are every place a URL starts (a literal
        followed by something else, or any other URL, leaves one uncovered: None)."""
        out = text
        count = 0
        for literal, replacement in self._pairs:
            if present[self._separator(literal)]:
                out, found = fastbytes.replace(out, literal + usual, replacement + usual)
                count += found
        covered = count + sum(fastbytes.count(text, literal + usual) for literal in self._foreign
                              if foreign and present[self._separator(literal)])  # fmt: skip
        return (out, count, True) if covered == places else None

    def _separator(self, literal: bytes) -> bytes:
        """The separator count a literal's places are among (each literal holds exactly one)."""
        return b"/\\/" if b"\\/" in literal else b"//"

    def alone(self, text: bytes, count: int, lowered: bytes | None = None) -> bool:
        """Whether `count` replaced origins are all the places a known-host URL starts in `text` (each replaced one
        is such a place, so equal counts mean the regex would match nowhere else)."""
        lowered = text.lower() if lowered is None else lowered
        return count == sum(fastbytes.count(lowered, needle) for needle in self.needles)


def _swap(text: bytes, literal: bytes, replacement: bytes, followers: tuple[bytes, ...]) -> tuple[bytes, int] | None:
    """(`text` with `literal` replaced, how many times), None when it is not followed by a follower everywhere.
    Replaced with the usual follower first (no check needed); a literal still there after that is followed by
    something else, counted and checked then."""
    usual = followers[0]
    out, found = fastbytes.replace(text, literal + usual, replacement + usual)
    rest = fastbytes.count(out, literal)
    if rest:
        if not _ends_host_everywhere(out, literal, rest, followers[1:]):
            return None
        out = fastbytes.replace(out, literal, replacement)[0]
        found += rest
    return out, found


def _ends_host_everywhere(text: bytes, literal: bytes, found: int, followers: tuple[bytes, ...]) -> bool:
    good = 1 if text.endswith(literal) else 0
    for follower in followers:
        good += fastbytes.count(text, literal + follower)
        if good >= found:
            return good == found
    return False


def origins_in(pattern: re.Pattern[bytes], text: bytes) -> set[bytes]:
    """The distinct origins a (capture-free) origin pattern matches in `text`: what `Literals.learn` takes."""
    return set(pattern.findall(text))
