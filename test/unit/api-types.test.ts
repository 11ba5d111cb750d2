/**
 * The library's public types, as an embedder sees them. `expectTypeOf` checks nothing at run time
 * (only `tsc`, or vitest's typecheck mode, reads it), so this test also type-checks the embedder's
 * code below with the TypeScript compiler itself: a drifted type fails here under plain
 * `vitest run` too. A deliberately wrong embedder, checked alongside, shows the check can fail.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { AhError, createAccessPoint, createExecutor, type ExecutorStatus, type FleetEntryJson } from '../../src/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');

/** What an embedder writes: the type expectations of the public API (compiled below, never run). */
function embedder(): void {
  const executor = createExecutor({ name: 'x', remoteServer: 'https://127.0.0.1:4433', stateDir: '/tmp/x' });
  createExecutor({ name: 'x', remoteServer: ['https://ap-1:4433', 'https://ap-2:4433'], stateDir: '/tmp/x' });
  expectTypeOf(executor.start).returns.toEqualTypeOf<Promise<void>>();
  expectTypeOf(executor.status).returns.toEqualTypeOf<ExecutorStatus>();
  expectTypeOf<ExecutorStatus['state']>().toEqualTypeOf<'disconnected' | 'handshaking' | 'enrolled' | 'renewing' | 'relinking' | 'failed'>();
  executor.on('rotated', (r) => expectTypeOf(r.serial).toBeString());
  executor.on('error', (e) => expectTypeOf(e).toEqualTypeOf<AhError>());
  const ap = createAccessPoint({ stateDir: '/tmp/x' });
  ap.on('admitted', (e) => expectTypeOf(e).toMatchTypeOf<FleetEntryJson>());
  expectTypeOf(ap.roster.toJSON).returns.toEqualTypeOf<{ executors: FleetEntryJson[] }>();
}

/** An embedder with wrong expectations, one per line: each must be a type error. */
const WRONG = `import { expectTypeOf } from 'vitest';
import { createExecutor, type ExecutorStatus } from '../../src/index.js';
const executor = createExecutor({ name: 'x', remoteServer: 'https://127.0.0.1:4433', stateDir: '/tmp/x' });
expectTypeOf<ExecutorStatus['state']>().toEqualTypeOf<'disconnected' | 'enrolled'>();
expectTypeOf(executor.start).returns.toEqualTypeOf<Promise<string>>();
createExecutor({ name: 'x', remoteServer: 'https://127.0.0.1:4433', stateDir: '/tmp/x', noSuchOption: true });
`;

/** Type errors, by file, of this file and the wrong embedder, under the repository's tsconfig. */
function typeErrors(): { self: string[]; wrong: Array<{ line: number; text: string }> } {
  const self = fileURLToPath(import.meta.url);
  const wrongPath = join(HERE, 'api-types.wrong-embedder.ts');
  const config = ts.parseJsonConfigFileContent(ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => readFileSync(p, 'utf8')).config, ts.sys, ROOT);
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    resolve(name) === wrongPath ? ts.createSourceFile(name, WRONG, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => resolve(name) === wrongPath || fileExists(name);
  const program = ts.createProgram({ rootNames: [self, wrongPath], options: config.options, host });
  const render = (d: ts.Diagnostic) => ts.flattenDiagnosticMessageText(d.messageText, '\n');
  const of = (path: string) => ts.getPreEmitDiagnostics(program, program.getSourceFile(path));
  return {
    self: of(self).map(render),
    wrong: of(wrongPath).map((d) => ({ line: d.file!.getLineAndCharacterOfPosition(d.start!).line + 1, text: render(d) })),
  };
}

describe('public API types', () => {
  it('types the factories, snapshots and events (checked by the compiler, here)', { timeout: 60_000 }, () => {
    const { self, wrong } = typeErrors();
    // `embedder` above is what the compiler checks; it is never called.
    expect(embedder).toBeTypeOf('function');
    expect(self).toEqual([]);
    // Lines 4, 5 and 6 of the wrong embedder, and nothing else.
    expect([...new Set(wrong.map((e) => e.line))]).toEqual([4, 5, 6]);
    expect(wrong.find((e) => e.line === 6)!.text).toMatch(/noSuchOption/);
  });

  it('the factories answer as their types say', () => {
    const ap = createAccessPoint({ stateDir: '/tmp/x' });
    expect(ap.roster.toJSON()).toEqual({ executors: [] });
    const executor = createExecutor({ name: 'x', remoteServer: 'https://127.0.0.1:4433', stateDir: '/tmp/x' });
    expect(executor.start).toBeTypeOf('function');
    const error = new AhError('ENROLL_CONNECTION_REFUSED', { address: '127.0.0.1:4433' });
    expect(error).toMatchObject({ code: 'ENROLL_CONNECTION_REFUSED', message: 'connection refused to 127.0.0.1:4433' });
  });
});
