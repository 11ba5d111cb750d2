/**
 * The exec identity in the doctor: run the command once, exactly as the daemon would (same
 * splitting or shell, same timeout and output bound, same sorting of its PEM), and say what came
 * of it: the catalog's line when it failed, what it printed when it did not. The identity checks
 * then look at that material like any other.
 */
import { AhError } from '../errors/ah-error.js';
import { ExecIdentityProvider } from '../providers/exec.js';
import { programOf } from '../providers/exec/command-line.js';
import type { ExecIdentityConfig } from '../providers/index.js';
import { formatDuration } from '../util/duration.js';
import { distinguishedName } from '../x509/certificate.js';
import { parseCertificates } from '../x509/chain.js';
import type { DoctorSession, ExecProbe } from './session.js';
import { fail, pass, skip, type Check } from './types.js';

export async function probeExec(identity: ExecIdentityConfig): Promise<ExecProbe> {
  const stderr: string[] = [];
  const provider = new ExecIdentityProvider({
    ...identity,
    onEvent: (_level, _message, fields) => {
      if (fields.event === 'identity_command_stderr') stderr.push(...(fields.lines as string[]));
    },
  });
  const program = programOf(identity.command);
  const started = Date.now();
  try {
    const material = await provider.issue();
    return { program, material, stderr, ms: Date.now() - started, origin: `${program}'s output` };
  } catch (err) {
    const error = err instanceof AhError ? err : new AhError('ENROLL_INTERNAL', { detail: String(err) });
    return { program, material: null, materialError: error, stderr, ms: Date.now() - started, origin: `${program}'s output` };
  } finally {
    await provider.stop();
  }
}

export const execCommandCheck: Check<DoctorSession> = {
  name: 'exec.command',
  title: 'identity command',
  async run(ctx) {
    const identity = ctx.config.identity;
    if (identity.kind !== 'exec') return skip(`the identity is ${identity.kind}, not exec`);
    const probe = await ctx.exec();
    const lines = probe.stderr.map((l) => `stderr: ${l}`);
    if (!probe.material) return fail(probe.materialError!, probe.materialError!.message, { lines });
    const chain = parseCertificates(probe.material.certPem);
    const roots = probe.material.bundlePem ? parseCertificates(probe.material.bundlePem) : [];
    const intermediates = chain.length - 1;
    return pass(
      `${probe.program} answered in ${formatDuration(probe.ms)}: leaf ${distinguishedName(chain[0]!.subject)}` +
        `${intermediates ? ` + ${intermediates} intermediate${intermediates > 1 ? 's' : ''}` : ''}, the key, ` +
        `CA bundle ${roots.map((r) => distinguishedName(r.subject)).join(', ')}`,
      { lines },
    );
  },
};
