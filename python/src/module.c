/*
 * module.c — `eryx._eryx`: module setup, the shared runtime and errors.
 *
 * One runtime per process: it maps the pre-compiled component once and
 * every sandbox shares it. It is loaded on first use from the directory
 * the package ships (python/eryx/__init__.py passes it) and lives until
 * the process ends.
 */
#include "ext.h"
#include "internal.h" /* eryx__schema_*: the host's schema check */

PyObject *ext_error;
static eryx_runtime *runtime;
static PyThread_type_lock runtime_lock;

PyObject *ext_raise(eryx_error *err) {
  size_t len = 0;
  const char *msg = eryx_error_message(err, &len);
  PyObject *args = Py_BuildValue("(is#)", (int)eryx_error_get_code(err), msg,
                                 (Py_ssize_t)len);
  eryx_error_free(err);
  if (args) {
    PyErr_SetObject(ext_error, args);
    Py_DECREF(args);
  }
  return NULL;
}

eryx_runtime *ext_runtime(void) {
  if (!runtime)
    PyErr_SetString(PyExc_RuntimeError, "the Eryx runtime is not loaded");
  return runtime;
}

static PyObject *load_runtime(PyObject *mod, PyObject *arg) {
  (void)mod;
  Py_ssize_t n;
  const char *dir = PyUnicode_AsUTF8AndSize(arg, &n);
  if (!dir)
    return NULL;
  eryx_error *err = NULL;
  Py_BEGIN_ALLOW_THREADS
  PyThread_acquire_lock(runtime_lock, WAIT_LOCK);
  if (!runtime) {
    eryx_runtime_options o = ERYX_RUNTIME_OPTIONS_INIT;
    o.runtime_dir = dir;
    o.runtime_dir_len = (size_t)n;
    err = eryx_runtime_new(&o, &runtime);
  }
  PyThread_release_lock(runtime_lock);
  Py_END_ALLOW_THREADS
  if (err)
    return ext_raise(err);
  Py_RETURN_NONE;
}

/* _check_schema(schema, instance, draft) -- the host's own schema check,
 * as callbacks use it: None when `instance` is valid, else why not; raises
 * ValueError when the schema itself is refused. For the JSON-Schema-Test-
 * Suite run in python/tests (the check itself is liberyx's). */
static PyObject *check_schema(PyObject *mod, PyObject *args) {
  (void)mod;
  const char *schema, *instance;
  Py_ssize_t schema_len, instance_len;
  int draft;
  if (!PyArg_ParseTuple(args, "s#s#i", &schema, &schema_len, &instance, &instance_len,
                        &draft))
    return NULL;
  char msg[512];
  eryx_schema *s = eryx__schema_compile(schema, (size_t)schema_len, draft, msg, sizeof msg);
  if (!s)
    return PyErr_Format(PyExc_ValueError, "%s", msg);
  int rc = eryx__schema_validate(s, instance, (size_t)instance_len, msg, sizeof msg);
  eryx__schema_free(s);
  if (rc == 0)
    Py_RETURN_NONE;
  return PyUnicode_FromString(msg);
}

PyObject *ext_build_factory(PyObject *mod, PyObject *args, PyObject *kw);

static PyMethodDef methods[] = {
    {"build_factory", (PyCFunction)(void (*)(void))ext_build_factory,
     METH_VARARGS | METH_KEYWORDS,
     "build_factory(output_dir, packages, imports, ...) -- eryx_factory_build"},
    {"_check_schema", check_schema, METH_VARARGS,
     "_check_schema(schema, instance, draft) -- None if valid, else why not"},
    {"_starts_fd", ext_starts_fd, METH_NOARGS,
     "_starts_fd() -- eventfd readable while coroutine callback starts are queued"},
    {"_run_starts", ext_starts_run, METH_NOARGS,
     "_run_starts() -- dispatch every queued coroutine callback start"},
    {"load_runtime", load_runtime, METH_O,
     "load_runtime(dir) -- load the runtime from `dir` (once per process)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_eryx", "Bindings to liberyx (see eryx).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__eryx(void) {
  PyObject *m = PyModule_Create(&module);
  if (!m)
    return NULL;
  runtime_lock = PyThread_allocate_lock();
  ext_error = PyErr_NewException("eryx._eryx.Error", NULL, NULL);
  if (!runtime_lock || !ext_error || PyModule_AddObjectRef(m, "Error", ext_error) < 0 ||
      PyType_Ready(&ext_sandbox_type) < 0 || PyType_Ready(&ext_vfs_type) < 0 ||
      PyType_Ready(&ext_call_type) < 0 || PyType_Ready(&ext_runtime_type) < 0 ||
      PyType_Ready(&ext_pool_type) < 0 ||
      PyModule_AddObjectRef(m, "Pool", (PyObject *)&ext_pool_type) < 0 ||
      PyModule_AddObjectRef(m, "Runtime", (PyObject *)&ext_runtime_type) < 0 ||
      PyModule_AddObjectRef(m, "Sandbox", (PyObject *)&ext_sandbox_type) < 0 ||
      PyModule_AddObjectRef(m, "Vfs", (PyObject *)&ext_vfs_type) < 0 ||
      PyModule_AddObjectRef(m, "Call", (PyObject *)&ext_call_type) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
