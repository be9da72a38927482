/*
 * limits.c — a timeout, a memory cap and a cancel from another thread. Each
 * ends only the execution it hits: the sandbox runs code again afterwards.
 */
#include <eryx.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* On another thread: cancels the sandbox's execution once one runs. */
static void *cancel_it(void *arg) {
  struct timespec tick = {0, 20 * 1000000L};
  do
    nanosleep(&tick, NULL);
  while (!eryx_sandbox_cancel(arg));
  return NULL;
}

/* Runs code and says how it ended; the status, or -1 for an API error. */
static int run(eryx_sandbox *sb, const char *code) {
  eryx_result *r;
  eryx_error *err = eryx_sandbox_execute(sb, code, strlen(code), &r);
  if (err) {
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
    return -1;
  }
  int status = (int)eryx_result_status(r);
  printf("%-9s %s\n", eryx_status_name(eryx_result_status(r)),
         eryx_result_error_type(r, NULL));
  fputs(eryx_result_stdout(r, NULL), stdout);
  eryx_result_free(r);
  return status;
}

int main(void) {
  eryx_runtime *rt = NULL;
  eryx_sandbox *sb = NULL;
  pthread_t canceller;
  int rc = 1;

  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.timeout_ms = 500;
  opts.max_memory_bytes = 64 << 20;
  eryx_error *err = eryx_runtime_new(NULL, &rt);
  if (err || (err = eryx_sandbox_new(rt, &opts, &sb))) {
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
    goto out;
  }

  if (run(sb, "while True: pass") != ERYX_STATUS_LIMIT ||         /* TimeoutError */
      run(sb, "x = bytearray(2**30)") != ERYX_STATUS_LIMIT)       /* MemoryError */
    goto out;
  if (pthread_create(&canceller, NULL, cancel_it, sb) != 0)
    goto out;
  int status = run(sb, "import time\ntime.sleep(60)");
  pthread_join(canceller, NULL);
  if (status == ERYX_STATUS_CANCELLED && run(sb, "print('still fine')") == ERYX_STATUS_OK)
    rc = 0;

out:
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return rc;
}
