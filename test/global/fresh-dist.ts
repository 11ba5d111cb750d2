/**
 * Global setup: the CLI tests run bin/ah, which loads dist/. When src/ (or the build's config) has
 * changed since dist/ was built, as after an edit followed by `npx vitest run test/x.test.ts`,
 * rebuild first, saying so in one line, so that no test runs stale code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** The newest file under `path` (a file or a folder), by modification time. */
function newest(path: string): { file: string; mtimeMs: number } | null {
  if (!existsSync(path)) return null;
  const stat = statSync(path);
  if (!stat.isDirectory()) return { file: path, mtimeMs: stat.mtimeMs };
  let best: { file: string; mtimeMs: number } | null = null;
  for (const entry of readdirSync(path)) {
    const found = newest(join(path, entry));
    if (found && (!best || found.mtimeMs > best.mtimeMs)) best = found;
  }
  return best;
}

export default function setup(): void {
  const sources = [newest(join(ROOT, 'src')), newest(join(ROOT, 'tsconfig.build.json'))].filter((s) => s !== null);
  const source = sources.reduce((a, b) => (b.mtimeMs > a.mtimeMs ? b : a));
  const built = newest(join(ROOT, 'dist'));
  if (built && built.mtimeMs >= source.mtimeMs) return;
  const why = built ? `${relative(ROOT, source.file)} is newer than dist/` : 'there is no dist/';
  console.log(`${why}: rebuilding with npm run build before the tests`);
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed, so the tests would run stale code:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}
