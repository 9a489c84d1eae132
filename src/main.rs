//! The `uptimer` command: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    uptimer::cli::main(uptimer::cli::Cli::parse())
}
