/**
 * The machines a log can name (its `machine` field), as they are defined, and as replay runs them:
 * with every invoked or spawned I/O actor (links, the identity watch, renewals, peer checks, the
 * listener, and the rotation child, which has its own lines in the log) replaced by one that never
 * sends anything and never settles. What those actors really did is in the log as the events they
 * sent (`xstate.done.actor.*`, `LINK_WELCOMED`, ...), and replay feeds exactly those.
 */
import { fromCallback, type AnyStateMachine } from 'xstate';
import { accessPointMachine } from '../machines/access-point.js';
import { connectionMachine } from '../machines/connection.js';
import { enrollmentMachine } from '../machines/enrollment.js';
import { rotationMachine } from '../machines/rotation.js';

/** By machine id, as the log's `machine` field names them. */
export const MACHINES: Readonly<Record<string, AnyStateMachine>> = {
  enrollment: enrollmentMachine,
  rotation: rotationMachine,
  connection: connectionMachine,
  'access-point': accessPointMachine,
};

/** Neither sends nor completes: the log says what the real actor did. */
const silent = fromCallback(() => {});

function withSilentActors(machine: AnyStateMachine): AnyStateMachine {
  const names = Object.keys((machine.implementations as { actors: Record<string, unknown> }).actors);
  return machine.provide({ actors: Object.fromEntries(names.map((name) => [name, silent])) }) as AnyStateMachine;
}

const replayable = new Map<string, AnyStateMachine>();

/** The machine to replay a log's `machine` with, or null for a machine this build does not know. */
export function replayableMachine(id: string): AnyStateMachine | null {
  if (!Object.hasOwn(MACHINES, id)) return null;
  const machine = MACHINES[id]!;
  let logic = replayable.get(id);
  if (!logic) replayable.set(id, (logic = withSilentActors(machine)));
  return logic;
}
