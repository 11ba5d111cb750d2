/** `ah agent access-point`: serve the fleet link until SIGTERM/SIGINT. */
import { Option, type Command } from 'commander';
import { AhError } from '../../errors/ah-error.js';
import { parseListenAddress } from '../../util/address.js';
import { durationOption, EXIT_FAILURE, loggingFrom, parsers, printError, stateDirFrom, stateDirOption, UsageError } from '../common.js';
import { FLAG_RANGES } from '../flag-ranges.js';
import { addIdentityOptions, identityConfig, type IdentityFlags } from './identity-options.js';
import { addDebugViewOptions, prepareDebugView, type DebugViewFlags } from './debug-view-options.js';
import { addAdmissionOptions, admissionOptions, type AdmissionFlags } from './admission-options.js';
import { reloadOnSighup } from '../config/reload.js';
import { accessPointLiveSettings } from '../config/live-settings.js';
import { addRosterOptions, rosterOptions, type RosterFlags } from './roster-options.js';
import { addDrainOptions, drainOnSignals, drainSettings, requestDrain, type DrainFlags } from './drain-options.js';

interface AccessPointFlags extends IdentityFlags, DebugViewFlags, AdmissionFlags, RosterFlags, DrainFlags {
  fleetListen: string;
  heartbeatInterval: number;
  executorSanUriPrefix?: string;
  tlsMin?: 'TLSv1.2' | 'TLSv1.3';
  stateDir?: string;
  logLevel?: string;
  auditLog?: string;
  metricsListen?: string;
  duplicateIdentity: 'supersede' | 'reject';
}

export function registerAccessPoint(agent: Command): void {
  const command = agent
    .command('access-point')
    .summary('run the access point executors enroll with')
    .description(
      'Listen for executors on the fleet port (mutual TLS 1.3, ALPN ah-fleet/1), verify their certificates,\n' +
        'keep the roster, and answer heartbeats.\n' +
        'SIGTERM (or --drain) drains: executors are asked to move to another access point, and it\n' +
        'exits 0 once they have (or after --drain-timeout). SIGINT closes every link at once.',
    )
    .option('--fleet-listen <host:port>', 'address to listen on', '0.0.0.0:4433')
    .addOption(
      durationOption('--heartbeat-interval <duration>', 'heartbeat interval told to executors', FLAG_RANGES.heartbeatInterval, { value: 5_000, shown: '5s' }),
    )
    .option(
      '--executor-san-uri-prefix <uri>',
      'admit only executors whose SPIFFE ID lies under this prefix (e.g. spiffe://example.org/ah/agent/)',
      parsers.spiffeIdPrefix,
    )
    .addOption(
      new Option('--duplicate-identity <policy>', 'a new link for a connected identity without proof of continuity: supersede (the newest wins) or reject')
        .choices(['supersede', 'reject'])
        .default('supersede'),
    )
    .option('--tls-min <version>', 'lowest TLS version: 1.3 (default) or 1.2', parsers.tlsMin)
    .addOption(stateDirOption())
    .option('--audit-log <file>', 'append one JSON line per enrollment, rejection, rotation, departure and reload to FILE (reopened on SIGHUP)')
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics, /healthz and /readyz over HTTP on this address')
    .option('--log-level <level>', 'trace|debug|info|warn|error|off, or directives like ah_transport=debug (default: $AH_LOG, $RUST_LOG, info)');
  addDebugViewOptions(command);
  addAdmissionOptions(command);
  addRosterOptions(command);
  addDrainOptions(command);
  addIdentityOptions(command, 'access-point').action(async (flags: AccessPointFlags) => {
    if (flags.drain) return requestDrain(flags);
    const { config: identity, extraCaPath } = identityConfig(flags, 'access-point');
    if (extraCaPath) throw new UsageError('--ca needs --identity files for the access point');
    try {
      parseListenAddress(flags.fleetListen);
      if (flags.metricsListen !== undefined) parseListenAddress(flags.metricsListen);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const admission = admissionOptions(flags);
    const roster = rosterOptions(flags);
    const logging = loggingFrom(flags.logLevel);
    const { createAccessPoint } = await import('../../engine/access-point.js');
    const accessPoint = createAccessPoint({
      listen: flags.fleetListen,
      stateDir: stateDirFrom(flags.stateDir),
      identity,
      heartbeatIntervalMs: flags.heartbeatInterval,
      executorSanUriPrefix: flags.executorSanUriPrefix,
      tlsMinVersion: flags.tlsMin,
      logging,
      auditLog: flags.auditLog,
      metricsListen: flags.metricsListen,
      duplicateIdentity: flags.duplicateIdentity,
      ...admission,
      ...roster,
      ...drainSettings(flags),
    });
    const startDebugView = prepareDebugView(flags, accessPoint, logging);
    drainOnSignals(accessPoint);
    // SIGHUP (systemctl reload, logrotate's postrotate): reopen the audit log by its name.
    process.on('SIGHUP', () => {
      logging
        .get('ah_access_point')
        .info(
          { event: 'sighup', reopening: Boolean(flags.auditLog) },
          flags.auditLog ? 'SIGHUP: reopening the audit log' : 'SIGHUP: nothing to reopen (no --audit-log)',
        );
      accessPoint.reopenAuditLog();
    });
    // And re-read the configuration files: what can change live does (config/live-settings.ts).
    reloadOnSighup(logging, 'ah_access_point', accessPointLiveSettings(accessPoint, logging));
    try {
      await accessPoint.start();
      await startDebugView?.();
    } catch (err) {
      if (err instanceof AhError) {
        await accessPoint.stop().catch(() => {});
        printError(err);
        process.exit(EXIT_FAILURE);
      }
      throw err;
    }
    // Runs until a signal.
  });
}
