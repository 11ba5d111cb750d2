/**
 * `ah agent support-bundle`: gather what the troubleshooting guide's "Getting Help" asks for, for
 * the daemons of one state dir, into a BundleArchive (which redacts every file as it is added).
 * Nothing that cannot be had stops the rest: it is said in the README with the reason.
 */
import { readFile } from 'node:fs/promises';
import type { FleetDoctorOptions } from '../doctor/fleet.js';
import { BundleArchive } from './bundle-archive.js';
import { certificateReport } from './certificates.js';
import { configFiles, redactConfiguration, type ConfigurationSource } from './configuration.js';
import { askDaemons, type DaemonAnswers } from './daemons.js';
import { journal, logFile, logNames, type GatheredLog, type LogOutcome } from './logs.js';
import { replayLog } from './stuck-pages.js';
import { versions } from './versions.js';

export interface BundleOptions {
  readonly stateDir: string;
  /** Where the state dir came from: `flag`, `env AH_STATE_DIR`, `default`. */
  readonly stateDirSource: string;
  /** Only this executor (`--name`). */
  readonly name?: string;
  /** Logs from this time on (epoch ms). */
  readonly since: number;
  readonly logFiles: readonly string[];
  readonly certFiles: readonly string[];
  readonly caFiles: readonly string[];
  readonly configuration: ConfigurationSource;
  /** The fleet doctor's thresholds, as `ah agent doctor --fleet` has them by default. */
  readonly fleetDoctor: Omit<FleetDoctorOptions, 'stateDir' | 'auditLog'>;
  readonly env: NodeJS.ProcessEnv;
  readonly now: number;
}

/** `ah-support-20260130T120000Z`: the archive's top directory. */
export function bundleRoot(now: number): string {
  return `ah-support-${new Date(now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

function daemonParts(bundle: BundleArchive, o: BundleOptions, d: DaemonAnswers): void {
  const runDir = `${o.stateDir}/run`;
  if (d.executors.length) {
    bundle.addJson('status.json', d.executors, 'ah agent status --json --show-cert: each executor that answered, with the certificate it uses');
  } else {
    bundle.miss(
      'executor status (ah agent status --json)',
      `no executor answers on ${runDir}${o.name ? ` under the name ${o.name}` : ''} (none running on this state dir, or run this as the user that runs it, or root)`,
    );
  }
  for (const p of d.executorProblems) bundle.miss(`status of executor ${p.name}`, p.problem);
  if (d.accessPoint) bundle.addJson('access-point-status.json', d.accessPoint, "the access point's status (as its status socket gives it)");
  if (d.fleet) bundle.addJson('fleet.json', d.fleet, 'ah agent fleet --json: the access point roster and summary');
  if (!d.accessPoint) {
    const why = d.accessPointProblem ?? `no access point answers on ${runDir}/access-point.sock (none running on this state dir)`;
    bundle.miss('access point status and fleet (ah agent fleet --json)', why);
    bundle.miss('the fleet doctor report (ah agent doctor --fleet --json)', 'it reads the running access point');
  }
}

async function doctorPart(bundle: BundleArchive, o: BundleOptions, d: DaemonAnswers): Promise<void> {
  if (!d.accessPoint) return;
  const { runFleetDoctor } = await import('../doctor/fleet.js');
  try {
    const report = await runFleetDoctor({ stateDir: o.stateDir, ...o.fleetDoctor });
    bundle.addJson('doctor-fleet.json', report, 'ah agent doctor --fleet --json: renewals, expiry, clock skew, rejections, duplicates, flapping');
  } catch (err) {
    bundle.miss('the fleet doctor report (ah agent doctor --fleet --json)', (err as Error).message);
  }
  bundle.miss(
    "each executor's own doctor report (ah agent doctor --json)",
    'it needs the flags the executor was started with and makes a test enrollment at the access point: run it on the executor and attach its output',
  );
}

async function configurationPart(bundle: BundleArchive, o: BundleOptions, d: DaemonAnswers): Promise<void> {
  try {
    const config = await o.configuration({ stateDir: o.stateDir, stateDirSource: o.stateDirSource, env: o.env, daemons: d });
    bundle.addJson('configuration.json', redactConfiguration(config), 'the configuration with where each value came from (secrets redacted)');
  } catch (err) {
    bundle.miss('the configuration (configuration.json)', (err as Error).message);
  }
  for (const { scope, path } of configFiles(o.env)) {
    try {
      bundle.add(`config/${scope}.toml`, await readFile(path, 'utf8'), `${path} as it is on disk (secrets redacted)`);
    } catch {
      // Not there: the configuration above says which files it read.
    }
  }
}

async function logsPart(bundle: BundleArchive, o: BundleOptions): Promise<GatheredLog[]> {
  const since = new Date(o.since).toISOString();
  const names = logNames(o.logFiles);
  const outcomes: LogOutcome[] = [await journal(o.since), ...(await Promise.all(o.logFiles.map((f, i) => logFile(f, o.since, names[i]!))))];
  const logs: GatheredLog[] = [];
  for (const outcome of outcomes) {
    if ('missing' in outcome) {
      bundle.miss(outcome.missing.what, outcome.missing.why);
      continue;
    }
    const { log } = outcome;
    bundle.add(`logs/${log.name}`, log.text, `${log.source}: ${log.lines} lines since ${since}${log.cut ? ' (cut to its last 32 MiB)' : ''}`);
    logs.push(log);
  }
  if (logs.length === 0)
    bundle.miss('logs', "no journal entries for ah-executor or ah-access-point, and no --log-file given: pass the daemons' log files with --log-file");
  return logs;
}

async function replayPart(bundle: BundleArchive, logs: readonly GatheredLog[]): Promise<void> {
  for (const log of logs) {
    const r = await replayLog(log.text, `logs/${log.name}`);
    if (r.report) bundle.add(`replay/${log.name}.txt`, `${r.report}\n`, `ah agent replay of logs/${log.name}: each actor's path and which are stuck`);
    for (const page of r.pages) bundle.add(`stuck/${log.name}/${page.file}`, page.html, `ah agent visualize of stuck actor ${page.actor} (${page.summary})`);
    if (r.note) bundle.miss(`replay of logs/${log.name}`, r.note);
  }
}

export async function gatherBundle(o: BundleOptions): Promise<BundleArchive> {
  const bundle = new BundleArchive(bundleRoot(o.now), o.now);
  bundle.addJson('versions.json', await versions(), 'versions: ah, Node and its OpenSSL, the system openssl, the OS');
  const daemons = await askDaemons(o.stateDir, o.name);
  daemonParts(bundle, o, daemons);
  await doctorPart(bundle, o, daemons);
  bundle.addJson(
    'certificates.json',
    await certificateReport(o.stateDir, daemons, { certs: o.certFiles, cas: o.caFiles }),
    'certificate details (subject, issuer, SANs, serial, validity, SPKI SHA-256) of the identities in use, the dev identities and pins of the state dir, and the --cert/--ca files; never a key',
  );
  await configurationPart(bundle, o, daemons);
  await replayPart(bundle, await logsPart(bundle, o));
  return bundle;
}
