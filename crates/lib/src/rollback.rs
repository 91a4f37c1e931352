//! Rollback: patch a tenant back to a backup that apply saved before writing to it.
//!
//! The backup is an export with credentials, so a rollback restores the tenant whole: what was
//! added since is removed, what was changed is set back, and an object re-created from the
//! backup gets the backup's credentials (its client secret, not a fresh one). It follows apply's
//! rules: removing whole objects needs `--allow-delete`, and more than a fifth of them
//! `--force`. The tenant's state before the rollback is itself saved as a backup first, marked
//! as taken by rollback, so a rollback can be rolled back (`--to`) but is never what a plain
//! `rollback` picks: that is the latest backup an apply took. The last-applied state is left
//! alone: the next plan shows what the repository would re-apply.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::baseline::{read_tree_file, Live};
use crate::client::Target;
use crate::credentials;
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::ignore::Ignore;
use crate::keys;
use crate::patch::three_way::Mode;
use crate::plan::TenantPlan;
use crate::prepare::{self, Desired, Sending};

/// The backups of one tenant in `dirs` ([`crate::files::backup_dirs`]), oldest first (by the
/// time in their names).
pub(crate) fn backups(
    dirs: &[PathBuf],
    env: &str,
    tenant: &Tenant,
) -> Result<Vec<PathBuf>, Diagnostic> {
    let env = keys::encode(env).map_err(|e| Diagnostic::new(e.to_string()))?;
    let key = keys::encode(&tenant.key).map_err(|e| Diagnostic::new(e.to_string()))?;
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir.join(&env).join(&key)) else {
            continue;
        };
        found.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json")),
        );
    }
    // By when they were taken (names promote did not write first, by name).
    found.sort_by_cached_key(|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        (
            crate::apply::backup_name::BackupName::parse(&name),
            p.clone(),
        )
    });
    Ok(found)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One backup of a tenant, as `rollback --list` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Listed {
    /// The file name (what `--to` takes).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// When it was taken (UTC, from its name), if promote named it.
    pub taken_at: Option<String>,
    /// What took it (`None`: a backup from before promote recorded it).
    pub taken_by: Option<TakenBy>,
    /// The commit the apply that took it was applying, if known.
    pub source: Option<String>,
}

/// The backups of `tenant` of `env` in `dirs`, newest first, with what took each.
///
/// # Errors
/// A tenant key or environment name that cannot name a directory.
pub fn list(dirs: &[PathBuf], env: &str, tenant: &Tenant) -> Result<Vec<Listed>, Diagnostic> {
    let mut out: Vec<Listed> = backups(dirs, env, tenant)?
        .into_iter()
        .map(|path| {
            let name = file_name(&path);
            let owner = read_owner(&path).ok().flatten();
            Listed {
                taken_at: crate::apply::backup_name::BackupName::parse(&name).map(|n| n.taken()),
                taken_by: owner.as_ref().map(|o| o.taken_by),
                source: owner.and_then(|o| o.source),
                name,
                path,
            }
        })
        .collect();
    out.reverse();
    Ok(out)
}

/// Picks the backup to restore: `to` (a path, or a file name among the tenant's backups), or
/// the latest that an apply took (never one a rollback took: rolling back twice must not undo
/// the first rollback).
pub fn choose(
    dirs: &[PathBuf],
    env: &str,
    tenant: &Tenant,
    to: Option<&str>,
) -> Result<PathBuf, Diagnostic> {
    let all = backups(dirs, env, tenant)?;
    match to {
        Some(to) => {
            let as_path = PathBuf::from(to);
            if as_path.is_file() {
                return Ok(as_path);
            }
            all.iter()
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n == to || n.to_string_lossy() == format!("{to}.json"))
                })
                .cloned()
                .ok_or_else(|| {
                    Diagnostic::new(format!(
                        "no backup `{to}` of tenant `{}` in {}",
                        tenant.key, env
                    ))
                    .hint(list_hint(&all))
                })
        }
        None => {
            if all.is_empty() {
                return Err(Diagnostic::new(format!(
                    "tenant `{}` of {env} has no backup in {}",
                    tenant.key,
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .hint("apply saves one before it first writes to a tenant; pass --to FILE for one kept elsewhere"));
            }
            all.iter()
                .rev()
                .find(|p| {
                    !matches!(read_owner(p), Ok(Some(Owner { taken_by: TakenBy::Rollback, .. })))
                })
                .cloned()
                .ok_or_else(|| {
                    Diagnostic::new(format!(
                        "every backup of tenant `{}` of {env} was taken by a rollback: there is no apply to roll back",
                        tenant.key
                    ))
                    .hint(format!("name one with --to (`promote rollback --env {env} --tenant {} --list` lists them)", tenant.key))
                })
        }
    }
}

fn list_hint(all: &[PathBuf]) -> String {
    if all.is_empty() {
        return "there are no backups of this tenant".into();
    }
    let names: Vec<String> = all
        .iter()
        .rev()
        .take(10)
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    format!("the latest backups: {}", names.join(", "))
}

/// What took a backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TakenBy {
    /// An apply, before it first wrote to the tenant (also the backups of before this was
    /// recorded: only apply took them).
    #[default]
    Apply,
    /// A rollback, of the tenant as it was before the rollback.
    Rollback,
    /// A migration, of the destination tenant before the import.
    Migrate,
}

/// What took a backup, and from which commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    pub by: TakenBy,
    /// The commit an apply was applying.
    pub source: Option<String>,
}

/// What the name of a backup's owner file adds to the backup's name.
pub(crate) const OWNER_SUFFIX: &str = ".tenant";

/// Whose backup a file is: written beside each backup as `<backup>.tenant`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Owner {
    pub env: String,
    /// The tenant's key in the environment file.
    pub tenant: String,
    /// The tenant's ID on the platform.
    pub id: String,
    /// The SHA-1 of the backup's bytes: an owner file goes with its own backup only.
    pub sha1: String,
    /// What took the backup.
    #[serde(default)]
    pub taken_by: TakenBy,
    /// The commit the apply that took it was applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Owner {
    /// The owner record of `backup` (its bytes) of tenant `tenant` of `env`, taken by `taken`.
    pub(crate) fn of(env: &str, tenant: &Tenant, backup: &[u8], taken: &Taken) -> Owner {
        Owner {
            env: env.to_owned(),
            tenant: tenant.key.clone(),
            id: tenant.id.clone(),
            sha1: digest(backup),
            taken_by: taken.by,
            source: taken.source.clone(),
        }
    }

    /// The file's content.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

fn digest(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file beside `backup` that says whose backup it is.
pub(crate) fn owner_file(backup: &Path) -> PathBuf {
    let mut name = backup.file_name().unwrap_or_default().to_os_string();
    name.push(OWNER_SUFFIX);
    backup.with_file_name(name)
}

/// Checks that `backup` is a backup of `tenant` of `env`. A rollback restores a tenant whole,
/// credentials included: another tenant's backup would give this tenant the other's
/// configuration and secrets. The owner file beside the backup says whose it is; a backup
/// without one (from before promote wrote them) is taken only from the tenant's own directory
/// (`<env>/<tenant>/`).
pub fn check_owner(backup: &Path, env: &str, tenant: &Tenant) -> Result<(), Diagnostic> {
    let refuse = |whose: String| {
        Diagnostic::new(format!(
            "{} is {whose}, not of tenant `{}` ({}) of {env}: a rollback restores a tenant's whole configuration and credentials, so it takes only the tenant's own backups",
            backup.display(),
            tenant.key,
            tenant.id
        ))
        .hint("pick one of this tenant's backups (`promote rollback --env ENV --tenant T` lists them when --to names none); to copy one tenant's configuration to another, use `promote migrate`")
    };
    let owner_path = owner_file(backup);
    if let Some(owner) = read_owner(backup)? {
        if owner.id != tenant.id || owner.env != env {
            return Err(refuse(format!(
                "a backup of tenant `{}` ({}) of {}",
                owner.tenant, owner.id, owner.env
            )));
        }
        let bytes = crate::files::read_input(backup)
            .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", backup.display())))?;
        if digest(&bytes) != owner.sha1 {
            return Err(Diagnostic::new(format!(
                "{} is not the backup {} was written for (its content differs): promote cannot tell whose it is",
                backup.display(),
                owner_path.display()
            ))
            .hint("a rollback restores a tenant's whole configuration and credentials, so it takes only the tenant's own backups, as apply saved them"));
        }
        return Ok(());
    }
    let parent = |p: Option<&Path>| -> Option<String> {
        Some(p?.file_name()?.to_string_lossy().into_owned())
    };
    let dir = backup.parent();
    let in_own_dir = keys::encode(&tenant.key).ok() == parent(dir)
        && keys::encode(env).ok() == parent(dir.and_then(Path::parent));
    if in_own_dir {
        Ok(())
    } else {
        Err(refuse(
            "a backup whose tenant promote cannot tell".to_owned(),
        ))
    }
}

/// The owner record beside `backup`, if there is one.
fn read_owner(backup: &Path) -> Result<Option<Owner>, Diagnostic> {
    let owner_path = owner_file(backup);
    if !owner_path.exists() {
        return Ok(None);
    }
    let text = crate::files::read_input(&owner_path)
        .map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", owner_path.display())))?;
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        Diagnostic::new(format!(
            "{} is not a backup's owner record: {e}",
            owner_path.display()
        ))
    })
}

/// A rollback ready to send: the report to show, what is sent, and the backup to check
/// against after.
pub struct Prepared {
    pub report: TenantPlan,
    pub sending: Sending,
    pub target: Value,
    /// The paths the rollback leaves alone (the tenant's ignore rules): not restored, not
    /// checked.
    pub ignore: Ignore,
}

/// Plans the rollback of `tenant` to `backup`: the backup is the desired tree, and live is also
/// the last-applied record, so that whatever the backup lacks is removed. The backup holds
/// credentials: an object it re-creates is sent with them.
///
/// # Errors
/// The export failing, or a plan that removes whole objects `deletes` does not allow, as apply
/// refuses it.
pub fn prepare(
    live: &Live,
    (tenant, ignore): (&Tenant, &Ignore),
    backup: &Path,
    deletes: crate::apply::Deletes,
) -> Result<Prepared, Diagnostic> {
    let target = read_tree_file(backup)?;
    let current = live
        .client
        .export(Target::Tenant(&tenant.id), true)
        .map_err(|f| Diagnostic::new(format!("cannot export tenant `{}`: {f}", tenant.id)))?;
    // Both hold credentials: the report shows none, wherever the platform put them.
    let held = crate::apply::held_in(&[&current, &target]);
    let desired = Desired::tree(target);
    let mut prepared = prepare::prepare(
        tenant,
        desired,
        Some(&current),
        &current,
        prepare::Policy::restoring(ignore),
        false,
        None,
    )
    .map_err(|refused| refused.error)?;
    prepared.report.scrub(&held);
    crate::apply::check_removals(&current, &prepared.plan, deletes).map_err(|d| {
        let hint = d.hint.clone().unwrap_or_default();
        d.hint(format!(
            "{hint}; the rollback removes what was created since the backup, and what it removes (credentials included) is kept only in the backup the rollback takes first"
        ))
    })?;
    Ok(Prepared {
        report: prepared.report,
        sending: prepared.sending,
        target: prepared.desired.tree,
        ignore: ignore.clone(),
    })
}

/// Sends the rollback and checks that the tenant now holds the backup.
pub fn send(live: &Live, tenant: &Tenant, p: &Prepared) -> Result<(), Diagnostic> {
    if p.sending.is_empty() {
        return Ok(());
    }
    // Workspaces deleted since the backup are created again by import, as apply creates them.
    p.sending
        .send(
            &live.client,
            &tenant.id,
            (Mode::Update, false),
            "rollback",
            || p.target.clone(),
        )
        .map_err(|mut d| {
            // The hints say what to do about an apply.
            d.hint = None;
            d
        })?;
    let mut after = live
        .client
        .export(Target::Tenant(&tenant.id), true)
        .map_err(|f| {
            Diagnostic::new(format!(
                "cannot export tenant `{}` to check: {f}",
                tenant.id
            ))
        })?;
    // A backup without a signing key or a secret gets fresh ones from the platform; the
    // platform's own material is not restored (prepare leaves it out), so it is not compared.
    credentials::drop_generated(&mut after, &p.target);
    promote_platform::material::strip(&mut after, credentials::Scope::Tenant);
    p.ignore.strip(&mut after);
    if after != p.target {
        let left = crate::patch::merge::diff(&after, &p.target);
        let paths: Vec<String> = left
            .body
            .as_object()
            .map(|m| m.keys().map(|k| format!("/{k}")).collect())
            .unwrap_or_default();
        return Err(Diagnostic::new(format!(
            "the rollback was accepted but the tenant differs from the backup under {}",
            paths.join(", ")
        ))
        .hint("the platform changed or refused part of it; compare with `promote plan`"));
    }
    Ok(())
}
