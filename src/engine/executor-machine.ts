/**
 * The enrollment machine with its I/O provided, built once for every executor of a process.
 * `machine.provide()` copies and re-indexes the whole state tree (the enrollment machine's and the
 * rotation machine's): about a millisecond of CPU, which an executor paid before every start. The
 * I/O each executor differs by (its provider, material store, dial options) is found through the
 * actor system instead, which XState hands every actor and which is one per executor.
 */
import { fromCallback, fromPromise, type AnyEventObject, type CallbackLogicFunction } from 'xstate';
import { enrollmentMachine } from '../machines/enrollment.js';
import type { LinkCommand, LinkInput } from '../machines/enrollment-types.js';
import { rotationMachine, type RenewOutput, type WatchCommand } from '../machines/rotation.js';

/** One executor's I/O, as the machine's actors run it. */
export interface ExecutorIo {
  readonly watch: CallbackLogicFunction<WatchCommand, AnyEventObject, { provider: string }>;
  readonly renew: (args: { input: { attempt: number } }) => Promise<RenewOutput>;
  readonly link: CallbackLogicFunction<LinkCommand, AnyEventObject, LinkInput>;
}

/** The actor system XState hands every actor (not exported by name). */
type AnyActorSystem = Parameters<CallbackLogicFunction>[0]['system'];

const ioBySystem = new WeakMap<AnyActorSystem, ExecutorIo>();

function ioOf(system: AnyActorSystem): ExecutorIo {
  const io = ioBySystem.get(system);
  if (!io) throw new Error('executor I/O not attached to this actor system');
  return io;
}

let provided: ReturnType<typeof provide> | null = null;

function provide() {
  return enrollmentMachine.provide({
    actors: {
      rotation: rotationMachine.provide({
        actors: {
          watchIdentity: fromCallback<WatchCommand, { provider: string }>((args) => ioOf(args.system).watch(args)),
          renewIdentity: fromPromise<RenewOutput, { attempt: number }>((args) => ioOf(args.system).renew(args)),
        },
      }),
      fleetLink: fromCallback<LinkCommand, LinkInput>((args) => ioOf(args.system).link(args)),
    },
  });
}

/** The provided machine, the same object for every executor. */
export function executorMachine(): ReturnType<typeof provide> {
  provided ??= provide();
  return provided;
}

/** Give the actors of the executor whose root actor owns `system` their I/O (before it starts). */
export function attachExecutorIo(system: AnyActorSystem, io: ExecutorIo): void {
  ioBySystem.set(system, io);
}
