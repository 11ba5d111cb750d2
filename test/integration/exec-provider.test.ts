/**
 * The exec identity provider running real commands: the openssl broker of test/fixtures/exec
 * (a test CA, a fresh leaf per run), and commands that fail, hang, print garbage, print a key of
 * another certificate, print without end, or echo their key on stderr. Each failure is the
 * catalog's one line with the command's first stderr line; nothing of a key reaches the log.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AhError } from '../../src/errors/ah-error.js';
import { ExecIdentityProvider, type ExecProviderOptions } from '../../src/providers/exec.js';
import type { IdentityMaterial } from '../../src/providers/identity-provider.js';
import { tempStateDir } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { groupMembers } from '../helpers/processes.js';
import { requireTool, skipWithout } from '../helpers/tools.js';

const F = resolve(import.meta.dirname, '..', 'fixtures', 'exec');
const ID = 'spiffe://example.org/ah/agent/exec-1';

interface Logged {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

/** A provider for `script` of the fixtures, with its log lines kept. */
function provider(script: string, ca: string, extra: Partial<ExecProviderOptions> = {}) {
  const log: Logged[] = [];
  const p = new ExecIdentityProvider({
    command: `${F}/${script} ${ca} URI:${ID}`,
    onEvent: (level, message, fields) => log.push({ level, message, fields }),
    ...extra,
  });
  return { p, log };
}

async function failure(p: ExecIdentityProvider): Promise<AhError> {
  return p.issue().then(
    () => {
      throw new Error('the command gave an identity');
    },
    (err: AhError) => err,
  );
}

/** Whether the process is gone (a zombie awaiting its reaper counts as gone: it runs no more). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!);
  } catch {
    return true;
  }
}

/** The base64 lines of every key the broker handed out. */
function keyLines(ca: string): string[] {
  const file = join(ca, 'minted-keys.pem');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'));
}

describe.skipIf(skipWithout('openssl'))('exec identity provider, real commands', () => {
  let ca: string;
  beforeAll(() => {
    requireTool('openssl');
    ca = tempStateDir('ah-exec-ca-');
    execFileSync(`${F}/make-ca.sh`, [ca]);
  });
  afterAll(() => rmSync(ca, { recursive: true, force: true }));

  it("gives the broker's leaf with its intermediate as the chain and the root as the CA bundle, and logs its stderr line", async () => {
    const { p, log } = provider('mint.sh', ca);
    const m = await p.issue();
    expect(m.summary).toMatchObject({ provider: 'exec', spiffeId: ID });
    const chain = m.certPem.match(/BEGIN CERTIFICATE/g);
    expect(chain).toHaveLength(2);
    expect(m.bundlePem).toBe(readFileSync(join(ca, 'root.pem'), 'utf8'));
    expect(log.map((l) => [l.level, l.fields])).toEqual([
      ['info', { event: 'identity_command_stderr', command: `${F}/mint.sh`, lines: [`minted a leaf for URI:${ID}`] }],
    ]);
    // Each run is a new identity.
    expect((await p.issue()).summary.serial).not.toBe(m.summary.serial);
  });

  it('runs a shell command with --dynamic-cert-shell, and refuses it without', async () => {
    const command = `${F}/mint.sh ${ca} URI:${ID} 2>/dev/null | cat`;
    const shell = new ExecIdentityProvider({ command, shell: true });
    expect((await shell.issue()).summary.spiffeId).toBe(ID);
    const error = await failure(new ExecIdentityProvider({ command }));
    expect([error.code, error.message]).toEqual([
      'ENROLL_EXEC_NOT_STARTED',
      `identity command ${F}/mint.sh could not be started: '>' means something only to a shell: add --dynamic-cert-shell, or quote it`,
    ]);
  });

  it.each([
    ['fail.sh', 'ENROLL_EXEC_FAILED', 'identity command {F}/fail.sh exited with status 1 (stderr: broker refused: no certificate for this host)'],
    [
      'garbage.sh',
      'ENROLL_EXEC_BAD_OUTPUT',
      'identity command {F}/garbage.sh printed no usable PEM: no PEM block in its output (42 bytes) (stderr: upstream said 502)',
    ],
    ['mismatch.sh', 'ENROLL_EXEC_KEY_MISMATCH', 'identity command {F}/mismatch.sh: private key does not match certificate (stderr: key cache stale)'],
    ['no-such-broker.sh', 'ENROLL_EXEC_NOT_STARTED', 'identity command {F}/no-such-broker.sh could not be started: no such file or directory'],
  ])('%s: one catalog error with the command’s first stderr line', async (script, code, message) => {
    const { p } = provider(script, ca);
    const error = await failure(p);
    expect([error.code, error.message]).toEqual([code, message.replace('{F}', F)]);
  });

  it('kills a command that runs past its timeout, with everything in its process group', async () => {
    const { p, log } = provider('hang.sh', ca, { timeoutMs: 1_000 });
    rmSync(join(ca, 'hang.pid'), { force: true });
    const error = await failure(p);
    expect([error.code, error.message]).toEqual([
      'ENROLL_EXEC_TIMEOUT',
      `identity command ${F}/hang.sh did not finish within 1s and was killed (stderr: waiting for the broker)`,
    ]);
    const killed = log.find((l) => l.fields.event === 'identity_command_killed')!;
    expect(killed).toMatchObject({ level: 'warn', fields: { command: `${F}/hang.sh`, reason: 'timeout' } });
    // The command's own child (a sleep of ten minutes) went with it.
    const child = Number(readFileSync(join(ca, 'hang.pid'), 'utf8'));
    await eventually(() => gone(child) && groupMembers(killed.fields.pid as number).length === 0, Boolean, 'the hung command and its child to be gone');
  });

  it('kills a command whose stdout passes the bound', async () => {
    const { p, log } = provider('huge.sh', ca, { maxOutputBytes: 64 * 1024 });
    const error = await failure(p);
    expect([error.code, error.message]).toEqual([
      'ENROLL_EXEC_OUTPUT_TOO_LARGE',
      `identity command ${F}/huge.sh printed more than 64 KiB on stdout and was killed (stderr: dumping everything)`,
    ]);
    const killed = log.find((l) => l.fields.event === 'identity_command_killed')!;
    expect(killed.fields.reason).toBe('output-too-large');
    await eventually(
      () => groupMembers(killed.fields.pid as number).length,
      (n) => n === 0,
      'the command group to be gone',
    );
  });

  it('logs no key material, even when the command echoes its key on stderr', async () => {
    const { p, log } = provider('leaky.sh', ca);
    const error = await failure(p);
    expect(error.message).toBe(`identity command ${F}/leaky.sh exited with status 3 (stderr: + upload failed)`);
    expect(log).toEqual([
      { level: 'warn', message: expect.any(String), fields: { event: 'identity_command_stderr', command: `${F}/leaky.sh`, lines: ['+ upload failed'] } },
    ]);
    const keys = keyLines(ca);
    expect(keys.length).toBeGreaterThan(0);
    const text = JSON.stringify(log) + error.message;
    expect(text).not.toContain('PRIVATE KEY');
    for (const line of keys) expect(text).not.toContain(line);
  });

  it('retries the first run with backoff until it works, reporting each failure', async () => {
    const dir = tempStateDir('ah-exec-mode-');
    execFileSync('cp', [join(ca, 'root.pem'), join(ca, 'int.pem'), join(ca, 'int-key.pem'), dir]);
    writeFileSync(join(dir, 'mode'), 'fail');
    const p = new ExecIdentityProvider({ command: `${F}/broker.sh ${dir} URI:${ID}`, retry: { baseMs: 50, capMs: 200 } });
    const errors: AhError[] = [];
    const material = new Promise<IdentityMaterial>((res) => p.on('material', res));
    p.on('error', (e) => {
      errors.push(e);
      if (errors.length === 2) rmSync(join(dir, 'mode'));
    });
    await p.start();
    expect((await material).summary.spiffeId).toBe(ID);
    expect(errors.map((e) => e.code)).toEqual(['ENROLL_EXEC_FAILED', 'ENROLL_EXEC_FAILED']);
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kills a running command when the provider stops', async () => {
    rmSync(join(ca, 'hang.pid'), { force: true });
    const { p } = provider('hang.sh', ca, { timeoutMs: 600_000 });
    const running = failure(p);
    await eventually(() => existsSync(join(ca, 'hang.pid')), Boolean, 'the command to start');
    const child = Number(readFileSync(join(ca, 'hang.pid'), 'utf8'));
    await p.stop();
    expect((await running).code).toBe('ENROLL_EXEC_FAILED');
    await eventually(() => gone(child), Boolean, 'the command child to be gone');
  });
});
