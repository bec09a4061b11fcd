//! The idbridge binary: parse arguments, set up logging and progress, run, and map the result to
//! an exit code (through `cli::exit`, the one table; see docs/cli.md).

use clap::Parser;
use idbridge::cli::{self, progress, Cli};
use std::io::IsTerminal;
use std::process::ExitCode;

// glibc's allocator spent about a third of a 100,000-person plan's CPU in malloc and free, and
// kept the freed memory of one phase from the next (docs/performance.md, "Scale");
// docs/architecture.md says why this dependency is here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    small_pages();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return ExitCode::from(cli::parse_failed(error, &args)),
    };
    cli::logging::init(&cli);
    let format = cli.format();
    if progress::wanted(std::io::stderr().is_terminal(), format, cli.log_format) {
        progress::enable();
    }
    let exit = cli::finish(cli::run(cli).await, format);
    ExitCode::from(exit.code())
}

/// Transparent huge pages off for this process. mimalloc asks for them on its arenas, and the
/// kernel then zeroes, and counts as resident, whole 2 MiB pages that a run's many small objects
/// fill only in part: a 100,000-person plan spent 0.6-1.2 s of system time, mostly zeroing
/// pages, against 0.3 s without, and peaked 20-30 MB higher (docs/performance.md, "Scale"). A kernel that refuses leaves things as
/// they were, which is only slower.
fn small_pages() {
    #[cfg(target_os = "linux")]
    let _refused = rustix::thread::disable_transparent_huge_pages(true);
}
