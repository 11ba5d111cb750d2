/**
 * `ah agent access-point --roster etcd://HOST:PORT[,HOST:PORT…] [--roster-ca/--roster-cert/--roster-key]
 * [--roster-prefix /ah/] [--roster-lease-ttl 10s] [--access-point-id ID] [--advertise-address https://HOST:PORT]`:
 * the access point's place in a fleet of access points sharing one roster on etcd (docs/roster.md).
 * Without `--roster` nothing changes: the in-memory roster of this access point alone.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_LEASE_TTL_S, DEFAULT_ROSTER_PREFIX } from '../../actors/roster-etcd.js';
import { parseRosterPrefix, parseRosterUrl } from '../../actors/roster-etcd-records.js';
import type { AccessPointOptions } from '../../engine/access-point.js';
import { parseRemoteServer } from '../../util/address.js';
import { durationOption, option, UsageError } from '../common.js';
import { FLAG_RANGES } from '../flag-ranges.js';

export interface RosterFlags {
  roster?: string;
  rosterCa?: string;
  rosterCert?: string;
  rosterKey?: string;
  rosterPrefix: string;
  rosterLeaseTtl: number;
  accessPointId?: string;
  advertiseAddress?: string;
}

const argument =
  <T>(parse: (v: string) => T) =>
  (value: string): T => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };

const accessPointId = (value: string): string => {
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(value)) throw new InvalidArgumentError('use 1-63 letters, digits, dots, dashes or underscores');
  return value;
};

const advertiseAddress = (value: string): string => {
  if (!value.startsWith('https://')) throw new InvalidArgumentError('expected https://HOST:PORT, the address executors dial');
  return parseRemoteServer(value).url;
};

export function addRosterOptions(command: Command): Command {
  return command
    .addOption(
      option(
        '--roster <url>',
        'keep the fleet-wide roster on etcd, shared with the other access points: etcd://HOST:PORT[,HOST:PORT...] (etcds:// for TLS)',
        argument((v) => {
          parseRosterUrl(v);
          return v;
        }),
      ),
    )
    .option('--roster-ca <file>', 'CA certificates (PEM) that etcd certificates are verified with (etcds://)')
    .option('--roster-cert <file>', 'client certificate (PEM) to present to etcd (etcds://)')
    .option('--roster-key <file>', 'private key (PEM) of --roster-cert')
    .addOption(
      option('--roster-prefix <prefix>', 'etcd key prefix of the roster', argument(parseRosterPrefix), {
        value: DEFAULT_ROSTER_PREFIX,
        shown: DEFAULT_ROSTER_PREFIX,
      }),
    )
    .addOption(
      durationOption(
        '--roster-lease-ttl <duration>',
        "TTL of the access point's etcd leases (whole seconds): a dead access point's executors leave the roster this long after it died",
        FLAG_RANGES.rosterLeaseTtl,
        { value: DEFAULT_LEASE_TTL_S * 1000, shown: `${DEFAULT_LEASE_TTL_S}s` },
      ),
    )
    .addOption(option('--access-point-id <id>', "this access point's name in the fleet (default: the host name)", accessPointId))
    .addOption(
      option(
        '--advertise-address <url>',
        'where executors reach this access point, told to the others and to executors (default: --fleet-listen, or the host name when it listens on 0.0.0.0)',
        advertiseAddress,
      ),
    );
}

function readPem(flag: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function rosterOptions(flags: RosterFlags): Pick<AccessPointOptions, 'roster' | 'accessPointId' | 'advertiseAddress'> {
  const tlsFlags = flags.rosterCa ?? flags.rosterCert ?? flags.rosterKey;
  if (!flags.roster) {
    if (tlsFlags !== undefined) throw new UsageError('--roster-ca, --roster-cert and --roster-key need --roster etcds://...');
    return { accessPointId: flags.accessPointId, advertiseAddress: flags.advertiseAddress };
  }
  if (tlsFlags !== undefined && !parseRosterUrl(flags.roster).tls) throw new UsageError('--roster-ca, --roster-cert and --roster-key need etcds:// (TLS)');
  if ((flags.rosterCert === undefined) !== (flags.rosterKey === undefined)) throw new UsageError('--roster-cert and --roster-key go together');
  return {
    accessPointId: flags.accessPointId,
    advertiseAddress: flags.advertiseAddress,
    roster: {
      url: flags.roster,
      caPem: readPem('--roster-ca', flags.rosterCa),
      certPem: readPem('--roster-cert', flags.rosterCert),
      keyPem: readPem('--roster-key', flags.rosterKey),
      prefix: flags.rosterPrefix,
      leaseTtlMs: flags.rosterLeaseTtl,
    },
  };
}
