//! 3D convolution kernels for the CPU (f32, `[B, C, D, H, W]` row-major): im2col in tiles of
//! output rows, then one matrix product per tile with the `gemm` crate.
//!
//! Why not burn-flex's own: flex 0.21 builds its im2col one element at a time with the channel
//! loop innermost, which for the V-Net's narrow layers (1 to 64 channels) cost more than the
//! products, and its weight gradient is a convolution whose kernel is the whole activation. Here
//! each im2col row is a run of contiguous copies along W, and the weight gradient is a product of
//! the output gradient with the same im2col tiles. Shapes supported (what the V-Net uses):
//! stride 1 with any kernel and padding `p <= k - 1`, and kernel = stride without padding (the
//! V-Net's down and up convolutions). [`ConvGeometry::supported`] says which.
//!
//! Every reduction runs in an order fixed by the shapes alone, so results do not depend on the
//! number of threads (training stays reproducible).

#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

/// Floats of one im2col tile (4 MiB): big enough for efficient products, small enough for caches.
const COL_TILE_FLOATS: usize = 1 << 20;
/// Floats of weight-gradient partial sums kept at once (32 MiB).
const PARTIAL_FLOATS: usize = 1 << 23;

/// The shape of a convolution `x [B, Ci, D, H, W] -> y [B, Co, Do, Ho, Wo]` with kernel `k`,
/// stride `s` and symmetric zero padding `p` (dilation 1, one group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub cin: usize,
    pub cout: usize,
    pub input: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub pad: [usize; 3],
}

impl ConvGeometry {
    /// Output size per axis: `(n + 2p − k)/s + 1` (floor), or `None` if the kernel does not fit.
    pub fn output(&self) -> Option<[usize; 3]> {
        let mut out = [0; 3];
        for (a, o) in out.iter_mut().enumerate() {
            let span = self.input[a] + 2 * self.pad[a];
            if self.kernel[a] == 0 || self.stride[a] == 0 || span < self.kernel[a] {
                return None;
            }
            *o = (span - self.kernel[a]) / self.stride[a] + 1;
        }
        Some(out)
    }

    /// Stride 1 with `p <= k − 1` (its input gradient is again such a convolution), or
    /// kernel = stride without padding (windows tile the input without overlap).
    pub fn supported(&self) -> bool {
        let stride_one = (0..3).all(|a| self.stride[a] == 1 && self.pad[a] < self.kernel[a]);
        let tiling = (0..3).all(|a| self.stride[a] == self.kernel[a] && self.pad[a] == 0);
        self.output().is_some()
            && self.batch > 0
            && self.cin > 0
            && self.cout > 0
            && (stride_one || tiling)
    }

    fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Rows of the im2col matrix: `Ci·kd·kh·kw`.
    fn col_rows(&self) -> usize {
        self.cin * self.taps()
    }

    fn input_plane(&self) -> usize {
        self.input.iter().product()
    }

    fn output_plane(&self) -> usize {
        self.output().expect("checked geometry").iter().product()
    }
}

/// A pointer that parallel tiles write through; each tile writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: the kernels below hand each tile a region no other tile reads or writes.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The element `i` further on.
    ///
    /// # Safety
    /// `i` must lie inside the buffer.
    unsafe fn at(&self, i: usize) -> *mut f32 {
        // SAFETY: as the caller promises.
        unsafe { self.0.add(i) }
    }
}

/// Run `f` on `0..n`, in parallel where threads exist.
fn for_each_tile(n: usize, f: impl Fn(usize) + Send + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    (0..n).into_par_iter().for_each(f);
    #[cfg(target_arch = "wasm32")]
    (0..n).for_each(f);
}

/// Map `f` over `0..n` (in parallel where threads exist), results in index order.
fn map_tiles<T: Send>(n: usize, f: impl Fn(usize) -> T + Send + Sync) -> Vec<T> {
    #[cfg(not(target_arch = "wasm32"))]
    return (0..n).into_par_iter().map(f).collect();
    #[cfg(target_arch = "wasm32")]
    return (0..n).map(f).collect();
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, each operand given by its pointer and (row, column)
/// strides in elements.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: (*mut f32, isize, isize),
    accumulate: bool,
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
) {
    // SAFETY: the caller guarantees the three strided views are in bounds and `dst` does not
    // overlap the operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.2,
            dst.1,
            accumulate,
            lhs.0,
            lhs.2,
            lhs.1,
            rhs.0,
            rhs.2,
            rhs.1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// The output rows (pairs `(d, h)`, each `Wo` long) of one batch item, cut in tiles.
struct Tiles {
    rows: usize,
    rows_per_tile: usize,
    per_item: usize,
}

impl Tiles {
    fn new(rows: usize, row_len: usize, col_rows: usize) -> Self {
        let rows_per_tile = (COL_TILE_FLOATS / (col_rows * row_len).max(1)).clamp(1, rows);
        Tiles {
            rows,
            rows_per_tile,
            per_item: rows.div_ceil(rows_per_tile),
        }
    }

    /// `(batch item, first row, row count)` of tile `t`.
    fn get(&self, t: usize) -> (usize, usize, usize) {
        let (b, i) = (t / self.per_item, t % self.per_item);
        let r0 = i * self.rows_per_tile;
        (b, r0, self.rows_per_tile.min(self.rows - r0))
    }
}

/// Fill `col [Ci·taps, rows·Wo]` with the input values under each kernel tap for output rows
/// `r0..r0+rows` of item `b` (zeros where the tap falls in the padding).
fn im2col(x: &[f32], g: &ConvGeometry, b: usize, r0: usize, rows: usize, col: &mut [f32]) {
    let [d, h, w] = g.input;
    let [_, ho, wo] = g.output().expect("checked geometry");
    let [kd, kh, kw] = g.kernel;
    let [sd, sh, sw] = g.stride;
    let [pd, ph, pw] = g.pad;
    let n = rows * wo;
    let mut row = 0;
    for ci in 0..g.cin {
        let channel = &x[(b * g.cin + ci) * d * h * w..][..d * h * w];
        for a in 0..kd {
            for bb in 0..kh {
                for c in 0..kw {
                    let dst = &mut col[row * n..(row + 1) * n];
                    row += 1;
                    // output columns whose input column iw = wo·sw + c − pw lies inside [0, W)
                    let lo = pw.saturating_sub(c).div_ceil(sw).min(wo);
                    let hi = if w + pw > c {
                        ((w + pw - c - 1) / sw + 1).min(wo)
                    } else {
                        0
                    };
                    for (j, r) in (r0..r0 + rows).enumerate() {
                        let seg = &mut dst[j * wo..(j + 1) * wo];
                        let (od, oh) = (r / ho, r % ho);
                        let id = (od * sd + a).checked_sub(pd).filter(|&v| v < d);
                        let ih = (oh * sh + bb).checked_sub(ph).filter(|&v| v < h);
                        let (Some(id), Some(ih), true) = (id, ih, lo < hi) else {
                            seg.fill(0.0);
                            continue;
                        };
                        let src = &channel[(id * h + ih) * w..][..w];
                        seg[..lo].fill(0.0);
                        seg[hi..].fill(0.0);
                        let first = lo * sw + c - pw;
                        if sw == 1 {
                            seg[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                        } else {
                            for (k, v) in seg[lo..hi].iter_mut().enumerate() {
                                *v = src[first + k * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Is the im2col of `g` the input itself (1×1×1 kernel, stride 1, no padding)?
fn pointwise(g: &ConvGeometry) -> bool {
    g.kernel == [1, 1, 1] && g.stride == [1, 1, 1] && g.pad == [0, 0, 0]
}

/// `y = conv(x, w) + bias`: `x [B, Ci, D, H, W]`, `w [Co, Ci, kd, kh, kw]`, `bias [Co]` ->
/// `y [B, Co, Do, Ho, Wo]`.
pub fn conv_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    let [_, _, wo] = g.output().expect("checked geometry");
    let (k, plane, in_plane) = (g.col_rows(), g.output_plane(), g.input_plane());
    assert_eq!(x.len(), g.batch * g.cin * in_plane, "conv input size");
    assert_eq!(w.len(), g.cout * k, "conv weight size");
    let mut y = vec![0.0f32; g.batch * g.cout * plane];
    if let Some(bias) = bias {
        for (i, ch) in y.chunks_mut(plane).enumerate() {
            ch.fill(bias[i % g.cout]);
        }
    }
    let tiles = Tiles::new(plane / wo, wo, if pointwise(g) { 1 } else { k });
    let out = Shared(y.as_mut_ptr());
    for_each_tile(g.batch * tiles.per_item, |t| {
        let (b, r0, rows) = tiles.get(t);
        let n = rows * wo;
        let dst = (
            // SAFETY: tile t owns columns r0·Wo..(r0+rows)·Wo of every output channel of item b.
            unsafe { out.at(b * g.cout * plane + r0 * wo) },
            plane as isize,
            1,
        );
        if pointwise(g) {
            let src = x[b * g.cin * in_plane + r0 * wo..].as_ptr();
            // SAFETY: w is Co×Ci, the input view Ci×n with row stride in_plane, all in bounds.
            unsafe {
                matmul(
                    g.cout,
                    n,
                    g.cin,
                    dst,
                    true,
                    (w.as_ptr(), k as isize, 1),
                    (src, in_plane as isize, 1),
                )
            };
        } else {
            let mut col = vec![0.0f32; k * n];
            im2col(x, g, b, r0, rows, &mut col);
            // SAFETY: w is Co×K, col is K×n, both dense and in bounds.
            unsafe {
                matmul(
                    g.cout,
                    n,
                    k,
                    dst,
                    true,
                    (w.as_ptr(), k as isize, 1),
                    (col.as_ptr(), n as isize, 1),
                )
            };
        }
    });
    y
}

/// The weight gradient of [`conv_forward`]: `dW [Co, Ci, kd, kh, kw] = Σ dy · im2col(x)ᵀ` over
/// the batch and every output voxel.
pub fn conv_weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let [_, _, wo] = g.output().expect("checked geometry");
    let (k, plane) = (g.col_rows(), g.output_plane());
    assert_eq!(
        dy.len(),
        g.batch * g.cout * plane,
        "conv output-gradient size"
    );
    let tiles = Tiles::new(plane / wo, wo, k);
    let total = g.batch * tiles.per_item;
    // Tiles are summed in fixed chunks, then the chunks in order: deterministic.
    let chunks = (PARTIAL_FLOATS / (g.cout * k)).clamp(1, total);
    let per_chunk = total.div_ceil(chunks);
    let partials = map_tiles(chunks, |c| {
        let mut acc = vec![0.0f32; g.cout * k];
        let mut col = Vec::new();
        for t in c * per_chunk..((c + 1) * per_chunk).min(total) {
            let (b, r0, rows) = tiles.get(t);
            let n = rows * wo;
            col.resize(k * n, 0.0);
            im2col(x, g, b, r0, rows, &mut col);
            let src = dy[b * g.cout * plane + r0 * wo..].as_ptr();
            // SAFETY: dy view Co×n (row stride plane), colᵀ n×K, acc Co×K: all in bounds.
            unsafe {
                matmul(
                    g.cout,
                    k,
                    n,
                    (acc.as_mut_ptr(), k as isize, 1),
                    true,
                    (src, plane as isize, 1),
                    (col.as_ptr(), 1, n as isize),
                )
            };
        }
        acc
    });
    let mut sum = vec![0.0f32; g.cout * k];
    for p in partials {
        sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
    }
    sum
}

/// The transposed convolution whose windows tile the output (kernel = stride, no padding):
/// `y[b, co, d·s+a, h·s+e, w·s+f] = bias[co] + Σ_ci W[ci, co, a, e, f]·x[b, ci, d, h, w]`.
/// `g` is the geometry of the *forward* convolution `y -> x` (its `cin` is `Co` here, `cout` is
/// `Ci`, `input` is y's size), so `w [Ci, Co, k, k, k]` is that convolution's weight.
pub fn conv_transpose_forward(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    assert!(
        g.stride == g.kernel && g.pad == [0, 0, 0],
        "tiling transposed convolution only"
    );
    let [dd, dh, dw] = g.output().expect("checked geometry");
    let (co, ci) = (g.cin, g.cout);
    let [kd, kh, kw] = g.kernel;
    let [yd, yh, yw] = g.input;
    let taps = g.taps();
    let (x_plane, y_plane) = (dd * dh * dw, yd * yh * yw);
    assert_eq!(
        x.len(),
        g.batch * ci * x_plane,
        "transposed conv input size"
    );
    assert_eq!(w.len(), ci * co * taps, "transposed conv weight size");
    // y outside the tiled region (sizes not multiples of the stride) is the bias alone
    let mut y = vec![0.0f32; g.batch * co * y_plane];
    if let Some(bias) = bias {
        for (i, ch) in y.chunks_mut(y_plane).enumerate() {
            ch.fill(bias[i % co]);
        }
    }
    let rows_k = co * taps;
    let tiles = Tiles::new(dd * dh, dw, rows_k);
    let out = Shared(y.as_mut_ptr());
    for_each_tile(g.batch * tiles.per_item, |t| {
        let (b, r0, rows) = tiles.get(t);
        let n = rows * dw;
        // cols [Co·taps, n] = Wᵀ · x_tile, with W viewed as Ci × (Co·taps)
        let mut cols = vec![0.0f32; rows_k * n];
        let src = x[b * ci * x_plane + r0 * dw..].as_ptr();
        // SAFETY: Wᵀ view (Co·taps)×Ci, x view Ci×n (row stride x_plane), cols dense: in bounds.
        unsafe {
            matmul(
                rows_k,
                n,
                ci,
                (cols.as_mut_ptr(), n as isize, 1),
                false,
                (w.as_ptr(), 1, rows_k as isize),
                (src, x_plane as isize, 1),
            )
        };
        for o in 0..co {
            for a in 0..kd {
                for e in 0..kh {
                    for f in 0..kw {
                        let row = &cols[(((o * kd + a) * kh + e) * kw + f) * n..][..n];
                        for (j, r) in (r0..r0 + rows).enumerate() {
                            let (od, oh) = (r / dh, r % dh);
                            let (yz, yy) = (od * kd + a, oh * kh + e);
                            let base = ((b * co + o) * yd + yz) * yh * yw + yy * yw + f;
                            for (q, v) in row[j * dw..(j + 1) * dw].iter().enumerate() {
                                // SAFETY: (od, oh) lie in this tile's rows, so each y voxel
                                // written here belongs to tile t alone.
                                unsafe { *out.at(base + q * kw) += v };
                            }
                        }
                    }
                }
            }
        }
    });
    y
}

/// `w [Co, Ci, kd, kh, kw]` -> `[Ci, Co, kd, kh, kw]` with every kernel mirrored: the weight
/// whose stride-1 convolution (padding `k − 1 − p`) is the input gradient of `w`'s.
pub fn flip_transpose(w: &[f32], cout: usize, cin: usize, kernel: [usize; 3]) -> Vec<f32> {
    let taps: usize = kernel.iter().product();
    let mut out = vec![0.0f32; w.len()];
    for o in 0..cout {
        for i in 0..cin {
            for t in 0..taps {
                out[(i * cout + o) * taps + (taps - 1 - t)] = w[(o * cin + i) * taps + t];
            }
        }
    }
    out
}

/// Sum of `t [B, C, N]` over the batch and N for each channel (a bias gradient).
pub fn channel_sums(t: &[f32], batch: usize, channels: usize) -> Vec<f32> {
    let n = t.len() / (batch * channels).max(1);
    let mut s = vec![0.0f32; channels];
    for (i, ch) in t.chunks(n).enumerate() {
        // f64 accumulation: N is up to millions of voxels
        s[i % channels] += ch.iter().map(|&v| v as f64).sum::<f64>() as f32;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        crate::testing::pseudo_random(n, seed)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    /// Direct float64 convolution (the definition), returning y.
    fn naive(x: &[f32], w: &[f32], bias: &[f32], g: &ConvGeometry) -> Vec<f64> {
        let [d, h, wd] = g.input;
        let o = g.output().unwrap();
        let [kd, kh, kw] = g.kernel;
        let mut y = vec![0.0f64; g.batch * g.cout * o.iter().product::<usize>()];
        for b in 0..g.batch {
            for co in 0..g.cout {
                for z in 0..o[0] {
                    for yy in 0..o[1] {
                        for xx in 0..o[2] {
                            let mut acc = bias[co] as f64;
                            for ci in 0..g.cin {
                                for a in 0..kd {
                                    for e in 0..kh {
                                        for f in 0..kw {
                                            let iz =
                                                (z * g.stride[0] + a) as isize - g.pad[0] as isize;
                                            let iy =
                                                (yy * g.stride[1] + e) as isize - g.pad[1] as isize;
                                            let ix =
                                                (xx * g.stride[2] + f) as isize - g.pad[2] as isize;
                                            if iz < 0
                                                || iy < 0
                                                || ix < 0
                                                || iz >= d as isize
                                                || iy >= h as isize
                                                || ix >= wd as isize
                                            {
                                                continue;
                                            }
                                            let xi = (((b * g.cin + ci) * d + iz as usize) * h
                                                + iy as usize)
                                                * wd
                                                + ix as usize;
                                            let wi =
                                                (((co * g.cin + ci) * kd + a) * kh + e) * kw + f;
                                            acc += x[xi] as f64 * w[wi] as f64;
                                        }
                                    }
                                }
                            }
                            y[(((b * g.cout + co) * o[0] + z) * o[1] + yy) * o[2] + xx] = acc;
                        }
                    }
                }
            }
        }
        y
    }

    fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (*a as f64 - b).abs() <= tol * (1.0 + b.abs()),
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }

    fn geometries() -> Vec<ConvGeometry> {
        let g = |batch, cin, cout, input, kernel, stride, pad| ConvGeometry {
            batch,
            cin,
            cout,
            input,
            kernel,
            stride,
            pad,
        };
        vec![
            g(2, 3, 4, [5, 6, 7], [3, 3, 3], [1, 1, 1], [1, 1, 1]), // V-Net conv block
            g(1, 2, 3, [4, 3, 9], [3, 3, 3], [1, 1, 1], [0, 2, 1]), // uneven padding per axis
            g(2, 3, 5, [6, 4, 8], [2, 2, 2], [2, 2, 2], [0, 0, 0]), // V-Net down
            g(1, 2, 2, [7, 5, 9], [2, 2, 2], [2, 2, 2], [0, 0, 0]), // odd sizes: last voxel unused
            g(2, 4, 3, [3, 4, 5], [1, 1, 1], [1, 1, 1], [0, 0, 0]), // heads
            g(1, 1, 2, [3, 3, 3], [3, 1, 2], [1, 1, 1], [2, 0, 1]), // anisotropic kernel
        ]
    }

    #[test]
    fn geometry_support_and_sizes() {
        for g in geometries() {
            assert!(g.supported(), "{g:?}");
        }
        let mut g = geometries()[0];
        assert_eq!(g.output(), Some([5, 6, 7]));
        g.stride = [2, 2, 2]; // stride 2 with a 3-kernel: overlapping windows, not supported
        assert!(!g.supported());
        g = geometries()[0];
        g.pad = [3, 1, 1]; // p > k − 1
        assert!(!g.supported());
        g = geometries()[2];
        g.input = [1, 4, 8]; // kernel larger than the input
        assert!(g.output().is_none() && !g.supported());
    }

    #[test]
    fn forward_matches_the_definition() {
        for (i, g) in geometries().into_iter().enumerate() {
            let x = values(g.batch * g.cin * g.input_plane(), 1 + i as u64);
            let w = values(g.cout * g.col_rows(), 50 + i as u64);
            let bias = values(g.cout, 99 + i as u64);
            let y = conv_forward(&x, &w, Some(&bias), &g);
            assert_close(
                &y,
                &naive(&x, &w, &bias, &g),
                1e-5,
                &format!("forward {g:?}"),
            );
        }
    }

    /// Gradients of `L = Σ y·p` for a probe p, against the float64 definition: without bias y is
    /// linear in W, so dW[j] = L(W = e_j); dx likewise with unit inputs.
    #[test]
    fn gradients_match_the_definition() {
        for (i, g) in geometries().into_iter().enumerate() {
            let nx = g.batch * g.cin * g.input_plane();
            let nw = g.cout * g.col_rows();
            let ny = g.batch * g.cout * g.output_plane();
            let x = values(nx, 7 + i as u64);
            let w = values(nw, 70 + i as u64);
            let p = values(ny, 700 + i as u64);
            let zero = vec![0.0f32; g.cout];
            let dot = |y: &[f64]| y.iter().zip(&p).map(|(a, b)| a * *b as f64).sum::<f64>();
            // y is linear in W: ∂L/∂W_j = L(W = e_j)
            // L is linear in W and in x: ∂L/∂v_j = L(v = e_j)
            let basis = |n: usize, j: usize| {
                let mut e = vec![0.0f32; n];
                e[j] = 1.0;
                e
            };
            let want_dw: Vec<f64> = (0..nw)
                .map(|j| dot(&naive(&x, &basis(nw, j), &zero, &g)))
                .collect();
            let dw = conv_weight_grad(&x, &p, &g);
            assert_close(&dw, &want_dw, 1e-4, &format!("dW {g:?}"));
            let want_dx: Vec<f64> = (0..nx)
                .map(|j| dot(&naive(&basis(nx, j), &w, &zero, &g)))
                .collect();
            let got_dx = input_grad(&p, &w, &g);
            assert_close(&got_dx, &want_dx, 1e-4, &format!("dx {g:?}"));
            let bias_grad: Vec<f64> = (0..g.cout)
                .map(|c| {
                    p.chunks(g.output_plane())
                        .enumerate()
                        .filter(|(k, _)| k % g.cout == c)
                        .map(|(_, ch)| ch.iter().map(|&v| v as f64).sum::<f64>())
                        .sum()
                })
                .collect();
            assert_close(
                &channel_sums(&p, g.batch, g.cout),
                &bias_grad,
                1e-5,
                "bias grad",
            );
        }
    }

    /// The input gradient the autodiff op computes: a flipped convolution for stride 1, the
    /// tiling transposed convolution for kernel = stride.
    fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let out = g.output().unwrap();
        if g.stride == [1, 1, 1] {
            let back = ConvGeometry {
                cin: g.cout,
                cout: g.cin,
                input: out,
                pad: [0, 1, 2].map(|a| g.kernel[a] - 1 - g.pad[a]),
                ..*g
            };
            conv_forward(dy, &flip_transpose(w, g.cout, g.cin, g.kernel), None, &back)
        } else {
            conv_transpose_forward(dy, w, None, g)
        }
    }

    /// Transposed convolution against the definition: scatter every input voxel.
    #[test]
    fn transposed_forward_matches_the_definition() {
        // the V-Net's up: y [2, 3, 6, 4, 8] from x [2, 5, 3, 2, 4], kernel 2, stride 2
        let g = ConvGeometry {
            batch: 2,
            cin: 3,
            cout: 5,
            input: [7, 4, 9], // odd: the last plane and column get the bias alone
            kernel: [2, 2, 2],
            stride: [2, 2, 2],
            pad: [0, 0, 0],
        };
        let [dd, dh, dw] = g.output().unwrap();
        let x = values(2 * 5 * dd * dh * dw, 3);
        let w = values(5 * 3 * 8, 4);
        let bias = values(3, 5);
        let y = conv_transpose_forward(&x, &w, Some(&bias), &g);
        let mut want = vec![0.0f64; 2 * 3 * 7 * 4 * 9];
        for b in 0..2 {
            for o in 0..3 {
                for v in 0..7 * 4 * 9 {
                    want[(b * 3 + o) * 252 + v] = bias[o] as f64;
                }
                for i in 0..5 {
                    for z in 0..dd {
                        for yy in 0..dh {
                            for xx in 0..dw {
                                for t in 0..8 {
                                    let (a, e, f) = (t / 4, (t / 2) % 2, t % 2);
                                    let yi = (((b * 3 + o) * 7 + 2 * z + a) * 4 + 2 * yy + e) * 9
                                        + 2 * xx
                                        + f;
                                    want[yi] += (w[(i * 3 + o) * 8 + t]
                                        * x[(((b * 5 + i) * dd + z) * dh + yy) * dw + xx])
                                        as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_close(&y, &want, 1e-5, "transposed forward");
    }

    /// Tiles: a layer wide enough to be cut into several tiles gives the same result.
    #[test]
    fn tiling_does_not_change_results() {
        let g = ConvGeometry {
            batch: 1,
            cin: 64,
            cout: 2,
            input: [20, 24, 30],
            kernel: [3, 3, 3],
            stride: [1, 1, 1],
            pad: [1, 1, 1],
        };
        let tiles = Tiles::new(20 * 24, 30, g.col_rows());
        assert!(
            tiles.per_item > 1,
            "the test must cut the layer: {}",
            tiles.per_item
        );
        let x = values(64 * 20 * 24 * 30, 11);
        let w = values(2 * 64 * 27, 12);
        let y = conv_forward(&x, &w, None, &g);
        let want = naive(&x, &w, &[0.0, 0.0], &g);
        assert_close(&y, &want, 1e-4, "tiled forward");
    }
}
