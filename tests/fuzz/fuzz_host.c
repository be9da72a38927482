/*
 * fuzz_host.c — a bounded-time fuzzer of the trust boundary.
 *
 *   fuzz_host SECONDS CORPUS_DIR GUEST_SCRIPT
 *
 * Two halves, alternating until SECONDS pass:
 *  - the host imports, from inside: guest_fuzz.py (run in a sandbox with a
 *    callback, a file tree, a network policy and a secret) calls every
 *    import directly with junk made from a seed and the corpus, and sends
 *    junk HTTP to a loopback sink the secret may go to (the host's header
 *    rewriter parses it);
 *  - the C API's entry points that take bytes from outside (junk as
 *    package archives and volume paths too): session
 *    restore, file-tree import, callback schemas, replay journals and
 *    code, fed mutated corpus entries and random bytes.
 * Each round checks what must always hold: the host does not crash, every
 * answer is an OK result or a clean error, the process's RSS stays under a
 * bound, and the sandbox works afterwards. Any violation prints what and
 * exits 1; the last line is the plain "N passed, N failed" summary.
 * Deterministic per round (seeds 1, 2, ...), so a failure names its seed.
 */
#include "harness.h" /* rss_bytes, serve_loopback */
#include "internal.h" /* eryx__tree_remove */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CORPUS 64
#define RSS_BOUND ((uint64_t)1536 << 20) /* far above a healthy run's ~300 MiB */

static char *corpus[MAX_CORPUS];
static size_t corpus_len[MAX_CORPUS];
static size_t ncorpus;
static int passed, failed;
static int rounds_whole, rounds_trapped, rounds_deadline; /* how guest rounds ended */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void verdict(int ok, unsigned seed, const char *what, const char *detail) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  printf("FAIL seed %u: %s: %s\n", seed, what, detail ? detail : "");
}

/* xorshift: the C half's own deterministic junk. */
static uint64_t rng_state;
static uint64_t next_u64(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A corpus entry, possibly mutated, or random bytes; caller frees. */
static char *junk_bytes(size_t *len) {
  size_t n;
  char *out;
  if (ncorpus && next_u64() % 3) {
    size_t i = next_u64() % ncorpus;
    n = corpus_len[i];
    out = malloc(n + 1);
    memcpy(out, corpus[i], n);
    for (size_t k = next_u64() % 4; k > 0 && n; k--)
      out[next_u64() % n] = (char)(next_u64() & 0xFF);
    if (n && next_u64() % 4 == 0)
      n = next_u64() % n;
  } else {
    n = next_u64() % 512;
    out = malloc(n + 1);
    for (size_t k = 0; k < n; k++)
      out[k] = (char)(next_u64() & 0xFF);
  }
  out[n] = '\0';
  *len = n;
  return out;
}

/* A loopback sink: accepts connections and reads until they close, so the
 * guest's junk HTTP reaches the host's secret rewriter (which only runs on
 * open connections to an allowed target). */
static int sink_port;

static void sink_conn(int fd, void *arg) {
  (void)arg;
  char buf[65536];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

static int start_sink(void) { return serve_loopback(64, sink_conn, NULL, &sink_port) < 0 ? -1 : 0; }

static void echo_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  eryx_error_free(eryx_call_succeed(call, args, len));
}

/* A guest round's deadline. Some seeds make the script itself spin (junk
 * answers that it retries on, raising and catching as it goes); it then
 * ends at this deadline, which is a correct end as long as it comes on
 * time: the host must never run past a deadline. */
#define GUEST_TIMEOUT_MS 10000
#define DEADLINE_SLACK_S 5.0

/* The guest half: one execution of guest_fuzz.py with this seed. */
static void guest_round(eryx_runtime *rt, const char *script, size_t script_len,
                        unsigned seed) {
  eryx_vfs *vfs = NULL;
  eryx_error *err = eryx_vfs_new(1 << 20, &vfs);
  eryx_callback cb = {0};
  cb.name = "echo";
  cb.name_len = 4;
  cb.schema_json = "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}}}";
  cb.schema_len = strlen(cb.schema_json);
  cb.fn = echo_fn;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  o.vfs = vfs;
  o.timeout_ms = GUEST_TIMEOUT_MS;
  o.max_output_bytes = 256 << 10;
  /* Networking on, allowing one loopback port where nothing listens and
   * the sink, with a secret for the sink: junk reaches the policy, the
   * resolver, the connection table and the HTTP header rewriter. */
  char sink[32];
  snprintf(sink, sizeof sink, "127.0.0.1:%d", sink_port);
  eryx_str allowed[] = {{"127.0.0.1:9", 11}, {sink, strlen(sink)}};
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  net.allowed_hosts = allowed;
  net.allowed_hosts_count = 2;
  eryx_secret secret = ERYX_SECRET_INIT;
  secret.name = "TOKEN";
  secret.name_len = 5;
  secret.value = "fuzz-secret-value";
  secret.value_len = 17;
  secret.allowed_hosts = &allowed[1];
  secret.allowed_hosts_count = 1;
  o.secrets = &secret;
  o.secret_count = 1;
  net.allow_localhost = 1;
  net.connect_timeout_ms = 200;
  net.io_timeout_ms = 200;
  o.network = &net;
  eryx_sandbox *sb = NULL;
  if (!err)
    err = eryx_sandbox_new(rt, &o, &sb);
  verdict(!err, seed, "sandbox_new", err ? eryx_error_message(err, NULL) : NULL);
  eryx_error_free(err);
  if (!sb) {
    eryx_vfs_free(vfs);
    return;
  }
  /* SEED, ROUNDS and CORPUS, then the script. */
  size_t cap = script_len + 4096;
  for (size_t i = 0; i < ncorpus; i++)
    cap += corpus_len[i] * 6 + 8;
  char *code = malloc(cap);
  size_t n = (size_t)snprintf(code, cap, "SEED = %u\nROUNDS = 400\nSINK_PORT = %d\nCORPUS = [",
                              seed, sink_port);
  for (size_t i = 0; i < ncorpus; i++) {
    n += (size_t)snprintf(code + n, cap - n, "bytes.fromhex('");
    for (size_t k = 0; k < corpus_len[i]; k++)
      n += (size_t)snprintf(code + n, cap - n, "%02x", (unsigned char)corpus[i][k]);
    n += (size_t)snprintf(code + n, cap - n, "').decode('utf-8', 'replace'), ");
  }
  n += (size_t)snprintf(code + n, cap - n, "]\n");
  memcpy(code + n, script, script_len);
  n += script_len;

  eryx_result *r = NULL;
  double started = now_s();
  err = eryx_sandbox_execute(sb, code, n, &r);
  double took = now_s() - started;
  free(code);
  verdict(!err, seed, "execute", err ? eryx_error_message(err, NULL) : NULL);
  eryx_error_free(err);
  if (r) {
    eryx_status st = eryx_result_status(r);
    const char *type = eryx_result_error_type(r, NULL);
    /* OK with the counts, the guest trapped itself cleanly, or it was
     * stopped at its deadline, on time. */
    int on_time = st == ERYX_STATUS_LIMIT && !strcmp(type, "TimeoutError") &&
                  took < GUEST_TIMEOUT_MS / 1000.0 + DEADLINE_SLACK_S;
    int ok = (st == ERYX_STATUS_OK && eryx_result_json(r, NULL)) ||
             (st == ERYX_STATUS_INTERNAL && !strcmp(type, "Trap")) || on_time;
    char detail[900];
    size_t tl = 0;
    const char *tb = eryx_result_traceback(r, &tl);
    snprintf(detail, sizeof detail, "status %s %s: %.200s%s%.500s", eryx_status_name(st), type,
             eryx_result_error_message(r, NULL), tl ? "\n" : "",
             tl > 500 ? tb + tl - 500 : tb);
    verdict(ok, seed, "guest round", detail);
    if (on_time) {
      rounds_deadline++;
      printf("seed %u ended at its deadline, after %.1f s\n", seed, took);
    } else if (st == ERYX_STATUS_OK) {
      rounds_whole++;
      /* The HTTP path really ran (its connects to the sink succeed). */
      verdict(strstr(eryx_result_json(r, NULL), "\"http:ok\"") != NULL, seed,
              "junk HTTP reached the sink", eryx_result_json(r, NULL));
      /* So did the WASI filesystem calls on the mount. */
      verdict(strstr(eryx_result_json(r, NULL), "\"wasi-fs:") != NULL, seed,
              "junk WASI file calls ran", eryx_result_json(r, NULL));
    }
    else if (rounds_trapped++ < 3) { /* the cause is at the end of a trap's text */
      size_t n;
      const char *m = eryx_result_error_message(r, &n);
      printf("seed %u trapped: ...%s\n", seed, n > 160 ? m + n - 160 : m);
    }
    eryx_result_free(r);
  }
  /* The sandbox still works. */
  r = NULL;
  err = eryx_sandbox_execute(sb, "result = 6 * 7", 14, &r);
  verdict(!err && r && eryx_result_json(r, NULL) &&
              !strcmp(eryx_result_json(r, NULL), "42"),
          seed, "execute after the round", NULL);
  eryx_error_free(err);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_vfs_free(vfs);
}

/* The C half: entry points that take bytes from outside. */
/* A scratch directory for junk archives and the package cache. */
static char g_scratch[256];

static void api_round(eryx_runtime *rt, unsigned seed) {
  rng_state = 0x9E3779B97F4A7C15ull ^ seed;
  eryx_session *s = NULL;
  eryx_vfs *vfs = NULL;
  eryx_error *err = eryx_vfs_new(1 << 20, &vfs);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = vfs;
  if (!err)
    err = eryx_session_new(rt, &o, &s);
  verdict(!err, seed, "session_new", err ? eryx_error_message(err, NULL) : NULL);
  eryx_error_free(err);
  if (!s) {
    eryx_vfs_free(vfs);
    return;
  }
  eryx_result *r = NULL;
  eryx_error_free(eryx_session_execute(s, "x = 41", 6, &r));
  eryx_result_free(r);
  for (int i = 0; i < 20; i++) {
    size_t len;
    char *junk = junk_bytes(&len);
    switch (next_u64() % 7) {
    case 0: /* a bad snapshot leaves the session as it was */
      eryx_error_free(eryx_session_restore_state(s, (const uint8_t *)junk, len));
      break;
    case 1:
      eryx_error_free(eryx_vfs_import(vfs, (const uint8_t *)junk, len));
      break;
    case 2: { /* a schema: accepted or refused, never a crash */
      eryx_callback cb = {0};
      cb.name = "echo";
      cb.name_len = 4;
      cb.schema_json = junk;
      cb.schema_len = len;
      cb.fn = echo_fn;
      eryx_sandbox_options so = ERYX_SANDBOX_OPTIONS_INIT;
      so.callbacks = &cb;
      so.callback_count = 1;
      eryx_sandbox *sb = NULL;
      eryx_error_free(eryx_sandbox_new(rt, &so, &sb));
      eryx_sandbox_free(sb);
      break;
    }
    case 3: /* junk bytes as a package archive: refused or used, never more */
    case 4: {
      static const char *const names[] = {"junk-1.0-py3-none-any.whl", "junk-1.0.tar.gz",
                                          "junk.tgz"};
      char path[512];
      snprintf(path, sizeof path, "%s/%s", g_scratch, names[next_u64() % 3]);
      FILE *f = fopen(path, "wb");
      if (f) {
        fwrite(junk, 1, len, f);
        fclose(f);
      }
      eryx_str pkg = {path, strlen(path)};
      eryx_sandbox_options so = ERYX_SANDBOX_OPTIONS_INIT;
      so.packages = &pkg;
      so.package_count = 1;
      so.max_package_bytes = 1 << 20;
      eryx_sandbox *sb = NULL;
      eryx_error_free(eryx_sandbox_new(rt, &so, &sb));
      eryx_sandbox_free(sb);
      remove(path);
      break;
    }
    case 5: { /* junk as a volume's guest path */
      eryx_volume v = ERYX_VOLUME_INIT;
      v.host_path = g_scratch;
      v.host_path_len = strlen(g_scratch);
      v.guest_path = junk;
      v.guest_path_len = len;
      eryx_sandbox_options so = ERYX_SANDBOX_OPTIONS_INIT;
      so.volumes = &v;
      so.volume_count = 1;
      eryx_sandbox *sb = NULL;
      eryx_error_free(eryx_sandbox_new(rt, &so, &sb));
      eryx_sandbox_free(sb);
      break;
    }
    case 6: { /* junk as a replay journal: refused before any code runs, or
               * replayed; with a key, refused unless signed */
      eryx_callback cb = {0};
      cb.name = "echo";
      cb.name_len = 4;
      cb.fn = echo_fn;
      eryx_sandbox_options so = ERYX_SANDBOX_OPTIONS_INIT;
      so.callbacks = &cb;
      so.callback_count = 1;
      eryx_journal_options jo = ERYX_JOURNAL_OPTIONS_INIT;
      jo.journal = junk;
      jo.journal_len = len;
      if (next_u64() % 2) {
        jo.key = (const uint8_t *)"fuzz";
        jo.key_len = 4;
      }
      static const char code[] = "import asyncio\n"
                                 "try:\n"
                                 "    await asyncio.gather(echo(a=1), echo(a=2), echo(a=1))\n"
                                 "except CallbackError:\n"
                                 "    pass\n";
      eryx_sandbox *sb = NULL;
      eryx_error_free(eryx_sandbox_new(rt, &so, &sb));
      r = NULL;
      if (sb)
        eryx_error_free(eryx_sandbox_execute_journal(sb, code, sizeof code - 1, &jo, &r));
      eryx_result_free(r);
      eryx_sandbox_free(sb);
      r = NULL;
      eryx_error_free(eryx_session_execute_journal(s, "x = 41", 6, &jo, &r));
      eryx_result_free(r);
      break;
    }
    default: /* code: any bytes, UTF-8 or not */
      r = NULL;
      eryx_error_free(eryx_session_execute(s, junk, len, &r));
      eryx_result_free(r);
      eryx_error_free(eryx_session_execute(s, "x = 41", 6, &r));
      eryx_result_free(r);
      break;
    }
    free(junk);
  }
  r = NULL;
  err = eryx_session_execute(s, "result = x + 1", 14, &r);
  verdict(!err && r && eryx_result_json(r, NULL) && !strcmp(eryx_result_json(r, NULL), "42"),
          seed, "session state after junk", r ? eryx_result_error_message(r, NULL) : NULL);
  eryx_error_free(err);
  eryx_result_free(r);
  eryx_session_free(s);
  eryx_vfs_free(vfs);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fuzz_host SECONDS CORPUS_DIR GUEST_SCRIPT\n");
    return 2;
  }
  double budget = atof(argv[1]);
  DIR *d = opendir(argv[2]);
  for (struct dirent *e; d && (e = readdir(d)) && ncorpus < MAX_CORPUS;) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[2], e->d_name);
    if ((corpus[ncorpus] = read_file(path, &corpus_len[ncorpus])))
      ncorpus++;
  }
  if (d)
    closedir(d);
  size_t script_len = 0;
  char *script = read_file(argv[3], &script_len);
  snprintf(g_scratch, sizeof g_scratch, "/tmp/eryx-fuzz-XXXXXX");
  if (!mkdtemp(g_scratch)) {
    fprintf(stderr, "fuzz_host: no scratch directory\n");
    return 1;
  }
  char cache[300];
  snprintf(cache, sizeof cache, "%s/cache", g_scratch);
  setenv("ERYX_CACHE_DIR", cache, 1); /* junk packages stay out of the user's cache */
  if (start_sink()) {
    fprintf(stderr, "fuzz_host: cannot start the loopback sink\n");
    printf("0 passed, 1 failed\n");
    return 1;
  }
  eryx_runtime *rt = NULL;
  eryx_error *err = script && ncorpus ? eryx_runtime_new(NULL, &rt) : NULL;
  if (!script || !ncorpus || err) {
    fprintf(stderr, "fuzz_host: cannot start (%s)\n",
            err ? eryx_error_message(err, NULL) : "script or corpus missing");
    eryx_error_free(err);
    printf("0 passed, 1 failed\n");
    return 1;
  }
  double start = now_s();
  /* ERYX_FUZZ_FIRST_SEED=N starts at seed N (to replay a failure quickly). */
  const char *first = getenv("ERYX_FUZZ_FIRST_SEED");
  unsigned seed = first && atoi(first) > 0 ? (unsigned)atoi(first) - 1 : 0;
  uint64_t peak = 0;
  while (now_s() - start < budget) {
    seed++;
    guest_round(rt, script, script_len, seed);
    api_round(rt, seed);
    uint64_t rss = rss_bytes();
    if (rss > peak)
      peak = rss;
    verdict(rss < RSS_BOUND, seed, "host RSS bound", NULL);
  }
  printf("fuzz_host: %u rounds in %.1f s (guest rounds: %d whole, %d ended by a clean trap, "
         "%d at their deadline), peak RSS %llu MiB, corpus %zu entries\n",
         seed, now_s() - start, rounds_whole, rounds_trapped, rounds_deadline,
         (unsigned long long)(peak >> 20), ncorpus);
  /* A fuzzer whose rounds all trap at once would test nothing. */
  verdict(rounds_whole > 0, seed, "some guest rounds ran whole", NULL);
  /* Junk archives were refused whole: no staging directory is left. */
  char staging[400];
  snprintf(staging, sizeof staging, "ls -d %s/packages/v1/.tmp-* >/dev/null 2>&1", cache);
  verdict(system(staging) != 0, seed, "no half-unpacked package left in the cache", NULL);
  eryx__tree_remove(g_scratch);
  eryx_runtime_free(rt);
  free(script);
  for (size_t i = 0; i < ncorpus; i++)
    free(corpus[i]);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
