/*
 * test_snapshot_heap.c — the build-time snapshot's heap layout
 * (guest/eryx_guest/heap_image.py, deps/wasmtime/src/snapshot_image.rs):
 * the snapshot's objects are immortal, a sandbox's allocations come from
 * the top of the heap, one sandbox's changes to snapshot objects stay its
 * own; and the build-time pass itself, on core modules made here byte by
 * byte.
 */
#include "harness.h"
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void expect_true(const char *code) {
  eryx_result *r = run_once(code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK && eryx_result_json(r, NULL) &&
                strcmp(eryx_result_json(r, NULL), "true") == 0,
            "code: %s\nresult: %s", code, describe(r));
  eryx_result_free(r);
}

static void snapshot_objects_are_immortal_and_new_ones_are_not(void) {
  expect_true("import sys, json, re, asyncio\n"
              "snap = [json, json.dumps, json.JSONEncoder, print, len, str.join,\n"
              "        list.__dict__['append'], re.compile, asyncio.gather, sys.modules]\n"
              "class Mine: pass\n"
              "mine = [Mine, Mine(), [1, 2], {'a': 1}, 'x' * 1000, 10 ** 40]\n"
              "result = (all(sys._is_immortal(o) for o in snap)\n"
              "          and not any(sys._is_immortal(o) for o in mine)\n"
              "          and sys.getrefcount(mine[1]) < 10)\n");
}

/* Immortal snapshot objects are still mutable, and every sandbox starts
 * from the image again: what one sandbox changes, the next does not see. */
static void changes_to_snapshot_objects_stay_in_their_sandbox(void) {
  expect_true("import csv, sys\n"
              "csv.eryx_marker = 1\n"
              "del csv.reader\n"
              "sys.modules['csv'].__dict__.clear()\n"
              "result = not hasattr(csv, 'writer')\n");
  expect_true("import csv, io\n"
              "result = (not hasattr(csv, 'eryx_marker')\n"
              "          and list(csv.reader(io.StringIO('a,b'))) == [['a', 'b']])\n");
  /* A session's own objects are freed as usual (weakref callbacks run),
   * and a snapshot object dropped by every reference just stays. */
  expect_true("import weakref, gc\n"
              "class C: pass\n"
              "seen = []\n"
              "c = C(); r = weakref.ref(c, lambda _: seen.append(1))\n"
              "del c; gc.collect()\n"
              "import sys, textwrap\n"
              "del sys.modules['textwrap'], textwrap\n"
              "gc.collect()\n"
              "import textwrap\n"
              "result = seen == [1] and textwrap.dedent('  a') == 'a'\n");
}

/* The free chunks of the snapshot heap are plugged: new objects land above
 * the highest plug (the top of the heap), not in holes all over the image. */
static void allocations_come_from_the_top_of_the_heap(void) {
  expect_true("from eryx_guest import heap_image\n"
              "top = max(id(p) for p in heap_image._plugs)\n"
              "objs = [bytes(n % 200 + 2) for n in range(3000)]\n"
              "above = sum(id(o) > top for o in objs)\n"
              "result = len(heap_image._plugs) > 100 and above >= 0.95 * len(objs)\n");
}

/* ---- the build-time pass on hand-made modules ---- */

typedef struct {
  unsigned char b[4096];
  size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n) {
  if (o->n + n <= sizeof o->b) {
    memcpy(o->b + o->n, p, n);
    o->n += n;
  }
}
static void put_byte(bytes *o, unsigned v) {
  unsigned char c = (unsigned char)v;
  put(o, &c, 1);
}
static void put_uleb(bytes *o, uint32_t v) {
  do {
    unsigned c = v & 0x7f;
    v >>= 7;
    put_byte(o, c | (v ? 0x80 : 0));
  } while (v);
}
static void put_sleb(bytes *o, int32_t v) {
  for (;;) {
    unsigned c = (unsigned)v & 0x7f;
    v >>= 7;
    if ((v == 0 && !(c & 0x40)) || (v == -1 && (c & 0x40))) {
      put_byte(o, c);
      return;
    }
    put_byte(o, c | 0x80);
  }
}
static void put_u32(bytes *o, uint32_t v) {
  unsigned char w[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                        (unsigned char)(v >> 24)};
  put(o, w, 4);
}
static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A core module with one memory and the given active segments. */
typedef struct {
  uint32_t addr;
  bytes data;
} segment;

static void module(bytes *out, const segment *segs, size_t n) {
  static const unsigned char header[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  out->n = 0;
  put(out, header, sizeof header);
  put_byte(out, 5); /* memory section: one memory, min 1 page */
  put_uleb(out, 3);
  put_byte(out, 1);
  put_byte(out, 0);
  put_byte(out, 1);
  bytes sec = {.n = 0};
  put_uleb(&sec, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    put_byte(&sec, 0); /* active, memory 0 */
    put_byte(&sec, 0x41);
    put_sleb(&sec, (int32_t)segs[i].addr);
    put_byte(&sec, 0x0b);
    put_uleb(&sec, (uint32_t)segs[i].data.n);
    put(&sec, segs[i].data.b, segs[i].data.n);
  }
  put_byte(out, 11); /* data section */
  put_uleb(out, (uint32_t)sec.n);
  put(out, sec.b, sec.n);
}

static void put_marker(bytes *o) {
  put_u32(o, 0x59524531);
  put_u32(o, 0x4D4D4F52);
  put_u32(o, 0x54414C21);
  put_u32(o, 0x7E2A3F15);
}

/* Where linear address `addr` of segment `seg` is in the module. */
static size_t find(const bytes *m, const segment *seg, uint32_t addr) {
  for (size_t i = 0; i + seg->data.n <= m->n; i++)
    if (!memcmp(m->b + i, seg->data.b, seg->data.n))
      return i + (addr - seg->addr);
  return 0;
}

static void snapshot_pass_patches_listed_counts(void) {
  /* Objects at 0x200 (count 3), 0x208 (already immortal), 0x210 (count 0:
   * not an object); 0x400 is in no segment. The list is at 0x100. */
  segment segs[2] = {{.addr = 0x100}, {.addr = 0x200}};
  put_marker(&segs[0].data);
  put_u32(&segs[0].data, 4);
  put_u32(&segs[0].data, 0x200);
  put_u32(&segs[0].data, 0x208);
  put_u32(&segs[0].data, 0x210);
  put_u32(&segs[0].data, 0x400);
  uint32_t objs[] = {3, 0xAAAA, 0x60000000, 0xBBBB, 0, 0xCCCC};
  for (size_t i = 0; i < 6; i++)
    put_u32(&segs[1].data, objs[i]);
  bytes m;
  module(&m, segs, 2);
  size_t at = find(&m, &segs[1], 0x200);
  CHECK(at > 0);
  size_t patched = 99, skipped = 99;
  char msg[256] = "";
  int rc = eryx__snapshot_immortalize(m.b, m.n, &patched, &skipped, msg, sizeof msg);
  CHECK_MSG(rc == 0, "rc %d: %s", rc, msg);
  CHECK_MSG(patched == 1 && skipped == 3, "patched %zu, skipped %zu", patched, skipped);
  CHECK(get_u32(m.b + at) == (5u << 28));
  CHECK(get_u32(m.b + at + 4) == 0xAAAA);
  CHECK(get_u32(m.b + at + 8) == 0x60000000);
  CHECK(get_u32(m.b + at + 16) == 0);
}

static void snapshot_pass_leaves_modules_without_a_list(void) {
  segment seg = {.addr = 0x10};
  put_u32(&seg.data, 7);
  bytes m;
  module(&m, &seg, 1);
  bytes before = m;
  size_t patched = 9, skipped = 9;
  char msg[256] = "";
  CHECK(eryx__snapshot_immortalize(m.b, m.n, &patched, &skipped, msg, sizeof msg) == 0);
  CHECK(patched == 0 && skipped == 0);
  CHECK(m.n == before.n && !memcmp(m.b, before.b, m.n));
}

static void snapshot_pass_refuses_malformed_input(void) {
  char msg[256] = "";
  size_t patched = 0, skipped = 0;
  /* Not wasm. */
  unsigned char junk[] = "definitely not a component";
  CHECK(eryx__snapshot_immortalize(junk, sizeof junk - 1, &patched, &skipped, msg,
                                   sizeof msg) == -1);
  CHECK_CONTAINS(msg, "cannot parse");
  /* Two lists. */
  segment two[2] = {{.addr = 0x100}, {.addr = 0x300}};
  for (int i = 0; i < 2; i++) {
    put_marker(&two[i].data);
    put_u32(&two[i].data, 0);
  }
  bytes m;
  module(&m, two, 2);
  CHECK(eryx__snapshot_immortalize(m.b, m.n, &patched, &skipped, msg, sizeof msg) == -1);
  CHECK_CONTAINS(msg, "2 copies");
  /* A list longer than its segment; the bytes stay as they were. */
  segment cut[2] = {{.addr = 0x100}, {.addr = 0x200}};
  put_marker(&cut[0].data);
  put_u32(&cut[0].data, 1000);
  put_u32(&cut[0].data, 0x200);
  put_u32(&cut[1].data, 1);
  module(&m, cut, 2);
  bytes before = m;
  CHECK(eryx__snapshot_immortalize(m.b, m.n, &patched, &skipped, msg, sizeof msg) == -1);
  CHECK_CONTAINS(msg, "cut short");
  CHECK(!memcmp(m.b, before.b, m.n));
  /* A message buffer of one byte is only terminated. */
  char tiny[1] = {'x'};
  CHECK(eryx__snapshot_immortalize(junk, sizeof junk - 1, &patched, &skipped, tiny, 1) == -1);
  CHECK(tiny[0] == 0);
}

const test_case snapshot_heap_tests[] = {
    {"snapshot_objects_are_immortal_and_new_ones_are_not",
     snapshot_objects_are_immortal_and_new_ones_are_not},
    {"changes_to_snapshot_objects_stay_in_their_sandbox",
     changes_to_snapshot_objects_stay_in_their_sandbox},
    {"allocations_come_from_the_top_of_the_heap", allocations_come_from_the_top_of_the_heap},
    {"snapshot_pass_patches_listed_counts", snapshot_pass_patches_listed_counts},
    {"snapshot_pass_leaves_modules_without_a_list", snapshot_pass_leaves_modules_without_a_list},
    {"snapshot_pass_refuses_malformed_input", snapshot_pass_refuses_malformed_input},
};
const size_t snapshot_heap_count = sizeof snapshot_heap_tests / sizeof snapshot_heap_tests[0];
