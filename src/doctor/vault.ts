/**
 * The Vault identity, as the guide checks it by hand (`vault status`, `vault login -method=approle`,
 * `vault token lookup`, `vault write pki_int/issue/...`): Vault answers, it is unsealed, the
 * credentials give a token (and for how long), and the PKI role issues a certificate that verifies.
 * One login only, with the same node-vault client the provider uses: a secret ID with a use limit
 * is not spent twice.
 */
import NodeVault from 'node-vault';
import { AhError } from '../errors/ah-error.js';
import type { VaultIdentityConfig } from '../providers/index.js';
import { verifyIssueResponse } from '../providers/vault/issue-response.js';
import { vaultErrorToCatalog } from '../providers/vault/vault-errors.js';
import { formatDuration } from '../util/duration.js';
import { distinguishedName, serialOf, subjectAltNames } from '../x509/certificate.js';
import type { DoctorSession, VaultMaterial, VaultProbe } from './session.js';
import { fail, pass, skip, type Check } from './types.js';

/** The same verification the provider applies before it uses what Vault issued. */
function toMaterial(body: unknown, where: { addr: string; path: string }): VaultMaterial {
  const { certPem, keyPem, bundlePem, leaf } = verifyIssueResponse(body, where);
  return { certPem, keyPem, bundlePem, leaf };
}

/**
 * The guide's Vault checks in the order an operator runs them by hand (reachable and unsealed,
 * then a token, then an issue); each step needs the one before, so they stay in one function.
 */
export async function probeVault(config: VaultIdentityConfig, commonName: string, timeoutMs: number): Promise<VaultProbe> {
  const addr = config.addr;
  const path = config.path ?? `pki/issue/${config.role}`;
  const where = { addr, path };
  const origin = `Vault ${addr} ${path}`;
  const creds = config.credentials;
  const client = NodeVault({
    endpoint: addr,
    apiVersion: 'v1',
    ...(creds.kind === 'token' ? { token: creds.token } : {}),
    requestOptions: { timeout: timeoutMs, ...(config.caCertPem ? { ca: config.caCertPem } : {}) },
  });
  const result = (reach: VaultProbe['reach'], token: VaultProbe['token'], issue: VaultProbe['issue']): VaultProbe => ({
    addr,
    path,
    reach,
    token,
    issue,
    origin,
    material: issue.ok ? issue.value : null,
    materialError: issue.ok === false ? issue.error : token.ok === false ? token.error : reach.ok === false ? reach.error : sealedError(reach),
  });

  let reach: VaultProbe['reach'];
  try {
    const s = (await client.status()) as { sealed?: unknown; version?: unknown } | string;
    if (!s || typeof s !== 'object' || typeof s.sealed !== 'boolean') {
      throw new AhError('ENROLL_VAULT_BAD_RESPONSE', {
        addr,
        path: 'sys/seal-status',
        detail: typeof s === 'string' ? `not JSON (${s.trim().slice(0, 60).replace(/\s+/g, ' ')}…)` : 'no seal status',
      });
    }
    reach = { ok: true, value: { sealed: s.sealed, version: typeof s.version === 'string' ? s.version : null } };
  } catch (err) {
    reach = { ok: false, error: err instanceof AhError ? err : vaultErrorToCatalog(err, 'token', { addr, path: 'sys/seal-status' }) };
  }
  if (!reach.ok) return result(reach, { ok: null, reason: 'Vault cannot be reached' }, { ok: null, reason: 'Vault cannot be reached' });
  if (reach.value.sealed) return result(reach, { ok: null, reason: 'Vault is sealed' }, { ok: null, reason: 'Vault is sealed' });

  let token: VaultProbe['token'];
  try {
    let how: string;
    if (creds.kind === 'approle') {
      const res = (await client.approleLogin({ role_id: creds.roleId, secret_id: creds.secretId, mount_point: creds.mount })) as {
        auth?: { client_token?: string };
      };
      if (!res?.auth?.client_token)
        throw new AhError('ENROLL_VAULT_BAD_RESPONSE', { addr, path: `auth/${creds.mount}/login`, detail: 'the login response has no auth' });
      how = `AppRole login (auth/${creds.mount})`;
    } else {
      how = 'VAULT_TOKEN';
    }
    let lookup: { data?: { ttl?: number; renewable?: boolean; policies?: string[] } };
    try {
      lookup = (await client.tokenLookupSelf()) as typeof lookup;
    } catch (err) {
      throw vaultErrorToCatalog(err, 'token', { addr, path: 'auth/token/lookup-self' });
    }
    token = {
      ok: true,
      value: { how, ttlSeconds: Number(lookup?.data?.ttl ?? 0), renewable: Boolean(lookup?.data?.renewable), policies: lookup?.data?.policies ?? [] },
    };
  } catch (err) {
    token = {
      ok: false,
      error: err instanceof AhError ? err : vaultErrorToCatalog(err, 'login', { addr, path: `auth/${creds.kind === 'approle' ? creds.mount : 'token'}` }),
    };
  }
  if (!token.ok) return result(reach, token, { ok: null, reason: 'no Vault token' });

  let issue: VaultProbe['issue'];
  try {
    const body = await client.write(path, {
      common_name: commonName,
      ...(config.uriSan ? { uri_sans: config.uriSan } : {}),
      ttl: `${Math.max(1, Math.round((config.ttlMs ?? 3_600_000) / 1000))}s`,
      format: 'pem',
      private_key_format: 'pkcs8',
    });
    issue = { ok: true, value: toMaterial(body, where) };
  } catch (err) {
    issue = { ok: false, error: err instanceof AhError ? err : vaultErrorToCatalog(err, 'issue', where) };
  }
  return result(reach, token, issue);
}

function sealedError(reach: VaultProbe['reach']): AhError | undefined {
  return reach.ok && reach.value.sealed ? new AhError('ENROLL_VAULT_SEALED') : undefined;
}

const notVault = (ctx: DoctorSession) => skip(`the identity is ${ctx.config.identity.kind}, not vault`);

export const vaultReachableCheck: Check<DoctorSession> = {
  name: 'vault.reachable',
  title: 'Vault reachable',
  async run(ctx) {
    if (ctx.config.identity.kind !== 'vault') return notVault(ctx);
    const probe = await ctx.vault();
    if (probe.reach.ok === false) return fail(probe.reach.error, probe.reach.error.message);
    if (probe.reach.ok === null) return skip(probe.reach.reason);
    return pass(`${probe.addr} answers${probe.reach.value.version ? ` (Vault ${probe.reach.value.version})` : ''}`);
  },
};

export const vaultSealCheck: Check<DoctorSession> = {
  name: 'vault.seal',
  title: 'Vault unsealed',
  async run(ctx) {
    if (ctx.config.identity.kind !== 'vault') return notVault(ctx);
    const probe = await ctx.vault();
    if (probe.reach.ok !== true) return skip('Vault cannot be reached (see Vault reachable)');
    if (probe.reach.value.sealed) return fail(new AhError('ENROLL_VAULT_SEALED'), `${probe.addr} is sealed: it issues nothing until it is unsealed`);
    return pass(`${probe.addr} is unsealed`);
  },
};

export const vaultTokenCheck: Check<DoctorSession> = {
  name: 'vault.token',
  title: 'Vault token',
  async run(ctx) {
    if (ctx.config.identity.kind !== 'vault') return notVault(ctx);
    const probe = await ctx.vault();
    if (probe.token.ok === null) return skip(probe.token.reason);
    if (!probe.token.ok) return fail(probe.token.error, probe.token.error.message);
    const t = probe.token.value;
    const ttl = t.ttlSeconds > 0 ? `TTL ${formatDuration(t.ttlSeconds * 1000)}` : 'no TTL (does not expire)';
    return pass(
      `${t.how}: token valid, ${ttl}, ${t.renewable ? 'renewable' : 'not renewable'}${t.policies.length ? `, policies ${t.policies.join(', ')}` : ''}`,
      {
        details: { ttlSeconds: t.ttlSeconds, renewable: t.renewable, policies: t.policies },
      },
    );
  },
};

export const vaultIssueCheck: Check<DoctorSession> = {
  name: 'vault.issue',
  title: 'Vault role can issue',
  async run(ctx) {
    if (ctx.config.identity.kind !== 'vault') return notVault(ctx);
    const probe = await ctx.vault();
    if (probe.issue.ok === null) return skip(probe.issue.reason);
    if (!probe.issue.ok) return fail(probe.issue.error, probe.issue.error.message);
    const leaf = probe.issue.value.leaf;
    const san = subjectAltNames(leaf);
    const names = [...san.uris, ...san.dns].join(', ') || distinguishedName(leaf.subject);
    return pass(`${probe.path} issued serial ${serialOf(leaf)} for ${names} (valid until ${new Date(leaf.validTo).toISOString()}); key and chain verified`);
  },
};
