"""`python -m downstream_sync.lsp [--tcp --host H --port P [--token-file F]]`: run the language server."""

import argparse
import sys

from .server import serve
from .tcp import SetupError

parser = argparse.ArgumentParser(prog="python -m downstream_sync.lsp", description=__doc__)
parser.add_argument("--tcp", action="store_true", help="listen on a loopback TCP port instead of stdio")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=2087)
parser.add_argument("--token-file", metavar="PATH",
                    help="with --tcp: the secret clients must show (else $DOWNSTREAM_SYNC_LSP_TOKEN)")
args = parser.parse_args()
try:
    sys.exit(serve((args.host, args.port) if args.tcp else None, token_file=args.token_file))
except SetupError as error:
    parser.exit(2, f"{parser.prog}: error: {error}\n")
