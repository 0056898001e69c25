//! `semiseg eval-model`: a trained run or a model bundle on whole test volumes (spec B6, B7).

use crate::cli::{CheckpointArg, EvalModelArgs, SpacingUnit};
use crate::report::{print_table, write_csv};
use crate::run_report::write_report_or_warn;
use crate::simcvd::data::TrainData;
use crate::simcvd::evaluate::evaluate;
use crate::simcvd::model_io::ModelSource;
use crate::with_backend;
use anyhow::bail;
use semiseg::data::{read_list, Dataset, LabeledChoice, Split};
use semiseg::infer::WindowPlan;
use semiseg::metrics::mean_metrics;
use std::io::Write;

pub fn run(a: &EvalModelArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if a.run.is_dir() {
        let run = crate::run_dir::RunDir::open(&a.run)?;
        if run.kind()? == crate::run_info::RunKind::AmvlmSeg {
            return super::eval_model_2d::run(a, run, out);
        }
    }
    if a.split.is_some() {
        bail!(
            "--split needs a 2D run folder (it picks Test_Folder or Val_Folder), not {}: a 3D \
             model takes --cases LIST, a bundle is scored on the test split",
            a.run.display()
        );
    }
    let model = ModelSource::open(&a.run)?;
    let pred_dir = match (&a.out, &model) {
        (Some(dir), _) => dir.clone(),
        (None, ModelSource::Run(run)) => {
            let which = match a.checkpoint {
                CheckpointArg::Last => "last",
                CheckpointArg::Best => "best",
            };
            let lcc = if a.largest_component { "-lcc" } else { "" };
            run.root.join(format!("predictions-{which}{lcc}"))
        }
        (None, ModelSource::Bundle(_)) => bail!(
            "{} is a model bundle: pass --out NEW_FOLDER for its predicted masks",
            a.run.display()
        ),
    };
    if pred_dir.exists() {
        bail!(
            "{} already exists; semiseg never overwrites predictions: pass --out NEW_FOLDER",
            pred_dir.display()
        );
    }
    // the stride is checked before any volume is read
    let (patch, model_stride) = model.patch_stride()?;
    let stride = a.stride.unwrap_or(model_stride);
    WindowPlan::check_stride(patch, stride).map_err(anyhow::Error::msg)?;
    if stride != model_stride {
        writeln!(
            out,
            "stride {stride:?} instead of the model's {model_stride:?}: not the B6 protocol"
        )?;
    }
    if a.largest_component {
        writeln!(
            out,
            "--largest-component: masks are scored after keeping their largest connected \
             component (the paper scores the raw argmax)"
        )?;
    }
    let ds = Dataset::open(&a.data)?;
    let test = match &a.cases {
        Some(list) => read_list(list)?,
        None => Split::from_lists(&ds, LabeledChoice::First(0))?.test,
    };
    if test.is_empty() {
        bail!(
            "no cases to evaluate: {} has no test.list; pass --cases LIST",
            a.data.display()
        );
    }
    let split = Split {
        labeled: Vec::new(),
        unlabeled: Vec::new(),
        test,
        validation: Vec::new(),
    };
    let data = TrainData::load(&ds, &split, false)?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let backend = crate::backend::select(a.backend)?;
    let results = with_backend!(backend.kind, |B, device| {
        let net = model.load_vnet::<B>(a.checkpoint, &device)?;
        evaluate(
            &net,
            &data.test,
            patch,
            stride,
            a.largest_component,
            &device,
            Some(&pred_dir),
            &mut |i, n| {
                // a line per case when stderr is a log file, so long CPU runs show progress too
                if tty {
                    eprint!("\rsegmented {i}/{n}");
                } else {
                    eprintln!("segmented {i}/{n}");
                }
            },
        )?
    });
    if tty {
        eprintln!();
    }
    let metrics: Vec<_> = results.iter().map(|(_, m)| *m).collect();
    let mean = mean_metrics(&metrics).expect("cases");
    let named: Vec<_> = results
        .into_iter()
        .map(|(id, m)| (format!("{id}.nii.gz"), m))
        .collect();
    print_table(out, &named, &mean, SpacingUnit::Voxel)?;
    let csv = pred_dir.join("metrics.csv");
    write_csv(&csv, &named, &mean, SpacingUnit::Voxel)?;
    writeln!(
        out,
        "masks and metrics.csv in {} (segmented on {backend})",
        pred_dir.display()
    )?;
    // predictions inside the run folder belong in its report
    if let ModelSource::Run(run) = &model {
        if pred_dir.parent() == Some(run.root.as_path()) {
            write_report_or_warn(run, out)?;
        }
    }
    Ok(())
}
