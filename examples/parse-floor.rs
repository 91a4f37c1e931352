//! Parse floor for the fleet benchmark: the least work any `plan` must do on the same input.
//!
//! ```text
//! cargo run --release --example parse-floor -- DIR
//! ```
//!
//! Walks `DIR`, reads every `*.yaml` file into memory, then parses each into a
//! `serde_json::Value` with the same YAML parser as `promote` (`serde_yaml`, i.e.
//! `serde_norway`), on a rayon pool with the default number of threads, like `promote plan`.
//! Prints one line: `files=N bytes=B read_seconds=R parse_seconds=P seconds=S`, where `R` is the
//! walk and the reads, `P` the parses alone and `S` the whole run.
//!
//! The reads are timed apart because the rendered layout is one small file per entry (over a
//! hundred thousand files for a large fleet): opening them costs more than parsing them, and
//! `plan` never reads that layout, so only `parse_seconds` is the parse floor.
//! `benches/fleet.sh` runs this on the output of `promote render --format yaml` and reports
//! `plan` time as a multiple of `parse_seconds`.

use rayon::prelude::*;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;
use walkdir::WalkDir;

// The same allocator as the `promote` binary, so the floor measures the same parser on the
// same threads with the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("parse-floor: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = match (args.next(), args.next()) {
        (Some(dir), None) if !dir.starts_with('-') => PathBuf::from(dir),
        _ => return Err("usage: parse-floor DIR".into()),
    };
    let start = Instant::now();
    let mut files = Vec::new();
    for entry in WalkDir::new(&dir) {
        let entry = entry?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "yaml") {
            files.push(entry.into_path());
        }
    }
    if files.is_empty() {
        return Err(format!("no *.yaml file under {}", dir.display()).into());
    }
    let texts = files
        .par_iter()
        .map(|path| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display())))
        .collect::<Result<Vec<String>, String>>()?;
    let read_seconds = start.elapsed().as_secs_f64();

    let parse_start = Instant::now();
    texts
        .par_iter()
        .zip(&files)
        .try_for_each(|(text, path)| parse(text, path))?;
    let parse_seconds = parse_start.elapsed().as_secs_f64();

    let bytes: usize = texts.iter().map(String::len).sum();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "files={} bytes={bytes} read_seconds={read_seconds:.3} parse_seconds={parse_seconds:.3} \
         seconds={seconds:.3}",
        files.len()
    );
    Ok(())
}

/// Parses one file's text.
fn parse(text: &str, path: &Path) -> Result<(), String> {
    let value: serde_json::Value =
        serde_yaml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
    // Keep the parse (and the drop of its result, which plan pays too) from being optimised away.
    std::hint::black_box(value);
    Ok(())
}
