//! The `balmix` command line. Thin: parse, run, print the error chain, exit 0/1/2.

use std::process::ExitCode;

fn main() -> ExitCode {
    match balmix_cli::run() {
        Ok(code) => code,
        Err(err) => {
            let code = balmix_cli::exit_code(&err);
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            code
        }
    }
}

#[path = "cli/mod.rs"]
mod balmix_cli;
