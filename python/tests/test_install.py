"""The installed package: typed, and working from outside the repository."""
import os
import subprocess
import sys

import eryx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_installed_package_works_outside_the_repository(tmp_path):
    code = ("import eryx, os\n"
            "print(os.path.dirname(eryx.__file__))\n"
            "print(eryx.Sandbox().execute('print(40 + 2)').stdout_text.strip())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ERYX_RUNTIME_DIR")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(tmp_path), env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    where, answer = out.stdout.split()
    # Imported from the installed copy, never from the source tree.
    assert "site-packages" in where
    assert not where.startswith(os.path.join(REPO, "python") + os.sep)
    assert answer == "42"


def test_type_information_ships():
    pkg = os.path.dirname(eryx.__file__)
    assert os.path.exists(os.path.join(pkg, "py.typed"))
    assert os.path.exists(os.path.join(pkg, "_eryx.pyi"))
    assert os.path.isdir(os.path.join(pkg, "runtime", "python"))
