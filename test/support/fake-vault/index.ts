/** A fake HashiCorp Vault for tests: see README.md in this folder. */
export { startFakeVault, FakeVault, type FakeVaultOptions, type RequestRecord, type TokenInfo } from './server.js';
export type { AppRoleConfig } from './approle.js';
export type { PkiMountConfig, IssuedCertificate } from './pki.js';
export type { PkiRoleConfig } from './pki-rules.js';
export type { Fault, FaultKind, FaultMatch, CustomFault } from './faults.js';
export type { VaultDuration } from './durations.js';
