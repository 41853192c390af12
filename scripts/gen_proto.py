"""Regenerate the protobuf and gRPC modules from proto/filedownload.proto.

Usage: python scripts/gen_proto.py [OUT_DIR]   (default: helper/sync_helper/wire)
Needs grpcio-tools. The generated modules are committed; a test fails when they are stale.
"""

import pathlib
import re
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DEFAULT_OUT = ROOT / "helper" / "sync_helper" / "wire"


def generate(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    code = protoc.main([
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        str(PROTO_DIR / "filedownload.proto"),
    ])
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    grpc_module = out / "filedownload_pb2_grpc.py"
    text = grpc_module.read_text()
    # protoc writes an absolute import; the modules live inside a package.
    text = re.sub(r"^import filedownload_pb2 as", "from . import filedownload_pb2 as", text, flags=re.M)
    grpc_module.write_text(text)


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
