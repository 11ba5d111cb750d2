/**
 * Reads the access point's `fleet` answer line by line (docs/status-json.md): a header, one line
 * per executor, the summary. Each executor line is handed on as the JSON text of its entry, so that
 * `--json` copies it to stdout without parsing it. An access point from before streaming answers
 * one object instead: then the filter is applied here, to the same effect.
 */
import type { AuditHealth } from '../audit/audit-log.js';
import type { AhError } from '../errors/ah-error.js';
import { FleetTally, fleetMatcher, isFleetState, type FleetFilter, type FleetSummary } from '../model/fleet-filter.js';
import type { FleetEntryJson } from '../model/status.js';

/** Where the answer goes: the JSON writer or the table. */
export interface FleetSink {
  begin(audit: AuditHealth | null): void;
  /** One entry, as JSON text. */
  executor(json: string): void;
  end(summary: FleetSummary, audit: AuditHealth | null): void;
}

export interface FleetReadErrors {
  /** The answer is not an ah fleet answer. */
  notAnAnswer(): AhError;
  /** The access point answered with an error. */
  refused(message: string): AhError;
  /** The answer stopped before its summary. */
  cutShort(): AhError;
}

const EXECUTOR_PREFIX = '{"executor":';

export class FleetAnswerReader {
  private phase: 'start' | 'rows' | 'done' = 'start';
  private audit: AuditHealth | null = null;

  constructor(
    private readonly sink: FleetSink,
    private readonly filter: FleetFilter,
    private readonly errors: FleetReadErrors,
  ) {}

  line(text: string): void {
    if (this.phase === 'rows' && text.startsWith(EXECUTOR_PREFIX) && text.endsWith('}')) {
      this.sink.executor(text.slice(EXECUTOR_PREFIX.length, -1));
      return;
    }
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw this.errors.notAnAnswer();
    }
    if (typeof message !== 'object' || message === null) throw this.errors.notAnAnswer();
    if (typeof message.error === 'string') throw this.errors.refused(message.error);
    if (this.phase === 'start' && typeof message.fleet === 'object' && message.fleet !== null) {
      this.audit = ((message.fleet as { audit?: AuditHealth | null }).audit ?? null) as AuditHealth | null;
      this.sink.begin(this.audit);
      this.phase = 'rows';
    } else if (this.phase === 'start' && Array.isArray(message.executors)) {
      this.whole(message.executors as FleetEntryJson[], (message.audit ?? null) as AuditHealth | null);
    } else if (this.phase === 'rows' && typeof message.summary === 'object' && message.summary !== null) {
      this.sink.end(message.summary as FleetSummary, this.audit);
      this.phase = 'done';
    } else {
      throw this.errors.notAnAnswer();
    }
  }

  /** After the last line: an answer without its summary is cut short. */
  finish(): void {
    if (this.phase !== 'done') throw this.errors.cutShort();
  }

  /** An older access point's one object: filtered and summed up here. */
  private whole(executors: readonly FleetEntryJson[], audit: AuditHealth | null): void {
    const keep = fleetMatcher(this.filter, Date.now());
    const tally = new FleetTally();
    this.sink.begin(audit);
    for (const e of executors) {
      const facts = { id: e.id, name: e.name, state: isFleetState(e.state) ? e.state : 'active', certNotAfter: Date.parse(e.certNotAfter) } as const;
      if (!keep(facts)) continue;
      tally.add(facts);
      this.sink.executor(JSON.stringify(e));
    }
    this.sink.end(tally.summary(executors.length), audit);
    this.phase = 'done';
  }
}
