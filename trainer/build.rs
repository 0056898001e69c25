//! Records the git commit the CLI is built from (its hash, `-dirty` with uncommitted changes), so every run
//! can say which code trained it (`sessions.csv` in the run folder). Outside a git checkout, or
//! without git, it reads "unknown".

fn main() {
    for p in [
        "../.git/HEAD",
        "../.git/index",
        "../.git/refs",
        "src",
        "../shared/src",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    // `git describe --dirty` refreshes and rewrites .git/index (it does in a fresh clone), which
    // this script watches, so the next cargo command would run it again and rebuild the whole
    // crate (4 minutes of the test script). `status --no-optional-locks` never writes the index.
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("--no-optional-locks")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) if !hash.trim().is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.trim().is_empty());
            format!("{}{}", hash.trim(), if dirty { "-dirty" } else { "" })
        }
        _ => "unknown".into(),
    };
    println!("cargo:rustc-env=SEMISEG_GIT_COMMIT={commit}");
}
