/* options.c — see options.h. */
#include "options.h"

#include <stdio.h>

bool cli_parse_uint(const char *name, const char *text, uint64_t min, uint64_t max,
                    uint64_t *out) {
  uint64_t v = 0;
  bool ok = *text != '\0';
  for (const char *p = text; ok && *p; p++) {
    unsigned d = (unsigned char)*p - '0';
    if (d > 9 || v > (UINT64_MAX - d) / 10)
      ok = false;
    else
      v = v * 10 + d;
  }
  if (!ok || v < min || v > max) {
    fprintf(stderr, "eryx: %s: '%s' is not a whole number from %llu to %llu\n", name,
            text, (unsigned long long)min, (unsigned long long)max);
    return false;
  }
  *out = v;
  return true;
}
