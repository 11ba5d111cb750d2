/** `ah agent fleet --access-points`: the fleet's access points as the asked one knows them. */
import type { AccessPointInfo } from '../model/fleet-directory.js';

export function renderAccessPoints(aps: readonly AccessPointInfo[]): string[] {
  const header = ['ID', 'ADDRESS', 'STATE', 'EXECUTORS'];
  const table = aps.map((a) => [a.id, a.address, a.state, String(a.executors)]);
  const widths = header.map((h, i) => table.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...table.map(line)];
}

/** The answer's list, or null when it is not an access point's answer to `access-points`. */
export function accessPointsOf(answer: unknown): AccessPointInfo[] | null {
  const list = (answer as { accessPoints?: unknown } | null)?.accessPoints;
  return Array.isArray(list) ? (list as AccessPointInfo[]) : null;
}
