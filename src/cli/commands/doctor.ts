/**
 * `ah agent doctor`: the troubleshooting guide's diagnostics, run for the operator against the
 * configuration they would enroll with (the same flags as `ah agent enroll`), or with
 * `--access-point` against the access point's, or with `--fleet` against the running access
 * point's view of its fleet. Exit 0 when no check fails, 1 otherwise, 2 on a usage error.
 */
import { Option, type Command } from 'commander';
import { AhError } from '../../errors/ah-error.js';
import type { DoctorConfig } from '../../doctor/types.js';
import { formatHostPort, parseListenAddress, parseRemoteServers, type HostPort } from '../../util/address.js';
import { countOption, durationOption, EXIT_FAILURE, EXIT_OK, parsers, printError, stateDirFrom, UsageError } from '../common.js';
import { COUNT_RANGES, FLAG_RANGES } from '../flag-ranges.js';
import { DEFAULT_RENEWAL_THRESHOLD } from '../../model/renewal-policy.js';
import { addEnrollOptions, type EnrollFlags } from './enroll.js';
import { identityConfig } from './identity-options.js';
import { addRosterOptions, rosterOptions, type RosterFlags } from './roster-options.js';
import { defaultAccessPointId } from '../../engine/fleet-roster.js';

interface DoctorFlags extends Partial<EnrollFlags>, RosterFlags {
  name: string;
  connectTimeout: number;
  renewalThreshold: number;
  accessPoint?: boolean;
  fleetListen: string;
  heartbeatInterval?: number;
  executorSanUriPrefix?: string;
  auditLog?: string;
  metricsListen?: string | HostPort;
  json?: boolean;
  production?: boolean;
  clockSkewThreshold: number;
  fleet?: boolean;
  expiringWithin: number;
  maxReconnects: number;
}

export const DEFAULT_CLOCK_SKEW_THRESHOLD_MS = 5_000;
/** The access point renews its own certificate at this fraction (it has no flag for it). */

/**
 * Add an option unless the command has it already: the daemons' flags (`--audit-log`,
 * `--metrics-listen`) may come to the shared option sets, and commander refuses a flag twice.
 */
function addOnce(command: Command, opt: Option): void {
  if (!command.options.some((o) => o.long === opt.long)) command.addOption(opt);
}

/** The command's declaration: its options in the order `--help` shows them (a list, not logic). */
export function registerDoctor(agent: Command): void {
  const command = agent
    .command('doctor')
    .summary("run the troubleshooting guide's checks for this machine's enrollment setup")
    .description(
      "Check, in order and without stopping at a failure: name resolution, TCP, the TLS handshake and the access point's " +
        'chain, the local identity (files and modes, parsing, key, chain, SANs, validity), SPIFFE, Vault, an mTLS enrollment ' +
        'that stops at welcome, and the clock difference to the access point; with --production, the production checklist ' +
        'too. Takes the flags of `ah agent enroll`; with --access-point, those of `ah agent access-point` (and it checks the ' +
        'state dir, the fleet and metrics ports and the audit log first). With --fleet, reads the running access point of ' +
        '--state-dir and reports the whole fleet (exit 1 when a finding is an error). Exit 0 when no check fails, 1 ' +
        'otherwise, 2 on a usage error.',
    );
  addEnrollOptions(command);
  addOnce(command, new Option('--access-point', "check the access point's configuration (give the flags of ah agent access-point)"));
  addOnce(command, new Option('--fleet-listen <host:port>', "with --access-point: the access point's listen address").default('0.0.0.0:4433'));
  addOnce(
    command,
    durationOption('--heartbeat-interval <duration>', 'with --access-point: accepted as the access point takes it', FLAG_RANGES.heartbeatInterval),
  );
  addOnce(
    command,
    new Option('--executor-san-uri-prefix <uri>', "the access point's executor SAN prefix: the executor's URI SAN must lie under it").argParser(
      parsers.spiffeIdPrefix,
    ),
  );
  addOnce(command, new Option('--audit-log <file>', "the daemon's audit log (checked by --production)"));
  addOnce(command, new Option('--metrics-listen <host:port>', "the daemon's metrics address (checked by --production)"));
  // With --access-point: the fleet-wide roster is checked (reachable, lease held, own key present, watch lag).
  addRosterOptions(command);
  command
    .option('--json', 'print one JSON object: {checks:[{name, title, status, finding, error:{code, params, message}}], summary, ok}')
    .option('--production', "also check the guide's production checklist")
    .addOption(
      durationOption('--clock-skew-threshold <duration>', 'flag a clock difference to the access point beyond this', FLAG_RANGES.clockSkewThreshold, {
        value: DEFAULT_CLOCK_SKEW_THRESHOLD_MS,
        shown: '5s',
      }),
    )
    .option(
      '--fleet',
      "check the whole fleet through the running access point's status socket (--state-dir): renewals, expiry, clock skew, rejections, duplicate identities, flapping",
    )
    .addOption(
      durationOption('--expiring-within <duration>', 'with --fleet: warn about certificates that expire within this', FLAG_RANGES.expiringWithin, {
        value: 86_400_000,
        shown: '24h',
      }),
    )
    .addOption(
      countOption('--max-reconnects <n>', 'with --fleet: more reconnects than this in the last hour is flapping', COUNT_RANGES.maxReconnects, {
        value: 5,
        shown: '5',
      }),
    )
    .action(async (flags: DoctorFlags) => {
      if (flags.fleet) return runFleet(flags);
      let config: DoctorConfig;
      try {
        config = doctorConfig(flags);
      } catch (err) {
        if (err instanceof AhError) {
          printError(err);
          process.exit(EXIT_FAILURE);
        }
        throw err;
      }
      const { runDoctor } = await import('../../doctor/run.js');
      const { renderHeader, renderResult, renderSummary } = await import('../../doctor/render.js');
      if (!flags.json) process.stdout.write(`${renderHeader(config)}\n`);
      const report = await runDoctor(config, {
        onResult: (result) => {
          if (!flags.json) process.stdout.write(`${renderResult(result)}\n`);
        },
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...report, checks: report.checks.map(({ lines: _lines, ...c }) => c) })}\n`);
      } else {
        process.stdout.write(`\n${renderSummary(report)}\n`);
      }
      process.exit(report.ok ? EXIT_OK : EXIT_FAILURE);
    });
}

function normalizeListen(value: string | HostPort | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return formatHostPort(value);
}

export function doctorConfig(flags: DoctorFlags): DoctorConfig {
  const role = flags.accessPoint ? 'access-point' : 'executor';
  if (role === 'executor' && !flags.remoteServer) {
    throw new UsageError("required option '--remote-server <url>' not specified (or give --access-point to check an access point)");
  }
  const { config: identity, extraCaPath } = identityConfig(flags, role);
  if (role === 'access-point' && extraCaPath) throw new UsageError('--ca needs --identity files for the access point');
  let listen: HostPort | undefined;
  let target: DoctorConfig['target'];
  try {
    if (role === 'access-point') {
      listen = parseListenAddress(flags.fleetListen);
      if (listen.port === 0) throw new RangeError('--fleet-listen with port 0: give the port the access point listens on');
    }
    if (flags.remoteServer) {
      // The doctor checks one access point: the first given (all of them must parse).
      const remote = parseRemoteServers(flags.remoteServer)[0]!;
      target = { host: remote.host, port: remote.port, address: formatHostPort(remote) };
    } else {
      const host = listen!.host === '0.0.0.0' ? '127.0.0.1' : listen!.host === '::' ? '::1' : listen!.host;
      target = { host, port: listen!.port, address: formatHostPort({ host, port: listen!.port }) };
    }
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return {
    role,
    name: role === 'executor' ? flags.name : 'access-point',
    stateDir: stateDirFrom(flags.stateDir),
    identity,
    extraCaPath: role === 'executor' ? extraCaPath : undefined,
    target,
    listen,
    expectedServerId: flags.expectedServerId,
    serverSan: flags.serverSan,
    executorSanUriPrefix: flags.executorSanUriPrefix,
    connectTimeoutMs: flags.connectTimeout,
    renewalThreshold: role === 'executor' ? (flags.vaultRenewalThreshold ?? flags.renewalThreshold) : DEFAULT_RENEWAL_THRESHOLD,
    tlsMinVersion: flags.tlsMin,
    labels: flags.labels,
    clockSkewThresholdMs: flags.clockSkewThreshold,
    production: Boolean(flags.production),
    auditLog: flags.auditLog,
    metricsListen: normalizeListen(flags.metricsListen),
    ...(role === 'access-point' && { roster: rosterOptions(flags).roster, accessPointId: flags.accessPointId ?? defaultAccessPointId() }),
  };
}

async function runFleet(flags: DoctorFlags): Promise<void> {
  if (flags.accessPoint || flags.remoteServer) {
    throw new UsageError('--fleet reads the running access point of --state-dir: give it without --access-point or --remote-server');
  }
  const { runFleetDoctor, renderFleetReport } = await import('../../doctor/fleet.js');
  try {
    const report = await runFleetDoctor({
      stateDir: stateDirFrom(flags.stateDir),
      expiringWithinMs: flags.expiringWithin,
      renewalThreshold: flags.vaultRenewalThreshold ?? flags.renewalThreshold,
      clockSkewThresholdMs: flags.clockSkewThreshold,
      maxReconnects: flags.maxReconnects,
      auditLog: flags.auditLog,
    });
    process.stdout.write(`${flags.json ? JSON.stringify(report) : renderFleetReport(report)}\n`);
    process.exit(report.ok ? EXIT_OK : EXIT_FAILURE);
  } catch (err) {
    if (!(err instanceof AhError)) throw err;
    printError(err);
    process.exit(EXIT_FAILURE);
  }
}
