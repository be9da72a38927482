"""The snapshot heap, laid out so that sandboxes share as much of it as they
can. Every sandbox's linear memory starts as a copy-on-write map of the
build-time snapshot: each page a sandbox writes becomes its own copy (a page
fault, 4 KiB of private memory). Two kinds of writes went to pages all over
the 17 MiB image on every execution (bench/README.md, "Where the page faults
land"), and both are stopped here, at the end of the snapshot:

- malloc's free chunks. The snapshot heap is full of small holes left by the
  build-time imports, and a sandbox's first allocations went into them, in
  every MiB of the image. `plug_holes` fills them with bytes objects kept
  for ever (they cost no memory per sandbox: nobody writes their pages), so
  a sandbox allocates from the top of the heap.
- reference counts. Using a module's function or a builtin increments and
  decrements its reference count, which writes its page. `list_for_immortality`
  lists every object reachable at snapshot time, by address, in one
  bytearray that starts with a marker. The build's compile step
  (deps/wasmtime/src/snapshot_image.rs, through eryx__snapshot_prepare)
  finds the list in the component's memory image and sets each listed
  object's reference count to CPython's immortal value, which increments
  and decrements skip. The objects are kept alive by `_keep`, so no listed
  address can be freed and reused before the snapshot is taken; immortal
  objects are never deallocated anyway.

What a sandbox sees: `sys.getrefcount()` of a snapshot object is a huge
number (as it is already for None or small ints), and a snapshot object's
`__del__` or weakref callbacks never run. Objects a sandbox makes are
ordinary.
"""

import gc
import struct
import sys

# The list's marker: four u32 words with no zero byte, written with
# struct.pack_into straight into the list, so the 16 bytes exist nowhere
# else in memory (not in a constant, not in a freed temporary). The build
# step must find exactly one copy. Then: u32 count, u32 addresses.
_MARKER = (0x5952_4531, 0x4D4D_4F52, 0x5441_4C21, 0x7E2A_3F15)
_HEADER = "<4II"
_HEADER_SIZE = struct.calcsize(_HEADER)

_keep = []        # every listed object, alive until the snapshot is taken
_list = None      # the marker-headed bytearray the build step reads
_plugs = []       # the bytes objects filling malloc's free chunks


def list_for_immortality():
    """Lists every object reachable from the collector's objects (modules,
    functions, types, their dicts, and the strings, ints and tuples they
    hold, also through immortal objects) that is not already immortal.
    Called again (a factory's second snapshot step), it replaces the
    earlier list, whose marker it erases."""
    global _list
    if _list is not None:
        _list[:16] = bytes(16)  # in place: the old copy must not be found
    todo = gc.get_objects()
    todo.append(sys.modules)
    seen = set()
    keep = []
    while todo:
        obj = todo.pop()
        addr = id(obj)
        if addr in seen or obj is todo or obj is seen or obj is keep:
            continue
        seen.add(addr)
        if not sys._is_immortal(obj):  # immortal ones are walked, not listed
            keep.append(obj)
        todo.extend(gc.get_referents(obj))
    del todo, seen
    addrs = bytearray(_HEADER_SIZE + 4 * len(keep))
    struct.pack_into(f"<{len(keep)}I", addrs, _HEADER_SIZE, *(id(o) for o in keep))
    struct.pack_into(_HEADER, addrs, 0, *_MARKER, len(keep))
    _keep[:] = keep
    _list = addrs


def plug_holes():
    """Fills malloc's free chunks: allocates bytes objects, largest first,
    for as long as each lands below the top of the heap (an allocation at
    or past the top means no free chunk that large is left)."""
    probe = bytes(1 << 20)  # no hole is this large: it comes from the top
    top = id(probe)
    del probe
    size = 1 << 16
    while size >= 2:  # bytes of length 0 and 1 are shared singletons
        while True:
            plug = bytes(size)
            if id(plug) >= top:
                del plug
                break
            _plugs.append(plug)
        size = size * 7 // 8 if size > 16 else size - 1
