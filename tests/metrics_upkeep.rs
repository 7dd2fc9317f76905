//! The service's metrics recorder must not hold every histogram sample when nobody scrapes
//! `/metrics`: live heap is counted by this test binary's own allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live bytes gained while 400 000 samples are recorded over 200 s of the service's time
/// (3.2 MB if every one were kept), with or without the service's upkeep running.
async fn held_after_samples(upkeep: bool) -> isize {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let upkept =
        upkeep.then(|| tokio::spawn(arbiter::api::keep_metrics_bounded(recorder.handle())));
    let record = |n: usize| {
        metrics::with_local_recorder(&recorder, || {
            for i in 0..n {
                metrics::histogram!("arbiter_probe_seconds").record((i % 1000) as f64 * 1e-5);
            }
        })
    };
    record(1_000);
    tokio::time::sleep(arbiter::api::METRICS_UPKEEP * 2).await;
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..40 {
        record(10_000);
        tokio::time::sleep(arbiter::api::METRICS_UPKEEP).await;
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    if let Some(task) = upkept {
        task.abort();
    }
    held
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn histogram_samples_are_folded_in_without_a_scrape() {
    let unkept = held_after_samples(false).await;
    let kept = held_after_samples(true).await;
    assert!(
        unkept > 3_000_000,
        "the recorder keeps samples until upkeep: {unkept} bytes"
    );
    assert!(
        kept < unkept / 10,
        "{kept} bytes held with the service's upkeep, {unkept} without"
    );
}
