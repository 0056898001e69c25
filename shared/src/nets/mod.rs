//! Networks (burn modules, generic over the `Backend`): the V-Net of SimCVD (spec B2), the BERT
//! text encoder of AMVLM (spec A2), the dropout variants they need, and a safetensors reader for
//! pretrained weights (spec C).

mod alpha_dropout;
mod bert;
mod bert_weights;
mod dropout3d;
mod safetensors_reader;
mod vnet;

pub use alpha_dropout::{AlphaDropout, AlphaDropoutConfig};
pub use bert::{Bert, BertConfig, BertError, BertOutput, MASKED_SCORE};
pub use dropout3d::{Dropout3d, Dropout3dConfig};
pub use safetensors_reader::{SafetensorsError, SafetensorsReader};
pub use vnet::{VNet, VNetConfig, VNetOutput};
