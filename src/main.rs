//! `sequra-bc`: parses the command line and dispatches.

use clap::Parser;

fn main() {
    let cli = sequra_bc::cli::Cli::parse();
    if let Err(e) = sequra_bc::cli::run(cli) {
        eprintln!("error: {}", e.message);
        std::process::exit(e.code);
    }
}
