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
  for (int k = 0; k < FIGURES; k++) {
    qsort(v[k], (size_t)rounds, sizeof(double), cmp_double);
    printf("{\"bench\":\"files_%s\",\"rounds\":%d,\"median\":%.1f}\n", names[k], rounds,
           v[k][rounds / 2]);
  }
  eryx_runtime_free(rt);
  return 0;
}
