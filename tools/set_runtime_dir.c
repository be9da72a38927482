/*
 * set_runtime_dir.c — install-time tool: write the installed runtime
 * directory into installed copies of liberyx (liberyx.so.*, liberyx.a).
 *
 * The library keeps its default runtime directory in a fixed-size slot
 * (src/runtime_dir.h: a mark, the path, NULs to the end). This tool finds
 * every slot in each file, checks that it has exactly that shape (so bytes
 * that merely resemble the mark are never touched), and overwrites the path
 * in place: the file's size and every other byte stay as they were, so an
 * ELF shared object or an ar archive stays valid. A file without a slot, or
 * a directory too long for it, is an error.
 *
 * usage: eryx-set-runtime-dir DIR FILE...
 */
#define _GNU_SOURCE /* memmem */
#include "../src/runtime_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARK_LEN (sizeof ERYX_RUNTIME_DIR_MARK - 1)

/* Whether the ERYX_RUNTIME_DIR_MAX bytes at `p` are a path and its padding. */
static int is_slot(const unsigned char *p) {
  const unsigned char *nul = memchr(p, '\0', ERYX_RUNTIME_DIR_MAX);
  if (!nul)
    return 0;
  for (const unsigned char *q = nul; q < p + ERYX_RUNTIME_DIR_MAX; q++)
    if (*q)
      return 0;
  return 1;
}

static int patch(const char *path, const char *dir, size_t dir_len) {
  int fd = open(path, O_RDWR);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    fprintf(stderr, "eryx-set-runtime-dir: %s: %s\n", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return 1;
  }
  size_t size = (size_t)st.st_size;
  unsigned char *map = size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                            : MAP_FAILED;
  close(fd);
  if (map == MAP_FAILED) {
    fprintf(stderr, "eryx-set-runtime-dir: %s: cannot map it\n", path);
    return 1;
  }
  /* First find and check every slot, then write: all or nothing. */
  int slots = 0, bad = 0;
  for (int pass = 0; pass < 2 && !bad; pass++) {
    unsigned char *p = map, *end = map + size;
    while ((p = memmem(p, (size_t)(end - p), ERYX_RUNTIME_DIR_MARK, MARK_LEN))) {
      p += MARK_LEN;
      if ((size_t)(end - p) < ERYX_RUNTIME_DIR_MAX || !is_slot(p)) {
        bad++;
        continue;
      }
      if (pass == 0) {
        slots++;
      } else {
        memset(p, 0, ERYX_RUNTIME_DIR_MAX);
        memcpy(p, dir, dir_len);
      }
      p += ERYX_RUNTIME_DIR_MAX;
    }
  }
  int rc = msync(map, size, MS_SYNC) != 0 || munmap(map, size) != 0;
  if (rc)
    fprintf(stderr, "eryx-set-runtime-dir: %s: %s\n", path, strerror(errno));
  if (!slots || bad) {
    fprintf(stderr, "eryx-set-runtime-dir: %s: %d runtime directory slot(s), %d malformed\n",
            path, slots, bad);
    rc = 1;
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: eryx-set-runtime-dir DIR FILE...\n");
    return 2;
  }
  size_t dir_len = strlen(argv[1]);
  if (dir_len == 0 || dir_len >= ERYX_RUNTIME_DIR_MAX) {
    fprintf(stderr, "eryx-set-runtime-dir: the directory must be 1 to %d bytes long\n",
            ERYX_RUNTIME_DIR_MAX - 1);
    return 2;
  }
  int rc = 0;
  for (int i = 2; i < argc; i++)
    rc |= patch(argv[i], argv[1], dir_len);
  return rc;
}
