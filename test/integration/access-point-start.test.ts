/**
 * `AccessPoint.start()` that cannot succeed: the engine in-process, as an embedding program uses
 * it. It must reject (never hang), with the catalog's error, and leave nothing open behind it: the
 * metrics port, the status socket and the audit log are released, so a restart finds them free.
 */
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { afterEach, describe, expect, it } from 'vitest';
import { AhError, createAccessPoint, DevIdentityProvider, type AccessPoint, type IdentityProvider } from '../../src/index.js';
import type { ProviderEvents } from '../../src/providers/identity-provider.js';
import { paths } from '../../src/engine/state-dir.js';
import { tempStateDir } from '../helpers/cli.js';

const BOUND_MS = 20_000;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listenOn(port = 0): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const portOf = (s: Server) => (s.address() as { port: number }).port;
const close = (s: Server) => new Promise((resolve) => s.close(resolve));

/** A port that is free now (bound once by us, then released). */
async function freePort(): Promise<number> {
  const s = await listenOn();
  const port = portOf(s);
  await close(s);
  return port;
}

/** How `p` settled, or 'still pending' after a generous bound. */
function settled<T>(p: Promise<T>): Promise<{ resolved: T } | { rejected: unknown } | 'still pending'> {
  let timer: NodeJS.Timeout;
  const bound = new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), BOUND_MS)));
  return Promise.race([
    p.then(
      (resolved) => ({ resolved }),
      (rejected: unknown) => ({ rejected }),
    ),
    bound,
  ]).finally(() => clearTimeout(timer));
}

/** Files this process holds open (Linux). */
function openFiles(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

/** The port is ours to bind again: whatever the access point opened there is closed. */
async function expectFree(port: number) {
  const again = await listenOn(port);
  expect(portOf(again)).toBe(port);
  await close(again);
}

function accessPointWith(extra: { provider?: IdentityProvider; listen?: string } = {}) {
  const stateDir = tempStateDir();
  const auditLog = join(stateDir, 'audit.log');
  return freePort().then((metricsPort) => {
    const ap = createAccessPoint({
      listen: extra.listen ?? '127.0.0.1:0',
      stateDir,
      metricsListen: `127.0.0.1:${metricsPort}`,
      auditLog,
      provider: extra.provider,
    });
    cleanups.push(() => ap.stop());
    return { ap, stateDir, auditLog, metricsPort };
  });
}

/** A provider that stands in for a broken one; `start` decides how it breaks. */
class BrokenProvider extends EventEmitter<ProviderEvents> implements IdentityProvider {
  readonly kind = 'dev' as const;
  readonly canIssue = false;
  stopped = false;
  constructor(readonly start: () => Promise<void>) {
    super();
  }
  issue(): never {
    throw new Error('not used');
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

async function expectStartFails(ap: AccessPoint): Promise<AhError> {
  const result = await settled(ap.start());
  expect(result).not.toBe('still pending');
  expect(result).toHaveProperty('rejected');
  const { rejected } = result as { rejected: unknown };
  expect(rejected).toBeInstanceOf(AhError);
  return rejected as AhError;
}

describe('AccessPoint.start() that fails', () => {
  it('fleet address in use: rejects with ENROLL_LISTEN_FAILED and releases metrics port, status socket and audit log', async () => {
    const taken = await listenOn();
    cleanups.push(() => close(taken));
    const fleet = `127.0.0.1:${portOf(taken)}`;
    const { ap, stateDir, auditLog, metricsPort } = await accessPointWith({ listen: fleet });

    const error = await expectStartFails(ap);
    expect(error.code).toBe('ENROLL_LISTEN_FAILED');
    expect(error.message).toBe(`cannot listen on ${fleet}: address already in use`);

    await expectFree(metricsPort);
    expect(existsSync(paths.accessPointSocket(stateDir))).toBe(false);
    expect(existsSync(auditLog)).toBe(true);
    expect(openFiles()).not.toContain(auditLog);
    expect(ap.readiness().ready).toBe(false);
  });

  it('a provider whose start throws: rejects (the machine crashed) instead of hanging, and releases the metrics port', async () => {
    const provider = new BrokenProvider(() => {
      throw new Error('provider exploded');
    });
    const { ap, metricsPort } = await accessPointWith({ provider });
    const error = await expectStartFails(ap);
    expect(error.code).toBe('ENROLL_INTERNAL');
    expect(error.message).toBe('internal error: provider exploded');
    await expectFree(metricsPort);
    expect(provider.stopped).toBe(true);
  });

  it('a provider whose start rejects: rejects with its error, even one that is retryable while running', async () => {
    const missing = join(tempStateDir(), 'agent.sock');
    const provider = new BrokenProvider(async () => {
      throw new AhError('ENROLL_WORKLOAD_API_UNAVAILABLE', { path: missing });
    });
    const { ap, metricsPort } = await accessPointWith({ provider });
    const error = await expectStartFails(ap);
    expect(error.code).toBe('ENROLL_WORKLOAD_API_UNAVAILABLE');
    expect(error.message).toBe(`failed to connect to Workload API: ${missing}: no such file`);
    await expectFree(metricsPort);
  });

  it('a retryable identity error at start is waited out: the access point serves once material comes', async () => {
    const dir = tempStateDir();
    const dev = new DevIdentityProvider({ role: 'access-point', name: 'access-point', dir, hosts: ['127.0.0.1'] });
    let deliver!: () => Promise<void>;
    const provider = new BrokenProvider(async () => {
      // A SPIRE agent that is not up yet: an error now, the identity later.
      provider.emit('error', new AhError('ENROLL_WORKLOAD_API_UNAVAILABLE', { path: join(dir, 'agent.sock') }));
      deliver = async () => void provider.emit('material', await dev.issue());
    });
    const { ap } = await accessPointWith({ provider });
    const firstError = new Promise<AhError>((resolve) => ap.once('error', resolve));
    const starting = settled(ap.start());
    expect((await firstError).code).toBe('ENROLL_WORKLOAD_API_UNAVAILABLE');
    expect(ap.status()).toMatchObject({ state: 'starting', listen: null });
    await deliver();
    const result = await starting;
    expect(result).toMatchObject({ resolved: { host: '127.0.0.1' } });
    expect(ap.readiness()).toEqual({ ready: true, state: 'serving' });
  });
});
