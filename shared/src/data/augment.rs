//! Training augmentation of UA-MT / SimCVD (spec B1): `RandomRotFlip` (rot90 in the x-y plane by a
//! random k, then a flip of axis 0 or 1) and `RandomCrop` to the patch, zero-padding first when the
//! volume is too small. Arrays are C order `(x, y, z)`, image and label moved together.

use rand::Rng;

/// A 3D array in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid<T> {
    pub data: Vec<T>,
    pub dims: [usize; 3],
}

impl<T: Copy + Default> Grid<T> {
    pub fn new(data: Vec<T>, dims: [usize; 3]) -> Self {
        assert_eq!(
            data.len(),
            dims.iter().product::<usize>(),
            "data/dims mismatch"
        );
        Grid { data, dims }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize, z: usize) -> T {
        self.data[(x * self.dims[1] + y) * self.dims[2] + z]
    }

    /// `numpy.rot90(a, k)` over axes (0, 1): the first two axes turned counter-clockwise k times.
    pub fn rot90(&self, k: usize) -> Grid<T> {
        let [nx, ny, nz] = self.dims;
        let k = k % 4;
        let dims = if k % 2 == 1 { [ny, nx, nz] } else { self.dims };
        let mut out = Vec::with_capacity(self.data.len());
        for i in 0..dims[0] {
            for j in 0..dims[1] {
                // numpy: rot90 k=1 -> out[i, j] = a[j, ny-1-i]; k=2 -> a[nx-1-i, ny-1-j];
                // k=3 -> a[nx-1-j, i]
                let (x, y) = match k {
                    0 => (i, j),
                    1 => (j, ny - 1 - i),
                    2 => (nx - 1 - i, ny - 1 - j),
                    _ => (nx - 1 - j, i),
                };
                for z in 0..nz {
                    out.push(self.at(x, y, z));
                }
            }
        }
        Grid { data: out, dims }
    }

    /// `numpy.flip(a, axis)` for axis 0, 1 or 2.
    pub fn flip(&self, axis: usize) -> Grid<T> {
        let [nx, ny, nz] = self.dims;
        let mut out = Vec::with_capacity(self.data.len());
        for i in 0..nx {
            for j in 0..ny {
                for k in 0..nz {
                    let (x, y, z) = match axis {
                        0 => (nx - 1 - i, j, k),
                        1 => (i, ny - 1 - j, k),
                        _ => (i, j, nz - 1 - k),
                    };
                    out.push(self.at(x, y, z));
                }
            }
        }
        Grid {
            data: out,
            dims: self.dims,
        }
    }

    /// Zero-pad by `before[d]` and `after[d]` voxels on each side.
    pub fn pad(&self, before: [usize; 3], after: [usize; 3]) -> Grid<T> {
        let dims: [usize; 3] = std::array::from_fn(|d| self.dims[d] + before[d] + after[d]);
        let mut out = vec![T::default(); dims.iter().product()];
        for x in 0..self.dims[0] {
            for y in 0..self.dims[1] {
                let src = (x * self.dims[1] + y) * self.dims[2];
                let dst = ((x + before[0]) * dims[1] + y + before[1]) * dims[2] + before[2];
                out[dst..dst + self.dims[2]].copy_from_slice(&self.data[src..src + self.dims[2]]);
            }
        }
        Grid { data: out, dims }
    }

    /// The sub-array of size `size` starting at `start`.
    pub fn crop(&self, start: [usize; 3], size: [usize; 3]) -> Grid<T> {
        let mut out = Vec::with_capacity(size.iter().product());
        for x in start[0]..start[0] + size[0] {
            for y in start[1]..start[1] + size[1] {
                let s = (x * self.dims[1] + y) * self.dims[2] + start[2];
                out.extend_from_slice(&self.data[s..s + size[2]]);
            }
        }
        Grid {
            data: out,
            dims: size,
        }
    }
}

/// UA-MT `RandomRotFlip`: `k ~ U{0..3}`, `axis ~ U{0, 1}`, applied to image and label alike.
pub fn random_rot_flip<R: Rng>(
    image: &Grid<f32>,
    label: &Grid<u8>,
    rng: &mut R,
) -> (Grid<f32>, Grid<u8>) {
    let k = rng.random_range(0..4);
    let axis = rng.random_range(0..2);
    (image.rot90(k).flip(axis), label.rot90(k).flip(axis))
}

/// UA-MT `RandomCrop`: if a side is not larger than the patch, zero-pad it by `(p − s)//2 + 3` on
/// both sides; then a uniformly random window of the patch size.
pub fn random_crop<R: Rng>(
    image: &Grid<f32>,
    label: &Grid<u8>,
    patch: [usize; 3],
    rng: &mut R,
) -> (Grid<f32>, Grid<u8>) {
    let pad: [usize; 3] = std::array::from_fn(|d| {
        if image.dims[d] <= patch[d] {
            (patch[d] - image.dims[d]) / 2 + 3
        } else {
            0
        }
    });
    let (image, label) = if pad.iter().any(|&p| p > 0) {
        (image.pad(pad, pad), label.pad(pad, pad))
    } else {
        (image.clone(), label.clone())
    };
    let start: [usize; 3] = std::array::from_fn(|d| {
        let room = image.dims[d] - patch[d];
        if room == 0 {
            0
        } else {
            rng.random_range(0..room)
        }
    });
    (image.crop(start, patch), label.crop(start, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(dims: [usize; 3]) -> Grid<f32> {
        Grid::new(
            (0..dims.iter().product::<usize>())
                .map(|v| v as f32)
                .collect(),
            dims,
        )
    }

    #[test]
    fn rot90_matches_numpy() {
        // numpy: a = arange(6).reshape(2, 3, 1); rot90(a)[..., 0] = [[2, 5], [1, 4], [0, 3]]
        let a = ramp([2, 3, 1]);
        assert_eq!(a.rot90(1).data, vec![2.0, 5.0, 1.0, 4.0, 0.0, 3.0]);
        assert_eq!(a.rot90(1).dims, [3, 2, 1]);
        // rot90(a, 2)[..., 0] = [[5, 4, 3], [2, 1, 0]]; rot90(a, 3)[..., 0] = [[3, 0], [4, 1], [5, 2]]
        assert_eq!(a.rot90(2).data, vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
        assert_eq!(a.rot90(3).data, vec![3.0, 0.0, 4.0, 1.0, 5.0, 2.0]);
        assert_eq!(a.rot90(4), a);
        // flip(a, 1)[..., 0] = [[2, 1, 0], [5, 4, 3]]
        assert_eq!(a.flip(1).data, vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    }

    #[test]
    fn crop_pads_small_volumes_like_ua_mt() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let img = ramp([4, 10, 6]);
        let lab = Grid::new(vec![1u8; 240], [4, 10, 6]);
        let (ci, cl) = random_crop(&img, &lab, [6, 8, 6], &mut rng);
        assert_eq!((ci.dims, cl.dims), ([6, 8, 6], [6, 8, 6]));
        // x was padded by (6-4)/2+3 = 4 per side -> 12 wide; z by 3 per side -> 12
        let labeled = cl.data.iter().filter(|&&v| v == 1).count();
        assert!(labeled > 0 && labeled < 6 * 8 * 6);
        // crop of an unpadded axis keeps the values in order
        let big = ramp([20, 20, 20]);
        let c = big.crop([1, 2, 3], [2, 2, 2]);
        assert_eq!(c.data[0], big.at(1, 2, 3));
        assert_eq!(c.data[7], big.at(2, 3, 4));
    }
}
