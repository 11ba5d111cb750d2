/**
 * `--at TIME`: the moment to show. As an operator has it at hand: an ISO time from a JSON line
 * (`2026-11-29T16:20:01.250Z`), the clock time journalctl prints (`16:20:01`, local time, on the
 * day the log starts), an offset into the log (`+90s`, `+2m30s`), or epoch milliseconds.
 */
import { parseDuration } from '../util/duration.js';

export type TimeQuery =
  | { readonly kind: 'absolute'; readonly ms: number }
  | { readonly kind: 'offset'; readonly ms: number }
  | { readonly kind: 'clock'; readonly h: number; readonly m: number; readonly s: number; readonly ms: number };

export function parseTimeQuery(text: string): TimeQuery {
  const t = text.trim();
  if (t.startsWith('+')) return { kind: 'offset', ms: parseDuration(t.slice(1)) };
  if (/^\d{12,}$/.test(t)) return { kind: 'absolute', ms: Number(t) };
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(t);
  if (clock) {
    const [, h, m, s, frac] = clock;
    if (Number(h) > 23 || Number(m) > 59 || Number(s ?? 0) > 59) throw new RangeError(`invalid time of day '${text}'`);
    return { kind: 'clock', h: Number(h), m: Number(m), s: Number(s ?? 0), ms: Number((frac ?? '0').padEnd(3, '0')) };
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return { kind: 'absolute', ms };
  }
  throw new RangeError(`invalid time '${text}' (use an ISO time like 2026-11-29T16:20:01Z, a clock time like 16:20:01, +90s into the log, or epoch ms)`);
}

/** The query as epoch ms, given when the log starts. */
export function resolveTimeQuery(q: TimeQuery, logStart: number): number {
  switch (q.kind) {
    case 'absolute':
      return q.ms;
    case 'offset':
      return logStart + q.ms;
    case 'clock': {
      const d = new Date(logStart);
      d.setHours(q.h, q.m, q.s, q.ms);
      // A clock time before the log's first line means the next day (a log across midnight).
      return d.getTime() < logStart - 1000 ? d.getTime() + 86_400_000 : d.getTime();
    }
  }
}
