//! Word→patch similarity maps drawn over their image (PNG): the grid of patch similarities,
//! min-max scaled, blended in a red–yellow heat colour over the grey image.

use std::path::Path;

/// Heat colour of `t` ∈ [0, 1]: black → red → yellow.
fn heat(t: f32) -> [f32; 3] {
    [(2.0 * t).min(1.0), (2.0 * t - 1.0).clamp(0.0, 1.0), 0.0]
}

/// Write `image` (`[3, S, S]` bytes) with `map` (`grid × grid`, row-major) blended over it.
pub fn save_overlay(
    image: &[u8],
    size: usize,
    map: &[f32],
    grid: usize,
    path: &Path,
) -> anyhow::Result<()> {
    let lo = map.iter().cloned().fold(f32::INFINITY, f32::min);
    let hi = map.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let span = (hi - lo).max(1e-12);
    let cell = size / grid;
    let mut rgb = vec![0u8; size * size * 3];
    for r in 0..size {
        for c in 0..size {
            let g = (0..3)
                .map(|ch| image[(ch * size + r) * size + c] as f32)
                .sum::<f32>()
                / 3.0;
            let t = (map[(r / cell).min(grid - 1) * grid + (c / cell).min(grid - 1)] - lo) / span;
            let h = heat(t);
            for ch in 0..3 {
                let v = 0.55 * g + 0.45 * 255.0 * h[ch];
                rgb[(r * size + c) * 3 + ch] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    let img =
        image::RgbImage::from_raw(size as u32, size as u32, rgb).expect("buffer of the right size");
    img.save(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hottest_patch_is_brightest_red() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.png");
        let image = vec![0u8; 3 * 4 * 4];
        save_overlay(&image, 4, &[0.0, 1.0, 0.0, 0.0], 2, &path).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back.get_pixel(3, 0).0, [115, 115, 0]); // top-right patch: t = 1 → yellow
        assert_eq!(back.get_pixel(0, 3).0, [0, 0, 0]);
    }
}
