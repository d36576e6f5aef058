//! Executable memory for compiled code, and the global registry that maps a program
//! counter back to its module (for trap handling and backtraces).
//!
//! Code is written while its pages are read-write, then flipped to read-execute: never
//! writable and executable at once.

use alloc::collections::BTreeMap;
use core::ops::Range;

use spin::RwLock;

use crate::error::Result;
use crate::memory::page_alloc::{PageAllocator, Region};
use crate::platform::Protection;
use crate::prelude::*;
use crate::trap::{FrameInfo, TrapCode};

/// A trap site: an instruction that can fault, and what the fault means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapSite {
    pub offset: u32,
    pub code: TrapCode,
}

/// What the trap handler and backtraces need to know about one piece of code.
#[derive(Debug)]
pub struct CodeInfo {
    pub start: usize,
    pub end: usize,
    pub traps: Vec<TrapSite>,
    /// Code ranges of defined functions (offsets from `start`), in definition order.
    pub functions: Vec<Range<u32>>,
    /// Index of the first defined function in the module's function space.
    pub first_defined_func: u32,
    pub module_name: Option<String>,
    pub func_names: hashbrown::HashMap<u32, String>,
}

impl CodeInfo {
    /// The trap code of the instruction at `pc`, if it is a trap site.
    pub fn trap_at(&self, pc: usize) -> Option<TrapCode> {
        let offset = (pc - self.start) as u32;
        let index = self.traps.binary_search_by_key(&offset, |site| site.offset).ok()?;
        Some(self.traps[index].code)
    }

    /// The defined function containing `pc` and the offset inside it.
    pub fn function_at(&self, pc: usize) -> Option<(u32, u32)> {
        let offset = (pc.checked_sub(self.start)?) as u32;
        let index = self.functions.partition_point(|range| range.end <= offset);
        let range = self.functions.get(index)?;
        range.contains(&offset).then(|| (self.first_defined_func + index as u32, offset - range.start))
    }

    /// A backtrace frame for `pc`, if it lies in a function.
    pub fn frame_info(&self, pc: usize) -> Option<FrameInfo> {
        let (func_index, code_offset) = self.function_at(pc)?;
        Some(FrameInfo {
            func_index,
            func_name: self.func_names.get(&func_index).cloned(),
            module_name: self.module_name.clone(),
            code_offset,
        })
    }
}

static REGISTRY: RwLock<BTreeMap<usize, Arc<CodeInfo>>> = RwLock::new(BTreeMap::new());

/// Runs `f` on the code containing `pc`, for fault handlers: never blocks forever. If
/// another thread is changing the registry, it waits for that (briefly); if the
/// registry stays locked (the faulting code itself holds it, which only happens for a
/// fault in the runtime, never in wasm), the answer is "not wasm".
pub fn with_code_at<R>(pc: usize, f: impl FnOnce(&CodeInfo) -> R) -> Option<R> {
    let mut attempts = 0u32;
    let registry = loop {
        if let Some(registry) = REGISTRY.try_read() {
            break registry;
        }
        attempts += 1;
        if attempts > 50_000_000 {
            return None;
        }
        core::hint::spin_loop();
    };
    let (_, info) = registry.range(..=pc).next_back()?;
    (pc < info.end).then(|| f(info))
}

/// Whether `pc` is inside registered code.
pub fn is_wasm_pc(pc: usize) -> bool {
    with_code_at(pc, |_| ()).is_some()
}

/// Finds the code containing `pc` (blocking; not for fault handlers).
pub fn lookup(pc: usize) -> Option<Arc<CodeInfo>> {
    let registry = REGISTRY.read();
    let (_, info) = registry.range(..=pc).next_back()?;
    (pc < info.end).then(|| Arc::clone(info))
}

/// Where the machine code of a [`CodeMemory`] comes from.
#[derive(Clone, Copy)]
pub enum Text<'a> {
    /// Bytes to copy into fresh pages (a compiler's output, an artifact in a buffer).
    Copy(&'a [u8]),
    /// Bytes that stay in memory, unchanged, for as long as the program runs (an
    /// artifact in a boot module): mapped where they lie when the platform can alias
    /// them, copied otherwise.
    Static(&'static [u8]),
}

impl Text<'_> {
    fn bytes(&self) -> &[u8] {
        match *self {
            Text::Copy(bytes) | Text::Static(bytes) => bytes,
        }
    }
}

/// Compiled code in executable memory, registered for trap handling while it lives.
pub struct CodeMemory {
    region: Region,
    allocator: Arc<PageAllocator>,
    info: Arc<CodeInfo>,
    in_place: bool,
}

impl CodeMemory {
    /// Puts `text` into executable memory (see [`Text`]) and registers it with its trap
    /// sites (sorted by offset) and function ranges.
    pub fn new(
        allocator: &Arc<PageAllocator>,
        text: Text<'_>,
        traps: Vec<TrapSite>,
        functions: Vec<Range<u32>>,
        first_defined_func: u32,
        module_name: Option<String>,
        func_names: hashbrown::HashMap<u32, String>,
    ) -> Result<Self> {
        let bytes = text.bytes();
        let len = bytes.len().max(1);
        let region = allocator.allocate(len)?;
        let in_place = match text {
            Text::Static(bytes) if !bytes.is_empty() => allocator.map_code_in_place(&region, bytes)?,
            _ => false,
        };
        if !in_place {
            allocator.commit(&region, 0, len, Protection::ReadWrite)?;
            // SAFETY: the region was just committed read-write for at least `len` bytes
            // and nothing else refers to it.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), region.base(), bytes.len()) };
            allocator.protect(&region, 0, len, Protection::ReadExecute)?;
        }
        let text = bytes;
        let start = region.base() as usize;
        let info = Arc::new(CodeInfo {
            start,
            end: start + text.len(),
            traps,
            functions,
            first_defined_func,
            module_name,
            func_names,
        });
        REGISTRY.write().insert(start, Arc::clone(&info));
        Ok(Self { region, allocator: Arc::clone(allocator), info, in_place })
    }

    /// Whether the code runs where its bytes lie ([`Text::Static`] the platform could
    /// alias) rather than from a copy.
    pub fn in_place(&self) -> bool {
        self.in_place
    }

    /// The code bytes (readable while mapped read-execute).
    pub fn text(&self) -> &[u8] {
        // SAFETY: `start..end` is committed read-execute for as long as `self` lives.
        unsafe { core::slice::from_raw_parts(self.info.start as *const u8, self.info.end - self.info.start) }
    }

    /// Address of `offset` in the code.
    pub fn address(&self, offset: u32) -> *const u8 {
        // SAFETY: offsets come from the artifact this memory holds.
        unsafe { self.region.base().add(offset as usize) }
    }

    pub fn info(&self) -> &Arc<CodeInfo> {
        &self.info
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        REGISTRY.write().remove(&self.info.start);
        let region = core::mem::replace(&mut self.region, Region::dangling());
        let len = region.len();
        self.allocator.free(region, len);
    }
}
