//! A run is a folder: the resolved config, the seed, the data manifest (case ids and file hashes),
//! a training log, a metrics CSV per evaluation, checkpoints and the best model. A new run never
//! reuses an existing folder.

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// Create `parent/name`; it must not exist yet, and `name` must be a plain folder name (a
    /// path such as `../x` or `/tmp/x` would put the run outside `parent`).
    pub fn create(parent: &Path, name: &str) -> anyhow::Result<RunDir> {
        let mut parts = Path::new(name).components();
        let plain = matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        );
        if !plain || name.contains(['/', '\\']) {
            bail!(
                "--name {name:?}: give a folder name (it goes under --runs {}), not a path",
                parent.display()
            );
        }
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let root = parent.join(name);
        match std::fs::create_dir(&root) {
            Ok(()) => Ok(RunDir { root }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "{} already exists; semiseg never overwrites a run: choose another --name, or continue it with --resume {}",
                root.display(),
                root.display()
            ),
            Err(e) => Err(e).with_context(|| format!("creating {}", root.display())),
        }
    }

    /// A new run folder named `prefix-YYYYmmdd-HHMMSS` (with `-2`, `-3`... if taken).
    pub fn create_timestamped(parent: &Path, prefix: &str) -> anyhow::Result<RunDir> {
        let stamp = utc_stamp();
        for i in 1..100 {
            let name = if i == 1 {
                format!("{prefix}-{stamp}")
            } else {
                format!("{prefix}-{stamp}-{i}")
            };
            if !parent.join(&name).exists() {
                return Self::create(parent, &name);
            }
        }
        bail!("could not find a free run name under {}", parent.display())
    }

    /// Write a just-created run's first files with `write`; if that fails, the folder (which this
    /// invocation created and which holds nothing else) is removed, so a run that never started
    /// leaves no half-written folder that `--resume` would take for a run.
    pub fn setup(
        self,
        write: impl FnOnce(&RunDir) -> anyhow::Result<()>,
    ) -> anyhow::Result<RunDir> {
        match write(&self) {
            Ok(()) => Ok(self),
            Err(e) => {
                if let Err(rm) = std::fs::remove_dir_all(&self.root) {
                    return Err(e.context(format!(
                        "the run folder {} is incomplete and could not be removed ({rm}); delete it",
                        self.root.display()
                    )));
                }
                Err(e)
            }
        }
    }

    /// What `--resume` says of a run that has already trained its `total` `unit`s (step, epoch)
    /// instead of loading its data to train nothing: how to evaluate it.
    pub fn finished_message(&self, total: usize, unit: &str, eval: &str, data: &Path) -> String {
        format!(
            "{} has finished its {}; nothing to train. Evaluate it with: \
             semiseg {eval} --run {} --data {}",
            self.root.display(),
            crate::wording::counted(total, unit),
            self.root.display(),
            data.display()
        )
    }

    /// An existing run (it must have a `config.toml`).
    pub fn open(root: &Path) -> anyhow::Result<RunDir> {
        if !root.join("config.toml").is_file() {
            bail!(
                "{} is not a semiseg run folder (no config.toml)",
                root.display()
            );
        }
        Ok(RunDir { root: root.into() })
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
    /// The `field` of each entry of the manifest's list `list` (`"labeled"` and `"id"` for a
    /// scan's cases, `"train"` and `"key"` for image pairs): what a resumed run checks its data
    /// against. Empty when the manifest has no such list.
    pub fn manifest_list(&self, list: &str, field: &str) -> anyhow::Result<Vec<String>> {
        let path = self.manifest();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the run's manifest {}", path.display()))?;
        let m: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("the run's manifest {} is not JSON", path.display()))?;
        Ok(m[list]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[field].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }
    pub fn train_log(&self) -> PathBuf {
        self.root.join("train_log.csv")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    pub fn evaluations(&self) -> PathBuf {
        self.root.join("evaluations")
    }
    /// Evaluations of the validation cases during training (`--val-list`), as `evaluations()`
    /// has those of the test cases.
    pub fn validations(&self) -> PathBuf {
        self.evaluations().join("validation")
    }

    pub fn best(&self) -> PathBuf {
        self.root.join("best")
    }
    pub fn sessions(&self) -> PathBuf {
        self.root.join("sessions.csv")
    }

    /// Append one row to `sessions.csv` for a training invocation that starts at `from_step`: when
    /// (UTC), on which backend, and the semiseg version and git commit it was built from, so a
    /// run continued with `--resume` says which code trained which steps.
    pub fn record_session(&self, from_step: usize, backend: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let path = self.sessions();
        let new = !path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if new {
            writeln!(f, "started_utc,from_step,backend,semiseg_version,commit")?;
        }
        writeln!(
            f,
            "{},{from_step},{},{},{}",
            utc_stamp(),
            backend.replace(',', ";"),
            env!("CARGO_PKG_VERSION"),
            env!("SEMISEG_GIT_COMMIT")
        )?;
        Ok(())
    }
}

/// `YYYYmmdd-HHMMSS` in UTC, from the system clock.
pub fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("hashing {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Write `bytes` to `path` through a temporary file and a rename, so a killed run never leaves a
/// half-written file under the final name. The temporary file is a new hidden one beside it
/// (`.NAME.PID.tmp`, created only if absent), so no file of the user's is ever written over on the
/// way; it is removed if the write fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_are_read_by_field() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir {
            root: d.path().to_path_buf(),
        };
        assert!(
            run.manifest_list("labeled", "id").is_err(),
            "no manifest yet"
        );
        std::fs::write(
            run.manifest(),
            r#"{"labeled": [{"id": "a", "sha256": "0"}, {"id": "b"}], "train": [{"key": "k1"}]}"#,
        )
        .unwrap();
        assert_eq!(run.manifest_list("labeled", "id").unwrap(), ["a", "b"]);
        assert_eq!(run.manifest_list("train", "key").unwrap(), ["k1"]);
        // a list the run did not write (no validation cases) is empty; so is a field it lacks
        assert!(run.manifest_list("validation", "id").unwrap().is_empty());
        assert!(run.manifest_list("train", "id").unwrap().is_empty());
        std::fs::write(run.manifest(), "{ not json").unwrap();
        let err = format!("{:#}", run.manifest_list("labeled", "id").unwrap_err());
        assert!(
            err.contains("manifest.json") && err.contains("not JSON"),
            "{err}"
        );
    }

    #[test]
    fn write_atomic_never_touches_a_neighbour_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        // the old temporary name was `model.tmp`, a file the user may own
        std::fs::write(d.path().join("model.tmp"), "mine").unwrap();
        let target = d.path().join("model.semiseg");
        write_atomic(&target, b"bundle").unwrap();
        write_atomic(&target, b"bundle 2").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"bundle 2");
        assert_eq!(
            std::fs::read_to_string(d.path().join("model.tmp")).unwrap(),
            "mine"
        );
        let mut names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["model.semiseg", "model.tmp"]);
        // a failed write (no such folder) leaves nothing
        assert!(write_atomic(&d.path().join("none").join("x.csv"), b"x").is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_run_name_is_a_folder_name() {
        let d = tempfile::tempdir().unwrap();
        for bad in ["../x", "/tmp/x", "a/b", "..", ".", "", "a\\b"] {
            let err = RunDir::create(d.path(), bad).unwrap_err().to_string();
            assert!(err.contains("give a folder name"), "{bad}: {err}");
        }
        RunDir::create(d.path(), "run-1.x").unwrap();
    }

    #[test]
    fn runs_are_never_reused() {
        let d = tempfile::tempdir().unwrap();
        let r = RunDir::create(d.path(), "a").unwrap();
        std::fs::write(r.root.join("keep"), "x").unwrap();
        let err = RunDir::create(d.path(), "a").unwrap_err().to_string();
        assert!(
            err.contains("already exists") && err.contains("--resume"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(r.root.join("keep")).unwrap(), "x");
        let t = RunDir::create_timestamped(d.path(), "simcvd").unwrap();
        let t2 = RunDir::create_timestamped(d.path(), "simcvd").unwrap();
        assert_ne!(t.root, t2.root);
        assert_eq!(utc_stamp().len(), 15);
    }

    #[test]
    fn a_run_whose_setup_fails_leaves_no_folder() {
        let d = tempfile::tempdir().unwrap();
        let r = RunDir::create(d.path(), "a").unwrap();
        let root = r.root.clone();
        let err = r
            .setup(|run| {
                std::fs::write(run.config(), "x")?;
                anyhow::bail!("a case cannot be read")
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "a case cannot be read");
        assert!(!root.exists());
        let ok = RunDir::create(d.path(), "a")
            .unwrap()
            .setup(|run| Ok(std::fs::write(run.config(), "x")?))
            .unwrap();
        assert!(ok.config().is_file());
    }
}
