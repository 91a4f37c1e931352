//! The `promote` binary: the command line over `promote-lib` (`src/cli/`: one file per
//! subcommand, each parsing its arguments, calling the library and printing); see
//! `promote --help`.

// The doc comments of `src/cli/` are clap's help texts, not rustdoc: they write placeholders as
// `<ENV>` and optional parts as `[:SCOPES]`.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

mod cli;

// Planning a fleet is allocation-heavy (parsed YAML, trees, patches) on every core; glibc's
// allocator spent ~40% of a 500-tenant plan in malloc/free, mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Environments whose target is an emulator directory run promote's emulator in-process.
    promote_lib::connect::set_local_platform(promote_emulator::Embedded::start_local);
    cli::main()
}
