//! A per-call arena for the raw boundary's policy calls ([`crate::raw`]).
//!
//! Why: `node --cpu-prof` on the short-request corpus put dlmalloc at ~22% of the core
//! call's time (`make bench`, README "Performance"). Everything the policy allocates while
//! deciding one event is dead when the call returns — the answer is copied out — so a bump
//! allocator that forgets all of it at once costs a pointer add per allocation and nothing
//! per free. In the Wasm build this is the global allocator; natively (tests, fuzzing) it is
//! not installed, and its unit tests drive it directly.
//!
//! The rules that keep it sound:
//! - It hands out its own bytes only inside a [`Arena::session`]; outside one, and for an
//!   allocation that does not fit, it is the system allocator (dlmalloc in Wasm).
//! - A pointer outside its region is always the system allocator's, and is freed by it: the
//!   arena only decides for its own bytes, so nothing allocated before a session (the glue's
//!   input buffer, the answer buffer, the embedded rule set) is ever touched by one.
//! - Nothing allocated in a session may be used after the next session starts: the caller
//!   of [`Arena::session`] promises it (it is `unsafe`), [`crate::raw`] by copying the
//!   answer out after the session ends and by initialising the policy's one lazy static
//!   (`RuleSet::embedded`) before the first session.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::ptr;

/// Runs one raw call's decision `f`: in the Wasm build inside a session of the global
/// allocator (after building the policy's one lazy static outside it, so that it outlives
/// every session); natively (tests, fuzzing), where the arena is not installed, just `f`.
///
/// # Safety
/// As [`Arena::session`]: nothing `f` allocates may be read or written once the next call
/// starts.
pub(crate) unsafe fn per_call<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    {
        edge_policy::RuleSet::embedded();
        // SAFETY: the caller's promise, passed on.
        unsafe { crate::ALLOCATOR.session(f) }
    }
    #[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"))))]
    f()
}

/// The region's bytes, aligned for any allocation the policy makes without padding.
#[repr(C, align(16))]
struct Region<const N: usize>([u8; N]);

/// A bump arena of `N` bytes over the system allocator.
pub struct Arena<const N: usize> {
    region: UnsafeCell<Region<N>>,
    /// Bytes of the region in use in the current session.
    top: Cell<usize>,
    /// Whether a session is open.
    active: Cell<bool>,
}

// SAFETY: the arena is only installed as the global allocator on `wasm32` without the
// `atomics` feature (see `lib.rs`), where there is exactly one thread; the native unit tests
// use their own instances from one thread.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// An arena with no session open.
    pub const fn new() -> Self {
        Arena {
            region: UnsafeCell::new(Region([0; N])),
            top: Cell::new(0),
            active: Cell::new(false),
        }
    }

    fn base(&self) -> *mut u8 {
        self.region.get().cast()
    }

    /// `ptr`'s offset in the region, if it is one of the arena's.
    fn offset(&self, ptr: *mut u8) -> Option<usize> {
        let at = (ptr as usize).wrapping_sub(self.base() as usize);
        (at < N).then_some(at)
    }

    /// `layout` from the region, if a session is open and it fits.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if !self.active.get() {
            return None;
        }
        let base = self.base() as usize;
        let start = (base + self.top.get()).checked_next_multiple_of(layout.align())? - base;
        let end = start.checked_add(layout.size())?;
        if end > N {
            return None;
        }
        self.top.set(end);
        // SAFETY: `start <= end <= N`, inside the region.
        Some(unsafe { self.base().add(start) })
    }

    /// Runs `f` with the arena handing out its bytes, from the start of the region.
    ///
    /// # Safety
    /// Nothing allocated during `f` (in what `f` returns, or kept anywhere) may be read or
    /// written after the next session starts; dropping it then is fine (a free of the
    /// arena's bytes never reads them).
    pub unsafe fn session<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Close<'a>(&'a Cell<bool>);
        impl Drop for Close<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        self.top.set(0);
        self.active.set(true);
        let _close = Close(&self.active);
        f()
    }

    /// Bytes of the region used by the current (or last) session.
    pub fn used(&self) -> usize {
        self.top.get()
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block handed out is `layout.size()` bytes at `layout.align()`, from the
// region (never overlapping another live block of the session: `top` only grows, except
// when the last block is freed or resized in place) or from `System`; each pointer is
// freed by whichever handed it out, told apart by address.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(ptr) => ptr,
            // SAFETY: the caller's `layout` contract, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset(ptr) {
            // The session's last block: its bytes are free again. Any other is forgotten
            // until the next session.
            Some(at) => {
                if self.active.get() && at + layout.size() == self.top.get() {
                    self.top.set(at);
                }
            }
            // SAFETY: not the region's, so `System` handed it out.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(at) = self.offset(ptr) else {
            // SAFETY: not the region's, so `System` handed it out.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        // The session's last block grows or shrinks where it is when it fits.
        if self.active.get() && at + layout.size() == self.top.get() && at + new_size <= N {
            self.top.set(at + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `new_size` is non-zero and, rounded to the alignment, fits `isize` (the
        // `realloc` contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as above.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least `layout.size()` bytes and do not overlap (the
            // new one is past `top` or the system allocator's).
            unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size()) };
            // SAFETY: `ptr` is the region's, freed as above.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

// Natively only: proptest is not a dependency of the Wasm test build (`wasm-pack test`), whose
// own test drives the installed arena through the raw boundary (tests/web.rs).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A live block: where it is, its layout, and the byte it is filled with.
    struct Block {
        ptr: *mut u8,
        layout: Layout,
        fill: u8,
    }

    fn filled(block: &Block) -> bool {
        // SAFETY: a live block of `layout.size()` bytes.
        unsafe { std::slice::from_raw_parts(block.ptr, block.layout.size()) }
            .iter()
            .all(|b| *b == block.fill)
    }

    fn fill(block: &Block) {
        // SAFETY: a live block of `layout.size()` bytes.
        unsafe { ptr::write_bytes(block.ptr, block.fill, block.layout.size()) };
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc { size: usize, align_log2: u32 },
        Free(usize),
        Realloc(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..300, 0u32..5).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
            any::<usize>().prop_map(Op::Free),
            (any::<usize>(), 1usize..600).prop_map(|(i, size)| Op::Realloc(i, size)),
        ]
    }

    /// Runs `ops`, checking after each that every live block is aligned and still holds its
    /// own bytes (no two live blocks overlap), and frees what is left.
    fn run(arena: &Arena<512>, ops: &[Op], live: &mut Vec<Block>, next_fill: &mut u8) {
        for op in ops {
            match *op {
                Op::Alloc { size, align_log2 } => {
                    let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                    // SAFETY: a non-zero size.
                    let ptr = unsafe { arena.alloc(layout) };
                    assert!(!ptr.is_null());
                    assert_eq!(ptr as usize % layout.align(), 0);
                    *next_fill = next_fill.wrapping_add(1);
                    let block = Block {
                        ptr,
                        layout,
                        fill: *next_fill,
                    };
                    fill(&block);
                    live.push(block);
                }
                Op::Free(i) if !live.is_empty() => {
                    let block = live.swap_remove(i % live.len());
                    assert!(filled(&block));
                    // SAFETY: a live block with its layout.
                    unsafe { arena.dealloc(block.ptr, block.layout) };
                }
                Op::Realloc(i, size) if !live.is_empty() => {
                    let i = i % live.len();
                    let old = &live[i];
                    let kept = old.layout.size().min(size);
                    // SAFETY: a live block with its layout, and a non-zero size.
                    let ptr = unsafe { arena.realloc(old.ptr, old.layout, size) };
                    assert!(!ptr.is_null());
                    assert_eq!(ptr as usize % old.layout.align(), 0);
                    // SAFETY: the first `kept` bytes moved with the block.
                    let moved = unsafe { std::slice::from_raw_parts(ptr, kept) };
                    assert!(moved.iter().all(|b| *b == old.fill), "realloc lost bytes");
                    let block = Block {
                        ptr,
                        layout: Layout::from_size_align(size, old.layout.align()).unwrap(),
                        fill: old.fill,
                    };
                    fill(&block);
                    live[i] = block;
                }
                _ => {}
            }
            assert!(live.iter().all(filled), "a live block was overwritten");
        }
    }

    proptest! {
        /// Any sequence of allocations, frees and resizes, in a session and out of one,
        /// keeps every live block's bytes its own; blocks from before a session (the glue's
        /// buffers) survive any number of sessions.
        #[test]
        fn live_blocks_never_overlap(
            before in proptest::collection::vec(op(), 0..20),
            sessions in proptest::collection::vec(proptest::collection::vec(op(), 0..60), 1..4),
        ) {
            let arena = Arena::<512>::new();
            let mut persistent = Vec::new();
            let mut next_fill = 0u8;
            run(&arena, &before, &mut persistent, &mut next_fill);
            for ops in &sessions {
                let mut live = Vec::new();
                // SAFETY: every block of the session is freed inside it.
                unsafe {
                    arena.session(|| {
                        run(&arena, ops, &mut live, &mut next_fill);
                        // Blocks from before the session grow and shrink too.
                        run(&arena, &[Op::Realloc(0, 700), Op::Realloc(1, 3)], &mut persistent, &mut next_fill);
                        for block in live.drain(..) {
                            arena.dealloc(block.ptr, block.layout);
                        }
                    })
                };
                prop_assert!(persistent.iter().all(filled));
            }
            for block in persistent {
                prop_assert!(filled(&block));
                // SAFETY: a live block with its layout.
                unsafe { arena.dealloc(block.ptr, block.layout) };
            }
        }
    }

    #[test]
    fn outside_a_session_every_block_is_the_systems() {
        let arena = Arena::<512>::new();
        let layout = Layout::from_size_align(8, 8).unwrap();
        // SAFETY: a non-zero size; freed below.
        let ptr = unsafe { arena.alloc(layout) };
        assert_eq!(arena.offset(ptr), None);
        // SAFETY: allocated above with `layout`.
        unsafe { arena.dealloc(ptr, layout) };
    }

    #[test]
    fn a_session_bumps_and_reuses_a_freed_last_block() {
        let arena = Arena::<512>::new();
        let layout = Layout::from_size_align(100, 4).unwrap();
        // SAFETY: non-zero sizes; each block freed in the session.
        unsafe {
            arena.session(|| {
                let a = arena.alloc(layout);
                assert_eq!(arena.offset(a), Some(0));
                let b = arena.alloc(layout);
                assert_eq!(arena.offset(b), Some(100));
                arena.dealloc(b, layout);
                assert_eq!(arena.used(), 100);
                // Too big for what is left: the system's.
                let big = Layout::from_size_align(1000, 4).unwrap();
                let c = arena.alloc(big);
                assert_eq!(arena.offset(c), None);
                arena.dealloc(c, big);
                arena.dealloc(a, layout);
            })
        };
        assert_eq!(arena.used(), 0);
        assert!(!arena.active.get());
    }
}
