//! What a training loop shows and logs: the progress bar (only on a terminal) and the CSV log
//! appended step by step, so a killed run keeps every line it wrote.

use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// A progress bar over `total` units starting at `start`, or `None` when not shown.
pub fn progress_bar(show: bool, total: usize, start: usize) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} it {per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_position(start as u64);
    bar.reset_eta();
    Some(bar)
}

/// Open a CSV log for appending; a new file gets `header` first.
pub fn open_log(path: &Path, header: &str) -> anyhow::Result<std::fs::File> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if new {
        writeln!(f, "{header}")?;
    }
    Ok(f)
}
