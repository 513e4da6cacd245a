"""The lab's two latency figures, for bench/benchmark.py.

    first cell: %%kmodule hello --load with no guest yet (build + guest from
                its snapshot, overlapped; push; insmod; kernel log)
    warm cell:  the same cell edited and run again (build + rmmod old + push +
                insmod + kernel log), the guest already warm

Both go through Workspace.kmodule, the exact path the %%kmodule magic takes
(minus displaying the HTML).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from kmodlab.lab.workspace import CellOutcome, Workspace

HELLO = """#include <linux/module.h>

static int __init hello_init(void)
{
	pr_info("%s\\n");
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("Goodbye, world!\\n");
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
"""


def _loaded_and_said(outcome: CellOutcome, words: str) -> bool:
    last = outcome.steps[-1].result if outcome.steps else None
    return bool(outcome.ok and last is not None and last.ok and words in last.log)


def bench_cells(*, machine: Any = None, rounds: int = 3) -> dict[str, float]:
    """Seconds for the first hello cell (with the guest's start) and for a warm re-run.

    The warm figure is the median of `rounds` edits. machine defaults to the
    prepared lab machine, whose preparation then counts in the first cell as in
    a real notebook.
    """
    with tempfile.TemporaryDirectory(prefix="kmodlab-bench-lab-") as tmp:
        ws = Workspace(Path(tmp), machine=machine)
        try:
            t0 = time.monotonic()
            first = ws.kmodule("hello", HELLO % "Hello, world!", load=[])
            first_s = time.monotonic() - t0
            if not _loaded_and_said(first, "Hello, world!"):
                raise RuntimeError(f"the first hello cell failed: {ws.view_cell(first).text}")
            warm, builds = [], []
            for i in range(rounds):
                words = f"Hello again, round {i + 1}!"
                t0 = time.monotonic()
                again = ws.kmodule("hello", HELLO % words, load=[])
                warm.append(time.monotonic() - t0)
                builds.append(again.build_s)
                if not _loaded_and_said(again, words):
                    raise RuntimeError(f"the edited hello cell failed: {ws.view_cell(again).text}")
        finally:
            ws.close()
    return {
        "lab_first_cell_s": round(first_s, 3),
        "lab_warm_cell_s": round(sorted(warm)[len(warm) // 2], 3),
        "lab_warm_build_s": round(sorted(builds)[len(builds) // 2], 3),
    }
