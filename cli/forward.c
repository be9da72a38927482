/* forward.c — see forward.h. Flushed at once, so interleaving with the
 * host's own messages stays in order. */
#include "forward.h"

#include <stdio.h>

void forward_stdout(void *unused, const char *text, size_t len) {
  (void)unused;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
}

void forward_stderr(void *unused, const char *text, size_t len) {
  (void)unused;
  fwrite(text, 1, len, stderr);
  fflush(stderr);
}
