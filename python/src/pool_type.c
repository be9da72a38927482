/*
 * pool_type.c — `_eryx.Pool`: an eryx_pool, leasing sandboxes.
 *
 * The pool's own options (every sandbox's: network, secrets, packages,
 * result variable, the default limits) are read here once and kept, with
 * everything they point to, for the pool's life, as eryx_pool_new asks.
 * A lease is a `_eryx.Sandbox` made with pool=... (sandbox_type.c): it
 * carries the lease's limits, handlers and callbacks and gives the
 * sandbox back when released or collected. Each lease holds a reference
 * to its Pool object, so the pool outlives its leases.
 */
#include "ext.h"

typedef struct {
  PyObject_HEAD
  eryx_pool *pool;
  PyObject *runtime; /* a _eryx.Runtime kept alive, or NULL */
  eryx_sandbox_options base;
  struct net_keep net;
  struct secrets_keep secrets;
  PyObject *result_var; /* str kept alive */
  PyObject *pkg_fast;
  eryx_str *pkgs;
  PyObject *vol_fast;
  eryx_volume *vols;
} PoolObject;

eryx_pool *ext_pool_of(PyObject *o) {
  if (!o || !PyObject_TypeCheck(o, &ext_pool_type))
    return NULL;
  return ((PoolObject *)o)->pool;
}

static int scrub_switch(int v) { return v ? ERYX_SCRUB_ON : ERYX_SCRUB_OFF; }

static int init(PoolObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"runtime", "max_size", "min_idle", "acquire_timeout_ms",
                           "idle_timeout_ms", "timeout_ms", "max_memory_bytes", "max_fuel",
                           "max_output_bytes", "max_callback_invocations",
                           "callback_timeout_ms", "max_callback_args_bytes",
                           "max_callback_args_in_flight_bytes", "max_result_bytes",
                           "result_variable", "network", "secrets", "scrub_stdout",
                           "scrub_stderr", "scrub_result", "scrub_files", "packages",
                           "max_package_bytes", "max_package_files", "volumes", NULL};
  PyObject *runtime = Py_None, *result_var = Py_None, *network = Py_None,
           *secrets = Py_None, *packages = Py_None, *volumes = Py_None;
  unsigned int max_size = 0, min_idle = 1, max_calls = 0;
  unsigned long long acquire_ms = 0, idle_ms = 0, timeout = 0, memory = 0, fuel = 0,
                     output = 0, cb_timeout = 0, args_max = 0, args_in_flight = 0,
                     result_max = 0, pkg_bytes = 0, pkg_files = 0;
  int so = 1, se = 1, sr = 1, sf = 1;
  if (self->pool) {
    PyErr_SetString(PyExc_RuntimeError, "already initialized");
    return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OIIKKKKKKIKKKKOOOppppOKKO", kwlist, &runtime,
                                   &max_size, &min_idle, &acquire_ms, &idle_ms, &timeout,
                                   &memory, &fuel, &output, &max_calls, &cb_timeout,
                                   &args_max, &args_in_flight, &result_max, &result_var,
                                   &network, &secrets, &so, &se, &sr, &sf, &packages,
                                   &pkg_bytes, &pkg_files, &volumes))
    return -1;
  eryx_runtime *rt = runtime == Py_None ? ext_runtime() : ext_runtime_of(runtime);
  if (!rt) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "runtime must be an eryx._eryx.Runtime");
    return -1;
  }
  if (runtime != Py_None)
    self->runtime = Py_NewRef(runtime);
  eryx_sandbox_options *o = &self->base;
  *o = (eryx_sandbox_options)ERYX_SANDBOX_OPTIONS_INIT;
  o->timeout_ms = timeout;
  o->max_memory_bytes = memory;
  o->max_fuel = fuel;
  o->max_output_bytes = output;
  o->max_callback_invocations = max_calls;
  o->callback_timeout_ms = cb_timeout;
  o->max_callback_args_bytes = args_max;
  o->max_callback_args_in_flight_bytes = args_in_flight;
  o->max_result_bytes = result_max;
  o->scrub_stdout = scrub_switch(so);
  o->scrub_stderr = scrub_switch(se);
  o->scrub_result = scrub_switch(sr);
  o->scrub_files = scrub_switch(sf);
  o->max_package_bytes = pkg_bytes;
  o->max_package_files = pkg_files;
  if (result_var != Py_None) {
    Py_ssize_t n;
    if (!(o->result_variable = PyUnicode_AsUTF8AndSize(result_var, &n)))
      return -1;
    o->result_variable_len = (size_t)n;
    self->result_var = Py_NewRef(result_var);
  }
  if (packages != Py_None) {
    if (!(self->pkgs = ext_str_array(packages, &self->pkg_fast, &o->package_count, 0)))
      return -1;
    o->packages = self->pkgs;
  }
  if (volumes != Py_None && !(self->vols = ext_read_volumes(volumes, o, &self->vol_fast)))
    return -1;
  if ((network != Py_None && ext_read_network(network, o, &self->net) < 0) ||
      (secrets != Py_None && ext_read_secrets(secrets, o, &self->secrets) < 0))
    return -1;
  eryx_pool_options po = ERYX_POOL_OPTIONS_INIT;
  po.max_size = max_size;
  po.min_idle = min_idle;
  po.acquire_timeout_ms = acquire_ms;
  po.idle_timeout_ms = idle_ms;
  po.sandbox = o;
  eryx_error *err;
  Py_BEGIN_ALLOW_THREADS
  err = eryx_pool_new(rt, &po, &self->pool);
  Py_END_ALLOW_THREADS
  if (err) {
    ext_raise(err);
    return -1;
  }
  return 0;
}

static void dealloc(PoolObject *self) {
  if (self->pool) {
    eryx_pool *p = self->pool;
    Py_BEGIN_ALLOW_THREADS
    eryx_pool_free(p);
    Py_END_ALLOW_THREADS
  }
  ext_free_network(&self->net);
  ext_free_secrets(&self->secrets);
  PyMem_Free(self->pkgs);
  Py_XDECREF(self->pkg_fast);
  PyMem_Free(self->vols);
  Py_XDECREF(self->vol_fast);
  Py_XDECREF(self->result_var);
  Py_XDECREF(self->runtime);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(PoolObject *self) {
  if (!self->pool) {
    PyErr_SetString(PyExc_RuntimeError, "the pool was not initialized");
    return 0;
  }
  return 1;
}

static PyObject *stats(PoolObject *self, PyObject *unused) {
  (void)unused;
  if (!ready(self))
    return NULL;
  eryx_pool_stats st;
  Py_BEGIN_ALLOW_THREADS
  eryx_pool_stats_get(self->pool, &st);
  Py_END_ALLOW_THREADS
  return Py_BuildValue("{sIsIsIsIsKsKsKsKsdsdsd}", "idle", st.idle, "in_use", st.in_use,
                       "total", st.total, "available", st.available, "acquisitions",
                       (unsigned long long)st.acquisitions, "creations",
                       (unsigned long long)st.creations, "evictions",
                       (unsigned long long)st.evictions, "waits",
                       (unsigned long long)st.waits, "total_wait_ms", st.total_wait_ms,
                       "wait_p50_ms", st.wait_p50_ms, "wait_p99_ms", st.wait_p99_ms);
}

static PyObject *evict_idle(PoolObject *self, PyObject *unused) {
  (void)unused;
  if (!ready(self))
    return NULL;
  uint32_t n;
  Py_BEGIN_ALLOW_THREADS
  n = eryx_pool_evict_idle(self->pool);
  Py_END_ALLOW_THREADS
  return PyLong_FromUnsignedLong(n);
}

static PyObject *close_pool(PoolObject *self, PyObject *unused) {
  (void)unused;
  if (!ready(self))
    return NULL;
  Py_BEGIN_ALLOW_THREADS
  eryx_pool_close(self->pool);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

static PyObject *get_closed(PoolObject *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(!self->pool || eryx_pool_is_closed(self->pool));
}

static PyMethodDef pool_methods[] = {
    {"stats", (PyCFunction)stats, METH_NOARGS, "stats() -> dict"},
    {"evict_idle", (PyCFunction)evict_idle, METH_NOARGS, "evict_idle() -> int"},
    {"close", (PyCFunction)close_pool, METH_NOARGS, "close()"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pool_getset[] = {
    {"is_closed", (getter)get_closed, NULL, "whether close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ext_pool_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eryx._eryx.Pool",
    .tp_basicsize = sizeof(PoolObject),
    .tp_dealloc = (destructor)dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Pool(**options) -- an eryx_pool.",
    .tp_methods = pool_methods,
    .tp_getset = pool_getset,
    .tp_init = (initproc)init,
    .tp_new = PyType_GenericNew,
};
