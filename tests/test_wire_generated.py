"""The committed protobuf modules match proto/filedownload.proto, and the seed's contract is intact."""

import pathlib
import subprocess
import sys

from sync_helper.wire import filedownload_pb2 as pb

ROOT = pathlib.Path(__file__).resolve().parent.parent
WIRE = ROOT / "helper" / "sync_helper" / "wire"


def test_generated_modules_are_fresh(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(tmp_path)], check=True)
    for name in ("filedownload_pb2.py", "filedownload_pb2.pyi", "filedownload_pb2_grpc.py"):
        assert (tmp_path / name).read_text() == (WIRE / name).read_text(), (
            f"{name} is stale: run python scripts/gen_proto.py and commit the result"
        )


def test_seed_messages_keep_their_numbers():
    """A client built from the seed's proto must keep working: names and numbers are frozen."""
    assert pb.DESCRIPTOR.package == "proto.filedownload"
    service = pb.DESCRIPTOR.services_by_name["FileService"]
    for rpc, request, response in (
        ("DownloadFile", "DownloadRequest", "DownloadResponse"),
        ("Watch", "FileWatchRequest", "FileEvent"),
    ):
        method = service.methods_by_name[rpc]
        assert method.input_type.name == request
        assert method.output_type.name == response
        assert method.server_streaming and not method.client_streaming
    fields = {m: {f.name: f.number for f in pb.DESCRIPTOR.message_types_by_name[m].fields}
              for m in ("DownloadRequest", "DownloadResponse", "FileEvent")}
    assert fields["DownloadRequest"]["path"] == 1
    assert fields["DownloadResponse"]["chunk"] == 1
    assert {k: fields["FileEvent"][k] for k in ("path", "event_type", "version", "MD5Hash")} == {
        "path": 1, "event_type": 2, "version": 3, "MD5Hash": 4}
    assert dict(pb.FileEvent.EventType.items()) == {"CREATE": 0, "MODIFY": 1, "DELETE": 2, "RENAME": 3}
