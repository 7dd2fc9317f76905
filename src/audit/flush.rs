//! Flushing a trail that is a copy of the replicated one.
//!
//! A replica's records are evidence once the cluster's replicated stream holds them (on a
//! majority of its servers); the replica's own file is a copy it restarts from, and what a
//! crash of its machine cuts from the copy's end is read again from the stream. Making that
//! copy durable with one flush per window would put a disk's flush into every decision's
//! latency for no gain, so its writes are flushed here, on a thread of their own, at most
//! [`FLUSH_EVERY`] after they were written — and before each seal, by the writer.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest a written record waits to be flushed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The flushing thread, seen from the writer: it is told what was written, and it tells the
/// writer what it could not flush.
pub(super) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    /// A handle on the file being written (the head: replaced when it is sealed).
    file: Mutex<File>,
    written: AtomicBool,
    stop: AtomicBool,
    /// The last flush that failed, until the writer is told.
    failed: Mutex<Option<std::io::Error>>,
}

impl Flusher {
    pub(super) fn start(file: &File) -> std::io::Result<Flusher> {
        let shared = Arc::new(Shared {
            file: Mutex::new(file.try_clone()?),
            written: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            failed: Mutex::new(None),
        });
        let on_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("audit-flush".into())
            .spawn(move || {
                while !on_thread.stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(FLUSH_EVERY);
                    on_thread.flush();
                }
                on_thread.flush();
            })?;
        Ok(Flusher {
            shared,
            thread: Some(thread),
        })
    }

    /// Records were written to the file: flush them soon.
    pub(super) fn written(&self) {
        self.shared.written.store(true, Ordering::Relaxed);
    }

    /// A flush that failed since the writer last asked: the trail's copy on this disk may
    /// not hold what was written, which the writer reports as a failed write.
    pub(super) fn failure(&self) -> Option<std::io::Error> {
        self.shared.failed.lock().expect("flush lock").take()
    }

    /// The file written from now on (a new head after a seal).
    pub(super) fn follow(&self, file: &File) -> std::io::Result<()> {
        *self.shared.file.lock().expect("flush lock") = file.try_clone()?;
        Ok(())
    }
}

impl Shared {
    fn flush(&self) {
        if !self.written.swap(false, Ordering::Relaxed) {
            return;
        }
        let file = self.file.lock().expect("flush lock");
        if let Err(e) = file.sync_data() {
            metrics::counter!("arbiter_audit_flush_failures_total").increment(1);
            tracing::warn!("the audit trail's copy could not be flushed: {e}");
            self.written.store(true, Ordering::Relaxed);
            *self.failed.lock().expect("flush lock") = Some(e);
        }
    }
}

impl Drop for Flusher {
    /// Flushes what was written, then ends the thread.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
