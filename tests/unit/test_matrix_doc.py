"""docs/matrix.md is what `panelgate matrix --markdown` prints (`make matrix` writes it): a change to the catalogue
or a dialect that moves a cell must come with the regenerated doc."""

from __future__ import annotations

from pathlib import Path

from gateway.matrix import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "matrix.md"


def test_the_matrix_doc_is_current() -> None:
    assert DOC.read_text() == markdown(), "docs/matrix.md is stale: run `make matrix`"
