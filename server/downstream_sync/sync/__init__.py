"""The sync engine: sessions, decisions per event, downloads, atomic writes, the ledger.

Must not import pygls, lsprotocol, or anything of the terminal."""
