//! A per-call arena for the raw boundary's policy calls ([`crate::raw`]).
//!
//! Why: `node --cpu-prof` on the short-request corpus put dlmalloc at ~22% of the core
//! call's time (`make bench`, docs/performance.md). Everything the policy allocates while
//! deciding one event is dead when the call returns — the answer is copied out — so a bump
//! allocator that forgets all of it at once costs a pointer add per allocation and nothing
//! per free. In the Wasm build this is the global allocator; natively (tests, fuzzing) it is
//! not installed, and its unit tests drive it directly.
//!
//! One region of `N` bytes, used from both ends:
//! - **Sessions** ([`Arena::session`], one per raw call) bump *up* from the start. Each
//!   starts again from the start, so what the last one allocated is forgotten.
//! - **Lasting blocks** — whatever is allocated outside a session: the glue's input buffer,
//!   the answer buffer, the embedded rule set — bump *down* from the end and are never
//!   reused (a free only gives back the lowest one). They are few and grow rarely, and
//!   keeping them out of dlmalloc means a cold start never compiles dlmalloc (V8 compiles
//!   Wasm lazily, function by function: ~0.3 ms for its `malloc`).
//!
//! Either end falls back to the system allocator (dlmalloc) when the two would meet, and a
//! pointer outside the region is always the system allocator's, freed by it.
//!
//! The rules that keep it sound:
//! - A session's blocks stay untouched until the next session starts: a lasting block is
//!   only ever carved above the last session's top, so the answer can be copied out of a
//!   session after it closed.
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
/// `--cfg edge_arena` installs it natively too, for the single-threaded native benchmark
/// (`make bench`), so that the native core allocates as the Wasm one does.
///
/// # Safety
/// As [`Arena::session`]: nothing `f` allocates may be read, written or freed during a later
/// call.
#[cfg_attr(not(any(feature = "viewer-request", feature = "origin-response")), allow(dead_code))]
pub(crate) unsafe fn per_call<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(any(all(target_arch = "wasm32", not(target_feature = "atomics")), edge_arena))]
    {
        edge_policy::RuleSet::embedded();
        // SAFETY: the caller's promise, passed on.
        unsafe { crate::ALLOCATOR.session(f) }
    }
    #[cfg(not(any(all(target_arch = "wasm32", not(target_feature = "atomics")), edge_arena)))]
    f()
}

/// The region's bytes, aligned for any allocation the policy makes without padding.
#[repr(C, align(16))]
struct Region<const N: usize>([u8; N]);

/// A two-ended bump arena of `N` bytes over the system allocator.
pub struct Arena<const N: usize> {
    region: UnsafeCell<Region<N>>,
    /// The end of the current (or last) session's blocks: `[0, top)`.
    top: Cell<usize>,
    /// The start of the lasting blocks: `[bottom, N)`. Always `top <= bottom`.
    bottom: Cell<usize>,
    /// Whether a session is open.
    active: Cell<bool>,
}

// SAFETY: the arena is only installed as the global allocator on `wasm32` without the
// `atomics` feature (see `lib.rs`), where there is exactly one thread, or natively under
// `--cfg edge_arena`, which only the single-threaded native benchmark is built with; the
// native unit tests use their own instances from one thread.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// An arena with no session open and no lasting blocks.
    pub const fn new() -> Self {
        Arena {
            region: UnsafeCell::new(Region([0; N])),
            top: Cell::new(0),
            bottom: Cell::new(N),
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

    /// `layout` from the region, `lasting` or not: a session's block up from `top`, below
    /// the lasting blocks; a lasting block down from `bottom`, never below `top` (the last
    /// session's blocks may still be read). `None` when the two ends would meet.
    fn bump(&self, layout: Layout, lasting: bool) -> Option<*mut u8> {
        let base = self.base() as usize;
        let start = if lasting {
            let end = base + self.bottom.get();
            // Down from `bottom`, aligned down: the region's base is 16-aligned, so for
            // alignments up to 16 this is the offset's own alignment.
            let start = end.checked_sub(layout.size())? & !(layout.align() - 1);
            if start < base + self.top.get() {
                return None;
            }
            self.bottom.set(start - base);
            start - base
        } else {
            let start = (base + self.top.get()).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size())?;
            if end > self.bottom.get() {
                return None;
            }
            self.top.set(end);
            start
        };
        // SAFETY: `start + layout.size() <= N`, inside the region.
        Some(unsafe { self.base().add(start) })
    }

    /// A block of `layout`, lasting or not, from the region or else the system allocator.
    ///
    /// # Safety
    /// `layout` has a non-zero size (the `GlobalAlloc::alloc` contract).
    unsafe fn block(&self, layout: Layout, lasting: bool) -> *mut u8 {
        // Alignments past the region's own 16 are left to the system allocator.
        if layout.align() <= 16 {
            if let Some(ptr) = self.bump(layout, lasting) {
                return ptr;
            }
        }
        // SAFETY: the caller's `layout` contract, passed on.
        unsafe { System.alloc(layout) }
    }

    /// Runs `f` with the arena handing out its bytes, from the start of the region.
    ///
    /// # Safety
    /// Nothing allocated during `f` (in what `f` returns, or kept anywhere) may be read,
    /// written or freed while a later session is open: its bytes are that session's. Between
    /// sessions it is intact and may be read and freed.
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

    /// Bytes used by the current (or last) session, and by lasting blocks (for the native tests).
    #[cfg(all(test, not(target_arch = "wasm32")))]
    fn used(&self) -> (usize, usize) {
        (self.top.get(), N - self.bottom.get())
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block handed out is `layout.size()` bytes at `layout.align()`, from the
// region or from `System`, and each pointer is freed by whichever handed it out, told apart
// by address. In the region, no two live blocks overlap: a session's blocks lie in
// `[0, top)` and `top` only moves back over a freed last block (or to 0 when a session
// starts, its blocks then dead by the `session` contract); lasting blocks lie in
// `[bottom, N)`, carved only above `top`, and `bottom` only moves up over the freed lowest one.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's `layout` contract, passed on.
        unsafe { self.block(layout, !self.active.get()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset(ptr) {
            // A lasting block: the lowest one gives its bytes back; any other is forgotten.
            Some(at) if at >= self.bottom.get() => {
                if at == self.bottom.get() {
                    self.bottom.set(at + layout.size());
                }
            }
            // A session's block: the open session's last one gives its bytes back; any other
            // is forgotten until the next session.
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
        // The open session's last block grows or shrinks where it is when it fits.
        if self.active.get()
            && at < self.bottom.get()
            && at + layout.size() == self.top.get()
            && at + new_size <= self.bottom.get()
        {
            self.top.set(at + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `new_size` is non-zero and, rounded to the alignment, fits `isize` (the
        // `realloc` contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // A lasting block stays lasting when it grows, even in a session (else the next
        // session would reuse its bytes); a session's block grows as what is open now.
        let lasting = at >= self.bottom.get() || !self.active.get();
        // SAFETY: as above.
        let new = unsafe { self.block(new_layout, lasting) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least `layout.size()` bytes and do not overlap (the
            // new one is a fresh block: the old one is still live while it is carved).
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
        /// Any sequence of allocations, frees and resizes, in sessions and between them,
        /// keeps every live block aligned and its bytes its own: lasting blocks (allocated
        /// between sessions, as the glue's buffers are) survive any number of sessions, and
        /// a session's blocks that outlive it (the answer) stay intact through the lasting
        /// allocations made before the next session, and are freed then.
        #[test]
        fn live_blocks_never_overlap(
            before in proptest::collection::vec(op(), 0..20),
            sessions in proptest::collection::vec(
                (
                    proptest::collection::vec(op(), 0..60),
                    proptest::collection::vec((any::<usize>(), 1usize..120).prop_map(|(i, n)| Op::Realloc(i, n)), 0..3),
                    0usize..4,
                    proptest::collection::vec(op(), 0..8),
                ),
                1..5,
            ),
        ) {
            let arena = Arena::<512>::new();
            let mut lasting = Vec::new();
            let mut next_fill = 0u8;
            run(&arena, &before, &mut lasting, &mut next_fill);
            for (ops, grown, kept, between) in &sessions {
                let mut live = Vec::new();
                // SAFETY: the session's blocks are freed before the next session starts.
                unsafe {
                    arena.session(|| {
                        run(&arena, ops, &mut live, &mut next_fill);
                        // Lasting blocks grow and shrink in sessions too (they must stay
                        // lasting: the next session would reuse a session's bytes).
                        run(&arena, grown, &mut lasting, &mut next_fill);
                    })
                };
                // Up to `kept` of the session's blocks outlive it, like the answer; lasting
                // blocks come and go meanwhile.
                let outliving: Vec<Block> = live.drain(..live.len().saturating_sub(*kept)).collect();
                for block in outliving {
                    // SAFETY: a live block with its layout.
                    unsafe { arena.dealloc(block.ptr, block.layout) };
                }
                run(&arena, between, &mut lasting, &mut next_fill);
                prop_assert!(live.iter().all(filled), "a block that outlived its session was overwritten");
                prop_assert!(lasting.iter().all(filled));
                for block in live {
                    // SAFETY: a live block with its layout, freed between sessions.
                    unsafe { arena.dealloc(block.ptr, block.layout) };
                }
            }
            for block in lasting {
                prop_assert!(filled(&block));
                // SAFETY: a live block with its layout.
                unsafe { arena.dealloc(block.ptr, block.layout) };
            }
        }
    }

    #[test]
    fn lasting_blocks_come_down_from_the_end_and_the_lowest_gives_its_bytes_back() {
        let arena = Arena::<512>::new();
        let layout = Layout::from_size_align(8, 8).unwrap();
        // SAFETY: non-zero sizes; each block freed below.
        unsafe {
            let a = arena.alloc(layout);
            assert_eq!(arena.offset(a), Some(504));
            let b = arena.alloc(layout);
            assert_eq!(arena.offset(b), Some(496));
            arena.dealloc(a, layout);
            assert_eq!(arena.used(), (0, 16), "a higher block is forgotten");
            arena.dealloc(b, layout);
            assert_eq!(arena.used(), (0, 8), "the lowest gives its bytes back");
            // Too big for what is left: the system's.
            let big = Layout::from_size_align(1000, 8).unwrap();
            let c = arena.alloc(big);
            assert_eq!(arena.offset(c), None);
            arena.dealloc(c, big);
        }
    }

    #[test]
    fn a_session_bumps_up_reuses_a_freed_last_block_and_stops_at_the_lasting_blocks() {
        let arena = Arena::<512>::new();
        let lasting = Layout::from_size_align(200, 8).unwrap();
        let layout = Layout::from_size_align(100, 4).unwrap();
        // SAFETY: non-zero sizes; each block freed.
        unsafe {
            let l = arena.alloc(lasting);
            assert_eq!(arena.offset(l), Some(312));
            arena.session(|| {
                let a = arena.alloc(layout);
                assert_eq!(arena.offset(a), Some(0));
                let b = arena.alloc(layout);
                assert_eq!(arena.offset(b), Some(100));
                arena.dealloc(b, layout);
                assert_eq!(arena.used().0, 100);
                let b = arena.alloc(layout);
                let c = arena.alloc(layout);
                assert_eq!(arena.offset(c), Some(200));
                // 300..400 would cross the lasting block at 312: the system's.
                let d = arena.alloc(layout);
                assert_eq!(arena.offset(d), None);
                for p in [d, c, b, a] {
                    arena.dealloc(p, layout);
                }
            });
            assert!(!arena.active.get());
            // Between sessions, a lasting block is carved only above the last session's top.
            arena.session(|| {
                let a = arena.alloc(Layout::from_size_align(300, 4).unwrap());
                assert_eq!(arena.offset(a), Some(0));
            });
            let squeezed = arena.alloc(Layout::from_size_align(16, 8).unwrap());
            assert_eq!(arena.offset(squeezed), None, "below 312, above 300: no room for 16");
            arena.dealloc(squeezed, Layout::from_size_align(16, 8).unwrap());
            arena.dealloc(l, lasting);
        }
    }
}
