"""A panel's success answer kept as the panel wrote it, decoded only if something reads it.

Most admin calls come from a client of the panel's own dialect and go back unchanged: an admin key's list or
record read from an Xtream-Masters panel by an Xtream-Masters client. Decoding the answer's JSON into Python
objects and rendering them again cost a third of such a pass-through's instructions (bench/notes.md, change 19)
to write out what the panel had written. A `VerbatimResult` is a `Result` whose fields are decoded, by the dialect's own
`decode`, the first time anything reads them (tenancy, paging, another dialect's rendering, the cache): every
step sees exactly what it saw before. A client face of the panel's dialect answers `body` itself only while
nothing has read the fields (`untouched`): once they are decoded a step may have changed them in place.

What the upstream face checks before it makes one (gateway.dialects.xtream_masters.upstream.verbatim): the
call is a read; the text is well-formed UTF-8 JSON (simdjson validates it, ~4 us for 10 KB against ~25 us to
build the objects), its numbers fit in 64 bits, it is not nested deeper than `jsonio.loads` can read; its
top-level object has each key once, `status` the panel's success, and members that rendering the decoded answer
would write the same (`data` not null, the counts as the panel's PHP writes them). So decoding it gives a
Result, and the client gets the top-level members rendering would give. Deeper down it gets the panel's text as
the panel spelled it: `\\/`, whitespace, key order, number spellings (`-0`, `1E2`), and a repeated key inside a
row (which a client's parser may read first-wins where the gateway's reads last-wins; nothing of the gateway's
has read such an answer when it is passed on as it came).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.model import Outcome, Result


class UndecodableAnswer(RuntimeError):
    """A verbatim answer that its dialect's `decode` did not read as a success (its checks make this a bug)."""


class VerbatimResult(Result):
    """A success answer the panel wrote as `body`, in `dialect`; `data`, `total`, `filtered` and `extra` are
    `decode()`'s, computed when first read. `dataclasses.replace` on it gives a plain Result."""

    dialect: str
    body: bytes
    _decode: Callable[[], Outcome]
    _decoded: Result | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            # dataclasses.replace(r, data=...) calls type(r)(**fields): a changed answer is an ordinary Result
            return Result(*args, **kwargs)
        return super().__new__(cls)

    @classmethod
    def of(cls, dialect: str, body: bytes, decode: Callable[[], Outcome]) -> VerbatimResult:
        self: VerbatimResult = cls.__new__(cls)
        for name, value in (("dialect", dialect), ("body", body), ("_decode", decode), ("_decoded", None)):
            object.__setattr__(self, name, value)
        return self

    def decoded(self) -> Result:
        """The answer as its dialect decodes it (the first call decodes)."""
        if self._decoded is None:
            outcome = self._decode()
            if not isinstance(outcome, Result):
                raise UndecodableAnswer(f"a {self.dialect} answer checked as a success decoded as {outcome!r:.200}")
            object.__setattr__(self, "_decoded", outcome)
            return outcome
        return self._decoded

    @property
    def untouched(self) -> bool:
        """True while nothing has read the decoded fields: `body` is then exactly the answer."""
        return self._decoded is None

    @property  # the dataclass fields of a frozen Result are read-only: computed here
    def data(self) -> Any:
        return self.decoded().data

    @property
    def total(self) -> int | None:
        return self.decoded().total

    @property
    def filtered(self) -> int | None:
        return self.decoded().filtered

    @property
    def extra(self) -> dict[str, Any]:
        return self.decoded().extra

    def __repr__(self) -> str:
        return f"VerbatimResult({self.dialect}, {len(self.body)} bytes, untouched={self.untouched})"
