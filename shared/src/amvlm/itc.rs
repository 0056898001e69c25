//! L_ITC (spec A5 (i)): CLIP-style global image-text contrast, `S = v_g t_gᵀ/τ`,
//! `L = ½[CE(S, diag) + CE(Sᵀ, diag)]`.

use super::cross_entropy::symmetric_ce;
use burn::tensor::{backend::Backend, Tensor};

/// `v_g`, `t_g`: unit vectors `[B, D]`.
pub fn itc_loss<B: Backend>(v_g: Tensor<B, 2>, t_g: Tensor<B, 2>, tau: f64) -> Tensor<B, 1> {
    symmetric_ce(v_g.matmul(t_g.transpose()) / tau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn matches_float64_reference() {
        let v = [[0.6f64, 0.8], [1.0, 0.0], [0.0, 1.0]];
        let t = [[0.8f64, 0.6], [0.6, -0.8], [0.0, 1.0]];
        let tau = 0.07;
        let s: Vec<Vec<f64>> = v
            .iter()
            .map(|a| {
                t.iter()
                    .map(|b| (a[0] * b[0] + a[1] * b[1]) / tau)
                    .collect()
            })
            .collect();
        let ce = |row: Vec<f64>, i: usize| {
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            -(row[i] - m - row.iter().map(|x| (x - m).exp()).sum::<f64>().ln())
        };
        let rows: f64 = (0..3).map(|i| ce(s[i].clone(), i)).sum::<f64>() / 3.0;
        let cols: f64 = (0..3)
            .map(|i| ce((0..3).map(|r| s[r][i]).collect(), i))
            .sum::<f64>()
            / 3.0;
        let want = (rows + cols) / 2.0;
        let dev = Default::default();
        let to = |m: [[f64; 2]; 3]| {
            Tensor::<Flex, 2>::from_data(
                TensorData::new(m.concat().iter().map(|x| *x as f32).collect(), [3, 2]),
                &dev,
            )
        };
        let got = itc_loss(to(v), to(t), tau).into_scalar() as f64;
        assert!(
            (got - want).abs() < 1e-4 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}
