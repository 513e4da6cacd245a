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

from kmodlab.grader.collection.instrument import arm, instrumented_build
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
    # "ARMED n": insmod a copy of the module armed to fail its call n (instrument.arm).
    "four_resources_fail3": ("four_resources", ["ARMED 3"]),
    "ladder_skips_one_fail4": ("ladder_skips_one", ["ARMED 4"]),
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
            lines = []
            for command in commands:
                if command.startswith("ARMED "):
                    (ko,) = [m.ko for m in result.modules]
                    armed = arm(ko, int(command.split()[1]), Path(out) / "armed" / ko.name)
                    session.push_modules([armed], depmod=False)
                    command = f"insmod {armed.name}"
                lines += [rec.text for rec in session.run(command).kmsg]
            text = "\n".join(lines).replace(str(result.build_dir), CAPTURE_DIR) + "\n"
            (HERE / "logs" / f"{case}.log").write_text(text)
            print(f"{case}: {len(lines)} records")


if __name__ == "__main__":
    main()
