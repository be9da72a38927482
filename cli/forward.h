/* forward.h — output handlers that copy sandbox output to this process's
 * stdout / stderr as it is produced (used by `eryx` and `eryx repl`). */
#ifndef ERYX_CLI_FORWARD_H
#define ERYX_CLI_FORWARD_H

#include <stddef.h>

void forward_stdout(void *unused, const char *text, size_t len);
void forward_stderr(void *unused, const char *text, size_t len);

#endif
