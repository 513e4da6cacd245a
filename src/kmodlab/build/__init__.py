"""Sandboxed builds of a student's submission folder.

from kmodlab.build import build_submission
result = build_submission(folder, headers=current_kernel().headers)
if not result.ok:
    for d in result.errors: print(d)
"""

from kmodlab.build.builder import BuildResult, BuiltModule, build_submission, make_argv
from kmodlab.build.diagnostics import Diagnostic, parse_build_log
from kmodlab.build.objm import KbuildSpec, ModuleSpec, module_specs
from kmodlab.build.sandbox import bwrap_argv, sandbox_argv, sandbox_available
from kmodlab.build.validate import Submission, load_submission

__all__ = [
    "BuildResult",
    "BuiltModule",
    "Diagnostic",
    "KbuildSpec",
    "ModuleSpec",
    "Submission",
    "build_submission",
    "bwrap_argv",
    "load_submission",
    "make_argv",
    "module_specs",
    "parse_build_log",
    "sandbox_argv",
    "sandbox_available",
]
