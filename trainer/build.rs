//! Records the git commit the CLI is built from (`git describe --always --dirty`), so every run
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
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SEMISEG_GIT_COMMIT={commit}");
}
