//! `semiseg report --run RUN`: write the run's report.md and curves.svg (run_report.rs).

use crate::cli::ReportArgs;
use crate::run_dir::RunDir;
use crate::run_report::write_report;
use std::io::Write;

pub fn run(a: &ReportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let run = RunDir::open(&a.run)?;
    let path = write_report(&run)?;
    writeln!(out, "wrote {}", path.display())?;
    let svg = run.root.join("curves.svg");
    if svg.is_file() {
        writeln!(out, "wrote {}", svg.display())?;
    }
    Ok(())
}
