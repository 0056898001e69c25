//! The trainable parts of a SimCVD run: the V-Net with its SDM head, and the projection head.

use super::config::SimcvdConfig;
use super::projection::{ProjectionHead, ProjectionHeadConfig};
use crate::nets::{VNet, VNetConfig};
use burn::module::Module;
use burn::tensor::backend::Backend;

/// Student (or EMA teacher) of SimCVD.
#[derive(Module, Debug)]
pub struct SimcvdModel<B: Backend> {
    pub net: VNet<B>,
    /// Present when the boundary-aware contrast is on.
    pub head: Option<ProjectionHead<B>>,
}

impl SimcvdConfig {
    /// The V-Net of this configuration (2 classes, SDM head when `use_sdm`).
    pub fn vnet(&self) -> VNetConfig {
        VNetConfig::new()
            .with_n_filters(self.n_filters)
            .with_dropout(self.dropout)
            .with_sdm_head(self.use_sdm)
    }

    /// A freshly initialised model.
    pub fn init_model<B: Backend>(&self, device: &B::Device) -> SimcvdModel<B> {
        SimcvdModel {
            net: self.vnet().init(device),
            head: self.use_contrast.then(|| {
                ProjectionHeadConfig::new()
                    .with_pool(self.proj_pool)
                    .with_hidden(self.proj_hidden.clone())
                    .with_out(self.proj_out)
                    .with_dropout(self.proj_dropout)
                    .init(device)
            }),
        }
    }
}
