"""Dialects: one module per panel API, each with a client face and an upstream face."""
