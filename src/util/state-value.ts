/**
 * The top-level state name of an XState snapshot value (`'enrolled'`, or the key of
 * `{ renewing: 'applying' }`): what status, the machine log and replay call "the state". Typed
 * `unknown` so the lowest layer needs nothing of XState.
 */
export function topLevelState(value: unknown): string {
  if (typeof value === 'string') return value;
  return value !== null && typeof value === 'object' ? (Object.keys(value)[0] ?? '') : '';
}
