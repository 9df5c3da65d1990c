"""The client side: what players (IPTV Smarters, TiviMate, VLC, MAG boxes) talk to, with the upstream hidden.

player_api.php, get.php, xmltv.php, stream relay (live, movie, series, timeshift, /u/p/id.ext), HLS playlists
and segments. These bypass the admin pipeline but pass the blocked IP / user-agent lists, the per-line stream cap
and the metrics. Every URL that leaves the gateway points at `public_url`; upstream redirects are followed here.
"""
