/**
 * The exec identity's flags (`--identity exec`): the command that prints the identity, how it is
 * run, and how long what it printed is used. Beside identity-options.ts, which calls these.
 */
import type { Command } from 'commander';
import type { ExecIdentityConfig } from '../../providers/index.js';
import { splitCommandLine } from '../../providers/exec/command-line.js';
import { durationOption, UsageError } from '../common.js';
import { FLAG_RANGES } from '../flag-ranges.js';

export interface ExecIdentityFlags {
  dynamicCertCmd?: string;
  dynamicCertShell?: boolean;
  dynamicCertTtl?: number;
  dynamicCertTimeout?: number;
}

/** `--dynamic-cert-ttl`'s default: what Agent Harbor's CLI shows. */
export const DEFAULT_DYNAMIC_CERT_TTL_MS = 30 * 60_000;
export const DEFAULT_DYNAMIC_CERT_TIMEOUT_MS = 30_000;

export function addExecIdentityOptions(command: Command): Command {
  return command
    .option(
      '--dynamic-cert-cmd <cmd>',
      'exec identity: command that prints the certificate chain, private key and CA bundle as PEM on stdout (at most 1 MiB), in any order; ' +
        'its stdin is /dev/null and its first stderr lines are logged. ' +
        'Split into words without a shell: blanks separate words, \'...\' and "..." quote, \\ escapes; | & ; < > ( ) $ ` are refused unless --dynamic-cert-shell',
    )
    .option('--dynamic-cert-shell', 'exec identity: run --dynamic-cert-cmd with /bin/sh -c (pipes, variables, redirections)')
    .addOption(
      durationOption(
        '--dynamic-cert-ttl <duration>',
        'exec identity: run the command again after this long, or at the renewal point if that comes first',
        FLAG_RANGES.dynamicCertTtl,
        { value: DEFAULT_DYNAMIC_CERT_TTL_MS, shown: '30m' },
      ),
    )
    .addOption(
      durationOption(
        '--dynamic-cert-timeout <duration>',
        'exec identity: kill the command (and its process group) if it runs longer',
        FLAG_RANGES.dynamicCertTimeout,
        { value: DEFAULT_DYNAMIC_CERT_TIMEOUT_MS, shown: '30s' },
      ),
    );
}

/** The exec identity's settings; usage errors for what does not go together. */
export function execConfig(flags: ExecIdentityFlags, kind: string): ExecIdentityConfig | null {
  if (kind !== 'exec') {
    if (flags.dynamicCertCmd !== undefined || flags.dynamicCertShell) throw new UsageError('--dynamic-cert-cmd needs --identity exec');
    return null;
  }
  const command = flags.dynamicCertCmd;
  if (command === undefined || !command.trim()) throw new UsageError('--identity exec needs --dynamic-cert-cmd');
  if (!flags.dynamicCertShell) {
    const split = splitCommandLine(command);
    if (!split.ok) throw new UsageError(`--dynamic-cert-cmd cannot be split into words: ${split.problem}`);
  }
  return {
    kind: 'exec',
    command,
    shell: Boolean(flags.dynamicCertShell),
    ttlMs: flags.dynamicCertTtl ?? DEFAULT_DYNAMIC_CERT_TTL_MS,
    timeoutMs: flags.dynamicCertTimeout ?? DEFAULT_DYNAMIC_CERT_TIMEOUT_MS,
  };
}
