//! `semiseg compare RUN...`: runs side by side (run_compare.rs).

use crate::cli::CompareArgs;
use crate::output_file::{check_new_file, create_parent};
use crate::run_compare::Comparison;
use crate::run_dir::write_atomic;
use std::io::Write;

pub fn run(a: &CompareArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(csv) = &a.csv {
        check_new_file(csv, "--csv", None)?;
    }
    let comparison = Comparison::read(&a.runs)?;
    write!(out, "{}", comparison.markdown(a.step)?)?;
    if let Some(csv) = &a.csv {
        create_parent(csv)?;
        write_atomic(csv, &comparison.csv()?)?;
        writeln!(out, "\nwrote {}", csv.display())?;
    }
    Ok(())
}
