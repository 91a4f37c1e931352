//! Work on many tenants at once, results in tenant order.
//!
//! Threads take the next tenant as soon as they finish one (no batch waits for its slowest
//! member), and each result is handed on as soon as it and every result before it are done, so
//! reports keep the environment file's order. Threads never run further ahead of the oldest
//! unfinished tenant than a window of a few per thread: the results held at once stay bounded
//! however large the fleet, and a tenant stuck in retries holds up only its window.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

/// How many tenants past the oldest unfinished one each thread may take on.
const AHEAD_PER_THREAD: usize = 4;

/// Runs `work` on each of `items` with `threads` threads and hands the results to `deliver`, in
/// the order of `items`, on the calling thread.
pub(crate) fn ordered<T, R>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
    mut deliver: impl FnMut(R),
) where
    T: Sync,
    R: Send,
{
    let threads = threads.clamp(1, items.len().max(1));
    let window = threads * AHEAD_PER_THREAD;
    let next = AtomicUsize::new(0);
    // How many results have been delivered; workers wait while they would run too far ahead.
    let delivered = Mutex::new(0usize);
    let moved = Condvar::new();
    let failed = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, delivered, moved, work, failed) =
                (&next, &delivered, &moved, &work, &failed);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                {
                    let mut done = delivered.lock().unwrap_or_else(|e| e.into_inner());
                    while i >= *done + window && !failed.load(Ordering::Relaxed) {
                        done = moved.wait(done).unwrap_or_else(|e| e.into_inner());
                    }
                }
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                match std::panic::catch_unwind(AssertUnwindSafe(|| work(item))) {
                    Ok(result) => {
                        if tx.send((i, result)).is_err() {
                            break;
                        }
                    }
                    Err(panic) => {
                        // A bug, not input: stop the others (the result they wait for will
                        // never come) and let the scope pass the panic on.
                        let _held = delivered.lock().unwrap_or_else(|e| e.into_inner());
                        failed.store(true, Ordering::Relaxed);
                        moved.notify_all();
                        std::panic::resume_unwind(panic);
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut emitted = 0usize;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&emitted) {
                deliver(result);
                emitted += 1;
            }
            *delivered.lock().unwrap_or_else(|e| e.into_inner()) = emitted;
            moved.notify_all();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_in_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..200).collect();
        let mut seen = Vec::new();
        ordered(
            &items,
            8,
            |&n| {
                // Early items take longest.
                std::thread::sleep(Duration::from_micros((200 - n) * 20));
                n * 2
            },
            |r| seen.push(r),
        );
        assert_eq!(seen, items.iter().map(|n| n * 2).collect::<Vec<_>>());
    }

    #[test]
    fn no_thread_runs_past_the_window() {
        let items: Vec<usize> = (0..100).collect();
        let started = AtomicUsize::new(0);
        let mut seen = 0;
        ordered(
            &items,
            4,
            |&n| {
                let before = started.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    // The first item is slow: the others may only fill the window meanwhile.
                    std::thread::sleep(Duration::from_millis(50));
                    assert!(started.load(Ordering::SeqCst) <= 4 * AHEAD_PER_THREAD);
                }
                before
            },
            |_| seen += 1,
        );
        assert_eq!(seen, 100);
    }

    #[test]
    fn a_panic_stops_the_others_and_is_passed_on() {
        let items: Vec<usize> = (0..1000).collect();
        let caught = std::panic::catch_unwind(|| {
            ordered(
                &items,
                4,
                |&n| {
                    if n == 3 {
                        panic!("bug");
                    }
                    n
                },
                |_| {},
            )
        });
        assert!(caught.is_err());
    }

    #[test]
    fn nothing_to_do() {
        let items: Vec<u8> = Vec::new();
        ordered(&items, 4, |_| unreachable!(), |_: ()| unreachable!());
    }
}
