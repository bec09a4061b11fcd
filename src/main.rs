//! The idbridge binary: parse arguments, set up logging, run, and map the result to an exit code
//! (through `cli::exit`, the one table; see docs/cli.md).

use clap::Parser;
use idbridge::cli::{self, Cli, LogFormat};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn init_logging(cli: &Cli) {
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::new(format!("{level},hyper=warn,h2=warn,rustls=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let exit = match cli::run(cli).await {
        Ok(exit) => exit,
        Err(err) => {
            eprintln!("idbridge: {err:#}");
            cli::exit::for_error(&err)
        }
    };
    ExitCode::from(exit.code())
}
