/**
 * `ah agent support-bundle`: one tar.gz with what the guide's "Getting Help" asks for (versions,
 * status, fleet, the fleet doctor, certificate details, the configuration, recent logs, the replay
 * of stuck actors), redacted, with a README saying what is in it and what is not. The gathering
 * is in src/support/; here are the flags and the output file: created 0600, never over an
 * existing file unless --force (then replaced whole, by rename, so a reader never sees half).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { AhError } from '../../errors/ah-error.js';
import { DEFAULT_RENEWAL_THRESHOLD } from '../../model/renewal-policy.js';
import { durationOption, EXIT_FAILURE, option, parsers, printError, stateDirFrom, stateDirOption } from '../common.js';
import type { ConfigurationSource } from '../../support/configuration.js';
import { FLAG_RANGES } from '../flag-ranges.js';
import { DEFAULT_CLOCK_SKEW_THRESHOLD_MS } from './doctor.js';

interface SupportBundleFlags {
  out?: string;
  force?: boolean;
  since: number;
  logFile: string[];
  cert: string[];
  ca: string[];
  name?: string;
  stateDir?: string;
  config?: string;
}

/** A flag given once per file. */
const repeated = (flags: string, description: string) =>
  new Option(flags, description).argParser((value: string, previous: string[]) => [...previous, value]).default([], 'none');

const ERRNO_DETAIL: Record<string, string> = {
  ENOENT: 'no such directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
};

const unwritable = (path: string, err: unknown) =>
  new AhError('ENROLL_SUPPORT_BUNDLE_UNWRITABLE', {
    path,
    detail: ERRNO_DETAIL[(err as NodeJS.ErrnoException).code ?? ''] ?? (err as NodeJS.ErrnoException).code ?? (err as Error).message,
  });

/** Before gathering anything: the answer "it exists" or "cannot write there" should not wait for it. */
async function checkOut(path: string, force: boolean): Promise<void> {
  const existing = await stat(path).catch(() => null);
  if (existing?.isDirectory()) throw unwritable(path, Object.assign(new Error(), { code: 'EISDIR' }));
  if (existing && !force) throw new AhError('ENROLL_SUPPORT_BUNDLE_EXISTS', { path });
  await access(dirname(path), constants.W_OK).catch((err: unknown) => {
    throw unwritable(path, err);
  });
}

/** Created 0600 whatever the umask; with --force written beside and renamed over the old one. */
async function writeOut(path: string, data: Buffer, force: boolean): Promise<void> {
  const target = force ? `${path}.${randomBytes(4).toString('hex')}.tmp` : path;
  try {
    const file = await open(target, 'wx', 0o600);
    try {
      await file.chmod(0o600);
      await file.writeFile(data);
    } finally {
      await file.close();
    }
    if (force) await rename(target, path);
  } catch (err) {
    if (force || (err as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(target).catch(() => {});
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && !force) throw new AhError('ENROLL_SUPPORT_BUNDLE_EXISTS', { path });
    throw unwritable(path, err);
  }
}

async function runSupportBundle(flags: SupportBundleFlags, configuration: ConfigurationSource): Promise<void> {
  const now = Date.now();
  const [{ gatherBundle, bundleRoot }, { renderReadme }, { VERSION }] = await Promise.all([
    import('../../support/gather.js'),
    import('../../support/readme.js'),
    import('../../version.js'),
  ]);
  const out = resolve(flags.out ?? `${bundleRoot(now)}.tar.gz`);
  await checkOut(out, Boolean(flags.force));
  const stateDir = stateDirFrom(flags.stateDir);
  const since = now - flags.since;
  const bundle = await gatherBundle({
    stateDir,
    stateDirSource: flags.stateDir ? 'flag' : process.env.AH_STATE_DIR ? 'env AH_STATE_DIR' : 'default',
    name: flags.name,
    since,
    logFiles: flags.logFile,
    certFiles: flags.cert,
    caFiles: flags.ca,
    configuration,
    fleetDoctor: {
      expiringWithinMs: 86_400_000,
      renewalThreshold: DEFAULT_RENEWAL_THRESHOLD,
      clockSkewThresholdMs: DEFAULT_CLOCK_SKEW_THRESHOLD_MS,
      maxReconnects: 5,
    },
    env: process.env,
    now,
  });
  const data = bundle.toTarGz((items, missing, rules) => renderReadme({ createdAt: now, since, stateDir, version: VERSION }, items, missing, rules));
  await writeOut(out, data, Boolean(flags.force));
  const n = bundle.items.length + 1;
  const gaps = bundle.missing.length;
  process.stdout.write(`wrote ${out}: ${n} files${gaps ? `; ${gaps} part${gaps === 1 ? '' : 's'} not available (README.txt says which and why)` : ''}\n`);
}

export function registerSupportBundle(agent: Command): void {
  agent
    .command('support-bundle')
    .summary('gather versions, status, certificate details, configuration and recent logs into one redacted tar.gz')
    .description(
      'Write one tar.gz for a support request, for the daemons of the state dir: versions (ah, Node, OpenSSL, OS); ' +
        'status --json and fleet --json of the daemons that answer; the fleet doctor report; certificate details (never keys) ' +
        'of the identities in use, the dev identities and pinned access points of the state dir, and the --cert/--ca files; ' +
        'the configuration with its sources; the journal of ah-executor and ah-access-point and the --log-file files, since ' +
        '--since; and the replay and visualize page of each stuck actor. Every file is redacted (private keys, Vault tokens, ' +
        'secret and role IDs, Authorization headers, bearer tokens, fields named like secrets) and README.txt lists what is in ' +
        'it and what could not be gathered, and why. A daemon that does not answer is said there, not an error. The file is ' +
        'created 0600; an existing one is replaced only with --force.',
    )
    .option('--out <file.tar.gz>', 'where to write it (default: ./ah-support-<UTC time>.tar.gz)')
    .option('--force', 'replace --out if it exists')
    .addOption(durationOption('--since <duration>', 'logs from this long ago', FLAG_RANGES.supportBundleSince, { value: 3_600_000, shown: '1h' }))
    .addOption(repeated('--log-file <file>', "a daemon's log file, for daemons that do not log to the journal (repeat for several)"))
    .addOption(repeated('--cert <file>', 'a certificate file a daemon uses: its details go in (repeat for several)'))
    .addOption(repeated('--ca <file>', 'a CA bundle a daemon trusts: the details of each certificate in it (repeat for several)'))
    .addOption(option('--name <name>', 'only this executor, when several run from one state dir', parsers.name))
    .addOption(stateDirOption())
    .option('--config <file>', 'the --config FILE the daemons run with, for the configuration part (the system and user files are read anyway)')
    .action(async (flags: SupportBundleFlags, command: Command) => {
      try {
        const { configurationFromFiles } = await import('../config/bundle-configuration.js');
        await runSupportBundle(flags, configurationFromFiles(command.parent!.parent!, flags.config));
      } catch (err) {
        if (!(err instanceof AhError)) throw err;
        printError(err);
        process.exit(EXIT_FAILURE);
      }
    });
}
