/* runtime_build.h — `eryx runtime build`: a factory runtime directory. */
#ifndef ERYX_CLI_RUNTIME_BUILD_H
#define ERYX_CLI_RUNTIME_BUILD_H

/* argv[0] is "runtime". Returns the process exit status. */
int runtime_build_main(int argc, char **argv);

#endif
