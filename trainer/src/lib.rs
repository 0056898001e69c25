//! `semiseg`: inspect scans, score segmentations, inspect datasets (and, in later work, train and
//! run the models of the `semiseg` crate).

pub mod amvlm;
pub mod amvlm_seg;
pub mod backend;
pub mod checkpoint;
mod cli;
mod commands;
mod driver;
mod grad_check;
pub mod interrupt;
mod output_file;
mod progress;
mod report;
pub mod run_compare;
pub mod run_dir;
pub mod run_info;
pub mod run_lock;
pub mod run_report;
pub mod simcvd;
pub mod synth2d;
pub mod time_limit;
mod train_run;
mod wording;

pub use cli::Cli;

use clap::Parser;
use std::ffi::OsString;
use std::io::Write;

/// How a command line can fail.
#[derive(Debug)]
pub enum CliError {
    /// The arguments did not parse (or `--help`/`--version` was asked): clap's message and code.
    Usage(clap::Error),
    /// The command ran and failed; the message says what is wrong and what to do.
    Failed(anyhow::Error),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(e) => write!(f, "{e}"),
            CliError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

/// Run a command line (`args[0]` is the program name), writing results to `out`.
pub fn run<I, T>(args: I, out: &mut dyn Write) -> Result<(), CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(CliError::Usage)?;
    commands::dispatch(cli, out).map_err(CliError::Failed)
}
