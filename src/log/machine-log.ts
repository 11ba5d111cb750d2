/**
 * Every event an actor receives and every state it enters, as one JSON line at debug level
 * (component `ah_machine`): the actor, the machine, the event or state, and the time. The lines
 * are what `ah agent replay` rebuilds the state path from, so their shape is stable:
 *
 *   {"kind":"event","actor":"executor:test","machine":"enrollment","source":"child:link-1","event":{…}}
 *   {"kind":"state","actor":"executor:test","machine":"enrollment","state":"enrolled","value":"enrolled"}
 *
 * `source` is `init`, `external` (sent from outside), `self` (a timer or raised event) or
 * `child:<id>`.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { Logger } from './logger.js';
import { topLevelState } from '../util/state-value.js';

type Inspector = (event: InspectionEvent) => void;

function machineIdOf(actor: AnyActorRef): string | null {
  const logic = (actor as unknown as { logic?: { id?: string; root?: unknown } }).logic;
  return logic?.root ? (logic.id ?? null) : null;
}

/** One line of this log as data, with its time: what a live observer (the debug view) receives. */
export type MachineLogRecord =
  | { kind: 'event'; actor: string; machine: string; source: string; event: { type: string; [key: string]: unknown }; time: number }
  | { kind: 'state'; actor: string; machine: string; state: string; value: unknown; event: string; time: number };

export interface InspectorOptions {
  /**
   * The root only holds the actor system for actors started as its children (the access point's
   * links): each child is named by its own id (`link-7`), as if it were a root.
   */
  readonly childrenByOwnId?: boolean;
  /** Hand records to `observer` only while this says so (a debug view that comes and goes). */
  readonly observing?: () => boolean;
}

/**
 * @param rootName what to call the root actor (`executor:<name>`, `access-point`, `link-7`);
 *   children are `<rootName>/<child id>`.
 * @param observer also hands every record to this function (the access point's `--debug-listen`
 *   view), whatever the log level; it must not change what it is given.
 */
export function machineInspector(
  logger: Logger,
  rootName: string,
  observer?: (record: MachineLogRecord) => void,
  options: InspectorOptions = {},
): Inspector | undefined {
  const debug = logger.isLevelEnabled('debug');
  if (!debug && !observer) return undefined;
  const lastValue = new WeakMap<AnyActorRef, string>();
  const parentOf = (actor: AnyActorRef) => (actor as unknown as { _parent?: AnyActorRef })._parent;
  const nameOf = (actor: AnyActorRef, rootId: string) => {
    if (actor.sessionId === rootId) return rootName;
    return options.childrenByOwnId && parentOf(actor)?.sessionId === rootId ? actor.id : `${rootName}/${actor.id}`;
  };
  const observe = options.observing;
  return (ev) => {
    if (!debug && observe && !observe()) return;
    const actorRef = ev.actorRef as AnyActorRef;
    if (ev.type === '@xstate.event') {
      const machine = machineIdOf(actorRef);
      if (!machine) return;
      const source =
        ev.event.type === 'xstate.init'
          ? 'init'
          : !ev.sourceRef
            ? 'external'
            : ev.sourceRef === actorRef
              ? 'self'
              : `child:${(ev.sourceRef as AnyActorRef).id}`;
      const record = { kind: 'event' as const, actor: nameOf(actorRef, ev.rootId), machine, source, event: ev.event };
      if (debug) logger.debug(record, `${machine} event ${ev.event.type}`);
      if (!observe || observe()) observer?.({ ...record, time: Date.now() });
    } else if (ev.type === '@xstate.snapshot') {
      const machine = machineIdOf(actorRef);
      if (!machine) return;
      const value = (ev.snapshot as { value?: unknown }).value;
      const serialized = JSON.stringify(value);
      if (lastValue.get(actorRef) === serialized) return;
      lastValue.set(actorRef, serialized);
      const record = { kind: 'state' as const, actor: nameOf(actorRef, ev.rootId), machine, state: topLevelState(value), value, event: ev.event.type };
      if (debug) logger.debug(record, `${machine} → ${serialized}`);
      if (!observe || observe()) observer?.({ ...record, time: Date.now() });
    }
  };
}
