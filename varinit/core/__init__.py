"""The core: the table, families, plans, fans, the request, the executor, the adapter interface.

Imports point down: ``core`` uses ``rng`` (the stream and the distribution math) and nothing
above it; ``theory``, ``conformance``, the CLI and the adapters build on ``core``.
"""
