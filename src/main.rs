//! `sequra-bc`: parses the command line and dispatches.

fn main() {
    let (cli, data_dir_typed) = sequra_bc::cli::parse();
    if let Err(e) = sequra_bc::cli::run(cli, data_dir_typed) {
        eprintln!("error: {}", e.message);
        std::process::exit(e.code);
    }
}
