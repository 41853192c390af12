"""Test equipment: a real runc container with a busybox rootfs (Debian's busybox-static), whose
`runc exec` is the transport attach mode uses, the way `kubectl exec -i` is in a cluster."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time
import uuid

BUSYBOX = "/bin/busybox"
WAIT = 30.0  # a bound on what must happen, never a measure


class Box:
    """A running container: busybox in /bin, the app (`sleep`) as PID 1 in /app.

    shell=False leaves the shell out (busybox stays, as /bin/busybox only); tmp_noexec mounts a
    noexec tmpfs at /tmp (the root is read-only unless writable_root); tmp_size bounds /tmp; `args`
    replaces the app's command, `env` adds to its environment, `volumes` binds host folders."""

    def __init__(self, where: pathlib.Path, *, shell: bool = True, writable_root: bool = False,
                 tmp_noexec: bool = False, tmp_size: str | None = None, args: list[str] | None = None,
                 env: list[str] = (), volumes: dict[str, pathlib.Path] | None = None):
        self.bundle = where / "bundle"
        self.rootfs = self.bundle / "rootfs"
        self.name = f"ds-attach-{uuid.uuid4().hex[:8]}"
        for d in ("bin", "tmp", "app/src", "proc", "dev", "sys"):
            (self.rootfs / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, self.rootfs / "bin" / "busybox")
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets if shell else ["sleep"]:
            if applet != "busybox":
                (self.rootfs / "bin" / applet).symlink_to("busybox")
        subprocess.run(["runc", "spec", "--bundle", str(self.bundle)], check=True)
        config = json.loads((self.bundle / "config.json").read_text())
        config["process"]["terminal"] = False
        config["process"]["args"] = args or ["/bin/sleep", "100000"]
        config["process"]["env"] += list(env)
        config["process"]["cwd"] = "/app"
        config["root"]["readonly"] = not writable_root
        mounts = list(config["mounts"])
        if tmp_noexec or tmp_size:
            options = ["nosuid", "nodev"] + (["noexec"] if tmp_noexec else []) + ([f"size={tmp_size}"] if tmp_size else [])
            mounts.append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": options})
        else:
            mounts.append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]})
        for where, source in (volumes or {}).items():
            mounts.append({"destination": where, "type": "bind", "source": str(source), "options": ["rbind", "rw"]})
        config["mounts"] = mounts
        config["linux"].pop("maskedPaths", None)
        (self.bundle / "config.json").write_text(json.dumps(config))

    def start(self) -> "Box":
        log = self.bundle / "runc.err"
        with open(log, "w") as err:  # the app inherits it: a pipe would never reach its end
            done = subprocess.run(["runc", "run", "-d", "--bundle", str(self.bundle), self.name],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=WAIT)
        assert done.returncode == 0, f"runc run: {log.read_text()}"
        return self

    @property
    def exec_prefix(self) -> list[str]:
        return ["runc", "exec", self.name]

    def exec(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.exec_prefix + list(argv), capture_output=True, text=True, timeout=WAIT,
                              stdin=subprocess.DEVNULL)

    def state(self) -> dict:
        return json.loads(subprocess.run(["runc", "state", self.name], capture_output=True, text=True,
                                         check=True).stdout)

    def app_pid(self) -> int:
        return self.state()["pid"]

    def processes(self) -> list[str]:
        """The command lines running in the container, from the host's /proc."""
        init = self.app_pid()
        ns = os.readlink(f"/proc/{init}/ns/pid")
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/ns/pid") == ns:
                    found.append(pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
        return found

    def wait_until(self, predicate, what: str):
        deadline = time.monotonic() + WAIT
        while not predicate():
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            time.sleep(0.05)

    def delete(self) -> None:
        subprocess.run(["runc", "kill", self.name, "KILL"], capture_output=True)
        subprocess.run(["runc", "delete", "-f", self.name], capture_output=True)
