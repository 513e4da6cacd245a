"""python -m kmodlab.gradescope run ROOT: what run_autograder calls."""

import sys

from kmodlab.gradescope import main

sys.exit(main())
