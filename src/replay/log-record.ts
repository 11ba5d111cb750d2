/**
 * One line of a log, as replay sees it. The machine lines are the ones `src/log/machine-log.ts`
 * writes (component `ah_machine`, `kind` event or state); they arrive as plain JSON lines (stdout,
 * `journalctl -o cat`), behind a journal prefix (`journalctl -o short`: `Nov 29 16:20:01 host
 * ah[123]: {json}`, also short-iso and short-precise), or wrapped in `journalctl -o json` entries
 * (`MESSAGE`). Everything else is classified, never guessed at:
 *
 * - `machine`: ours, parsed and checked field by field;
 * - `other`: an ah log line of another component (info lines, a link's heartbeats, ...), not
 *   needed for replay but for its time: the log goes on until the last line of ours;
 * - `foreign`: not an ah log line at all (a systemd message, a blank, garbage), skipped and counted;
 * - a line that starts like ours but does not parse (cut short, edited by hand) throws
 *   `LogLineError` naming the line: replaying around a damaged line would rebuild a wrong path.
 */

export interface MachineEventRecord {
  readonly kind: 'event';
  readonly line: number;
  readonly time: number;
  readonly actor: string;
  readonly machine: string;
  /** `init`, `external`, `self` or `child:<id>`. */
  readonly source: string;
  readonly event: { readonly type: string; readonly [key: string]: unknown };
}

export interface MachineStateRecord {
  readonly kind: 'state';
  readonly line: number;
  readonly time: number;
  readonly actor: string;
  readonly machine: string;
  /** The top-level state name. */
  readonly state: string;
  /** The full state value (`"enrolled"`, `{"renewing":"applying"}`). */
  readonly value: StateValue;
  /** The type of the event that led here. */
  readonly event: string;
}

export type StateValue = string | { readonly [key: string]: StateValue };

export type MachineRecord = MachineEventRecord | MachineStateRecord;

export type Classified =
  | { readonly kind: 'machine'; readonly record: MachineRecord }
  /** `time` is null when the line carries none that can be read. */
  | { readonly kind: 'other'; readonly time: number | null }
  | { readonly kind: 'foreign' };

/** A line that looks like ours but cannot be read; `line` is 1-based. */
export class LogLineError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'LogLineError';
  }
}

const OTHER_UNTIMED: Classified = { kind: 'other', time: null };
const FOREIGN: Classified = { kind: 'foreign' };

/** Every pino line of ours starts with this (logger.ts puts `level` first). */
const OURS = '{"level":';

/**
 * Where the JSON of one of our lines starts, or -1. At column 0 for plain lines; after a syslog-
 * style `identifier[pid]: ` (or `identifier: `) for journalctl's short formats.
 */
function jsonStart(text: string): number {
  if (text.startsWith(OURS)) return 0;
  const at = text.indexOf(`: ${OURS}`);
  return at > 0 ? at + 2 : -1;
}

/**
 * Another component's line, with its time read from the JSON without parsing it (pino writes
 * `"time":<epoch ms>` near the start): a long debug log is mostly such lines.
 */
function other(json: string): Classified {
  const at = json.indexOf('"time":');
  if (at < 0) return OTHER_UNTIMED;
  const time = Number.parseInt(json.slice(at + 7, at + 27), 10);
  return Number.isSafeInteger(time) ? { kind: 'other', time } : OTHER_UNTIMED;
}

function excerpt(text: string): string {
  const flat = text.replace(/[^\x20-\x7e]/g, '?');
  return flat.length > 60 ? `${flat.slice(0, 57)}...` : flat;
}

export function classifyLine(raw: string, line: number): Classified {
  const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  let start = jsonStart(text);
  let json: string;
  if (start === -1) {
    // `journalctl -o json`: our line is the entry's MESSAGE.
    if (text.startsWith('{') && text.includes('"MESSAGE"')) {
      let entry: { MESSAGE?: unknown };
      try {
        entry = JSON.parse(text) as { MESSAGE?: unknown };
      } catch {
        throw new LogLineError(line, `not valid JSON (cut short?): ${excerpt(text)}`);
      }
      if (typeof entry.MESSAGE !== 'string' || !entry.MESSAGE.startsWith(OURS)) return FOREIGN;
      json = entry.MESSAGE;
      start = 0;
    } else if (text.trimStart().startsWith('{')) {
      // A JSON line that is not pino's: an edited or garbled line of ours, most likely.
      try {
        JSON.parse(text);
      } catch {
        throw new LogLineError(line, `not valid JSON: ${excerpt(text)}`);
      }
      return FOREIGN;
    } else {
      return FOREIGN;
    }
  } else {
    json = start === 0 ? text : text.slice(start);
  }
  // Cheap checks first: most lines of a long log are ours but not the machine's.
  const trimmed = json.trimEnd();
  if (!trimmed.endsWith('}')) throw new LogLineError(line, `line cut short (no closing brace): ${excerpt(trimmed.slice(-60))}`);
  if (!trimmed.includes('"component":"ah_machine"')) return other(trimmed);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(trimmed) as Record<string, unknown>;
  } catch (err) {
    throw new LogLineError(line, `not valid JSON (${(err as Error).message})`);
  }
  if (parsed.component !== 'ah_machine')
    return typeof parsed.time === 'number' && Number.isSafeInteger(parsed.time) ? { kind: 'other', time: parsed.time } : OTHER_UNTIMED;
  return { kind: 'machine', record: toRecord(parsed, line) };
}

function field<T>(o: Record<string, unknown>, name: string, type: 'string' | 'number' | 'object', line: number): T {
  const v = o[name];
  if (type === 'object' ? v === null || typeof v !== 'object' : typeof v !== type) {
    throw new LogLineError(line, `machine log line without a valid "${name}" (${type} expected, got ${v === undefined ? 'nothing' : JSON.stringify(v)})`);
  }
  return v as T;
}

function isStateValue(v: unknown): v is StateValue {
  if (typeof v === 'string') return true;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  return Object.values(v).every(isStateValue);
}

function toRecord(o: Record<string, unknown>, line: number): MachineRecord {
  const kind = o.kind;
  const time = field<number>(o, 'time', 'number', line);
  const actor = field<string>(o, 'actor', 'string', line);
  const machine = field<string>(o, 'machine', 'string', line);
  if (kind === 'event') {
    const source = field<string>(o, 'source', 'string', line);
    const event = field<{ type: string }>(o, 'event', 'object', line);
    if (typeof event.type !== 'string') throw new LogLineError(line, 'machine event line whose event has no "type"');
    return { kind, line, time, actor, machine, source, event };
  }
  if (kind === 'state') {
    const state = field<string>(o, 'state', 'string', line);
    const event = field<string>(o, 'event', 'string', line);
    if (!isStateValue(o.value)) throw new LogLineError(line, `machine state line with an invalid "value" (${JSON.stringify(o.value)})`);
    return { kind, line, time, actor, machine, state, value: o.value, event };
  }
  throw new LogLineError(line, `machine log line of unknown kind ${JSON.stringify(kind)} (expected "event" or "state")`);
}
