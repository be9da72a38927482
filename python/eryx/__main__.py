"""`python -m eryx`: the eryx command (see eryx.cli)."""

import sys

from .cli import main

sys.exit(main())
