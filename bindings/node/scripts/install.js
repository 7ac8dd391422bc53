'use strict';
// npm's `install` step of the plexus package: makes sure koffi, its one dependency, can
// be required from where the package's files are.
//
// Installed from the registry or a tarball, or copied from a folder (`npm install
// --install-links <folder>`, the default of npm 9.0 to 9.2), npm has put koffi in the
// project's node_modules already and this does nothing. Installed from a folder as a
// symbolic link (the default since npm 9.3), Node resolves `require('koffi')` from the
// folder's real path, bindings/node of a plexus checkout, and npm does not install the
// dependencies of a folder it links; so this runs `npm ci --omit=dev` there, from the
// committed package-lock.json (koffi 3.3.4, checked against its recorded integrity).

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const dir = path.resolve(__dirname, '..');

function koffiFound() {
  try {
    require.resolve('koffi', { paths: [dir] });
    return true;
  } catch {
    return false;
  }
}

if (!koffiFound()) {
  const lock = fs.existsSync(path.join(dir, 'package-lock.json'));
  const args = lock
    ? ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund']
    : ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save', '--no-package-lock'];
  // The outer npm's settings reach us as npm_config_* variables; those that would send
  // this install elsewhere (`npm install -g` of the folder) must not apply to it.
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_config_(global|location|prefix)$/i.test(key)) delete env[key];
  }
  // The npm that runs this script (npm_execpath), else the one on the PATH.
  const npm = process.env.npm_execpath;
  const cmd = npm ? process.execPath : process.platform === 'win32' ? 'npm.cmd' : 'npm';
  process.stderr.write(`plexus: installing koffi into ${path.join(dir, 'node_modules')} (npm ${args[0]})\n`);
  const r = spawnSync(cmd, npm ? [npm, ...args] : args, { cwd: dir, env, stdio: 'inherit' });
  if (r.status !== 0 || !koffiFound()) {
    process.stderr.write(
      `plexus: could not install koffi into ${dir}/node_modules ` +
        `(npm ${args[0]} ${r.error ? `failed: ${r.error.message}` : `exited with ${r.status}`}); run \`npm ci --omit=dev\` there\n`,
    );
    process.exit(1);
  }
}
