/*
 * main.c — the `eryx` command: run Python code in a sandbox.
 *
 *   eryx run FILE        run a script (FILE "-" reads standard input)
 *   eryx -c CODE         run CODE
 *   eryx                 run code read from standard input
 *   eryx repl            an interactive session (cli/repl.c)
 *   eryx runtime build   a factory runtime (cli/runtime_build.c)
 *
 * Options: --json (print the whole result as one JSON object instead of
 * forwarding output; see json_out.h), --timeout MS, --result-var NAME,
 * --net and --allow-host PATTERN (the network policy, eryx_net_options),
 * --secret, --package PATH (repeatable), --runtime DIR (a factory's).
 *
 * Exit status: 0 the code ran, 1 Python raised (or did not compile),
 * 2 usage error, 3 a limit ended it (timeout, memory: an uncaught
 * MemoryError), 4 Eryx itself failed. sys.exit(n) exits with n, as python
 * would (see eryx_result_exit_code).
 */
#include "eryx.h"
#include "forward.h"
#include "json_out.h"
#include "options.h"
#include "repl.h"
#include "runtime_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_PY_ERROR = 1, EXIT_USAGE = 2, EXIT_LIMIT = 3, EXIT_ERYX = 4 };

static const char usage[] =
    "usage: eryx run FILE [options]     run a Python script (FILE - = stdin)\n"
    "       eryx -c CODE [options]      run CODE\n"
    "       eryx [options] < FILE       run code from standard input\n"
    "       eryx repl [--timeout MS]    interactive session (%save/%load FILE)\n"
    "       eryx runtime build ...      build a factory runtime (--help)\n"
    "options:\n"
    "  --json             print the result (output, result, error) as JSON\n"
    "  --raw-output       pass terminal control sequences in the output through\n"
    "                     (by default, on a terminal, they are shown as ^[...)\n"
    "  --timeout MS       execution time limit in milliseconds, 1 to 4294967295\n"
    "                     (default 30000)\n"
    "  --result-var NAME  variable returned as JSON (default: result)\n"
    "  --net              allow networking to public hosts (off by default)\n"
    "  --allow-host PAT   allow hosts matching PAT (repeatable; implies --net):\n"
    "                     a name, an IP, *.example.com, api.*.internal, :port;\n"
    "                     localhost or a loopback IP also allows loopback\n"
    "  --secret NAME=ENVVAR@HOST[,HOST...]\n"
    "                     a secret (repeatable; implies --net): the code sees\n"
    "                     os.environ[NAME] as a placeholder; the value of this\n"
    "                     process's ENVVAR goes only into HTTP headers to the\n"
    "                     HOST patterns (which the network policy must also\n"
    "                     allow), and is scrubbed from all output\n"
    "  --package PATH     a package the code can import (repeatable): a .whl,\n"
    "                     a .tar.gz/.tgz or a directory, mounted read-only\n"
    "  --runtime DIR      use the runtime in DIR (from `eryx runtime build`)\n"
    "  -v SRC:DST[:ro|:rw]\n"
    "                     mount the host directory (or file) SRC at DST, read-only\n"
    "                     unless :rw (repeatable), e.g. -v ./input:/mnt/input\n"
    "                     or -v ./out:/mnt/out:rw\n"
    "exit status: 0 ok, 1 Python error, 2 usage, 3 limit reached, 4 Eryx failure;\n"
    "             sys.exit(n): n\n";

/* --secret NAME=ENVVAR@HOST[,HOST...]: the value comes from this
 * process's environment (never from the command line, which others on the
 * machine can read). The strings point into argv and the environment. */
#define MAX_SECRETS 16
#define MAX_SECRET_HOSTS 64
typedef struct cli_secrets {
  eryx_secret s[MAX_SECRETS];
  size_t count;
  eryx_str hosts[MAX_SECRET_HOSTS];
  size_t host_count;
  char *copies[MAX_SECRETS]; /* the mutable copy of each argument */
} cli_secrets;

static int parse_secret(cli_secrets *cs, const char *arg) {
  if (cs->count == MAX_SECRETS) {
    fprintf(stderr, "eryx: at most %d --secret options\n", MAX_SECRETS);
    return -1;
  }
  char *c = strdup(arg);
  if (!c)
    return -1;
  cs->copies[cs->count] = c;
  char *eq = strchr(c, '='), *at = eq ? strchr(eq + 1, '@') : NULL;
  if (!eq || eq == c || !at || at == eq + 1 || !at[1]) {
    fprintf(stderr, "eryx: --secret wants NAME=ENVVAR@HOST[,HOST...], got '%s'\n", arg);
    free(c);
    return -1;
  }
  *eq = '\0';
  *at = '\0';
  const char *value = getenv(eq + 1);
  if (!value || !*value) {
    fprintf(stderr, "eryx: --secret %s: the environment variable %s is %s\n", c, eq + 1,
            value ? "empty" : "not set");
    free(c);
    return -1;
  }
  eryx_secret *s = &cs->s[cs->count];
  *s = (eryx_secret)ERYX_SECRET_INIT;
  s->name = c;
  s->name_len = strlen(c);
  s->value = value;
  s->value_len = strlen(value);
  s->allowed_hosts = cs->hosts + cs->host_count;
  for (char *h = at + 1, *next; h; h = next) {
    next = strchr(h, ',');
    if (next)
      *next++ = '\0';
    if (!*h)
      continue;
    if (cs->host_count == MAX_SECRET_HOSTS) {
      fprintf(stderr, "eryx: at most %d --secret hosts in all\n", MAX_SECRET_HOSTS);
      free(c);
      return -1;
    }
    cs->hosts[cs->host_count++] = (eryx_str){h, strlen(h)};
    s->allowed_hosts_count++;
  }
  cs->count++;
  return 0;
}

static void free_secrets(cli_secrets *cs) {
  for (size_t i = 0; i < cs->count; i++)
    free(cs->copies[i]);
}

/* "localhost", "127.0.0.1", "[::1]" (with or without :port): a pattern
 * that names loopback, which the policy also needs allow_localhost for. */
static int is_loopback_pattern(const char *p) {
  size_t n = strcspn(p, ":");
  if (p[0] == '[')
    return !strncmp(p, "[::1]", 5);
  return (n == 9 && !strncmp(p, "localhost", 9)) || !strncmp(p, "127.", 4);
}

/* -v SRC:DST[:ro|:rw]; the strings point into argv (SRC is the part
 * before the first ':', so a host path with ':' in it cannot be given). */
static int parse_volume(const char *arg, eryx_volume *v) {
  const char *c1 = strchr(arg, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  const char *mode = c2 ? c2 + 1 : "ro";
  if (!c1 || c1 == arg || c1[1] != '/' || (strcmp(mode, "ro") && strcmp(mode, "rw"))) {
    fprintf(stderr, "eryx: -v wants SRC:DST[:ro|:rw] with DST absolute, got '%s'\n", arg);
    return -1;
  }
  *v = (eryx_volume)ERYX_VOLUME_INIT;
  v->host_path = arg;
  v->host_path_len = (size_t)(c1 - arg);
  v->guest_path = c1 + 1;
  v->guest_path_len = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
  v->writable = !strcmp(mode, "rw");
  return 0;
}

static int usage_error(const char *msg) {
  fprintf(stderr, "eryx: %s\n%s", msg, usage);
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

int main(int argc, char **argv) {
  const char *file = NULL, *code_arg = NULL, *result_var = NULL;
  int json = 0, net = 0, allow_localhost = 0;
  uint64_t timeout_ms = 0;
  eryx_str allowed[64];
  size_t allowed_count = 0;
  cli_secrets secrets = {.count = 0};
  eryx_str packages[64];
  size_t package_count = 0;
  const char *runtime_dir = NULL;
  eryx_volume volumes[64];
  size_t volume_count = 0;
  if (argc > 1 && !strcmp(argv[1], "repl"))
    return repl_main(argc - 1, argv + 1);
  if (argc > 1 && !strcmp(argv[1], "runtime"))
    return runtime_build_main(argc - 1, argv + 1);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--raw-output")) {
      forward_init(1);
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--net")) {
      net = 1;
    } else if (!strcmp(a, "--allow-host")) {
      if (i + 1 >= argc)
        return usage_error("--allow-host needs a PATTERN");
      if (allowed_count == sizeof allowed / sizeof allowed[0])
        return usage_error("at most 64 --allow-host patterns");
      const char *v = argv[++i];
      allowed[allowed_count++] = (eryx_str){v, strlen(v)};
      net = 1;
      allow_localhost = allow_localhost || is_loopback_pattern(v);
    } else if (!strcmp(a, "--secret")) {
      if (i + 1 >= argc)
        return usage_error("--secret needs NAME=ENVVAR@HOST[,HOST...]");
      if (parse_secret(&secrets, argv[++i]) < 0) {
        free_secrets(&secrets);
        return EXIT_USAGE;
      }
      net = 1;
    } else if (!strcmp(a, "--package")) {
      if (i + 1 >= argc)
        return usage_error("--package needs a PATH");
      if (package_count == sizeof packages / sizeof packages[0])
        return usage_error("at most 64 --package options");
      const char *v = argv[++i];
      packages[package_count++] = (eryx_str){v, strlen(v)};
    } else if (!strcmp(a, "-v") || !strcmp(a, "--volume")) {
      if (i + 1 >= argc)
        return usage_error("-v needs SRC:DST[:ro|:rw]");
      if (volume_count == sizeof volumes / sizeof volumes[0])
        return usage_error("at most 64 -v options");
      if (parse_volume(argv[++i], &volumes[volume_count]) < 0)
        return EXIT_USAGE;
      volume_count++;
    } else if (!strcmp(a, "--runtime")) {
      if (i + 1 >= argc)
        return usage_error("--runtime needs a DIR");
      runtime_dir = argv[++i];
    } else if (!strcmp(a, "--timeout") || !strcmp(a, "--result-var") ||
               !strcmp(a, "-c")) {
      if (i + 1 >= argc)
        return usage_error("option needs a value");
      const char *v = argv[++i];
      if (!strcmp(a, "-c")) {
        code_arg = v;
      } else if (!strcmp(a, "--result-var")) {
        result_var = v;
      } else if (!cli_parse_uint("--timeout", v, 1, CLI_MAX_TIMEOUT_MS, &timeout_ms)) {
        return EXIT_USAGE;
      }
    } else if (!strcmp(a, "run") && !file && !code_arg) {
      if (i + 1 >= argc)
        return usage_error("run needs a FILE");
      file = argv[++i];
    } else {
      fprintf(stderr, "eryx: unknown argument '%s'\n%s", a, usage);
      return EXIT_USAGE;
    }
  }
  if (file && code_arg)
    return usage_error("give either run FILE or -c CODE, not both");

  char *code = NULL;
  size_t code_len = 0;
  if (code_arg) {
    code_len = strlen(code_arg);
    code = malloc(code_len + 1);
    if (code)
      memcpy(code, code_arg, code_len + 1);
  } else if (file && strcmp(file, "-")) {
    FILE *f = fopen(file, "rb");
    if (!f) {
      fprintf(stderr, "eryx: %s: %s\n", file, strerror(errno));
      return EXIT_USAGE;
    }
    code = read_all(f, &code_len);
    fclose(f);
  } else {
    code = read_all(stdin, &code_len);
  }
  if (!code) {
    fprintf(stderr, "eryx: cannot read the code\n");
    return EXIT_USAGE;
  }

  eryx_runtime *rt = NULL;
  eryx_sandbox *sb = NULL;
  eryx_result *r = NULL;
  /* One sandbox, one run: warm instances would only cost CPU here. */
  eryx_runtime_options ropts = ERYX_RUNTIME_OPTIONS_INIT;
  ropts.warm_instances = -1;
  if (runtime_dir) {
    ropts.runtime_dir = runtime_dir;
    ropts.runtime_dir_len = strlen(runtime_dir);
  }
  eryx_error *err = eryx_runtime_new(&ropts, &rt);
  if (!err) {
    eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
    opts.timeout_ms = timeout_ms;
    eryx_net_options net_opts = ERYX_NET_OPTIONS_INIT;
    if (net) {
      net_opts.allowed_hosts = allowed;
      net_opts.allowed_hosts_count = allowed_count;
      net_opts.allow_localhost = allow_localhost;
      opts.network = &net_opts;
    }
    opts.secrets = secrets.s;
    opts.secret_count = secrets.count;
    opts.packages = packages;
    opts.package_count = package_count;
    opts.volumes = volumes;
    opts.volume_count = volume_count;
    if (result_var) {
      opts.result_variable = result_var;
      opts.result_variable_len = strlen(result_var);
    }
    if (!json) { /* forward output live, in order */
      opts.on_stdout = forward_stdout;
      opts.on_stderr = forward_stderr;
    }
    err = eryx_sandbox_new(rt, &opts, &sb);
    if (!err)
      err = eryx_sandbox_execute(sb, code, code_len, &r);
  }
  free(code);
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
    if (!json && rc == EXIT_LIMIT)
      fprintf(stderr, "eryx: %s: %s\n", eryx_result_error_type(r, NULL),
                      eryx_result_error_message(r, NULL));
    if (!json && rc == EXIT_ERYX)
      fprintf(stderr, "eryx: sandbox failure: %s\n",
              eryx_result_error_message(r, NULL));
    if (eryx_result_exit_code(r) >= 0) /* sys.exit(): as python would exit */
      rc = eryx_result_exit_code(r);
    if (json && json_write_result(stdout, r) != 0) {
      fprintf(stderr, "eryx: cannot write the JSON output\n");
      rc = EXIT_ERYX;
    }
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  free_secrets(&secrets);
  return rc;
}
