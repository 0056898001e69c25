//! A small synthetic 3D dataset in the MSD layout, for tests and demos that must run on a CPU in
//! seconds: MRI-like volumes (smooth background, noise) with one bright ellipsoid "organ" (the
//! label) and one fainter distractor blob, with an LPS affine so orientation handling is exercised.

use super::augment::Grid;
use crate::volume::{encode_nifti, DataType, Volume};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// One generated case.
pub struct SyntheticCase {
    pub id: String,
    pub image: Grid<f32>,
    pub label: Grid<u8>,
}

/// Generate case `index` of a dataset with this `seed`, of size `dims`.
pub fn synthetic_case(seed: u64, index: usize, dims: [usize; 3]) -> SyntheticCase {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(1_000_003).wrapping_add(index as u64),
    );
    let d = dims.map(|v| v as f64);
    let centre: [f64; 3] = std::array::from_fn(|a| rng.random_range(0.35..0.65) * d[a]);
    let radii: [f64; 3] = std::array::from_fn(|a| rng.random_range(0.14..0.24) * d[a]);
    let blob: [f64; 3] = std::array::from_fn(|a| {
        let c = centre[a] + if rng.random_bool(0.5) { 0.3 } else { -0.3 } * d[a];
        c.clamp(0.1 * d[a], 0.9 * d[a])
    });
    let blob_r = rng.random_range(0.06..0.1) * d[0];
    let grad: [f64; 3] = std::array::from_fn(|_| rng.random_range(-0.5..0.5));
    let n: usize = dims.iter().product();
    let mut image = Vec::with_capacity(n);
    let mut label = Vec::with_capacity(n);
    for x in 0..dims[0] {
        for y in 0..dims[1] {
            for z in 0..dims[2] {
                let p = [x as f64, y as f64, z as f64];
                let r: f64 = (0..3)
                    .map(|a| ((p[a] - centre[a]) / radii[a]).powi(2))
                    .sum();
                let rb: f64 = (0..3).map(|a| (p[a] - blob[a]).powi(2)).sum::<f64>().sqrt() / blob_r;
                let inside = r <= 1.0;
                let background: f64 = (0..3).map(|a| grad[a] * p[a] / d[a]).sum();
                let organ = if inside { 1.6 } else { 0.0 };
                let distractor = if rb <= 1.0 { 0.9 } else { 0.0 };
                // Box-Muller noise
                let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
                let noise =
                    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * 0.35;
                image.push((background + organ + distractor + noise) as f32);
                label.push(inside as u8);
            }
        }
    }
    SyntheticCase {
        id: format!("synth_{index:03}"),
        image: Grid::new(image, dims),
        label: Grid::new(label, dims),
    }
}

/// LPS affine with 1 mm voxels (the array's x runs to the left, y to the posterior).
pub fn synthetic_affine() -> [[f64; 4]; 4] {
    [
        [-1.0, 0.0, 0.0, 0.0],
        [0.0, -1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// Write `cases` generated cases as an MSD dataset into `dir` (which must not exist or be empty):
/// `imagesTr/`, `labelsTr/`, `dataset.json`, and `train.list` / `test.list` with the last
/// `test` cases as the test split.
pub fn write_synthetic_dataset(
    dir: &Path,
    cases: usize,
    test: usize,
    dims: [usize; 3],
    seed: u64,
) -> Result<(), String> {
    if test >= cases {
        return Err(format!(
            "{test} test cases leave no training case out of {cases}"
        ));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} exists and is not empty; choose a new folder",
            dir.display()
        ));
    }
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir.join("imagesTr")).map_err(io)?;
    std::fs::create_dir_all(dir.join("labelsTr")).map_err(io)?;
    let mut ids = Vec::new();
    for i in 0..cases {
        let c = synthetic_case(seed, i, dims);
        let img = Volume::new(c.image.data, dims, synthetic_affine());
        let lab = img.with_data(c.label.data.iter().map(|&v| v as f32).collect());
        let w = |vol: &Volume, sub: &str, t: DataType| -> Result<(), String> {
            let bytes = encode_nifti(vol, t, true).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(sub).join(format!("{}.nii.gz", c.id)), bytes).map_err(io)
        };
        w(&img, "imagesTr", DataType::Float32)?;
        w(&lab, "labelsTr", DataType::Uint8)?;
        ids.push(c.id);
    }
    let training: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!({"image": format!("./imagesTr/{id}.nii.gz"), "label": format!("./labelsTr/{id}.nii.gz")}))
        .collect();
    let json = serde_json::json!({
        "name": "Synthetic3D",
        "description": "semiseg synthetic volumes: a bright ellipsoid (label 1) and a fainter distractor blob in noise",
        "tensorImageSize": "3D",
        "modality": {"0": "synthetic MRI"},
        "labels": {"0": "background", "1": "organ"},
        "numTraining": cases,
        "numTest": 0,
        "training": training,
        "test": [],
    });
    std::fs::write(
        dir.join("dataset.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .map_err(io)?;
    let split = cases - test;
    std::fs::write(dir.join("train.list"), ids[..split].join("\n") + "\n").map_err(io)?;
    std::fs::write(dir.join("test.list"), ids[split..].join("\n") + "\n").map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_reproducible_and_labelled() {
        let a = synthetic_case(7, 3, [24, 20, 16]);
        let b = synthetic_case(7, 3, [24, 20, 16]);
        assert_eq!(a.image, b.image);
        let fg = a.label.data.iter().filter(|&&v| v == 1).count();
        assert!(fg > 100 && fg < 24 * 20 * 16 / 3, "{fg}");
        // the organ is brighter than the background on average
        let mean = |want: u8| {
            let v: Vec<f32> = a
                .image
                .data
                .iter()
                .zip(&a.label.data)
                .filter(|(_, &l)| l == want)
                .map(|(&x, _)| x)
                .collect();
            v.iter().sum::<f32>() / v.len() as f32
        };
        assert!(mean(1) > mean(0) + 1.0);
        assert_ne!(synthetic_case(7, 4, [24, 20, 16]).label, a.label);
    }
}
