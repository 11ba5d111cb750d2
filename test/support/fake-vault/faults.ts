/**
 * Answers that are not what Vault sends, for the client's error paths (issue 6, item 4: "a
 * response that is not what Vault sends (HTML, truncated JSON, a 200 with no certificate) gives a
 * clear error").
 *
 * Two kinds. *Instead of Vault* (`html`, `empty-body`, `reset`, `hang`, a custom status/body):
 * something in front of Vault answered, so Vault never sees the request (no token made, no
 * certificate issued). *After Vault* (`truncated-json`, `no-certificate`, `mutate`): Vault did the
 * work, then the answer was damaged on the way back.
 */

export type FaultKind =
  /** 200 `text/html` page, like a proxy's login or error page (status overridable). */
  | 'html'
  /** The real JSON answer cut in half, still `application/json`. */
  | 'truncated-json'
  /** The real answer with `data.certificate` removed (a 200 that carries no certificate). */
  | 'no-certificate'
  /** 200 with `Content-Type: application/json` and no body at all. */
  | 'empty-body'
  /** The TCP connection is destroyed without an answer (client sees ECONNRESET / socket hang up). */
  | 'reset'
  /** Never answered until `stop()` (for client timeouts). */
  | 'hang';

/** A custom answer in place of Vault's, or a change to Vault's JSON answer. */
export type CustomFault =
  | { readonly status: number; readonly body: string; readonly contentType?: string }
  | { readonly mutate: (body: Record<string, unknown>) => unknown };

export type Fault = FaultKind | CustomFault;

export interface FaultMatch {
  /** Only requests whose path (with `/v1/`) contains this string or matches this RegExp. */
  readonly path?: string | RegExp;
  readonly method?: string;
  /** How many matching requests get the fault. Default 1. */
  readonly times?: number;
  /** Status for `html` (default 200) or `empty-body` (default 200). */
  readonly status?: number;
}

interface Armed {
  readonly fault: Fault;
  readonly match: FaultMatch;
  left: number;
}

export const HTML_PAGE =
  '<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body><h1>Corporate proxy</h1><p>Please sign in to continue.</p></body></html>\n';

/** Whether the fault replaces Vault's answer (request never reaches Vault). */
export function isInstead(fault: Fault): boolean {
  if (typeof fault === 'string') return fault === 'html' || fault === 'empty-body' || fault === 'reset' || fault === 'hang';
  return 'status' in fault;
}

export class FaultQueue {
  private readonly armed: Armed[] = [];

  add(fault: Fault, match: FaultMatch = {}): void {
    this.armed.push({ fault, match, left: match.times ?? 1 });
  }

  clear(): void {
    this.armed.length = 0;
  }

  /** The first armed fault matching this request, consumed once. */
  take(method: string, path: string): { fault: Fault; match: FaultMatch } | undefined {
    const i = this.armed.findIndex((a) => {
      const m = a.match;
      if (m.method && m.method.toUpperCase() !== method) return false;
      if (m.path === undefined) return true;
      return typeof m.path === 'string' ? path.includes(m.path) : m.path.test(path);
    });
    if (i < 0) return undefined;
    const a = this.armed[i]!;
    a.left -= 1;
    if (a.left <= 0) this.armed.splice(i, 1);
    return { fault: a.fault, match: a.match };
  }
}

/** Apply an after-Vault fault to a JSON body; returns the bytes to send. */
export function damage(fault: Fault, json: string): string {
  if (fault === 'truncated-json') return json.slice(0, Math.max(1, Math.floor(json.length / 2)));
  const parsed = JSON.parse(json) as Record<string, unknown>;
  if (fault === 'no-certificate') {
    const data = parsed.data as Record<string, unknown> | null | undefined;
    if (data) delete data.certificate;
    return `${JSON.stringify(parsed)}\n`;
  }
  if (typeof fault === 'object' && 'mutate' in fault) return `${JSON.stringify(fault.mutate(parsed))}\n`;
  return json;
}
