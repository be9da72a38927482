/*
 * test_volumes.c — host directories and files mounted on purpose
 * (eryx_sandbox_options.volumes): read-only refusing writes, writable
 * persisting to the host, no way out through "..", symbolic links (a link
 * to /etc inside a volume) or an absolute path, single files alone, and the
 * guest paths that may not be used.
 */
#include "harness.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static eryx_sandbox *with_volumes(const eryx_volume *v, size_t n, eryx_error **err) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.volumes = v;
  o.volume_count = n;
  eryx_sandbox *sb = NULL;
  *err = eryx_sandbox_new(g_rt, &o, &sb);
  return sb;
}

static eryx_volume volume(const char *host, const char *guest, int writable) {
  eryx_volume v = ERYX_VOLUME_INIT;
  v.host_path = host;
  v.host_path_len = strlen(host);
  v.guest_path = guest;
  v.guest_path_len = strlen(guest);
  v.writable = writable;
  return v;
}

static const char *result_of(eryx_sandbox *sb, const char *code) {
  static char buf[1024];
  eryx_result *r = run(sb, code);
  const char *j = r ? eryx_result_json(r, NULL) : NULL;
  snprintf(buf, sizeof buf, "%s", j ? j : describe(r));
  eryx_result_free(r);
  return buf;
}

static void test_volumes_read_only_and_writable(void) {
  char *d = make_temp_dir();
  if (!d)
    return;
  write_file_at(d, "in/hello.txt", "hello from the host\n");
  write_file_at(d, "out/keep.txt", "old\n");
  char in[512], out_dir[512];
  snprintf(in, sizeof in, "%s/in", d);
  snprintf(out_dir, sizeof out_dir, "%s/out", d);
  eryx_volume v[] = {volume(in, "/mnt/in", 0), volume(out_dir, "/mnt/out", 1)};
  eryx_error *err;
  eryx_sandbox *sb = with_volumes(v, 2, &err);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  if (sb) {
    CHECK_STREQ(result_of(sb, "import os\n"
                              "text = open('/mnt/in/hello.txt').read()\n"
                              "refused = []\n"
                              "for f in (lambda: open('/mnt/in/hello.txt', 'a'),\n"
                              "          lambda: open('/mnt/in/new.txt', 'w'),\n"
                              "          lambda: os.remove('/mnt/in/hello.txt'),\n"
                              "          lambda: os.mkdir('/mnt/in/d')):\n"
                              "    try:\n"
                              "        f(); refused.append(False)\n"
                              "    except OSError:\n"
                              "        refused.append(True)\n"
                              "with open('/mnt/out/result.txt', 'w') as f:\n"
                              "    f.write('written in the sandbox')\n"
                              "os.mkdir('/mnt/out/sub')\n"
                              "result = [text, refused, sorted(os.listdir('/mnt/out'))]\n"),
                "[\"hello from the host\\n\", [true, true, true, true], "
                "[\"keep.txt\", \"result.txt\", \"sub\"]]");
    eryx_sandbox_free(sb);
  }
  char path[600];
  snprintf(path, sizeof path, "%s/out/result.txt", d);
  size_t len;
  char *text = read_file(path, &len);
  CHECK_STREQ(text, "written in the sandbox");
  free(text);
  snprintf(path, sizeof path, "%s/in/new.txt", d);
  CHECK(access(path, F_OK) != 0);
  eryx__tree_remove(d);
  free(d);
}

static void test_volumes_no_way_out(void) {
  char *d = make_temp_dir();
  if (!d)
    return;
  write_file_at(d, "vol/inside.txt", "in\n");
  write_file_at(d, "secret.txt", "outside the volume\n");
  char vol[512], link_path[600];
  snprintf(vol, sizeof vol, "%s/vol", d);
  snprintf(link_path, sizeof link_path, "%s/vol/etc", d);
  CHECK(symlink("/etc", link_path) == 0);
  snprintf(link_path, sizeof link_path, "%s/vol/up", d);
  CHECK(symlink("../secret.txt", link_path) == 0);
  snprintf(link_path, sizeof link_path, "%s/vol/ok", d);
  CHECK(symlink("inside.txt", link_path) == 0);
  eryx_volume v[] = {volume(vol, "/mnt/vol", 1)};
  eryx_error *err;
  eryx_sandbox *sb = with_volumes(v, 1, &err);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  if (sb) {
    CHECK_STREQ(result_of(sb, "import os\n"
                              "out = []\n"
                              "for p in ('/mnt/vol/etc/passwd', '/mnt/vol/up',\n"
                              "          '/mnt/vol/../secret.txt', '/mnt/vol/../../etc/passwd'):\n"
                              "    try:\n"
                              "        open(p).read(); out.append('read')\n"
                              "    except OSError:\n"
                              "        out.append('refused')\n"
                              "try:\n"
                              "    os.symlink('/etc/passwd', '/mnt/vol/new')\n"
                              "    open('/mnt/vol/new').read(); out.append('read')\n"
                              "except OSError:\n"
                              "    out.append('refused')\n"
                              "out.append(open('/mnt/vol/ok').read())\n"
                              "result = out\n"),
                "[\"refused\", \"refused\", \"refused\", \"refused\", \"refused\", \"in\\n\"]");
    eryx_sandbox_free(sb);
  }
  eryx__tree_remove(d);
  free(d);
}

static void test_volumes_single_file(void) {
  test_cache tc;
  char *d = make_temp_dir();
  if (!d || !test_cache_begin(&tc)) {
    free(d);
    test_cache_end(&tc);
    return;
  }
  write_file_at(d, "config.json", "{\"debug\": true}");
  write_file_at(d, "neighbour.txt", "not mounted\n");
  char file[512];
  snprintf(file, sizeof file, "%s/config.json", d);
  eryx_volume v[] = {volume(file, "/etc/app/config.json", 0)};
  eryx_error *err;
  eryx_sandbox *sb = with_volumes(v, 1, &err);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  if (sb) {
    CHECK_STREQ(result_of(sb, "import json, os\n"
                              "try:\n"
                              "    open('/etc/app/config.json', 'w')\n"
                              "    w = 'written'\n"
                              "except OSError:\n"
                              "    w = 'refused'\n"
                              "result = [json.load(open('/etc/app/config.json')),\n"
                              "          os.listdir('/etc/app'), w]\n"),
                "[{\"debug\": true}, [\"config.json\"], \"refused\"]");
    eryx_sandbox_free(sb);
  }
  /* Its private directory went with the sandbox. */
  char cmd[700];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/volumes 2>/dev/null)\"", tc.dir);
  CHECK_MSG(system(cmd) == 0, "a file volume's directory was left in %s/volumes", tc.dir);
  /* Writable single files are refused, saying what to do. */
  v[0].writable = 1;
  sb = with_volumes(v, 1, &err);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !sb);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "mount its directory");
  eryx_error_free(err);
  test_cache_end(&tc);
  eryx__tree_remove(d);
  free(d);
}

static void test_volumes_refused_guest_paths(void) {
  char *d = make_temp_dir();
  if (!d)
    return;
  const char *bad[] = {"/", "/python", "/python/lib", "/packages", "/packages/0", "/2",
                       "/data", "/data/x", "relative", "/a/../b", "/a/./b", "/a//b", "/a/"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    eryx_volume v[] = {volume(d, bad[i], 0)};
    eryx_error *err;
    eryx_sandbox *sb = with_volumes(v, 1, &err);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !sb,
              "guest path %s was accepted", bad[i]);
    eryx_error_free(err);
    eryx_sandbox_free(sb);
  }
  /* Overlapping volumes, a missing host path. */
  eryx_volume two[] = {volume(d, "/mnt/a", 0), volume(d, "/mnt/a/b", 0)};
  eryx_error *err;
  eryx_sandbox *sb = with_volumes(two, 2, &err);
  CHECK(err && !sb);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "another volume");
  eryx_error_free(err);
  eryx_volume missing[] = {volume("/nonexistent/dir", "/mnt/x", 0)};
  sb = with_volumes(missing, 1, &err);
  CHECK(err && !sb);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "/nonexistent/dir");
  eryx_error_free(err);
  /* A pool refuses writable volumes (they would carry files between leases). */
  eryx_volume rw[] = {volume(d, "/mnt/rw", 1)};
  eryx_sandbox_options so = ERYX_SANDBOX_OPTIONS_INIT;
  so.volumes = rw;
  so.volume_count = 1;
  eryx_pool_options po = ERYX_POOL_OPTIONS_INIT;
  po.sandbox = &so;
  eryx_pool *p = NULL;
  err = eryx_pool_new(g_rt, &po, &p);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !p);
  eryx_error_free(err);
  eryx__tree_remove(d);
  free(d);
}

const test_case volumes_tests[] = {
    {"volumes: read-only refuses writes, writable persists", test_volumes_read_only_and_writable},
    {"volumes: no way out (.., links to /etc, new links)", test_volumes_no_way_out},
    {"volumes: a single file, alone and read-only", test_volumes_single_file},
    {"volumes: guest paths that may not be used", test_volumes_refused_guest_paths},
};
const size_t volumes_count = sizeof volumes_tests / sizeof *volumes_tests;
