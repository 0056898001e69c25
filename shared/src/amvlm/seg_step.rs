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

use super::seg_config::{SegConfig, SegMethod};
use super::student_loss::{student_loss, StudentLosses, Unlabeled};
use super::text_mask::TextMaskGenerator;
use super::tg_loss::tg_loss;
use crate::nets::UNet2d;
use burn::tensor::{backend::Backend, Tensor};

/// The frozen encoders' outputs for the unlabeled images: patch embeddings `[Bu, N, D]` and the
/// global embedding of each image's own description `[Bu, D]` (unit vectors, no gradient).
#[derive(Debug, Clone)]
pub struct TextInputs<B: Backend> {
    pub patches: Tensor<B, 3>,
    pub texts: Tensor<B, 2>,
}

/// One step's input on the device: `labeled` `[Bl, 3, S, S]` in [0, 1] with 0/1 `masks`
/// `[Bl, 1, S, S]`; `unlabeled` `[Bu, 3, S, S]` (semi-supervised methods) and, for the
/// text-guided method, `text`.
#[derive(Debug, Clone)]
pub struct SegBatch<B: Backend> {
    pub labeled: Tensor<B, 4>,
    pub masks: Tensor<B, 4>,
    pub unlabeled: Option<Tensor<B, 4>>,
    pub text: Option<TextInputs<B>>,
}

/// The step's losses: the student's, and the TMG's L_tg (text-guided, unless switched off).
#[derive(Debug, Clone)]
pub struct SegLosses<B: Backend> {
    pub student: StudentLosses<B>,
    pub tg: Option<Tensor<B, 1>>,
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
    let [_, _, h, w] = batch.labeled.dims();
    let unlabeled = match (cfg.method.semi_supervised(), &batch.unlabeled, teacher) {
        (true, Some(u), Some(t)) => Some((u.clone(), t)),
        _ => None,
    };
    let (mut tg, mut text) = (None, None);
    if let (SegMethod::TextGuided, Some(tmg), Some(inputs), Some(_)) =
        (cfg.method, tmg, &batch.text, &unlabeled)
    {
        let v = tmg.dense(inputs.patches.clone());
        if cfg.tg_loss {
            tg = Some(tg_loss(v.clone(), inputs.texts.clone(), tmg.scale()));
        }
        let v = v.detach();
        let y_text = tmg.text_mask(v.clone(), inputs.texts.clone(), cfg.text_mask, [h, w]);
        let z_text = tmg.text_logit(v, inputs.texts.clone(), [h, w]);
        text = Some((z_text, y_text));
    }
    let student = match unlabeled {
        Some((u, teacher)) => {
            let ub = u.dims()[0];
            let z_t = teacher.forward(u.clone()).detach();
            let z = student.forward(Tensor::cat(vec![batch.labeled.clone(), u], 0));
            student_loss(
                (z.clone().narrow(0, 0, lb), batch.masks.clone()),
                Some(Unlabeled {
                    student: z.narrow(0, lb, ub),
                    teacher: z_t,
                    text,
                }),
                cfg.student_loss,
                cfg.lambda_u,
                cfg.hard_fuse,
            )
        }
        None => student_loss(
            (student.forward(batch.labeled.clone()), batch.masks.clone()),
            None,
            cfg.student_loss,
            cfg.lambda_u,
            cfg.hard_fuse,
        ),
    };
    SegLosses { student, tg }
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
            }),
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
}
