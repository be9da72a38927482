/*
 * main.c — the `eryx` command: run Python code in a sandbox.
 *
 *   eryx [options] FILE [ARGS...]   run a script, sys.argv = [FILE, ARGS...]
 *   eryx [options] - [ARGS...]      the script from standard input
 *   eryx [options] -c CODE [ARGS...] run CODE, sys.argv = ["-c", ARGS...]
 *   eryx [options] run FILE [ARGS...] the same as eryx FILE
 *   eryx [options]                  the REPL on a terminal, else code
 *                                   from standard input
 *   eryx repl [options]             an interactive session (cli/repl.c)
 *   eryx runtime build              a factory runtime (cli/runtime_build.c)
 *
 * Options come before the script (everything after FILE or after -c CODE
 * is the script's own), as python's do and as the Python package's `eryx`
 * (python/eryx/cli.py), whose flags these are: the sandbox flags of
 * flags.h, --json (print the whole result as one JSON object instead of
 * forwarding output; see json_out.h) and --version.
 *
 * Exit status: 0 the code ran, 1 Python raised (or did not compile),
 * 2 usage error, 3 a limit ended it (timeout, memory: an uncaught
 * MemoryError), 4 Eryx itself failed. sys.exit(n) exits with n, as python
 * would (see eryx_result_exit_code).
 */
#include "eryx.h"
#include "flags.h"
#include "forward.h"
#include "json_out.h"
#include "repl.h"
#include "runtime_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_PY_ERROR = 1, EXIT_USAGE = 2, EXIT_LIMIT = 3, EXIT_ERYX = 4 };

static const char usage_head[] =
    "usage: eryx [options] FILE [ARGS...]     run a Python script (FILE - = stdin)\n"
    "       eryx [options] -c CODE [ARGS...]  run CODE\n"
    "       eryx [options]                    a REPL on a terminal, else code from stdin\n"
    "       eryx repl [options]               interactive session (%save/%load FILE)\n"
    "       eryx runtime build ...            build a factory runtime (--help)\n"
    "(eryx run FILE is eryx FILE; ARGS are the script's sys.argv[1:])\n"
    "options:\n"
    "  --json             print the result (output, result, error) as JSON\n"
    "  --version          print the version and exit\n";
static const char usage_tail[] =
    "exit status: 0 ok, 1 Python error, 2 usage, 3 limit reached, 4 Eryx failure;\n"
    "             sys.exit(n): n\n";

static void print_usage(FILE *to) {
  fputs(usage_head, to);
  fputs(cli_flags_usage, to);
  fputs(usage_tail, to);
}

static int usage_error(const char *msg) {
  fprintf(stderr, "eryx: %s\n", msg);
  print_usage(stderr);
  return EXIT_USAGE;
}

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    char *p = realloc(buf, cap * 2);
    if (!p) {
      free(buf);
      return NULL;
    }
    buf = p;
    cap *= 2;
  }
  if (buf && ferror(f)) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* What the command line asked for, besides the sandbox flags. */
typedef struct cli_command {
  bool json, repl;
  const char *file;     /* FILE or "-" */
  const char *code_arg; /* -c CODE */
  int args_at;          /* argv index of the script's first argument */
} cli_command;

/* Parses argv[first..]: flags until the script (FILE, -, -c CODE, or
 * run FILE), the rest the script's arguments. Returns 0, or the exit
 * status to end with (--help, --version, a usage error). */
static int parse_command_line(int argc, char **argv, int first, cli_flags *f,
                              cli_command *cmd) {
  int i = first;
  for (; i < argc && !cmd->file && !cmd->code_arg; i++) {
    const char *a = argv[i];
    int taken = cli_flag(f, argc, argv, &i);
    if (taken < 0)
      return EXIT_USAGE;
    if (taken)
      continue;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      print_usage(stdout);
      return -1;
    } else if (!strcmp(a, "--version")) {
      printf("eryx %s\n", ERYX_VERSION);
      return -1;
    } else if (!strcmp(a, "--json")) {
      cmd->json = true;
    } else if (!strcmp(a, "-c")) {
      if (i + 1 >= argc)
        return usage_error("-c needs the CODE to run");
      cmd->code_arg = argv[++i];
    } else if (!strcmp(a, "--")) {
      if (i + 1 >= argc)
        return usage_error("-- needs a FILE after it");
      cmd->file = argv[++i];
    } else if (!strcmp(a, "run") && !cmd->repl) { /* a file named run: ./run */
      if (i + 1 >= argc)
        return usage_error("run needs a FILE");
      cmd->file = argv[++i];
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "eryx: unknown option '%s'\n", a);
      print_usage(stderr);
      return EXIT_USAGE;
    } else {
      cmd->file = a; /* FILE, or "-" */
    }
  }
  cmd->args_at = i;
  if (cmd->repl && (cmd->file || cmd->code_arg || cmd->json))
    return usage_error("eryx repl takes the sandbox options only (no script, -c or --json)");
  return 0;
}

/* sys.argv: [FILE or "-" or "-c", ARGS...] (pointers into argv). */
static eryx_str *script_argv(const cli_command *cmd, int argc, char **argv, size_t *n) {
  size_t count = 1 + (size_t)(argc - cmd->args_at);
  eryx_str *v = calloc(count, sizeof *v);
  if (!v)
    return NULL;
  const char *first = cmd->code_arg ? "-c" : cmd->file ? cmd->file : "-";
  v[0] = (eryx_str){first, strlen(first)};
  for (int i = cmd->args_at; i < argc; i++)
    v[1 + (i - cmd->args_at)] = (eryx_str){argv[i], strlen(argv[i])};
  *n = count;
  return v;
}

static char *read_code(const cli_command *cmd, size_t *len) {
  if (cmd->code_arg) {
    *len = strlen(cmd->code_arg);
    char *code = malloc(*len + 1);
    if (code)
      memcpy(code, cmd->code_arg, *len + 1);
    return code;
  }
  if (cmd->file && strcmp(cmd->file, "-")) {
    FILE *f = fopen(cmd->file, "rb");
    if (!f) {
      fprintf(stderr, "eryx: %s: %s\n", cmd->file, strerror(errno));
      return NULL;
    }
    char *code = read_all(f, len);
    fclose(f);
    if (!code)
      fprintf(stderr, "eryx: %s: cannot read it\n", cmd->file);
    return code;
  }
  char *code = read_all(stdin, len);
  if (!code)
    fprintf(stderr, "eryx: cannot read the code from standard input\n");
  return code;
}

static int run_script(const cli_command *cmd, cli_flags *flags, int argc, char **argv) {
  size_t code_len = 0, arg_count = 0;
  char *code = read_code(cmd, &code_len);
  if (!code)
    return EXIT_USAGE;
  eryx_str *args = script_argv(cmd, argc, argv, &arg_count);
  if (!args) {
    free(code);
    fprintf(stderr, "eryx: out of memory\n");
    return EXIT_ERYX;
  }
  eryx_runtime *rt = NULL;
  eryx_sandbox *sb = NULL;
  eryx_result *r = NULL;
  /* One sandbox, one run: warm instances would only cost CPU here. */
  eryx_runtime_options ropts = ERYX_RUNTIME_OPTIONS_INIT;
  ropts.warm_instances = -1;
  cli_flags_runtime(flags, &ropts);
  eryx_error *err = eryx_runtime_new(&ropts, &rt);
  if (!err) {
    eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
    cli_flags_apply(flags, &opts);
    opts.argv = args;
    opts.argc = arg_count;
    if (!cmd->json) { /* forward output live, in order */
      opts.on_stdout = forward_stdout;
      opts.on_stderr = forward_stderr;
    }
    err = eryx_sandbox_new(rt, &opts, &sb);
    if (!err)
      err = eryx_sandbox_execute(sb, code, code_len, &r);
  }
  free(code);
  free(args);
  int rc = 0;
  if (err) {
    eryx_error_code c = eryx_error_get_code(err);
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
    rc = c == ERYX_ERR_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_ERYX;
  } else {
    switch (eryx_result_status(r)) {
    case ERYX_STATUS_OK: rc = 0; break;
    case ERYX_STATUS_SYNTAX:
    case ERYX_STATUS_EXCEPTION: rc = EXIT_PY_ERROR; break;
    case ERYX_STATUS_LIMIT:
    case ERYX_STATUS_CANCELLED: rc = EXIT_LIMIT; break;
    default: rc = EXIT_ERYX; break;
    }
    if (!cmd->json && rc == EXIT_LIMIT)
      fprintf(stderr, "eryx: %s: %s\n", eryx_result_error_type(r, NULL),
                      eryx_result_error_message(r, NULL));
    if (!cmd->json && rc == EXIT_ERYX)
      fprintf(stderr, "eryx: sandbox failure: %s\n",
              eryx_result_error_message(r, NULL));
    if (eryx_result_exit_code(r) >= 0) /* sys.exit(): as python would exit */
      rc = eryx_result_exit_code(r);
    if (cmd->json && json_write_result(stdout, r) != 0) {
      fprintf(stderr, "eryx: cannot write the JSON output\n");
      rc = EXIT_ERYX;
    }
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "runtime"))
    return runtime_build_main(argc - 1, argv + 1);
  cli_flags flags;
  memset(&flags, 0, sizeof flags);
  cli_command cmd = {.json = false};
  cmd.repl = argc > 1 && !strcmp(argv[1], "repl");
  int rc = parse_command_line(argc, argv, cmd.repl ? 2 : 1, &flags, &cmd);
  if (rc == 0) {
    bool interactive = !cmd.file && !cmd.code_arg && !cmd.json && isatty(0);
    rc = cmd.repl || interactive ? repl_run(&flags) : run_script(&cmd, &flags, argc, argv);
  } else if (rc < 0) {
    rc = 0; /* --help, --version */
  }
  cli_flags_free(&flags);
  return rc;
}
