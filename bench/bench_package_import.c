/*
 * bench_package_import.c — what byte-compiling a package's cache entry
 * saves: `import jinja2` + a render in a fresh sandbox with the jinja2
 * wheel and the markupsafe sdist as packages, first with the .pyc files the
 * first use wrote into the cache entry, then with them removed (the import
 * compiles from source, as before that change). Times are the calling
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID), steadier than wall time on a
 * shared machine; p50 over N runs each.
 *
 *   bench_package_import JINJA2_WHEEL MARKUPSAFE_SDIST [N]
 *   (make bench-packages passes the files scripts/fetch-test-packages.sh got)
 *
 * Uses a cache directory of its own under /tmp, removed at the end.
 */
#include "eryx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* p50 of N create + execute runs, in ms of CPU. */
static double run(eryx_runtime *rt, const eryx_str *pkgs, int n) {
  static const char code[] = "import jinja2\nresult = jinja2.Template('{{ x }}').render(x=1)";
  double *t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; i++) {
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.packages = pkgs;
    o.package_count = 2;
    double t0 = cpu_ms();
    eryx_sandbox *sb = NULL;
    eryx_result *r = NULL;
    eryx_error *err = eryx_sandbox_new(rt, &o, &sb);
    if (!err)
      err = eryx_sandbox_execute(sb, code, sizeof code - 1, &r);
    t[i] = cpu_ms() - t0;
    if (err || !r || !eryx_result_json(r, NULL) || strcmp(eryx_result_json(r, NULL), "\"1\"")) {
      fprintf(stderr, "run failed: %s\n", err ? eryx_error_message(err, NULL) : "bad result");
      exit(1);
    }
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
  qsort(t, (size_t)n, sizeof *t, cmp);
  double p50 = t[n / 2];
  free(t);
  return p50;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_package_import JINJA2_WHEEL MARKUPSAFE_SDIST [N]\n");
    return 2;
  }
  int n = argc > 3 ? atoi(argv[3]) : 15;
  char cache[] = "/tmp/eryx-bench-import-XXXXXX";
  if (!mkdtemp(cache))
    return 1;
  setenv("ERYX_CACHE_DIR", cache, 1);
  eryx_runtime *rt = NULL;
  eryx_error *err = eryx_runtime_new(NULL, &rt);
  if (err) {
    fprintf(stderr, "%s\n", eryx_error_message(err, NULL));
    return 1;
  }
  eryx_str pkgs[2] = {{argv[1], strlen(argv[1])}, {argv[2], strlen(argv[2])}};
  double first0 = cpu_ms();
  run(rt, pkgs, 1); /* unpacks and byte-compiles */
  double first = cpu_ms() - first0;
  double with_pyc = run(rt, pkgs, n);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "find %s -name __pycache__ -prune -exec rm -rf {} +", cache);
  if (system(cmd) != 0)
    return 1;
  double without = run(rt, pkgs, n);
  printf("{\"case\": \"create + import jinja2 + render, thread CPU ms p50\", \"runs\": %d, "
         "\"first_use_unpack_and_compile\": %.1f, \"with_pyc\": %.1f, \"from_source\": %.1f, "
         "\"from_source_over_with_pyc\": %.2f}\n",
         n, first, with_pyc, without, without / with_pyc);
  eryx_runtime_free(rt);
  snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
  return system(cmd) == 0 ? 0 : 1;
}
