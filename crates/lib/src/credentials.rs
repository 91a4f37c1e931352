//! Credentials in promote's hands: where the platform keeps them in a tree
//! ([`promote_platform::credentials`], re-exported here), where their values come from at apply
//! time ([`secrets`]). The scrubbing of every text that leaves the process is [`crate::scrub`].

pub mod secrets;

pub use promote_platform::credentials::*;
