/**
 * Start the fake Vault by hand (see README.md in this folder):
 *
 *   npx tsx test/support/fake-vault/cli.ts --port 8200 --role-id executor-role --secret-id s3cret \
 *     --pki-role executor --allowed-domains executor.example.com --allow-subdomains \
 *     --allowed-uri-sans 'spiffe://example.org/ah/*'
 *
 * Prints the address, tokens and `export` lines; reads commands on stdin (`seal`, `unseal`,
 * `status`, `expire-tokens`, `requests`, `help`); stops on Ctrl-C / SIGTERM / end of stdin
 * (`--no-stdin` keeps it running without a terminal).
 */
import 'reflect-metadata';
import { writeFileSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startFakeVault, type FakeVaultOptions } from './server.js';
import type { PkiRoleConfig } from './pki-rules.js';
import type { AppRoleConfig } from './approle.js';

const USAGE = `usage: npx tsx test/support/fake-vault/cli.ts [options]

listener
  --host H                 listen address (127.0.0.1)
  --port N                 port (8200; 0 = any free port)
  --tls                    serve HTTPS; writes the listener CA to --listener-ca-out
  --listener-ca-out FILE   where to write the listener CA PEM (with --tls)
  --root-token T           root token (root)
  --sealed                 start sealed
  --config FILE            JSON FakeVaultOptions (roles, approle, pki …); flags below override it

approle (one role; use --config for several)
  --approle-mount M        auth mount (approle)
  --approle-role-name R    role name in metadata.role_name (executor)
  --role-id ID             role_id (required unless --config gives approle)
  --secret-id ID           secret_id; repeat for several
  --token-ttl D            token_ttl (e.g. 1h, 90s; default 768h)
  --token-max-ttl D        token_max_ttl (default 768h)
  --secret-id-ttl D        secret_id_ttl (default: never expires)
  --secret-id-num-uses N   secret_id_num_uses (default: unlimited)

pki
  --pki-mount M            mount path (pki)
  --pki-role R             role name (executor)
  --allowed-domains LIST   comma list
  --allow-subdomains       allow_subdomains=true
  --allow-bare-domains     allow_bare_domains=true
  --allow-glob-domains     allow_glob_domains=true
  --allow-any-name         allow_any_name=true
  --allowed-uri-sans LIST  comma list of globs, e.g. 'spiffe://example.org/ah/*'
  --ttl D                  role ttl (default: the mount's 768h)
  --max-ttl D              role max_ttl (default: the mount's 768h)
  --key-type rsa|ec        leaf key type (rsa)
  --key-bits N             leaf key bits (2048 rsa, 256 ec)
  --ca-key-type rsa|ec     CA key type (rsa)
  --no-intermediate        issue from the root (ca_chain = [root])
  --ca-out FILE            write the root CA PEM here (trust anchor for issued certificates)
`;

const { values } = parseArgs({
  options: {
    help: { type: 'boolean' },
    host: { type: 'string' },
    port: { type: 'string' },
    tls: { type: 'boolean' },
    'listener-ca-out': { type: 'string' },
    'root-token': { type: 'string' },
    sealed: { type: 'boolean' },
    config: { type: 'string' },
    'no-stdin': { type: 'boolean' },
    'approle-mount': { type: 'string' },
    'approle-role-name': { type: 'string' },
    'role-id': { type: 'string' },
    'secret-id': { type: 'string', multiple: true },
    'token-ttl': { type: 'string' },
    'token-max-ttl': { type: 'string' },
    'secret-id-ttl': { type: 'string' },
    'secret-id-num-uses': { type: 'string' },
    'pki-mount': { type: 'string' },
    'pki-role': { type: 'string' },
    'allowed-domains': { type: 'string' },
    'allow-subdomains': { type: 'boolean' },
    'allow-bare-domains': { type: 'boolean' },
    'allow-glob-domains': { type: 'boolean' },
    'allow-any-name': { type: 'boolean' },
    'allowed-uri-sans': { type: 'string' },
    ttl: { type: 'string' },
    'max-ttl': { type: 'string' },
    'key-type': { type: 'string' },
    'key-bits': { type: 'string' },
    'ca-key-type': { type: 'string' },
    'no-intermediate': { type: 'boolean' },
    'ca-out': { type: 'string' },
  },
  allowPositionals: false,
});

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const list = (s: string | undefined) =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
const keyType = (s: string | undefined) => {
  if (s === undefined) return undefined;
  if (s !== 'rsa' && s !== 'ec') throw new Error(`--key-type must be rsa or ec, not ${s}`);
  return s;
};

const options: FakeVaultOptions = values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as FakeVaultOptions) : {};
options.host = values.host ?? options.host ?? '127.0.0.1';
options.port = values.port !== undefined ? Number(values.port) : (options.port ?? 8200);
options.rootToken = values['root-token'] ?? options.rootToken ?? 'root';
if (values.sealed) options.sealed = true;
if (values.tls) options.tls = true;

if (values['role-id'] !== undefined) {
  const role: AppRoleConfig = {
    mount: values['approle-mount'],
    roleName: values['approle-role-name'],
    roleId: values['role-id'],
    secretId: values['secret-id'],
    bindSecretId: values['secret-id'] !== undefined,
    tokenTtl: values['token-ttl'],
    tokenMaxTtl: values['token-max-ttl'],
    secretIdTtl: values['secret-id-ttl'],
    secretIdNumUses: values['secret-id-num-uses'] !== undefined ? Number(values['secret-id-num-uses']) : undefined,
  };
  options.approle = [role];
}

const pkiFlagsGiven = [
  'pki-role',
  'allowed-domains',
  'allow-subdomains',
  'allow-bare-domains',
  'allow-glob-domains',
  'allow-any-name',
  'allowed-uri-sans',
  'ttl',
  'max-ttl',
  'key-type',
  'key-bits',
].some((k) => (values as Record<string, unknown>)[k] !== undefined);
if (pkiFlagsGiven || !options.roles) {
  const role: PkiRoleConfig = {
    allowedDomains: list(values['allowed-domains']),
    allowSubdomains: values['allow-subdomains'],
    allowBareDomains: values['allow-bare-domains'],
    allowGlobDomains: values['allow-glob-domains'],
    allowAnyName: values['allow-any-name'],
    allowedUriSans: list(values['allowed-uri-sans']),
    ttl: values.ttl,
    maxTtl: values['max-ttl'],
    keyType: keyType(values['key-type']),
    keyBits: values['key-bits'] !== undefined ? Number(values['key-bits']) : undefined,
  };
  options.roles = { ...options.roles, [values['pki-role'] ?? 'executor']: role };
}
options.pki = {
  ...options.pki,
  ...(values['pki-mount'] !== undefined ? { mount: values['pki-mount'] } : {}),
  ...(values['ca-key-type'] !== undefined ? { caKeyType: keyType(values['ca-key-type']) } : {}),
  ...(values['no-intermediate'] ? { intermediate: false } : {}),
};

const vault = await startFakeVault(options);
if (values['ca-out']) writeFileSync(values['ca-out'], vault.caPem());
if (values['listener-ca-out'] && vault.listenerCaPem()) writeFileSync(values['listener-ca-out'], vault.listenerCaPem()!);

const approles = options.approle === undefined ? [] : Array.isArray(options.approle) ? options.approle : [options.approle as AppRoleConfig];
const mount = options.pki.mount ?? 'pki';
const out: string[] = [
  `fake vault listening on ${vault.url}${vault.sealed ? ' (sealed)' : ''}`,
  `root token: ${vault.rootToken}`,
  `unseal keys (3 of 5): ${vault.unsealKeys.slice(0, 3).join(' ')}`,
  `pki mount: ${mount}, roles: ${Object.keys(options.roles ?? {}).join(', ') || '(none)'} → POST ${vault.url}/v1/${mount}/issue/<role>`,
  ...approles.map(
    (r) =>
      `approle: ${r.mount ?? 'approle'} role ${r.roleName ?? 'executor'} role_id=${r.roleId}${r.secretId ? ` secret_id=${[r.secretId].flat().join(',')}` : ''}`,
  ),
  '',
  `export VAULT_ADDR=${vault.url}`,
  ...(vault.listenerCaPem() && values['listener-ca-out'] ? [`export VAULT_CACERT=${values['listener-ca-out']}`] : []),
  ...(approles[0] ? [`export VAULT_ROLE_ID=${approles[0].roleId}`] : []),
  ...(approles[0]?.secretId ? [`export VAULT_SECRET_ID=${[approles[0].secretId].flat()[0]}`] : []),
  ...(values['ca-out'] ? [`# root CA written to ${values['ca-out']}`] : []),
  '',
  'commands: seal, unseal, status, expire-tokens, requests, help (Ctrl-C stops)',
];
process.stdout.write(`${out.join('\n')}\n`);

async function shutdown(code: number): Promise<never> {
  await vault.stop();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

if (!values['no-stdin']) {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'seal') vault.seal();
    else if (cmd === 'unseal') vault.unseal();
    else if (cmd === 'expire-tokens') process.stdout.write(`expired ${vault.expireAllTokens()} token(s)\n`);
    else if (cmd === 'requests') for (const r of vault.requests) process.stdout.write(`${r.method} ${r.path} token=${r.hadToken} → ${r.status ?? '-'}\n`);
    else if (cmd === 'help') process.stdout.write('seal | unseal | status | expire-tokens | requests\n');
    else if (cmd !== 'status' && cmd !== '') process.stdout.write(`unknown command: ${cmd}\n`);
    if (cmd === 'seal' || cmd === 'unseal' || cmd === 'status') {
      process.stdout.write(`sealed=${vault.sealed} live tokens=${vault.liveTokens().length} issued=${vault.issued.length}\n`);
    }
  });
  rl.on('close', () => void shutdown(0));
}
