"""What a plan will be for an operation, addressed a given way, on an upstream of a given dialect: the capability
matrix's cells. Pure; the plans themselves (gateway.plans.calls) follow the same shape."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.catalogue import Catalogue, Operation, catalogue
from gateway.dialects.registry import dialect as dialect_of
from gateway.dialects.registry import upstream_face
from gateway.plans import purchase, transfer

# How a record addressed by something other than its id is found: (resource, ref kind) -> list operation.
LOOKUPS: dict[tuple[str, str], str] = {
    ("line", "credentials"): "line.list",
    ("mag", "mac"): "mag.list",
    ("reseller", "username"): "reseller.list",
    ("line", "username"): "line.list",
}
# Operations that set reseller credits outright in some dialects, and only by adjustment in others.
ABSOLUTE_CREDITS = ("reseller.create", "reseller.edit")


@dataclass(frozen=True)
class Shape:
    kind: str  # direct | compound | fan-out | unsupported
    detail: str = ""


def shape_of(
    op: Operation, ref_kind: str, dialect: str, cat: Catalogue | None = None, *, client: str | None = None
) -> Shape:
    """How `op`, addressed by `ref_kind`, runs on an upstream of `dialect` (for a client of `client`)."""
    cat = cat or catalogue()
    face = upstream_face(dialect)
    absolute_credits = client is not None and not upstream_face(client).CREDITS_BY_ADJUSTMENT
    if (
        absolute_credits
        and face.CREDITS_BY_ADJUSTMENT
        and op.name in ABSOLUTE_CREDITS
        and (face.native(op, ref_kind) or face.native(op, "id"))
        and face.native(cat.operations["reseller.adjust_credits"], "id")
    ):
        return Shape("compound", f"{op.name}, then adjust credits by the difference")
    if face.native(op, ref_kind):
        return Shape("direct")
    if ref_kind == op.target.value and purchase.emulable(op, face, cat):
        return Shape("compound", "read the buyer, its group and the package, charge the price, then write")
    if ref_kind == op.target.value and transfer.emulable(op, face):
        return Shape("compound", "read both resellers and the tree between them, debit one, credit the other")
    if ref_kind == "id" and face.native(op, "ids"):
        return Shape("direct", "as a batch of one")
    if ref_kind == "ids" and face.native(op, "id"):
        return Shape("fan-out", f"one {op.name} per id")
    lookup_name = LOOKUPS.get((op.resource, ref_kind))
    lookup = cat.get(lookup_name) if lookup_name else None
    found_by_lists = dialect_of(dialect).lookups
    if lookup is not None and found_by_lists and face.native(op, "id") and face.native(lookup, "none"):
        return Shape("compound", f"find the id with {lookup.name}, then {op.name}")
    if lookup is not None and not found_by_lists and face.native(op, "id"):
        return Shape("unsupported", "its lists find nothing for an API key: records are addressed by id only")
    return Shape("unsupported", dialect_of(dialect).why_not.get(op.name, ""))
