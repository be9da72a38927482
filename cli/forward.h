/* forward.h — output handlers that copy sandbox output to this process's
 * stdout / stderr as it is produced (used by `eryx` and `eryx repl`). */
#ifndef ERYX_CLI_FORWARD_H
#define ERYX_CLI_FORWARD_H

#include <stddef.h>

/* Whether output to a terminal has its control characters shown instead
 * of obeyed (raw 0, the default) or passes as it is (raw non-zero). Output
 * that is not a terminal always passes as it is. Call before forwarding
 * (else: the default). */
void forward_init(int raw);

void forward_stdout(void *unused, const char *text, size_t len);
void forward_stderr(void *unused, const char *text, size_t len);

#endif
