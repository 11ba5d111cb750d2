#!/usr/bin/env node
/**
 * Run before `npm test`: install the Debian packages of the programs some tests need
 * (scripts/test-tools.json) when they are missing and this machine allows it (root, apt-get).
 * One line says what is installed and why, or why nothing can be; it never stops the run: a test
 * whose program is still missing is skipped, or fails under CI=true (test/helpers/tools.ts).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const { tools } = JSON.parse(readFileSync(new URL('./test-tools.json', import.meta.url), 'utf8'));

function onPath(program) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = tools.filter((t) => !onPath(t.tool));
if (missing.length === 0) process.exit(0);

const names = missing.map((t) => t.tool).join(', ');
const packages = [...new Set(missing.flatMap((t) => t.packages))];
const inCi = Boolean(process.env.CI) && !['false', '0'].includes(process.env.CI);
const after = inCi ? 'the tests that need them will fail (CI=true)' : 'the tests that need them will be skipped';

function cannot(reason) {
  console.log(`npm test: ${names} not found and not installed (${reason}): ${after}; to install: apt-get install ${packages.join(' ')}`);
  process.exit(0);
}

if (process.getuid?.() !== 0) cannot('not root');
if (!onPath('apt-get')) cannot('no apt-get');

console.log(`npm test: installing Debian packages ${packages.join(' ')}, for ${missing.map((t) => `${t.tool} (${t.for})`).join('; ')}`);
// apt's own output is kept back and its last line shown only if it fails.
const apt = (args) =>
  spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20 * 60_000,
  });
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', '-o', 'DPkg::Lock::Timeout=300', ...packages],
]) {
  const r = apt(args);
  if (r.status !== 0) {
    const lines = `${r.stderr ?? ''}\n${r.stdout ?? ''}`
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const why = lines.find((l) => l.startsWith('E:')) ?? lines.at(-1) ?? r.error?.message ?? `exit ${r.status}`;
    cannot(`apt-get ${args[0]} failed: ${why}`);
  }
}
const still = missing.filter((t) => !onPath(t.tool)).map((t) => t.tool);
if (still.length > 0) cannot(`${still.join(', ')} still missing after the install`);
