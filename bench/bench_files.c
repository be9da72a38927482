/*
 * bench_files.c — the mounted file storage (eryx_vfs), seen from Python.
 *
 * usage: bench_files [ROUNDS]   (default 5)
 *
 * Each round runs one script in a session over a fresh tree and reports
 * what Python measured inside (time.perf_counter), so only file work is
 * timed. Figures (median over rounds), one JSON line each:
 *   write_MBps / read_MBps   16 MiB of random bytes in 1 MiB writes, then
 *                            read back whole (binary, buffered)
 *   write_ascii_MBps         the same with ASCII bytes (bytes travel as
 *                            text, one character per byte: bytes >= 0x80
 *                            take two bytes on the way)
 *   small_files_us           create + write + close one small file
 *   stat_us                  one os.path.exists on the mount
 *   restore_*                eryx_session_restore_state of a small
 *                            snapshot (a few variables, a function, a
 *                            class, 20 small files), timed on the host, p50
 *                            and p99 over 50: into a session that has run
 *                            code, one every 20 ms (`restore`) and back to
 *                            back (`restore_back_to_back`); the same
 *                            spaced restore then `pass`, the first
 *                            execution after it (`restore_execute`); and
 *                            eryx_session_new + restore, how a stored
 *                            session is resumed (`restore_new_session`)
 */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char script[] =
    "import os, time\n"
    "def rate(data):\n"
    "    t = time.perf_counter()\n"
    "    with open('/data/big.bin', 'wb') as f:\n"
    "        for _ in range(16):\n"
    "            f.write(data)\n"
    "    return 16 / (time.perf_counter() - t)\n"
    "w = rate(os.urandom(1 << 20))\n"
    "t = time.perf_counter()\n"
    "n = len(open('/data/big.bin', 'rb').read())\n"
    "r = 16 / (time.perf_counter() - t)\n"
    "a = rate(b'a' * (1 << 20))\n"
    "t = time.perf_counter()\n"
    "for i in range(500):\n"
    "    with open(f'/data/s{i}.txt', 'w') as f:\n"
    "        f.write('hello')\n"
    "s = (time.perf_counter() - t) / 500 * 1e6\n"
    "t = time.perf_counter()\n"
    "for i in range(2000):\n"
    "    os.path.exists('/data/s1.txt')\n"
    "st = (time.perf_counter() - t) / 2000 * 1e6\n"
    "result = [w, r, a, s, st]\n";

static double percentile(double *v, size_t n, double p) {
  qsort(v, n, sizeof *v, cmp_double);
  return v[(size_t)(p * (double)(n - 1))];
}

static void restore_figures(eryx_runtime *rt) {
  enum { N = 50 };
  eryx_vfs *vfs;
  eryx_error *err = eryx_vfs_new(0, &vfs);
  if (err)
    die(err);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = vfs;
  eryx_session *s;
  if ((err = eryx_session_new(rt, &o, &s)))
    die(err);
  const char *setup = "import math\n"
                      "rate = 2\nnames = [f'n{i}' for i in range(100)]\n"
                      "def scale(x): return x * rate\n"
                      "class P:\n    def norm(self): return math.hypot(3, 4)\n"
                      "p = P()\n"
                      "for i in range(20):\n    open(f'/data/f{i}.txt', 'w').write('x' * 100)\n";
  eryx_result *r;
  if ((err = eryx_session_execute(s, setup, strlen(setup), &r)))
    die(err);
  eryx_result_free(r);
  eryx_snapshot *snap;
  if ((err = eryx_session_snapshot_state(s, 0, &snap)))
    die(err);
  size_t len;
  const uint8_t *data = eryx_snapshot_data(snap, &len);
  enum { SPACED, BACK_TO_BACK, EXECUTE, NEW_SESSION, KINDS };
  static const char *kinds[KINDS] = {"restore", "restore_back_to_back", "restore_execute",
                                     "restore_new_session"};
  double ms[KINDS][N];
  struct timespec gap = {0, 20 * 1000000L};
  for (int k = 0; k < KINDS; k++) {
    for (int i = 0; i < N; i++) {
      if (k != BACK_TO_BACK)
        nanosleep(&gap, NULL);
      eryx_session *t = s;
      double t0 = now_ms();
      if (k == NEW_SESSION && (err = eryx_session_new(rt, &o, &t)))
        die(err);
      if ((err = eryx_session_restore_state(t, data, len)))
        die(err);
      if (k == EXECUTE) {
        if ((err = eryx_session_execute(s, "pass", 4, &r)))
          die(err);
        eryx_result_free(r);
      }
      ms[k][i] = now_ms() - t0;
      if (t != s)
        eryx_session_free(t);
    }
    printf("{\"bench\":\"files_%s_ms\",\"n\":%d,\"bytes\":%zu,\"p50\":%.3f,"
           "\"p99\":%.3f}\n",
           kinds[k], N, len, percentile(ms[k], N, 0.5), percentile(ms[k], N, 0.99));
  }
  eryx_snapshot_free(snap);
  eryx_session_free(s);
  eryx_vfs_free(vfs);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  if (rounds < 1 || rounds > 100)
    rounds = 5;
  eryx_runtime *rt;
  eryx_error *err = eryx_runtime_new(NULL, &rt);
  if (err)
    die(err);
  enum { FIGURES = 5 };
  static const char *names[FIGURES] = {"write_MBps", "read_MBps", "write_ascii_MBps",
                                       "small_files_us", "stat_us"};
  double v[FIGURES][100];
  for (int i = 0; i < rounds; i++) {
    eryx_vfs *vfs;
    if ((err = eryx_vfs_new((uint64_t)64 << 20, &vfs)))
      die(err);
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.vfs = vfs;
    eryx_session *s;
    if ((err = eryx_session_new(rt, &o, &s)))
      die(err);
    eryx_result *r;
    if ((err = eryx_session_execute(s, script, strlen(script), &r)))
      die(err);
    const char *json = eryx_result_json(r, NULL);
    if (!json || sscanf(json, "[%lf, %lf, %lf, %lf, %lf]", &v[0][i], &v[1][i], &v[2][i],
                        &v[3][i], &v[4][i]) != FIGURES) {
      fprintf(stderr, "bench: %s\n", json ? json : eryx_result_error_message(r, NULL));
      exit(1);
    }
    eryx_result_free(r);
    eryx_session_free(s);
    eryx_vfs_free(vfs);
  }
  restore_figures(rt);
  for (int k = 0; k < FIGURES; k++) {
    qsort(v[k], (size_t)rounds, sizeof(double), cmp_double);
    printf("{\"bench\":\"files_%s\",\"rounds\":%d,\"median\":%.1f}\n", names[k], rounds,
           v[k][rounds / 2]);
  }
  eryx_runtime_free(rt);
  return 0;
}
