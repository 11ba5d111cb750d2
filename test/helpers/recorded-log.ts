/**
 * Logs recorded from real `ah` processes, byte for byte as they wrote them: a Daemon parses its
 * stdout into objects for waiting on lines, this keeps the raw text beside it, so the tests replay
 * exactly what an operator would copy out of `journalctl -o cat`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Daemon } from './cli.js';

export interface RawLog {
  /** Everything written so far, up to the last complete line (a copy taken while it runs). */
  text(): string;
  /** Write that text to `dir/name` and return the path. */
  save(dir: string, name: string): string;
}

export function recordStdout(daemon: Daemon): RawLog {
  let raw = '';
  daemon.child.stdout!.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
  const text = () => raw.slice(0, raw.lastIndexOf('\n') + 1);
  return {
    text,
    save(dir, name) {
      mkdirSync(dir, { recursive: true });
      const path = join(dir, name);
      writeFileSync(path, text());
      return path;
    },
  };
}

/** Each machine line's `state` records per actor, as the log has them: the independent truth. */
export function loggedStates(text: string): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  for (const line of text.split('\n')) {
    if (!line.includes('"component":"ah_machine"')) continue;
    const o = JSON.parse(line) as { kind: string; actor: string; value: unknown };
    if (o.kind !== 'state') continue;
    if (!out.has(o.actor)) out.set(o.actor, []);
    out.get(o.actor)!.push(o.value);
  }
  return out;
}
