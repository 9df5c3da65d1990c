"""Xtream Codes v2 admin API (`/api.php?action=user&sub=create`, `user_data[...]`): the dialect."""

from __future__ import annotations

import re

from gateway.dialects.base import Dialect, PathKey
from gateway.dialects.xtream_codes_v2 import client, upstream

DIALECT = Dialect(
    name=client.NAME,
    short="XC",
    client=client,
    upstream=upstream,
    # XC v2 scripts cannot send a header: the key may ride in the path, so only the base URL changes.
    routes=("/api.php", "/k/{key}/api.php"),
    probe="server.list",
    upstream_key="api_pass",
    requires_key=False,  # an XC v2 panel may trust the gateway's address alone
    path_keys=(PathKey(re.compile(r"^/k/[^/]*(?=/|$)"), "/k/***"),),
    answers_line_extras=True,
)
