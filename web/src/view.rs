//! Slices for the viewer, in anatomical orientation whatever the file's: the scan is kept in the
//! canonical RAS+ frame (array axes increase towards patient Right, Anterior, Superior) and each
//! plane is drawn in the radiological convention:
//! - axial: patient right on the screen's left, anterior at the top;
//! - coronal: patient right on the left, superior at the top;
//! - sagittal: anterior on the left, superior at the top.

/// The three viewing planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    Axial,
    Coronal,
    Sagittal,
}

impl Plane {
    pub fn parse(name: &str) -> Result<Plane, String> {
        match name {
            "axial" => Ok(Plane::Axial),
            "coronal" => Ok(Plane::Coronal),
            "sagittal" => Ok(Plane::Sagittal),
            _ => Err(format!(
                "unknown plane \"{name}\"; use axial, coronal or sagittal"
            )),
        }
    }

    /// The array axis held fixed, and the array axes along the screen's columns and rows.
    fn axes(self) -> (usize, usize, usize) {
        match self {
            Plane::Axial => (2, 0, 1),
            Plane::Coronal => (1, 0, 2),
            Plane::Sagittal => (0, 1, 2),
        }
    }

    /// Number of slices, and the slice's width and height in voxels.
    pub fn extent(self, dims: [usize; 3]) -> (usize, usize, usize) {
        let (fixed, col, row) = self.axes();
        (dims[fixed], dims[col], dims[row])
    }

    /// Millimetres per screen pixel along the columns and the rows.
    pub fn pixel_size(self, spacing: [f64; 3]) -> (f64, f64) {
        let (_, col, row) = self.axes();
        (spacing[col], spacing[row])
    }

    /// The anatomical letters at the screen's left, right, top and bottom edges.
    pub fn edge_labels(self) -> [char; 4] {
        match self {
            Plane::Axial => ['R', 'L', 'A', 'P'],
            Plane::Coronal => ['R', 'L', 'S', 'I'],
            Plane::Sagittal => ['A', 'P', 'S', 'I'],
        }
    }

    /// Flat C-order index of screen pixel `(c, r)` of slice `s`. Every screen axis runs against
    /// its array axis (RAS+ arrays increase to the right, anterior and superior; the screen's
    /// left shows right, and its top anterior or superior).
    fn index(self, dims: [usize; 3], s: usize, c: usize, r: usize) -> usize {
        let (fixed, col, row) = self.axes();
        let mut ijk = [0; 3];
        ijk[fixed] = s;
        ijk[col] = dims[col] - 1 - c;
        ijk[row] = dims[row] - 1 - r;
        (ijk[0] * dims[1] + ijk[1]) * dims[2] + ijk[2]
    }
}

/// Overlay colours (RGB) of the predicted mask and of the ground truth (web/text's 2D picture uses
/// the same).
pub const MASK_RGB: [u8; 3] = [255, 64, 32];
pub const TRUTH_RGB: [u8; 3] = [40, 220, 90];

/// What to draw on a slice.
pub struct Layers<'a> {
    /// Canonical voxels and dims.
    pub image: &'a [f32],
    pub dims: [usize; 3],
    /// Window: `lo` maps to black, `hi` to white.
    pub window: (f32, f32),
    /// Predicted mask (labels > 0 drawn) and its opacity in [0, 1].
    pub mask: Option<&'a [u8]>,
    /// Ground truth and its opacity.
    pub truth: Option<&'a [u8]>,
    pub opacity: f32,
}

/// An RGBA slice (row-major, `width * height * 4` bytes).
pub fn render(layers: &Layers, plane: Plane, slice: usize) -> (usize, usize, Vec<u8>) {
    let dims = layers.dims;
    let (n, w, h) = plane.extent(dims);
    let s = slice.min(n.saturating_sub(1));
    let (lo, hi) = layers.window;
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    let a = layers.opacity.clamp(0.0, 1.0);
    let mut out = Vec::with_capacity(w * h * 4);
    for r in 0..h {
        for c in 0..w {
            let i = plane.index(dims, s, c, r);
            let g = ((layers.image[i] - lo) * scale).clamp(0.0, 255.0);
            let mut px = [g; 3];
            for (labels, rgb) in [(layers.truth, TRUTH_RGB), (layers.mask, MASK_RGB)] {
                if let Some(l) = labels {
                    if l[i] > 0 {
                        for k in 0..3 {
                            px[k] = px[k] * (1.0 - a) + rgb[k] as f32 * a;
                        }
                    }
                }
            }
            out.extend_from_slice(&[px[0] as u8, px[1] as u8, px[2] as u8, 255]);
        }
    }
    (w, h, out)
}

/// A display window from the 1st and 99th percentiles of the voxels (robust to a few bright
/// outliers), as `(lo, hi)`; a constant image gets `(v, v + 1)`.
pub fn default_window(image: &[f32]) -> (f32, f32) {
    if image.is_empty() {
        return (0.0, 1.0);
    }
    // a sample keeps this fast on large volumes; percentiles of 2^16 voxels are plenty for display
    let step = (image.len() / 65536).max(1);
    let mut v: Vec<f32> = image.iter().step_by(step).copied().collect();
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.01), at(0.99));
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2x3x4 volume whose value encodes its RAS index: 100 i + 10 j + k.
    fn coded() -> Vec<f32> {
        let mut v = Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    v.push((100 * i + 10 * j + k) as f32);
                }
            }
        }
        v
    }

    fn values(plane: Plane, s: usize) -> Vec<Vec<f32>> {
        let img = coded();
        let dims = [2, 3, 4];
        let (_, w, h) = plane.extent(dims);
        (0..h)
            .map(|r| (0..w).map(|c| img[plane.index(dims, s, c, r)]).collect())
            .collect()
    }

    #[test]
    fn planes_show_radiological_orientation() {
        // axial slice k=1: columns run i = 1, 0 (patient right first), rows j = 2, 1, 0 (anterior on top)
        assert_eq!(
            values(Plane::Axial, 1),
            vec![vec![121., 21.], vec![111., 11.], vec![101., 1.]]
        );
        // coronal j=2: columns i = 1, 0; rows k = 3..0 (superior on top)
        assert_eq!(values(Plane::Coronal, 2)[0], vec![123., 23.]);
        assert_eq!(values(Plane::Coronal, 2)[3], vec![120., 20.]);
        // sagittal i=0: columns j = 2, 1, 0 (anterior on the left); rows k = 3..0
        assert_eq!(values(Plane::Sagittal, 0)[0], vec![23., 13., 3.]);
        assert_eq!(Plane::Axial.extent([2, 3, 4]), (4, 2, 3));
        assert_eq!(Plane::Sagittal.pixel_size([1.0, 2.0, 3.0]), (2.0, 3.0));
        assert!(Plane::parse("oblique").unwrap_err().contains("axial"));
    }

    #[test]
    fn window_and_overlay_blend() {
        let img = coded();
        let mut mask = vec![0u8; img.len()];
        let i = Plane::Axial.index([2, 3, 4], 0, 0, 0); // top-left pixel of axial slice 0
        mask[i] = 1;
        let layers = Layers {
            image: &img,
            dims: [2, 3, 4],
            window: (0.0, 255.0),
            mask: Some(&mask),
            truth: None,
            opacity: 0.5,
        };
        let (w, h, rgba) = render(&layers, Plane::Axial, 0);
        assert_eq!((w, h, rgba.len()), (2, 3, 24));
        // pixel (0,0) is voxel (1,2,0) = 120 grey, blended half with MASK_RGB
        let want = |k: usize| (120.0 * 0.5 + MASK_RGB[k] as f32 * 0.5) as u8;
        assert_eq!(&rgba[..4], &[want(0), want(1), want(2), 255]);
        // pixel (1,0) is voxel (0,2,0) = 20, no mask
        assert_eq!(&rgba[4..8], &[20, 20, 20, 255]);
        // out-of-range slices are clamped, not a panic
        assert_eq!(render(&layers, Plane::Axial, 99).2.len(), 24);
    }

    #[test]
    fn default_window_uses_percentiles() {
        let mut img: Vec<f32> = (0..1000).map(|v| v as f32).collect();
        img[999] = 1e6; // one outlier does not stretch the window
        let (lo, hi) = default_window(&img);
        assert_eq!((lo, hi), (10.0, 989.0));
        assert_eq!(default_window(&[3.0; 10]), (3.0, 4.0));
    }
}
