/*
 * hello.c — the smallest complete program: run a script in a sandbox, print
 * what it wrote and the JSON of its `result` variable.
 */
#include <eryx.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  const char *code = "import math\n"
                     "print('hello from', __import__('sys').version.split()[0])\n"
                     "result = {'pi': round(math.pi, 5)}\n";
  eryx_runtime *rt = NULL; /* one per process, thread-safe */
  eryx_sandbox *sb = NULL; /* one isolated Python */
  eryx_result *r = NULL;
  eryx_error *err;
  int rc = 1;

  if ((err = eryx_runtime_new(NULL, &rt)) ||
      (err = eryx_sandbox_new(rt, NULL, &sb)) ||
      (err = eryx_sandbox_execute(sb, code, strlen(code), &r)))
    goto out;

  /* Python's own failures (exceptions, limits) are in the result. */
  printf("%s", eryx_result_stdout(r, NULL));
  if (eryx_result_status(r) == ERYX_STATUS_OK) {
    printf("result: %s\n", eryx_result_json(r, NULL));
    rc = 0;
  } else {
    fprintf(stderr, "%s: %s\n", eryx_result_error_type(r, NULL),
            eryx_result_error_message(r, NULL));
  }

out:
  if (err) { /* the API's own errors: bad arguments, missing runtime files */
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return rc;
}
