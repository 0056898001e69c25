//! `semiseg synth 3d` and `semiseg synth 2d`: small synthetic datasets.

use crate::cli::{Synth2dArgs, Synth3dArgs};
use crate::synth2d::write_synth2d_dataset;
use semiseg::data::{write_synthetic_dataset, LvitSplit, Synth2dConfig};
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

pub fn run_2d(a: &Synth2dArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = Synth2dConfig {
        size: a.size,
        min_lesions: a.min_lesions,
        max_lesions: a.max_lesions,
        ..Synth2dConfig::default()
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} (--size, --min-lesions, --max-lesions)"))?;
    if a.train == 0 {
        anyhow::bail!("--train 0: the training split needs at least one image");
    }
    let counts = [
        (LvitSplit::Train, a.train),
        (LvitSplit::Val, a.val),
        (LvitSplit::Test, a.test),
    ];
    write_synth2d_dataset(&a.out, &counts, &config, a.seed)?;
    writeln!(
        out,
        "wrote {} / {} / {} train / val / test radiographs of {}x{} ({} to {} lesions each) to {}",
        a.train,
        a.val,
        a.test,
        a.size,
        a.size,
        a.min_lesions,
        a.max_lesions,
        a.out.display()
    )?;
    Ok(())
}
