//! The environment lock as the commands that write take it: `--lock-timeout`, and letting the
//! lock go when the run is interrupted.

use std::sync::Once;
use std::time::Duration;

use super::{Failure, GlobalArgs, Ui};
use promote_lib::lock::{self, Guard};

/// How long a run waits for the lock when not told: at a terminal a person sees at once who
/// holds it and decides; a CI job queued behind another wants to run after it.
const UNATTENDED: Duration = Duration::from_secs(300);

/// The options of every command that writes to an environment.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// Wait this long for another run holding the environment's lock (0, 30s, 5m, 1h)
    /// [default: 0 at a terminal, 5m otherwise]
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = lock::parse_duration,
        env = "PROMOTE_LOCK_TIMEOUT"
    )]
    pub lock_timeout: Option<Duration>,
}

impl LockArgs {
    /// The timeout asked for, or the default for this run.
    pub fn timeout(&self) -> Duration {
        self.lock_timeout.unwrap_or(if super::interactive() {
            Duration::ZERO
        } else {
            UNATTENDED
        })
    }
}

/// Takes the lock of `env` for `command` (`apply`, `rollback`, ...), saying on stderr whom it
/// waits for; held until the guard is dropped.
pub fn hold(
    ui: &Ui,
    global: &GlobalArgs,
    args: &LockArgs,
    env: &str,
    command: &str,
) -> Result<Guard, Failure> {
    release_on_interrupt();
    let options = lock::Options {
        timeout: args.timeout(),
        remote: None,
        command: command.to_owned(),
        commit: None,
        scope: lock::Scope::Whole,
    };
    Ok(lock::acquire(&global.repo, env, &options, &mut |t| {
        ui.note(t)
    })?)
}

/// On Ctrl-C (or SIGINT), releases the locks this process holds and exits 130: an interrupted
/// run does not leave its environment locked. Installed once.
pub fn release_on_interrupt() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(runtime) = runtime else { return };
        let (ready, listening) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("interrupt".into())
            .spawn(move || {
                runtime.block_on(async {
                    let signal = tokio::signal::ctrl_c();
                    let _ = ready.send(());
                    if signal.await.is_err() {
                        return;
                    }
                    for env in lock::release_all() {
                        eprintln!("interrupted: the lock of `{env}` is released; what was sent before the interrupt may not be recorded: `promote plan --env {env}` shows where the tenants are");
                    }
                    std::process::exit(130);
                })
            });
        // The handler is in place before the lock is taken.
        if spawned.is_ok() {
            let _ = listening.recv();
        }
    });
}
