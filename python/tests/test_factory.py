"""SandboxFactory: a runtime of its own with jinja2 + markupsafe on its path
and jinja2 imported in its snapshot. Built once for the module (seconds);
its sandboxes and sessions find jinja2 already in sys.modules; saved, it
loads in another process without rebuilding; a manifest naming another
version is refused; a failing import fails the build with its traceback.

The real packages come as in test_packages.py (ERYX_TEST_PACKAGES or
scripts/fetch-test-packages.sh; skipped, saying so, when the package index
cannot be reached).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

import eryx
from real_packages import fetch_test_packages

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("eryx-cache-factory")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ERYX_CACHE_DIR", str(d))
        yield d


@pytest.fixture(scope="module")
def pkgs():
    d = fetch_test_packages()
    if not d:
        pytest.skip("the package index is unreachable (scripts/fetch-test-packages.sh "
                    "printed nothing): factory tests with real packages skipped")
    d = pathlib.Path(d)
    found = {}
    for name, pattern in {"jinja2": "jinja2-*-py3-none-any.whl",
                          "markupsafe": "markupsafe-*.tar.gz",
                          "idna": "idna-*-py3-none-any.whl",
                          "manylinux": "markupsafe-*-manylinux*_x86_64*.whl"}.items():
        hits = sorted(d.glob(pattern))
        assert len(hits) == 1, f"{d}: expected one {pattern}, found {hits}"
        found[name] = str(hits[0])
    return found


@pytest.fixture(scope="module")
def built(pkgs):
    """(factory, progress lines): built once for the whole module."""
    lines = []
    factory = eryx.SandboxFactory(packages=[pkgs["jinja2"], pkgs["markupsafe"]],
                                  imports=["jinja2"], progress=lines.append)
    return factory, lines


@pytest.fixture(scope="module")
def factory(built):
    return built[0]


@pytest.fixture(scope="module")
def saved(factory, tmp_path_factory):
    d = tmp_path_factory.mktemp("saved") / "jinja-runtime"
    factory.save(d)
    return d


RENDER = """
import sys
pre = sorted(m for m in ("jinja2", "markupsafe") if m in sys.modules)
import jinja2
env = jinja2.Environment(autoescape=True)
page = env.from_string("<i>{{ who }}</i>{% for n in ns %}[{{ n }}]{% endfor %}").render(
    who="<Ada & Bob>", ns=range(3))
result = {"pre": pre, "page": page, "version": jinja2.__version__}
"""
PAGE = "<i>&lt;Ada &amp; Bob&gt;</i>[0][1][2]"


def test_build_reports_progress_lines(built):
    _, lines = built
    assert len(lines) >= 3, lines
    assert all(isinstance(x, str) and x.strip() for x in lines), lines


def test_factory_properties(factory, pkgs):
    assert factory.imports == ["jinja2"]
    assert [os.path.basename(p) for p in factory.packages] == \
        [os.path.basename(pkgs["jinja2"]), os.path.basename(pkgs["markupsafe"])]
    size = factory.size_bytes
    assert isinstance(size, int) and not isinstance(size, bool) and size > 1 << 20


def test_factory_sandbox_has_jinja2_imported_before_any_import(factory):
    r = factory.create_sandbox().execute(RENDER)
    assert r.result == {"pre": ["jinja2", "markupsafe"], "page": PAGE, "version": "3.1.6"}


def test_first_line_of_user_code_sees_jinja2_in_sys_modules(factory):
    sb = factory.create_sandbox()
    assert sb.execute("result = 'jinja2' in __import__('sys').modules").result is True
    # Each execute starts clean; the snapshot's jinja2 is there every time.
    sb.execute("x = 1")
    with pytest.raises(eryx.ExecutionError) as e:
        sb.execute("x")
    assert e.value.error_type == "NameError"
    assert sb.execute("import sys\nresult = 'jinja2' in sys.modules").result is True


def test_plain_sandbox_has_no_jinja2(pkgs):
    r = eryx.Sandbox().execute("import sys\nresult = 'jinja2' in sys.modules")
    assert r.result is False
    with pytest.raises(eryx.ExecutionError) as e:
        eryx.Sandbox().execute("import jinja2")
    assert e.value.error_type == "ModuleNotFoundError"


def test_factory_sandbox_reads_package_sources(factory):
    r = factory.create_sandbox().execute("""
import inspect, jinja2
src = open(jinja2.__file__).read()
result = ["Template" in src, inspect.getsource(jinja2.Template).startswith("class Template")]
""")
    assert r.result == [True, True]


def test_factory_sandbox_takes_sandbox_keywords(factory, pkgs):
    out = []
    sb = factory.create_sandbox(packages=[pkgs["idna"]], on_stdout=out.append,
                                result_variable="answer",
                                resource_limits=eryx.ResourceLimits(execution_timeout_ms=500))
    r = sb.execute("import idna, jinja2\nprint(jinja2.Template('{{ 6 * 7 }}').render())\n"
                   "answer = idna.encode('bücher.example').decode()")
    assert r.result == "xn--bcher-kva.example"
    assert b"".join(out).decode() == r.stdout_text == "42\n"
    with pytest.raises(eryx.TimeoutError):
        sb.execute("while True: pass")


def test_factory_sandbox_still_refuses_bad_packages(factory, pkgs):
    with pytest.raises(eryx.PackageError) as e:
        factory.create_sandbox(packages=[pkgs["manylinux"]])
    assert "native code for linux-x86_64 cannot run in a WASI sandbox" in str(e.value)


def test_factory_session_keeps_state(factory):
    s = factory.create_session()
    r = s.execute("import sys\npre = 'jinja2' in sys.modules\nimport jinja2\n"
                  "t = jinja2.Template('{{ a }}+{{ b }}')")
    assert r.stderr_text == ""
    assert s.execute("result = [pre, t.render(a=1, b='<2>')]").result == [True, "1+<2>"]
    assert s.execution_count == 2
    s.reset()
    assert s.execute("import sys\nresult = 'jinja2' in sys.modules").result is True


def test_factory_pool_leases_have_jinja2_imported(factory):
    with factory.create_pool(max_size=2, min_idle=1) as pool:
        with pool.acquire(callbacks=[{"name": "who", "fn": lambda: "pool"}]) as sb:
            r = sb.execute("import sys\nbefore = 'jinja2' in sys.modules\n"
                           "import jinja2\nresult = [before, "
                           "jinja2.Template('{{ x }}').render(x=await who())]")
            assert r.result == [True, "pool"]
        with pool.acquire() as sb:  # the next lease has none of the last one's callbacks
            assert sb.execute("result = [c['name'] for c in list_callbacks()]").result == []
        assert pool.stats().total_acquisitions == 2


def test_saved_factory_has_a_manifest(saved):
    manifest = json.loads((saved / "eryx-runtime.json").read_text())
    assert isinstance(manifest["eryx_version"], str) and manifest["eryx_version"]
    assert isinstance(manifest["wasmtime_version"], str) and manifest["wasmtime_version"]


def python_without_componentize_py(tmp_path):
    """A Python (a venv of this one, seeing the installed eryx through
    PYTHONPATH) for which componentize-py cannot be found or run: not in its
    scripts directory, not on PATH, not named by ERYX_COMPONENTIZE_PY, its
    module shadowed by one that fails to import (in child processes too).
    Returns (python, env)."""
    venv = tmp_path / "venv-without-componentize-py"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    shadow = tmp_path / "no-componentize"
    (shadow / "componentize_py").mkdir(parents=True)
    (shadow / "componentize_py" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'componentize_py'\", "
        "name='componentize_py')\n")
    env = dict(os.environ)
    env.pop("ERYX_COMPONENTIZE_PY", None)
    env.pop("VIRTUAL_ENV", None)
    path = [p for p in env.get("PATH", "").split(os.pathsep)
            if p and not os.path.exists(os.path.join(p, "componentize-py"))]
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONPATH"] = os.pathsep.join([str(shadow),
                                         os.path.dirname(os.path.dirname(eryx.__file__))])
    check = subprocess.run([str(python), "-c", "import eryx, shutil, sysconfig\n"
                            "print(eryx.__file__, shutil.which('componentize-py', "
                            "path=sysconfig.get_path('scripts')), shutil.which('componentize-py'))"],
                           env=env, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.split()[1:] == ["None", "None"], \
        check.stdout + check.stderr
    return str(python), env


LOAD_AND_RENDER = textwrap.dedent("""
    import json, sys, time
    import eryx
    t = time.perf_counter()
    f = eryx.SandboxFactory.load(sys.argv[1])
    load_s = time.perf_counter() - t
    r = f.create_sandbox().execute(sys.argv[2])
    s = f.create_session()
    s.execute("import jinja2\\nt = jinja2.Template('{{ x }}')")
    print(json.dumps({"result": r.result, "imports": f.imports, "size": f.size_bytes,
                      "session": s.execute("result = t.render(x='ok')").result,
                      "load_s": load_s}))
""")


def test_saved_factory_loads_in_a_new_process(saved, tmp_path, cache_dir):
    # Loading never rebuilds: it works where componentize-py cannot run.
    python, env = python_without_componentize_py(tmp_path)
    p = subprocess.run([python, "-c", LOAD_AND_RENDER, str(saved), RENDER],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["result"] == {"pre": ["jinja2", "markupsafe"], "page": PAGE, "version": "3.1.6"}
    assert out["imports"] == ["jinja2"] and out["size"] > 0 and out["session"] == "ok"


def test_saved_factory_can_be_moved(saved, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(saved, moved, symlinks=True)
    f = eryx.SandboxFactory.load(str(moved))
    assert f.create_sandbox().execute(RENDER).result["page"] == PAGE
    assert f.size_bytes > 0


@pytest.mark.parametrize("key", ["eryx_version", "wasmtime_version"])
def test_manifest_of_another_version_is_refused(saved, tmp_path, key):
    bad = tmp_path / "tampered"
    shutil.copytree(saved, bad, symlinks=True)
    manifest_path = bad / "eryx-runtime.json"
    manifest = json.loads(manifest_path.read_text())
    ours = manifest[key]
    manifest[key] = "0.0.0-tampered"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(eryx.InitializationError) as e:
        eryx.SandboxFactory.load(bad)
    msg = str(e.value)
    assert "0.0.0-tampered" in msg and ours in msg, msg


def test_load_of_a_directory_that_is_no_runtime(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(eryx.InitializationError):
        eryx.SandboxFactory.load(tmp_path / "empty")


def test_save_refuses_a_non_empty_directory(factory, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(eryx.EryxError):
        factory.save(tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_failing_import_fails_the_build_with_its_traceback():
    lines = []
    with pytest.raises(eryx.PackageError) as e:
        eryx.SandboxFactory(packages=[], imports=["eryx_no_such_module_4711"],
                            progress=lines.append)
    msg = str(e.value)
    assert "ModuleNotFoundError" in msg and "eryx_no_such_module_4711" in msg, msg


def test_refused_package_fails_the_build(pkgs):
    with pytest.raises(eryx.PackageError) as e:
        eryx.SandboxFactory(packages=[pkgs["manylinux"]], imports=[])
    msg = str(e.value)
    assert msg.startswith(f"package {pkgs['manylinux']}: ")
    assert "native code for linux-x86_64 cannot run in a WASI sandbox" in msg


def test_build_without_componentize_py_gives_an_install_hint(tmp_path):
    python, env = python_without_componentize_py(tmp_path)
    code = textwrap.dedent("""
        import eryx, sys
        try:
            eryx.SandboxFactory(packages=[], imports=["json"])
        except eryx.PackageError as e:
            print(e)
            sys.exit(0)
        sys.exit("built without componentize-py")
    """)
    p = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "componentize-py" in p.stdout and "eryx[factory]" in p.stdout, p.stdout
