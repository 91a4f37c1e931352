//! The `promote` binary: everything lives in the library; see `promote --help`.

// Planning a fleet is allocation-heavy (parsed YAML, trees, patches) on every core; glibc's
// allocator spent ~40% of a 500-tenant plan in malloc/free, mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    promote::cli::main()
}
