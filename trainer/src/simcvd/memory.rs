//! Memory of a SimCVD training step on the CPU backend, estimated before the first step, so that a
//! patch or a width too large for the machine is a message instead of an allocation failure that
//! aborts the process (or a machine that swaps for hours).
//!
//! The constants are fitted to the peak RSS of `semiseg bench simcvd` on the CPU (2 + 2 patches,
//! student and EMA teacher, forward and backward; docs/benchmarks.md): 4.85 GiB at 16 filters,
//! 2.64 GiB at 8 and 1.50 GiB at 4 on 112x112x80 patches, 0.44 GiB at 4 filters on 64x64x48. The
//! loaded volumes are not part of it: they are already in memory when the check runs.

use crate::backend::BackendKind;
use semiseg::simcvd::SimcvdConfig;

/// Bytes per feature voxel (one filter of one patch voxel of one sample of the batch): the
/// activations the backward pass keeps, their gradients and the im2col tiles. The slope between
/// the 16-, 8- and 4-filter rows (74 and 76 bytes).
const BYTES_PER_FEATURE_VOXEL: f64 = 76.0;

/// Bytes per patch voxel per sample besides the features: the input, labels, SDM, class scores
/// and the losses' per-voxel tensors.
const BYTES_PER_VOXEL: f64 = 61.0;

/// The process itself (code, allocator, thread pools).
const FIXED_BYTES: f64 = 0.16e9;

/// Estimated peak bytes of one training step with `samples` patches (labeled + unlabeled).
pub fn step_bytes(patch: [usize; 3], n_filters: usize, samples: usize) -> u64 {
    let voxels = patch.iter().map(|&p| p as f64).product::<f64>() * samples as f64;
    (voxels * (BYTES_PER_FEATURE_VOXEL * n_filters as f64 + BYTES_PER_VOXEL) + FIXED_BYTES) as u64
}

/// What the kernel says could still be given to a process (`MemAvailable` in /proc/meminfo), or
/// `None` where that is not known (not Linux), in which case nothing is refused.
pub fn available_bytes() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuse a training step of `cfg` on the CPU backend that cannot fit in the memory left (other
/// backends are not checked: burn does not report a GPU's free memory).
pub fn check_step(backend: BackendKind, cfg: &SimcvdConfig) -> anyhow::Result<()> {
    if backend != BackendKind::Cpu {
        return Ok(());
    }
    let unlabeled = if cfg.semi_supervised() {
        cfg.unlabeled_bs
    } else {
        0
    };
    check_cpu_step(
        cfg.patch,
        cfg.n_filters,
        cfg.labeled_bs + unlabeled,
        available_bytes(),
    )
}

/// Refuse a CPU training step that cannot fit in `available` bytes.
pub fn check_cpu_step(
    patch: [usize; 3],
    n_filters: usize,
    samples: usize,
    available: Option<u64>,
) -> anyhow::Result<()> {
    let need = step_bytes(patch, n_filters, samples);
    let Some(available) = available else {
        return Ok(());
    };
    if need > available {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        anyhow::bail!(
            "a training step with {samples} patches of {}x{}x{} at n_filters {n_filters} needs about \
             {:.1} GiB on the CPU backend, and this machine has {:.1} GiB available: use a smaller \
             --patch or --n-filters, or train on a GPU (--backend cuda)",
            patch[0],
            patch[1],
            patch[2],
            gib(need),
            gib(available)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = (1u64 << 30) as f64;

    #[test]
    fn the_estimate_matches_the_measured_peaks() {
        // (patch, n_filters, measured peak RSS in GiB) from docs/benchmarks.md
        let rows = [
            ([112, 112, 80], 16, 4.85),
            ([112, 112, 80], 8, 2.64),
            ([112, 112, 80], 4, 1.50),
            ([64, 64, 48], 4, 0.44),
        ];
        for (patch, f, measured) in rows {
            let est = step_bytes(patch, f, 4) as f64 / GIB;
            assert!(
                (est / measured - 1.0).abs() < 0.1,
                "{patch:?} x {f}: estimate {est:.2} GiB, measured {measured} GiB"
            );
        }
    }

    #[test]
    fn a_step_too_large_is_refused_with_what_to_do() {
        let gib = 1u64 << 30;
        // the paper's step fits in 24 GiB
        check_cpu_step([112, 112, 80], 16, 4, Some(24 * gib)).unwrap();
        // a 512^3 patch needs terabytes
        let err = check_cpu_step([512, 512, 512], 16, 4, Some(24 * gib))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("512x512x512") && err.contains("--patch"),
            "{err}"
        );
        // unknown memory: nothing is refused
        check_cpu_step([512, 512, 512], 16, 4, None).unwrap();
    }

    #[test]
    fn only_the_cpu_backend_is_checked() {
        let huge = SimcvdConfig {
            patch: [1024, 1024, 1024],
            ..Default::default()
        };
        check_step(BackendKind::Cuda, &huge).unwrap();
        if available_bytes().is_some() {
            let err = check_step(BackendKind::Cpu, &huge).unwrap_err().to_string();
            assert!(err.contains("1024x1024x1024"), "{err}");
        }
    }

    #[test]
    fn mem_available_is_read_in_kib() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_mem_available(text), Some(2048 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }
}
