/**
 * Drives the real enrollment machine with a SimulatedClock and scripted I/O: the provider watch,
 * the renew call and the fleet links are stand-ins the test controls, so every transition can be
 * reached without a socket or a timer of the machine's own.
 */
import { createActor, fromCallback, fromPromise, SimulatedClock, type AnyActorRef } from 'xstate';
import { enrollmentMachine } from '../../src/machines/enrollment.js';
import type { EnrollmentInput, LinkCommand, LinkInput, LinkReport } from '../../src/machines/enrollment-types.js';
import { rotationMachine, type RenewOutput } from '../../src/machines/rotation.js';
import type { IdentitySummary } from '../../src/model/identity.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface FakeLink {
  readonly linkId: string;
  /** The access point it dials (HOST:PORT). */
  readonly address: string;
  readonly fingerprint: string;
  /** What a rotation's new link must prove it continues (LinkInput.continues). */
  readonly continues: LinkInput['continues'];
  /** The active link it is to replace, whose heartbeat cadence it carries on (LinkInput.follows). */
  readonly follows: LinkInput['follows'];
  readonly commands: LinkCommand[];
  stopped: boolean;
  report(event: DistributiveOmit<LinkReport, 'linkId' | 'at'> & { at?: number }): void;
}

export function identity(n: number, notBefore: number, lifetimeMs: number): IdentitySummary {
  return {
    provider: 'dev',
    serial: `0${n}`,
    fingerprint: `fp-${n}`,
    spiffeId: 'spiffe://dev.local/ah/agent/test',
    notBefore,
    notAfter: notBefore + lifetimeMs,
  };
}

export function createHarness(overrides: Partial<EnrollmentInput> = {}, opts: { canIssue?: boolean } = {}) {
  const clock = new SimulatedClock();
  const links: FakeLink[] = [];
  let pushMaterial: ((e: unknown) => void) | null = null;
  const renewals: Array<{ resolve: (o: RenewOutput) => void; reject: (e: unknown) => void }> = [];

  const rotation = rotationMachine.provide({
    actors: {
      watchIdentity: fromCallback(({ sendBack }) => {
        pushMaterial = sendBack as (e: unknown) => void;
      }),
      renewIdentity: fromPromise<RenewOutput, { attempt: number }>(() => new Promise((resolve, reject) => renewals.push({ resolve, reject }))),
    },
  });
  const machine = enrollmentMachine.provide({
    actors: {
      rotation,
      fleetLink: fromCallback<LinkCommand, LinkInput>(({ input, sendBack, receive }) => {
        const link: FakeLink = {
          linkId: input.linkId,
          address: input.address,
          fingerprint: input.fingerprint,
          continues: input.continues,
          follows: input.follows,
          commands: [],
          stopped: false,
          report: (e) => sendBack({ at: clock.now(), ...e, linkId: input.linkId } as LinkReport),
        };
        links.push(link);
        receive((cmd) => link.commands.push(cmd));
        return () => {
          link.stopped = true;
        };
      }),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      name: 'test',
      remoteServer: '127.0.0.1:4433',
      connectTimeoutMs: 30_000,
      connectTimeoutLabel: '30s',
      maxAttempts: 0,
      seed: 42,
      rotation: { provider: 'dev', canIssue: opts.canIssue ?? true, threshold: 0.7, jitter: 0.05 },
      ...overrides,
    },
  });
  actor.start();

  return {
    actor,
    clock,
    links,
    renewals,
    /** Material from the provider, observed now. */
    material(id: IdentitySummary) {
      pushMaterial!({ type: 'MATERIAL', identity: id, observedAt: clock.now() });
    },
    materialError(code: string, retryable = false) {
      pushMaterial!({ type: 'MATERIAL_ERROR', error: { code, params: {}, retryable }, observedAt: clock.now() });
    },
    get value() {
      return actor.getSnapshot().value;
    },
    get context() {
      return actor.getSnapshot().context;
    },
    get rotation(): AnyActorRef {
      return actor.getSnapshot().children.rotation as AnyActorRef;
    },
    lastLink(): FakeLink {
      return links[links.length - 1]!;
    },
    welcome(link: FakeLink, heartbeatIntervalMs = 5_000, nonce?: string, accessPoints?: string[]) {
      link.report({
        type: 'LINK_WELCOMED',
        executorId: 'spiffe://dev.local/ah/agent/test',
        heartbeatIntervalMs,
        serverTime: clock.now(),
        ...(nonce ? { nonce } : {}),
        ...(accessPoints ? { accessPoints } : {}),
      });
    },
  };
}
