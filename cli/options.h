/* options.h — strict parsing of the CLI's numeric options. */
#ifndef ERYX_CLI_OPTIONS_H
#define ERYX_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

/* Most milliseconds --timeout accepts (about 49.7 days). */
#define CLI_MAX_TIMEOUT_MS UINT32_MAX

/* Parses `text`, the value of option `name`, as a decimal number from
 * `min` to `max`: digits only (no sign, spaces, or other bases). On
 * failure prints "eryx: NAME: ..." with the accepted range to stderr and
 * returns false; `*out` is then unchanged. */
bool cli_parse_uint(const char *name, const char *text, uint64_t min, uint64_t max,
                    uint64_t *out);

/* --max-memory's bounds: the runtime itself needs about 17 MiB, and wasm32
 * addresses 4 GiB. */
#define CLI_MIN_MEMORY (UINT64_C(32) << 20)
#define CLI_MAX_MEMORY (UINT64_C(4) << 30)

/* Parses a size: decimal digits, optionally followed by K, M or G
 * (powers of 1024, either case, with or without a trailing B), from
 * `min` to `max` bytes. On failure prints "eryx: NAME: ..." with what is
 * accepted to stderr and returns false; `*out` is then unchanged. */
bool cli_parse_bytes(const char *name, const char *text, uint64_t min, uint64_t max,
                     uint64_t *out);

#endif
