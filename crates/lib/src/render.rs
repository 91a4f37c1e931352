//! Render: templates + environment + tenant → the tenant's configuration tree.
//!
//! Every file under `templates/` is a Tera template. They are compiled once per repository
//! snapshot into one [`Templates`], which every environment of the snapshot shares; rendering a tenant renders each file of its template with the tenant's
//! context, parses the result, and assembles the tree through the layout. Undefined variables
//! are errors, and `secret("NAME")` renders as the marker `<secret:NAME>`.
//!
//! Templates are untrusted code: they render in a sandbox (`sandbox`) that allows only
//! `secret()` and `range()`, bounds every tenant's rendering in steps, time, output and value
//! sizes, and makes secret markers unforgeable (`markers`).

mod bounds;
pub(crate) mod filled;
pub(crate) mod graph;
mod instrument;
mod markers;
mod sandbox;
mod scan;
mod shape;

pub(crate) use shape::is_hole;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};
use tera::{Context, Tera};

use crate::credentials::holds_marker;
use crate::diagnostic::{Diagnostic, Location};
use crate::environment::{overlay, Environment, Tenant};
use crate::layout::{self, Dir};
use crate::source::RepoFiles;

/// The templates of one repository snapshot, compiled once for the sandbox and shared by every
/// environment and tenant rendered from that snapshot: the compiled Tera, where its
/// instrumentation checks the budget, and the dependency graph ([`graph::Graph`]).
pub struct Templates<'a> {
    files: &'a RepoFiles,
    tera: Tera,
    /// Which file includes, imports or extends which, and the files of each template directory.
    graph: graph::Graph,
    /// Where the compiled templates check their budget ([`sandbox::Place`]).
    places: Arc<Vec<sandbox::Place>>,
    /// What `secret()` puts in its markers while rendering ([`markers`]).
    nonce: String,
    /// The shape of each YAML file of the template directories that has one ([`shape`]), by
    /// template file name; empty with `PROMOTE_NO_CACHE=1`.
    shapes: HashMap<String, shape::Shape>,
    /// The text shape of each other file of the template directories that has one
    /// ([`shape::Text`]), by template file name; empty with `PROMOTE_NO_CACHE=1`.
    texts: HashMap<String, shape::Text>,
    /// The variables the shapes write as they are, looked up once for each tenant.
    variables: shape::Variables,
}

/// What rendering a tenant with shapes gave ([`Templates::render_with_shapes`]).
enum WithShapes<'s> {
    Rendered(Vec<(String, Rendered<'s>)>),
    /// A limit of the sandbox, reached while rendering the file named.
    Tripped(sandbox::Trip, String),
    /// Something failed: render the tenant straight, which reports it.
    Straight,
}

/// The tree of a tenant ([`Templates::render_tree`]).
pub(crate) struct Tree {
    pub value: Value,
    /// Whether a string or a key of it may hold a secret marker (false only when none does).
    pub may_hold_markers: bool,
    /// The shapes' variants that built every YAML file of it, when each built its file with
    /// only its holes filled: the tree is [`Templates::laid`] of this with each hole's marker
    /// replaced by its value (the scalar the slots gave, the text of a file that is not YAML),
    /// and nothing else changed.
    pub pattern: Option<Pattern>,
}

/// A tenant's files rendered, not yet laid out as its tree ([`Templates::render_parts`]).
pub(crate) struct Parts<'s> {
    files: Vec<(String, Rendered<'s>)>,
    /// The tenant's template directory, as messages show it.
    base: String,
    /// Whether a string or a key of the tree may hold a secret marker.
    may_hold_markers: bool,
    /// The variants that built its files, when it has a pattern ([`Tree::pattern`]).
    pattern: Option<Pattern>,
}

impl Parts<'_> {
    /// The tenant's pattern, when it has one and no string of it may hold a secret marker.
    pub(crate) fn plain_pattern(&self) -> Option<&Pattern> {
        self.pattern.as_ref().filter(|_| !self.may_hold_markers)
    }

    /// The tenant as `laid` (its pattern's, [`Templates::laid`]) and the values of its holes;
    /// `Err` gives the parts back when it has no pattern or another number of holes.
    pub(crate) fn into_filled(self, laid: Arc<filled::Laid>) -> Result<filled::Filled, Self> {
        let values = self.into_values(laid.count())?;
        Ok(filled::Filled::of_counted(laid, values))
    }

    /// The values of the tenant's holes, in the order of [`Templates::laid`]'s markers, when
    /// it has a pattern and `count` holes; `Err` gives the parts back otherwise.
    fn into_values(self, count: usize) -> Result<Vec<Value>, Self> {
        let holes: usize = self
            .files
            .iter()
            .map(|(_, file)| match file {
                Rendered::Holes(_, holes) => holes.values.len(),
                _ => 1,
            })
            .sum();
        if self.pattern.is_none() || holes != count {
            return Err(self);
        }
        let mut values = Vec::with_capacity(count);
        for (_, file) in self.files {
            match file {
                Rendered::Holes(_, holes) => values.extend(holes.values),
                Rendered::Text(text) => values.push(Value::String(text)),
                // A tenant with a pattern has no other file.
                Rendered::Tree(..) => values.push(Value::Null),
            }
        }
        Ok(values)
    }
}

/// The template of a tenant and the variant of its shape that built each of its files, in
/// the order of the template's files (`u32::MAX` for a file that is not YAML, whose text
/// is the tenant's own): tenants with the same pattern have trees alike but in their holes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Pattern {
    template: String,
    variants: Vec<u32>,
}

/// In a [`Pattern`], a file that is not YAML.
const TEXT_FILE: u32 = u32::MAX;

/// A rendered file of a tenant: its text, or the tree its shape built ([`shape`]), with
/// [`crate::yaml::node_count`] of the text it stands for and whether a string or a key of it
/// may hold `<secret:`.
enum Rendered<'s> {
    Text(String),
    /// Built by a variant some of whose keys hold slots.
    Tree(Value, usize, bool),
    /// The values of the holes of a variant of this shape whose keys hold no slot
    /// ([`shape::Built::Holes`]).
    Holes(&'s shape::Shape, shape::Holes),
}

impl Rendered<'_> {
    /// Whether the layout may read `<secret:` from this file at `rel` (in a string or a key): a
    /// tree a shape built says whether it holds one; a text that is not YAML becomes a string
    /// as it is; a name becomes a key, percent-decoded. A YAML text may spell one with escapes.
    fn may_hold_markers(&self, rel: &str) -> bool {
        let named = holds_marker(rel) || rel.contains('%');
        named
            || match self {
                Rendered::Tree(_, _, marked) => *marked,
                Rendered::Holes(_, holes) => holes.marked,
                Rendered::Text(text) => rel.ends_with(".yaml") || holds_marker(text),
            }
    }
}

/// The most template syntax errors reported in one run; after that the rest is noise.
const MAX_SYNTAX_ERRORS: usize = 50;

impl<'a> Templates<'a> {
    /// Returns every template of `files` compiled. All syntax errors are
    /// reported, each with its file, line and column, and so is everything the sandbox refuses
    /// before rendering (functions other than `secret()` and `range()`, expressions or nesting
    /// beyond its limits, recursion).
    pub fn compile(files: &'a RepoFiles) -> Result<Templates<'a>, Vec<Diagnostic>> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        let filters: HashSet<String> = tera.filters.keys().cloned().collect();
        let mut places = Vec::new();
        let mut problems = Vec::new();
        let mut total_tags = 0usize;
        for (name, source) in &files.templates {
            if problems.len() >= MAX_SYNTAX_ERRORS {
                return Err(problems);
            }
            // A template's settings are read as they are, not rendered into its tree.
            if crate::ignore::is_template_settings(name) {
                continue;
            }
            // Compiling takes a few KiB a tag: a file of nothing but `{{a}}` would take
            // gigabytes before anything renders.
            let tags = scan::count_tags(source);
            total_tags += tags;
            if tags > scan::MAX_TAGS || total_tags > scan::MAX_TOTAL_TAGS {
                problems.push(
                    Diagnostic::new(if tags > scan::MAX_TAGS {
                        format!("more than {} tags in one template (promote's limit)", scan::MAX_TAGS)
                    } else {
                        format!("more than {} tags in all the templates (promote's limit)", scan::MAX_TOTAL_TAGS)
                    })
                    .in_file(files.display(&format!("templates/{name}")))
                    .hint("templates of that size are generated, not written: generate the YAML itself, or loop over a list"),
                );
                continue;
            }
            match instrument::compile(name, source, &filters, &mut places) {
                Ok(template) => {
                    tera.templates.insert(name.clone(), template);
                }
                Err(instrument::CompileError::Syntax(e)) => {
                    problems.push(syntax_diagnostic(files, name, &e))
                }
                Err(instrument::CompileError::Problems(found)) => {
                    let path = files.display(&format!("templates/{name}"));
                    problems.extend(found.into_iter().map(|p| {
                        let location = match p.at {
                            Some(at) => {
                                let (line, column) = crate::diagnostic::line_column(source, at);
                                Location::at(&path, line, column)
                            }
                            None => Location::file(&path),
                        };
                        let d = Diagnostic::new(p.message).at(location);
                        match p.hint {
                            Some(h) => d.hint(h),
                            None => d,
                        }
                    }));
                }
            }
        }
        // Tera follows imports and `extends` recursively, without a guard against cycles.
        let mut graph = graph::Graph::of(&tera.templates);
        let chains = bounds::chains(&graph);
        if !chains.is_empty() {
            problems.extend(chains.into_iter().map(|(file, message)| {
                Diagnostic::new(message)
                    .in_file(files.display(&format!("templates/{file}")))
                    .hint("import macro files and extend base templates in one direction only, a few levels deep")
            }));
            return Err(problems);
        }
        // Parents and macro files that do not exist, found in the graph before Tera refuses
        // them: a template naming one is left out and the others checked again.
        loop {
            let missing: Vec<(String, String)> = graph
                .files()
                .filter_map(|(name, deps)| {
                    let imports = deps.imports.iter().map(|(file, _)| file);
                    let gone = deps
                        .extends
                        .iter()
                        .chain(imports)
                        .find(|f| graph.deps(f).is_none())?;
                    Some((name.to_owned(), gone.clone()))
                })
                .collect();
            if missing.is_empty() {
                break;
            }
            for (name, gone) in missing {
                problems.push(missing_diagnostic(files, &name, &gone));
                tera.templates.remove(&name);
                graph.remove(&name);
            }
            if problems.len() >= MAX_SYNTAX_ERRORS {
                return Err(problems);
            }
        }
        // Every parent exists and no chain is a cycle ([`bounds::chains`]): Tera's own check
        // cannot fail, but if it does, its message is all there is.
        if let Err(e) = tera.build_inheritance_chains() {
            problems.push(
                Diagnostic::new(format!("template error: {}", tidy(&error_chain(&e))))
                    .in_file(files.display("templates")),
            );
            return Err(problems);
        }
        for (file, message) in bounds::recursion(&graph) {
            problems.push(
                Diagnostic::new(message)
                    .in_file(files.display(&format!("templates/{file}")))
                    .hint("write the levels out, or loop over a list instead"),
            );
        }
        if problems.is_empty() {
            for (file, message) in bounds::depth(&tera, &graph) {
                problems.push(
                    Diagnostic::new(message)
                        .in_file(files.display(&format!("templates/{file}")))
                        .hint("flatten it: fewer macros calling macros, fewer includes of includes, fewer tags inside tags"),
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let nonce = markers::nonce(files);
        let places = Arc::new(places);
        sandbox::install(&mut tera, places.clone());
        tera.register_function("secret", markers::secret(nonce.clone()));
        let mut variables = shape::Variables::default();
        let (shapes, texts) = if straight_path_asked() {
            (HashMap::new(), HashMap::new())
        } else {
            shapes(&mut tera, &graph, &mut variables)
        };
        tracing::debug!(
            files = files.templates.len(),
            shapes = shapes.len(),
            direct = shapes.values().filter(|s| s.is_direct()).count(),
            texts = texts.len(),
            "templates compiled"
        );
        Ok(Templates {
            files,
            tera,
            graph,
            places,
            nonce,
            shapes,
            texts,
            variables,
        })
    }

    /// Returns these templates rendering every file straight: text, then parse, as with
    /// `PROMOTE_NO_CACHE=1`.
    #[cfg(test)]
    pub(crate) fn straight(mut self) -> Self {
        self.shapes.clear();
        self.texts.clear();
        self
    }

    /// Returns the repository snapshot these templates were compiled from.
    pub(crate) fn files(&self) -> &'a RepoFiles {
        self.files
    }

    /// Returns the dependency graph of these templates.
    pub(crate) fn graph(&self) -> &graph::Graph {
        &self.graph
    }

    /// Returns each file of the tenant's template rendered, by path relative to the template
    /// directory: the trees of the YAML files with a shape, built from it where it fits, and
    /// the text of the others. Secret markers still carry the nonce ([`markers`]). When
    /// anything fails while rendering with shapes, the tenant is rendered again without, so
    /// that what is reported is what the straight path reports.
    fn render_files(
        &self,
        env: &Environment,
        tenant: &Tenant,
    ) -> Result<Vec<(String, Rendered<'_>)>, Vec<Diagnostic>> {
        let at = |d: Diagnostic| d.context(&env.name, Some(&tenant.key));
        let Some(files) = self.graph.template_files(&tenant.template) else {
            return Err(vec![at(Diagnostic::new(format!(
                "template `{}` does not exist",
                tenant.template
            ))
            .at(env.locate(&["tenants", &tenant.key]))
            .hint("templates are the directories of templates/"))]);
        };
        let context = Context::from_value(context(env, tenant)).map_err(|e| {
            vec![at(Diagnostic::new(format!(
                "cannot build the template context: {e}"
            )))]
        })?;
        if !self.shapes.is_empty() || !self.texts.is_empty() {
            match self.render_with_shapes(files, &context) {
                WithShapes::Rendered(out) => return Ok(out),
                WithShapes::Tripped(trip, name) => {
                    return Err(vec![at(self.trip_diagnostic(&trip, &name))])
                }
                WithShapes::Straight => {}
            }
        }
        let mut out = Vec::with_capacity(files.len());
        let mut problems = Vec::new();
        bounds::start_tenant();
        for (rel, name) in files {
            let rendered = self.tera.render(name, &context);
            // A limit reached stops the tenant, even where Tera swallowed the error.
            if let Some(trip) = sandbox::take_trip() {
                problems.push(at(self.trip_diagnostic(&trip, name)));
                break;
            }
            match rendered {
                Ok(text) => out.push((rel.clone(), Rendered::Text(text))),
                Err(e) => problems.push(at(self.render_diagnostic(name, &e))),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// Renders `files` with their shapes where they have one. A limit of the sandbox reached
    /// is reported as the straight path reports it: both count the same steps and output, up to
    /// a file that a shape could not build, which counts twice, or one whose selectors are
    /// counted before its slots (those and anything failing send the tenant down the straight
    /// path).
    fn render_with_shapes(&self, files: &[(String, String)], context: &Context) -> WithShapes<'_> {
        let values = self.variables.of(context);
        let r = shape::Rendering {
            tera: &self.tera,
            places: &self.places,
            context,
            values: &values,
        };
        let mut out = Vec::with_capacity(files.len());
        let mut counted_twice = false;
        bounds::start_tenant();
        for (rel, name) in files {
            let shape = self.shapes.get(name).filter(|s| s.is_useful());
            let built = match shape {
                Some(shape) => shape.build(r),
                None => match self.texts.get(name) {
                    Some(text) => text.build(r),
                    None => shape::Built::Straight,
                },
            };
            if let Some(trip) = sandbox::take_trip() {
                let reordered = self
                    .shapes
                    .get(name)
                    .is_some_and(shape::Shape::has_selectors);
                return match counted_twice || reordered {
                    false => WithShapes::Tripped(trip, name.clone()),
                    true => WithShapes::Straight,
                };
            }
            let rendered = match built {
                shape::Built::Tree(tree, nodes, marked) => Rendered::Tree(tree, nodes, marked),
                shape::Built::Holes(holes) => match shape {
                    Some(shape) => Rendered::Holes(shape, holes),
                    // Only a shape builds holes.
                    None => return WithShapes::Straight,
                },
                shape::Built::Text(text) => Rendered::Text(text),
                shape::Built::Straight => {
                    counted_twice |= self.shapes.contains_key(name);
                    let text = self.tera.render(name, context);
                    if sandbox::take_trip().is_some() {
                        return WithShapes::Straight;
                    }
                    match text {
                        Ok(text) => Rendered::Text(text),
                        Err(_) => return WithShapes::Straight,
                    }
                }
                shape::Built::Failed => return WithShapes::Straight,
            };
            out.push((rel.clone(), rendered));
        }
        WithShapes::Rendered(out)
    }

    /// Returns the tree every tenant of `pattern` has but for its holes ([`Tree::pattern`]), laid
    /// out as a tenant's files are, each hole a [`filled::marker`] numbered in the order of the
    /// files and of each variant's scalars ([`Parts::into_values`]); a file that is not YAML is
    /// one hole. `None` when the layout refuses it (a tenant's tree may then be laid out
    /// otherwise: a hole in a file's place that a tenant fills with null, say).
    pub(crate) fn laid(&self, pattern: &Pattern) -> Option<filled::Laid> {
        let files = self.graph.template_files(&pattern.template)?;
        if files.len() != pattern.variants.len() {
            return None;
        }
        let mut built = HashMap::new();
        let mut texts = Vec::with_capacity(files.len());
        let mut count = 0;
        for ((rel, name), &variant) in files.iter().zip(&pattern.variants) {
            if variant == TEXT_FILE {
                texts.push((rel.clone(), filled::marker(count)));
                count += 1;
                continue;
            }
            let number = usize::try_from(variant).ok()?;
            let (tree, holes) = self.shapes.get(name)?.marked(number, count)?;
            count += holes;
            built.insert(rel.as_str(), tree);
            texts.push((rel.clone(), String::new()));
        }
        let base = self
            .files
            .display(&format!("templates/{}", pattern.template));
        let dir = Dir::from_files(texts);
        let built = RefCell::new(built);
        let parse = |_: &str, file: &str| {
            file.strip_prefix(base.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .and_then(|rel| built.borrow_mut().remove(rel))
                .ok_or_else(|| Diagnostic::new("no shape built this file"))
        };
        let tree = layout::read_with(&layout::TENANT, &dir, &base, &parse).ok()?;
        filled::Laid::of(tree, count)
    }

    /// Returns the rendered tree of a tenant in an environment.
    pub fn render(&self, env: &Environment, tenant: &Tenant) -> Result<Value, Vec<Diagnostic>> {
        self.render_tree(env, tenant).map(|tree| tree.value)
    }

    /// [`Templates::render`], saying whether the tree may hold secret markers.
    pub(crate) fn render_tree(
        &self,
        env: &Environment,
        tenant: &Tenant,
    ) -> Result<Tree, Vec<Diagnostic>> {
        let parts = self.render_parts(env, tenant)?;
        self.lay_out(env, tenant, parts)
    }

    /// Renders the files of a tenant, to be laid out as its tree ([`Templates::lay_out`]) or
    /// read as its pattern's ([`Parts::into_values`]).
    pub(crate) fn render_parts(
        &self,
        env: &Environment,
        tenant: &Tenant,
    ) -> Result<Parts<'_>, Vec<Diagnostic>> {
        let rendered = omit_empty_entries(self.render_files(env, tenant)?);
        let base = self
            .files
            .display(&format!("templates/{}", tenant.template));
        // Each file is bounded when it is parsed; the tenant's tree, made of all of them, too.
        let nodes: usize = rendered
            .iter()
            .filter(|(path, _)| path.ends_with(".yaml"))
            .map(|(_, file)| match file {
                Rendered::Text(text) => crate::yaml::node_count(text),
                Rendered::Tree(_, nodes, _) => *nodes,
                Rendered::Holes(_, holes) => holes.nodes,
            })
            .sum();
        if nodes > crate::yaml::MAX_NODES {
            return Err(vec![Diagnostic::new(format!(
                "this tenant's rendered files hold more than {} values (promote's limit)",
                crate::yaml::MAX_NODES
            ))
            .in_file(&base)
            .context(&env.name, Some(&tenant.key))
            .hint(
                "something renders far more than a configuration holds: look for large loops",
            )]);
        }
        let may_hold_markers = rendered
            .iter()
            .any(|(rel, file)| file.may_hold_markers(rel));
        let pattern = rendered
            .iter()
            .map(|(rel, file)| match file {
                Rendered::Holes(_, holes) => u32::try_from(holes.variant).ok(),
                Rendered::Text(_) if !rel.ends_with(".yaml") => Some(TEXT_FILE),
                _ => None,
            })
            .collect::<Option<Vec<u32>>>()
            .map(|variants| Pattern {
                template: tenant.template.clone(),
                variants,
            });
        Ok(Parts {
            files: rendered,
            base,
            may_hold_markers,
            pattern,
        })
    }

    /// Lays out a tenant's rendered files as its tree, and settles its secret markers.
    pub(crate) fn lay_out(
        &self,
        env: &Environment,
        tenant: &Tenant,
        parts: Parts<'_>,
    ) -> Result<Tree, Vec<Diagnostic>> {
        let Parts {
            files: rendered,
            base,
            may_hold_markers,
            pattern,
        } = parts;
        // The layout reads the trees the shapes built as it reads the others' text; it names a
        // file `{base}/{rel}`.
        let mut built = HashMap::new();
        let dir = Dir::from_files(rendered.into_iter().map(|(rel, file)| match file {
            Rendered::Text(text) => (rel, text),
            Rendered::Tree(tree, ..) => {
                built.insert(rel.clone(), tree);
                (rel, String::new())
            }
            Rendered::Holes(shape, holes) => {
                built.insert(rel.clone(), shape.tree(holes));
                (rel, String::new())
            }
        }));
        let built = RefCell::new(built);
        let parse = |text: &str, file: &str| {
            let rel = file
                .strip_prefix(base.as_str())
                .and_then(|r| r.strip_prefix('/'));
            match rel.and_then(|rel| built.borrow_mut().remove(rel)) {
                Some(tree) => Ok(tree),
                None => crate::yaml::parse(text, file),
            }
        };
        let mut tree =
            layout::read_with(&layout::TENANT, &dir, &base, &parse).map_err(|problems| {
                problems
                    .into_iter()
                    .map(|mut d| {
                        // A YAML position in rendered text is a position in the template only when
                        // rendering changed nothing in that file; say so when it may not be.
                        let templated = d.location.as_ref().is_some_and(|l| l.line.is_some())
                            && !self.renders_verbatim(
                                &tenant.template,
                                &base,
                                &dir,
                                d.location.as_ref().map(|l| l.file.as_str()),
                            );
                        if templated {
                            d.message.push_str(" (position in the rendered text)");
                        }
                        d.context(&env.name, Some(&tenant.key))
                    })
                    .collect::<Vec<_>>()
            })?;
        // A tree with no `<secret:` anywhere has no marker to settle and none forged: most
        // tenants' files are built by shapes, which know, and need not be searched.
        let forged = if may_hold_markers {
            markers::settle(&mut tree, &self.nonce)
        } else {
            Vec::new()
        };
        if forged.is_empty() {
            return Ok(Tree {
                value: tree,
                may_hold_markers,
                pattern,
            });
        }
        Err(forged
            .iter()
            .map(|f| {
                self.forged_diagnostic(tenant, &tree, f)
                    .context(&env.name, Some(&tenant.key))
            })
            .collect())
    }

    /// A secret marker that `secret()` did not write, at its template file and line.
    fn forged_diagnostic(
        &self,
        tenant: &Tenant,
        tree: &Value,
        forged: &markers::Forged,
    ) -> Diagnostic {
        let location = template_location(self.files, &tenant.template, tree, &forged.pointer);
        // Where a credential field is, what looks like a marker's name may be the secret
        // (`<secret:sk_live_...>`): its text is not repeated.
        let field =
            crate::credentials::field_of(&forged.pointer, crate::credentials::Scope::Tenant);
        let name = match (&forged.name, &field) {
            (Some(name), None) => name.as_str(),
            _ => "NAME",
        };
        // ` <secret:NAME>`, or why it is not shown; nothing for a marker cut short.
        let marker = match (&forged.name, &field) {
            (Some(name), None) => format!(" `{}`", crate::credentials::marker(name)),
            (Some(_), Some(_)) => {
                " (not shown: in a credential field, it may be the secret)".to_owned()
            }
            (None, _) => String::new(),
        };
        let d = if forged.key {
            // A file's or a directory's name is a key too; secret() cannot write either.
            Diagnostic::new(format!(
                "a key holding a secret marker{marker}: markers come only from secret(), as the value of a credential field"
            ))
            .hint("rename the key, or the file or directory that names it: a secret goes only where a credential field's value does (`client_secret: {{ secret(\"NAME\") }}`)")
        } else {
            let message = match &forged.name {
                Some(_) => format!(
                    "a secret marker{marker} that secret() did not write: markers come only from secret()"
                ),
                None => "text that starts as a secret marker does (`<secret:`) where secret() did not write one: markers come only from secret()".to_owned(),
            };
            let secret = format!("{{{{ secret(\"{name}\") }}}}");
            // Where no credential field is, secret() is refused too: say where it goes.
            let hint = match (&forged.name, field) {
                (Some(_), Some(_)) => format!("write {secret}, NAME the secret's name (its value goes in PROMOTE_SECRET_NAME at apply time)"),
                (None, Some(_)) => format!("write {secret}, NAME of letters, digits and '_'"),
                (_, None) => format!("a secret goes only in a credential field's value (`client_secret: {secret}`); write this value itself here"),
            };
            Diagnostic::new(message).hint(hint)
        };
        d.at(location).pointer(forged.pointer.clone())
    }

    /// A limit of the sandbox reached while rendering template `rendering`.
    fn trip_diagnostic(&self, trip: &sandbox::Trip, rendering: &str) -> Diagnostic {
        let place = trip.place.and_then(|p| self.places.get(p));
        let file = place.map_or(rendering, |p| p.file.as_str());
        let path = self.files.display(&format!("templates/{file}"));
        let location = place
            .and_then(|p| p.at)
            .and_then(|at| {
                let source = self.files.templates.get(file)?;
                let (line, column) = crate::diagnostic::line_column(source, at);
                Some(Location::at(&path, line, column))
            })
            .unwrap_or_else(|| Location::file(&path));
        let d = Diagnostic::new(trip.limit.to_string()).at(location);
        match trip.limit.hint() {
            Some(hint) => d.hint(hint),
            None => d,
        }
    }

    /// Returns whether the file a diagnostic names rendered to exactly its template text.
    fn renders_verbatim(&self, template: &str, base: &str, dir: &Dir, file: Option<&str>) -> bool {
        let Some(rel) = file
            .and_then(|f| f.strip_prefix(base))
            .and_then(|f| f.strip_prefix('/'))
        else {
            return false;
        };
        let mut at = dir;
        let mut parts: Vec<&str> = rel.split('/').collect();
        let Some(name) = parts.pop() else {
            return false;
        };
        for part in parts {
            match at.dirs.get(part) {
                Some(d) => at = d,
                None => return false,
            }
        }
        at.files.get(name).is_some_and(|text| {
            self.files.templates.get(&format!("{template}/{rel}")) == Some(text)
        })
    }

    fn render_diagnostic(&self, name: &str, error: &tera::Error) -> Diagnostic {
        let chain = error_chain(error);
        let undefined = links(error).find_map(|e| undefined_variable(&e.to_string()));
        // Tera names the innermost template being rendered (an include or macro file) only in
        // this message.
        let inner = undefined
            .as_ref()
            .map(|(_, template)| template.as_str())
            .filter(|n| self.files.templates.contains_key(*n))
            .unwrap_or(name);
        let path = self.files.display(&format!("templates/{inner}"));
        let variable = undefined.as_ref().map(|(v, _)| v.as_str());
        // A missing include: Tera names it "[a, b]" (the names it tried).
        let missing = links(error).find_map(|e| match e.downcast_ref::<tera::Error>() {
            Some(tera::Error {
                kind: tera::ErrorKind::TemplateNotFound(name),
                ..
            }) => Some(
                name.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            ),
            _ => None,
        });
        // A function that failed: Tera names it, not where it was called.
        let function = links(error).find_map(|e| match e.downcast_ref::<tera::Error>() {
            Some(tera::Error {
                kind: tera::ErrorKind::CallFunction(name),
                ..
            }) => Some(name.as_str()),
            _ => None,
        });
        let source = self.files.templates.get(inner);
        let offset = match (variable.or(missing.as_deref()), function) {
            (Some(needle), _) => source.and_then(|s| s.find(needle)),
            // Only where the file calls it once: another call may be the one that failed.
            (None, Some(function)) => source.and_then(|s| only_call(s, function)),
            (None, None) => None,
        };
        let location = match (source, offset) {
            (Some(source), Some(offset)) => {
                let (line, column) = crate::diagnostic::line_column(source, offset);
                Location::at(&path, line, column)
            }
            _ => Location::file(&path),
        };
        let mut d = Diagnostic::new(tidy(&chain)).at(location);
        if let Some(v) = variable {
            d = d.hint(format!(
                "`{v}` is not defined: define it in the environment's `vars` or the tenant's `vars`, or use `{v} | default(value=...)`"
            ));
        }
        d
    }
}

/// Returns the shape of every YAML file of the template directories that has one, and adds
/// the templates that render their slots to `tera` ([`shape`]); and the text shape of every
/// other file that has one ([`shape::Text`]). The variables both write are numbered in
/// `variables`.
fn shapes(
    tera: &mut Tera,
    graph: &graph::Graph,
    variables: &mut shape::Variables,
) -> (HashMap<String, shape::Shape>, HashMap<String, shape::Text>) {
    let mut shapes = HashMap::new();
    let mut texts = HashMap::new();
    for name in graph.all_template_files() {
        if !name.ends_with(".yaml") {
            if let Some(text) = shape::Text::of(name, tera, variables) {
                texts.insert(name.to_owned(), text);
            }
            continue;
        }
        // A name no file can have: a path never holds NUL.
        let slots = format!("\0slots/{name}");
        if let Some((shape, templates)) = shape::Shape::of(name, tera, slots, variables) {
            for template in templates {
                tera.templates.insert(template.name.clone(), template);
            }
            shapes.insert(name.to_owned(), shape);
        }
    }
    (shapes, texts)
}

/// Whether `PROMOTE_NO_CACHE=1` asks for the straight path: every file rendered as text and
/// parsed (no shapes), and environment files read as serde_yaml reads them (not as the parser
/// goes). For bug reports, and to compare.
pub(crate) fn straight_path_asked() -> bool {
    std::env::var_os("PROMOTE_NO_CACHE").is_some_and(|v| v == "1")
}

/// Returns the Tera context of a tenant in an environment.
pub(crate) fn context(env: &Environment, tenant: &Tenant) -> Value {
    json!({
        "env": {"name": env.name, "vars": env.file.vars},
        "tenant": {"key": tenant.key, "id": tenant.id, "template": tenant.template, "vars": tenant.vars},
        "vars": overlay(&env.file.vars, &tenant.vars),
    })
}

/// Returns where in template directory `template` of `files` the value at `pointer` of the
/// tenant tree `tree` (rendered from it) is written: the file the layout puts it in, and the
/// line and column of its key when the file is YAML and the key is found in the template text.
pub(crate) fn template_location(
    files: &RepoFiles,
    template: &str,
    tree: &Value,
    pointer: &str,
) -> Location {
    let segments = crate::patch::pointer::parse(pointer).unwrap_or_default();
    let (rel, used) = layout::file_of(&layout::TENANT, tree, &segments);
    let template_path = format!("{template}/{rel}");
    let shown = files.display(&format!("templates/{template_path}"));
    let keys: Vec<&str> = segments[used.min(segments.len())..]
        .iter()
        .map(String::as_str)
        .collect();
    files
        .templates
        .get(&template_path)
        .filter(|_| rel.ends_with(".yaml"))
        .and_then(|source| crate::diagnostic::locate_yaml_keys(source, &keys))
        .map(|(line, column)| Location::at(&shown, line, column))
        .unwrap_or_else(|| Location::file(&shown))
}

/// Returns the rendered files without the entries that rendered to nothing (only white space),
/// and without those entries' sidecars. That is how a template makes an entry exist for some
/// tenants only: `{% if vars.plan == "gold" %}...{% endif %}` around a whole file. The node
/// files (`tenant.yaml`, `workspace.yaml`) always count, as `{}` when empty.
fn omit_empty_entries(files: Vec<(String, Rendered)>) -> Vec<(String, Rendered)> {
    let is_node_file = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        name == layout::TENANT.file || name == layout::WORKSPACE.file
    };
    let omitted: Vec<String> = files
        .iter()
        .filter(|(path, file)| {
            path.ends_with(".yaml")
                && !is_node_file(path)
                && matches!(file, Rendered::Text(text) if text.trim().is_empty())
        })
        .map(|(path, _)| path.trim_end_matches(".yaml").to_owned())
        .collect();
    if omitted.is_empty() {
        return files;
    }
    files
        .into_iter()
        .filter(|(path, _)| {
            let stem = path
                .rsplit_once('.')
                .map_or(path.as_str(), |(stem, _)| stem);
            !omitted.iter().any(|o| o == stem)
        })
        .collect()
}

/// Returns the errors of a Tera error's chain, outermost first, without the calls of the
/// sandbox's own functions and filters (see `instrument`), which are no news.
fn links(error: &tera::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
    .filter(|e| match e.downcast_ref::<tera::Error>().map(|e| &e.kind) {
        Some(tera::ErrorKind::CallFunction(name) | tera::ErrorKind::CallFilter(name)) => {
            !name.starts_with("__promote_")
        }
        _ => true,
    })
}

/// Returns the messages of a Tera error's chain, joined by ": ".
fn error_chain(error: &tera::Error) -> String {
    links(error)
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Returns where `source` calls function `name` (`name(`, not part of a longer name), when it
/// calls it exactly once.
fn only_call(source: &str, name: &str) -> Option<usize> {
    let call = format!("{name}(");
    let mut calls = source.match_indices(&call).filter(|(at, _)| {
        !source[..*at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
    });
    let (first, _) = calls.next()?;
    calls.next().is_none().then_some(first)
}

/// Returns (the variable, the template being rendered) of Tera's message for an undefined
/// variable, which it gives only as text: "Variable `NAME` not found in context while
/// rendering 'TEMPLATE'" (pinned by a test).
fn undefined_variable(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("Variable `")?;
    let (variable, rest) = rest.split_once("` not found in context while rendering '")?;
    let template = rest.split('\'').next()?;
    Some((variable.to_owned(), template.to_owned()))
}

/// Returns the line and column, and what was expected, of Tera's parse error, which it gives
/// only as text: " --> L:C\n  |\n...\n  = expected ..." (pinned by a test).
fn parse_error_position(message: &str) -> (Option<(usize, usize)>, Option<&str>) {
    let position = message.split("--> ").nth(1).and_then(|s| {
        let end = s
            .find(|c: char| !c.is_ascii_digit() && c != ':')
            .unwrap_or(s.len());
        let (line, column) = s[..end].split_once(':')?;
        Some((line.parse().ok()?, column.parse().ok()?))
    });
    let expected = message.lines().find_map(|l| l.trim().strip_prefix("= "));
    (position, expected)
}

/// Returns Tera's message without its "Failed to render 'x'" prefixes, which the location says.
fn tidy(chain: &str) -> String {
    let parts: Vec<&str> = chain
        .split(": ")
        .filter(|p| {
            // Tera's render context, which the location says; Tera gives it only as text.
            !p.starts_with("Failed to render") && !p.starts_with("Failed to parse")
        })
        .collect();
    let joined = parts.join(": ");
    let message = joined
        .split(" while rendering '")
        .next()
        .unwrap_or(&joined)
        .trim();
    if message.is_empty() {
        chain.to_owned()
    } else {
        message.to_owned()
    }
}

/// A template that imports macros from, or extends, template `missing`, which does not exist.
fn missing_diagnostic(files: &RepoFiles, name: &str, missing: &str) -> Diagnostic {
    let path = files.display(&format!("templates/{name}"));
    let location = files
        .templates
        .get(name)
        .and_then(|source| source.find(missing).map(|o| (source, o)))
        .map(|(source, offset)| {
            let (line, column) = crate::diagnostic::line_column(source, offset);
            Location::at(&path, line, column)
        })
        .unwrap_or_else(|| Location::file(&path));
    Diagnostic::new(format!(
        "`{missing}` does not exist (imported or extended here)"
    ))
    .at(location)
    .hint("import/extends names are paths relative to templates/, e.g. \"_shared/macros.tera\"")
}

/// Tera's parse error of template `name`, at its line and column.
fn syntax_diagnostic(files: &RepoFiles, name: &str, error: &tera::Error) -> Diagnostic {
    let path = files.display(&format!("templates/{name}"));
    let chain = error_chain(error);
    let (position, expected) = parse_error_position(&chain);
    let location = match position {
        Some((line, column)) => Location::at(&path, line, column),
        None => Location::file(&path),
    };
    Diagnostic::new(format!(
        "template syntax error: {}",
        expected.unwrap_or("syntax error")
    ))
    .at(location)
}

#[cfg(test)]
mod tests_support {
    use crate::source::{Origin, RepoFiles};

    pub(crate) fn repo(templates: &[(&str, &str)], env: &str) -> RepoFiles {
        RepoFiles {
            templates: templates
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            environments: [("prod".to_owned(), env.to_owned())].into(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        }
    }

    pub(crate) const ENV: &str = "target: {url: https://x}\nvars: {domain: example.com, ttl: {access: 60}}\ntenants:\n  acme: {id: acme-prod, vars: {ttl: {refresh: 600}}}\n";
}

#[cfg(test)]
mod tests {
    use super::tests_support::{repo, ENV};
    use super::*;

    fn render(files: &RepoFiles) -> Result<Value, Vec<Diagnostic>> {
        let renderer = Templates::compile(files)?;
        let env = files.environment("prod").unwrap();
        let tenants = env.tenants(&files.template_dirs()).unwrap();
        renderer.render(&env, &tenants[0])
    }

    #[test]
    fn renders_context_includes_macros_and_secrets() {
        let files = repo(
            &[
                ("acme/tenant.yaml", "name: {{ tenant.id }}\nurl: https://{{ tenant.id }}.{{ vars.domain }}\nttl: {{ vars.ttl.access }}/{{ vars.ttl.refresh }}\nenv: {{ env.name }}\n"),
                ("acme/workspaces/default/workspace.yaml", "{% import \"_shared/m.tera\" as m %}\nname: Default\ngrant_types: {{ m::grants() }}\n"),
                ("acme/workspaces/default/clients/backend.yaml", "{% include \"_shared/client.yaml\" %}\nclient_secret: {{ secret(\"BACKEND\") }}\n"),
                ("acme/workspaces/default/scripts/s.yaml", "name: s\n"),
                ("acme/workspaces/default/scripts/s.js", "// {{ tenant.key }}\n"),
                ("_shared/m.tera", "{% macro grants() %}[authorization_code, refresh_token]{% endmacro grants %}"),
                ("_shared/client.yaml", "client_name: backend"),
            ],
            ENV,
        );
        let tree = render(&files).unwrap();
        assert_eq!(
            tree,
            json!({
                "name": "acme-prod", "url": "https://acme-prod.example.com", "ttl": "60/600", "env": "prod",
                "servers": {"default": {
                    "name": "Default",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "clients": {"backend": {"client_name": "backend", "client_secret": "<secret:BACKEND>"}},
                    "scripts": {"s": {"name": "s", "body": "// acme\n"}}
                }}
            })
        );
    }

    fn first_error(files: &RepoFiles) -> String {
        render(files).unwrap_err()[0].to_string()
    }

    #[test]
    fn undefined_variable_names_file_line_and_column() {
        let files = repo(
            &[("acme/tenant.yaml", "name: x\nurl: {{ vars.nope }}\n")],
            ENV,
        );
        let err = first_error(&files);
        assert!(
            err.starts_with(
                "templates/acme/tenant.yaml:2:9: Variable `vars.nope` not found in context"
            ),
            "{err}"
        );
        assert!(
            err.contains("(env prod, tenant acme)") && err.contains("hint:"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_are_all_reported_with_positions() {
        let files = repo(
            &[
                ("acme/tenant.yaml", "name: {{ x \n"),
                ("acme/pools/p.yaml", "a: 1\n{% if %}\n"),
                ("_shared/ok.yaml", "a: 1\n"),
            ],
            ENV,
        );
        let errs = Templates::compile(&files).err().unwrap();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("templates/acme/tenant.yaml:2:1: template syntax error")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("templates/acme/pools/p.yaml:2:")),
            "{text:#?}"
        );
    }

    #[test]
    fn teras_message_formats_are_what_promote_reads() {
        // Tera gives these only as text: a Tera upgrade that changes them fails here.
        let mut tera = Tera::default();
        tera.add_raw_template("t", "{{ nope }}").unwrap();
        let err = tera.render("t", &Context::new()).unwrap_err();
        let found = links(&err).find_map(|e| undefined_variable(&e.to_string()));
        assert_eq!(
            found,
            Some(("nope".into(), "t".into())),
            "{}",
            error_chain(&err)
        );
        let err = tera::Template::new("p", None, "a\nb {{ x | }}").unwrap_err();
        assert_eq!(
            parse_error_position(&error_chain(&err)),
            (
                Some((2, 10)),
                Some("expected an identifier (must start with a-z)")
            ),
            "{}",
            error_chain(&err)
        );
    }

    #[test]
    fn missing_parents_and_macro_files_are_found_in_the_graph() {
        let files = repo(
            &[
                (
                    "acme/tenant.yaml",
                    "{% import \"_shared/m.tera\" as m %}name: a\n",
                ),
                ("acme/pools/p.yaml", "\n{% extends \"_shared/nope.yaml\" %}"),
                ("_shared/m.tera", "{% import \"_shared/gone.tera\" as g %}"),
            ],
            ENV,
        );
        let mut errs: Vec<String> = Templates::compile(&files)
            .err()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        errs.sort();
        // `acme/tenant.yaml` is refused once `_shared/m.tera` is left out.
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].starts_with("templates/_shared/m.tera:1:12: `_shared/gone.tera` does not exist (imported or extended here)"), "{errs:#?}");
        assert!(
            errs[1].starts_with(
                "templates/acme/pools/p.yaml:2:13: `_shared/nope.yaml` does not exist"
            ),
            "{errs:#?}"
        );
        assert!(
            errs[2].starts_with("templates/acme/tenant.yaml:1:12: `_shared/m.tera` does not exist"),
            "{errs:#?}"
        );
    }

    #[test]
    fn unknown_include_is_an_error() {
        let files = repo(
            &[(
                "acme/tenant.yaml",
                "{% include \"_shared/missing.yaml\" %}\n",
            )],
            ENV,
        );
        let err = match Templates::compile(&files) {
            Err(e) => e[0].to_string(),
            Ok(r) => {
                let env = files.environment("prod").unwrap();
                let t = &env.tenants(&files.template_dirs()).unwrap()[0];
                r.render(&env, t).unwrap_err()[0].to_string()
            }
        };
        assert!(err.contains("_shared/missing.yaml"), "{err}");
    }

    #[test]
    fn invalid_yaml_after_rendering_names_the_template() {
        let files = repo(
            &[("acme/tenant.yaml", "name: {{ tenant.id }}\nbad: [\n")],
            ENV,
        );
        let err = first_error(&files);
        assert!(
            err.starts_with("templates/acme/tenant.yaml:3:1: invalid YAML"),
            "{err}"
        );
        assert!(err.contains("(position in the rendered text)"), "{err}");
    }

    #[test]
    fn entries_that_render_to_nothing_are_left_out() {
        let files = repo(
            &[
                ("acme/tenant.yaml", "name: x\n"),
                ("acme/workspaces/w/workspace.yaml", ""),
                ("acme/workspaces/w/scripts/gold.yaml", "{% if tenant.vars.plan | default(value='') == 'gold' %}name: gold{% endif %}\n"),
                ("acme/workspaces/w/scripts/gold.js", "// body\n"),
                ("acme/workspaces/w/scripts/all.yaml", "name: all\n"),
            ],
            ENV,
        );
        let tree = render(&files).unwrap();
        assert_eq!(
            tree["servers"]["w"]["scripts"],
            json!({"all": {"name": "all"}})
        );
    }

    #[test]
    fn bad_secret_names_are_refused() {
        let files = repo(&[("acme/tenant.yaml", "s: {{ secret(\"a b\") }}\n")], ENV);
        assert!(first_error(&files).contains("secret name `a b`"));
    }

    fn errors(files: &RepoFiles) -> Vec<String> {
        match render(files) {
            Ok(tree) => panic!("rendered: {tree}"),
            Err(ds) => ds.iter().map(ToString::to_string).collect(),
        }
    }

    fn fails_with(templates: &[(&str, &str)], words: &[&str]) -> String {
        let files = repo(templates, ENV);
        let started = std::time::Instant::now();
        let all = errors(&files).join("\n");
        for word in words {
            assert!(all.contains(word), "{word:?} not in:\n{all}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "slow: {all}"
        );
        all
    }

    #[test]
    fn only_secret_and_range_can_be_called() {
        for (call, name) in [
            ("get_env(name='PROMOTE_PROD_CLIENT_SECRET')", "get_env()"),
            ("now()", "now()"),
            ("get_random(end=10)", "get_random()"),
            ("throw(message='x')", "throw()"),
        ] {
            let text = format!("name: a\nmanaged_by: \"{{{{ {call} }}}}\"\n");
            let all = fails_with(&[("acme/tenant.yaml", &text)], &[name]);
            assert!(
                all.starts_with(&format!("templates/acme/tenant.yaml:2:17: `{name}` is not available: promote templates can call only secret() and range()")),
                "{all}"
            );
        }
        // Refused even where it would not render, and in macros.
        fails_with(
            &[
                (
                    "acme/tenant.yaml",
                    "{% if false %}{{ get_env(name='HOME') }}{% endif %}name: a\n",
                ),
                (
                    "_shared/m.tera",
                    "{% macro m() %}{% set x = [1, now()] %}{% endmacro m %}",
                ),
            ],
            &[
                "templates/acme/tenant.yaml:1:18: `get_env()`",
                "templates/_shared/m.tera:1:31: `now()`",
            ],
        );
    }

    #[test]
    fn nested_loops_over_literal_lists_stop() {
        let list = "[1,2,3,4,5,6,7,8,9,10]";
        let mut text = String::from("name: a\n");
        for i in 0..10 {
            text.push_str(&format!("{{% for a{i} in {list} %}}"));
        }
        text.push('x');
        text.push_str(&"{% endfor %}".repeat(10));
        let all = fails_with(
            &[("acme/tenant.yaml", &text)],
            &["the loops and macro calls of this tenant's templates ran more than 1000000 times (promote's limit)", "nested loops multiply"],
        );
        assert!(all.starts_with("templates/acme/tenant.yaml:2:"), "{all}");
        assert!(all.contains("(env prod, tenant acme)"), "{all}");
    }

    #[test]
    fn doubling_strings_stop_within_the_limits() {
        let doubling = format!(
            "{{% set_global s = \"0123456789abcdef\" %}}{}name: a\n",
            "{% set_global s = s ~ s %}".repeat(30)
        );
        let all = fails_with(
            &[("acme/tenant.yaml", &doubling)],
            &["a value of more than 4 MiB"],
        );
        assert!(all.starts_with("templates/acme/tenant.yaml:1:"), "{all}");
        // In a loop: each value stays small, their total does not.
        let looped = "{% set_global s = \"0123456789abcdef\" %}{% for i in range(end=40) %}{% set_global s = s ~ s %}{% endfor %}name: a\n";
        fails_with(&[("acme/tenant.yaml", looped)], &["promote's limit"]);
    }

    #[test]
    fn doubling_macros_stop() {
        // Each macro calls the previous one four times: 4^12 copies, a dozen levels deep.
        let mut macros = String::from("{% macro m0() %}0123456789abcdef{% endmacro m0 %}");
        for i in 1..=12 {
            let p = i - 1;
            let call = format!("{{{{ self::m{p}() }}}}");
            macros.push_str(&format!(
                "{{% macro m{i}() %}}{}{{% endmacro m{i} %}}",
                call.repeat(4)
            ));
        }
        let text = format!("{macros}name: \"{{{{ self::m12() }}}}\"\n");
        let all = fails_with(
            &[("acme/tenant.yaml", &text)],
            &["templates/acme/tenant.yaml:1:"],
        );
        assert!(
            all.contains("ran more than 1000000 times")
                || all.contains("produced more than 64 MiB"),
            "{all}"
        );
    }

    #[test]
    fn amplifying_filters_stop() {
        let big = "{% set_global s = \"aaaaaaaaaaaaaaaa\" %}{% for i in range(end=16) %}{% set_global s = s ~ s %}{% endfor %}{% set_global l = \"\n\" %}{% for i in range(end=16) %}{% set_global l = l ~ l %}{% endfor %}";
        for (expr, filter) in [
            ("s | replace(from=\"a\", to=\"0123456789abcdef\")", "replace"),
            ("l | indent(prefix=\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\")", "indent"),
            ("[s, s] | join(sep=s ~ s ~ s ~ s ~ s)", "join"),
            ("[s, s, s] | concat(with=[s, s, s])", "concat"),
            ("s | split(pat=\"\")", "split"),
        ] {
            let text = format!("{big}{{% set x = \"a\n\" %}}name: \"{{{{ {expr} | length }}}}\"\n");
            fails_with(
                &[("acme/tenant.yaml", &text)],
                &[&format!("filter `{filter}` would make a value of more than 4 MiB")],
            );
        }
        // A filter failing in a condition (which Tera reads as false) is still reported.
        let condition = format!("{big}{{% if s | replace(from=\"a\", to=\"0123456789abcdef\") %}}{{% endif %}}name: a\n");
        fails_with(&[("acme/tenant.yaml", &condition)], &["filter `replace`"]);
        // And so is a `{% filter %}` section writing in a loop.
        let section = format!("{big}{{% for i in range(end=100) %}}{{% filter replace(from=\"b\", to=s) %}}bbb{{% endfilter %}}{{% endfor %}}name: a\n");
        fails_with(&[("acme/tenant.yaml", &section)], &["64 MiB"]);
    }

    #[test]
    fn output_values_and_nesting_are_bounded() {
        let big = "{% set_global s = \"aaaaaaaaaaaaaaaa\" %}{% for i in range(end=16) %}{% set_global s = s ~ s %}{% endfor %}";
        let out =
            format!("{big}name: a\n# {{% for i in range(end=100) %}}{{{{ s }}}}{{% endfor %}}\n");
        fails_with(
            &[("acme/tenant.yaml", &out)],
            &["produced more than 64 MiB"],
        );
        let array = format!("{big}{{% set x = [s, s, s, s, s] %}}name: a\n");
        fails_with(
            &[("acme/tenant.yaml", &array)],
            &["a value of more than 4 MiB"],
        );
        let deep = "{% set_global a = [] %}{% for i in range(end=200) %}{% set_global a = [a] %}{% endfor %}name: a\n";
        let all = fails_with(
            &[("acme/tenant.yaml", deep)],
            &[
                "a value nested more than 128 levels deep",
                "set_global x = [x]",
            ],
        );
        assert!(all.starts_with("templates/acme/tenant.yaml:1:"), "{all}");
    }

    #[test]
    fn deep_structures_are_refused_before_rendering() {
        // A chain of macros, each calling the next: no recursion, but as deep as it is long.
        let mut chain = String::new();
        for i in 0..2000 {
            chain.push_str(&format!(
                "{{% macro m{i}() %}}{{{{ self::m{}() }}}}{{% endmacro m{i} %}}",
                i + 1
            ));
        }
        chain.push_str("{% macro m2000() %}x{% endmacro m2000 %}");
        let text = format!("{chain}name: \"{{{{ self::m0() }}}}\"\n");
        let files = repo(&[("acme/tenant.yaml", &text)], ENV);
        let err = Templates::compile(&files).err().unwrap()[0].to_string();
        assert!(
            err.contains("rendering nests more than 64 levels deep"),
            "{err}"
        );
        // Import cycles, which Tera follows until the stack overflows.
        let files = repo(
            &[
                (
                    "acme/tenant.yaml",
                    "{% import \"_shared/a.tera\" as a %}name: a\n",
                ),
                (
                    "_shared/a.tera",
                    "{% import \"_shared/b.tera\" as b %}{% macro f() %}{% endmacro f %}",
                ),
                (
                    "_shared/b.tera",
                    "{% import \"_shared/a.tera\" as a %}{% macro g() %}{% endmacro g %}",
                ),
            ],
            ENV,
        );
        let err = Templates::compile(&files).err().unwrap()[0].to_string();
        assert!(
            err.contains("imports and extends go round in a cycle"),
            "{err}"
        );
        // Tags nested too deep for Tera's parser.
        let deep = format!(
            "{}x{}",
            "{% if true %}".repeat(65),
            "{% endif %}".repeat(65)
        );
        let files = repo(&[("acme/tenant.yaml", &deep)], ENV);
        let err = Templates::compile(&files).err().unwrap()[0].to_string();
        assert!(
            err.starts_with("templates/acme/tenant.yaml:1:833: tags nested more than 64 deep"),
            "{err}"
        );
        // Recursion through a namespace imported by an import: `i.yaml` sees `m` through `k`.
        let files = repo(
            &[
                (
                    "acme/tenant.yaml",
                    "{% import \"_shared/m.tera\" as m %}name: \"{{ m::f() }}\"\n",
                ),
                (
                    "_shared/m.tera",
                    "{% macro f() %}{% include \"_shared/i.yaml\" %}{% endmacro f %}",
                ),
                (
                    "_shared/i.yaml",
                    "{% import \"_shared/k.tera\" as k %}{{ m::f() }}",
                ),
                (
                    "_shared/k.tera",
                    "{% import \"_shared/m.tera\" as m %}{% macro h() %}{% endmacro h %}",
                ),
            ],
            ENV,
        );
        let err = Templates::compile(&files).err().unwrap()[0].to_string();
        assert!(err.contains("recursion"), "{err}");
    }

    #[test]
    fn the_deepest_accepted_templates_render_on_a_small_stack() {
        // Tags nested as deep as the nesting limit allows, and a chain of macros as long as
        // it allows, render on a 2 MiB thread (the default of the rendering threads), even
        // unoptimised.
        let ifs = format!(
            "name: \"{}{{{{ ((((tenant.id)))) }}}}{}\"\n",
            "{% if true %}".repeat(60),
            "{% endif %}".repeat(60)
        );
        let mut chain =
            String::from("{% macro m16(a) %}{{ (((a + 1) * 2) - 1) }}{% endmacro m16 %}");
        for i in 0..16 {
            chain.push_str(&format!(
                "{{% macro m{i}(a) %}}{{% for x in [1] %}}{{{{ self::m{}(a=a) }}}}{{% endfor %}}{{% endmacro m{i} %}}",
                i + 1
            ));
        }
        let chain = format!("{chain}name: \"{{{{ self::m0(a=1) }}}}\"\n");
        let filters = format!(
            "name: \"{}{{{{ tenant.id }}}}{}\"\n",
            "{% filter trim %}".repeat(60),
            "{% endfilter %}".repeat(60)
        );
        let mut includes: Vec<(String, String)> = (0..60)
            .map(|i| {
                (
                    format!("_shared/i{i}.yaml"),
                    format!("{{% include \"_shared/i{}.yaml\" %}}", i + 1),
                )
            })
            .collect();
        includes.push(("_shared/i60.yaml".into(), "{{ tenant.id }}".into()));
        let included = "name: \"{% include \"_shared/i0.yaml\" %}\"\n".to_owned();
        for (text, more) in [
            (ifs, vec![]),
            (chain, vec![]),
            (filters, vec![]),
            (included, includes),
        ] {
            let mut all = vec![("acme/tenant.yaml", text.as_str())];
            all.extend(more.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            let files = repo(&all, ENV);
            let renderer = match Templates::compile(&files) {
                Ok(r) => r,
                Err(e) => panic!("{e:?}"),
            };
            let env = files.environment("prod").unwrap();
            let tenant = env.tenants(&files.template_dirs()).unwrap().remove(0);
            std::thread::scope(|s| {
                std::thread::Builder::new()
                    .stack_size(2 << 20)
                    .spawn_scoped(s, || renderer.render(&env, &tenant).unwrap())
                    .unwrap()
                    .join()
                    .unwrap()
            });
        }
    }

    #[test]
    fn what_made_tera_panic_is_an_error_or_works() {
        let env = "target: {url: https://x}\nvars: {big: 1.7e308, s: \"e\\u0301x\"}\ntenants:\n  acme: {id: acme-prod}\n";
        let check = |text: &str, expect: Result<&str, &str>| {
            let files = repo(&[("acme/tenant.yaml", text)], env);
            match (render(&files), expect) {
                (Ok(tree), Ok(name)) => assert_eq!(tree["name"], json!(name), "{text}"),
                (Err(ds), Err(word)) => {
                    let all: Vec<String> = ds.iter().map(ToString::to_string).collect();
                    assert!(all.join("\n").contains(word), "{text}: {all:?}");
                }
                (got, _) => panic!("{text}: {got:?}"),
            }
        };
        check(
            "name: \"{{ vars.big + vars.big }}\"\n",
            Err("too large to add or subtract"),
        );
        check(
            "name: \"{{ 0 - vars.big - vars.big }}\"\n",
            Err("too large to add or subtract"),
        );
        check(
            "name: \"{% for c in vars.s %}[{{ c }}]{% endfor %}\"\n",
            Ok("[e][\u{301}][x]"),
        );
        check(
            "{% macro f() %}1{% endmacro f %}name: \"{{ self::f() + 1 }}\"\n",
            Err("a math operation needs a number"),
        );
        check(
            "{% macro f() %}1{% endmacro f %}{% if self::f() > 1 %}{% endif %}name: a\n",
            Err("a math operation needs a number"),
        );
        check(
            "{% set a = 'x' %}name: \"{% if not a ~ 'b' %}no{% else %}yes{% endif %}\"\n",
            Ok("yes"),
        );
        check(
            "name: \"{{ '10' | int(base=1) }}\"\n",
            Err("between 2 and 36"),
        );
        check(
            &format!("name: \"{{{{ 1{}.0 }}}}\"\n", "0".repeat(400)),
            Err("number literal too large"),
        );
        check("name: \"{{ 1.5 + 2 }}{{ 10 - 3 }}\"\n", Ok("3.57"));
    }

    #[test]
    fn secret_markers_cannot_be_forged() {
        let client = |secret: &str| {
            vec![
                ("acme/tenant.yaml".to_owned(), "name: a\n".to_owned()),
                (
                    "acme/workspaces/w/workspace.yaml".to_owned(),
                    "name: w\n".to_owned(),
                ),
                (
                    "acme/workspaces/w/clients/c.yaml".to_owned(),
                    format!("client_name: c\nclient_secret: {secret}\n"),
                ),
            ]
        };
        let run = |secret: &str, env: &str| {
            let templates = client(secret);
            let refs: Vec<(&str, &str)> = templates
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            render(&repo(&refs, env))
        };
        let tree = run("'{{ secret(\"BACKEND\") }}'", ENV).unwrap();
        assert_eq!(
            tree["servers"]["w"]["clients"]["c"]["client_secret"],
            json!("<secret:BACKEND>")
        );
        // Names changed after secret() are checked again; the result is an ordinary marker.
        let tree = run("'{{ secret(\"A\") | replace(from=\"A\", to=\"B\") }}'", ENV).unwrap();
        assert_eq!(
            tree["servers"]["w"]["clients"]["c"]["client_secret"],
            json!("<secret:B>")
        );
        for (forged, name) in [
            ("'<secret:PROD_DB>'", "PROD_DB"),
            ("\"\\x3csecret:PROD_DB>\"", "PROD_DB"),
            ("'{{ \"<secret:\" ~ \"PROD_DB>\" }}'", "PROD_DB"),
            ("'{{ vars.stolen }}'", "FROM_VARS"),
            ("'{{ secret(\"A\") | truncate(length=9, end=\">\") }}'", "A"),
        ] {
            let env = "target: {url: https://x}\nvars: {stolen: \"<secret:FROM_VARS>\"}\ntenants:\n  acme: {id: acme-prod}\n";
            let err = run(forged, env).unwrap_err()[0].to_string();
            // In a credential field what looks like a name may be the secret: not repeated.
            assert!(
                err.starts_with("templates/acme/workspaces/w/clients/c.yaml:2:1: a secret marker (not shown: in a credential field, it may be the secret) that secret() did not write"),
                "{forged}: {err}"
            );
            assert!(!err.contains(&format!("<secret:{name}>")), "{err}");
            assert!(!err.contains(&format!("\"{name}\"")), "{err}");
            assert!(
                err.contains("hint: write {{ secret(\"NAME\") }}, NAME the secret's name"),
                "{err}"
            );
        }
    }

    /// The templates of `files` compiled by plain Tera, as promote did before the sandbox, with
    /// the same `secret()` markers.
    fn plain(files: &RepoFiles, nonce: &str) -> Tera {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_function("secret", markers::secret(nonce.to_owned()));
        tera.register_function("range", bounds::range);
        let sources: Vec<(String, String)> = files
            .templates
            .iter()
            .map(|(name, text)| {
                let tags = scan::scan(text).tags;
                (
                    name.clone(),
                    scan::positional_secret(text, &tags).unwrap_or_else(|| text.clone()),
                )
            })
            .collect();
        tera.add_raw_templates(sources).unwrap();
        tera
    }

    /// Renders every template of `files` for every tenant of every environment, sandboxed and
    /// plain, and returns how many texts were compared (all equal).
    fn renders_as_plain_tera(files: &RepoFiles) -> usize {
        let renderer = Templates::compile(files).unwrap();
        let plain = plain(files, &renderer.nonce);
        let mut compared = 0;
        for env_name in files.environments.keys() {
            let env = files.environment(env_name).unwrap();
            for tenant in env.tenants(&files.template_dirs()).unwrap() {
                let context = Context::from_value(context(&env, &tenant)).unwrap();
                for name in files.templates.keys() {
                    bounds::start_tenant();
                    let expected = plain.render(name, &context).map_err(|e| error_chain(&e));
                    bounds::start_tenant();
                    let got = renderer
                        .tera
                        .render(name, &context)
                        .map_err(|e| error_chain(&e));
                    assert!(sandbox::take_trip().is_none(), "{name}");
                    match (&expected, &got) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "{env_name} {} {name}", tenant.key),
                        // Some shared files only render where they are included.
                        (Err(_), Err(_)) => {}
                        _ => panic!("{env_name} {} {name}: {expected:?} / {got:?}", tenant.key),
                    }
                    compared += usize::from(expected.is_ok());
                }
            }
        }
        compared
    }

    #[test]
    fn the_shipped_example_renders_as_with_plain_tera() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let files = RepoFiles::from_work_tree(root).unwrap();
        assert!(renders_as_plain_tera(&files) > 50);
    }

    #[test]
    fn instrumented_templates_render_as_plain_tera() {
        let main = r#"{% import "_m/m.tera" as m %}
{%- set xs = [1, 2, 3] -%}
{% for x in xs -%}
  - {{ x }}{% if loop.last %} last{% endif %} {{ loop.index }}/{{ loop.index0 }}{{ loop.first }}
{%- endfor %}
{% for k, v in vars.ttl %}{{ k }}={{ v }};{% endfor %}
{{ m::f(a=1) }} {{ m::f(a="x", b=[1,2]) }}
{% set_global g = 0 %}{% for i in range(end=5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{% set_global g = g + i %}{% set local = i %}{% endfor %}g={{ g }}
{{ 1 + 2 * 3 }} {{ 10 / 4 }} {{ 7 % 3 }} {{ 2.5 - 1 }} {{ -3 + 1 }} {{ (1 + 2) * 3 }} {{ 1 + 2 | abs }}
{{ "a" ~ vars.domain ~ 1 ~ 2.5 }} {{ 'q' ~ secret("X") }}
{% if "ex" in vars.domain and not false %}in{% endif %}{% if 2 not in xs %}nope{% else %}yes{% endif %}
{% if vars.domain is containing("ample") %}t{% elif true %}e{% else %}f{% endif %}{% if vars.nope is undefined %}u{% endif %}
{{ vars.domain | upper | replace(from="E", to="3") }} {{ vars.domain | title }} {{ vars.domain | capitalize }}
{{ xs | join(sep=", ") }} {{ xs | length }} {{ xs | reverse | first }} {{ xs | last }} {{ xs | slice(start=1) }}
{% filter upper %}inside {{ vars.domain }}{% endfilter %}|{% filter replace(from="a", to="b") %}aaa{% endfilter %}|{% filter safe %}s{% endfilter %}
{% raw %}{{ not a tag }}{% endraw %}
{#- comment -#}
  {{- "trimmed" -}}  
   x {%- if true -%}   y   {%- endif -%} z
{{ vars.nope | default(value="dflt") }} {{ not vars.nope }} {{ vars.ttl.access > 30 }}
{% set word = "héllo" %}{% for c in word %}[{{ c }}]{% endfor %}
{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] %}x{% else %}empty{% endfor %}
{{ [1, "a", true] }} {{ vars.ttl }} {{ xs | json_encode() }} {{ vars.ttl | json_encode(pretty=true) }}
{% if xs | length > 2 %}long{% endif %}{% if m::f(a=1) %}macro-truthy{% endif %}
{{ m::f(a=1) | trim }} {{ "abc" | truncate(length=2) }} {{ "a,b" | split(pat=",") }} {{ "x
y" | indent(prefix="> ") }}
{% include "_m/inc.yaml" %}
{{ secret("S") }} {{ secret(name="T") }}
{% if 1 + 1 == 2 and xs | length == 3 %}two{% endif %} {{ xs is iterable }} {{ 1 in [1] }}
{% set n = vars.ttl.access %}{{ n * 2 + 1 - n / 2 }} {{ n + 0.5 }} {% set seven = "7" | int %}{{ seven + 1 }} {{ 2.5 | round }}
{% for i in range(end=3, start=1) %}{% for j in range(end=i) %}{{ i }}{{ j }} {% endfor %}{% endfor %}
"#;
        let files = repo(
            &[
                ("t/main.yaml", main),
                ("_m/m.tera", "{% macro f(a, b=2) -%}\n  f({{ a }},{{ b }}){% for i in range(end=2) %}.{{ i }}{% endfor %}\n{%- endmacro f %}"),
                ("_m/inc.yaml", "{% import \"_m/m.tera\" as mm %}included {{ tenant.id }}\n{{ mm::f(a=tenant.key) }}"),
                ("_m/base.yaml", "base-start {% block body %}base-body {{ vars.domain }}{% block inner %}i{% endblock inner %}{% endblock body %} base-end"),
                ("t/child.yaml", "{% extends \"_m/base.yaml\" %}{% block body %}child {{ super() }}{% endblock body %}{% block inner %}ci{{ super() }}{% endblock inner %}"),
            ],
            "target: {url: https://x}\nvars: {domain: example.com, ttl: {access: 60, refresh: 600}}\ntenants:\n  acme: {id: acme-prod, template: t}\n",
        );
        assert_eq!(renders_as_plain_tera(&files), 5);
    }
}

#[cfg(test)]
mod shape_tests {
    //! The shapes ([`shape`]) against the straight path: the same trees and the same errors.
    use super::tests_support::repo;
    use super::*;
    use proptest::prelude::*;

    /// An environment with two tenants of template `acme`, `acme` and `acme2`, whose `vars`
    /// are `vars` (written as JSON, which is YAML, so that any string can be a value).
    fn env_with(vars: &Value) -> String {
        // Written as promote writes YAML: JSON's text leaves characters bare that YAML refuses.
        crate::yaml::to_string(
            &json!({"target": {"url": "https://x"}, "vars": vars, "tenants": {
            "acme": {"id": "acme-prod"}, "acme2": {"id": "acme-prod2", "template": "acme"}}}),
        )
    }

    /// What rendering a tenant gave, its errors as text.
    type Outcome = Result<Value, Vec<String>>;

    /// Renders tenant `acme` with shapes and straight; returns both, and how many files were
    /// built from a shape. Then renders `acme2`, whose slots read the same values, with the
    /// same templates (what `acme` rendered is reused) and straight, and asserts they agree.
    fn both(templates: &[(&str, &str)], vars: &Value) -> (Outcome, Outcome, u32) {
        let files = repo(templates, &env_with(vars));
        let text = |r: Result<Value, Vec<Diagnostic>>| {
            r.map_err(|ds| ds.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        let run = |t: &Templates, n: usize| {
            let env = files.environment("prod").unwrap();
            let tenants = env.tenants(&files.template_dirs()).unwrap();
            let tree = t.render_tree(&env, &tenants[n]);
            text(tree.map(|t| t.value))
        };
        // A tenant of a pattern is its pattern's laid-out tree with the values of its holes in
        // place, read in place or built.
        let in_place = |t: &Templates, n: usize, outcome: &Outcome| {
            let env = files.environment("prod").unwrap();
            let tenants = env.tenants(&files.template_dirs()).unwrap();
            let Ok(parts) = t.render_parts(&env, &tenants[n]) else {
                return;
            };
            let Some(laid) = parts.pattern.as_ref().and_then(|p| t.laid(p)) else {
                return;
            };
            let value = match outcome {
                Ok(value) => value,
                // Only a marker settled wrong stops a tenant all of whose files shapes built.
                Err(_) => return assert!(parts.may_hold_markers, "{outcome:?}"),
            };
            assert!(
                fills(laid.tree(), value),
                "{:#}\nfilled as\n{value:#}",
                laid.tree()
            );
            if parts.may_hold_markers {
                return;
            }
            let tenant = parts.into_filled(Arc::new(laid)).ok().expect("its values");
            assert_eq!(&tenant.view().to_value().into_owned(), value);
            assert_eq!(&tenant.into_value(), value);
        };
        let (fast, hits, again) = match Templates::compile(&files) {
            Ok(t) => {
                let r = run(&t, 0);
                let hits = t.shapes.values().map(shape::Shape::hits).sum();
                let again = run(&t, 1);
                in_place(&t, 0, &r);
                in_place(&t, 1, &again);
                (r, hits, Some(again))
            }
            Err(ds) => (Err(ds.iter().map(ToString::to_string).collect()), 0, None),
        };
        let straight = match Templates::compile(&files) {
            Ok(t) => {
                let t = t.straight();
                if let Some(again) = again {
                    assert_eq!(again, run(&t, 1), "the second tenant");
                }
                run(&t, 0)
            }
            Err(ds) => Err(ds.iter().map(ToString::to_string).collect()),
        };
        (fast, straight, hits)
    }

    /// Whether `tree` is `pattern` with each of its holes replaced by a scalar, and nothing
    /// else changed ([`Tree::pattern`]).
    fn fills(pattern: &Value, tree: &Value) -> bool {
        match (pattern, tree) {
            (p, t) if is_hole(p) => !t.is_object() && !t.is_array(),
            (Value::Object(p), Value::Object(t)) => {
                p.len() == t.len()
                    && p.iter()
                        .zip(t)
                        .all(|((pk, pv), (tk, tv))| pk == tk && fills(pv, tv))
            }
            (Value::Array(p), Value::Array(t)) => {
                p.len() == t.len() && p.iter().zip(t).all(|(p, t)| fills(p, t))
            }
            (p, t) => p == t,
        }
    }

    /// A tenant whose files are all built from their shapes has a pattern: its tree is the
    /// pattern's with the holes filled, a file that is not YAML holding its text; a key
    /// written by a tag, or a file the straight path renders, leaves it without one.
    #[test]
    fn a_tenant_built_from_shapes_has_a_pattern() {
        let env = env_with(&json!({"a": "x", "k": "key", "bad": "x #1"}));
        let pattern_of = |templates: &[(&str, &str)]| {
            let files = repo(templates, &env);
            let t = Templates::compile(&files).unwrap();
            let env = files.environment("prod").unwrap();
            let tenants = env.tenants(&files.template_dirs()).unwrap();
            let tree = t.render_tree(&env, &tenants[0]).unwrap();
            tree.pattern.map(|p| {
                let laid = t.laid(&p).expect("laid out");
                (laid.tree().clone(), tree.value)
            })
        };
        let fine = [
            (
                "acme/tenant.yaml",
                "name: {{ vars.a }}
list: [1, '{{ vars.a }}']
",
            ),
            (
                "acme/workspaces/w/workspace.yaml",
                "name: W
",
            ),
            (
                "acme/workspaces/w/scripts/s.yaml",
                "name: S {{ vars.a }}
",
            ),
            (
                "acme/workspaces/w/scripts/s.js",
                "// {{ vars.a }}
",
            ),
        ];
        let (pattern, tree) = pattern_of(&fine).expect("a pattern");
        assert!(fills(&pattern, &tree), "{pattern:#}");
        assert!(is_hole(&pattern["servers"]["w"]["scripts"]["s"]["body"]));
        assert!(is_hole(&pattern["list"][1]));
        assert_eq!(pattern["list"][0], json!(1));
        let mut keyed = fine;
        keyed[0] = (
            "acme/tenant.yaml",
            "name: n
{{ vars.k }}: 1
",
        );
        assert!(pattern_of(&keyed).is_none());
        let mut straight = fine;
        straight[2] = (
            "acme/workspaces/w/scripts/s.yaml",
            "name: S {{ vars.bad }}
",
        );
        assert!(pattern_of(&straight).is_none());
    }

    /// Asserts both paths agree, and returns the tree and the files built from shapes.
    fn agree(template: &str, vars: Value) -> (Outcome, u32) {
        let (fast, straight, hits) = both(&[("acme/tenant.yaml", template)], &vars);
        assert_eq!(fast, straight, "template:\n{template}\nvars: {vars}");
        (fast, hits)
    }

    /// `json_encode()` writes any value as a valid YAML value that reads as that value: the
    /// characters YAML 1.1 folds (U+0085), refuses bare (U+007F to U+009F, U+FEFF) or a reviewer
    /// would not see (U+2028, U+2029) are escaped, on both paths.
    #[test]
    fn json_encode_writes_values_yaml_reads_back_whatever_they_hold() {
        let awkward = "x\u{85}y\u{2028}z\u{2029}\u{86}\u{7f}\u{9f}\u{feff}w\"\\\n\té";
        let (tree, _) = agree(
            "a: {{ vars.a | json_encode() }}\nb: [{{ vars.a | json_encode() }}]\nc: {{ vars | json_encode(pretty=true) }}\n",
            json!({"a": awkward}),
        );
        let tree = tree.unwrap();
        assert_eq!(tree["a"], awkward);
        assert_eq!(tree["b"], json!([awkward]));
        assert_eq!(tree["c"]["a"], awkward);
    }

    #[test]
    fn plain_scalars_are_typed_as_yaml_types_them() {
        let template = "a: {{ vars.a }}\nb: {{ vars.b }}\nc: {{ vars.c }}\nd: {{ vars.d }}\ne: {{ vars.e }}\nf: x{{ vars.a }}\ng: '{{ vars.b }}'\nh: \"{{ vars.c }}\"\n";
        let (tree, hits) = agree(
            template,
            json!({"a": "yes", "b": "1.0", "c": "null", "d": "0x1F", "e": "~"}),
        );
        assert_eq!(hits, 1);
        assert_eq!(
            tree.unwrap(),
            json!({"a": "yes", "b": 1.0, "c": null, "d": 31, "e": null, "f": "xyes", "g": "1.0", "h": "null"})
        );
        let (tree, _) = agree(
            template,
            json!({"a": "007", "b": "+1", "c": "-.inf", "d": "TRUE", "e": "1e3"}),
        );
        assert!(tree.is_err(), "-.inf is not a number JSON holds");
        let (tree, hits) = agree(
            "a: {{ vars.a }}\nb: {{ vars.b }}\nd: {{ vars.d }}\ne: {{ vars.e }}\n",
            json!({"a": "007", "b": "+1", "d": "TRUE", "e": "1e3"}),
        );
        assert_eq!(hits, 1);
        assert_eq!(
            tree.unwrap(),
            json!({"a": "007", "b": 1, "d": true, "e": 1000.0})
        );
    }

    /// Slots that only write variables render without Tera, exactly as Tera writes them; a
    /// list or a map is left to Tera, a missing variable to the straight path's error.
    #[test]
    fn variables_are_written_as_tera_writes_them() {
        let template = "a: {{ vars.a }}\nb: x{{ vars.b }}\nc: '{{ vars.c }}'\nd: {{ vars.d }}\ne: \"{{ vars.e }}\"\nf: {{ tenant.id }}-{{ env.name }}\ng: {{ vars.g }}\n";
        let files = repo(&[("acme/tenant.yaml", template)], &env_with(&json!({})));
        let templates = Templates::compile(&files).unwrap();
        assert!(templates.shapes.values().all(shape::Shape::is_direct));
        for (vars, hits) in [
            (
                json!({"a": 1.5, "b": -3, "c": 18446744073709551615u64, "d": true, "e": null, "g": "yes"}),
                1,
            ),
            (
                json!({"a": 1e300, "b": 0.1, "c": false, "d": "z", "e": "q", "g": 2}),
                1,
            ),
            // Tera writes lists its own way: rendered by Tera, then it does not fit the scalar.
            (
                json!({"a": [1, "x"], "b": 1, "c": 1, "d": 1, "e": 1, "g": 1}),
                0,
            ),
            (json!({"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}), 0),
        ] {
            let (_, got) = agree(template, vars.clone());
            assert_eq!(got, hits, "{vars}");
        }
        let (tree, _) = agree(
            template,
            json!({"a": 1.5, "b": -3, "c": 7, "d": true, "e": null, "g": "yes"}),
        );
        assert_eq!(
            tree.unwrap(),
            json!({"a": 1.5, "b": "x-3", "c": "7", "d": true, "e": "", "f": "acme-prod-prod", "g": "yes"})
        );
        let (missing, _) = agree(template, json!({"a": 1}));
        assert!(missing.unwrap_err()[0].contains("vars.b"));
        // An index is looked up as Tera does; a filter or a test is Tera's to render, one slot
        // at a time ([`shape::Memo`]), a subscript the whole template's.
        for (other, direct) in [
            ("a: {{ vars.l.0 }}\n", true),
            ("a: {{ vars.a | upper }}\n", true),
            ("a: {{ vars.a is defined }}\n", true),
            ("a: {{ vars[\"a\"] }}\n", false),
        ] {
            let files = repo(&[("acme/tenant.yaml", other)], &env_with(&json!({})));
            let templates = Templates::compile(&files).unwrap();
            let is = templates.shapes.values().any(shape::Shape::is_direct);
            assert_eq!(is, direct, "{other}");
            let (tree, hits) = agree(other, json!({"a": "x", "l": ["y"]}));
            assert_eq!(hits, 1, "{other}");
            assert!(tree.is_ok(), "{other}");
        }
        // Names after the first are keys of a map or indexes of a list, as Tera reads them.
        for (path, found) in [
            ("vars.l.0", Some("y")),
            ("vars.l.00", None),
            ("vars.l.1", None),
            ("vars.m.0", Some("z")),
            ("vars.m.00", None),
            ("vars.a.b", None),
            ("vars.a.0", None),
        ] {
            let template = format!("a: {{{{ {path} }}}}\n");
            let vars = json!({"a": "x", "l": ["y"], "m": {"0": "z"}});
            let (tree, _) = agree(&template, vars);
            assert_eq!(tree.ok(), found.map(|v| json!({"a": v})), "{path}");
        }
    }

    /// A `{% set %}` inside an earlier slot (`{% if %}{% set %}{% endif %}`) changes what a
    /// later slot renders: the slots of such a file are rendered together, not one by one.
    #[test]
    fn a_set_inside_a_slot_is_seen_by_the_slots_after_it() {
        let template = "a: x{% if vars.p == 'g' %}{% set y = 'gold' %}{% endif %}\nb: {{ y | default(value='none') }}\n";
        for (p, b) in [("g", "gold"), ("s", "none")] {
            let (tree, hits) = agree(template, json!({ "p": p }));
            assert_eq!(hits, 1, "the file is built from its shape");
            assert_eq!(tree.unwrap(), json!({"a": "x", "b": b}), "{p}");
        }
    }

    /// Renders every tenant of `env` with shapes (one compile for all, so that slots are
    /// remembered from one tenant to the next) and straight, asserts both agree tenant by
    /// tenant, and returns the outcomes with how many files were built from a shape.
    fn fleet(templates: &[(&str, &str)], env: &str) -> (Vec<Outcome>, u32) {
        let files = repo(templates, env);
        let text = |r: Result<Value, Vec<Diagnostic>>| {
            r.map_err(|ds| ds.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        let environment = files.environment("prod").unwrap();
        let tenants = environment.tenants(&files.template_dirs()).unwrap();
        let fast = Templates::compile(&files).unwrap();
        let straight = Templates::compile(&files).unwrap().straight();
        let mut out = Vec::new();
        for tenant in &tenants {
            let got = text(fast.render(&environment, tenant));
            assert_eq!(
                got,
                text(straight.render(&environment, tenant)),
                "{}",
                tenant.key
            );
            out.push(got);
        }
        (out, fast.shapes.values().map(shape::Shape::hits).sum())
    }

    /// A slot that is not a plain variable is rendered once for each set of values it reads
    /// and reused for the tenants that have them, its steps and output counted again: the same
    /// trees, the same errors and the same limits as rendering every tenant.
    #[test]
    fn slots_are_rendered_once_for_the_values_they_read() {
        let env = "target: {url: https://x}\ntenants:\n  a: {template: t, vars: {plan: gold}}\n  b: {template: t, vars: {plan: silver}}\n  c: {template: t, vars: {plan: gold}}\n  d: {template: t, vars: {plan: [1]}}\n  e: {template: t}\n";
        let template = "name: {{ tenant.key }}-{% if tenant.vars.plan == 'gold' %}g{% else %}s{% endif %}\nplan: '{{ tenant.vars.plan | default(value=\"none\") }}'\nn: {% for i in range(end=3) %}{{ i }}{% endfor %}\n";
        let (trees, hits) = fleet(&[("t/tenant.yaml", template)], env);
        assert!(hits >= 4, "{hits}");
        assert_eq!(
            trees[0].as_ref().unwrap(),
            &json!({"name": "a-g", "plan": "gold", "n": "012"})
        );
        assert_eq!(
            trees[2].as_ref().unwrap(),
            &json!({"name": "c-g", "plan": "gold", "n": "012"})
        );
        assert_eq!(
            trees[1].as_ref().unwrap(),
            &json!({"name": "b-s", "plan": "silver", "n": "012"})
        );
        // A set before a slot, or a macro in it: every tenant's slots rendered by Tera.
        for template in [
            "{% set p = tenant.vars.plan | default(value='x') %}a: {% if p == 'gold' %}g{% endif %}x\n",
            "{% macro m() %}{{ tenant.key }}{% endmacro %}a: {{ self::m() }}\n",
        ] {
            fleet(&[("t/tenant.yaml", template)], env);
        }
        // Each slot takes 9,000 of range()'s 100,000 items: the twelfth passes the budget, for
        // the tenant whose slots were rendered and for those whose were remembered.
        let heavy = "a: x{% for i in range(end=9000) %}{% endfor %}\n"
            .repeat(12)
            .replace("a: x", "{{ tenant.key }}: x");
        let (trees, _) = fleet(&[("t/tenant.yaml", &heavy)], env);
        assert!(
            trees
                .iter()
                .all(|t| t.as_ref().is_err_and(|e| e[0].contains("range"))),
            "{trees:?}"
        );
    }

    /// Regression (found by an independent try): a tab in the template before a slot is a
    /// blank as a space is: `\t#` starts a comment, a trailing tab is not part of the value.
    #[test]
    fn a_tab_before_a_slot_is_a_blank() {
        for template in [
            "name: a\t{{ vars.x }}\nurl: u\n",
            "metadata:\n  a\t{{ vars.x }}: 1\n",
            "metadata: {k: [a\t{{ vars.x }}], j: 1}\n",
            "name: a{{ vars.x }}\tb\n",
        ] {
            for x in ["#b", "b", "a\t", "a ", "", ":", "a:", "\tb", ":\tb"] {
                let _ = agree(template, json!({ "x": x }));
            }
        }
        let (tree, _) = agree("name: a\t{{ vars.x }}\n", json!({"x": "#b"}));
        assert_eq!(tree.unwrap(), json!({"name": "a"}));
    }

    #[test]
    fn keys_block_scalars_and_flow_collections_take_outputs() {
        let template = "{{ vars.a }}: 1\n\"q{{ vars.b }}\": 2\nlist: [{{ vars.a }}, '{{ vars.b }}']\nmap: {k: {{ vars.c }}}\ntext: |\n  first {{ vars.a }}\n  {{ vars.b }} second\nfold: >-\n  {{ vars.a }}\n  b\n";
        let (tree, hits) = agree(template, json!({"a": "200", "b": "x y", "c": "true"}));
        assert_eq!(hits, 1);
        assert_eq!(
            tree.unwrap(),
            json!({"200": 1, "qx y": 2, "list": [200, "x y"], "map": {"k": true}, "text": "first 200\nx y second\n", "fold": "200 b"})
        );
    }

    #[test]
    fn outputs_that_would_change_the_text_around_them_take_the_straight_path() {
        let template = "a: {{ vars.a }}\nb: 'x'\n";
        for value in [
            "x: y",
            "x #y",
            "#x",
            "- x",
            "[1, 2]",
            "{a: 1}",
            "'q'",
            "\"q\"",
            "a\nb: 2",
            "",
            " x",
            "x ",
            "<<",
            "---",
            "&a",
            "*a",
            "!t",
            "|",
            ">",
            "\t",
            "a\u{2028}b",
            "@x",
            "%x",
        ] {
            let (tree, hits) = agree(template, json!({"a": value}));
            assert_eq!(hits, 0, "{value:?} gave {tree:?}");
        }
        // A key written twice once the outputs are in place.
        let (tree, hits) = agree("{{ vars.a }}: 1\nb: 2\n", json!({"a": "b"}));
        assert_eq!(hits, 0);
        assert!(tree.unwrap_err()[0].contains("duplicate key `b`"));
        // Quotes of the scalar's own kind, a backslash in double quotes.
        for (template, value) in [
            ("a: '{{ vars.a }}'\n", "it's"),
            ("a: \"{{ vars.a }}\"\n", "\\x41"),
            ("a: \"{{ vars.a }}\"\n", "say \"hi\""),
        ] {
            let (_, hits) = agree(template, json!({"a": value}));
            assert_eq!(hits, 0, "{template} {value:?}");
        }
    }

    #[test]
    fn files_whose_tags_make_structure_have_no_shape() {
        for template in [
            // An `{% if %}` choosing between lines that hold a tag.
            "a: 1\n{% if vars.a %}b: {{ vars.a }}\n{% endif %}",
            "list:\n{% for x in [1, 2] %}  - {{ x }}\n{% endfor %}",
            "# {{ vars.a }}\na: 1\n",
            "{{ vars.a }}",
            "a: &x {{ vars.a }}\nb: *x\n",
            "a: !!str {{ vars.a }}\n",
            // Found by an independent try: a collection's anchor or tag comes before its `[`.
            "a: &x [b, {{ vars.a }}]\n",
            "a: !!seq [b, {{ vars.a }}]\n",
            "a: !!map {k: {{ vars.a }}}\n",
            "a: &x\n  [b, {{ vars.a }}]\n",
            "- !!map {k: {{ vars.a }}}\n",
            "&r {p: {{ vars.a }}}\n",
            "a: {{ vars.a }}\n  more\n",
        ] {
            let files = repo(
                &[("acme/tenant.yaml", template)],
                &env_with(&json!({"a": "v"})),
            );
            let t = Templates::compile(&files).unwrap();
            assert!(t.shapes.is_empty(), "{template}");
            for value in ["v", "a, b", "x]"] {
                let (_, hits) = agree(template, json!({ "a": value }));
                assert_eq!(hits, 0);
            }
        }
    }

    #[test]
    fn ifs_choosing_lines_of_text_make_a_shape_for_each_choice() {
        let templates = [
            "a: 1\n{% if vars.a %}b: 2\n{% endif %}",
            "a: {{ vars.a }}\n{%- if vars.a == \"v\" %}\nb: [1, 2]\n{%- elif vars.a %}\nb: {c: 3}\n{%- else %}\nb: x\n{%- endif %}\nc: {{ tenant.id }}\n",
            "m:\n  k: 1\n{%- if vars.a == \"v\" %}\n  j: 2\n{%- endif %}\n{% if vars.b %}\nn: 3\n{% endif %}",
            // A choice of text that has no shape (or is no YAML) goes the straight way.
            "a: 1\n{% if vars.a == \"v\" %}\nb: [\n{% else %}\nb: {{ tenant.id }}\n{% endif %}",
            "a: 1\n{% if vars.a == \"v\" %}\na: 2\n{% endif %}",
            "{% if vars.a == \"v\" %}\n{% else %}\na: 1\n{% endif %}",
        ];
        for template in templates {
            let files = repo(
                &[("acme/tenant.yaml", template)],
                &env_with(&json!({"a": "v"})),
            );
            let t = Templates::compile(&files).unwrap();
            assert!(
                t.shapes.values().all(shape::Shape::has_selectors),
                "{template}"
            );
            for value in [json!("v"), json!("w"), json!(""), json!(null)] {
                let _ = agree(template, json!({ "a": value, "b": value }));
            }
        }
        let (_, hits) = agree(templates[0], json!({"a": true}));
        assert_eq!(hits, 1);
        let (_, hits) = agree(templates[1], json!({"a": "w"}));
        assert_eq!(hits, 1);
        let (_, hits) = agree(templates[3], json!({"a": "v"}));
        assert_eq!(hits, 0, "invalid YAML is the straight path's to report");
    }

    #[test]
    fn files_that_are_not_yaml_are_put_together_from_their_variables() {
        let templates = [
            ("acme/tenant.yaml", "name: {{ tenant.id }}\n"),
            ("acme/workspaces/w/workspace.yaml", "name: w\n"),
            ("acme/workspaces/w/policies/p.yaml", "type: rego\n"),
            ("acme/workspaces/w/policies/p.rego", "package p\n# {# c #}\ntenant := \"{{ tenant.id }}\"\nn := {{ vars.a }}{{ vars.a }}\n{% raw %}{{ x }}{% endraw %}\n"),
            ("acme/workspaces/w/scripts/s.yaml", "name: s\n"),
            ("acme/workspaces/w/scripts/s.js", "// {{ vars.a }} {% if vars.a %}x{% endif %}\n"),
        ];
        let files = repo(&templates, &env_with(&json!({"a": 1})));
        let t = Templates::compile(&files).unwrap();
        assert!(t.texts.contains_key("acme/workspaces/w/policies/p.rego"));
        assert!(!t.texts.contains_key("acme/workspaces/w/scripts/s.js"));
        for a in [
            json!("v"),
            json!(7),
            json!(1.5),
            json!(true),
            json!(null),
            json!([1, 2]),
            json!({"k": 1}),
            json!("{{ x }}"),
        ] {
            let (fast, straight, _) = both(&templates, &json!({ "a": a }));
            assert_eq!(fast, straight, "{a}");
            assert!(fast.is_ok(), "{a}");
        }
        // A variable missing: the straight path's error.
        let (fast, straight, _) = both(&templates, &json!({}));
        assert_eq!(fast, straight);
        assert!(fast.is_err());
    }

    #[test]
    fn slots_reading_large_values_render_as_the_straight_path_does() {
        // Found by an independent try: remembering each slot by a 4 MB value it reads cost a
        // copy of it per slot, a thousand slots reached the time limit the straight path does
        // not. Such slots are rendered each time, as the straight path renders them.
        let mut template =
            String::from("{% if vars.big | length > 10 %}\nlong: true\n{% endif %}\n");
        for i in 0..40 {
            template.push_str(&format!("k{i}: \"{{{{ vars.big | length }}}}\"\nl{i}: {{% if vars.big == \"x\" %}}a{{% else %}}b{{% endif %}}\n"));
        }
        let big = "A".repeat(200_000);
        let (tree, hits) = agree(&template, json!({ "big": big }));
        assert_eq!(hits, 1);
        assert_eq!(tree.unwrap()["k39"], json!("200000"));
    }

    #[test]
    fn includes_sets_comments_and_secrets_render_the_same() {
        let templates = [
            ("acme/tenant.yaml", "{% include \"_shared/base.yaml\" %}\n{# a comment #}\n{% set z = vars.a ~ \"-x\" %}\nname: {{ z }}\nsecret: {{ secret(\"DB\") }}\nkey: \"{{ secret(name=\"DB\") }}\"\n"),
            ("_shared/base.yaml", "base: {{ tenant.id }}\n"),
        ];
        let (fast, straight, hits) = both(&templates, &json!({"a": "v"}));
        assert_eq!(fast, straight);
        assert_eq!(hits, 1);
        assert_eq!(
            fast.unwrap(),
            json!({"base": "acme-prod", "name": "v-x", "secret": "<secret:DB>", "key": "<secret:DB>"})
        );
    }

    /// A tenant is searched for secret markers only when a file may hold `<secret:`: a marker
    /// forged across a shape's text and a slot, in a key a slot writes, in a shape's own text
    /// (escaped or not), in a file's name or in a policy's text is found, and reported, as the
    /// straight path finds it.
    #[test]
    fn forged_markers_are_found_wherever_a_file_puts_them() {
        let workspace = |clients: &[(&str, &str)]| {
            let mut files = vec![
                (
                    "acme/tenant.yaml".to_owned(),
                    "name: {{ tenant.id }}\n".to_owned(),
                ),
                (
                    "acme/workspaces/w/workspace.yaml".to_owned(),
                    "name: w-{{ vars.a }}\n".to_owned(),
                ),
            ];
            for (name, text) in clients {
                files.push((format!("acme/workspaces/w/{name}"), (*text).to_owned()));
            }
            files
        };
        let cases = [
            workspace(&[("clients/c.yaml", "client_name: '<sec{{ vars.a }}'\n")]),
            workspace(&[("clients/c.yaml", "client_name: c\n'{{ vars.k }}': 1\n")]),
            workspace(&[(
                "clients/c.yaml",
                "client_name: x{{ vars.a }}\nclient_uri: '<secret:X>'\n",
            )]),
            workspace(&[(
                "clients/c.yaml",
                "client_name: \"\\x3csecret:X>{{ vars.a }}\"\n",
            )]),
            workspace(&[(
                "clients/%3Csecret%3AX%3E.yaml",
                "client_name: x{{ vars.a }}\n",
            )]),
            workspace(&[
                (
                    "policies/p.yaml",
                    "policy_name: p{{ vars.a }}\nlanguage: rego\n",
                ),
                ("policies/p.rego", "package x\n# <secret:X> {{ vars.a }}\n"),
            ]),
        ];
        for templates in &cases {
            let refs: Vec<(&str, &str)> = templates
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let (fast, straight, hits) = both(&refs, &json!({"a": "ret:X>", "k": "<secret:X>"}));
            assert_eq!(fast, straight, "{templates:?}");
            assert!(hits > 0, "{templates:?}");
            let errors = fast.unwrap_err();
            assert!(
                errors.iter().any(|e| e
                    .contains("a secret marker `<secret:X>` that secret() did not write")
                    || e.contains("a key holding a secret marker `<secret:X>`")),
                "{templates:?}: {errors:?}"
            );
        }
    }

    #[test]
    fn a_function_called_once_is_found_where_it_is_called() {
        assert_eq!(
            super::only_call("a: {{ secret(\"X\") }}", "secret"),
            Some(6)
        );
        // Called twice: either may be the one that failed.
        assert_eq!(
            super::only_call("{{ secret(\"X\") }} {{ secret(\"Y\") }}", "secret"),
            None
        );
        // Part of a longer name, or a method: not a call of it.
        assert_eq!(
            super::only_call(
                "{{ my_secret(\"X\") }} {{ a.secret(1) }} {{ secret(1) }}",
                "secret"
            ),
            Some(42)
        );
        assert_eq!(super::only_call("no call", "secret"), None);
    }

    #[test]
    fn errors_while_rendering_are_the_straight_paths() {
        let (tree, _) = agree("a: {{ vars.nope }}\nb: {{ vars.a }}\n", json!({"a": 1}));
        let errors = tree.unwrap_err();
        assert!(
            errors[0].starts_with("templates/acme/tenant.yaml:1:"),
            "{errors:?}"
        );
        let (tree, _) = agree(
            "a: {{ vars.a }}\nb: x\n",
            json!({"a": format!("<secret:X:{}>", "0".repeat(32))}),
        );
        assert!(tree.is_err());
        // A limit of the sandbox, reached in a slot: the same message at the same place.
        let limit = "{% macro m0() %}0123456789abcdef{% endmacro m0 %}{% macro m1() %}{{ self::m0() }}{{ self::m0() }}{{ self::m0() }}{{ self::m0() }}{% endmacro m1 %}{% macro m2() %}{{ self::m1() }}{{ self::m1() }}{{ self::m1() }}{{ self::m1() }}{% endmacro m2 %}{% macro m3() %}{{ self::m2() }}{{ self::m2() }}{{ self::m2() }}{{ self::m2() }}{% endmacro m3 %}";
        let deep = (4..=11)
            .map(|i| {
                let call = format!("{{{{ self::m{}() }}}}", i - 1).repeat(4);
                format!("{{% macro m{i}() %}}{call}{{% endmacro m{i} %}}")
            })
            .collect::<String>();
        let template =
            format!("{limit}{deep}\nname: {{{{ vars.a }}}}\nbig: \"{{{{ self::m11() }}}}\"\n");
        let (tree, _) = agree(&template, json!({"a": "x"}));
        let errors = tree.unwrap_err();
        assert!(errors[0].contains("more than"), "{errors:?}");
    }

    /// Scalars that YAML reads in more than one way, and characters that end or start tokens.
    fn awkward() -> impl Strategy<Value = Value> {
        let words = prop::sample::select(vec![
            "a, b",
            "1,000",
            "x]",
            "a}b",
            "yes",
            "no",
            "1.0",
            "null",
            "Null",
            "0x1F",
            "0o17",
            "0b11",
            "~",
            "",
            " x",
            "x ",
            "a: b",
            "a #b",
            "a#b",
            "#x",
            "'",
            "\"",
            "\\",
            "\n",
            "a\nb",
            "[",
            "]",
            "{",
            ",",
            "<<",
            "<",
            "<secret:X>",
            "<sec",
            "ret:X>",
            "- x",
            "-",
            "-1",
            "---",
            "...",
            "?",
            "? x",
            ":x",
            "x:",
            "\t",
            "\u{2028}",
            "\u{85}",
            "1e5",
            "-.inf",
            ".nan",
            "+1",
            "007",
            "1_000",
            "TRUE",
            "True",
            "é",
            "&a",
            "*a",
            "!t",
            "|",
            ">",
            "%",
            "@",
            "`",
            "plain",
            "two words",
            "https://a.b/c?d=1&e",
            "12",
            "-0",
            "18446744073709551616",
            "99999999999999999999999",
            "\u{E000}0\u{E001}",
            "\u{E002}",
        ])
        .prop_map(|s| json!(s));
        prop_oneof![
            6 => "[a-z0-9][a-z0-9 ./-]{0,5}[a-z0-9]".prop_map(|s| json!(s)),
            6 => words,
            3 => "[a-z0-9 :#'\"\\,.\\[\\]{}\n-]{0,6}".prop_map(|s| json!(s)),
            1 => any::<i64>().prop_map(|n| json!(n)),
            1 => any::<bool>().prop_map(|b| json!(b)),
            1 => Just(Value::Null),
            1 => Just(json!([1, "a"])),
        ]
    }

    /// One entry of a generated template: a key and a value written in one of many ways, each
    /// with slots `$` (replaced by variables).
    fn entry() -> impl Strategy<Value = String> {
        let long = "x".repeat(1005);
        let mut entries: Vec<String> = vec![
            format!("k{long}{{{{ $ }}}}: v"),
            format!("k: {{a{}{{{{ $ }}}}: v}}", &long[..1000]),
            format!("\"k{}{{{{ $ }}}}\": v", &long[..990]),
        ];
        entries.extend(
            [
                "k: {{ $ }}",
                "k: x{{ $ }}y",
                "k: '{{ $ }}'",
                "k: \"p {{ $ }}\\t\"",
                "k: |\n  a {{ $ }}\n  {{ $ }}\n",
                "k: >-\n  a {{ $ }}\n  b\n",
                "k: |+\n  {{ $ }}\n\n",
                "k: [{{ $ }}, \"{{ $ }}\", z]",
                "k: {in: {{ $ }}, \"q\": '{{ $ }}'}",
                "k:\n  - {{ $ }}\n  - n{{ $ }}",
                "k:\n  {{ $ }}: 1\n  fixed: 2",
                "{{ $ }}: v",
                "k{{ $ }}: v",
                "k: {% if $ %}yes{% else %}{{ $ }}{% endif %}",
                "k: {{ $ ~ $ }}",
                "k: {{ $ }}{{ $ }}",
                "k: {# c #}{{ $ }}",
                "k: {{ $ | upper }}",
                "k: {{ $ | length }}",
                "# {{ $ }}\nk: 1",
                "k: {{ $ }} # {{ $ }}",
                "k: 'it''s {{ $ }}'",
                "k: \"\\x41{{ $ }}\"",
                "? {{ $ }}\n: v",
                "k: { {{ $ }}: 1 }",
                "k: [[{{ $ }}], {a: [{{ $ }}]}]",
                "k: [\n  {{ $ }},\n  b\n  ]",
                "k: a\n  {{ $ }}\n  b",
                "k: \"\\u00e9{{ $ }}\\n\"",
                "k:\n  - a: {{ $ }}\n    b: x\n  - {{ $ }}",
                "k: |2\n    {{ $ }}\n   x\n",
                "k: |-\n  {{ $ }}\n",
                "k: >\n  {{ $ }}\n    more\n  {{ $ }}\n\n",
                "k: {{- $ }}",
                "k: {{ $ -}} # c",
                "k: {% raw %}{{ x }}{% endraw %}{{ $ }}",
                "k: {% for x in [1, 2] %}{{ x }}{{ $ }}{% endfor %}",
                "k: {% filter upper %}{{ $ }}{% endfilter %}",
                "k: \"{{ $ }}\" # {{ $ }}",
                "k: {{ $ }}:{{ $ }}",
                "k: {{ $ }} {{ $ }}",
                "k: -{{ $ }}",
                "k: ?{{ $ }}",
                "k: [-{{ $ }}, ?{{ $ }}]",
                "k: &x [a, {{ $ }}]",
                "k: !!map {a: {{ $ }}}",
                "k: !!seq\n  [{{ $ }}, b]",
                "k: &y\n  {a: {{ $ }}}",
                "k: a\t{{ $ }}",
                "k:\n  a\t{{ $ }}: 1",
                "k: {j: [a\t{{ $ }}], i: 1}",
                "k: {{ $ }}\tb",
                "k: 1\n{% if $ %}\nj: 2\n{% endif %}",
                "k:\n  a: 1\n{%- if $ == \"a\" %}\n  b: [1, {c: d}]\n{%- elif $ %}\n  b: \"x\"\n{%- endif %}",
                "{% if $ %}\nk: [\n{% else %}\nk: {{ $ }}\n{% endif %}",
                "{%- if not $ %}\nk: 1\n{% endif -%}\n",
                "k: 1\n{% if $ %}\nk: 2\n{% else %}\nk2: {{ $ }}\n{% endif %}",
            ]
            .map(str::to_owned),
        );
        prop::sample::select(entries)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// Whatever the template and the values, shapes give what rendering the text and parsing
        /// it gives: the same tree, or the same errors at the same lines and columns.
        #[test]
        fn shapes_give_what_the_straight_path_gives(
            entries in prop::collection::vec((entry(), prop::collection::vec(0usize..4, 4)), 1..6),
            values in prop::collection::vec(awkward(), 4),
        ) {
            let mut template = String::new();
            for (i, (entry, vars)) in entries.iter().enumerate() {
                let mut vars = vars.iter().cycle();
                let mut line = entry.replacen('k', &format!("k{i}"), 1);
                while let Some(at) = line.find('$') {
                    let var = format!("vars.v{}", vars.next().unwrap_or(&0));
                    line.replace_range(at..at + 1, &var);
                }
                template.push_str(&line);
                template.push('\n');
            }
            let vars: serde_json::Map<String, Value> = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("v{i}"), v))
                .collect();
            let vars = Value::Object(vars);
            let (fast, straight, _) = both(&[("acme/tenant.yaml", &template)], &vars);
            prop_assert_eq!(fast, straight, "template:\n{}\nvars: {}", template, vars);
        }
    }
}
