/**
 * Deterministic randomness for the machines. The seed comes in through the actor's input (drawn
 * from crypto by the engine, logged with the actor's start), and each draw advances the state kept
 * in context, so a replay from the log draws the very same jitter.
 *
 * mulberry32: small, fast, good enough for spreading retries; not for secrets.
 */
export function nextRandom(state: number): { value: number; state: number } {
  const next = (state + 0x6d2b79f5) | 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  const value = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  return { value, state: next };
}
