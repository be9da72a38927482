/*
 * callbacks.c — a host function that sandboxed code awaits, answered from
 * another thread (as a host hands work to its own thread pool). The
 * arguments are checked against the callback's JSON Schema on the host
 * before the function is called.
 */
#include <eryx.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
  eryx_call *call;
  char args[256];
} job;

/* On a thread of its own: answers the call, exactly once. */
static void *answer(void *arg) {
  job *j = arg;
  char json[512];
  int n = snprintf(json, sizeof json, "{\"query\": %s, \"temp_c\": 21}", j->args);
  eryx_error_free(eryx_call_succeed(j->call, json, (size_t)n)); /* consumes call */
  free(j);
  return NULL;
}

/* Called on the executing thread with a JSON object that fits the schema. */
static void get_weather(void *user_data, eryx_call *call, const char *args, size_t len) {
  (void)user_data;
  job *j = malloc(sizeof *j);
  pthread_t t;
  if (j && len < sizeof j->args) {
    memcpy(j->args, args, len);
    j->args[len] = '\0';
    j->call = call;
    if (pthread_create(&t, NULL, answer, j) == 0) {
      pthread_detach(t);
      return; /* answered later */
    }
  }
  free(j);
  eryx_error_free(eryx_call_fail(call, "HostError", 9, "cannot answer", 13));
}

int main(void) {
  static const char schema[] = "{\"type\": \"object\", \"required\": [\"city\"],"
                               " \"properties\": {\"city\": {\"type\": \"string\"}}}";
  eryx_callback cb = {0};
  cb.name = "weather.get"; /* dotted: a namespace in Python */
  cb.name_len = strlen(cb.name);
  cb.description = "Current weather of a city";
  cb.description_len = strlen(cb.description);
  cb.schema_json = schema;
  cb.schema_len = sizeof schema - 1;
  cb.fn = get_weather;
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.callbacks = &cb;
  opts.callback_count = 1;

  const char *code = "import asyncio\n"
                     "a, b = await asyncio.gather(weather.get(city='Oslo'),\n"
                     "                            weather.get('Lima'))\n"
                     "print(a['query']['city'], a['temp_c'], b['query']['city'])\n"
                     "try:\n"
                     "    await weather.get(city=7)  # the host refuses it\n"
                     "except CallbackError as e:\n"
                     "    print('refused:', e)\n";
  eryx_runtime *rt = NULL;
  eryx_sandbox *sb = NULL;
  eryx_result *r = NULL;
  eryx_error *err;
  int rc = 1;

  if ((err = eryx_runtime_new(NULL, &rt)) ||
      (err = eryx_sandbox_new(rt, &opts, &sb)) ||
      (err = eryx_sandbox_execute(sb, code, strlen(code), &r)))
    goto out;
  printf("%s%s", eryx_result_stdout(r, NULL), eryx_result_stderr(r, NULL));
  printf("%u callback calls\n", eryx_result_callback_invocations(r));
  rc = eryx_result_status(r) == ERYX_STATUS_OK ? 0 : 1;

out:
  if (err) {
    fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return rc;
}
