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

fn main() -> ExitCode {
    // Before the runtime starts any thread: mimalloc's options are plain values its threads
    // read on their free paths.
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
    // What `#[tokio::main]` builds, built here so that the two calls above come first.
    let exit = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(async { cli::finish(cli::run(cli).await, format) }),
        Err(error) => cli::finish(
            Err(anyhow::Error::new(error).context("starting the async runtime")),
            format,
        ),
    };
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

/// Freed memory handed back to the kernel after 10 ms instead of mimalloc v3's 1 s, unless the
/// environment sets it (`MIMALLOC_PURGE_DELAY` stays the operator's override). A run moves
/// through phases (source read, target read on other threads, mapping, plan) that each take well
/// under a second at 100,000 people, so with the default every phase's freed pages were still
/// resident when the next one peaked: a no-change plan of 100,000 people peaked 15-30 MiB
/// higher, for no gain in time (docs/performance.md, "Scale"). 10 ms is mimalloc v2's default.
#[allow(unsafe_code)]
fn purge_sooner() {
    // SAFETY: `mi_option_set_default` takes two integers and writes one entry of mimalloc's
    // option table, which other threads read unsynchronised: `main` calls this before the
    // runtime starts any thread.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 10) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index is the option meant: it holds mimalloc v3's default purge delay (1000 ms)
    /// until set, and 10 after; a delay the environment sets is left as it is.
    #[test]
    fn the_purge_delay_index_is_mimallocs() {
        // mimalloc reads its variables ignoring case, and the delay's old name too.
        let preset = std::env::vars_os().any(|(name, _)| {
            let name = name.to_string_lossy();
            name.eq_ignore_ascii_case("MIMALLOC_PURGE_DELAY")
                || name.eq_ignore_ascii_case("MIMALLOC_RESET_DELAY")
        });
        // SAFETY: reads of the option table; this test's threads do not write it.
        #[allow(unsafe_code)]
        let read = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let before = read();
        if !preset {
            assert_eq!(before, 1000);
        }
        purge_sooner();
        assert_eq!(read(), if preset { before } else { 10 });
    }
}
