/**
 * Durations as operators write them: `500ms`, `30s`, `5m`, `1h30m`, `2d`, or a bare number of
 * seconds. Formatting gives back the short form, so "connection timed out after 30s" reads as
 * the flag was written.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(trimmed)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== trimmed.length) {
    throw new RangeError(`invalid duration '${text}' (use e.g. 500ms, 30s, 5m, 1h)`);
  }
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) {
    const s = ms / 1000;
    return `${Number.isInteger(s) ? s : Number(s.toFixed(1))}s`;
  }
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/** The durations a setting accepts, both ends included. */
export interface DurationRange {
  readonly minMs: number;
  readonly maxMs: number;
}

/** `100ms..1h`, as help texts and range errors show it. */
export function formatRange(range: DurationRange): string {
  return `${formatDuration(range.minMs)}..${formatDuration(range.maxMs)}`;
}

export function inRange(ms: number, range: DurationRange): boolean {
  return ms >= range.minMs && ms <= range.maxMs;
}
