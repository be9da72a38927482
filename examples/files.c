/*
 * files.c — a file tree in host memory (eryx_vfs), mounted at /data: the
 * host puts a file in, the sandboxed code reads it with open() and writes a
 * new one, and the host reads that back. No host directory is involved.
 */
#include <eryx.h>

#include <stdio.h>
#include <string.h>

static void print_entry(void *user_data, const char *path, size_t path_len, int is_dir,
                        uint64_t size) {
  (void)user_data;
  if (is_dir)
    printf("  %.*s/\n", (int)path_len, path);
  else
    printf("  %.*s  %llu bytes\n", (int)path_len, path, (unsigned long long)size);
}

int main(void) {
  const char *csv = "city,temp_c\nOslo,4\nLima,19\nNairobi,17\n";
  const char *code = "import csv, pathlib\n"
                     "rows = list(csv.DictReader(open('/data/in/temps.csv')))\n"
                     "warmest = max(rows, key=lambda row: int(row['temp_c']))\n"
                     "pathlib.Path('/data/out').mkdir()\n"
                     "pathlib.Path('/data/out/warmest.txt').write_text(warmest['city'])\n";
  eryx_runtime *rt = NULL;
  eryx_vfs *vfs = NULL;
  eryx_sandbox *sb = NULL;
  eryx_result *r = NULL;
  uint8_t *out = NULL;
  size_t out_len;
  eryx_error *err;
  int rc = 1;

  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  if ((err = eryx_runtime_new(NULL, &rt)) ||
      (err = eryx_vfs_new(1 << 20, &vfs)) || /* a 1 MiB quota */
      (err = eryx_vfs_write_file(vfs, "in/temps.csv", 12, (const uint8_t *)csv,
                                 strlen(csv))))
    goto out;
  opts.vfs = vfs; /* mounted at /data; the sandbox holds a reference */
  if ((err = eryx_sandbox_new(rt, &opts, &sb)) ||
      (err = eryx_sandbox_execute(sb, code, strlen(code), &r)))
    goto out;
  if (eryx_result_status(r) != ERYX_STATUS_OK) {
    fprintf(stderr, "%s", eryx_result_traceback(r, NULL));
    goto out;
  }

  if ((err = eryx_vfs_read_file(vfs, "out/warmest.txt", 15, &out, &out_len)))
    goto out;
  printf("warmest: %.*s\nthe tree:\n", (int)out_len, (const char *)out);
  if ((err = eryx_vfs_list(vfs, print_entry, NULL)))
    goto out;
  rc = 0;

out:
  if (err) {
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
  }
  eryx_vfs_bytes_free(out);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_vfs_free(vfs);
  eryx_runtime_free(rt);
  return rc;
}
