"""Generated gRPC and protobuf modules for proto/filedownload.proto (regenerate with scripts/gen_proto.py)."""
