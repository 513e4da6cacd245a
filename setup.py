"""The build step pyproject.toml cannot say: the course content goes into the wheel.

The top-level notebooks/, exercises/, solutions/, autograder/ and course/ are
copied into the built package as kmodlab/_course/ (kmodlab.coursefiles says
what is left out), so a non-editable install finds the exercises and `kmodlab
course init` has a course to copy. An editable install reads the checkout itself.
"""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _coursefiles():
    # Loaded by path: the package is not importable while it is being built.
    path = HERE / "src" / "kmodlab" / "coursefiles.py"
    spec = importlib.util.spec_from_file_location("coursefiles", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithCourse(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the checkout's own folders are used
        cf = _coursefiles()
        dest = Path(self.build_lib) / "kmodlab" / cf.PACKAGED
        # build/lib outlives a build: a file since removed from the course must not ride along.
        shutil.rmtree(dest, ignore_errors=True)
        cf.copy_content(HERE, dest)


setup(cmdclass={"build_py": BuildWithCourse})
