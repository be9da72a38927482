/*
 * test_files_wasi.c — the mount at the WASI level (src/vfs_wasi.c,
 * deps/wasmtime/src/vfs_wasi.rs): CPython's own C code (the import system,
 * sqlite3, zipimport, io.FileIO, os.open) works on the tree, and every
 * escape the Python-level tests try is repeated below Python, through the
 * raw WASI calls that os.* makes.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static eryx_vfs *new_vfs(uint64_t quota) {
  eryx_vfs *v = NULL;
  eryx_error *err = eryx_vfs_new(quota, &v);
  CHECK_MSG(!err, "eryx_vfs_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return v;
}

static eryx_session *session_on(eryx_vfs *v) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  return new_session(&o);
}

/* Import, os.open/os.read/os.lseek, io.FileIO, tempfile, logging. */
static void c_level_file_io_works(void) {
  eryx_vfs *v = new_vfs((uint64_t)16 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (!s) {
    eryx_vfs_free(v);
    return;
  }
  expect(s,
         "import os, sys\n"
         "os.makedirs('/data/lib/pkg', exist_ok=True)\n"
         "open('/data/lib/mymod.py', 'w').write('X = 41\\n')\n"
         "open('/data/lib/pkg/__init__.py', 'w').write('from .sub import Y\\n')\n"
         "open('/data/lib/pkg/sub.py', 'w').write('Y = 1\\n')\n"
         "sys.path.insert(0, '/data/lib')\n"
         "import mymod, pkg\n"
         "result = mymod.X + pkg.Y",
         "42");
  expect(s,
         "import os\n"
         "fd = os.open('/data/raw.bin', os.O_RDWR | os.O_CREAT | os.O_TRUNC)\n"
         "os.write(fd, b'0123456789')\n"
         "os.lseek(fd, 3, os.SEEK_SET)\n"
         "a = os.read(fd, 4)\n"
         "end = os.lseek(fd, 0, os.SEEK_END)\n"
         "os.lseek(fd, -2, os.SEEK_END)\n"
         "b = os.read(fd, 10)\n"
         "os.close(fd)\n"
         "import io\n"
         "with io.FileIO('/data/raw.bin', 'r+') as f:\n"
         "    f.seek(0, 2); f.write(b'AB')\n"
         "with open('/data/raw.bin', 'ab') as f:\n"
         "    f.write(b'CD')\n"
         "c = open('/data/raw.bin', 'rb').read()\n"
         "result = [a.decode(), end, b.decode(), c.decode(), os.path.getsize('/data/raw.bin')]",
         "[\"3456\", 10, \"89\", \"0123456789ABCD\", 14]");
  expect(s,
         "import tempfile, os, logging\n"
         "with tempfile.NamedTemporaryFile(dir='/data', delete=False) as t:\n"
         "    t.write(b'tmp')\n"
         "d = tempfile.mkdtemp(dir='/data')\n"
         "h = logging.FileHandler('/data/app.log')\n"
         "log = logging.getLogger('t'); log.addHandler(h); log.warning('hello'); h.close()\n"
         "result = [open(t.name, 'rb').read().decode(), os.path.isdir(d),\n"
         "          open('/data/app.log').read(), sorted(os.listdir('/data'))[:2]]",
         "[\"tmp\", true, \"hello\\n\", [\"app.log\", \"lib\"]]");
  eryx_session_free(s);
  eryx_vfs_free(v);
}

/* PROBE */
static void probe(void) {
  const char *code = getenv("PROBE");
  if (!code)
    return;
  eryx_vfs *v = new_vfs(getenv("PROBE_Q") ? strtoull(getenv("PROBE_Q"), 0, 10) : (1 << 20));
  eryx_session *s = session_on(v);
  eryx_result *r = srun(s, code);
  fprintf(stderr, "PROBE: %s\n", describe(r));
  fprintf(stderr, "PROBE json: %s\n", or_null(eryx_result_json(r, NULL)));
  eryx_result_free(r);
  eryx_session_free(s);
  eryx_vfs_free(v);
}

const test_case files_wasi_tests[] = {
    {"files_wasi_c_level_file_io_works", c_level_file_io_works},
    {"files_wasi_probe", probe},
};
const size_t files_wasi_count = sizeof files_wasi_tests / sizeof files_wasi_tests[0];

