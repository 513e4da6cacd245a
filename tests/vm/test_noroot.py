"""No root after set-up, for real: an administrator's `setup --shared`, then an ordinary user.

As root (CI), the module makes an unprivileged user and a shared cache, runs
`kmodlab setup --shared` into it, and then, as that user, with their own empty
cache: `kmodlab setup` (what `kmodlab lab` runs first), the first cells of
the hello notebook (build in the sandbox, insmod, rmmod), `kmodlab run`,
`kmodlab grade` of the hello solution and a two-submission `grade-batch`. The shared cache must come
out untouched. Not as root: skipped, since no other user can be made.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.vm, pytest.mark.noroot]
ROOT = Path(__file__).resolve().parents[2]
USER = "kmodlab-noroot"
# The first cells of the hello notebook, up to and including the first that starts so.
LAST_CELL = "%kmod rmmod"

RUN_CELLS = """
import json, sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
               resources={"metadata": {"path": sys.argv[2]}}).execute()
cells = []
for c in nb.cells:
    text, errors = [], []
    for o in c.get("outputs", []):
        if o.output_type == "stream":
            text.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            text.append(str(o.get("data", {}).get("text/plain", "")))
        elif o.output_type == "error":
            errors.append(o.ename + ": " + o.evalue)
    cells.append({"source": c.source, "text": "".join(text), "errors": errors})
print(json.dumps(cells))
"""


@dataclass
class AsUser:
    """Runs commands as the unprivileged user, with a clean environment."""

    name: str
    base: Path  # world-traversable; holds home/, shared/, work/
    shared: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "KMODLAB_SHARED_CACHE": str(self.shared),
        }

    def run(self, argv: list[str], *, timeout: float = 600) -> subprocess.CompletedProcess:
        env = [f"{k}={v}" for k, v in self.env().items()]
        return subprocess.run(
            ["runuser", "-u", self.name, "--", "env", "-i", *env, *argv],
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def kmodlab(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return self.run([sys.executable, "-m", "kmodlab", *args], timeout=timeout)


def _make_user() -> bool:
    """The unprivileged user; True when made here (and so to be removed afterwards)."""
    try:
        pwd.getpwnam(USER)
        return False
    except KeyError:
        pass
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", USER],
        check=True, capture_output=True,
    )  # fmt: skip
    return True


@contextlib.contextmanager
def _traversable(paths: list[Path]) -> Iterator[None]:
    """Let every user pass through the folders above these paths (o+x) while the tests run.

    The checkout and the Python running the tests may sit under /root (0700 on
    Debian), which the unprivileged user could not reach; only the search bit is
    added, and the modes are put back afterwards.
    """
    changed: dict[Path, int] = {}
    for path in paths:
        for folder in [*reversed(path.parents), path]:
            mode = folder.stat().st_mode
            if folder not in changed and stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                changed[folder] = stat.S_IMODE(mode)
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)


def _share_kernel(machine, shared: Path) -> None:
    """The shared cache's kernel folder: root's, hard-linked (a copy across file systems)."""
    target = shared / "kernels" / machine.kernel.abi
    target.parent.mkdir(parents=True)
    linked = subprocess.run(["cp", "-al", str(machine.kernel.root), str(target)], check=False)
    if linked.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(machine.kernel.root, target, symlinks=True)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_uid, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def as_user(machine) -> Iterator[AsUser]:
    if os.geteuid() != 0:
        pytest.skip("makes an unprivileged user to run as: needs root (as in CI)")
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    base = Path(tempfile.mkdtemp(prefix="kmodlab-noroot-"))
    base.chmod(0o755)
    made = _make_user()
    try:
        uid = pwd.getpwnam(USER).pw_uid
        user = AsUser(USER, base, base / "shared", base / "home")
        user.home.mkdir()
        os.chown(user.home, uid, uid)
        _share_kernel(machine, user.shared)
        # The administrator's set-up, into the shared cache: the kernel is already
        # there, so it makes the guest (initramfs, snapshot) and opens it to all.
        admin_env = {**os.environ, "KMODLAB_SHARED_CACHE": str(user.shared),
                     "KMODLAB_ACCEL": machine.spec.accel.name}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "kmodlab", "setup", "--shared", "--no-install"],
            env=admin_env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        needed = [ROOT, Path(sys.prefix), Path(os.path.realpath(sys.executable))]
        with _traversable([*needed, Path(sys.base_prefix)]):
            probe = user.run([sys.executable, "-c", "import kmodlab, nbclient"])
            if probe.returncode != 0:
                pytest.fail(f"the test user cannot run this Python: {probe.stderr.strip()}")
            yield user
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if made:
            subprocess.run(["userdel", USER], check=False, capture_output=True)


@pytest.fixture(scope="module")
def shared_before(as_user) -> dict[str, tuple[int, int]]:
    return _snapshot(as_user.shared)


def test_a_users_setup_uses_the_shared_kernel(as_user, shared_before, machine):
    """Does `kmodlab setup` as an ordinary user with no cache of their own (what `kmodlab lab`
    runs first) use the administrator's kernel and saved guest, needing no root?"""
    done = as_user.kmodlab("setup")
    assert done.returncode == 0, done.stderr
    assert f"using the guest kernel {machine.kernel.abi} set up for every user" in done.stderr
    assert not (as_user.home / ".cache" / "kmodlab" / "kernels").exists()


def test_the_hello_notebooks_first_cells_run_as_the_user(as_user, shared_before):
    """Do the hello notebook's first cells (load the extension, write hello.c, build it in
    the sandbox, insmod, lsmod, rmmod) run without an error as the ordinary user?"""
    nb = nbformat.read(str(ROOT / "notebooks" / "02-hello.ipynb"), as_version=4)
    last = next(i for i, c in enumerate(nb.cells) if c.source.startswith(LAST_CELL))
    nb.cells = nb.cells[: last + 1]
    work = as_user.home / "lab"
    work.mkdir()
    nbformat.write(nb, str(work / "first-cells.ipynb"))
    os.chown(work, as_user.home.stat().st_uid, -1)
    done = as_user.run(
        [sys.executable, "-c", RUN_CELLS, str(work / "first-cells.ipynb"), str(work)]
    )
    assert done.returncode == 0, done.stderr
    cells = json.loads(done.stdout)
    assert [e for c in cells for e in c["errors"]] == []
    text = "".join(c["text"] for c in cells)
    assert "Hello, world!" in text and "Goodbye, world!" in text
    assert (work / "kmodlab-workspace" / "02-hello" / "hello.c").is_file()


def test_kmodlab_run_as_the_user(as_user, shared_before):
    """Does `kmodlab run` of hello (build in the sandbox, insmod, rmmod in a fresh guest) work
    as the ordinary user?"""
    done = as_user.kmodlab("-q", "run", str(ROOT / "solutions" / "hello"))
    assert done.returncode == 0, done.stderr
    assert "Hello, world!" in done.stdout


def test_a_grade_as_the_user(as_user, shared_before):
    """Does `kmodlab grade` of the hello solution pass every check as the ordinary user
    (the build in the sandbox, unprivileged: a build that could not be sandboxed fails)?"""
    done = as_user.kmodlab(
        "-q", "grade", str(ROOT / "solutions" / "hello"), "--exercise", "hello", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert set(statuses.values()) == {"pass"}, statuses
    assert report["score"] == report["max_score"] > 0


def test_a_batch_as_the_user(as_user, shared_before):
    """Does a two-submission `grade-batch --jobs 2` as the ordinary user grade both, the
    solution passing and the starter failing, with exit status 0?"""
    subs = as_user.home / "subs"
    shutil.copytree(ROOT / "solutions" / "hello", subs / "alice")
    shutil.copytree(ROOT / "exercises" / "hello", subs / "bob")
    uid = as_user.home.stat().st_uid
    for path in [subs, *subs.rglob("*")]:
        os.chown(path, uid, uid)
    out = as_user.home / "out"
    done = as_user.kmodlab(
        "-q", "grade-batch", str(subs), "--exercise", "hello", "--jobs", "2",
        "--cycles", "2", "--no-fault-injection", "--output-dir", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert (rows["alice"]["status"], rows["bob"]["status"]) == ("pass", "fail")
    assert out.stat().st_uid == uid


def test_the_shared_cache_was_only_read(as_user, shared_before, machine):
    """After all the above, is every file of the shared cache still root's and unchanged,
    everything the user made in the user's own cache, and (same accelerator) the shared
    saved guest restored rather than a new one saved for the user?"""
    after = _snapshot(as_user.shared)
    assert after == shared_before
    assert {uid for uid, _ in after.values()} == {0}
    own = as_user.home / ".cache" / "kmodlab"
    uid = as_user.home.stat().st_uid
    assert all(p.lstat().st_uid == uid for p in own.rglob("*"))
    if machine.spec.accel.name == "tcg":  # the user's accelerator too: the same saved guest
        assert not list(own.glob("snapshots/*/guest.state"))
