//! The `semiseg` command line. All the work is in the `semiseg_cli` library so the integration
//! tests run exactly what users run.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Ctrl-C during training: checkpoint and stop after the current step; otherwise quit (130,
    // as the shell's own handling would). SIGTERM and SIGHUP (a batch scheduler ending the job,
    // `timeout`, a closed terminal) are handled the same way (ctrlc's `termination` feature).
    // A handler that cannot be installed changes nothing else.
    let _ = ctrlc::set_handler(|| {
        if !semiseg_cli::interrupt::on_signal() {
            std::process::exit(130);
        }
    });
    let stdout = std::io::stdout();
    match semiseg_cli::run(std::env::args_os(), &mut stdout.lock()) {
        Ok(()) if semiseg_cli::interrupt::stopped_by_signal() => ExitCode::from(130),
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
