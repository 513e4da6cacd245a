"""Rebuild the kernel logs in logs/ from instrumented runs of the fixtures here.

Run from the repo root when the kernel, the header or the shim changes:
    .venv/bin/python tests/data/grader/capture.py

Each case is built with a fixed nonce, loaded in the lab VM, and every kernel
log record of its commands is written one per line (the text /dev/kmsg
gives). The random build-folder path is replaced by CAPTURE_DIR, so the
unit tests parse with build_dir=CAPTURE_DIR.
"""

import tempfile
from pathlib import Path

from kmodlab.grader.instrument import FAIL_PARAM, instrumented_build
from kmodlab.vm.session import Session, prepare

HERE = Path(__file__).resolve().parent
CAPTURE_DIR = "/tmp/kmodlab-capture/build"
NONCE = "5eed5eed00c0ffee"
# log name -> (fixture, commands)
CASES = {
    "four_resources_cycle": (
        "four_resources",
        ["insmod four_resources.ko", "rmmod four_resources"],
    ),
    "four_resources_fail3": ("four_resources", [f"insmod four_resources.ko {FAIL_PARAM}=3"]),
    "ladder_skips_one_fail4": ("ladder_skips_one", [f"insmod ladder_skips_one.ko {FAIL_PARAM}=4"]),
    "many_apis_cycle": ("many_apis", ["insmod many_apis.ko", "rmmod many_apis"]),
}


def main() -> None:
    machine = prepare()
    (HERE / "logs").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as out, Session(machine) as session:
        for case, (fixture, commands) in CASES.items():
            result, _ = instrumented_build(
                HERE / fixture, headers=machine.kernel.headers, out_dir=Path(out), nonce=NONCE
            )
            assert result.ok, result.log
            session.push_modules([m.ko for m in result.modules])
            lines = [rec.text for command in commands for rec in session.run(command).kmsg]
            text = "\n".join(lines).replace(str(result.build_dir), CAPTURE_DIR) + "\n"
            (HERE / "logs" / f"{case}.log").write_text(text)
            print(f"{case}: {len(lines)} records")


if __name__ == "__main__":
    main()
