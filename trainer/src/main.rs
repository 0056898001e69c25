//! The `semiseg` command line. All the work is in the `semiseg_cli` library so the integration
//! tests run exactly what users run.

use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    match semiseg_cli::run(std::env::args_os(), &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(semiseg_cli::CliError::Usage(e)) => {
            // clap's own conventions: usage errors exit 2, --help/--version exit 0
            let _ = e.print();
            ExitCode::from(e.exit_code() as u8)
        }
        Err(semiseg_cli::CliError::Failed(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
