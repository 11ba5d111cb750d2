/**
 * The rotation machine's I/O: listen to a provider (`watchIdentity`) and ask it for new material
 * (`renewIdentity`). Material is verified and offered to the store before the machine hears of
 * it, by fingerprint only; it becomes the current one when the machine says it accepted it.
 */
import { fromCallback, fromPromise, type AnyEventObject, type CallbackLogicFunction } from 'xstate';
import { AhError, messageOf } from '../errors/ah-error.js';
import type { Logger } from '../log/logger.js';
import type { RenewOutput, WatchCommand } from '../machines/rotation.js';
import type { MaterialStore } from './material-store.js';
import type { IdentityMaterial, IdentityProvider } from '../providers/identity-provider.js';
import { verifyMaterial } from '../x509/verify-material.js';

const asAhError = (err: unknown): AhError =>
  err instanceof AhError ? err : new AhError('ENROLL_INTERNAL', { detail: (err as Error)?.message ?? String(err) });

function describeMaterial(m: IdentityMaterial) {
  const s = m.summary;
  return {
    provider: s.provider,
    serial: s.serial,
    spiffeId: s.spiffeId,
    notBefore: new Date(s.notBefore).toISOString(),
    notAfter: new Date(s.notAfter).toISOString(),
  };
}

export function identityActors(provider: IdentityProvider, store: MaterialStore, log: Logger) {
  const { watch, renew } = identityWork(provider, store, log);
  return { watchIdentity: fromCallback<WatchCommand, { provider: string }>(watch), renewIdentity: fromPromise<RenewOutput, { attempt: number }>(renew) };
}

/** The material checks every offer passes; the engine may do more (build its TLS context). */
export type VerifyMaterial = (material: IdentityMaterial) => void;

/**
 * What `identityActors` run, for a machine provided once for many executors (see the engine).
 * `verify` replaces the plain material checks when the caller can do them cheaper.
 */
export function identityWork(provider: IdentityProvider, store: MaterialStore, log: Logger, verify: VerifyMaterial = verifyMaterial) {
  /** The serial of the identity in use, for lines that say it is kept. */
  const kept = () => store.current?.summary.serial ?? null;

  const watch: CallbackLogicFunction<WatchCommand, AnyEventObject, { provider: string }> = ({ sendBack, receive }) => {
    const onMaterial = (material: IdentityMaterial) => {
      const observedAt = Date.now();
      try {
        verify(material);
      } catch (err) {
        const error = asAhError(err);
        log.warn(
          { event: 'identity_refused', code: error.code, serial: kept(), refusedSerial: material.summary.serial },
          `new identity material refused, keeping the current one: ${error.message}`,
        );
        sendBack({ type: 'MATERIAL_REJECTED', error: error.toInfo(), observedAt });
        return;
      }
      const known = store.current?.summary.fingerprint === material.summary.fingerprint;
      store.put(material);
      if (known) {
        // The same certificate again (a re-read, or a push that changed only the trust bundle).
        log.debug({ event: 'identity_unchanged', serial: material.summary.serial }, 'identity material unchanged');
      } else {
        log.info({ event: 'identity_loaded', ...describeMaterial(material) }, `identity material loaded (serial ${material.summary.serial})`);
      }
      sendBack({ type: 'MATERIAL', identity: material.summary, observedAt });
    };
    const onError = (err: AhError, info = err.toInfo()) => {
      const current = store.current;
      if (current) {
        log.warn(
          { event: 'identity_refused', code: err.code, serial: current.summary.serial },
          `new identity material refused, keeping the current one (serial ${current.summary.serial}): ${err.message}`,
        );
      } else {
        log.warn({ event: 'identity_unavailable', code: err.code }, err.message);
      }
      sendBack({ type: 'MATERIAL_ERROR', error: info, observedAt: Date.now() });
    };
    // The machine's verdict: only what it accepts becomes the current identity.
    receive((command) => {
      if (command.type === 'MATERIAL_ACCEPTED') {
        store.accept(command.identity.fingerprint);
        return;
      }
      const { identity: refused, kept: current, error } = command;
      log.warn(
        {
          event: 'identity_refused',
          code: error.code,
          serial: current.serial,
          refusedSerial: refused.serial,
          notAfter: new Date(current.notAfter).toISOString(),
          refusedNotAfter: new Date(refused.notAfter).toISOString(),
        },
        `new identity material refused, keeping the current one (serial ${current.serial}): ${messageOf(error)}`,
      );
    });
    provider.on('material', onMaterial);
    provider.on('error', onError);
    // A provider whose start fails delivers nothing later: waiting for it cannot help.
    provider.start().catch((err) => {
      const error = asAhError(err);
      onError(error, { ...error.toInfo(), retryable: false });
    });
    return () => {
      provider.off('material', onMaterial);
      provider.off('error', onError);
    };
  };

  const renew = async ({ input }: { input: { attempt: number } }): Promise<RenewOutput> => {
    log.info({ event: 'renewing', attempt: input.attempt, provider: provider.kind }, `renewing certificate (attempt ${input.attempt})`);
    try {
      const material = await provider.issue();
      verify(material);
      store.put(material);
      log.info({ event: 'renewed', ...describeMaterial(material) }, `renewed certificate issued (serial ${material.summary.serial})`);
      return { identity: material.summary, observedAt: Date.now() };
    } catch (err) {
      const error = asAhError(err);
      log.warn({ event: 'renewal_failed', code: error.code, attempt: input.attempt }, `certificate renewal failed: ${error.message}`);
      // Plain data: the machine keeps it in context and the log replays it.
      throw error.toInfo();
    }
  };

  return { watch, renew };
}
