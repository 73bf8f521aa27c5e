//! The shopper limiter under made-up keys (issue 11, B10): calls per second for a million
//! distinct keys, from one thread and from two, and the table's fixed size.
//! `cargo bench --bench rate_limit`.

use std::time::Instant;

use sequra_bc::rate_limit::{CAPACITY, RateLimiter};

const KEYS: u32 = 1_000_000;

fn main() {
    let limiter = RateLimiter::default();
    let t = Instant::now();
    for i in 0..KEYS {
        std::hint::black_box(limiter.allow(("methods", "store", i), 60));
    }
    let one = f64::from(KEYS) / t.elapsed().as_secs_f64();

    let t = Instant::now();
    std::thread::scope(|s| {
        for half in 0..2u32 {
            let limiter = limiter.clone();
            s.spawn(move || {
                for i in 0..KEYS / 2 {
                    std::hint::black_box(limiter.allow(("start", half, i), 10));
                }
            });
        }
    });
    let two = f64::from(KEYS) / t.elapsed().as_secs_f64();

    println!("rate limiter, {KEYS} distinct keys:");
    println!("  1 thread    {:>12.0} calls/s", one);
    println!("  2 threads   {:>12.0} calls/s", two);
    println!(
        "  table       {} counters, {} KiB, fixed; {} keys live after the run",
        CAPACITY,
        limiter.table_bytes() / 1024,
        limiter.live_keys()
    );
}
