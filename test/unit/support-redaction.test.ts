/**
 * The support bundle's redaction step, fed every secret the project handles (private keys of every
 * PEM type it can meet, Vault tokens old and new, AppRole role and secret IDs, client tokens in a
 * login answer, `X-Vault-Token` and `Authorization` headers, the TLS session keys file, a JWT-SVID)
 * in the shapes they travel in: PEM text, JSON lines, escaped inside JSON strings, env files,
 * command lines, headers. None may survive; the text around them, and the bundle's innocent
 * content (certificates, status, serials, SPIFFE IDs, catalog fixes, paths), must.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redact } from '../../src/support/redact.js';
import { redactConfiguration } from '../../src/support/configuration.js';
import { catalog } from '../../src/errors/catalog.js';
import { base62, newTokenId } from '../support/fake-vault/tokens.js';
import { createRoot, issueLeaf } from '../helpers/pki.js';

/** Private keys as PEM, each type the project or an operator's files can hold. */
function privateKeys(): Record<string, string> {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  const ed = generateKeyPairSync('ed25519').privateKey;
  return {
    pkcs8: ec.export({ type: 'pkcs8', format: 'pem' }) as string,
    sec1: ec.export({ type: 'sec1', format: 'pem' }) as string,
    pkcs1: rsa.export({ type: 'pkcs1', format: 'pem' }) as string,
    encryptedPkcs8: ec.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string,
    legacyEncryptedRsa: rsa.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'pw' }) as string,
    ed25519: ed.export({ type: 'pkcs8', format: 'pem' }) as string,
    // OpenPGP armour has the same shape; its body here is random, as a key's would look.
    openpgp: `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${randomBytes(300).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PGP PRIVATE KEY BLOCK-----\n`,
  };
}

/** The base64 body of a PEM block: what must not be in the output, line by line. */
const bodyLines = (pem: string) =>
  pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----') && !l.includes(':'))
    .filter((l) => l.length >= 16);

describe('support bundle redaction', () => {
  it('removes private keys of every PEM type, whole, escaped in JSON, and cut short', () => {
    for (const [kind, pem] of Object.entries(privateKeys())) {
      const asJsonLine = JSON.stringify({ level: 30, msg: 'material', keyMaterial: pem, note: 'kept' });
      const cut = pem.slice(0, Math.floor(pem.length / 2));
      for (const text of [`before\n${pem}after`, asJsonLine, `truncated: ${cut}`, JSON.stringify({ blob: `x${pem}y` })]) {
        const out = redact(text);
        expect(out, kind).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?!\[redacted\])/);
        for (const line of bodyLines(pem)) expect(out.includes(line), `${kind}: ${line}`).toBe(false);
      }
      expect(redact(`before\n${pem}after`)).toMatch(/^before\n-----BEGIN ([A-Z ]*PRIVATE KEY(?: BLOCK)?)-----\[redacted\]-----END \1-----\nafter$/);
      // JSON stays JSON, with the innocent field intact.
      expect(JSON.parse(redact(asJsonLine))).toMatchObject({ level: 30, msg: 'material', note: 'kept' });
    }
  });

  it('removes Vault tokens, AppRole IDs, client tokens and auth headers in every shape they travel in', () => {
    const token = newTokenId();
    const batch = `hvb.${base62(120)}`;
    const legacy = `s.${base62(24)}`;
    const roleId = randomUUID();
    const secretId = randomUUID();
    const bearer = base62(40);
    const jwt = `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy9haCJ9.${base62(86)}`;
    const sessionKey = randomBytes(48).toString('base64');
    const texts = [
      // env files, as systemd units carry them, and the fake Vault's command line
      `VAULT_TOKEN=${token}\nVAULT_ROLE_ID=${roleId}\nVAULT_SECRET_ID=${secretId}\n`,
      `export VAULT_TOKEN="${legacy}"`,
      `approle: approle role executor role_id=${roleId} secret_id=${secretId}`,
      `fake-vault --role-id ${roleId} --secret-id ${secretId}`.replace('--role-id ', 'role-id: ').replace('--secret-id ', 'secret-id: '),
      // the AppRole login request and Vault's answer, as JSON
      JSON.stringify({ role_id: roleId, secret_id: secretId }),
      JSON.stringify({ auth: { client_token: token, accessor: base62(24), policies: ['default'], lease_duration: 3600 } }),
      JSON.stringify({ credentials: { kind: 'approle', roleId, secretId, mount: 'approle' } }),
      // HTTP, as a proxy or a debug dump shows it
      `PUT /v1/pki/issue/executor HTTP/1.1\r\nX-Vault-Token: ${token}\r\nAuthorization: Bearer ${bearer}\r\n`,
      JSON.stringify({ headers: { 'X-Vault-Token': batch, authorization: `Bearer ${bearer}` } }),
      `curl -H "Authorization: Bearer ${bearer}" https://vault:8200/v1/sys/health`,
      // tokens alone in prose, and a JWT-SVID
      `renewed ${token}; old ${legacy}; batch ${batch}`,
      `svid=${jwt}`,
      `jwt ${jwt} end`,
      // the access point's TLS session keys file, should one be handed over as a log file
      JSON.stringify({ version: 1, keys: [{ id: 'k1', key: sessionKey, createdAt: '2026-01-01T00:00:00Z' }] }),
      `password: hunter2-${bearer}\npassphrase=${bearer}`,
      // escaped inside a JSON string (a log line quoting a request body)
      JSON.stringify({ msg: 'request', body: JSON.stringify({ secret_id: secretId, token }) }),
    ];
    const secrets = [token, batch, legacy, roleId, secretId, bearer, jwt, sessionKey, 'hunter2'];
    for (const text of texts) {
      const out = redact(text);
      for (const s of secrets) expect(out.includes(s), `${s} in ${out}`).toBe(false);
      expect(out).toContain('[redacted]');
      if (text.startsWith('{')) expect(() => JSON.parse(out), out).not.toThrow();
    }
  });

  it('keeps innocent text: certificates, status, serials, SPIFFE IDs, paths, the catalog fixes', async () => {
    const root = await createRoot();
    const leaf = await issueLeaf(root, { cn: 'web-1', uris: ['spiffe://example.org/ah/agent/web-1'], usage: 'client' });
    const status = JSON.stringify({
      name: 'web-1',
      state: 'enrolled',
      remoteServer: 'https://ap.example.com:4433',
      identity: { provider: 'vault', spiffeId: 'spiffe://example.org/ah/agent/web-1', serial: '7F3A01', notAfter: '2026-12-01T00:00:00.000Z' },
      lastError: { code: 'ENROLL_VAULT_AUTH_FAILED', message: 'vault authentication failed: permission denied' },
      spkiSha256: 'sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
      tokenTtlSeconds: 3600,
    });
    const innocent = [
      leaf.certPem,
      root.pem,
      status,
      '{"level":30,"component":"ah_executor","event":"vault_token_renewed","ttl":3600,"msg":"Vault token renewed"}',
      'ah agent enroll --identity vault --vault-role-id-file /etc/ah/role-id --vault-secret-id-file /etc/ah/secret-id',
      'secret_id_ttl=0 secret_id_num_uses=0 token_ttl=1h',
      JSON.stringify({ key: 'vault-secret-id-file', value: '/etc/ah/secret-id', source: 'flag' }),
      'Authorization headers are redacted; a Bearer credential too; see https://127.0.0.1:8200/v1/sys/health',
      ...Object.values(catalog).flatMap((e) => [e.message, ...e.solutions]),
    ];
    for (const text of innocent) expect(redact(text)).toBe(text);
  });

  it("leaves the visualizer's page (its script, styles and drawings) as it is", async () => {
    const { machinesPage } = await import('../../src/visualize/html-page.js');
    const html = await machinesPage();
    expect(redact(html) === html).toBe(true);
  }, 60_000);

  it('redacts a secret setting of a configuration by structure, whatever its shape', () => {
    const secretId = randomUUID();
    const config = {
      settings: [
        { key: 'VAULT_SECRET_ID', value: secretId, source: 'env' },
        { key: 'vault-secret-id-file', value: '/etc/ah/secret-id', source: 'file /etc/agent-harbor/config.toml' },
        { name: 'vault-token', value: 'anything-at-all', source: 'env' },
      ],
      'agent.enroll': { 'secret-id': secretId, 'remote-server': 'https://ap:4433', 'renewal-threshold': 0.7 },
    };
    const out = JSON.stringify(redactConfiguration(config));
    expect(out).not.toContain(secretId);
    expect(out).not.toContain('anything-at-all');
    expect(out).toContain('/etc/ah/secret-id');
    expect(out).toContain('https://ap:4433');
    expect(out).toContain('0.7');
  });
});
