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

type Inspector = (event: InspectionEvent) => void;

function machineIdOf(actor: AnyActorRef): string | null {
  const logic = (actor as unknown as { logic?: { id?: string; root?: unknown } }).logic;
  return logic && logic.root ? (logic.id ?? null) : null;
}

function topLevel(value: unknown): string {
  return typeof value === 'string' ? value : Object.keys(value as object)[0] ?? '';
}

/**
 * @param rootName what to call the root actor (`executor:<name>`, `access-point`, `link-7`);
 *   children are `<rootName>/<child id>`.
 */
export function machineInspector(logger: Logger, rootName: string): Inspector | undefined {
  if (!logger.isLevelEnabled('debug')) return undefined;
  const lastValue = new WeakMap<AnyActorRef, string>();
  const nameOf = (actor: AnyActorRef, rootId: string) => (actor.sessionId === rootId ? rootName : `${rootName}/${actor.id}`);
  return (ev) => {
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
      logger.debug(
        { kind: 'event', actor: nameOf(actorRef, ev.rootId), machine, source, event: ev.event },
        `${machine} event ${ev.event.type}`,
      );
    } else if (ev.type === '@xstate.snapshot') {
      const machine = machineIdOf(actorRef);
      if (!machine) return;
      const value = (ev.snapshot as { value?: unknown }).value;
      const serialized = JSON.stringify(value);
      if (lastValue.get(actorRef) === serialized) return;
      lastValue.set(actorRef, serialized);
      logger.debug(
        { kind: 'state', actor: nameOf(actorRef, ev.rootId), machine, state: topLevel(value), value, event: ev.event.type },
        `${machine} → ${serialized}`,
      );
    }
  };
}
