"""A real Debian for the deploy tests: a debootstrap tree (cached under /var/tmp), booted under
systemd-nspawn with a real systemd as PID 1, or imported as the base image for podman.

Everything here needs root and Debian's debootstrap, systemd-container, podman and runc
(../shared/FACTS.md, "Deploy testing"). The trees are cached between runs on the same machine:
debootstrap takes about a minute and 300 MB; a booted copy takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("VCAM_DEPLOY_CACHE", "/var/tmp/vcam-deploy"))
SUITE = "bookworm"
# minbase plus what a Pi owner's Debian has and install.sh needs: systemd as init, python3 with venv
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# nsenter into every namespace of the container's PID 1; a clean environment, not the test's
CONTAINER_ENV = ("env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


def missing_tools() -> list[str]:
    needed = ("debootstrap", "systemd-nspawn", "nsenter", "podman", "runc")
    return [tool for tool in needed if shutil.which(tool) is None]


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (the only one CI can reach)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        match = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE)
        if match:
            return match[1]
    listing = Path("/etc/apt/sources.list")
    if listing.is_file():
        match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", listing.read_text(), re.MULTILINE)
        if match:
            return match[1]
    return DEFAULT_MIRROR


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _build_once(final: Path, build: Callable[[Path], None]) -> Path:
    """Build into a scratch dir and rename: a half-built cache entry (run killed) is never used."""
    if final.is_dir():
        return final
    scratch = final.with_name(final.name + f".partial-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    build(scratch)
    scratch.rename(final)
    return final


def base_tree() -> Path:
    """debootstrap minbase + PACKAGES, made once per machine."""

    def build(target: Path) -> None:
        result = subprocess.run(
            [
                *("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"),
                *(SUITE, str(target), apt_mirror()),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise RuntimeError(f"debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    CACHE.mkdir(parents=True, exist_ok=True)
    return _build_once(CACHE / f"{SUITE}-{_key(SUITE, *PACKAGES)}", build)


def wheelhouse(requirements: Path) -> Path:
    """The pinned requirements as wheels for Debian's Python 3.11, so installs in the tree and the
    image work with no network (pip gets PIP_NO_INDEX=1 and PIP_FIND_LINKS=<this dir>)."""

    def build(target: Path) -> None:
        target.mkdir(parents=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"),
                *("--only-binary=:all:", "--python-version", "3.11", "-d", str(target), "-r", str(requirements)),
            ],
            check=True,
            timeout=600,
        )

    CACHE.mkdir(parents=True, exist_ok=True)
    return _build_once(CACHE / f"wheels-{_key(requirements.read_text())}", build)


def copy_tree(source: Path, target: Path) -> Path:
    """A throw-away copy of a cached tree (cp -a keeps owners, modes and device nodes)."""
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True, timeout=300)
    return target


# --- a booted system -------------------------------------------------------------------------


@dataclass
class BootedSystem:
    """A copy of the tree booted with ``systemd-nspawn -b``: a real systemd as PID 1.

    It shares the host's network namespace, so the service inside reaches the test's RTSP
    camera on 127.0.0.1. Commands run inside through nsenter; files are read and written
    through ``root`` on the host.
    """

    root: Path
    binds: dict[Path, str] = field(default_factory=dict)  # host path -> path inside, read-only
    process: subprocess.Popen[bytes] | None = None
    leader: int = 0

    def boot(self, timeout: float = 60) -> BootedSystem:
        log = self.root.parent / "console.log"  # beside the tree, in the test's scratch dir
        command = [
            *("systemd-nspawn", "--boot", f"--directory={self.root}", "--register=no", "--keep-unit"),
            *("--console=passive", f"--machine=vcam-test-{os.getpid()}"),
            *(f"--bind-ro={host}:{inside}" for host, inside in self.binds.items()),
        ]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited: {log.read_text()[-3000:]}")
            if not self.leader:
                self.leader = _child_of(self.process.pid)
            elif self.run("systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded"):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the container did not finish booting in {timeout} s: {log.read_text()[-3000:]}")

    def run(
        self, *command: str, check: bool = True, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        extra = [f"{name}={value}" for name, value in (env or {}).items()]
        result = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "--", *CONTAINER_ENV, *extra, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, "-p", ",".join(properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal_cursor(self) -> str:
        out = self.run("journalctl", "--quiet", "--lines=0", "--show-cursor").stdout
        return out.strip().removeprefix("-- cursor: ")

    def journal(self, unit: str, after: str) -> list[dict[str, Any]]:
        """The unit's journal records since ``after`` (a cursor), as journalctl's JSON."""
        out = self.run("journalctl", "--unit", unit, f"--after-cursor={after}", "--output=json", "--no-pager").stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def shutdown(self, timeout: float = 30) -> None:
        """SIGTERM makes systemd-nspawn power the container off in order; SIGKILL if it will not."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _child_of(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        first = children.read_text().split()
    except OSError:
        return 0
    return int(first[0]) if first else 0


# --- podman ----------------------------------------------------------------------------------


@dataclass
class Podman:
    """podman with runc and its own storage and configuration under the cache dir, so the
    tests neither touch nor depend on the machine's /etc/containers or /var/lib/containers."""

    home: Path

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "containers.conf").write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            'netns = "none"\n'
            "[engine]\n"
            'runtime = "runc"\n'  # crun fails in this sandbox (no CAP_SYS_RESOURCE, hybrid cgroups)
        )
        (self.home / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.home}/storage"\nrunroot = "{self.home}/run"\n'
        )

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.home / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.home / "storage.conf"),
        }

    def __call__(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    def import_base_image(self, name: str, tree: Path) -> None:
        """Stand in for the Dockerfile's base image (no registry is reachable): the Debian tree
        with a Python environment at /usr/local, where the official python images keep theirs."""
        if self("image", "exists", name, check=False).returncode == 0:
            return
        image_tree = copy_tree(tree, self.home / "image-tree")
        subprocess.run(["chroot", str(image_tree), "python3", "-m", "venv", "/usr/local"], check=True, timeout=120)
        tar = subprocess.Popen(["tar", "-C", str(image_tree), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "import", "-", name], stdin=tar.stdout, capture_output=True, env=self.env, timeout=600
        )
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait(60)
        shutil.rmtree(image_tree, ignore_errors=True)
        if imported.returncode != 0:
            raise RuntimeError(f"podman import failed: {imported.stderr.decode(errors='replace')[-3000:]}")
