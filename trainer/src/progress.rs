//! What a training loop shows and logs: the progress bar (only on a terminal) and the CSV log
//! appended step by step, so a killed run keeps every line it wrote.

use anyhow::Context;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// How a training loop shows its progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// A plain line now and then (stderr is a log file: `nohup`, a batch job), with the rate and
    /// the time left, so a long run's log shows that it is alive and when it will end.
    Lines,
    /// Nothing (`--quiet`).
    Off,
}

impl ProgressMode {
    pub fn for_stderr(quiet: bool) -> Self {
        match (quiet, std::io::IsTerminal::is_terminal(&std::io::stderr())) {
            (true, _) => ProgressMode::Off,
            (false, true) => ProgressMode::Bar,
            (false, false) => ProgressMode::Lines,
        }
    }
}

/// A line every this often in [`ProgressMode::Lines`] (and after the first step and the last).
const LINE_INTERVAL: Duration = Duration::from_secs(60);

/// Progress over `total` units (steps) of which `start` were done before this invocation.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    lines: Option<Lines>,
}

struct Lines {
    total: usize,
    start: usize,
    t0: Instant,
    last: Option<Instant>,
}

impl Progress {
    pub fn new(mode: ProgressMode, total: usize, start: usize) -> Self {
        let bar = (mode == ProgressMode::Bar).then(|| {
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
            bar
        });
        let lines = (mode == ProgressMode::Lines).then(|| Lines {
            total,
            start,
            t0: Instant::now(),
            last: None,
        });
        Progress { bar, lines }
    }

    pub fn is_bar(&self) -> bool {
        self.bar.is_some()
    }

    /// `pos` units are done; `msg` is the latest losses.
    pub fn set(&mut self, pos: usize, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(pos as u64);
            b.set_message(msg.to_string());
        }
        if let Some(l) = &mut self.lines {
            if let Some(line) = l.line_at(Instant::now(), pos, msg) {
                eprintln!("{line}");
            }
        }
    }

    /// A line that stays (an evaluation's result), above the bar or in the log.
    pub fn println(&self, line: &str) {
        match (&self.bar, &self.lines) {
            (Some(b), _) => b.println(line),
            (None, Some(_)) => eprintln!("{line}"),
            (None, None) => {}
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish();
        }
    }
}

impl Lines {
    /// The line to print at `now` after `pos` units, if one is due: after the first unit of this
    /// invocation, after the last, and otherwise every [`LINE_INTERVAL`].
    fn line_at(&mut self, now: Instant, pos: usize, msg: &str) -> Option<String> {
        let due = pos == self.start + 1
            || pos == self.total
            || self
                .last
                .is_none_or(|last| now.duration_since(last) >= LINE_INTERVAL);
        if !due {
            return None;
        }
        self.last = Some(now);
        let done = pos.saturating_sub(self.start).max(1) as f64;
        let per_unit = now.duration_since(self.t0).as_secs_f64() / done;
        let left = per_unit * self.total.saturating_sub(pos) as f64;
        Some(format!(
            "step {pos}/{} ({:.1}%), {per_unit:.2} s/step, {} left; {msg}",
            self.total,
            100.0 * pos as f64 / self.total.max(1) as f64,
            duration_text(left)
        ))
    }
}

/// `3h 05m`, `4m 10s`, `12s`.
pub fn duration_text(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
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
    use super::*;

    #[test]
    fn log_lines_come_after_the_first_step_then_every_minute_and_at_the_end() {
        let t0 = Instant::now();
        let mut l = Lines {
            total: 100,
            start: 40,
            t0,
            last: None,
        };
        let at = |s: u64| t0 + Duration::from_secs(s);
        // first step of this invocation, 2 s after the start: 2 s/step, 59 steps left
        assert_eq!(
            l.line_at(at(2), 41, "loss 0.5").unwrap(),
            "step 41/100 (41.0%), 2.00 s/step, 1m 58s left; loss 0.5"
        );
        assert_eq!(l.line_at(at(30), 55, "x"), None);
        // a minute after the last line: 62 s for 30 steps
        assert_eq!(
            l.line_at(at(62), 70, "x").unwrap(),
            "step 70/100 (70.0%), 2.07 s/step, 1m 02s left; x"
        );
        assert_eq!(l.line_at(at(63), 71, "x"), None);
        assert!(l.line_at(at(64), 100, "x").unwrap().contains("0s left"));
    }

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(duration_text(12.4), "12s");
        assert_eq!(duration_text(250.0), "4m 10s");
        assert_eq!(duration_text(11_100.0), "3h 05m");
        assert_eq!(duration_text(-1.0), "0s");
    }

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
