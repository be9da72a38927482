/*
 * interrupt.c — Ctrl-C cancels a run made from Python's main thread.
 *
 * While execute() runs, the main thread is inside liberyx with the GIL
 * released, so Python's own SIGINT handling (a flag checked between
 * bytecodes) would only act after the run. For the length of such a run a
 * SIGINT handler of ours is installed in front of Python's: it writes one
 * byte to a pipe (async-signal-safe) and chains to Python's handler. A
 * watcher thread, started once, reads the pipe and cancels the run (from
 * a normal thread, where eryx_*_cancel may lock). After the run the
 * extension asks Python to process the signal, so KeyboardInterrupt is
 * raised at once.
 */
#include "ext.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

static int pipe_fds[2] = {-1, -1};
static struct sigaction previous;
static _Atomic(eryx_sandbox *) current_sb;
static _Atomic(eryx_session *) current_ss;

static void on_sigint(int sig, siginfo_t *info, void *uctx) {
  int saved = errno;
  char byte = 1;
  ssize_t n = write(pipe_fds[1], &byte, 1);
  (void)n; /* a full pipe already holds a pending cancel */
  errno = saved;
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction)
      previous.sa_sigaction(sig, info, uctx);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  }
}

static void *watch(void *arg) {
  (void)arg;
  char byte;
  for (;;) {
    ssize_t n = read(pipe_fds[0], &byte, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return NULL;
    eryx_sandbox *sb = atomic_load(&current_sb);
    eryx_session *ss = atomic_load(&current_ss);
    if (sb)
      eryx_sandbox_cancel(sb);
    if (ss)
      eryx_session_cancel(ss);
  }
}

/* Makes the pipe and starts the watcher (once). */
static void start(void) {
  if (pipe(pipe_fds) != 0) {
    pipe_fds[0] = pipe_fds[1] = -1;
    return;
  }
  pthread_t t;
  sigset_t all, old;
  sigfillset(&all);
  /* The watcher must never take a signal itself. */
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = pthread_create(&t, NULL, watch, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    pipe_fds[0] = pipe_fds[1] = -1;
    return;
  }
  pthread_detach(t);
}

static int ready(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, start);
  return pipe_fds[1] >= 0;
}

int ext_interrupt_begin(eryx_sandbox *sb, eryx_session *ss) {
  if (!ready())
    return 0;
  atomic_store(&current_sb, sb);
  atomic_store(&current_ss, ss);
  struct sigaction sa;
  sa.sa_sigaction = on_sigint;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, &previous) != 0) {
    atomic_store(&current_sb, NULL);
    atomic_store(&current_ss, NULL);
    return 0;
  }
  return 1;
}

void ext_interrupt_end(void) {
  sigaction(SIGINT, &previous, NULL);
  atomic_store(&current_sb, NULL);
  atomic_store(&current_ss, NULL);
}
