//! Compute backends: CUDA (burn-cuda), wgpu, and the CPU (burn-flex). The default, `auto`, is
//! CUDA where its driver loads and the CPU elsewhere, so every command works on a laptop without
//! a flag; commands say which backend ran. An explicitly named backend that has no device here is
//! a clear error, never a panic inside a driver library.

use clap::ValueEnum;

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// CUDA when its driver and runtime compiler load here, else the CPU (wgpu only when asked).
    Auto,
    /// NVIDIA GPU through CUDA (needs the NVIDIA driver's libcuda and libnvrtc at run time).
    Cuda,
    /// GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
    /// CPU (burn-flex): small configurations, tests, smoke runs.
    Cpu,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Auto => "auto",
            BackendKind::Cuda => "cuda",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cpu => "cpu",
        })
    }
}

/// The backend a command runs on: `auto` resolved, a named one checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// Never `Auto`.
    pub kind: BackendKind,
    /// Whether `auto` chose it (the line users see says so).
    pub by_auto: bool,
}

impl std::fmt::Display for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.by_auto, self.kind) {
            (false, kind) => write!(f, "{kind}"),
            (true, BackendKind::Cuda) => f.write_str("cuda (--backend auto: CUDA found)"),
            (true, kind) => write!(
                f,
                "{kind} (--backend auto: no usable CUDA here; --backend cuda says why)"
            ),
        }
    }
}

/// Resolve `auto` (CUDA when [`check`] passes for it, else the CPU) or check a named backend.
pub fn select(kind: BackendKind) -> anyhow::Result<Selected> {
    match kind {
        BackendKind::Auto => Ok(Selected {
            kind: if check_cuda().is_ok() {
                BackendKind::Cuda
            } else {
                BackendKind::Cpu
            },
            by_auto: true,
        }),
        kind => check(kind).map(|()| Selected {
            kind,
            by_auto: false,
        }),
    }
}

/// Check that `kind` can run here before any tensor touches it. cudarc panics when libcuda is
/// missing, so it is probed first; wgpu panics without an adapter, so its probe runs a tiny op
/// behind `catch_unwind`. `auto` always can (it falls back to the CPU).
pub fn check(kind: BackendKind) -> anyhow::Result<()> {
    match kind {
        BackendKind::Auto | BackendKind::Cpu => Ok(()),
        BackendKind::Cuda => check_cuda(),
        BackendKind::Wgpu => check_wgpu(),
    }
}

#[cfg(feature = "cuda")]
fn check_cuda() -> anyhow::Result<()> {
    let found = ["libcuda.so.1", "libcuda.so", "nvcuda.dll"]
        .iter()
        // SAFETY: loading the NVIDIA driver library runs no code of ours; it is unloaded at once.
        .any(|&name| unsafe { libloading::Library::new(name) }.is_ok());
    if !found {
        anyhow::bail!(
            "--backend cuda: no CUDA driver here (libcuda.so not found). Install the NVIDIA driver, \
             or use --backend wgpu or --backend cpu"
        );
    }
    let nvrtc = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
        .iter()
        // SAFETY: as above.
        .any(|&name| unsafe { libloading::Library::new(name) }.is_ok());
    if !nvrtc {
        anyhow::bail!(
            "--backend cuda: the CUDA runtime compiler (libnvrtc.so) is not found. Install the CUDA \
             toolkit or the nvidia-cuda-nvrtc package and put its lib folder on LD_LIBRARY_PATH"
        );
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn check_cuda() -> anyhow::Result<()> {
    anyhow::bail!("--backend cuda: this semiseg was built without the `cuda` feature")
}

#[cfg(feature = "wgpu")]
fn check_wgpu() -> anyhow::Result<()> {
    use burn::backend::wgpu::{Wgpu, WgpuDevice};
    use burn::tensor::Tensor;
    let ok = std::panic::catch_unwind(|| {
        let t = Tensor::<Wgpu, 1>::from_floats([1.0, 2.0], &WgpuDevice::default());
        t.sum().into_scalar()
    });
    match ok {
        Ok(3.0) => Ok(()),
        _ => anyhow::bail!(
            "--backend wgpu: no usable GPU adapter (Vulkan/Metal/DX12) here; use --backend cuda or --backend cpu"
        ),
    }
}

#[cfg(not(feature = "wgpu"))]
fn check_wgpu() -> anyhow::Result<()> {
    anyhow::bail!("--backend wgpu: this semiseg was built without the `wgpu` feature")
}

/// Run `$body` with `$B` bound to the autodiff backend of `$kind` (`auto` resolved as [`select`]
/// does) and `$device` to its device.
#[macro_export]
macro_rules! with_backend {
    ($kind:expr, |$B:ident, $device:ident| $body:expr) => {{
        match $crate::backend::select($kind)?.kind {
            $crate::backend::BackendKind::Cpu => {
                type $B = burn::backend::Autodiff<burn::backend::Flex>;
                let $device = burn::backend::flex::FlexDevice;
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::backend::BackendKind::Cuda => {
                type $B = burn::backend::Autodiff<burn::backend::Cuda>;
                let $device = burn::backend::cuda::CudaDevice::default();
                $body
            }
            #[cfg(feature = "wgpu")]
            $crate::backend::BackendKind::Wgpu => {
                type $B = burn::backend::Autodiff<burn::backend::Wgpu>;
                let $device = burn::backend::wgpu::WgpuDevice::default();
                $body
            }
            #[allow(unreachable_patterns)]
            other => anyhow::bail!("backend {other} is not built in"),
        }
    }};
}
