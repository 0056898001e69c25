//! One file per command.

mod dataset;
mod eval;
mod inspect;

use crate::cli::{Cli, Command};
use std::io::Write;

pub fn dispatch(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(a) => inspect::run(&a, out),
        Command::Eval(a) => eval::run(&a, out),
        Command::Dataset(a) => dataset::run(&a, out),
    }
}
