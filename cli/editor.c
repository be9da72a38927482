/*
 * editor.c — the REPL's line editor on a terminal: libedit (BSD-licensed,
 * Debian's libedit-dev) with emacs key bindings, history (arrow keys,
 * Ctrl-R), ~/.editrc, and two functions of our own bound to keys:
 *
 *   Ctrl-C  drops the line being edited (the REPL then prints
 *           KeyboardInterrupt and a fresh prompt, as python does);
 *   Tab     completes the name before the cursor from the session's
 *           namespace (the REPL's callback asks the session), or indents
 *           at the start of a line.
 *
 * Ctrl-C arrives two ways: as the character ^C when the terminal does not
 * turn it into a signal, or as SIGINT, which the REPL blocks in every
 * thread and takes in a sigwait() thread; that thread writes a byte to
 * `interrupt_fd`. Our character reader (EL_GETCFN) waits on stdin and that
 * descriptor together and turns the byte into a ^C, so both reach the same
 * key binding and nothing runs in a signal handler.
 */
#include "editor.h"

#include <errno.h>
#include <histedit.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#define HISTORY_SIZE 1000
#define CTRL_C 3

struct cli_editor {
  EditLine *el;
  History *hist;
  int interrupt_fd;
  const char *prompt;
  int interrupted;
  cli_complete_fn complete;
  void *user_data;
  mbstate_t mb;
};

static cli_editor *editor_of(EditLine *el) {
  void *p = NULL;
  el_get(el, EL_CLIENTDATA, &p);
  return p;
}

static char *prompt_of(EditLine *el) { return (char *)editor_of(el)->prompt; }

/* One character from the terminal (UTF-8 decoded), or a ^C once
 * interrupt_fd is readable. 1: a character; 0: end of input; -1: error. */
static int read_char(EditLine *el, wchar_t *out) {
  cli_editor *e = editor_of(el);
  for (;;) {
    struct pollfd fds[2] = {{0, POLLIN, 0}, {e->interrupt_fd, POLLIN, 0}};
    int n = poll(fds, e->interrupt_fd >= 0 ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (e->interrupt_fd >= 0 && (fds[1].revents & POLLIN)) {
      char drain[64];
      (void)!read(e->interrupt_fd, drain, sizeof drain);
      *out = CTRL_C;
      return 1;
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    char byte;
    ssize_t got = read(0, &byte, 1);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return got == 0 ? 0 : -1;
    wchar_t wc;
    size_t r = mbrtowc(&wc, &byte, 1, &e->mb);
    if (r == (size_t)-2)
      continue; /* the middle of a multi-byte character */
    if (r == (size_t)-1) {
      memset(&e->mb, 0, sizeof e->mb);
      wc = (unsigned char)byte; /* not valid in this locale: as is */
    }
    *out = wc;
    return 1;
  }
}

static unsigned char on_interrupt(EditLine *el, int ch) {
  (void)ch;
  editor_of(el)->interrupted = 1;
  return CC_NEWLINE;
}

static int name_char(char c) {
  return c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

static unsigned char on_tab(EditLine *el, int ch) {
  (void)ch;
  cli_editor *e = editor_of(el);
  const LineInfo *li = el_line(el);
  const char *start = li->cursor;
  while (start > li->buffer && name_char(start[-1]))
    start--;
  size_t len = (size_t)(li->cursor - start);
  if (!len) { /* nothing typed: indent, as python's prompt does */
    return el_insertstr(el, "    ") == 0 ? CC_REFRESH : CC_ERROR;
  }
  size_t count = 0;
  char **names = e->complete ? e->complete(e->user_data, start, len, &count) : NULL;
  if (!count) {
    free(names);
    return CC_REFRESH_BEEP;
  }
  /* The longest prefix all candidates share, beyond what is typed. */
  size_t common = strlen(names[0]);
  for (size_t i = 1; i < count; i++) {
    size_t k = 0;
    while (k < common && names[i][k] == names[0][k])
      k++;
    common = k;
  }
  unsigned char rc = CC_REFRESH;
  if (common > len) {
    char *rest = strndup(names[0] + len, common - len);
    if (!rest || el_insertstr(el, rest) != 0)
      rc = CC_ERROR;
    free(rest);
  } else if (count > 1) { /* no progress: show the candidates */
    fputc('\n', stderr);
    for (size_t i = 0; i < count; i++)
      fprintf(stderr, "%s%s", names[i], i + 1 < count ? "  " : "\n");
    rc = CC_REDISPLAY;
  }
  for (size_t i = 0; i < count; i++)
    free(names[i]);
  free(names);
  return rc;
}

cli_editor *cli_editor_new(int interrupt_fd, cli_complete_fn complete, void *user_data) {
  if (!isatty(0) || !isatty(2))
    return NULL;
  setlocale(LC_CTYPE, ""); /* UTF-8 input and display, as the terminal says */
  cli_editor *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->interrupt_fd = interrupt_fd;
  e->complete = complete;
  e->user_data = user_data;
  e->prompt = "";
  if (!(e->el = el_init("eryx", stdin, stderr, stderr)) || !(e->hist = history_init())) {
    cli_editor_free(e);
    return NULL;
  }
  HistEvent ev;
  history(e->hist, &ev, H_SETSIZE, HISTORY_SIZE);
  history(e->hist, &ev, H_SETUNIQUE, 1);
  el_set(e->el, EL_CLIENTDATA, e);
  el_set(e->el, EL_EDITOR, "emacs");
  el_set(e->el, EL_SIGNAL, 0); /* SIGINT is the REPL's (see above) */
  el_set(e->el, EL_PROMPT, prompt_of);
  el_set(e->el, EL_HIST, history, e->hist);
  el_set(e->el, EL_GETCFN, read_char);
  el_set(e->el, EL_ADDFN, "eryx-interrupt", "Drop the line", on_interrupt);
  el_set(e->el, EL_ADDFN, "eryx-complete", "Complete a name", on_tab);
  el_source(e->el, NULL); /* ~/.editrc, if the user has one */
  el_set(e->el, EL_BIND, "^C", "eryx-interrupt", NULL);
  el_set(e->el, EL_BIND, "^I", "eryx-complete", NULL);
  return e;
}

cli_read_status cli_editor_read(cli_editor *e, const char *prompt, char **line) {
  *line = NULL;
  e->prompt = prompt;
  e->interrupted = 0;
  int n = 0;
  const char *text = el_gets(e->el, &n);
  if (e->interrupted) {
    el_reset(e->el);
    return CLI_INTERRUPTED;
  }
  if (!text || n <= 0)
    return CLI_EOF;
  if (!(*line = strndup(text, (size_t)n)))
    return CLI_EOF;
  return CLI_LINE;
}

void cli_editor_remember(cli_editor *e, const char *input) {
  size_t n = strlen(input);
  while (n && (input[n - 1] == '\n' || input[n - 1] == '\r'))
    n--;
  if (!n)
    return;
  char *entry = strndup(input, n);
  if (!entry)
    return;
  HistEvent ev;
  history(e->hist, &ev, H_ENTER, entry);
  free(entry);
}

void cli_editor_free(cli_editor *e) {
  if (!e)
    return;
  if (e->el)
    el_end(e->el);
  if (e->hist)
    history_end(e->hist);
  free(e);
}
