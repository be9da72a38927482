/*
 * vfs_type.c — `_eryx.Vfs`: an eryx_vfs (file storage sessions mount).
 * Operations are quick memory copies, so they keep the GIL.
 */
#include "ext.h"

typedef struct {
  PyObject_HEAD
  eryx_vfs *vfs;
} VfsObject;

eryx_vfs *ext_vfs_of(PyObject *o) {
  return PyObject_TypeCheck(o, &ext_vfs_type) ? ((VfsObject *)o)->vfs : NULL;
}

static int init(VfsObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"quota_bytes", NULL};
  unsigned long long quota = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|K", kwlist, &quota))
    return -1;
  if (self->vfs) {
    PyErr_SetString(PyExc_RuntimeError, "already initialized");
    return -1;
  }
  eryx_error *err = eryx_vfs_new(quota, &self->vfs);
  if (err) {
    ext_raise(err);
    return -1;
  }
  return 0;
}

static void dealloc(VfsObject *self) {
  eryx_vfs_free(self->vfs);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(VfsObject *self) {
  if (!self->vfs)
    PyErr_SetString(PyExc_RuntimeError, "the storage was not initialized");
  return self->vfs != NULL;
}

static PyObject *vfs_read(VfsObject *self, PyObject *arg) {
  Py_ssize_t n;
  const char *path = ready(self) ? PyUnicode_AsUTF8AndSize(arg, &n) : NULL;
  if (!path)
    return NULL;
  uint8_t *data;
  size_t len;
  eryx_error *err = eryx_vfs_read_file(self->vfs, path, (size_t)n, &data, &len);
  if (err)
    return ext_raise(err);
  PyObject *out = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
  eryx_vfs_bytes_free(data);
  return out;
}

static PyObject *vfs_write(VfsObject *self, PyObject *args) {
  const char *path;
  Py_ssize_t n;
  Py_buffer buf;
  if (!ready(self) || !PyArg_ParseTuple(args, "s#y*", &path, &n, &buf))
    return NULL;
  eryx_error *err = eryx_vfs_write_file(self->vfs, path, (size_t)n, buf.buf, (size_t)buf.len);
  PyBuffer_Release(&buf);
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

static PyObject *path_op(VfsObject *self, PyObject *arg,
                         eryx_error *(*op)(eryx_vfs *, const char *, size_t)) {
  Py_ssize_t n;
  const char *path = ready(self) ? PyUnicode_AsUTF8AndSize(arg, &n) : NULL;
  if (!path)
    return NULL;
  eryx_error *err = op(self->vfs, path, (size_t)n);
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

static PyObject *vfs_mkdir(VfsObject *self, PyObject *arg) {
  return path_op(self, arg, eryx_vfs_mkdir);
}

static PyObject *remove_(VfsObject *self, PyObject *arg) {
  return path_op(self, arg, eryx_vfs_remove);
}

static void add_entry(void *ud, const char *path, size_t len, int is_dir, uint64_t size) {
  PyObject *list = ud;
  if (PyErr_Occurred())
    return;
  PyObject *t = Py_BuildValue("(s#OK)", path, (Py_ssize_t)len, is_dir ? Py_True : Py_False,
                              (unsigned long long)size);
  if (t)
    PyList_Append(list, t);
  Py_XDECREF(t);
}

static PyObject *vfs_list(VfsObject *self, PyObject *unused) {
  (void)unused;
  PyObject *out = ready(self) ? PyList_New(0) : NULL;
  if (!out)
    return NULL;
  eryx_error *err = eryx_vfs_list(self->vfs, add_entry, out);
  if (err) {
    Py_DECREF(out);
    return ext_raise(err);
  }
  if (PyErr_Occurred())
    Py_CLEAR(out);
  return out;
}

static PyObject *export_(VfsObject *self, PyObject *unused) {
  (void)unused;
  if (!ready(self))
    return NULL;
  uint8_t *data;
  size_t len;
  eryx_error *err = eryx_vfs_export(self->vfs, &data, &len);
  if (err)
    return ext_raise(err);
  PyObject *out = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
  eryx_vfs_bytes_free(data);
  return out;
}

static PyObject *import_(VfsObject *self, PyObject *arg) {
  Py_buffer buf;
  if (!ready(self) || PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
    return NULL;
  eryx_error *err = eryx_vfs_import(self->vfs, buf.buf, (size_t)buf.len);
  PyBuffer_Release(&buf);
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

static PyObject *get_used(VfsObject *self, void *closure) {
  (void)closure;
  return ready(self) ? PyLong_FromUnsignedLongLong(eryx_vfs_used_bytes(self->vfs)) : NULL;
}

static PyObject *get_quota(VfsObject *self, void *closure) {
  (void)closure;
  return ready(self) ? PyLong_FromUnsignedLongLong(eryx_vfs_quota_bytes(self->vfs)) : NULL;
}

static PyMethodDef vfs_methods[] = {
    {"read", (PyCFunction)vfs_read, METH_O, "read(path) -> bytes"},
    {"write", (PyCFunction)vfs_write, METH_VARARGS, "write(path, data)"},
    {"mkdir", (PyCFunction)vfs_mkdir, METH_O, "mkdir(path) (with parents)"},
    {"remove", (PyCFunction)remove_, METH_O, "remove(path) (a directory with its content)"},
    {"list", (PyCFunction)vfs_list, METH_NOARGS, "list() -> [(path, is_dir, size)]"},
    {"export", (PyCFunction)export_, METH_NOARGS, "export() -> bytes"},
    {"import_", (PyCFunction)import_, METH_O, "import_(bytes) (replaces everything)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef vfs_getset[] = {
    {"used_bytes", (getter)get_used, NULL, "bytes of file content held", NULL},
    {"quota_bytes", (getter)get_quota, NULL, "the byte quota", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ext_vfs_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eryx._eryx.Vfs",
    .tp_basicsize = sizeof(VfsObject),
    .tp_dealloc = (destructor)dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "In-memory file storage that sandboxes mount.",
    .tp_methods = vfs_methods,
    .tp_getset = vfs_getset,
    .tp_init = (initproc)init,
    .tp_new = PyType_GenericNew,
};
