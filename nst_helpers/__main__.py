"""``python -m nst_helpers``: see ``nst_helpers.cli``."""

import sys

from .apps.cli import main

sys.exit(main())
