//! The Kafka consumer's work per message, without a broker: JSON text → validated typed event,
//! the fast way and the exact way (`uptimer::event::decode`), and the steps of the exact way.
//!
//! ```sh
//! cargo run --release --example parse_bench            # ONLY_FAST=1: the fast way, 10 times
//! ```
use serde::Deserialize;
use serde_json::Value;
use std::time::Instant;
use uptimer::event::{ProbeEvent, schema};

mod support;

fn main() {
    let at = time::OffsetDateTime::now_utc();
    let n = 200_000usize;
    let msgs: Vec<Vec<u8>> = (0..1000)
        .map(|i| serde_json::to_vec(&support::event(i, at)).unwrap())
        .collect();
    let time = |what: &str, f: &dyn Fn(&[u8])| {
        let s = Instant::now();
        for i in 0..n {
            f(&msgs[i % msgs.len()]);
        }
        let us = s.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{what:<40} {us:7.2} us/msg  {:>9.0} msg/s", 1e6 / us);
    };
    if std::env::var("ONLY_FAST").is_ok() {
        for _ in 0..10 {
            time("decode (fast way)", &|m| {
                uptimer::event::decode_fast(m).unwrap();
            });
        }
        return;
    }
    time("decode (fast way)", &|m| {
        uptimer::event::decode_fast(m).unwrap();
    });
    time("decode_exact", &|m| {
        uptimer::event::decode_exact(m).unwrap();
    });
    time("from_slice::<Value>", &|m| {
        let _: Value = serde_json::from_slice(m).unwrap();
    });
    let docs: Vec<Value> = msgs
        .iter()
        .map(|m| serde_json::from_slice(m).unwrap())
        .collect();
    let s = Instant::now();
    for i in 0..n {
        schema::validate_event(&docs[i % docs.len()]).unwrap();
    }
    println!(
        "{:<40} {:7.2} us/msg",
        "validate_event(&Value)",
        s.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let s = Instant::now();
    for i in 0..n {
        let _ = ProbeEvent::deserialize(docs[i % docs.len()].clone()).unwrap();
    }
    println!(
        "{:<40} {:7.2} us/msg",
        "clone + ProbeEvent::deserialize(Value)",
        s.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let s = Instant::now();
    for i in 0..n {
        let _ = docs[i % docs.len()].clone();
    }
    println!(
        "{:<40} {:7.2} us/msg",
        "Value clone",
        s.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    time("from_slice::<ProbeEvent>", &|m| {
        let _: ProbeEvent = serde_json::from_slice(m).unwrap();
    });
    println!("msg bytes {}", msgs[0].len());
}
