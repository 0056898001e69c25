//! Whether a scan's intensities look like the z-scored volumes the V-Net was trained on (spec B1:
//! every LA volume is z-scored over the raw scan before cropping). A raw scan (e.g. the
//! challenge's uint8 `lgemri.nrrd`, values up to 255) would be segmented silently wrong, so
//! `predict` stops and offers `--zscore`.

use crate::data::zscore;

/// Mean and standard deviation beyond which a scan is taken as not normalised. The 100 prepared
/// LA volumes (z-scored, then cropped around the atrium) have means 0.05 to 1.94 and standard
/// deviations 0.31 to 1.66; raw MRI and CT are in the tens to thousands.
pub const MAX_NORMALISED_MEAN: f64 = 4.0;
pub const MAX_NORMALISED_STD: f64 = 4.0;

/// Mean and population standard deviation of the voxels.
pub fn mean_std(data: &[f32]) -> (f64, f64) {
    let n = data.len().max(1) as f64;
    let mean = data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// `Err` with a message when the scan is not normalised like the training data.
pub fn check_normalised(data: &[f32]) -> Result<(), String> {
    let (mean, std) = mean_std(data);
    if mean.abs() > MAX_NORMALISED_MEAN || std > MAX_NORMALISED_STD {
        return Err(format!(
            "its intensities (mean {mean:.1}, standard deviation {std:.1}) are not z-scored like the \
             model's training scans (mean about 0, deviation about 1), and the segmentation would be \
             wrong; z-score it over the whole scan first (`predict --zscore`), or prepare raw LA \
             challenge scans with `semiseg prepare-la`"
        ));
    }
    Ok(())
}

/// The scan z-scored over all its voxels (spec B1); a constant scan is an error.
pub fn zscore_scan(data: &[f32]) -> Result<Vec<f32>, String> {
    zscore(data)
        .map(|(z, _, _)| z)
        .ok_or_else(|| "every voxel has the same value; there is nothing to segment".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_scans_are_refused_and_zscored_ones_pass() {
        // mean 127.5, std 127.5: a raw uint8 scan
        let raw = [0.0, 255.0, 0.0, 255.0];
        let e = check_normalised(&raw).unwrap_err();
        assert!(e.contains("mean 127.5") && e.contains("--zscore"), "{e}");
        let z = zscore_scan(&raw).unwrap();
        assert_eq!(z, vec![-1.0, 1.0, -1.0, 1.0]);
        assert!(check_normalised(&z).is_ok());
        // a crop of a z-scored scan: mean 1.9, std 1.6 (the extremes of the LA set) passes
        assert!(check_normalised(&[0.3, 3.5, 0.3, 3.5]).is_ok());
        assert!(zscore_scan(&[2.0; 3]).is_err());
    }
}
