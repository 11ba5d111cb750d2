/**
 * What the daemons of a state dir say about themselves, asked on their status sockets as
 * `ah agent status --json --show-cert` and `ah agent fleet --json` ask: each executor's status
 * (with the certificate it uses), the access point's status, its roster in the shape `fleet
 * --json` prints, and the fleet doctor's report. A daemon that does not answer is not an error
 * here: the bundle says so and goes on.
 */
import { readdir } from 'node:fs/promises';
import { executorNameFromSocket, paths } from '../engine/state-dir.js';
import type { ExecutorStatus } from '../model/status.js';
import { queryStatus, streamStatus } from '../transport/status-server.js';
import type { CertificateDescription } from '../x509/certificate.js';

export type ExecutorAnswer = ExecutorStatus & { readonly certificate?: CertificateDescription | null };

export interface AccessPointAnswer {
  readonly identity?: { readonly provider: string; readonly spiffeId: string | null; readonly serial: string } | null;
  readonly [key: string]: unknown;
}

export interface DaemonAnswers {
  readonly executors: ExecutorAnswer[];
  /** Why an executor socket that is there gave no answer, by executor name. */
  readonly executorProblems: Array<{ readonly name: string; readonly problem: string }>;
  readonly accessPoint: AccessPointAnswer | null;
  readonly fleet: { executors: unknown[]; summary: unknown; audit?: unknown } | null;
  /** Why the access point gave no answer (null: none runs, or it answered). */
  readonly accessPointProblem: string | null;
}

/** AhError's message is the catalog's line already. */
const describeError = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Executor names with a socket in the state dir's run dir (none when there is no run dir). */
export async function executorNames(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(paths.runDir(stateDir)))
      .map(executorNameFromSocket)
      .filter((n): n is string => n !== null)
      .sort();
  } catch {
    return [];
  }
}

/** The roster in `ah agent fleet --json`'s shape: `{executors, summary, audit?}`. */
async function fleetJson(socket: string): Promise<DaemonAnswers['fleet']> {
  const executors: unknown[] = [];
  let summary: unknown = null;
  let audit: unknown;
  const answered = await streamStatus(
    socket,
    { cmd: 'fleet', stream: true, filter: {} },
    (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      if (typeof message.error === 'string') throw new Error(`the access point refused the request: ${message.error}`);
      if (message.fleet && typeof message.fleet === 'object') audit = (message.fleet as { audit?: unknown }).audit ?? undefined;
      else if ('executor' in message) executors.push(message.executor);
      else if ('summary' in message) summary = message.summary;
    },
    undefined,
    'access point',
  );
  if (!answered) return null;
  return { executors, summary, ...(audit ? { audit } : {}) };
}

export async function askDaemons(stateDir: string, only?: string): Promise<DaemonAnswers> {
  const names = only ? [only] : await executorNames(stateDir);
  const executors: ExecutorAnswer[] = [];
  const executorProblems: DaemonAnswers['executorProblems'] = [];
  for (const name of names) {
    try {
      const answer = (await queryStatus(paths.executorSocket(stateDir, name), 'status-cert', undefined, 'executor')) as ExecutorAnswer | null;
      if (answer) executors.push(answer);
      else executorProblems.push({ name, problem: `nothing answers on ${paths.executorSocket(stateDir, name)} (not running)` });
    } catch (err) {
      executorProblems.push({ name, problem: describeError(err) });
    }
  }
  const socket = paths.accessPointSocket(stateDir);
  let accessPoint: AccessPointAnswer | null = null;
  let fleet: DaemonAnswers['fleet'] = null;
  let accessPointProblem: string | null = null;
  try {
    accessPoint = (await queryStatus(socket, 'status', undefined, 'access point')) as AccessPointAnswer | null;
    if (accessPoint) fleet = await fleetJson(socket);
  } catch (err) {
    accessPointProblem = describeError(err);
  }
  return { executors, executorProblems, accessPoint, fleet, accessPointProblem };
}
