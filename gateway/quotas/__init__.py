"""Per-key quotas: at most N calls of some operations a calendar day, or in a rolling window.

```yaml
keys:
  - id: reseller-88
    quotas:
      - {operations: [line.create], limit: 50, per: day}           # a calendar day (UTC, or `timezone:`)
      - {operations: ["line.*", "mag.*"], limit: 200, window: 1h}  # any hour (a rolling window)
```

Every call a quota's globs match counts against it when it is admitted (after scope, tenancy, guards and a
duplicate's replay, so neither a refused call nor an idempotent replay counts; one refused as unsupported, or that
never reached the panel, is given back). Counts live in the `redis:`
section's Redis when there is one (prefix `quotas`, shared by replicas), else in memory (also while Redis is
down). Answers carry `RateLimit-Policy` and the `RateLimit-Limit`/`-Remaining`/`-Reset` of the quota closest to
its limit; past it a call is refused RATE_LIMITED (reason `quota`) with `Retry-After` until the quota frees up.

Modules: `settings` (a leaf: the config's part), `counter` (counts in Redis or memory), `step` (the pipeline step).
"""
