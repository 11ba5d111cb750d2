/**
 * What an executor process loads: the code of the features it uses, not the others. An enrolled
 * dev executor carries no gRPC (SPIFFE), no Vault client, no prom-client and no file watcher; a
 * files executor with --metrics-listen loads the file watcher and prom-client, and still neither
 * gRPC nor Vault; `ah --version` and `ah agent enroll --help` load no machine and no provider.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoot, issueLeaf, writeIdentity } from '../helpers/pki.js';
import { ROOT, runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine } from '../helpers/cli.js';

afterAll(stopAll);

const HOOK = join(ROOT, 'test', 'helpers', 'trace-loads.mjs');
const OPTIONAL = ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'node-vault', 'prom-client', 'chokidar'];

/** The packages (under node_modules) a process loaded, from the trace file. */
function packagesIn(traceFile: string): Set<string> {
  const names = new Set<string>();
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

function traced(dir: string, name: string): { NODE_OPTIONS: string; AH_TRACE_LOADS: string } {
  return { NODE_OPTIONS: `--import ${HOOK}`, AH_TRACE_LOADS: join(dir, `${name}.loads`) };
}

const isWelcomed = (l: LogLine) => l.component === 'ah_executor' && typeof l.executorId === 'string';

let dir: string;
let address: string;
let accessPoint: Daemon;

beforeAll(async () => {
  dir = tempStateDir();
  accessPoint = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', dir]);
  const listening = await accessPoint.waitForLine((l) => l.event === 'access_point_listening', 'listening');
  address = String(listening.address);
});

async function enrollTraced(name: string, extra: string[]): Promise<Set<string>> {
  const env = traced(dir, name);
  const executor = startAh(['agent', 'enroll', '--remote-server', `https://${address}`, '--name', name, '--state-dir', dir, ...extra], env, name);
  await executor.waitForLine(isWelcomed, 'enrolled');
  expect(await executor.stop()).toBe(0);
  // The exec provider (running and reading a command) is another identity's code: not loaded here.
  // (Its command-line splitting is the CLI's too, to refuse a bad --dynamic-cert-cmd at once.)
  expect(readFileSync(env.AH_TRACE_LOADS, 'utf8')).not.toMatch(/\/providers\/exec(\.js|\/run-command|\/pem-output)/);
  return packagesIn(env.AH_TRACE_LOADS);
}

describe('module loading', () => {
  it('an enrolled dev executor loads none of the optional features', async () => {
    const loaded = await enrollTraced('dev-probe', []);
    // The trace sees what is loaded: the machines and the dev certificate generator.
    expect(loaded).toContain('xstate');
    expect(loaded).toContain('@peculiar/x509');
    expect(OPTIONAL.filter((p) => loaded.has(p))).toEqual([]);
  });

  it('a files executor with --metrics-listen loads the file watcher and prom-client, not gRPC or Vault', async () => {
    const ca = await createRoot('Executor CA');
    const leaf = await issueLeaf(ca, { cn: 'files-probe', uris: ['spiffe://dev.local/ah/agent/files-probe'], usage: 'client' });
    const files = writeIdentity(join(dir, 'files-probe'), leaf, ca.pem);
    // The access point (dev mode) presents its dev certificate: the executor's CA for it.
    const apCert = join(dir, 'dev', 'access-point', 'cert.pem');
    const loaded = await enrollTraced('files-probe', ['--cert', files.cert, '--key', files.key, '--ca', apCert, '--metrics-listen', '127.0.0.1:0']);
    expect(OPTIONAL.filter((p) => loaded.has(p))).toEqual(['prom-client', 'chokidar']);
    expect(loaded).not.toContain('@peculiar/x509');
  });

  it('ah --version and ah agent enroll --help load no machine, provider or metrics code', async () => {
    for (const [name, args] of [
      ['version', ['--version']],
      ['help', ['agent', 'enroll', '--help']],
    ] as const) {
      const env = traced(dir, name);
      const run = await runAh([...args], env);
      expect(run.code).toBe(0);
      const loaded = packagesIn(env.AH_TRACE_LOADS);
      expect(loaded).toContain('commander');
      expect([...OPTIONAL, 'xstate', '@peculiar/x509', 'pino-pretty'].filter((p) => loaded.has(p))).toEqual([]);
    }
  });
});
