/**
 * `ah agent doctor --fleet` on a real fleet with each finding made real: an access point with an
 * audit log, a healthy executor, one whose certificate is past its renewal point, one whose clock
 * is an hour ahead (libfaketime), a raw TLS client sending hellos without a certificate, and two
 * executors holding one identity. The doctor reads it all through the access point's status socket.
 */
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/transport/frame-codec.js';
import { runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { fakeClock } from '../helpers/faketime.js';
import { skipWithout } from '../helpers/tools.js';
import { createRoot, issueLeaf, writeIdentity, type Issuer } from '../helpers/pki.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const PREFIX = 'spiffe://example.org/ah/agent/';
const FLOOD = 12;
/** Generous: on a loaded machine a CLI run or an enrollment can take many times its usual second. */
const BOUND_MS = 60_000;

interface Finding {
  severity: 'error' | 'warning';
  kind: string;
  code: string;
  params: Record<string, string>;
  message: string;
  solutions: string[];
}
interface FleetReport {
  executors: number;
  rejectionsFrom: string;
  findings: Finding[];
  summary: { errors: number; warnings: number };
  ok: boolean;
}

let root: Issuer;
let base: string;
let apStateDir: string;
let auditLog: string;
let port: number;
let ap: Daemon;

afterAll(stopAll);

async function identity(name: string, opts: { notBefore?: number; notAfter?: number } = {}) {
  const leaf = await issueLeaf(root, {
    cn: name,
    uris: [`${PREFIX}${name}`],
    notBefore: opts.notBefore,
    notAfter: opts.notAfter ?? Date.now() + 10 * DAY,
    usage: 'client',
  });
  return writeIdentity(join(base, `${name}-${Math.random().toString(36).slice(2, 8)}`), leaf, root.pem);
}

function executor(name: string, paths: { cert: string; key: string; ca: string }, env: Record<string, string> = {}): Daemon {
  return startAh(
    [
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      name,
      '--identity',
      'files',
      '--cert',
      paths.cert,
      '--key',
      paths.key,
      '--ca',
      paths.ca,
      '--backoff-base',
      '200ms',
      '--state-dir',
      tempStateDir(),
    ],
    env,
    `executor ${name}`,
  );
}

/** One hello over TLS without a client certificate; resolves once the link closes, with whether a reject came back. */
function rejectedHello(): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ALPNProtocols: ['ah-fleet/1'], rejectUnauthorized: false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the access point did not close the link'));
    }, BOUND_MS);
    socket.once('secureConnect', () => socket.write(encodeFrame({ type: 'hello', name: 'scanner', version: '0.0.0', labels: {} })));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(received.includes('"type":"reject"') && received.includes('ENROLL_CLIENT_CERT_REQUIRED'));
    });
    socket.once('error', () => undefined);
  });
}

async function fleetDoctor(extra: string[] = []): Promise<{ code: number | null; report: FleetReport; stderr: string }> {
  const r = await runAh(['agent', 'doctor', '--fleet', '--state-dir', apStateDir, '--json', ...extra]);
  return { code: r.code, report: JSON.parse(r.stdout) as FleetReport, stderr: r.stderr };
}

/** Poll the fleet doctor until `test` holds (the fleet settles in a few heartbeats). */
async function fleetUntil(test: (r: FleetReport) => boolean, what: string, extra: string[] = [], timeoutMs = BOUND_MS) {
  const deadline = Date.now() + timeoutMs;
  let last: Awaited<ReturnType<typeof fleetDoctor>> | null = null;
  while (Date.now() < deadline) {
    last = await fleetDoctor(extra);
    if (test(last.report)) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the fleet doctor never showed ${what}; last: ${JSON.stringify(last?.report)}`);
}

const enrolled = (d: Daemon) => d.waitForLine((l) => l.event === 'enrolled', 'enrolled', BOUND_MS);

beforeAll(async () => {
  base = tempStateDir('ah-fleet-');
  root = await createRoot('Fleet Root CA');
  const apLeaf = await issueLeaf(root, {
    cn: 'access point',
    uris: ['spiffe://example.org/ah/serve'],
    ips: ['127.0.0.1'],
    notAfter: Date.now() + 30 * DAY,
    usage: 'server',
  });
  const apPaths = writeIdentity(join(base, 'ap'), apLeaf, root.pem);
  apStateDir = tempStateDir();
  auditLog = join(base, 'audit.log');
  ap = startAh(
    [
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--identity',
      'files',
      '--cert',
      apPaths.cert,
      '--key',
      apPaths.key,
      '--ca',
      apPaths.ca,
      '--executor-san-uri-prefix',
      PREFIX,
      '--heartbeat-interval',
      '300ms',
      '--audit-log',
      auditLog,
      '--state-dir',
      apStateDir,
    ],
    {},
    'access point',
  );
  const line = await ap.waitForLine((l) => l.event === 'access_point_listening', 'listening', BOUND_MS);
  port = Number(String(line.address).split(':').pop());
}, BOUND_MS + 30_000);

describe('ah agent doctor --fleet', () => {
  it('without a running access point: one line, exit 1', async () => {
    const dir = tempStateDir();
    const r = await runAh(['agent', 'doctor', '--fleet', '--state-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`error: no access point is running in ${dir}`);
  });

  it('a healthy fleet: nothing to report, exit 0; a doctor probe with its identity is not a reconnect', async () => {
    const paths = await identity('healthy');
    const healthy = executor('healthy', paths);
    await enrolled(healthy);
    const probe = await runAh([
      'agent',
      'doctor',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'healthy',
      '--identity',
      'files',
      '--cert',
      paths.cert,
      '--key',
      paths.key,
      '--ca',
      paths.ca,
      '--state-dir',
      tempStateDir(),
      '--json',
    ]);
    expect(JSON.parse(probe.stdout).checks.find((c: { name: string }) => c.name === 'enroll').status).toBe('pass');
    expect((await fleetDoctor(['--max-reconnects', '0'])).report.findings).toEqual([]);
    const { code, report } = await fleetUntil((r) => r.executors === 1, 'the healthy executor');
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
    const human = await runAh(['agent', 'doctor', '--fleet', '--state-dir', apStateDir]);
    expect(human.stdout).toMatch(/\n0 findings: nothing to report\n$/);
    // The same executor with a wider expiry window: a warning, still exit 0.
    const wide = await fleetDoctor(['--expiring-within', '30d']);
    expect(wide.code).toBe(0);
    expect(wide.report.findings).toHaveLength(1);
    expect(wide.report.findings[0]).toMatchObject({
      severity: 'warning',
      kind: 'expiring',
      code: 'ENROLL_FLEET_EXPIRING',
      params: { executorId: `${PREFIX}healthy` },
    });
    expect(wide.report.findings[0]!.message).toMatch(new RegExp(`^executor ${PREFIX}healthy holds certificate serial [0-9A-F]+ that expires in (9d23h|10d)`));
  });

  it.skipIf(skipWithout('faketime'))(
    'an old certificate, a clock an hour ahead, a flood of rejected hellos and two holders of one identity: each found, exit 1',
    async () => {
      const old = executor('old', await identity('old', { notBefore: Date.now() - 20 * HOUR, notAfter: Date.now() + 4 * HOUR }));
      const ahead = executor('ahead', await identity('ahead'), fakeClock('+1h'));
      const twinA = executor('twin', await identity('twin'));
      await Promise.all([enrolled(old), enrolled(ahead), enrolled(twinA)]);
      const twinB = executor('twin', await identity('twin'));
      await enrolled(twinB);
      const answered = await Promise.all(Array.from({ length: FLOOD }, rejectedHello));
      // Each hello the access point answered with a reject (all of them, unless a flood limit shed some handshakes).
      const rejected = answered.filter(Boolean).length;
      expect(rejected).toBeGreaterThan(0);

      const { code, report, stderr } = await fleetUntil(
        (r) => ['renewal-overdue', 'clock-skew', 'rejections', 'duplicate-identity'].every((k) => r.findings.some((f) => f.kind === k)),
        'every finding',
      );
      expect(stderr).toBe('');
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      expect(report.rejectionsFrom).toBe('audit log');
      const of = (kind: string) => report.findings.filter((f) => f.kind === kind);

      expect(of('renewal-overdue')).toHaveLength(1);
      expect(of('renewal-overdue')[0]).toMatchObject({ severity: 'error', code: 'ENROLL_FLEET_RENEWAL_OVERDUE', params: { executorId: `${PREFIX}old` } });
      expect(of('renewal-overdue')[0]!.message).toMatch(
        new RegExp(`^executor ${PREFIX}old holds certificate serial [0-9A-F]+ past its renewal point \\(\\S+\\): 3h59m(\\d+s)? left$`),
      );
      expect(of('renewal-overdue')[0]!.solutions).toContain('ah agent status --show-cert                          # On the executor: check certificate expiry');

      expect(of('clock-skew')).toHaveLength(1);
      const skew = of('clock-skew')[0]!;
      expect(skew).toMatchObject({
        severity: 'error',
        code: 'ENROLL_FLEET_CLOCK_SKEW',
        params: { executorId: `${PREFIX}ahead`, direction: 'ahead of', threshold: '5s' },
      });
      expect(skew.params.skew).toMatch(/^(59m5\ds|1h(\d+s)?)$/);
      expect(skew.message).toMatch(
        new RegExp(`^clock skew: executor ${PREFIX}ahead at 127\\.0\\.0\\.1:\\d+ is (59m5\\ds|1h(\\d+s)?) ahead of the access point \\(more than 5s\\)$`),
      );

      expect(of('rejections')).toHaveLength(1);
      expect(of('rejections')[0]).toMatchObject({
        severity: 'warning',
        code: 'ENROLL_FLEET_REJECTIONS',
        params: { code: 'ENROLL_CLIENT_CERT_REQUIRED', count: String(rejected), example: 'client certificate required', addresses: `127.0.0.1 (${rejected})` },
        message: `enrollments rejected in the last hour with ENROLL_CLIENT_CERT_REQUIRED: ${rejected} (client certificate required); top addresses: 127.0.0.1 (${rejected})`,
      });

      expect(of('duplicate-identity')).toHaveLength(1);
      const dup = of('duplicate-identity')[0]!;
      expect(dup).toMatchObject({ severity: 'error', code: 'ENROLL_FLEET_DUPLICATE_IDENTITY', params: { executorId: `${PREFIX}twin` } });
      expect(dup.params.first).not.toBe(dup.params.second);
      expect(dup.message).toMatch(
        new RegExp(`^identity ${PREFIX}twin is held by two executors: 127\\.0\\.0\\.1:\\d+ and 127\\.0\\.0\\.1:\\d+ \\(\\d+ takeovers? in the last hour\\)$`),
      );

      // The healthy and the old executors reconnect no more than anyone; the twins do.
      expect(report.findings.filter((f) => f.params.executorId === `${PREFIX}healthy`)).toEqual([]);
      const flapping = await fleetDoctor(['--max-reconnects', '0']);
      expect(flapping.report.findings.filter((f) => f.kind === 'flapping').map((f) => f.params.executorId)).toContain(`${PREFIX}twin`);
      expect(flapping.report.findings.filter((f) => f.kind === 'flapping').map((f) => f.params.executorId)).not.toContain(`${PREFIX}healthy`);

      // Errors come first; the human report carries the guide's text and fixes.
      expect(report.findings.map((f) => f.severity)).toEqual([...report.findings.map((f) => f.severity)].sort());
      const human = await runAh(['agent', 'doctor', '--fleet', '--state-dir', apStateDir]);
      expect(human.code).toBe(1);
      expect(human.stdout).toMatch(/^ah agent doctor --fleet: the access point of .* has \d executors connected \(rejections from the audit log\)$/m);
      expect(human.stdout).toMatch(new RegExp(`^\\[ERROR\\] executor ${PREFIX}old holds certificate serial`, 'm'));
      expect(human.stdout).toContain('sudo systemctl start systemd-timesyncd');
      expect(human.stdout).toContain('See: enrollment troubleshooting guide, "Rotation Issues / Rotation Not Happening" (code ENROLL_FLEET_RENEWAL_OVERDUE)');
      expect(human.stdout).toMatch(/\n\d+ findings: \d+ errors?, \d+ warnings?\n$/);
    },
    3 * BOUND_MS,
  );

  it('refuses --fleet with --remote-server: exit 2, one line', async () => {
    const r = await runAh(['agent', 'doctor', '--fleet', '--remote-server', 'https://127.0.0.1:4433', '--state-dir', apStateDir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
