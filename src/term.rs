//! Writing to stdout and stderr without panicking: a closed pipe (`balmix run … | head -1`)
//! or a closed terminal must never kill a run half-way. Lines that cannot be written are
//! dropped; results are in the run directory anyway.

use std::io::Write;

/// Print one line to stdout; a write error (e.g. a closed pipe) is ignored.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Print text to stdout as is; a write error is ignored.
pub fn print_text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Print one line to stderr; a write error is ignored.
pub fn eprint_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
