/**
 * `ah agent access-point --max-handshakes N --handshake-queue N --handshake-rate N --audit-required`:
 * what the access point admits under load, and whether it may enroll anyone while its audit log
 * cannot be written.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { AccessPointOptions } from '../../engine/access-point.js';
import {
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_QUEUE_WAIT_MS,
  DEFAULT_QUEUE_PER_HANDSHAKE,
  HANDSHAKE_QUEUE_RANGE,
  HANDSHAKE_RATE_RANGE,
  MAX_HANDSHAKES_RANGE,
} from '../../transport/handshake-gate.js';
import { option, UsageError } from '../common.js';
import { tagOption } from '../config/option-kinds.js';

export interface AdmissionFlags {
  maxHandshakes: number;
  /** Unset: 8 × --max-handshakes. */
  handshakeQueue?: number;
  handshakeRate: number;
  auditRequired?: boolean;
  auditLog?: string;
}

function wholeNumberIn(range: { min: number; max: number }): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < range.min || n > range.max) throw new InvalidArgumentError(`expected a whole number from ${range.min} to ${range.max}`);
    return n;
  };
}

export function addAdmissionOptions(command: Command): Command {
  const { min: hMin, max: hMax } = MAX_HANDSHAKES_RANGE;
  const { min: rMin, max: rMax } = HANDSHAKE_RATE_RANGE;
  const { min: qMin, max: qMax } = HANDSHAKE_QUEUE_RANGE;
  return command
    .addOption(
      tagOption(
        option(
          '--max-handshakes <n>',
          `TLS handshakes in progress at most (${hMin}-${hMax}); further connections wait their turn, in order, before TLS`,
          wholeNumberIn(MAX_HANDSHAKES_RANGE),
          { value: DEFAULT_MAX_HANDSHAKES, shown: String(DEFAULT_MAX_HANDSHAKES) },
        ),
        { type: 'count', ...MAX_HANDSHAKES_RANGE },
      ),
    )
    .addOption(
      tagOption(
        option(
          '--handshake-queue <n>',
          `connections that may wait for a handshake (${qMin}-${qMax}); when full, or after ${DEFAULT_MAX_QUEUE_WAIT_MS / 1000} s of waiting, a connection is closed before TLS (default: ${DEFAULT_QUEUE_PER_HANDSHAKE} × --max-handshakes)`,
          wholeNumberIn(HANDSHAKE_QUEUE_RANGE),
        ),
        { type: 'count', ...HANDSHAKE_QUEUE_RANGE },
      ),
    )
    .addOption(
      tagOption(
        option(
          '--handshake-rate <n>',
          `TLS handshakes a second per source address (${rMin}-${rMax}), in bursts of up to twice that; faster connections are closed before TLS`,
          wholeNumberIn(HANDSHAKE_RATE_RANGE),
          { value: DEFAULT_HANDSHAKE_RATE, shown: String(DEFAULT_HANDSHAKE_RATE) },
        ),
        { type: 'count', ...HANDSHAKE_RATE_RANGE },
      ),
    )
    .option('--audit-required', 'fail closed: while the --audit-log file cannot be written, refuse enrollments and report /readyz not ready');
}

export function admissionOptions(flags: AdmissionFlags): Pick<AccessPointOptions, 'maxHandshakes' | 'handshakeQueue' | 'handshakeRate' | 'auditRequired'> {
  if (flags.auditRequired && flags.auditLog === undefined) throw new UsageError('--audit-required needs --audit-log');
  return {
    maxHandshakes: flags.maxHandshakes,
    handshakeQueue: flags.handshakeQueue,
    handshakeRate: flags.handshakeRate,
    auditRequired: flags.auditRequired === true,
  };
}
