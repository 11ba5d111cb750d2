/**
 * The README's embedding example, run as written: the code block between the markers, imported
 * from the package by its name (Node resolves a package's own name through its `exports`).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ROOT, tempStateDir } from '../helpers/cli.js';
import { taggedEnv } from '../helpers/processes.js';

const dir = join(ROOT, 'test', '.tmp');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README embedding example', () => {
  it('runs as written', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- embedding-example:start -->\n```js\n([\s\S]+?)```\n<!-- embedding-example:end -->/.exec(readme);
    expect(block, 'the README has the marked example').not.toBeNull();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `readme-example-${process.pid}.mjs`);
    writeFileSync(file, block![1]!);
    const r = spawnSync(process.execPath, [file], {
      cwd: ROOT,
      env: taggedEnv({ ...process.env, AH_STATE_DIR: tempStateDir() }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout.split('\n');
    expect(out).toContain('access point: embedded enrolled');
    expect(out).toContain('enrolled as spiffe://dev.local/ah/agent/embedded');
    expect(out.some((l) => /^rotated: serial [0-9A-F]+ -> [0-9A-F]+$/.test(l))).toBe(true);
    expect(out).toContain('access point: embedded rotated');
    expect(out.some((l) => /^state (enrolled|renewing), rotations [1-9]\d*$/.test(l))).toBe(true);
  });
});
