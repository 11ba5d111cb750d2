import { Option } from 'commander';
import { UsageError } from '../common.js';

export const IDENTITY_PROVIDERS = ['dev', 'files', 'spiffe', 'vault'] as const;
/** Providers this build can run; the others are in the contract and refused clearly for now. */
const SUPPORTED = new Set(['dev']);

export function identityOption(): Option {
  return new Option('--identity <provider>', 'identity provider').choices([...IDENTITY_PROVIDERS]).default('dev');
}

export function requireSupportedIdentity(kind: string): void {
  if (!SUPPORTED.has(kind)) throw new UsageError(`--identity ${kind} is not available in this build yet (use dev)`);
}
