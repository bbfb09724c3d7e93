//! The `sanad` binary: read the env file, parse the command line, start tracing, hand over
//! to the library.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before clap: `SANAD_*` values from the file feed the flags' defaults.
    let env_file = match sanad::config::load_env_file(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("sanad: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cli = sanad::cli::Cli::parse_from(args);
    sanad::cli::init_tracing();
    if let Some(f) = env_file {
        tracing::info!(file = %f.display(), "settings read from the env file");
    }
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
