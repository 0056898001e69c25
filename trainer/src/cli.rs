//! The command-line grammar (clap derive). Each command's `--help` explains it with an example.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "semiseg",
    version,
    about = "Semi-supervised medical image segmentation: scans, metrics, training and inference",
    long_about = "Semi-supervised medical image segmentation (SimCVD, AMVLM).\n\n\
                  Inspect NIfTI scans, score segmentations like the literature (Dice, Jaccard, 95HD, ASD), \
                  and look at datasets and their labeled/unlabeled splits.",
    after_help = "Examples:\n  semiseg inspect scan.nii.gz\n  semiseg eval --pred preds/ --gt labelsTr/ --csv metrics.csv\n  semiseg dataset ../shared/data/la2018 --labeled 16"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a scan's header: dimensions, spacing, data type, orientation, affine, intensities.
    #[command(
        after_help = "Example:\n  semiseg inspect ../shared/data/la2018/imagesTr/06SR5RBREL16DQ6M8LWS.nii.gz\n\n\
                      Reads .nii, .nii.gz and .hdr/.img pairs (NIfTI-1 and NIfTI-2, any byte order)."
    )]
    Inspect(InspectArgs),
    /// Score predicted masks against ground truth: Dice, Jaccard, 95HD, ASD per case and mean.
    #[command(after_help = EVAL_HELP)]
    Eval(EvalArgs),
    /// Show a dataset folder (MSD/nnU-Net layout) and its labeled/unlabeled/test split.
    #[command(
        after_help = "Examples:\n  semiseg dataset ../shared/data/la2018 --labeled 16\n  semiseg dataset ../shared/data/la2018 --labeled 8 --seed 1337\n\n\
                      The split comes from train.list/test.list in the folder when present. The labeled \
                      cases are the first N of train.list, as in UA-MT, DTC and SimCVD, or a seeded draw with --seed."
    )]
    Dataset(DatasetArgs),
}

const EVAL_HELP: &str = "Example:\n  semiseg eval --pred runs/la16/predictions --gt ../shared/data/la2018/labelsTr --cases ../shared/data/la2018/test.list --csv la16.csv\n\n\
Files are matched by case id (the file name without .nii/.nii.gz). Every prediction needs a ground \
truth; with --cases, every listed case needs both. Both masks of a case must lie on the same voxel \
grid (orientation differences are undone first). Metrics follow medpy as the semi-supervised \
literature uses it: surfaces by erosion with the 3D cross, 95HD over both directions pooled, ASD from \
prediction to ground truth, in voxels unless --spacing mm. If either mask of a case is empty all its \
metrics are 0 (as in SSL4MIS) and the case is flagged. The CSV also has ASSD and the MONAI-style HD95 \
(max of the two directed 95th percentiles).";

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The scan (.nii, .nii.gz, .hdr).
    pub scan: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Units of the distance metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpacingUnit {
    /// Voxels, as in SimCVD's and UA-MT's tables.
    Voxel,
    /// Millimetres, using each scan's voxel size.
    Mm,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folder of predicted masks (.nii / .nii.gz).
    #[arg(long)]
    pub pred: PathBuf,
    /// Folder of ground-truth masks.
    #[arg(long)]
    pub gt: PathBuf,
    /// Distance units.
    #[arg(long, value_enum, default_value_t = SpacingUnit::Voxel)]
    pub spacing: SpacingUnit,
    /// Also write the table as CSV (one row per case, then a "mean" row).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Replace the CSV file if it exists (otherwise an existing file is an error).
    #[arg(long)]
    pub overwrite: bool,
    /// Only these cases, which must all be present (a file with one case id per line, e.g. test.list).
    #[arg(long, value_name = "LIST")]
    pub cases: Option<PathBuf>,
    /// Score this label value (for multi-label masks); by default foreground is any value > 0.5.
    #[arg(long)]
    pub label: Option<u32>,
}

#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// The dataset folder (dataset.json, imagesTr/, labelsTr/, train.list, test.list).
    pub dir: PathBuf,
    /// Number of labeled training cases.
    #[arg(long, default_value_t = 16)]
    pub labeled: usize,
    /// Draw the labeled cases at random with this seed instead of taking the first of train.list.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print JSON (the split's case ids) instead of a summary.
    #[arg(long)]
    pub json: bool,
}
