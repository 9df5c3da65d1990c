"""MidnightStreamer Pro API (`POST /api/resellers/new`, `data[...]`, key as POST field or 4th segment): the
dialect."""

from __future__ import annotations

import re

from gateway.dialects.base import Dialect, PathKey
from gateway.dialects.midnight import client, upstream

DIALECT = Dialect(
    name=client.NAME,
    short="MS",
    client=client,
    upstream=upstream,
    routes=("/api/{group}/{verb}", "/api/{group}/{verb}/{key}"),  # the key may be the 4th URL segment
    probe="reseller.list",
    # any segment past the verb may be a key (a 404 path too)
    path_keys=(PathKey(re.compile(r"^(/api/[^/]+/[^/]+)/.+$"), r"\1/***"),),
    answers_reseller_password=True,
)
