//! Datasets: MSD / nnU-Net style folders and the literature's labeled/unlabeled splits (spec B1);
//! 2D image-text sets in the LViT layout, their images, and synthetic chest radiographs (spec A1).

mod augment;
mod augment2d;
mod dicom;
mod image2d;
mod la_preprocess;
mod lvit;
mod msd;
mod split;
mod synthetic2d;
mod synthetic3d;

pub use augment::{random_crop, random_rot_flip, Grid};
pub use augment2d::Augment2d;
pub use dicom::{dicom_dimensions, finite_extent, is_dicom, read_dicom, value_range, DicomImage};
pub use image2d::{
    bytes_dimensions, foreground_pixels, image_dimensions, mid_tone_share, resize_linear,
    resize_nearest, Image2d, Image2dError, Mask2d, MaskResize, DEFAULT_IMAGE_SIZE, MAX_PIXELS,
};
pub use la_preprocess::{
    bounding_box, la_crop, preprocess_la, zscore, LaCase, LA_LABEL_VALUE, LA_MARGIN, LA_PATCH_XY,
};
pub use lvit::{
    pad_description, parse_text_table, read_split, read_text_table, LvitDataset, LvitError,
    LvitSample, LvitSplit, TextRow, IMAGE_EXTENSIONS,
};
pub use msd::{case_id, scans_in, Case, Dataset};
pub use split::{read_list, LabeledChoice, Split};
pub use synthetic2d::{
    describe_lesions, synth2d_index, synth2d_name, synthetic_cxr, Lesion, Side, Synth2dConfig,
    Synth2dError, Synth2dSample, Zone,
};
pub use synthetic3d::{synthetic_affine, synthetic_case, write_synthetic_dataset, SyntheticCase};

use std::path::PathBuf;

/// What is wrong with a dataset folder or split, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: invalid dataset.json: {reason}")]
    Json { path: PathBuf, reason: String },
    #[error("{dir}: {}; give the dataset folder (the one with imagesTr/ and labelsTr/ or a dataset.json)", if *.exists { "is a file, not a folder" } else { "no such folder" })]
    NotAFolder { dir: PathBuf, exists: bool },
    #[error("{dir}: no cases found: expected imagesTr/ and labelsTr/ with .nii.gz files, or a dataset.json listing them")]
    NoCases { dir: PathBuf },
    #[error("{dir}: this is a 2D image-text dataset (LViT layout, Train_Folder/ or Train_all/), and the V-Net segments 3D volumes; train AMVLM on it (`semiseg train amvlm --data {dir}`), or give a folder with imagesTr/ and labelsTr/")]
    TwoDimensional { dir: PathBuf },
    #[error("{dir}: {count} file(s) listed but missing, e.g. {first}")]
    Missing {
        dir: PathBuf,
        count: usize,
        first: PathBuf,
    },
    #[error("{list}: {count} case id(s) not in the dataset, e.g. {first:?}; check the list matches this folder")]
    UnknownIds {
        list: PathBuf,
        count: usize,
        first: String,
    },
    #[error("{list}: case {id:?} appears twice")]
    DuplicateId { list: PathBuf, id: String },
    #[error("cannot take {wanted} labeled cases: the training list has only {available}")]
    TooManyLabeled { wanted: usize, available: usize },
    #[error("case {id:?} has no label file, but it is in the labeled subset")]
    NoLabel { id: String },
    #[error("{path}: a symbolic link to nothing (or a loop); fix or remove it")]
    BrokenLink { path: PathBuf },
    #[error("{list}: case {id:?} is in train.list too; a test case must not be trained on: remove it from one of the lists")]
    InBothLists { list: PathBuf, id: String },
    #[error("{list}: no case ids in it (one id per line)")]
    EmptyList { list: PathBuf },
    #[error("{list}: validation case {id:?} {problem}; validation cases are labeled training cases held out of training (never test cases, never the labeled subset)")]
    BadValidationCase {
        list: PathBuf,
        id: String,
        problem: &'static str,
    },
}
