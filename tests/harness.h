/*
 * harness.h — a small test harness: tests are functions listed in tables,
 * CHECKs record failures and carry on, and the run ends with the line
 * "N passed, N failed" that CI reads.
 */
#ifndef ERYX_TEST_HARNESS_H
#define ERYX_TEST_HARNESS_H

#include "eryx.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;

/* The runtime shared by all tests (created once in main.c). */
extern eryx_runtime *g_rt;

void check_failed(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond))                                                              \
      check_failed(__FILE__, __LINE__, "CHECK(%s)", #cond);                   \
  } while (0)

#define CHECK_MSG(cond, ...)                                                  \
  do {                                                                        \
    if (!(cond))                                                              \
      check_failed(__FILE__, __LINE__, __VA_ARGS__);                          \
  } while (0)

/* Substring checks on (possibly NULL) strings. */
bool contains(const char *haystack, const char *needle);
bool str_eq(const char *a, const char *b); /* false if either is NULL */
const char *or_null(const char *s);         /* s, or "(null)" */
#define CHECK_CONTAINS(h, n)                                                  \
  CHECK_MSG(contains((h), (n)), "expected %s to contain \"%s\", got: %.400s", \
            #h, (n), or_null(h))
#define CHECK_NOT_CONTAINS(h, n)                                              \
  CHECK_MSG(!contains((h), (n)), "expected %s not to contain \"%s\"", #h, (n))
#define CHECK_STREQ(a, b)                                                     \
  CHECK_MSG(str_eq((a), (b)),                                                 \
            "expected %s == \"%s\", got \"%.400s\"", #a, (b),                 \
            or_null(a))

/* A sandbox with default options; fails the test (and returns NULL) if it
 * cannot be created. */
eryx_sandbox *new_sandbox(const eryx_sandbox_options *opts);

/* Executes `code` (NUL-terminated) and returns the result; records a failure
 * and returns NULL if the API call itself failed. */
eryx_result *run(eryx_sandbox *sb, const char *code);

/* One-shot: fresh sandbox, execute, free the sandbox. */
eryx_result *run_once(const char *code);

/* Describes a result for failure messages (static buffer). */
const char *describe(const eryx_result *r);

/* Sessions: a new one (NULL and a recorded failure if it cannot be made),
 * one execute, and an execute that must succeed with `result` equal to the
 * JSON text `json` (NULL: no result). */
eryx_session *new_session(const eryx_sandbox_options *opts);
eryx_result *srun(eryx_session *s, const char *code);
void expect(eryx_session *s, const char *code, const char *json);

int run_tests(const test_case *tests, size_t n);

/* Resident set size of this process now, in bytes (/proc/self/statm). */
uint64_t rss_bytes(void);
/* Its peak (VmHWM) since the last reset_peak_rss(), in bytes. */
uint64_t peak_rss_bytes(void);
void reset_peak_rss(void);
/* A file's bytes (at most 64 KiB, NUL-terminated; caller frees), or NULL. */
char *read_file(const char *path, size_t *len);
/* A TCP socket listening on 127.0.0.1 at a free port (*port), or -1. */
int listen_loopback(int backlog, int *port);
/* A loopback server for the whole test run: listens as above and accepts
 * forever on a detached thread, handing each connection to `conn(fd, arg)`
 * on a thread of its own, then closing it. The listening socket, or -1. */
int serve_loopback(int backlog, void (*conn)(int fd, void *arg), void *arg, int *port);
/* A fresh directory under /tmp (caller frees the string; remove the tree
 * with eryx__tree_remove), or NULL. */
char *make_temp_dir(void);
/* A test's own package cache: ERYX_CACHE_DIR pointed at a fresh
 * temporary directory (returned; NULL on failure), and put back as it was
 * (the directory removed) by test_cache_end. */
typedef struct test_cache {
  char *dir;
  char *saved; /* the variable's value before, or NULL */
} test_cache;
bool test_cache_begin(test_cache *c);
void test_cache_end(test_cache *c);
/* Writes `text` to dir/rel, creating the directories on the way. */
void write_file_at(const char *dir, const char *rel, const char *text);
/* The monotonic clock in milliseconds, and a sleep of `ms`. */
double now_ms(void);
void sleep_ms(int ms);

#endif
