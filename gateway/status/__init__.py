"""The status page on the operator listener: `/status` (plain HTML and a little JS, no build step), refreshing
itself from `/status.json`.

It shows each upstream (breaker state, latency over the last five minutes, errors and its outbound budget), the
cache's hit ratio, refusals by reason over the last hour (admin API and players), the streams being relayed per
line and the shared live channels, and when each key was last used. Never a secret: no key, no upstream key or
URL, no line password.

Modules: `history` (samples of the metrics, to subtract: "over the last hour" without touching the hot path),
`snapshot` (what `/status.json` answers), `routes` (the operator listener's routes, and the sampler's task).
"""
