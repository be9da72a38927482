/*
 * run_script.c — the smallest complete embedding of Eryx: load the runtime,
 * create a sandbox, run a Python file in it, print what came back.
 *
 * usage: run_script [FILE.py]   (default: examples/report.py)
 */
#include "eryx.h"

#include <stdio.h>
#include <stdlib.h>

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  long n;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    *len = (size_t)n;
  } else {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static int fail(eryx_error *err) {
  fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return 1;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "examples/report.py";
  size_t len;
  char *code = read_file(path, &len);
  if (!code) {
    perror(path);
    return 1;
  }

  eryx_runtime *rt;
  eryx_error *err = eryx_runtime_new(NULL, &rt);
  if (err)
    return free(code), fail(err);
  eryx_sandbox *sb;
  if ((err = eryx_sandbox_new(rt, NULL, &sb)))
    return free(code), eryx_runtime_free(rt), fail(err);

  eryx_result *r;
  err = eryx_sandbox_execute(sb, code, len, &r);
  free(code);
  if (err)
    return eryx_sandbox_free(sb), eryx_runtime_free(rt), fail(err);

  printf("--- stdout ---\n%s", eryx_result_stdout(r, NULL));
  size_t err_len;
  const char *err_text = eryx_result_stderr(r, &err_len);
  if (err_len)
    printf("--- stderr ---\n%s", err_text);
  const char *json = eryx_result_json(r, NULL);
  printf("--- result ---\n%s\n", json ? json : "(none)");
  printf("--- status: %s in %.2f ms ---\n", eryx_status_name(eryx_result_status(r)),
         eryx_result_duration_ms(r));
  int rc = eryx_result_status(r) == ERYX_STATUS_OK ? 0 : 1;
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return rc;
}
