"""Manifest rewriting that injects the helper into workloads.

Must not import pygls, lsprotocol, or anything of the terminal."""
