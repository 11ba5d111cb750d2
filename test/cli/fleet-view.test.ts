/**
 * `ah agent fleet` over a fleet of 10,000 without 10,000 processes: an access point runs in this
 * process (the library, status socket on) and its roster is filled directly with synthetic entries
 * of varied names, states and certificate ends; the real CLI then reads it from the state dir. All
 * rows, the filters (applied at the access point), the summary line, `--json`, and the usage errors.
 * Plus the wire: an older client's one-object answer, an older access point's, and a cut answer.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessPoint, type AccessPoint } from '../../src/index.js';
import { paths } from '../../src/engine/state-dir.js';
import { queryStatus, streamStatus } from '../../src/transport/status-server.js';
import { AH, ROOT, runAh, tempStateDir } from '../helpers/cli.js';
import { spawnTracked } from '../helpers/processes.js';

const N = 10_000;
const H = 3_600_000;
const PREFIXES = ['web', 'db', 'batch', 'edge'] as const;
/** Late after two intervals: a minute's interval keeps the fresh entries fresh however slow the run. */
const INTERVAL_MS = 60_000;

type State = 'active' | 'rotating' | 'late' | 'expired';
interface Synthetic {
  id: string;
  name: string;
  state: State;
  certNotAfter: number;
}

let ap: AccessPoint;
let stateDir: string;
let fleet: Synthetic[];

/** Every tenth expired, every tenth late, every tenth rotating (two links open); ends 1 to 48 hours out. */
function fill(accessPoint: AccessPoint, t0: number): Synthetic[] {
  const out: Synthetic[] = [];
  for (let i = 0; i < N; i++) {
    const name = `${PREFIXES[i % 4]}-${String(i).padStart(5, '0')}`;
    const id = `spiffe://fleet.test/ah/agent/${name}`;
    const state: State = i % 10 === 0 ? 'expired' : i % 10 === 1 ? 'late' : i % 10 === 2 ? 'rotating' : 'active';
    const certNotAfter = state === 'expired' ? t0 - 60_000 - i * 1000 : t0 + ((i % 48) + 1) * H;
    const at = state === 'late' ? t0 - 10 * INTERVAL_MS : t0;
    const admit = (link: number) =>
      accessPoint.roster.admit({
        executorId: id,
        name,
        linkId: `link-${i}-${link}`,
        remoteAddress: `10.0.${i >> 8}.${i & 255}:${40000 + link}`,
        certNotAfter,
        serial: `S${i}`,
        at,
      });
    admit(1);
    if (state === 'rotating') admit(2);
    out.push({ id, name, state, certNotAfter });
  }
  return out;
}

const byName = new Intl.Collator('en').compare;
const sorted = (list: Synthetic[]) => [...list].sort((a, b) => byName(a.name, b.name)).map((e) => e.name);

/** The human output's rows (between the header and the summary line), by name. */
function tableNames(stdout: string): string[] {
  const lines = stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^NAME +ID +STATE +ADDRESS +SINCE +LAST HEARTBEAT +CERT EXPIRES$/);
  return lines.slice(1, -1).map((l) => l.split(/ +/)[0]!);
}

const summaryLine = (stdout: string) => stdout.trimEnd().split('\n').at(-1)!;

/** The summary line expected for `list` out of the whole fleet, up to the relative time at its end. */
function expectedSummary(list: Synthetic[]): RegExp {
  const counts = (['active', 'rotating', 'late', 'expired'] as const)
    .map((s) => [s, list.filter((e) => e.state === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const first = list.reduce((a, b) => (b.certNotAfter < a.certNotAfter ? b : a));
  const head = list.length === N ? `${N} executors` : `${list.length} of ${N} executors`;
  const text = `${head}: ${counts}; first certificate to expire: ${first.name} (${first.id}) at ${new Date(first.certNotAfter).toISOString()} (`;
  const tail = first.certNotAfter < Date.now() ? 'expired \\S+ ago\\)' : 'in \\S+\\)';
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${tail}$`);
}

beforeAll(async () => {
  stateDir = tempStateDir();
  ap = createAccessPoint({ listen: '127.0.0.1:0', stateDir, statusSocket: true, heartbeatIntervalMs: INTERVAL_MS });
  await ap.start();
  fleet = fill(ap, Date.now());
}, 60_000);

afterAll(async () => {
  await ap?.stop();
});

describe('ah agent fleet at 10,000 executors', () => {
  it('prints every row, sorted by name, with its state, and the summary line under them', async () => {
    const r = await runAh(['agent', 'fleet', '--state-dir', stateDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(tableNames(r.stdout)).toEqual(sorted(fleet));
    expect(summaryLine(r.stdout)).toMatch(expectedSummary(fleet));
    // Each row says its state.
    const rows = new Map(r.stdout.split('\n').map((l) => [l.split(/ +/)[0], l.split(/ +/)[2]] as const));
    for (const e of fleet) expect(rows.get(e.name), e.name).toBe(e.state);
  });

  it('--json: the documented object with all 10,000 entries and the summary', async () => {
    const r = await runAh(['agent', 'fleet', '--json', '--state-dir', stateDir]);
    expect(r.code).toBe(0);
    const answer = JSON.parse(r.stdout) as { executors: Array<{ id: string; name: string; state: string; certNotAfter: string }>; summary: unknown };
    expect(answer.executors).toHaveLength(N);
    expect(answer.executors.map((e) => e.name)).toEqual(sorted(fleet));
    const byId = new Map(fleet.map((e) => [e.id, e]));
    for (const e of answer.executors) {
      expect(e.state, e.name).toBe(byId.get(e.id)!.state);
      expect(Date.parse(e.certNotAfter), e.name).toBe(byId.get(e.id)!.certNotAfter);
    }
    const first = fleet.reduce((a, b) => (b.certNotAfter < a.certNotAfter ? b : a));
    expect(answer.summary).toEqual({
      total: N,
      matched: N,
      byState: { active: 7000, rotating: 1000, late: 1000, expired: 1000 },
      soonestExpiry: { id: first.id, name: first.name, certNotAfter: new Date(first.certNotAfter).toISOString() },
    });
    expect(Object.keys(answer)).toEqual(['executors', 'summary']);
  });

  it('filters by state, name glob and time left, alone and together', async () => {
    const cases: Array<[string[], (e: Synthetic) => boolean]> = [
      [['--state', 'late,expired'], (e) => e.state === 'late' || e.state === 'expired'],
      [['--state', 'rotating'], (e) => e.state === 'rotating'],
      [['--name', 'db-*'], (e) => e.name.startsWith('db-')],
      [['--name', 'edge-0?1?3'], (e) => /^edge-0.1.3$/.test(e.name)],
      [['--expiring-within', '6h'], (e) => e.certNotAfter <= Date.now() + 6 * H],
      [
        ['--state', 'active', '--name', '*-00*', '--expiring-within', '12h'],
        (e) => e.state === 'active' && e.name.includes('-00') && e.certNotAfter <= Date.now() + 12 * H,
      ],
    ];
    for (const [flags, keep] of cases) {
      const want = fleet.filter(keep);
      expect(want.length, flags.join(' ')).toBeGreaterThan(0);
      const r = await runAh(['agent', 'fleet', ...flags, '--state-dir', stateDir]);
      expect(r.code, flags.join(' ')).toBe(0);
      expect(tableNames(r.stdout), flags.join(' ')).toEqual(sorted(want));
      expect(summaryLine(r.stdout), flags.join(' ')).toMatch(expectedSummary(want));
      const json = JSON.parse((await runAh(['agent', 'fleet', '--json', ...flags, '--state-dir', stateDir])).stdout);
      expect(json.executors.map((e: { name: string }) => e.name)).toEqual(sorted(want));
      expect(json.summary).toMatchObject({ total: N, matched: want.length });
    }
    const none = await runAh(['agent', 'fleet', '--name', 'nobody-*', '--state-dir', stateDir]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe(`no executor matches the filter\n0 of ${N} executors\n`);
  });

  it('a reader that stops early (ah agent fleet | head -1): exit 0, nothing on stderr', async () => {
    const child = spawnTracked(process.execPath, [AH, 'agent', 'fleet', '--state-dir', stateDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const first = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d))));
    expect(first).toMatch(/^NAME +ID +STATE/);
    child.stdout!.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('the status socket refuses a bad filter in one line', async () => {
    const said: string[] = [];
    await streamStatus(paths.accessPointSocket(stateDir), { cmd: 'fleet', stream: true, filter: { states: ['sleeping'] } }, (l) => said.push(l));
    expect(said).toEqual(['{"error":"bad filter: states must be a list of active, rotating, late, expired"}']);
  });

  it('an older client asking without streaming still gets the one object', async () => {
    const answer = (await queryStatus(paths.accessPointSocket(stateDir), 'fleet')) as { executors: Array<{ name: string }> };
    expect(answer.executors.map((e) => e.name)).toEqual(sorted(fleet));
  });
});

describe('ah agent fleet: bad values are usage errors', () => {
  it('names the flag and what it takes, in one line, exit 2', async () => {
    const cases: Array<[string[], string]> = [
      [
        ['--state', 'active,sleeping'],
        "error: option '--state <states>' argument 'active,sleeping' is invalid. expected active, rotating, late, expired, or several joined by commas; got 'sleeping'\n",
      ],
      [
        ['--name', 'web/1'],
        "error: option '--name <pattern>' argument 'web/1' is invalid. expected a name or a glob of letters, digits, dots, dashes, underscores and the wildcards * and ?\n",
      ],
      [['--expiring-within', '0s'], "error: option '--expiring-within <duration>' argument '0s' is invalid. out of range: use 1s..3650d\n"],
      [
        ['--expiring-within', 'soon'],
        "error: option '--expiring-within <duration>' argument 'soon' is invalid. invalid duration 'soon' (use e.g. 500ms, 30s, 5m, 1h)\n",
      ],
    ];
    for (const [flags, said] of cases) {
      const r = await runAh(['agent', 'fleet', ...flags, '--state-dir', stateDir]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr, flags.join(' ')).toBe(said);
      expect(r.stdout).toBe('');
    }
    const help = await runAh(['agent', 'fleet', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      '--expiring-within <duration> only executors whose certificate ends within this time (ended ones included) [1s..3650d]',
    );
  });
});

describe('ah agent fleet against other answers on the socket', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  /** A unix socket in a fresh state dir that answers every request with `answer`, then closes. */
  async function fakeAccessPoint(answer: string): Promise<string> {
    const dir = tempStateDir();
    mkdirSync(join(dir, 'run'), { mode: 0o700 });
    const server = createServer((socket) => socket.once('data', () => socket.end(answer)));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(paths.accessPointSocket(dir), resolve));
    return dir;
  }

  const entry = (name: string, state: string, certNotAfter: string) => ({
    id: `spiffe://old.test/ah/agent/${name}`,
    name,
    remoteAddress: '127.0.0.1:1',
    since: '2026-01-01T00:00:00.000Z',
    lastHeartbeat: '2026-01-01T00:00:00.000Z',
    certNotAfter,
    state,
    serial: 'AA',
  });

  it('an older access point (one object): filters and sums up on this side', async () => {
    const soon = new Date(Date.now() + H).toISOString();
    const later = new Date(Date.now() + 48 * H).toISOString();
    const dir = await fakeAccessPoint(
      `${JSON.stringify({ executors: [entry('a-1', 'active', later), entry('a-2', 'active', soon), entry('b-1', 'active', soon)] })}\n`,
    );
    const r = await runAh(['agent', 'fleet', '--json', '--name', 'a-*', '--expiring-within', '2h', '--state-dir', dir]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.executors.map((e: { name: string }) => e.name)).toEqual(['a-2']);
    expect(json.summary).toEqual({
      total: 3,
      matched: 1,
      byState: { active: 1, rotating: 0, late: 0, expired: 0 },
      soonestExpiry: { id: 'spiffe://old.test/ah/agent/a-2', name: 'a-2', certNotAfter: soon },
    });
  });

  it('an answer cut before its summary: one line, exit 1', async () => {
    const later = new Date(Date.now() + 48 * H).toISOString();
    const dir = await fakeAccessPoint(`${JSON.stringify({ fleet: { total: 2 } })}\n${JSON.stringify({ executor: entry('a-1', 'active', later) })}\n`);
    const r = await runAh(['agent', 'fleet', '--state-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: cannot reach the status socket ${paths.accessPointSocket(dir)}: the answer stopped before its end (the access point stopped while answering? run ah agent fleet again)\n`,
    );
    expect(r.stdout).toBe('');
  });

  it('an access point that refuses the request: says what it said', async () => {
    const dir = await fakeAccessPoint(`${JSON.stringify({ error: 'bad filter: states must be a list of active, rotating, late, expired' })}\n`);
    const r = await runAh(['agent', 'fleet', '--state-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: cannot reach the status socket ${paths.accessPointSocket(dir)}: the access point refused the request: bad filter: states must be a list of active, rotating, late, expired\n`,
    );
  });
});
