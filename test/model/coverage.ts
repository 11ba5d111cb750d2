/** What the model tests share: transition-covering paths, and counting transitions. */
import { createTestModel } from 'xstate/graph';
import type { AnyStateMachine } from 'xstate';

/**
 * Shortest paths that end in every transition, self-loops included: states are keyed by
 * (previous state, event, state), so each transition is a target of its own.
 */
export function transitionCoveringPaths(machine: AnyStateMachine) {
  return createTestModel(machine, {
    serializeState: (state, event, previous) => `${JSON.stringify(previous?.value ?? null)}|${event?.type ?? ''}|${JSON.stringify(state.value)}`,
  }).getShortestPaths();
}

/** Every (state, event) edge of a machine definition, as `<state id> --<event>`. */
export function allTransitions(machine: { root: unknown }): Set<string> {
  const out = new Set<string>();
  const walk = (node: { id: string; transitions: Map<string, unknown[]>; states: Record<string, unknown> }) => {
    for (const [event] of node.transitions) out.add(`${node.id} --${event}`);
    for (const child of Object.values(node.states)) walk(child as typeof node);
  };
  walk(machine.root as Parameters<typeof walk>[0]);
  return out;
}
