"""Rebuild the logs in logs/ from the broken submissions in broken/.

Run from the repo root when the kernel or compiler changes:
    .venv/bin/python tests/data/build/capture.py [HEADERS_DIR]

Each case is built with kmodlab's own builder (our generated Kbuild, in the
sandbox); the random build-folder path in the log is replaced by CAPTURE_DIR so
the logs are stable and tests can map paths back.
"""

import sys
import tempfile
from pathlib import Path

from kmodlab.build import build_submission
from kmodlab.paths import current_kernel

HERE = Path(__file__).resolve().parent
CAPTURE_DIR = "/tmp/kmodlab-capture/build"


def main() -> None:
    headers = Path(sys.argv[1]) if len(sys.argv) > 1 else current_kernel().headers
    (HERE / "logs").mkdir(exist_ok=True)
    for case in sorted((HERE / "broken").iterdir()):
        with tempfile.TemporaryDirectory() as out:
            result = build_submission(case, headers=headers, out_dir=Path(out))
            log = result.log.replace(str(result.build_dir), CAPTURE_DIR)
        (HERE / "logs" / f"{case.name}.log").write_text(log)
        print(f"{case.name}: ok={result.ok} {len(result.diagnostics)} diagnostics")


if __name__ == "__main__":
    main()
