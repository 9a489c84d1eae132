//! Sizes and speeds of the compact store's packed forms, over realistic sample data: bytes per
//! event of a closed hour's block (60 events at a 60 s interval, 3,600 at 1 s), bytes per
//! target-day of hour rollups, and encode/decode time per block, for a few zstd levels.
//!
//! Run: `cargo run --release --example pack_sizes [targets]` (default 300 targets).

use std::hint::black_box;
use std::time::Instant;

use uptimer::store::sqlite::pack::sample::{Rng, SampleTarget, day_of_hours};
use uptimer::store::sqlite::pack::{
    Compression, Strings, decode_events, decode_hours, encode_events, encode_hours,
};
use uptimer::store::{DAY, HOUR, Micros, SECOND};

const START: Micros = 1_790_000_000 * SECOND - 1_790_000_000 * SECOND % DAY;

fn levels() -> [(String, Compression); 6] {
    [
        ("plain".to_owned(), Compression::None),
        ("zstd 1".to_owned(), Compression::Zstd(1)),
        ("zstd 3".to_owned(), Compression::Zstd(3)),
        ("zstd 9".to_owned(), Compression::Zstd(9)),
        ("zstd 15".to_owned(), Compression::Zstd(15)),
        ("zstd 19".to_owned(), Compression::Zstd(19)),
    ]
}

/// Microseconds per call of `f`, over `runs` calls.
fn micros_per(runs: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..runs {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / runs as f64
}

fn blocks(targets: usize, interval: Micros) {
    let mut rng = Rng::new(1);
    let hours: Vec<_> = (0..targets)
        .map(|i| {
            let t = SampleTarget::new(&mut rng, i);
            let h = START + (i as i64 % 24) * HOUR;
            t.events(&mut rng, h, h + HOUR, interval)
        })
        .collect();
    let events: usize = hours.iter().map(Vec::len).sum();
    println!(
        "\n{} blocks of ~{} events ({}-s interval), {events} events",
        hours.len(),
        events / hours.len(),
        interval / SECOND
    );
    println!("| level | bytes/event | bytes/block | encode µs/block | decode µs/block |");
    println!("|---|---:|---:|---:|---:|");
    for (name, c) in levels() {
        let mut strings = Strings::new();
        let encoded: Vec<Vec<u8>> = hours
            .iter()
            .map(|h| encode_events(h, &mut strings, c).expect("encodes"))
            .collect();
        let bytes: usize = encoded.iter().map(Vec::len).sum();
        let runs = (20_000 / (events / hours.len()).max(1)).clamp(3, 200);
        let enc = micros_per(runs, || {
            black_box(encode_events(&hours[0], &mut strings, c).expect("encodes"));
        });
        let dec = micros_per(runs * 4, || {
            black_box(decode_events(&encoded[0], &strings).expect("decodes"));
        });
        println!(
            "| {name} | {:.1} | {:.0} | {enc:.0} | {dec:.0} |",
            bytes as f64 / events as f64,
            bytes as f64 / hours.len() as f64
        );
    }
}

fn days(targets: usize) {
    let mut rng = Rng::new(2);
    let days: Vec<_> = (0..targets)
        .map(|i| {
            let t = SampleTarget::new(&mut rng, i);
            day_of_hours(&t, &mut rng, START, 60 * SECOND)
        })
        .collect();
    println!(
        "\n{} target-days of 24 hour rollups (60-s interval)",
        days.len()
    );
    println!("| level | bytes/day | bytes/hour | encode µs/day | decode µs/day |");
    println!("|---|---:|---:|---:|---:|");
    for (name, c) in levels() {
        let encoded: Vec<Vec<u8>> = days
            .iter()
            .map(|d| encode_hours(d, c).expect("encodes"))
            .collect();
        let bytes: usize = encoded.iter().map(Vec::len).sum();
        let enc = micros_per(200, || {
            black_box(encode_hours(&days[0], c).expect("encodes"));
        });
        let dec = micros_per(1000, || {
            black_box(decode_hours(&encoded[0]).expect("decodes"));
        });
        let per_day = bytes as f64 / days.len() as f64;
        println!(
            "| {name} | {per_day:.0} | {:.1} | {enc:.0} | {dec:.0} |",
            per_day / 24.0
        );
    }
}

fn main() {
    let targets: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng::new(3);
    let one =
        SampleTarget::new(&mut rng, 5).events(&mut rng, START, START + 60 * SECOND, 60 * SECOND);
    let mut strings = Strings::new();
    let plain = encode_events(&one, &mut strings, Compression::None).expect("encodes");
    println!(
        "one event, plain (the open hour's rows): {} bytes",
        plain.len()
    );
    blocks(targets, 60 * SECOND);
    blocks(targets / 10, SECOND);
    days(targets);
}
