//! Work spread over a fixed number of threads, failures reported by index.

/// Run `work(i)` for `i` in `0..n` on up to `jobs` threads; the failures, by index.
pub fn for_each_parallel(
    n: usize,
    jobs: usize,
    work: &(dyn Fn(usize) -> Result<(), String> + Sync),
) -> Vec<(usize, String)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if let Err(e) = work(i) {
                    failed.lock().expect("no panics while held").push((i, e));
                }
            });
        }
    });
    let mut failed = failed.into_inner().expect("no panics while held");
    failed.sort_by_key(|f| f.0);
    failed
}
