//! `semiseg bench simcvd`: time one SimCVD training step (2 labeled + 2 unlabeled patches,
//! student and EMA teacher, backward, SGD, EMA) and the sliding-window segmentation of one volume,
//! on a backend, and print a table row. Not a test: numbers depend on the machine.

use crate::cli::BenchArgs;
use crate::report::peak_rss;
use crate::simcvd::data::{HostBatch, TrainData};
use crate::with_backend;
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::{momentum::MomentumConfig, GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ElementConversion;
use rand::{Rng, SeedableRng};
use semiseg::data::{Dataset, Grid, LabeledChoice, Split};
use semiseg::infer::sliding_window_predict;
use semiseg::simcvd::{signed_distance_map, simcvd_loss, SimcvdConfig};
use semiseg::train::{ema_update, teacher_from};
use std::io::Write;
use std::time::Instant;

/// A batch of random patches with a ball as the label.
fn random_batch(cfg: &SimcvdConfig) -> HostBatch {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let p = cfg.patch;
    let n: usize = p.iter().product();
    let mut vol =
        |k: usize| -> Vec<f32> { (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let (labeled, unlabeled) = (vol(cfg.labeled_bs), vol(cfg.unlabeled_bs));
    let ball: Vec<bool> = (0..n)
        .map(|f| {
            let c = [f / (p[1] * p[2]), (f / p[2]) % p[1], f % p[2]];
            (0..3)
                .map(|a| (c[a] as f64 / p[a] as f64 - 0.5).powi(2))
                .sum::<f64>()
                < 0.06
        })
        .collect();
    let sdm = signed_distance_map(&ball, p);
    HostBatch {
        patch: p,
        labels: ball
            .iter()
            .map(|&b| b as u8 as f32)
            .cycle()
            .take(cfg.labeled_bs * n)
            .collect(),
        sdm: sdm
            .iter()
            .copied()
            .cycle()
            .take(cfg.labeled_bs * n)
            .collect(),
        labeled,
        unlabeled,
        n_labeled: cfg.labeled_bs,
        n_unlabeled: cfg.unlabeled_bs,
    }
}

fn sync<B: Backend>(t: burn::tensor::Tensor<B, 1>) -> f64 {
    t.into_scalar().elem::<f64>()
}

/// The first element of the last float parameter of `module`.
fn last_param<B: Backend, M: Module<B>>(module: &M) -> burn::tensor::Tensor<B, 1> {
    struct Last<B: Backend>(Option<burn::tensor::Tensor<B, 1>>);
    impl<B: Backend> ModuleVisitor<B> for Last<B> {
        fn visit_float<const D: usize>(&mut self, p: &Param<burn::tensor::Tensor<B, D>>) {
            self.0 = Some(p.val().flatten::<1>(0, D - 1).narrow(0, 0, 1));
        }
    }
    let mut last = Last(None);
    module.visit(&mut last);
    last.0.expect("a model has parameters")
}

fn bench<B: AutodiffBackend>(
    cfg: &SimcvdConfig,
    steps: usize,
    volume: &Grid<f32>,
    device: &B::Device,
) -> anyhow::Result<(f64, f64, usize)> {
    B::seed(device, 1);
    let mut student = cfg.init_model::<B>(device);
    let mut teacher = teacher_from(&student);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        }))
        .init::<B, semiseg::simcvd::SimcvdModel<B>>();
    let host = random_batch(cfg);
    let mut step_times = Vec::new();
    for i in 0..steps + 1 {
        let t0 = Instant::now();
        let batch = host.to_device::<B>(device);
        let losses = simcvd_loss(&student, Some(&teacher), &batch, cfg, 3000);
        let grads = GradientsParams::from_grads(losses.total.backward(), &student);
        student = optim.step(0.01, student, grads);
        teacher = ema_update(teacher, &student, 0.99).map_err(anyhow::Error::msg)?;
        // read a value back so the GPU queue is drained before the clock stops: one element of
        // a teacher parameter, which the EMA update (the step's last operation) wrote
        let _ = sync(last_param(&teacher));
        if i > 0 {
            step_times.push(t0.elapsed().as_secs_f64()); // the first step includes warm-up
        }
    }
    let net = student.valid().net;
    let inner_device = device.clone();
    let t0 = Instant::now();
    let mut windows = 0;
    let _ = sliding_window_predict(
        &net,
        volume,
        cfg.patch,
        cfg.stride,
        2,
        &inner_device,
        &mut |_, n| windows = n,
    );
    let infer = t0.elapsed().as_secs_f64();
    step_times.sort_by(f64::total_cmp);
    Ok((step_times[step_times.len() / 2], infer, windows))
}

pub fn run(a: &BenchArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut cfg = SimcvdConfig {
        n_filters: a.n_filters,
        ..Default::default()
    };
    if let Some(p) = a.patch {
        cfg.patch = p;
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    let backend = crate::backend::select(a.backend)?;
    crate::simcvd::memory::check_step(backend.kind, &cfg)?;
    // the volume to segment: the first LA test case if --data is given, else noise of LA's size
    let (volume, name) = match &a.data {
        Some(dir) => {
            let ds = Dataset::open(dir)?;
            let split = Split::from_lists(&ds, LabeledChoice::First(0))?;
            let id = split
                .test
                .first()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{} has no test.list", dir.display()))?;
            let one = Split {
                labeled: vec![],
                unlabeled: vec![],
                test: vec![id.clone()],
                validation: Vec::new(),
            };
            let data = TrainData::load(&ds, &one, false)?;
            (data.test.into_iter().next().expect("one case").image, id)
        }
        None => {
            let dims = [144, 120, 88];
            (
                Grid::new(vec![0.0; dims.iter().product()], dims),
                "zeros 144x120x88".to_string(),
            )
        }
    };
    let (step, infer, windows) = with_backend!(backend.kind, |B, device| bench::<B>(
        &cfg, a.steps, &volume, &device
    )?);
    writeln!(out, "| backend | n_filters | patch | train step (2+2, median of {}) | sliding window ({name}, {windows} windows) | peak RSS |", a.steps)?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    writeln!(
        out,
        "| {} | {} | {}x{}x{} | {:.3} s | {:.2} s | {} |",
        backend.kind,
        cfg.n_filters,
        cfg.patch[0],
        cfg.patch[1],
        cfg.patch[2],
        step,
        infer,
        peak_rss()
            .map(|m| format!("{m:.2} GiB"))
            .unwrap_or_else(|| "-".into())
    )?;
    Ok(())
}
