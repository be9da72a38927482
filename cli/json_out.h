/* json_out.h — minimal JSON writing for the CLI's --json output. */
#ifndef ERYX_CLI_JSON_OUT_H
#define ERYX_CLI_JSON_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Writes `s` (`len` bytes of UTF-8) as a JSON string literal. */
void json_write_string(FILE *f, const char *s, size_t len);

#endif
