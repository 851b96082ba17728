//! `Network::run` performs zero heap allocations.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use robofish_shared::engine::{InputImage, Network, Pixels};
use robofish_shared::model::ArchConfig;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; counting
// has no effect on the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn run_allocates_nothing() {
    let (_, model) = common::quantised(&ArchConfig::seed().scaled(0.25), 11, 1, 16);
    for path in common::paths::under_test("run_allocates_nothing") {
        let network = Network::new(model.clone(), path).unwrap();
        let plan = network.plan(32, 24).unwrap();
        let mut arena = vec![0u8; plan.arena_bytes()];
        let tile = common::camera_tile(32, 24, 1);
        let image = InputImage::planar(Pixels::U16(&tile), 16, 32, 24).unwrap();
        let mut position = vec![0u8; 32 * 24];
        let mut barcode = vec![0u8; 16 * 32 * 24];
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        network
            .run(
                &plan,
                &mut arena,
                &image,
                &mut [&mut position, &mut barcode],
            )
            .unwrap();
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(
            after - before,
            0,
            "{path}: run allocated {} times",
            after - before
        );
        assert!(
            position.iter().any(|&p| p != position[0]),
            "outputs were written"
        );
    }
}
