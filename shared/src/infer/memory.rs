//! How much memory whole-volume inference needs, estimated before running so that a volume too
//! large for the device gets a message instead of a crash (the browser has at most 4 GiB of wasm
//! memory and a per-buffer limit on WebGPU).
//!
//! The counts are an upper bound of what the page's worker was measured to use on the wasm CPU
//! backend (its memory never shrinks, so its size after a run is the run's peak): the V-Net at 4,
//! 8 and 16 filters on the LA sample and at 4 and 16 filters on a 256³ volume, each within the
//! estimate by 10 to 45% (docs/benchmarks.md, "Memory of the page's CPU backend").

/// Bytes per whole-volume voxel besides the class scores: the input as the worker receives it and
/// zero-padded (f32 each), the window counts (u16) and the labels (u8).
const VOLUME_BYTES_PER_VOXEL: u64 = 4 + 4 + 2 + 1;

/// Full-resolution `n_filters`-channel tensors alive at once in one window's forward pass: the
/// first stage's output kept for its skip, the decoder's up-convolution and the skip sum, and a
/// convolution's output beside its batch norm's.
const WINDOW_FEATURE_TENSORS: u64 = 5;

/// Window-sized single-channel tensors besides those: the cropped input and its tensor, the
/// class probabilities (two classes), and the convolutions' im2col tile (4 MiB, about one).
const WINDOW_PLAIN_TENSORS: u64 = 5;

/// Estimated memory of sliding-window inference with batch 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceMemory {
    /// Whole-volume buffers: the input and its zero-padded copy (f32), the class-score sums (f32
    /// per class), the window counts (u16) and the labels (u8).
    pub volume_bytes: u64,
    /// One window through the V-Net on the CPU: [`WINDOW_FEATURE_TENSORS`] tensors of
    /// n_filters x patch voxels and [`WINDOW_PLAIN_TENSORS`] of patch voxels, f32. (The CPU
    /// convolutions unfold their input in tiles, so the unfolded 27 x n_filters x patch input is
    /// never whole.)
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
        let voxels: u64 = dims.iter().map(|&d| d as u64).product();
        let padded: u64 = (0..3).map(|d| dims[d].max(patch[d]) as u64).product();
        let window: u64 = patch.iter().map(|&p| p as u64).product();
        let f = n_filters as u64;
        InferenceMemory {
            volume_bytes: 4 * voxels + padded * (VOLUME_BYTES_PER_VOXEL - 4 + 4 * n_classes as u64),
            window_bytes: (WINDOW_FEATURE_TENSORS * f + WINDOW_PLAIN_TENSORS) * window * 4,
            largest_tensor_bytes: f * window * 4,
        }
    }

    /// What the CPU backend needs in all: the volume's buffers and one window.
    pub fn cpu_bytes(&self) -> u64 {
        self.volume_bytes + self.window_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_by_hand() {
        // 10x10x10 volume, patch 16³ (padded to 16³ = 4096), 2 filters, 2 classes:
        // input 1000 x 4, padded 4096 x (4 + 8 + 2 + 1), window (5 x 2 + 5) x 4096 x 4
        let m = InferenceMemory::estimate([10, 10, 10], [16, 16, 16], 2, 2);
        assert_eq!(m.volume_bytes, 4000 + 4096 * 15);
        assert_eq!(m.window_bytes, 15 * 4096 * 4);
        assert_eq!(m.largest_tensor_bytes, 2 * 4096 * 4);
        assert_eq!(m.cpu_bytes(), 4000 + 4096 * 15 + 15 * 4096 * 4);
        // a larger volume is not padded: 19 bytes per voxel with two classes
        let m = InferenceMemory::estimate([144, 120, 88], [112, 112, 80], 16, 2);
        assert_eq!(m.volume_bytes, 144 * 120 * 88 * 19);
    }

    #[test]
    fn the_measured_page_runs_are_within_the_estimate() {
        // wasm memory of the page's worker after a CPU run (docs/benchmarks.md): the bound must
        // hold, and not by more than 2x (an estimate that refuses what runs is also wrong)
        let la = [175, 132, 88];
        let cube = [256, 256, 256];
        for (dims, filters, measured_mb) in [
            (la, 4, 99),
            (la, 8, 157),
            (la, 16, 253),
            (cube, 4, 356),
            (cube, 16, 570),
        ] {
            let est = InferenceMemory::estimate(dims, [112, 112, 80], filters, 2).cpu_bytes();
            let measured = measured_mb << 20;
            assert!(est >= measured, "{dims:?} f{filters}: {est} < {measured}");
            assert!(
                est < 2 * measured,
                "{dims:?} f{filters}: {est} >= 2 x {measured}"
            );
        }
    }
}
