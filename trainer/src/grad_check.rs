//! The guard every training step passes before the optimiser: the global gradient norm must be
//! finite. A NaN gradient can come with a finite loss (the NaN weights it makes can read as 0
//! behind a ReLU), and applying it would corrupt the run without a trace.

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ElementConversion;
use semiseg::train::grad_norm;

/// The gradient norm of `module` (logged as `grad_norm`), or an error that stops the run before
/// the update when it is not finite. `at` names the step for the message.
pub fn checked_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
    at: &str,
    loss: f64,
) -> anyhow::Result<f64> {
    let g: f64 = grad_norm::<B, M>(module, grads).into_scalar().elem();
    if !g.is_finite() {
        anyhow::bail!(
            "the gradient norm became {g} at {at} while the loss was {loss}; the update was not \
             applied and the run's checkpoints are intact (train_log.csv has the gradient norm of \
             every step before). This is a numerical instability or a bug in semiseg: please \
             report it with the run folder"
        );
    }
    Ok(g)
}
