"""Reading skaffold.yaml with positions, checking the download stanza, turning it into sync rules.

Owns the project model. Must not import pygls, lsprotocol, or anything of the terminal."""
