"""The HTTP API: one router module per domain, the shared request dependencies (``deps``).

A router parses, authorizes and calls its domain's service; it holds no SQL and no rules.
"""
