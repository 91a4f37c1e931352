//! The SecureAuth Connect platform as promote and its emulator both see it: the shape of a
//! tenant's configuration tree, where credentials live in it, the API's write modes, JSON
//! pointers into it, and the limits of what it answers.
//!
//! This crate holds facts about the platform, not promote's work: the library that plans and
//! applies (`promote-lib`) and the emulator of the API (`promote-emulator`) both build on it,
//! and neither depends on the other.

#[cfg(any(test, feature = "arb"))]
pub mod arb;
pub mod credentials;
pub mod local;
pub mod material;
mod mode;
pub mod model;
pub mod pointer;
pub mod random;
pub mod references;
pub mod sorted;
pub mod tree;

pub use mode::Mode;

/// The largest tenant export a client reads, and the largest tenant the emulator stores:
/// 64 MiB, a thousand times a large tenant's export.
pub const MAX_TENANT_BYTES: u64 = 64 << 20;
