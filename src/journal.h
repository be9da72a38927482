/*
 * journal.h — the callback journal of one execution (see journal.c): what
 * an earlier run's callbacks answered (replayed), and what this run's
 * answer (recorded).
 */
#ifndef ERYX_JOURNAL_H
#define ERYX_JOURNAL_H

#include "internal.h"

typedef struct eryx__journal eryx__journal;

/* A recorded answer, as a completion carries it: `value` is the JSON text
 * (ok) or the failure's message (not ok, with `error_type`). Owned by the
 * journal; valid until eryx__journal_free. */
typedef struct eryx__journal_answer {
  bool ok;
  const char *value;
  size_t value_len;
  const char *error_type;
  size_t error_type_len;
} eryx__journal_answer;

/* No slot: the call is not recorded (the journal is full). */
#define ERYX__JOURNAL_NO_SLOT SIZE_MAX

/* Opens the journal of one execution of `code`: checks `opts` (NULL:
 * record only), hashes the code and loads opts->journal (at most
 * `max_entries` entries, ERYX_JOURNAL_MAX_BYTES), verifying its signature
 * and code hash when opts->key is set. Errors: ERYX_ERR_INVALID_ARGUMENT
 * (the options), ERYX_ERR_JOURNAL (the journal, naming what is wrong),
 * ERYX_ERR_RESOURCES. On success `*out` is the caller's
 * (eryx__journal_free). */
eryx_error *eryx__journal_open(const eryx_journal_options *opts, const char *code,
                               size_t code_len, uint32_t max_entries, eryx__journal **out);
void eryx__journal_free(eryx__journal *j);

/* A call the host's checks let through (`args` as the host function would
 * see them). Gives it a recording slot (*slot, or ERYX__JOURNAL_NO_SLOT)
 * and, while replay lasts, the recorded answer of the first unused entry
 * with the same name and canonical arguments (*replay; NULL is a miss,
 * which ends replay for the rest of the execution). False: out of memory
 * (nothing recorded, *replay NULL). Execution thread only. */
bool eryx__journal_call_start(eryx__journal *j, const char *name, size_t name_len,
                              const char *args, size_t args_len, size_t *slot,
                              const eryx__journal_answer **replay);
/* The answer a call got from the host (or from the journal). */
void eryx__journal_call_answered(eryx__journal *j, size_t slot, bool ok,
                                 const char *error_type, size_t error_type_len,
                                 const char *value, size_t value_len);
/* The call ended without an answer (cancelled, timed out, suspended). */
void eryx__journal_call_dropped(eryx__journal *j, size_t slot);

/* Calls answered from the journal so far. */
uint32_t eryx__journal_replayed(const eryx__journal *j);

/* The recorded journal as JSON text (signed when the options had a key),
 * malloc'd and NUL-terminated; NULL when out of memory. */
char *eryx__journal_text(eryx__journal *j, size_t *len);

/* Arguments in canonical form: parsed by jansson and written back compact
 * with sorted keys, or the exact text when jansson cannot read them (an
 * integer beyond 64 bits). Malloc'd, NUL-terminated; NULL when out of
 * memory. */
char *eryx__journal_canonical_args(const char *args, size_t len, size_t *out_len);

#endif
