/*
 * sandbox_type.c — `_eryx.Sandbox`: one eryx_sandbox or eryx_session.
 *
 * execute() releases the GIL for the whole run; one lock per object keeps
 * two threads from running the same sandbox at once (the second waits).
 * cancel() takes no lock, so it works from any thread during a run.
 * Callbacks, output and trace handlers come back on the executing thread
 * and take the GIL for the Python call.
 */
#include "ext.h"

#include <stdint.h>
#include <string.h>

typedef struct {
  PyObject_HEAD
  eryx_sandbox *sb;  /* exactly one of sb / ss is set */
  eryx_session *ss;
  PyObject *dispatch; /* dispatch(name, args_json, call) */
  PyObject *on_stdout, *on_stderr, *on_trace;
  PyObject *pending; /* unanswered calls: address -> Call */
  PyObject *runtime; /* a _eryx.Runtime (a factory's) kept alive, or NULL */
  PyObject *pool;    /* a _eryx.Pool this sandbox is leased from, or NULL */
  int released;      /* the lease was given back */
  PyThread_type_lock busy;
  unsigned long runner; /* thread running guest code in it (0: none) */
} SandboxObject;

/* ---- entries from liberyx (executing thread, GIL not held) ---- */

void ext_sandbox_dispatch(PyObject *obj, eryx_call *call, const char *args, size_t len) {
  SandboxObject *self = (SandboxObject *)obj;
  size_t nlen;
  const char *name = eryx_call_name(call, &nlen);
  PyObject *c = ext_call_new(call, self->pending);
  if (!c) {
    PyErr_Clear();
    static const char msg[] = "out of memory in the host";
    eryx_error_free(eryx_call_fail(call, "HostError", 9, msg, sizeof msg - 1));
    return;
  }
  PyObject *r = PyObject_CallFunction(self->dispatch, "s#s#O", name, (Py_ssize_t)nlen, args,
                                      (Py_ssize_t)len, c);
  if (!r) /* the dispatcher failed itself: report, and fail the call */
    PyErr_WriteUnraisable(self->dispatch);
  Py_XDECREF(r);
  PyObject *answered = PyObject_GetAttrString(c, "answered");
  if (!r && answered == Py_False) {
    PyObject *res = PyObject_CallMethod(c, "fail", "ss", "HostError",
                                        "the host's callback dispatcher failed");
    Py_XDECREF(res);
  }
  Py_XDECREF(answered);
  PyErr_Clear();
  Py_DECREF(c);
}

static void on_call(void *ud, eryx_call *call, const char *args, size_t len) {
  PyGILState_STATE g = PyGILState_Ensure();
  ext_sandbox_dispatch(ud, call, args, len);
  PyGILState_Release(g);
}

/* A coroutine callback's start: queued for the loop thread (starts.c),
 * without the GIL; only if that fails, dispatched here as any other. */
static void on_call_deferred(void *ud, eryx_call *call, const char *args, size_t len) {
  if (ext_starts_push(ud, call, args, len) < 0)
    on_call(ud, call, args, len);
}

static void on_cancel(void *ud, eryx_call *call) {
  if (ext_starts_cancel(call)) /* not started yet: it never will be */
    return;
  SandboxObject *self = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  ext_call_cancelled(self->pending, call);
  PyGILState_Release(g);
}

static void emit(PyObject *handler, const char *text, size_t len) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *r = PyObject_CallFunction(handler, "y#", text, (Py_ssize_t)len);
  if (!r)
    PyErr_WriteUnraisable(handler);
  Py_XDECREF(r);
  PyGILState_Release(g);
}

static void on_stdout(void *ud, const char *text, size_t len) {
  emit(((SandboxObject *)ud)->on_stdout, text, len);
}

static void on_stderr(void *ud, const char *text, size_t len) {
  emit(((SandboxObject *)ud)->on_stderr, text, len);
}

static void on_trace(void *ud, const eryx_trace_event *ev) {
  SandboxObject *self = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *r = PyObject_CallFunction(self->on_trace, "iIs#s#", (int)ev->kind, ev->line,
                                      ev->function, (Py_ssize_t)ev->function_len,
                                      ev->detail, (Py_ssize_t)ev->detail_len);
  if (!r)
    PyErr_WriteUnraisable(self->on_trace);
  Py_XDECREF(r);
  PyGILState_Release(g);
}

/* ---- construction ---- */

/* callbacks: a sequence of (name, description or None, schema JSON or None
 * [, deferred]): deferred ones (coroutines) start on the callback loop's
 * thread (starts.c). The strings stay owned by the tuples, which live
 * through the call. */
static eryx_callback *read_callbacks(SandboxObject *self, PyObject *seq, size_t *n,
                                     PyObject **keep) {
  PyObject *fast = PySequence_Fast(seq, "callbacks must be a sequence");
  if (!fast)
    return NULL;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
  eryx_callback *cbs = PyMem_Calloc(count ? (size_t)count : 1, sizeof *cbs);
  if (!cbs) {
    Py_DECREF(fast);
    PyErr_NoMemory();
    return NULL;
  }
  for (Py_ssize_t i = 0; i < count; i++) {
    Py_ssize_t nl = 0, dl = 0, sl = 0;
    const char *name, *desc = NULL, *schema = NULL;
    int deferred = 0;
    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "s#z#z#|p", &name, &nl, &desc,
                          &dl, &schema, &sl, &deferred)) {
      PyMem_Free(cbs);
      Py_DECREF(fast);
      return NULL;
    }
    cbs[i] = (eryx_callback){name, (size_t)nl, desc, (size_t)dl, schema, (size_t)sl,
                             deferred ? on_call_deferred : on_call, on_cancel, self};
  }
  *n = (size_t)count;
  *keep = fast; /* holds the tuples (and their strings) until the copy */
  return cbs;
}

/* The network policy: NetConfig._native()'s tuple (allowed, blocked,
 * allow_all, allow_localhost, max_connections, connect_timeout_ms,
 * io_timeout_ms, root_certs) into eryx_net_options. The arrays and the
 * strings they point to live in `keep` until the sandbox has copied them. */

void ext_free_network(struct net_keep *k) {
  for (int i = 0; i < 3; i++) {
    PyMem_Free(k->arrays[i]);
    Py_XDECREF(k->fast[i]);
  }
}

eryx_str *ext_str_array(PyObject *seq, PyObject **fast, size_t *n, int binary) {
  *fast = PySequence_Fast(seq, "expected a list");
  if (!*fast)
    return NULL;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(*fast);
  eryx_str *a = PyMem_Calloc(count ? (size_t)count : 1, sizeof *a);
  if (!a) {
    PyErr_NoMemory();
    return NULL;
  }
  for (Py_ssize_t i = 0; i < count; i++) {
    PyObject *item = PySequence_Fast_GET_ITEM(*fast, i);
    const char *data;
    Py_ssize_t len;
    if (binary) {
      char *b;
      if (PyBytes_AsStringAndSize(item, &b, &len) < 0) {
        PyMem_Free(a);
        return NULL;
      }
      data = b;
    } else if (!(data = PyUnicode_AsUTF8AndSize(item, &len))) {
      PyMem_Free(a);
      return NULL;
    }
    a[i].data = data;
    a[i].len = (size_t)len;
  }
  *n = (size_t)count;
  return a;
}

int ext_read_network(PyObject *t, eryx_sandbox_options *o, struct net_keep *k) {
  PyObject *allowed, *blocked, *certs;
  int all = 0, local = 0;
  unsigned int max_conn = 0, connect_ms = 0, io_ms = 0;
  if (!PyArg_ParseTuple(t, "OOppIIIO", &allowed, &blocked, &all, &local, &max_conn,
                        &connect_ms, &io_ms, &certs))
    return -1;
  eryx_net_options n = ERYX_NET_OPTIONS_INIT;
  eryx_str *a = ext_str_array(allowed, &k->fast[0], &n.allowed_hosts_count, 0);
  if (!(k->arrays[0] = a))
    return -1;
  eryx_str *b = ext_str_array(blocked, &k->fast[1], &n.blocked_hosts_count, 0);
  if (!(k->arrays[1] = b))
    return -1;
  eryx_str *c = ext_str_array(certs, &k->fast[2], &n.root_certs_count, 1);
  if (!(k->arrays[2] = c))
    return -1;
  n.allowed_hosts = a;
  n.blocked_hosts = b;
  n.root_certs = c;
  n.allow_all_hosts = all;
  n.allow_localhost = local;
  n.max_connections = max_conn;
  n.connect_timeout_ms = connect_ms;
  n.io_timeout_ms = io_ms;
  k->opts = n;
  o->network = &k->opts;
  return 0;
}

/* Secrets: a list of (name, value, [host, ...]) tuples (checked by
 * sandbox.py) into eryx_secret; like the network policy, the arrays and
 * strings live in `keep` until the sandbox has copied them. */

void ext_free_secrets(struct secrets_keep *k) {
  for (size_t i = 0; i < k->count; i++) {
    if (k->host_arrays)
      PyMem_Free(k->host_arrays[i]);
    if (k->hosts)
      Py_XDECREF(k->hosts[i]);
  }
  PyMem_Free(k->host_arrays);
  PyMem_Free(k->hosts);
  PyMem_Free(k->secrets);
  Py_XDECREF(k->fast);
}

int ext_read_secrets(PyObject *list, eryx_sandbox_options *o, struct secrets_keep *k) {
  if (!(k->fast = PySequence_Fast(list, "secrets must be a list")))
    return -1;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(k->fast);
  size_t n = count ? (size_t)count : 1;
  k->secrets = PyMem_Calloc(n, sizeof *k->secrets);
  k->hosts = PyMem_Calloc(n, sizeof *k->hosts);
  k->host_arrays = PyMem_Calloc(n, sizeof *k->host_arrays);
  if (!k->secrets || !k->hosts || !k->host_arrays) {
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < count; i++) {
    PyObject *name, *value, *hosts;
    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(k->fast, i), "UUO", &name, &value, &hosts))
      return -1;
    eryx_secret sec = ERYX_SECRET_INIT;
    Py_ssize_t len;
    if (!(sec.name = PyUnicode_AsUTF8AndSize(name, &len)))
      return -1;
    sec.name_len = (size_t)len;
    if (!(sec.value = PyUnicode_AsUTF8AndSize(value, &len)))
      return -1;
    sec.value_len = (size_t)len;
    k->count = (size_t)i + 1;
    eryx_str *a = ext_str_array(hosts, &k->hosts[i], &sec.allowed_hosts_count, 0);
    if (!(k->host_arrays[i] = a))
      return -1;
    sec.allowed_hosts = a;
    k->secrets[i] = sec;
  }
  o->secrets = k->secrets;
  o->secret_count = (size_t)count;
  return 0;
}

/* Volumes: a list of (host, guest, writable) (sandbox.py checks the
 * shape) into an eryx_volume array pointing into the strings, which
 * `*fast` keeps alive until the sandbox has copied them. */
eryx_volume *ext_read_volumes(PyObject *list, eryx_sandbox_options *o, PyObject **fast) {
  if (!(*fast = PySequence_Fast(list, "volumes must be a list")))
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(*fast);
  eryx_volume *v = PyMem_Calloc(n ? (size_t)n : 1, sizeof *v);
  if (!v) {
    PyErr_NoMemory();
    return NULL;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    const char *h, *g;
    Py_ssize_t hl, gl;
    int w;
    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(*fast, i), "s#s#p", &h, &hl, &g, &gl, &w)) {
      PyMem_Free(v);
      return NULL;
    }
    v[i] = (eryx_volume)ERYX_VOLUME_INIT;
    v[i].host_path = h;
    v[i].host_path_len = (size_t)hl;
    v[i].guest_path = g;
    v[i].guest_path_len = (size_t)gl;
    v[i].writable = w;
  }
  o->volumes = v;
  o->volume_count = (size_t)n;
  return v;
}

static int scrub_switch(int v) { return v ? ERYX_SCRUB_ON : ERYX_SCRUB_OFF; }

static int init(SandboxObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"session", "timeout_ms", "max_memory_bytes", "max_fuel",
                           "max_output_bytes", "callbacks", "dispatch",
                           "max_callback_invocations", "callback_timeout_ms",
                           "on_stdout", "on_stderr", "on_trace", "result_variable",
                           "vfs", "vfs_mount_path", "echo", "max_callback_args_bytes",
                           "max_callback_args_in_flight_bytes", "max_result_bytes",
                           "network", "secrets", "scrub_stdout", "scrub_stderr",
                           "scrub_result", "scrub_files", "packages", "max_package_bytes",
                           "max_package_files", "runtime", "pool", "try_only", "volumes",
                           "max_vfs_bytes", "count_fuel", "argv", NULL};
  int session = 0, echo = 0;
  int scrub_out = 1, scrub_err = 1, scrub_res = 1, scrub_files = 1;
  unsigned long long timeout = 0, memory = 0, fuel = 0, output = 0, cb_timeout = 0;
  unsigned long long args_max = 0, args_in_flight = 0, result_max = 0;
  unsigned int max_calls = 0;
  PyObject *callbacks = Py_None, *dispatch = Py_None, *out = Py_None, *err_ = Py_None,
           *trace = Py_None, *result_var = Py_None, *vfs = Py_None, *mount = Py_None,
           *network = Py_None, *secrets = Py_None, *packages = Py_None, *runtime = Py_None,
           *pool = Py_None, *volumes = Py_None, *argv = Py_None;
  int try_only = 0, count_fuel = 0;
  unsigned long long pkg_bytes = 0, pkg_files = 0, vfs_max = 0;
  if (self->sb || self->ss) {
    PyErr_SetString(PyExc_RuntimeError, "already initialized");
    return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$pKKKKOOIKOOOOOOpKKKOOppppOKKOOpOKpO", kwlist,
                                   &session, &timeout, &memory, &fuel, &output, &callbacks,
                                   &dispatch, &max_calls, &cb_timeout, &out, &err_,
                                   &trace, &result_var, &vfs, &mount, &echo, &args_max,
                                   &args_in_flight, &result_max, &network, &secrets,
                                   &scrub_out, &scrub_err, &scrub_res, &scrub_files,
                                   &packages, &pkg_bytes, &pkg_files, &runtime, &pool,
                                   &try_only, &volumes, &vfs_max, &count_fuel, &argv))
    return -1;

  eryx_pool *lease_from = NULL;
  if (pool != Py_None) {
    if (!(lease_from = ext_pool_of(pool))) {
      PyErr_SetString(PyExc_TypeError, "pool must be an open eryx._eryx.Pool");
      return -1;
    }
    self->pool = Py_NewRef(pool);
  }
  /* A lease comes from its pool, which has its runtime. */
  eryx_runtime *rt = lease_from           ? NULL
                     : runtime == Py_None ? ext_runtime()
                                          : ext_runtime_of(runtime);
  if (!rt && !lease_from) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "runtime must be an eryx._eryx.Runtime");
    return -1;
  }
  if (runtime != Py_None)
    self->runtime = Py_NewRef(runtime);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = timeout;
  o.max_memory_bytes = memory;
  o.max_fuel = fuel;
  o.max_output_bytes = output;
  o.max_callback_invocations = max_calls;
  o.callback_timeout_ms = cb_timeout;
  o.max_callback_args_bytes = args_max;
  o.max_callback_args_in_flight_bytes = args_in_flight;
  o.max_result_bytes = result_max;
  o.echo_expressions = echo;
  o.scrub_stdout = scrub_switch(scrub_out);
  o.scrub_stderr = scrub_switch(scrub_err);
  o.scrub_result = scrub_switch(scrub_res);
  o.scrub_files = scrub_switch(scrub_files);
  o.output_user_data = self;
  o.trace_user_data = self;
  if (out != Py_None) {
    self->on_stdout = Py_NewRef(out);
    o.on_stdout = on_stdout;
  }
  if (err_ != Py_None) {
    self->on_stderr = Py_NewRef(err_);
    o.on_stderr = on_stderr;
  }
  if (trace != Py_None) {
    self->on_trace = Py_NewRef(trace);
    o.on_trace = on_trace;
  }
  Py_ssize_t n;
  if (result_var != Py_None) {
    o.result_variable = PyUnicode_AsUTF8AndSize(result_var, &n);
    if (!o.result_variable)
      return -1;
    o.result_variable_len = (size_t)n;
  }
  if (vfs != Py_None) {
    o.vfs = ext_vfs_of(vfs);
    if (!o.vfs) {
      PyErr_SetString(PyExc_TypeError, "vfs must be an eryx._eryx.Vfs");
      return -1;
    }
  }
  if (mount != Py_None) {
    o.vfs_mount_path = PyUnicode_AsUTF8AndSize(mount, &n);
    if (!o.vfs_mount_path)
      return -1;
    o.vfs_mount_path_len = (size_t)n;
  }
  if (!(self->pending = PyDict_New()) || !(self->busy = PyThread_allocate_lock())) {
    PyErr_NoMemory();
    return -1;
  }
  eryx_callback *cbs = NULL;
  PyObject *keep = NULL; /* holds the callback strings until the copy */
  if (callbacks != Py_None) {
    if (dispatch == Py_None || !PyCallable_Check(dispatch)) {
      PyErr_SetString(PyExc_TypeError, "callbacks need a callable dispatch");
      return -1;
    }
    self->dispatch = Py_NewRef(dispatch);
    cbs = read_callbacks(self, callbacks, &o.callback_count, &keep);
    if (!cbs)
      return -1;
    o.callbacks = cbs;
  }
  struct net_keep net = {0};
  struct secrets_keep sk = {0};
  PyObject *pkg_fast = NULL;
  eryx_str *pkgs = NULL;
  o.max_package_bytes = pkg_bytes;
  o.max_package_files = pkg_files;
  o.max_vfs_bytes = vfs_max;
  if (packages != Py_None) {
    if (!(pkgs = ext_str_array(packages, &pkg_fast, &o.package_count, 0))) {
      PyMem_Free(cbs);
      Py_XDECREF(keep);
      Py_XDECREF(pkg_fast);
      return -1;
    }
    o.packages = pkgs;
  }
  o.count_fuel = count_fuel;
  PyObject *argv_fast = NULL;
  eryx_str *argv_arr = NULL;
  if (argv != Py_None) {
    if (!(argv_arr = ext_str_array(argv, &argv_fast, &o.argc, 0))) {
      PyMem_Free(pkgs);
      Py_XDECREF(pkg_fast);
      PyMem_Free(cbs);
      Py_XDECREF(keep);
      Py_XDECREF(argv_fast);
      return -1;
    }
    o.argv = argv_arr;
  }
  PyObject *vol_fast = NULL;
  eryx_volume *vols = NULL;
  if (volumes != Py_None && !(vols = ext_read_volumes(volumes, &o, &vol_fast))) {
    Py_XDECREF(vol_fast);
    PyMem_Free(argv_arr);
    Py_XDECREF(argv_fast);
    PyMem_Free(pkgs);
    Py_XDECREF(pkg_fast);
    PyMem_Free(cbs);
    Py_XDECREF(keep);
    return -1;
  }
  if ((network != Py_None && ext_read_network(network, &o, &net) < 0) ||
      (secrets != Py_None && ext_read_secrets(secrets, &o, &sk) < 0)) {
    PyMem_Free(vols);
    Py_XDECREF(vol_fast);
    PyMem_Free(argv_arr);
    Py_XDECREF(argv_fast);
    PyMem_Free(pkgs);
    Py_XDECREF(pkg_fast);
    PyMem_Free(cbs);
    Py_XDECREF(keep);
    ext_free_network(&net);
    ext_free_secrets(&sk);
    return -1;
  }
  eryx_error *err;
  Py_BEGIN_ALLOW_THREADS
  if (lease_from)
    err = try_only ? eryx_pool_try_acquire(lease_from, &o, &self->sb)
                   : eryx_pool_acquire(lease_from, &o, &self->sb);
  else if (session)
    err = eryx_session_new(rt, &o, &self->ss);
  else
    err = eryx_sandbox_new(rt, &o, &self->sb);
  Py_END_ALLOW_THREADS
  PyMem_Free(vols);
  Py_XDECREF(vol_fast);
  PyMem_Free(argv_arr);
  Py_XDECREF(argv_fast);
  PyMem_Free(pkgs);
  Py_XDECREF(pkg_fast);
  PyMem_Free(cbs);
  Py_XDECREF(keep);
  ext_free_network(&net);
  ext_free_secrets(&sk);
  if (err) {
    ext_raise(err);
    return -1;
  }
  return 0;
}

/* Gives a leased sandbox back to its pool (once). */
static void give_back(SandboxObject *self) {
  eryx_pool *p = self->pool ? ext_pool_of(self->pool) : NULL;
  if (self->sb && self->pool) {
    if (p) {
      Py_BEGIN_ALLOW_THREADS
      eryx_pool_release(p, self->sb);
      Py_END_ALLOW_THREADS
    }
    self->sb = NULL; /* a pool freed already freed it */
  }
  self->released = 1;
}

static void dealloc(SandboxObject *self) {
  ext_starts_forget((PyObject *)self); /* first: no start may outlive this */
  PyObject_GC_UnTrack(self);
  if (self->pool)
    give_back(self);
  eryx_sandbox_free(self->sb);
  eryx_session_free(self->ss);
  if (self->pending)
    PyDict_Clear(self->pending); /* unanswered calls are failed (and dropped) */
  Py_CLEAR(self->pending);
  Py_CLEAR(self->dispatch);
  Py_CLEAR(self->on_stdout);
  Py_CLEAR(self->on_stderr);
  Py_CLEAR(self->on_trace);
  Py_CLEAR(self->runtime); /* after the sandbox: it must outlive it */
  Py_CLEAR(self->pool);
  if (self->busy)
    PyThread_free_lock(self->busy);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int traverse(SandboxObject *self, visitproc visit, void *arg) {
  Py_VISIT(self->dispatch);
  Py_VISIT(self->on_stdout);
  Py_VISIT(self->on_stderr);
  Py_VISIT(self->on_trace);
  Py_VISIT(self->pending);
  Py_VISIT(self->runtime);
  Py_VISIT(self->pool);
  return 0;
}

static int ready(SandboxObject *self) {
  if (self->released) {
    PyErr_SetString(PyExc_ValueError, "this pooled sandbox was released");
    return 0;
  }
  if (!self->sb && !self->ss) {
    PyErr_SetString(PyExc_RuntimeError, "the sandbox was not initialized");
    return 0;
  }
  return 1;
}

static int need_session(SandboxObject *self) {
  if (!ready(self))
    return 0;
  if (!self->ss) {
    PyErr_SetString(PyExc_TypeError, "only sessions have this operation");
    return 0;
  }
  return 1;
}

/* ---- methods ---- */

/* Takes the object's lock for a guest call, without the GIL. A handler or
 * callback running on the executing thread that calls back into the same
 * object would wait for itself forever: refuse that instead. */
static int enter(SandboxObject *self) {
  if (self->runner == PyThread_get_thread_ident()) {
    PyErr_SetString(PyExc_RuntimeError,
                    "this sandbox is already running code on this thread (called "
                    "from its own output, trace or callback handler?)");
    return 0;
  }
  Py_BEGIN_ALLOW_THREADS
  PyThread_acquire_lock(self->busy, WAIT_LOCK);
  Py_END_ALLOW_THREADS
  self->runner = PyThread_get_thread_ident();
  return 1;
}

static void leave(SandboxObject *self) {
  self->runner = 0;
  PyThread_release_lock(self->busy);
}

static PyObject *text(const char *s, size_t n) {
  return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)(s ? n : 0), "replace");
}

static PyObject *text_or_none(const char *s, size_t n) {
  return s ? text(s, n) : Py_NewRef(Py_None);
}

#define NET_STAT(what) ((unsigned long long)eryx_result_net_##what(r))

/* The result as the tuple the Python layer reads: (status, stdout,
 * stderr, result_json, result_error, error_type, error_message,
 * traceback, error_line, duration_ms, callback_invocations,
 * peak_memory_bytes, fuel_consumed, truncated, exit_code (None unless
 * sys.exit), net_bytes_sent, net_bytes_received, net_connections), and
 * with `journal` also (journal_json, replayed_callbacks, suspended_name,
 * suspended_args_json, suspended_reason). stdout and stderr are bytes. */
static PyObject *result_tuple(const eryx_result *r, int journal) {
  size_t l[7];
  const char *s[7] = {eryx_result_stdout(r, &l[0]),        eryx_result_stderr(r, &l[1]),
                      eryx_result_json(r, &l[2]),          eryx_result_json_error(r, &l[3]),
                      eryx_result_error_type(r, &l[4]),    eryx_result_error_message(r, &l[5]),
                      eryx_result_traceback(r, &l[6])};
  int exit_code = eryx_result_exit_code(r);
  PyObject *out = Py_BuildValue(
      "(iy#y#NNNNNIdIKKONKKI)", (int)eryx_result_status(r), s[0], (Py_ssize_t)l[0], s[1],
      (Py_ssize_t)l[1], text_or_none(s[2], l[2]), text_or_none(s[3], l[3]),
      text(s[4], l[4]), text(s[5], l[5]), text(s[6], l[6]), eryx_result_error_line(r),
      eryx_result_duration_ms(r), eryx_result_callback_invocations(r),
      (unsigned long long)eryx_result_peak_memory_bytes(r),
      (unsigned long long)eryx_result_fuel_consumed(r),
      eryx_result_output_truncated(r) ? Py_True : Py_False,
      exit_code >= 0 ? PyLong_FromLong(exit_code) : Py_NewRef(Py_None), NET_STAT(bytes_sent),
      NET_STAT(bytes_received), (unsigned int)NET_STAT(connections));
  if (!out || !journal)
    return out;
#ifdef ERYX_JOURNAL_OPTIONS_VERSION
  size_t jl[4];
  const char *js[4] = {eryx_result_journal(r, &jl[0]), eryx_result_suspended_name(r, &jl[1]),
                       eryx_result_suspended_args(r, &jl[2]),
                       eryx_result_suspended_reason(r, &jl[3])};
  PyObject *more = Py_BuildValue("(NINNN)", text_or_none(js[0], jl[0]),
                                 eryx_result_replayed_callbacks(r), text_or_none(js[1], jl[1]),
                                 text_or_none(js[2], jl[2]), text_or_none(js[3], jl[3]));
  PyObject *all = more ? PySequence_Concat(out, more) : NULL;
  Py_DECREF(out);
  Py_XDECREF(more);
  return all;
#else
  return out;
#endif
}

#ifndef ERYX_JOURNAL_OPTIONS_VERSION
typedef struct eryx_journal_options eryx_journal_options;
#endif

/* Runs code without the GIL, Ctrl-C cancelling it (interrupt.c) when
 * asked and in the main thread; with `jo` through the journal API. */
static PyObject *run(SandboxObject *self, const char *code, Py_ssize_t n, int interruptible,
                     const eryx_journal_options *jo) {
  eryx_result *r = NULL;
  eryx_error *err;
  if (!enter(self))
    return NULL;
  int trapping = interruptible && ext_interrupt_begin(self->sb, self->ss);
  Py_BEGIN_ALLOW_THREADS
#ifdef ERYX_JOURNAL_OPTIONS_VERSION
  if (jo)
    err = self->ss ? eryx_session_execute_journal(self->ss, code, (size_t)n, jo, &r)
                   : eryx_sandbox_execute_journal(self->sb, code, (size_t)n, jo, &r);
  else
#endif
    err = self->ss ? eryx_session_execute(self->ss, code, (size_t)n, &r)
                   : eryx_sandbox_execute(self->sb, code, (size_t)n, &r);
  Py_END_ALLOW_THREADS
  if (trapping)
    ext_interrupt_end();
  leave(self);
  if (trapping && PyErr_CheckSignals() < 0) { /* KeyboardInterrupt, at once */
    eryx_error_free(err);
    eryx_result_free(r);
    return NULL;
  }
  if (err)
    return ext_raise(err);
  PyObject *out = result_tuple(r, jo != NULL);
  eryx_result_free(r);
  return out;
}

/* execute(code, interruptible=False) -> the result tuple */
static PyObject *execute(SandboxObject *self, PyObject *args) {
  const char *code;
  Py_ssize_t n;
  int interruptible = 0;
  if (!ready(self) || !PyArg_ParseTuple(args, "s#|p", &code, &n, &interruptible))
    return NULL;
  return run(self, code, n, interruptible, NULL);
}

#ifdef ERYX_JOURNAL_OPTIONS_VERSION
/* execute_journal(code, interruptible, journal_json or None, key bytes or
 * None) -> the result tuple with the journal fields */
static PyObject *execute_journal(SandboxObject *self, PyObject *args) {
  const char *code, *journal = NULL, *key = NULL;
  Py_ssize_t n, jn = 0, kn = 0;
  int interruptible = 0;
  if (!ready(self) || !PyArg_ParseTuple(args, "s#pz#z#", &code, &n, &interruptible, &journal,
                                        &jn, &key, &kn))
    return NULL;
  eryx_journal_options jo = ERYX_JOURNAL_OPTIONS_INIT;
  jo.journal = journal;
  jo.journal_len = (size_t)jn;
  jo.key = (const uint8_t *)key;
  jo.key_len = (size_t)kn;
  return run(self, code, n, interruptible, &jo);
}
#endif

static PyObject *cancel(SandboxObject *self, PyObject *unused) {
  (void)unused;
  if (!ready(self))
    return NULL;
  int was;
  Py_BEGIN_ALLOW_THREADS
  was = self->ss ? eryx_session_cancel(self->ss) : eryx_sandbox_cancel(self->sb);
  Py_END_ALLOW_THREADS
  return PyBool_FromLong(was);
}

/* Runs a session operation that may run guest code, without the GIL. */
#define SESSION_CALL(expr)                                                    \
  eryx_error *err;                                                            \
  if (!enter(self))                                                           \
    return NULL;                                                              \
  Py_BEGIN_ALLOW_THREADS                                                      \
  err = (expr);                                                               \
  Py_END_ALLOW_THREADS                                                        \
  leave(self);

static PyObject *snapshot(SandboxObject *self, PyObject *arg) {
  if (!need_session(self))
    return NULL;
  int skip = PyObject_IsTrue(arg);
  if (skip < 0)
    return NULL;
  eryx_snapshot *snap = NULL;
  SESSION_CALL(eryx_session_snapshot_state(self->ss, skip, &snap));
  if (err)
    return ext_raise(err);
  size_t len;
  const uint8_t *data = eryx_snapshot_data(snap, &len);
  PyObject *skipped = PyList_New(0);
  for (size_t i = 0; skipped && i < eryx_snapshot_skipped_count(snap); i++) {
    size_t nl;
    const char *name = eryx_snapshot_skipped(snap, i, &nl);
    PyObject *o = text(name, nl);
    if (!o || PyList_Append(skipped, o) < 0)
      Py_CLEAR(skipped);
    Py_XDECREF(o);
  }
  PyObject *out = skipped ? Py_BuildValue("(y#N)", data, (Py_ssize_t)len, skipped) : NULL;
  eryx_snapshot_free(snap);
  return out;
}

static PyObject *restore(SandboxObject *self, PyObject *arg) {
  if (!need_session(self))
    return NULL;
  Py_buffer buf;
  if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
    return NULL;
  if (!enter(self)) {
    PyBuffer_Release(&buf);
    return NULL;
  }
  eryx_error *err;
  Py_BEGIN_ALLOW_THREADS
  err = eryx_session_restore_state(self->ss, buf.buf, (size_t)buf.len);
  Py_END_ALLOW_THREADS
  leave(self);
  PyBuffer_Release(&buf);
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

static PyObject *clear_state(SandboxObject *self, PyObject *unused) {
  (void)unused;
  if (!need_session(self))
    return NULL;
  SESSION_CALL(eryx_session_clear_state(self->ss));
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

static PyObject *reset(SandboxObject *self, PyObject *unused) {
  (void)unused;
  if (!need_session(self))
    return NULL;
  SESSION_CALL(eryx_session_reset(self->ss));
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

static PyObject *get_execution_count(SandboxObject *self, void *closure) {
  (void)closure;
  if (!need_session(self))
    return NULL;
  return PyLong_FromUnsignedLongLong(eryx_session_execution_count(self->ss));
}

static PyObject *get_timeout(SandboxObject *self, void *closure) {
  (void)closure;
  if (!ready(self))
    return NULL;
  return PyLong_FromUnsignedLongLong(self->ss ? eryx_session_timeout_ms(self->ss)
                                              : eryx_sandbox_timeout_ms(self->sb));
}

static int set_timeout(SandboxObject *self, PyObject *v, void *closure) {
  (void)closure;
  if (!ready(self))
    return -1;
  if (!v) {
    PyErr_SetString(PyExc_AttributeError, "timeout_ms cannot be deleted");
    return -1;
  }
  unsigned long long ms = PyLong_AsUnsignedLongLong(v);
  if (ms == (unsigned long long)-1 && PyErr_Occurred())
    return -1;
  /* No lock: liberyx reads it at the start of each execution only. */
  if (self->ss)
    eryx_session_set_timeout_ms(self->ss, ms);
  else
    eryx_sandbox_set_timeout_ms(self->sb, ms);
  return 0;
}

static PyObject *get_max_fuel(SandboxObject *self, void *closure) {
  (void)closure;
  if (!ready(self))
    return NULL;
  return PyLong_FromUnsignedLongLong(self->ss ? eryx_session_max_fuel(self->ss)
                                              : eryx_sandbox_max_fuel(self->sb));
}

static int set_max_fuel(SandboxObject *self, PyObject *v, void *closure) {
  (void)closure;
  if (!ready(self))
    return -1;
  if (!v) {
    PyErr_SetString(PyExc_AttributeError, "max_fuel cannot be deleted");
    return -1;
  }
  unsigned long long fuel = PyLong_AsUnsignedLongLong(v);
  if (fuel == (unsigned long long)-1 && PyErr_Occurred())
    return -1;
  eryx_error *err = self->ss ? eryx_session_set_max_fuel(self->ss, fuel)
                             : eryx_sandbox_set_max_fuel(self->sb, fuel);
  if (err) {
    ext_raise(err);
    return -1;
  }
  return 0;
}

static PyObject *library_stubs(SandboxObject *self, PyObject *unused) {
  (void)unused;
  if (!ready(self))
    return NULL;
  if (!self->sb)
    return PyUnicode_FromString("");
  size_t n;
  const char *s = eryx_sandbox_library_stubs(self->sb, &n);
  return text(s, n);
}

/* release() -- a pooled sandbox goes back to its pool; idempotent. */
static PyObject *release(SandboxObject *self, PyObject *unused) {
  (void)unused;
  if (!self->pool || self->released)
    Py_RETURN_NONE;
  if (!enter(self)) /* not while it runs on another thread */
    return NULL;
  give_back(self);
  leave(self);
  Py_RETURN_NONE;
}

static PyMethodDef sandbox_methods[] = {
    {"release", (PyCFunction)release, METH_NOARGS, "release() -- give a lease back"},
#ifdef ERYX_JOURNAL_OPTIONS_VERSION
    {"execute_journal", (PyCFunction)execute_journal, METH_VARARGS,
     "execute_journal(code, interruptible, journal, key) -- execute, recording and "
     "replaying callback answers"},
#endif
    {"execute", (PyCFunction)execute, METH_VARARGS,
     "execute(code, interruptible=False) -> result tuple; interruptible: SIGINT "
     "cancels the run (main thread only)"},
    {"cancel", (PyCFunction)cancel, METH_NOARGS, "cancel() -> bool (a run was stopped)"},
    {"snapshot", (PyCFunction)snapshot, METH_O, "snapshot(skip) -> (bytes, skipped)"},
    {"restore", (PyCFunction)restore, METH_O, "restore(bytes)"},
    {"clear_state", (PyCFunction)clear_state, METH_NOARGS, "clear_state()"},
    {"reset", (PyCFunction)reset, METH_NOARGS, "reset()"},
    {"library_stubs", (PyCFunction)library_stubs, METH_NOARGS, "library_stubs() -> str"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sandbox_getset[] = {
    {"execution_count", (getter)get_execution_count, NULL, "executions so far", NULL},
    {"max_fuel", (getter)get_max_fuel, (setter)set_max_fuel,
     "fuel budget of later executions (0: none); only when counting fuel", NULL},
    {"timeout_ms", (getter)get_timeout, (setter)set_timeout,
     "timeout of later executions in ms (2**64-1: none)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ext_sandbox_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eryx._eryx.Sandbox",
    .tp_basicsize = sizeof(SandboxObject),
    .tp_dealloc = (destructor)dealloc,
    .tp_traverse = (traverseproc)traverse,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A sandbox or session of liberyx.",
    .tp_methods = sandbox_methods,
    .tp_getset = sandbox_getset,
    .tp_init = (initproc)init,
    .tp_new = PyType_GenericNew,
};
