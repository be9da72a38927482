"""Build-time helper: copy the stdlib that componentize-py's CPython sees.

componentize-py mounts its bundled CPython 3.14 stdlib at /python while it
pre-initializes a component. This module's top level copies that tree into
the directory marked with `.eryx-stdlib-out` (passed with `-p`) and
byte-compiles it for 3.14, so the host can mount the identical files
read-only at /python at run time. Only used to produce files; the component
built from it is thrown away.
"""

import compileall
import os
import py_compile
import shutil
import sys

import wit_world

MARKER = ".eryx-stdlib-out"


def _out_dir():
    for entry in sys.path:
        if os.path.isfile(os.path.join(entry, MARKER)):
            return entry
    raise RuntimeError("no -p directory holds " + MARKER)


def _export():
    dest = os.path.join(_out_dir(), "python")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree("/python", dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    ok = compileall.compile_dir(
        dest, ddir="/python", quiet=1, workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    if not ok:
        # Some test/lib2to3 data files are deliberately invalid Python; the
        # importable modules are what matters, so only report.
        print("eryx: some stdlib files did not byte-compile", file=sys.stderr)


_export()


class WitWorld(wit_world.WitWorld):
    """Never instantiated for real: this component is thrown away."""

    def execute(self, code, options):
        raise RuntimeError("the stdlib export component is not a runtime")

    snapshot_state = restore_state = warm_up = execute
