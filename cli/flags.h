/*
 * flags.h — the sandbox flags every `eryx` mode takes.
 *
 * `eryx FILE`, `eryx -c`, and the REPL accept the same flags, and the
 * same as the Python package's `eryx` (python/eryx/cli.py): --timeout,
 * --max-memory, --net, --allow-host, --secret, -v, --package,
 * --result-var, --runtime, --raw-output. cli_flag() takes one flag off
 * the command line into a cli_flags; cli_flags_apply() then points a
 * sandbox's options at what was collected. The strings point into argv
 * and into this process's environment (a secret's value), which outlive
 * the sandbox; only the secrets' parsed copies are owned here.
 */
#ifndef ERYX_CLI_FLAGS_H
#define ERYX_CLI_FLAGS_H

#include "eryx.h"

#include <stdbool.h>

#define CLI_MAX_LIST 64    /* --allow-host, --package, -v: each at most */
#define CLI_MAX_SECRETS 16 /* --secret */

typedef struct cli_flags {
  uint64_t timeout_ms;       /* 0: the library's default */
  uint64_t max_memory_bytes; /* 0: the library's default */
  const char *result_var;
  const char *runtime_dir;
  bool net, allow_localhost;
  eryx_str allowed[CLI_MAX_LIST];
  size_t allowed_count;
  eryx_str packages[CLI_MAX_LIST];
  size_t package_count;
  eryx_volume volumes[CLI_MAX_LIST];
  size_t volume_count;
  eryx_secret secrets[CLI_MAX_SECRETS];
  size_t secret_count;
  eryx_str secret_hosts[CLI_MAX_LIST];
  size_t secret_host_count;
  char *secret_copies[CLI_MAX_SECRETS]; /* owned: "NAME\0ENVVAR\0HOSTS" */
  eryx_net_options net_options;         /* filled by cli_flags_apply */
} cli_flags;

/* The flags' lines of the usage text. */
extern const char cli_flags_usage[];

/* Looks at argv[*i]. Returns 1 when it was one of the flags above (then
 * *i is left on its last word: a value consumed moves it), 0 when it is
 * not one, and -1 when it was but is wrong (a message naming the flag,
 * what it wants and what it got is on stderr). */
int cli_flag(cli_flags *f, int argc, char **argv, int *i);

/* Points `opts` (and its network policy, kept in `f`) at the flags. */
void cli_flags_apply(cli_flags *f, eryx_sandbox_options *opts);

/* The runtime options for --runtime (the rest as `base`). */
void cli_flags_runtime(const cli_flags *f, eryx_runtime_options *ropts);

/* Frees what cli_flag() copied; `f` can then be dropped. */
void cli_flags_free(cli_flags *f);

#endif
