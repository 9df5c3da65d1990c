"""Xtream-Masters / XUI.one admin API (`/{code}/admin/index.php?api_key=..&action=..`): the dialect."""

from __future__ import annotations

from gateway.dialects.base import Dialect
from gateway.dialects.xtream_masters import client, upstream
from gateway.dialects.xtream_masters.vocabulary import XUI_CODE

DIALECT = Dialect(
    name=client.NAME,
    short="XM",
    client=client,
    upstream=upstream,
    routes=("/{code}/admin/index.php", "/{code}/admin/", "/{code}/admin"),
    # XUI.one's own address (the access code alone), after the players' routes: `/c/`, the MAG portal, is a code
    # XUI.one reserves, and a player's path must never be read as an admin call.
    late_routes=(f"/{XUI_CODE}/", f"/{XUI_CODE}/index.php"),
    probe="account.info",
    server_list="server.list",  # get_servers: domain_name, server_ip, private_ip of every server
    access_code=True,
    answers_created_row=True,
)
