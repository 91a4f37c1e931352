#!/usr/bin/env node
// Drives the real yaml-language-server (Red Hat's, the one VS Code's YAML extension, Neovim,
// Helix and others start) over LSP on stdio against a configuration repository, as an editor
// does, and checks that the `# yaml-language-server: $schema=<relative path>` lines promote
// writes make it validate, complete and describe as people type.
//
//   node tests/editor/lsp-check.mjs <repository>
//
// <repository> is a copy of the shipped example after `promote apply --env local --yes` and
// `promote export --env local --out exported` (tests/cli/editor.rs builds it). The server comes
// from tests/editor/node_modules (`npm ci --prefix tests/editor`); the client sends no schema
// settings of its own and turns the schema store off, so every schema the server uses comes
// from a file's `$schema` line. Documents are sent with didOpen/didChange and never written:
// the edited and new files exist only in the "editor". Exits 0 when every check passes, 1 with
// the reason otherwise; gives up after 60 s. Only Node's own modules are used.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TIMEOUT_MS = 60_000;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER_DIR = path.join(HERE, 'node_modules', 'yaml-language-server');
const SERVER_BIN = path.join(SERVER_DIR, 'bin', 'yaml-language-server');

// What the client answers to `workspace/configuration` and sends in didChangeConfiguration:
// no `yaml.schemas`, no schema store.
const SETTINGS = {
  yaml: { validate: true, completion: true, hover: true, schemaStore: { enable: false } },
};

const started = Date.now();
let step = 'starting';
let server;
let serverStderr = '';

function fail(message) {
  process.stdout.write(`FAIL ${message}\n`);
  if (serverStderr.trim()) process.stdout.write(`server stderr:\n${serverStderr}\n`);
  if (server && server.exitCode === null) server.kill('SIGKILL');
  process.exit(1);
}

const repoArg = process.argv[2];
if (!repoArg) fail('usage: node lsp-check.mjs <repository>');
const repo = path.resolve(repoArg);
if (!existsSync(repo)) fail(`${repo} does not exist`);
if (!existsSync(SERVER_BIN)) {
  fail(`${SERVER_BIN} is missing: run \`npm ci --prefix tests/editor\` (.ci/run does)`);
}
const serverVersion = JSON.parse(
  readFileSync(path.join(SERVER_DIR, 'package.json'), 'utf8'),
).version;

const timer = setTimeout(() => {
  fail(`timed out after ${TIMEOUT_MS / 1000} s while ${step}; the server was killed`);
}, TIMEOUT_MS);

// --- The LSP connection: Content-Length framed JSON-RPC on the server's stdin and stdout. ---

server = spawn(process.execPath, [SERVER_BIN, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
server.on('error', (e) => fail(`cannot start ${SERVER_BIN}: ${e.message}`));
server.on('exit', (code, signal) => {
  if (!shuttingDown) fail(`the server exited (code ${code}, signal ${signal}) while ${step}`);
});
server.stderr.on('data', (d) => {
  serverStderr += d;
});
server.stdin.on('error', () => {}); // a dead server is reported by 'exit'

let shuttingDown = false;
let nextId = 1;
const pending = new Map(); // request id -> {resolve, reject, method}
const published = new Map(); // uri -> list of diagnostics arrays, in the order they came
const waiters = []; // {uri, since, predicate, resolve}
let configurationAnswers = 0;

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
  server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  server.stdin.write(body);
}

function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}

function notify(method, params) {
  send({ method, params });
}

function answerServer(message) {
  let result = null;
  if (message.method === 'workspace/configuration') {
    // Sections asked for: yaml, http, [yaml], editor, ... Only `yaml` has settings.
    result = message.params.items.map((item) => (item.section === 'yaml' ? SETTINGS.yaml : null));
    if (message.params.items.some((item) => item.section === 'yaml')) configurationAnswers++;
  }
  // client/registerCapability, window/workDoneProgress/create, ...: accepted.
  send({ id: message.id, result });
}

function onMessage(message) {
  if (message.id !== undefined && message.method === undefined) {
    const call = pending.get(message.id);
    pending.delete(message.id);
    if (!call) return;
    if (message.error) call.reject(new Error(`${call.method}: ${message.error.message}`));
    else call.resolve(message.result);
  } else if (message.id !== undefined) {
    answerServer(message);
  } else if (message.method === 'textDocument/publishDiagnostics') {
    const { uri, diagnostics } = message.params;
    if (!published.has(uri)) published.set(uri, []);
    published.get(uri).push(diagnostics);
    for (const waiter of [...waiters]) {
      if (waiter.uri === uri) checkWaiter(waiter);
    }
  }
}

let input = Buffer.alloc(0);
server.stdout.on('data', (chunk) => {
  input = Buffer.concat([input, chunk]);
  for (;;) {
    const headerEnd = input.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const header = input.subarray(0, headerEnd).toString('ascii');
    const length = /Content-Length:\s*(\d+)/i.exec(header);
    if (!length) fail(`a message from the server without Content-Length: ${header}`);
    const start = headerEnd + 4;
    const end = start + Number(length[1]);
    if (input.length < end) return;
    const body = input.subarray(start, end).toString('utf8');
    input = input.subarray(end);
    onMessage(JSON.parse(body));
  }
});

function checkWaiter(waiter) {
  const list = published.get(waiter.uri) ?? [];
  for (let i = waiter.since; i < list.length; i++) {
    if (waiter.predicate(list[i])) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(list[i]);
      return;
    }
  }
}

// Diagnostics carry no document version, and the server validates 200 ms after the last
// change, and again when settings change: so wait for the first set published after `since`
// (a count of sets for the uri) that `predicate` accepts. A set that never comes is a timeout,
// which names the step and the last set seen.
function diagnosticsFor(uri, since, predicate) {
  return new Promise((resolve) => {
    const waiter = { uri, since, predicate, resolve };
    waiters.push(waiter);
    checkWaiter(waiter);
  });
}

function count(uri) {
  return (published.get(uri) ?? []).length;
}

function lastSeen(uri) {
  const list = published.get(uri) ?? [];
  return list.length ? describe(list[list.length - 1]) : 'nothing published';
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, condition) {
  while (!condition()) {
    step = what;
    await sleep(20);
  }
}

// --- Documents. ---

const uriOf = (rel) => pathToFileURL(path.join(repo, rel)).href;
const read = (rel) => readFileSync(path.join(repo, rel), 'utf8');
const versions = new Map();

function open(rel, text) {
  const uri = uriOf(rel);
  const since = count(uri);
  versions.set(uri, 1);
  notify('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version: 1, text } });
  return since;
}

function change(rel, text) {
  const uri = uriOf(rel);
  const since = count(uri);
  const version = versions.get(uri) + 1;
  versions.set(uri, version);
  notify('textDocument/didChange', {
    textDocument: { uri, version },
    contentChanges: [{ text }],
  });
  return since;
}

function describe(diagnostics) {
  if (!diagnostics.length) return 'no diagnostics';
  return diagnostics
    .map((d) => `line ${d.range.start.line + 1}: "${d.message}" (${d.source ?? 'no source'})`)
    .join('; ');
}

function lineOf(text, needle) {
  const index = text.indexOf(needle);
  if (index < 0) fail(`the text has no ${JSON.stringify(needle)}`);
  return text.slice(0, index).split('\n').length - 1;
}

function replaceOnce(text, from, to, rel) {
  if (!text.includes(from)) fail(`${rel} does not contain ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

function yamlFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(full);
    return entry.name.endsWith('.yaml') ? [full] : [];
  });
}

let passed = 0;
function ok(message) {
  passed++;
  process.stdout.write(`ok   ${message}\n`);
}

async function expectDiagnostics(rel, since, what, predicate) {
  step = `waiting for diagnostics of ${rel} (${what})`;
  const uri = uriOf(rel);
  // On timeout, the message says what came instead.
  const watchdog = setInterval(() => {
    step = `waiting for diagnostics of ${rel} (${what}); last published: ${lastSeen(uri)}`;
  }, 200);
  const diagnostics = await diagnosticsFor(uri, since, predicate);
  clearInterval(watchdog);
  return diagnostics;
}

// A diagnostic on `line` (0-based) whose message matches `pattern`.
const on = (line, pattern) => (diagnostics) =>
  diagnostics.some((d) => d.range.start.line === line && pattern.test(d.message));

// --- The checks. ---

process.stdout.write(
  `yaml-language-server ${serverVersion} on Node.js ${process.version}, repository ${repo}\n`,
);

step = 'initializing';
await request('initialize', {
  processId: process.pid,
  clientInfo: { name: 'promote lsp-check' },
  rootUri: pathToFileURL(repo).href,
  workspaceFolders: [{ uri: pathToFileURL(repo).href, name: path.basename(repo) }],
  capabilities: {
    workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false } },
    textDocument: {
      synchronization: { didSave: false },
      completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown'] } },
      hover: { contentFormat: ['markdown', 'plaintext'] },
      publishDiagnostics: { relatedInformation: true },
    },
  },
});
notify('initialized', {});
notify('workspace/didChangeConfiguration', { settings: SETTINGS });
// The server pulls its settings (`workspace/configuration`) once initialized: open documents
// after it has them, as an editor's first file usually is.
await until('waiting for the server to ask for its settings', () => configurationAnswers > 0);

// 1. Every exported file and every environment file, as written: no diagnostics. Each names
//    its schema with a relative line, so this is also every line resolving to a document the
//    server can load (a line it cannot follow is a diagnostic, see 5).
const files = [
  ...yamlFiles(path.join(repo, 'exported')),
  ...yamlFiles(path.join(repo, 'environments')),
];
const exported = files.filter((f) => f.startsWith(path.join(repo, 'exported') + path.sep));
if (exported.length < 50) fail(`only ${exported.length} YAML files under ${repo}/exported`);
const withoutLine = files.filter(
  (f) => !readFileSync(f, 'utf8').includes('# yaml-language-server: $schema='),
);
if (withoutLine.length) fail(`files without a $schema line: ${withoutLine.join(', ')}`);
const clean = await Promise.all(
  files.map((file) => {
    const rel = path.relative(repo, file);
    return expectDiagnostics(rel, open(rel, read(rel)), 'as written', () => true).then((d) => [
      rel,
      d,
    ]);
  }),
);
const dirty = clean.filter(([, d]) => d.length);
if (dirty.length) {
  const list = dirty.map(([rel, d]) => `  ${rel}: ${describe(d)}`);
  fail(`files as written have diagnostics:\n${list.join('\n')}`);
}
const environments = files.length - exported.length;
ok(`${exported.length} exported and ${environments} environment files, as written: no diagnostics`);

// 2. Typing a wrong type into an open client: the list of grant types becomes a string. The
//    diagnostic appears on that line, and goes when the text is put back.
const spa = 'exported/acme/workspaces/default/clients/storefront-spa.yaml';
const spaText = read(spa);
const spaBad = replaceOnce(
  spaText,
  'grant_types:\n- authorization_code\n- refresh_token\n',
  'grant_types: authorization_code\n',
  spa,
);
const grantLine = lineOf(spaBad, 'grant_types:');
let found = await expectDiagnostics(
  spa,
  change(spa, spaBad),
  'grant_types: authorization_code',
  on(grantLine, /Incorrect type\. Expected .*array/),
);
ok(`typing \`grant_types: authorization_code\` in ${spa}: ${describe(found)}`);
const spaErrorSource = found.find((d) => d.range.start.line === grantLine).source;
found = await expectDiagnostics(
  spa,
  change(spa, spaText),
  'the list put back',
  (d) => d.length === 0,
);
ok(`putting the list back: ${describe(found)}`);

// 3. An identity provider's display order as a word.
const idp = 'exported/acme/workspaces/default/idps/customers.yaml';
const idpBad = replaceOnce(read(idp), 'display_order: 0\n', 'display_order: first\n', idp);
found = await expectDiagnostics(
  idp,
  change(idp, idpBad),
  'display_order: first',
  on(lineOf(idpBad, 'display_order:'), /Incorrect type\. Expected .*integer/),
);
ok(`typing \`display_order: first\` in ${idp}: ${describe(found)}`);

// 4. A misspelt top-level key of an environment file (environment.json is closed).
const env = 'environments/local.yaml';
const envBad = replaceOnce(read(env), '\ntenants:', '\ntennants:', env);
found = await expectDiagnostics(
  env,
  change(env, envBad),
  'tennants:',
  on(lineOf(envBad, '\ntennants:') + 1, /tennants is not allowed/),
);
ok(`typing \`tennants:\` in ${env}: ${describe(found)}`);

// 5. The relative line is what makes it work: the same wrong text without the line gets no
//    diagnostic at all; with the line in a file three directories up (where the relative path
//    leads nowhere) the server says it cannot load the schema instead of checking types; with
//    the line in an unsaved file beside the original it checks types as in 2. None of the
//    three exists on disk: only the line and the file's place matter.
const noLine = 'exported/acme/workspaces/default/clients/no-schema-line.yaml';
const noLineText = spaBad.slice(spaBad.indexOf('\n') + 1);
found = await expectDiagnostics(noLine, open(noLine, noLineText), 'no $schema line', () => true);
if (found.length) fail(`${noLine} (no $schema line) has diagnostics: ${describe(found)}`);
ok(`the same text without its $schema line (${noLine}): ${describe(found)}`);
const misplaced = 'exported/acme/misplaced-client.yaml';
found = await expectDiagnostics(
  misplaced,
  open(misplaced, spaBad),
  'line leading nowhere',
  (d) => d.length > 0,
);
if (
  !found.some((d) => /Unable to load schema/.test(d.message)) ||
  found.some((d) => /Incorrect type/.test(d.message))
) {
  fail(`${misplaced}: expected only "Unable to load schema", got ${describe(found)}`);
}
ok(`the same text with its line, three directories up (${misplaced}): ${describe(found)}`);
const sameDir = 'exported/acme/workspaces/default/clients/not-saved-yet.yaml';
found = await expectDiagnostics(
  sameDir,
  open(sameDir, spaBad),
  'unsaved file beside the export',
  on(grantLine, /Incorrect type\. Expected .*array/),
);
ok(`the same text with its line in an unsaved file beside it (${sameDir}): ${describe(found)}`);

// 6. Completion in a new client file: the fields of clients.json, less the ones written; then
//    the known values of a field.
const fresh = 'exported/acme/workspaces/default/clients/new-client.yaml';
const freshText = [
  '# yaml-language-server: $schema=../../../../../schema/clients.json',
  'description: A client being written',
  'client_secret: \'{{ secret("NEW_CLIENT") }}\'',
  '',
  '',
].join('\n');
open(fresh, freshText);
step = 'asking for completion on a fresh line';
let completion = await request('textDocument/completion', {
  textDocument: { uri: uriOf(fresh) },
  position: { line: 3, character: 0 },
});
let labels = (Array.isArray(completion) ? completion : (completion?.items ?? [])).map(
  (i) => i.label,
);
for (const field of ['client_name', 'token_endpoint_auth_method', 'grant_types', 'redirect_uris']) {
  if (!labels.includes(field))
    fail(`completion on a fresh line of ${fresh} lacks ${field}: ${JSON.stringify(labels)}`);
}
if (labels.includes('description'))
  fail(`completion offers description, which the file has: ${JSON.stringify(labels)}`);
for (const field of ['hashed_secret', 'hashed_rotated_secrets', 'rotated_secrets', 'registration_token']) {
  if (labels.includes(field))
    fail(`completion offers ${field}, which the platform maintains: ${JSON.stringify(labels)}`);
}
const offered = labels.filter((l) => ['client_name', 'token_endpoint_auth_method'].includes(l));
ok(
  `completion on a fresh line of ${fresh}: ${labels.length} fields, ${offered.join(' and ')} ` +
    `among them, description (already written) not: ${labels.join(', ')}`,
);
const typed = freshText.replace(/\n\n$/, '\ntoken_endpoint_auth_method: \n');
change(fresh, typed);
step = 'asking for completion of a value';
completion = await request('textDocument/completion', {
  textDocument: { uri: uriOf(fresh) },
  position: { line: 3, character: 'token_endpoint_auth_method: '.length },
});
labels = (Array.isArray(completion) ? completion : (completion?.items ?? [])).map((i) => i.label);
for (const value of ['client_secret_basic', 'private_key_jwt', 'none']) {
  if (!labels.includes(value))
    fail(`completion after token_endpoint_auth_method: lacks ${value}: ${JSON.stringify(labels)}`);
}
ok(`completion after \`token_endpoint_auth_method: \`: ${labels.join(', ')}`);

// 7. Hover on a credential field: its description from clients.json.
step = 'asking for hover on client_secret';
const hover = await request('textDocument/hover', {
  textDocument: { uri: uriOf(fresh) },
  position: { line: 2, character: 4 },
});
const hoverText =
  typeof hover?.contents === 'string'
    ? hover.contents
    : (hover?.contents?.value ?? JSON.stringify(hover));
if (!hoverText.includes('Credential: never in plain text in the repository')) {
  fail(`hover on client_secret does not show its description: ${hoverText}`);
}
const shown = hoverText
  .split('\n')
  .filter((l) => l.trim())
  .slice(0, 2)
  .join(' / ');
ok(`hover on client_secret: "${shown.replace(/\\(.)/g, '$1')}"`);

// The schema the diagnostics came from is the repository's (the source names its title).
if (!/Client application/.test(spaErrorSource ?? ''))
  fail(`unexpected diagnostic source ${spaErrorSource}`);

step = 'shutting down';
shuttingDown = true;
await request('shutdown', null);
notify('exit', null);
const grace = setTimeout(() => server.kill('SIGKILL'), 2000);
await new Promise((resolve) => server.once('exit', resolve));
clearTimeout(grace);
clearTimeout(timer);
process.stdout.write(
  `all ${passed} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);
