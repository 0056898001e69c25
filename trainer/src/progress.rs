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
        let old_header = lines.next().unwrap_or(header);
        let fill = columns_added(old_header, header).with_context(|| {
            format!(
                "{} has the columns {old_header:?}, which this semiseg cannot continue ({header:?}); \
                 resume with the semiseg version that started the run",
                path.display()
            )
        })?;
        let before = text.lines().count();
        let mut kept: Vec<String> = vec![header.to_string()];
        kept.extend(
            lines
                .filter(|l| {
                    l.split(',')
                        .nth(column)
                        .and_then(|v| v.parse::<usize>().ok())
                        .is_some_and(|v| v <= last)
                })
                .map(|l| with_empty_columns(l, &fill)),
        );
        if kept.len() != before || old_header != header {
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

/// For a log whose `old` header lacks some columns of `new` (a run started by an earlier semiseg,
/// before `grad_norm` was logged), the positions in `new` that are not in `old`; `None` when
/// `old`'s columns are not `new`'s in order with some added.
fn columns_added(old: &str, new: &str) -> Option<Vec<usize>> {
    let mut old = old.split(',').peekable();
    let mut added = Vec::new();
    for (i, c) in new.split(',').enumerate() {
        if old.peek() == Some(&c) {
            old.next();
        } else {
            added.push(i);
        }
    }
    old.next().is_none().then_some(added)
}

/// `row` with an empty field inserted at each position of `added` (ascending, in the new layout).
fn with_empty_columns(row: &str, added: &[usize]) -> String {
    let mut fields: Vec<&str> = row.split(',').collect();
    for &i in added {
        fields.insert(i.min(fields.len()), "");
    }
    fields.join(",")
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

    #[test]
    fn an_older_log_gets_the_new_columns_empty_and_an_unknown_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        std::fs::write(&p, "step,loss,seconds\n1,0.5,1.0\n2,0.4,2.0\n3,0.3,3.0\n").unwrap();
        let mut f = super::open_log(&p, "step,loss,grad_norm,seconds", 0, 2).unwrap();
        std::io::Write::write_all(&mut f, b"3,0.3,1e0,3.0\n").unwrap();
        drop(f);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "step,loss,grad_norm,seconds\n1,0.5,,1.0\n2,0.4,,2.0\n3,0.3,1e0,3.0\n"
        );
        let other = dir.path().join("other.csv");
        std::fs::write(&other, "step,dice\n1,0.5\n").unwrap();
        let err = super::open_log(&other, "step,loss", 0, 1).unwrap_err();
        assert!(format!("{err:#}").contains("cannot continue"), "{err:#}");
        assert_eq!(
            std::fs::read_to_string(&other).unwrap(),
            "step,dice\n1,0.5\n"
        );
    }
}
