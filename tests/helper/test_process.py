"""app-server as the app's parent: signals, exit status, bad input, the app surviving the sync side; app-connect."""

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading

import grpc
import pytest
from helper_procs import APP_CONNECT, APP_SERVER, OPTIONS, start_helper, wait_until, watch

from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

RECORDER = textwrap.dedent("""
    import os, signal, sys, time
    out = sys.argv[1]
    def got(sig, frame):
        with open(out, "a") as f:
            f.write(signal.Signals(sig).name + "\\n")
        if sig == signal.SIGTERM:
            sys.exit(int(sys.argv[2]))
    for s in ("SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTERM"):
        signal.signal(getattr(signal, s), got)
    with open(out, "a") as f:
        f.write("ready %s %s\\n" % (os.getcwd(), os.environ.get("MARK")))
    while True:
        time.sleep(0.05)
""")


def test_signals_are_forwarded_and_the_exit_status_is_the_childs(run_helper, tmp_path):
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    record = tmp_path / "signals.txt"
    os.environ["MARK"] = "inherited"
    try:
        helper = run_helper(["--targets", "src"], command=[sys.executable, str(script), str(record), "7"])
    finally:
        del os.environ["MARK"]
    wait_until(lambda: record.exists() and "ready" in record.read_text(), "the child to start")
    assert record.read_text().split() == ["ready", str(helper.cwd), "inherited"]
    names = ["SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]
    for name in names:
        helper.proc.send_signal(getattr(signal, name))
        wait_until(lambda: name in record.read_text(), f"{name} to reach the child")
    helper.proc.send_signal(signal.SIGTERM)
    assert helper.wait() == 7
    assert record.read_text().split()[3:] == [*names, "SIGTERM"]


@pytest.mark.parametrize("command, status", [(["sh", "-c", "exit 3"], 3), (["sh", "-c", "kill -KILL $$"], 128 + 9),
                                             (["true"], 0)])
def test_exit_status(tmp_path, command, status):
    helper = start_helper(tmp_path, ["--targets", "src"], command, wait_socket=False)
    assert helper.wait() == status


def test_the_seed_command_flag_and_the_childs_stdio(tmp_path):
    out = subprocess.run([APP_SERVER, "--socket", str(tmp_path / "s.sock"), "--targets", "src",
                          "--command", "sh,-c,echo out; echo err >&2; exit 4"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert (out.returncode, out.stdout) == (4, "out\n")
    assert "err\n" in out.stderr


@pytest.mark.parametrize("command, reason", [(["no-such-command-xyz"], "command not found"),
                                             (["./no-such-file"], "No such file or directory"),
                                             (["./not-executable"], "Permission denied")])
def test_a_command_that_cannot_start_exits_127_like_a_shell(tmp_path, command, reason):
    (tmp_path / "not-executable").write_text("echo hi\n")
    out = subprocess.run([APP_SERVER, "--socket", str(tmp_path / "s.sock"), "--", *command],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 127
    assert out.stderr.startswith(f"app-server: {command[0]}: ")
    assert out.stderr.strip() == f"app-server: {command[0]}: {reason}"


@pytest.mark.parametrize("args, message", [
    (["--excludes", "a/**b"], "--excludes: bad glob 'a/**b'"),
    (["--excludes", "x,[abc"], "bad glob '[abc'"),
    (["--command", "true", "--", "true"], "not both"),
    (["--stdio", "--", "true"], "--stdio"),
])
def test_bad_flags_exit_2_naming_the_fault(tmp_path, args, message):
    out = subprocess.run([APP_SERVER, *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_help_and_version():
    out = subprocess.run([APP_SERVER, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--targets" in out.stdout and "app-server.sock" in out.stdout
    out = subprocess.run([APP_SERVER, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("app-server ")


def test_the_app_survives_when_the_sync_side_cannot_start(tmp_path):
    not_a_socket = tmp_path / "file"
    not_a_socket.write_text("keep me")
    for sock in (tmp_path / "missing-dir" / "s.sock", not_a_socket):
        out = subprocess.run([APP_SERVER, "--socket", str(sock), "--targets", "src", "--", "sh", "-c", "exit 5"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert out.returncode == 5
        assert "the sync side could not start" in out.stderr and str(sock) in out.stderr
    assert not_a_socket.read_text() == "keep me"


def test_the_app_survives_an_unreadable_target(run_helper, bound_by_permissions, tmp_path):
    locked = tmp_path / "work" / "locked"
    locked.mkdir(parents=True)
    locked.chmod(0)
    try:
        helper = run_helper(["--targets", "locked"], prefix=bound_by_permissions)
        wait_until(lambda: "not readable" in helper.stderr, "a message about the unreadable target")
        assert helper.proc.poll() is None
    finally:
        locked.chmod(0o755)


def test_a_target_that_is_a_file_is_an_error_and_the_app_runs_on(run_helper, tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "src").write_text("not a folder")
    helper = run_helper(["--targets", "src"])
    wait_until(lambda: "target src" in helper.stderr and "is not a folder" in helper.stderr, "an error naming src")
    assert helper.proc.poll() is None


def test_orphans_are_reaped(run_helper, tmp_path):
    pidfile = tmp_path / "orphan.pid"
    # the child starts a grandchild that outlives it as an orphan, then keeps running
    helper = run_helper(["--targets", "src"],
                        command=["sh", "-c", f"(sh -c 'echo $$ > {pidfile}; sleep 1' &) ; exec sleep 600"])
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), "the orphan's pid"))

    def parent():
        try:
            with open(f"/proc/{pid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, IndexError):
            return None

    # the orphan is adopted by app-server (as it would be by PID 1), not by some outer init
    assert wait_until(lambda: parent() in (helper.proc.pid, None) and parent(), "the orphan's adoption") == helper.proc.pid

    def reaped():
        return not os.path.exists(f"/proc/{pid}")  # a zombie keeps its /proc entry until it is reaped

    wait_until(reaped, f"orphan {pid} to be reaped")


def test_stale_socket_is_replaced_and_the_socket_is_private(run_helper, tmp_path):
    stale = tmp_path / "helper.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()  # a socket file nobody listens on, as left by an earlier container start
    helper = run_helper(["--targets", "src"])
    channel = grpc.insecure_channel(f"unix:{helper.sock}", options=OPTIONS)
    call = pb_grpc.FileServiceStub(channel).Watch(pb.FileWatchRequest(protocol=1), wait_for_ready=True)
    assert call.next().kind == pb.FileEvent.HELLO
    mode = stat.S_IMODE(os.stat(helper.sock).st_mode)
    assert mode & 0o077 == 0, oct(mode)
    second = start_helper(tmp_path, ["--targets", "src"], ["sh", "-c", "exit 0"], wait_socket=False, name="helper")
    assert second.wait() == 0
    assert helper.proc.poll() is None and "another app-server is serving" in second.stderr


def test_attach_mode_serves_without_a_command_and_stops_on_sigterm(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    helper = run_helper(["--targets", "src"], command=None)
    events = watch(bridge(helper).stub())
    assert events.next().kind == pb.FileEvent.HELLO
    (helper.cwd / "src" / "a").write_bytes(b"a")
    assert events.next().path == "src/a"
    helper.proc.send_signal(signal.SIGTERM)
    assert helper.wait() == 0
    assert not os.path.exists(helper.sock)


def test_stdio_mode_serves_one_client_over_stdin_and_stdout(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"hello")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "bridge.sock"))
    listener.listen(1)
    channel = grpc.insecure_channel(f"unix:{tmp_path / 'bridge.sock'}", options=OPTIONS)
    stub = pb_grpc.FileServiceStub(channel)
    call = stub.Watch(pb.FileWatchRequest(protocol=1, snapshot=True, inline_limit=100))
    conn, _ = listener.accept()
    proc = subprocess.Popen([APP_SERVER, "--stdio", "--targets", "src"], cwd=tmp_path, stdin=conn, stdout=conn,
                            stderr=subprocess.PIPE)
    conn.close()
    try:
        kinds = [next(call), next(call), next(call)]
        assert [e.kind for e in kinds] == [pb.FileEvent.HELLO, pb.FileEvent.SNAPSHOT_FILE, pb.FileEvent.SNAPSHOT_END]
        assert (kinds[1].path, kinds[1].content) == ("src/a.txt", b"hello")
        call.cancel()
        channel.close()
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_app_connect_without_a_socket_fails_clearly(tmp_path):
    out = subprocess.run([APP_CONNECT, "--socket", str(tmp_path / "none.sock")], input=b"", capture_output=True,
                         timeout=30)
    assert out.returncode == 1
    assert f"cannot connect to {tmp_path / 'none.sock'}" in out.stderr.decode()
    assert "is app-server running" in out.stderr.decode()


def test_app_connect_imports_nothing_heavy():
    code = ("import sys, sync_helper.app_connect; "
            "print(sorted(m for m in ('grpc', 'watchdog', 'asyncio', 'google.protobuf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_as_pid_1_it_reaps_orphans(tmp_path):
    """app-server as PID 1 of a new PID namespace, as in a container; skipped where unshare is not allowed."""
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {probe.stderr.decode().strip()}")
    script = ("[ $PPID = 1 ] || exit 8; (sh -c 'sleep 0.2' &); sleep 1; "
              "for f in /proc/[0-9]*/stat; do read -r line < $f; "
              "case \"${line##*) }\" in Z*) echo \"zombie: $line\" >&2; exit 9;; esac; done; exit 6")
    out = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", APP_SERVER, "--socket",
                          str(tmp_path / "s.sock"), "--", "sh", "-c", script],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 6, out.stderr


@pytest.mark.parametrize("size", [0, 5, 3 << 20])
def test_app_connect_relays_pipes_both_ways_until_the_far_side_closes(tmp_path, size):
    """stdin and stdout as pipes (as under kubectl exec -i), against an echo server on the socket."""
    path = str(tmp_path / "echo.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def echo() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    data = os.urandom(size)
    out = subprocess.run([APP_CONNECT, "--socket", path], input=data, capture_output=True, timeout=60)
    listener.close()
    assert out.returncode == 0, out.stderr
    assert out.stdout == data
