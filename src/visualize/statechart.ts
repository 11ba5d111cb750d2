/**
 * A machine's definition as a graph to draw: its states (nested as they are declared) and the
 * transitions between them, read from XState's own state nodes (`node.states`, `node.transitions`,
 * `node.always`, `node.initial`), so the drawing cannot drift from the code.
 *
 * Transitions without a target (actions only: a heartbeat sent, an error noted) change no state and
 * are left out. Transitions declared on the machine's root apply in every state; they start from a
 * node of their own ("any state"). Transitions between the same two states are merged into one
 * edge with all their events: the access point's `connection` has six ways into `closed` from each
 * early state, and one arrow with six names reads better than six arrows.
 */
import type { AnyStateMachine } from 'xstate';

export type NodeType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

export interface ChartNode {
  readonly id: string;
  readonly key: string;
  readonly type: NodeType;
  readonly parent: string | null;
  readonly children: readonly string[];
  /** The child entered first (compound states). */
  readonly initial: string | null;
  /** What the state runs while it is active (`renewIdentity`, `verifyPeer`). */
  readonly invokes: readonly string[];
}

export interface ChartTransition {
  /** The raw event type, as the log has it. */
  readonly event: string;
  /** For people: `after retryDelay`, `renewIdentity done`, `LINK_FAILED [fromCandidate]`. */
  readonly label: string;
}

export interface ChartEdge {
  /** `source->target`, unique. */
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly transitions: readonly ChartTransition[];
}

export interface Statechart {
  readonly machine: string;
  readonly root: string;
  readonly nodes: ReadonlyMap<string, ChartNode>;
  readonly edges: readonly ChartEdge[];
  /** Leaf ids reached from the root's initial state. */
  readonly initialLeaves: readonly string[];
  /** Invoke id → what it runs, to name `xstate.done.actor.<id>` events. */
  readonly invokeSrc: ReadonlyMap<string, string>;
}

interface RawNode {
  id: string;
  key: string;
  type: NodeType;
  parent?: RawNode;
  states: Record<string, RawNode>;
  initial?: { target: RawNode[] };
  transitions: Map<string, Array<{ target?: RawNode[]; guard?: unknown }>>;
  always?: Array<{ target?: RawNode[]; guard?: unknown }>;
  invoke: Array<{ id: string; src: unknown }>;
}

/** `fromCandidate`, `fromCandidate ∧ attemptsExhausted`, `¬x`. */
function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const g = guard as { name?: string; guards?: unknown[]; guard?: unknown };
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((x) => guardName(x) ?? '?');
      return g.name === 'or' ? parts.join(' ∨ ') : parts.join(' ∧ ');
    }
    if (g.name === 'not' && g.guard !== undefined) return `¬${guardName(g.guard)}`;
    return g.name && g.name !== 'guard' ? g.name : 'guard';
  }
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

/** What people call an event: timers by their delay, invoked actors by what they run. */
export function eventLabel(event: string, invokeSrc: ReadonlyMap<string, string> = new Map()): string {
  if (event.startsWith('xstate.after.')) return `after ${event.split('.')[2]}`;
  for (const [prefix, word] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'failed'],
  ] as const) {
    if (event.startsWith(prefix)) {
      const id = event.slice(prefix.length);
      return `${invokeSrc.get(id) ?? id} ${word}`;
    }
  }
  return event === '' ? 'always' : event;
}

const cache = new WeakMap<AnyStateMachine, Statechart>();

export function statechart(machine: AnyStateMachine): Statechart {
  const cached = cache.get(machine);
  if (cached) return cached;
  const root = (machine as unknown as { root: RawNode }).root;
  const nodes = new Map<string, ChartNode>();
  const invokeSrc = new Map<string, string>();
  const walk = (n: RawNode) => {
    for (const inv of n.invoke ?? []) invokeSrc.set(inv.id, typeof inv.src === 'string' ? inv.src : inv.id);
    const children = Object.values(n.states ?? {});
    nodes.set(n.id, {
      id: n.id,
      key: n.key,
      type: n.type,
      parent: n.parent?.id ?? null,
      children: children.map((c) => c.id),
      initial: n.initial?.target?.[0]?.id ?? null,
      invokes: (n.invoke ?? []).map((i) => (typeof i.src === 'string' ? i.src : i.id)),
    });
    children.forEach(walk);
  };
  walk(root);

  const merged = new Map<string, { source: string; target: string; transitions: ChartTransition[] }>();
  const add = (source: string, target: string, event: string, guard: unknown) => {
    const id = `${source}->${target}`;
    let edge = merged.get(id);
    if (!edge) merged.set(id, (edge = { source, target, transitions: [] }));
    const g = guardName(guard);
    const label = `${eventLabel(event, invokeSrc)}${g ? ` [${g}]` : ''}`;
    if (!edge.transitions.some((t) => t.event === event && t.label === label)) edge.transitions.push({ event, label });
  };
  const collect = (n: RawNode) => {
    for (const [event, defs] of n.transitions ?? new Map()) {
      for (const t of defs) for (const target of t.target ?? []) add(n.id, target.id, event, t.guard);
    }
    for (const t of n.always ?? []) for (const target of t.target ?? []) add(n.id, target.id, '', t.guard);
    Object.values(n.states ?? {}).forEach(collect);
  };
  collect(root);

  const initialLeaves: string[] = [];
  const descend = (id: string) => {
    const node = nodes.get(id)!;
    if (node.type === 'parallel') node.children.forEach(descend);
    else if (node.initial) descend(node.initial);
    else initialLeaves.push(id);
  };
  descend(root.id);

  const chart: Statechart = {
    machine: (machine as { id: string }).id,
    root: root.id,
    nodes,
    edges: [...merged.entries()].map(([id, e]) => ({ id, ...e })),
    initialLeaves,
    invokeSrc,
  };
  cache.set(machine, chart);
  return chart;
}

/** Node ids from the root down to `id`. */
export function ancestry(chart: Statechart, id: string): string[] {
  const out: string[] = [];
  for (let n = chart.nodes.get(id); n; n = n.parent ? chart.nodes.get(n.parent) : undefined) out.unshift(n.id);
  return out;
}

/** Is `a` the node `b` or one of its ancestors? */
export function containsNode(chart: Statechart, a: string, b: string): boolean {
  for (let n = chart.nodes.get(b); n; n = n.parent ? chart.nodes.get(n.parent) : undefined) if (n.id === a) return true;
  return false;
}
