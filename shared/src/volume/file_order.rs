//! From the files' voxel order to semiseg's. NIfTI and NRRD store x fastest (file index
//! `f = x + nx·(y + ny·z)`); a [`super::Volume`] holds C order (`(x·ny + y)·nz + z`, z fastest).
//! Writing each voxel where it belongs as the file is read touches one cache line a voxel; going
//! through the volume in slabs of [`SLAB`] z-slices instead writes whole lines (SLAB values in a
//! row) while reading SLAB sequential streams: `semiseg inspect` of a scan at semiseg's 2^28-voxel
//! limit takes 7.8 s instead of 39 s (`docs/benchmarks.md`, "Reading scans").

/// z-slices per slab: 16 f32 values are one 64-byte cache line.
const SLAB: usize = 16;

/// Decode the file-order voxel bytes `raw` (`size` bytes each) into `out` (C order, `nx·ny·nz`
/// values) with `value(file_index, bytes)`.
pub(crate) fn decode_to_c_order(
    raw: &[u8],
    dims: [usize; 3],
    size: usize,
    out: &mut [f32],
    mut value: impl FnMut(usize, &[u8]) -> f32,
) {
    let [nx, ny, nz] = dims;
    debug_assert_eq!(out.len(), nx * ny * nz);
    debug_assert!(raw.len() >= out.len() * size);
    for z0 in (0..nz).step_by(SLAB) {
        let z1 = (z0 + SLAB).min(nz);
        for y in 0..ny {
            for x in 0..nx {
                let row = (x * ny + y) * nz;
                for z in z0..z1 {
                    let f = x + nx * (y + ny * z);
                    out[row + z] = value(f, &raw[f * size..(f + 1) * size]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_voxel_by_voxel_transpose() {
        // sizes around the slab (1, 15, 16, 17, 33 slices) and odd in-plane sizes
        for dims in [[3, 2, 1], [5, 3, 15], [2, 7, 16], [4, 1, 17], [3, 5, 33]] {
            let [nx, ny, nz] = dims;
            let n = nx * ny * nz;
            let raw: Vec<u8> = (0..n as u16).flat_map(|v| v.to_le_bytes()).collect();
            let mut want = vec![0f32; n];
            for f in 0..n {
                let (x, y, z) = (f % nx, (f / nx) % ny, f / (nx * ny));
                want[(x * ny + y) * nz + z] = f as f32;
            }
            let mut got = vec![-1f32; n];
            let mut seen = vec![false; n];
            decode_to_c_order(&raw, dims, 2, &mut got, |f, b| {
                seen[f] = true;
                u16::from_le_bytes([b[0], b[1]]) as f32
            });
            assert_eq!(got, want, "{dims:?}");
            assert!(seen.iter().all(|&s| s), "{dims:?}: a voxel was not read");
        }
    }
}
