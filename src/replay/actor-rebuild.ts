/**
 * One actor's run, rebuilt from its log lines: the pure machine is started with the input its
 * `xstate.init` line carries (seeds included, so jitter draws come out the same), then fed every
 * event the log says it received, verbatim, on a clock that never moves (frozen-clock.ts). Each
 * change of state the machine makes must be matched by the log's next `state` line for the actor,
 * with the same value and the same event; where it is not, that is a mismatch, with the line.
 *
 * Matching is by queue rather than line by line: an event an actor receives while it is still
 * processing another is logged when it is sent, before the first one's state line, so the log can
 * read event, event, state, state.
 */
import { createActor, fromCallback, type AnyActor, type AnyStateMachine } from 'xstate';
import { FrozenClock } from './frozen-clock.js';
import type { MachineEventRecord, MachineStateRecord, StateValue } from './log-record.js';
import { formatValue, sameValue } from './state-value.js';
import { topLevelState } from '../util/state-value.js';

export interface PathStep {
  /** Line of the event that led here (the init line for the first step). */
  readonly line: number;
  /** Line of the log's own state line for this step, once matched. */
  stateLine: number | null;
  readonly time: number;
  readonly event: string;
  readonly source: string;
  readonly value: StateValue;
  readonly state: string;
  /** Events received in this state that did not leave it (heartbeats, acks), by type. */
  readonly quiet: Record<string, number>;
  quietCount: number;
  /** Line of the last of those events, for the timeline. */
  lastQuietLine: number | null;
  lastQuietTime: number | null;
  /** The error the event carried, if any (`LINK_FAILED`, `xstate.error.actor.*`), as logged. */
  readonly error: { code: string; params: Record<string, string> } | null;
}

export type MismatchKind = 'different-state' | 'missing-state-line' | 'unexpected-state-line' | 'machine-error';

export interface Mismatch {
  readonly kind: MismatchKind;
  /** The line where it shows: the state line that disagrees, or the event line whose state line is missing. */
  readonly line: number;
  /** The event (type and line) the rebuilt machine processed last before it. */
  readonly event: string | null;
  readonly eventLine: number | null;
  /** What the machine says (null when it made no change). */
  readonly rebuilt: StateValue | null;
  /** What the log says (null when it has no state line). */
  readonly logged: StateValue | null;
  readonly detail: string;
}

interface Pending {
  readonly value: StateValue;
  readonly event: string;
  readonly line: number;
  readonly time: number;
  readonly step: PathStep;
}

/** A change whose state line the log has not got yet: it ends right after the event. */
export interface Unconfirmed {
  readonly line: number;
  readonly event: string;
  readonly rebuilt: StateValue;
}

/**
 * A log copied while the daemon writes it can end between an event line and its state line; a
 * change that close to the end of the log is shown as rebuilt, not counted as a disagreement.
 */
export const TAIL_MS = 1_000;

/** How many mismatches to keep per actor; after the first, the rest are mostly its echo. */
const MISMATCHES_KEPT = 20;

const sink = fromCallback(() => {});

function carriedError(event: MachineEventRecord['event']): PathStep['error'] {
  const e = event.error as { code?: unknown; params?: unknown } | undefined | null;
  if (!e || typeof e !== 'object' || typeof e.code !== 'string') return null;
  const params = e.params && typeof e.params === 'object' ? (e.params as Record<string, string>) : {};
  return { code: e.code, params };
}

export class ActorRebuild {
  readonly steps: PathStep[] = [];
  readonly mismatches: Mismatch[] = [];
  mismatchCount = 0;
  readonly unconfirmed: Unconfirmed[] = [];
  events = 0;
  firstTime: number;
  lastTime: number;
  /** The machine threw on an event (only a log edited by hand or from another version does that). */
  failure: { line: number; event: string; message: string } | null = null;
  readonly input: unknown;
  private ref: AnyActor | null = null;
  private parent: AnyActor | null = null;
  private readonly pending: Pending[] = [];
  private current: StateValue | null = null;
  private lastEvent: { type: string; line: number } | null = null;
  private thrown: unknown = null;

  /**
   * @param logic the replayable machine, or null when the log holds no init line for this actor
   *   (it started before the log begins): then its path is the log's state lines, unchecked.
   */
  constructor(
    readonly actor: string,
    readonly machine: string,
    readonly run: number,
    logic: AnyStateMachine | null,
    init: MachineEventRecord | MachineStateRecord,
  ) {
    this.firstTime = this.lastTime = init.time;
    this.input = init.kind === 'event' ? (init.event as { input?: unknown }).input : undefined;
    if (logic && init.kind === 'event') this.start(logic, init);
    else if (init.kind === 'state') this.onState(init);
    else this.events++;
  }

  /** Rebuilt from the machine (true), or only read from the log's state lines (false). */
  get rebuilt(): boolean {
    return this.ref !== null || this.failure !== null;
  }

  get value(): StateValue | null {
    return this.current;
  }

  /** The rebuilt machine's context (null when not rebuilt). */
  get context(): Record<string, unknown> | null {
    return this.ref ? ((this.ref.getSnapshot() as { context?: Record<string, unknown> }).context ?? null) : null;
  }

  private start(logic: AnyStateMachine, init: MachineEventRecord): void {
    this.events++;
    // A parent that swallows what the machine sends it (`sendParent` of a rotation child).
    const clock = new FrozenClock();
    this.parent = createActor(sink, { clock }).start();
    const id = this.actor.includes('/') ? this.actor.slice(this.actor.lastIndexOf('/') + 1) : this.actor;
    const ref = createActor(logic, { input: this.input, clock, parent: this.parent, id });
    // Without an error observer XState rethrows the error asynchronously and the process dies.
    ref.subscribe({ error: (err: unknown) => (this.thrown = err) });
    this.ref = ref;
    ref.start();
    if (this.checkThrown(init)) return;
    this.changedTo(this.valueOf(ref), init);
  }

  private valueOf(ref: AnyActor): StateValue {
    return (ref.getSnapshot() as { value: StateValue }).value;
  }

  private checkThrown(record: MachineEventRecord): boolean {
    const snap = this.ref!.getSnapshot() as { status: string; error?: unknown };
    if (snap.status !== 'error' && this.thrown === null) return false;
    const err = this.thrown ?? snap.error;
    const message = (err as Error)?.message ?? String(err);
    this.failure = { line: record.line, event: record.event.type, message };
    this.addMismatch({
      kind: 'machine-error',
      line: record.line,
      event: record.event.type,
      eventLine: record.line,
      rebuilt: null,
      logged: null,
      detail: `the machine threw on ${record.event.type}: ${message}; later lines of this actor are shown as logged`,
    });
    this.ref = null;
    this.parent?.stop();
    return true;
  }

  private changedTo(value: StateValue, record: MachineEventRecord): void {
    const step: PathStep = {
      line: record.line,
      stateLine: null,
      time: record.time,
      event: record.event.type,
      source: record.source,
      value,
      state: topLevelState(value),
      quiet: {},
      quietCount: 0,
      lastQuietLine: null,
      lastQuietTime: null,
      error: carriedError(record.event),
    };
    this.steps.push(step);
    this.current = value;
    this.pending.push({ value, event: record.event.type, line: record.line, time: record.time, step });
  }

  private quiet(record: MachineEventRecord): void {
    const step = this.steps[this.steps.length - 1];
    if (!step) return;
    const type = record.event.type;
    step.quiet[type] = (step.quiet[type] ?? 0) + 1;
    step.quietCount++;
    step.lastQuietLine = record.line;
    step.lastQuietTime = record.time;
  }

  onEvent(record: MachineEventRecord): void {
    this.events++;
    this.lastTime = record.time;
    const ref = this.ref;
    if (!ref) return this.quiet(record);
    this.lastEvent = { type: record.event.type, line: record.line };
    ref.send(record.event);
    if (this.thrown !== null || ref.getSnapshot().status === 'error') {
      if (this.checkThrown(record)) return;
    }
    const value = this.valueOf(ref);
    if (sameValue(value, this.current!)) this.quiet(record);
    else this.changedTo(value, record);
  }

  onState(record: MachineStateRecord): void {
    this.lastTime = record.time;
    if (!this.ref) {
      // Not rebuilt: the log's word is all there is.
      if (this.current !== null && sameValue(this.current, record.value)) return;
      this.current = record.value;
      this.steps.push({
        line: record.line,
        stateLine: record.line,
        time: record.time,
        event: record.event,
        source: 'log',
        value: record.value,
        state: record.state,
        quiet: {},
        quietCount: 0,
        lastQuietLine: null,
        lastQuietTime: null,
        error: null,
      });
      return;
    }
    const at = this.pending.findIndex((p) => sameValue(p.value, record.value) && p.event === record.event && topLevelState(p.value) === record.state);
    if (at === -1) {
      const head = this.pending.shift();
      if (head) {
        head.step.stateLine = record.line;
        this.addMismatch({
          kind: 'different-state',
          line: record.line,
          event: head.event,
          eventLine: head.line,
          rebuilt: head.value,
          logged: record.value,
          detail:
            `after ${head.event} (line ${head.line}) the machine is in ${formatValue(head.value)}, the log says ${formatValue(record.value)}` +
            (record.event !== head.event ? ` after ${record.event}` : '') +
            (record.state !== topLevelState(record.value) ? ` (its "state" field says ${record.state})` : ''),
        });
      } else {
        this.addMismatch({
          kind: 'unexpected-state-line',
          line: record.line,
          event: this.lastEvent?.type ?? null,
          eventLine: this.lastEvent?.line ?? null,
          rebuilt: this.current,
          logged: record.value,
          detail:
            `the log says ${formatValue(record.value)} after ${record.event}, but the machine stays in ${formatValue(this.current!)}` +
            (this.lastEvent ? ` (last event ${this.lastEvent.type}, line ${this.lastEvent.line})` : ''),
        });
      }
      return;
    }
    // Changes before the matching one whose state lines are missing.
    for (const skipped of this.pending.splice(0, at)) this.missing(skipped, `before line ${record.line}`);
    this.pending.shift()!.step.stateLine = record.line;
  }

  private missing(p: Pending, where: string): void {
    this.addMismatch({
      kind: 'missing-state-line',
      line: p.line,
      event: p.event,
      eventLine: p.line,
      rebuilt: p.value,
      logged: null,
      detail: `after ${p.event} (line ${p.line}) the machine moves to ${formatValue(p.value)}, but the log has no state line for it ${where}`,
    });
  }

  /** How the run ended: `done` (a final state), `error`, `active`, or `logged` (not rebuilt). */
  status: 'active' | 'done' | 'error' | 'logged' = 'active';

  /**
   * End of the run: changes still waiting for their state line are missing, unless `--at` cut the
   * log (the state line may lie after the cut: `where` is null), or the log ends within TAIL_MS of
   * them (`logEnd`: it was copied while being written).
   */
  finish(where: string | null, logEnd: number | null = null): void {
    this.status = this.failure ? 'error' : !this.ref ? 'logged' : this.ref.getSnapshot().status === 'done' ? 'done' : 'active';
    if (where === null) {
      this.pending.length = 0;
      return;
    }
    for (const p of this.pending.splice(0)) {
      if (logEnd !== null && logEnd - p.time <= TAIL_MS) this.unconfirmed.push({ line: p.line, event: p.event, rebuilt: p.value });
      else this.missing(p, where);
    }
  }

  private addMismatch(m: Mismatch): void {
    this.mismatchCount++;
    if (this.mismatches.length < MISMATCHES_KEPT) this.mismatches.push(m);
  }

  /** The rebuilt actor is the sink's child in name only; stopping the sink ends the system. */
  dispose(): void {
    this.parent?.stop();
  }
}
