/*
 * runtime_type.c — `_eryx.Runtime`: an eryx_runtime of its own (a
 * factory's), and `_eryx.build_factory`, which makes one.
 *
 * The package's default runtime stays the process-wide one (module.c);
 * a Runtime object is for factory directories. Sandboxes made from it keep
 * a reference to it (sandbox_type.c), so the runtime outlives them.
 */
#include "ext.h"

typedef struct {
  PyObject_HEAD
  eryx_runtime *rt;
} RuntimeObject;

eryx_runtime *ext_runtime_of(PyObject *o) {
  if (!o || !PyObject_TypeCheck(o, &ext_runtime_type))
    return NULL;
  return ((RuntimeObject *)o)->rt;
}

static int init(RuntimeObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"dir", "warm_instances", NULL};
  const char *dir;
  Py_ssize_t len;
  int warm = 0;
  if (self->rt) {
    PyErr_SetString(PyExc_RuntimeError, "already initialized");
    return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s#|i", kwlist, &dir, &len, &warm))
    return -1;
  eryx_runtime_options o = ERYX_RUNTIME_OPTIONS_INIT;
  o.runtime_dir = dir;
  o.runtime_dir_len = (size_t)len;
  o.warm_instances = warm;
  eryx_error *err;
  Py_BEGIN_ALLOW_THREADS
  err = eryx_runtime_new(&o, &self->rt);
  Py_END_ALLOW_THREADS
  if (err) {
    ext_raise(err);
    return -1;
  }
  return 0;
}

static void dealloc(RuntimeObject *self) {
  eryx_runtime_free(self->rt);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(RuntimeObject *self) {
  if (!self->rt) {
    PyErr_SetString(PyExc_RuntimeError, "the runtime was not initialized");
    return 0;
  }
  return 1;
}

static PyObject *save(RuntimeObject *self, PyObject *arg) {
  if (!ready(self))
    return NULL;
  Py_ssize_t len;
  const char *dir = PyUnicode_AsUTF8AndSize(arg, &len);
  if (!dir)
    return NULL;
  eryx_error *err;
  Py_BEGIN_ALLOW_THREADS
  err = eryx_runtime_save(self->rt, dir, (size_t)len);
  Py_END_ALLOW_THREADS
  if (err)
    return ext_raise(err);
  Py_RETURN_NONE;
}

static PyObject *get_size(RuntimeObject *self, void *closure) {
  (void)closure;
  if (!ready(self))
    return NULL;
  uint64_t n;
  Py_BEGIN_ALLOW_THREADS
  n = eryx_runtime_size_bytes(self->rt);
  Py_END_ALLOW_THREADS
  return PyLong_FromUnsignedLongLong(n);
}

static PyObject *get_dir(RuntimeObject *self, void *closure) {
  (void)closure;
  if (!ready(self))
    return NULL;
  size_t len;
  const char *d = eryx_runtime_dir(self->rt, &len);
  return PyUnicode_DecodeFSDefaultAndSize(d, (Py_ssize_t)len);
}

static PyObject *get_imports(RuntimeObject *self, void *closure) {
  (void)closure;
  if (!ready(self))
    return NULL;
  size_t len;
  const char *j = eryx_runtime_imports_json(self->rt, &len);
  return PyUnicode_FromStringAndSize(j, (Py_ssize_t)len);
}

static PyObject *get_packages(RuntimeObject *self, void *closure) {
  (void)closure;
  if (!ready(self))
    return NULL;
  size_t len;
  const char *j = eryx_runtime_packages_json(self->rt, &len);
  return PyUnicode_FromStringAndSize(j, (Py_ssize_t)len);
}

static PyMethodDef runtime_methods[] = {
    {"save", (PyCFunction)save, METH_O, "save(dir) -- copy the runtime directory to dir"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef runtime_getset[] = {
    {"size_bytes", (getter)get_size, NULL, "bytes of the runtime directory", NULL},
    {"dir", (getter)get_dir, NULL, "the runtime directory", NULL},
    {"imports_json", (getter)get_imports, NULL, "modules in the snapshot (JSON)", NULL},
    {"packages_json", (getter)get_packages, NULL, "the factory's packages (JSON)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ext_runtime_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eryx._eryx.Runtime",
    .tp_basicsize = sizeof(RuntimeObject),
    .tp_dealloc = (destructor)dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Runtime(dir) -- a runtime directory loaded (a factory's).",
    .tp_methods = runtime_methods,
    .tp_getset = runtime_getset,
    .tp_init = (initproc)init,
    .tp_new = PyType_GenericNew,
};

/* ---- build_factory ---- */

static void on_progress(void *ud, const char *line, size_t len) {
  PyObject *fn = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *r = PyObject_CallFunction(fn, "s#", line, (Py_ssize_t)len);
  if (!r) /* a failing progress callback does not stop the build */
    PyErr_WriteUnraisable(fn);
  Py_XDECREF(r);
  PyGILState_Release(g);
}

PyObject *ext_build_factory(PyObject *mod, PyObject *args, PyObject *kw) {
  (void)mod;
  static char *kwlist[] = {"output_dir", "packages", "imports", "base_runtime_dir",
                           "componentize_py", "progress", "max_package_bytes",
                           "max_package_files", "timeout_ms", NULL};
  const char *out, *base = NULL, *cpy = NULL;
  Py_ssize_t out_len, base_len = 0, cpy_len = 0;
  PyObject *packages, *imports, *progress = Py_None;
  unsigned long long max_bytes = 0, max_files = 0, timeout = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s#OO|z#z#OKKK", kwlist, &out, &out_len,
                                   &packages, &imports, &base, &base_len, &cpy, &cpy_len,
                                   &progress, &max_bytes, &max_files, &timeout))
    return NULL;
  if (progress != Py_None && !PyCallable_Check(progress)) {
    PyErr_SetString(PyExc_TypeError, "progress must be callable");
    return NULL;
  }
  eryx_factory_options o = ERYX_FACTORY_OPTIONS_INIT;
  o.output_dir = out;
  o.output_dir_len = (size_t)out_len;
  o.base_runtime_dir = base;
  o.base_runtime_dir_len = (size_t)base_len;
  o.componentize_py = cpy;
  o.componentize_py_len = (size_t)cpy_len;
  o.max_package_bytes = max_bytes;
  o.max_package_files = max_files;
  o.timeout_ms = timeout;
  if (progress != Py_None) {
    o.on_progress = on_progress;
    o.progress_user_data = progress;
  }
  PyObject *pkg_fast = NULL, *imp_fast = NULL;
  eryx_str *pkgs = ext_str_array(packages, &pkg_fast, &o.package_count, 0);
  eryx_str *imps = pkgs ? ext_str_array(imports, &imp_fast, &o.import_count, 0) : NULL;
  eryx_error *err = NULL;
  if (pkgs && imps) {
    o.packages = pkgs;
    o.imports = imps;
    Py_BEGIN_ALLOW_THREADS
    err = eryx_factory_build(&o);
    Py_END_ALLOW_THREADS
  }
  PyMem_Free(pkgs);
  PyMem_Free(imps);
  Py_XDECREF(pkg_fast);
  Py_XDECREF(imp_fast);
  if (!pkgs || !imps)
    return NULL;
  if (err)
    return ext_raise(err);
  Py_RETURN_NONE;
}
