/**
 * `ah agent doctor`: what a check is and what it finds. Each check answers pass, fail or skip
 * (not applicable, or nothing to check because an earlier check failed) with one line of finding;
 * a failure carries the catalog code and parameters, so the CLI prints the guide's message and
 * fixes under it.
 */
import type { AhError } from '../errors/ah-error.js';
import type { ErrorCode, ErrorParams } from '../errors/catalog.js';
import type { IdentityConfig } from '../providers/index.js';
import type { ServerSanPolicy } from '../transport/access-point-trust.js';
import type { HostPort } from '../util/address.js';
import type { RosterOptions } from '../engine/fleet-roster.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckError {
  readonly code: ErrorCode | string;
  readonly params: ErrorParams;
}

export interface CheckOutcome {
  readonly status: CheckStatus;
  /** One line: what was found. */
  readonly finding: string;
  readonly error?: CheckError;
  /** Structured extras (`--json`), e.g. the access point's chain. */
  readonly details?: Record<string, unknown>;
  /** Extra lines printed under the check line (e.g. the chain, one certificate per block). */
  readonly lines?: readonly string[];
}

export interface CheckResult extends CheckOutcome {
  /** Stable id: `tcp`, `identity.key`, `production.ttl`, ... */
  readonly name: string;
  readonly title: string;
}

export interface DoctorConfig {
  readonly role: 'executor' | 'access-point';
  /** Executor name (`--name`); the access point's is `access-point`. */
  readonly name: string;
  readonly stateDir: string;
  readonly identity: IdentityConfig;
  /** `--ca` given with an identity that has no bundle of its own (dev, spiffe, vault), as a path. */
  readonly extraCaPath?: string;
  /** Executor: the access point from `--remote-server`. Access point: where to reach its own listener. */
  readonly target: HostPort & { readonly address: string };
  /** The access point's `--fleet-listen`, as given (access point mode). */
  readonly listen?: HostPort;
  readonly expectedServerId?: string;
  readonly serverSan?: ServerSanPolicy;
  readonly executorSanUriPrefix?: string;
  readonly connectTimeoutMs: number;
  readonly renewalThreshold: number;
  readonly tlsMinVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly labels?: Readonly<Record<string, string>>;
  /** Flag a clock difference to the access point beyond this. */
  readonly clockSkewThresholdMs: number;
  readonly production: boolean;
  readonly auditLog?: string;
  readonly metricsListen?: string;
  /** Access point: `--roster` and its TLS files and prefix (engine/fleet-roster.ts). */
  readonly roster?: RosterOptions;
  /** Access point: `--access-point-id` (default: the host name). */
  readonly accessPointId?: string;
}

export interface Check<Ctx> {
  readonly name: string;
  readonly title: string;
  run(ctx: Ctx): Promise<CheckOutcome>;
}

export function pass(finding: string, extra: Pick<CheckOutcome, 'details' | 'lines'> = {}): CheckOutcome {
  return { status: 'pass', finding, ...extra };
}

export function skip(finding: string, extra: Pick<CheckOutcome, 'details' | 'lines'> = {}): CheckOutcome {
  return { status: 'skip', finding, ...extra };
}

export function fail(error: AhError | CheckError, finding: string, extra: Pick<CheckOutcome, 'details' | 'lines'> = {}): CheckOutcome {
  return { status: 'fail', finding, error: { code: error.code, params: error.params }, ...extra };
}
