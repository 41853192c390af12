"""`python -m downstream_sync.lsp [--tcp --host H --port P]`: run the language server."""

import argparse

from .server import serve

parser = argparse.ArgumentParser(prog="python -m downstream_sync.lsp", description=__doc__)
parser.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=2087)
args = parser.parse_args()
serve((args.host, args.port) if args.tcp else None)
