//! The sandbox's file tree (src/vfs*.c) as a WASI preopen.
//!
//! Why: the Wasmtime C API only preopens host directories, and the mount
//! must stay in host memory under its quota. So, as wasi_block.rs does for
//! the blocking functions, `eryx_linker_add_vfs` shadows
//! `wasi:filesystem/preopens` `get-directories` (wasmtime-wasi's list plus
//! the tree at its mount path, when the store's sandbox has one) and every
//! method of `wasi:filesystem/types`' `descriptor` and
//! `directory-entry-stream`, with their resource destructors.
//!
//! A descriptor of ours (`VDesc`) lives in the same ResourceTable as
//! wasmtime-wasi's `Descriptor`, under the handle type of the latter; each
//! function looks the handle up as ours first and otherwise hands the call,
//! unchanged, to wasmtime-wasi's implementation (so /python and package
//! mounts behave exactly as before). Our descriptors name their entry by
//! inode number; every operation is one call into C (`FsHooks::call`, under
//! the tree's lock), which checks everything the guest sent. Streams
//! (`read-via-stream`, `write-via-stream`, `append-via-stream`) are
//! wasmtime-wasi-io streams of our own that keep an offset and call the
//! same hook. What a store holds is bounded: at most MAX_OPEN descriptors
//! and streams of ours per mount, reads at most MAX_READ per call.
use std::ffi::c_void;
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::{ComponentNamedList, Lift, Linker, Lower, Resource, ResourceType};
use wasmtime::{bail, AsContext, Result, StoreContextMut};
use wasmtime_c_api::{wasmtime_component_linker_t, wasmtime_context_get_data, wasmtime_error_t, WasmtimeStoreData};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{
    self as fst, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, ErrorCode,
    Host as _, HostDescriptor as _, HostDirectoryEntryStream as _, MetadataHashValue, NewTimestamp,
    OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{FsResult, ReaddirIterator};
use wasmtime_wasi::WasiView;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, InputStream, OutputStream, StreamError, StreamResult};

const TYPES: &str = "wasi:filesystem/types@0.2.12";
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";
const MAX_OPEN: usize = 1024;
const MAX_READ: u64 = 1 << 20;
/// `upper` of our metadata hashes, so they never equal a host file's.
const HASH_UPPER: u64 = 0x4552_5958_5646_5300;

// The C side's request, reply and hooks (src/internal.h).
const EFS_STAT: u32 = 1;
const EFS_OPEN: u32 = 2;
const EFS_READ: u32 = 3;
const EFS_WRITE: u32 = 4;
const EFS_SETSIZE: u32 = 5;
const EFS_LIST: u32 = 6;
const EFS_MKDIR: u32 = 7;
const EFS_RMDIR: u32 = 8;
const EFS_UNLINK: u32 = 9;
const EFS_RENAME: u32 = 10;
const EFS_UTIME: u32 = 11;
const EFS_HOLD: u32 = 12;
const EFS_RELEASE: u32 = 13;
const EFS_O_CREATE: u32 = 1;
const EFS_O_EXCL: u32 = 2;
const EFS_O_TRUNC: u32 = 4;
const EFS_O_DIRECTORY: u32 = 8;
const EFS_APPEND: u32 = 16;
const EFS_T_NOW: u32 = 32;
const EFS_T_SET: u32 = 64;

#[repr(C)]
struct Req {
    op: u32,
    flags: u32,
    ino: u64,
    ino2: u64,
    offset: u64,
    size: u64,
    path: *const u8,
    path2: *const u8,
    path_len: usize,
    path2_len: usize,
    data: *const u8,
    data_len: usize,
    out: *mut u8,
    out_len: usize,
}

impl Req {
    fn new(op: u32, ino: u64) -> Req {
        Req {
            op, flags: 0, ino, ino2: 0, offset: 0, size: 0,
            path: std::ptr::null(), path2: std::ptr::null(), path_len: 0, path2_len: 0,
            data: std::ptr::null(), data_len: 0, out: std::ptr::null_mut(), out_len: 0,
        }
    }
    fn path(mut self, p: &str) -> Req {
        self.path = p.as_ptr();
        self.path_len = p.len();
        self
    }
}

#[repr(C)]

struct Rep {
    ino: u64,
    size: u64,
    mtime_ns: u64,
    n: u64,
    dir: u8,
    list: *mut u8,
    list_len: usize,
}



#[repr(C)]
pub struct FsHooks {
    tree: unsafe extern "C" fn(*mut c_void, *mut *const u8, *mut usize) -> *mut c_void,
    release: unsafe extern "C" fn(*mut c_void),
    call: unsafe extern "C" fn(*mut c_void, *const Req, *mut Rep) -> i32,
    free: unsafe extern "C" fn(*mut u8),
}

/// A reference to a C tree (released on drop). The tree has its own lock.
struct Tree {
    hooks: &'static FsHooks,
    ptr: *mut c_void,
}
unsafe impl Send for Tree {}
unsafe impl Sync for Tree {}
impl Drop for Tree {
    fn drop(&mut self) {
        unsafe { (self.hooks.release)(self.ptr) }
    }
}

fn code_of(c: i32) -> ErrorCode {
    match c {
        1 => ErrorCode::NoEntry,
        2 => ErrorCode::Exist,
        3 => ErrorCode::NotDirectory,
        4 => ErrorCode::IsDirectory,
        5 => ErrorCode::NotEmpty,
        6 => ErrorCode::InsufficientSpace,
        7 => ErrorCode::Invalid,
        8 => ErrorCode::NameTooLong,
        9 => ErrorCode::InsufficientMemory,
        20 => ErrorCode::NotPermitted,
        _ => ErrorCode::Io,
    }
}

impl Tree {
    /// One call into C; the reply's list (if any) is copied and freed.
    fn call(&self, req: &Req) -> Result<(Rep, Vec<u8>), i32> {
        let mut rep = Rep { ino: 0, size: 0, mtime_ns: 0, n: 0, dir: 0, list: std::ptr::null_mut(), list_len: 0 };
        let c = unsafe { (self.hooks.call)(self.ptr, req, &mut rep) };
        let mut list = Vec::new();
        if !rep.list.is_null() {
            list.extend_from_slice(unsafe { std::slice::from_raw_parts(rep.list, rep.list_len) });
            unsafe { (self.hooks.free)(rep.list) };
            rep.list = std::ptr::null_mut();
        }
        if c != 0 {
            return Err(c);
        }
        Ok((rep, list))
    }
    fn run(&self, req: &Req) -> Result<Rep, ErrorCode> {
        self.call(req).map(|(r, _)| r).map_err(code_of)
    }
}

/// The mount of one store: shared by its descriptors and streams, so that
/// their count is bounded (MAX_OPEN).
struct Mount;

/// A descriptor of ours: an entry of the store's tree (0: its root). The
/// tree itself is asked from C at each call (`FsHooks::tree`): while a
/// snapshot restore is tried the sandbox lends it to nobody, and the
/// mount is then there but empty-handed (EACCES).
struct VDesc {
    mount: Arc<Mount>,
    ino: u64,
    dir: bool,
    read: bool,
    write: bool,
}

struct VDirStream(std::vec::IntoIter<DirectoryEntry>);

struct VIn {
    tree: Tree,
    _mount: Arc<Mount>,
    ino: u64,
    offset: u64,
}

struct VOut {
    tree: Tree,
    _mount: Arc<Mount>,
    ino: u64,
    offset: u64,
    append: bool,
}

#[async_trait::async_trait]
impl Pollable for VIn {
    async fn ready(&mut self) {}
}
#[async_trait::async_trait]
impl Pollable for VOut {
    async fn ready(&mut self) {}
}

/// A stream's failure, answered by our `filesystem-error-code`.
#[derive(Debug)]
struct TreeError(i32);
impl std::fmt::Display for TreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "file tree error {}", self.0)
    }
}
impl std::error::Error for TreeError {}

fn stream_err(c: i32) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(TreeError(c)))
}

#[async_trait::async_trait]
impl InputStream for VIn {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let want = (size as u64).min(MAX_READ) as usize;
        let mut buf = vec![0u8; want];
        let mut req = Req::new(EFS_READ, self.ino);
        req.offset = self.offset;
        req.out = buf.as_mut_ptr();
        req.out_len = want;
        let (rep, _) = self.tree.call(&req).map_err(stream_err)?;
        if rep.n == 0 && want > 0 {
            return Err(StreamError::Closed);
        }
        buf.truncate(rep.n as usize);
        self.offset = self.offset.saturating_add(rep.n);
        Ok(Bytes::from(buf))
    }
}

impl VOut {
    fn put(&mut self, bytes: &[u8]) -> StreamResult<()> {
        let mut req = Req::new(EFS_WRITE, self.ino);
        req.offset = self.offset;
        req.data = bytes.as_ptr();
        req.data_len = bytes.len();
        if self.append {
            req.flags = EFS_APPEND;
        }
        let (rep, _) = self.tree.call(&req).map_err(stream_err)?;
        self.offset = rep.size; // the end of what was written
        Ok(())
    }
}

#[async_trait::async_trait]
impl OutputStream for VOut {
    /// The whole buffer or nothing (wasi-libc hands over a whole write()
    /// at once, whatever check-write said).
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.put(&bytes)
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_READ as usize)
    }
    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.put(&bytes)
    }
}

type Store<'a> = StoreContextMut<'a, WasmtimeStoreData>;
type D = Resource<Descriptor>;
type S = Resource<ReaddirIterator>;

/// What a call on one of our descriptors works with.
type Ours = (Tree, u64, bool, bool, bool, Arc<Mount>);

/// The store's tree, with a reference of its own; EACCES when the sandbox
/// lends it to nobody right now.
fn tree_of(s: &Store<'_>, hooks: &'static FsHooks) -> Result<Tree, ErrorCode> {
    let sd = wasmtime_context_get_data(s.as_context());
    let mut mount: *const u8 = std::ptr::null();
    let mut len = 0usize;
    let ptr = unsafe { (hooks.tree)(sd, &mut mount, &mut len) };
    if ptr.is_null() {
        return Err(ErrorCode::Access);
    }
    Ok(Tree { hooks, ptr })
}

/// Some if the handle is one of our descriptors (with the store's tree, or
/// the error that there is none now).
fn ours(s: &mut Store<'_>, fd: &D, hooks: &'static FsHooks) -> Option<Result<Ours, ErrorCode>> {
    let t = s.data_mut().ctx().table;
    let any = t.get_any_mut(fd.rep()).ok()?;
    let d = any.downcast_ref::<VDesc>()?;
    let (mount, ino, dir, read, write) = (d.mount.clone(), d.ino, d.dir, d.read, d.write);
    Some(tree_of(s, hooks).map(|tree| (tree, ino, dir, read, write, mount)))
}

fn open_count(mount: &Arc<Mount>) -> usize {
    Arc::strong_count(mount)
}

/// wasmtime-wasi's answer, as the WIT result.
fn theirs<T>(s: &mut Store<'_>, r: FsResult<T>) -> Result<(Result<T, ErrorCode>,)> {
    match r {
        Ok(v) => Ok((Ok(v),)),
        Err(e) => Ok((Err(s.data_mut().filesystem().convert_error_code(e)?),)),
    }
}

fn datetime(ns: u64) -> Datetime {
    Datetime { seconds: ns / 1_000_000_000, nanoseconds: (ns % 1_000_000_000) as u32 }
}

fn stat_of(rep: &Rep) -> DescriptorStat {
    let t = Some(datetime(rep.mtime_ns));
    DescriptorStat {
        type_: if rep.dir != 0 { DescriptorType::Directory } else { DescriptorType::RegularFile },
        link_count: 1,
        size: rep.size,
        data_access_timestamp: t,
        data_modification_timestamp: t,
        status_change_timestamp: t,
    }
}

fn replace<F, P, R>(l: &mut Linker<WasmtimeStoreData>, inst: &str, name: &str, f: F) -> Result<()>
where
    F: Fn(Store<'_>, P) -> Result<R> + Send + Sync + 'static,
    P: ComponentNamedList + Lift + 'static,
    R: ComponentNamedList + Lower + 'static,
{
    l.allow_shadowing(false);
    if l.instance(inst)?.func_wrap(name, |_: Store<'_>, (): ()| Ok(())).is_ok() {
        bail!("eryx: WASI has no `{inst}` `{name}` to serve the file tree");
    }
    l.allow_shadowing(true);
    let r = l.instance(inst)?.func_wrap(name, f);
    l.allow_shadowing(false);
    r
}

fn shadow(l: &mut Linker<WasmtimeStoreData>, hooks: &'static FsHooks) -> Result<()> {
    replace(l, PREOPENS, "get-directories", move |mut s: Store<'_>, (): ()| {
        let mut list = wasmtime_wasi::p2::bindings::filesystem::preopens::Host::get_directories(&mut s.data_mut().filesystem())?;
        let sd = wasmtime_context_get_data(s.as_context());
        let mut mount: *const u8 = std::ptr::null();
        let mut len = 0usize;
        let ptr = unsafe { (hooks.tree)(sd, &mut mount, &mut len) };
        if !ptr.is_null() {
            drop(Tree { hooks, ptr });
        }
        if !mount.is_null() && len > 0 {
            let name = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(mount, len) }).into_owned();
            let d = VDesc { mount: Arc::new(Mount), ino: 0, dir: true, read: true, write: true };
            let r = s.data_mut().ctx().table.push(d)?;
            list.push((Resource::new_own(r.rep()), name));
        }
        Ok((list,))
    })?;

    replace(l, TYPES, "filesystem-error-code", move |mut s: Store<'_>, (e,): (Resource<wasmtime::Error>,)| {
        if let Ok(err) = s.data_mut().ctx().table.get(&e) {
            if let Some(te) = err.downcast_ref::<TreeError>() {
                return Ok((Some(code_of(te.0)),));
            }
        }
        Ok((s.data_mut().filesystem().filesystem_error_code(e)?,))
    })?;

    // Destructors: ours or wasmtime-wasi's, by what the table holds.
    l.allow_shadowing(true);
    let r = l.instance(TYPES)?.resource("descriptor", ResourceType::host::<Descriptor>(), move |mut s, rep| {
        let t = s.data_mut().ctx().table;
        if t.get_any_mut(rep).map(|a| a.is::<VDesc>()).unwrap_or(false) {
            let d = t.delete(Resource::<VDesc>::new_own(rep))?;
            if !d.dir {
                if let Ok(tree) = tree_of(&s, hooks) {
                    let _ = tree.run(&Req::new(EFS_RELEASE, d.ino));
                }
            }
            Ok(())
        } else {
            fst::HostDescriptor::drop(&mut s.data_mut().filesystem(), Resource::new_own(rep))
        }
    });
    let r2 = r.and_then(|_| {
        l.instance(TYPES)?.resource("directory-entry-stream", ResourceType::host::<ReaddirIterator>(), |mut s, rep| {
            let t = s.data_mut().ctx().table;
            if t.get_any_mut(rep).map(|a| a.is::<VDirStream>()).unwrap_or(false) {
                t.delete(Resource::<VDirStream>::new_own(rep))?;
                Ok(())
            } else {
                fst::HostDirectoryEntryStream::drop(&mut s.data_mut().filesystem(), Resource::new_own(rep))
            }
        })
    });
    l.allow_shadowing(false);
    r2?;

    // One descriptor method: `$ours` when the first handle is ours, else
    // wasmtime-wasi's.
    macro_rules! method {
        ($name:literal, $m:ident, |$s:ident, $fd:ident: D $(, $arg:ident: $ty:ty)*| $v:ident => $ours:expr) => {
            replace(l, TYPES, $name, move |mut $s: Store<'_>, ($fd, $($arg,)*): (D, $($ty,)*)| {
                if let Some(o) = ours(&mut $s, &$fd, hooks) {
                    let $v = match o {
                        Ok(v) => v,
                        Err(e) => return Ok((Err(e),)),
                    };
                    return Ok(($ours,));
                }
                let r = $s.data_mut().filesystem().$m($fd, $($arg),*);
                theirs(&mut $s, r)
            })?;
        };
    }

    // (tree, ino, dir, read, write)
    method!("[method]descriptor.advise", advise, |s, fd: D, a: u64, b: u64, c: fst::Advice| _v => Ok(()));
    method!("[method]descriptor.sync-data", sync_data, |s, fd: D| _v => Ok(()));
    method!("[method]descriptor.sync", sync, |s, fd: D| _v => Ok(()));
    method!("[method]descriptor.get-flags", get_flags, |s, fd: D| v => {
        let mut f = DescriptorFlags::empty();
        if v.3 { f |= DescriptorFlags::READ; }
        if v.4 { f |= DescriptorFlags::WRITE; }
        if v.2 { f |= DescriptorFlags::MUTATE_DIRECTORY; }
        Ok(f)
    });
    method!("[method]descriptor.get-type", get_type, |s, fd: D| v => {
        Ok(if v.2 { DescriptorType::Directory } else { DescriptorType::RegularFile })
    });
    method!("[method]descriptor.set-size", set_size, |s, fd: D, size: u64| v => {
        if v.2 { Err(ErrorCode::IsDirectory) }
        else if !v.4 { Err(ErrorCode::BadDescriptor) }
        else { let mut q = Req::new(EFS_SETSIZE, v.1); q.size = size; v.0.run(&q).map(|_| ()) }
    });
    method!("[method]descriptor.set-times", set_times, |s, fd: D, a: NewTimestamp, m: NewTimestamp| v => {
        let _ = a;
        utime(&v.0, v.1, "", m)
    });
    method!("[method]descriptor.read", read, |s, fd: D, len: u64, offset: u64| v => {
        if v.2 { Err(ErrorCode::IsDirectory) }
        else if !v.3 { Err(ErrorCode::BadDescriptor) }
        else {
            let want = len.min(MAX_READ) as usize;
            let mut buf = vec![0u8; want];
            let mut q = Req::new(EFS_READ, v.1);
            q.offset = offset;
            q.out = buf.as_mut_ptr();
            q.out_len = want;
            v.0.run(&q).map(|rep| {
                buf.truncate(rep.n as usize);
                let end = rep.n == 0;
                (buf, end)
            })
        }
    });
    method!("[method]descriptor.write", write, |s, fd: D, buf: Vec<u8>, offset: u64| v => {
        if v.2 { Err(ErrorCode::IsDirectory) }
        else if !v.4 { Err(ErrorCode::BadDescriptor) }
        else {
            let mut q = Req::new(EFS_WRITE, v.1);
            q.offset = offset;
            q.data = buf.as_ptr();
            q.data_len = buf.len();
            v.0.run(&q).map(|rep| rep.n)
        }
    });
    method!("[method]descriptor.stat", stat, |s, fd: D| v => {
        v.0.run(&Req::new(EFS_STAT, v.1)).map(|r| stat_of(&r))
    });
    method!("[method]descriptor.stat-at", stat_at, |s, fd: D, pf: PathFlags, path: String| v => {
        let _ = pf;
        v.0.run(&Req::new(EFS_STAT, v.1).path(&path)).map(|r| stat_of(&r))
    });
    method!("[method]descriptor.set-times-at", set_times_at,
            |s, fd: D, pf: PathFlags, path: String, a: NewTimestamp, m: NewTimestamp| v => {
        let _ = (pf, a);
        utime(&v.0, v.1, &path, m)
    });
    method!("[method]descriptor.create-directory-at", create_directory_at, |s, fd: D, path: String| v => {
        v.0.run(&Req::new(EFS_MKDIR, v.1).path(&path)).map(|_| ())
    });
    method!("[method]descriptor.remove-directory-at", remove_directory_at, |s, fd: D, path: String| v => {
        v.0.run(&Req::new(EFS_RMDIR, v.1).path(&path)).map(|_| ())
    });
    method!("[method]descriptor.unlink-file-at", unlink_file_at, |s, fd: D, path: String| v => {
        v.0.run(&Req::new(EFS_UNLINK, v.1).path(&path)).map(|_| ())
    });
    method!("[method]descriptor.readlink-at", readlink_at, |s, fd: D, path: String| v => {
        // A tree has no links: an entry that exists is not one.
        v.0.run(&Req::new(EFS_STAT, v.1).path(&path)).and_then(|_| Err::<String, _>(ErrorCode::Invalid))
    });
    method!("[method]descriptor.symlink-at", symlink_at, |s, fd: D, old: String, new: String| _v => {
        let _ = (old, new);
        Err(ErrorCode::NotPermitted)
    });
    method!("[method]descriptor.metadata-hash", metadata_hash, |s, fd: D| v => {
        v.0.run(&Req::new(EFS_STAT, v.1)).map(|r| MetadataHashValue { lower: r.ino + 1, upper: HASH_UPPER })
    });
    method!("[method]descriptor.metadata-hash-at", metadata_hash_at, |s, fd: D, pf: PathFlags, path: String| v => {
        let _ = pf;
        v.0.run(&Req::new(EFS_STAT, v.1).path(&path)).map(|r| MetadataHashValue { lower: r.ino + 1, upper: HASH_UPPER })
    });

    // Functions that make new resources, or take two descriptors.
    replace(l, TYPES, "[method]descriptor.open-at",
            move |mut s: Store<'_>, (fd, pf, path, of, fl): (D, PathFlags, String, OpenFlags, DescriptorFlags)| {
        let v = match ours(&mut s, &fd, hooks) {
            None => {
                let r = s.data_mut().filesystem().open_at(fd, pf, path, of, fl);
                return theirs(&mut s, r);
            }
            Some(Err(e)) => return Ok((Err(e),)),
            Some(Ok(v)) => v,
        };
        if !v.2 {
            return Ok((Err(ErrorCode::NotDirectory),));
        }
        if open_count(&v.5) > MAX_OPEN {
            return Ok((Err(ErrorCode::InsufficientMemory),));
        }
        let mut q = Req::new(EFS_OPEN, v.1).path(&path);
        if of.contains(OpenFlags::CREATE) { q.flags |= EFS_O_CREATE; }
        if of.contains(OpenFlags::EXCLUSIVE) { q.flags |= EFS_O_EXCL; }
        if of.contains(OpenFlags::TRUNCATE) { q.flags |= EFS_O_TRUNC; }
        if of.contains(OpenFlags::DIRECTORY) { q.flags |= EFS_O_DIRECTORY; }
        let rep = match v.0.run(&q) {
            Ok(r) => r,
            Err(e) => return Ok((Err(e),)),
        };
        let dir = rep.dir != 0;
        let write = fl.contains(DescriptorFlags::WRITE);
        if dir && write {
            return Ok((Err(ErrorCode::IsDirectory),));
        }
        if !dir {
            // Held open: removing the file keeps it for this descriptor.
            let _ = v.0.run(&Req::new(EFS_HOLD, rep.ino));
        }
        let d = VDesc { mount: v.5, ino: rep.ino, dir, read: fl.contains(DescriptorFlags::READ) || dir, write };
        let r = s.data_mut().ctx().table.push(d)?;
        Ok((Ok(Resource::new_own(r.rep())),))
    })?;

    replace(l, TYPES, "[method]descriptor.read-directory", move |mut s: Store<'_>, (fd,): (D,)| {
        let v = match ours(&mut s, &fd, hooks) {
            None => {
                let r = s.data_mut().filesystem().read_directory(fd);
                return theirs(&mut s, r);
            }
            Some(Err(e)) => return Ok((Err(e),)),
            Some(Ok(v)) => v,
        };
        if !v.2 {
            return Ok((Err(ErrorCode::NotDirectory),));
        }
        let list = match v.0.call(&Req::new(EFS_LIST, v.1)) {
            Ok((_, l)) => l,
            Err(c) => return Ok((Err(code_of(c)),)),
        };
        let mut entries = Vec::new();
        for item in list.split(|b| *b == 0).filter(|i| !i.is_empty()) {
            let type_ = if item[0] == b'd' { DescriptorType::Directory } else { DescriptorType::RegularFile };
            entries.push(DirectoryEntry { type_, name: String::from_utf8_lossy(&item[1..]).into_owned() });
        }
        let r = s.data_mut().ctx().table.push(VDirStream(entries.into_iter()))?;
        Ok((Ok(Resource::<ReaddirIterator>::new_own(r.rep())),))
    })?;

    replace(l, TYPES, "[method]directory-entry-stream.read-directory-entry", move |mut s: Store<'_>, (st,): (S,)| {
        let t = s.data_mut().ctx().table;
        if let Some(ds) = t.get_any_mut(st.rep()).ok().and_then(|a| a.downcast_mut::<VDirStream>()) {
            return Ok((Ok(ds.0.next()),));
        }
        let r = s.data_mut().filesystem().read_directory_entry(st);
        theirs(&mut s, r)
    })?;

    macro_rules! stream {
        ($name:literal, $m:ident, |$s:ident, $fd:ident $(, $arg:ident: $ty:ty)*| $v:ident => $make:expr) => {
            replace(l, TYPES, $name, move |mut $s: Store<'_>, ($fd, $($arg,)*): (D, $($ty,)*)| {
                let $v = match ours(&mut $s, &$fd, hooks) {
                    None => {
                        let r = $s.data_mut().filesystem().$m($fd, $($arg),*);
                        return theirs(&mut $s, r);
                    }
                    Some(Err(e)) => return Ok((Err(e),)),
                    Some(Ok(v)) => v,
                };
                if $v.2 {
                    return Ok((Err(ErrorCode::IsDirectory),));
                }
                if open_count(&$v.5) > MAX_OPEN {
                    return Ok((Err(ErrorCode::InsufficientMemory),));
                }
                $make
            })?;
        };
    }
    stream!("[method]descriptor.read-via-stream", read_via_stream, |s, fd, offset: u64| v => {
        if !v.3 {
            return Ok((Err(ErrorCode::BadDescriptor),));
        }
        let st: DynInputStream = Box::new(VIn { tree: v.0, _mount: v.5, ino: v.1, offset });
        let r = s.data_mut().ctx().table.push(st)?;
        Ok((Ok(r),))
    });
    stream!("[method]descriptor.write-via-stream", write_via_stream, |s, fd, offset: u64| v => {
        if !v.4 {
            return Ok((Err(ErrorCode::BadDescriptor),));
        }
        let st: DynOutputStream = Box::new(VOut { tree: v.0, _mount: v.5, ino: v.1, offset, append: false });
        let r = s.data_mut().ctx().table.push(st)?;
        Ok((Ok(r),))
    });
    stream!("[method]descriptor.append-via-stream", append_via_stream, |s, fd| v => {
        if !v.4 {
            return Ok((Err(ErrorCode::BadDescriptor),));
        }
        let st: DynOutputStream = Box::new(VOut { tree: v.0, _mount: v.5, ino: v.1, offset: 0, append: true });
        let r = s.data_mut().ctx().table.push(st)?;
        Ok((Ok(r),))
    });

    replace(l, TYPES, "[method]descriptor.is-same-object", move |mut s: Store<'_>, (a, b): (D, D)| {
        match (ours(&mut s, &a, hooks), ours(&mut s, &b, hooks)) {
            (Some(Ok(x)), Some(Ok(y))) => Ok((x.1 == y.1 && Arc::ptr_eq(&x.5, &y.5),)),
            (Some(_), Some(_)) => Ok((false,)),
            (None, None) => Ok((s.data_mut().filesystem().is_same_object(a, b)?,)),
            _ => Ok((false,)),
        }
    })?;

    replace(l, TYPES, "[method]descriptor.rename-at",
            move |mut s: Store<'_>, (a, p1, b, p2): (D, String, D, String)| {
        match (ours(&mut s, &a, hooks), ours(&mut s, &b, hooks)) {
            (Some(Err(e)), Some(_)) | (Some(_), Some(Err(e))) => Ok((Err(e),)),
            // Both in this store's mount, so in the same tree.
            (Some(Ok(x)), Some(Ok(y))) => {
                let mut q = Req::new(EFS_RENAME, x.1).path(&p1);
                q.ino2 = y.1;
                q.path2 = p2.as_ptr();
                q.path2_len = p2.len();
                Ok((x.0.run(&q).map(|_| ()),))
            }
            (None, None) => {
                let r = s.data_mut().filesystem().rename_at(a, p1, b, p2);
                theirs(&mut s, r)
            }
            _ => Ok((Err(ErrorCode::CrossDevice),)),
        }
    })?;

    replace(l, TYPES, "[method]descriptor.link-at",
            move |mut s: Store<'_>, (a, pf, p1, b, p2): (D, PathFlags, String, D, String)| {
        match (ours(&mut s, &a, hooks), ours(&mut s, &b, hooks)) {
            (None, None) => {
                let r = s.data_mut().filesystem().link_at(a, pf, p1, b, p2);
                theirs(&mut s, r)
            }
            (Some(_), Some(_)) => Ok((Err(ErrorCode::NotPermitted),)),
            _ => Ok((Err(ErrorCode::CrossDevice),)),
        }
    })?;
    Ok(())
}

fn utime(tree: &Tree, ino: u64, path: &str, m: NewTimestamp) -> Result<(), ErrorCode> {
    let mut q = Req::new(EFS_UTIME, ino).path(path);
    match m {
        NewTimestamp::NoChange => {}
        NewTimestamp::Now => q.flags = EFS_T_NOW,
        NewTimestamp::Timestamp(t) => {
            q.flags = EFS_T_SET;
            q.offset = t.seconds.saturating_mul(1_000_000_000).saturating_add(u64::from(t.nanoseconds.min(999_999_999)));
        }
    }
    tree.run(&q).map(|_| ())
}

/// Serves the store's sandbox's tree (see the top of this file) on a linker
/// that already has WASI. Returns NULL or an owned error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eryx_linker_add_vfs(
    linker: &mut wasmtime_component_linker_t,
    hooks: &'static FsHooks,
) -> Option<Box<wasmtime_error_t>> {
    let linker = linker as *mut wasmtime_component_linker_t as *mut Linker<WasmtimeStoreData>;
    let result = shadow(unsafe { &mut *linker }, hooks);
    result.err().map(|e| Box::new(wasmtime_error_t::from(e)))
}
