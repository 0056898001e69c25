//! Sliding-window inference of UA-MT `test_single_case` (spec B6): zero-pad a volume smaller than
//! the patch (floor on the left), slide windows with `n = ceil((W − p)/s) + 1` per axis and starts
//! `min(s·i, W − p)`, average the softmax where windows overlap, argmax, crop the padding away.
//!
//! The plan and the accumulator are plain CPU code so the browser can drive its own asynchronous
//! loop with them; [`sliding_window_predict`] is the synchronous native loop.

use crate::data::Grid;
use crate::nets::class_softmax;
use crate::nets::VNet;
use burn::tensor::{backend::Backend, Tensor, TensorData};

/// Where the windows go for a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    /// The volume's dims.
    pub dims: [usize; 3],
    /// Padding before each axis (after = padded − dims − before).
    pub pad_before: [usize; 3],
    /// Dims after padding (at least the patch).
    pub padded: [usize; 3],
    pub patch: [usize; 3],
    /// Window starts in the padded volume.
    pub starts: Vec<[usize; 3]>,
}

impl WindowPlan {
    /// A stride the plan can use with this patch: every axis in `1..=patch` (a larger step would
    /// leave voxels that no window covers). The error says what to pass instead.
    pub fn check_stride(patch: [usize; 3], stride: [usize; 3]) -> Result<(), String> {
        if (0..3).all(|d| (1..=patch[d]).contains(&stride[d])) {
            Ok(())
        } else {
            Err(format!(
                "stride {}x{}x{} does not fit the patch {}x{}x{}: each step must be between 1 and \
                 the patch size on its axis (smaller steps overlap more windows: slower, smoother)",
                stride[0], stride[1], stride[2], patch[0], patch[1], patch[2]
            ))
        }
    }

    /// Whether a volume of `dims` suits a model with this `patch`: an error for a single slice
    /// (a 2D image: the 3D V-Net would see one slice among zeros), a note when a side is smaller
    /// than the patch (zero-padded as B6 does, so the model sees mostly padding), else `None`.
    pub fn fit(dims: [usize; 3], patch: [usize; 3]) -> Result<Option<String>, String> {
        let d = format!("{}×{}×{}", dims[0], dims[1], dims[2]);
        let p = format!("{}×{}×{}", patch[0], patch[1], patch[2]);
        if dims.contains(&1) {
            return Err(format!(
                "the scan is {d} voxels, a single slice: the V-Net segments 3D volumes \
                 (its patch is {p}); open the whole volume"
            ));
        }
        let small: Vec<&str> = ["x", "y", "z"]
            .into_iter()
            .zip(dims.iter().zip(&patch))
            .filter(|(_, (d, p))| d < p)
            .map(|(axis, _)| axis)
            .collect();
        Ok((!small.is_empty()).then(|| {
            format!(
                "the scan ({d}) is smaller than the model's {p} patch along {}: it was zero-padded, \
                 as the literature's sliding window does, so the model saw mostly padding; expect a \
                 poor mask unless the scan is a crop around the structure",
                small.join(", ")
            )
        }))
    }

    pub fn new(dims: [usize; 3], patch: [usize; 3], stride: [usize; 3]) -> Self {
        let pad: [usize; 3] = std::array::from_fn(|d| patch[d].saturating_sub(dims[d]));
        let pad_before = pad.map(|p| p / 2);
        let padded: [usize; 3] = std::array::from_fn(|d| dims[d] + pad[d]);
        let axis = |d: usize| -> Vec<usize> {
            let room = padded[d] - patch[d];
            let n = room.div_ceil(stride[d].max(1)) + 1;
            (0..n).map(|i| (stride[d] * i).min(room)).collect()
        };
        let (xs, ys, zs) = (axis(0), axis(1), axis(2));
        let mut starts = Vec::with_capacity(xs.len() * ys.len() * zs.len());
        for &x in &xs {
            for &y in &ys {
                for &z in &zs {
                    starts.push([x, y, z]);
                }
            }
        }
        WindowPlan {
            dims,
            pad_before,
            padded,
            patch,
            starts,
        }
    }

    /// The zero-padded volume the windows are cut from.
    pub fn pad(&self, image: &Grid<f32>) -> Grid<f32> {
        let after: [usize; 3] =
            std::array::from_fn(|d| self.padded[d] - self.dims[d] - self.pad_before[d]);
        image.pad(self.pad_before, after)
    }
}

/// Sums of per-window class probabilities and the number of windows over each voxel.
#[derive(Debug, Clone)]
pub struct Accumulator {
    plan: WindowPlan,
    classes: usize,
    /// `[K, padded]` C order.
    scores: Vec<f32>,
    counts: Vec<u16>,
}

impl Accumulator {
    pub fn new(plan: &WindowPlan, classes: usize) -> Self {
        let n: usize = plan.padded.iter().product();
        Accumulator {
            plan: plan.clone(),
            classes,
            scores: vec![0.0; classes * n],
            counts: vec![0; n],
        }
    }

    /// Add one window's probabilities `[K, px, py, pz]` (C order) at `start`.
    pub fn add(&mut self, start: [usize; 3], probs: &[f32]) {
        let [px, py, pz] = self.plan.patch;
        let [_, ny, nz] = self.plan.padded;
        let n: usize = self.plan.padded.iter().product();
        assert_eq!(probs.len(), self.classes * px * py * pz, "window size");
        for c in 0..self.classes {
            for x in 0..px {
                for y in 0..py {
                    let src = ((c * px + x) * py + y) * pz;
                    let dst = ((start[0] + x) * ny + start[1] + y) * nz + start[2];
                    let out = &mut self.scores[c * n + dst..c * n + dst + pz];
                    for (o, p) in out.iter_mut().zip(&probs[src..src + pz]) {
                        *o += p;
                    }
                }
            }
        }
        for x in 0..px {
            for y in 0..py {
                let dst = ((start[0] + x) * ny + start[1] + y) * nz + start[2];
                for c in &mut self.counts[dst..dst + pz] {
                    *c += 1;
                }
            }
        }
    }

    /// The flat index in the padded volume of every voxel of the original grid, in C order.
    fn original_voxels(&self) -> impl Iterator<Item = usize> + '_ {
        let [_, ny, nz] = self.plan.padded;
        let [dx, dy, dz] = self.plan.dims;
        let b = self.plan.pad_before;
        (0..dx).flat_map(move |x| {
            (0..dy).flat_map(move |y| {
                (0..dz).map(move |z| ((x + b[0]) * ny + y + b[1]) * nz + z + b[2])
            })
        })
    }

    /// Only the labels (argmax of the averaged scores) on the original grid: what the browser keeps,
    /// without the per-class probability volumes of [`Accumulator::finish`].
    pub fn finish_labels(&self) -> Grid<u8> {
        let n: usize = self.plan.padded.iter().product();
        let labels = self
            .original_voxels()
            .map(|f| {
                // the same averages as `finish`, so both give the same labels bit for bit
                let count = self.counts[f].max(1) as f32;
                let mut best = (0u8, f32::NEG_INFINITY);
                for c in 0..self.classes {
                    let v = self.scores[c * n + f] / count;
                    if v > best.1 {
                        best = (c as u8, v);
                    }
                }
                best.0
            })
            .collect();
        Grid::new(labels, self.plan.dims)
    }

    /// Labels (argmax of the averaged scores) and the averaged probability of each class on the
    /// original grid (`probs[c]`).
    pub fn finish(&self) -> (Grid<u8>, Vec<Grid<f32>>) {
        let n: usize = self.plan.padded.iter().product();
        let dims = self.plan.dims;
        let mut labels = Vec::with_capacity(dims.iter().product());
        let mut probs = vec![Vec::with_capacity(dims.iter().product()); self.classes];
        for f in self.original_voxels() {
            let count = self.counts[f].max(1) as f32;
            let mut best = (0u8, f32::NEG_INFINITY);
            for (c, p) in probs.iter_mut().enumerate() {
                let v = self.scores[c * n + f] / count;
                p.push(v);
                if v > best.1 {
                    best = (c as u8, v);
                }
            }
            labels.push(best.0);
        }
        (
            Grid::new(labels, dims),
            probs.into_iter().map(|p| Grid::new(p, dims)).collect(),
        )
    }
}

/// Segment `image` with `net` (use the inner, non-autodiff model: BatchNorm running statistics,
/// no dropout), `batch` windows per forward pass. `progress(done, total)` is called after each
/// batch. Returns labels and the averaged class probabilities on the image's grid.
pub fn sliding_window_predict<B: Backend>(
    net: &VNet<B>,
    image: &Grid<f32>,
    patch: [usize; 3],
    stride: [usize; 3],
    batch: usize,
    device: &B::Device,
    progress: &mut dyn FnMut(usize, usize),
) -> (Grid<u8>, Vec<Grid<f32>>) {
    let plan = WindowPlan::new(image.dims, patch, stride);
    let padded = plan.pad(image);
    let mut acc: Option<Accumulator> = None;
    let total = plan.starts.len();
    let patch_len: usize = patch.iter().product();
    for (b, chunk) in plan.starts.chunks(batch.max(1)).enumerate() {
        let mut data = Vec::with_capacity(chunk.len() * patch_len);
        for &s in chunk {
            data.extend_from_slice(&padded.crop(s, patch).data);
        }
        let x = Tensor::<B, 5>::from_data(
            TensorData::new(data, [chunk.len(), 1, patch[0], patch[1], patch[2]]),
            device,
        );
        let probs = class_softmax(net.forward(x).seg);
        let classes = probs.dims()[1];
        let values: Vec<f32> = probs
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32 probabilities");
        let acc = acc.get_or_insert_with(|| Accumulator::new(&plan, classes));
        for (i, &s) in chunk.iter().enumerate() {
            let len = classes * patch_len;
            acc.add(s, &values[i * len..(i + 1) * len]);
        }
        progress((b * batch.max(1) + chunk.len()).min(total), total);
    }
    acc.expect("at least one window").finish()
}

/// The browser's loop: [`sliding_window_predict`] one window at a time with asynchronous reads
/// (WebGPU cannot read synchronously), keeping only the labels. `progress(done, total)` runs
/// after each window. Errors are the backend's read errors (e.g. a lost GPU device), in words.
pub async fn sliding_window_labels<B: Backend>(
    net: &VNet<B>,
    image: &Grid<f32>,
    patch: [usize; 3],
    stride: [usize; 3],
    device: &B::Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Grid<u8>, String> {
    let plan = WindowPlan::new(image.dims, patch, stride);
    let padded = plan.pad(image);
    let mut acc: Option<Accumulator> = None;
    let total = plan.starts.len();
    for (i, &s) in plan.starts.iter().enumerate() {
        let x = Tensor::<B, 5>::from_data(
            TensorData::new(
                padded.crop(s, patch).data,
                [1, 1, patch[0], patch[1], patch[2]],
            ),
            device,
        );
        let probs = class_softmax(net.forward(x).seg);
        let classes = probs.dims()[1];
        let values: Vec<f32> = probs
            .into_data_async()
            .await
            .map_err(|e| format!("reading a window's result from the device failed: {e:?}"))?
            .convert::<f32>()
            .to_vec()
            .map_err(|e| format!("unexpected result type: {e:?}"))?;
        acc.get_or_insert_with(|| Accumulator::new(&plan, classes))
            .add(s, &values);
        progress(i + 1, total);
    }
    Ok(acc.expect("a plan has at least one window").finish_labels())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_refuses_a_slice_and_notes_padding() {
        let patch = [112, 112, 80];
        assert_eq!(WindowPlan::fit([175, 132, 88], patch), Ok(None));
        assert_eq!(WindowPlan::fit([112, 112, 80], patch), Ok(None));
        let err = WindowPlan::fit([175, 132, 1], patch).unwrap_err();
        assert!(err.contains("175×132×1 voxels, a single slice"), "{err}");
        let note = WindowPlan::fit([50, 120, 20], patch).unwrap().unwrap();
        assert!(
            note.starts_with(
                "the scan (50×120×20) is smaller than the model's 112×112×80 patch along x, z:"
            ),
            "{note}"
        );
    }

    #[test]
    fn strides_must_cover_every_voxel() {
        assert!(WindowPlan::check_stride([112, 112, 80], [18, 18, 4]).is_ok());
        assert!(WindowPlan::check_stride([112, 112, 80], [112, 112, 80]).is_ok());
        let err = WindowPlan::check_stride([112, 112, 80], [18, 113, 4]).unwrap_err();
        assert!(
            err.contains("18x113x4") && err.contains("112x112x80"),
            "{err}"
        );
        assert!(WindowPlan::check_stride([4, 4, 4], [0, 1, 1]).is_err());
    }

    #[test]
    fn window_counts_follow_ua_mt() {
        // LA-like volume 144x120x88, patch 112x112x80, stride 18x18x4:
        // x: ceil(32/18)+1 = 3, y: ceil(8/18)+1 = 2, z: ceil(8/4)+1 = 3
        let p = WindowPlan::new([144, 120, 88], [112, 112, 80], [18, 18, 4]);
        assert_eq!(p.starts.len(), 18);
        assert_eq!(p.starts.last().unwrap(), &[32, 8, 8]);
        assert!(p.starts.contains(&[18, 0, 4]));
        // smaller than the patch: padded, floor on the left
        let p = WindowPlan::new([100, 112, 75], [112, 112, 80], [18, 18, 4]);
        assert_eq!((p.pad_before, p.padded), ([6, 0, 2], [112, 112, 80]));
        assert_eq!(p.starts, vec![[0, 0, 0]]);
    }

    #[test]
    fn overlapping_windows_are_averaged_and_padding_cropped() {
        // 1D-like: dims 1x1x5, patch 1x1x4 (padded nothing), stride 1 -> windows at z=0 and z=1
        let plan = WindowPlan::new([1, 1, 5], [1, 1, 4], [1, 1, 1]);
        assert_eq!(plan.starts, vec![[0, 0, 0], [0, 0, 1]]);
        let mut acc = Accumulator::new(&plan, 2);
        // class-1 probabilities: window A (z0..3) 0.9 everywhere; window B (z1..4) 0.2 everywhere
        acc.add([0, 0, 0], &[0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9]);
        acc.add([0, 0, 1], &[0.8, 0.8, 0.8, 0.8, 0.2, 0.2, 0.2, 0.2]);
        let (labels, probs) = acc.finish();
        let p1 = &probs[1].data;
        let want = [0.9, 0.55, 0.55, 0.55, 0.2];
        for (a, b) in p1.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{p1:?}");
        }
        assert_eq!(labels.data, vec![1, 1, 1, 1, 0]);
        assert_eq!(acc.finish_labels(), labels);
    }

    #[test]
    fn predict_runs_end_to_end_on_a_tiny_vnet() {
        use crate::nets::VNetConfig;
        use burn::backend::Flex;
        let dev = Default::default();
        let net: VNet<Flex> = VNetConfig::new().with_n_filters(2).init(&dev);
        let img = Grid::new(vec![0.5f32; 20 * 18 * 16], [20, 18, 16]);
        let mut calls = 0;
        let (labels, probs) =
            sliding_window_predict(&net, &img, [16, 16, 16], [4, 4, 4], 2, &dev, &mut |_, _| {
                calls += 1
            });
        assert_eq!(labels.dims, [20, 18, 16]);
        assert_eq!(probs.len(), 2);
        // windows: x ceil(4/4)+1 = 2, y ceil(2/4)+1 = 2, z 1 -> 4, in 2 batches of 2
        assert_eq!(calls, 2);
        let sum: f32 = probs[0].data[0] + probs[1].data[0];
        assert!((sum - 1.0).abs() < 1e-5);

        // the browser's asynchronous loop gives the same labels, one window at a time
        let mut seen = Vec::new();
        let mut record = |d, t| seen.push((d, t));
        let fut = sliding_window_labels(&net, &img, [16, 16, 16], [4, 4, 4], &dev, &mut record);
        let async_labels = block_on(fut).unwrap();
        assert_eq!(async_labels, labels);
        assert_eq!(seen, vec![(1, 4), (2, 4), (3, 4), (4, 4)]);
    }

    /// Poll a future that never waits (the CPU backend's reads are ready at once).
    fn block_on<F: std::future::Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
