//! Micro-benchmarks of the per-tenant pipeline on the shipped example repository:
//! render (Tera + YAML + layout), validate, three-way plan with its patch, and the layout
//! round trip. `cargo bench --bench pipeline`. The whole-binary fleet benchmark is
//! `benches/fleet.sh`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use promote_lib::layout;
use promote_lib::patch::three_way::{self, Mode};
use promote_lib::pipeline::Project;
use promote_lib::render::Templates;
use promote_lib::source::RepoFiles;

fn pipeline(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = RepoFiles::from_work_tree(root).expect("the example repository loads");
    let templates = std::sync::Arc::new(Templates::compile(&files).expect("the templates compile"));
    let prod = Project::load(&templates, "prod").expect("prod loads");
    let staging = Project::load(&templates, "staging").expect("staging loads");
    let tenant = prod
        .tenants
        .iter()
        .find(|t| t.key == "acme")
        .expect("acme exists");
    let old_tenant = staging
        .tenants
        .iter()
        .find(|t| t.key == "acme")
        .expect("acme exists");
    let desired = prod.desired(tenant).expect("acme renders");
    let live = staging.desired(old_tenant).expect("acme renders");

    c.bench_function("render acme", |b| {
        b.iter(|| prod.templates.render(&prod.env, tenant))
    });
    c.bench_function("validate acme", |b| {
        b.iter(|| promote_lib::validate::tenant(&desired))
    });
    c.bench_function("three-way plan + patch acme", |b| {
        b.iter(|| {
            let (_, touched) =
                three_way::plan(Some(&live), &desired, &live, Mode::Update).expect("no conflicts");
            touched.patch(true)
        })
    });
    c.bench_function("layout write + read acme", |b| {
        b.iter(|| {
            let written = layout::write(&layout::TENANT, &desired).expect("a map");
            layout::read(&layout::TENANT, &layout::Dir::from_files(written), "acme")
                .expect("round trip")
        })
    });
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
