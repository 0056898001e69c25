//! Training machinery shared by the methods: the EMA teacher, ramps and learning-rate schedules.

mod ema;
mod ramp;
mod schedule;

pub use ema::{ema_decay, ema_update, teacher_from};
pub use ramp::{gaussian_ramp, sigmoid_rampup};
pub use schedule::step_lr;
