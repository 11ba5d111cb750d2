/**
 * deploy/: the systemd units pass `systemd-analyze verify` (no warning either) and the offline
 * security review; the example configuration files (deploy/config/*.toml) pass the configuration
 * schema and every flag's own check, and the dev one runs as written from the system scope; the alert rules pass `promtool check rules` and their own `promtool test rules`,
 * and every metric they (and their tests) name is one our registries export.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'smol-toml';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccessPoint, createExecutor } from '../../src/index.js';
import { accessPointMetrics } from '../../src/metrics/access-point-metrics.js';
import { createRegistry } from '../../src/metrics/common.js';
import { executorMetrics } from '../../src/metrics/executor-metrics.js';
import { AH, isEvent, ROOT, runAh, startAh, stopAll, tempStateDir } from '../helpers/cli.js';
import { freePort, metricsUrl, readyzUntil } from '../helpers/metrics.js';
import { requireTool, skipWithout } from '../helpers/tools.js';

afterAll(stopAll);

const SYSTEMD = join(ROOT, 'deploy', 'systemd');
const CONFIG = join(ROOT, 'deploy', 'config');
const PROMETHEUS = join(ROOT, 'deploy', 'prometheus');
const UNITS = ['ah-access-point.service', 'ah-executor.service'];
const PROVIDERS = ['dev', 'files', 'spiffe', 'vault', 'exec'];

const run = (cmd: string, args: string[], cwd?: string) => spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });

/** No user or system file of the machine running the tests. */
const NO_SCOPES = { AH_SYSTEM_CONFIG: '/nonexistent/config.toml', AH_HOME: '/nonexistent' };

describe('systemd units', () => {
  it.skipIf(skipWithout('systemd-analyze'))('pass systemd-analyze verify without a warning, and the offline security review', () => {
    requireTool('systemd-analyze');
    // verify insists that ExecStart's binary exists: point the copies at this checkout's bin/ah.
    const dir = tempStateDir('ah-units-');
    for (const unit of UNITS) {
      const text = readFileSync(join(SYSTEMD, unit), 'utf8');
      expect(text).toContain('ExecStart=/usr/local/bin/ah agent ');
      writeFileSync(join(dir, unit), text.replaceAll('/usr/local/bin/ah', AH));
    }
    const verify = run('systemd-analyze', ['verify', '--man=no', ...UNITS], dir);
    expect(verify.stderr + verify.stdout).toBe('');
    expect(verify.status).toBe(0);
    for (const unit of UNITS) {
      // Exposure 2.0 or less ("OK" on systemd's scale; 10 is a unit with no sandboxing at all).
      const security = run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', unit], dir);
      expect(security.status, security.stdout + security.stderr).toBe(0);
      expect(security.stdout).toMatch(/Overall exposure level for .*: [0-2]\.\d OK/);
    }
  });

  it('run the CLI as the guide names them, hardened, with a restart policy', () => {
    const ap = readFileSync(join(SYSTEMD, 'ah-access-point.service'), 'utf8');
    const ex = readFileSync(join(SYSTEMD, 'ah-executor.service'), 'utf8');
    // Settings come from /etc/agent-harbor/config.toml, the system scope: no flags, no environment file.
    expect(ap).toMatch(/^ExecStart=\/usr\/local\/bin\/ah agent access-point$/m);
    expect(ap).toMatch(/^LogsDirectory=ah$/m);
    expect(ex).toMatch(/^ExecStart=\/usr\/local\/bin\/ah agent enroll$/m);
    for (const unit of [ap, ex]) {
      for (const line of [
        'User=agent-harbor',
        'Group=agent-harbor',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ProtectHome=yes',
        'PrivateTmp=yes',
        'StateDirectory=ah',
        'Environment=AH_STATE_DIR=%S/ah',
        'ExecReload=/bin/kill -HUP $MAINPID',
        'Restart=on-failure',
        'RestartPreventExitStatus=2',
        'CapabilityBoundingSet=',
        'WantedBy=multi-user.target',
      ]) {
        expect(unit.split('\n'), line).toContain(line);
      }
    }
    expect(readFileSync(join(SYSTEMD, 'ah.sysusers.conf'), 'utf8')).toMatch(/^u agent-harbor - /m);
  });

  it('do not read an environment file', () => {
    for (const unit of UNITS) expect(readFileSync(join(SYSTEMD, unit), 'utf8')).not.toMatch(/^EnvironmentFile=/m);
    expect(readdirSync(SYSTEMD).filter((f) => f.endsWith('.env'))).toEqual([]);
  });
});

describe('configuration files', () => {
  it('come one per provider, and pass the configuration schema', () => {
    expect(readdirSync(CONFIG).sort()).toEqual(PROVIDERS.map((p) => `${p}.toml`).sort());
    const schema = JSON.parse(readFileSync(join(ROOT, 'schema', 'config.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strictTypes: false, allowUnionTypes: true }).compile(schema);
    for (const provider of PROVIDERS) {
      const data = parse(readFileSync(join(CONFIG, `${provider}.toml`), 'utf8'));
      expect(validate(data), `${provider}.toml: ${JSON.stringify(validate.errors)}`).toBe(true);
      const agent = data.agent as Record<string, Record<string, unknown>>;
      for (const table of ['access-point', 'enroll']) {
        if (provider !== 'dev') expect(agent[table]!.identity, `${provider}.toml [agent.${table}]`).toBe(provider);
        expect(agent[table]!['metrics-listen'], `${provider}.toml [agent.${table}]`).toBeTruthy();
      }
    }
  });

  it("pass every flag's own check, as each daemon reads them", async () => {
    for (const provider of PROVIDERS) {
      for (const command of ['access-point', 'enroll']) {
        const run = await runAh(['config', 'show', 'agent', command, '--config', join(CONFIG, `${provider}.toml`)], NO_SCOPES);
        expect(run.stderr, `${provider}.toml agent ${command}`).toBe('');
        expect(run.code).toBe(0);
      }
    }
  });

  it('dev.toml runs as written from the system scope (ports and audit log moved)', async () => {
    const fleet = await freePort();
    const dir = tempStateDir();
    const system = join(dir, 'config.toml');
    const text = readFileSync(join(CONFIG, 'dev.toml'), 'utf8')
      .replaceAll(':4433', `:${fleet}`)
      .replace(/127\.0\.0\.1:946\d/g, '127.0.0.1:0')
      .replace('/var/log/ah/audit.log', join(dir, 'audit.log'));
    writeFileSync(system, text);
    chmodSync(system, 0o640);
    // As the units run them: no flags, AH_STATE_DIR from the unit, the file in the system scope.
    const env = { ...NO_SCOPES, AH_SYSTEM_CONFIG: system, AH_STATE_DIR: dir };
    const ap = startAh(['agent', 'access-point'], env);
    await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    const ex = startAh(['agent', 'enroll'], env);
    expect((await readyzUntil(await metricsUrl(ex), 200)).body).toBe('ok: enrolled\n');
    expect((await readyzUntil(await metricsUrl(ap), 200)).body).toBe('ok: serving\n');
    expect(await ex.stop()).toBe(0);
    expect(await ap.stop()).toBe(0);
    expect(readFileSync(join(dir, 'audit.log'), 'utf8')).toMatch(/"event":"enrolled"/);
  });
});

describe('Prometheus alert rules', () => {
  it.skipIf(skipWithout('promtool'))('pass promtool check rules and their unit tests', () => {
    requireTool('promtool');
    const check = run('promtool', ['check', 'rules', 'alerts.yml'], PROMETHEUS);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const test = run('promtool', ['test', 'rules', 'alerts.test.yml'], PROMETHEUS);
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toContain('SUCCESS');
  });

  it('alert on certificates near expiry, failing rotation, executors dropping out and an empty access point', () => {
    const rules = readFileSync(join(PROMETHEUS, 'alerts.yml'), 'utf8');
    const alerts = [...rules.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]);
    expect(alerts).toEqual(
      expect.arrayContaining([
        'AhCertificateExpiringSoon',
        'AhCertificateExpired',
        'AhCertificateRotationFailing',
        'AhExecutorsDroppingOut',
        'AhAccessPointNoExecutors',
      ]),
    );
    // Each alert is exercised by the promtool tests.
    const tests = readFileSync(join(PROMETHEUS, 'alerts.test.yml'), 'utf8');
    for (const alert of alerts) expect(tests, alert).toContain(`alertname: ${alert}\n`);
  });

  it('name only metrics our registries export', async () => {
    const stateDir = tempStateDir();
    const apRegistry = createRegistry('access-point', 'access-point');
    accessPointMetrics(createAccessPoint({ stateDir, auditLog: join(stateDir, 'audit.log'), statusSocket: false }), apRegistry, { heartbeatIntervalMs: 5_000 });
    const exRegistry = createRegistry('executor', 'x');
    executorMetrics(createExecutor({ name: 'x', remoteServer: 'https://127.0.0.1:1', stateDir, statusSocket: false }), exRegistry);
    const exported = new Set([...(await apRegistry.getMetricsAsJSON()), ...(await exRegistry.getMetricsAsJSON())].map((m) => m.name));
    for (const file of ['alerts.yml', 'alerts.test.yml']) {
      const named = new Set(
        [...readFileSync(join(PROMETHEUS, file), 'utf8').matchAll(/\bah_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')),
      );
      expect(named.size, file).toBeGreaterThan(5);
      for (const name of named) expect(exported, `${file}: ${name}`).toContain(name);
    }
  });
});
