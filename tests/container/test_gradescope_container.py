"""The Gradescope bundle in a fresh Debian 12 container laid out as Gradescope's:
setup.sh once (from the bundle alone, plus the distribution's archive), then
run_autograder for a solution, a starter, a crashing module and an empty submission.

Needs podman and a Debian 12 base image (localhost/debian:12, made with mmdebstrap:
see test_image.py) and the network to Debian's archive; about 6 minutes. Skipped where
podman or the base image is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from kmodlab.cli import main
from tests.container.test_image import PODMAN
from tests.vm.test_instructors_gradescope import CRASH

pytestmark = pytest.mark.container
BASE = "localhost/debian:12"
ROOT = Path(__file__).resolve().parents[2]
DRIVE = r"""
set -e
cp /autograder/source/run_autograder /autograder/run_autograder
sh /autograder/source/setup.sh > /out/setup.log 2>&1 || { tail -30 /out/setup.log; exit 1; }
for s in solution starter crash empty; do
  rm -rf /autograder/submission /autograder/results
  mkdir -p /autograder/submission /autograder/results
  cp -r /subs/$s/. /autograder/submission/
  /autograder/run_autograder > /out/$s.log 2>&1
  cp /autograder/results/results.json /out/$s.json
done
"""
KERNEL_DEBS = "linux-image-amd64"  # the archive's current kernel, as `kmodlab setup` takes


@pytest.fixture(scope="module")
def base() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        pytest.skip(f"no base image {BASE} (see tests/container/test_image.py)")
    return BASE


def _podman(*argv: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *argv], capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(3000)  # set-up installs QEMU and gcc from the archive, then boots
def test_bundle_sets_up_and_grades_four_submissions_in_a_fresh_container(base, tmp_path):
    """In a fresh Debian 12 container laid out as Gradescope's, does setup.sh install
    kmodlab and the guest from the bundle, and does run_autograder then leave a
    results.json for each submission: full marks for the solution (its hidden check
    after_published), fewer for the starter, a failed load for a crashing module, and 0
    with the reason for an empty upload?"""
    debs = tmp_path / "debs"
    debs.mkdir()
    # The archive's current kernel packages, fetched inside Debian (whose lists are fresh).
    fetch = (
        "apt-get update -q >/dev/null && cd /debs && "
        f"abi=$(apt-cache depends {KERNEL_DEBS} | sed -n 's/.*Depends: linux-image-//p' "
        "| head -n1) && v=${abi%-amd64} && "
        "apt-get -o APT::Sandbox::User=root download -q linux-image-$abi linux-headers-$abi "
        "linux-headers-$v-common linux-kbuild-$(echo $v | cut -d. -f1,2)"
    )
    r = _podman("-v", f"{debs}:/debs", base, "sh", "-c", fetch, timeout=600)
    assert r.returncode == 0 and len(list(debs.glob("*.deb"))) == 4, r.stdout + r.stderr
    bundle = tmp_path / "autograder.zip"
    assert main(["-q", "gradescope", "hello", "-o", str(bundle), "--debs", str(debs),
                 "--hide", "greetings"]) == 0  # fmt: skip
    source = tmp_path / "source"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(source)
        for info in z.infolist():
            (source / info.filename).chmod(info.external_attr >> 16 & 0o777)
    subs, out = tmp_path / "subs", tmp_path / "out"
    out.mkdir()
    (subs / "solution" / "hello").mkdir(parents=True)
    shutil.copy(ROOT / "solutions/hello/hello.c", subs / "solution/hello/hello.c")
    (subs / "starter").mkdir()
    shutil.copy(ROOT / "exercises/hello/hello.c", subs / "starter/hello.c")
    (subs / "crash").mkdir()
    (subs / "crash" / "crash.c").write_text(CRASH)
    (subs / "empty").mkdir()
    r = _podman("--security-opt", "unmask=/proc/*", "-v", f"{source}:/autograder/source:ro",
                "-v", f"{subs}:/subs:ro", "-v", f"{out}:/out", base, "sh", "-c", DRIVE,
                timeout=2400)  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    docs = {s: json.loads((out / f"{s}.json").read_text()) for s in ("solution", "starter",
            "crash", "empty")}  # fmt: skip
    tests = {s: {t["name"]: t for t in d["tests"]} for s, d in docs.items()}
    full = sum(t["max_score"] for t in docs["solution"]["tests"])
    assert docs["solution"]["score"] == full > 0
    assert tests["solution"]["greetings"]["visibility"] == "after_published"
    assert 0 < docs["starter"]["score"] < full
    assert tests["starter"]["greetings"]["status"] == "failed"
    assert tests["crash"]["build"]["status"] == "passed"
    assert tests["crash"]["load"]["status"] == "failed"
    assert docs["empty"]["score"] == 0 and "is empty" in tests["empty"]["build"]["output"]
