//! The `sanad` binary: parse the command line, start tracing, hand over to the library.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = sanad::cli::Cli::parse();
    sanad::cli::init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sanad: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(sanad::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sanad: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
