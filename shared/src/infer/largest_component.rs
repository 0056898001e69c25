//! Optional post-processing: keep only the largest 3D connected component of the foreground.
//!
//! Not part of the B6 protocol (the paper's numbers are on the raw argmax); it is the `getLargestCC`
//! step that later LA code (SSL4MIS-derived test scripts, `nms=1`) offers, with the same
//! connectivity: `skimage.measure.label`'s default for 3D, full 26-neighbourhood. A left atrium is
//! one connected organ, so islands away from it are false positives that dominate 95HD and ASD.
//! Ties go to the component met first in C order (numpy's `argmax` over the label counts).

use crate::data::Grid;

/// What [`keep_largest_component`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComponentSummary {
    /// Foreground components before (26-connectivity).
    pub components: usize,
    /// Foreground voxels kept (the largest component).
    pub kept: usize,
    /// Foreground voxels removed (every other component).
    pub removed: usize,
}

/// Set every voxel of `label` outside its largest 26-connected component to 0. Other labels are
/// left as they are. A mask without `label` is unchanged (`components == 0`).
pub fn keep_largest_component(mask: &mut Grid<u8>, label: u8) -> ComponentSummary {
    let [nx, ny, nz] = mask.dims;
    let n = mask.data.len();
    // component id per voxel (0 = background or not yet visited), found by an explicit-stack flood
    // fill so a 2^28-voxel blob cannot overflow the call stack
    let mut id = vec![0u32; n];
    let mut sizes: Vec<usize> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for start in 0..n {
        if mask.data[start] != label || id[start] != 0 {
            continue;
        }
        let c = sizes.len() as u32 + 1;
        let mut size = 0usize;
        id[start] = c;
        stack.push(start);
        while let Some(v) = stack.pop() {
            size += 1;
            let (x, y, z) = (v / (ny * nz), (v / nz) % ny, v % nz);
            for dx in -1i64..=1 {
                let xx = x as i64 + dx;
                if xx < 0 || xx >= nx as i64 {
                    continue;
                }
                for dy in -1i64..=1 {
                    let yy = y as i64 + dy;
                    if yy < 0 || yy >= ny as i64 {
                        continue;
                    }
                    for dz in -1i64..=1 {
                        let zz = z as i64 + dz;
                        if zz < 0 || zz >= nz as i64 {
                            continue;
                        }
                        let w = (xx as usize * ny + yy as usize) * nz + zz as usize;
                        if mask.data[w] == label && id[w] == 0 {
                            id[w] = c;
                            stack.push(w);
                        }
                    }
                }
            }
        }
        sizes.push(size);
    }
    if sizes.is_empty() {
        return ComponentSummary::default();
    }
    // first maximum: the earliest component in C order wins a tie
    let mut best = 0;
    for (i, &s) in sizes.iter().enumerate() {
        if s > sizes[best] {
            best = i;
        }
    }
    let (kept, total) = (sizes[best], sizes.iter().sum::<usize>());
    let keep = best as u32 + 1;
    for (v, &c) in mask.data.iter_mut().zip(&id) {
        if c != 0 && c != keep {
            *v = 0;
        }
    }
    ComponentSummary {
        components: sizes.len(),
        kept,
        removed: total - kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(dims: [usize; 3], ones: &[[usize; 3]]) -> Grid<u8> {
        let mut g = Grid::new(vec![0u8; dims.iter().product()], dims);
        for &[x, y, z] in ones {
            g.data[(x * dims[1] + y) * dims[2] + z] = 1;
        }
        g
    }

    #[test]
    fn the_small_island_goes_and_the_big_blob_stays() {
        // a 2x2x2 cube (8 voxels) in one corner, a 3-voxel bar in the far corner
        let mut cube = Vec::new();
        for x in 0..2 {
            for y in 0..2 {
                for z in 0..2 {
                    cube.push([x, y, z]);
                }
            }
        }
        let bar = [[5, 5, 3], [5, 5, 4], [5, 5, 5]];
        let mut g = grid([6, 6, 6], &[cube.clone(), bar.to_vec()].concat());
        let s = keep_largest_component(&mut g, 1);
        assert_eq!(
            s,
            ComponentSummary {
                components: 2,
                kept: 8,
                removed: 3
            }
        );
        assert_eq!(g, grid([6, 6, 6], &cube));
    }

    #[test]
    fn a_corner_touch_connects_as_in_skimage_full_connectivity() {
        // (0,0,0) and (1,1,1) share only a corner: one component under 26-connectivity
        // (skimage.measure.label's 3D default), two under 6
        let mut g = grid([3, 3, 3], &[[0, 0, 0], [1, 1, 1], [2, 2, 2]]);
        let before = g.clone();
        let s = keep_largest_component(&mut g, 1);
        assert_eq!((s.components, s.kept, s.removed), (1, 3, 0));
        assert_eq!(g, before);
        // a one-voxel gap separates: [0,0,0] alone, [2,2,2]-[2,2,3] a pair
        let mut g = grid([4, 4, 4], &[[0, 0, 0], [2, 2, 2], [2, 2, 3]]);
        let s = keep_largest_component(&mut g, 1);
        assert_eq!((s.components, s.kept, s.removed), (2, 2, 1));
        assert_eq!(g, grid([4, 4, 4], &[[2, 2, 2], [2, 2, 3]]));
    }

    #[test]
    fn a_tie_keeps_the_first_component_in_c_order() {
        let mut g = grid([5, 1, 1], &[[0, 0, 0], [4, 0, 0]]);
        keep_largest_component(&mut g, 1);
        assert_eq!(g, grid([5, 1, 1], &[[0, 0, 0]]));
    }

    #[test]
    fn an_empty_mask_and_other_labels_are_untouched() {
        let mut g = grid([3, 3, 3], &[]);
        let s = keep_largest_component(&mut g, 1);
        assert_eq!(s.components, 0);
        assert!(g.data.iter().all(|&v| v == 0));
        // label 2 voxels are neither counted nor removed when cleaning label 1
        let mut g = grid([5, 1, 1], &[[0, 0, 0], [1, 0, 0], [4, 0, 0]]);
        g.data[2] = 2;
        let s = keep_largest_component(&mut g, 1);
        assert_eq!((s.components, s.kept, s.removed), (2, 2, 1));
        assert_eq!(g.data, vec![1, 1, 2, 0, 0]);
    }

    #[test]
    fn a_large_blob_does_not_overflow_anything() {
        // 64^3 all foreground: one component, every voxel kept
        let dims = [64, 64, 64];
        let mut g = Grid::new(vec![1u8; 64 * 64 * 64], dims);
        let s = keep_largest_component(&mut g, 1);
        assert_eq!((s.components, s.kept, s.removed), (1, 64 * 64 * 64, 0));
    }
}
