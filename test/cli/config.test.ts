/**
 * Configuration files, as operators meet them: real TOML files in the system and user scopes and
 * on --config, real environment variables, real `bin/ah` processes. Precedence across the five
 * layers, a file's value over the code's default, one line for a bad key or value (file:line, the
 * key, a "did you mean"), secrets in a readable file refused, [[server]] names, and SIGHUP.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, ROOT, runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine } from '../helpers/cli.js';
import { freePort } from '../helpers/metrics.js';

afterAll(stopAll);

/** A directory for one test: its system and user scopes point inside it, empty until written. */
function scopes() {
  const dir = tempStateDir('ah-cfg-');
  const env = { AH_SYSTEM_CONFIG: join(dir, 'system.toml'), AH_HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'xdg') };
  const write = (name: string, text: string, mode = 0o644) => {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    chmodSync(path, mode);
    return path;
  };
  return { dir, env, write };
}

/** `ah config show … --explain`: key → the source comment of its line. */
function explained(stdout: string): Record<string, { value: string; source: string }> {
  const out: Record<string, { value: string; source: string }> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([a-z-]+) = (.*?)\s+# (.*)$/.exec(line);
    if (m) out[m[1]!] = { value: m[2]!, source: m[3]! };
  }
  return out;
}

describe('configuration: precedence', () => {
  it('flags > --config > environment > user file > system file > default, each value naming its source', async () => {
    const { env, write } = scopes();
    const system = write(
      'system.toml',
      '[agent.enroll]\nconnect-timeout = "7s"\nbackoff-base = "2s"\nbackoff-max = "20s"\nmax-attempts = 1\nname = "from-system"\n',
    );
    const user = write('home/config.toml', '[agent.enroll]\nbackoff-base = "3s"\nbackoff-max = "30s"\nmax-attempts = 2\nname = "from-user"\n');
    const config = write('given.toml', '# given on the command line\n[agent.enroll]\nmax-attempts = 4\nname = "from-config"\n');
    const run = await runAh(['config', 'show', 'agent', 'enroll', '--config', config, '--name', 'from-flag', '--explain'], {
      ...env,
      AH_BACKOFF_MAX: '40s',
      AH_MAX_ATTEMPTS: '3',
      AH_NAME: 'from-env',
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const shown = explained(run.stdout);
    expect(shown['connect-timeout']).toEqual({ value: '"7s"', source: `system ${system}:2` });
    expect(shown['backoff-base']).toEqual({ value: '"3s"', source: `user ${user}:2` });
    expect(shown['backoff-max']).toEqual({ value: '"40s"', source: 'env AH_BACKOFF_MAX' });
    expect(shown['max-attempts']).toEqual({ value: '4', source: `--config ${config}:3` });
    expect(shown.name).toEqual({ value: '"from-flag"', source: 'flag' });
    expect(shown['renewal-threshold']).toEqual({ value: '0.7', source: 'default' });
    expect(run.stdout.split('\n')[0]).toBe('[agent.enroll]');
  });

  it('without AH_HOME the user file is $XDG_CONFIG_HOME/agent-harbor/config.toml; --json says the same', async () => {
    const { env, write } = scopes();
    const user = write('xdg/agent-harbor/config.toml', '[agent.access-point]\nheartbeat-interval = "2s"\n');
    const run = await runAh(['config', 'show', 'agent', 'access-point', '--json'], { ...env, AH_HOME: '' });
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { command: string; settings: Array<{ key: string; value: unknown; source: Record<string, unknown> }> };
    expect(out.command).toBe('agent access-point');
    expect(out.settings.find((s) => s.key === 'heartbeat-interval')).toEqual({
      key: 'heartbeat-interval',
      value: '2s',
      source: { kind: 'file', scope: 'user', path: user, line: 2, table: 'agent.access-point' },
      secret: false,
    });
    expect(out.settings.find((s) => s.key === 'fleet-listen')).toMatchObject({ value: '0.0.0.0:4433', source: { kind: 'default' } });
  });

  it('the doctor reads the table of the daemon it checks, then its own', async () => {
    const { env, write } = scopes();
    const path = write(
      'system.toml',
      '[agent.enroll]\nremote-server = "https://ap.example.com:4433"\n\n[agent.access-point]\nfleet-listen = "127.0.0.1:4999"\n\n[agent.doctor]\nclock-skew-threshold = "9s"\n',
    );
    const executor = explained((await runAh(['config', 'show', 'agent', 'doctor', '--explain'], env)).stdout);
    expect(executor['remote-server']).toEqual({ value: '"https://ap.example.com:4433"', source: `system ${path}:2` });
    expect(executor['clock-skew-threshold']).toEqual({ value: '"9s"', source: `system ${path}:8` });
    const accessPoint = explained((await runAh(['config', 'show', 'agent', 'doctor', '--access-point', '--explain'], env)).stdout);
    expect(accessPoint['fleet-listen']).toEqual({ value: '"127.0.0.1:4999"', source: `system ${path}:5` });
    expect(accessPoint['remote-server']).toBeUndefined();
  });

  it('status and fleet find the state dir the daemons are given', async () => {
    const { env, write } = scopes();
    const path = write('system.toml', '[agent.enroll]\nstate-dir = "/srv/ah-executor"\n\n[agent.access-point]\nstate-dir = "/srv/ah-ap"\n');
    const status = explained((await runAh(['config', 'show', 'agent', 'status', '--explain'], env)).stdout);
    expect(status['state-dir']).toEqual({ value: '"/srv/ah-executor"', source: `system ${path}:2` });
    const fleet = explained((await runAh(['config', 'show', 'agent', 'fleet', '--explain'], env)).stdout);
    expect(fleet['state-dir']).toEqual({ value: '"/srv/ah-ap"', source: `system ${path}:5` });
  });

  it("a file's value beats the code's default in the running daemon", async () => {
    const { dir, env, write } = scopes();
    // The default heartbeat interval is 5s: the file's 2s is what executors are told.
    const config = write('ap.toml', '[agent.access-point]\nfleet-listen = "127.0.0.1:0"\nheartbeat-interval = "2s"\n');
    const ap = startAh(['agent', 'access-point', '--config', config, '--state-dir', join(dir, 'state')], env);
    const listening = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    expect(listening.heartbeatIntervalMs).toBe(2000);
    expect(await ap.stop()).toBe(0);
  });

  it('the system file alone runs an executor: max-attempts from it ends the retries (the default retries for ever)', async () => {
    const { dir, env, write } = scopes();
    const port = await freePort();
    write('system.toml', `[agent.enroll]\nremote-server = "https://127.0.0.1:${port}"\nmax-attempts = 1\nbackoff-base = "10ms"\n`);
    const run = await runAh(['agent', 'enroll', '--state-dir', join(dir, 'state')], env);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toBe(`error: connection refused to 127.0.0.1:${port}`);
    const gaveUp = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine)
      .find((l) => l.event === 'gave_up');
    expect(gaveUp).toMatchObject({ attempts: 1 });
  });
});

describe('configuration: one line for a bad file, exit 2', () => {
  const refused = async (toml: string, extraEnv: Record<string, string> = {}) => {
    const { env, write } = scopes();
    const path = write('bad.toml', toml);
    const run = await runAh(['agent', 'enroll', '--config', path], { ...env, ...extraEnv });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    return { path, stderr: run.stderr };
  };

  it('a misspelt key names the file, the line, the key and the closest known key', async () => {
    const { path, stderr } = await refused('# executor\n[agent.enroll]\nname = "a"\nremote-sever = "https://ap:4433"\n');
    expect(stderr).toBe(`error: ${path}:4: agent.enroll.remote-sever: unknown key (did you mean remote-server?)\n`);
  });

  it('a misspelt table too', async () => {
    const { path, stderr } = await refused('[agent.enrol]\nname = "a"\n');
    expect(stderr).toBe(`error: ${path}:1: agent.enrol: unknown table (did you mean agent.enroll?)\n`);
  });

  it('a value of the wrong type', async () => {
    const { path, stderr } = await refused('[agent.enroll]\nconnect-timeout = 30\n');
    expect(stderr).toBe(`error: ${path}:2: agent.enroll.connect-timeout: expected a duration such as "30s" (ms, s, m, h, d), got 30\n`);
  });

  it("a value the flag's own check refuses", async () => {
    const { path, stderr } = await refused('[agent.enroll]\n\nconnect-timeout = "300d"\n');
    expect(stderr).toBe(`error: ${path}:3: agent.enroll.connect-timeout: out of range: use 100ms..1d\n`);
  });

  it('a value from the environment names the variable', async () => {
    const { env } = scopes();
    const run = await runAh(['agent', 'enroll', '--remote-server', 'https://127.0.0.1:1'], { ...env, AH_CONNECT_TIMEOUT: '5x' });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("error: environment AH_CONNECT_TIMEOUT: connect-timeout: invalid duration '5x' (use e.g. 500ms, 30s, 5m, 1h)\n");
  });

  it('TOML that does not parse names the line and column', async () => {
    const { path, stderr } = await refused('[agent.enroll]\nname = = "a"\n');
    expect(stderr).toBe(`error: ${path}:2:8: invalid TOML: invalid value\n`);
  });

  it('--config naming a missing file', async () => {
    const { dir, env } = scopes();
    const run = await runAh(['agent', 'status', '--config', join(dir, 'missing.toml')], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: cannot read configuration file ${join(dir, 'missing.toml')}: no such file\n`);
  });
});

describe('configuration: secrets', () => {
  const SECRET = 's.secret-token-value-1234';

  it('a secret in a file readable by group or others is refused with the fix', async () => {
    const { env, write } = scopes();
    const path = write('vault.toml', `[agent.enroll]\nvault-token = "${SECRET}"\n`, 0o640);
    const run = await runAh(['config', 'show', 'agent', 'enroll', '--config', path], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: ${path} holds vault-token and is readable by group or others (mode 0640): chmod 600 ${path}\n`);
    expect(run.stderr + run.stdout).not.toContain(SECRET);
  });

  it('in a 0600 file it is taken, and never printed', async () => {
    const { env, write } = scopes();
    const path = write('vault.toml', `[agent.enroll]\nvault-secret-id = "${SECRET}"\n`, 0o600);
    const run = await runAh(['config', 'show', 'agent', 'enroll', '--config', path, '--explain'], env);
    expect(run.code).toBe(0);
    expect(explained(run.stdout)['vault-secret-id']).toEqual({ value: '"[redacted]"', source: `--config ${path}:2` });
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    const json = await runAh(['config', 'show', 'agent', 'enroll', '--config', path, '--json'], env);
    expect(json.stdout).not.toContain(SECRET);
    expect(JSON.parse(json.stdout).settings.find((s: { key: string }) => s.key === 'vault-secret-id').value).toBe('[redacted]');
  });
});

describe('configuration: [[server]]', () => {
  it('remote-server names a [[server]] entry, and the executor enrolls with its URL', async () => {
    const { dir, env, write } = scopes();
    const state = join(dir, 'state');
    const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', state], env);
    const address = String((await ap.waitForLine(isEvent('access_point_listening'), 'listening')).address);
    const path = write('executor.toml', `[agent.enroll]\nremote-server = "lab"\nname = "named"\n\n[[server]]\nname = "lab"\nurl = "https://${address}"\n`);
    const show = await runAh(['config', 'show', 'agent', 'enroll', '--config', path, '--explain'], env);
    expect(explained(show.stdout)['remote-server']).toEqual({ value: `"https://${address}"`, source: `--config ${path}:2` });
    const ex = startAh(['agent', 'enroll', '--config', path, '--state-dir', state], env);
    await ex.waitForLine(
      isEvent('executor_starting', (l) => l.remoteServer === `https://${address}`),
      'starting with the named URL',
    );
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    expect(await ex.stop()).toBe(0);
    expect(await ap.stop()).toBe(0);
  });

  it('without remote-server, the [[server]] entries are the list', async () => {
    const { env, write } = scopes();
    write('system.toml', '[[server]]\nname = "only"\nurl = "https://ap.example.com:4433"\n');
    const show = await runAh(['config', 'show', 'agent', 'enroll', '--explain'], env);
    expect(explained(show.stdout)['remote-server']).toEqual({ value: '["https://ap.example.com:4433"]', source: `system ${env.AH_SYSTEM_CONFIG}:2` });
    // A flag may name an entry too.
    const flag = await runAh(['config', 'show', 'agent', 'enroll', '--remote-server', 'only', '--explain'], env);
    expect(explained(flag.stdout)['remote-server']).toEqual({ value: '"https://ap.example.com:4433"', source: 'flag' });
  });
});

describe('configuration: SIGHUP', () => {
  async function reloaded(daemon: Daemon, from: number, event: string): Promise<LogLine> {
    daemon.child.kill('SIGHUP');
    return daemon.waitForNewLine(from, isEvent(event), event);
  }

  it('changes the log level and the heartbeat interval of new links live, reports a restart-only key, and refuses a bad file', async () => {
    const { dir, env, write } = scopes();
    const state = join(dir, 'state');
    const good = (level: string, interval: string, tls: string) =>
      `[agent.access-point]\nfleet-listen = "127.0.0.1:0"\nlog-level = "${level}"\nheartbeat-interval = "${interval}"\ntls-min = "${tls}"\n`;
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const path = write('ap.toml', good('warn', '5s', '1.3').replace('127.0.0.1:0', address));
    const ap = startAh(['agent', 'access-point', '--config', path, '--state-dir', state], env);
    // At warn, the only line at start is the dev mode warning.
    await ap.waitForLine(isEvent('dev_mode'), 'dev mode warning');

    write('ap.toml', good('info', '2s', '1.2').replace('127.0.0.1:0', address));
    const done = await reloaded(ap, ap.lines.length, 'config_reloaded');
    expect(done.applied).toEqual(['log-level', 'heartbeat-interval']);
    expect(done.restartRequired).toEqual(['tls-min']);
    expect(await ap.waitForLine(isEvent('config_restart_required'), 'restart required')).toMatchObject({ level: 40, keys: ['tls-min'] });
    expect(ap.lines.some(isEvent('access_point_listening'))).toBe(false);

    // Info now: the enrollment is logged, and the new link is told the new interval.
    const ex = startAh(
      ['agent', 'enroll', '--remote-server', `https://${address}`, '--name', 'hup', '--state-dir', state, '--log-level', 'ah_machine=debug'],
      env,
    );
    const welcomed = await ex.waitForLine((l) => l.component === 'ah_machine' && (l.event as { type?: string })?.type === 'LINK_WELCOMED', 'welcomed');
    expect((welcomed.event as { heartbeatIntervalMs: number }).heartbeatIntervalMs).toBe(2000);
    await ap.waitForLine(
      isEvent('executor_enrolled', (l) => l.name === 'hup'),
      'the enrollment, at info',
    );

    // A bad file: refused with its one line, and the running configuration stays.
    write('ap.toml', `${good('warn', '5s', '1.3').replace('127.0.0.1:0', address)}heartbeat-intervall = "1s"\n`);
    const refused = await reloaded(ap, ap.lines.length, 'config_reload_refused');
    expect(refused).toMatchObject({ level: 50, code: 'ENROLL_CONFIG_INVALID' });
    expect(refused.detail).toBe(`${path}:6: agent.access-point.heartbeat-intervall: unknown key (did you mean heartbeat-interval?)`);
    // Compared with what runs (info, 2s, 1.2), the same file again changes nothing.
    write('ap.toml', good('info', '2s', '1.2').replace('127.0.0.1:0', address));
    const again = await reloaded(ap, ap.lines.length, 'config_reloaded');
    expect(again.applied).toEqual([]);
    expect(again.restartRequired).toEqual([]);
    expect(await ex.stop()).toBe(0);
    expect(await ap.stop()).toBe(0);
  });

  it('admits new executors by the new SAN prefix and writes their records to the new audit log', async () => {
    const { dir, env, write } = scopes();
    const state = join(dir, 'state');
    const address = `127.0.0.1:${await freePort()}`;
    const file = (prefix: string, audit: string) =>
      `[agent.access-point]\nfleet-listen = "${address}"\nexecutor-san-uri-prefix = "${prefix}"\naudit-log = "${join(dir, audit)}"\n`;
    const path = write('ap.toml', file('spiffe://dev.local/ah/agent/', 'first.log'));
    const ap = startAh(['agent', 'access-point', '--config', path, '--state-dir', state], env);
    await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    const enroll = (name: string) =>
      runAh(['agent', 'enroll', '--remote-server', `https://${address}`, '--name', name, '--max-attempts', '1', '--state-dir', state], env, 30_000);

    write('ap.toml', file('spiffe://dev.local/ah/agent/team-a/', 'second.log'));
    const done = await reloaded(ap, ap.lines.length, 'config_reloaded');
    expect(done.applied).toEqual(['executor-san-uri-prefix', 'audit-log']);
    const refused = await enroll('outsider');
    expect(refused.code).toBe(1);
    expect(refused.stderr.split('\n')[0]).toBe('error: certificate SAN does not match expected pattern');
    const records = readFileSync(join(dir, 'second.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r.event === 'rejected')).toMatchObject({ code: 'ENROLL_SAN_MISMATCH', name: 'outsider' });
    expect(readFileSync(join(dir, 'first.log'), 'utf8')).not.toContain('outsider');
    expect(await ap.stop()).toBe(0);
  });

  it('an executor applies a new renewal threshold and says a new name needs a restart', async () => {
    const { dir, env, write } = scopes();
    const state = join(dir, 'state');
    const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', state], env);
    const address = String((await ap.waitForLine(isEvent('access_point_listening'), 'listening')).address);
    const file = (threshold: number, name: string) =>
      `[agent.enroll]\nremote-server = "https://${address}"\nname = "${name}"\nrenewal-threshold = ${threshold}\n`;
    const path = write('ex.toml', file(0.7, 'hup-ex'));
    const ex = startAh(['agent', 'enroll', '--config', path, '--state-dir', state, '--log-level', 'info,ah_machine=debug'], env);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    write('ex.toml', file(0.5, 'renamed'));
    const done = await reloaded(ex, ex.lines.length, 'config_reloaded');
    expect(done.applied).toEqual(['renewal-threshold']);
    expect(done.restartRequired).toEqual(['name']);
    await ex.waitForLine(
      (l) => l.machine === 'rotation' && (l.event as { type?: string })?.type === 'SET_THRESHOLD' && (l.event as { threshold?: number }).threshold === 0.5,
      'the rotation told',
    );
    expect(await ex.stop()).toBe(0);
    expect(await ap.stop()).toBe(0);
  });
});

describe("configuration: the README's example file", () => {
  it('passes the schema and every flag check for each daemon and the doctor', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- config-example:start -->\n```toml\n([\s\S]+?)```\n<!-- config-example:end -->/.exec(readme);
    expect(block, 'the README has the marked example').not.toBeNull();
    const { env, write } = scopes();
    const path = write('example.toml', block![1]!);
    for (const command of ['enroll', 'access-point', 'doctor']) {
      const run = await runAh(['config', 'show', 'agent', command, '--config', path, '--explain'], env);
      expect(run.stderr, command).toBe('');
      expect(run.code).toBe(0);
      if (command !== 'access-point') expect(explained(run.stdout)['remote-server']!.value).toBe('"https://ap-1.example.com:4433"');
    }
  });
});

describe('configuration: --help', () => {
  it('the daemons and ah config show name --config', async () => {
    for (const args of [
      ['agent', 'enroll', '--help'],
      ['agent', 'access-point', '--help'],
      ['config', 'show', '--help'],
    ]) {
      const run = await runAh(args);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/--config/);
    }
  });
});
