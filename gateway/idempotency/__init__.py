"""Idempotent writes: a write sent again with the same Idempotency-Key is answered, not done again.

Billing systems and bots retry blindly: a timeout after the panel created a line, then a second line, a
`STATUS_EXISTS_USERNAME` or a second charge. A client that sends an `Idempotency-Key` header (or, from PHP scripts
that cannot set headers, an `idempotency_key` parameter, taken out before any dialect reads the request and never
forwarded) with a write gets, for `ttl` seconds (24 h by default):

- the first request with that key runs; its outcome is kept (gateway.idempotency.store);
- the same key with the same request (the same gateway key, and the same canonical call or the same parameters)
  is answered that outcome, rendered for its own dialect, with `Idempotent-Replayed: true`; nothing is sent;
- a duplicate that arrives while the first still runs waits for it (up to `wait` seconds, then it is told to
  retry);
- the same key with a different request is refused (INVALID_INPUT, reason `idempotency_mismatch`).

An outcome that provably wrote nothing (refused inside the pipeline, failed before it left for the panel, or failed
while only reads had been sent) is not kept: a retry runs. Reads ignore the key: they change nothing. Keys are per
gateway key: two tenants cannot see each other's outcomes.

Modules: `settings` (the config section, a leaf), `store` (records in Redis or memory), `step` (the pipeline step;
`take_key` takes the key out of the request). This `__init__` imports nothing: the config imports `settings`.
"""
