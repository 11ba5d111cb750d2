/** State values as the log carries them (`"enrolled"`, `{"renewing":"applying"}`), compared and named. */
import type { StateValue } from './log-record.js';

export function sameValue(a: StateValue, b: StateValue): boolean {
  if (a === b) return true;
  if (typeof a === 'string' || typeof b === 'string') return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const vb = b[k];
    if (vb === undefined || !sameValue(a[k]!, vb)) return false;
  }
  return true;
}

/** Dotted paths of the active leaves: `renewing.applying`; parallel regions give several. */
export function leafPaths(value: StateValue, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, `${prefix}${k}.`));
}

/** How people read a state: `renewing.applying`. */
export function formatValue(value: StateValue): string {
  return leafPaths(value).join(' + ');
}
