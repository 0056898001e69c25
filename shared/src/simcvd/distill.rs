//! Pair-wise similarity distillation (spec B4, Eq. 4): for each volume, the student's x5 voxel
//! features should rank the teacher's voxels as the teacher's own do: a cross-entropy over cosine
//! similarities at temperature 1, averaged over voxels j (not summed; see B4 [P]) and volumes.

use crate::nets::l2_normalize;
use burn::tensor::{activation, backend::Backend, Tensor};

/// `L_pd = −(1/M) Σ_i (1/P) Σ_j log softmax_k(cos(vˢ_ij, vᵗ_ik))[j]` for x5 features `[M, C, x, y, z]`
/// of student and (stop-gradient) teacher.
pub fn pairwise_distillation<B: Backend>(f_s: Tensor<B, 5>, f_t: Tensor<B, 5>) -> Tensor<B, 1> {
    let to_tokens = |f: Tensor<B, 5>| l2_normalize(f.flatten::<3>(2, 4).swap_dims(1, 2)); // [M, P, C]
    let v_s = to_tokens(f_s);
    let v_t = to_tokens(f_t.detach());
    let [m, p, _] = v_s.dims();
    let sim = v_s.matmul(v_t.swap_dims(1, 2)); // [M, P, P]
    let eye = Tensor::<B, 2>::eye(p, &sim.device()).unsqueeze::<3>();
    (activation::log_softmax(sim, 2) * eye).sum().neg() / (m * p) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn matches_a_float64_reference() {
        let dev = Default::default();
        // one volume, 2 channels, 3 voxels (1x1x3)
        let s = [[1.0, 2.0, -1.0], [0.5, 0.0, 1.0]]; // [C][P]
        let t = [[0.0, 1.0, 1.0], [1.0, 1.0, -2.0]];
        let vec = |a: [[f64; 3]; 2], j: usize| {
            let n = (a[0][j].powi(2) + a[1][j].powi(2)).sqrt();
            [a[0][j] / n, a[1][j] / n]
        };
        let mut want = 0.0;
        for j in 0..3 {
            let sj = vec(s, j);
            let cos = |k: usize| {
                let tk = vec(t, k);
                sj[0] * tk[0] + sj[1] * tk[1]
            };
            let den: f64 = (0..3).map(|k| cos(k).exp()).sum();
            want -= (cos(j).exp() / den).ln();
        }
        want /= 3.0;
        let tensor = |a: [[f64; 3]; 2]| {
            let flat: Vec<f32> = a.iter().flatten().map(|&x| x as f32).collect();
            Tensor::<Flex, 5>::from_data(TensorData::new(flat, [1, 2, 1, 1, 3]), &dev)
        };
        let got: f32 = pairwise_distillation(tensor(s), tensor(t)).into_scalar();
        assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
    }
}
