//! The `balmix` command line. Thin: parse, run, print the error chain, exit 0/1/2.

use std::process::ExitCode;

fn main() -> ExitCode {
    balmix::model::host::keep_freed_memory();
    if let Err(e) = balmix::interrupt::install() {
        balmix::term::eprint_line(&format!("warning: cannot install signal handlers: {e}"));
    }
    match balmix_cli::run() {
        Ok(code) => code,
        Err(err) => {
            let code = balmix_cli::exit_code(&err);
            balmix::term::eprint_line(&format!("error: {err}"));
            // A cause whose text is already shown (an error that embeds its source) is skipped.
            let mut shown = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if shown.contains(&text) {
                    continue;
                }
                balmix::term::eprint_line(&format!("  caused by: {text}"));
                shown = text;
            }
            code
        }
    }
}

#[path = "cli/mod.rs"]
mod balmix_cli;
