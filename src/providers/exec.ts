/**
 * The exec identity (`--identity exec --dynamic-cert-cmd CMD`): an external broker's command
 * prints the chain, the key and the CA bundle as PEM on stdout; each run is one new identity.
 * Sorting the output (exec/pem-output.ts) and fencing the run (exec/run-command.ts) live beside
 * this file. The provider can issue: the rotation machine runs the command again at the renewal
 * point, or after `--dynamic-cert-ttl` (`maxAgeMs`) if that comes first, and retries a failure
 * with its backoff while the identity in use stays. Until the first identity the provider retries
 * on its own, reporting each failure.
 */
import { EventEmitter } from 'eventemitter3';
import { AhError } from '../errors/ah-error.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from '../util/backoff.js';
import { clearLongTimeout, setLongTimeout, type LongTimer } from '../util/long-timer.js';
import { programOf, splitCommandLine } from './exec/command-line.js';
import { materialFromOutput } from './exec/pem-output.js';
import { runCommand, stderrSuffix, type CommandSpec } from './exec/run-command.js';
import type { IdentityMaterial, IdentityProvider, ProviderEvents, ProviderLogHook } from './identity-provider.js';

/** How long the command may run (`--dynamic-cert-timeout`). */
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** Stdout beyond this is not a certificate set: the command is killed. */
export const EXEC_MAX_OUTPUT_BYTES = 1024 * 1024;

export interface ExecProviderOptions {
  /** `--dynamic-cert-cmd`. */
  readonly command: string;
  /** `--dynamic-cert-shell`: run it with /bin/sh -c instead of splitting it into words. */
  readonly shell?: boolean;
  /** `--dynamic-cert-ttl`: run again after this long even before the renewal point. */
  readonly ttlMs?: number;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
  /** Retries of the first run (later ones are the rotation machine's). */
  readonly retry?: BackoffPolicy;
  readonly onEvent?: ProviderLogHook;
}

export class ExecIdentityProvider extends EventEmitter<ProviderEvents> implements IdentityProvider {
  readonly kind = 'exec' as const;
  readonly canIssue = true;
  readonly maxAgeMs: number | undefined;
  private readonly spec: Omit<CommandSpec, 'signal'>;
  private readonly stopping = new AbortController();
  private startTimer: LongTimer | null = null;

  constructor(private readonly options: ExecProviderOptions) {
    super();
    this.maxAgeMs = options.ttlMs;
    const program = programOf(options.command);
    let argv: string[];
    if (options.shell) argv = ['/bin/sh', '-c', options.command];
    else {
      const split = splitCommandLine(options.command);
      // The CLI refuses such a command before it gets here; a library caller learns it at start.
      argv = split.ok ? split.argv : [];
    }
    this.spec = {
      argv,
      program,
      timeoutMs: options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
      maxOutputBytes: options.maxOutputBytes ?? EXEC_MAX_OUTPUT_BYTES,
    };
  }

  async start(): Promise<void> {
    void this.firstIssue(1);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearLongTimeout(this.startTimer);
    this.removeAllListeners();
  }

  /** Run the command once: the material it printed, verified, or the catalog's error. */
  async issue(): Promise<IdentityMaterial> {
    const { program } = this.spec;
    // A renewal that races the daemon's stop must not start a command nobody will kill.
    if (this.stopping.signal.aborted) throw new AhError('ENROLL_INTERNAL', { detail: 'the exec identity provider is stopped' });
    if (this.spec.argv.length === 0) {
      const split = splitCommandLine(this.options.command);
      throw new AhError('ENROLL_EXEC_NOT_STARTED', { command: program, detail: split.ok ? 'empty command' : split.problem });
    }
    const log = this.options.onEvent;
    const result = await runCommand(
      { ...this.spec, signal: this.stopping.signal },
      {
        stderr: (lines, failed) =>
          log?.(failed ? 'warn' : 'info', `identity command ${program} said on stderr: ${lines[0]}`, {
            event: 'identity_command_stderr',
            command: program,
            lines,
          }),
        killed: (reason, pid) =>
          log?.('warn', `identity command ${program} killed (${reason === 'timeout' ? 'timed out' : 'too much output'}), with its process group`, {
            event: 'identity_command_killed',
            command: program,
            reason,
            pid,
          }),
      },
    );
    return materialFromOutput(result.stdout, program, stderrSuffix(result.stderr));
  }

  private async firstIssue(attempt: number): Promise<void> {
    if (this.stopping.signal.aborted) return;
    try {
      const material = await this.issue();
      if (!this.stopping.signal.aborted) this.emit('material', material);
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      const error = err instanceof AhError ? err : new AhError('ENROLL_INTERNAL', { detail: (err as Error)?.message ?? String(err) });
      this.emit('error', error);
      const policy = this.options.retry ?? DEFAULT_BACKOFF;
      // Never sooner than a tenth of the base: a command that fails at once must not spin.
      const delay = Math.max(policy.baseMs / 10, backoffDelay(policy, attempt, Math.random()));
      this.startTimer = setLongTimeout(() => void this.firstIssue(attempt + 1), delay);
    }
  }
}
