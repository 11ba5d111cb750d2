/**
 * `--identity exec` on both daemons, as operators run them: `ah agent access-point` and `ah agent
 * enroll`, each running the openssl broker of test/fixtures/exec (a test CA; a fresh leaf per
 * run). The executor enrolls, rotates make-before-break at `--dynamic-cert-ttl` (its certificates
 * live a day, so only the ttl can make it renew within the test), and when the command fails,
 * hangs, prints garbage, a mismatched key or its key on stderr, `status` shows the catalog's line
 * while the link stays enrolled on the identity in use. No log line of either daemon holds a key.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, waitForStatus, type Daemon } from '../helpers/cli.js';
import { requireTool, skipWithout } from '../helpers/tools.js';

afterAll(stopAll);

const F = resolve(import.meta.dirname, '..', 'fixtures', 'exec');
const BROKER = `${F}/broker.sh`;
const ID = 'spiffe://example.org/ah/agent/exec-1';

/** A broker directory: the test CA's files, and the mode the broker is in. */
function brokerDir(ca: string): string {
  const dir = tempStateDir('ah-broker-');
  for (const f of ['root.pem', 'int.pem', 'int-key.pem']) copyFileSync(join(ca, f), join(dir, f));
  return dir;
}

/** The base64 lines of every key a broker handed out. */
function mintedKeyLines(dir: string): string[] {
  return readFileSync(join(dir, 'minted-keys.pem'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'));
}

describe.skipIf(skipWithout('openssl'))('--identity exec', () => {
  let ca: string;
  let apBroker: string;
  let exBroker: string;
  let ap: Daemon;
  let ex: Daemon;
  let exState: string;
  let port: number;
  let apState: string;

  beforeAll(async () => {
    requireTool('openssl');
    ca = tempStateDir('ah-exec-ca-');
    execFileSync(`${F}/make-ca.sh`, [ca]);
    apBroker = brokerDir(ca);
    exBroker = brokerDir(ca);
    apState = tempStateDir();
    ap = startAh([
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--heartbeat-interval',
      '1s',
      '--identity',
      'exec',
      '--dynamic-cert-cmd',
      `${BROKER} ${apBroker} IP:127.0.0.1,DNS:localhost`,
      '--state-dir',
      apState,
    ]);
    const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    port = Number(String(line.address).split(':').pop());
  });

  it('enrolls with the identity the command printed, and rotates make-before-break at --dynamic-cert-ttl', async () => {
    exState = tempStateDir();
    ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'exec-1',
      '--identity',
      'exec',
      '--dynamic-cert-cmd',
      `${BROKER} ${exBroker} URI:${ID}`,
      '--dynamic-cert-ttl',
      '3s',
      '--dynamic-cert-timeout',
      '1s',
      '--backoff-base',
      '200ms',
      '--backoff-max',
      '1s',
      '--state-dir',
      exState,
    ]);
    const enrolled = await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    expect(enrolled.executorId).toBe(ID);
    const loaded = ex.lines.find(isEvent('identity_loaded'))!;
    expect(loaded).toMatchObject({ provider: 'exec', spiffeId: ID, serial: enrolled.serial });
    expect(ex.lines.find(isEvent('identity_command_stderr'))).toMatchObject({ command: BROKER, lines: [`minted a leaf for URI:${ID}`] });
    // The certificate lives a day: renewing within seconds is the ttl's doing.
    expect(Date.parse(String(loaded.notAfter)) - Date.parse(String(loaded.notBefore))).toBe(86_400_000);
    const rotated = await ex.waitForLine(
      isEvent('rotation_complete', (l) => l.previousSerial === enrolled.serial),
      'a rotation',
      30_000,
    );
    expect(rotated.serial).not.toBe(enrolled.serial);
    await ap.waitForLine(
      isEvent('executor_rotated', (l) => l.serial === rotated.serial),
      'the access point to see the rotation',
    );
  });

  it.each([
    ['fail', 'ENROLL_EXEC_FAILED', `identity command ${BROKER} exited with status 1 (stderr: broker refused: no certificate for this host)`],
    [
      'garbage',
      'ENROLL_EXEC_BAD_OUTPUT',
      `identity command ${BROKER} printed no usable PEM: no PEM block in its output (42 bytes) (stderr: upstream said 502)`,
    ],
    ['mismatch', 'ENROLL_EXEC_KEY_MISMATCH', `identity command ${BROKER}: private key does not match certificate (stderr: key cache stale)`],
    ['hang', 'ENROLL_EXEC_TIMEOUT', `identity command ${BROKER} did not finish within 1s and was killed (stderr: waiting for the broker)`],
    ['leaky', 'ENROLL_EXEC_FAILED', `identity command ${BROKER} exited with status 3 (stderr: + upload failed)`],
  ])('command in mode %s: status shows the catalog line, the link stays up on the identity in use', async (mode, code, message) => {
    await waitForStatus(exState, (s) => s.state === 'enrolled' && s.lastError === null, 'enrolled, no error');
    const from = ex.lines.length;
    writeFileSync(join(exBroker, 'mode'), mode);
    const failed = await ex.waitForNewLine(
      from,
      isEvent('renewal_failed', (l) => l.code === code),
      `renewal_failed ${code}`,
      30_000,
    );
    expect(failed.code).toBe(code);
    const status = await waitForStatus(exState, (s) => s.lastError?.code === code, `lastError ${code}`);
    expect(status.lastError).toEqual({ code, message });
    // Make-before-break: the renewal keeps trying while the link it has stays up.
    expect([status.state, status.detail]).toEqual(['renewing', { renewing: 'obtaining' }]);
    const held = ex.lines.filter(isEvent('rotation_complete')).at(-1)!.serial;
    expect(status.identity.serial).toBe(held);
    const later = await waitForStatus(exState, (s) => s.lastHeartbeat > status.lastHeartbeat, 'a later heartbeat on the same link');
    expect([later.connectedSince, later.identity.serial]).toEqual([status.connectedSince, held]);
    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', apState])).stdout) as { executors: Array<{ id: string }> };
    expect(fleet.executors.map((e) => e.id)).toEqual([ID]);
    if (mode === 'hang') expect(ex.lines.slice(from).find(isEvent('identity_command_killed'))).toMatchObject({ reason: 'timeout', command: BROKER });
    // Fixed again: the next retry renews.
    const mark = ex.lines.length;
    writeFileSync(join(exBroker, 'mode'), 'mint');
    await ex.waitForNewLine(mark, isEvent('rotation_complete'), 'a rotation once the command works again', 30_000);
  });

  it('an executor whose command fails at start waits with the catalog line, and enrolls once it works', async () => {
    const dir = brokerDir(ca);
    writeFileSync(join(dir, 'mode'), 'garbage');
    const state = tempStateDir();
    const lateId = 'spiffe://example.org/ah/agent/exec-late';
    const late = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'exec-late',
      '--identity',
      'exec',
      '--dynamic-cert-cmd',
      `${BROKER} ${dir} URI:${lateId}`,
      '--state-dir',
      state,
    ]);
    const unavailable = await late.waitForLine(isEvent('identity_unavailable'), 'identity_unavailable');
    expect(unavailable.code).toBe('ENROLL_EXEC_BAD_OUTPUT');
    const waiting = await waitForStatus(state, (s) => s.lastError !== null, 'the start error in status');
    expect([waiting.state, waiting.detail, waiting.lastError]).toEqual([
      'disconnected',
      { disconnected: 'waitingForIdentity' },
      {
        code: 'ENROLL_EXEC_BAD_OUTPUT',
        message: `identity command ${BROKER} printed no usable PEM: no PEM block in its output (42 bytes) (stderr: upstream said 502)`,
      },
    ]);
    writeFileSync(join(dir, 'mode'), 'mint');
    expect((await late.waitForLine(isEvent('enrolled'), 'enrolled once the command works')).executorId).toBe(lateId);
    await late.stop();
  });

  it('writes no private key to any log line of either daemon', async () => {
    const text = [...ex.lines, ...ap.lines].map((l) => JSON.stringify(l)).join('\n') + ex.stderr.join('\n') + ap.stderr.join('\n');
    const keys = [...mintedKeyLines(exBroker), ...mintedKeyLines(apBroker)];
    expect(keys.length).toBeGreaterThan(5);
    expect(text).not.toContain('PRIVATE KEY');
    expect(keys.filter((k) => text.includes(k))).toEqual([]);
  });

  it('an access point whose command prints a mismatched key does not start: the catalog line, exit 1', async () => {
    const dir = brokerDir(ca);
    writeFileSync(join(dir, 'mode'), 'mismatch');
    const run = await runAh([
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--identity',
      'exec',
      '--dynamic-cert-cmd',
      `${BROKER} ${dir} IP:127.0.0.1`,
      '--state-dir',
      tempStateDir(),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toBe(`error: identity command ${BROKER}: private key does not match certificate (stderr: key cache stale)`);
  });

  it.each([
    [['--identity', 'exec'], 'error: --identity exec needs --dynamic-cert-cmd'],
    [
      ['--identity', 'exec', '--dynamic-cert-cmd', 'mint | tee x'],
      "error: --dynamic-cert-cmd cannot be split into words: '|' means something only to a shell: add --dynamic-cert-shell, or quote it",
    ],
    [['--identity', 'exec', '--dynamic-cert-cmd', "mint 'open"], 'error: --dynamic-cert-cmd cannot be split into words: a single quote is not closed'],
    [['--dynamic-cert-cmd', 'mint'], 'error: --dynamic-cert-cmd needs --identity exec'],
    [
      ['--identity', 'exec', '--dynamic-cert-cmd', 'mint', '--dynamic-cert-ttl', '1s'],
      "error: option '--dynamic-cert-ttl <duration>' argument '1s' is invalid. out of range: use 2s..365d",
    ],
    [
      ['--identity', 'exec', '--dynamic-cert-cmd', 'mint', '--dynamic-cert-timeout', '2h'],
      "error: option '--dynamic-cert-timeout <duration>' argument '2h' is invalid. out of range: use 1s..1h",
    ],
  ])('usage error %j: one line, exit 2', async (args, line) => {
    const run = await runAh(['agent', 'enroll', '--remote-server', 'https://127.0.0.1:1', ...args]);
    expect([run.code, run.stderr.trim()]).toEqual([2, line]);
  });

  it('doctor runs the command once and names its failure', async () => {
    const dir = brokerDir(ca);
    const args = (broker: string) => [
      'agent',
      'doctor',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'exec-1',
      '--identity',
      'exec',
      '--dynamic-cert-cmd',
      `${BROKER} ${broker} URI:${ID}`,
      '--state-dir',
      tempStateDir(),
      '--json',
    ];
    const healthy = JSON.parse((await runAh(args(dir))).stdout) as { checks: Array<{ name: string; status: string; finding: string }> };
    const byName = (r: typeof healthy, n: string) => r.checks.find((c) => c.name === n)!;
    expect(byName(healthy, 'exec.command').status).toBe('pass');
    for (const n of ['identity.parse', 'identity.key', 'identity.chain', 'identity.san', 'enroll']) expect([n, byName(healthy, n).status]).toEqual([n, 'pass']);
    writeFileSync(join(dir, 'mode'), 'fail');
    const run = await runAh(args(dir));
    expect(run.code).toBe(1);
    const broken = JSON.parse(run.stdout) as { checks: Array<{ name: string; status: string; error?: { code: string; message: string } }> };
    expect(broken.checks.find((c) => c.name === 'exec.command')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_EXEC_FAILED', message: `identity command ${BROKER} exited with status 1 (stderr: broker refused: no certificate for this host)` },
    });
    expect(broken.checks.find((c) => c.name === 'identity.key')!.status).toBe('skip');
  });
});
