/**
 * The diagnosis matrix (test/diagnosis/diagnosis-table.ts), row by row, for real: each row's fault
 * is made (certificates minted for it, files on disk, access points on loopback, a silent TCP
 * server, a fake SPIRE agent, fake Vaults, libfaketime, uid 65534), then `ah agent doctor --json`
 * must fail first at the row's check with the row's catalog code, and the command the operator
 * would run (`ah agent enroll --max-attempts 1`, or `ah agent access-point`) must print the same
 * message. Access points and PKI are shared; rows run a few at a time.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../../src/errors/catalog.js';
import { x509 } from '../../src/x509/peculiar.js';
import { runAh, startAh, stopAll, tempStateDir, type Daemon, type SpawnExtras } from '../helpers/cli.js';
import { fakeClock } from '../helpers/faketime.js';
import { skipWithout } from '../helpers/tools.js';
import { createIntermediate, createRoot, issueLeaf, writeIdentity, type Issuer, type Leaf } from '../helpers/pki.js';
import { DIAGNOSIS_ROWS, type DiagnosisRow } from '../diagnosis/diagnosis-table.js';
import { shortSocketDir, startFakeSpire, type FakeSpire } from '../support/fake-spire/index.js';
import { startFakeVault, type FakeVault } from '../support/fake-vault/index.js';

const DAY = 86_400_000;
const PREFIX = 'spiffe://example.org/ah/agent/';
const EXECUTOR_ID = `${PREFIX}executor-1`;
const AP_ID = 'spiffe://example.org/ah/serve';
const NOBODY = 65534;
/** Generous bounds: on a loaded machine a CLI run can take many times its usual second. */
const RUN_BOUND_MS = 120_000;
const ROW_BOUND_MS = 2 * RUN_BOUND_MS + 30_000;
const CREDS = { VAULT_ROLE_ID: 'executor-role-id', VAULT_SECRET_ID: 'executor-secret-id' };

type Paths = { cert: string; key: string; ca: string };

interface Report {
  checks: Array<{ name: string; status: string; finding: string; error?: { code: string; params: Record<string, string>; message: string } }>;
}

/** An executor row made real: whom to reach and with which flags. */
interface ExecutorFault {
  readonly port: number;
  readonly args: string[];
  readonly name?: string;
  readonly env?: Record<string, string>;
  readonly extras?: SpawnExtras;
  readonly connectTimeout?: string;
  /** Flags only the doctor takes (the access point's policy, which enroll learns from its reject). */
  readonly doctorArgs?: string[];
}

/** An access point row made real: its flags (the doctor gets the same ones). */
interface AccessPointFault {
  readonly args: string[];
  readonly extras?: SpawnExtras;
}

let base: string;
let root: Issuer;
let otherRoot: Issuer;
let intermediate: Issuer;
let otherIntermediate: Issuer;
const aps: Record<'main' | 'lone' | 'full' | 'wrongName' | 'expired', number> = { main: 0, lone: 0, full: 0, wrongName: 0, expired: 0 };
let silent: { server: Server; port: number; sockets: Set<Socket> };
let spireDir: ReturnType<typeof shortSocketDir>;
let emptySpire: FakeSpire;
let vault: FakeVault;
let sealedVault: FakeVault;
let counter = 0;

const dir = (what: string) => join(base, `${what}-${++counter}`);
const filesArgs = (p: Paths) => ['--identity', 'files', '--cert', p.cert, '--key', p.key, '--ca', p.ca];

async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on: bound by the system, then released. */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A plain TCP server holding a port (for "in use"), closed by afterAll. */
const holders: Server[] = [];
async function holdPort(): Promise<number> {
  const server = createTcpServer((s) => s.destroy());
  holders.push(server);
  return listenOnLoopback(server);
}

async function accessPoint(paths: Paths): Promise<number> {
  const daemon: Daemon = startAh(
    ['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', ...filesArgs(paths), '--executor-san-uri-prefix', PREFIX, '--state-dir', tempStateDir()],
    {},
    'access point',
  );
  const line = await daemon.waitForLine((l) => l.event === 'access_point_listening', 'listening', RUN_BOUND_MS);
  return Number(String(line.address).split(':').pop());
}

async function apLeaf(issuer: Issuer, opts: { dns?: string[]; ips?: string[]; notBefore?: number; notAfter?: number } = {}): Promise<Leaf> {
  return issueLeaf(issuer, {
    cn: 'access point',
    uris: [AP_ID],
    dns: opts.dns ?? ['localhost'],
    ips: opts.ips ?? ['127.0.0.1'],
    notBefore: opts.notBefore,
    notAfter: opts.notAfter ?? Date.now() + 10 * DAY,
    usage: 'server',
  });
}

async function executor(opts: { issuer?: Issuer; uri?: string; notBefore?: number; notAfter?: number; chain?: Issuer[]; ca?: string } = {}): Promise<Paths> {
  const leaf = await issueLeaf(opts.issuer ?? root, {
    cn: 'executor-1',
    uris: [opts.uri ?? EXECUTOR_ID],
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    usage: 'client',
  });
  return writeIdentity(dir('ex'), leaf, opts.ca ?? root.pem, opts.chain ?? []);
}

/** Files another uid may reach: every directory above them open for traversal. */
function openForOthers(path: string): void {
  chmodSync(base, 0o755);
  chmodSync(path, 0o755);
}

const vaultArgs = (url: string, name = 'executor-1') => [
  '--identity',
  'vault',
  '--vault-addr',
  url,
  '--vault-role',
  'executor',
  '--vault-uri-san',
  `${PREFIX}${name}`,
  '--vault-ttl',
  '1h',
  '--expected-server-id',
  AP_ID,
];

const EXECUTOR_FAULTS: Record<string, () => Promise<ExecutorFault>> = {
  'connection-refused': async () => ({ port: await freePort(), args: filesArgs(await executor()) }),
  'connection-timeout': async () => ({ port: silent.port, args: filesArgs(await executor()), connectTimeout: '2s' }),
  'tls-verify-failed': async () => ({ port: aps.wrongName, args: filesArgs(await executor()) }),
  'access-point-certificate-expired': async () => ({ port: aps.expired, args: filesArgs(await executor()) }),
  'executor-certificate-expired': async () => ({
    port: aps.main,
    args: filesArgs(await executor({ notBefore: Date.now() - 3 * DAY, notAfter: Date.now() - DAY })),
  }),
  'executor-certificate-not-yet-valid': async () => ({
    port: aps.main,
    args: filesArgs(await executor({ notBefore: Date.now() + DAY, notAfter: Date.now() + 3 * DAY })),
  }),
  'clock-behind': async () => ({
    port: aps.main,
    args: filesArgs(await executor({ notBefore: Date.now() - 5 * DAY, notAfter: Date.now() + 5 * DAY })),
    env: fakeClock('-2d'),
  }),
  'ca-bundle-without-root': async () => ({ port: aps.full, args: filesArgs(await executor({ ca: intermediate.pem })) }),
  'access-point-lone-leaf': async () => ({ port: aps.lone, args: filesArgs(await executor()) }),
  'executor-lone-leaf': async () => ({ port: aps.main, args: filesArgs(await executor({ issuer: intermediate })) }),
  'key-mismatch': async () => {
    const p = await executor();
    const other = await executor();
    return { port: aps.main, args: filesArgs({ ...p, key: other.key }) };
  },
  'san-mismatch': async () => ({
    port: aps.main,
    args: filesArgs(await executor({ uri: 'spiffe://example.org/ah/agent-evil/x' })),
    doctorArgs: ['--executor-san-uri-prefix', PREFIX],
  }),
  'permission-denied': async () => {
    const p = await executor();
    for (const f of [p.cert, p.ca]) chmodSync(f, 0o644);
    openForOthers(join(p.cert, '..'));
    return { port: aps.main, args: filesArgs(p), extras: { uid: NOBODY, gid: NOBODY } };
  },
  'file-not-found': async () => {
    const p = await executor();
    return { port: aps.main, args: filesArgs({ ...p, cert: join(p.cert, '..', 'missing-cert.pem') }) };
  },
  'no-identity-issued': async () => ({ port: aps.main, args: ['--identity', 'spiffe', '--spiffe-socket', emptySpire.target, '--expected-server-id', AP_ID] }),
  'workload-api-missing': async () => ({
    port: aps.main,
    args: ['--identity', 'spiffe', '--spiffe-socket', spireDir.path(`missing-${++counter}.sock`), '--expected-server-id', AP_ID],
  }),
  'server-id-mismatch': async () => ({ port: aps.main, args: [...filesArgs(await executor()), '--expected-server-id', 'spiffe://other.org/ah/serve'] }),
  'vault-auth-failed': async () => ({ port: aps.main, args: vaultArgs(vault.url), env: { ...CREDS, VAULT_SECRET_ID: 'wrong' } }),
  'vault-issue-failed': async () => ({ port: aps.main, args: vaultArgs(vault.url, 'evil'), name: 'evil', env: CREDS }),
  'vault-sealed': async () => ({ port: aps.main, args: vaultArgs(sealedVault.url), env: CREDS }),
  'client-certificate-required': async () => ({ port: aps.main, args: ['--identity', 'files', '--ca', (await executor()).ca] }),
  'client-certificate-rejected': async () => ({ port: aps.main, args: filesArgs(await executor({ issuer: otherIntermediate, chain: [otherIntermediate] })) }),
  'executor-leaf-is-a-ca': async () => {
    const leaf = await issueLeaf(root, { cn: 'executor-1', uris: [EXECUTOR_ID], usage: 'client', ca: true });
    return { port: aps.main, args: filesArgs(writeIdentity(dir('ex-ca'), leaf, root.pem)) };
  },
  'server-unknown-authority': async () => ({ port: aps.full, args: filesArgs(await executor({ ca: otherRoot.pem })) }),
};

async function apIdentity(opts: { notBefore?: number; notAfter?: number } = {}): Promise<Paths> {
  return writeIdentity(dir('ap'), await apLeaf(root, opts), root.pem);
}

const apArgs = (p: Paths, listen: string, stateDir = tempStateDir()) => ['--fleet-listen', listen, ...filesArgs(p), '--state-dir', stateDir];

const ACCESS_POINT_FAULTS: Record<string, () => Promise<AccessPointFault>> = {
  'own-certificate-expired': async () => ({
    args: apArgs(await apIdentity({ notBefore: Date.now() - 3 * DAY, notAfter: Date.now() - DAY }), `127.0.0.1:${await freePort()}`),
  }),
  'own-certificate-not-yet-valid': async () => ({
    args: apArgs(await apIdentity({ notBefore: Date.now() + DAY, notAfter: Date.now() + 3 * DAY }), `127.0.0.1:${await freePort()}`),
  }),
  'own-key-mismatch': async () => {
    const p = await apIdentity();
    const other = await apIdentity();
    return { args: apArgs({ ...p, key: other.key }, `127.0.0.1:${await freePort()}`) };
  },
  'ca-file-missing': async () => {
    const p = await apIdentity();
    return { args: apArgs({ ...p, ca: join(p.ca, '..', 'missing-ca.pem') }, `127.0.0.1:${await freePort()}`) };
  },
  'ca-file-unreadable': async () => {
    const p = await apIdentity();
    chownSync(p.cert, NOBODY, NOBODY);
    chownSync(p.key, NOBODY, NOBODY);
    chmodSync(p.ca, 0o600);
    openForOthers(join(p.cert, '..'));
    const stateDir = tempStateDir();
    chownSync(stateDir, NOBODY, NOBODY);
    return { args: apArgs(p, `127.0.0.1:${await freePort()}`, stateDir), extras: { uid: NOBODY, gid: NOBODY } };
  },
  'port-in-use': async () => ({ args: apArgs(await apIdentity(), `127.0.0.1:${await holdPort()}`) }),
  'state-dir-unusable': async () => {
    const file = join(dir('file'), 'not-a-dir');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'a file, not a directory\n');
    return { args: apArgs(await apIdentity(), `127.0.0.1:${await freePort()}`, join(file, 'state')) };
  },
  'audit-log-unwritable': async () => {
    const file = join(dir('file'), 'not-a-dir');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'a file, not a directory\n');
    return { args: [...apArgs(await apIdentity(), `127.0.0.1:${await freePort()}`), '--audit-log', join(file, 'audit.log')] };
  },
  'metrics-port-in-use': async () => ({
    args: [...apArgs(await apIdentity(), `127.0.0.1:${await freePort()}`), '--metrics-listen', `127.0.0.1:${await holdPort()}`],
  }),
};

/** The catalog template as a pattern: every `{param}` stands for some text. */
function templatePattern(code: string): RegExp {
  const template = catalog[code as keyof typeof catalog].message;
  const parts = template.split(/\{\w+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.+')}$`);
}

function firstFailure(report: Report) {
  const failed = report.checks.find((c) => c.status === 'fail');
  if (!failed) throw new Error(`no check failed: ${report.checks.map((c) => `${c.name}=${c.status}`).join(', ')}`);
  return failed;
}

function expectNamedFirst(row: DiagnosisRow, report: Report): string {
  const first = firstFailure(report);
  expect({ check: first.name, code: first.error?.code }, `${row.id}: ${first.finding}`).toEqual({ check: row.check, code: row.code });
  expect(first.error!.message).toMatch(templatePattern(row.code));
  if (row.guideLine && !row.guideParams) expect(first.error!.message).toBe(row.guideLine);
  return first.error!.message;
}

async function runExecutorRow(row: DiagnosisRow): Promise<void> {
  const fault = await EXECUTOR_FAULTS[row.id]!();
  const common = [
    '--remote-server',
    `https://127.0.0.1:${fault.port}`,
    '--name',
    fault.name ?? 'executor-1',
    '--connect-timeout',
    fault.connectTimeout ?? '10s',
    ...fault.args,
  ];
  const stateDir = () => {
    const d = tempStateDir();
    if (fault.extras?.uid !== undefined) chownSync(d, fault.extras.uid, fault.extras.gid ?? fault.extras.uid);
    return d;
  };
  const [doctor, enroll] = await Promise.all([
    runAh(['agent', 'doctor', ...common, ...(fault.doctorArgs ?? []), '--state-dir', stateDir(), '--json'], fault.env ?? {}, RUN_BOUND_MS, fault.extras ?? {}),
    runAh(['agent', 'enroll', ...common, '--max-attempts', '1', '--state-dir', stateDir()], fault.env ?? {}, RUN_BOUND_MS, fault.extras ?? {}),
  ]);
  expect(doctor.stderr, row.id).toBe('');
  expect(doctor.code, row.id).toBe(1);
  const message = expectNamedFirst(row, JSON.parse(doctor.stdout) as Report);
  expect(enroll.code, `${row.id}: ${enroll.stderr}`).toBe(1);
  expect(enroll.stderr.split('\n')[0], row.id).toBe(`error: ${message}`);
}

/** What the access point says first about the fault: its `error:` line when it exits, else its first logged catalog code. */
async function accessPointVerdict(args: string[], extras: SpawnExtras, expected: string): Promise<{ code: string; message: string }> {
  const daemon = startAh(['agent', 'access-point', ...args], {}, 'access point', extras);
  try {
    const said = await Promise.race([
      daemon.exited.then(() => {
        const first = daemon.stderr[0] ?? '';
        const message = first.replace(/^error: /, '');
        // One-line catalog entries print no "(code …)": the message's shape names the entry.
        const code = /\(code (ENROLL_[A-Z_]+)\)/.exec(daemon.stderr.join('\n'))?.[1] ?? (templatePattern(expected).test(message) ? expected : '');
        return { code, message };
      }),
      daemon
        .waitForLine((l) => typeof l.code === 'string' && l.level >= 40, 'a catalog code', RUN_BOUND_MS)
        .then((l) => ({ code: String(l.code), message: String(l.msg) })),
    ]);
    return said;
  } finally {
    await daemon.stop();
  }
}

async function runAccessPointRow(row: DiagnosisRow): Promise<void> {
  const fault = await ACCESS_POINT_FAULTS[row.id]!();
  const doctor = await runAh(['agent', 'doctor', '--access-point', ...fault.args, '--connect-timeout', '10s', '--json'], {}, RUN_BOUND_MS, fault.extras ?? {});
  expect(doctor.stderr, row.id).toBe('');
  expect(doctor.code, row.id).toBe(1);
  const message = expectNamedFirst(row, JSON.parse(doctor.stdout) as Report);
  const ap = await accessPointVerdict(fault.args, fault.extras ?? {}, row.code);
  expect(ap.code, `${row.id}: ${ap.message}`).toBe(row.code);
  // The doctor looks before the access point creates anything, so the path it names may be a parent of the one the access point fails on.
  if (['ENROLL_STATE_DIR_NOT_A_DIRECTORY', 'ENROLL_AUDIT_LOG_FAILED'].includes(row.code)) expect(ap.message).toMatch(templatePattern(row.code));
  else expect(ap.message).toContain(message);
}

afterAll(async () => {
  await stopAll();
  for (const h of holders) h.close();
  silent?.sockets.forEach((s) => s.destroy());
  silent?.server.close();
  await emptySpire?.close();
  await vault?.stop();
  await sealedVault?.stop();
  spireDir?.remove();
});

beforeAll(async () => {
  base = tempStateDir('ah-matrix-');
  [root, otherRoot] = await Promise.all([createRoot('Example Root CA'), createRoot('Unrelated Root CA')]);
  [intermediate, otherIntermediate] = await Promise.all([
    createIntermediate(root, 'Example Intermediate CA'),
    createIntermediate(otherRoot, 'Unrelated Intermediate CA'),
  ]);
  const [mainLeaf, loneLeaf, fullLeaf, wrongNameLeaf, expiredLeaf] = await Promise.all([
    apLeaf(root),
    apLeaf(intermediate),
    apLeaf(intermediate),
    apLeaf(root, { dns: ['ap.example.com'], ips: [] }),
    apLeaf(root, { notBefore: Date.now() - 3 * DAY, notAfter: Date.now() - DAY }),
  ]);
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => s.destroy());
  });
  silent = { server, port: await listenOnLoopback(server), sockets };
  spireDir = shortSocketDir('ahmx-');
  const vaultOptions = (sealed: boolean) => ({
    sealed,
    approle: [{ roleId: CREDS.VAULT_ROLE_ID, secretId: CREDS.VAULT_SECRET_ID, roleName: 'executor', tokenTtl: '20m' }],
    pki: { caKeyType: 'ec' as const },
    roles: { executor: { allowedDomains: ['executor-1'], allowBareDomains: true, allowedUriSans: [`${PREFIX}*`], keyType: 'ec' as const, maxTtl: '2h' } },
  });
  [aps.main, aps.lone, aps.full, aps.wrongName, aps.expired, emptySpire, vault, sealedVault] = await Promise.all([
    accessPoint(writeIdentity(dir('ap-main'), mainLeaf, root.pem)),
    accessPoint(writeIdentity(dir('ap-lone'), loneLeaf, root.pem)),
    accessPoint(writeIdentity(dir('ap-full'), fullLeaf, root.pem, [intermediate])),
    accessPoint(writeIdentity(dir('ap-name'), wrongNameLeaf, root.pem)),
    accessPoint(writeIdentity(dir('ap-expired'), expiredLeaf, root.pem)),
    startFakeSpire({ socketPath: spireDir.path('empty.sock'), trustDomain: 'example.org' }),
    startFakeVault(vaultOptions(false)),
    startFakeVault(vaultOptions(true)),
  ]);
}, RUN_BOUND_MS + 30_000);

describe('the diagnosis matrix', () => {
  it('has a way to make every row of the table, and no other', () => {
    const made = [...Object.keys(EXECUTOR_FAULTS).map((id) => `executor:${id}`), ...Object.keys(ACCESS_POINT_FAULTS).map((id) => `access-point:${id}`)];
    expect(made.sort()).toEqual(DIAGNOSIS_ROWS.map((r) => `${r.side}:${r.id}`).sort());
  });

  describe.concurrent('executor: ah agent doctor names it first; ah agent enroll --max-attempts 1 prints the same line', () => {
    const executorRows = DIAGNOSIS_ROWS.filter((r) => r.side === 'executor');
    // A fault made by moving a clock with libfaketime: skipped (outside CI) where faketime cannot be had.
    const byClock = (r: DiagnosisRow) => /clock/.test(r.id);
    it.each(executorRows.filter((r) => !byClock(r)).map((r) => [r.id, r] as const))('%s', async (_id, row) => runExecutorRow(row), ROW_BOUND_MS);
    describe.skipIf(skipWithout('faketime'))('with a moved clock', () => {
      it.each(executorRows.filter(byClock).map((r) => [r.id, r] as const))('%s', async (_id, row) => runExecutorRow(row), ROW_BOUND_MS);
    });
  });

  describe.concurrent('access point: ah agent doctor --access-point names it first; ah agent access-point says the same', () => {
    it.each(DIAGNOSIS_ROWS.filter((r) => r.side === 'access-point').map((r) => [r.id, r] as const))(
      '%s',
      async (_id, row) => runAccessPointRow(row),
      ROW_BOUND_MS,
    );
  });
});

const keyIdOf = (issuer: Issuer) => (issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId.toUpperCase().match(/../g) ?? []).join(':');

describe('the lone leaf, on both sides', () => {
  it('an access point serving its leaf alone: the doctor names the missing issuer and its key id, with both fixes; the full chain fixes it', async () => {
    const p = await executor();
    const args = [
      'agent',
      'doctor',
      '--remote-server',
      `https://127.0.0.1:${aps.lone}`,
      '--name',
      'executor-1',
      ...filesArgs(p),
      '--state-dir',
      tempStateDir(),
    ];
    const [json, human, enroll] = await Promise.all([
      runAh([...args, '--json']),
      runAh(args),
      runAh([
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${aps.lone}`,
        '--name',
        'executor-1',
        ...filesArgs(p),
        '--max-attempts',
        '1',
        '--state-dir',
        tempStateDir(),
      ]),
    ]);
    const tls = firstFailure(JSON.parse(json.stdout) as Report);
    expect(tls.error).toMatchObject({
      code: 'ENROLL_CHAIN_LONE_LEAF',
      params: { peer: 'access point', issuer: 'CN=Example Intermediate CA', authorityKeyId: keyIdOf(intermediate), subject: 'CN=access point' },
    });
    expect(tls.finding).toContain(`its issuer CN=Example Intermediate CA, authority key id ${keyIdOf(intermediate)} is neither sent along nor in --ca`);
    expect(human.stdout).toContain('cat cert.pem intermediate.pem > fullchain.pem');
    expect(human.stdout).toContain('Or add the CA that issued it (CN=Example Intermediate CA) to --ca');
    expect(enroll.stderr.split('\n').slice(0, 2)).toEqual([
      'error: unable to get local issuer certificate',
      `  Reason: the access point sent only its own certificate (CN=access point); its issuer CN=Example Intermediate CA, authority key id ${keyIdOf(intermediate)} is neither sent along nor in --ca`,
    ]);
    // The same access point identity served with its intermediate: the handshake verifies.
    const full = JSON.parse(
      (
        await runAh([
          'agent',
          'doctor',
          '--remote-server',
          `https://127.0.0.1:${aps.full}`,
          '--name',
          'executor-1',
          ...filesArgs(p),
          '--state-dir',
          tempStateDir(),
          '--json',
        ])
      ).stdout,
    ) as Report;
    expect(full.checks.find((c) => c.name === 'tls')!.status).toBe('pass');
  });

  it('an executor sending its leaf alone: the access point names the missing issuer in its reject; fullchain.pem enrolls', async () => {
    const p = await executor({ issuer: intermediate });
    const common = ['--remote-server', `https://127.0.0.1:${aps.main}`, '--name', 'executor-1', '--state-dir', tempStateDir()];
    const enroll = await runAh(['agent', 'enroll', ...common, ...filesArgs(p), '--max-attempts', '1']);
    expect(enroll.stderr.split('\n').slice(0, 2)).toEqual([
      'error: unable to get local issuer certificate',
      `  Reason: the executor sent only its own certificate (CN=executor-1); its issuer CN=Example Intermediate CA, authority key id ${keyIdOf(intermediate)} is neither sent along nor in the access point's --ca`,
    ]);
    expect(enroll.stderr).toContain('cat cert.pem intermediate.pem > fullchain.pem');
    const fullchain = join(p.cert, '..', 'fullchain.pem');
    writeFileSync(fullchain, readFileSync(p.cert, 'utf8') + intermediate.pem);
    const fixed = JSON.parse((await runAh(['agent', 'doctor', ...common, ...filesArgs({ ...p, cert: fullchain }), '--json'])).stdout) as Report;
    expect(fixed.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(fixed.checks.find((c) => c.name === 'enroll')!.status).toBe('pass');
  });
});
