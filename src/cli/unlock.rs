//! `promote unlock`: break an environment's lock left by a run that died.

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::lock::{self, Place};

/// Break the locks of an environment that a run left behind (a killed CI job, a lost machine),
/// the whole environment's and every shard's; refuses a lock whose holder is still running on
/// this host unless --force
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// Environment whose lock to break
    #[arg(long)]
    pub env: String,
    /// Also break the lock on this git remote (the --state-remote of `promote ci`)
    #[arg(long, value_name = "REMOTE")]
    pub state_remote: Option<String>,
    /// Break it even when its holder is still running on this host
    #[arg(long)]
    pub force: bool,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &UnlockArgs) -> CommandResult {
    let broken = lock::break_lock(
        &global.repo,
        &args.env,
        args.state_remote.as_deref(),
        args.force,
    )?;
    if ui.format == OutputFormat::Json {
        let locks: Vec<_> = broken
            .iter()
            .map(|t| {
                serde_json::json!({
                    "place": match &t.place { Place::Local => "local".to_owned(), Place::Remote(r) => r.clone() },
                    "scope": t.scope,
                    "holder": t.holder,
                })
            })
            .collect();
        ui.json(&serde_json::json!({"env": args.env, "broken": locks}));
        return Ok(Exit::Ok);
    }
    if broken.is_empty() {
        ui.note(&format!("environment `{}` is not locked", args.env));
    }
    for t in &broken {
        let place = match &t.place {
            Place::Local => "in this repository".to_owned(),
            Place::Remote(r) => format!("on `{r}`"),
        };
        let who = t
            .holder
            .as_ref()
            .map_or("a run promote cannot name".to_owned(), |h| h.describe());
        let part = t.scope.describe();
        ui.out(&format!(
            "broke the lock of `{}`{part} {place}, held by {who}",
            args.env
        ));
    }
    Ok(Exit::Ok)
}
