#!/usr/bin/env python3
"""The plan a team would script in an afternoon, for benches/fleet.sh to time promote against.

Issue 20 measures promote against "a script a team would write in an afternoon (Jinja2, PyYAML
with its C libyaml loader, jsonpatch and json-merge-patch, two processes)"; this is that script,
kept beside the benchmark so that both run on the same machine in the same hour (the machines
are shared: tenants/s drift by hours, ratios less). It does the work promote's plan does, in the
plainest way: each tenant's template files rendered with Jinja2 (promote's Tera templates of the
generated fleet are Jinja2 too) and parsed with libyaml; the baseline read from JSON; the RFC
6902 patch and the RFC 7396 merge patch computed from the two trees; one JSON document of the
patches written out. Its tree is its own (directories and file names as keys, YAML parsed,
other files as text), and so is its baseline, written by its `render`: the changes between two
environments are then the same changes promote plans.

Usage:
  script-plan.py render REPO ENV OUT_DIR      the baseline: one JSON file per tenant
  script-plan.py plan REPO ENV BASELINE_DIR   the plan, as JSON on stdout

Needs: pip install jinja2 pyyaml jsonpatch json-merge-patch (PyYAML built with libyaml).
"""

import json
import multiprocessing
import os
import sys

import jinja2
import json_merge_patch
import jsonpatch
import yaml

LOADER = yaml.CSafeLoader


def environment(repo, env):
    with open(os.path.join(repo, "environments", env + ".yaml"), encoding="utf-8") as f:
        return yaml.load(f, Loader=LOADER)


def template_files(repo, template):
    root = os.path.join(repo, "templates", template)
    out = []
    for directory, _, files in os.walk(root):
        for name in files:
            full = os.path.join(directory, name)
            out.append(os.path.relpath(full, os.path.join(repo, "templates")))
    return sorted(out)


# One per process: the repository, its environment and a Jinja2 environment caching templates.
STATE = {}


def start(repo, env):
    STATE["repo"] = repo
    STATE["env"] = env
    STATE["config"] = environment(repo, env)
    STATE["jinja"] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(repo, "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    STATE["files"] = {}


def tree_of(key):
    config = STATE["config"]
    tenant = config["tenants"][key]
    template = tenant["template"]
    files = STATE["files"].get(template)
    if files is None:
        files = STATE["files"][template] = template_files(STATE["repo"], template)
    context = {
        "tenant": {"key": key, "id": tenant["id"]},
        "env": {"name": STATE["env"]},
        "vars": {**(config.get("vars") or {}), **(tenant.get("vars") or {})},
    }
    tree = {}
    for path in files:
        text = STATE["jinja"].get_template(path).render(context)
        parts = path.split("/")[1:]
        stem, ext = os.path.splitext(parts[-1])
        value = yaml.load(text, Loader=LOADER) if ext == ".yaml" else text
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[stem if ext == ".yaml" else parts[-1]] = value
    return tree


def render_one(args):
    key, out = args
    with open(os.path.join(out, key + ".json"), "w", encoding="utf-8") as f:
        json.dump(tree_of(key), f, sort_keys=True)
    return key


def plan_one(args):
    key, baseline = args
    desired = tree_of(key)
    with open(os.path.join(baseline, key + ".json"), encoding="utf-8") as f:
        live = json.load(f)
    ops = jsonpatch.make_patch(live, desired).patch
    merge = json_merge_patch.create_patch(live, desired)
    return json.dumps({"key": key, "changes": len(ops), "patch": ops, "merge_patch": merge})


def main(argv):
    if len(argv) != 5 or argv[1] not in ("render", "plan"):
        sys.stderr.write(__doc__)
        return 1
    command, repo, env, directory = argv[1:]
    keys = sorted(environment(repo, env)["tenants"])
    with multiprocessing.Pool(2, initializer=start, initargs=(repo, env)) as pool:
        if command == "render":
            os.makedirs(directory, exist_ok=True)
            for _ in pool.imap_unordered(render_one, [(k, directory) for k in keys], 16):
                pass
            return 0
        out = sys.stdout
        out.write('{"tenants": [')
        for i, line in enumerate(pool.imap(plan_one, [(k, directory) for k in keys], 16)):
            out.write(("," if i else "") + line)
        out.write("]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
