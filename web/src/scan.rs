//! An opened scan in the page: read by the shared NIfTI / NRRD reader, kept in the canonical RAS+
//! frame for viewing and segmentation, with the mapping back to the file's own grid for the
//! download. A scan whose intensities are not z-scored like the training data is z-scored for the
//! model (as `semiseg predict --zscore`), and the page says so.
//! The logic is plain Rust (`*_inner` returns `String` errors) so it is tested natively; the
//! `#[wasm_bindgen]` methods only turn errors into JavaScript exceptions.

use crate::view::{self, Layers, Plane};
use semiseg::data::Grid;
use semiseg::infer::{check_normalised, keep_largest_component, mean_std, zscore_scan};
use semiseg::metrics::evaluate_case;
use semiseg::volume::{
    encode_nifti, read_scan_bytes, DataType, ReadOptions, Reorientation, Volume,
};
use wasm_bindgen::prelude::*;

fn js(e: String) -> JsError {
    JsError::new(&e)
}

/// A scan, its predicted mask and an optional ground truth, all on the canonical grid.
#[wasm_bindgen]
pub struct Scan {
    name: String,
    canon: Volume,
    back: Reorientation,
    /// The segmenter's labels as they came.
    raw_mask: Option<Vec<u8>>,
    /// What is shown, scored and downloaded: `raw_mask`, or its largest component.
    mask: Option<Vec<u8>>,
    largest_component: bool,
    truth: Option<Vec<u8>>,
    /// `Some((mean, std))` when the scan is z-scored before segmentation (spec B1).
    zscored: Option<(f64, f64)>,
}

impl Scan {
    pub fn open_inner(name: &str, bytes: &[u8]) -> Result<Scan, String> {
        let vol = read_scan_bytes(name, bytes, &ReadOptions::default()).map_err(|e| {
            format!("{e}. The page opens 3D NIfTI (.nii, .nii.gz) and NRRD (.nrrd) files.")
        })?;
        let (canon, back) = Reorientation::to_canonical(&vol);
        let zscored = check_normalised(&canon.data)
            .is_err()
            .then(|| mean_std(&canon.data));
        if zscored.is_some() && zscore_scan(&canon.data).is_err() {
            return Err(format!(
                "{name}: every voxel has the same value; there is nothing to segment"
            ));
        }
        Ok(Scan {
            name: name.to_string(),
            canon,
            back,
            raw_mask: None,
            mask: None,
            largest_component: false,
            truth: None,
            zscored,
        })
    }

    /// The voxels the model sees: the canonical scan, z-scored when its intensities are not.
    pub fn model_input(&self) -> Vec<f32> {
        match self.zscored {
            Some(_) => zscore_scan(&self.canon.data).expect("checked when opened"),
            None => self.canon.data.clone(),
        }
    }

    /// A mask file on this scan's grid as canonical 0/1 labels.
    fn read_mask(&self, name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let vol =
            read_scan_bytes(name, bytes, &ReadOptions::default()).map_err(|e| e.to_string())?;
        let (canon, _) = Reorientation::to_canonical(&vol);
        // what the values are is checked first, so a scan opened as ground truth by mistake is
        // told apart from a mask of another grid (the page then opens it as a scan)
        let mask = canon.binary_mask().map_err(|labels| {
            format!("{name} has label values above 1 ({labels:?}); open a binary mask (0 and 1)")
        })?;
        if let Some(v) = canon.data.iter().find(|&&v| v != 0.0 && v != 1.0) {
            return Err(format!(
                "{name} has values other than 0 and 1 (e.g. {v}): it is not a binary mask"
            ));
        }
        self.canon
            .aligned_with(&canon)
            .map_err(|why| format!("{name} does not fit {}: {why}", self.name))?;
        Ok(mask.into_iter().map(u8::from).collect())
    }

    /// Store the segmenter's labels, kept whole or reduced to their largest component; returns
    /// the voxels that removed.
    pub fn set_mask_inner(
        &mut self,
        labels: Vec<u8>,
        largest_component: bool,
    ) -> Result<usize, String> {
        if labels.len() != self.canon.len() {
            return Err(format!(
                "a mask of {} voxels for a scan of {}",
                labels.len(),
                self.canon.len()
            ));
        }
        self.raw_mask = Some(labels);
        self.largest_component = largest_component;
        Ok(self.apply_post_processing())
    }

    /// Keep only the largest connected component of the mask (on) or show the raw labels (off);
    /// returns the foreground voxels removed.
    pub fn set_largest_component_inner(&mut self, on: bool) -> usize {
        self.largest_component = on;
        self.apply_post_processing()
    }

    fn apply_post_processing(&mut self) -> usize {
        let Some(raw) = &self.raw_mask else {
            return 0;
        };
        if !self.largest_component {
            self.mask = Some(raw.clone());
            return 0;
        }
        let mut g = Grid::new(raw.clone(), self.canon.dims);
        let summary = keep_largest_component(&mut g, 1);
        self.mask = Some(g.data);
        summary.removed
    }

    pub fn open_truth_inner(&mut self, name: &str, bytes: &[u8]) -> Result<(), String> {
        self.truth = Some(self.read_mask(name, bytes)?);
        Ok(())
    }

    /// Dice, Jaccard, 95HD and ASD (in millimetres and in voxels) of the mask against the ground
    /// truth, with the CLI's code and empty-mask rule, as JSON.
    pub fn metrics_inner(&self) -> Result<String, String> {
        let (Some(mask), Some(truth)) = (&self.mask, &self.truth) else {
            return Err("segment the scan and open its ground truth first".into());
        };
        let p: Vec<bool> = mask.iter().map(|&v| v > 0).collect();
        let g: Vec<bool> = truth.iter().map(|&v| v > 0).collect();
        let mm = evaluate_case(&p, &g, self.canon.dims, self.canon.spacing());
        let vox = evaluate_case(&p, &g, self.canon.dims, [1.0; 3]);
        Ok(serde_json::json!({ "mm": mm, "voxels": vox }).to_string())
    }

    /// The mask on the input's own grid (dims, affine, header, orientation) as `.nii.gz` bytes.
    pub fn mask_nifti_inner(&self) -> Result<Vec<u8>, String> {
        let Some(mask) = &self.mask else {
            return Err("there is no mask yet: segment the scan first".into());
        };
        let data: Vec<f32> = mask.iter().map(|&v| v as f32).collect();
        let vol = self.back.undo(&data)?;
        encode_nifti(&vol, DataType::Uint8, true).map_err(|e| e.to_string())
    }

    fn layers(&self, lo: f32, hi: f32, opacity: f32, mask: bool, truth: bool) -> Layers<'_> {
        Layers {
            image: &self.canon.data,
            dims: self.canon.dims,
            window: (lo, hi),
            mask: self.mask.as_deref().filter(|_| mask),
            truth: self.truth.as_deref().filter(|_| truth),
            opacity,
        }
    }
}

#[wasm_bindgen]
impl Scan {
    /// Read a NIfTI file's bytes; the error says what is wrong with the file.
    pub fn open(name: &str, bytes: &[u8]) -> Result<Scan, JsError> {
        Scan::open_inner(name, bytes).map_err(js)
    }

    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// One line for the user: size, voxel size, orientation and stored type.
    pub fn describe(&self) -> String {
        let orig = self.back.original();
        let [x, y, z] = orig.dims;
        let s = orig.spacing();
        let note = match self.zscored {
            Some((mean, std)) => format!(
                "; intensities z-scored for the model (mean {mean:.1}, deviation {std:.1}: not normalised like its training scans)"
            ),
            None => String::new(),
        };
        format!(
            "{x} × {y} × {z} voxels of {:.2} × {:.2} × {:.2} mm, {} orientation, {}{note}",
            s[0],
            s[1],
            s[2],
            orig.orientation(),
            orig.source_dtype
        )
    }

    /// Canonical (RAS+) dims.
    pub fn dims(&self) -> Vec<u32> {
        self.canon.dims.iter().map(|&d| d as u32).collect()
    }

    /// Canonical voxels for the segmentation worker, z-scored when the scan is not (`describe`
    /// says so).
    pub fn image(&self) -> Vec<f32> {
        self.model_input()
    }

    /// `[slices, width, height, mm per column, mm per row]` of a plane.
    pub fn plane_info(&self, plane: &str) -> Result<Vec<f64>, JsError> {
        let p = Plane::parse(plane).map_err(js)?;
        let (n, w, h) = p.extent(self.canon.dims);
        let (sx, sy) = p.pixel_size(self.canon.spacing());
        Ok(vec![n as f64, w as f64, h as f64, sx, sy])
    }

    /// Letters at the left, right, top and bottom of a plane, e.g. "RLAP".
    pub fn edge_labels(&self, plane: &str) -> Result<String, JsError> {
        Ok(Plane::parse(plane)
            .map_err(js)?
            .edge_labels()
            .iter()
            .collect())
    }

    /// `[lo, hi]` display window from the 1st and 99th percentiles, then `[min, max]`.
    pub fn default_window(&self) -> Vec<f32> {
        let (lo, hi) = view::default_window(&self.canon.data);
        let (min, max) = self.canon.range().unwrap_or((0.0, 1.0));
        vec![lo, hi, min, max]
    }

    /// RGBA pixels of one slice (`plane_info` gives its width and height).
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        plane: &str,
        slice: usize,
        lo: f32,
        hi: f32,
        opacity: f32,
        show_mask: bool,
        show_truth: bool,
    ) -> Result<Vec<u8>, JsError> {
        let p = Plane::parse(plane).map_err(js)?;
        Ok(view::render(
            &self.layers(lo, hi, opacity, show_mask, show_truth),
            p,
            slice,
        )
        .2)
    }

    /// Labels from the worker, on the canonical grid, whole or reduced to their largest
    /// component (`semiseg predict --largest-component`). Returns the voxels that removed.
    pub fn set_mask(&mut self, labels: Vec<u8>, largest_component: bool) -> Result<f64, JsError> {
        self.set_mask_inner(labels, largest_component)
            .map(|n| n as f64)
            .map_err(js)
    }

    /// Keep only the largest connected component of the mask (`semiseg predict
    /// --largest-component`), or go back to the raw labels. Returns the voxels removed.
    pub fn set_largest_component(&mut self, on: bool) -> f64 {
        self.set_largest_component_inner(on) as f64
    }

    pub fn has_mask(&self) -> bool {
        self.mask.is_some()
    }

    /// Foreground voxels of the mask and their volume in millilitres.
    pub fn mask_summary(&self) -> Vec<f64> {
        let n = self
            .mask
            .as_ref()
            .map_or(0, |m| m.iter().filter(|&&v| v > 0).count());
        let ml = n as f64 * self.canon.spacing().iter().product::<f64>() / 1000.0;
        vec![n as f64, ml]
    }

    /// Open a ground-truth mask for this scan (same grid, binary).
    pub fn open_truth(&mut self, name: &str, bytes: &[u8]) -> Result<(), JsError> {
        self.open_truth_inner(name, bytes).map_err(js)
    }

    pub fn has_truth(&self) -> bool {
        self.truth.is_some()
    }

    pub fn metrics(&self) -> Result<String, JsError> {
        self.metrics_inner().map_err(js)
    }

    pub fn mask_nifti(&self) -> Result<Vec<u8>, JsError> {
        self.mask_nifti_inner().map_err(js)
    }

    /// `scan.nii.gz` -> `scan_mask.nii.gz`.
    pub fn mask_file_name(&self) -> String {
        let stem = self
            .name
            .trim_end_matches(".gz")
            .trim_end_matches(".nii")
            .trim_end_matches(".nrrd")
            .to_string();
        format!("{stem}_mask.nii.gz")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semiseg::volume::read_nifti_bytes;

    fn lps_scan() -> (Volume, Vec<u8>) {
        // 4x3x2 LPS volume (affine diag(-2, -1, 3)) with distinct values
        let data: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let mut aff = [[0.0; 4]; 4];
        aff[0][0] = -2.0;
        aff[1][1] = -1.0;
        aff[2][2] = 3.0;
        aff[3][3] = 1.0;
        let vol = Volume::new(data, [4, 3, 2], aff);
        let bytes = encode_nifti(&vol, DataType::Int16, true).unwrap();
        (vol, bytes)
    }

    #[test]
    fn the_largest_component_toggle_cleans_and_restores_the_mask() {
        let (_, bytes) = lps_scan();
        let mut scan = Scan::open_inner("a.nii.gz", &bytes).unwrap();
        // canonical 4x3x2: a pair of voxels at one end, one voxel at the other
        let mut labels = vec![0u8; 24];
        labels[0] = 1;
        labels[1] = 1;
        labels[23] = 1;
        scan.set_mask_inner(labels.clone(), false).unwrap();
        assert_eq!(scan.mask_summary()[0], 3.0);
        assert_eq!(scan.set_largest_component_inner(true), 1);
        assert_eq!(scan.mask_summary()[0], 2.0);
        assert_eq!(scan.mask.as_ref().unwrap()[23], 0);
        // a new segmentation can come cleaned
        assert_eq!(scan.set_mask_inner(labels.clone(), true).unwrap(), 1);
        assert_eq!(scan.mask_summary()[0], 2.0);
        assert_eq!(scan.set_largest_component_inner(false), 0);
        assert_eq!(scan.mask.as_ref().unwrap(), &labels);
    }

    #[test]
    fn mask_goes_back_to_the_input_grid_and_header() {
        let (vol, bytes) = lps_scan();
        let mut scan = Scan::open_inner("a.nii.gz", &bytes).unwrap();
        assert_eq!(scan.canon.orientation(), "RAS");
        // label canonical voxels whose value is odd; on the original grid that is the same voxels
        let labels: Vec<u8> = scan
            .canon
            .data
            .iter()
            .map(|&v| (v as u32 % 2) as u8)
            .collect();
        scan.set_mask_inner(labels, false).unwrap();
        let out = scan.mask_nifti_inner().unwrap();
        let back = read_nifti_bytes("m.nii.gz", &out, &ReadOptions::default()).unwrap();
        assert_eq!(back.dims, vol.dims);
        assert_eq!(back.affine, vol.affine);
        assert_eq!(back.source_dtype, DataType::Uint8);
        let want: Vec<f32> = vol.data.iter().map(|&v| (v as u32 % 2) as f32).collect();
        assert_eq!(back.data, want);
        assert_eq!(scan.mask_file_name(), "a_mask.nii.gz");
    }

    #[test]
    fn raw_intensities_are_z_scored_for_the_model_and_nrrd_opens() {
        // values 0..23: mean 11.5, far from z-scored
        let (_, bytes) = lps_scan();
        let scan = Scan::open_inner("a.nii.gz", &bytes).unwrap();
        assert!(
            scan.describe()
                .contains("z-scored for the model (mean 11.5"),
            "{}",
            scan.describe()
        );
        let z = scan.model_input();
        let (m, s) = mean_std(&z);
        assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-6);
        // the viewer keeps the scan's own values
        assert_eq!(scan.canon.range(), Some((0.0, 23.0)));
        // a z-scored scan goes to the model as it is
        let (vol, _) = lps_scan();
        let normal = vol.with_data(z.clone());
        let scan = Scan::open_inner(
            "b.nii",
            &encode_nifti(&normal, DataType::Float32, false).unwrap(),
        )
        .unwrap();
        assert!(!scan.describe().contains("z-scored"));
        assert_eq!(scan.model_input(), scan.canon.data);
        // an NRRD file (raw uint8, LPS) opens too; its mask is named after it
        let mut nrrd =
            b"NRRD0004\ntype: uchar\ndimension: 3\nspace: LPS\nsizes: 2 2 2\nencoding: raw\n\n"
                .to_vec();
        nrrd.extend([0u8, 1, 2, 3, 4, 5, 6, 7]);
        let scan = Scan::open_inner("c.nrrd", &nrrd).unwrap();
        assert_eq!(scan.mask_file_name(), "c_mask.nii.gz");
        let e = Scan::open_inner("d.nrrd", &nrrd[..nrrd.len() - 3])
            .err()
            .unwrap();
        assert!(e.contains("truncated") && e.contains("NRRD (.nrrd)"), "{e}");
    }

    #[test]
    fn metrics_and_bad_masks() {
        let (vol, bytes) = lps_scan();
        let mut scan = Scan::open_inner("a.nii.gz", &bytes).unwrap();
        assert!(scan.metrics_inner().unwrap_err().contains("segment"));
        // truth: value < 12 (on the original grid); prediction: the same -> Dice 1
        let truth = vol.with_data(vol.data.iter().map(|&v| f32::from(v < 12.0)).collect());
        let tb = encode_nifti(&truth, DataType::Uint8, false).unwrap();
        scan.open_truth_inner("t.nii", &tb).unwrap();
        let labels: Vec<u8> = scan
            .canon
            .data
            .iter()
            .map(|&v| u8::from(v < 12.0))
            .collect();
        scan.set_mask_inner(labels, false).unwrap();
        let m: serde_json::Value = serde_json::from_str(&scan.metrics_inner().unwrap()).unwrap();
        assert_eq!(m["mm"]["dice"], 1.0);
        assert_eq!(m["voxels"]["hd95"], 0.0);
        // a mask on another grid, a label map, and a mask of the wrong size are refused
        let other = Volume::new(vec![0.0; 24], [2, 3, 4], vol.affine);
        let ob = encode_nifti(&other, DataType::Uint8, false).unwrap();
        assert!(scan
            .open_truth_inner("o.nii", &ob)
            .unwrap_err()
            .contains("same grid"));
        let multi = vol.with_data(vec![2.0; 24]);
        let mb = encode_nifti(&multi, DataType::Uint8, false).unwrap();
        assert!(scan
            .open_truth_inner("m.nii", &mb)
            .unwrap_err()
            .contains("above 1"));
        // probabilities or intensities (a scan dropped as ground truth): not a mask, said before
        // the grid is looked at (before: thresholded at 0.5 without a word)
        let soft = vol.with_data(vol.data.iter().map(|&v| v / 24.0).collect());
        let sb = encode_nifti(&soft, DataType::Float32, false).unwrap();
        let e = scan.open_truth_inner("p.nii", &sb).unwrap_err();
        assert!(e.contains("not a binary mask"), "{e}");
        let scan_on_other_grid =
            Volume::new((0..24).map(|v| v as f32).collect(), [2, 3, 4], vol.affine);
        let sb = encode_nifti(&scan_on_other_grid, DataType::Int16, false).unwrap();
        let e = scan.open_truth_inner("case_seg.nii", &sb).unwrap_err();
        assert!(e.contains("above 1"), "{e}");
        assert!(scan
            .set_mask_inner(vec![0; 5], false)
            .unwrap_err()
            .contains("5 voxels"));
        // not a NIfTI at all
        let e = Scan::open_inner("x.png", b"\x89PNG\r\n\x1a\n")
            .err()
            .unwrap();
        assert!(e.contains("NIfTI"), "{e}");
    }
}
