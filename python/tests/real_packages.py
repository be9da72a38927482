"""Where the real PyPI packages of the package and factory tests are:
ERYX_TEST_PACKAGES (set by the Makefile), else what
scripts/fetch-test-packages.sh prints (run with the caller's cache, not a
test's own): "" when the package index is unreachable."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
_CALLER_CACHE_DIR = os.environ.get("ERYX_CACHE_DIR")  # before any test changes it


def fetch_test_packages() -> str:
    if "ERYX_TEST_PACKAGES" in os.environ:
        return os.environ["ERYX_TEST_PACKAGES"]
    env = dict(os.environ)
    env.pop("ERYX_CACHE_DIR", None)
    if _CALLER_CACHE_DIR is not None:
        env["ERYX_CACHE_DIR"] = _CALLER_CACHE_DIR
    out = subprocess.run(["bash", str(ROOT / "scripts" / "fetch-test-packages.sh")],
                         env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return out.strip()
