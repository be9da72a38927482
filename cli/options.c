/* options.c — see options.h. */
#include "options.h"

#include <stdio.h>
#include <string.h>

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

bool cli_parse_bytes(const char *name, const char *text, uint64_t min, uint64_t max,
                     uint64_t *out) {
  size_t digits = strspn(text, "0123456789"), rest = strlen(text) - digits;
  const char *unit = text + digits;
  int shift = -1;
  if (rest == 0)
    shift = 0;
  else if ((rest == 1 || (rest == 2 && (unit[1] == 'B' || unit[1] == 'b'))) && digits)
    shift = (*unit == 'K' || *unit == 'k')   ? 10
            : (*unit == 'M' || *unit == 'm') ? 20
            : (*unit == 'G' || *unit == 'g') ? 30
                                             : -1;
  uint64_t v = 0;
  bool ok = digits > 0 && shift >= 0;
  for (size_t i = 0; ok && i < digits; i++) {
    unsigned d = (unsigned char)text[i] - '0';
    if (v > (UINT64_MAX - d) / 10)
      ok = false;
    else
      v = v * 10 + d;
  }
  if (ok && v > (UINT64_MAX >> shift))
    ok = false;
  if (ok)
    v <<= shift;
  if (!ok) {
    fprintf(stderr, "eryx: %s: '%s' is not a size (bytes, or a number with K, M or G: 64M)\n",
            name, text);
    return false;
  }
  if (v < min || v > max) {
    fprintf(stderr, "eryx: %s: %s is %s: from %lluM to %lluG\n", name, text,
            v < min ? "too little (the runtime needs more)" : "too much (wasm32 addresses 4G)",
            (unsigned long long)(min >> 20), (unsigned long long)(max >> 30));
    return false;
  }
  *out = v;
  return true;
}
