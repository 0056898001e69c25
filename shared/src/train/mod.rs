//! Training machinery shared by the methods: the EMA teacher, ramps, learning-rate schedules
//! and the gradient norm.

mod ema;
mod grad_norm;
mod ramp;
mod schedule;

pub use ema::{ema_decay, ema_update, teacher_from};
pub use grad_norm::grad_norm;
pub use ramp::{gaussian_ramp, sigmoid_rampup};
pub use schedule::step_lr;
