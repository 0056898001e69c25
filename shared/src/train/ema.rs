//! The EMA teacher (spec B5 step 5): `θ_t ← a·θ_t + (1−a)·θ_s`, `a = min(1 − 1/(step+1), decay)`.
//! Parameters are matched by id (the teacher starts as a copy of the student), and BatchNorm
//! running statistics are averaged the same way (B5 [P]). The same update keeps AMVLM's momentum
//! encoders (A2) and the mean teacher of A6.
//!
//! Teacher and student share nothing mutable. burn's `RunningState` (BatchNorm's running mean and
//! variance) is an `Arc<Mutex<_>>` that `clone()` shares and `map` writes in place, so a teacher
//! made with `student.clone()` would update the *student's* statistics with every train-mode
//! forward, and the EMA of the statistics would average them with themselves. [`teacher_from`]
//! therefore goes through the inner backend (`valid` then `from_inner`), which builds every running
//! state anew with the same id.

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use std::collections::HashMap;

/// The EMA coefficient at `step` (0-based): warm-up `1 − 1/(step+1)` capped at `decay`.
pub fn ema_decay(step: usize, decay: f64) -> f64 {
    (1.0 - 1.0 / (step as f64 + 1.0)).min(decay)
}

struct Collect<B: Backend> {
    params: HashMap<ParamId, Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val().detach();
        let n = t.shape().num_elements();
        self.params.insert(param.id, t.reshape([n]));
    }
}

struct Blend<B: Backend> {
    student: HashMap<ParamId, Tensor<B, 1>>,
    a: f64,
    missing: usize,
}

impl<B: Backend> ModuleMapper<B> for Blend<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, teacher, mapper) = param.consume();
        let teacher = teacher.detach();
        let value = match self.student.get(&id) {
            Some(s) => {
                teacher.clone() * self.a + s.clone().reshape(teacher.shape()) * (1.0 - self.a)
            }
            None => {
                self.missing += 1;
                teacher
            }
        };
        Param::from_mapped_value(id, value.set_require_grad(false), mapper)
    }
}

/// A teacher that is an exact, independent copy of `student`: the same parameter ids and values,
/// its own BatchNorm running statistics, no gradients.
///
/// (A plain `clone()` is not enough: it shares the running statistics (see the module header),
/// and burn initialises parameters lazily, so a clone taken before the first use would draw its
/// own random values; `valid` initialises them.)
pub fn teacher_from<B: AutodiffBackend, M: AutodiffModule<B>>(student: &M) -> M {
    M::from_inner(student.valid()).no_grad()
}

/// Settle the running statistics of `module`: a train-mode forward leaves its newest BatchNorm
/// update pending (`RunningState::update`), where visiting and mapping do not see it, and where
/// it would overwrite a value written by `map` at the next forward. Turning a (shallow) clone into
/// a record folds the pending updates into the values the clone shares with `module`.
fn settle_running_states<B: Backend, M: Module<B>>(module: &M) {
    let _ = module.clone().into_record();
}

/// Move `teacher` towards `student` with coefficient `a`. Returns the updated teacher; every
/// teacher tensor must have a student twin (an `Err` names how many did not).
pub fn ema_update<B: Backend, M: Module<B>>(teacher: M, student: &M, a: f64) -> Result<M, String> {
    settle_running_states(student);
    settle_running_states(&teacher);
    let mut collect = Collect {
        params: HashMap::new(),
    };
    student.visit(&mut collect);
    let mut blend = Blend {
        student: collect.params,
        a,
        missing: 0,
    };
    let teacher = teacher.map(&mut blend);
    if blend.missing > 0 {
        return Err(format!(
            "{} teacher tensors have no student twin (the teacher must start as a clone of the student)",
            blend.missing
        ));
    }
    Ok(teacher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::{BatchNorm, BatchNormConfig};
    use burn::backend::{Autodiff, Flex};
    use burn::module::RunningState;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::TensorData;

    type A = Autodiff<Flex>;

    fn values(state: &RunningState<Tensor<A, 1>>) -> Vec<f32> {
        state.value_sync().into_data().to_vec().unwrap()
    }

    fn close(got: &[f32], want: &[f32]) -> bool {
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6)
    }

    /// The SimCVD issue's bug: the teacher shared the student's BatchNorm running statistics.
    /// By hand: x (B=2, C=3, N=2) has channel means [4, 1, −2] and biased variances [5, 1, 1], so
    /// one train-mode forward (momentum 0.1) takes the statistics from (0, 1) to [0.4, 0.1, −0.2]
    /// and [1.4, 1.0, 1.0]; y = 2x + 1 has means [9, 3, −3] and variances [20, 4, 4], giving
    /// [0.9, 0.3, −0.3] and [2.9, 1.3, 1.3].
    #[test]
    fn teacher_and_student_keep_their_own_running_statistics() {
        let dev = Default::default();
        let x = Tensor::<A, 3>::from_data(
            TensorData::new(
                vec![1.0f32, 3., 0., 0., -1., -1., 5., 7., 2., 2., -3., -3.],
                [2, 3, 2],
            ),
            &dev,
        );
        let y = x.clone() * 2.0 + 1.0;
        let student: BatchNorm<A> = BatchNormConfig::new(3).init(&dev);
        let teacher = teacher_from(&student);

        let _ = teacher.forward(x);
        assert!(close(&values(&teacher.running_mean), &[0.4, 0.1, -0.2]));
        assert!(close(&values(&teacher.running_var), &[1.4, 1.0, 1.0]));
        // the student has not seen a batch
        assert!(close(&values(&student.running_mean), &[0.0; 3]));
        assert!(close(&values(&student.running_var), &[1.0; 3]));

        let _ = student.forward(y);
        assert!(close(&values(&student.running_mean), &[0.9, 0.3, -0.3]));
        assert!(close(&values(&student.running_var), &[2.9, 1.3, 1.3]));
        assert!(close(&values(&teacher.running_mean), &[0.4, 0.1, -0.2]));

        // B5: the statistics follow the EMA too, 0.75·teacher + 0.25·student, and the update is
        // not undone by the teacher's pending running-state update at its next read
        let teacher = ema_update(teacher, &student, 0.75).unwrap();
        let (m, v) = (values(&teacher.running_mean), values(&teacher.running_var));
        assert!(close(&m, &[0.525, 0.15, -0.225]), "{m:?}");
        assert!(close(&v, &[1.775, 1.075, 1.075]), "{v:?}");
        // ... and the student's are left alone
        assert!(close(&values(&student.running_mean), &[0.9, 0.3, -0.3]));
        // the copy has the student's parameter values and no gradients
        assert!(!teacher.gamma.val().is_require_grad());
    }

    /// The EMA right after train-mode forwards, as in a training step: burn keeps each forward's
    /// running-statistics update pending until the next read, and the EMA must see (and keep)
    /// them. The same hand values as above.
    #[test]
    fn the_ema_sees_the_statistics_of_the_forwards_just_run() {
        let dev = Default::default();
        let x = Tensor::<A, 3>::from_data(
            TensorData::new(
                vec![1.0f32, 3., 0., 0., -1., -1., 5., 7., 2., 2., -3., -3.],
                [2, 3, 2],
            ),
            &dev,
        );
        let student: BatchNorm<A> = BatchNormConfig::new(3).init(&dev);
        let teacher = teacher_from(&student);
        let _ = student.forward(x.clone() * 2.0 + 1.0);
        let _ = teacher.forward(x);
        let teacher = ema_update(teacher, &student, 0.75).unwrap();
        let (m, v) = (values(&teacher.running_mean), values(&teacher.running_var));
        assert!(close(&m, &[0.525, 0.15, -0.225]), "{m:?}");
        assert!(close(&v, &[1.775, 1.075, 1.075]), "{v:?}");
    }

    #[test]
    fn blends_every_parameter() {
        let dev = Default::default();
        let student: Linear<A> = LinearConfig::new(2, 3).init(&dev);
        let teacher = teacher_from(&student);
        let same: Vec<f32> = (student.weight.val() - teacher.weight.val())
            .into_data()
            .to_vec()
            .unwrap();
        assert!(same.iter().all(|&d| d == 0.0));
        let student = student.map(&mut Shift(1.0));
        let teacher = ema_update(teacher, &student, 0.75).unwrap();
        let ds: Vec<f32> = (student.weight.val() - teacher.weight.val())
            .into_data()
            .to_vec()
            .unwrap();
        // teacher = 0.75·w + 0.25·(w + 1) = w + 0.25, student − teacher = 0.75
        assert!(ds.iter().all(|d| (d - 0.75).abs() < 1e-6), "{ds:?}");
        assert_eq!(ema_decay(0, 0.999), 0.0);
        assert_eq!(ema_decay(1, 0.999), 0.5);
        assert_eq!(ema_decay(100_000, 0.999), 0.999);
        let other: Linear<A> = LinearConfig::new(2, 3).init(&dev);
        assert!(ema_update(other, &student, 0.5).is_err());
    }

    struct Shift(f64);
    impl ModuleMapper<A> for Shift {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<A, D>>) -> Param<Tensor<A, D>> {
            let (id, t, m) = p.consume();
            Param::from_mapped_value(id, t + self.0, m)
        }
    }
}
