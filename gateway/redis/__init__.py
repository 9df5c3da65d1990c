"""The one Redis layer: every state replicas share goes through it (gateway/redis/*).

- `url`: the URL forms, parsed and checked once (`redis://`, `rediss://`, `unix://`, `redis+sentinel://`,
  `rediss+sentinel://`, `redis+cluster://`, `rediss+cluster://`), printed without their passwords.
- `settings`: the `redis:` config section, per-feature prefixes, and the deprecated per-section keys.
- `client`: the one client factory (a server, a Sentinel service's master, or a Cluster).
- `link`: one feature's bounded calls, and the health of a deployment that every client of it in a process shares.
- `leases`: up to N holders of a name at once (stream caps per line, the provider slot pool), never leaking one.
- `status`: what /readyz and /metrics say about each deployment (failovers and returns included).

Keys and hash tags. On a Cluster every Lua script and transaction must keep its keys in one slot; a `{tag}` in a
key makes Redis hash only the tag. Each feature's keys (under its prefix, which may not contain braces):

| feature | key (after the feature's prefix) | hash tag | multi-key work |
|---|---|---|---|
| cache entries | `e:<sha256>` | none | none: entries spread over every master |
| cache generations | `{g:<upstream>}:<resource tag>` | per upstream | one MGET per cached read, one MSET per write |
| rate-limit buckets, budgets, auth throttle | `<bucket>` | none | none: one single-key script per take |
| record locks | `<upstream>:<resource>:<id>` | none | none: SET NX, a single-key release script |
| stream caps | `{<upstream>:<line>}` | per line | none: single-key lease scripts |
| provider slots | `{provider}:<line name>` (gateway.clientside.provider_lines) | the pool | one script over its lines |
| hosts to hide | `names` | none | none: SADD and EXPIRE of one key |
| idempotent writes | `<key id>:<digest of the Idempotency-Key>` | none | none: single-key scripts |
| key quotas | `<key id>:<quota id>` (a window), `<key id>:<quota id>:<day>` | none | none: single-key scripts |
| keys' last use | `last_used` | none | none: one HSET per key at most every WRITE_EVERY s |

A read needs the generations of its resource tags and of `*` together, so one upstream's generations share one
slot (one MGET). The hottest of them, `*`, is read by every cached read of that upstream whatever the tag, so
splitting them would add round trips without spreading load; upstreams spread over the masters instead. A
single-key script or transaction is in one slot by itself: buckets, records and lines spread by their names.
Tags are escaped (gateway.redis.link.tagged) so a `}` in a line's name cannot split one group over two slots.

This package's `__init__` imports nothing: the config imports `settings`, and a translator must not load redis-py.
"""
