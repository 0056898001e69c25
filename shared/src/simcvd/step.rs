//! One SimCVD iteration's loss (spec B5 steps 2-4, B4): the student sees the labeled volumes and
//! the noisy unlabeled ones, the EMA teacher (train mode, no gradients) sees the unlabeled ones
//! with other noise, and the terms are weighted with the Gaussian ramp.

use super::config::SimcvdConfig;
use super::model::SimcvdModel;
use super::{info_nce, pairwise_distillation, sdm_loss, seg_loss, softmax_mse};
use crate::train::gaussian_ramp;
use burn::tensor::{backend::Backend, Distribution, Tensor};

/// One step's input, on the device: `labeled` `[Lb, 1, X, Y, Z]`, its 0/1 `labels` and
/// normalised `sdm` (B3) of the same shape, and `unlabeled` `[Ub, 1, X, Y, Z]`.
#[derive(Debug, Clone)]
pub struct Batch<B: Backend> {
    pub labeled: Tensor<B, 5>,
    pub labels: Tensor<B, 5>,
    pub sdm: Tensor<B, 5>,
    pub unlabeled: Option<Tensor<B, 5>>,
}

/// The loss and its terms (unweighted; `ramp` is Ψ(t)).
#[derive(Debug, Clone)]
pub struct Losses<B: Backend> {
    pub total: Tensor<B, 1>,
    pub seg: Tensor<B, 1>,
    pub sdm: Option<Tensor<B, 1>>,
    pub contrast: Option<Tensor<B, 1>>,
    pub pd: Option<Tensor<B, 1>>,
    pub con: Option<Tensor<B, 1>>,
    pub ramp: f64,
}

fn noise<B: Backend>(like: &Tensor<B, 5>, std: f64, clip: f64) -> Tensor<B, 5> {
    Tensor::random(like.shape(), Distribution::Normal(0.0, std), &like.device()).clamp(-clip, clip)
}

/// `L = L_sup + Ψ(t)·(λ L_contrast + β L_pd + γ L_con)` (spec B4) at `step` of `cfg.max_steps`.
///
/// `teacher` must be given for a semi-supervised configuration; it runs without gradients.
pub fn simcvd_loss<B: Backend>(
    student: &SimcvdModel<B>,
    teacher: Option<&SimcvdModel<B>>,
    batch: &Batch<B>,
    cfg: &SimcvdConfig,
    step: usize,
) -> Losses<B> {
    let lb = batch.labeled.dims()[0];
    let semi = cfg.semi_supervised() && teacher.is_some() && batch.unlabeled.is_some();
    let input = match (&batch.unlabeled, semi) {
        (Some(u), true) => Tensor::cat(
            vec![
                batch.labeled.clone(),
                u.clone() + noise(u, cfg.noise_std, cfg.noise_clip),
            ],
            0,
        ),
        _ => batch.labeled.clone(),
    };
    let n = input.dims()[0];
    let out = student.net.forward(input);

    // supervised: 0.5(CE + Dice) on the labeled part, + α·MSE on its SDM
    let seg = seg_loss(out.seg.clone().narrow(0, 0, lb), batch.labels.clone());
    let sdm = match (&out.sdm, cfg.use_sdm) {
        (Some(s), true) => Some(sdm_loss(s.clone().narrow(0, 0, lb), batch.sdm.clone())),
        _ => None,
    };
    let mut total = seg.clone();
    if let Some(s) = &sdm {
        total = total + s.clone() * cfg.alpha_sdm;
    }
    let ramp = gaussian_ramp(step, cfg.max_steps);
    let (mut contrast, mut pd, mut con) = (None, None, None);
    if let (true, Some(teacher), Some(u)) = (semi, teacher, &batch.unlabeled) {
        let ub = n - lb;
        let t_out = teacher
            .net
            .forward(u.clone() + noise(u, cfg.noise_std, cfg.noise_clip));
        if cfg.use_con {
            con = Some(softmax_mse(
                out.seg.clone().narrow(0, lb, ub),
                t_out.seg.clone(),
            ));
        }
        if cfg.use_pd {
            pd = Some(pairwise_distillation(
                out.features.clone().narrow(0, lb, ub),
                t_out.features.clone(),
            ));
        }
        if let (true, Some(s_sdm), Some(t_sdm), Some(h_s), Some(h_t)) = (
            cfg.use_contrast,
            &out.sdm,
            &t_out.sdm,
            &student.head,
            &teacher.head,
        ) {
            // boundary-aware features X + SDM, one embedding per axial slice
            let q_s = u.clone() + s_sdm.clone().narrow(0, lb, ub);
            let q_t = u.clone() + t_sdm.clone();
            let e_s = h_s.forward(q_s);
            let e_t = h_t.forward(q_t);
            let [b, z, d] = e_s.dims();
            contrast = Some(info_nce(
                e_s.reshape([b * z, d]),
                e_t.reshape([b * z, d]),
                cfg.tau,
            ));
        }
        let mut unsup: Option<Tensor<B, 1>> = None;
        for (term, w) in [
            (&contrast, cfg.lambda_contrast),
            (&pd, cfg.beta_pd),
            (&con, cfg.gamma_con),
        ] {
            if let Some(t) = term {
                let x = t.clone() * w;
                unsup = Some(match unsup {
                    Some(a) => a + x,
                    None => x,
                });
            }
        }
        if let Some(u) = unsup {
            total = total + u * ramp;
        }
    }
    Losses {
        total,
        seg,
        sdm,
        contrast,
        pd,
        con,
        ramp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    fn value(t: &Tensor<Flex, 1>) -> f64 {
        t.clone().into_scalar() as f64
    }

    /// How the terms are combined (spec B4): `total = seg + α·sdm + Ψ(t)(λ·contrast + β·pd +
    /// γ·con)`, with weights that are all different (so a swapped weight shows) and Ψ at t = T/2
    /// by hand: exp(−5·0.5²) = exp(−1.25).
    #[test]
    fn combines_the_terms_with_their_weights_and_the_ramp() {
        let dev = Default::default();
        let cfg = SimcvdConfig {
            patch: [32, 32, 32],
            n_filters: 2,
            proj_pool: 4,
            proj_hidden: vec![8],
            proj_out: 4,
            alpha_sdm: 0.4,
            lambda_contrast: 0.3,
            beta_pd: 0.2,
            gamma_con: 0.7,
            max_steps: 100,
            ..Default::default()
        };
        let student = cfg.init_model::<Flex>(&dev);
        let teacher = cfg.init_model::<Flex>(&dev);
        let vol = |seed: f32| {
            let v: Vec<f32> = (0..32768).map(|i| (i as f32 * seed).sin()).collect();
            Tensor::<Flex, 5>::from_data(TensorData::new(v, [1, 1, 32, 32, 32]), &dev)
        };
        let labels = vol(0.37).greater_elem(0.0).float();
        let batch = Batch {
            labeled: vol(0.11),
            sdm: vol(0.05) * 0.5,
            labels,
            unlabeled: Some(vol(0.23)),
        };
        let l = simcvd_loss(&student, Some(&teacher), &batch, &cfg, 50);
        assert!((l.ramp - (-1.25f64).exp()).abs() < 1e-15, "{}", l.ramp);
        let (seg, sdm) = (value(&l.seg), value(l.sdm.as_ref().unwrap()));
        let contrast = value(l.contrast.as_ref().unwrap());
        let (pd, con) = (
            value(l.pd.as_ref().unwrap()),
            value(l.con.as_ref().unwrap()),
        );
        for t in [seg, sdm, contrast, pd, con] {
            assert!(
                t.is_finite() && t > 0.0,
                "{seg} {sdm} {contrast} {pd} {con}"
            );
        }
        let want = seg + 0.4 * sdm + (-1.25f64).exp() * (0.3 * contrast + 0.2 * pd + 0.7 * con);
        let got = value(&l.total);
        assert!(
            (got - want).abs() < 1e-5 * want,
            "total {got}, by hand {want}"
        );

        // a switched-off term is neither computed nor added; at t = 0 the ramp is exp(−5)
        let no_pd = SimcvdConfig {
            use_pd: false,
            ..cfg.clone()
        };
        let l = simcvd_loss(&student, Some(&teacher), &batch, &no_pd, 0);
        assert!(l.pd.is_none());
        let want = value(&l.seg)
            + 0.4 * value(l.sdm.as_ref().unwrap())
            + (-5.0f64).exp()
                * (0.3 * value(l.contrast.as_ref().unwrap())
                    + 0.7 * value(l.con.as_ref().unwrap()));
        let got = value(&l.total);
        assert!(
            (got - want).abs() < 1e-5 * want,
            "total {got}, by hand {want}"
        );

        // without a teacher only the supervised terms count
        let l = simcvd_loss(&student, None, &batch, &cfg, 50);
        assert!(l.contrast.is_none() && l.pd.is_none() && l.con.is_none());
        let want = value(&l.seg) + 0.4 * value(l.sdm.as_ref().unwrap());
        assert!((value(&l.total) - want).abs() < 1e-6 * want);
    }
}
