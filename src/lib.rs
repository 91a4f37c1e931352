//! promote: identity-platform tenants as YAML in git, planned and applied through the
//! Configuration Promotion API. See `README.md` for the tour and `DESIGN.md` for the shape.

pub mod diagnostic;
pub mod keys;
pub mod layout;
pub mod yaml;
pub mod credentials;
pub mod environment;
pub mod patch;
pub mod render;
pub mod source;
