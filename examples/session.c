/*
 * session.c — Python state that lives from one execution to the next, saved
 * as a snapshot (bytes) and restored in a second session, as another
 * process could.
 */
#include <eryx.h>

#include <stdio.h>
#include <string.h>

/* Runs code in a session and prints its output; 0 when it succeeded. */
static int run(eryx_session *s, const char *code) {
  eryx_result *r;
  eryx_error *err = eryx_session_execute(s, code, strlen(code), &r);
  if (err) {
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
    return -1;
  }
  printf("%s%s", eryx_result_stdout(r, NULL), eryx_result_stderr(r, NULL));
  int ok = eryx_result_status(r) == ERYX_STATUS_OK;
  eryx_result_free(r);
  return ok ? 0 : -1;
}

int main(void) {
  eryx_runtime *rt = NULL;
  eryx_session *first = NULL, *second = NULL;
  eryx_snapshot *snap = NULL;
  const uint8_t *data;
  size_t len;
  eryx_error *err = NULL;
  int rc = 1;

  if ((err = eryx_runtime_new(NULL, &rt)) || (err = eryx_session_new(rt, NULL, &first)))
    goto out;
  if (run(first, "from collections import Counter\n"
                 "seen = Counter('hello')\n"
                 "def top(n): return seen.most_common(n)\n") ||
      run(first, "seen.update('world')\nprint('first: ', top(2))\n"))
    goto out;

  /* The variables, the function included, as bytes. */
  if ((err = eryx_session_snapshot_state(first, 0, &snap)))
    goto out;
  data = eryx_snapshot_data(snap, &len);
  printf("snapshot: %zu bytes\n", len);

  if ((err = eryx_session_new(rt, NULL, &second)) ||
      (err = eryx_session_restore_state(second, data, len)))
    goto out;
  if (run(second, "print('second:', top(2))\n"))
    goto out;
  rc = 0;

out:
  if (err) {
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
  }
  eryx_snapshot_free(snap);
  eryx_session_free(second);
  eryx_session_free(first);
  eryx_runtime_free(rt);
  return rc;
}
