//! The 2-Wasserstein distance between diagonal Gaussians and its mappings (spec A4):
//! `W2²(N(μ₁,σ₁²), N(μ₂,σ₂²)) = ‖μ₁−μ₂‖² + ‖σ₁−σ₂‖²`, with the mean part `M = ‖μ₁−μ₂‖²`.

use super::pdt::Gaussians;
use burn::tensor::{activation::sigmoid, backend::Backend, Tensor};

/// Squared distances between every row of `a [B, N, D]` and of `b [B, M, D]` → `[B, N, M]`,
/// by `‖a‖² + ‖b‖² − 2a·b` (clamped at 0 against rounding).
pub fn pairwise_sq_dist<B: Backend>(a: Tensor<B, 3>, b: Tensor<B, 3>) -> Tensor<B, 3> {
    let aa = a.clone().square().sum_dim(2); // [B, N, 1]
    let bb = b.clone().square().sum_dim(2).swap_dims(1, 2); // [B, 1, M]
    (aa + bb - a.matmul(b.swap_dims(1, 2)) * 2.0).clamp_min(0.0)
}

/// `(W2², M)` between token i of `p` and token k of `q`, for every pair: `[B, N, M]` each (the
/// intended form of L_CSS, A5 (ii) step 4).
pub fn w2_pairwise<B: Backend>(p: &Gaussians<B>, q: &Gaussians<B>) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let mean = pairwise_sq_dist(p.mu.clone(), q.mu.clone());
    let spread = pairwise_sq_dist(p.sigma.clone(), q.sigma.clone());
    (mean.clone() + spread, mean)
}

/// `(W2², M)` between token k of `p` and token k of `q` only, broadcast over rows: `[B, N, N]`
/// with `D[b, i, k]` independent of i. This is what the released code computes (A5 quirk).
pub fn w2_columnwise<B: Backend>(
    p: &Gaussians<B>,
    q: &Gaussians<B>,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let [b, n, _] = p.mu.dims();
    let mean = (p.mu.clone() - q.mu.clone())
        .square()
        .sum_dim(2)
        .swap_dims(1, 2); // [B, 1, N]
    let spread = (p.sigma.clone() - q.sigma.clone())
        .square()
        .sum_dim(2)
        .swap_dims(1, 2);
    let w2 = (mean.clone() + spread).expand([b, n, n]);
    (w2, mean.expand([b, n, n]))
}

/// `W2²` between sample b of `p` and sample n of `q`, one token each (`[B, D]`): `[B, B]`.
pub fn w2_across_batch<B: Backend>(
    mu_p: Tensor<B, 2>,
    sigma_p: Tensor<B, 2>,
    mu_q: Tensor<B, 2>,
    sigma_q: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let d = |a: Tensor<B, 2>, b: Tensor<B, 2>| {
        let [n, _] = a.dims();
        pairwise_sq_dist(a.unsqueeze(), b.unsqueeze()).reshape([n, n])
    };
    d(mu_p, mu_q) + d(sigma_p, sigma_q)
}

/// MAP-style logit of a distance: `(−a·W2² + b)/τ` (A4; AMVLM's ICL uses a = 1/200, b = 4).
pub fn w2_logit<B: Backend, const D: usize>(
    w2: Tensor<B, D>,
    a: f64,
    b: f64,
    tau: f64,
) -> Tensor<B, D> {
    (w2 * (-a) + b) / tau
}

/// The CSS coefficient `c = sigmoid(W2²/M)` ∈ [0.731, 1) (A4, AMVLM code); `M` is guarded by
/// 1e-12 so identical means give 1 rather than NaN.
pub fn css_coefficient<B: Backend>(w2: Tensor<B, 3>, mean: Tensor<B, 3>) -> Tensor<B, 3> {
    sigmoid(w2 / mean.clamp_min(1e-12))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type B = Flex;

    fn t3(v: Vec<f32>, shape: [usize; 3]) -> Tensor<B, 3> {
        Tensor::from_data(TensorData::new(v, shape), &Default::default())
    }

    #[test]
    fn pairwise_matches_hand_values() {
        // p: tokens μ=(0,0) σ=(1,1) and μ=(1,2) σ=(1,3); q: μ=(3,4) σ=(1,1).
        let p = Gaussians {
            mu: t3(vec![0., 0., 1., 2.], [1, 2, 2]),
            sigma: t3(vec![1., 1., 1., 3.], [1, 2, 2]),
        };
        let q = Gaussians {
            mu: t3(vec![3., 4.], [1, 1, 2]),
            sigma: t3(vec![1., 1.], [1, 1, 2]),
        };
        let (w2, m) = w2_pairwise(&p, &q);
        // token 0: ‖(3,4)‖² = 25, σ part 0; token 1: ‖(2,2)‖² = 8, σ part ‖(0,−2)‖² = 4.
        assert_eq!(w2.into_data().to_vec::<f32>().unwrap(), vec![25.0, 12.0]);
        assert_eq!(m.into_data().to_vec::<f32>().unwrap(), vec![25.0, 8.0]);
    }

    #[test]
    fn columnwise_depends_on_the_column_only() {
        let p = Gaussians {
            mu: t3(vec![0., 0., 1., 2.], [1, 2, 2]),
            sigma: t3(vec![1., 1., 1., 3.], [1, 2, 2]),
        };
        let q = Gaussians {
            mu: t3(vec![3., 4., 1., 0.], [1, 2, 2]),
            sigma: t3(vec![1., 1., 2., 3.], [1, 2, 2]),
        };
        let (w2, m) = w2_columnwise(&p, &q);
        // column 0: p0 vs q0 = 25 + 0; column 1: p1 vs q1 = (0² + 2²) + (1² + 0²) = 5.
        assert_eq!(
            w2.into_data().to_vec::<f32>().unwrap(),
            vec![25.0, 5.0, 25.0, 5.0]
        );
        assert_eq!(
            m.into_data().to_vec::<f32>().unwrap(),
            vec![25.0, 4.0, 25.0, 4.0]
        );
    }

    #[test]
    fn across_batch_logit_and_coefficient() {
        let dev = Default::default();
        let t2 = |v: Vec<f32>| Tensor::<B, 2>::from_data(TensorData::new(v, [2, 1]), &dev);
        let w2 = w2_across_batch(
            t2(vec![0., 1.]),
            t2(vec![1., 1.]),
            t2(vec![2., 0.]),
            t2(vec![1., 3.]),
        );
        // [b=0,n=0]: 4+0, [0,1]: 0+4, [1,0]: 1+0, [1,1]: 1+4.
        assert_eq!(
            w2.clone().into_data().to_vec::<f32>().unwrap(),
            vec![4.0, 4.0, 1.0, 5.0]
        );
        let l = w2_logit(w2, 1.0 / 200.0, 4.0, 0.07)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!((l[0] - (4.0 - 4.0 / 200.0) / 0.07).abs() < 1e-4);
        let c = css_coefficient(t3(vec![2.0, 1.0], [1, 1, 2]), t3(vec![1.0, 1.0], [1, 1, 2]));
        let c = c.into_data().to_vec::<f32>().unwrap();
        assert!((c[0] - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6);
        assert!((c[1] - 0.731_058_6).abs() < 1e-6);
    }
}
