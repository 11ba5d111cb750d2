/**
 * What node-vault's rejections mean, in the catalog's terms (docs/vault-api.md
 * §Errors and status codes, §node-vault): an ApiResponseError carries Vault's first error string
 * and the status; transport failures are axios errors with a code and no response.
 */
import { AhError } from '../../errors/ah-error.js';

interface NodeVaultError {
  message?: string;
  code?: string;
  response?: { statusCode?: number; body?: unknown };
}

/** Vault's multi-error strings ("1 error occurred:\n\t* common name not allowed\n\n") on one line. */
export function flattenVaultMessage(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export type VaultCall = 'login' | 'issue' | 'token';

export function vaultErrorToCatalog(err: unknown, call: VaultCall, where: { addr: string; path: string }): AhError {
  const e = err as NodeVaultError;
  const status = e?.response?.statusCode;
  const message = flattenVaultMessage(String(e?.message ?? err));
  if (status === undefined) {
    return new AhError('ENROLL_VAULT_UNREACHABLE', { addr: where.addr, detail: e?.code ? `${e.code} (${message})` : message });
  }
  if (status === 503 && /vault is sealed/i.test(message)) return new AhError('ENROLL_VAULT_SEALED');
  if (!/^\d{3}$/.test(String(status)) || status >= 500 || message === `Status ${status}`) {
    // No Vault error envelope: something else answered, or Vault failed inside.
    return new AhError('ENROLL_VAULT_BAD_RESPONSE', {
      addr: where.addr,
      path: where.path,
      detail: `HTTP ${status}${message === `Status ${status}` ? '' : `: ${message}`}`,
    });
  }
  if (call === 'login' || (call === 'token' && status === 403)) return new AhError('ENROLL_VAULT_AUTH_FAILED', { detail: message });
  return new AhError('ENROLL_VAULT_ISSUE_FAILED', { detail: message });
}

/** A dead token (as opposed to a policy that denies): the answer is to log in again. */
export function isDeadToken(err: unknown): boolean {
  const e = err as NodeVaultError;
  return e?.response?.statusCode === 403 && /invalid token/.test(String(e.message ?? ''));
}

export function isSealed(err: unknown): boolean {
  const e = err as NodeVaultError;
  return e?.response?.statusCode === 503 && /vault is sealed/i.test(String(e.message ?? ''));
}
