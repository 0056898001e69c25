//! Writing synthetic chest radiographs as an LViT dataset (what `semiseg synth 2d` does): PNG
//! images and masks, the `<Split>_text.xlsx` tables, a `lesions.json` per split for evaluations
//! and a README. The text tables are written here, not in the shared crate, which only reads them.

use anyhow::{bail, Context};
use image::{GrayImage, ImageFormat};
use rayon::prelude::*;
use rust_xlsxwriter::Workbook;
use semiseg::data::{
    synth2d_index, synth2d_name, synthetic_cxr, LvitSplit, Synth2dConfig, Synth2dSample,
};
use std::io::{Cursor, Write};
use std::path::Path;

/// An LViT text table (one sheet, header `Image`, `Description`) as `.xlsx` bytes.
pub fn text_table_xlsx(rows: &[(String, String)]) -> anyhow::Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Sheet1")?;
    ws.write_string(0, 0, "Image")?;
    ws.write_string(0, 1, "Description")?;
    for (i, (image, text)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, image)?;
        ws.write_string(r, 1, text)?;
    }
    ws.set_column_width(0, 24)?;
    ws.set_column_width(1, 90)?;
    Ok(wb.save_to_buffer()?)
}

/// A grey image (`pixels[row * size + col]`) as PNG bytes.
pub fn gray_png(pixels: Vec<u8>, size: usize) -> anyhow::Result<Vec<u8>> {
    let img = GrayImage::from_raw(size as u32, size as u32, pixels)
        .context("image buffer of the wrong length")?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// One generated image ready to write: its file name, the sample, and the PNGs of image and mask.
type Written = (String, Synth2dSample, Vec<u8>, Vec<u8>);

/// Write a new file; an existing file is an error (nothing is ever overwritten).
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn lesion_json(s: &Synth2dSample, name: &str, index: usize) -> serde_json::Value {
    let lesions: Vec<serde_json::Value> = s
        .lesions
        .iter()
        .map(|l| {
            serde_json::json!({
                "side": l.side,
                "zone": l.zone,
                "phrase": l.phrase(),
                "center": [l.center.0, l.center.1],
                "radius": l.radius,
                "bbox": l.bbox,
                "pixels": l.pixels,
            })
        })
        .collect();
    serde_json::json!({
        "image": name,
        "mask": name,
        "index": index,
        "text": s.text,
        "lesions": lesions,
    })
}

fn readme(config: &Synth2dConfig, seed: u64, counts: &[(LvitSplit, usize)]) -> String {
    let splits: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{}/ ({n} images)", s.folder()))
        .collect();
    format!(
        "Synthetic chest radiographs with text, written by `semiseg synth 2d` (seed {seed}, \
{size}x{size} pixels, {min} to {max} lesions per image).

Layout (LViT / AMVLM): {splits}.
Each split folder has:
  img/                grey PNG radiographs
  labelcol/           PNG masks (0 background, 255 lesion), same file names as the images
  <Split>_text.xlsx   columns Image (the mask file name) and Description
  lesions.json        per image: its lesions' side, zone, phrase, centre (row, col), radius,
                      bbox [row_min, col_min, row_max, col_max] inclusive, pixel count

Each lesion is a bright blurry opacity inside one lung zone: the upper, middle or lower third
of the left or right lung's height; no two lesions of an image share a zone. The description
names every lesion, left lung first then top to bottom, e.g.
  \"Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung.\"

Sides are the patient's, as a radiologist reads a frontal film: the patient's LEFT lung is
on the image's RIGHT.

The k-th image of a split is semiseg::data::synthetic_cxr(config, seed, index) with index
synth2d_index(split, k) (train k, val 1000000 + k, test 2000000 + k): the same command
always writes the same files.
",
        size = config.size,
        min = config.min_lesions,
        max = config.max_lesions,
        splits = splits.join(", "),
    )
}

/// Write a synthetic LViT dataset into `dir`, which must not exist or be empty. `counts` gives
/// the number of images per split (a split with 0 images gets no folder; Train needs at least 1).
pub fn write_synth2d_dataset(
    dir: &Path,
    counts: &[(LvitSplit, usize)],
    config: &Synth2dConfig,
    seed: u64,
) -> anyhow::Result<()> {
    config.validate()?;
    if !counts.iter().any(|&(s, n)| s == LvitSplit::Train && n > 0) {
        bail!("the training split needs at least one image");
    }
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{} exists but is not a readable folder", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty; semiseg never overwrites data: choose a new --out folder",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for &(split, n) in counts.iter().filter(|(_, n)| *n > 0) {
        let folder = dir.join(split.folder());
        for sub in ["img", "labelcol"] {
            std::fs::create_dir_all(folder.join(sub))
                .with_context(|| format!("creating {}", folder.join(sub).display()))?;
        }
        let made: Vec<anyhow::Result<Written>> = (0..n)
            .into_par_iter()
            .map(|k| {
                let s = synthetic_cxr(config, seed, synth2d_index(split, k))?;
                let image = gray_png(s.image.clone(), s.size)?;
                let mask = gray_png(s.mask.iter().map(|&m| m * 255).collect(), s.size)?;
                Ok((synth2d_name(split, k), s, image, mask))
            })
            .collect();
        let mut rows = Vec::with_capacity(n);
        let mut json = Vec::with_capacity(n);
        for (k, item) in made.into_iter().enumerate() {
            let (name, sample, image, mask) = item?;
            write_new(&folder.join("img").join(&name), &image)?;
            write_new(&folder.join("labelcol").join(&name), &mask)?;
            json.push(lesion_json(&sample, &name, synth2d_index(split, k)));
            rows.push((name, sample.text));
        }
        write_new(&folder.join(split.xlsx()), &text_table_xlsx(&rows)?)?;
        let doc = serde_json::json!({
            "generator": "semiseg synth 2d",
            "split": split,
            "seed": seed,
            "config": config,
            "convention": "side is the patient's (left = image right); zone = third of that lung's rows; center [row, col]; bbox [row_min, col_min, row_max, col_max] inclusive",
            "images": json,
        });
        write_new(
            &folder.join("lesions.json"),
            serde_json::to_string_pretty(&doc)?.as_bytes(),
        )?;
    }
    write_new(
        &dir.join("README.txt"),
        readme(config, seed, counts).as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_writes_into_a_used_folder() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("keep.txt"), "x").unwrap();
        let config = Synth2dConfig {
            size: 48,
            ..Default::default()
        };
        let err = write_synth2d_dataset(d.path(), &[(LvitSplit::Train, 1)], &config, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not empty"), "{err}");
        assert_eq!(
            std::fs::read_to_string(d.path().join("keep.txt")).unwrap(),
            "x"
        );
        let err = write_synth2d_dataset(&d.path().join("new"), &[(LvitSplit::Val, 1)], &config, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("training split"), "{err}");
    }
}
