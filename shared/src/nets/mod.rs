//! Networks (burn modules, generic over the `Backend`): the V-Net of SimCVD (spec B2), the
//! dropout variants and the CPU-friendly batch norm it needs; AMVLM's encoders (spec A2): the ViT
//! image encoder, the BERT text encoder, the attention they expose, and a safetensors reader for
//! pretrained weights (spec C); LViT's 2D UNet, AMVLM's segmenter (spec A6).

mod alpha_dropout;
pub mod attention;
mod batch_norm;
mod bert;
mod bert_weights;
mod class_softmax;
mod conv;
pub use conv::{conv2d, conv_transpose2d};
mod cpu_conv;
mod dropout3d;
mod l2_normalize;
mod safetensors_reader;
mod unet2d;
pub mod vit;
mod vit_weights;
mod vnet;

pub use alpha_dropout::{AlphaDropout, AlphaDropoutConfig};
pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use bert::{Bert, BertConfig, BertError, BertOutput, MASKED_SCORE};
pub use class_softmax::{class_log_softmax, class_softmax};
pub use dropout3d::{Dropout3d, Dropout3dConfig};
pub use l2_normalize::l2_normalize;
pub use safetensors_reader::{SafetensorsError, SafetensorsReader};
pub use unet2d::{UNet2d, UNet2dConfig};
pub use vit::{Vit, VitConfig, VitOutput};
pub use vit_weights::VitWeightsError;
pub use vnet::{VNet, VNetConfig, VNetOutput};
