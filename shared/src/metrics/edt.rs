//! Exact Euclidean distance transform, separable, after Felzenszwalb & Huttenlocher (2012),
//! "Distance Transforms of Sampled Functions": a 1D lower envelope of parabolas along each axis in
//! turn, with the voxel spacing of each axis (anisotropic grids are exact too).

/// Squared distance from every voxel to the nearest voxel where `sites` is true, in the units of
/// `spacing`. With no site at all every distance is `f64::INFINITY`.
pub fn sq_edt(sites: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    assert_eq!(
        sites.len(),
        dims.iter().product::<usize>(),
        "mask/dims mismatch"
    );
    let mut d: Vec<f64> = sites
        .iter()
        .map(|&s| if s { 0.0 } else { f64::INFINITY })
        .collect();
    let strides = [dims[1] * dims[2], dims[2], 1];
    let n_max = *dims.iter().max().unwrap_or(&0);
    let mut line = vec![0.0; n_max];
    let mut out = vec![0.0; n_max];
    let mut env = Envelope::new(n_max);
    for axis in 0..3 {
        let n = dims[axis];
        if n == 0 {
            return d;
        }
        let stride = strides[axis];
        // the lines along `axis` start at the indices whose `axis` coordinate is 0
        let starts = (0..d.len() / (n * stride))
            .flat_map(|outer| (0..stride).map(move |inner| outer * n * stride + inner));
        for start in starts {
            for q in 0..n {
                line[q] = d[start + q * stride];
            }
            env.transform(&line[..n], spacing[axis], &mut out[..n]);
            for q in 0..n {
                d[start + q * stride] = out[q];
            }
        }
    }
    d
}

/// scipy's `distance_transform_edt(mask, sampling=spacing)`: for each voxel of `mask`, the distance
/// to the nearest voxel outside it; 0 outside. With no voxel outside, distances are infinite.
pub fn edt(mask: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let outside: Vec<bool> = mask.iter().map(|&m| !m).collect();
    sq_edt(&outside, dims, spacing)
        .into_iter()
        .map(f64::sqrt)
        .collect()
}

/// Work buffers of the 1D transform.
struct Envelope {
    /// positions (indices) of the parabolas in the lower envelope
    v: Vec<usize>,
    /// boundaries between consecutive envelope parabolas (in spacing units)
    z: Vec<f64>,
}

impl Envelope {
    fn new(n: usize) -> Self {
        Envelope {
            v: vec![0; n],
            z: vec![0.0; n + 1],
        }
    }

    /// `out[q] = min_p ((q - p)·s)² + f[p]` over the finite `f[p]`.
    fn transform(&mut self, f: &[f64], s: f64, out: &mut [f64]) {
        let n = f.len();
        let (v, z) = (&mut self.v, &mut self.z);
        let mut k: isize = -1;
        for q in 0..n {
            if !f[q].is_finite() {
                continue;
            }
            let pq = q as f64 * s;
            loop {
                if k < 0 {
                    k = 0;
                    v[0] = q;
                    z[0] = f64::NEG_INFINITY;
                    z[1] = f64::INFINITY;
                    break;
                }
                let r = v[k as usize];
                let pr = r as f64 * s;
                // where the parabola at q starts to lie below the one at r
                let x = ((f[q] + pq * pq) - (f[r] + pr * pr)) / (2.0 * (pq - pr));
                if x <= z[k as usize] {
                    k -= 1;
                    continue;
                }
                k += 1;
                v[k as usize] = q;
                z[k as usize] = x;
                z[k as usize + 1] = f64::INFINITY;
                break;
            }
        }
        if k < 0 {
            out.fill(f64::INFINITY);
            return;
        }
        let mut j = 0usize;
        for (q, o) in out.iter_mut().enumerate() {
            let pq = q as f64 * s;
            while z[j + 1] < pq {
                j += 1;
            }
            let d = pq - v[j] as f64 * s;
            *o = d * d + f[v[j]];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: min over sites of the squared spaced distance.
    fn brute(sites: &[bool], dims: [usize; 3], sp: [f64; 3]) -> Vec<f64> {
        let idx = |f: usize| {
            [
                f / (dims[1] * dims[2]),
                (f / dims[2]) % dims[1],
                f % dims[2],
            ]
        };
        (0..sites.len())
            .map(|a| {
                let pa = idx(a);
                (0..sites.len())
                    .filter(|&b| sites[b])
                    .map(|b| {
                        let pb = idx(b);
                        (0..3)
                            .map(|d| ((pa[d] as f64 - pb[d] as f64) * sp[d]).powi(2))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_on_random_anisotropic_grids() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for trial in 0..20 {
            let dims = [
                1 + (rnd() % 7) as usize,
                1 + (rnd() % 6) as usize,
                1 + (rnd() % 8) as usize,
            ];
            let sp = [0.5 + trial as f64 * 0.1, 1.0, 2.5];
            let n = dims.iter().product();
            let sites: Vec<bool> = (0..n).map(|_| rnd() % 9 == 0).collect();
            let fast = sq_edt(&sites, dims, sp);
            let slow = brute(&sites, dims, sp);
            for (a, b) in fast.iter().zip(&slow) {
                assert!(
                    (a == b) || (a - b).abs() < 1e-9,
                    "dims {dims:?}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn hand_computed_line() {
        // one site in the middle of a 1x1x5 line with spacing 2: distances 4, 2, 0, 2, 4
        let sites = [false, false, true, false, false];
        let d = edt(&sites.map(|s| !s), [1, 1, 5], [1.0, 1.0, 2.0]);
        assert_eq!(d, vec![4.0, 2.0, 0.0, 2.0, 4.0]);
    }
}
