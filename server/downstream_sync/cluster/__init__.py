"""Transports: byte streams to the in-container helper (a local command, kubectl exec) and pod discovery.

Must not import pygls, lsprotocol, or anything of the terminal."""
