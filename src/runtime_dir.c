/*
 * runtime_dir.c — where the library looks for its runtime files when neither
 * eryx_runtime_options.runtime_dir nor ERYX_RUNTIME_DIR says.
 *
 * The directory lives in a slot (runtime_dir.h) that an installation
 * rewrites in the installed copy of the library. It is in a file of its own
 * and read only through eryx__default_runtime_dir(), so no other file can
 * have its contents folded in at compile time.
 */
#include "internal.h"
#include "runtime_dir.h"

#ifndef ERYX_DEFAULT_RUNTIME_DIR
#define ERYX_DEFAULT_RUNTIME_DIR ""
#endif

_Static_assert(sizeof ERYX_DEFAULT_RUNTIME_DIR <= ERYX_RUNTIME_DIR_MAX,
               "ERYX_RUNTIME_DIR is too long for the slot");

__attribute__((used)) const char
    eryx__runtime_dir_slot[sizeof ERYX_RUNTIME_DIR_MARK - 1 + ERYX_RUNTIME_DIR_MAX] =
        ERYX_RUNTIME_DIR_MARK ERYX_DEFAULT_RUNTIME_DIR;

const char *eryx__default_runtime_dir(void) {
  return eryx__runtime_dir_slot + sizeof ERYX_RUNTIME_DIR_MARK - 1;
}
