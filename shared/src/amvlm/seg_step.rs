//! One step of AMVLM's text-guided segmentation (spec A6): the losses of the student and of the
//! Text Mask Generator for a batch of labeled images with their masks and unlabeled images with
//! their own descriptions (the released code gives the TMG the file name instead: a bug, A6
//! "Other SSL details").
//!
//! - The frozen pre-trained encoders have already embedded the unlabeled images (patches P) and
//!   their descriptions (t); they take no part in either graph.
//! - TMG: `V = dense(P)`; `L_tg(V, t)` is the TMG's loss (its own optimizer).
//! - The text mask `y_text` and logit `z_text` come from V *detached*, so the student's loss
//!   never reaches the TMG.
//! - The teacher (EMA, train mode, no gradient) gives `z_t` on the unlabeled images.
//! - The student sees labeled and unlabeled images in one batch; its loss is `student_loss.rs`'s.
//!
//! With A8's branch (`SegConfig::grounded`):
//! - the text maps are computed on the view the text describes and moved to the student's view
//!   with the image's own transform ([`TextInputs::to_student`]);
//! - on the labeled images, each with prompts whose masks are known ([`GroundInputs`]), the
//!   grounding loss `L_ground = ½(BCE + soft Dice)(z_text, y)` joins the TMG's loss:
//!   `L_TMG = L_tg + λ_g·L_ground`;
//! - the same rows measure the trust (`trust.rs`); the fusion uses `ρ·z_text`, and L_text (when
//!   switched on) has weight ρ.

use super::seg_config::{SegConfig, SegMethod, TextBranch};
use super::student_loss::{bce_dice, student_loss, StudentLosses, TextTargets, Unlabeled};
use super::text_mask::TextMaskGenerator;
use super::tg_loss::tg_loss;
use super::trust::{all_foreground_dice, pooled_dice, TrustSample};
use crate::data::Augment2d;
use crate::nets::UNet2d;
use burn::tensor::activation::sigmoid;
use burn::tensor::{backend::Backend, Tensor, TensorData};

/// The frozen encoders' outputs for the unlabeled images: patch embeddings `[Bu, N, D]` and the
/// global embedding of each image's own description `[Bu, D]` (unit vectors, no gradient).
#[derive(Debug, Clone)]
pub struct TextInputs<B: Backend> {
    pub patches: Tensor<B, 3>,
    pub texts: Tensor<B, 2>,
    /// The images `[Bu, 3, S, S]` the patches were computed from (the refinement head's input).
    pub images: Tensor<B, 4>,
    /// The transform of each image from that view to the student's (empty: the same view).
    pub to_student: Vec<Augment2d>,
}

/// A8's grounding rows on the labeled images: each row one image as its texts describe it, one
/// prompt, and the mask of what the prompt names (the whole mask for the description; one
/// lesion's for its phrase; empty for a place without one).
#[derive(Debug, Clone)]
pub struct GroundInputs<B: Backend> {
    /// `[R, N, D]`.
    pub patches: Tensor<B, 3>,
    /// `[R, 3, S, S]`.
    pub images: Tensor<B, 4>,
    /// The prompts' vectors `[R, D]`.
    pub texts: Tensor<B, 2>,
    /// `[R, 1, S, S]`, 0/1.
    pub targets: Tensor<B, 4>,
    /// Which rows prompt with the image's own description (the trust is measured on those).
    pub description: Vec<bool>,
}

/// One step's input on the device: `labeled` `[Bl, 3, S, S]` in [0, 1] with 0/1 `masks`
/// `[Bl, 1, S, S]`; `unlabeled` `[Bu, 3, S, S]` (semi-supervised methods) and, for the
/// text-guided method, `text` (and with A8, `ground`).
#[derive(Debug, Clone)]
pub struct SegBatch<B: Backend> {
    pub labeled: Tensor<B, 4>,
    pub masks: Tensor<B, 4>,
    pub unlabeled: Option<Tensor<B, 4>>,
    pub text: Option<TextInputs<B>>,
    pub ground: Option<GroundInputs<B>>,
}

/// The step's losses: the student's, and the TMG's.
#[derive(Debug, Clone)]
pub struct SegLosses<B: Backend> {
    pub student: StudentLosses<B>,
    /// L_tg (text-guided, unless switched off).
    pub tg: Option<Tensor<B, 1>>,
    /// A8's L_ground.
    pub ground: Option<Tensor<B, 1>>,
    /// What trains the TMG this step: `L_tg + λ_g·L_ground` (None: nothing).
    pub tmg: Option<Tensor<B, 1>>,
    /// A8's trust measure of this step.
    pub trust: Option<TrustSample>,
}

/// Maps `[B, C, S, S]` moved from the text's view to the student's, image b by `to[b]`.
pub fn to_student_view<B: Backend>(maps: Tensor<B, 4>, to: &[Augment2d]) -> Tensor<B, 4> {
    if to.iter().all(|a| *a == Augment2d::Identity) {
        return maps;
    }
    let [b, c, h, w] = maps.dims();
    assert_eq!(h, w, "square maps");
    assert_eq!(b, to.len(), "one transform per map");
    let device = maps.device();
    let data: Vec<f32> = maps.into_data().to_vec().expect("f32 maps");
    let n = c * h * w;
    let mut out = Vec::with_capacity(data.len());
    for (i, a) in to.iter().enumerate() {
        out.extend(a.apply(&data[i * n..(i + 1) * n], c, h));
    }
    Tensor::from_data(TensorData::new(out, [b, c, h, w]), &device)
}

fn values<B: Backend>(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("f32 values")
}

/// The losses of one step (see the module header).
pub fn seg_losses<B: Backend>(
    student: &UNet2d<B>,
    teacher: Option<&UNet2d<B>>,
    tmg: Option<&TextMaskGenerator<B>>,
    batch: &SegBatch<B>,
    cfg: &SegConfig,
) -> SegLosses<B> {
    let lb = batch.labeled.dims()[0];
    let unlabeled = match (cfg.method.semi_supervised(), &batch.unlabeled, teacher) {
        (true, Some(u), Some(t)) => Some((u.clone(), t)),
        _ => None,
    };
    let grounded = cfg.grounded();
    let (mut tg, mut text) = (None, None);
    if let (SegMethod::TextGuided, Some(tmg), Some(inputs), Some(_)) =
        (cfg.method, tmg, &batch.text, &unlabeled)
    {
        let v = tmg.dense(inputs.patches.clone());
        if cfg.tg_loss {
            let t = tmg.prompt_vectors(inputs.texts.clone());
            tg = Some(tg_loss(v.clone(), t, tmg.scale()));
        }
        let v = v.detach();
        let z_text = tmg
            .text_logit(v.clone(), inputs.texts.clone(), &inputs.images)
            .detach();
        let y_text = match grounded {
            true => sigmoid(z_text.clone()),
            false => tmg
                .text_mask(v, inputs.texts.clone(), cfg.text_mask, &inputs.images)
                .detach(),
        };
        let (z_text, y_text) = (
            to_student_view(z_text, &inputs.to_student),
            to_student_view(y_text, &inputs.to_student),
        );
        // ω of L_text: A6 always 1; A8 off, or the trust ρ
        let weight = match (cfg.text_branch, cfg.text_loss) {
            (TextBranch::A6, _) => 1.0,
            (TextBranch::Grounded, false) => 0.0,
            (TextBranch::Grounded, true) => tmg.trust_value(),
        };
        text = Some(TextTargets {
            z_text: tmg.fusion(z_text),
            y_text,
            weight,
        });
    }
    let (student, z_labeled) = match unlabeled {
        Some((u, teacher)) => {
            let ub = u.dims()[0];
            let z_t = teacher.forward(u.clone()).detach();
            let z = student.forward(Tensor::cat(vec![batch.labeled.clone(), u], 0));
            let z_l = z.clone().narrow(0, 0, lb);
            let losses = student_loss(
                (z_l.clone(), batch.masks.clone()),
                Some(Unlabeled {
                    student: z.narrow(0, lb, ub),
                    teacher: z_t,
                    text,
                }),
                cfg.student_loss,
                cfg.lambda_u,
                cfg.hard_fuse,
            );
            (losses, z_l)
        }
        None => {
            let z_l = student.forward(batch.labeled.clone());
            let losses = student_loss(
                (z_l.clone(), batch.masks.clone()),
                None,
                cfg.student_loss,
                cfg.lambda_u,
                cfg.hard_fuse,
            );
            (losses, z_l)
        }
    };
    // A8: grounding on the labeled images and the trust's measure
    let (mut ground, mut trust) = (None, None);
    if let (true, Some(tmg), Some(g), Some(_)) = (grounded, tmg, &batch.ground, &batch.text) {
        let z = tmg.text_logit(tmg.dense(g.patches.clone()), g.texts.clone(), &g.images);
        if cfg.ground_weight > 0.0 {
            ground = Some(bce_dice(z.clone(), g.targets.clone()));
        }
        let rows: Vec<usize> = (0..g.description.len())
            .filter(|&i| g.description[i])
            .collect();
        if !rows.is_empty() {
            let pick = |t: Tensor<B, 4>| {
                let idx = Tensor::from_data(
                    TensorData::new(rows.iter().map(|&i| i as i64).collect(), [rows.len()]),
                    &t.device(),
                );
                values(t.detach().select(0, idx))
            };
            let targets = pick(g.targets.clone());
            let masks = values(batch.masks.clone());
            trust = Some(TrustSample {
                text_dice: pooled_dice(&pick(sigmoid(z)), &targets),
                reference_dice: pooled_dice(&values(sigmoid(z_labeled.detach())), &masks),
                baseline_dice: all_foreground_dice(&targets),
            });
        }
    }
    let tmg_loss = match (&tg, &ground) {
        (Some(t), Some(g)) => Some(t.clone() + g.clone() * cfg.ground_weight),
        (Some(t), None) => Some(t.clone()),
        (None, Some(g)) => Some(g.clone() * cfg.ground_weight),
        (None, None) => None,
    };
    SegLosses {
        student,
        tg,
        ground,
        tmg: tmg_loss,
        trust,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amvlm::text_mask::TextMaskConfig;
    use crate::nets::l2_normalize;
    use crate::train::teacher_from;
    use burn::backend::{Autodiff, Flex};
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    type A = Autodiff<Flex>;

    /// The number of parameter tensors that take gradients (not BatchNorm's running statistics).
    fn trainable_tensors<M: burn::module::Module<A>>(m: &M) -> usize {
        struct Count(usize);
        impl burn::module::ModuleVisitor<A> for Count {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<A, D>>) {
                self.0 += p.val().is_require_grad() as usize;
            }
        }
        let mut c = Count(0);
        m.visit(&mut c);
        c.0
    }

    /// L_tg trains only the TMG; the student's loss trains only the student (and neither
    /// reaches the teacher or the frozen inputs).
    #[test]
    fn each_loss_reaches_only_its_own_module() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let cfg = SegConfig {
            width: 2,
            text_branch: TextBranch::A6,
            ..SegConfig::tiny()
        };
        let student = cfg.unet().init::<A>(&dev);
        let teacher = teacher_from(&student);
        let tmg = TextMaskConfig::new(4).init::<A>(&dev);
        let rand = |shape: [usize; 4]| Tensor::<A, 4>::random(shape, Distribution::Default, &dev);
        let batch = SegBatch {
            labeled: rand([2, 3, 16, 16]),
            masks: rand([2, 1, 16, 16]).greater_elem(0.5).float(),
            unlabeled: Some(rand([2, 3, 16, 16])),
            text: Some(TextInputs {
                patches: l2_normalize(Tensor::random([2, 16, 4], Distribution::Default, &dev)),
                texts: l2_normalize(Tensor::random([2, 4], Distribution::Default, &dev)),
                images: rand([2, 3, 16, 16]),
                to_student: Vec::new(),
            }),
            ground: None,
        };
        let l = seg_losses(&student, Some(&teacher), Some(&tmg), &batch, &cfg);
        let tg = l.tg.expect("text-guided with L_tg");
        assert!(l.student.fuse.is_some() && l.student.text.is_some());
        let mut g = tg.backward();
        assert!(GradientsParams::from_module(&mut g, &student).is_empty());
        assert!(GradientsParams::from_module(&mut g, &teacher).is_empty());
        // the decoder's convs, gates and the scale: 2 × (weight, bias, gate) + ℓ
        assert_eq!(GradientsParams::from_module(&mut g, &tmg).len(), 7);
        let mut g = l.student.total.backward();
        assert!(GradientsParams::from_module(&mut g, &tmg).is_empty());
        assert!(GradientsParams::from_module(&mut g, &teacher).is_empty());
        let on_student = GradientsParams::from_module(&mut g, &student).len();
        assert_eq!(on_student, trainable_tensors(&student));
        assert_eq!(
            on_student, 78,
            "18 convs, 4 transposed convs, 17 norms: 2 tensors each"
        );

        // the mean teacher and the supervised baseline have no text term and no L_tg
        for method in [SegMethod::MeanTeacher, SegMethod::Supervised] {
            let c = SegConfig {
                method,
                ..cfg.clone()
            };
            let l = seg_losses(&student, Some(&teacher), Some(&tmg), &batch, &c);
            assert!(l.tg.is_none() && l.student.text.is_none());
            assert_eq!(l.student.fuse.is_some(), method == SegMethod::MeanTeacher);
        }
        // --no-tg-loss: the text terms stay, L_tg goes
        let c = SegConfig {
            tg_loss: false,
            ..cfg
        };
        let l = seg_losses(&student, Some(&teacher), Some(&tmg), &batch, &c);
        assert!(l.tg.is_none() && l.student.text.is_some());
    }

    /// A8: `L_TMG = L_tg + λ_g·L_ground` trains every part of the TMG (decoder, scale,
    /// calibration, adapter, refinement head) and nothing else, and the student's loss none of
    /// it; a TMG fed uninformative (constant) features measures a skill of 0, so the trust stays
    /// 0 and the student's unlabeled loss is exactly the mean teacher's.
    #[test]
    fn grounded_step_trains_the_tmg_and_an_uninformative_one_leaves_the_mean_teacher() {
        let _one = crate::testing::one_backward_at_a_time();
        let dev = Default::default();
        let cfg = SegConfig {
            width: 2,
            ..SegConfig::tiny()
        };
        assert!(
            cfg.grounded() && cfg.trust && !cfg.text_loss,
            "A8 is the default"
        );
        let student = cfg.unet().init::<A>(&dev);
        let teacher = teacher_from(&student);
        let mut tmg = cfg.text_mask_generator(4).init::<A>(&dev);
        let rand = |shape: [usize; 4]| Tensor::<A, 4>::random(shape, Distribution::Default, &dev);
        // constant patch features: every position looks the same
        let constant = |rows: usize| l2_normalize(Tensor::<A, 3>::ones([rows, 16, 4], &dev));
        // sparse targets: a 4×4 square of 16×16
        let square: Vec<f32> = (0..256)
            .map(|i| ((i / 16) < 4 && (i % 16) < 4) as u8 as f32)
            .collect();
        let targets = Tensor::<A, 4>::from_data(
            TensorData::new(
                [square.clone(), square.clone(), square].concat(),
                [3, 1, 16, 16],
            ),
            &dev,
        );
        let batch = SegBatch {
            labeled: rand([2, 3, 16, 16]),
            masks: targets.clone().narrow(0, 0, 2),
            unlabeled: Some(rand([2, 3, 16, 16])),
            text: Some(TextInputs {
                patches: constant(2),
                texts: l2_normalize(Tensor::random([2, 4], Distribution::Default, &dev)),
                images: rand([2, 3, 16, 16]),
                to_student: vec![Augment2d::Rot90Flip { k: 1, axis: 0 }, Augment2d::Identity],
            }),
            ground: Some(GroundInputs {
                patches: constant(3),
                images: rand([3, 3, 16, 16]),
                texts: l2_normalize(Tensor::random([3, 4], Distribution::Default, &dev)),
                targets,
                description: vec![true, false, true],
            }),
        };
        let l = seg_losses(&student, Some(&teacher), Some(&tmg), &batch, &cfg);
        assert!(l.tg.is_some() && l.ground.is_some() && l.student.text.is_none());
        let mut g = l.tmg.clone().expect("L_tg + L_ground").backward();
        assert!(GradientsParams::from_module(&mut g, &student).is_empty());
        assert!(GradientsParams::from_module(&mut g, &teacher).is_empty());
        // decoder 2 × (weight, bias, gate) + ℓ; w, b₀; the adapter; the image head's 5 convs and
        // its modulation × 2; the coordinates' convolution × 2
        assert_eq!(GradientsParams::from_module(&mut g, &tmg).len(), 24);
        let mut g = l.student.total.backward();
        assert!(GradientsParams::from_module(&mut g, &tmg).is_empty());

        // uninformative features: the skill is 0 and ρ (0 at the start) stays 0
        let sample = l.trust.expect("measured on the description rows");
        assert_eq!(sample.ratio(), 0.0, "{sample:?}");
        let mut rho = tmg.trust_value();
        assert_eq!(rho, 0.0);
        for _ in 0..5 {
            rho = crate::amvlm::update_trust(rho, sample, cfg.trust_momentum);
            tmg = tmg.with_trust(rho);
            let l = seg_losses(&student, Some(&teacher), Some(&tmg), &batch, &cfg);
            assert_eq!(l.trust.unwrap().ratio(), 0.0);
        }
        assert_eq!(tmg.trust_value(), 0.0);
        let mean_teacher = SegConfig {
            method: SegMethod::MeanTeacher,
            ..cfg.clone()
        };
        let mt = seg_losses(&student, Some(&teacher), None, &batch, &mean_teacher);
        let ours = seg_losses(&student, Some(&teacher), Some(&tmg), &batch, &cfg);
        let (a, b) = (
            ours.student.total.into_scalar(),
            mt.student.total.into_scalar(),
        );
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        // a trusted text moves the target
        let trusted = seg_losses(
            &student,
            Some(&teacher),
            Some(&tmg.with_trust(1.0)),
            &batch,
            &cfg,
        );
        assert!((trusted.student.total.into_scalar() - b).abs() > 1e-4);
    }

    /// Maps move to the student's view with the image's own transform.
    #[test]
    fn text_maps_follow_the_image() {
        let dev = Default::default();
        let m = Tensor::<Flex, 4>::from_data(
            TensorData::new(vec![1.0f32, 2., 3., 4., 5., 6., 7., 8.], [2, 1, 2, 2]),
            &dev,
        );
        let to = [Augment2d::Rot90Flip { k: 0, axis: 1 }, Augment2d::Identity];
        let got: Vec<f32> = to_student_view(m, &to).into_data().to_vec().unwrap();
        assert_eq!(got, vec![2., 1., 4., 3., 5., 6., 7., 8.]);
    }
}
