import { catalog, fillTemplate, isErrorCode, renderMessage, type ErrorCode, type ErrorParams } from './catalog.js';

declare const peerCode: unique symbol;

/**
 * A code from outside this build that its catalog does not hold: a newer peer's, in a `reject`
 * frame, kept as sent. Only `codeAsReceived` makes one: a code written in our own source must be
 * the catalog's, so a misspelt one fails `tsc`.
 */
export type PeerCode = string & { readonly [peerCode]: true };

/** A code as it arrived (from a peer, a thrown value): the catalog's when we know it, else a PeerCode. */
export function codeAsReceived(code: string): ErrorCode | PeerCode {
  return isErrorCode(code) ? code : (code as PeerCode);
}

/** An error as it crosses the wire or a process boundary: any code, known here or not. */
export interface WireErrorInfo {
  readonly code: string;
  readonly params: ErrorParams;
  readonly retryable: boolean;
}

/**
 * The plain-data form of an error: what machines keep in context, events carry and status shows.
 * Built here, its code is the catalog's; from a peer, it may be one this build does not know.
 */
export interface ErrorInfo extends WireErrorInfo {
  readonly code: ErrorCode | PeerCode;
}

/**
 * Catalog errors are outcomes, not bugs (a lost link, a refused certificate), and a fleet that
 * reconnects makes them by the thousand; capturing a stack was most of what making one cost
 * (about 25 µs). Their stack is captured only under AH_DEBUG, which prints it.
 */
const CAPTURE_STACKS = Boolean(process.env.AH_DEBUG);

/** An error from the catalog. `message` is the guide's text with the real values filled in. */
export class AhError extends Error {
  readonly code: ErrorCode | PeerCode;
  readonly params: ErrorParams;
  readonly retryable: boolean;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    const stackTraceLimit = Error.stackTraceLimit;
    if (!CAPTURE_STACKS) Error.stackTraceLimit = 0;
    try {
      super(renderMessage(code, params), options);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.name = 'AhError';
    this.code = code;
    this.params = params;
    this.retryable = catalog[code].retryable;
  }

  /**
   * Rebuild from plain data, e.g. a `reject` frame or a status answer. A code this build does not
   * know is kept, with the peer's words as the message; its params stay the peer's, so `toInfo()`
   * (status, a machine's lastError) still renders those words rather than the bare code.
   */
  static fromInfo(info: WireErrorInfo): AhError {
    const code = codeAsReceived(info.code);
    if (isErrorCode(code)) return new AhError(code, info.params);
    const err = new AhError('ENROLL_PROTOCOL_ERROR', { detail: info.params.message ?? code });
    return Object.assign(err, { code, params: info.params, retryable: info.retryable });
  }

  toInfo(): ErrorInfo {
    return { code: this.code, params: this.params, retryable: this.retryable };
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function messageOf(info: Pick<WireErrorInfo, 'code' | 'params'>): string {
  return renderMessage(info.code, info.params);
}

/**
 * What the CLI prints on stderr when it gives up: `error: <message>` first, exactly as the guide
 * has it, then the guide's likely causes and fixes, indented.
 */
export function formatForTerminal(info: Pick<WireErrorInfo, 'code' | 'params'>): string {
  const lines = [`error: ${messageOf(info)}`];
  // The rule that failed, when the guide's message is shorter than the cause (SAN mismatch, ...).
  const reason = info.params.reason;
  if (reason && isErrorCode(info.code) && !catalog[info.code].message.includes('{reason}')) lines.push(`  Reason: ${reason}`);
  if (isErrorCode(info.code)) {
    const entry = catalog[info.code];
    if (entry.causes.length) {
      lines.push('  Possible causes:');
      entry.causes.forEach((c, i) => lines.push(`    ${i + 1}. ${fillTemplate(c, info.params)}`));
    }
    if (entry.solutions.length) {
      lines.push('  Solutions:');
      for (const s of entry.solutions) lines.push(`    ${fillTemplate(s, info.params)}`);
    }
    lines.push(`  See: enrollment troubleshooting guide, "${entry.guideSection}" (code ${info.code})`);
  }
  return lines.join('\n');
}
