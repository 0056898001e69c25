//! How much memory whole-volume inference needs, estimated before running so that a volume too
//! large for the device gets a message instead of a crash (the browser has at most 4 GiB of wasm
//! memory and a per-buffer limit on WebGPU).

/// Estimated memory of sliding-window inference with batch 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceMemory {
    /// Whole-volume buffers: the zero-padded input (f32), the class-score sums (f32 per class),
    /// the window counts (u16) and the labels (u8).
    pub volume_bytes: u64,
    /// One window through the V-Net: the first stage's activations, kept for its skip and
    /// recomputed through its convolutions, plus the 3³ unfolded input of a full-resolution
    /// convolution (27 x n_filters x patch voxels, f32) that a CPU convolution builds.
    pub window_bytes: u64,
    /// The largest single tensor (first-stage activations, f32): what a GPU buffer must hold.
    pub largest_tensor_bytes: u64,
}

impl InferenceMemory {
    pub fn estimate(
        dims: [usize; 3],
        patch: [usize; 3],
        n_filters: usize,
        n_classes: usize,
    ) -> Self {
        let padded: u64 = (0..3).map(|d| dims[d].max(patch[d]) as u64).product();
        let window: u64 = patch.iter().map(|&p| p as u64).product();
        let f = n_filters as u64;
        InferenceMemory {
            volume_bytes: padded * (4 + 4 * n_classes as u64 + 2 + 1),
            // stage-1 output + skip + two conv buffers (4 x f x V) and the unfolded input (27 x f x V)
            window_bytes: (4 + 27) * f * window * 4,
            largest_tensor_bytes: f * window * 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_by_hand() {
        // 10x10x10 volume, patch 16³ (padded to 16³ = 4096), 2 filters, 2 classes
        let m = InferenceMemory::estimate([10, 10, 10], [16, 16, 16], 2, 2);
        assert_eq!(m.volume_bytes, 4096 * (4 + 8 + 2 + 1));
        assert_eq!(m.window_bytes, 31 * 2 * 4096 * 4);
        assert_eq!(m.largest_tensor_bytes, 2 * 4096 * 4);
        // a larger volume is not padded
        let m = InferenceMemory::estimate([144, 120, 88], [112, 112, 80], 16, 2);
        assert_eq!(m.volume_bytes, 144 * 120 * 88 * 15);
    }
}
