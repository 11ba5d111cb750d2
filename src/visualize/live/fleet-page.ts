/**
 * What the live view sends of a large fleet: the counts by state and a histogram of certificate
 * time left over all of it, and one page of the table (searched by name or ID) — computed on the
 * access point, so that at 10,000 executors a browser gets a hundred rows, not ten thousand.
 */
import { FLEET_STATES, type FleetState } from '../../model/fleet-filter.js';

export const PAGE_SIZE = 100;
const MAX_SEARCH = 200;
const M = 60_000;
const H = 60 * M;
const D = 24 * H;

/** What one reader of the view asks for: `?q=` (substring of name or ID) and `?page=` (from 1). */
export interface FleetQuery {
  readonly q: string;
  readonly page: number;
}

export const FIRST_PAGE: FleetQuery = { q: '', page: 1 };

export function fleetQueryFrom(params: URLSearchParams): FleetQuery {
  const page = Number.parseInt(params.get('page') ?? '1', 10);
  return { q: (params.get('q') ?? '').trim().slice(0, MAX_SEARCH), page: Number.isFinite(page) && page >= 1 ? Math.min(page, 1_000_000) : 1 };
}

export const queryKey = (q: FleetQuery) => `${q.page}\n${q.q}`;

/** The histogram's bars, shortest time left first; a certificate falls in the first it is under. */
export const TIME_LEFT_BUCKETS: ReadonlyArray<{ readonly label: string; readonly underMs: number }> = [
  { label: 'expired', underMs: 0 },
  { label: '< 10m', underMs: 10 * M },
  { label: '< 1h', underMs: H },
  { label: '< 6h', underMs: 6 * H },
  { label: '< 1d', underMs: D },
  { label: '< 7d', underMs: 7 * D },
  { label: '≥ 7d', underMs: Number.POSITIVE_INFINITY },
];

export interface TimeLeftBar {
  readonly label: string;
  readonly count: number;
}

export function timeLeftHistogram(certNotAfter: Iterable<number>, now: number): TimeLeftBar[] {
  const counts = TIME_LEFT_BUCKETS.map(() => 0);
  for (const end of certNotAfter) {
    const left = end - now;
    const i = left <= 0 ? 0 : TIME_LEFT_BUCKETS.findIndex((b, j) => j > 0 && left < b.underMs);
    counts[i]!++;
  }
  return TIME_LEFT_BUCKETS.map((b, i) => ({ label: b.label, count: counts[i]! }));
}

/** The view's states: the roster's, then executors it saw leave, then links never admitted. */
export type ViewCountKey = FleetState | 'departed' | 'unadmitted';

export function emptyCounts(): Record<ViewCountKey, number> {
  return Object.fromEntries([...FLEET_STATES, 'departed', 'unadmitted'].map((k) => [k, 0])) as Record<ViewCountKey, number>;
}

/** Case-insensitive substring of the name or the ID; everything for an empty search. */
export function searchMatcher(q: string): (e: { name: string; id: string }) => boolean {
  const needle = q.toLowerCase();
  if (!needle) return () => true;
  return (e) => e.name.toLowerCase().includes(needle) || e.id.toLowerCase().includes(needle);
}

/** The page asked for, moved back to the last one when the fleet has shrunk under it. */
export function pageOf<T>(rows: readonly T[], page: number): { rows: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const at = Math.min(page, pages);
  return { rows: rows.slice((at - 1) * PAGE_SIZE, at * PAGE_SIZE), page: at, pages };
}
