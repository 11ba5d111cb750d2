import { catalog, fillTemplate, isErrorCode, renderMessage, type ErrorCode, type ErrorParams } from './catalog.js';

/** The plain-data form of an error: what machines keep in context, events carry and status shows. */
export interface ErrorInfo {
  readonly code: string;
  readonly params: ErrorParams;
  readonly retryable: boolean;
}

/** An error from the catalog. `message` is the guide's text with the real values filled in. */
export class AhError extends Error {
  readonly code: ErrorCode | string;
  readonly params: ErrorParams;
  readonly retryable: boolean;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(renderMessage(code, params), options);
    this.name = 'AhError';
    this.code = code;
    this.params = params;
    this.retryable = catalog[code].retryable;
  }

  /** Rebuild from plain data, e.g. a `reject` frame or a status answer. */
  static fromInfo(info: ErrorInfo): AhError {
    if (isErrorCode(info.code)) return new AhError(info.code, info.params);
    const err = new AhError('ENROLL_PROTOCOL_ERROR', { detail: info.params.message ?? info.code });
    return Object.assign(err, { code: info.code, retryable: info.retryable });
  }

  toInfo(): ErrorInfo {
    return { code: this.code, params: this.params, retryable: this.retryable };
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function messageOf(info: Pick<ErrorInfo, 'code' | 'params'>): string {
  return renderMessage(info.code, info.params);
}

/**
 * What the CLI prints on stderr when it gives up: `error: <message>` first, exactly as the guide
 * has it, then the guide's likely causes and fixes, indented.
 */
export function formatForTerminal(info: Pick<ErrorInfo, 'code' | 'params'>): string {
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
