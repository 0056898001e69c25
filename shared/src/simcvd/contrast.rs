//! Boundary-aware contrast (spec B4, Eq. 2-3): InfoNCE between teacher and student slice embeddings,
//! positives the same slice of the same volume, negatives every other slice in the batch; the
//! teacher side is stop-gradient.

use burn::tensor::{activation, backend::Backend, Tensor};

/// `L_contrast = (1/|N⁺|) Σ [L(hᵗ,hˢ) + L(hˢ,hᵗ)]` for L2-normalised embeddings `h_s`, `h_t` of
/// shape `[M, D]` (row i of each is the same slice). `tau` is the temperature (0.5).
pub fn info_nce<B: Backend>(h_s: Tensor<B, 2>, h_t: Tensor<B, 2>, tau: f64) -> Tensor<B, 1> {
    let h_t = h_t.detach();
    let m = h_s.dims()[0];
    let eye = Tensor::<B, 2>::eye(m, &h_s.device());
    // row i: anchor hᵗ_i against every hˢ_k
    let logits = h_t.matmul(h_s.transpose()) / tau;
    let t_to_s = (activation::log_softmax(logits.clone(), 1) * eye.clone()).sum();
    let s_to_t = (activation::log_softmax(logits.transpose(), 1) * eye).sum();
    (t_to_s + s_to_t).neg() / m as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn matches_a_float64_reference() {
        let dev = Default::default();
        let hs = [[0.6, 0.8], [1.0, 0.0], [0.0, -1.0]];
        let ht = [[0.8, 0.6], [0.6, -0.8], [-1.0, 0.0]];
        let tau = 0.5;
        let dot = |a: [f64; 2], b: [f64; 2]| (a[0] * b[0] + a[1] * b[1]) / tau;
        let mut want = 0.0;
        for i in 0..3 {
            let den_t: f64 = (0..3).map(|k| dot(ht[i], hs[k]).exp()).sum();
            let den_s: f64 = (0..3).map(|k| dot(hs[i], ht[k]).exp()).sum();
            want -= (dot(ht[i], hs[i]).exp() / den_t).ln() + (dot(hs[i], ht[i]).exp() / den_s).ln();
        }
        want /= 3.0;
        let t = |v: [[f64; 2]; 3]| {
            let flat: Vec<f32> = v.iter().flatten().map(|&x| x as f32).collect();
            Tensor::<Flex, 2>::from_data(TensorData::new(flat, [3, 2]), &dev)
        };
        let got: f32 = info_nce(t(hs), t(ht), tau).into_scalar();
        assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
    }
}
