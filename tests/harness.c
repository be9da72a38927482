/* harness.c — see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

eryx_runtime *g_rt;
static int current_failures;
static const char *current_test;

void check_failed(const char *file, int line, const char *fmt, ...) {
  current_failures++;
  fprintf(stderr, "  FAIL %s (%s:%d): ", current_test, file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

bool contains(const char *h, const char *n) { return h && strstr(h, n); }

bool str_eq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

const char *or_null(const char *s) { return s ? s : "(null)"; }

eryx_sandbox *new_sandbox(const eryx_sandbox_options *opts) {
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, opts, &sb);
  if (err) {
    check_failed(__FILE__, __LINE__, "eryx_sandbox_new: %s",
                 eryx_error_message(err, NULL));
    eryx_error_free(err);
    return NULL;
  }
  return sb;
}

eryx_result *run(eryx_sandbox *sb, const char *code) {
  if (!sb)
    return NULL;
  eryx_result *r = NULL;
  eryx_error *err = eryx_sandbox_execute(sb, code, strlen(code), &r);
  if (err) {
    check_failed(__FILE__, __LINE__, "eryx_sandbox_execute: %s",
                 eryx_error_message(err, NULL));
    eryx_error_free(err);
    return NULL;
  }
  return r;
}

eryx_result *run_once(const char *code) {
  eryx_sandbox *sb = new_sandbox(NULL);
  eryx_result *r = run(sb, code);
  eryx_sandbox_free(sb);
  return r;
}

const char *describe(const eryx_result *r) {
  static char buf[2048];
  if (!r)
    return "(no result)";
  snprintf(buf, sizeof buf, "status=%s type=%s msg=%.300s stdout=%.300s stderr=%.600s",
           eryx_status_name(eryx_result_status(r)),
           eryx_result_error_type(r, NULL), eryx_result_error_message(r, NULL),
           eryx_result_stdout(r, NULL), eryx_result_stderr(r, NULL));
  return buf;
}

int run_tests(const test_case *tests, size_t n) {
  int passed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    current_test = tests[i].name;
    current_failures = 0;
    tests[i].fn();
    if (current_failures) {
      failed++;
      fprintf(stderr, "not ok - %s\n", tests[i].name);
    } else {
      passed++;
      fprintf(stderr, "ok - %s\n", tests[i].name);
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

eryx_result *srun(eryx_session *s, const char *code) {
  eryx_result *r = NULL;
  eryx_error *err = eryx_session_execute(s, code, strlen(code), &r);
  CHECK_MSG(!err, "eryx_session_execute: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return r;
}

void expect(eryx_session *s, const char *code, const char *json) {
  eryx_result *r = srun(s, code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s\n%s", code, describe(r));
  const char *got = r ? eryx_result_json(r, NULL) : NULL;
  if (r)
    CHECK_MSG(json ? str_eq(got, json) : got == NULL, "%s\nexpected %s, got %s", code,
              or_null(json), or_null(got));
  eryx_result_free(r);
}

eryx_session *new_session(const eryx_sandbox_options *o) {
  eryx_session *s = NULL;
  eryx_error *err = eryx_session_new(g_rt, o, &s);
  CHECK_MSG(!err, "eryx_session_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return s;
}

uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

uint64_t peak_rss_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  uint64_t kib = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6))
      kib = strtoull(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return kib << 10;
}

void reset_peak_rss(void) { /* "5" restarts VmHWM at the current RSS */
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (f) {
    fputs("5", f);
    fclose(f);
  }
}

char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = malloc(1 << 16);
  if (buf) {
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = 0;
  }
  fclose(f);
  return buf;
}

int listen_loopback(int backlog, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, backlog) ||
      getsockname(fd, (struct sockaddr *)&sa, &len)) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

typedef struct served {
  void (*conn)(int fd, void *arg);
  void *arg;
  int fd;
} served;

static void *serve_conn(void *p) {
  served *c = p;
  c->conn(c->fd, c->arg);
  close(c->fd);
  free(c);
  return NULL;
}

static void *serve_accept(void *p) {
  served *l = p; /* the listener: fd, conn, arg; lives as long as the run */
  for (;;) {
    int fd = accept(l->fd, NULL, NULL);
    if (fd < 0)
      continue;
    served *c = malloc(sizeof *c);
    pthread_t t;
    if (c) {
      *c = (served){l->conn, l->arg, fd};
      if (pthread_create(&t, NULL, serve_conn, c) == 0) {
        pthread_detach(t);
        continue;
      }
    }
    free(c);
    close(fd);
  }
  return NULL;
}

int serve_loopback(int backlog, void (*conn)(int fd, void *arg), void *arg, int *port) {
  int fd = listen_loopback(backlog, port);
  served *l = fd >= 0 ? malloc(sizeof *l) : NULL;
  pthread_t t;
  if (!l || (*l = (served){conn, arg, fd}, pthread_create(&t, NULL, serve_accept, l))) {
    free(l);
    if (fd >= 0)
      close(fd);
    return -1;
  }
  pthread_detach(t);
  return fd;
}

char *make_temp_dir(void) {
  char tmpl[] = "/tmp/eryx-test-XXXXXX";
  char *d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

void write_file_at(const char *dir, const char *rel, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  for (char *p = path + strlen(dir) + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      mkdir(path, 0755);
      *p = '/';
    }
  }
  FILE *f = fopen(path, "w");
  CHECK_MSG(f != NULL, "cannot write %s", path);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

bool test_cache_begin(test_cache *c) {
  c->saved = getenv("ERYX_CACHE_DIR") ? strdup(getenv("ERYX_CACHE_DIR")) : NULL;
  c->dir = make_temp_dir();
  if (c->dir)
    setenv("ERYX_CACHE_DIR", c->dir, 1);
  return c->dir != NULL;
}

void test_cache_end(test_cache *c) {
  if (c->saved)
    setenv("ERYX_CACHE_DIR", c->saved, 1);
  else
    unsetenv("ERYX_CACHE_DIR");
  if (c->dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
      fprintf(stderr, "cannot remove %s\n", c->dir);
  }
  free(c->saved);
  free(c->dir);
  c->saved = c->dir = NULL;
}
