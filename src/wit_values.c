/*
 * wit_values.c — reading and building component-model values.
 *
 * Arguments we pass to the guest point at our own memory and are never
 * handed to Wasmtime's destructors (a call does not take ownership of its
 * arguments), so building them copies nothing.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void eryx__val_string(wasmtime_component_val_t *v, const char *s, size_t n) {
  v->kind = WASMTIME_COMPONENT_STRING;
  v->of.string.size = n;
  v->of.string.data = (char *)s; /* borrowed: see the note at the top */
}

void eryx__val_bool(wasmtime_component_val_t *v, bool b) {
  v->kind = WASMTIME_COMPONENT_BOOL;
  v->of.boolean = b;
}

const wasmtime_component_val_t *eryx__val_field(const wasmtime_component_val_t *rec,
                                                const char *name) {
  if (rec->kind != WASMTIME_COMPONENT_RECORD)
    return NULL;
  size_t n = strlen(name);
  for (size_t i = 0; i < rec->of.record.size; i++) {
    const wasmtime_component_valrecord_entry_t *e = &rec->of.record.data[i];
    if (e->name.size == n && memcmp(e->name.data, name, n) == 0)
      return &e->val;
  }
  return NULL;
}

char *eryx__val_dup_string(const wasmtime_component_val_t *v, size_t *len,
                           bool *ok) {
  *len = 0;
  if (!v) {
    *ok = false;
    return NULL;
  }
  if (v->kind == WASMTIME_COMPONENT_OPTION) {
    if (!v->of.option)
      return NULL;
    v = v->of.option;
  }
  if (v->kind != WASMTIME_COMPONENT_STRING) {
    *ok = false;
    return NULL;
  }
  char *s = eryx__strndup(v->of.string.data, v->of.string.size);
  if (!s)
    *ok = false;
  else
    *len = v->of.string.size;
  return s;
}
