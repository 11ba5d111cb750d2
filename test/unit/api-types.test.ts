/** The library's public types, as an embedder sees them. */
import { describe, expectTypeOf, it } from 'vitest';
import { createAccessPoint, createExecutor, type AhError, type ExecutorStatus, type FleetEntryJson } from '../../src/index.js';

describe('public API types', () => {
  it('types the factories, snapshots and events', () => {
    const executor = createExecutor({ name: 'x', remoteServer: 'https://127.0.0.1:4433', stateDir: '/tmp/x' });
    expectTypeOf(executor.start).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(executor.status).returns.toEqualTypeOf<ExecutorStatus>();
    expectTypeOf<ExecutorStatus['state']>().toEqualTypeOf<'disconnected' | 'handshaking' | 'enrolled' | 'renewing' | 'failed'>();
    executor.on('rotated', (r) => expectTypeOf(r.serial).toBeString());
    executor.on('error', (e) => expectTypeOf(e).toEqualTypeOf<AhError>());
    const ap = createAccessPoint({ stateDir: '/tmp/x' });
    ap.on('admitted', (e) => expectTypeOf(e).toMatchTypeOf<FleetEntryJson>());
    expectTypeOf(ap.roster.toJSON).returns.toEqualTypeOf<{ executors: FleetEntryJson[] }>();
  });
});
