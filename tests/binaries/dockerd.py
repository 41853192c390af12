"""Test equipment: a Docker daemon of the test's own (Debian's docker.io), on a private socket with
its data and state in a temporary folder, with no bridge and no iptables rules (so it changes
nothing on the machine), stopped by its PID. No image can be pulled from a registry here: a
Debian 12 base for a build stage is made from the packages installed on this machine (`debian_base`)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's client, with BuildKit built in
WAIT = 60.0  # a bound on the daemon's start and stop, never a measure
BASE_PACKAGES = ("python3", "python3-venv", "python3-dev", "binutils", "ca-certificates", "bash", "coreutils",
                 "dash", "libc-bin", "findutils", "grep", "sed", "tar", "gzip", "dpkg", "util-linux")


class Daemon:
    def __init__(self, where: pathlib.Path):
        self.where = where
        self.socket = where / "docker.sock"
        (where / "data").mkdir(parents=True)
        (where / "exec").mkdir()
        self.log = open(where / "dockerd.log", "w")
        self.proc = subprocess.Popen(
            [DOCKERD, "--iptables=false", "--ip-masq=false", "--bridge=none", f"--host=unix://{self.socket}",
             f"--data-root={where / 'data'}", f"--exec-root={where / 'exec'}", f"--pidfile={where / 'dockerd.pid'}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT
        while self.docker("version", check=False).returncode != 0:
            assert self.proc.poll() is None, (where / "dockerd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dockerd did not answer: " + (where / "dockerd.log").read_text()[-3000:]
            time.sleep(0.2)

    def docker(self, *args: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "1",
               "DOCKER_CONFIG": str(self.where / "client")}
        done = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=timeout, **kw)
        if check:
            assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-4000:]}"
        return done

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def debian_base(daemon: Daemon, tag: str, where: pathlib.Path) -> str:
    """An image of this machine's own Debian packages BASE_PACKAGES (and what they depend on), made
    with `docker import` of a root file system holding their files; returns its tag."""
    listing = subprocess.run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests",
                              "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *BASE_PACKAGES],
                             capture_output=True, text=True, check=True).stdout
    packages = sorted({line for line in listing.splitlines() if line and not line.startswith((" ", "<"))})
    files = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True).stdout.split("\n")
    files += ["/etc/passwd", "/etc/group", "/etc/ld.so.cache", "/etc/nsswitch.conf", "/var/lib/dpkg/status",
              "/etc/os-release", "/etc/ssl/certs/ca-certificates.crt"]
    files += [f"/etc/alternatives/{name}" for name in os.listdir("/etc/alternatives")]
    merged = {"/bin/": "/usr/bin/", "/sbin/": "/usr/sbin/", "/lib/": "/usr/lib/", "/lib64/": "/usr/lib64/"}
    chosen = set()
    for path in files:
        for old, new in merged.items():  # Debian 12 is merged-/usr: the top folders are links
            if path.startswith(old):
                path = new + path[len(old):]
        if os.path.islink(path) or os.path.isfile(path):
            chosen.add(path.lstrip("/"))
    root = where / "rootfs"
    root.mkdir(parents=True)
    (where / "files").write_text("\n".join(sorted(chosen)) + "\n")
    copy = subprocess.run(f"tar -C / --no-recursion -cf - -T {where / 'files'} | tar -C {root} -xf -", shell=True,
                          capture_output=True, text=True)
    assert copy.returncode == 0, copy.stderr
    for link in ("bin", "sbin", "lib", "lib64"):
        if not (root / link).is_symlink():  # the link itself may be in a package's list
            (root / link).symlink_to(f"usr/{link}")
    for folder in ("tmp", "var/tmp", "root", "dev", "proc", "sys"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    tar = subprocess.run(["tar", "-C", str(root), "-cf", str(where / "rootfs.tar"), "."], capture_output=True, text=True)
    assert tar.returncode == 0, tar.stderr
    daemon.docker("import", str(where / "rootfs.tar"), tag)
    return tag
