/**
 * The SPIFFE identity on both sides, against fake SPIRE agents on real unix sockets (one socket
 * per workload, one trust domain shared, as two hosts under one SPIRE server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrustDomain, shortSocketDir, startFakeSpire, type FakeSpire, type FakeTrustDomain } from '../support/fake-spire/index.js';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';

const EXECUTOR_ID = 'spiffe://example.org/ah/agent/executor-1';
const AP_ID = 'spiffe://example.org/ah/serve';
const HEARTBEAT_MS = 500;

let dir: ReturnType<typeof shortSocketDir>;
let td: FakeTrustDomain;
let spireAp: FakeSpire;
let spireEx: FakeSpire;
let ap: Daemon;
let port: number;

const enrolledLine = isEvent('enrolled');
const rotationTo = (serial: string) => isEvent('rotation_complete', (l) => l.serial === serial);

beforeAll(async () => {
  dir = shortSocketDir('ahsp-');
  td = await createTrustDomain('example.org');
  spireAp = await startFakeSpire({ socketPath: dir.path('ap.sock'), trustDomain: td });
  spireEx = await startFakeSpire({ socketPath: dir.path('ex.sock'), trustDomain: td });
  await spireAp.register(AP_ID);
  await spireEx.register(EXECUTOR_ID);
  ap = startAh([
    'agent',
    'access-point',
    '--fleet-listen',
    '127.0.0.1:0',
    '--identity',
    'spiffe',
    '--spiffe-socket',
    spireAp.socketPath,
    '--heartbeat-interval',
    `${HEARTBEAT_MS}ms`,
    '--state-dir',
    tempStateDir(),
  ]);
  const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
  expect(line.executorSanUriPrefix).toBe('spiffe://example.org/ah/agent/');
  port = Number(String(line.address).split(':').pop());
});

afterAll(async () => {
  await stopAll();
  await spireAp?.close();
  await spireEx?.close();
  dir?.remove();
});

function enroll(extra: string[] = [], socket = spireEx.target, stateDir = tempStateDir()): Daemon {
  return startAh([
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${port}`,
    '--name',
    'executor-1',
    '--identity',
    'spiffe',
    '--spiffe-socket',
    socket,
    '--expected-server-id',
    AP_ID,
    '--state-dir',
    stateDir,
    '--log-level',
    'info,ah_machine=debug,ah_transport=debug',
    ...extra,
  ]);
}

function noLinkDropped(ex: Daemon) {
  expect(ex.lines.filter((l) => l.code === 'ENROLL_LINK_LOST')).toEqual([]);
  expect(ex.lines.filter((l) => l.kind === 'event' && (l.event as { type: string }).type === 'LINK_FAILED')).toEqual([]);
}

describe('SPIFFE identity', () => {
  it('enrolls over SPIFFE on both sides; status shows the SPIFFE ID, the SVID validity and the last push', async () => {
    const stateDir = tempStateDir();
    const ex = enroll([], spireEx.target, stateDir);
    const line = await ex.waitForLine(enrolledLine, 'enrolled');
    expect(line.executorId).toBe(EXECUTOR_ID);
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
    const svid = spireEx.svids()[0]!;
    expect(status.identity).toMatchObject({ provider: 'spiffe', spiffeId: EXECUTOR_ID, serial: svid.serial.toUpperCase() });
    expect(Date.parse(status.identity.notAfter)).toBe(Math.floor(new Date(svid.notAfter).getTime() / 1000) * 1000);
    expect(Date.parse(status.identityUpdatedAt)).toBeGreaterThan(Date.now() - 60_000);
    const human = (await runAh(['agent', 'status', '--state-dir', stateDir])).stdout;
    expect(human).toMatch(/identity +spiffe spiffe:\/\/example\.org\/ah\/agent\/executor-1/);
    expect(human).toMatch(/identity updated +\d{4}-/);
    await ex.stop();
  });

  it('applies two pushed rotations make-before-break, and the access point takes its own new SVID', async () => {
    const ex = enroll();
    await ex.waitForLine(enrolledLine, 'enrolled');
    for (let i = 0; i < 2; i++) {
      const [next] = await spireEx.rotate(EXECUTOR_ID);
      await ex.waitForLine(rotationTo(next!.serial.toUpperCase()), `rotation ${i + 1}`);
    }
    const [apNext] = await spireAp.rotate(AP_ID);
    await ap.waitForLine(
      isEvent('access_point_certificate_renewed', (l) => l.serial === apNext!.serial.toUpperCase()),
      'the access point renewal',
    );
    // Another rotation after the access point's: its new SVID is accepted by the executor.
    const [third] = await spireEx.rotate(EXECUTOR_ID);
    await ex.waitForLine(rotationTo(third!.serial.toUpperCase()), 'rotation 3');
    await ex.stop();
    noLinkDropped(ex);
  });

  it('rides a CA rotation with an overlapping bundle without dropping the link', async () => {
    const ex = enroll();
    await ex.waitForLine(enrolledLine, 'enrolled');
    const before = spireEx.svids()[0]!.serial;
    const rotation = await spireEx.rotateCa({ overlapMs: 3_000 });
    const after = spireEx.svids()[0]!;
    expect(after.serial).not.toBe(before);
    await ex.waitForLine(rotationTo(after.serial.toUpperCase()), 'the rotation to an SVID of the new CA');
    await ex.waitForLine(
      isEvent('trust_bundle_updated', (l) => l.component === 'ah_identity_provider'),
      'the bundle update',
    );
    await rotation.oldCaDropped;
    // A fresh executor enrolls under the new CA alone.
    const fresh = enroll([], spireEx.target);
    await fresh.waitForLine(enrolledLine, 'a new executor enrolled after the old CA was dropped');
    await fresh.stop();
    await ex.stop();
    noLinkDropped(ex);
  });

  it('keeps the SVID in use when the agent goes away, reconnects with backoff, and applies what it pushes on return', async () => {
    const ex = enroll();
    await ex.waitForLine(enrolledLine, 'enrolled');
    const mark = ex.lines.length;
    await spireEx.stop();
    await ex.waitForNewLine(
      mark,
      isEvent('workload_api_reconnecting', (l) => l.level === 40 && typeof l.inMs === 'number'),
      'a reconnect',
    );
    // The link carries on meanwhile.
    const beat = ex.lines.length;
    await ex.waitForNewLine(beat, isEvent('heartbeat_acked'), 'a heartbeat while the agent is away');
    await spireEx.start();
    const fresh = spireEx.svids()[0]!;
    await ex.waitForLine(rotationTo(fresh.serial.toUpperCase()), 'the SVID pushed after the agent came back');
    await ex.stop();
    noLinkDropped(ex);
  });

  it('refuses a push with garbage in x509_svid and keeps the SVID in use', async () => {
    const stateDir = tempStateDir();
    const ex = enroll([], spireEx.target, stateDir);
    const enrolled = await ex.waitForLine(enrolledLine, 'enrolled');
    await spireEx.pushGarbage();
    const refused = await ex.waitForLine(
      isEvent('identity_refused', (l) => l.code === 'ENROLL_INVALID_SVID'),
      'the refusal',
    );
    // It names the SVID kept, and carries the catalog's message for the code.
    expect(refused).toMatchObject({ level: 40, serial: enrolled.serial });
    expect(refused.msg).toContain(': invalid X.509-SVID from the Workload API: ');
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
    expect(status).toMatchObject({ state: 'enrolled', identity: { serial: enrolled.serial }, lastError: { code: 'ENROLL_INVALID_SVID' } });
    await ex.stop();
    noLinkDropped(ex);
  });
});

describe("SPIFFE errors, with the guide's first lines", () => {
  const firstLine = (s: string) => s.split('\n')[0];

  it('no registration entry: no identity issued (and, without --max-attempts, it retries until one appears)', async () => {
    const spire = await startFakeSpire({ socketPath: dir.path('none.sock'), trustDomain: td });
    try {
      const r = await runAh([
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${port}`,
        '--name',
        'x',
        '--identity',
        'spiffe',
        '--spiffe-socket',
        spire.target,
        '--max-attempts',
        '1',
        '--state-dir',
        tempStateDir(),
      ]);
      expect(r.code).toBe(1);
      expect(firstLine(r.stderr)).toBe('error: no identity issued');
      expect(r.stderr).toContain('spire-server entry create -socketPath /run/spire/server.sock');
      const ex = enroll([], spire.target);
      await ex.waitForLine(
        isEvent('workload_api_reconnecting', (l) => l.code === 'ENROLL_NO_IDENTITY_ISSUED'),
        'a retry',
      );
      await spire.register(EXECUTOR_ID);
      await ex.waitForLine(enrolledLine, 'enrolled once registered', 40_000);
      await ex.stop();
    } finally {
      await spire.close();
    }
  });

  it('socket missing: failed to connect to Workload API: PATH: no such file', async () => {
    const missing = dir.path('missing.sock');
    const r = await runAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'x',
      '--identity',
      'spiffe',
      '--spiffe-socket',
      missing,
      '--max-attempts',
      '1',
      '--state-dir',
      tempStateDir(),
    ]);
    expect(r.code).toBe(1);
    expect(firstLine(r.stderr)).toBe(`error: failed to connect to Workload API: ${missing}: no such file`);
    // The same through SPIFFE_ENDPOINT_SOCKET.
    const viaEnv = await runAh(
      [
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${port}`,
        '--name',
        'x',
        '--identity',
        'spiffe',
        '--max-attempts',
        '1',
        '--state-dir',
        tempStateDir(),
      ],
      { SPIFFE_ENDPOINT_SOCKET: `unix://${missing}` },
    );
    expect(firstLine(viaEnv.stderr)).toBe(`error: failed to connect to Workload API: ${missing}: no such file`);
  });

  it("access point's SPIFFE ID differs from --expected-server-id", async () => {
    const r = await runAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'x',
      '--identity',
      'spiffe',
      '--spiffe-socket',
      spireEx.target,
      '--expected-server-id',
      'spiffe://example.org/ah/other',
      '--max-attempts',
      '1',
      '--state-dir',
      tempStateDir(),
    ]);
    expect(r.code).toBe(1);
    expect(firstLine(r.stderr)).toBe(`error: server SPIFFE ID mismatch: expected spiffe://example.org/ah/other, got ${AP_ID}`);
  });

  it('an executor of another trust domain is not admitted', async () => {
    const other = await startFakeSpire({ socketPath: dir.path('other.sock'), trustDomain: 'other.org' });
    await other.register('spiffe://other.org/ah/agent/executor-1');
    try {
      const r = await runAh([
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${port}`,
        '--name',
        'x',
        '--identity',
        'spiffe',
        '--spiffe-socket',
        other.target,
        '--expected-server-id',
        AP_ID,
        '--max-attempts',
        '1',
        '--state-dir',
        tempStateDir(),
      ]);
      expect(r.code).toBe(1);
      // Its own bundle does not know our access point either; whichever side speaks first, it is refused.
      expect(firstLine(r.stderr)).toMatch(
        /^error: (x509: certificate signed by unknown authority|client certificate rejected: certificate signed by unknown authority)$/,
      );
    } finally {
      await other.close();
    }
  });
});
