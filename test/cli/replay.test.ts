/**
 * `ah agent replay` on logs recorded from real runs (the CLI as child processes over TLS on
 * loopback, at --log-level debug): a clean enrollment, repeated rotations, a rejected certificate
 * and a retry storm replay to exactly the states the log recorded; a log edited to disagree is
 * caught at the line; garbage, cut-short and journalctl-shaped input are handled by line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatForTerminal } from '../../src/errors/ah-error.js';
import { AH, ROOT, isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine } from '../helpers/cli.js';
import { createRoot, issueLeaf, writeIdentity } from '../helpers/pki.js';
import { spawnTracked } from '../helpers/processes.js';
import { loggedStates, recordStdout } from '../helpers/recorded-log.js';

afterAll(stopAll);

const DEBUG = ['--log-level', 'debug'];
const HEARTBEAT = ['--heartbeat-interval', '500ms'];
const isMachineEvent = (type: string) => (l: LogLine) => l.kind === 'event' && (l.event as { type: string }).type === type;

interface Replay {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

async function replay(file: string, extra: string[] = []): Promise<Replay> {
  const text = await runAh(['agent', 'replay', file, ...extra]);
  const json = await runAh(['agent', 'replay', file, '--json', ...extra]);
  expect(json.code, json.stderr).toBe(text.code);
  return { ...text, json: json.stdout ? JSON.parse(json.stdout) : null };
}

const actor = (r: Replay, name: string) => r.json.actors.find((a: any) => a.label === name);
const values = (r: Replay, name: string) => actor(r, name).steps.map((s: any) => s.value);
const paths = (r: Replay, name: string) => actor(r, name).steps.map((s: any) => s.path);

/** Nothing of a stack trace, ever: `    at fn (file:line)`. */
const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+:\d+/m);

let dir: string;
const logs: Record<string, string> = {};

async function accessPoint(stateDir: string, args: string[] = []): Promise<{ daemon: Daemon; port: number; raw: ReturnType<typeof recordStdout> }> {
  const daemon = startAh(
    ['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', ...HEARTBEAT, '--state-dir', stateDir, ...DEBUG, ...args],
    {},
    'access point',
  );
  const raw = recordStdout(daemon);
  const line = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()), raw };
}

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  dir = tempStateDir('ah-replay-');
  const state = tempStateDir();

  // A clean enrollment and a rotating executor, against one dev access point.
  const ap = await accessPoint(state);
  const clean = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${ap.port}`, '--name', 'clean', '--state-dir', state, ...DEBUG]);
  const cleanRaw = recordStdout(clean);
  // Only the machine lines, as with RUST_LOG=ah_machine=debug.
  const rot = startAh([
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${ap.port}`,
    '--name',
    'rot',
    '--dev-cert-ttl',
    '4s',
    '--state-dir',
    state,
    '--log-level',
    'warn,ah_machine=debug',
  ]);
  const rotRaw = recordStdout(rot);

  // A retry storm: nothing listens there.
  const port = await deadPort();
  const storm = startAh([
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${port}`,
    '--name',
    'storm',
    '--backoff-base',
    '50ms',
    '--backoff-max',
    '200ms',
    '--state-dir',
    state,
    ...DEBUG,
  ]);
  const stormRaw = recordStdout(storm);

  await clean.waitForLine(isEvent('enrolled'), 'clean enrolled');
  await storm.waitForLine(() => storm.lines.filter(isMachineEvent('LINK_FAILED')).length >= 6, 'six failed attempts', 30_000);
  // While it still runs, as an operator copies a journal: the storm is going on.
  logs.stormRunning = join(dir, 'storm-running.log');
  writeFileSync(logs.stormRunning, stormRaw.text());
  await storm.stop();
  logs.storm = stormRaw.save(dir, 'storm.log');
  await clean.stop();
  logs.clean = cleanRaw.save(dir, 'clean.log');

  let rotations = 0;
  await rot.waitForLine((l) => isMachineEvent('LINK_WELCOMED')(l) && ++rotations >= 3, 'two rotations (three welcomes)', 40_000);
  await rot.stop();
  logs.rot = rotRaw.save(dir, 'rot.log');
  await ap.daemon.stop();
  logs.ap = ap.raw.save(dir, 'access-point.log');

  // A rejected certificate: the access point trusts one CA, the executor's certificate is from another.
  const root = await createRoot('Replay Root CA');
  const other = await createRoot('Unrelated Root CA');
  const apFiles = writeIdentity(
    join(dir, 'pki-ap'),
    await issueLeaf(root, { cn: 'ap', uris: ['spiffe://example.org/ah/serve'], ips: ['127.0.0.1'], usage: 'server' }),
    root.pem,
  );
  const exFiles = writeIdentity(join(dir, 'pki-ex'), await issueLeaf(other, { cn: 'x', uris: ['spiffe://example.org/ah/agent/x'], usage: 'client' }), root.pem);
  const ap2 = await accessPoint(tempStateDir(), ['--cert', apFiles.cert, '--key', apFiles.key, '--ca', apFiles.ca]);
  const rejected = startAh([
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${ap2.port}`,
    '--name',
    'x',
    '--cert',
    exFiles.cert,
    '--key',
    exFiles.key,
    '--ca',
    exFiles.ca,
    '--max-attempts',
    '2',
    '--backoff-base',
    '50ms',
    '--state-dir',
    tempStateDir(),
    ...DEBUG,
  ]);
  const rejectedRaw = recordStdout(rejected);
  expect(await rejected.exited).toBe(1);
  logs.rejected = rejectedRaw.save(dir, 'rejected.log');
  // Its leaf alone, from a CA the access point does not hold: the lone leaf (docs/diagnosis.md).
  await ap2.daemon.waitForLine((l) => l.code === 'ENROLL_CHAIN_LONE_LEAF', 'the rejection');
  await ap2.daemon.stop();
  logs.rejectedAp = ap2.raw.save(dir, 'rejected-access-point.log');
}, 120_000);

describe('replaying real runs', () => {
  it('a clean enrollment: the rebuilt path is the logged one, nothing stuck', async () => {
    const r = await replay(logs.clean!);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.matches).toBe(true);
    const logged = loggedStates(readFileSync(logs.clean!, 'utf8'));
    for (const name of ['executor:clean', 'executor:clean/rotation']) {
      expect(actor(r, name).rebuilt).toBe(true);
      expect(values(r, name)).toEqual(logged.get(name));
    }
    expect(paths(r, 'executor:clean')).toEqual(['disconnected.waitingForIdentity', 'handshaking', 'enrolled', 'disconnected.stopped']);
    expect(paths(r, 'executor:clean/rotation')).toEqual(['loading', 'valid']);
    expect(r.json.diagnoses).toEqual([]);
    expect(r.json.otherLines).toBeGreaterThan(0);
    expect(r.json.skippedLines).toBe(0);
    // The path with times and durations, and the verdict.
    expect(r.stdout).toMatch(/^\s+3 {2}\d\d:\d\d:\d\d\.\d{3} {2}\+\S+\s+enrolled\s+\S+\s+LINK_WELCOMED from link-1 \(line \d+\)/m);
    expect(r.stdout).toContain('every rebuilt state matches the log');
    expect(r.stdout).toContain('no actor is stuck');
  });

  it('rotations: every make-before-break step rebuilt, also from ah_machine=debug alone', async () => {
    const r = await replay(logs.rot!);
    expect(r.code, r.stderr).toBe(0);
    const logged = loggedStates(readFileSync(logs.rot!, 'utf8'));
    expect(values(r, 'executor:rot')).toEqual(logged.get('executor:rot'));
    expect(values(r, 'executor:rot/rotation')).toEqual(logged.get('executor:rot/rotation'));
    const p = paths(r, 'executor:rot').join(' ');
    expect(p.match(/renewing\.obtaining renewing\.applying enrolled/g)?.length).toBeGreaterThanOrEqual(2);
    expect(paths(r, 'executor:rot/rotation').filter((s: string) => s === 'renewing.requesting').length).toBeGreaterThanOrEqual(2);
    expect(r.json.otherLines).toBe(0);
  });

  it("the access point's log: its own lifecycle and every link, rotations included", async () => {
    const r = await replay(logs.ap!);
    expect(r.code, r.stderr).toBe(0);
    const logged = loggedStates(readFileSync(logs.ap!, 'utf8'));
    const links = r.json.actors.filter((a: any) => a.machine === 'connection');
    // clean: one link; rot: one per welcome.
    expect(links.length).toBeGreaterThanOrEqual(4);
    for (const a of r.json.actors)
      expect(
        a.steps.map((s: any) => s.value),
        a.label,
      ).toEqual(logged.get(a.actor));
    expect(paths(r, 'access-point')).toEqual(['starting', 'serving']);
    const closedByRotation = links.filter((a: any) => a.steps.at(-1).path === 'closed' && a.steps.at(-1).event === 'GOODBYE');
    expect(closedByRotation.length).toBeGreaterThanOrEqual(2);
    expect(r.json.diagnoses).toEqual([]);
  });

  it("a rejected certificate: the executor gave up, in the guide's words, and the access point's link says why", async () => {
    const r = await replay(logs.rejected!);
    expect(r.code, r.stderr).toBe(0);
    expect(values(r, 'executor:x')).toEqual(loggedStates(readFileSync(logs.rejected!, 'utf8')).get('executor:x'));
    expect(actor(r, 'executor:x').final.path).toBe('failed');
    expect(r.json.diagnoses).toHaveLength(1);
    expect(r.json.diagnoses[0]).toMatchObject({
      actor: 'executor:x',
      kind: 'failed',
      error: { code: 'ENROLL_CHAIN_LONE_LEAF' },
      message: 'unable to get local issuer certificate',
    });
    // The whole guide entry, as the CLI prints errors.
    expect(r.stdout).toContain(formatForTerminal(r.json.diagnoses[0].error));
    expect(r.stdout).toMatch(/^error: unable to get local issuer certificate$/m);
    expect(r.stdout).toMatch(/^STUCK executor:x \(enrollment\) in failed since \S+: gave up after 2 failed attempts \(--max-attempts\)$/m);

    const ap = await replay(logs.rejectedAp!);
    expect(ap.code, ap.stderr).toBe(0);
    const rejectedLinks = ap.json.diagnoses.filter((d: any) => d.kind === 'rejected');
    expect(rejectedLinks.length).toBe(2);
    for (const d of rejectedLinks) expect(d).toMatchObject({ machine: 'connection', error: { code: 'ENROLL_CHAIN_LONE_LEAF' } });
    expect(paths(ap, rejectedLinks[0].actor)).toEqual(['accepted', 'verifying', 'draining', 'closed']);
  });

  it("a retry storm: stuck with the guide's message, causes and fixes, whether still running or stopped", async () => {
    const running = await replay(logs.stormRunning!);
    expect(running.code, running.stderr).toBe(0);
    const d = running.json.diagnoses[0];
    expect(d).toMatchObject({ actor: 'executor:storm', kind: 'retry-storm', error: { code: 'ENROLL_CONNECTION_REFUSED' } });
    expect(d.message).toMatch(/^connection refused to 127\.0\.0\.1:\d+$/);
    expect(d.state).toMatch(/^(disconnected\.backingOff|handshaking)$/);
    expect(running.stdout).toContain(formatForTerminal(d.error));
    expect(running.stdout).toMatch(/^STUCK executor:storm \(enrollment\) in \S+ since \S+: \d+ failed attempts in a row over \S+/m);
    // Copied while it ran: the last event's state line may not have been written yet.
    const rebuilt = values(running, 'executor:storm');
    const logged = loggedStates(readFileSync(logs.stormRunning!, 'utf8')).get('executor:storm')!;
    expect(rebuilt.slice(0, logged.length)).toEqual(logged);
    expect(rebuilt.length - logged.length).toBe(actor(running, 'executor:storm').unconfirmed.length);

    const stopped = await replay(logs.storm!);
    expect(stopped.code).toBe(0);
    expect(stopped.json.diagnoses[0]).toMatchObject({ kind: 'retry-storm', error: { code: 'ENROLL_CONNECTION_REFUSED' } });
    expect(stopped.json.diagnoses[0].summary).toMatch(/; then stopped \(SHUTDOWN at /);
  });

  it('--at shows the states at a time; --actor picks one actor and its children', async () => {
    const text = readFileSync(logs.rot!, 'utf8');
    const applying = text.split('\n').find((l) => l.includes('"kind":"state"') && l.includes('"actor":"executor:rot"') && l.includes('"applying"'))!;
    const at = new Date((JSON.parse(applying) as { time: number }).time).toISOString();
    const r = await replay(logs.rot!, ['--at', at]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^states at ${at.replace(/\./g, '\\.')}`, 'm'));
    expect(r.stdout).toMatch(/^\s+executor:rot\s+enrollment\s+renewing\.applying\s+since/m);
    expect(r.json.at).toBe(Date.parse(at));

    const one = await replay(logs.ap!, ['--actor', 'access-point']);
    expect(one.json.actors.map((a: any) => a.actor)).toEqual(['access-point', 'access-point/rotation']);
    const byName = await replay(logs.clean!, ['--actor', 'clean']);
    expect(byName.json.actors.map((a: any) => a.actor)).toEqual(['executor:clean', 'executor:clean/rotation']);
    const none = await runAh(['agent', 'replay', logs.clean!, '--actor', 'nobody']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error: no actor 'nobody' in \S+ \(actors: executor:clean(\/rotation)?, executor:clean(\/rotation)?\)\n$/);
  });
});

describe('logs that disagree, garbage and the journal', () => {
  const edit = (from: string, name: string, change: (lines: string[]) => number): { path: string; line: number } => {
    const lines = readFileSync(from, 'utf8').split('\n');
    const line = change(lines) + 1;
    const path = join(dir, name);
    writeFileSync(path, lines.join('\n'));
    return { path, line };
  };

  it('a state line edited to disagree is caught at its line, with what each side says', async () => {
    const { path, line } = edit(logs.clean!, 'edited-state.log', (lines) => {
      const i = lines.findIndex((l) => l.includes('"kind":"state"') && l.includes('"actor":"executor:clean"') && l.includes('"value":"enrolled"'));
      lines[i] = lines[i]!.replace('"state":"enrolled","value":"enrolled"', '"state":"renewing","value":{"renewing":"applying"}');
      return i;
    });
    const r = await replay(path);
    expect(r.code).toBe(1);
    expect(r.json.matches).toBe(false);
    const m = actor(r, 'executor:clean').mismatches[0];
    expect(m).toMatchObject({ kind: 'different-state', line, event: 'LINK_WELCOMED', rebuilt: 'enrolled', logged: { renewing: 'applying' } });
    expect(r.stdout).toContain(`✗ line ${line}: after LINK_WELCOMED (line ${m.eventLine}) the machine is in enrolled, the log says renewing.applying`);
    expect(r.stdout).toMatch(new RegExp(`^MISMATCH: the rebuilt path differs from the log in \\d+ places?; first at line ${line} \\(executor:clean\\)`, 'm'));
  });

  it('an event edited to disagree (another link welcomed) is caught where the states part', async () => {
    const { path, line } = edit(logs.clean!, 'edited-event.log', (lines) => {
      const i = lines.findIndex((l) => l.includes('"type":"LINK_WELCOMED"'));
      lines[i] = lines[i]!.replace('"linkId":"link-1"', '"linkId":"link-9"');
      return i;
    });
    const r = await replay(path);
    expect(r.code).toBe(1);
    const m = actor(r, 'executor:clean').mismatches[0];
    // The welcome of a link it never opened is ignored: the machine stays handshaking, the log says enrolled.
    expect(m).toMatchObject({ kind: 'unexpected-state-line', eventLine: line, rebuilt: 'handshaking', logged: 'enrolled' });
    expect(r.stdout).toContain(`the log says enrolled after LINK_WELCOMED, but the machine stays in handshaking (last event LINK_WELCOMED, line ${line})`);
  });

  it('garbage between the lines is skipped and counted by line; a file of garbage is one line of error', async () => {
    const lines = readFileSync(logs.clean!, 'utf8').split('\n');
    lines.splice(3, 0, '\u0000\u0001 binary junk \u00ff', 'Nov 29 16:20:00 host systemd[1]: Started ah-executor.service.');
    const path = join(dir, 'with-garbage.log');
    writeFileSync(path, lines.join('\n'));
    const r = await replay(path);
    expect(r.code).toBe(0);
    expect(r.json.skippedLines).toBe(2);
    expect(r.json.firstSkipped.line).toBe(4);
    expect(r.stdout.split('\n')[0]).toMatch(/, 2 not from ah, skipped \(first: line 4: /);
    expect(values(r, 'executor:clean')).toEqual(loggedStates(readFileSync(logs.clean!, 'utf8')).get('executor:clean'));

    const junk = join(dir, 'junk.log');
    writeFileSync(junk, 'hello\nthis is not a log\n\u0000\u0007\n');
    const j = await runAh(['agent', 'replay', junk]);
    expect(j.code).toBe(1);
    expect(j.stdout).toBe('');
    expect(j.stderr).toBe(
      `error: cannot replay ${junk}: no ah_machine lines in 3 lines; first line not from ah: line 1: hello (record with --log-level debug)\n`,
    );

    const missing = await runAh(['agent', 'replay', join(dir, 'nope.log')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error: cannot replay ${join(dir, 'nope.log')}: no such file\n`);
  });

  it('a cut-short or broken line is one line of error naming it, never a stack trace', async () => {
    const lines = readFileSync(logs.clean!, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"kind":"event"') && l.includes('LINK_WELCOMED'));
    const cases: Array<[string, (l: string) => string, RegExp]> = [
      ['cut', (l) => l.slice(0, Math.floor(l.length / 2)), /line cut short \(no closing brace\)/],
      ['broken', (l) => l.replace('"kind":"event",', '"kind":"event",,'), /not valid JSON/],
      ['no-actor', (l) => l.replace(/"actor":"[^"]+",/, ''), /machine log line without a valid "actor" \(string expected, got nothing\)/],
      ['bad-kind', (l) => l.replace('"kind":"event"', '"kind":"evnt"'), /machine log line of unknown kind "evnt"/],
    ];
    for (const [name, damage, says] of cases) {
      const copy = [...lines];
      copy[i] = damage(copy[i]!);
      const path = join(dir, `${name}.log`);
      writeFileSync(path, copy.join('\n'));
      const r = await runAh(['agent', 'replay', path]);
      expect(r.code, name).toBe(1);
      expect(r.stdout, name).toBe('');
      expect(r.stderr.split('\n').filter(Boolean), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(new RegExp(`^error: cannot replay ${path.replace(/[.]/g, '\\.')}: line ${i + 1}: `));
      expect(r.stderr, name).toMatch(says);
      noStack(r.stderr);
    }
    // A log copied while written ends in half a line: that is the line named.
    const truncated = join(dir, 'truncated.log');
    const whole = readFileSync(logs.clean!, 'utf8');
    writeFileSync(truncated, whole.slice(0, whole.length - 40));
    const t = await runAh(['agent', 'replay', truncated]);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(new RegExp(`^error: cannot replay \\S+: line ${whole.split('\n').length - 1}: line cut short`));
  });

  it("journalctl -o short, -o short-iso and -o json give the same replay; other units' lines are skipped", async () => {
    const plain = await replay(logs.rot!);
    const lines = readFileSync(logs.rot!, 'utf8').split('\n').filter(Boolean);
    const systemd = ['Nov 29 16:20:00 host systemd[1]: Started ah-executor.service - Agent Harbor executor.', '-- Boot 3f2a... --'];
    const forms: Record<string, string[]> = {
      short: [systemd[0]!, ...lines.map((l) => `Nov 29 16:20:01 host ah[4242]: ${l}`), systemd[1]!],
      'short-iso': lines.map((l) => `2026-11-29T16:20:01+0000 host ah[4242]: ${l}`),
      json: lines.map((l) => JSON.stringify({ __REALTIME_TIMESTAMP: '1795968001000000', _PID: '4242', SYSLOG_IDENTIFIER: 'ah', MESSAGE: l })),
    };
    for (const [form, content] of Object.entries(forms)) {
      const path = join(dir, `journal-${form}.log`);
      writeFileSync(path, `${content.join('\n')}\n`);
      const r = await replay(path);
      expect(r.code, `${form}: ${r.stderr}`).toBe(0);
      expect(r.json.machineLines, form).toBe(plain.json.machineLines);
      expect(
        r.json.actors.map((a: any) => a.steps.map((s: any) => [s.value, s.time, s.event])),
        form,
      ).toEqual(plain.json.actors.map((a: any) => a.steps.map((s: any) => [s.value, s.time, s.event])));
      expect(r.json.skippedLines, form).toBe(form === 'short' ? 2 : 0);
    }
  });

  it("reads stdin with '-', and usage errors are one line with exit 2", async () => {
    const child = spawnTracked(process.execPath, [AH, 'agent', 'replay', '-', '--json'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stdin!.end(readFileSync(logs.clean!));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(JSON.parse(out).matches).toBe(true);

    for (const args of [
      ['agent', 'replay'],
      ['agent', 'replay', logs.clean!, '--at', 'yesterday'],
    ]) {
      const r = await runAh(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });
});
