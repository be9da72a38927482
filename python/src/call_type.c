/*
 * call_type.c — `_eryx.Call`: one callback invocation waiting for its
 * answer. The Python layer answers it with succeed(json), fail(type,
 * message) or suspend(reason), from any thread, once. A Call dropped without an answer fails
 * the invocation, so the sandbox never waits for an answer that cannot come.
 */
#include "ext.h"

#include <stdint.h>

typedef struct {
  PyObject_HEAD
  eryx_call *call; /* NULL once answered */
  PyObject *pending; /* the sandbox's dict of unanswered calls */
  PyObject *key;     /* this call's key in `pending` */
  PyObject *on_cancel;
} CallObject;

static PyObject *key_of(eryx_call *call) { return PyLong_FromVoidPtr(call); }

PyObject *ext_call_new(eryx_call *call, PyObject *pending) {
  CallObject *self = PyObject_New(CallObject, &ext_call_type);
  if (!self)
    return NULL;
  self->call = call;
  self->pending = Py_NewRef(pending);
  self->on_cancel = NULL;
  self->key = key_of(call);
  if (!self->key || PyDict_SetItem(pending, self->key, (PyObject *)self) < 0) {
    self->call = NULL; /* the caller fails it */
    Py_DECREF(self);
    return NULL;
  }
  return (PyObject *)self;
}

void ext_call_cancelled(PyObject *pending, eryx_call *call) {
  PyObject *key = key_of(call);
  PyObject *obj = key ? PyDict_GetItemWithError(pending, key) : NULL;
  Py_XDECREF(key);
  if (obj && ((CallObject *)obj)->on_cancel) {
    Py_INCREF(obj); /* the hook may answer the call, dropping it from `pending` */
    PyObject *r = PyObject_CallNoArgs(((CallObject *)obj)->on_cancel);
    if (!r)
      PyErr_WriteUnraisable(obj);
    Py_XDECREF(r);
    Py_DECREF(obj);
  }
  PyErr_Clear();
}

/* Takes the handle for answering; NULL (and an exception) if answered. */
static eryx_call *take(CallObject *self) {
  eryx_call *c = self->call;
  if (!c) {
    PyErr_SetString(PyExc_RuntimeError, "this callback invocation was already answered");
    return NULL;
  }
  self->call = NULL;
  if (self->key && PyDict_DelItem(self->pending, self->key) < 0)
    PyErr_Clear();
  return c;
}

static PyObject *succeed(CallObject *self, PyObject *arg) {
  Py_ssize_t n;
  const char *json = PyUnicode_AsUTF8AndSize(arg, &n);
  if (!json)
    return NULL;
  eryx_call *c = take(self);
  if (!c)
    return NULL;
  eryx_error *err = eryx_call_succeed(c, json, (size_t)n);
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

static PyObject *fail(CallObject *self, PyObject *args) {
  const char *type = NULL, *msg;
  Py_ssize_t tn = 0, mn;
  if (!PyArg_ParseTuple(args, "z#s#", &type, &tn, &msg, &mn))
    return NULL;
  eryx_call *c = take(self);
  if (!c)
    return NULL;
  eryx_error *err = eryx_call_fail(c, type, (size_t)tn, msg, (size_t)mn);
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}

#ifdef ERYX_JOURNAL_OPTIONS_VERSION
/* suspend(reason): the execution halts (eryx_call_suspend). */
static PyObject *suspend(CallObject *self, PyObject *arg) {
  Py_ssize_t n;
  const char *reason = PyUnicode_AsUTF8AndSize(arg, &n);
  if (!reason)
    return NULL;
  eryx_call *c = take(self);
  if (!c)
    return NULL;
  eryx_error *err = eryx_call_suspend(c, reason, (size_t)n);
  return err ? ext_raise(err) : Py_NewRef(Py_None);
}
#endif

static PyObject *get_cancelled(CallObject *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(self->call ? eryx_call_cancelled(self->call) : 0);
}

static PyObject *get_answered(CallObject *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(self->call == NULL);
}

static PyObject *get_on_cancel(CallObject *self, void *closure) {
  (void)closure;
  return Py_NewRef(self->on_cancel ? self->on_cancel : Py_None);
}

static int set_on_cancel(CallObject *self, PyObject *v, void *closure) {
  (void)closure;
  Py_XSETREF(self->on_cancel, v && v != Py_None ? Py_NewRef(v) : NULL);
  return 0;
}

static void dealloc(CallObject *self) {
  if (self->call) {
    static const char msg[] = "the host dropped the call without answering it";
    eryx_error_free(eryx_call_fail(self->call, "HostError", 9, msg, sizeof msg - 1));
  }
  Py_XDECREF(self->pending);
  Py_XDECREF(self->key);
  Py_XDECREF(self->on_cancel);
  PyObject_Free(self);
}

static PyMethodDef call_methods[] = {
    {"succeed", (PyCFunction)succeed, METH_O, "succeed(json) -- answer with a JSON value"},
    {"fail", (PyCFunction)fail, METH_VARARGS,
     "fail(error_type, message) -- answer with an error"},
#ifdef ERYX_JOURNAL_OPTIONS_VERSION
    {"suspend", (PyCFunction)suspend, METH_O,
     "suspend(reason) -- halt the execution (it is reported as suspended)"},
#endif
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef call_getset[] = {
    {"cancelled", (getter)get_cancelled, NULL, "the sandbox no longer wants the answer",
     NULL},
    {"answered", (getter)get_answered, NULL, "an answer was given", NULL},
    {"on_cancel", (getter)get_on_cancel, (setter)set_on_cancel,
     "called (on the executing thread) if the call is cancelled", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ext_call_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eryx._eryx.Call",
    .tp_basicsize = sizeof(CallObject),
    .tp_dealloc = (destructor)dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A callback invocation waiting for its answer.",
    .tp_methods = call_methods,
    .tp_getset = call_getset,
};
