//! Build-time pass over the guest component's memory image: makes the
//! objects the guest listed at snapshot time immortal, so that reference
//! counting in a sandbox never writes (and so never copies) their pages.
//!
//! componentize-py's snapshot is the active data segments, at constant
//! offsets, of the one core module that defines the linear memory. The
//! guest (guest/eryx_guest/heap_image.py) left in that memory a list: a
//! 16-byte marker, a u32 count, then the address of each object. For each
//! address this pass sets the object's first word, its reference count, to
//! CPython's immortal value for 32-bit builds (5 << 28: any count at or
//! above 1 << 30 is immortal, and Py_INCREF / Py_DECREF then skip it). The
//! segments keep their sizes, so the bytes are patched in place.
//!
//! Only a word that holds a plausible mortal count (1 to 2^30 - 1) and lies
//! within one segment is patched; others are counted as skipped. A
//! component without the marker (another guest) is left as it is.

use std::os::raw::c_char;
use wasmparser::{DataKind, Operator, Parser, Payload};

const MARKER: [u32; 4] = [0x5952_4531, 0x4D4D_4F52, 0x5441_4C21, 0x7E2A_3F15];
const IMMORTAL_REFCNT: u32 = 5 << 28;
const IMMORTAL_MINIMUM: u32 = 1 << 30;

/// One active data segment: where it lands in linear memory and where its
/// bytes are in the component.
struct Segment {
    addr: u64,
    at: usize,
    len: usize,
}

fn segments(wasm: &[u8]) -> Result<Vec<Segment>, String> {
    let base = wasm.as_ptr() as usize;
    let mut found: Vec<Vec<Segment>> = Vec::new();
    let mut current: Vec<Segment> = Vec::new();
    let mut defines_memory = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("cannot parse the component: {e}"))? {
            Payload::Version { .. } => {
                current.clear();
                defines_memory = false;
            }
            Payload::MemorySection(r) => defines_memory |= r.count() > 0,
            Payload::DataSection(r) => {
                for data in r {
                    let data = data.map_err(|e| format!("cannot parse a data segment: {e}"))?;
                    let DataKind::Active { memory_index: 0, offset_expr } = data.kind else {
                        continue;
                    };
                    let mut ops = offset_expr.get_operators_reader();
                    let Ok(Operator::I32Const { value }) = ops.read() else {
                        continue; // a relocatable segment: not a snapshot's
                    };
                    current.push(Segment {
                        addr: value as u32 as u64,
                        at: data.data.as_ptr() as usize - base,
                        len: data.data.len(),
                    });
                }
            }
            // Each module starts with its Version, which resets the two.
            Payload::End(_) if defines_memory && !current.is_empty() => {
                found.push(std::mem::take(&mut current));
            }
            _ => {}
        }
    }
    match found.len() {
        0 => Ok(Vec::new()),
        1 => {
            let mut segs = found.pop().unwrap();
            segs.sort_by_key(|s| s.addr);
            Ok(segs)
        }
        n => Err(format!("{n} core modules define a memory with data: expected one")),
    }
}

/// The component's byte offset of linear-memory address `addr` .. `addr +
/// 4`, if one segment holds all four bytes.
fn word_at(segs: &[Segment], addr: u64) -> Option<usize> {
    let i = segs.partition_point(|s| s.addr <= addr).checked_sub(1)?;
    let s = &segs[i];
    (addr + 4 <= s.addr + s.len as u64).then(|| s.at + (addr - s.addr) as usize)
}

fn read_u32(wasm: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(wasm[at..at + 4].try_into().unwrap())
}

/// Finds the list and patches the reference counts it names; returns
/// (patched, skipped), or (0, 0) when there is no list.
fn immortalize(wasm: &mut [u8]) -> Result<(usize, usize), String> {
    let segs = segments(wasm)?;
    let marker: Vec<u8> = MARKER.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut lists = Vec::new();
    for s in &segs {
        let bytes = &wasm[s.at..s.at + s.len];
        for (i, w) in bytes.windows(marker.len()).enumerate() {
            if w == marker.as_slice() {
                lists.push(s.addr + i as u64);
            }
        }
    }
    let list = match lists.as_slice() {
        [] => return Ok((0, 0)),
        [one] => *one,
        more => return Err(format!("{} copies of the guest's object list: expected one", more.len())),
    };
    let count_at = word_at(&segs, list + 16).ok_or("the object list's count is not in the image")?;
    let count = read_u32(wasm, count_at) as u64;
    // A factory's build runs its packages' code, so the list may be
    // anyone's: nothing is sized by the count before the whole list is
    // known to be in the image.
    if count > 0 && word_at(&segs, list + 20 + 4 * (count - 1)).is_none() {
        return Err("the object list is cut short".into());
    }
    let mut words = Vec::new();
    for k in 0..count {
        let entry = word_at(&segs, list + 20 + 4 * k).ok_or("the object list is cut short")?;
        let obj = read_u32(wasm, entry) as u64;
        if let Some(at) = word_at(&segs, obj) {
            if (1..IMMORTAL_MINIMUM).contains(&read_u32(wasm, at)) {
                words.push(at);
            }
        }
    }
    for &at in &words {
        wasm[at..at + 4].copy_from_slice(&IMMORTAL_REFCNT.to_le_bytes());
    }
    Ok((words.len(), count as usize - words.len()))
}

/// Patches `wasm` (a component, `len` bytes, changed in place) as above.
/// Returns 0 and sets *patched and *skipped, or -1 with a message in `msg`
/// (NUL-terminated, at most `cap` bytes) and the bytes unchanged.
#[no_mangle]
pub unsafe extern "C" fn eryx__snapshot_immortalize(
    wasm: *mut u8,
    len: usize,
    patched: *mut usize,
    skipped: *mut usize,
    msg: *mut c_char,
    cap: usize,
) -> i32 {
    let bytes = std::slice::from_raw_parts_mut(wasm, len);
    match immortalize(bytes) {
        Ok((p, s)) => {
            *patched = p;
            *skipped = s;
            0
        }
        Err(e) => {
            if cap > 0 {
                let n = e.len().min(cap - 1);
                std::ptr::copy_nonoverlapping(e.as_ptr(), msg as *mut u8, n);
                *msg.add(n) = 0;
            }
            -1
        }
    }
}
