/* flags.c — see flags.h. */
#include "flags.h"
#include "forward.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_flags_usage[] =
    "  --timeout MS       execution time limit in milliseconds, 1 to 4294967295\n"
    "                     (default 30000)\n"
    "  --max-memory SIZE  memory limit: bytes, or with K, M or G (powers of 1024),\n"
    "                     32M to 4G (default 128M)\n"
    "  --raw-output       pass terminal control sequences in the output through\n"
    "                     (by default, on a terminal, they are shown as ^[...)\n"
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
    "                     or -v ./out:/mnt/out:rw\n";

/* --secret NAME=ENVVAR@HOST[,HOST...]: the value comes from this
 * process's environment (never from the command line, which others on the
 * machine can read). */
static int parse_secret(cli_flags *f, const char *arg) {
  if (f->secret_count == CLI_MAX_SECRETS) {
    fprintf(stderr, "eryx: at most %d --secret options\n", CLI_MAX_SECRETS);
    return -1;
  }
  char *c = strdup(arg);
  if (!c) {
    fprintf(stderr, "eryx: out of memory\n");
    return -1;
  }
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
  eryx_secret *s = &f->secrets[f->secret_count];
  *s = (eryx_secret)ERYX_SECRET_INIT;
  s->name = c;
  s->name_len = strlen(c);
  s->value = value;
  s->value_len = strlen(value);
  s->allowed_hosts = f->secret_hosts + f->secret_host_count;
  for (char *h = at + 1, *next; h; h = next) {
    next = strchr(h, ',');
    if (next)
      *next++ = '\0';
    if (!*h)
      continue;
    if (f->secret_host_count == CLI_MAX_LIST) {
      fprintf(stderr, "eryx: at most %d --secret hosts in all\n", CLI_MAX_LIST);
      free(c);
      return -1;
    }
    f->secret_hosts[f->secret_host_count++] = (eryx_str){h, strlen(h)};
    s->allowed_hosts_count++;
  }
  f->secret_copies[f->secret_count++] = c;
  return 0;
}

/* "localhost", "127.0.0.1", "[::1]" (with or without :port): a pattern
 * that names loopback, which the policy also needs allow_localhost for. */
static bool is_loopback_pattern(const char *p) {
  size_t n = strcspn(p, ":");
  if (p[0] == '[')
    return !strncmp(p, "[::1]", 5);
  return (n == 9 && !strncmp(p, "localhost", 9)) || !strncmp(p, "127.", 4);
}

/* -v SRC:DST[:ro|:rw]; SRC is the part before the first ':', so a host
 * path with ':' in it cannot be given. */
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

/* Appends argv's value to a list of at most CLI_MAX_LIST. */
static int add(eryx_str *list, size_t *count, const char *flag, const char *v) {
  if (*count == CLI_MAX_LIST) {
    fprintf(stderr, "eryx: at most %d %s options\n", CLI_MAX_LIST, flag);
    return -1;
  }
  list[(*count)++] = (eryx_str){v, strlen(v)};
  return 0;
}

int cli_flag(cli_flags *f, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (!strcmp(a, "--raw-output")) {
    forward_init(1);
    return 1;
  }
  if (!strcmp(a, "--net")) {
    f->net = true;
    return 1;
  }
  static const char *const with_value[] = {"--timeout", "--max-memory", "--result-var",
                                           "--runtime", "--allow-host", "--secret",
                                           "--package", "-v", "--volume"};
  size_t k = 0, n = sizeof with_value / sizeof with_value[0];
  while (k < n && strcmp(a, with_value[k]))
    k++;
  if (k == n)
    return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "eryx: %s needs a value (eryx --help lists the options)\n", a);
    return -1;
  }
  const char *v = argv[++*i];
  if (!strcmp(a, "--timeout"))
    return cli_parse_uint(a, v, 1, CLI_MAX_TIMEOUT_MS, &f->timeout_ms) ? 1 : -1;
  if (!strcmp(a, "--max-memory"))
    return cli_parse_bytes(a, v, CLI_MIN_MEMORY, CLI_MAX_MEMORY, &f->max_memory_bytes) ? 1
                                                                                        : -1;
  if (!strcmp(a, "--result-var")) {
    f->result_var = v;
    return 1;
  }
  if (!strcmp(a, "--runtime")) {
    f->runtime_dir = v;
    return 1;
  }
  if (!strcmp(a, "--allow-host")) {
    f->net = true;
    f->allow_localhost = f->allow_localhost || is_loopback_pattern(v);
    return add(f->allowed, &f->allowed_count, a, v) < 0 ? -1 : 1;
  }
  if (!strcmp(a, "--secret")) {
    f->net = true;
    return parse_secret(f, v) < 0 ? -1 : 1;
  }
  if (!strcmp(a, "--package"))
    return add(f->packages, &f->package_count, a, v) < 0 ? -1 : 1;
  if (f->volume_count == CLI_MAX_LIST) {
    fprintf(stderr, "eryx: at most %d -v options\n", CLI_MAX_LIST);
    return -1;
  }
  if (parse_volume(v, &f->volumes[f->volume_count]) < 0)
    return -1;
  f->volume_count++;
  return 1;
}

void cli_flags_apply(cli_flags *f, eryx_sandbox_options *opts) {
  opts->timeout_ms = f->timeout_ms;
  if (f->max_memory_bytes)
    opts->max_memory_bytes = f->max_memory_bytes;
  if (f->net) {
    f->net_options = (eryx_net_options)ERYX_NET_OPTIONS_INIT;
    f->net_options.allowed_hosts = f->allowed;
    f->net_options.allowed_hosts_count = f->allowed_count;
    f->net_options.allow_localhost = f->allow_localhost;
    opts->network = &f->net_options;
  }
  opts->secrets = f->secrets;
  opts->secret_count = f->secret_count;
  opts->packages = f->packages;
  opts->package_count = f->package_count;
  opts->volumes = f->volumes;
  opts->volume_count = f->volume_count;
  if (f->result_var) {
    opts->result_variable = f->result_var;
    opts->result_variable_len = strlen(f->result_var);
  }
}

void cli_flags_runtime(const cli_flags *f, eryx_runtime_options *ropts) {
  if (f->runtime_dir) {
    ropts->runtime_dir = f->runtime_dir;
    ropts->runtime_dir_len = strlen(f->runtime_dir);
  }
}

void cli_flags_free(cli_flags *f) {
  for (size_t i = 0; i < f->secret_count; i++)
    free(f->secret_copies[i]);
  f->secret_count = 0;
}
