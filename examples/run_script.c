/*
 * run_script.c — the smallest complete embedding of Eryx: load the runtime,
 * offer the sandbox one callback, run a Python file, print what came back.
 *
 * The callback, get_temperatures(city), answers from a separate thread, as
 * a host that hands work to its own thread pool or event loop would.
 *
 * usage: run_script [FILE.py]   (default: examples/report.py)
 */
#include "eryx.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *city;
  const char *monthly_c; /* JSON array of 12 monthly means */
} climate[] = {
    {"Oslo", "[-4.3,-4.0,-0.2,4.5,10.8,15.2,16.4,15.2,10.8,6.3,0.7,-3.1]"},
    {"Lisbon", "[11.6,12.6,14.9,16.3,18.9,21.7,23.5,23.9,22.3,19.3,15.0,12.4]"},
    {"Nairobi", "[19.3,20.1,20.4,19.7,18.6,17.2,15.8,16.4,18.1,19.3,19.0,18.8]"},
};

typedef struct {
  eryx_call *call;
  char city[64];
} job;

/* Runs on its own thread: looks the city up and answers the call. */
static void *answer(void *arg) {
  job *j = arg;
  for (size_t i = 0; i < sizeof climate / sizeof climate[0]; i++) {
    if (!strcmp(climate[i].city, j->city)) {
      eryx_error_free(eryx_call_succeed(j->call, climate[i].monthly_c,
                                        strlen(climate[i].monthly_c)));
      free(j);
      return NULL;
    }
  }
  char msg[128];
  snprintf(msg, sizeof msg, "no climate data for %s", j->city);
  eryx_error_free(eryx_call_fail(j->call, "NotFound", 8, msg, strlen(msg)));
  free(j);
  return NULL;
}

/* Arguments arrive as a JSON object validated against the schema below,
 * e.g. {"city": "Oslo"}; a real host would use a JSON parser. */
static void get_temperatures(void *user_data, eryx_call *call, const char *args,
                             size_t len) {
  (void)user_data, (void)len;
  job *j = calloc(1, sizeof *j);
  const char *v = strstr(args, "\"city\": \"");
  if (j && v && sscanf(v + 9, "%63[^\"]", j->city) == 1) {
    j->call = call;
    pthread_t t;
    if (pthread_create(&t, NULL, answer, j) == 0) {
      pthread_detach(t);
      return;
    }
  }
  free(j);
  eryx_error_free(eryx_call_fail(call, "BadRequest", 10, "cannot read city", 16));
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  long n;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    *len = (size_t)n;
  } else {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static int fail(eryx_error *err) {
  fprintf(stderr, "eryx: %s\n", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return 1;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "examples/report.py";
  size_t len;
  char *code = read_file(path, &len);
  if (!code) {
    perror(path);
    return 1;
  }

  static const char schema[] =
      "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}},"
      " \"required\": [\"city\"]}";
  eryx_callback cb = {0};
  cb.name = "get_temperatures";
  cb.name_len = strlen(cb.name);
  cb.description = "Monthly mean temperatures (degrees C) of a city";
  cb.description_len = strlen(cb.description);
  cb.schema_json = schema;
  cb.schema_len = sizeof schema - 1;
  cb.fn = get_temperatures;

  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.callbacks = &cb;
  opts.callback_count = 1;

  eryx_runtime *rt;
  /* One sandbox, one run: warm instances would only cost CPU here. */
  eryx_runtime_options ropts = ERYX_RUNTIME_OPTIONS_INIT;
  ropts.warm_instances = -1;
  eryx_error *err = eryx_runtime_new(&ropts, &rt);
  if (err)
    return free(code), fail(err);
  eryx_sandbox *sb;
  if ((err = eryx_sandbox_new(rt, &opts, &sb)))
    return free(code), eryx_runtime_free(rt), fail(err);

  eryx_result *r;
  err = eryx_sandbox_execute(sb, code, len, &r);
  free(code);
  if (err)
    return eryx_sandbox_free(sb), eryx_runtime_free(rt), fail(err);

  printf("--- stdout ---\n%s", eryx_result_stdout(r, NULL));
  size_t err_len;
  const char *err_text = eryx_result_stderr(r, &err_len);
  if (err_len)
    printf("--- stderr ---\n%s", err_text);
  const char *json = eryx_result_json(r, NULL);
  printf("--- result ---\n%s\n", json ? json : "(none)");
  printf("--- status: %s in %.2f ms, %u callback calls ---\n",
         eryx_status_name(eryx_result_status(r)), eryx_result_duration_ms(r),
         eryx_result_callback_invocations(r));
  int rc = eryx_result_status(r) == ERYX_STATUS_OK ? 0 : 1;
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return rc;
}
