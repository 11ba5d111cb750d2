/**
 * The doctor's human output: one line per check (mark, title, finding), the chain under the TLS
 * check, and under each failure the guide's message, causes and fixes as `enroll` prints them.
 */
import { formatForTerminal } from '../errors/ah-error.js';
import { formatHostPort } from '../util/address.js';
import type { DoctorReport } from './run.js';
import type { CheckResult, CheckStatus, DoctorConfig } from './types.js';

const MARK: Record<CheckStatus, string> = { pass: '[pass]', fail: '[FAIL]', skip: '[skip]' };
export const TITLE_WIDTH = 34;
const INDENT = ' '.repeat(MARK.pass.length + 3);

export function renderHeader(config: DoctorConfig): string {
  const what =
    config.role === 'executor'
      ? `executor ${config.name} → https://${config.target.address}`
      : `access point ${config.listen ? `listening on ${formatHostPort(config.listen)}` : ''}`.trim();
  return `ah agent doctor: ${what} (identity ${config.identity.kind}${config.production ? ', production checklist' : ''})`;
}

export function renderResult(result: CheckResult): string {
  const out = [`${MARK[result.status]} ${result.title.padEnd(TITLE_WIDTH)} ${result.finding}`];
  for (const line of result.lines ?? []) out.push(`${INDENT}${line}`);
  if (result.status === 'fail' && result.error) {
    for (const line of formatForTerminal(result.error).split('\n')) out.push(`${INDENT}${line}`);
  }
  return out.join('\n');
}

export function renderSummary(report: DoctorReport): string {
  const { pass, fail, skip } = report.summary;
  const total = pass + fail + skip;
  const verdict = report.ok ? 'all checks passed' : `${fail} check${fail === 1 ? '' : 's'} failed`;
  return `${total} checks: ${pass} passed, ${fail} failed, ${skip} skipped: ${verdict}`;
}
