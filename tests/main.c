/* main.c — runs every C test against one shared runtime. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITE(name)                                                           \
  extern const test_case name##_tests[];                                      \
  extern const size_t name##_count;
SUITE(basics)
SUITE(isolation)
SUITE(stdlib)
SUITE(errors)
SUITE(threads)
SUITE(callbacks)
SUITE(limits)
SUITE(trace)
SUITE(sessions)
SUITE(files)
SUITE(files_wasi)
SUITE(pool)
SUITE(hostile)
SUITE(blocking)
SUITE(outcome)
SUITE(net)
SUITE(secrets_net)
SUITE(secrets)
SUITE(packages_unpack)
SUITE(packages)
SUITE(factory)
SUITE(sandbox_pool)
SUITE(volumes)
SUITE(journal)
SUITE(snapshot_heap)

int restore_check_main(const char *path); /* test_sessions.c */

int main(int argc, char **argv) {
  eryx_error *err = eryx_runtime_new(NULL, &g_rt);
  if (err) {
    fprintf(stderr, "cannot load the runtime: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
    printf("0 passed, 1 failed\n");
    return 1;
  }
  if (argc == 3 && !strcmp(argv[1], "--restore-check")) {
    int rc = restore_check_main(argv[2]);
    eryx_runtime_free(g_rt);
    return rc;
  }
  struct {
    const test_case *t;
    size_t n;
  } suites[] = {{basics_tests, basics_count},     {isolation_tests, isolation_count},
                {stdlib_tests, stdlib_count},     {errors_tests, errors_count},
                {threads_tests, threads_count},   {callbacks_tests, callbacks_count},
                {limits_tests, limits_count},     {trace_tests, trace_count},
                {sessions_tests, sessions_count},   {files_tests, files_count},
                {files_wasi_tests, files_wasi_count},
                {pool_tests, pool_count},
                {hostile_tests, hostile_count},   {blocking_tests, blocking_count},
                {outcome_tests, outcome_count},   {net_tests, net_count},
                {secrets_net_tests, secrets_net_count},
                {secrets_tests, secrets_count},
                {packages_unpack_tests, packages_unpack_count},
                {packages_tests, packages_count}, {factory_tests, factory_count},
                {sandbox_pool_tests, sandbox_pool_count}, {volumes_tests, volumes_count},
                {journal_tests, journal_count},
                {snapshot_heap_tests, snapshot_heap_count}};
  /* Flatten into one list so the summary line covers everything; an
   * optional argument keeps only tests whose name contains it. */
  test_case all[256];
  size_t n = 0;
  for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++)
    for (size_t i = 0; i < suites[s].n && n < 256; i++)
      if (argc < 2 || strstr(suites[s].t[i].name, argv[1]))
        all[n++] = suites[s].t[i];
  int rc = run_tests(all, n);
  eryx_runtime_free(g_rt);
  return rc;
}
