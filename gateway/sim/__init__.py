"""Stateful simulated IPTV panels (admin APIs with their quirks), used by the tests, the demo and the benchmarks."""
