/*
 * test_callbacks.c — host callbacks awaited from sandboxed Python: sync and
 * deferred answers, JSON round trips, errors, schema checks, concurrency,
 * cancellation, limits, namespaces and introspection.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S(lit) lit, sizeof(lit) - 1

static atomic_int host_calls;
static atomic_int cancels;

static void answer_json(eryx_call *call, const char *json) {
  eryx_error *err = eryx_call_succeed(call, json, strlen(json));
  CHECK_MSG(!err, "eryx_call_succeed: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
}

/* Answers at once with the arguments it got. */
static void echo_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  atomic_fetch_add(&host_calls, 1);
  eryx_error_free(eryx_call_succeed(call, args, len));
}

static void time_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&host_calls, 1);
  answer_json(call, "{\"unix\": 1700000000}");
}

static void fail_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&host_calls, 1);
  eryx_error_free(eryx_call_fail(call, S("NotFound"), S("no such user: 42")));
}

typedef struct {
  eryx_call *call;
  char *args;
  size_t len;
  int delay_ms;
} deferred;

static void *answer_later(void *arg) {
  deferred *d = arg;
  struct timespec ts = {0, (long)d->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  eryx_error_free(eryx_call_succeed(d->call, d->args, d->len));
  free(d->args);
  free(d);
  return NULL;
}

/* Answers from another thread after 20 ms. */
static void deferred_echo_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  atomic_fetch_add(&host_calls, 1);
  deferred *d = malloc(sizeof *d);
  d->call = call;
  d->args = malloc(len + 1);
  memcpy(d->args, args, len);
  d->len = len;
  d->delay_ms = 20;
  pthread_t t;
  pthread_create(&t, NULL, answer_later, d);
  pthread_detach(t);
}

/* Never answers by itself: keeps the handle for the test to answer. */
static eryx_call *parked[256];
static atomic_int parked_count;

static void park_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&host_calls, 1);
  parked[atomic_fetch_add(&parked_count, 1)] = call;
}

static void count_cancel(void *ud, eryx_call *call) {
  (void)ud;
  CHECK(eryx_call_cancelled(call));
  atomic_fetch_add(&cancels, 1);
}

static void answer_parked(const char *json) {
  int n = atomic_exchange(&parked_count, 0);
  for (int i = 0; i < n; i++)
    eryx_error_free(eryx_call_succeed(parked[i], json, strlen(json)));
}

static const char echo_schema[] =
    "{\"type\": \"object\", \"properties\": {\"message\": {\"type\": \"string\"},"
    " \"times\": {\"type\": \"integer\"}}, \"required\": [\"message\"]}";

static eryx_callback cb(const char *name, eryx_callback_fn fn, const char *schema) {
  eryx_callback c = {0};
  c.name = name;
  c.name_len = strlen(name);
  c.description = "test callback";
  c.description_len = strlen(c.description);
  c.schema_json = schema;
  c.schema_len = schema ? strlen(schema) : 0;
  c.fn = fn;
  c.on_cancel = count_cancel;
  return c;
}

static eryx_sandbox *sandbox_with(eryx_callback *cbs, size_t n, uint32_t max_inv,
                                  uint64_t cb_timeout_ms) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = cbs;
  o.callback_count = n;
  o.max_callback_invocations = max_inv;
  o.callback_timeout_ms = cb_timeout_ms;
  return new_sandbox(&o);
}

static eryx_result *run_with(eryx_callback *cbs, size_t n, const char *code) {
  eryx_sandbox *sb = sandbox_with(cbs, n, 0, 0);
  eryx_result *r = run(sb, code);
  eryx_sandbox_free(sb);
  return r;
}

static void expect_json(eryx_result *r, const char *json) {
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), json);
  eryx_result_free(r);
}

static void sync_answer(void) {
  eryx_callback c = cb("get_time", time_fn, NULL);
  atomic_store(&host_calls, 0);
  eryx_result *r = run_with(&c, 1, "t = await get_time()\nresult = t['unix']");
  if (r)
    CHECK(eryx_result_callback_invocations(r) == 1);
  expect_json(r, "1700000000");
  CHECK(atomic_load(&host_calls) == 1);
}

static void deferred_answer_from_another_thread(void) {
  eryx_callback c = cb("echo", deferred_echo_fn, echo_schema);
  expect_json(run_with(&c, 1, "r = await echo(message='later')\nresult = r"),
              "{\"message\": \"later\"}");
}

static void json_round_trip_nested_and_unicode(void) {
  eryx_callback c = cb("echo", echo_fn, "{\"type\": \"object\"}");
  expect_json(run_with(&c, 1,
                       "data = {'text': 'h\\u00e9llo \\u6f22\\u5b57 \\U0001f40d', 'n': [1, 2.5, None,"
                       " True, {'deep': [[-3]]}], 'q': 'a\"b\\\\c\\n'}\n"
                       "back = await echo(**data)\n"
                       "result = [back == data, back['text']]"),
              "[true, \"h\xc3\xa9llo \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x90\x8d\"]");
}

static void host_errors_become_catchable_exceptions(void) {
  eryx_callback c = cb("get_user", fail_fn, NULL);
  expect_json(run_with(&c, 1,
                       "try:\n"
                       "    await get_user()\n"
                       "except CallbackError as e:\n"
                       "    result = [str(e), e.error_type, e.callback]\n"),
              "[\"no such user: 42\", \"NotFound\", \"get_user\"]");
  /* Uncaught, it ends the execution as an exception with a traceback. */
  eryx_result *r = run_with(&c, 1, "x = 1\nawait get_user()\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "CallbackError");
    CHECK(eryx_result_error_line(r) == 2);
  }
  eryx_result_free(r);
}

static void schema_violations_never_reach_the_host(void) {
  eryx_callback c = cb("echo", echo_fn, echo_schema);
  atomic_store(&host_calls, 0);
  expect_json(run_with(&c, 1,
                       "errors = []\n"
                       "for kwargs in [{}, {'message': 5}, {'message': 'x', 'bogus': 1},\n"
                       "               {'message': 'x', 'times': 1.5},\n"
                       "               {'message': 'x', 'times': True}]:\n"
                       "    try:\n"
                       "        await echo(**kwargs)\n"
                       "    except CallbackError as e:\n"
                       "        errors.append(e.error_type)\n"
                       "try:\n"
                       "    await invoke('no_such_tool')\n"
                       "except CallbackError as e:\n"
                       "    errors.append('unknown: ' + str(e))\n"
                       "try:\n"
                       "    await echo('a', 2, 3)\n"
                       "except CallbackError as e:\n"
                       "    errors.append('positional')\n"
                       "result = errors\n"),
              "[\"InvalidArguments\", \"InvalidArguments\", \"InvalidArguments\", "
              "\"InvalidArguments\", \"InvalidArguments\", \"unknown: no callback named "
              "'no_such_tool'\", \"positional\"]");
  CHECK_MSG(atomic_load(&host_calls) == 0, "host called %d times", atomic_load(&host_calls));
}

static void positional_arguments_follow_schema_order(void) {
  eryx_callback c = cb("echo", echo_fn, echo_schema);
  expect_json(run_with(&c, 1, "result = await echo('hi', 3)"),
              "{\"message\": \"hi\", \"times\": 3}");
  expect_json(run_with(&c, 1, "result = await invoke('echo', message='via invoke')"),
              "{\"message\": \"via invoke\"}");
}

/* All 100 calls must be in flight at once: the host answers none of them
 * until it holds 100 handles, so a serial implementation would hang. */
static atomic_int in_flight, peak;

static void *answer_all_when_full(void *arg) {
  (void)arg;
  struct timespec ms = {0, 1000000L};
  while (atomic_load(&parked_count) < 100)
    nanosleep(&ms, NULL);
  answer_parked("\"done\"");
  return NULL;
}

static void park_counting_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  int now = atomic_fetch_add(&in_flight, 1) + 1;
  int p = atomic_load(&peak);
  while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
    ;
  park_fn(ud, call, args, len);
}

static void hundred_calls_in_flight_at_once(void) {
  atomic_store(&in_flight, 0);
  atomic_store(&peak, 0);
  atomic_store(&parked_count, 0);
  eryx_callback c = cb("slow", park_counting_fn, NULL);
  pthread_t t;
  pthread_create(&t, NULL, answer_all_when_full, NULL);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &c;
  o.callback_count = 1;
  o.timeout_ms = 10000;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "import asyncio\n"
                           "res = await asyncio.gather(*(slow() for _ in range(100)))\n"
                           "result = [len(res), set(res) == {'done'}]\n");
  pthread_join(t, NULL);
  expect_json(r, "[100, true]");
  CHECK_MSG(atomic_load(&peak) == 100, "peak in flight: %d", atomic_load(&peak));
  eryx_sandbox_free(sb);
}

static void wait_for_timeout_cancels_the_host_call(void) {
  atomic_store(&parked_count, 0);
  atomic_store(&cancels, 0);
  eryx_callback c = cb("slow", park_fn, NULL);
  eryx_sandbox *sb = sandbox_with(&c, 1, 0, 0);
  eryx_result *r = run(sb, "import asyncio\n"
                           "try:\n"
                           "    await asyncio.wait_for(slow(), 0.05)\n"
                           "except TimeoutError:\n"
                           "    result = 'timed out'\n");
  expect_json(r, "\"timed out\"");
  CHECK_MSG(atomic_load(&cancels) == 1, "cancels: %d", atomic_load(&cancels));
  /* The host answers after the call was cancelled: dropped, no crash. */
  answer_parked("1");
  eryx_sandbox_free(sb);
}

static void task_cancel_cancels_the_host_call(void) {
  atomic_store(&parked_count, 0);
  atomic_store(&cancels, 0);
  eryx_callback c = cb("slow", park_fn, NULL);
  eryx_sandbox *sb = sandbox_with(&c, 1, 0, 0);
  expect_json(run(sb, "import asyncio\n"
                      "task = asyncio.create_task(slow())\n"
                      "await asyncio.sleep(0.01)\n"
                      "task.cancel()\n"
                      "try:\n"
                      "    await task\n"
                      "except asyncio.CancelledError:\n"
                      "    result = task.cancelled()\n"),
              "true");
  CHECK(atomic_load(&cancels) == 1);
  answer_parked("1");
  eryx_sandbox_free(sb);
}

static void taskgroup_and_asyncio_timeout(void) {
  atomic_store(&parked_count, 0);
  atomic_store(&cancels, 0);
  eryx_callback cs[] = {cb("echo", deferred_echo_fn, NULL), cb("slow", park_fn, NULL)};
  eryx_sandbox *sb = sandbox_with(cs, 2, 0, 0);
  expect_json(run(sb, "import asyncio\n"
                      "async with asyncio.TaskGroup() as tg:\n"
                      "    tasks = [tg.create_task(echo(i=i)) for i in range(5)]\n"
                      "got = [t.result()['i'] for t in tasks]\n"
                      "try:\n"
                      "    async with asyncio.timeout(0.05):\n"
                      "        await slow()\n"
                      "except TimeoutError:\n"
                      "    got.append('timeout')\n"
                      "result = got\n"),
              "[0, 1, 2, 3, 4, \"timeout\"]");
  CHECK(atomic_load(&cancels) == 1);
  answer_parked("1");
  eryx_sandbox_free(sb);
}

static void invocation_limit(void) {
  eryx_callback c = cb("echo", echo_fn, NULL);
  atomic_store(&host_calls, 0);
  eryx_sandbox *sb = sandbox_with(&c, 1, 3, 0);
  eryx_result *r = run(sb, "done = 0\n"
                           "try:\n"
                           "    for i in range(10):\n"
                           "        await echo()\n"
                           "        done += 1\n"
                           "except CallbackLimitError as e:\n"
                           "    result = [done, str(e)]\n");
  if (r)
    CHECK(eryx_result_callback_invocations(r) == 3);
  expect_json(r, "[3, \"callback invocation limit reached (3 per execution)\"]");
  CHECK(atomic_load(&host_calls) == 3);
  /* The limit is per execution. */
  expect_json(run(sb, "await echo()\nresult = 'again'"), "\"again\"");
  eryx_sandbox_free(sb);
}

static void callback_timeout(void) {
  atomic_store(&parked_count, 0);
  atomic_store(&cancels, 0);
  eryx_callback c = cb("slow", park_fn, NULL);
  eryx_sandbox *sb = sandbox_with(&c, 1, 0, 100);
  eryx_result *r = run(sb, "import time\n"
                           "t = time.monotonic()\n"
                           "try:\n"
                           "    await slow()\n"
                           "except CallbackTimeoutError as e:\n"
                           "    result = [isinstance(e, TimeoutError), e.error_type,\n"
                           "              time.monotonic() - t >= 0.1, str(e)]\n");
  expect_json(r, "[true, \"CallbackTimeout\", true, \"callback 'slow' did not answer "
                 "within 100 ms\"]");
  CHECK(atomic_load(&cancels) == 1);
  answer_parked("1");
  eryx_sandbox_free(sb);
}

static void dotted_names_are_namespaces(void) {
  eryx_callback cs[] = {cb("http.get", echo_fn, NULL), cb("http.post", echo_fn, NULL),
                        cb("db.users.find", echo_fn, NULL)};
  expect_json(run_with(cs, 3,
                       "a = await http.get(url='https://x')\n"
                       "b = await db.users.find(id=7)\n"
                       "result = [a['url'], b['id'], http.post.__name__]\n"),
              "[\"https://x\", 7, \"post\"]");
}

static void list_callbacks_describes_everything(void) {
  eryx_callback cs[] = {cb("echo", echo_fn, echo_schema), cb("get_time", time_fn, NULL)};
  expect_json(run_with(cs, 2,
                       "cbs = {c['name']: c for c in list_callbacks()}\n"
                       "result = [sorted(cbs), cbs['echo']['description'],\n"
                       "          cbs['echo']['schema']['required'], cbs['get_time']['schema']]\n"),
              "[[\"echo\", \"get_time\"], \"test callback\", [\"message\"], {}]");
}

static void answer_after_execution_ended(void) {
  atomic_store(&parked_count, 0);
  eryx_callback c = cb("slow", park_fn, NULL);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &c;
  o.callback_count = 1;
  o.timeout_ms = 150;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "await slow()");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  /* The sandbox is gone; the host answers anyway. */
  answer_parked("{\"late\": true}");
}

static void waiting_uses_no_cpu(void) {
  atomic_store(&parked_count, 0);
  eryx_callback c = cb("slow", park_fn, NULL);
  eryx_sandbox *sb = sandbox_with(&c, 1, 0, 400);
  struct timespec a, b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  eryx_result *r = run(sb, "try:\n    await slow()\nexcept CallbackTimeoutError:\n"
                           "    result = 'waited'\n");
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  expect_json(r, "\"waited\"");
  double cpu_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  CHECK_MSG(cpu_ms < 150, "a 400 ms wait used %.1f ms of CPU", cpu_ms);
  answer_parked("1");
  eryx_sandbox_free(sb);
}

static void bad_registrations_are_rejected(void) {
  const char *bad_names[] = {"", "1abc", "a..b", "a.", "has space", "da-sh"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    eryx_callback c = cb(bad_names[i], echo_fn, NULL);
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.callbacks = &c;
    o.callback_count = 1;
    eryx_sandbox *sb = NULL;
    eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !sb,
              "name '%s' accepted", bad_names[i]);
    eryx_error_free(err);
  }
  const char *bad_schemas[] = {"{", "[]", "{\"a\": }", "{\"a\": 1} x", "\"str\""};
  for (size_t i = 0; i < sizeof bad_schemas / sizeof bad_schemas[0]; i++) {
    eryx_callback c = cb("ok", echo_fn, bad_schemas[i]);
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.callbacks = &c;
    o.callback_count = 1;
    eryx_sandbox *sb = NULL;
    eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
    CHECK_MSG(err && contains(eryx_error_message(err, NULL), "schema"),
              "schema %s accepted", bad_schemas[i]);
    eryx_error_free(err);
  }
  eryx_callback clash[] = {cb("http", echo_fn, NULL), cb("http.get", echo_fn, NULL)};
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = clash;
  o.callback_count = 2;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
  CHECK(err && contains(eryx_error_message(err, NULL), "clash"));
  eryx_error_free(err);
}

static eryx_sandbox *sandbox_with_library(const char *name, const char *source,
                                          eryx_callback *cbs, size_t n,
                                          const char *stubs) {
  eryx_library lib = {0};
  lib.name = name;
  lib.name_len = strlen(name);
  lib.python_source = source;
  lib.python_source_len = source ? strlen(source) : 0;
  lib.stubs = stubs;
  lib.stubs_len = stubs ? strlen(stubs) : 0;
  lib.callbacks = cbs;
  lib.callback_count = n;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.libraries = &lib;
  o.library_count = 1;
  return new_sandbox(&o);
}

static const char weather_source[] =
    "async def forecast(city, days=1):\n"
    "    '''Weather for `city`, as a sentence.'''\n"
    "    data = await raw_forecast(city=city, days=days)\n"
    "    return f\"{data['city']}: sunny for {data['days']} day(s)\"\n";
static const char weather_stubs[] =
    "async def forecast(city: str, days: int = 1) -> str: ...\n";

static void runtime_library_is_importable(void) {
  eryx_callback c = cb("raw_forecast", echo_fn, NULL);
  eryx_sandbox *sb = sandbox_with_library("weather", weather_source, &c, 1, weather_stubs);
  expect_json(run(sb, "import weather\n"
                      "a = await weather.forecast('Oslo')\n"
                      "b = await invoke('weather.raw_forecast', city='Rome', days=2)\n"
                      "names = [c['name'] for c in list_callbacks()]\n"
                      "result = [a, b['city'], names, 'raw_forecast' in globals()]\n"),
              "[\"Oslo: sunny for 1 day(s)\", \"Rome\", [\"weather.raw_forecast\"], false]");
  size_t len;
  const char *stubs = eryx_sandbox_library_stubs(sb, &len);
  CHECK_STREQ(stubs, "# module weather\n"
                     "async def forecast(city: str, days: int = 1) -> str: ...\n");
  CHECK(len == strlen(stubs));
  eryx_sandbox_free(sb);

  /* Without source, the module simply holds the callbacks. */
  sb = sandbox_with_library("tools", NULL, &c, 1, NULL);
  expect_json(run(sb, "from tools import raw_forecast\n"
                      "result = (await raw_forecast(city='Lima'))['city']"),
              "\"Lima\"");
  eryx_sandbox_free(sb);
}

static void broken_libraries_are_reported(void) {
  eryx_callback c = cb("raw", echo_fn, NULL);
  eryx_sandbox *sb = sandbox_with_library("json", "", &c, 1, NULL);
  eryx_result *r = run(sb, "result = 1");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  if (r)
    CHECK_CONTAINS(eryx_result_error_message(r, NULL), "shadow");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  sb = sandbox_with_library("broken", "def f(:\n", &c, 1, NULL);
  r = run(sb, "result = 1");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "SyntaxError");
    CHECK_CONTAINS(eryx_result_traceback(r, NULL), "<library broken>");
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

const test_case callbacks_tests[] = {
    {"runtime_library_is_importable", runtime_library_is_importable},
    {"broken_libraries_are_reported", broken_libraries_are_reported},
    {"sync_answer", sync_answer},
    {"deferred_answer_from_another_thread", deferred_answer_from_another_thread},
    {"json_round_trip_nested_and_unicode", json_round_trip_nested_and_unicode},
    {"host_errors_become_catchable_exceptions", host_errors_become_catchable_exceptions},
    {"schema_violations_never_reach_the_host", schema_violations_never_reach_the_host},
    {"positional_arguments_follow_schema_order", positional_arguments_follow_schema_order},
    {"hundred_calls_in_flight_at_once", hundred_calls_in_flight_at_once},
    {"wait_for_timeout_cancels_the_host_call", wait_for_timeout_cancels_the_host_call},
    {"task_cancel_cancels_the_host_call", task_cancel_cancels_the_host_call},
    {"taskgroup_and_asyncio_timeout", taskgroup_and_asyncio_timeout},
    {"invocation_limit", invocation_limit},
    {"callback_timeout", callback_timeout},
    {"dotted_names_are_namespaces", dotted_names_are_namespaces},
    {"list_callbacks_describes_everything", list_callbacks_describes_everything},
    {"answer_after_execution_ended", answer_after_execution_ended},
    {"waiting_uses_no_cpu", waiting_uses_no_cpu},
    {"bad_registrations_are_rejected", bad_registrations_are_rejected},
};
const size_t callbacks_count = sizeof callbacks_tests / sizeof callbacks_tests[0];
