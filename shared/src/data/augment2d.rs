//! 2D augmentation of the AMVLM code (spec A1): with p = 0.5 a rotation by k·90° (k random)
//! followed by a flip along a random axis; otherwise with p = 0.25 (i.e. 0.5 × 0.5 of the rest)
//! a rotation by an integer angle in [−20, 20) degrees, nearest neighbour, same size (pixels
//! from outside the image are 0). Operates on square `[C, S, S]` images (row-major).

use rand::Rng;

/// The transform drawn for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Augment2d {
    /// Unchanged.
    Identity,
    /// Rotate by `k`·90° counter-clockwise (numpy `rot90(k)` on axes (0, 1)), then flip along
    /// `axis` (0 = rows reversed, 1 = columns reversed).
    Rot90Flip { k: u8, axis: u8 },
    /// Rotate by `degrees` about the centre, nearest neighbour (the range is symmetric, so the
    /// sense of rotation does not matter).
    Rotate { degrees: i32 },
}

impl Augment2d {
    /// Draw as the AMVLM code does.
    pub fn draw<R: Rng>(rng: &mut R) -> Self {
        if rng.random::<f64>() > 0.5 {
            Augment2d::Rot90Flip {
                k: rng.random_range(0..4),
                axis: rng.random_range(0..2),
            }
        } else if rng.random::<f64>() > 0.5 {
            Augment2d::Rotate {
                degrees: rng.random_range(-20..20),
            }
        } else {
            Augment2d::Identity
        }
    }

    /// Where output pixel `(r, c)` reads from in an `s × s` input (None: outside, gives 0).
    fn source(&self, r: usize, c: usize, s: usize) -> Option<(usize, usize)> {
        let last = s - 1;
        match *self {
            Augment2d::Identity => Some((r, c)),
            Augment2d::Rot90Flip { k, axis } => {
                // undo the flip, then the rotation
                let (r, c) = if axis == 0 {
                    (last - r, c)
                } else {
                    (r, last - c)
                };
                // rot90 (counter-clockwise) once: out[r][c] = in[c][last − r]
                let (mut r, mut c) = (r, c);
                for _ in 0..k % 4 {
                    (r, c) = (c, last - r);
                }
                Some((r, c))
            }
            Augment2d::Rotate { degrees } => {
                let th = (degrees as f64).to_radians();
                let centre = last as f64 / 2.0;
                let (y, x) = (r as f64 - centre, c as f64 - centre);
                // inverse map: rotate the output coordinate back by θ
                let sx = th.cos() * x - th.sin() * y + centre;
                let sy = th.sin() * x + th.cos() * y + centre;
                let (sr, sc) = (sy.round(), sx.round());
                (sr >= 0.0 && sc >= 0.0 && sr <= last as f64 && sc <= last as f64)
                    .then_some((sr as usize, sc as usize))
            }
        }
    }

    /// Apply to a `[C, S, S]` image (any pixel type with a zero).
    pub fn apply<T: Copy + Default>(&self, image: &[T], channels: usize, size: usize) -> Vec<T> {
        assert_eq!(
            image.len(),
            channels * size * size,
            "image is not [C, S, S]"
        );
        let mut out = vec![T::default(); image.len()];
        for r in 0..size {
            for c in 0..size {
                if let Some((sr, sc)) = self.source(r, c, size) {
                    for ch in 0..channels {
                        out[(ch * size + r) * size + c] = image[(ch * size + sr) * size + sc];
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rot90_and_flip_match_numpy() {
        // a = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
        let a: Vec<u8> = (0..9).collect();
        // np.flip(np.rot90(a, 1), 0) = [[6, 3, 0], [7, 4, 1], [8, 5, 2]]... computed by hand:
        // rot90(a) = [[2, 5, 8], [1, 4, 7], [0, 3, 6]]; flip axis 0 -> [[0, 3, 6], [1, 4, 7], [2, 5, 8]].
        let t = Augment2d::Rot90Flip { k: 1, axis: 0 }.apply(&a, 1, 3);
        assert_eq!(t, vec![0, 3, 6, 1, 4, 7, 2, 5, 8]);
        // rot90(a, 2) = [[8, 7, 6], [5, 4, 3], [2, 1, 0]]; flip axis 1 -> [[6, 7, 8], [3, 4, 5], [0, 1, 2]].
        let t = Augment2d::Rot90Flip { k: 2, axis: 1 }.apply(&a, 1, 3);
        assert_eq!(t, vec![6, 7, 8, 3, 4, 5, 0, 1, 2]);
        // k = 0, flip axis 1: columns reversed.
        let t = Augment2d::Rot90Flip { k: 0, axis: 1 }.apply(&a, 1, 3);
        assert_eq!(t, vec![2, 1, 0, 5, 4, 3, 8, 7, 6]);
    }

    #[test]
    fn small_rotation_keeps_the_centre_and_zero_fills() {
        let s = 9;
        let mut img = vec![1.0f32; s * s];
        img[4 * s + 4] = 5.0;
        let out = Augment2d::Rotate { degrees: 15 }.apply(&img, 1, s);
        assert_eq!(out[4 * s + 4], 5.0);
        assert!(out.contains(&0.0), "corners come from outside");
        // 0 degrees is the identity.
        assert_eq!(Augment2d::Rotate { degrees: 0 }.apply(&img, 1, s), img);
    }

    #[test]
    fn draws_follow_the_code_probabilities() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let n = 20000;
        let (mut flips, mut rots) = (0, 0);
        for _ in 0..n {
            match Augment2d::draw(&mut rng) {
                Augment2d::Rot90Flip { .. } => flips += 1,
                Augment2d::Rotate { degrees } => {
                    assert!((-20..20).contains(&degrees));
                    rots += 1
                }
                Augment2d::Identity => {}
            }
        }
        assert!((flips as f64 / n as f64 - 0.5).abs() < 0.02);
        assert!((rots as f64 / n as f64 - 0.25).abs() < 0.02);
    }
}
