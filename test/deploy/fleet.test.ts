/**
 * deploy/fleet/: three access points sharing a roster in etcd under systemd. The templated unit
 * passes `systemd-analyze verify` for an instance (no warning either) and the offline security
 * review; each access point's configuration file and the executor's pass the configuration schema
 * and every flag's own check; the three name three access points on one roster; and the etcd
 * environment file sets only settings Debian's etcd has.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'smol-toml';
import { afterAll, describe, expect, it } from 'vitest';
import { AH, ROOT, runAh, stopAll, tempStateDir } from '../helpers/cli.js';
import { requireTool, skipWithout } from '../helpers/tools.js';

afterAll(stopAll);

const FLEET = join(ROOT, 'deploy', 'fleet');
const UNIT = 'ah-access-point@.service';
const ACCESS_POINTS = ['ap-1', 'ap-2', 'ap-3'];
const NO_SCOPES = { AH_SYSTEM_CONFIG: '/nonexistent/config.toml', AH_HOME: '/nonexistent' };

const run = (cmd: string, args: string[], cwd?: string) => spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
const toml = (file: string) => parse(readFileSync(join(FLEET, file), 'utf8')) as Record<string, any>;

describe('deploy/fleet: the templated access point unit', () => {
  it.skipIf(skipWithout('systemd-analyze'))('passes systemd-analyze verify for an instance without a warning, and the offline security review', () => {
    requireTool('systemd-analyze');
    // verify insists that ExecStart's binary exists: point the copy at this checkout's bin/ah.
    const dir = tempStateDir('ah-fleet-units-');
    const text = readFileSync(join(FLEET, UNIT), 'utf8');
    expect(text).toContain('ExecStart=/usr/local/bin/ah agent access-point --config /etc/agent-harbor/fleet/%i.toml');
    writeFileSync(join(dir, UNIT), text.replaceAll('/usr/local/bin/ah', AH));
    const verify = run('systemd-analyze', ['verify', '--man=no', 'ah-access-point@ap-1.service'], dir);
    expect(verify.stderr + verify.stdout).toBe('');
    expect(verify.status).toBe(0);
    const security = run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', 'ah-access-point@ap-1.service'], dir);
    expect(security.status, security.stdout + security.stderr).toBe(0);
    expect(security.stdout).toMatch(/Overall exposure level for .*: [0-2]\.\d OK/);
  });

  it('gives each instance its own state and log directories, and room to drain before systemd kills it', () => {
    const unit = readFileSync(join(FLEET, UNIT), 'utf8').split('\n');
    for (const line of [
      'StateDirectory=ah/%i',
      'LogsDirectory=ah/%i',
      'KillMode=mixed',
      'TimeoutStopSec=90s',
      'User=agent-harbor',
      'RestartPreventExitStatus=2',
    ]) {
      expect(unit, line).toContain(line);
    }
    for (const ap of ACCESS_POINTS) {
      const table = toml(`${ap}.toml`).agent['access-point'];
      expect(table['state-dir']).toBe(`/var/lib/ah/${ap}`);
      expect(table['audit-log']).toBe(`/var/log/ah/${ap}/audit.log`);
      // The stop timeout (90 s) outlasts the drain.
      expect(table['drain-timeout']).toBe('60s');
    }
  });
});

describe('deploy/fleet: configuration files', () => {
  it('are one per access point and one for the executors, and pass the configuration schema', () => {
    expect(
      readdirSync(FLEET)
        .filter((f) => f.endsWith('.toml'))
        .sort(),
    ).toEqual([...ACCESS_POINTS.map((ap) => `${ap}.toml`), 'executor.toml'].sort());
    const schema = JSON.parse(readFileSync(join(ROOT, 'schema', 'config.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strictTypes: false, allowUnionTypes: true }).compile(schema);
    for (const file of [...ACCESS_POINTS.map((ap) => `${ap}.toml`), 'executor.toml']) {
      expect(validate(toml(file)), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it("pass every flag's own check, as each daemon reads them", async () => {
    const files = [...ACCESS_POINTS.map((ap) => [`${ap}.toml`, 'access-point']), ['executor.toml', 'enroll']];
    for (const [file, command] of files) {
      const r = await runAh(['config', 'show', 'agent', command!, '--config', join(FLEET, file!)], NO_SCOPES);
      expect(r.stderr, `${file} agent ${command}`).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('name three access points on one roster, each with its own id and address, and the executor lists all three', () => {
    const tables = ACCESS_POINTS.map((ap) => toml(`${ap}.toml`).agent['access-point']);
    expect(tables.map((t) => t['access-point-id'])).toEqual(ACCESS_POINTS);
    expect(new Set(tables.map((t) => t.roster)).size).toBe(1);
    expect(tables[0].roster).toMatch(/^etcd:\/\/[^,]+(,[^,]+){2}$/);
    expect(new Set(tables.map((t) => t['roster-prefix'])).size).toBe(1);
    const addresses = tables.map((t) => t['advertise-address']);
    expect(new Set(addresses).size).toBe(3);
    const executor = toml('executor.toml');
    expect(executor.agent.enroll['remote-server']).toEqual(ACCESS_POINTS);
    expect(executor.server.map((s: { name: string; url: string }) => [s.name, s.url])).toEqual(ACCESS_POINTS.map((ap, i) => [ap, addresses[i]]));
  });
});

describe('deploy/fleet: etcd', () => {
  it.skipIf(skipWithout('etcd'))("sets only settings Debian's etcd has, for a cluster of three members", () => {
    const help = run(requireTool('etcd'), ['--help']);
    const flags = new Set([...`${help.stdout}${help.stderr}`.matchAll(/^\s+--([a-z0-9-]+)/gm)].map((m) => m[1]));
    const env = Object.fromEntries(
      readFileSync(join(FLEET, 'etcd.default'), 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    for (const key of Object.keys(env)) {
      // etcd reads ETCD_<FLAG> for each of its flags: ETCD_DATA_DIR is --data-dir.
      expect(
        flags.has(
          key
            .replace(/^ETCD_/, '')
            .toLowerCase()
            .replaceAll('_', '-'),
        ),
        key,
      ).toBe(true);
    }
    expect(env.ETCD_INITIAL_CLUSTER!.split(',')).toHaveLength(3);
    expect(env.ETCD_INITIAL_CLUSTER).toContain(`${env.ETCD_NAME}=${env.ETCD_INITIAL_ADVERTISE_PEER_URLS}`);
  });
});
