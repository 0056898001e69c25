//! The EMA teacher (spec B5 step 5): `θ_t ← a·θ_t + (1−a)·θ_s`, `a = min(1 − 1/(step+1), decay)`.
//! Parameters are matched by id (the teacher starts as a clone of the student), and BatchNorm
//! running statistics are averaged the same way (B5 [P]).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{backend::Backend, Tensor};
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

/// A teacher that is an exact copy of `student`, with the same parameter ids and no gradients.
///
/// (A plain `clone()` is not enough: burn initialises parameters lazily, and a clone taken before
/// the first use draws its own random values.)
pub fn teacher_from<B: Backend, M: Module<B>>(student: &M) -> M {
    ema_update(student.clone(), student, 0.0)
        .expect("a clone has the same parameter ids")
        .no_grad()
}

/// Move `teacher` towards `student` with coefficient `a`. Returns the updated teacher; every
/// teacher tensor must have a student twin (an `Err` names how many did not).
pub fn ema_update<B: Backend, M: Module<B>>(teacher: M, student: &M, a: f64) -> Result<M, String> {
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
    use burn::backend::Flex;
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn blends_every_parameter() {
        let dev = Default::default();
        let student: Linear<Flex> = LinearConfig::new(2, 3).init(&dev);
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
        let other: Linear<Flex> = LinearConfig::new(2, 3).init(&dev);
        assert!(ema_update(other, &student, 0.5).is_err());
    }

    struct Shift(f64);
    impl ModuleMapper<Flex> for Shift {
        fn map_float<const D: usize>(
            &mut self,
            p: Param<Tensor<Flex, D>>,
        ) -> Param<Tensor<Flex, D>> {
            let (id, t, m) = p.consume();
            Param::from_mapped_value(id, t + self.0, m)
        }
    }
}
