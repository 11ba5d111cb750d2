/**
 * Run every check in the issue's order, stopping nowhere: a failed check makes the ones that need
 * its result skip (saying why), never the run stop.
 */
import { AhError } from '../errors/ah-error.js';
import { renderMessage } from '../errors/catalog.js';
import { VERSION } from '../version.js';
import { apAuditLogCheck, apListenCheck, apMetricsCheck, apStateDirCheck } from './access-point.js';
import { apRosterCheck } from './roster.js';
import { DoctorContext } from './context.js';
import { clockCheck, enrollCheck } from './enrollment.js';
import { identityChainCheck, identityFilesCheck, identityKeyCheck, identityParseCheck, identitySanCheck, identityValidityCheck } from './identity.js';
import { execCommandCheck } from './exec.js';
import { dnsCheck, tcpCheck } from './network.js';
import {
  productionAuditLogCheck,
  productionCaCheck,
  productionMetricsCheck,
  productionPortCheck,
  productionRotationCheck,
  productionSanValidationCheck,
  productionTtlCheck,
} from './production.js';
import type { DoctorSession } from './session.js';
import { spiffeHeaderCheck, spiffeSocketCheck, spiffeSvidCheck } from './spiffe.js';
import { tlsCheck } from './tls.js';
import { fail, type Check, type CheckResult, type DoctorConfig } from './types.js';
import { vaultIssueCheck, vaultReachableCheck, vaultSealCheck, vaultTokenCheck } from './vault.js';

export const CHECKS: readonly Check<DoctorSession>[] = [
  dnsCheck,
  tcpCheck,
  tlsCheck,
  identityFilesCheck,
  identityParseCheck,
  identityKeyCheck,
  identityChainCheck,
  identitySanCheck,
  identityValidityCheck,
  spiffeSocketCheck,
  spiffeHeaderCheck,
  spiffeSvidCheck,
  vaultReachableCheck,
  vaultSealCheck,
  vaultTokenCheck,
  vaultIssueCheck,
  execCommandCheck,
  enrollCheck,
  clockCheck,
];

/** Access point mode: what stops it from starting comes right after name resolution; its files after its identity. */
export const ACCESS_POINT_CHECKS: readonly Check<DoctorSession>[] = [
  dnsCheck,
  apStateDirCheck,
  apListenCheck,
  ...CHECKS.slice(1, CHECKS.indexOf(identityValidityCheck) + 1),
  apAuditLogCheck,
  apMetricsCheck,
  apRosterCheck,
  ...CHECKS.slice(CHECKS.indexOf(identityValidityCheck) + 1),
];

export const PRODUCTION_CHECKS: readonly Check<DoctorSession>[] = [
  productionCaCheck,
  productionTtlCheck,
  productionRotationCheck,
  productionSanValidationCheck,
  productionAuditLogCheck,
  productionMetricsCheck,
  productionPortCheck,
];

export interface DoctorReport {
  readonly version: string;
  readonly role: DoctorConfig['role'];
  readonly name: string;
  readonly target: string;
  readonly identity: string;
  readonly production: boolean;
  readonly checks: Array<CheckResult & { readonly error?: CheckResult['error'] & { readonly message: string } }>;
  readonly summary: { readonly pass: number; readonly fail: number; readonly skip: number };
  /** No check failed (skipped checks did not apply). */
  readonly ok: boolean;
}

export async function runDoctor(
  config: DoctorConfig,
  options: { readonly onResult?: (result: CheckResult) => void; readonly now?: () => number } = {},
): Promise<DoctorReport> {
  const ctx = new DoctorContext(config, options.now);
  const checks: DoctorReport['checks'] = [];
  for (const check of [...(config.role === 'access-point' ? ACCESS_POINT_CHECKS : CHECKS), ...(config.production ? PRODUCTION_CHECKS : [])]) {
    let outcome: Awaited<ReturnType<typeof check.run>>;
    try {
      outcome = await check.run(ctx);
    } catch (err) {
      const error = err instanceof AhError ? err : new AhError('ENROLL_INTERNAL', { detail: `${check.name}: ${(err as Error)?.message ?? String(err)}` });
      outcome = fail(error, error.message);
    }
    const { error, ...rest } = outcome;
    const result = {
      name: check.name,
      title: check.title,
      ...rest,
      ...(error ? { error: { ...error, message: renderMessage(error.code, error.params) } } : {}),
    };
    checks.push(result);
    options.onResult?.(result);
  }
  const count = (s: CheckResult['status']) => checks.filter((c) => c.status === s).length;
  const summary = { pass: count('pass'), fail: count('fail'), skip: count('skip') };
  return {
    version: VERSION,
    role: config.role,
    name: config.name,
    target: config.target.address,
    identity: config.identity.kind,
    production: config.production,
    checks,
    summary,
    ok: summary.fail === 0,
  };
}
