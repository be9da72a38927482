/*
 * bench_sessions.c — what live sessions cost: N sessions, each having run
 * `x = 1`, held at once. Prints, at each N of the list: the time to create
 * and run them, RSS and PSS (from /proc/self/smaps_rollup, so shared
 * copy-on-write pages count once in PSS), the per-session slope since the
 * previous N, and the address space reserved (VmSize).
 *
 *   bench_sessions [N ...]     default: 100 1000 10000
 *
 * The runtime is made with max_sandboxes = the largest N (+ warm ones).
 */
#include "eryx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A "Key:   N kB" line of a /proc file, in bytes (0 if absent). */
static double proc_kb(const char *file, const char *key) {
  FILE *f = fopen(file, "r");
  if (!f)
    return 0;
  char line[256];
  double v = 0;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, key, n) && line[n] == ':') {
      v = strtod(line + n + 1, NULL) * 1024.0;
      break;
    }
  }
  fclose(f);
  return v;
}

int main(int argc, char **argv) {
  size_t counts[16] = {100, 1000, 10000};
  size_t nc = 3;
  if (argc > 1) {
    nc = 0;
    for (int i = 1; i < argc && nc < 16; i++)
      counts[nc++] = strtoul(argv[i], NULL, 10);
  }
  size_t max = counts[nc - 1];
  eryx_runtime_options ro = ERYX_RUNTIME_OPTIONS_INIT;
  ro.max_sandboxes = (uint32_t)(max + 8);
  ro.warm_instances = -1; /* only what is measured */
  eryx_runtime *rt = NULL;
  eryx_error *err = eryx_runtime_new(&ro, &rt);
  if (err) {
    fprintf(stderr, "runtime: %s\n", eryx_error_message(err, NULL));
    return 1;
  }
  eryx_session **s = calloc(max, sizeof *s);
  double rss0 = proc_kb("/proc/self/smaps_rollup", "Rss");
  double pss0 = proc_kb("/proc/self/smaps_rollup", "Pss");
  printf("# machine: see README; sessions each ran `x = 1`; warm instances off\n");
  printf("# baseline (runtime loaded): rss %.1f MB, pss %.1f MB, reserved %.1f GB\n",
         rss0 / 1e6, pss0 / 1e6, proc_kb("/proc/self/status", "VmSize") / 1e9);
  size_t made = 0;
  double prev_pss = pss0;
  size_t prev_n = 0;
  double t_all = 0;
  for (size_t c = 0; c < nc; c++) {
    double t0 = now_s();
    for (; made < counts[c]; made++) {
      err = eryx_session_new(rt, NULL, &s[made]);
      eryx_result *r = NULL;
      if (!err)
        err = eryx_session_execute(s[made], "x = 1", 5, &r);
      eryx_result_free(r);
      if (err) {
        fprintf(stderr, "session %zu: %s\n", made, eryx_error_message(err, NULL));
        eryx_error_free(err);
        goto out;
      }
    }
    double dt = now_s() - t0;
    t_all += dt;
    double rss = proc_kb("/proc/self/smaps_rollup", "Rss");
    double pss = proc_kb("/proc/self/smaps_rollup", "Pss");
    printf("sessions %6zu  created+ran in %7.2f s (total %7.2f s, %.2f ms each)  rss %8.1f MB"
           "  pss %8.1f MB  pss/session %.2f MB  slope %.2f MB/session  reserved %.1f TB\n",
           made, dt, t_all, t_all * 1000 / (double)made, rss / 1e6, pss / 1e6,
           (pss - pss0) / 1e6 / (double)made, (pss - prev_pss) / 1e6 / (double)(made - prev_n),
           proc_kb("/proc/self/status", "VmSize") / 1e12);
    fflush(stdout);
    prev_pss = pss;
    prev_n = made;
  }
  /* Every session still holds its state. */
  for (size_t i = 0; i < made; i += made / 10 ? made / 10 : 1) {
    eryx_result *r = NULL;
    err = eryx_session_execute(s[i], "result = x", 10, &r);
    if (err || !r || !eryx_result_json(r, NULL) || strcmp(eryx_result_json(r, NULL), "1")) {
      fprintf(stderr, "session %zu lost its state\n", i);
      eryx_error_free(err);
      eryx_result_free(r);
      goto out;
    }
    eryx_result_free(r);
  }
  printf("every 10th session checked: state kept\n");
out:
  for (size_t i = 0; i < made; i++)
    eryx_session_free(s[i]);
  free(s);
  eryx_runtime_free(rt);
  return 0;
}
