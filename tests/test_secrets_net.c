/*
 * test_secrets_net.c — the host's half of secrets (issue 18): substitution
 * of a secret's placeholder by its value in HTTP/1.1 request header values,
 * on connections whose vetted target the secret allows
 * (deps/wasmtime/src/net/secrets.rs), driven through its internal C ABI.
 *
 * Servers of the test's own on loopback record every byte they receive
 * (plain, TLS with a CA made at run time by the `openssl` command, one that
 * answers HTTP, one that echoes). Guest code drives the raw `net` imports
 * or http.client; a callback installs the secrets into the execution's
 * connection table with the test's placeholders, as sandbox.c will.
 */
#include "harness.h"
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- servers */

enum reply { NONE, HTTP, ECHO };

typedef struct rec_server {
  int lfd, port;
  enum reply reply;
  SSL_CTX *ctx; /* NULL: plain TCP */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *log; /* every byte of every finished connection, in order */
  size_t len, cap;
  int closed; /* finished connections */
} rec_server;

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n) {
  if (*len + n + 1 > *cap) {
    *cap = (*len + n + 1) * 2;
    *buf = realloc(*buf, *cap);
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  (*buf)[*len] = 0;
}

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

static int io_write(SSL *ssl, int fd, const char *p, size_t n) {
  for (size_t off = 0; off < n;) {
    int w = ssl ? SSL_write(ssl, p + off, (int)(n - off))
                : (int)send(fd, p + off, n - off, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    off += (size_t)w;
  }
  return 0;
}

/* One connection: record until the client is done (EOF or close_notify),
 * answering as the server's mode says; the record is complete before the
 * socket is closed, so a guest that read to EOF can check it at once. */
static void rec_conn_main(int fd, void *p) {
  rec_server *s = p;
  SSL *ssl = NULL;
  char *got = NULL, buf[16384];
  size_t len = 0, cap = 0;
  bool replied = false;
  if (s->ctx) {
    ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) <= 0)
      goto out;
  }
  for (;;) {
    int n = ssl ? SSL_read(ssl, buf, sizeof buf) : (int)recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    append(&got, &len, &cap, buf, (size_t)n);
    if (s->reply == ECHO && io_write(ssl, fd, buf, (size_t)n))
      break;
    if (s->reply == HTTP && !replied && strstr(got, "\r\n\r\n")) {
      replied = true;
      if (io_write(ssl, fd, RESPONSE, sizeof RESPONSE - 1))
        break;
    }
  }
out:
  pthread_mutex_lock(&s->mu);
  if (len)
    append(&s->log, &s->len, &s->cap, got, len);
  s->closed++;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (ssl) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  free(got);
}

/* The servers live for the whole test run (threads are never joined). */
static rec_server *rec_start(enum reply reply, SSL_CTX *ctx) {
  rec_server *s = calloc(1, sizeof *s);
  s->reply = reply;
  s->ctx = ctx;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if ((s->lfd = serve_loopback(64, rec_conn_main, s, &s->port)) < 0) {
    free(s);
    return NULL;
  }
  return s;
}

static void rec_reset(rec_server *s) {
  pthread_mutex_lock(&s->mu);
  s->len = 0;
  if (s->log)
    s->log[0] = 0;
  s->closed = 0;
  pthread_mutex_unlock(&s->mu);
}

/* Waits (5 s at most) until `n` connections have finished; their bytes. */
static const char *rec_wait(rec_server *s, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 5;
  pthread_mutex_lock(&s->mu);
  while (s->closed < n && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
  }
  bool ok = s->closed >= n;
  pthread_mutex_unlock(&s->mu);
  CHECK_MSG(ok, "the server saw %d of %d connections finish", s->closed, n);
  return s->log ? s->log : "";
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* allowed: the secret TOKEN may go to localhost on these ports; other:
 * allowed by the network policy only; http/tls answer HTTP; echo echoes. */
static rec_server *g_allowed, *g_other, *g_http, *g_tls, *g_echo;
static char *g_ca;
static size_t g_ca_len;

static SSL_CTX *make_tls(void) {
  char dir[64] = "/tmp/eryx-secnet-XXXXXX";
  if (!mkdtemp(dir))
    return NULL;
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "(cd %s && "
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout ca.key -out ca.pem -subj '/CN=Eryx Secrets Test CA' -days 2 && "
           "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout srv.key -out srv.csr -subj '/CN=localhost' && "
           "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
           "extendedKeyUsage=serverAuth\\n' > ext && "
           "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out srv.pem -days 2 -extfile ext) >/dev/null 2>&1",
           dir);
  SSL_CTX *ctx = NULL;
  char path[128], key[128];
  if (system(cmd) == 0) {
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    g_ca = read_file(path, &g_ca_len);
    ctx = SSL_CTX_new(TLS_server_method());
    snprintf(path, sizeof path, "%s/srv.pem", dir);
    snprintf(key, sizeof key, "%s/srv.key", dir);
    if (!g_ca || !ctx || SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
      SSL_CTX_free(ctx);
      ctx = NULL;
    }
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    return NULL;
  return ctx;
}

static bool servers(void) {
  static int state; /* 0 not yet, 1 ok, 2 failed */
  if (!state) {
    state = 2;
    SSL_CTX *ctx = make_tls();
    g_allowed = rec_start(NONE, NULL);
    g_other = rec_start(NONE, NULL);
    g_http = rec_start(HTTP, NULL);
    g_echo = rec_start(ECHO, NULL);
    g_tls = ctx ? rec_start(HTTP, ctx) : NULL;
    if (g_allowed && g_other && g_http && g_echo && g_tls)
      state = 1;
  }
  if (state == 1) {
    rec_reset(g_allowed);
    rec_reset(g_other);
    rec_reset(g_http);
    rec_reset(g_echo);
    rec_reset(g_tls);
  }
  return state == 1;
}

/* ------------------------------------------------------------- secrets */

#define VALUE "s3cr3t-VALUE-42"
#define NOWHERE_VALUE "n0where-VALUE-7"

static eryx_str S(const char *s) { return (eryx_str){s, strlen(s)}; }

/* TOKEN may go to localhost on the allowed, http, tls and echo servers'
 * ports; NOWHERE has no allowed hosts. */
static eryx_net_secrets *make_secrets(void) {
  char pats[4][32];
  rec_server *to[4] = {g_allowed, g_http, g_tls, g_echo};
  eryx_str allow[4];
  for (int i = 0; i < 4; i++) {
    snprintf(pats[i], sizeof pats[i], "localhost:%d", to[i]->port);
    allow[i] = S(pats[i]);
  }
  eryx_net_secret_spec specs[2] = {
      {S("TOKEN"), S(VALUE), allow, 4},
      {S("NOWHERE"), S(NOWHERE_VALUE), NULL, 0},
  };
  char msg[256] = "";
  eryx_net_secrets *s = eryx__net_secrets_new(specs, 2, msg, sizeof msg);
  CHECK_MSG(s, "eryx__net_secrets_new: %s", msg);
  return s;
}

typedef struct sec_ctx {
  eryx_sandbox *sb;
  eryx_net_secrets *secrets;
  char ph[2][48]; /* this execution's placeholders */
  int rc;
  char msg[256];
} sec_ctx;

/* The `install` callback: what sandbox.c will do before the guest runs. */
static void install_cb(void *user_data, eryx_call *call, const char *args, size_t len) {
  (void)args;
  (void)len;
  sec_ctx *c = user_data;
  eryx_str ph[2] = {S(c->ph[0]), S(c->ph[1])};
  c->rc = eryx__net_table_set_secrets(eryx__sandbox_net_table(c->sb), c->secrets, ph, 2, c->msg,
                                      sizeof c->msg);
  eryx_error_free(eryx_call_succeed(call, c->rc == 0 ? "true" : "false", c->rc == 0 ? 4 : 5));
}

static void new_placeholders(sec_ctx *c) {
  static unsigned seed;
  if (!seed)
    seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  for (int k = 0; k < 2; k++) {
    int n = snprintf(c->ph[k], sizeof c->ph[k], "ERYX_SECRET_");
    for (int i = 0; i < 32; i++)
      c->ph[k][n + i] = "0123456789abcdef"[rand_r(&seed) & 15];
    c->ph[k][n + 32] = 0;
  }
}

/* A sandbox with networking (loopback allowed, the test CA trusted) and
 * the `install` callback. */
static eryx_sandbox *secret_sandbox(sec_ctx *c, eryx_callback *cb, eryx_net_options *net,
                                    eryx_str *root) {
  *root = (eryx_str){g_ca, g_ca_len};
  *net = (eryx_net_options)ERYX_NET_OPTIONS_INIT;
  net->allow_localhost = 1;
  net->root_certs = root;
  net->root_certs_count = 1;
  *cb = (eryx_callback){.name = "install", .name_len = 7, .fn = install_cb, .user_data = c};
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.network = net;
  o.callbacks = cb;
  o.callback_count = 1;
  o.timeout_ms = 20000;
  memset(c, 0, sizeof *c);
  c->rc = -2;
  c->secrets = make_secrets();
  new_placeholders(c);
  c->sb = new_sandbox(&o);
  return c->sb;
}

static void secret_sandbox_free(sec_ctx *c) {
  eryx_sandbox_free(c->sb);
  eryx__net_secrets_free(c->secrets);
}

/* Installs the secrets, then runs helpers: raw(host, port, chunks, tls)
 * sends each chunk (the first return of each send kept, to check it is
 * truthful), shuts the write side, reads to EOF; then `fmt`. */
#define PRELUDE                                                               \
  "from wit_world.imports import net\n"                                       \
  "import http.client, ssl\n"                                                 \
  "assert await install() is True\n"                                          \
  "PH, PH2 = '%s', '%s'\n"                                                    \
  "def raw(host, port, chunks, tls=False):\n"                                 \
  "    h = net.connect(host, port, None)\n"                                   \
  "    if tls:\n"                                                             \
  "        net.start_tls(h, host, ['http/1.1'], None)\n"                      \
  "    firsts = []\n"                                                         \
  "    for c in chunks:\n"                                                    \
  "        n = net.send(h, c, None)\n"                                        \
  "        firsts.append(n)\n"                                                \
  "        while n < len(c):\n"                                               \
  "            n += net.send(h, c[n:], None)\n"                               \
  "    net.shutdown(h, 2)\n"                                                  \
  "    while net.recv(h, 65536, None):\n"                                     \
  "        pass\n"                                                            \
  "    net.close(h)\n"                                                        \
  "    return firsts\n"                                                       \
  "def split(data, k):\n"                                                     \
  "    return [data[i:i + k] for i in range(0, len(data), k)]\n"

static eryx_result *runs(sec_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static eryx_result *runs(sec_ctx *c, const char *fmt, ...) {
  char code[16384];
  int n = snprintf(code, sizeof code, PRELUDE, c->ph[0], c->ph[1]);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(code + n, sizeof code - (size_t)n, fmt, ap);
  va_end(ap);
  eryx_result *r = run(c->sb, code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  CHECK_MSG(c->rc == 0, "eryx__net_table_set_secrets: %s", c->msg);
  return r;
}

static const char *json(const eryx_result *r) { return r ? eryx_result_json(r, NULL) : NULL; }

#define NEED_SANDBOX(c)                                                       \
  sec_ctx c;                                                                  \
  eryx_callback cb_;                                                          \
  eryx_net_options net_;                                                      \
  eryx_str root_;                                                             \
  if (!servers()) {                                                           \
    CHECK_MSG(0, "cannot start the test servers (openssl command?)");         \
    return;                                                                   \
  }                                                                           \
  if (!secret_sandbox(&c, &cb_, &net_, &root_) || !c.secrets) {               \
    secret_sandbox_free(&c);                                                  \
    return;                                                                   \
  }

/* --------------------------------------------------------------- tests */

static void abi_refuses_bad_input(void) {
  char msg[256];
  eryx_str bad_pat[1] = {S("a b")};
  eryx_net_secret_spec s1 = {S("A"), S("v"), bad_pat, 1};
  CHECK(!eryx__net_secrets_new(&s1, 1, msg, sizeof msg));
  CHECK_CONTAINS(msg, "secret 'A': allowed_hosts[0] 'a b'");
  eryx_net_secret_spec s2 = {S("A"), S("line\r\nX-Evil: 1"), NULL, 0};
  CHECK(!eryx__net_secrets_new(&s2, 1, msg, sizeof msg));
  CHECK_CONTAINS(msg, "control character");
  CHECK_NOT_CONTAINS(msg, "X-Evil");
  eryx_net_secret_spec s3[2] = {{S("A"), S("v"), NULL, 0}, {S("A"), S("w"), NULL, 0}};
  CHECK(!eryx__net_secrets_new(s3, 2, msg, sizeof msg));
  CHECK_CONTAINS(msg, "given twice");
  eryx_net_secret_spec s4 = {S(""), S("v"), NULL, 0};
  CHECK(!eryx__net_secrets_new(&s4, 1, msg, sizeof msg));
  eryx_net_secret_spec s5 = {S("A"), S(""), NULL, 0};
  CHECK(!eryx__net_secrets_new(&s5, 1, msg, sizeof msg));
  CHECK(!eryx__net_secrets_new(NULL, 1, msg, sizeof msg));

  eryx_net_secrets *s = eryx__net_secrets_new(s3, 1, msg, sizeof msg);
  eryx_net_table *t = eryx__net_table_new();
  CHECK(s && t);
  eryx_str one[1] = {S("ERYX_SECRET_0123456789abcdef")};
  eryx_str two[2] = {S("ERYX_SECRET_0123456789abcdef"), S("ERYX_SECRET_0123456789abcdef0")};
  eryx_str shortp[1] = {S("short")}, spaced[1] = {S("ERYX SECRET 0123")};
  CHECK(eryx__net_table_set_secrets(t, s, two, 2, msg, sizeof msg) == -1);
  CHECK_CONTAINS(msg, "2 placeholders for 1 secrets");
  CHECK(eryx__net_table_set_secrets(t, s, shortp, 1, msg, sizeof msg) == -1);
  CHECK(eryx__net_table_set_secrets(t, s, spaced, 1, msg, sizeof msg) == -1);
  CHECK(eryx__net_table_set_secrets(t, s, NULL, 1, msg, sizeof msg) == -1);
  CHECK(eryx__net_table_set_secrets(NULL, s, one, 1, msg, sizeof msg) == -1);
  CHECK(eryx__net_table_set_secrets(t, s, one, 1, msg, sizeof msg) == 0);
  /* The table holds its own reference: the secrets may go first. */
  eryx__net_secrets_free(s);
  CHECK(eryx__net_table_set_secrets(t, NULL, NULL, 0, msg, sizeof msg) == 0);
  eryx__net_table_free(t, NULL);
  eryx__net_secrets_free(NULL);

  /* Two secrets whose placeholders overlap are refused. */
  eryx_net_secret_spec s6[2] = {{S("A"), S("v"), NULL, 0}, {S("B"), S("w"), NULL, 0}};
  eryx_net_secrets *s2x = eryx__net_secrets_new(s6, 2, msg, sizeof msg);
  t = eryx__net_table_new();
  CHECK(s2x && t);
  CHECK(eryx__net_table_set_secrets(t, s2x, two, 2, msg, sizeof msg) == -1);
  CHECK_CONTAINS(msg, "part of");
  eryx__net_table_free(t, NULL);
  eryx__net_secrets_free(s2x);
}

/* Plain HTTP to the allowed host: the value in the header only. */
static void value_in_header_at_allowed_host(void) {
  NEED_SANDBOX(c);
  eryx_result *r =
      runs(&c,
           "body = ('body=' + PH).encode()\n"
           "req = (f'POST /q?k={PH} HTTP/1.1\\r\\nHost: localhost\\r\\n'\n"
           "       f'Authorization: Bearer {PH}\\r\\nX-Other: {PH2}\\r\\n'\n"
           "       f'Content-Length: {len(body)}\\r\\n\\r\\n').encode() + body\n"
           "firsts = raw('localhost', %d, [req])\n"
           "c = http.client.HTTPConnection('localhost', %d, timeout=10)\n"
           "c.request('GET', '/p/' + PH, headers={'Authorization': 'token ' + PH})\n"
           "resp = c.getresponse()\n"
           "got = resp.read().decode()\n"
           "c.close()\n"
           "result = [firsts == [len(req)], resp.status, got, len(req)]\n",
           g_allowed->port, g_http->port);
  char want[64];
  size_t req_len = 0;
  if (json(r) && sscanf(json(r), "[true, 200, \"ok\", %zu]", &req_len) == 1) {
    snprintf(want, sizeof want, "[true, 200, \"ok\", %zu]", req_len);
    CHECK_STREQ(json(r), want);
  } else {
    CHECK_MSG(0, "got %s", or_null(json(r)));
  }
  /* The guest's bytes are counted, not the value's. */
  CHECK(r && eryx_result_net_bytes_sent(r) > req_len);
  const char *log = rec_wait(g_allowed, 1);
  char line[256];
  snprintf(line, sizeof line, "POST /q?k=%s HTTP/1.1\r\n", c.ph[0]);
  CHECK_CONTAINS(log, line);
  CHECK_CONTAINS(log, "\r\nAuthorization: Bearer " VALUE "\r\n");
  snprintf(line, sizeof line, "\r\nX-Other: %s\r\n", c.ph[1]); /* NOWHERE goes nowhere */
  CHECK_CONTAINS(log, line);
  snprintf(line, sizeof line, "\r\n\r\nbody=%s", c.ph[0]);
  CHECK_CONTAINS(log, line);
  CHECK(count(log, VALUE) == 1);
  CHECK(count(log, NOWHERE_VALUE) == 0);
  log = rec_wait(g_http, 1);
  snprintf(line, sizeof line, "GET /p/%s HTTP/1.1\r\n", c.ph[0]);
  CHECK_CONTAINS(log, line);
  CHECK_CONTAINS(log, "\r\nAuthorization: token " VALUE "\r\n");
  CHECK(count(log, VALUE) == 1);
  CHECK_NOT_CONTAINS(json(r), VALUE);
  CHECK_NOT_CONTAINS(eryx_result_stdout(r, NULL), VALUE);
  eryx_result_free(r);
  secret_sandbox_free(&c);
}

/* Another port of the same name, the allowed port by IP, and a spoofed
 * Host header: no value. */
static void never_at_other_hosts(void) {
  NEED_SANDBOX(c);
  eryx_result *r = runs(&c,
                        "def req(host):\n"
                        "    return (f'GET / HTTP/1.1\\r\\nHost: {host}\\r\\n'\n"
                        "            f'Authorization: Bearer {PH}\\r\\n\\r\\n').encode()\n"
                        "raw('localhost', %d, [req('localhost')])\n"
                        "raw('127.0.0.1', %d, [req('localhost:%d')])\n"
                        "raw('127.0.0.1', %d, [req('localhost:%d')], tls=True)\n"
                        "raw('localhost', %d, [req('localhost')])\n" /* the control */
                        "result = 1\n",
                        g_other->port, g_allowed->port, g_allowed->port, g_tls->port, g_tls->port,
                        g_allowed->port);
  CHECK_STREQ(json(r), "1");
  char hdr[128];
  snprintf(hdr, sizeof hdr, "\r\nAuthorization: Bearer %s\r\n", c.ph[0]);
  const char *log = rec_wait(g_other, 1);
  CHECK_CONTAINS(log, hdr);
  CHECK_NOT_CONTAINS(log, VALUE);
  log = rec_wait(g_allowed, 2);
  CHECK(count(log, hdr) == 1);
  CHECK(count(log, "\r\nAuthorization: Bearer " VALUE "\r\n") == 1);
  log = rec_wait(g_tls, 1);
  CHECK_CONTAINS(log, hdr);
  CHECK_NOT_CONTAINS(log, VALUE);
  eryx_result_free(r);
  secret_sandbox_free(&c);
}

/* HTTPS: through http.client and raw TLS sends of one byte each. */
static void value_over_tls(void) {
  NEED_SANDBOX(c);
  eryx_result *r =
      runs(&c,
           "ctx = ssl.create_default_context()\n"
           "c = http.client.HTTPSConnection('localhost', %d, context=ctx, timeout=10)\n"
           "c.request('POST', '/u?' + PH, body=PH, headers={'Authorization': 'Bearer ' + PH})\n"
           "resp = c.getresponse()\n"
           "got = resp.read().decode()\n"
           "c.close()\n"
           "req = f'GET / HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer {PH}\\r\\n\\r\\n'.encode()\n"
           "firsts = raw('localhost', %d, split(req, 1), tls=True)\n"
           "result = [resp.status, got, set(firsts) == {1}, len(firsts) == len(req)]\n",
           g_tls->port, g_tls->port);
  CHECK_STREQ(json(r), "[200, \"ok\", true, true]");
  const char *log = rec_wait(g_tls, 2);
  CHECK(count(log, "\r\nAuthorization: Bearer " VALUE "\r\n") == 2);
  CHECK(count(log, VALUE) == 2);
  char want[128];
  snprintf(want, sizeof want, "POST /u?%s HTTP/1.1\r\n", c.ph[0]);
  CHECK_CONTAINS(log, want);
  snprintf(want, sizeof want, "\r\n\r\n%s", c.ph[0]); /* the body */
  CHECK_CONTAINS(log, want);
  eryx_result_free(r);
  secret_sandbox_free(&c);
}

/* A head in one-byte sends, each send returning 1. */
static void head_split_into_single_bytes(void) {
  NEED_SANDBOX(c);
  eryx_result *r = runs(&c,
                        "req = f'GET /a HTTP/1.1\\r\\nAuthorization: Bearer {PH}\\r\\n\\r\\n'.encode()\n"
                        "firsts = raw('localhost', %d, split(req, 1) + split(req, 5))\n"
                        "result = [set(firsts[:len(req)]) == {1}, sum(firsts) == 2 * len(req)]\n",
                        g_allowed->port);
  CHECK_STREQ(json(r), "[true, true]");
  const char *log = rec_wait(g_allowed, 1);
  CHECK(count(log, "GET /a HTTP/1.1\r\nAuthorization: Bearer " VALUE "\r\n\r\n") == 2);
  eryx_result_free(r);
  secret_sandbox_free(&c);
}

/* Pipelined: a chunked body, a Content-Length body that looks like a head
 * (it stays a body), then a GET: three values, in the three heads. */
static void pipelined_requests(void) {
  NEED_SANDBOX(c);
  eryx_result *r =
      runs(&c,
           "fake = f'GET /fake HTTP/1.1\\r\\nAuthorization: {PH}\\r\\n\\r\\n'\n"
           "reqs = (f'POST /1 HTTP/1.1\\r\\nTransfer-Encoding: chunked\\r\\nAuthorization: {PH}\\r\\n\\r\\n'\n"
           "        f'5;ext=1\\r\\nhello\\r\\n{len(fake):x}\\r\\n{fake}\\r\\n0\\r\\nTrailer: {PH}\\r\\n\\r\\n'\n"
           "        f'POST /2 HTTP/1.1\\r\\nContent-Length: {len(fake)}\\r\\nAuthorization: {PH}\\r\\n\\r\\n{fake}'\n"
           "        f'GET /3 HTTP/1.1\\r\\nAuthorization: {PH}\\r\\n\\r\\n').encode()\n"
           "raw('localhost', %d, [reqs])\n"
           "raw('localhost', %d, split(reqs, 3))\n"
           "result = 1\n",
           g_allowed->port, g_allowed->port);
  CHECK_STREQ(json(r), "1");
  const char *log = rec_wait(g_allowed, 2);
  CHECK(count(log, "\r\nAuthorization: " VALUE "\r\n") == 6);
  char fake[128];
  snprintf(fake, sizeof fake, "GET /fake HTTP/1.1\r\nAuthorization: %s\r\n\r\n", c.ph[0]);
  CHECK(count(log, fake) == 4);
  snprintf(fake, sizeof fake, "\r\nTrailer: %s\r\n", c.ph[0]);
  CHECK(count(log, fake) == 2);
  eryx_result_free(r);
  secret_sandbox_free(&c);
}

/* What cannot be framed for certain switches the connection to
 * pass-through for good: folded header lines, HTTP/2's preface. */
static void continuation_lines_and_http2_pass_through(void) {
  NEED_SANDBOX(c);
  eryx_result *r =
      runs(&c,
           "after = f'GET /after HTTP/1.1\\r\\nAuthorization: {PH}\\r\\n\\r\\n'\n"
           "folded = (f'GET / HTTP/1.1\\r\\nX-A: a\\r\\n b\\r\\nAuthorization: {PH}\\r\\n\\r\\n' + after).encode()\n"
           "h2 = ('PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' + after).encode()\n"
           "raw('localhost', %d, [folded])\n"
           "raw('localhost', %d, split(folded, 1))\n"
           "raw('localhost', %d, [h2])\n"
           "raw('localhost', %d, split(h2, 2))\n"
           "raw('localhost', %d, [after.encode()])\n" /* the control */
           "result = [len(folded), len(h2)]\n",
           g_allowed->port, g_allowed->port, g_allowed->port, g_allowed->port, g_http->port);
  const char *log = rec_wait(g_allowed, 4);
  CHECK_NOT_CONTAINS(log, VALUE);
  char after[128];
  snprintf(after, sizeof after, "GET /after HTTP/1.1\r\nAuthorization: %s\r\n\r\n", c.ph[0]);
  CHECK(count(log, after) == 4);
  CHECK(count(log, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 2);
  size_t lf = 0, lh = 0;
  CHECK(json(r) && sscanf(json(r), "[%zu, %zu]", &lf, &lh) == 2 && strlen(log) == 2 * (lf + lh));
  CHECK(count(rec_wait(g_http, 1), "\r\nAuthorization: " VALUE "\r\n") == 1);
  eryx_result_free(r);
  secret_sandbox_free(&c);
}

/* Raw TCP that is not HTTP goes out unchanged and at once (an echo comes
 * back before the guest sends more), also HTTP/0.9-like lines. */
static void raw_tcp_unchanged(void) {
  NEED_SANDBOX(c);
  eryx_result *r = runs(&c,
                        "out = []\n"
                        "for msg in [f'HELLO {PH}\\n', f'GET /{PH}\\r\\n', f'GET / HTTP/1.1\\n{PH}',\n"
                        "            f'OPTIONS_X {PH}', f'\\x16\\x03\\x01{PH}']:\n"
                        "    h = net.connect('localhost', %d, None)\n"
                        "    net.send(h, msg.encode(), None)\n"
                        "    got = b''\n"
                        "    while len(got) < len(msg.encode()):\n"
                        "        got += net.recv(h, 100, 5000)\n"
                        "    out.append(got == msg.encode())\n"
                        "    net.close(h)\n"
                        "raw('localhost', %d, [f'GET / HTTP/1.1\\r\\nA: {PH}\\r\\n\\r\\n'.encode()])\n"
                        /* A head that never ends goes out as it is at shutdown. */
                        "raw('localhost', %d, [f'GET / HTTP/1.1\\r\\nA: {PH}\\r\\n'.encode()])\n"
                        "result = out\n",
                        g_echo->port, g_http->port, g_allowed->port);
  CHECK_STREQ(json(r), "[true, true, true, true, true]");
  const char *log = rec_wait(g_echo, 5);
  CHECK_NOT_CONTAINS(log, VALUE);
  CHECK_CONTAINS(log, c.ph[0]);
  CHECK(count(rec_wait(g_http, 1), "\r\nA: " VALUE "\r\n") == 1); /* the control */
  char partial[128];
  snprintf(partial, sizeof partial, "GET / HTTP/1.1\r\nA: %s\r\n", c.ph[0]);
  CHECK_STREQ(rec_wait(g_allowed, 1), partial);
  eryx_result_free(r);
  secret_sandbox_free(&c);
}

const test_case secrets_net_tests[] = {
    {"secret net: the C ABI refuses bad input", abi_refuses_bad_input},
    {"secret net: value in the header at the allowed host, not URL or body",
     value_in_header_at_allowed_host},
    {"secret net: never at other hosts, spoofed Host header", never_at_other_hosts},
    {"secret net: value over TLS (http.client, 1-byte sends)", value_over_tls},
    {"secret net: head split into 1-byte sends", head_split_into_single_bytes},
    {"secret net: pipelined requests (chunked, Content-Length)", pipelined_requests},
    {"secret net: continuation lines and HTTP/2 preface pass through",
     continuation_lines_and_http2_pass_through},
    {"secret net: raw TCP that is not HTTP is unchanged", raw_tcp_unchanged},
};
const size_t secrets_net_count = sizeof secrets_net_tests / sizeof secrets_net_tests[0];
