/**
 * The fake Vault (test/support/fake-vault) against the real node-vault 0.12.0 client: the shapes,
 * statuses and error strings of docs/vault-api.md, seen the way its §node-vault says node-vault
 * surfaces them (`err.message` = `errors[0]`, `err.response.statusCode`, `err.response.body`).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type TLSSocket } from 'node:tls';
import NodeVault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../../src/x509/peculiar.js';
import { startFakeVault, type FakeVault } from '../support/fake-vault/index.js';

// docs/vault-api.md §node-vault: axios honours HTTP(S)_PROXY; never send loopback through a proxy.
process.env.NO_PROXY = '127.0.0.1,localhost';

const ROLE_ID = 'a8b3c1d2-0000-4000-8000-000000000001';
const SECRET_ID = 'f1e2d3c4-0000-4000-8000-000000000002';

interface ApiError {
  message: string;
  response?: { statusCode: number; body: unknown };
  code?: string;
}

/** The rejection of a node-vault call (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected the call to be rejected');
}

function client(vault: FakeVault, token?: string): NodeVault.client {
  return NodeVault({ endpoint: vault.url, token });
}

/** Parse `ca_chain`-style PEM and check `child` was signed by `parent`. */
function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

let vault: FakeVault;

beforeAll(async () => {
  vault = await startFakeVault({
    roles: {
      executor: {
        allowedDomains: ['executor.example.com', 'internal.example.com'],
        allowSubdomains: true,
        allowedUriSans: ['spiffe://example.org/ah/*'],
        maxTtl: '1h',
      },
      'executor-ec': { allowedDomains: ['executor.example.com'], allowSubdomains: true, keyType: 'ec', ttl: '10m' },
      'no-uri': { allowedDomains: ['executor.example.com'], allowSubdomains: true, allowIpSans: false },
    },
    approle: [
      { roleId: ROLE_ID, secretId: SECRET_ID, tokenTtl: '20m', tokenMaxTtl: '1h', tokenPolicies: ['executor'] },
      { mount: 'ah-approle', roleName: 'access-point', roleId: 'ap-role', secretId: 'ap-secret', tokenTtl: 600 },
      { mount: 'narrow', roleName: 'narrow', roleId: 'narrow-role', secretId: 'narrow-secret', allowedPaths: ['pki/issue/no-uri'] },
    ],
  });
});

afterAll(async () => {
  await vault?.stop();
});

describe('AppRole login', () => {
  it('answers with the token in `auth`, in Vault envelope order, and node-vault adopts the token', async () => {
    const c = client(vault);
    const resp = await c.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
    expect(Object.keys(resp)).toEqual(['request_id', 'lease_id', 'renewable', 'lease_duration', 'data', 'wrap_info', 'warnings', 'auth', 'mount_type']);
    expect(resp).toMatchObject({ lease_id: '', renewable: false, lease_duration: 0, data: null, wrap_info: null, warnings: null });
    expect(Object.keys(resp.auth)).toEqual([
      'client_token',
      'accessor',
      'policies',
      'token_policies',
      'metadata',
      'lease_duration',
      'renewable',
      'entity_id',
      'token_type',
      'orphan',
      'mfa_requirement',
      'num_uses',
    ]);
    expect(resp.auth.client_token).toMatch(/^hvs\.[A-Za-z0-9]{24}$/);
    expect(resp.auth).toMatchObject({
      policies: ['default', 'executor'],
      token_policies: ['default', 'executor'],
      metadata: { role_name: 'executor' },
      lease_duration: 1200,
      renewable: true,
      token_type: 'service',
      orphan: true,
    });
    expect(c.token).toBe(resp.auth.client_token); // §node-vault: approleLogin is a token source
    expect(vault.lookupToken(resp.auth.client_token)?.ttl).toBeGreaterThanOrEqual(1199);
  });

  it('serves a custom mount path (`/v1/auth/<mount>/login`)', async () => {
    const mark = vault.requests.length;
    const resp = await client(vault).approleLogin({ role_id: 'ap-role', secret_id: 'ap-secret', mount_point: 'ah-approle' });
    expect(resp.auth.metadata).toEqual({ role_name: 'access-point' });
    expect(resp.auth.lease_duration).toBe(600);
    const rec = await vault.waitForRequest((r) => r.path === '/v1/auth/ah-approle/login', { from: mark });
    expect(rec).toMatchObject({ method: 'POST', status: 200, hadToken: false });
    // The role_id of one mount is unknown on another.
    const err = await rejection(client(vault).approleLogin({ role_id: 'ap-role', secret_id: 'ap-secret' }));
    expect(err.response?.statusCode).toBe(400);
    expect(err.message).toBe('invalid role or secret ID');
  });

  it('refuses bad credentials with 400 and Vault’s words', async () => {
    const c = client(vault);
    for (const creds of [
      { role_id: ROLE_ID, secret_id: 'wrong' },
      { role_id: 'no-such-role', secret_id: SECRET_ID },
    ]) {
      const err = await rejection(c.approleLogin(creds));
      expect(err.response?.statusCode).toBe(400);
      expect(err.message).toBe('invalid role or secret ID');
      expect(err.response?.body).toEqual({ errors: ['invalid role or secret ID'] });
    }
    const missingSecret = await rejection(c.approleLogin({ role_id: ROLE_ID }));
    expect([missingSecret.response?.statusCode, missingSecret.message]).toEqual([400, 'missing secret_id']);
    // node-vault's schema stops a missing role_id before any request (§node-vault), so send it raw.
    const missingRole = await rejection(c.write('auth/approle/login', { secret_id: SECRET_ID }));
    expect([missingRole.response?.statusCode, missingRole.message]).toEqual([400, 'missing role_id']);
    expect(c.token).toBeUndefined();
  });

  it('ignores a dead X-Vault-Token on the login path (node-vault keeps sending the old one)', async () => {
    const c = client(vault);
    await c.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
    const old = c.token;
    vault.expireToken(old);
    const mark = vault.requests.length;
    const again = await c.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
    expect(again.auth.client_token).not.toBe(old);
    const rec = await vault.waitForRequest((r) => r.path === '/v1/auth/approle/login', { from: mark });
    expect(rec.hadToken).toBe(true);
    expect(rec.token).toBe(old);
  });

  it('honours secret_id_num_uses and secret_id_ttl', async () => {
    let now = Date.now();
    const v = await startFakeVault({
      now: () => now,
      pki: { caKeyType: 'ec', intermediate: false },
      approle: { roleId: 'r', secretIdNumUses: 1, secretIdTtl: '60s' },
    });
    try {
      v.addSecretId('once');
      v.addSecretId('short', { numUses: 0 });
      const c = client(v);
      await c.approleLogin({ role_id: 'r', secret_id: 'once' });
      expect((await rejection(c.approleLogin({ role_id: 'r', secret_id: 'once' }))).message).toBe('invalid role or secret ID');
      await c.approleLogin({ role_id: 'r', secret_id: 'short' });
      now += 61_000;
      const expired = await rejection(c.approleLogin({ role_id: 'r', secret_id: 'short' }));
      expect([expired.response?.statusCode, expired.message]).toEqual([400, 'invalid role or secret ID']);
    } finally {
      await v.stop();
    }
  });
});

describe('PKI issue', () => {
  let token: string;
  beforeAll(async () => {
    token = (await client(vault).approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID })).auth.client_token;
  });

  it('issues a real certificate that chains to issuing_ca and ca_chain, with a matching PKCS#8 key', async () => {
    const c = client(vault, token);
    const resp = await c.write('pki/issue/executor', {
      common_name: 'executor-1.executor.example.com',
      uri_sans: 'spiffe://example.org/ah/agent/executor-1',
      ttl: '30m',
      private_key_format: 'pkcs8',
    });
    expect(resp).toMatchObject({ lease_id: '', renewable: false, lease_duration: 0, warnings: null, auth: null, mount_type: 'pki' });
    const d = resp.data;
    // Go encodes `data` (a map) with sorted keys.
    expect(Object.keys(d)).toEqual(['ca_chain', 'certificate', 'expiration', 'issuing_ca', 'private_key', 'private_key_type', 'serial_number']);
    expect(d.private_key).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----$/); // trimmed, as Vault does
    expect(d.private_key_type).toBe('rsa');
    expect(d.serial_number).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2})+$/);

    const leaf = new X509Certificate(d.certificate);
    const issuing = new X509Certificate(d.issuing_ca);
    const chain = (d.ca_chain as string[]).map((p) => new X509Certificate(p));
    expect(chain).toHaveLength(2);
    expect(chain[0]!.fingerprint256).toBe(issuing.fingerprint256); // issuing CA first …
    expect(chain[1]!.fingerprint256).toBe(new X509Certificate(vault.caPem()).fingerprint256); // … root last
    expect(signedBy(leaf, issuing)).toBe(true);
    expect(signedBy(issuing, chain[1]!)).toBe(true);
    expect(signedBy(chain[1]!, chain[1]!)).toBe(true);

    const key: KeyObject = createPrivateKey(d.private_key);
    expect(leaf.checkPrivateKey(key)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.subject).toBe('CN=executor-1.executor.example.com');
    expect(leaf.subjectAltName).toBe('DNS:executor-1.executor.example.com, URI:spiffe://example.org/ah/agent/executor-1');
    expect(leaf.serialNumber.toLowerCase().replace(/^0+/, '')).toBe(d.serial_number.replace(/:/g, '').replace(/^0+/, ''));
    expect(d.expiration).toBe(Math.floor(new Date(leaf.validTo).getTime() / 1000));
    const lifetime = new Date(leaf.validTo).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(29 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(30 * 60_000);
    // Vault backdates notBefore by 30s and leaves BasicConstraints out of leaf certificates.
    expect(Date.now() - new Date(leaf.validFrom).getTime()).toBeGreaterThanOrEqual(29_000);
    const parsed = new x509.X509Certificate(d.certificate);
    expect(parsed.getExtension(x509.BasicConstraintsExtension)).toBeNull();
    expect(parsed.getExtension(x509.KeyUsagesExtension)?.critical).toBe(true);

    const issued = vault.issued.at(-1)!;
    expect(issued).toMatchObject({ role: 'executor', serialNumber: d.serial_number, uris: ['spiffe://example.org/ah/agent/executor-1'] });
  });

  it('gives a PKCS#1 / SEC1 key by default, and base64 DER with format=der', async () => {
    const c = client(vault, token);
    const rsa = await c.write('pki/issue/executor', { common_name: 'a.executor.example.com' });
    expect(rsa.data.private_key).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    const ec = await c.write('pki/issue/executor-ec', { common_name: 'b.executor.example.com' });
    expect(ec.data.private_key).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    expect(ec.data.private_key_type).toBe('ec');
    expect(new X509Certificate(ec.data.certificate).checkPrivateKey(createPrivateKey(ec.data.private_key))).toBe(true);
    const der = await c.write('pki/issue/executor-ec', { common_name: 'c.executor.example.com', format: 'der', private_key_format: 'pkcs8' });
    const leaf = new X509Certificate(Buffer.from(der.data.certificate, 'base64'));
    const key = createPrivateKey({ key: Buffer.from(der.data.private_key, 'base64'), format: 'der', type: 'pkcs8' });
    expect(leaf.checkPrivateKey(key)).toBe(true);
    expect(signedBy(leaf, new X509Certificate(Buffer.from(der.data.issuing_ca, 'base64')))).toBe(true);
  });

  it('serves the issuer-ref form and refuses an unknown issuer', async () => {
    const c = client(vault, token);
    const resp = await c.write('pki/issuer/default/issue/executor', { common_name: 'd.executor.example.com' });
    expect(signedBy(new X509Certificate(resp.data.certificate), new X509Certificate(vault.issuingCaPem()))).toBe(true);
    const err = await rejection(c.write('pki/issuer/nope/issue/executor', { common_name: 'd.executor.example.com' }));
    expect(err.response?.statusCode).toBe(500);
    expect(err.message).toBe('1 error occurred:\n\t* could not fetch the CA certificate (was one set?): unable to find PKI issuer for reference: nope\n\n');
  });

  it('issues certificates a real TLS handshake accepts against caPem()', async () => {
    const c = client(vault, token);
    const d = (await c.write('pki/issue/executor', { common_name: 'ap.internal.example.com', ttl: '5m' })).data;
    const server = createServer({ cert: [d.certificate, ...d.ca_chain.slice(0, -1)].join('\n'), key: d.private_key }, (s) => s.end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as { port: number };
      const sock: TLSSocket = connect({ host: '127.0.0.1', port, ca: vault.caPem(), servername: 'ap.internal.example.com' });
      await once(sock, 'secureConnect');
      expect(sock.authorized).toBe(true);
      sock.destroy();
    } finally {
      server.close();
    }
  });

  it('refuses names and SANs outside the role with Vault’s exact 400 messages', async () => {
    const c = client(vault, token);
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['executor', { common_name: 'evil.com' }, 'common name evil.com not allowed by this role'],
      ['executor', { common_name: 'executor.example.com' }, 'common name executor.example.com not allowed by this role'], // bare domain needs allow_bare_domains
      ['executor', { common_name: 'a.executor.example.com', alt_names: 'x.evil.com' }, 'subject alternate name x.evil.com not allowed by this role'],
      ['executor', { common_name: 'a.executor.example.com', alt_names: 'bad_name' }, 'idna: disallowed rune U+005F'],
      [
        'executor',
        { common_name: 'a.executor.example.com', uri_sans: 'spiffe://other.org/x' },
        'URI Subject Alternative Names were provided via the API which are not valid for this role',
      ],
      [
        'no-uri',
        { common_name: 'a.executor.example.com', uri_sans: ['spiffe://example.org/ah/x'] },
        'URI Subject Alternative Names are not allowed in this role, but were provided via the API',
      ],
      [
        'no-uri',
        { common_name: 'a.executor.example.com', ip_sans: '10.0.0.1,10.0.0.2' },
        'IP Subject Alternative Names are not allowed in this role, but was provided [10.0.0.1 10.0.0.2]',
      ],
      [
        'executor',
        {},
        'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
      ],
      ['executor', { common_name: 'a.executor.example.com', format: 'p12' }, 'the "format" path parameter must be "pem", "der", or "pem_bundle"'],
      ['nope', { common_name: 'a.executor.example.com' }, 'unknown role: nope'],
    ];
    for (const [role, body, message] of cases) {
      const err = await rejection(c.write(`pki/issue/${role}`, body));
      expect({ role, body, status: err.response?.statusCode, message: err.message }).toEqual({ role, body, status: 400, message });
      expect(err.response?.body).toEqual({ errors: [message] });
    }
  });

  it('clamps a TTL above max_ttl with Vault’s warning, and uses the role ttl when none is asked', async () => {
    const c = client(vault, token);
    const resp = await c.write('pki/issue/executor', { common_name: 'a.executor.example.com', ttl: '2h' });
    expect(resp.warnings).toEqual(['TTL "2h0m0s" is longer than permitted maxTTL "1h0m0s", so maxTTL is being used']);
    const life = new Date(new X509Certificate(resp.data.certificate).validTo).getTime() - Date.now();
    expect(life).toBeGreaterThan(59 * 60_000);
    expect(life).toBeLessThanOrEqual(60 * 60_000);
    const seconds = await c.write('pki/issue/executor', { common_name: 'a.executor.example.com', ttl: 5400 });
    expect(seconds.warnings).toEqual(['TTL "1h30m0s" is longer than permitted maxTTL "1h0m0s", so maxTTL is being used']);
    const byRole = await c.write('pki/issue/executor-ec', { common_name: 'a.executor.example.com' });
    expect(byRole.warnings).toBeNull();
    expect(byRole.data.expiration - Math.floor(Date.now() / 1000)).toBeGreaterThan(9 * 60);
    expect(byRole.data.expiration - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(10 * 60);
  });

  it('refuses a TTL past the CA’s expiry (leaf_not_after_behavior=err)', async () => {
    const v = await startFakeVault({
      pki: { caKeyType: 'ec', intermediate: false, rootTtl: '2h' },
      roles: { r: { allowAnyName: true, keyType: 'ec' } },
    });
    try {
      const err = await rejection(client(v, v.rootToken).write('pki/issue/r', { common_name: 'x', ttl: '3h' }));
      expect(err.response?.statusCode).toBe(400);
      expect(err.message).toMatch(
        /^cannot satisfy request, as TTL would result in notAfter of \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z that is beyond the expiration of the CA certificate at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
      );
      // Root-only mount: ca_chain is just the root.
      const ok = await client(v, v.rootToken).write('pki/issue/r', { common_name: 'x', ttl: '1h' });
      expect(ok.data.ca_chain).toEqual([v.caPem().trim()]);
      expect(ok.data.issuing_ca).toBe(v.caPem().trim());
    } finally {
      await v.stop();
    }
  });
});

describe('tokens (§Errors and status codes, §Token lookup and renewal)', () => {
  it('lookup-self puts the TTL in data.ttl; renew-self answers in auth and caps at max TTL with a warning', async () => {
    const c = client(vault);
    await c.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
    const look = await c.tokenLookupSelf();
    expect(look.auth).toBeNull();
    expect(look.data).toMatchObject({
      id: c.token,
      creation_ttl: 1200,
      display_name: 'approle',
      path: 'auth/approle/login',
      meta: { role_name: 'executor' },
      renewable: true,
      type: 'service',
      explicit_max_ttl: 0,
    });
    expect(look.data.ttl).toBeGreaterThanOrEqual(1199);
    expect(look.data.expire_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    const renewed = await c.tokenRenewSelf({ increment: '30m' });
    expect(renewed.data).toBeNull();
    expect(renewed.auth).toMatchObject({ client_token: c.token, lease_duration: 1800, renewable: true, metadata: { role_name: 'executor' } });
    expect(renewed.warnings).toBeNull();

    // No increment → the role's token_ttl again.
    expect((await c.tokenRenewSelf()).auth.lease_duration).toBe(1200);

    // Beyond token_max_ttl (1h from creation): granted less than asked, and told so.
    const capped = await c.tokenRenewSelf({ increment: '2h' });
    expect(capped.auth.lease_duration).toBeLessThanOrEqual(3600);
    expect(capped.auth.lease_duration).toBeGreaterThan(3590);
    expect(capped.warnings).toEqual([
      `TTL of "2h0m0s" exceeded the effective max_ttl of "${capped.auth.lease_duration === 3600 ? '1h0m0s' : `59m${capped.auth.lease_duration - 3540}s`}"; TTL value is capped accordingly`,
    ]);
    expect(vault.lookupToken(c.token)?.renewals).toBe(3);
  });

  it('a token past its TTL is 403 "permission denied" + "invalid token"; no token is 403 "permission denied"', async () => {
    let now = Date.now();
    const v = await startFakeVault({
      now: () => now,
      pki: { caKeyType: 'ec', intermediate: false },
      roles: { r: { allowAnyName: true, keyType: 'ec' } },
      approle: { roleId: 'r', secretId: 's', tokenTtl: '10s' },
    });
    try {
      const c = client(v);
      const login = await c.approleLogin({ role_id: 'r', secret_id: 's' });
      expect(login.auth.lease_duration).toBe(10);
      now += 5_000;
      expect((await c.tokenLookupSelf()).data.ttl).toBe(5);
      now += 5_000;
      for (const call of [() => c.tokenLookupSelf(), () => c.tokenRenewSelf(), () => c.write('pki/issue/r', { common_name: 'x' })]) {
        const err = await rejection(call());
        expect(err.response?.statusCode).toBe(403);
        expect(err.message).toBe('2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n');
        expect(err.response?.body).toEqual({ errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'] });
      }
      const anonymous = await rejection(client(v).write('pki/issue/r', { common_name: 'x' }));
      expect([anonymous.response?.statusCode, anonymous.message]).toEqual([403, '1 error occurred:\n\t* permission denied\n\n']);
      const garbage = await rejection(client(v, 'hvs.not-a-token').tokenLookupSelf());
      expect(garbage.message).toBe('2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n');
    } finally {
      await v.stop();
    }
  });

  it('expireToken() kills a token at once; a policy that does not cover the path is 403 "permission denied"', async () => {
    const c = client(vault);
    await c.approleLogin({ role_id: 'narrow-role', secret_id: 'narrow-secret', mount_point: 'narrow' });
    await c.write('pki/issue/no-uri', { common_name: 'n.executor.example.com' }); // allowed
    const denied = await rejection(c.write('pki/issue/executor', { common_name: 'n.executor.example.com' }));
    expect([denied.response?.statusCode, denied.message]).toEqual([403, '1 error occurred:\n\t* permission denied\n\n']);
    await c.tokenLookupSelf(); // the default policy always allows lookup-self
    expect(vault.expireToken(c.token)).toBe(true);
    const dead = await rejection(c.tokenLookupSelf());
    expect([dead.response?.statusCode, dead.message]).toEqual([403, '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n']);
  });

  it('createToken() makes a VAULT_TOKEN-style token; unknown paths are 404 with the router’s sentence', async () => {
    const t = vault.createToken({ ttl: '1h', policies: ['ops'] });
    const c = client(vault, t);
    expect((await c.tokenLookupSelf()).data).toMatchObject({ policies: ['default', 'ops'], path: 'auth/token/create', creation_ttl: 3600 });
    const err = await rejection(c.read('secret/data/x'));
    expect(err.response?.statusCode).toBe(404);
    expect(err.message).toBe('no handler for route "secret/data/x". route entry not found.');
    const inMount = await rejection(c.read('pki/nothing'));
    expect([inMount.response?.statusCode, inMount.message]).toEqual([404, '1 error occurred:\n\t* unsupported path\n\n']);
  });
});

describe('seal (§Errors and status codes, §Seal status)', () => {
  it('sealed: 503 {"errors":["Vault is sealed"]} everywhere but seal-status, which is 200 both ways', async () => {
    const c = client(vault);
    await c.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
    const unsealed = await c.status();
    expect(unsealed).toMatchObject({ type: 'shamir', initialized: true, sealed: false, t: 3, n: 5, progress: 0 });
    expect(Object.keys(unsealed)).toEqual([
      'type',
      'initialized',
      'sealed',
      't',
      'n',
      'progress',
      'nonce',
      'version',
      'build_date',
      'migration',
      'cluster_name',
      'cluster_id',
      'recovery_seal',
      'storage_type',
    ]);

    vault.seal();
    try {
      const calls = [
        () => c.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID }),
        () => c.write('pki/issue/executor', { common_name: 'a.executor.example.com' }),
        () => c.tokenLookupSelf(),
        () => c.tokenRenewSelf({ increment: '1h' }),
        () => c.read('no/such/mount'),
        () => client(vault).write('pki/issue/executor', { common_name: 'a.executor.example.com' }), // no token: still 503 first
      ];
      for (const call of calls) {
        const err = await rejection(call());
        expect(err.response?.statusCode).toBe(503);
        expect(err.message).toBe('Vault is sealed');
        expect(err.response?.body).toEqual({ errors: ['Vault is sealed'] });
      }
      const sealed = await c.status();
      expect(sealed).toMatchObject({ sealed: true });
      expect(sealed).not.toHaveProperty('cluster_name');
      // node-vault does not reject sys/health's 503 (§node-vault); the body says sealed.
      expect(await c.health()).toMatchObject({ sealed: true, initialized: true });
    } finally {
      vault.unseal();
    }
    // Tokens survive a seal, as in Vault.
    expect((await c.tokenLookupSelf()).data.id).toBe(c.token);
  });

  it('unseals through PUT /v1/sys/unseal with 3 of the 5 keys', async () => {
    const v = await startFakeVault({ sealed: true, pki: { caKeyType: 'ec', intermediate: false } });
    try {
      const c = client(v);
      expect((await c.unseal({ key: v.unsealKeys[0] })).progress).toBe(1);
      expect((await c.unseal({ key: v.unsealKeys[3] })).sealed).toBe(true);
      const done = await c.unseal({ key: v.unsealKeys[4] });
      expect(done).toMatchObject({ sealed: false, progress: 0 });
      expect(v.sealed).toBe(false);
    } finally {
      await v.stop();
    }
  });
});

describe('malformed answers (issue 6 item 4)', () => {
  let c: NodeVault.client;
  beforeAll(async () => {
    c = client(vault);
    await c.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
  });
  const issue = () => c.write('pki/issue/executor', { common_name: 'm.executor.example.com' });

  it('html: a 200 text/html page that node-vault resolves as a string', async () => {
    const before = vault.issued.length;
    vault.failNext('html', { path: '/issue/' });
    const body = await issue();
    expect(typeof body).toBe('string');
    expect(body).toMatch(/^<!DOCTYPE html>/);
    expect(vault.issued.length).toBe(before); // the proxy answered; Vault never saw it
    vault.failNext('html', { status: 502 });
    const err = await rejection(c.tokenLookupSelf());
    expect([err.response?.statusCode, err.message]).toEqual([502, 'Status 502']);
  });

  it('truncated-json: Vault issued, the answer was cut; node-vault resolves with unparsable text', async () => {
    const before = vault.issued.length;
    vault.failNext('truncated-json');
    const body = await issue();
    expect(typeof body).toBe('string');
    expect(() => JSON.parse(body)).toThrow();
    expect(body.startsWith('{"request_id":')).toBe(true);
    expect(vault.issued.length).toBe(before + 1);
  });

  it('no-certificate: a 200 envelope whose data lacks the certificate; only the matching request is hit', async () => {
    vault.failNext('no-certificate', { path: /\/pki\/issue\// });
    await c.tokenLookupSelf(); // does not match: untouched
    const body = await issue();
    expect(body.data).not.toHaveProperty('certificate');
    expect(body.data.private_key).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect((await issue()).data.certificate).toMatch(/^-----BEGIN CERTIFICATE-----/); // times: 1
  });

  it('custom status/body, mutate, empty-body and reset', async () => {
    vault.failNext({ status: 502, body: 'Bad Gateway\n', contentType: 'text/plain' });
    const bad = await rejection(issue());
    expect(bad.response).toEqual({ statusCode: 502, body: 'Bad Gateway\n' });
    expect(bad.message).toBe('Status 502');

    vault.failNext({ mutate: (b) => ({ ...b, data: { ...(b.data as object), certificate: 'not a pem' } }) });
    expect((await issue()).data.certificate).toBe('not a pem');

    vault.failNext('empty-body');
    expect(await issue()).toBe('');

    const mark = vault.requests.length;
    vault.failNext('reset');
    const reset = await rejection(issue());
    expect(reset.response).toBeUndefined();
    expect(reset.code).toBe('ECONNRESET');
    const rec = await vault.waitForRequest((r) => r.fault === 'reset', { from: mark });
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/pki/issue/executor', hadToken: true, status: undefined });
  });

  it('hang: no answer at all, so the client’s own timeout fires; stop() frees the connection', async () => {
    const v = await startFakeVault({ pki: { caKeyType: 'ec', intermediate: false } });
    try {
      v.failNext('hang', { path: 'seal-status' });
      const slow = NodeVault({ endpoint: v.url, requestOptions: { timeout: 300 } });
      const err = await rejection(slow.status());
      expect(err.response).toBeUndefined();
      expect(err.code).toBe('ECONNABORTED');
      expect(err.message).toBe('timeout of 300ms exceeded');
      expect(v.requests.at(-1)).toMatchObject({ path: '/v1/sys/seal-status', fault: 'hang', status: undefined });
      expect((await slow.status()).sealed).toBe(false); // the fault was for one request only
    } finally {
      await v.stop();
    }
  });
});

describe('request log and TLS listener', () => {
  it('records method, path, whether a token was sent, and the status', async () => {
    const mark = vault.requests.length;
    const c = client(vault);
    await c.status();
    await rejection(c.tokenLookupSelf());
    const log = vault.requests.slice(mark).map((r) => [r.method, r.path, r.hadToken, r.status]);
    expect(log).toEqual([
      ['GET', '/v1/sys/seal-status', false, 200],
      ['GET', '/v1/auth/token/lookup-self', false, 403],
    ]);
  });

  it('with tls: true, serves HTTPS that node-vault reaches only when given listenerCaPem() (VAULT_CACERT)', async () => {
    const v = await startFakeVault({ tls: true, pki: { caKeyType: 'ec', intermediate: false } });
    try {
      expect(v.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const trusted = NodeVault({ endpoint: v.url, requestOptions: { ca: v.listenerCaPem() } });
      expect((await trusted.status()).sealed).toBe(false);
      const untrusted = await rejection(NodeVault({ endpoint: v.url }).status());
      expect(untrusted.response).toBeUndefined();
      expect(untrusted.code).toMatch(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
    } finally {
      await v.stop();
    }
  });
});
