//! promote: identity-platform tenants as YAML in git, planned and applied through the
//! Configuration Promotion API: the library that does promote's work. The command line
//! (`promote`, in the repository's `src/`) parses arguments, calls it and prints; the facts about
//! the platform it builds on are `promote-platform`'s. See `README.md` for the tour.

// The documentation is for maintainers and built with private items (`.ci/run`): public items
// may link to private ones.
#![allow(rustdoc::private_intra_doc_links)]

pub mod activity;
pub mod adopt;
pub(crate) mod affected;
pub mod apply;
pub mod backup;
pub mod baseline;
pub mod ci;
pub mod client;
pub(crate) mod clock;
pub mod connect;
pub mod credentials;
pub mod diagnostic;
pub mod drift;
pub mod environment;
pub mod export;
pub mod files;
pub mod gate;
pub(crate) mod git;
pub mod ignore;
pub mod init;
pub(crate) mod keys;
pub mod layout;
pub mod lineage;
pub mod lock;
pub mod migrate;
pub(crate) mod parallel;
pub mod patch;
pub mod pipeline;
pub mod plan;
pub(crate) mod prepare;
pub mod progress;
pub mod render;
pub mod report;
pub mod rollback;
pub mod saved;
pub mod schema;
pub mod scrub;
pub mod source;
pub(crate) mod state;
pub(crate) mod templatize;
pub mod validate;
pub mod yaml;
