"""Downstream Sync, the local side: a sync engine, its transports, the CLI and the language server."""
