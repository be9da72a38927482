/*
 * test_net.c — the host half of networking (eryx:sandbox/net), driven
 * through the raw bindings (`from wit_world.imports import net`) against
 * servers on loopback that the test starts itself: a TCP echo server, a
 * server that accepts and never answers, a TLS echo server whose CA and
 * certificate are made at run time with the `openssl` command, and a
 * listening socket whose backlog is full (connect timeouts).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- servers */

enum mode { ECHO, SILENT, TLS_ECHO };

typedef struct server {
  enum mode mode;
  int lfd;
  int port;
  SSL_CTX *ctx;
} server;

/* One connection: echo (or swallow) until the client closes. */
static void conn_main(int fd, void *p) {
  server *srv = p;
  SSL *ssl = NULL;
  char buf[16384];
  if (srv->mode == TLS_ECHO) {
    ssl = SSL_new(srv->ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) <= 0)
      goto out;
  }
  for (;;) {
    int n = ssl ? SSL_read(ssl, buf, sizeof buf) : (int)recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    if (srv->mode == SILENT)
      continue;
    for (int off = 0; off < n;) {
      int w = ssl ? SSL_write(ssl, buf + off, n - off)
                  : (int)send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
      if (w <= 0)
        goto out;
      off += w;
    }
  }
out:
  if (ssl) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
}

/* The servers live for the whole test run (threads are never joined). */
static server *start_server(enum mode mode, SSL_CTX *ctx) {
  server *s = calloc(1, sizeof *s);
  s->mode = mode;
  s->ctx = ctx;
  if ((s->lfd = serve_loopback(64, conn_main, s, &s->port)) < 0) {
    free(s);
    return NULL;
  }
  return s;
}

static server *g_echo, *g_silent, *g_tls;
static char g_dir[64];
static char *g_ca_pem, *g_other_ca_pem;
static size_t g_ca_len, g_other_ca_len;

/* A CA and a server certificate for localhost / 127.0.0.1 signed by it
 * (and a second, unrelated CA), made with the openssl command. */
static bool make_certs(void) {
  strcpy(g_dir, "/tmp/eryx-net-XXXXXX");
  if (!mkdtemp(g_dir))
    return false;
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "cd %s && "
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout ca.key -out ca.pem -subj '/CN=Eryx Test CA' -days 2 && "
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout other.key -out other.pem -subj '/CN=Other CA' -days 2 && "
           "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout srv.key -out srv.csr -subj '/O=Eryx Tests/CN=localhost' && "
           "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
           "extendedKeyUsage=serverAuth\\n' > ext && "
           "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out srv.pem -days 2 -extfile ext",
           g_dir);
  char full[2200];
  snprintf(full, sizeof full, "(%s) >/dev/null 2>&1", cmd);
  if (system(full) != 0)
    return false;
  char path[128];
  snprintf(path, sizeof path, "%s/ca.pem", g_dir);
  g_ca_pem = read_file(path, &g_ca_len);
  snprintf(path, sizeof path, "%s/other.pem", g_dir);
  g_other_ca_pem = read_file(path, &g_other_ca_len);
  return g_ca_pem && g_other_ca_pem;
}

static bool servers(void) {
  static int state; /* 0 not yet, 1 ok, 2 failed */
  if (state)
    return state == 1;
  state = 2;
  g_echo = start_server(ECHO, NULL);
  g_silent = start_server(SILENT, NULL);
  if (!g_echo || !g_silent || !make_certs())
    return false;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  char cert[128], key[128];
  snprintf(cert, sizeof cert, "%s/srv.pem", g_dir);
  snprintf(key, sizeof key, "%s/srv.key", g_dir);
  if (!ctx || SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
    return false;
  char rm[128];
  snprintf(rm, sizeof rm, "rm -rf %s", g_dir); /* everything is in memory now */
  if (system(rm) != 0)
    return false;
  g_tls = start_server(TLS_ECHO, ctx);
  if (!g_tls)
    return false;
  state = 1;
  return true;
}

#define NEED_SERVERS()                                                        \
  do {                                                                        \
    if (!servers()) {                                                         \
      CHECK_MSG(0, "cannot start the test servers (openssl command?)");       \
      return;                                                                 \
    }                                                                         \
  } while (0)

/* --------------------------------------------------------------- guest */

/* Every snippet starts with this: `call(f, *args)` gives ["ok", value] or
 * [kind, message]. */
#define PRELUDE                                                               \
  "from wit_world.imports import net\n"                                       \
  "from componentize_py_types import Err\n"                                   \
  "import time\n"                                                             \
  "def call(f, *a):\n"                                                        \
  "    try:\n"                                                                \
  "        return ['ok', f(*a)]\n"                                            \
  "    except Err as e:\n"                                                    \
  "        return [e.value.kind, e.value.message]\n"

static eryx_str S(const char *s) { return (eryx_str){s, strlen(s)}; }

/* A sandbox with networking on (`net` filled by the caller). */
static eryx_sandbox *net_sandbox(const eryx_net_options *net, uint64_t timeout_ms) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.network = net;
  o.timeout_ms = timeout_ms ? timeout_ms : 20000;
  return new_sandbox(&o);
}

/* Runs PRELUDE + code (a printf format with the ports) and returns the
 * result, which must be OK. */
static eryx_result *runf(eryx_sandbox *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static eryx_result *runf(eryx_sandbox *sb, const char *fmt, ...) {
  char code[8192];
  int n = snprintf(code, sizeof code, "%s", PRELUDE);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(code + n, sizeof code - (size_t)n, fmt, ap);
  va_end(ap);
  eryx_result *r = run(sb, code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  return r;
}

static const char *json(const eryx_result *r) { return r ? eryx_result_json(r, NULL) : NULL; }

static void check_runs_after(eryx_sandbox *sb) {
  eryx_result *r = run(sb, "result = 'again'");
  CHECK_MSG(r && str_eq(json(r), "\"again\""), "%s", describe(r));
  eryx_result_free(r);
}

/* --------------------------------------------------------------- tests */

static void networking_off(void) {
  eryx_sandbox *sb = new_sandbox(NULL);
  if (!sb)
    return;
  eryx_result *r = runf(sb, "result = [call(net.connect, 'example.com', 80, None)[0],\n"
                            "          call(net.send, 1, b'x', None)[0],\n"
                            "          call(net.recv, 1, 10, None)[0],\n"
                            "          net.wait([(1, 1)], 0)]\n");
  CHECK_STREQ(json(r), "[\"off\", \"off\", \"off\", [[1, 1]]]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void tcp_echo_and_statistics(void) {
  NEED_SERVERS();
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  eryx_result *r = runf(sb,
                        "h = net.connect('127.0.0.1', %d, None)\n"
                        "n = net.send(h, b'hello world', None)\n"
                        "got = b''\n"
                        "while len(got) < n:\n"
                        "    got += net.recv(h, 100, None)\n"
                        "peer, local = net.addresses(h)\n"
                        "net.shutdown(h, 2)\n"
                        "eof = net.recv(h, 100, None)\n"
                        "net.close(h)\n"
                        "result = [n, got.decode(), peer, local.startswith('127.0.0.1:'), eof.decode()]\n",
                        g_echo->port);
  char want[128];
  snprintf(want, sizeof want, "[11, \"hello world\", \"127.0.0.1:%d\", true, \"\"]", g_echo->port);
  CHECK_STREQ(json(r), want);
  CHECK(r && eryx_result_net_bytes_sent(r) == 11);
  CHECK(r && eryx_result_net_bytes_received(r) == 11);
  CHECK(r && eryx_result_net_connections(r) == 1);
  eryx_result_free(r);
  /* A new execution starts counting again. */
  r = runf(sb, "result = 1\n");
  CHECK(r && eryx_result_net_connections(r) == 0 && eryx_result_net_bytes_sent(r) == 0);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void tls_handshake_and_echo(void) {
  NEED_SERVERS();
  eryx_str roots[1] = {{g_ca_pem, g_ca_len}};
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  net.root_certs = roots;
  net.root_certs_count = 1;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  eryx_result *r = runf(sb,
                        "import json\n"
                        "out = []\n"
                        "for host in ['localhost', '127.0.0.1']:\n"
                        "    h = net.connect(host, %d, None)\n"
                        "    info = net.start_tls(h, host, ['http/1.1'], None)\n"
                        "    cert = json.loads(info.peer_cert_json)\n"
                        "    net.send(h, b'secret', None)\n"
                        "    got = net.recv(h, 100, None)\n"
                        "    again = call(net.start_tls, h, host, [], None)[0]\n"
                        "    out.append([info.version in ('TLSv1.2', 'TLSv1.3'), bool(info.cipher),\n"
                        "                len(info.peer_cert_der) > 100, cert['subject'],\n"
                        "                cert['subjectAltName'], cert['version'], got.decode(), again])\n"
                        "    net.close(h)\n"
                        "result = out\n",
                        g_tls->port);
  const char *one = "[true, true, true, [[[\"organizationName\", \"Eryx Tests\"]], "
                    "[[\"commonName\", \"localhost\"]]], [[\"DNS\", \"localhost\"], "
                    "[\"IP Address\", \"127.0.0.1\"]], 3, \"secret\", \"invalid\"]";
  char want[1024];
  snprintf(want, sizeof want, "[%s, %s]", one, one);
  CHECK_STREQ(json(r), want);
  CHECK(r && eryx_result_net_bytes_sent(r) == 12 && eryx_result_net_connections(r) == 2);
  eryx_result_free(r);

  /* Wrong name: the certificate is for localhost and 127.0.0.1. */
  r = runf(sb,
           "h = net.connect('localhost', %d, None)\n"
           "result = call(net.start_tls, h, 'wrong.example', [], None)\n"
           "result.append(call(net.send, h, b'x', None)[0])\n",
           g_tls->port);
  CHECK_CONTAINS(json(r), "[\"tls-verify\", \"certificate verify failed: hostname mismatch\"");
  CHECK_CONTAINS(json(r), "\"closed\"]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  /* Untrusted CA: no root_certs, or another CA. */
  eryx_str other[1] = {{g_other_ca_pem, g_other_ca_len}};
  for (int i = 0; i < 2; i++) {
    net.root_certs = i ? other : NULL;
    net.root_certs_count = i ? 1 : 0;
    sb = net_sandbox(&net, 0);
    if (!sb)
      return;
    r = runf(sb,
             "h = net.connect('localhost', %d, None)\n"
             "result = call(net.start_tls, h, 'localhost', [], None)\n",
             g_tls->port);
    CHECK_STREQ(json(r), "[\"tls-verify\", \"certificate verify failed: unable to get local "
                         "issuer certificate\"]");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
}

static void bad_policies_are_refused_at_creation(void) {
  struct {
    const char *pattern;
    int blocked;
    const char *want;
  } cases[] = {
      {"a b.com", 0, "allowed_hosts[0] 'a b.com'"},
      {"x.com:0", 1, "blocked_hosts[0] 'x.com:0'"},
      {"x.com:99999", 0, "allowed_hosts[0]"},
      {"", 0, "allowed_hosts[0]"},
      {"[::1", 1, "blocked_hosts[0]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    eryx_str p[1] = {S(cases[i].pattern)};
    eryx_net_options net = ERYX_NET_OPTIONS_INIT;
    if (cases[i].blocked) {
      net.blocked_hosts = p;
      net.blocked_hosts_count = 1;
    } else {
      net.allowed_hosts = p;
      net.allowed_hosts_count = 1;
    }
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.network = &net;
    eryx_sandbox *sb = NULL;
    eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT &&
                  contains(eryx_error_message(err, NULL), cases[i].want),
              "pattern '%s': %s", cases[i].pattern, err ? eryx_error_message(err, NULL) : "accepted");
    eryx_error_free(err);
    eryx_sandbox_free(sb);
  }
  eryx_str junk[1] = {S("not a certificate")};
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.root_certs = junk;
  net.root_certs_count = 1;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.network = &net;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "root_certs[0]");
  eryx_error_free(err);
  /* A version-2 options struct never reads `network`. */
  o.version = 2;
  err = eryx_sandbox_new(g_rt, &o, &sb);
  CHECK(!err);
  eryx_error_free(err);
  eryx_sandbox_free(sb);
}

static void blocked_and_wildcard_patterns(void) {
  NEED_SERVERS();
  eryx_str allowed[2] = {S("api.*.localhost"), S("*.svc.localhost")};
  eryx_str blocked[2] = {S("*.evil.svc.localhost"), S("bad.svc.localhost")};
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  net.allowed_hosts = allowed;
  net.allowed_hosts_count = 2;
  net.blocked_hosts = blocked;
  net.blocked_hosts_count = 2;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  eryx_result *r = runf(sb,
                        "out = []\n"
                        "for host in ['api.x.localhost', 'A.B.Svc.Localhost', 'api.x.y.localhost',\n"
                        "             'other.localhost', 'x.evil.svc.localhost', 'bad.svc.localhost',\n"
                        "             'localhost']:\n"
                        "    r = call(net.connect, host, %d, None)\n"
                        "    out.append(r[0] if r[0] == 'ok' else r[1])\n"
                        "    if r[0] == 'ok': net.close(r[1])\n"
                        "result = out\n",
                        g_echo->port);
  char want[1024];
  snprintf(want, sizeof want,
           "[\"ok\", \"ok\", \"api.x.y.localhost:%d is not in allowed_hosts\", "
           "\"other.localhost:%d is not in allowed_hosts\", "
           "\"blocked by pattern '*.evil.svc.localhost'\", \"blocked by pattern "
           "'bad.svc.localhost'\", \"ok\"]",
           g_echo->port, g_echo->port);
  CHECK_STREQ(json(r), want);
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  /* Block beats allow; an IP-literal pattern blocks the address. */
  eryx_str both[1] = {S("127.0.0.1")};
  net.allowed_hosts = both;
  net.allowed_hosts_count = 1;
  net.blocked_hosts = both;
  net.blocked_hosts_count = 1;
  sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  r = runf(sb, "result = [call(net.connect, '127.0.0.1', %d, None),\n"
               "          call(net.connect, '0x7f000001', %d, None)]\n",
           g_echo->port, g_echo->port);
  CHECK_STREQ(json(r), "[[\"denied\", \"blocked by pattern '127.0.0.1'\"], "
                       "[\"denied\", \"blocked by pattern '127.0.0.1'\"]]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

/* Every non-public address, in every spelling, is refused before any
 * connect (so at once), with networking on and an empty policy. */
static void private_addresses_refused(void) {
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  eryx_result *r = runf(
      sb, "hosts = ['localhost', 'LOCALHOST.', 'x.localhost', '127.0.0.1', '2130706433',\n"
          "         '0x7f000001', '0177.0.0.1', '127.1', '127.0.0.1.', '[::ffff:127.0.0.1]',\n"
          "         '::ffff:7f00:1', '[::1]', '::1', '[::127.0.0.1]', '64:ff9b::7f00:1',\n"
          "         '0.0.0.0', '0', '::', '169.254.169.254', '0xa9fea9fe', '[::ffff:169.254.169.254]',\n"
          "         '10.0.0.1', '012.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1',\n"
          "         '224.0.0.1', '255.255.255.255', 'fd00::1', 'fe80::1', 'ff02::1',\n"
          "         '192.0.2.1', '198.18.0.1', '2001:db8::1', '[2002:7f00:1::]', '240.0.0.1']\n"
          "out = []\n"
          "slow = []\n"
          "for h in hosts:\n"
          "    t = time.monotonic()\n"
          "    r = call(net.connect, h, 80, None)\n"
          "    if time.monotonic() - t > 0.05: slow.append(h)\n"
          "    if r[0] != 'denied': out.append([h] + r)\n"
          "lo = call(net.connect, '127.0.0.1', 80, None)\n"
          "md = call(net.connect, '169.254.169.254', 80, None)\n"
          "result = [out, slow, lo, md]\n");
  CHECK_STREQ(json(r), "[[], [], [\"denied\", \"127.0.0.1 is a loopback address; allow_localhost "
                       "is off\"], [\"denied\", \"169.254.169.254 is a link-local address, not a "
                       "public one; only an allowed_hosts entry naming this IP allows it\"]]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  /* An allowed IP literal is the one way to a private address. */
  NEED_SERVERS();
  eryx_str allowed[1] = {S("127.0.0.1")};
  net.allowed_hosts = allowed;
  net.allowed_hosts_count = 1;
  sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  r = runf(sb, "result = [call(net.connect, '127.0.0.1', %d, None)[0],\n"
               "          call(net.connect, 'localhost', %d, None)[0]]\n",
           g_echo->port, g_echo->port);
  CHECK_STREQ(json(r), "[\"ok\", \"denied\"]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void connection_cap(void) {
  NEED_SERVERS();
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  net.max_connections = 2;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  eryx_result *r = runf(sb,
                        "a = net.connect('127.0.0.1', %d, None)\n"
                        "b = net.connect('127.0.0.1', %d, None)\n"
                        "c = call(net.connect, '127.0.0.1', %d, None)\n"
                        "net.close(a)\n"
                        "d = call(net.connect, '127.0.0.1', %d, None)[0]\n"
                        "result = [c, d, a != b]\n",
                        g_echo->port, g_echo->port, g_echo->port, g_echo->port);
  CHECK_STREQ(json(r), "[[\"limit\", \"2 connections are open, the most max_connections "
                       "allows\"], \"ok\", true]");
  CHECK(r && eryx_result_net_connections(r) == 3);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void connect_timeout(void) {
  /* A listening socket that never accepts, its backlog filled first. */
  int port;
  int lfd = listen_loopback(0, &port);
  CHECK(lfd >= 0);
  if (lfd < 0)
    return;
  int fill[16];
  int nfill = 0;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (; nfill < 16; nfill++) {
    fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[nfill], (struct sockaddr *)&sa, sizeof sa);
    struct pollfd p = {fill[nfill], POLLOUT, 0};
    if (poll(&p, 1, 100) == 0) { /* this one hangs: the queue is full */
      nfill++;
      break;
    }
  }
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  net.connect_timeout_ms = 300;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (sb) {
    eryx_result *r = runf(sb,
                          "t = time.monotonic()\n"
                          "a = call(net.connect, '127.0.0.1', %d, None)\n"
                          "ta = time.monotonic() - t\n"
                          "t = time.monotonic()\n"
                          "b = call(net.connect, '127.0.0.1', %d, 100)\n"
                          "tb = time.monotonic() - t\n"
                          "c = call(net.connect, '127.0.0.1', %d, 0)[0]\n"
                          "result = [a[0], b[0], c, 0.28 < ta < 1.0, 0.09 < tb < 0.25, a[1]]\n",
                          port, port, port);
    char want[256];
    snprintf(want, sizeof want,
             "[\"timeout\", \"timeout\", \"would-block\", true, true, \"connecting to "
             "127.0.0.1:%d timed out after 300 ms\"]",
             port);
    CHECK_STREQ(json(r), want);
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
  for (int i = 0; i < nfill; i++)
    close(fill[i]);
  close(lfd);
}

typedef struct canceller {
  eryx_sandbox *sb;
  int after_ms;
  double at;
} canceller;

static void *cancel_main(void *p) {
  canceller *c = p;
  sleep_ms(c->after_ms);
  c->at = now_ms();
  eryx_sandbox_cancel(c->sb);
  return NULL;
}

static void recv_ends_on_cancel_timeout_and_io_timeout(void) {
  NEED_SERVERS();
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  net.io_timeout_ms = 200;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  /* I/O timeouts: the policy's, a shorter one, none (would-block). */
  eryx_result *r = runf(sb,
                        "h = net.connect('127.0.0.1', %d, None)\n"
                        "t = time.monotonic()\n"
                        "a = call(net.recv, h, 10, None)\n"
                        "ta = time.monotonic() - t\n"
                        "t = time.monotonic()\n"
                        "b = call(net.recv, h, 10, 50)\n"
                        "tb = time.monotonic() - t\n"
                        "c = call(net.recv, h, 10, 0)\n"
                        "d = call(net.recv, h, 10, 100000)[0]\n"
                        "result = [a, b[0], c[0], d, 0.18 < ta < 0.6, 0.04 < tb < 0.15]\n",
                        g_silent->port);
  CHECK_STREQ(json(r), "[[\"timeout\", \"recv timed out after 200 ms\"], \"timeout\", "
                       "\"would-block\", \"timeout\", true, true]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  /* Cancel and the execution's deadline end a recv that would wait 30 s. */
  net.io_timeout_ms = 0;
  sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  char code[1024];
  snprintf(code, sizeof code, PRELUDE "h = net.connect('127.0.0.1', %d, None)\nnet.recv(h, 10, None)\n",
           g_silent->port);
  canceller c = {sb, 300, 0};
  pthread_t t;
  pthread_create(&t, NULL, cancel_main, &c);
  r = run(sb, code);
  double landed = now_ms() - c.at;
  pthread_join(t, NULL);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_CANCELLED, "%s", describe(r));
  CHECK_MSG(landed < 50, "the cancel landed after %.1f ms", landed);
  fprintf(stderr, "  cancel during recv landed after %.1f ms\n", landed);
  eryx_result_free(r);
  check_runs_after(sb);
  eryx_sandbox_set_timeout_ms(sb, 400);
  double start = now_ms();
  r = run(sb, code);
  double took = now_ms() - start;
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT &&
                str_eq(eryx_result_error_type(r, NULL), "TimeoutError"),
            "%s", describe(r));
  CHECK_MSG(took >= 400 && took < 1000, "took %.1f ms", took);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void wait_for_sockets(void) {
  NEED_SERVERS();
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  eryx_result *r = runf(sb,
                        "e = net.connect('127.0.0.1', %d, None)\n"
                        "s = net.connect('127.0.0.1', %d, None)\n"
                        "w0 = net.wait([(e, 1), (s, 1)], 0)\n"
                        "w1 = net.wait([(e, 3), (s, 2)], 0)\n"
                        "net.send(e, b'ping', None)\n"
                        "t = time.monotonic()\n"
                        "w2 = net.wait([(s, 1), (e, 1)], 5 * 10**9)\n"
                        "fast = time.monotonic() - t < 1.0\n"
                        "net.recv(e, 10, None)\n"
                        "t = time.monotonic()\n"
                        "w3 = net.wait([(s, 1), (e, 1)], 100 * 10**6)\n"
                        "slept = 0.09 < time.monotonic() - t < 0.5\n"
                        "result = [w0 == [], sorted(w1) == sorted([(e, 2), (s, 2)]), w2 == [(e, 1)],\n"
                        "          fast, w3, slept]\n",
                        g_echo->port, g_silent->port);
  CHECK_STREQ(json(r), "[true, true, true, true, [], true]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

typedef struct later {
  eryx_call *call;
  int ms;
} later;

static void *answer_later(void *p) {
  later *l = p;
  sleep_ms(l->ms);
  eryx_error_free(eryx_call_succeed(l->call, "42", 2));
  free(l);
  return NULL;
}

static void answer_in_200ms(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  later *l = malloc(sizeof *l);
  l->call = call;
  l->ms = 200;
  pthread_t t;
  pthread_create(&t, NULL, answer_later, l);
  pthread_detach(t);
}

/* `wait` also returns as soon as a callback answer is waiting, with or
 * without networking (an event loop waits on both at once). */
static void wait_wakes_for_callback_answers(void) {
  NEED_SERVERS();
  eryx_callback cb = {.name = "slow", .name_len = 4, .fn = answer_in_200ms};
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  for (int on = 0; on < 2; on++) {
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.callbacks = &cb;
    o.callback_count = 1;
    o.network = on ? &net : NULL;
    eryx_sandbox *sb = new_sandbox(&o);
    if (!sb)
      return;
    eryx_result *r = runf(sb,
                          "from wit_world.imports import host\n"
                          "s = net.connect('127.0.0.1', %d, None) if %d else 7\n"
                          "cid = host.callback_start('slow', '{}')\n"
                          "t = time.monotonic()\n"
                          "w = net.wait([(s, 1)] if %d else [], 10 * 10**9)\n"
                          "took = time.monotonic() - t\n"
                          "got = host.callback_wait(0)\n"
                          "w2 = net.wait([(s, 1)], 0)\n"
                          "result = [w if %d else [], 0.15 < took < 1.5, [c.value for c in got], w2 if %d else []]\n",
                          g_silent->port, on, on, on, on);
    CHECK_MSG(str_eq(json(r), "[[], true, [\"42\"], []]"), "networking %s: %s", on ? "on" : "off",
              or_null(json(r)));
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
}

/* Junk from the guest is a clean error, never a crash or a big allocation. */
static void junk_arguments(void) {
  NEED_SERVERS();
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  eryx_result *r = runf(
      sb,
      "P = %d\n"
      "h = net.connect('127.0.0.1', P, None)\n"
      "out = [call(net.connect, '', P, None), call(net.connect, 'a\\0b', P, None),\n"
      "       call(net.connect, 'localhost', 0, None), call(net.connect, 'x' * 300, P, None),\n"
      "       call(net.connect, 'a..b', P, None), call(net.connect, '[::1', P, None),\n"
      "       call(net.connect, '1.2.3.4.5', P, None), call(net.connect, 'h\\u00e9.com', P, None),\n"
      "       call(net.send, 999, b'x', None), call(net.recv, 999, 10, None),\n"
      "       call(net.start_tls, 999, 'localhost', [], None),\n"
      "       call(net.start_tls, h, '', [], None), call(net.start_tls, h, 'localhost', [''], None),\n"
      "       call(net.start_tls, h, 'localhost', ['x' * 300], None),\n"
      "       call(net.shutdown, h, 7), call(net.shutdown, 999, 1), call(net.addresses, 999)]\n"
      "kinds = [k for k, _ in out]\n"
      "net.close(999)\n"
      "net.close(0)\n"
      "w = [net.wait([(999, 1), (h, 0)], 0), net.wait([], 0), net.wait([(h, 255)], 0)]\n"
      "net.send(h, b'0123456789', None)\n"
      "big = net.recv(h, 2**32 - 1, None)\n"
      "zero = net.recv(h, 0, None)\n"
      "empty = net.send(h, b'', None)\n"
      "net.close(h)\n"
      "after = call(net.send, h, b'x', None)[0]\n"
      "result = [kinds, w, big.decode(), zero.decode(), empty, after, out[8][1]]\n",
      g_echo->port);
  CHECK_STREQ(json(r), "[[\"invalid\", \"invalid\", \"invalid\", \"invalid\", \"invalid\", "
                       "\"invalid\", \"invalid\", \"invalid\", \"invalid\", \"invalid\", \"invalid\", "
                       "\"invalid\", \"invalid\", \"invalid\", \"invalid\", \"invalid\", \"invalid\"], "
                       "[[[999, 1]], [], [[1, 2]]], \"0123456789\", \"\", 0, \"invalid\", "
                       "\"no connection has handle 999\"]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

/* Connections belong to one execution, in a session too. */
static void connections_end_with_the_execution(void) {
  NEED_SERVERS();
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  net.max_connections = 1;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.network = &net;
  eryx_session *s = new_session(&o);
  if (!s)
    return;
  char code[1024];
  snprintf(code, sizeof code, PRELUDE "h = net.connect('127.0.0.1', %d, None)\nresult = h\n",
           g_echo->port);
  eryx_result *r = srun(s, code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  /* The handle is gone, and the cap of 1 is free again. */
  snprintf(code, sizeof code, "result = [call(net.send, h, b'x', None)[0], "
                              "call(net.connect, '127.0.0.1', %d, None)[0]]\n",
           g_echo->port);
  r = srun(s, code);
  CHECK_STREQ(json(r), "[\"invalid\", \"ok\"]");
  eryx_result_free(r);
  eryx_session_free(s);
}

/* The DNS lookup thread (deps/wasmtime/src/net/conn.rs) starts with the
 * application's asynchronous signals blocked, as liberyx's own threads do,
 * even when the executing thread has them open: a watcher reads the mask
 * of every "eryx-dns" thread it sees while the guest resolves in a loop. */
struct dns_watch {
  atomic_int stop, seen, open_sigint;
};

static void *watch_dns_threads(void *p) {
  struct dns_watch *w = p;
  while (!atomic_load(&w->stop)) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      char path[300], line[256];
      snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
      FILE *f = fopen(path, "r");
      if (!f)
        continue;
      int dns = 0, have_blocked = 0;
      unsigned long long blocked = 0, caught = 0;
      while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Name:", 5) && strstr(line, "eryx-dns"))
          dns = 1;
        if (sscanf(line, "SigBlk: %llx", &blocked) == 1)
          have_blocked = 1;
        /* A thread past the point of letting go of its signal state shows
         * empty masks and handlers (fs/proc/array.c); this process always
         * catches SIGSEGV (Wasmtime), so no handlers means no answer. */
        if (dns && have_blocked && sscanf(line, "SigCgt: %llx", &caught) == 1 && caught) {
          atomic_fetch_add(&w->seen, 1);
          if (!(blocked & (1ull << (SIGINT - 1))))
            atomic_fetch_add(&w->open_sigint, 1);
        }
      }
      fclose(f);
    }
    if (d)
      closedir(d);
  }
  return NULL;
}

static void dns_thread_blocks_signals(void) {
  NEED_SERVERS();
  /* A name that goes to the resolver (localhost never does): this
   * machine's own, allowed; whether it resolves does not matter. */
  char name[256] = "eryx-dns-test.invalid";
  if (gethostname(name, sizeof name) != 0 || !name[0] || strchr(name, '\'') ||
      !strcmp(name, "localhost"))
    snprintf(name, sizeof name, "eryx-dns-test.invalid");
  eryx_str allowed[] = {{name, strlen(name)}};
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allow_localhost = 1;
  net.allowed_hosts = allowed;
  net.allowed_hosts_count = 1;
  net.connect_timeout_ms = 200; /* also bounds a lookup */
  eryx_sandbox *sb = net_sandbox(&net, 0);
  if (!sb)
    return;
  sigset_t open_int, saved;
  sigemptyset(&open_int);
  sigaddset(&open_int, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &open_int, &saved); /* the caller lets SIGINT in */
  struct dns_watch w = {0};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, watch_dns_threads, &w) == 0);
  for (int round = 0; round < 20 && atomic_load(&w.seen) == 0; round++) {
    eryx_result *r = runf(sb,
                          "for _ in range(30):\n"
                          "    try:\n"
                          "        net.close(net.connect('%s', %d, None))\n"
                          "    except Exception:\n"
                          "        pass\n"
                          "result = 1\n",
                          name, g_echo->port);
    CHECK_STREQ(json(r), "1");
    eryx_result_free(r);
  }
  atomic_store(&w.stop, 1);
  pthread_join(t, NULL);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  int seen = atomic_load(&w.seen), open_sigint = atomic_load(&w.open_sigint);
  CHECK_MSG(seen > 0, "no eryx-dns thread was seen in 600 lookups of '%s'", name);
  CHECK_MSG(open_sigint == 0, "%d of %d eryx-dns threads had SIGINT open", open_sigint, seen);
  eryx_sandbox_free(sb);
}

const test_case net_tests[] = {
    {"net: networking off", networking_off},
    {"net: tcp echo and statistics", tcp_echo_and_statistics},
    {"net: tls handshake, echo, wrong name, untrusted CA", tls_handshake_and_echo},
    {"net: bad policies refused at creation", bad_policies_are_refused_at_creation},
    {"net: blocked and wildcard patterns", blocked_and_wildcard_patterns},
    {"net: private addresses in every spelling refused", private_addresses_refused},
    {"net: connection cap", connection_cap},
    {"net: connect timeout", connect_timeout},
    {"net: recv ends on cancel, deadline, io timeout", recv_ends_on_cancel_timeout_and_io_timeout},
    {"net: wait for sockets", wait_for_sockets},
    {"net: wait wakes for callback answers", wait_wakes_for_callback_answers},
    {"net: junk arguments", junk_arguments},
    {"net: connections end with the execution", connections_end_with_the_execution},
    {"net: the DNS thread leaves signals to the application", dns_thread_blocks_signals},
};
const size_t net_count = sizeof net_tests / sizeof net_tests[0];
