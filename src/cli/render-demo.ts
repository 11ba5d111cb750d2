/** The demo's live table and closing summary. */
import { formatDuration } from '../util/duration.js';

export interface DemoExecutorRow {
  readonly name: string;
  readonly state: string;
  readonly certLeftMs: number | null;
  readonly rotations: number;
  readonly heartbeats: number;
  readonly serial: string;
}

export interface DemoSummary {
  readonly durationMs: number;
  readonly executors: number;
  readonly certTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly enrollments: number;
  readonly rotations: Record<string, number>;
  readonly heartbeats: number;
  /** The longest time between two heartbeats of one executor at the access point. */
  readonly longestGapMs: number;
  /** Executors that left the roster before the end. */
  readonly linksDropped: number;
}

export function renderDemoTable(rows: DemoExecutorRow[], elapsedMs: number): string {
  const header = ['EXECUTOR', 'STATE', 'CERT LEFT', 'ROTATIONS', 'HEARTBEATS', 'SERIAL'];
  const cells = rows.map((r) => [
    r.name,
    r.state,
    r.certLeftMs === null ? '-' : r.certLeftMs > 0 ? formatDuration(r.certLeftMs) : 'expired',
    String(r.rotations),
    String(r.heartbeats),
    r.serial.slice(0, 12),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => x.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [`t+${formatDuration(elapsedMs)}`, line(header), ...cells.map(line)].join('\n');
}

/** Late means a heartbeat missed: more than one and a half intervals between two. */
export function heartbeatLate(s: DemoSummary): boolean {
  return s.longestGapMs > s.heartbeatIntervalMs * 1.5;
}

export function demoSummary(s: DemoSummary): string {
  const total = Object.values(s.rotations).reduce((a, b) => a + b, 0);
  const per = Object.entries(s.rotations)
    .map(([n, r]) => `${n}: ${r}`)
    .join(', ');
  const gap = `${formatDuration(s.longestGapMs)} (interval ${formatDuration(s.heartbeatIntervalMs)}): ${heartbeatLate(s) ? 'a heartbeat was missed' : 'no heartbeat missed'}`;
  return [
    `summary after ${formatDuration(s.durationMs)}:`,
    `  enrollments    ${s.enrollments}`,
    `  rotations      ${total} (${per})`,
    `  heartbeats     ${s.heartbeats}`,
    `  longest gap    ${gap}`,
    `  links dropped  ${s.linksDropped}`,
  ].join('\n');
}
