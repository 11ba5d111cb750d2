/**
 * A state path laid over a statechart: which states were visited, which one it is in now (or ended
 * in), and which transitions took it from one state to the next, numbered as the path's steps are
 * (step 1 is the initial state, so the initial arrow carries #1).
 *
 * The log records each state entered and the event that led there, not the transition; the edge is
 * found from the two states and the event: a transition on that event from the old state (or one
 * of its ancestors) into the new state (or one of its ancestors), possibly followed by eventless
 * (`always`) transitions, as rotation's `renew-due` is passed through on the way to `renewing`.
 */
import type { StateValue } from '../replay/log-record.js';
import { leafPaths } from '../replay/state-value.js';
import { ancestry, containsNode, type ChartEdge, type Statechart } from './statechart.js';

export interface OverlayStep {
  readonly value: StateValue;
  readonly event: string;
}

export interface PathOverlay {
  /** Every state the path was in, with its ancestors. */
  readonly visited: ReadonlySet<string>;
  /** The leaves it is in now (or ended in), with their ancestors. */
  readonly current: ReadonlySet<string>;
  /** It ended in a final state. */
  readonly done: boolean;
  /** Edge id → the step numbers (1-based) that took it. */
  readonly edges: ReadonlyMap<string, readonly number[]>;
  /** Edge id → the event types that took it. */
  readonly events: ReadonlyMap<string, ReadonlySet<string>>;
  /** The initial arrow was taken (the path starts at the machine's start). */
  readonly initial: boolean;
  /** Steps no drawn transition explains (a log from another version). */
  readonly unexplained: readonly number[];
}

const MAX_ALWAYS_HOPS = 3;

export function leavesOf(chart: Statechart, value: StateValue): string[] {
  return leafPaths(value)
    .map((p) => `${chart.root}.${p}`)
    .filter((id) => chart.nodes.has(id));
}

export function overlayPath(chart: Statechart, steps: readonly OverlayStep[], done = false): PathOverlay {
  const bySource = new Map<string, ChartEdge[]>();
  for (const e of chart.edges) {
    const list = bySource.get(e.source);
    if (list) list.push(e);
    else bySource.set(e.source, [e]);
  }
  const visited = new Set<string>();
  const edges = new Map<string, number[]>();
  const events = new Map<string, Set<string>>();
  const unexplained: number[] = [];
  const reaches = (target: string, leaves: readonly string[]) => leaves.some((l) => containsNode(chart, target, l));

  /** Eventless transitions from `from` (its initial leaf and that leaf's ancestors) into `leaves`. */
  const alwaysChain = (from: string, leaves: readonly string[], hops: number): ChartEdge[] | null => {
    if (hops === 0) return null;
    let entered = from;
    for (let n = chart.nodes.get(entered); n?.initial; n = chart.nodes.get(n.initial)) entered = n.initial;
    for (const node of ancestry(chart, entered).reverse()) {
      for (const e of bySource.get(node) ?? []) {
        if (!e.transitions.some((t) => t.event === '')) continue;
        if (reaches(e.target, leaves)) return [e];
        const rest = alwaysChain(e.target, leaves, hops - 1);
        if (rest) return [e, ...rest];
      }
    }
    return null;
  };

  const explain = (prev: readonly string[], next: readonly string[], event: string): ChartEdge[] | null => {
    let fallback: ChartEdge[] | null = null;
    for (const leaf of prev) {
      for (const node of ancestry(chart, leaf).reverse()) {
        for (const e of bySource.get(node) ?? []) {
          if (!e.transitions.some((t) => t.event === event)) continue;
          if (reaches(e.target, next)) return [e];
          fallback ??= (() => {
            const chain = alwaysChain(e.target, next, MAX_ALWAYS_HOPS);
            return chain ? [e, ...chain] : null;
          })();
        }
      }
    }
    return fallback;
  };

  let prev: string[] = [];
  steps.forEach((step, i) => {
    const leaves = leavesOf(chart, step.value);
    for (const l of leaves) for (const a of ancestry(chart, l)) visited.add(a);
    if (i > 0) {
      const path = explain(prev, leaves, step.event);
      if (!path) unexplained.push(i + 1);
      for (const e of path ?? []) {
        const list = edges.get(e.id);
        if (list) list.push(i + 1);
        else edges.set(e.id, [i + 1]);
        let set = events.get(e.id);
        if (!set) events.set(e.id, (set = new Set()));
        set.add(e === path![0] ? step.event : '');
      }
    }
    prev = leaves;
  });
  const current = new Set<string>();
  for (const l of prev) for (const a of ancestry(chart, l)) current.add(a);
  return {
    visited,
    current,
    done,
    edges,
    events,
    initial: steps.length > 0 && steps[0]!.event === 'xstate.init',
    unexplained,
  };
}
