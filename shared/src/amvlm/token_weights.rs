//! Token weights for the fine-grained losses (spec A5 (ii) step 6, from MGCA): the non-zero
//! attention weights of each sample are clipped to their [10 %, 90 %] quantiles (linear
//! interpolation, as `torch.quantile`) and normalised to sum to 1. Zero weights (padding) stay 0.
//! The weights are constants of the loss (computed on detached values).

use burn::tensor::{backend::Backend, Tensor, TensorData};

/// `q`-quantile of sorted values with linear interpolation.
fn quantile(sorted: &[f32], q: f64) -> f32 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = (pos - lo as f64) as f32;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Clip and normalise one row in place.
pub fn clip_normalise_row(row: &mut [f32]) {
    let mut nz: Vec<f32> = row.iter().copied().filter(|v| *v != 0.0).collect();
    if nz.is_empty() {
        return;
    }
    nz.sort_by(f32::total_cmp);
    let (lo, hi) = (quantile(&nz, 0.1), quantile(&nz, 0.9));
    for v in row.iter_mut().filter(|v| **v != 0.0) {
        *v = v.clamp(lo, hi);
    }
    let sum: f32 = row.iter().sum();
    if sum > 0.0 {
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

/// Clip and normalise every row of `weights [B, N]` (detached; reads the values back).
pub fn clip_normalise<B: Backend>(weights: Tensor<B, 2>) -> Tensor<B, 2> {
    let [b, n] = weights.dims();
    let device = weights.device();
    let mut v = weights
        .detach()
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float weights");
    v.chunks_mut(n).for_each(clip_normalise_row);
    Tensor::from_data(TensorData::new(v, [b, n]), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_to_quantiles_and_sums_to_one() {
        // Non-zero values 1..=11: q10 = 2, q90 = 10 (torch.quantile on the same values).
        let mut row: Vec<f32> = (1..=11).map(|v| v as f32).collect();
        row.push(0.0);
        clip_normalise_row(&mut row);
        let clipped = [2., 2., 3., 4., 5., 6., 7., 8., 9., 10., 10.];
        let sum: f32 = clipped.iter().sum();
        for (v, c) in row.iter().zip(clipped) {
            assert!((v - c / sum).abs() < 1e-6);
        }
        assert_eq!(row[11], 0.0);
        // Interpolated quantile: values (0.1, 0.2, 0.4): q10 at pos 0.2 = 0.12, q90 at 1.8 = 0.36.
        let mut row = vec![0.1f32, 0.2, 0.4];
        clip_normalise_row(&mut row);
        let want = [0.12f32, 0.2, 0.36].map(|v| v / 0.68);
        for (v, w) in row.iter().zip(want) {
            assert!((v - w).abs() < 1e-6, "{v} vs {w}");
        }
        let mut zeros = vec![0.0f32; 3];
        clip_normalise_row(&mut zeros);
        assert_eq!(zeros, vec![0.0; 3]);
    }
}
