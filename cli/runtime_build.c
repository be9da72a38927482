/*
 * runtime_build.c — `eryx runtime build`: builds a factory runtime
 * (eryx_factory_build) that `eryx --runtime DIR` and SandboxFactory.load
 * then use.
 *
 *   eryx runtime build --package PATH ... --import MODULE ... -o DIR
 *
 * One log line per step goes to stderr as the build goes (it takes
 * seconds); the exit status is 0 when DIR holds the new runtime, 2 for a
 * usage error, 4 when the build failed (the message says why; nothing is
 * left in DIR).
 */
#include "runtime_build.h"

#include "eryx.h"
#include "options.h"

#include <stdio.h>
#include <string.h>

#define MAX_ITEMS 64

static const char usage[] =
    "usage: eryx runtime build [--package PATH]... [--import MODULE]... -o DIR\n"
    "  --package PATH   a .whl, .tar.gz/.tgz or directory (repeatable)\n"
    "  --import MODULE  imported into the runtime's snapshot (repeatable)\n"
    "  -o DIR           the new runtime directory (must not exist or be empty)\n"
    "  --base DIR       the runtime to start from (default: the built-in one)\n"
    "  --max-package-bytes N, --max-package-files N\n"
    "                   caps on what one archive may unpack to\n"
    "then: eryx --runtime DIR run script.py\n";

static void print_progress(void *ud, const char *line, size_t len) {
  (void)ud;
  fprintf(stderr, "eryx: %.*s\n", (int)len, line);
}

int runtime_build_main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "build")) {
    fprintf(stderr, "eryx: runtime needs a subcommand\n%s", usage);
    return 2;
  }
  eryx_str packages[MAX_ITEMS], imports[MAX_ITEMS];
  size_t np = 0, ni = 0;
  const char *out = NULL, *base = NULL;
  eryx_factory_options o = ERYX_FACTORY_OPTIONS_INIT;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "eryx: %s needs a value\n%s", a, usage);
      return 2;
    }
    const char *v = argv[++i];
    if (!strcmp(a, "--package") || !strcmp(a, "--import")) {
      bool pkg = !strcmp(a, "--package");
      if ((pkg ? np : ni) == MAX_ITEMS) {
        fprintf(stderr, "eryx: at most %d %s options\n", MAX_ITEMS, a);
        return 2;
      }
      eryx_str s = {v, strlen(v)};
      if (pkg)
        packages[np++] = s;
      else
        imports[ni++] = s;
    } else if (!strcmp(a, "-o")) {
      out = v;
    } else if (!strcmp(a, "--base")) {
      base = v;
    } else if (!strcmp(a, "--max-package-bytes")) {
      if (!cli_parse_uint(a, v, 1, UINT64_MAX, &o.max_package_bytes))
        return 2;
    } else if (!strcmp(a, "--max-package-files")) {
      if (!cli_parse_uint(a, v, 1, UINT64_MAX, &o.max_package_files))
        return 2;
    } else {
      fprintf(stderr, "eryx: unknown argument '%s'\n%s", a, usage);
      return 2;
    }
  }
  if (!out) {
    fprintf(stderr, "eryx: runtime build needs -o DIR\n%s", usage);
    return 2;
  }
  o.output_dir = out;
  o.output_dir_len = strlen(out);
  o.packages = packages;
  o.package_count = np;
  o.imports = imports;
  o.import_count = ni;
  if (base) {
    o.base_runtime_dir = base;
    o.base_runtime_dir_len = strlen(base);
  }
  o.on_progress = print_progress;
  eryx_error *err = eryx_factory_build(&o);
  if (err) {
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    int rc = eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT ? 2 : 4;
    eryx_error_free(err);
    return rc;
  }
  return 0;
}
