/**
 * The SPIFFE provider against a fake SPIRE agent in-process: every X.509-SVID rule violation is
 * refused with go-spiffe's words, and the Workload API's status codes get their retry policy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { AhError } from '../../src/errors/ah-error.js';
import type { IdentityMaterial } from '../../src/providers/identity-provider.js';
import { SpiffeIdentityProvider } from '../../src/providers/spiffe.js';
import { resolveWorkloadEndpoint } from '../../src/providers/spiffe/endpoint.js';
import { loadWorkloadApi, shortSocketDir, startFakeSpire, type FakeSpire, type SvidDefect } from '../support/fake-spire/index.js';

const ID = 'spiffe://example.org/ah/agent/executor-1';
let dir: ReturnType<typeof shortSocketDir>;
let spire: FakeSpire;

beforeAll(async () => {
  dir = shortSocketDir('ahspu-');
  spire = await startFakeSpire({ socketPath: dir.path('agent.sock'), trustDomain: 'example.org' });
  await spire.register(ID);
});
afterAll(async () => {
  await spire.close();
  dir.remove();
});

function next(provider: SpiffeIdentityProvider): Promise<IdentityMaterial | AhError> {
  return new Promise((resolve) => {
    const done = (x: IdentityMaterial | AhError) => {
      provider.off('material', done);
      provider.off('error', done);
      resolve(x);
    };
    provider.on('material', done);
    provider.on('error', done);
  });
}

describe('SPIFFE provider', () => {
  const expectations: Record<SvidDefect, RegExp> = {
    'no-uri-san': /certificate contains no URI SAN$/,
    'two-uri-sans': /certificate contains more than one URI SAN$/,
    'root-path': /leaf certificate SPIFFE ID must have a non-root path$/,
    'ca-leaf': /leaf certificate must not have CA flag set to true$/,
    'no-digital-signature': /leaf certificate must have 'digitalSignature' set as key usage$/,
    'key-cert-sign': /leaf certificate must not have 'keyCertSign' set as key usage$/,
    'crl-sign': /leaf certificate must not have 'cRLSign' set as key usage$/,
    'mismatched-key': /leaf certificate does not match private key$/,
    expired: /./,
    'untrusted-issuer': /the SVID does not chain to its trust bundle$/,
  };

  it("accepts a conforming SVID and refuses each rule violation in go-spiffe's words", async () => {
    const provider = new SpiffeIdentityProvider({ socket: spire.target });
    const first = next(provider);
    await provider.start();
    const good = await first;
    expect(good).not.toBeInstanceOf(AhError);
    expect((good as IdentityMaterial).summary.spiffeId).toBe(ID);
    for (const [defect, message] of Object.entries(expectations) as Array<[SvidDefect, RegExp]>) {
      const said = next(provider);
      await spire.rotate(ID, { defect });
      const result = await said;
      if (defect === 'expired') {
        // An expired SVID is well-formed: it is offered, and the rotation machine sees it expired.
        expect(result).not.toBeInstanceOf(AhError);
        continue;
      }
      expect(result, defect).toBeInstanceOf(AhError);
      expect((result as AhError).code).toBe('ENROLL_INVALID_SVID');
      expect((result as AhError).message).toMatch(message);
    }
    const healed = next(provider);
    await spire.rotate(ID);
    expect(await healed).not.toBeInstanceOf(AhError);
    await provider.stop();
  });

  it('does not retry INVALID_ARGUMENT, and retries UNAVAILABLE with backoff', async () => {
    // A Workload API that refuses everything with the given status.
    async function refusingServer(code: grpc.status, details: string) {
      const { service } = loadWorkloadApi();
      const server = new grpc.Server();
      server.addService(service, {
        FetchX509SVID: (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', { code, details }),
      });
      const path = dir.path(`refuse-${code}.sock`);
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
      );
      return { path, server };
    }
    const invalid = await refusingServer(grpc.status.INVALID_ARGUMENT, 'security header missing from request');
    const p1 = new SpiffeIdentityProvider({ socket: invalid.path });
    const said = next(p1);
    await p1.start();
    const err = (await said) as AhError;
    expect(err.code).toBe('ENROLL_WORKLOAD_API_ERROR');
    expect(err.message).toBe(`Workload API at ${invalid.path} failed: INVALID_ARGUMENT: security header missing from request`);
    expect(p1.reconnecting).toBe(false);
    await p1.stop();

    const unavailable = await refusingServer(grpc.status.UNAVAILABLE, 'workload attestation failed');
    const retries: number[] = [];
    const p2 = new SpiffeIdentityProvider({ socket: unavailable.path, onReconnect: ({ inMs }) => retries.push(inMs) });
    const said2 = next(p2);
    await p2.start();
    expect(((await said2) as AhError).message).toBe(`Workload API at ${unavailable.path} failed: UNAVAILABLE: workload attestation failed`);
    expect(p2.reconnecting).toBe(true);
    expect(retries).toHaveLength(1);
    await p2.stop();
    invalid.server.forceShutdown();
    unavailable.server.forceShutdown();
  });

  it("finds the socket from the flag, SPIFFE_ENDPOINT_SOCKET, or the guide's default", () => {
    expect(resolveWorkloadEndpoint('/tmp/a.sock', {})).toEqual({ path: '/tmp/a.sock', target: 'unix:///tmp/a.sock' });
    expect(resolveWorkloadEndpoint('unix:///tmp/a.sock', {})).toEqual({ path: '/tmp/a.sock', target: 'unix:///tmp/a.sock' });
    expect(resolveWorkloadEndpoint(undefined, { SPIFFE_ENDPOINT_SOCKET: 'unix:///run/x.sock' }).path).toBe('/run/x.sock');
    expect(resolveWorkloadEndpoint(undefined, {}).path).toBe('/run/spire/agent.sock');
    expect(() => resolveWorkloadEndpoint('unix://tmp/a.sock', {})).toThrow('must not have an authority');
    expect(() => resolveWorkloadEndpoint('tcp://127.0.0.1:1', {})).toThrow('use a path or unix:///absolute/path');
  });
});
