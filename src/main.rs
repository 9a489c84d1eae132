//! The `uptimer` command: parses the command line and hands over to the library.

use clap::Parser;

/// mimalloc: probes allocate and free small buffers by the million (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
    uptimer::cli::main(uptimer::cli::Cli::parse())
}

/// Transparent huge pages cost more than they give here: reading a million targets touches
/// gigabytes of short-lived memory, and zeroing 2 MB pages for it made the load about 15%
/// slower (docs/benchmarks.md). `MIMALLOC_ALLOW_THP=1` does not undo this.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a flag of this process; no memory is touched.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
