//! The `promote` binary: everything lives in the library; see `promote --help`.

fn main() -> std::process::ExitCode {
    promote::cli::main()
}
