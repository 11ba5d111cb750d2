/**
 * Vault credentials: an AppRole (VAULT_ROLE_ID/VAULT_SECRET_ID, or files named by
 * --vault-role-id-file/--vault-secret-id-file, read once at start) or a token (VAULT_TOKEN).
 * Never logged.
 */
import { readFileSync } from 'node:fs';
import { AhError } from '../../errors/ah-error.js';

export type VaultCredentials =
  | { readonly kind: 'approle'; readonly roleId: string; readonly secretId: string; readonly mount: string }
  | { readonly kind: 'token'; readonly token: string };

function readSecretFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AhError('ENROLL_FILE_NOT_FOUND', { path, dir: '.' });
    if (code === 'EACCES' || code === 'EPERM') throw new AhError('ENROLL_PERMISSION_DENIED', { path });
    throw new AhError('ENROLL_VAULT_AUTH_FAILED', { detail: `cannot read ${path}: ${code}` });
  }
}

export function resolveCredentials(
  options: { roleIdFile?: string; secretIdFile?: string; approleMount?: string },
  env: NodeJS.ProcessEnv = process.env,
): VaultCredentials | null {
  const roleId = options.roleIdFile ? readSecretFile(options.roleIdFile) : env.VAULT_ROLE_ID;
  const secretId = options.secretIdFile ? readSecretFile(options.secretIdFile) : env.VAULT_SECRET_ID;
  if (roleId) return { kind: 'approle', roleId, secretId: secretId ?? '', mount: options.approleMount ?? 'approle' };
  if (env.VAULT_TOKEN) return { kind: 'token', token: env.VAULT_TOKEN };
  return null;
}
