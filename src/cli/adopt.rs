//! `promote adopt`: what the platform holds at some pointers → the tenant's templates, recorded
//! as applied.

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::adopt;
use promote_lib::environment::Tenant;
use promote_lib::pipeline::Project;
use promote_lib::report::path_text as pointer_text;

/// Write what the platform holds at POINTERs (objects or fields made by hand) into the tenant's
/// templates, and record them as applied, so that plan and drift show nothing there
#[derive(Debug, clap::Args)]
pub struct AdoptArgs {
    /// Environment of the tenant
    #[arg(long)]
    pub env: String,
    /// The tenant (key or ID, or key:KEY, id:ID)
    #[arg(long)]
    pub tenant: String,
    /// JSON pointers into the tenant's tree, e.g. /servers/default/clients/hotfix or
    /// /servers/default/clients/web/metadata/owner (`promote drift` prints them)
    #[arg(required = true, value_name = "POINTER")]
    pub pointers: Vec<String>,
    /// Write the values as the platform holds them: no value becomes `{{ tenant.id }}` or
    /// `{{ vars.NAME }}` (by default a value equal to the tenant's ID or a variable is written
    /// as that expression, which other tenants of the template then render with their own)
    #[arg(long)]
    pub literal: bool,
    #[command(flatten)]
    pub lock: super::lock::LockArgs,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &AdoptArgs) -> CommandResult {
    // The templates and the last-applied state are written: the environment is held before
    // either is read, so that no apply or other adopt changes them in between.
    let _lock = super::lock::hold(ui, global, &args.lock, &args.env, "adopt")?;
    super::with_tenant(global, &args.env, &args.tenant, |project, tenant| {
        adopt(ui, global, args, project, tenant)
    })
}

fn adopt(
    ui: &Ui,
    global: &GlobalArgs,
    args: &AdoptArgs,
    project: &Project,
    tenant: &Tenant,
) -> CommandResult {
    let live = super::open_live(ui, global, &project.env, &[tenant])?;
    let report = promote_lib::activity::tenant("adopt", &args.env, tenant, || {
        adopt::run(
            &global.repo,
            project,
            &live,
            tenant,
            &args.pointers,
            args.literal,
        )
    })?;
    if ui.format == OutputFormat::Json {
        ui.json(&report);
    } else {
        ui.out(&text(&report));
    }
    for r in &report.refused {
        ui.diagnostic(&r.error);
    }
    Ok(if report.refused.is_empty() {
        Exit::Ok
    } else {
        Exit::Error
    })
}

/// The report for people: each pointer with the files and lines written, the YAML to paste for
/// those refused where a place could not take it, and the template's other users.
fn text(report: &adopt::Report) -> String {
    let mut out = String::new();
    for a in &report.adopted {
        out.push_str(&format!("adopted {}\n", pointer_text(&a.pointer)));
        for w in &a.written {
            let lines = match w.lines {
                (first, last) if first == last => format!("line {first}"),
                (first, last) => format!("lines {first}-{last}"),
            };
            out.push_str(&format!(
                "  {} {}, {lines}\n",
                if w.created {
                    "created"
                } else {
                    "inserted into"
                },
                w.file
            ));
        }
    }
    for r in &report.refused {
        if let Some(p) = &r.paste {
            out.push_str(&format!(
                "not adopted {}: paste this into {} {}:\n",
                pointer_text(&r.pointer),
                p.file,
                p.place
            ));
            for line in p.yaml.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    if report.recorded {
        out.push_str(&format!(
            "recorded as applied to {} ({}) of {}: plan and drift show nothing there; commit the templates\n",
            report.tenant, report.id, report.env
        ));
    }
    if let Some(line) = report.also_used_line() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
