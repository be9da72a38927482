/*
 * repl.c — `eryx repl` (and `eryx` on a terminal with no script): Python
 * state that persists between inputs. It takes the same flags as a
 * script run (flags.h).
 *
 * On a terminal, lines are read with the line editor (editor.c: history,
 * Ctrl-C drops the line, Tab completes names of the session) and whether
 * the input is complete is decided by CPython itself: codeop, run in a
 * second, plain sandbox (a fresh interpreter each time, a few ms), exactly
 * as python's own prompt decides it. So an open bracket or an indented
 * block waits for more lines, and a syntax error (also one inside an open
 * bracket) is reported at once instead of leaving the prompt in "...".
 *
 * Piped input (stdin not a terminal) is gathered by a quick scan instead:
 * a line that opens a bracket, a triple-quoted string or ends with a
 * backslash continues on the next line; a block (a first line ending with
 * ':' or a decorator) ends with an empty line. No prompts then, so piped
 * use prints nothing but the program's output. The value of a final
 * expression is echoed either way; prompts go to stderr.
 *
 * Commands: %save [--skip] FILE, %load FILE, %clear, %reset, %exit.
 * sys.exit(n) ends the REPL with exit status n, as in python.
 *
 * Ctrl-C cancels the running input and the REPL carries on; as with any
 * cancel the interpreter cannot resume, so the session starts over (and
 * says so). At the prompt Ctrl-C is ignored. SIGINT is blocked in
 * every thread and taken by a sigwait() thread, because cancelling from a
 * signal handler would not be async-signal-safe.
 */
#include "repl.h"

#include "editor.h"
#include "forward.h"

#include "eryx.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  int depth;        /* open (, [, { */
  bool in_triple;   /* inside a triple-quoted string */
  bool continued;   /* the text ends with a backslash */
} scan_state;

/* Scans Python source roughly: enough to tell whether input is complete. */
static scan_state scan(const char *s) {
  scan_state st = {0, false, false};
  char quote = 0;
  bool triple = false;
  for (const char *p = s; *p; p++) {
    if (quote) {
      if (*p == '\\' && p[1]) {
        p++;
      } else if (triple && p[0] == quote && p[1] == quote && p[2] == quote) {
        quote = 0;
        p += 2;
      } else if (!triple && (*p == quote || *p == '\n')) {
        quote = 0;
      }
      continue;
    }
    if (*p == '#') {
      while (p[1] && p[1] != '\n')
        p++;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
      triple = p[1] == quote && p[2] == quote;
      if (triple)
        p += 2;
    } else if (strchr("([{", *p)) {
      st.depth++;
    } else if (strchr(")]}", *p) && st.depth > 0) {
      st.depth--;
    }
  }
  st.in_triple = quote && triple;
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  st.continued = n && s[n - 1] == '\\';
  return st;
}

static bool starts_block(const char *first_line) {
  const char *p = first_line;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '@')
    return true;
  const char *end = strchr(p, '#') ? strchr(p, '#') : p + strlen(p);
  while (end > p && strchr(" \t\r\n", end[-1]))
    end--;
  return end > p && end[-1] == ':';
}

static bool is_blank(const char *line) {
  return line[strspn(line, " \t\r\n")] == '\0';
}

typedef struct {
  eryx_session *session;
  atomic_bool running; /* an input is executing */
  atomic_bool quitting;
  sigset_t set;
  int at_prompt_fd; /* written to on Ctrl-C at the prompt (-1: none) */
} interrupter;

static void *interrupt_main(void *arg) {
  interrupter *in = arg;
  int sig;
  while (sigwait(&in->set, &sig) == 0 && !atomic_load(&in->quitting)) {
    if (atomic_load(&in->running))
      eryx_session_cancel(in->session);
    else if (in->at_prompt_fd >= 0)
      (void)!write(in->at_prompt_fd, "c", 1);
  }
  return NULL;
}

/* The variable completions come back in (a session consumes its result
 * variable, so it never lingers in the user's namespace). */
#define COMPLETIONS_VAR "_eryx_completions"

/* Runs `code` in `sb` (a sandbox) or `s` (the session) and returns the
 * result variable's JSON, parsed (NULL when there is none). */
static json_t *ask(eryx_sandbox *sb, eryx_session *s, const char *code, size_t len) {
  eryx_result *r = NULL;
  eryx_error *err = sb ? eryx_sandbox_execute(sb, code, len, &r)
                       : eryx_session_execute(s, code, len, &r);
  if (err) {
    eryx_error_free(err);
    return NULL;
  }
  size_t jl;
  const char *j = eryx_result_json(r, &jl);
  json_t *v = j ? json_loadb(j, jl, JSON_DECODE_ANY, NULL) : NULL;
  eryx_result_free(r);
  return v;
}

/* A Python string literal of `text` (JSON's escapes are Python's). */
static char *py_literal(const char *text, size_t len) {
  json_t *str = json_stringn(text, len);
  char *lit = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
  json_decref(str);
  return lit;
}

typedef enum { INPUT_INCOMPLETE, INPUT_COMPLETE, INPUT_UNKNOWN } input_state;

/* CPython's own judgment (codeop, as its prompt uses): complete, or a
 * syntax error (also complete: the session reports it), or more to come. */
static input_state judge(eryx_sandbox *checker, const char *source) {
  char *lit = py_literal(source, strlen(source));
  if (!lit)
    return INPUT_UNKNOWN;
  static const char head[] =
      "import codeop\n"
      "try:\n"
      "    result = codeop.compile_command(";
  static const char tail[] =
      ", '<stdin>', 'single') is not None\n"
      "except (SyntaxError, OverflowError, ValueError):\n"
      "    result = True\n";
  size_t n = strlen(head) + strlen(lit) + strlen(tail);
  char *code = malloc(n + 1);
  input_state st = INPUT_UNKNOWN;
  if (code) {
    snprintf(code, n + 1, "%s%s%s", head, lit, tail);
    json_t *v = ask(checker, NULL, code, n);
    if (json_is_boolean(v))
      st = json_is_true(v) ? INPUT_COMPLETE : INPUT_INCOMPLETE;
    json_decref(v);
  }
  free(code);
  free(lit);
  return st;
}

/* Tab: names in the session's namespace (and builtins, keywords) that
 * start with `word`; for "a.b.c", attributes of a.b. Only a dotted name
 * reaches the session: the word is checked here first. */
static char **complete_names(void *user_data, const char *word, size_t len, size_t *count) {
  *count = 0;
  for (size_t i = 0; i < len; i++) {
    char c = word[i];
    bool first = i == 0 || word[i - 1] == '.';
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (!first && c >= '0' && c <= '9') || (c == '.' && !first);
    if (!ok)
      return NULL;
  }
  char *lit = py_literal(word, len);
  if (!lit)
    return NULL;
  static const char fmt[] =
      "def _eryx_names(word):\n"
      "    import builtins, keyword\n"
      "    head, dot, tail = word.rpartition('.')\n"
      "    try:\n"
      "        if dot:\n"
      "            obj = globals()[head.split('.')[0]]\n"
      "            for part in head.split('.')[1:]:\n"
      "                obj = getattr(obj, part)\n"
      "            names = dir(obj)\n"
      "        else:\n"
      "            names = list(globals()) + dir(builtins) + keyword.kwlist\n"
      "    except Exception:\n"
      "        return []\n"
      "    hidden = not tail.startswith('_')\n"
      "    return sorted({head + dot + n for n in names\n"
      "                   if n.startswith(tail) and not (hidden and n.startswith('_'))})\n"
      COMPLETIONS_VAR " = _eryx_names(%s)[:200]\n"
      "del _eryx_names\n";
  size_t n = sizeof fmt + strlen(lit);
  char *code = malloc(n);
  json_t *v = NULL;
  if (code) {
    int k = snprintf(code, n, fmt, lit);
    v = k > 0 ? ask(NULL, user_data, code, (size_t)k) : NULL;
  }
  free(code);
  free(lit);
  char **names = NULL;
  if (json_is_array(v) && json_array_size(v) &&
      (names = calloc(json_array_size(v), sizeof *names))) {
    for (size_t i = 0; i < json_array_size(v); i++) {
      const char *name = json_string_value(json_array_get(v, i));
      if (name && (names[*count] = strdup(name)))
        (*count)++;
    }
  }
  json_decref(v);
  return names;
}

static void report(eryx_error *err) {
  fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
  eryx_error_free(err);
}

static void save(eryx_session *s, const char *args) {
  bool skip = !strncmp(args, "--skip ", 7);
  const char *path = skip ? args + 7 : args;
  if (!*path) {
    fprintf(stderr, "usage: %%save [--skip] FILE\n");
    return;
  }
  eryx_snapshot *snap = NULL;
  eryx_error *err = eryx_session_snapshot_state(s, skip, &snap);
  if (err) {
    report(err);
    if (!skip)
      fprintf(stderr, "(%%save --skip FILE leaves such variables out)\n");
    return;
  }
  size_t len;
  const uint8_t *data = eryx_snapshot_data(snap, &len);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "eryx: %s: %s\n", path, strerror(errno));
  } else {
    fprintf(stderr, "saved to %s", path);
    for (size_t i = 0; i < eryx_snapshot_skipped_count(snap); i++)
      fprintf(stderr, "%s%s", i ? ", " : " (left out: ", eryx_snapshot_skipped(snap, i, NULL));
    fputs(eryx_snapshot_skipped_count(snap) ? ")\n" : "\n", stderr);
  }
  eryx_snapshot_free(snap);
}

static void load(eryx_session *s, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "eryx: %s: %s\n", path, strerror(errno));
    return;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  while (buf && (len += fread(buf + len, 1, cap - len, f)) == cap) {
    char *p = realloc(buf, cap *= 2);
    if (!p) {
      free(buf);
      buf = NULL;
    }
    buf = p;
  }
  fclose(f);
  if (!buf) {
    fprintf(stderr, "eryx: out of memory reading %s\n", path);
    return;
  }
  eryx_error *err = eryx_session_restore_state(s, (const uint8_t *)buf, len);
  free(buf);
  if (err)
    report(err);
  else
    fprintf(stderr, "loaded %s\n", path);
}

/* Returns false when the REPL should exit. */
static bool command(eryx_session *s, char *line) {
  line[strcspn(line, "\r\n")] = '\0';
  char *args = strchr(line, ' ');
  if (args)
    *args++ = '\0';
  else
    args = line + strlen(line);
  eryx_error *err = NULL;
  if (!strcmp(line, "%exit") || !strcmp(line, "%quit"))
    return false;
  if (!strcmp(line, "%save"))
    save(s, args);
  else if (!strcmp(line, "%load"))
    load(s, args);
  else if (!strcmp(line, "%clear"))
    err = eryx_session_clear_state(s);
  else if (!strcmp(line, "%reset"))
    err = eryx_session_reset(s);
  else
    fprintf(stderr, "unknown command %s (try %%save, %%load, %%clear, %%reset, %%exit)\n",
            line);
  if (err)
    report(err);
  return true;
}

/* Runs one input; returns the exit status the code asked for with
 * sys.exit() (the REPL then ends), or -1. */
static int run(eryx_session *s, const char *code) {
  eryx_result *r = NULL;
  eryx_error *err = eryx_session_execute(s, code, strlen(code), &r);
  if (err) {
    report(err);
    return -1;
  }
  int exit_code = eryx_result_exit_code(r);
  eryx_status st = eryx_result_status(r);
  if (st == ERYX_STATUS_CANCELLED)
    fprintf(stderr, "KeyboardInterrupt (the session starts over)\n");
  else if (st == ERYX_STATUS_LIMIT || st == ERYX_STATUS_INTERNAL)
    fprintf(stderr, "eryx: %s: %s (the session starts over)\n",
            eryx_result_error_type(r, NULL), eryx_result_error_message(r, NULL));
  eryx_result_free(r);
  return exit_code;
}

int repl_run(cli_flags *flags) {
  if (flags->result_var) {
    fprintf(stderr, "eryx: the REPL echoes values; --result-var is for running a script\n");
    return 2;
  }
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  cli_flags_apply(flags, &opts);
  opts.on_stdout = forward_stdout;
  opts.on_stderr = forward_stderr;
  opts.echo_expressions = 1;
  /* Values are echoed; the result variable only carries Tab completions
   * (a session consumes it, so `result` stays the user's). */
  opts.result_variable = COMPLETIONS_VAR;
  opts.result_variable_len = strlen(COMPLETIONS_VAR);
  /* Block SIGINT before any thread starts, so every thread inherits it. */
  interrupter in = {0};
  in.at_prompt_fd = -1;
  sigemptyset(&in.set);
  sigaddset(&in.set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &in.set, NULL);
  eryx_runtime *rt = NULL;
  eryx_session *s = NULL;
  eryx_sandbox *checker = NULL;
  bool tty = isatty(0);
  eryx_runtime_options ropts = ERYX_RUNTIME_OPTIONS_INIT;
  cli_flags_runtime(flags, &ropts);
  eryx_error *err = eryx_runtime_new(&ropts, &rt);
  if (!err)
    err = eryx_session_new(rt, &opts, &s);
  if (!err && tty)
    err = eryx_sandbox_new(rt, NULL, &checker);
  if (err) {
    report(err);
    eryx_session_free(s);
    eryx_runtime_free(rt);
    return 4;
  }
  in.session = s;
  int prompt_pipe[2] = {-1, -1};
  cli_editor *ed = NULL;
  if (tty && pipe(prompt_pipe) == 0) {
    in.at_prompt_fd = prompt_pipe[1];
    ed = cli_editor_new(prompt_pipe[0], complete_names, s);
  }
  pthread_t interrupt_thread;
  bool have_thread = pthread_create(&interrupt_thread, NULL, interrupt_main, &in) == 0;
  char *line = NULL, *buf = NULL;
  size_t line_cap = 0, len = 0;
  bool block = false;
  int exit_code = -1;
  while (exit_code < 0) {
    ssize_t n;
    if (ed) {
      free(line);
      line = NULL;
      cli_read_status rs = cli_editor_read(ed, len ? "... " : ">>> ", &line);
      if (rs == CLI_EOF) {
        fputc('\n', stderr);
        break;
      }
      if (rs == CLI_INTERRUPTED) { /* Ctrl-C: the input so far is dropped */
        fputs("KeyboardInterrupt\n", stderr);
        len = 0;
        block = false;
        continue;
      }
      cli_editor_remember(ed, line);
      n = (ssize_t)strlen(line);
    } else {
      if (tty)
        fputs(len ? "... " : ">>> ", stderr);
      n = getline(&line, &line_cap, stdin);
      if (n < 0)
        break;
    }
    if (!len && line[0] == '%') {
      if (!command(s, line))
        break;
      continue;
    }
    if (!len && is_blank(line))
      continue;
    char *grown = realloc(buf, len + (size_t)n + 1);
    if (!grown)
      break;
    buf = grown;
    memcpy(buf + len, line, (size_t)n + 1);
    if (!len)
      block = starts_block(line);
    len += (size_t)n;
    input_state judged = checker ? judge(checker, buf) : INPUT_UNKNOWN;
    if (judged == INPUT_INCOMPLETE)
      continue;
    if (judged == INPUT_UNKNOWN) {
      scan_state st = scan(buf);
      bool open = st.depth > 0 || st.in_triple || st.continued;
      if (open || (block && !is_blank(line)))
        continue;
    }
    atomic_store(&in.running, true);
    exit_code = run(s, buf);
    atomic_store(&in.running, false);
    len = 0;
    block = false;
  }
  if (len && exit_code < 0) /* input ended inside a block: run what there is */
    exit_code = run(s, buf);
  if (have_thread) {
    atomic_store(&in.quitting, true);
    pthread_kill(interrupt_thread, SIGINT);
    pthread_join(interrupt_thread, NULL);
  }
  cli_editor_free(ed);
  if (prompt_pipe[0] >= 0) {
    close(prompt_pipe[0]);
    close(prompt_pipe[1]);
  }
  free(line);
  free(buf);
  eryx_sandbox_free(checker);
  eryx_session_free(s);
  eryx_runtime_free(rt);
  return exit_code < 0 ? 0 : exit_code;
}
