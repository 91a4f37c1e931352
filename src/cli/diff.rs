//! `promote diff OLD NEW`: the patch between two trees.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{CommandResult, Exit, Failure, Ui};
use promote_lib::baseline::{read_layout_dir, read_tree_file};
use promote_lib::credentials::{self, Scope};
use promote_lib::patch;
use promote_lib::plan::redact_patch_body;

/// Print the patch that turns OLD into NEW (JSON or YAML files, or YAML directories in the
/// repository layout)
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The tree before
    pub old: PathBuf,
    /// The tree after
    pub new: PathBuf,
    /// Patch format: 7396 (merge patch), 6902 (JSON patch), or auto (7396 when it is exact)
    #[arg(long, default_value = "auto", value_parser = ["auto", "7396", "6902"])]
    pub format: String,
    /// Start RFC 6902 patches with `test` ops on the values they were computed from
    #[arg(long)]
    pub with_tests: bool,
    /// Print credential values as they are instead of redacted (the patch is then applicable,
    /// and secret: keep it out of logs)
    #[arg(long)]
    pub unredacted: bool,
    /// Exit 2 when the trees differ
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub fn run(ui: &Ui, args: &DiffArgs) -> CommandResult {
    let (old, new) = match (read(&args.old), read(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(mut a), Err(b)) => {
            a.extend(b);
            return Err(Failure::Input(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(Failure::Input(e)),
    };
    let patch = match args.format.as_str() {
        "auto" => patch::auto(&old, &new, args.with_tests),
        format => {
            let format = format.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            patch::in_format(&old, &new, format, args.with_tests).map_err(|e| {
                Failure::Input(vec![promote_lib::diagnostic::Diagnostic::new(
                    e.to_string(),
                )
                .hint("use --format 6902 or --format auto")])
            })?
        }
    };
    let body = if args.unredacted {
        ui.note("warning: --unredacted prints credentials in plain text");
        patch.to_json()
    } else {
        let scope = scope_of(&old, &new);
        let mut body = redact_patch_body(&patch, scope);
        redact_by_name(&mut body);
        body
    };
    ui.json(&body);
    Ok(if args.detailed_exitcode && !patch.is_empty() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

fn read(path: &Path) -> Result<Value, Vec<promote_lib::diagnostic::Diagnostic>> {
    if path.is_dir() {
        read_layout_dir(path)
    } else {
        read_tree_file(path).map_err(|d| vec![d])
    }
}

/// Returns whether the trees are tenants or workspaces, for finding their credentials.
fn scope_of(old: &Value, new: &Value) -> Scope {
    let workspace_keys = [
        "clients", "idps", "policies", "scripts", "services", "secret", "webhooks",
    ];
    let looks_like_workspace = |v: &Value| {
        v.get("servers").is_none() && workspace_keys.iter().any(|k| v.get(*k).is_some())
    };
    if looks_like_workspace(old) || looks_like_workspace(new) {
        Scope::Workspace
    } else {
        Scope::Tenant
    }
}

/// Redacts what the place-based rules cannot see when the trees' root is neither a tenant nor a
/// workspace (an entry file): fields named like credentials, and RFC 6902 values set at them.
/// Applied to every diff, whatever its root: over-redacting a field that only shares a
/// credential's name is the safe side.
fn redact_by_name(body: &mut Value) {
    credentials::redact_by_name(body);
    if let Value::Array(ops) = body {
        for op in ops {
            let last = op
                .get("path")
                .and_then(Value::as_str)
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or_default();
            if credentials::is_field_name(last) {
                if let Some(v) = op.get_mut("value").filter(|v| !credentials::is_safe(v)) {
                    *v = Value::String(credentials::REDACTED.to_owned());
                }
            }
        }
    }
}
