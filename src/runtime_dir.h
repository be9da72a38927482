/*
 * runtime_dir.h — the layout of the default runtime directory's slot, shared
 * by the library (runtime_dir.c) and the install-time tool that rewrites it
 * (tools/set_runtime_dir.c).
 *
 * The slot is a fixed-size array in the library's read-only data: the mark
 * below, then the directory as a NUL-terminated string, then NULs up to
 * ERYX_RUNTIME_DIR_MAX bytes. A build starts with its own runtime
 * directory in it (build/runtime); `cmake --install` copies the library and
 * writes the installed runtime directory into the copy's slot, the way
 * CMake rewrites an installed library's RPATH, so the same objects serve
 * the build tree and whatever prefix is chosen at install time.
 */
#ifndef ERYX_RUNTIME_DIR_H
#define ERYX_RUNTIME_DIR_H

#define ERYX_RUNTIME_DIR_MARK "eryx-default-runtime-dir:"
/* Bytes after the mark: the longest directory is one less (its NUL). */
#define ERYX_RUNTIME_DIR_MAX 4096

#endif
