//! `fuzz`: a seeded mutation fuzzer for every reader of user bytes (NIfTI-1/2 files and pairs,
//! NRRD attached and detached, gzip, model bundles, 2D images, LViT folders, prompts).
//!
//! ```text
//! cargo run --release -p semiseg-integration --bin fuzz -- [--inputs N] [--seed S] [--from I]
//!     [--hang-seconds T] [--memory-mib M] [--save DIR] [--only I]
//! ```
//! Input `i` of seed `S` is the same on every machine, so a failure is reproduced by its number
//! (`--only I --save DIR` writes it out). The inputs run in a child process under a memory limit
//! (`--memory-mib`, address space, Linux): the parent counts a panic (caught in the child), an
//! abort or crash (the child dies: memory, stack), and a hang (no answer within `--hang-seconds`;
//! the child is killed), starts a new child after the input, and prints a table per reader. It
//! exits with status 1 if any input panicked, aborted or hung.

mod mutate;
mod rng;
mod targets;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use targets::{Kind, Seeds, KINDS};

struct Args {
    inputs: u64,
    seed: u64,
    from: u64,
    hang_seconds: u64,
    memory_mib: u64,
    save: Option<std::path::PathBuf>,
    only: Option<u64>,
    child: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        inputs: 20_000,
        seed: 1,
        from: 0,
        hang_seconds: 20,
        memory_mib: 3072,
        save: None,
        only: None,
        child: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{flag} {v:?}: give a whole number"))
        };
        match flag.as_str() {
            "--inputs" => a.inputs = number(value()?)?,
            "--seed" => a.seed = number(value()?)?,
            "--from" => a.from = number(value()?)?,
            "--hang-seconds" => a.hang_seconds = number(value()?)?.max(1),
            "--memory-mib" => a.memory_mib = number(value()?)?,
            "--save" => a.save = Some(value()?.into()),
            "--only" => a.only = Some(number(value()?)?),
            "--child" => a.child = true,
            "-h" | "--help" => {
                return Err("usage: fuzz [--inputs N (20000)] [--seed S (1)] [--from I (0)] \
                            [--hang-seconds T (20)] [--memory-mib M (3072)] [--save DIR] [--only I]"
                    .into())
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if args.child {
        child(&args);
        return;
    }
    let seeds = Seeds::new();
    if let Some(i) = args.only {
        let (kind, input) = seeds.input(args.seed, i);
        if let Some(dir) = &args.save {
            input
                .write(&dir.join(i.to_string()))
                .expect("write the input");
            println!(
                "input {i} ({}) written to {}",
                kind.name(),
                dir.join(i.to_string()).display()
            );
        }
        let scratch = tempfile::tempdir().expect("a scratch folder");
        let start = Instant::now();
        let r = seeds.run(kind, &input, &scratch.path().join("in"));
        println!(
            "input {i} ({}): {r:?} in {:?}",
            kind.name(),
            start.elapsed()
        );
        return;
    }
    std::process::exit(parent(&args));
}

/// Limit the child's address space, so an allocation of what a bad header says fails (an abort)
/// instead of taking the machine's memory.
fn limit_memory(mib: u64) {
    #[cfg(target_os = "linux")]
    if mib > 0 {
        let bytes = mib << 20;
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit reads the struct passed by reference and nothing else.
        unsafe {
            libc::setrlimit(libc::RLIMIT_AS, &lim);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = mib;
}

/// The child: runs inputs `from..inputs`, telling the parent `start I` before and `done I
/// ok|refused|panic MESSAGE MICROS` after each.
fn child(args: &Args) {
    let seeds = Seeds::new();
    limit_memory(args.memory_mib);
    std::panic::set_hook(Box::new(|_| {})); // a panic is reported as an outcome
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let dir = scratch.path().join("in");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in args.from..args.inputs {
        let (kind, input) = seeds.input(args.seed, i);
        writeln!(out, "start {i}").unwrap();
        out.flush().unwrap();
        let start = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            seeds.run(kind, &input, &dir)
        }));
        let micros = start.elapsed().as_micros();
        let outcome = match r {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(_)) => "refused".to_string(),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("panic {}", msg.replace('\n', " "))
            }
        };
        writeln!(out, "done {i} {micros} {outcome}").unwrap();
    }
    out.flush().unwrap();
}

#[derive(Default)]
struct Tally {
    inputs: u64,
    accepted: u64,
    refused: u64,
    panics: u64,
    aborts: u64,
    hangs: u64,
    micros: u128,
    slowest: (u128, u64),
}

/// The parent: runs children until every input has an outcome; returns the exit status.
fn parent(args: &Args) -> i32 {
    let exe = std::env::current_exe().expect("the fuzzer's own path");
    let started = Instant::now();
    let mut tally: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut failures: Vec<(u64, &'static str, String)> = Vec::new();
    let kind_of = |i: u64| KINDS[(i % KINDS.len() as u64) as usize];
    let mut next = args.from;
    let mut last_report = Instant::now();
    println!(
        "fuzz: inputs {}..{} of seed {}, memory limit {} MiB, hang limit {} s",
        args.from, args.inputs, args.seed, args.memory_mib, args.hang_seconds
    );
    while next < args.inputs {
        let mut child = Command::new(&exe)
            .args([
                "--child",
                "--seed",
                &args.seed.to_string(),
                "--from",
                &next.to_string(),
                "--inputs",
                &args.inputs.to_string(),
                "--memory-mib",
                &args.memory_mib.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fuzzing child");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut current: Option<u64> = None;
        loop {
            match rx.recv_timeout(Duration::from_secs(args.hang_seconds)) {
                Ok(line) => {
                    let mut parts = line.splitn(4, ' ');
                    let (what, i) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let i: u64 = i.parse().unwrap_or(0);
                    if what == "start" {
                        current = Some(i);
                        continue;
                    }
                    let micros: u128 = parts.next().unwrap_or("0").parse().unwrap_or(0);
                    let outcome = parts.next().unwrap_or("");
                    let t = tally.entry(kind_of(i).name()).or_default();
                    t.inputs += 1;
                    t.micros += micros;
                    t.slowest = t.slowest.max((micros, i));
                    match outcome {
                        "ok" => t.accepted += 1,
                        "refused" => t.refused += 1,
                        panic => {
                            t.panics += 1;
                            failures.push((i, kind_of(i).name(), panic.to_string()));
                        }
                    }
                    current = None;
                    next = i + 1;
                    if last_report.elapsed() > Duration::from_secs(60) {
                        last_report = Instant::now();
                        println!(
                            "  {next} of {} inputs, {:.0} s",
                            args.inputs,
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let i = current.unwrap_or(next);
                    let t = tally.entry(kind_of(i).name()).or_default();
                    t.inputs += 1;
                    t.hangs += 1;
                    failures.push((
                        i,
                        kind_of(i).name(),
                        format!("hang (over {} s)", args.hang_seconds),
                    ));
                    next = i + 1;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("the child's status");
                    if let Some(i) = current {
                        let t = tally.entry(kind_of(i).name()).or_default();
                        t.inputs += 1;
                        t.aborts += 1;
                        failures.push((i, kind_of(i).name(), format!("abort or crash ({status})")));
                        next = i + 1;
                    } else if next < args.inputs {
                        eprintln!("the fuzzing child ended early ({status}) between inputs");
                        return 2;
                    }
                    break;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "\n| reader | inputs | accepted | refused | panics | aborts | hangs | mean ms | slowest ms (input) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut total = Tally::default();
    for k in KINDS {
        let name: &str = Kind::name(k);
        let Some(t) = tally.get(name) else { continue };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} (#{}) |",
            t.inputs,
            t.accepted,
            t.refused,
            t.panics,
            t.aborts,
            t.hangs,
            t.micros as f64 / 1000.0 / t.inputs.max(1) as f64,
            t.slowest.0 as f64 / 1000.0,
            t.slowest.1
        );
        total.inputs += t.inputs;
        total.accepted += t.accepted;
        total.refused += t.refused;
        total.panics += t.panics;
        total.aborts += t.aborts;
        total.hangs += t.hangs;
    }
    println!(
        "| all | {} | {} | {} | {} | {} | {} | | |",
        total.inputs, total.accepted, total.refused, total.panics, total.aborts, total.hangs
    );
    println!(
        "{} inputs in {secs:.0} s (seed {})",
        total.inputs, args.seed
    );
    for (i, kind, what) in failures.iter().take(50) {
        println!(
            "FAILED input {i} ({kind}): {what}\n  reproduce: cargo run --release -p semiseg-integration \
             --bin fuzz -- --seed {} --only {i} --save fuzz-failures",
            args.seed
        );
    }
    if failures.is_empty() {
        0
    } else {
        println!("{} input(s) failed", failures.len());
        1
    }
}
