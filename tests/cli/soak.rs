//! Fault soak: a change applied to 200 tenants through `promote serve` with every fault on
//! (latency, 500, 429, 403 `request_forbidden`, connections dropped after a write) on a seeded
//! schedule, for several seeds. Whatever the schedule, the platform must end up holding exactly
//! what the repository renders, each tenant's change must have changed the platform once (the
//! emulator logs `changed=true` only for a write that changed the stored tenant, dropped
//! connections included), and `refs/promote/state` must record what the platform holds.

use std::collections::BTreeMap;

use crate::remote::{run, saas_env, saas_fleet, without_generated, CLIENT_SECRET};
use crate::support::{Serve, TestRepo};

const TENANTS: usize = 200;

/// Every fault at once; `drop` closes the connection after the write was applied.
const FAULTS: [&str; 10] = [
    "--fault",
    "latency=1ms",
    "--fault",
    "500=0.1",
    "--fault",
    "429=0.1",
    "--fault",
    "forbidden=0.05",
    "--fault",
    "drop=0.05",
];

/// `apply --env soak --output json` until it exits 0 (a request can run out of attempts now
/// and then); returns the run count and, per tenant key, the runs that reported it applied.
fn apply_until_done(repo: &TestRepo) -> (usize, BTreeMap<String, Vec<usize>>) {
    let mut applied: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for runs in 1..=4 {
        let r = run(
            repo,
            &["--output", "json", "apply", "--env", "soak", "--yes"],
            CLIENT_SECRET,
            &[],
        );
        for t in r.stdout_json()["tenants"].as_array().unwrap() {
            let key = t["key"].as_str().unwrap().to_owned();
            match t["outcome"].as_str().unwrap() {
                "applied" => applied.entry(key).or_default().push(runs),
                "unchanged" => {}
                "failed" => {
                    let message = t["errors"][0]["message"].as_str().unwrap_or_default();
                    assert!(message.contains("(after 8 attempts)"), "{key}: {message}");
                }
                other => panic!("{key}: outcome {other}\n{r}"),
            }
        }
        if r.code == 0 {
            return (runs, applied);
        }
        r.code(1);
    }
    panic!("apply did not finish in 4 runs");
}

fn soak(seed: &str) {
    let repo = TestRepo::example();
    repo.git_init();
    let (tenants, clients) = saas_fleet("s", "soak", TENANTS);
    let data = repo.join(".serve");
    let data = data.to_str().unwrap();

    // The fleet exists, applied without faults.
    {
        let serve = Serve::start(&clients, &["--data", data]);
        repo.write("environments/soak.yaml", &saas_env(&serve.url, &tenants));
        repo.commit("a fleet");
        apply_until_done(&repo);
    }

    // One change to every tenant, applied with every fault on.
    let serve = Serve::start(
        &clients,
        &[&["--data", data, "--seed", seed], &FAULTS[..]].concat(),
    );
    let env = saas_env(&serve.url, &tenants);
    repo.write("environments/soak.yaml", &env);
    repo.edit(
        "templates/saas/workspaces/app/clients/web.yaml",
        "description: Acme Cloud web application for",
        "description: Acme Cloud browser app for",
    );
    let head = repo.commit("every tenant: a new client description");
    let (runs, applied) = apply_until_done(&repo);

    let log = serve.log();
    for status in ["status=500", "status=429", "status=403", "dropped=true"] {
        assert!(log.contains(status), "seed {seed}: no {status} in the log");
    }
    // Each tenant's change was reported applied at most once, and changed the platform once.
    let writes = serve.changing_writes();
    for (key, id) in &tenants {
        let reported = applied.get(key).map_or(0, Vec::len);
        assert!(
            reported <= 1,
            "seed {seed}: {key} applied by runs {:?}",
            applied[key]
        );
        assert_eq!(
            writes.get(id).copied().unwrap_or(0),
            1,
            "seed {seed}: {id} was changed by {} writes ({runs} run(s))",
            writes.get(id).copied().unwrap_or(0)
        );
    }

    // The platform holds exactly the rendering, and the state records what it holds.
    repo.run(&["render", "--env", "soak", "--out", "rendered"])
        .success();
    let state = repo.state_files();
    for (key, id) in &tenants {
        let stored = without_generated(&repo.json(&format!(".serve/tenants/{id}.json")));
        let rendered = repo.json(&format!("rendered/{key}.json"));
        assert!(
            stored == rendered,
            "seed {seed}: {id} differs from the rendering at {:?}",
            crate::support::differences(&stored, &rendered)
        );
        let record = &state[&format!("soak/{key}.json")];
        assert_eq!(record["source_commit"], head.as_str(), "seed {seed}: {key}");
        assert!(
            record["tree"] == stored,
            "seed {seed}: the state of {key} differs from the platform at {:?}",
            crate::support::differences(&record["tree"], &stored)
        );
    }
}

#[test]
fn a_change_to_200_tenants_survives_every_fault_seed_1() {
    soak("1");
}

#[test]
fn a_change_to_200_tenants_survives_every_fault_seed_2() {
    soak("2");
}

#[test]
fn a_change_to_200_tenants_survives_every_fault_seed_3() {
    soak("3");
}
