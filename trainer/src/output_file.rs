//! Files the user names on the command line (`predict -o`, `export -o`, `vocab --out`,
//! `eval --csv`): checked before any work starts, so that a long computation never ends in
//! "cannot write", and never overwritten. Missing parent folders are created when the file is
//! written, not before, so a refused or failed command leaves nothing behind.

use anyhow::{bail, Context};
use std::path::Path;

/// Refuse `path` (given with `flag`) now if it could not be written later: it is a folder, one of
/// its ancestors is not a folder, or it exists. `overwrite` is the command's `--overwrite` (`None`
/// where it has none): with `Some(true)` an existing file is accepted.
pub fn check_new_file(path: &Path, flag: &str, overwrite: Option<bool>) -> anyhow::Result<()> {
    // a symbolic link (dangling or not) would write somewhere the user did not name
    if path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        bail!(
            "{flag} {} is a symbolic link; give the name of a plain file",
            path.display()
        );
    }
    if path.is_dir() {
        bail!(
            "{flag} {} is a folder; give a file name inside it",
            path.display()
        );
    }
    match overwrite {
        _ if !path.exists() => {}
        None => bail!(
            "{} already exists; semiseg never overwrites: choose another {flag}",
            path.display()
        ),
        Some(false) => bail!(
            "{} already exists; choose another {flag} or pass --overwrite",
            path.display()
        ),
        Some(true) => {}
    }
    // the nearest ancestor that exists must be a folder (then the rest can be created)
    let mut ancestor = path.parent();
    while let Some(dir) = ancestor {
        if dir.as_os_str().is_empty() {
            break; // a bare file name: the current folder
        }
        if dir.exists() {
            if !dir.is_dir() {
                bail!(
                    "{flag} {}: {} is a file, not a folder; choose another {flag}",
                    path.display(),
                    dir.display()
                );
            }
            break;
        }
        ancestor = dir.parent();
    }
    Ok(())
}

/// Create the folders above `path` that do not exist yet (call right before writing it).
pub fn create_parent(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .with_context(|| {
                format!(
                    "creating the folder {} for {}",
                    dir.display(),
                    path.display()
                )
            }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_could_not_be_written_and_creates_missing_folders_only_on_write() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("mask.nii.gz");
        std::fs::write(&file, "mine").unwrap();
        let e = check_new_file(&file, "-o", None).unwrap_err().to_string();
        assert!(e.contains("already exists") && e.contains("-o"), "{e}");
        let e = check_new_file(&file, "--csv", Some(false))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("already exists") && e.contains("--overwrite"),
            "{e}"
        );
        check_new_file(&file, "--csv", Some(true)).unwrap();
        let e = check_new_file(d.path(), "-o", Some(true))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a folder"), "{e}");
        let under_file = file.join("x").join("y.nii.gz");
        let e = check_new_file(&under_file, "-o", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a file, not a folder"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");

        let nested = d.path().join("a").join("b").join("mask.nii.gz");
        check_new_file(&nested, "-o", None).unwrap();
        assert!(!d.path().join("a").exists(), "the check creates nothing");
        create_parent(&nested).unwrap();
        assert!(d.path().join("a").join("b").is_dir());
        check_new_file(Path::new("bare-name.csv"), "--csv", None).unwrap();
        create_parent(Path::new("bare-name.csv")).unwrap();
        // a symbolic link, dangling or not, is refused even with --overwrite
        #[cfg(unix)]
        for target in [d.path().join("nowhere.csv"), file.clone()] {
            let link = d.path().join("link.csv");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&target, &link).unwrap();
            let e = check_new_file(&link, "--csv", Some(true))
                .unwrap_err()
                .to_string();
            assert!(e.contains("symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    }
}
