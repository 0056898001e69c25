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

/// Open a CSV log for appending; a new file gets `header` first. On a resume, rows written after
/// the checkpoint (their integer in `column` above `last`, e.g. steps run before a kill) are
/// dropped first, so the log of a resumed run reads as if it had never stopped.
pub fn open_log(
    path: &Path,
    header: &str,
    column: usize,
    last: usize,
) -> anyhow::Result<std::fs::File> {
    let new = !path.exists();
    if !new {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines();
        let mut kept: Vec<&str> = lines.next().into_iter().collect();
        let before = text.lines().count();
        kept.extend(lines.filter(|l| {
            l.split(',')
                .nth(column)
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|v| v <= last)
        }));
        if kept.len() != before {
            let mut body = kept.join("\n");
            body.push('\n');
            crate::run_dir::write_atomic(path, body.as_bytes())?;
        }
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_resumed_log_drops_rows_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        std::fs::write(&p, "step,loss\n1,0.5\n2,0.4\n3,0.3\n").unwrap();
        drop(super::open_log(&p, "step,loss", 0, 2).unwrap());
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "step,loss\n1,0.5\n2,0.4\n"
        );
        let fresh = dir.path().join("new.csv");
        drop(super::open_log(&fresh, "a,b", 0, 0).unwrap());
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "a,b\n");
    }
}
