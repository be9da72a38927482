/*
 * ext.h — the `eryx._eryx` extension module: a thin layer over liberyx.
 *
 * The extension only moves values across; the Python-facing API
 * (keywords, defaults, exceptions, callback registries, schema inference)
 * is written in Python in python/eryx/. Every call into liberyx that can
 * run guest code releases the GIL, and every entry from liberyx back into
 * Python (callbacks, output, trace) takes it.
 */
#ifndef ERYX_EXT_H
#define ERYX_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "eryx.h"

/* _eryx.Error(code, message): every liberyx error; the Python layer maps
 * it onto the public exceptions. */
extern PyObject *ext_error;

/* Sets _eryx.Error from `err` (consumed) and returns NULL. */
PyObject *ext_raise(eryx_error *err);

/* The process-wide runtime (loaded by _eryx.load_runtime). Sets an
 * exception and returns NULL when it is not loaded. */
eryx_runtime *ext_runtime(void);

/* The runtime behind a _eryx.Runtime object (a factory's), or NULL (and
 * no exception) if `o` is not one. */
eryx_runtime *ext_runtime_of(PyObject *o);

/* A sequence of str (or of bytes, `binary`) as an eryx_str array pointing
 * into the objects: `*fast` keeps them alive; free the array with
 * PyMem_Free and release `*fast`. NULL with an exception on error. */
eryx_str *ext_str_array(PyObject *seq, PyObject **fast, size_t *n, int binary);

/* The network policy tuple and the secrets list (as sandbox.py builds
 * them) read into `o`; the keep structs hold what `o` points to until
 * released with the matching free. */
struct net_keep {
  PyObject *fast[3]; /* allowed, blocked, root_certs */
  void *arrays[3];
  eryx_net_options opts;
};
int ext_read_network(PyObject *t, eryx_sandbox_options *o, struct net_keep *k);
void ext_free_network(struct net_keep *k);

struct secrets_keep {
  PyObject *fast;       /* the list */
  PyObject **hosts;     /* each secret's host list (fast) */
  eryx_str **host_arrays;
  eryx_secret *secrets;
  size_t count;
};
int ext_read_secrets(PyObject *list, eryx_sandbox_options *o, struct secrets_keep *k);
void ext_free_secrets(struct secrets_keep *k);

/* A list of (host, guest, writable) into `o`'s volumes; the array (free
 * with PyMem_Free) points into the strings `*fast` keeps alive. NULL with
 * an exception on error. */
eryx_volume *ext_read_volumes(PyObject *list, eryx_sandbox_options *o, PyObject **fast);

/* The eryx_pool behind a _eryx.Pool object (NULL if `o` is not one). */
eryx_pool *ext_pool_of(PyObject *o);

extern PyTypeObject ext_sandbox_type;
extern PyTypeObject ext_pool_type;
extern PyTypeObject ext_runtime_type;
extern PyTypeObject ext_vfs_type;
extern PyTypeObject ext_call_type;

/* The tree behind a _eryx.Vfs object (NULL if `o` is not one). */
eryx_vfs *ext_vfs_of(PyObject *o);

/* A new _eryx.Call owning `call`, registered in `pending` (a dict from the
 * handle's address to the Call, so a cancel can find it) until answered. */
PyObject *ext_call_new(eryx_call *call, PyObject *pending);

/* Runs `on_cancel` of the pending Call for `call`, if it set one. */
void ext_call_cancelled(PyObject *pending, eryx_call *call);

/* sandbox_type.c: calls the sandbox object's dispatcher for `call` (now
 * owned by a new Call). GIL held. */
void ext_sandbox_dispatch(PyObject *sandbox, eryx_call *call, const char *args, size_t len);

/* starts.c: coroutine callbacks' starts, queued by the executing thread
 * without the GIL and dispatched by the callback loop's thread.
 * push: copies `args`; -1 (nothing queued) when out of memory.
 * cancel: 1 if `call` was still queued (it is then failed and dropped).
 * forget: fails and drops every start of `sandbox` (its dealloc, GIL held).
 * _eryx._starts_fd() is the eventfd readable while starts are queued;
 * _eryx._run_starts() dispatches them all (the loop's reader). */
int ext_starts_push(PyObject *sandbox, eryx_call *call, const char *args, size_t len);
int ext_starts_cancel(eryx_call *call);
void ext_starts_forget(PyObject *sandbox);
PyObject *ext_starts_fd(PyObject *m, PyObject *unused);
PyObject *ext_starts_run(PyObject *m, PyObject *unused);

/* interrupt.c: while a main-thread run is under way, SIGINT cancels it
 * (and still reaches Python's handler). begin returns 0 if it could not
 * arrange that; end undoes it. Main thread only. */
int ext_interrupt_begin(eryx_sandbox *sb, eryx_session *ss);
void ext_interrupt_end(void);

#endif
