"""The tests import the installed package (never python/eryx from the
repository: the extension and runtime exist only in the installed copy)."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(here)]
