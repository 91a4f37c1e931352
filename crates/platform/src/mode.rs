//! The platform API's `mode` parameter: how a write resolves a path both sides changed.

use serde::Serialize;

/// How a conflict is resolved; the same meaning as the platform API's `mode` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keep the live value and report the conflict as skipped.
    Ignore,
    /// Refuse the whole plan when any conflict exists.
    Fail,
    /// Overwrite live with desired.
    Update,
}

impl Mode {
    /// The API spelling: `ignore`, `fail` or `update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ignore => "ignore",
            Mode::Fail => "fail",
            Mode::Update => "update",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Ignore, Mode::Fail, Mode::Update]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}
