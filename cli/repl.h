/* repl.h — `eryx repl`: an interactive session (see repl.c). */
#ifndef ERYX_CLI_REPL_H
#define ERYX_CLI_REPL_H

/* argv[0] is "repl"; returns the process exit status. */
int repl_main(int argc, char **argv);

#endif
