/* repl.h — `eryx repl`: an interactive session (see repl.c). */
#ifndef ERYX_CLI_REPL_H
#define ERYX_CLI_REPL_H

#include "flags.h"

/* Runs the REPL in a session made with `flags` (the same as for a
 * script; --result-var is refused: the REPL echoes values instead);
 * returns the process exit status. */
int repl_run(cli_flags *flags);

#endif
