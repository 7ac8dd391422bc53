'use strict';
// npm lifecycle steps of the plexus package in a plexus checkout (not in the tarball):
//
//   prepare   Installed from this folder into another project: records where the
//             checkout is (checkout.json), so that a copy of the folder (npm 9.0 to 9.2,
//             or --install-links) loads the library built in it, as the folder itself does.
//   prepack   `npm pack` / `npm publish`: builds the release library with cargo and puts
//             it in prebuilds/<platform>-<arch>/ (debug info stripped when `strip` is
//             there), where the binding looks first.
//   postpack  Removes prebuilds/ again, so the folder goes on using target/ of the
//             checkout, whatever is rebuilt later.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const pkg = path.resolve(__dirname, '..');
const root = path.resolve(pkg, '..', '..');
const CHECKOUT = path.join(pkg, 'checkout.json');
const PREBUILDS = path.join(pkg, 'prebuilds');
const LIB_FILE =
  process.platform === 'win32' ? 'plexus.dll' : process.platform === 'darwin' ? 'libplexus.dylib' : 'libplexus.so';

function fail(message) {
  process.stderr.write(`plexus: ${message}\n`);
  process.exit(1);
}

function isCheckout() {
  return fs.existsSync(path.join(root, 'Cargo.toml')) && fs.existsSync(path.join(root, 'include', 'plexus.h'));
}

/** Builds the release cdylib with cargo; returns the path cargo reports for it. */
function buildRelease() {
  const cargo = process.env.CARGO || 'cargo';
  process.stderr.write(`plexus: building the release library (${cargo} build --release --lib in ${root})\n`);
  const r = spawnSync(cargo, ['build', '--release', '--lib', '--message-format=json-render-diagnostics'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  if (r.error) fail(`cannot run ${cargo} (${r.error.message}): install Rust (https://rustup.rs) to pack the Node package`);
  if (r.status !== 0) fail(`${cargo} build --release failed (exit ${r.status})`);
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason !== 'compiler-artifact' || !msg.target || msg.target.name !== 'plexus') continue;
    const lib = msg.filenames.find((f) => path.basename(f) === LIB_FILE);
    if (lib) return lib;
  }
  return fail(`${cargo} built no ${LIB_FILE}`);
}

function prepack() {
  if (!isCheckout()) fail(`${root} is not a plexus checkout: the package is packed from bindings/node of one`);
  fs.rmSync(CHECKOUT, { force: true }); // a tarball carries its library, never a path of this machine
  const built = buildRelease();
  const dest = path.join(PREBUILDS, `${process.platform}-${process.arch}`, LIB_FILE);
  fs.rmSync(PREBUILDS, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const strip = spawnSync('strip', ['--strip-debug', '-o', dest, built], { stdio: 'inherit' });
  if (strip.error || strip.status !== 0) fs.copyFileSync(built, dest);
  process.stderr.write(`plexus: packed ${path.relative(pkg, dest)} (${(fs.statSync(dest).size / 1048576).toFixed(1)} MiB)\n`);
}

function prepare() {
  // `npm install` / `npm ci` inside this folder (a developer's setup) prepares nothing.
  if (!process.env.INIT_CWD || path.resolve(process.env.INIT_CWD) === pkg || !isCheckout()) return;
  fs.writeFileSync(CHECKOUT, `${JSON.stringify({ root }, null, 2)}\n`);
}

const step = process.argv[2] || process.env.npm_lifecycle_event;
if (step === 'prepack') prepack();
else if (step === 'postpack') fs.rmSync(PREBUILDS, { recursive: true, force: true });
else if (step === 'prepare') prepare();
else fail(`scripts/pack.js: unknown step ${step}`);
