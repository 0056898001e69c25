//! One training process per run folder. A training invocation holds an exclusive operating-system
//! lock on the run's `train.lock` (flock on Unix, LockFileEx on Windows) for as long as it runs, so
//! a second `--resume` of the same run (another terminal, a forgotten tmux pane, a job scheduler
//! retrying) is refused instead of interleaving its checkpoints, logs and evaluations with the
//! first. The system drops the lock when the process ends, however it ends (Ctrl-C, kill -9, a
//! crash), so a dead run never leaves a stale lock to clean up. The file itself stays in the run
//! and says which process held it last.

use crate::run_dir::{utc_stamp, RunDir};
use anyhow::{bail, Context};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};

/// Name of the lock file inside a run folder.
pub const LOCK_FILE: &str = "train.lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: Option<File>,
}

impl RunLock {
    /// Take the run's training lock, or say who holds it. On a file system without locks (rare;
    /// some network mounts) the run goes on unlocked, with a warning written to `out`.
    pub fn acquire(run: &RunDir, out: &mut dyn Write) -> anyhow::Result<RunLock> {
        let path = run.root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false) // the holder's line is read before anything is written
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "a process that has not written its id yet".to_string()
                } else {
                    holder.to_string()
                };
                bail!(
                    "{} is being trained right now by another semiseg process ({holder}); two \
                     trainings of one run would mix their checkpoints and logs. Wait for it to \
                     finish, or stop it (Ctrl-C writes a checkpoint) and resume then; to train \
                     the same settings side by side, start a new run with another --name",
                    run.root.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                writeln!(
                    out,
                    "warning: {} cannot be locked on this file system ({e}); make sure no other \
                     semiseg process trains {} at the same time",
                    path.display(),
                    run.root.display()
                )?;
                return Ok(RunLock { _file: None });
            }
        }
        // Now ours: say who holds it, for the message above in another process.
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| {
                writeln!(
                    file,
                    "process {} since {} UTC",
                    std::process::id(),
                    utc_stamp()
                )
            })
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock { _file: Some(file) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_run_is_refused_with_its_holder_and_free_again_after() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir {
            root: d.path().into(),
        };
        let mut out = Vec::new();
        let first = RunLock::acquire(&run, &mut out).unwrap();
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        let held = std::fs::read_to_string(d.path().join(LOCK_FILE)).unwrap();
        assert!(
            held.starts_with(&format!("process {} since ", std::process::id())),
            "{held}"
        );
        // a second open file description conflicts even within one process (flock semantics)
        let err = RunLock::acquire(&run, &mut out).unwrap_err().to_string();
        assert!(
            err.contains("being trained right now")
                && err.contains(&format!("process {}", std::process::id()))
                && err.contains("--name"),
            "{err}"
        );
        // the refused attempt did not erase the holder's line
        assert_eq!(
            std::fs::read_to_string(d.path().join(LOCK_FILE)).unwrap(),
            held
        );
        drop(first);
        let again = RunLock::acquire(&run, &mut out);
        assert!(again.is_ok(), "{again:?}");
    }
}
