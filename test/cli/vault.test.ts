/**
 * The Vault identity against a fake Vault (node:http, Vault's JSON shapes and error strings, a
 * real PKI CA), driven through the real node-vault client by the CLI.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVault, type FakeVault } from '../support/fake-vault/index.js';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';

const AP_ID = 'spiffe://example.org/ah/serve';
const EXECUTOR_ID = 'spiffe://example.org/ah/agent/executor-1';
const EXECUTOR_CREDS = { VAULT_ROLE_ID: 'executor-role-id', VAULT_SECRET_ID: 'executor-secret-id' };
const AP_CREDS = { VAULT_ROLE_ID: 'ap-role-id', VAULT_SECRET_ID: 'ap-secret-id' };

let vault: FakeVault;
let ap: Daemon;
let port: number;

const enrolledLine = isEvent('enrolled');
const rotated = (n: number) => isEvent('rotation_complete', (l) => (l.rotations as number) >= n);

beforeAll(async () => {
  vault = await startFakeVault({
    approle: [
      { roleId: EXECUTOR_CREDS.VAULT_ROLE_ID, secretId: EXECUTOR_CREDS.VAULT_SECRET_ID, roleName: 'executor', tokenTtl: '20m' },
      { roleId: AP_CREDS.VAULT_ROLE_ID, secretId: AP_CREDS.VAULT_SECRET_ID, roleName: 'access-point', tokenTtl: '20m' },
    ],
    pki: { caKeyType: 'ec' },
    roles: {
      executor: {
        allowedDomains: ['executor-1', 'executor-2'],
        allowBareDomains: true,
        allowedUriSans: ['spiffe://example.org/ah/agent/*'],
        keyType: 'ec',
        maxTtl: '1h',
      },
      'access-point': { allowAnyName: true, allowedUriSans: [AP_ID], keyType: 'ec' },
    },
  });
  ap = startAh(
    [
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--identity',
      'vault',
      '--vault-addr',
      vault.url,
      '--vault-role',
      'access-point',
      '--vault-uri-san',
      AP_ID,
      '--executor-san-uri-prefix',
      'spiffe://example.org/ah/agent/',
      '--heartbeat-interval',
      '500ms',
      '--state-dir',
      tempStateDir(),
    ],
    AP_CREDS,
  );
  const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
  port = Number(String(line.address).split(':').pop());
});

afterAll(async () => {
  await stopAll();
  await vault?.stop();
});

function executorArgs(extra: string[] = [], name = 'executor-1'): string[] {
  return [
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${port}`,
    '--name',
    name,
    '--identity',
    'vault',
    '--vault-addr',
    vault.url,
    '--vault-role',
    'executor',
    '--vault-uri-san',
    `spiffe://example.org/ah/agent/${name}`,
    '--expected-server-id',
    AP_ID,
    '--state-dir',
    tempStateDir(),
    ...extra,
  ];
}

describe('Vault identity', () => {
  it('enrolls through Vault on both sides and renews at least twice at threshold 0.5 with no link dropped', async () => {
    // Vault backdates notBefore by 30 s, so a 40 s TTL makes a 70 s certificate renewed 5 s after issue.
    const ex = startAh(executorArgs(['--vault-ttl', '40s', '--vault-renewal-threshold', '0.5', '--log-level', 'info,ah_machine=debug']), EXECUTOR_CREDS);
    const line = await ex.waitForLine(enrolledLine, 'enrolled');
    expect(line.executorId).toBe(EXECUTOR_ID);
    await ex.waitForLine(rotated(2), 'two renewals', 40_000);
    const issued = vault.requests.filter((r) => r.path === '/v1/pki/issue/executor');
    expect(issued.length).toBeGreaterThanOrEqual(3);
    expect(issued[0]!.body).toMatchObject({ common_name: 'executor-1', uri_sans: EXECUTOR_ID, ttl: '40s', private_key_format: 'pkcs8' });
    await ex.stop();
    expect(ex.lines.filter((l) => l.code === 'ENROLL_LINK_LOST' || (l.kind === 'event' && (l.event as { type: string }).type === 'LINK_FAILED'))).toEqual([]);
    // Secrets never reach a log line.
    const all = JSON.stringify(ex.lines);
    expect(all).not.toContain(EXECUTOR_CREDS.VAULT_SECRET_ID);
    expect(all).not.toMatch(/hvs\.[A-Za-z0-9]{8,}/);
  });

  it('keeps the current certificate while Vault is sealed, and renews as soon as it is unsealed', async () => {
    const stateDir = tempStateDir();
    const args = executorArgs(['--vault-ttl', '40s', '--vault-renewal-threshold', '0.5']);
    args.splice(args.indexOf('--state-dir'), 2, '--state-dir', stateDir);
    const ex = startAh(args, EXECUTOR_CREDS);
    const enrolled = await ex.waitForLine(enrolledLine, 'enrolled');
    vault.seal();
    try {
      const failed = await ex.waitForLine(
        isEvent('renewal_failed', (l) => l.code === 'ENROLL_VAULT_SEALED'),
        'the sealed renewal',
        30_000,
      );
      // The catalog's message for the code is part of the line.
      expect(failed.msg).toContain(': vault is sealed');
      await ex.waitForLine(
        isEvent('vault_sealed', (l) => l.level === 40 && l.component === 'ah_identity_provider'),
        'the seal notice',
      );
      const during = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
      expect(during).toMatchObject({
        state: 'renewing',
        rotations: 0,
        identity: { serial: enrolled.serial },
        lastError: { code: 'ENROLL_VAULT_SEALED', message: 'vault is sealed' },
      });
    } finally {
      vault.unseal();
    }
    const unsealedAt = Date.now();
    await ex.waitForLine(isEvent('vault_unsealed'), 'the unseal');
    await ex.waitForLine(rotated(1), 'the renewal after the unseal');
    expect(Date.now() - unsealedAt).toBeLessThan(5_000);
    await ex.stop();
    expect(ex.lines.filter((l) => l.code === 'ENROLL_LINK_LOST')).toEqual([]);
  });

  it('replaces a token that expired without a failed renewal reaching the link', async () => {
    const ex = startAh(executorArgs(['--vault-ttl', '40s', '--vault-renewal-threshold', '0.5', '--log-level', 'info,ah_machine=debug']), EXECUTOR_CREDS);
    await ex.waitForLine(enrolledLine, 'enrolled');
    expect(vault.expireAllTokens()).toBeGreaterThan(0);
    await ex.waitForLine(rotated(1), 'the renewal with a dead token');
    await ex.stop();
    expect(ex.lines.some(isEvent('vault_token_invalid'))).toBe(true);
    expect(ex.lines.filter(isEvent('renewal_failed'))).toEqual([]);
    expect(ex.lines.filter((l) => l.kind === 'event' && /RENEWAL_FAILED|LINK_FAILED/.test((l.event as { type: string }).type))).toEqual([]);
  });

  it('renews a short-lived token before it dies', async () => {
    const shortVault = await startFakeVault({
      approle: { roleId: 'r', secretId: 's', roleName: 'executor', tokenTtl: '3s', tokenMaxTtl: '1h' },
      pki: { caKeyType: 'ec' },
      roles: { executor: { allowAnyName: true, allowedUriSans: ['spiffe://example.org/ah/agent/*'], keyType: 'ec' } },
    });
    try {
      const args = executorArgs().map((a) => (a === vault.url ? shortVault.url : a));
      // Only the token matters here: the access point trusts the other Vault's CA and refuses this
      // executor, which keeps retrying while its provider keeps the token alive.
      const ex = startAh([...args, '--max-attempts', '0'], { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's' });
      const first = await ex.waitForLine(isEvent('vault_token_renewed'), 'a token renewal', 15_000);
      expect(first.ttlSeconds).toBeGreaterThan(0);
      await ex.waitForNewLine(ex.lines.indexOf(first) + 1, isEvent('vault_token_renewed'), 'a second token renewal', 15_000);
      await ex.stop();
      expect(shortVault.requests.filter((r) => r.path === '/v1/auth/approle/login')).toHaveLength(1);
    } finally {
      await shortVault.stop();
    }
  });
});

describe("Vault errors, with the guide's first lines", () => {
  const firstLine = (s: string) => s.split('\n')[0];

  it('bad AppRole credentials: vault authentication failed: … (and shown in status while retrying)', async () => {
    const r = await runAh([...executorArgs(), '--max-attempts', '1'], { ...EXECUTOR_CREDS, VAULT_SECRET_ID: 'wrong' });
    expect(r.code).toBe(1);
    expect(firstLine(r.stderr)).toBe('error: vault authentication failed: invalid role or secret ID');
    expect(r.stderr).toContain('vault login -method=approle role_id=$VAULT_ROLE_ID secret_id=$VAULT_SECRET_ID');
    expect(r.stderr + r.stdout).not.toContain('wrong');
    const stateDir = tempStateDir();
    const args = executorArgs();
    args.splice(args.indexOf('--state-dir'), 2, '--state-dir', stateDir);
    const ex = startAh(args, { ...EXECUTOR_CREDS, VAULT_SECRET_ID: 'wrong' });
    await ex.waitForLine((l) => l.code === 'ENROLL_VAULT_AUTH_FAILED', 'the failure');
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
    expect(status.lastError).toEqual({ code: 'ENROLL_VAULT_AUTH_FAILED', message: 'vault authentication failed: invalid role or secret ID' });
    await ex.stop();
  });

  it("a name the role does not allow: failed to issue certificate: … in Vault's own words on one line", async () => {
    const r = await runAh([...executorArgs([], 'evil'), '--max-attempts', '1'], EXECUTOR_CREDS);
    expect(r.code).toBe(1);
    expect(firstLine(r.stderr)).toBe('error: failed to issue certificate: common name evil not allowed by this role');
    expect(r.stderr).toContain('vault read pki_int/roles/executor');
  });

  it('sealed: vault is sealed', async () => {
    vault.seal();
    try {
      const r = await runAh([...executorArgs(), '--max-attempts', '1'], EXECUTOR_CREDS);
      expect(r.code).toBe(1);
      expect(firstLine(r.stderr)).toBe('error: vault is sealed');
      expect(r.stderr).toContain('vault operator unseal <key1>');
    } finally {
      vault.unseal();
    }
  });

  it('answers that are not what Vault sends give a clear error', async () => {
    const cases = [
      ['html', /^error: unexpected response from vault at http:\/\/127\.0\.0\.1:\d+ for pki\/issue\/executor: not JSON \(<!DOCTYPE html>/],
      ['truncated-json', /^error: unexpected response from vault at http:\/\/127\.0\.0\.1:\d+ for pki\/issue\/executor: not JSON \(/],
      ['no-certificate', /^error: unexpected response from vault at http:\/\/127\.0\.0\.1:\d+ for pki\/issue\/executor: the response has no certificate$/],
    ] as const;
    for (const [fault, line] of cases) {
      vault.failNext(fault, { path: '/issue/' });
      const r = await runAh([...executorArgs(), '--max-attempts', '1'], EXECUTOR_CREDS);
      expect(r.code, fault).toBe(1);
      expect(firstLine(r.stderr), fault).toMatch(line);
    }
  });

  it('honours VAULT_CACERT for a Vault behind HTTPS', async () => {
    const tlsVault = await startFakeVault({
      tls: true,
      approle: { roleId: 'r', secretId: 's', roleName: 'executor' },
      pki: { caKeyType: 'ec' },
      roles: { executor: { allowAnyName: true, allowedUriSans: ['spiffe://example.org/ah/agent/*'], keyType: 'ec' } },
    });
    try {
      const caFile = join(tempStateDir(), 'vault-ca.pem');
      writeFileSync(caFile, tlsVault.listenerCaPem()!);
      const args = executorArgs().map((a) => (a === vault.url ? tlsVault.url : a));
      const without = await runAh([...args, '--max-attempts', '1'], { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's' });
      expect(firstLine(without.stderr)).toMatch(/^error: cannot reach vault at https:\/\/127\.0\.0\.1:\d+: /);
      // With the CA, Vault answers; the access point (another Vault's CA) then refuses the executor.
      const withCa = await runAh([...args, '--max-attempts', '1'], { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's', VAULT_CACERT: caFile });
      expect(firstLine(withCa.stderr)).toMatch(
        /^error: (client certificate rejected: certificate signed by unknown authority|x509: certificate signed by unknown authority)$/,
      );
      expect(tlsVault.requests.some((r) => r.path === '/v1/pki/issue/executor' && r.status === 200)).toBe(true);
    } finally {
      await tlsVault.stop();
    }
  });
});
