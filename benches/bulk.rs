//! Bulk issuance alone: the `bulk` part of the benchmark command (`benches/all.rs`; the
//! options are in `benches/parts/bulk.rs`). Run: `cargo bench --bench bulk`; the table goes
//! to `BENCH_OUT` (default `target/bench-bulk.md`). Nothing is asserted: figures are printed.

#[path = "parts/bulk.rs"]
mod bulk;
#[path = "parts/util.rs"]
mod util;

fn main() {
    let md = bulk::run();
    println!("\n{md}");
    let out = std::path::PathBuf::from(
        std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench-bulk.md".into()),
    );
    if let Some(p) = out.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    std::fs::write(&out, md).expect("write table");
    println!("written to {}", out.display());
}
