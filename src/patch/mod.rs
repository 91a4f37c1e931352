//! Patch generation (provisional: replaced by the full module).
pub mod pointer;
