"""Caching of read operations: backends (memory, Redis with memory fallback) and the response cache.

`gateway.cache.steps` holds the two admin pipeline steps; it is imported by `gateway.app` only, since it
depends on the Exchange (which itself refers to the cache types defined here).
"""

from gateway.cache.store import ResponseCache, Ticket

__all__ = ["ResponseCache", "Ticket"]
