//! The LA challenge's raw scans to the literature's training volumes (spec B1, after UA-MT's
//! `la_heart_processing.py`): `label = (laendo == 255)`; z-score over the whole scan; crop x and y
//! to the label's bounding box plus a random margin of 10..=19 voxels a side, widened towards the
//! 112-voxel patch; z is not cropped.

use crate::volume::Volume;
use rand::Rng;

/// The value that marks the left atrium in the challenge's `laendo.nrrd` (spec B1).
pub const LA_LABEL_VALUE: f32 = 255.0;
/// The in-plane patch size the crop is widened towards (spec B1: `output_size[:2]`).
pub const LA_PATCH_XY: [usize; 2] = [112, 112];
/// The random margin range of UA-MT's `np.random.randint(10, 20)` (upper bound excluded).
pub const LA_MARGIN: std::ops::Range<usize> = 10..20;

/// One preprocessed case.
#[derive(Debug, Clone)]
pub struct LaCase {
    /// The z-scored image, cropped.
    pub image: Volume,
    /// The binary label (0/1), on the image's grid.
    pub label: Volume,
    /// The crop in the raw scan's array indices, half-open: `[x0, x1) x [y0, y1)`, all of z.
    pub crop: [[usize; 2]; 2],
    /// Mean and standard deviation of the raw scan (the z-score's).
    pub mean_std: (f64, f64),
}

/// `(v - mean) / std` over every voxel, with the population standard deviation (`np.std`). A
/// constant scan has no z-score: `None`.
pub fn zscore(data: &[f32]) -> Option<(Vec<f32>, f64, f64)> {
    let n = data.len() as f64;
    let mean = data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt();
    if !(std > 0.0 && std.is_finite()) {
        return None;
    }
    Some((
        data.iter()
            .map(|&v| ((v as f64 - mean) / std) as f32)
            .collect(),
        mean,
        std,
    ))
}

/// The in-plane crop of UA-MT for a label whose bounding box is `bbox` (inclusive min and max
/// index per axis x, y) in a scan of `size` (x, y): each side moves out by its margin plus half of
/// what the box lacks of the patch, clamped to the scan. `margins` are `[[x lo, x hi], [y lo,
/// y hi]]`. The upper end is exclusive and uses the inclusive maximum, as the original
/// (`image[minx:maxx]` with `maxx = max + margin + p`).
pub fn la_crop(
    bbox: [[usize; 2]; 2],
    size: [usize; 2],
    margins: [[usize; 2]; 2],
) -> [[usize; 2]; 2] {
    let mut crop = [[0; 2]; 2];
    for a in 0..2 {
        let [lo, hi] = bbox[a];
        let p = LA_PATCH_XY[a].saturating_sub(hi - lo) / 2;
        crop[a] = [
            lo.saturating_sub(margins[a][0] + p),
            (hi + margins[a][1] + p).min(size[a]),
        ];
    }
    crop
}

/// The inclusive bounding box of the true voxels of a mask in C order over `dims`, per axis.
pub fn bounding_box(mask: &[bool], dims: [usize; 3]) -> Option<[[usize; 2]; 3]> {
    let mut b = [[usize::MAX, 0]; 3];
    let mut any = false;
    for (f, _) in mask.iter().enumerate().filter(|(_, &m)| m) {
        let idx = [
            f / (dims[1] * dims[2]),
            (f / dims[2]) % dims[1],
            f % dims[2],
        ];
        for a in 0..3 {
            b[a][0] = b[a][0].min(idx[a]);
            b[a][1] = b[a][1].max(idx[a]);
        }
        any = true;
    }
    any.then_some(b)
}

/// Preprocess one case (spec B1). `image` and `endo` are the raw `lgemri` and `laendo` volumes;
/// the margins are drawn from `rng` in UA-MT's order (x lo, x hi, y lo, y hi). `Err` says what is
/// wrong with the pair.
pub fn preprocess_la(image: &Volume, endo: &Volume, rng: &mut impl Rng) -> Result<LaCase, String> {
    image
        .aligned_with(endo)
        .map_err(|e| format!("the label is not on the image's grid: {e}"))?;
    let mask: Vec<bool> = endo.data.iter().map(|&v| v == LA_LABEL_VALUE).collect();
    let Some(bbox) = bounding_box(&mask, endo.dims) else {
        let (lo, hi) = endo.range().unwrap_or((0.0, 0.0));
        return Err(format!(
            "the label has no voxel equal to 255, the value that marks the left atrium in the \
             challenge's laendo.nrrd (its values run from {lo} to {hi}); is it the right file?"
        ));
    };
    let (z, mean, std) = zscore(&image.data)
        .ok_or("the image is constant (no contrast to normalise); is it the right file?")?;
    let mut margins = [[0; 2]; 2];
    for m in margins.iter_mut().flatten() {
        *m = rng.random_range(LA_MARGIN);
    }
    let [nx, ny, nz] = image.dims;
    let crop = la_crop([bbox[0], bbox[1]], [nx, ny], margins);
    let dims = [crop[0][1] - crop[0][0], crop[1][1] - crop[1][0], nz];
    let mut img = Vec::with_capacity(dims.iter().product());
    let mut lab = Vec::with_capacity(img.capacity());
    for x in crop[0][0]..crop[0][1] {
        for y in crop[1][0]..crop[1][1] {
            let row = image.index(x, y, 0);
            img.extend_from_slice(&z[row..row + nz]);
            lab.extend(mask[row..row + nz].iter().map(|&m| m as u8 as f32));
        }
    }
    // The crop's first voxel is the new origin: affine . (x0, y0, 0, 1).
    let mut affine = image.affine;
    for (r, row) in affine.iter_mut().enumerate().take(3) {
        row[3] = image.affine[r][3]
            + image.affine[r][0] * crop[0][0] as f64
            + image.affine[r][1] * crop[1][0] as f64;
    }
    let image = Volume::new(img, dims, affine);
    let label = image.with_data(lab);
    Ok(LaCase {
        image,
        label,
        crop,
        mean_std: (mean, std),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn identity() -> [[f64; 4]; 4] {
        let mut a = [[0.0; 4]; 4];
        for (i, row) in a.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        a
    }

    #[test]
    fn zscore_uses_the_population_std() {
        // mean 2.5, population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
        let (z, mean, std) = zscore(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(mean, 2.5);
        assert!((std - 1.25f64.sqrt()).abs() < 1e-12);
        let s = 1.25f32.sqrt();
        for (a, b) in z.iter().zip([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]) {
            assert!((a - b).abs() < 1e-6);
        }
        assert!(zscore(&[3.0; 5]).is_none());
    }

    #[test]
    fn crop_follows_ua_mt() {
        // A box x 100..=150 (50 wide) in a 640-wide scan: p = (112 - 50) / 2 = 31, so with margins
        // 10 and 19: [100 - 41, 150 + 50) = [59, 200).
        // y 20..=200 (wider than 112): p = 0; margins 15 and 12 -> [5, 212), clamped low at 0 when
        // the margin passes the edge (y lo 25 -> 0).
        let c = la_crop([[100, 150], [20, 200]], [640, 640], [[10, 19], [15, 12]]);
        assert_eq!(c, [[59, 200], [5, 212]]);
        let c = la_crop([[100, 150], [20, 635]], [640, 640], [[10, 19], [25, 12]]);
        assert_eq!(c[1], [0, 640]);
    }

    #[test]
    fn bounding_box_is_inclusive() {
        let dims = [3, 4, 5];
        let mut m = vec![false; 60];
        let at = |i: usize, j: usize, k: usize| (i * dims[1] + j) * dims[2] + k;
        m[at(1, 2, 3)] = true;
        m[at(2, 0, 4)] = true;
        assert_eq!(bounding_box(&m, dims), Some([[1, 2], [0, 2], [3, 4]]));
        assert_eq!(bounding_box(&[false; 60], dims), None);
    }

    #[test]
    fn a_case_is_scored_cropped_and_moved() {
        // 200 x 180 x 6 scan, atrium 255 in x 90..=99, y 80..=89, z 2..=3.
        let dims = [200, 180, 6];
        let mut img = Volume::new(vec![0.0; 200 * 180 * 6], dims, identity());
        img.affine[0][0] = 0.625;
        img.affine[0][3] = 7.0;
        let mut endo = img.clone();
        for x in 90..100 {
            for y in 80..90 {
                for z in 2..4 {
                    let i = img.index(x, y, z);
                    endo.data[i] = 255.0;
                    img.data[i] = 10.0;
                }
            }
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let c = preprocess_la(&img, &endo, &mut rng).unwrap();
        // p = (112 - 9) / 2 = 51 on both axes; margins in 10..20.
        for a in 0..2 {
            let lo = [90, 80][a] - c.crop[a][0];
            let hi = c.crop[a][1] - [99, 89][a];
            assert!((61..=70).contains(&lo) && (61..=70).contains(&hi), "{c:?}");
        }
        assert_eq!(c.image.dims[2], 6);
        assert!(c.image.dims[0] >= 112 && c.image.dims[1] >= 112);
        // The label moved with the crop; z-scored values: 200 voxels of 10 in 216000.
        let n = 216000.0f64;
        let mean = 2000.0 / n;
        let std = ((200.0 * (10.0 - mean).powi(2) + (n - 200.0) * mean * mean) / n).sqrt();
        let at = c.label.index(90 - c.crop[0][0], 80 - c.crop[1][0], 2);
        assert_eq!(c.label.data[at], 1.0);
        assert!((c.image.data[at] as f64 - (10.0 - mean) / std).abs() < 1e-4);
        assert_eq!(c.label.data.iter().filter(|&&v| v == 1.0).count(), 200);
        // World position of a voxel is unchanged by the crop.
        assert!((c.image.affine[0][3] - (7.0 + 0.625 * c.crop[0][0] as f64)).abs() < 1e-12);
        assert_eq!(c.image.affine[1][3], c.crop[1][0] as f64);
        // A label without 255 is refused with its range.
        let e = preprocess_la(&img, &img.with_data(vec![1.0; 216000]), &mut rng).unwrap_err();
        assert!(e.contains("255") && e.contains("from 1 to 1"), "{e}");
    }
}
