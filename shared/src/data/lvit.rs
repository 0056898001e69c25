//! 2D image-text datasets in the LViT layout (spec A1), as AMVLM reads them:
//!
//! ```text
//! ROOT/Train_Folder/img/        images
//! ROOT/Train_Folder/labelcol/   masks
//! ROOT/Train_Folder/Train_text.xlsx
//! ROOT/Val_Folder/...  (Val_text.xlsx)      optional
//! ROOT/Test_Folder/... (Test_text.xlsx)     optional
//! ROOT/Train_all/img/ + Train_all/Train_text_all.xlsx   AMVLM pre-training (masks optional)
//! ```
//!
//! Each table has one sheet whose header row holds the columns `Image` and `Description` (found by
//! name, in any order; other columns are ignored). `Image` names the **mask** file in `labelcol/`;
//! the image in `img/` has the same name, or the same stem with another extension (MoNuSeg: mask
//! `.png`, image `.tif`), or the mask is `mask_<image file>` (QaTa-COV19).

use calamine::{Data, Reader, Xlsx};
use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A split of an LViT dataset: its folder and text table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum LvitSplit {
    Train,
    Val,
    Test,
    /// AMVLM's pre-training set `Train_all/`: images with texts, masks optional.
    TrainAll,
}

impl LvitSplit {
    /// The three splits of the LViT layout (not the pre-training set).
    pub const STANDARD: [LvitSplit; 3] = [LvitSplit::Train, LvitSplit::Val, LvitSplit::Test];
    /// Every split, in the order they are read.
    pub const ALL: [LvitSplit; 4] = [
        LvitSplit::Train,
        LvitSplit::Val,
        LvitSplit::Test,
        LvitSplit::TrainAll,
    ];

    /// The split's folder under the dataset root.
    pub fn folder(self) -> &'static str {
        match self {
            LvitSplit::Train => "Train_Folder",
            LvitSplit::Val => "Val_Folder",
            LvitSplit::Test => "Test_Folder",
            LvitSplit::TrainAll => "Train_all",
        }
    }

    /// The text table inside the split's folder.
    pub fn xlsx(self) -> &'static str {
        match self {
            LvitSplit::Train => "Train_text.xlsx",
            LvitSplit::Val => "Val_text.xlsx",
            LvitSplit::Test => "Test_text.xlsx",
            LvitSplit::TrainAll => "Train_text_all.xlsx",
        }
    }

    /// A short lower-case name (`train`, `val`, `test`, `train_all`).
    pub fn name(self) -> &'static str {
        match self {
            LvitSplit::Train => "train",
            LvitSplit::Val => "val",
            LvitSplit::Test => "test",
            LvitSplit::TrainAll => "train_all",
        }
    }

    /// Whether every row must have its mask in `labelcol/` (all but the pre-training set).
    pub fn masks_required(self) -> bool {
        self != LvitSplit::TrainAll
    }
}

impl std::fmt::Display for LvitSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One image with its description (and its mask when the split has masks).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LvitSample {
    /// The row's `Image` value: the mask file name, which is also AMVLM's key for the text.
    pub key: String,
    pub image: PathBuf,
    pub mask: Option<PathBuf>,
    /// The description as written (trimmed; see [`pad_description`] for the model's padding).
    pub text: String,
    /// The row of the table it came from (1-based, as a spreadsheet shows it).
    pub row: usize,
}

/// One data row of a text table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow {
    /// 1-based spreadsheet row number.
    pub row: usize,
    pub image: String,
    pub description: String,
}

/// What is wrong with an LViT dataset folder, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LvitError {
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{root}: not an LViT dataset: expected Train_Folder/ (img/, labelcol/, Train_text.xlsx) or Train_all/ (img/, Train_text_all.xlsx){}", if root.join("imagesTr").is_dir() { "; this folder has imagesTr/, a 3D volume dataset: train the V-Net on it with `semiseg train simcvd`" } else { "" })]
    NotLvit { root: PathBuf },
    #[error(
        "{path}: missing; a split folder needs img/ (images), labelcol/ (masks) and its text table"
    )]
    MissingFolder { path: PathBuf },
    #[error("{path}: missing; each split folder needs its text table with columns Image (mask file name) and Description")]
    MissingXlsx { path: PathBuf },
    #[error(
        "{path}: not a readable .xlsx workbook ({reason}); save the table in Excel's .xlsx format"
    )]
    Xlsx { path: PathBuf, reason: String },
    #[error("{path}: the first sheet is empty; it needs a header row with Image and Description, then one row per image")]
    EmptyTable { path: PathBuf },
    #[error("{path}: no column named {column:?} in the header row (row {row}; found: {found}); the table needs columns Image (mask file name) and Description")]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        row: usize,
        found: String,
    },
    #[error("{path} row {row}: the Image cell is empty but the row has a description; write the mask file name there or delete the row")]
    EmptyImageName { path: PathBuf, row: usize },
    #[error("{path} row {row}: the Description of {name:?} is empty; every image needs a text")]
    EmptyDescription {
        path: PathBuf,
        row: usize,
        name: String,
    },
    #[error(
        "{path} row {row}: {name:?} is already listed in row {first_row}; keep one row per image"
    )]
    DuplicateRow {
        path: PathBuf,
        row: usize,
        first_row: usize,
        name: String,
    },
    #[error("{path} row {row}: no image for {name:?} in {dir} (looked for that name, the same stem with any image extension, and the name without a mask_ prefix)")]
    NoImage {
        path: PathBuf,
        row: usize,
        name: String,
        dir: PathBuf,
    },
    #[error("{path} row {row}: {name:?} matches several images in {dir}: {candidates}; keep one")]
    AmbiguousImage {
        path: PathBuf,
        row: usize,
        name: String,
        dir: PathBuf,
        candidates: String,
    },
    #[error(
        "{path} row {row}: the mask {name:?} is not in {dir}; the Image column names the mask file"
    )]
    NoMask {
        path: PathBuf,
        row: usize,
        name: String,
        dir: PathBuf,
    },
    #[error(
        "{path} rows {first_row} and {row} both point to the image {image}; keep one row per image"
    )]
    SharedImage {
        path: PathBuf,
        row: usize,
        first_row: usize,
        image: PathBuf,
    },
    #[error("{dir}: {count} image(s) have no row in {xlsx}, e.g. {first:?}; add a row (Image = its mask file name, Description = its text) or move the image out")]
    ImageWithoutRow {
        dir: PathBuf,
        xlsx: PathBuf,
        count: usize,
        first: String,
    },
    #[error("{path}: no data rows; add one row per image under the header")]
    NoRows { path: PathBuf },
    #[error("{0}")]
    Image(#[from] super::image2d::Image2dError),
    #[error("{mask}: the mask is {mask_w} x {mask_h} pixels but its image {image} is {image_w} x {image_h}; a mask must cover its image pixel for pixel")]
    MaskSize {
        mask: PathBuf,
        mask_w: u32,
        mask_h: u32,
        image: PathBuf,
        image_w: u32,
        image_h: u32,
    },
}

/// An LViT dataset folder, read and checked.
#[derive(Debug, Clone)]
pub struct LvitDataset {
    pub root: PathBuf,
    splits: BTreeMap<LvitSplit, Vec<LvitSample>>,
    missing: Vec<LvitSplit>,
}

/// File extensions taken as images in `img/` and `labelcol/` (others, and hidden files, are ignored).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp"];

fn is_image_name(name: &str) -> bool {
    !name.starts_with('.')
        && Path::new(name)
            .extension()
            .map(|e| {
                let e = e.to_string_lossy().to_lowercase();
                IMAGE_EXTENSIONS.contains(&e.as_str())
            })
            .unwrap_or(false)
}

fn stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// The image files of a folder (names, sorted).
fn image_files(dir: &Path) -> Result<Vec<String>, LvitError> {
    let io = |cause| LvitError::Io {
        path: dir.into(),
        cause,
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if is_image_name(&name) && e.path().is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// LViT/AMVLM's text padding: a description with fewer than 9 whitespace-separated words gets
/// `" EOF XXX"` appended once per missing word (spec A1); longer texts are returned unchanged.
pub fn pad_description(text: &str) -> String {
    let words = text.split_whitespace().count();
    let mut out = text.to_string();
    for _ in words..9 {
        out.push_str(" EOF XXX");
    }
    out
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        other => other.to_string().trim().to_string(),
    }
}

/// Read a text table from the bytes of an `.xlsx` file (`path` is used in error messages): the
/// first sheet, its first non-empty row as the header, `Image` and `Description` found by name
/// (case and surrounding spaces ignored). Blank rows are skipped; an empty `Image` or
/// `Description` in a non-blank row is an error.
pub fn parse_text_table(bytes: &[u8], path: &Path) -> Result<Vec<TextRow>, LvitError> {
    let xlsx_err = |reason: String| LvitError::Xlsx {
        path: path.into(),
        reason,
    };
    let mut wb = Xlsx::new(Cursor::new(bytes)).map_err(|e| xlsx_err(e.to_string()))?;
    // calamine 0.31 indexes shared strings without a bound check (a damaged workbook whose cell
    // names a string that is not there panics): caught and refused as a damaged workbook
    let sheet = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wb.worksheet_range_at(0)))
        .map_err(|_| {
            xlsx_err("a cell refers to a shared string the workbook does not have".into())
        })?;
    let range = match sheet {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(xlsx_err(e.to_string())),
        None => return Err(LvitError::EmptyTable { path: path.into() }),
    };
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let mut rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            (
                first_row + i + 1,
                cells.iter().map(cell_text).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()));
    let (header_row, header) = rows
        .next()
        .ok_or_else(|| LvitError::EmptyTable { path: path.into() })?;
    let column = |name: &'static str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| LvitError::MissingColumn {
                path: path.into(),
                column: name,
                row: header_row,
                found: header
                    .iter()
                    .filter(|h| !h.is_empty())
                    .map(|h| format!("{h:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    };
    let (image_col, text_col) = (column("Image")?, column("Description")?);
    let mut out = Vec::new();
    for (row, cells) in rows {
        let get = |i: usize| cells.get(i).cloned().unwrap_or_default();
        let (image, description) = (get(image_col), get(text_col));
        if image.is_empty() && description.is_empty() {
            continue; // a row with only other columns filled
        }
        if image.is_empty() {
            return Err(LvitError::EmptyImageName {
                path: path.into(),
                row,
            });
        }
        if description.is_empty() {
            return Err(LvitError::EmptyDescription {
                path: path.into(),
                row,
                name: image,
            });
        }
        out.push(TextRow {
            row,
            image,
            description,
        });
    }
    Ok(out)
}

/// Read a text table file (see [`parse_text_table`]).
pub fn read_text_table(path: &Path) -> Result<Vec<TextRow>, LvitError> {
    if !path.is_file() {
        return Err(LvitError::MissingXlsx { path: path.into() });
    }
    let bytes = std::fs::read(path).map_err(|cause| LvitError::Io {
        path: path.into(),
        cause,
    })?;
    parse_text_table(&bytes, path)
}

/// Images of `img/` by file name and by stem.
struct ImageIndex {
    names: Vec<String>,
    by_stem: HashMap<String, Vec<usize>>,
}

impl ImageIndex {
    fn new(names: Vec<String>) -> ImageIndex {
        let mut by_stem: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            by_stem.entry(stem(n).to_string()).or_default().push(i);
        }
        ImageIndex { names, by_stem }
    }

    /// The image for a mask name: the same name, else the same stem, each tried with and
    /// without a `mask_` prefix. `Err` lists the candidates when a stem is ambiguous.
    fn resolve(&self, mask_name: &str) -> Result<Option<usize>, Vec<String>> {
        let mut tries = vec![mask_name];
        if let Some(rest) = mask_name.strip_prefix("mask_") {
            tries.push(rest);
        }
        for name in &tries {
            if let Ok(i) = self.names.binary_search_by(|n| n.as_str().cmp(name)) {
                return Ok(Some(i));
            }
        }
        for name in &tries {
            match self.by_stem.get(stem(name)).map(Vec::as_slice) {
                Some([i]) => return Ok(Some(*i)),
                Some(many) if many.len() > 1 => {
                    return Err(many.iter().map(|&i| self.names[i].clone()).collect())
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

/// Read and check one split folder (`dir` is e.g. `ROOT/Train_Folder`): every row's image and
/// (when the split requires masks) mask exist, no row is repeated, and every image of `img/` has
/// a row. Samples are in the table's row order.
pub fn read_split(dir: &Path, split: LvitSplit) -> Result<Vec<LvitSample>, LvitError> {
    let img_dir = dir.join("img");
    if !img_dir.is_dir() {
        return Err(LvitError::MissingFolder { path: img_dir });
    }
    let mask_dir = dir.join("labelcol");
    let has_masks = mask_dir.is_dir();
    if split.masks_required() && !has_masks {
        return Err(LvitError::MissingFolder { path: mask_dir });
    }
    let xlsx = dir.join(split.xlsx());
    let rows = read_text_table(&xlsx)?;
    if rows.is_empty() {
        return Err(LvitError::NoRows { path: xlsx });
    }
    let images = ImageIndex::new(image_files(&img_dir)?);
    let masks = if has_masks {
        image_files(&mask_dir)?
    } else {
        Vec::new()
    };
    let mut seen_key: HashMap<&str, usize> = HashMap::new();
    let mut used: Vec<Option<usize>> = vec![None; images.names.len()];
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(&first_row) = seen_key.get(r.image.as_str()) {
            return Err(LvitError::DuplicateRow {
                path: xlsx,
                row: r.row,
                first_row,
                name: r.image.clone(),
            });
        }
        seen_key.insert(&r.image, r.row);
        let i = match images.resolve(&r.image) {
            Ok(Some(i)) => i,
            Ok(None) => {
                return Err(LvitError::NoImage {
                    path: xlsx,
                    row: r.row,
                    name: r.image.clone(),
                    dir: img_dir,
                })
            }
            Err(candidates) => {
                return Err(LvitError::AmbiguousImage {
                    path: xlsx,
                    row: r.row,
                    name: r.image.clone(),
                    dir: img_dir,
                    candidates: candidates.join(", "),
                })
            }
        };
        let image = img_dir.join(&images.names[i]);
        if let Some(first_row) = used[i] {
            return Err(LvitError::SharedImage {
                path: xlsx,
                row: r.row,
                first_row,
                image,
            });
        }
        used[i] = Some(r.row);
        let has_mask = masks.binary_search(&r.image).is_ok();
        if split.masks_required() && !has_mask {
            return Err(LvitError::NoMask {
                path: xlsx,
                row: r.row,
                name: r.image.clone(),
                dir: mask_dir,
            });
        }
        out.push(LvitSample {
            key: r.image.clone(),
            image,
            mask: has_mask.then(|| mask_dir.join(&r.image)),
            text: r.description.clone(),
            row: r.row,
        });
    }
    for sample in &out {
        sample.check_files()?;
    }
    let unused: Vec<&String> = images
        .names
        .iter()
        .zip(&used)
        .filter(|(_, u)| u.is_none())
        .map(|(n, _)| n)
        .collect();
    if let Some(first) = unused.first() {
        return Err(LvitError::ImageWithoutRow {
            dir: img_dir,
            xlsx,
            count: unused.len(),
            first: (*first).clone(),
        });
    }
    Ok(out)
}

impl LvitSample {
    /// The image's width and height, after opening the headers of the image and its mask: both
    /// must be readable images with pixels, within [`super::image2d::MAX_PIXELS`], of one size.
    pub fn check_files(&self) -> Result<(u32, u32), LvitError> {
        let (image_w, image_h) = super::image2d::image_dimensions(&self.image)?;
        if let Some(mask) = &self.mask {
            let (mask_w, mask_h) = super::image2d::image_dimensions(mask)?;
            if (mask_w, mask_h) != (image_w, image_h) {
                return Err(LvitError::MaskSize {
                    mask: mask.clone(),
                    mask_w,
                    mask_h,
                    image: self.image.clone(),
                    image_w,
                    image_h,
                });
            }
        }
        Ok((image_w, image_h))
    }
}

impl LvitDataset {
    /// Whether `root` looks like an LViT dataset (it has `Train_Folder/` or `Train_all/`).
    pub fn is_lvit(root: &Path) -> bool {
        root.join(LvitSplit::Train.folder()).is_dir()
            || root.join(LvitSplit::TrainAll.folder()).is_dir()
    }

    /// Open and check a dataset folder. `Train_Folder/` is required unless `Train_all/` is there
    /// (a pre-training-only set); `Val_Folder/` and `Test_Folder/` may be missing (see
    /// [`LvitDataset::missing`]). Every present split is checked fully (see [`read_split`]).
    pub fn open(root: impl AsRef<Path>) -> Result<LvitDataset, LvitError> {
        let root = root.as_ref().to_path_buf();
        if !Self::is_lvit(&root) {
            return Err(LvitError::NotLvit { root });
        }
        let mut splits = BTreeMap::new();
        let mut missing = Vec::new();
        for split in LvitSplit::ALL {
            let dir = root.join(split.folder());
            if dir.is_dir() {
                splits.insert(split, read_split(&dir, split)?);
            } else if split != LvitSplit::TrainAll {
                missing.push(split);
            }
        }
        Ok(LvitDataset {
            root,
            splits,
            missing,
        })
    }

    /// The samples of a split (empty when its folder is absent).
    pub fn split(&self, split: LvitSplit) -> &[LvitSample] {
        self.splits.get(&split).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the split's folder is present.
    pub fn has(&self, split: LvitSplit) -> bool {
        self.splits.contains_key(&split)
    }

    /// The standard splits (Train, Val, Test) whose folders are absent.
    pub fn missing(&self) -> &[LvitSplit] {
        &self.missing
    }

    /// The present splits with their samples, in the order Train, Val, Test, TrainAll.
    pub fn splits(&self) -> impl Iterator<Item = (LvitSplit, &[LvitSample])> {
        self.splits.iter().map(|(s, v)| (*s, v.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_xlsxwriter::Workbook;

    fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (r, cells) in rows.iter().enumerate() {
            for (c, v) in cells.iter().enumerate() {
                if !v.is_empty() {
                    ws.write_string(r as u32, c as u16, *v).unwrap();
                }
            }
        }
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn padding_follows_the_reference() {
        assert_eq!(
            pad_description("The nuclei are evenly distributed."),
            "The nuclei are evenly distributed. EOF XXX EOF XXX EOF XXX EOF XXX"
        );
        let nine = "Unilateral pulmonary infection, one infected area, middle right lung.";
        assert_eq!(pad_description(nine), nine);
        assert_eq!(pad_description(""), " EOF XXX".repeat(9));
        assert_eq!(
            pad_description("a  b"),
            format!("a  b{}", " EOF XXX".repeat(7))
        );
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let bytes = xlsx(&[
            &["", "", ""],
            &["Notes", " description ", "IMAGE"],
            &["x", "first text", "a.png"],
            &["", "", ""],
            &["only a note", "", ""],
            &["", "second", "b.png"],
        ]);
        let rows = parse_text_table(&bytes, Path::new("t.xlsx")).unwrap();
        assert_eq!(
            rows,
            vec![
                TextRow {
                    row: 3,
                    image: "a.png".into(),
                    description: "first text".into()
                },
                TextRow {
                    row: 6,
                    image: "b.png".into(),
                    description: "second".into()
                },
            ]
        );
    }

    #[test]
    fn table_errors_name_the_row_and_columns() {
        let p = Path::new("Train_text.xlsx");
        let err = parse_text_table(&xlsx(&[&["Image", "Text"], &["a.png", "t"]]), p).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                LvitError::MissingColumn {
                    column: "Description",
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.contains("\"Image\", \"Text\""), "{msg}");
        let err =
            parse_text_table(&xlsx(&[&["Image", "Description"], &["a.png", ""]]), p).unwrap_err();
        assert!(
            matches!(err, LvitError::EmptyDescription { row: 2, .. }),
            "{err}"
        );
        let err =
            parse_text_table(&xlsx(&[&["Image", "Description"], &["", "text"]]), p).unwrap_err();
        assert!(
            matches!(err, LvitError::EmptyImageName { row: 2, .. }),
            "{err}"
        );
        let err = parse_text_table(b"Image,Description\na.png,t\n", p).unwrap_err();
        assert!(matches!(err, LvitError::Xlsx { .. }), "{err}");
        assert!(err.to_string().contains("Train_text.xlsx"), "{err}");
    }

    #[test]
    fn images_resolve_by_name_stem_or_mask_prefix() {
        let idx = ImageIndex::new(vec![
            "a.tif".into(),
            "b.png".into(),
            "c.png".into(),
            "c.tif".into(),
            "covid_1.png".into(),
        ]);
        assert_eq!(idx.resolve("a.png"), Ok(Some(0)));
        assert_eq!(idx.resolve("b.png"), Ok(Some(1)));
        assert_eq!(idx.resolve("c.png"), Ok(Some(2)));
        assert_eq!(idx.resolve("mask_covid_1.png"), Ok(Some(4)));
        assert_eq!(
            idx.resolve("c.bmp"),
            Err(vec!["c.png".into(), "c.tif".into()])
        );
        assert_eq!(idx.resolve("d.png"), Ok(None));
    }
}
