/** `ah agent enroll`: run an executor until stopped, or until it gives up (exit 1). */
import { InvalidArgumentError, type Command } from 'commander';
import { AhError } from '../../errors/ah-error.js';
import { parseListenAddress, parseRemoteServers } from '../../util/address.js';
import { DEFAULT_BACKOFF } from '../../util/backoff.js';
import { DEFAULT_RENEWAL_THRESHOLD, RENEWAL_JITTER, RENEWAL_THRESHOLD_RANGE } from '../../model/renewal-policy.js';
import {
  countOption,
  defaultName,
  durationOption,
  EXIT_FAILURE,
  EXIT_OK,
  loggingFrom,
  option,
  parsers,
  printError,
  stateDirFrom,
  stateDirOption,
  stopOnSignals,
  UsageError,
} from '../common.js';
import { COUNT_RANGES, FLAG_RANGES } from '../flag-ranges.js';
import { addIdentityOptions, identityConfig, readCaFile, type IdentityFlags } from './identity-options.js';
import { parseServerSan, type ServerSanPolicy } from '../../transport/access-point-trust.js';

export interface EnrollFlags extends IdentityFlags {
  /** Every `--remote-server` as given (each may be a comma-separated list). */
  remoteServer?: string[];
  name: string;
  expectedServerId?: string;
  serverSan?: ServerSanPolicy;
  connectTimeout: number;
  maxAttempts: number;
  labels?: Record<string, string>;
  stateDir?: string;
  logLevel?: string;
  renewalThreshold: number;
  vaultRenewalThreshold?: number;
  backoffBase: number;
  backoffMax: number;
  tlsMin?: 'TLSv1.2' | 'TLSv1.3';
}

export function registerEnroll(agent: Command): void {
  const command = agent
    .command('enroll')
    .summary('enroll this machine as an executor and keep its link alive')
    .description(
      'Dial the access point over mutual TLS, enroll, heartbeat, and rotate the certificate before it expires.\n' +
        'Runs until SIGTERM/SIGINT (goodbye, exit 0) or until --max-attempts failed attempts in a row (exit 1).',
    );
  addEnrollOptions(command)
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics, /healthz and /readyz over HTTP on this address')
    .action(async (flags: EnrollFlags & { metricsListen?: string }) => runEnroll(flags));
}

const THRESHOLDS = `[${RENEWAL_THRESHOLD_RANGE.min}..${RENEWAL_THRESHOLD_RANGE.max}, exclusive]`;

/** Every flag of `ah agent enroll` (identity flags included); `ah agent doctor` takes the same. */
export function addEnrollOptions(command: Command): Command {
  command
    .option(
      '--remote-server <url>',
      'access point, https://HOST[:PORT] (port 4433 by default); required. Repeat it (or separate with commas) for several: ' +
        'they are tried in a shuffled order, failing over to the next',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .addOption(option('--name <name>', 'executor name', parsers.name, { value: defaultName(), shown: 'host name' }))
    .addOption(
      durationOption('--connect-timeout <duration>', 'give up on a connection attempt after this long', FLAG_RANGES.connectTimeout, {
        value: 30_000,
        shown: '30s',
      }),
    )
    .addOption(
      countOption(
        '--max-attempts <n>',
        'exit 1 after this many failed attempts in a row; an attempt is one dial of one access point (0 = retry for ever)',
        COUNT_RANGES.maxAttempts,
        { value: 0, shown: '0' },
        'for ever',
      ),
    )
    .option('--labels <k=v,...>', 'labels sent to the access point', parsers.labels)
    .addOption(
      option(
        '--renewal-threshold <fraction>',
        `renew after this fraction of the certificate lifetime (±${RENEWAL_JITTER} jitter) ${THRESHOLDS}`,
        parsers.fraction,
        { value: DEFAULT_RENEWAL_THRESHOLD, shown: String(DEFAULT_RENEWAL_THRESHOLD) },
      ),
    )
    .option('--vault-renewal-threshold <fraction>', `the same as --renewal-threshold, as the guide spells it for Vault ${THRESHOLDS}`, parsers.fraction)
    .addOption(
      durationOption('--backoff-base <duration>', 'ceiling of the first retry delay (full jitter, doubling)', FLAG_RANGES.backoffBase, {
        value: DEFAULT_BACKOFF.baseMs,
        shown: '1s',
      }),
    )
    .addOption(durationOption('--backoff-max <duration>', 'cap of the retry delay', FLAG_RANGES.backoffMax, { value: DEFAULT_BACKOFF.capMs, shown: '60s' }))
    .option('--tls-min <version>', 'lowest TLS version: 1.3 (default) or 1.2', parsers.tlsMin)
    .addOption(stateDirOption())
    .option('--log-level <level>', 'trace|debug|info|warn|error|off, or directives like ah_transport=debug (default: $AH_LOG, $RUST_LOG, info)')
    .option('--expected-server-id <spiffe-id>', "the access point's exact SPIFFE ID (URI SAN)", parsers.spiffeId)
    .option('--server-san <list>', 'accept the access point if it presents any of dns=NAME,uri=URI,pin=sha256:BASE64 (SPKI pin)', (v: string) => {
      try {
        return parseServerSan(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    });
  return addIdentityOptions(command, 'executor');
}

async function runEnroll(flags: EnrollFlags & { metricsListen?: string }): Promise<void> {
  // Checked here rather than by commander, so an unknown flag is reported first.
  if (!flags.remoteServer?.length) throw new UsageError("required option '--remote-server <url>' not specified");
  const { config: identity, extraCaPath } = identityConfig(flags, 'executor');
  let remotes: ReturnType<typeof parseRemoteServers>;
  try {
    remotes = parseRemoteServers(flags.remoteServer);
    if (flags.metricsListen !== undefined) parseListenAddress(flags.metricsListen);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const logging = loggingFrom(flags.logLevel);
  let caPem: string | undefined;
  try {
    caPem = extraCaPath ? readCaFile(extraCaPath) : undefined;
  } catch (err) {
    printError(err as AhError);
    process.exit(EXIT_FAILURE);
  }
  if (identity.kind === 'files' && !identity.certPath) {
    logging.get('ah_cli').warn({ event: 'no_client_certificate' }, 'no --cert/--key given: connecting without a client certificate');
  }
  // Loaded here so `status`, `--help` and friends start fast.
  const { createExecutor } = await import('../../engine/executor.js');
  const executor = createExecutor({
    name: flags.name,
    remoteServer: remotes.map((r) => r.url),
    stateDir: stateDirFrom(flags.stateDir),
    identity,
    caPem,
    expectedServerId: flags.expectedServerId,
    serverSan: flags.serverSan,
    connectTimeoutMs: flags.connectTimeout,
    maxAttempts: flags.maxAttempts,
    labels: flags.labels,
    renewalThreshold: flags.vaultRenewalThreshold ?? flags.renewalThreshold,
    backoff: { baseMs: flags.backoffBase, capMs: Math.max(flags.backoffMax, flags.backoffBase) },
    tlsMinVersion: flags.tlsMin,
    logging,
    metricsListen: flags.metricsListen,
  });
  stopOnSignals(() => executor.stop());
  try {
    await executor.start();
  } catch (err) {
    if (err instanceof AhError) {
      printError(err);
      process.exit(EXIT_FAILURE);
    }
    throw err;
  }
  const outcome = await executor.done;
  if (outcome.state === 'failed') {
    await executor.stop();
    printError(outcome.error);
    process.exit(EXIT_FAILURE);
  }
  process.exit(EXIT_OK);
}
