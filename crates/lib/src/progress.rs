//! Progress bars for long batches: shown on a terminal, silent in CI, pipes and with `-q`.

use std::io::IsTerminal;

use indicatif::{ProgressDrawTarget, ProgressStyle};

/// A progress bar, as [`bar`] returns it (for callers that keep one).
pub use indicatif::ProgressBar;

/// Returns a progress bar of `len` steps, hidden unless a person is watching stderr, and
/// hidden at `-v` and beyond: the log's lines (a request, a tenant done) are the progress
/// then, and a bar redrawn between them would garble them.
pub fn bar(len: usize, message: &str, quiet: bool) -> ProgressBar {
    let visible = !quiet
        && !tracing::enabled!(tracing::Level::INFO)
        && std::io::stderr().is_terminal()
        && std::env::var_os("CI").is_none()
        && len > 1;
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message.to_owned());
    bar
}

/// Where the library reports the progress of a batch of tenants; the program shows it (a bar
/// on a terminal) or not.
pub trait Observer: Sync {
    /// A batch of `total` tenants named `label` begins.
    fn begin(&self, label: &str, total: usize);
    /// One tenant of the batch is done.
    fn advance(&self);
    /// The batch is over.
    fn finish(&self);
}
