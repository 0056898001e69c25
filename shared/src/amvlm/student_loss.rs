//! The student's loss in AMVLM's text-guided mean teacher (spec A6 "Losses").
//!
//! Ours (A6 [P], the default): every term is `½(BCE + soft Dice)` of a logit against a (soft)
//! target, the released code's 0.5/0.5 weighting:
//!
//! - `L_sup` on the labeled images against their masks;
//! - `L_fuse` on the unlabeled images against the fused pseudo label `y_fuse = σ(z_t + z_text)`
//!   (the teacher's logit plus the text's logit `κ(Mₛ − θ)`; thresholded at 0.5 with
//!   `hard_fuse`);
//! - `L_text` on the unlabeled images against the text mask `y_text`;
//! - `L = L_sup + λ_u·½(L_fuse + L_text)`, λ_u = 1 (the code has no ramp-up).
//!
//! With A8's trust the text enters as `ρ·z_text` in the fused target, and the text term, when
//! switched on, with weight ω = ρ: `L = L_sup + λ_u·(L_fuse + ω·L_text)/(1 + ω)`, which is A6's
//! `½(L_fuse + L_text)` at ω = 1 and the mean teacher's loss (target `σ(z_t)`) at ρ = ω = 0.
//!
//! The mean-teacher baseline is the same without the text: `L = L_sup + λ_u·L(ŷ_u, σ(z_t))`.
//!
//! The released form ([`StudentLossForm::Released`]): one `WeightedDiceBCE(0.5, 0.5)` over the
//! concatenated batch, `cat[σ(z_l), σ(z_u)]` against `cat[y_l, σ(σ(z_t) + y_text)]`, where
//! `y_text` is the released text mask (so the unlabeled target is always above 0.5: A6's flag).
//!
//! Soft Dice is `1 − (2Σpt + 1e-5)/(Σp² + Σt² + 1e-5)` per image, averaged (UA-MT's form, spec
//! B4, on the foreground probability).

use burn::tensor::activation::sigmoid;
use burn::tensor::{backend::Backend, Tensor};

/// Which student loss (spec A6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StudentLossForm {
    /// Separate `½(BCE + Dice)` terms, the fused target in logit space (A6 [P]).
    #[default]
    Ours,
    /// The released code's single `WeightedDiceBCE` on the concatenated batch.
    Released,
}

/// Mean over all elements of the binary cross-entropy of logits `z` against targets `t` in
/// [0, 1]: `max(z, 0) − z·t + log(1 + e^{−|z|})` (stable for any z).
pub fn bce_with_logits<B: Backend>(z: Tensor<B, 4>, t: Tensor<B, 4>) -> Tensor<B, 1> {
    let softplus = z.clone().abs().neg().exp().log1p();
    (z.clone().clamp_min(0.0) - z * t + softplus).mean()
}

/// Soft Dice loss of probabilities `p` against targets `t`, `[B, 1, H, W]`, averaged over images.
pub fn soft_dice_loss<B: Backend>(p: Tensor<B, 4>, t: Tensor<B, 4>) -> Tensor<B, 1> {
    let b = p.dims()[0];
    let flat = |x: Tensor<B, 4>| x.reshape([b as i32, -1]);
    let (p, t) = (flat(p), flat(t));
    let inter = (p.clone() * t.clone()).sum_dim(1);
    let denom = p.square().sum_dim(1) + t.square().sum_dim(1);
    let dice = (inter * 2.0 + 1e-5) / (denom + 1e-5);
    (dice.neg() + 1.0).mean()
}

/// `½(BCE + soft Dice)` of logits `z` against targets `t`.
pub fn bce_dice<B: Backend>(z: Tensor<B, 4>, t: Tensor<B, 4>) -> Tensor<B, 1> {
    (bce_with_logits(z.clone(), t.clone()) + soft_dice_loss(sigmoid(z), t)) * 0.5
}

/// The released `WeightedDiceBCE(0.5, 0.5)` of probabilities `p` against targets `t` (A6):
/// `0.5·WBCE + 0.5·WDice`, with `WBCE = Σ [0.5·1(t>0.5)·bce/N₊ + 0.5·1(t<0.5)·bce/N₋]` (N₊, N₋
/// counted over the whole batch, + 1e-12) and `WDice` the soft Dice of `0.5p` against `0.5t`.
pub fn weighted_dice_bce<B: Backend>(p: Tensor<B, 4>, t: Tensor<B, 4>) -> Tensor<B, 1> {
    // PyTorch's BCELoss clamps the log at −100
    let log = |x: Tensor<B, 4>| x.log().clamp_min(-100.0);
    let bce =
        (t.clone() * log(p.clone()) + (t.clone().neg() + 1.0) * log(p.clone().neg() + 1.0)).neg();
    let pos = t.clone().greater_elem(0.5).float();
    let neg = t.clone().lower_elem(0.5).float();
    let n_pos = pos.clone().sum() + 1e-12;
    let n_neg = neg.clone().sum() + 1e-12;
    let wbce = (pos * bce.clone()).sum() * 0.5 / n_pos + (neg * bce).sum() * 0.5 / n_neg;
    let wdice = soft_dice_loss(p * 0.5, t * 0.5);
    wbce * 0.5 + wdice * 0.5
}

/// The student's terms; `fuse` and `text` are absent for the supervised-only step and for the
/// released form (which has one criterion).
#[derive(Debug, Clone)]
pub struct StudentLosses<B: Backend> {
    pub total: Tensor<B, 1>,
    pub sup: Tensor<B, 1>,
    /// The unlabeled term against the (fused) pseudo label; the mean teacher's consistency term.
    pub fuse: Option<Tensor<B, 1>>,
    pub text: Option<Tensor<B, 1>>,
}

/// The unlabeled half of a step: the student's logits and the (gradient-free) targets' sources.
#[derive(Debug, Clone)]
pub struct Unlabeled<B: Backend> {
    /// Student logits `[Bu, 1, H, W]`.
    pub student: Tensor<B, 4>,
    /// Teacher logits `[Bu, 1, H, W]` (no gradient).
    pub teacher: Tensor<B, 4>,
    /// The text's targets, for the text-guided method.
    pub text: Option<TextTargets<B>>,
}

/// What the text gives the unlabeled images' loss (no gradient).
#[derive(Debug, Clone)]
pub struct TextTargets<B: Backend> {
    /// The text's term of the fused logit `[Bu, 1, H, W]`: `z_text` (A6), or `ρ·z_text` (A8).
    pub z_text: Tensor<B, 4>,
    /// The text mask `y_text` `[Bu, 1, H, W]`.
    pub y_text: Tensor<B, 4>,
    /// ω, the weight of L_text: 1 in A6, 0 (off) or ρ in A8.
    pub weight: f64,
}

/// The student loss of one step (see the module header). `labeled`: logits and 0/1 masks of the
/// labeled images; `unlabeled`: absent for the supervised baseline.
pub fn student_loss<B: Backend>(
    labeled: (Tensor<B, 4>, Tensor<B, 4>),
    unlabeled: Option<Unlabeled<B>>,
    form: StudentLossForm,
    lambda_u: f64,
    hard_fuse: bool,
) -> StudentLosses<B> {
    let (z_l, y_l) = labeled;
    let Some(u) = unlabeled else {
        let sup = bce_dice(z_l, y_l);
        return StudentLosses {
            total: sup.clone(),
            sup,
            fuse: None,
            text: None,
        };
    };
    let teacher = u.teacher.detach();
    match form {
        StudentLossForm::Ours => {
            let sup = bce_dice(z_l, y_l);
            let (fuse, text) = match u.text {
                Some(t) => {
                    let fused = sigmoid(teacher + t.z_text.detach());
                    let fused = if hard_fuse {
                        fused.greater_elem(0.5).float()
                    } else {
                        fused
                    };
                    let fuse = bce_dice(u.student.clone(), fused);
                    let text = (t.weight > 0.0)
                        .then(|| (bce_dice(u.student, t.y_text.detach()), t.weight));
                    (fuse, text)
                }
                None => (bce_dice(u.student, sigmoid(teacher)), None),
            };
            // (L_fuse + ω·L_text)/(1 + ω)
            let unsup = match &text {
                Some((t, w)) => (fuse.clone() + t.clone() * *w) / (1.0 + w),
                None => fuse.clone(),
            };
            let text = text.map(|(t, _)| t);
            StudentLosses {
                total: sup.clone() + unsup * lambda_u,
                sup,
                fuse: Some(fuse),
                text,
            }
        }
        StudentLossForm::Released => {
            let p_t = sigmoid(teacher);
            let target_u = match u.text {
                Some(t) => sigmoid(p_t + t.y_text.detach()),
                None => p_t,
            };
            let p = Tensor::cat(vec![sigmoid(z_l.clone()), sigmoid(u.student)], 0);
            let t = Tensor::cat(vec![y_l.clone(), target_u], 0);
            let total = weighted_dice_bce(p, t);
            StudentLosses {
                sup: weighted_dice_bce(sigmoid(z_l), y_l).detach(),
                total,
                fuse: None,
                text: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type F = Flex;

    fn t4(v: &[f64], shape: [usize; 4]) -> Tensor<F, 4> {
        Tensor::from_data(
            TensorData::new(v.iter().map(|&x| x as f32).collect(), shape),
            &Default::default(),
        )
    }
    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }
    fn close(a: Tensor<F, 1>, b: f64) {
        let a = a.into_scalar() as f64;
        assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }

    // two images of 2×2: logits and soft targets
    const Z: [f64; 8] = [2.0, -1.0, 0.5, -3.0, 1.5, 0.0, -0.5, 4.0];
    const T: [f64; 8] = [1.0, 0.0, 1.0, 0.0, 0.8, 0.2, 0.5, 1.0];

    fn bce_ref(z: &[f64], t: &[f64]) -> f64 {
        z.iter()
            .zip(t)
            .map(|(&z, &t)| -(t * sig(z).ln() + (1.0 - t) * (1.0 - sig(z)).ln()))
            .sum::<f64>()
            / z.len() as f64
    }
    fn dice_ref(p: &[f64], t: &[f64], per: usize) -> f64 {
        let n = p.len() / per;
        (0..n)
            .map(|b| {
                let r = b * per..(b + 1) * per;
                let i: f64 = r.clone().map(|k| p[k] * t[k]).sum();
                let d: f64 = r.map(|k| p[k] * p[k] + t[k] * t[k]).sum();
                1.0 - (2.0 * i + 1e-5) / (d + 1e-5)
            })
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn bce_dice_and_weighted_form_against_hand_loops() {
        let (z, t) = (t4(&Z, [2, 1, 2, 2]), t4(&T, [2, 1, 2, 2]));
        let p: Vec<f64> = Z.iter().map(|&z| sig(z)).collect();
        close(bce_with_logits(z.clone(), t.clone()), bce_ref(&Z, &T));
        close(
            soft_dice_loss(t4(&p, [2, 1, 2, 2]), t.clone()),
            dice_ref(&p, &T, 4),
        );
        close(
            bce_dice(z.clone(), t.clone()),
            0.5 * (bce_ref(&Z, &T) + dice_ref(&p, &T, 4)),
        );
        // an extreme logit stays finite
        let big = bce_with_logits(t4(&[80.0], [1, 1, 1, 1]), t4(&[0.0], [1, 1, 1, 1]));
        close(big, 80.0);

        // WeightedDiceBCE: t = 0.5 is in neither class
        let bce: Vec<f64> = p
            .iter()
            .zip(&T)
            .map(|(&p, &t)| -(t * p.ln() + (1.0 - t) * (1.0 - p).ln()))
            .collect();
        let (mut sp, mut np, mut sn, mut nn) = (0.0, 0.0, 0.0, 0.0);
        for (b, &t) in bce.iter().zip(&T) {
            if t > 0.5 {
                sp += b;
                np += 1.0;
            } else if t < 0.5 {
                sn += b;
                nn += 1.0;
            }
        }
        let wbce = 0.5 * sp / np + 0.5 * sn / nn;
        let half = |v: &[f64]| v.iter().map(|x| 0.5 * x).collect::<Vec<_>>();
        let wdice = dice_ref(&half(&p), &half(&T), 4);
        close(
            weighted_dice_bce(t4(&p, [2, 1, 2, 2]), t),
            0.5 * wbce + 0.5 * wdice,
        );
    }

    /// How `student_loss` combines its terms: the fused target is σ(z_t + z_text), the text
    /// term uses y_text, and the unlabeled half enters with λ_u·½(L_fuse + L_text).
    #[test]
    fn student_loss_combination() {
        let shape = [1, 1, 2, 2];
        let labeled = (t4(&Z[..4], shape), t4(&[1.0, 0.0, 1.0, 0.0], shape));
        let zs = [0.3, -0.7, 1.1, 0.0];
        let zt = [1.0, -2.0, 0.2, 0.4];
        let ztext = [-1.5, 2.5, 0.3, -0.1];
        let ytext = [0.1, 0.9, 0.6, 0.4];
        let unl = || Unlabeled {
            student: t4(&zs, shape),
            teacher: t4(&zt, shape),
            text: Some(TextTargets {
                z_text: t4(&ztext, shape),
                y_text: t4(&ytext, shape),
                weight: 1.0,
            }),
        };
        let bd = |z: &[f64], t: &[f64]| {
            let p: Vec<f64> = z.iter().map(|&z| sig(z)).collect();
            0.5 * (bce_ref(z, t) + dice_ref(&p, t, z.len()))
        };
        let sup = bd(&Z[..4], &[1.0, 0.0, 1.0, 0.0]);
        let fused: Vec<f64> = zt.iter().zip(&ztext).map(|(a, b)| sig(a + b)).collect();
        let (fuse, text) = (bd(&zs, &fused), bd(&zs, &ytext));
        let l = student_loss(
            labeled.clone(),
            Some(unl()),
            StudentLossForm::Ours,
            0.7,
            false,
        );
        close(l.sup, sup);
        close(l.fuse.unwrap(), fuse);
        close(l.text.unwrap(), text);
        close(l.total, sup + 0.7 * 0.5 * (fuse + text));
        // A8: the text term weighted by ω: (L_fuse + ω·L_text)/(1 + ω); ω = 0 drops it, and a
        // zero text logit (ρ = 0) then leaves exactly the mean teacher's loss
        let with = |z: [f64; 4], w: f64| Unlabeled {
            text: Some(TextTargets {
                z_text: t4(&z, shape),
                y_text: t4(&ytext, shape),
                weight: w,
            }),
            ..unl()
        };
        let l = student_loss(
            labeled.clone(),
            Some(with(ztext, 0.4)),
            StudentLossForm::Ours,
            1.0,
            false,
        );
        close(l.total, sup + (fuse + 0.4 * text) / 1.4);
        let l = student_loss(
            labeled.clone(),
            Some(with([0.0; 4], 0.0)),
            StudentLossForm::Ours,
            1.0,
            false,
        );
        assert!(l.text.is_none());
        let mean_teacher: Vec<f64> = zt.iter().map(|&z| sig(z)).collect();
        close(l.total, sup + bd(&zs, &mean_teacher));
        // hard fused target
        let hard: Vec<f64> = fused.iter().map(|&f| (f > 0.5) as u8 as f64).collect();
        let l = student_loss(
            labeled.clone(),
            Some(unl()),
            StudentLossForm::Ours,
            1.0,
            true,
        );
        close(l.fuse.unwrap(), bd(&zs, &hard));
        // mean teacher: the teacher's probability is the target, no text term
        let mt = Unlabeled {
            text: None,
            ..unl()
        };
        let l = student_loss(labeled.clone(), Some(mt), StudentLossForm::Ours, 1.0, false);
        let target: Vec<f64> = zt.iter().map(|&z| sig(z)).collect();
        assert!(l.text.is_none());
        close(l.total, sup + bd(&zs, &target));
        // supervised only
        let l = student_loss(labeled.clone(), None, StudentLossForm::Ours, 1.0, false);
        close(l.total, sup);
        // released: one WeightedDiceBCE over [labeled; unlabeled] against [y_l; σ(σ(z_t) + y_text)]
        let l = student_loss(labeled, Some(unl()), StudentLossForm::Released, 1.0, false);
        let p: Vec<f64> = Z[..4].iter().chain(&zs).map(|&z| sig(z)).collect();
        let t: Vec<f64> = [1.0, 0.0, 1.0, 0.0]
            .into_iter()
            .chain(zt.iter().zip(&ytext).map(|(&z, &y)| sig(sig(z) + y)))
            .collect();
        assert!(
            t[4..].iter().all(|&x| x > 0.5),
            "the released target is always above 0.5"
        );
        let want = weighted_dice_bce(t4(&p, [2, 1, 2, 2]), t4(&t, [2, 1, 2, 2]));
        close(l.total, want.into_scalar() as f64);
    }
}
