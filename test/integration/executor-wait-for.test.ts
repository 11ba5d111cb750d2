/**
 * `Executor.waitFor(state)` on an executor that has given up: the engine in-process, dialling a
 * loopback port nobody listens on with `maxAttempts: 1`. The failure is the answer, at once,
 * instead of the wait's own timeout.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AhError, createExecutor, type Executor } from '../../src/index.js';
import { tempStateDir } from '../helpers/cli.js';

/** Far longer than any test may run: if waitFor waited it out, the bound below would say so. */
const WAIT_FOR_TIMEOUT_MS = 10 * 60_000;
const BOUND_MS = 20_000;

let executor: Executor | null = null;
afterEach(async () => {
  await executor?.stop();
  executor = null;
});

/** A loopback port that refuses connections: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Settles with how `p` settled, or says it was still pending after a generous bound. */
function settled<T>(p: Promise<T>): Promise<{ resolved: T } | { rejected: unknown } | 'still waiting'> {
  let timer: NodeJS.Timeout;
  const bound = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), BOUND_MS)));
  return Promise.race([
    p.then(
      (resolved) => ({ resolved }),
      (rejected: unknown) => ({ rejected }),
    ),
    bound,
  ]).finally(() => clearTimeout(timer));
}

async function failingExecutor(): Promise<Executor> {
  const port = await closedPort();
  executor = createExecutor({ name: 'gives-up', remoteServer: `https://127.0.0.1:${port}`, stateDir: tempStateDir(), statusSocket: false, maxAttempts: 1 });
  return executor;
}

describe('Executor.waitFor on a failed executor', () => {
  it('rejects at once with the failure when the executor has already failed', async () => {
    const ex = await failingExecutor();
    await ex.start();
    const outcome = await ex.done;
    expect(outcome).toMatchObject({ state: 'failed', error: { code: 'ENROLL_CONNECTION_REFUSED' } });
    const result = await settled(ex.waitFor('enrolled', WAIT_FOR_TIMEOUT_MS));
    expect(result).not.toBe('still waiting');
    const { rejected } = result as { rejected: unknown };
    expect(rejected).toBeInstanceOf(AhError);
    expect(rejected).toBe((outcome as { error: AhError }).error);
    expect((rejected as AhError).message).toMatch(/^connection refused to 127\.0\.0\.1:\d+$/);
  });

  it('rejects with the failure when the executor fails while it waits', async () => {
    const ex = await failingExecutor();
    await ex.start();
    const waiting = settled(ex.waitFor('enrolled', WAIT_FOR_TIMEOUT_MS));
    const outcome = await ex.done;
    const result = await waiting;
    expect(result).toEqual({ rejected: (outcome as { error: AhError }).error });
    expect((outcome as { error: AhError }).error.code).toBe('ENROLL_CONNECTION_REFUSED');
  });

  it('still resolves when the state waited for is failed itself', async () => {
    const ex = await failingExecutor();
    await ex.start();
    await ex.done;
    const result = await settled(ex.waitFor('failed', WAIT_FOR_TIMEOUT_MS));
    expect(result).toMatchObject({ resolved: { state: 'failed', lastError: { code: 'ENROLL_CONNECTION_REFUSED' } } });
  });
});
