/* json_out.h — the CLI's --json output. */
#ifndef ERYX_CLI_JSON_OUT_H
#define ERYX_CLI_JSON_OUT_H

#include "eryx.h"

#include <stdio.h>

/* Writes the whole result as one JSON object on one line:
 *   {"status", "stdout", "stderr" (text: bytes that are not UTF-8 as U+FFFD;
 *    then also "stdout_base64" / "stderr_base64" with the exact bytes),
 *    "result" (the parsed value or null),
 *    "result_error" (string or null), "error" (null or {"type", "message",
 *    "traceback", "line"}), "exit_code" (0..255 after sys.exit, else null),
 *    "duration_ms", "callback_invocations", "peak_memory_bytes",
 *    "fuel_consumed"}
 * Returns 0, or -1 when out of memory or the write failed. */
int json_write_result(FILE *f, const eryx_result *r);

#endif
