//! One file per command.

mod bench;
mod bench_amvlm;
mod bench_amvlm_seg;
mod compare;
mod dataset;
mod eval;
mod eval_amvlm;
mod eval_model;
mod eval_model_2d;
mod export;
mod export_2d;
mod inspect;
mod predict;
mod predict_2d;
mod prepare_la;
mod report;
mod synth;
mod train;
mod train_amvlm;
mod train_amvlm_seg;
mod vocab;

use crate::cli::{BenchCommand, Cli, Command, SynthCommand, TrainCommand};
use std::io::Write;

pub fn dispatch(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(a) => inspect::run(&a, out),
        Command::Eval(a) => eval::run(&a, out),
        Command::Dataset(a) => dataset::run(&a, out),
        Command::Train(TrainCommand::Simcvd(a)) => train::run(&a, out),
        Command::Train(TrainCommand::Amvlm(a)) => train_amvlm::run(&a, out),
        Command::Train(TrainCommand::AmvlmSeg(a)) => train_amvlm_seg::run(&a, out),
        Command::EvalAmvlm(a) => eval_amvlm::run(&a, out),
        Command::Vocab(a) => vocab::run(&a, out),
        Command::EvalModel(a) => eval_model::run(&a, out),
        Command::Predict(a) => predict::run(&a, out),
        Command::PrepareLa(a) => prepare_la::run(&a, out),
        Command::Export(a) => export::run(&a, out),
        Command::Report(a) => report::run(&a, out),
        Command::Compare(a) => compare::run(&a, out),
        Command::Synth(SynthCommand::ThreeD(a)) => synth::run_3d(&a, out),
        Command::Synth(SynthCommand::TwoD(a)) => synth::run_2d(&a, out),
        Command::Bench(BenchCommand::Simcvd(a)) => bench::run(&a, out),
        Command::Bench(BenchCommand::Amvlm(a)) => bench_amvlm::run(&a, out),
        Command::Bench(BenchCommand::AmvlmSeg(a)) => bench_amvlm_seg::run(&a, out),
    }
}
