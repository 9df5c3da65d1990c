"""Caching of read operations: backends (memory, Redis with memory fallback) and the response cache.

`gateway.cache.step` holds the admin pipeline's cache step; it is imported by `gateway.app` only, since it
depends on the Exchange (which itself refers to the cache types defined here).
"""

from gateway.cache.store import ResponseCache

__all__ = ["ResponseCache"]
