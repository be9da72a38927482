/*
 * test_secrets.c — secrets: options, placeholders, scrubbing.
 *
 * The guest sees only a placeholder; a value reaches it only from outside
 * (here: a callback that hands it in, standing for a server that echoes
 * the header; and a loopback HTTP server the test starts, which records
 * what it receives and answers with the Authorization header it got).
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VALUE "tok-5f3a9c1e77d2b0aa"
#define VALUE2 "sk-second-secret-value"

static eryx_str S(const char *s) { return (eryx_str){s, strlen(s)}; }

/* ---- a loopback HTTP server: records requests, echoes Authorization ---- */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_seen[65536]; /* every request received, concatenated */
static size_t g_seen_len;
static int g_port;

static void *http_conn(void *p) {
  int fd = (int)(intptr_t)p;
  char req[16384];
  size_t n = 0;
  while (n < sizeof req - 1) {
    ssize_t k = recv(fd, req + n, sizeof req - 1 - n, 0);
    if (k <= 0)
      break;
    n += (size_t)k;
    req[n] = '\0';
    if (strstr(req, "\r\n\r\n"))
      break;
  }
  req[n] = '\0';
  pthread_mutex_lock(&g_mu);
  if (g_seen_len + n < sizeof g_seen) {
    memcpy(g_seen + g_seen_len, req, n);
    g_seen_len += n;
    g_seen[g_seen_len] = '\0';
  }
  pthread_mutex_unlock(&g_mu);
  char auth[4096] = "";
  const char *a = strcasestr(req, "\r\nAuthorization:");
  if (a) {
    a += strlen("\r\nAuthorization:");
    while (*a == ' ')
      a++;
    const char *e = strstr(a, "\r\n");
    size_t l = e ? (size_t)(e - a) : strlen(a);
    if (l >= sizeof auth)
      l = sizeof auth - 1;
    memcpy(auth, a, l);
    auth[l] = '\0';
  }
  char resp[8192];
  int bl = (int)strlen(auth) + 5;
  int rl = snprintf(resp, sizeof resp,
                    "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\nauth=%s",
                    bl, auth);
  send(fd, resp, (size_t)rl, MSG_NOSIGNAL);
  close(fd);
  return NULL;
}

static void *http_accept(void *p) {
  int lfd = (int)(intptr_t)p;
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
      continue;
    pthread_t t;
    if (pthread_create(&t, NULL, http_conn, (void *)(intptr_t)fd) == 0)
      pthread_detach(t);
    else
      close(fd);
  }
  return NULL;
}

static bool http_server(void) {
  if (g_port)
    return true;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 64) ||
      getsockname(fd, (struct sockaddr *)&sa, &len))
    return false;
  pthread_t t;
  if (pthread_create(&t, NULL, http_accept, (void *)(intptr_t)fd))
    return false;
  pthread_detach(t);
  g_port = ntohs(sa.sin_port);
  return true;
}

static bool seen_contains(const char *s) {
  pthread_mutex_lock(&g_mu);
  bool yes = strstr(g_seen, s) != NULL;
  pthread_mutex_unlock(&g_mu);
  return yes;
}

/* ---- helpers ---- */

/* A callback `leak()` that answers with the secret's value as a JSON
 * string: a stand-in for a server that echoes what it was sent. */
static void leak_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  (void)args;
  (void)len;
  eryx_error_free(eryx_call_succeed(call, "\"" VALUE "\"", strlen(VALUE) + 2));
}

/* `seen(**kw)` records the arguments the host function got. */
static char g_args[4096];
static void seen_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  snprintf(g_args, sizeof g_args, "%.*s", (int)len, args);
  eryx_error_free(eryx_call_succeed(call, "null", 4));
}

typedef struct stream {
  char text[65536];
  size_t len;
  int chunks;
} stream;

static void on_out(void *ud, const char *text, size_t len) {
  stream *s = ud;
  if (s->len + len < sizeof s->text) {
    memcpy(s->text + s->len, text, len);
    s->len += len;
    s->text[s->len] = '\0';
  }
  s->chunks++;
}

static eryx_secret g_secrets[2];
static eryx_str g_hosts[1];
static eryx_callback g_cbs[2];

/* Options with two secrets (API_TOKEN, allowed at 127.0.0.1:<port>; and
 * OTHER, with no allowed hosts) and the leak/seen callbacks. */
static eryx_sandbox_options secret_options(void) {
  static char host[64];
  if (!http_server())
    CHECK_MSG(false, "no loopback server");
  snprintf(host, sizeof host, "127.0.0.1:%d", g_port);
  g_hosts[0] = S(host);
  g_secrets[0] = (eryx_secret)ERYX_SECRET_INIT;
  g_secrets[0].name = "API_TOKEN";
  g_secrets[0].name_len = 9;
  g_secrets[0].value = VALUE;
  g_secrets[0].value_len = strlen(VALUE);
  g_secrets[0].allowed_hosts = g_hosts;
  g_secrets[0].allowed_hosts_count = 1;
  g_secrets[1] = (eryx_secret)ERYX_SECRET_INIT;
  g_secrets[1].name = "OTHER";
  g_secrets[1].name_len = 5;
  g_secrets[1].value = VALUE2;
  g_secrets[1].value_len = strlen(VALUE2);
  g_cbs[0] = (eryx_callback){"leak", 4, NULL, 0, NULL, 0, leak_fn, NULL, NULL};
  g_cbs[1] = (eryx_callback){"seen", 4, NULL, 0, NULL, 0, seen_fn, NULL, NULL};
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.secrets = g_secrets;
  o.secret_count = 2;
  o.callbacks = g_cbs;
  o.callback_count = 2;
  return o;
}

static const char *json(const eryx_result *r) { return r ? eryx_result_json(r, NULL) : NULL; }
static const char *out(const eryx_result *r) { return r ? eryx_result_stdout(r, NULL) : NULL; }

static void check_clean(const eryx_result *r) {
  if (!r)
    return;
  const char *fields[] = {eryx_result_stdout(r, NULL),        eryx_result_stderr(r, NULL),
                          eryx_result_traceback(r, NULL),     eryx_result_error_message(r, NULL),
                          eryx_result_error_type(r, NULL),    or_null(json(r)),
                          or_null(eryx_result_json_error(r, NULL))};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    CHECK_NOT_CONTAINS(fields[i], VALUE);
    CHECK_NOT_CONTAINS(fields[i], VALUE2);
    CHECK_NOT_CONTAINS(fields[i], "ERYX_SECRET_");
  }
}

/* ---- tests ---- */

static void bad_secrets_are_refused(void) {
  struct {
    const char *name, *value;
    const char *host;
    const char *expect;
  } cases[] = {
      {"1BAD", "v", NULL, "'1BAD'"},
      {"HAS-DASH", "v", NULL, "environment variable name"},
      {"", "v", NULL, "environment variable name"},
      {"EMPTY", "", NULL, "secret 'EMPTY': the value is empty"},
      {"NEWLINE", "a\r\nX-Evil: 1", NULL, "secret 'NEWLINE'"},
      {"HOST", "v", "bad host!", "secret 'HOST': allowed_hosts"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    eryx_str h = cases[i].host ? S(cases[i].host) : (eryx_str){NULL, 0};
    eryx_secret sec = ERYX_SECRET_INIT;
    sec.name = cases[i].name;
    sec.name_len = strlen(cases[i].name);
    sec.value = cases[i].value;
    sec.value_len = strlen(cases[i].value);
    sec.allowed_hosts = cases[i].host ? &h : NULL;
    sec.allowed_hosts_count = cases[i].host ? 1 : 0;
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.secrets = &sec;
    o.secret_count = 1;
    eryx_sandbox *sb = NULL;
    eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT,
              "case %zu was accepted", i);
    if (err)
      CHECK_CONTAINS(eryx_error_message(err, NULL), cases[i].expect);
    eryx_error_free(err);
    eryx_sandbox_free(sb);
  }
  /* Twice the same name. */
  eryx_secret two[2] = {ERYX_SECRET_INIT, ERYX_SECRET_INIT};
  for (int i = 0; i < 2; i++) {
    two[i].name = "DUP";
    two[i].name_len = 3;
    two[i].value = "x";
    two[i].value_len = 1;
  }
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.secrets = two;
  o.secret_count = 2;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
  CHECK(err != NULL);
  if (err)
    CHECK_CONTAINS(eryx_error_message(err, NULL), "secret 'DUP' is given twice");
  eryx_error_free(err);
  eryx_sandbox_free(sb);
}

static void environ_holds_a_fresh_placeholder(void) {
  eryx_sandbox_options o = secret_options();
  o.scrub_result = ERYX_SCRUB_OFF; /* to look at the placeholders */
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  const char *code = "import os, re\n"
                     "p = os.environ['API_TOKEN']\n"
                     "result = [p, bool(re.fullmatch(r'ERYX_SECRET_[0-9a-f]{32}', p)),\n"
                     "          os.environ['OTHER'] != p]\n";
  eryx_result *a = run(sb, code), *b = run(sb, code);
  CHECK_MSG(a && json(a) && contains(json(a), ", true, true]"), "%s", describe(a));
  CHECK_MSG(b && json(b) && contains(json(b), ", true, true]"), "%s", describe(b));
  if (json(a) && json(b))
    CHECK_MSG(strcmp(json(a), json(b)) != 0, "the same placeholder twice: %s", json(a));
  CHECK_NOT_CONTAINS(json(a), VALUE);
  eryx_result_free(a);
  eryx_result_free(b);
  eryx_sandbox_free(sb);

  /* A session: new each execution, and the environment is put back. */
  eryx_session *s = new_session(&o);
  if (!s)
    return;
  eryx_result *r1 = srun(s, "import os\nfirst = os.environ['API_TOKEN']\n");
  eryx_result *r2 = srun(s, "result = [first != os.environ['API_TOKEN'], "
                            "os.environ['API_TOKEN'].startswith('ERYX_SECRET_')]");
  CHECK_MSG(r2 && str_eq(json(r2), "[true, true]"), "%s", describe(r2));
  eryx_result_free(r1);
  eryx_result_free(r2);
  eryx_session_free(s);
}

static void printing_the_placeholder_shows_no_secret(void) {
  eryx_sandbox_options o = secret_options();
  stream so = {0};
  o.on_stdout = on_out;
  o.output_user_data = &so;
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  eryx_result *r = run(sb, "import os, sys, base64\n"
                           "p = os.environ['API_TOKEN']\n"
                           "print(p)\n"
                           "for c in p:\n"
                           "    sys.stdout.write(c); sys.stdout.flush()\n"
                           "print()\n"
                           "print(base64.b64encode(p.encode()).decode())\n"
                           "print(p.encode().hex())\n"
                           "print(os.environ)\n"
                           "result = p\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  check_clean(r);
  CHECK_CONTAINS(out(r), "[REDACTED]\n[REDACTED]\n");
  CHECK_STREQ(json(r), "\"[REDACTED]\"");
  CHECK_NOT_CONTAINS(so.text, "ERYX_SECRET_");
  CHECK_NOT_CONTAINS(so.text, VALUE);
  CHECK_MSG(r && so.len == strlen(out(r)) && !strcmp(so.text, out(r)),
            "streamed %zu bytes, result holds %zu", so.len, r ? strlen(out(r)) : 0);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void an_echoed_value_is_scrubbed_everywhere(void) {
  eryx_vfs *vfs = NULL;
  eryx_error_free(eryx_vfs_new(0, &vfs));
  eryx_sandbox_options o = secret_options();
  stream so = {0}, se = {0};
  o.on_stdout = on_out;
  o.on_stderr = on_out;
  o.output_user_data = &so;
  o.vfs = vfs;
  (void)se;
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb) {
    eryx_vfs_free(vfs);
    return;
  }
  /* Output, split across writes; result; a callback's arguments; files. */
  eryx_result *r = run(sb, "import sys\n"
                           "v = await leak()\n"
                           "print('got', v)\n"
                           "sys.stdout.write(v[:7]); sys.stdout.flush()\n"
                           "sys.stdout.write(v[7:] + '\\n'); sys.stdout.flush()\n"
                           "sys.stderr.write('err ' + v + '\\n')\n"
                           "await seen(x=v, y=[v])\n"
                           "with open('/data/a.txt', 'w') as f:\n"
                           "    f.write('head ' + v[:5]); f.flush(); f.write(v[5:] + ' tail')\n"
                           "result = {'v': v, 'list': [v]}\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  check_clean(r);
  CHECK_CONTAINS(out(r), "got [REDACTED]\n[REDACTED]\n");
  CHECK_CONTAINS(eryx_result_stderr(r, NULL), "err [REDACTED]");
  CHECK_STREQ(json(r), "{\"v\": \"[REDACTED]\", \"list\": [\"[REDACTED]\"]}");
  CHECK_NOT_CONTAINS(so.text, VALUE);
  CHECK_CONTAINS(so.text, "got [REDACTED]");
  CHECK_CONTAINS(g_args, "[REDACTED]");
  CHECK_NOT_CONTAINS(g_args, VALUE);
  uint8_t *data = NULL;
  size_t len = 0;
  eryx_error *err = eryx_vfs_read_file(vfs, "a.txt", 5, &data, &len);
  CHECK(!err);
  if (!err) {
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int)len, (const char *)data);
    CHECK_STREQ(text, "head [REDACTED] tail");
  }
  eryx_error_free(err);
  eryx_vfs_bytes_free(data);
  eryx_result_free(r);

  /* A traceback and an error message. */
  r = run(sb, "v = await leak()\nraise ValueError('bad token ' + v)\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  check_clean(r);
  CHECK_CONTAINS(eryx_result_error_message(r, NULL), "bad token [REDACTED]");
  CHECK_CONTAINS(eryx_result_traceback(r, NULL), "[REDACTED]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_vfs_free(vfs);
}

static void scrub_switches(void) {
  eryx_vfs *vfs = NULL;
  eryx_error_free(eryx_vfs_new(0, &vfs));
  eryx_sandbox_options o = secret_options();
  o.scrub_stdout = ERYX_SCRUB_OFF;
  o.scrub_result = ERYX_SCRUB_OFF;
  o.scrub_files = ERYX_SCRUB_OFF;
  o.vfs = vfs;
  eryx_sandbox *sb = new_sandbox(&o);
  if (sb) {
    eryx_result *r = run(sb, "import sys\nv = await leak()\nprint(v)\n"
                             "sys.stderr.write(v)\nopen('/data/b', 'w').write(v)\nresult = v\n");
    CHECK_CONTAINS(out(r), VALUE);
    CHECK_CONTAINS(json(r), VALUE);
    CHECK_STREQ(eryx_result_stderr(r, NULL), "[REDACTED]");
    uint8_t *data = NULL;
    size_t len = 0;
    eryx_error_free(eryx_vfs_read_file(vfs, "b", 1, &data, &len));
    CHECK(data && len == strlen(VALUE) && !memcmp(data, VALUE, len));
    eryx_vfs_bytes_free(data);
    eryx_result_free(r);
  }
  eryx_sandbox_free(sb);
  eryx_vfs_free(vfs);
}

/* What the trace handler got. */
static char g_trace[8192];
static void on_trace(void *ud, const eryx_trace_event *ev) {
  (void)ud;
  size_t n = strlen(g_trace);
  snprintf(g_trace + n, sizeof g_trace - n, "%.*s|%.*s\n", (int)ev->function_len,
           ev->function, (int)ev->detail_len, ev->detail);
}

static void trace_events_are_scrubbed(void) {
  eryx_sandbox_options o = secret_options();
  o.on_trace = on_trace;
  g_trace[0] = '\0';
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  /* The placeholder is an identifier: a function and an exception type
   * named by it put it into the events' function and detail. */
  eryx_result *r = run(sb, "import os\np = os.environ['API_TOKEN']\n"
                           "def g():\n    raise E('x')\n"
                           "g.__code__ = g.__code__.replace(co_name=p, co_qualname=p)\n"
                           "E = type(p, (Exception,), {})\n"
                           "try:\n    g()\nexcept Exception:\n    pass\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  CHECK_NOT_CONTAINS(g_trace, "ERYX_SECRET_");
  CHECK_CONTAINS(g_trace, "[REDACTED]|\n");
  CHECK_CONTAINS(g_trace, "[REDACTED]|[REDACTED]\n");
}

static void snapshot_never_holds_the_value(void) {
  eryx_sandbox_options o = secret_options();
  eryx_session *s = new_session(&o);
  if (!s)
    return;
  eryx_result *r = srun(s, "v = await leak()\nw = [v, {'k': v}]\nok = 1\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  eryx_snapshot *snap = NULL;
  eryx_error *err = eryx_session_snapshot_state(s, 0, &snap);
  CHECK_MSG(err != NULL, "a snapshot holding a secret's value was taken");
  if (err) {
    CHECK(eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT);
    CHECK_CONTAINS(eryx_error_message(err, NULL), "API_TOKEN");
  }
  eryx_error_free(err);
  eryx_snapshot_free(snap);
  /* Without the value the snapshot works. */
  r = srun(s, "del v, w\n");
  eryx_result_free(r);
  snap = NULL;
  err = eryx_session_snapshot_state(s, 0, &snap);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  eryx_snapshot_free(snap);
  eryx_session_free(s);
}

/* The network half: the value in the Authorization header at the allowed
 * host only, and what the server echoes is scrubbed. */
static void value_reaches_the_allowed_host_only(void) {
  if (!http_server()) {
    CHECK_MSG(false, "no loopback server");
    return;
  }
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  eryx_sandbox_options o = secret_options();
  o.network = &net;
  o.timeout_ms = 20000;
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  char code[2048];
  snprintf(code, sizeof code,
           "import os, urllib.request\n"
           "def get(host, name):\n"
           "    q = urllib.request.Request(('http://%%s:%d/p?q=' %% host) + os.environ[name],\n"
           "        headers={'Authorization': 'Bearer ' + os.environ[name]})\n"
           "    return urllib.request.urlopen(q, timeout=10).read().decode()\n"
           "a = get('127.0.0.1', 'API_TOKEN')\n"
           "print(a)\n"
           "b = get('localhost', 'API_TOKEN')\n"
           "c = get('127.0.0.1', 'OTHER')\n"
           "result = [a, b.startswith('auth=Bearer ERYX_SECRET_'), c.startswith('auth=Bearer ERYX_SECRET_')]\n",
           g_port);
  eryx_result *r = run(sb, code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  check_clean(r);
  CHECK_STREQ(json(r), "[\"auth=Bearer [REDACTED]\", true, true]");
  CHECK_CONTAINS(out(r), "auth=Bearer [REDACTED]");
  CHECK_MSG(seen_contains("Authorization: Bearer " VALUE "\r\n"),
            "the allowed host did not get the value: %.600s", g_seen);
  CHECK_MSG(!seen_contains("q=" VALUE), "the value went into a URL");
  CHECK_MSG(!seen_contains(VALUE2), "a secret with no allowed hosts went out");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

const test_case secrets_tests[] = {
    {"secrets: bad secrets refused, naming them", bad_secrets_are_refused},
    {"secrets: os.environ holds a fresh placeholder", environ_holds_a_fresh_placeholder},
    {"secrets: printing the placeholder shows no secret", printing_the_placeholder_shows_no_secret},
    {"secrets: an echoed value is scrubbed everywhere", an_echoed_value_is_scrubbed_everywhere},
    {"secrets: scrub switches", scrub_switches},
    {"secrets: trace events scrubbed", trace_events_are_scrubbed},
    {"secrets: snapshots never hold the value", snapshot_never_holds_the_value},
    {"secrets: the value reaches the allowed host only", value_reaches_the_allowed_host_only},
};
const size_t secrets_count = sizeof secrets_tests / sizeof secrets_tests[0];
