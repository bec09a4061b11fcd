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
    purge_sooner();
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

/// mimalloc's index of its `purge_delay` option (`mi_option_purge_delay` in mimalloc.h, v2 and
/// v3): libmimalloc-sys leaves it out of its constants.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory handed back to the kernel after 10 ms instead of mimalloc v3's 1 s. A run moves
/// through phases (source read, target read on other threads, mapping, plan) that each take well
/// under a second at 100,000 people, so with the default every phase's freed pages were still
/// resident when the next one peaked: a no-change plan of 100,000 people peaked 15-30 MiB
/// higher, for no gain in time (docs/performance.md, "Scale"). 10 ms is mimalloc v2's default.
#[allow(unsafe_code)]
fn purge_sooner() {
    // SAFETY: `mi_option_set` takes two integers, touches only mimalloc's option table and may
    // be called at any time; an option it does not know is ignored.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index is the option meant: it holds mimalloc v3's default purge delay (1000 ms)
    /// until set, and the value set after.
    #[test]
    fn the_purge_delay_index_is_mimallocs() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: as in `purge_sooner`: a read of the option table.
            #[allow(unsafe_code)]
            let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            assert_eq!(default, 1000);
        }
        purge_sooner();
        // SAFETY: as above.
        #[allow(unsafe_code)]
        let set = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(set, 10);
    }
}
