//! A platform started in this process for an environment whose target is an emulator
//! directory. promote's library reaches it like any platform, through its URL and one client
//! per tenant; what starts it (promote's emulator) is chosen by the binary, so the library does
//! not depend on it.

use std::path::Path;

/// A platform running in this process for as long as the value lives.
pub trait LocalPlatform: Send + Sync {
    /// Base URL, without a trailing slash.
    fn url(&self) -> &str;
    /// The client ID and secret provisioned for tenant `tid`.
    fn credentials(&self, tid: &str) -> Option<(&str, &str)>;
}

/// Starts a local platform keeping its data in `data`, with a client for each tenant ID.
pub type Start = fn(data: &Path, tenants: &[String]) -> Result<Box<dyn LocalPlatform>, String>;
