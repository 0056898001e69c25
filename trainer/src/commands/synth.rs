//! `semiseg synth 3d`: a small synthetic dataset.

use crate::cli::Synth3dArgs;
use semiseg::data::write_synthetic_dataset;
use std::io::Write;

pub fn run_3d(a: &Synth3dArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if a.size < 8 {
        anyhow::bail!("--size {} is too small; use at least 8", a.size);
    }
    write_synthetic_dataset(&a.out, a.cases, a.test, [a.size; 3], a.seed)
        .map_err(anyhow::Error::msg)?;
    writeln!(
        out,
        "wrote {} cases of {}^3 voxels ({} in test.list) to {}",
        a.cases,
        a.size,
        a.test,
        a.out.display()
    )?;
    Ok(())
}
