/**
 * A statechart, and optionally a path over it, as Graphviz DOT (docs/toolchain-notes.md
 * §Drawing statecharts): compound states are clusters with their own initial dot, final states have
 * a double border, visited states are shaded, the state the path is in (or ended in) is orange and
 * bold, and the transitions it took are red and carry their step numbers.
 *
 * Every state and transition gets an `id` and `class` that Graphviz copies into the SVG
 * (`state:<node id>`, `visited`, `current`, `taken`, `step-N`), so the page's script and its tests
 * can find them.
 */
import type { PathOverlay } from './path-overlay.js';
import type { ChartEdge, ChartNode, Statechart } from './statechart.js';

const COLORS = {
  text: '#263238',
  line: '#90a4ae',
  cluster: '#eceff1',
  visited: '#fff3c4',
  visitedCluster: '#fffbea',
  current: '#ffb74d',
  taken: '#d32f2f',
};

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
const attrs = (a: Record<string, string | number | undefined>) =>
  `[${Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? v : q(v!)}`)
    .join(', ')}]`;

const anchorOf = (id: string) => `${id}::init`;
const ANY = '::any';

/** `#2 #4 #6 … #52 (26×)`: a retry storm should not print its whole history on one arrow. */
export function stepNumbers(steps: readonly number[]): string {
  if (steps.length <= 5) return steps.map((n) => `#${n}`).join(' ');
  return `${steps
    .slice(0, 3)
    .map((n) => `#${n}`)
    .join(' ')} … #${steps[steps.length - 1]} (${steps.length}×)`;
}

function nodeClass(id: string, overlay: PathOverlay | null, extra: string): string {
  const classes = ['state', extra];
  if (overlay?.visited.has(id)) classes.push('visited');
  if (overlay?.current.has(id)) classes.push(overlay.done ? 'current final-reached' : 'current');
  return classes.filter(Boolean).join(' ');
}

/**
 * The DOT text, written top to bottom as Graphviz reads it: graph attributes, clusters, nodes,
 * then edges. Longer than a screen on purpose: the layout decisions depend on one another and
 * read best in that order.
 * @param idPrefix put before every SVG id, so that several drawings of one machine (several links)
 *   on one page keep their ids unique: `link-3/state:connection.active`.
 */
export function toDot(chart: Statechart, overlay: PathOverlay | null = null, title = chart.machine, idPrefix = ''): string {
  const out: string[] = [];
  const indent = (depth: number) => '  '.repeat(depth);
  out.push(`digraph ${q(chart.machine)} {`);
  out.push(
    `  graph ${attrs({ rankdir: 'LR', compound: 'true', fontname: 'Helvetica', fontsize: 12, nodesep: 0.3, ranksep: 0.45, label: title, labelloc: 't', id: `${idPrefix}chart:${chart.machine}`, class: 'statechart', bgcolor: 'transparent' })};`,
  );
  out.push(
    `  node ${attrs({ shape: 'box', style: 'rounded,filled', fillcolor: 'white', color: COLORS.line, fontname: 'Helvetica', fontsize: 11, fontcolor: COLORS.text, margin: '0.12,0.04' })};`,
  );
  out.push(`  edge ${attrs({ fontname: 'Helvetica', fontsize: 9, color: COLORS.line, fontcolor: '#546e7a', arrowsize: 0.7 })};`);

  const isCompound = (n: ChartNode) => n.children.length > 0;
  const emitNode = (n: ChartNode, depth: number) => {
    const pad = indent(depth);
    const visited = overlay?.visited.has(n.id) ?? false;
    const current = overlay?.current.has(n.id) ?? false;
    const runs = n.invokes.length ? `\n⟳ ${n.invokes.join(', ')}` : '';
    if (isCompound(n)) {
      out.push(`${pad}subgraph ${q(`cluster_${n.id}`)} {`);
      out.push(
        `${pad}  graph ${attrs({
          label: `${n.key}${runs}`,
          id: `${idPrefix}state:${n.id}`,
          class: nodeClass(n.id, overlay, 'compound'),
          style: 'rounded,filled',
          fillcolor: current ? '#ffe0b2' : visited ? COLORS.visitedCluster : COLORS.cluster,
          color: current ? COLORS.current : COLORS.line,
          penwidth: current ? 2 : 1,
          fontsize: 11,
          labeljust: 'l',
        })};`,
      );
      out.push(
        `${pad}  ${q(anchorOf(n.id))} ${attrs({ shape: 'point', width: 0.09, label: '', color: COLORS.text, id: `${idPrefix}init:${n.id}`, class: 'initial' })};`,
      );
      for (const c of n.children) emitNode(chart.nodes.get(c)!, depth + 1);
      if (n.initial)
        out.push(
          `${pad}  ${q(anchorOf(n.id))} -> ${q(endpoint(n.initial).node)} ${attrs({ ...endpoint(n.initial).head, id: `${idPrefix}initial:${n.id}`, class: 'initial' })};`,
        );
      out.push(`${pad}}`);
      return;
    }
    const fill = current ? COLORS.current : visited ? COLORS.visited : 'white';
    out.push(
      `${pad}${q(n.id)} ${attrs({
        label: `${n.key}${runs}`,
        id: `${idPrefix}state:${n.id}`,
        class: nodeClass(n.id, overlay, n.type === 'final' ? 'final' : 'atomic'),
        fillcolor: fill,
        color: current ? '#e65100' : visited ? '#c9a227' : COLORS.line,
        penwidth: current ? 2.5 : 1,
        peripheries: n.type === 'final' ? 2 : undefined,
        fontname: current ? 'Helvetica-Bold' : undefined,
      })};`,
    );
  };

  /** Where an arrow into or out of a state attaches: compound states through their initial dot. */
  function endpoint(id: string): { node: string; head: Record<string, string>; tail: Record<string, string> } {
    const n = chart.nodes.get(id)!;
    if (!isCompound(n)) return { node: id, head: {}, tail: {} };
    return { node: anchorOf(id), head: { lhead: `cluster_${id}` }, tail: { ltail: `cluster_${id}` } };
  }

  const root = chart.nodes.get(chart.root)!;
  out.push(
    `  ${q(anchorOf(root.id))} ${attrs({ shape: 'point', width: 0.12, label: '', color: COLORS.text, id: `${idPrefix}init:${root.id}`, class: 'initial' })};`,
  );
  for (const c of root.children) emitNode(chart.nodes.get(c)!, 1);
  if (root.initial) {
    const to = endpoint(root.initial);
    const taken = overlay?.initial ?? false;
    out.push(
      `  ${q(anchorOf(root.id))} -> ${q(to.node)} ${attrs({
        ...to.head,
        id: `${idPrefix}initial:${root.id}`,
        class: taken ? 'transition initial taken step-1' : 'transition initial',
        color: taken ? COLORS.taken : COLORS.text,
        penwidth: taken ? 2.2 : 1,
        label: taken ? '#1' : undefined,
        fontcolor: taken ? COLORS.taken : undefined,
      })};`,
    );
  }
  if (chart.edges.some((e) => e.source === chart.root)) {
    out.push(
      `  ${q(ANY)} ${attrs({ shape: 'plaintext', label: 'any state', style: '', fontcolor: '#78909c', id: `${idPrefix}any:${chart.root}`, class: 'any' })};`,
    );
  }
  for (const e of chart.edges) out.push(`  ${edgeLine(e)}`);
  out.push('}');
  return out.join('\n');

  function edgeLine(e: ChartEdge): string {
    const from = e.source === chart.root ? { node: ANY, tail: {} } : endpoint(e.source);
    const to = endpoint(e.target);
    const steps = overlay?.edges.get(e.id);
    const takenEvents = overlay?.events.get(e.id);
    const labels = e.transitions.map((t) => (takenEvents?.has(t.event) ? `▶ ${t.label}` : t.label));
    if (steps) labels.push(stepNumbers(steps));
    return `${q(from.node)} -> ${q(to.node)} ${attrs({
      ...from.tail,
      ...to.head,
      label: labels.join('\n'),
      id: `${idPrefix}edge:${e.id}`,
      class: ['transition', steps ? 'taken' : '', ...(steps ?? []).slice(0, 200).map((n) => `step-${n}`)].filter(Boolean).join(' '),
      color: steps ? COLORS.taken : undefined,
      fontcolor: steps ? COLORS.taken : undefined,
      penwidth: steps ? 2.2 : undefined,
    })};`;
  }
}
