"""The Gradescope bundle in fresh containers laid out as Gradescope's, on a Debian 12 and
an Ubuntu 22.04 base (Gradescope's own images are Ubuntu): setup.sh once, from the bundle
alone plus the distribution's archive, committed to an image as Gradescope builds one;
then run_autograder for a solution, a starter, a crashing module and an empty submission,
each in a fresh container from that image, as Gradescope runs every submission.

Needs podman, the base images (`tools/build-images debian ubuntu`) and the network to the
distributions' archives; about 8 minutes per base. Skipped where podman or a base is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from kmodlab.cli import main
from tests.container.test_image import PODMAN
from tests.vm.test_instructors_gradescope import CRASH

pytestmark = pytest.mark.container
DEBIAN, UBUNTU = "localhost/debian:12", "localhost/ubuntu:22.04"
ROOT = Path(__file__).resolve().parents[2]
LEAST = ["--security-opt", "unmask=/proc/*"]  # the build sandbox's one need (test_image.py)
SETUP = """
cp /autograder/source/run_autograder /autograder/run_autograder
sh /autograder/source/setup.sh > /autograder/setup.log 2>&1 ||
  { tail -30 /autograder/setup.log; exit 1; }
"""
GRADE = """
cp -r /sub/. /autograder/submission/
mkdir -p /autograder/results
/autograder/run_autograder > /out/log 2>&1
cp /autograder/results/results.json /out/results.json
"""
KERNEL_DEBS = "linux-image-amd64"  # the archive's current kernel, as `kmodlab setup` takes


def _need(image: str) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    if subprocess.run(["podman", "image", "exists", image]).returncode != 0:
        pytest.skip(f"no base image {image}: tools/build-images")


def _podman(*argv: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *argv], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The bundle for hello (its greetings check hidden), unpacked as Gradescope does."""
    _need(DEBIAN)
    tmp = tmp_path_factory.mktemp("gradescope")
    debs = tmp / "debs"
    debs.mkdir()
    # The archive's current kernel packages, fetched inside Debian (whose lists are fresh).
    fetch = (
        "apt-get update -q >/dev/null && cd /debs && "
        f"abi=$(apt-cache depends {KERNEL_DEBS} | sed -n 's/.*Depends: linux-image-//p' "
        "| head -n1) && v=${abi%-amd64} && "
        "apt-get -o APT::Sandbox::User=root download -q linux-image-$abi linux-headers-$abi "
        "linux-headers-$v-common linux-kbuild-$(echo $v | cut -d. -f1,2)"
    )
    r = _podman("-v", f"{debs}:/debs", DEBIAN, "sh", "-c", fetch, timeout=600)
    assert r.returncode == 0 and len(list(debs.glob("*.deb"))) == 4, r.stdout + r.stderr
    bundle = tmp / "autograder.zip"
    assert main(["-q", "gradescope", "hello", "-o", str(bundle), "--debs", str(debs),
                 "--hide", "greetings"]) == 0  # fmt: skip
    source = tmp / "source"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(source)
        for info in z.infolist():
            (source / info.filename).chmod(info.external_attr >> 16 & 0o777)
    return source


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    subs = tmp_path_factory.mktemp("submissions")
    (subs / "solution" / "hello").mkdir(parents=True)  # a zip's folder, one level down
    shutil.copy(ROOT / "solutions/hello/hello.c", subs / "solution/hello/hello.c")
    (subs / "starter").mkdir()
    shutil.copy(ROOT / "exercises/hello/hello.c", subs / "starter/hello.c")
    (subs / "crash").mkdir()
    (subs / "crash" / "crash.c").write_text(CRASH)
    (subs / "empty").mkdir()
    return subs


def _autograder_image(base: str, source: Path) -> str:
    """setup.sh in a fresh container of base, committed: Gradescope's autograder image."""
    tag = f"localhost/kmodlab-gradescope-{base.rsplit('/', 1)[1].replace(':', '-')}:test"
    name = f"kmodlab-gradescope-setup-{time.monotonic_ns()}"
    t0 = time.monotonic()
    kept = [a for a in PODMAN if a != "--rm"]  # committed after it ends
    mount = ["-v", f"{source}:/autograder/source:ro"]
    r = subprocess.run([*kept, "--name", name, *LEAST, *mount, base, "sh", "-c", SETUP],
                       capture_output=True, text=True, timeout=2400)  # fmt: skip
    try:
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        print(f"\n{base}: setup.sh {time.monotonic() - t0:.0f} s")
        subprocess.run(["podman", "commit", "-q", name, tag], check=True, capture_output=True)
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)
    return tag


def _grade(image: str, source: Path, submission: Path, out: Path) -> tuple[dict, float]:
    """run_autograder on one submission, in a fresh container of the autograder image."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    r = _podman(*LEAST, "-v", f"{source}:/autograder/source:ro", "-v", f"{submission}:/sub:ro",
                "-v", f"{out}:/out", image, "sh", "-c", GRADE, timeout=900)  # fmt: skip
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), took


@pytest.mark.timeout(3600)  # set-up installs QEMU and gcc from the archive, then boots
@pytest.mark.parametrize("base", [DEBIAN, UBUNTU])
def test_bundle_sets_up_and_grades_four_submissions_in_fresh_containers(
    base, source, submissions, tmp_path
):
    """In a fresh container of base laid out as Gradescope's, does setup.sh install kmodlab
    and the guest from the bundle, and does run_autograder, each submission in a fresh
    container of the image set-up made, leave a results.json: full marks for the solution
    (its hidden check after_published), fewer for the starter, a failed load for a
    crashing module, and 0 with the reason for an empty upload?"""
    _need(base)
    image = _autograder_image(base, source)
    docs, took = {}, {}
    try:
        for s in ("solution", "starter", "crash", "empty"):
            docs[s], took[s] = _grade(image, source, submissions / s, tmp_path / s)
    finally:  # 1 GB each; KMODLAB_KEEP_IMAGES=1 keeps it to measure run_autograder by hand
        if not os.environ.get("KMODLAB_KEEP_IMAGES"):
            subprocess.run(["podman", "rmi", "-f", image], capture_output=True)
    print(f"{base}: run_autograder, container start to end: "
          + ", ".join(f"{s} {t:.1f} s" for s, t in took.items()))  # fmt: skip
    tests = {s: {t["name"]: t for t in d["tests"]} for s, d in docs.items()}
    full = sum(t["max_score"] for t in docs["solution"]["tests"])
    assert docs["solution"]["score"] == full > 0, docs["solution"]
    assert tests["solution"]["greetings"]["visibility"] == "after_published"
    assert 0 < docs["starter"]["score"] < full
    assert tests["starter"]["greetings"]["status"] == "failed"
    assert tests["crash"]["build"]["status"] == "passed"
    assert tests["crash"]["load"]["status"] == "failed"
    assert docs["empty"]["score"] == 0 and "is empty" in tests["empty"]["build"]["output"]
