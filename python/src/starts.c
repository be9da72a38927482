/*
 * starts.c — starts of coroutine callbacks, handed to the callback loop
 * without the GIL.
 *
 * Why. A coroutine callback runs on eryx's one callback event loop thread
 * (python/eryx/callbacks.py). Taking the GIL on the executing thread to
 * hand it over made every start wait for whatever the loop thread was
 * doing with the GIL, so under asyncio.gather the guest's starts and the
 * loop's work took turns instead of overlapping (100 starts spread over
 * ~14 ms). Here the executing thread only copies the arguments into a
 * queue and signals an eventfd; the loop thread, which watches the eventfd
 * (loop.add_reader), takes every queued start at once and dispatches each
 * as the executing thread would have (sandbox_type.c's ext_sandbox_dispatch).
 *
 * Ownership. A queued start owns its copy of the arguments (malloc) and
 * answers for its eryx_call until it is dispatched (the Call object then
 * owns it) or dropped: a cancel before dispatch, or its sandbox object
 * going away, fails the call here. `owner` is a borrowed SandboxObject:
 * its dealloc removes its starts first (ext_starts_forget), and the loop
 * takes a reference before anything can run Python code (both under the
 * GIL), so a start never outlives its owner.
 */
#include "ext.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct start {
  struct start *next;
  PyObject *owner; /* borrowed: see Ownership */
  eryx_call *call;
  char *args;
  size_t len;
} start;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static start *head, *tail; /* under mu */
static int efd = -1;       /* made once, under mu; never closed */

static int make_fd_locked(void) {
  if (efd < 0)
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return efd;
}

int ext_starts_push(PyObject *owner, eryx_call *call, const char *args, size_t len) {
  start *s = malloc(sizeof *s);
  char *copy = malloc(len ? len : 1);
  if (!s || !copy) {
    free(s);
    free(copy);
    return -1;
  }
  memcpy(copy, args, len);
  *s = (start){NULL, owner, call, copy, len};
  pthread_mutex_lock(&mu);
  int fd = make_fd_locked();
  if (fd < 0) {
    pthread_mutex_unlock(&mu);
    free(copy);
    free(s);
    return -1;
  }
  int was_empty = head == NULL;
  if (tail)
    tail->next = s;
  else
    head = s;
  tail = s;
  pthread_mutex_unlock(&mu);
  if (was_empty) { /* the loop takes them all at once: one wake-up is enough */
    uint64_t one = 1;
    ssize_t w;
    do
      w = write(fd, &one, sizeof one);
    while (w < 0 && errno == EINTR);
  }
  return 0;
}

/* Unlinks the first start matching (owner, call) (call NULL: any call of
 * owner; owner NULL: the first of all) under mu; NULL if none. */
static start *unlink_locked(PyObject *owner, eryx_call *call) {
  start *prev = NULL;
  for (start *s = head; s; prev = s, s = s->next) {
    if ((owner && s->owner != owner) || (call && s->call != call))
      continue;
    if (prev)
      prev->next = s->next;
    else
      head = s->next;
    if (tail == s)
      tail = prev;
    s->next = NULL;
    return s;
  }
  return NULL;
}

/* The first start matching (owner, call), taken out of the queue. */
static start *take(PyObject *owner, eryx_call *call) {
  pthread_mutex_lock(&mu);
  start *s = unlink_locked(owner, call);
  pthread_mutex_unlock(&mu);
  return s;
}

static void start_free(start *s) {
  free(s->args);
  free(s);
}

/* A start that will never be dispatched: its call is failed, then freed. */
static void drop(start *s, const char *type, const char *why) {
  eryx_error_free(eryx_call_fail(s->call, type, strlen(type), why, strlen(why)));
  start_free(s);
}

int ext_starts_cancel(eryx_call *call) {
  start *s = take(NULL, call);
  if (s)
    drop(s, "CancelledError", "cancelled");
  return s != NULL;
}

void ext_starts_forget(PyObject *owner) {
  for (start *s; (s = take(owner, NULL));)
    drop(s, "HostError", "the sandbox was closed before the callback started");
}

PyObject *ext_starts_fd(PyObject *m, PyObject *unused) {
  (void)m, (void)unused;
  pthread_mutex_lock(&mu);
  int fd = make_fd_locked();
  pthread_mutex_unlock(&mu);
  if (fd < 0)
    return PyErr_SetFromErrno(PyExc_OSError);
  return PyLong_FromLong(fd);
}

PyObject *ext_starts_run(PyObject *m, PyObject *unused) {
  (void)m, (void)unused;
  uint64_t count;
  pthread_mutex_lock(&mu);
  if (efd >= 0) /* resets it; EAGAIN when it was not set: nothing to do either way */
    (void)!read(efd, &count, sizeof count);
  pthread_mutex_unlock(&mu);
  /* One at a time: a dispatch runs Python code, which may free a sandbox
   * (whose dealloc then removes its own starts) or queue more. */
  for (start *s; (s = take(NULL, NULL));) {
    Py_INCREF(s->owner);
    ext_sandbox_dispatch(s->owner, s->call, s->args, s->len);
    Py_DECREF(s->owner);
    start_free(s);
  }
  Py_RETURN_NONE;
}
