/**
 * The fleet protocol's messages (ALPN `ah-fleet/1`) and their validation. Anything that does not
 * match these shapes exactly is a protocol error that closes the link.
 */
import type { ContinuityProof } from './continuity.js';
import { AhError } from '../errors/ah-error.js';
import { formatDuration, formatRange } from '../util/duration.js';
import { FrameError } from './frame-codec.js';

export const ALPN_PROTOCOL = 'ah-fleet/1';

/** The heartbeat intervals an executor accepts in welcome (and the access point's flag allows). */
export const HEARTBEAT_INTERVAL_RANGE = { minMs: 100, maxMs: 3_600_000 } as const;

/** executor → access point */
/** `continuity`: on a rotation's new link, the proof that it continues the link whose welcome had that nonce. */
export type Hello = { type: 'hello'; name: string; version: string; labels: Record<string, string>; continuity?: ContinuityProof };
/** `sentAt`: the executor's wall clock when it sent the heartbeat (ms); the access point reads clock skew from it. */
export type Heartbeat = { type: 'heartbeat'; seq: number; sentAt?: number };
/** `retryAfterMs` (with `draining`): when the executor may come back to this access point. */
export type Goodbye = { type: 'goodbye'; reason: string; retryAfterMs?: number };
export type ExecutorMessage = Hello | Heartbeat | Goodbye;

/** access point → executor */
/**
 * `nonce`: fresh per link; a later rotation proves continuity over it (transport/continuity.ts).
 * `accessPoints`: the fleet's other serving access points (`https://HOST:PORT`), for failover.
 */
export type Welcome = { type: 'welcome'; executorId: string; heartbeatInterval: number; serverTime: number; nonce?: string; accessPoints?: string[] };
export type Ack = { type: 'ack'; seq: number };
export type Reject = { type: 'reject'; code: string; message: string; params?: Record<string, string> };
export type AccessPointMessage = Welcome | Ack | Reject | Goodbye;

const isString = (v: unknown, max = 1024): v is string => typeof v === 'string' && v.length <= max;
const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isStringMap = (v: unknown): v is Record<string, string> =>
  !!v &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  Object.entries(v).length <= 64 &&
  Object.entries(v).every(([k, val]) => isString(k, 128) && isString(val, 1024));

/** Addresses of other access points in welcome: bounded, so a welcome cannot grow without end. */
export const MAX_WELCOME_ACCESS_POINTS = 256;
/** The longest `retryAfterMs` a goodbye may ask for (a day); anything longer is not a pause. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

const isAddressList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length <= MAX_WELCOME_ACCESS_POINTS && v.every((a) => isString(a, 512) && a.length > 0);
const isRetryAfter = (v: unknown): v is number => isSeq(v) && v <= MAX_RETRY_AFTER_MS;

const isContinuity = (v: unknown): v is ContinuityProof =>
  !!v && typeof v === 'object' && !Array.isArray(v) && isString((v as ContinuityProof).nonce, 128) && isString((v as ContinuityProof).signature, 2048);
/** A number, but one this executor cannot work with: say which and why, not "malformed". */
function checkHeartbeatInterval(ms: number): void {
  if (ms >= HEARTBEAT_INTERVAL_RANGE.minMs && ms <= HEARTBEAT_INTERVAL_RANGE.maxMs) return;
  throw new AhError('ENROLL_HEARTBEAT_INTERVAL_OUT_OF_RANGE', { interval: formatDuration(ms), range: formatRange(HEARTBEAT_INTERVAL_RANGE) });
}

function fail(type: string, what: string): never {
  throw new FrameError(`malformed ${type}: ${what}`);
}

export function parseExecutorMessage(m: Record<string, unknown> & { type: string }): ExecutorMessage {
  switch (m.type) {
    case 'hello':
      if (!isString(m.name, 256) || !m.name) fail('hello', 'name');
      if (!isString(m.version, 64)) fail('hello', 'version');
      if (m.labels !== undefined && !isStringMap(m.labels)) fail('hello', 'labels');
      if (m.continuity !== undefined && !isContinuity(m.continuity)) fail('hello', 'continuity');
      return {
        type: 'hello',
        name: m.name,
        version: m.version,
        labels: (m.labels as Record<string, string>) ?? {},
        ...(m.continuity ? { continuity: { nonce: m.continuity.nonce, signature: m.continuity.signature } } : {}),
      };
    case 'heartbeat':
      if (!isSeq(m.seq)) fail('heartbeat', 'seq');
      if (m.sentAt !== undefined && !isSeq(m.sentAt)) fail('heartbeat', 'sentAt');
      return { type: 'heartbeat', seq: m.seq, ...(m.sentAt !== undefined ? { sentAt: m.sentAt } : {}) };
    case 'goodbye':
      if (!isString(m.reason, 256)) fail('goodbye', 'reason');
      return { type: 'goodbye', reason: m.reason };
    default:
      throw new FrameError(`unexpected message type '${String(m.type).slice(0, 32)}' from executor`);
  }
}

export function parseAccessPointMessage(m: Record<string, unknown> & { type: string }): AccessPointMessage {
  switch (m.type) {
    case 'welcome':
      if (!isString(m.executorId, 2048)) fail('welcome', 'executorId');
      if (!isSeq(m.heartbeatInterval)) fail('welcome', 'heartbeatInterval');
      checkHeartbeatInterval(m.heartbeatInterval);
      if (!isSeq(m.serverTime)) fail('welcome', 'serverTime');
      if (m.nonce !== undefined && !isString(m.nonce, 128)) fail('welcome', 'nonce');
      if (m.accessPoints !== undefined && !isAddressList(m.accessPoints)) fail('welcome', 'accessPoints');
      return {
        type: 'welcome',
        executorId: m.executorId,
        heartbeatInterval: m.heartbeatInterval,
        serverTime: m.serverTime,
        ...(m.nonce !== undefined ? { nonce: m.nonce } : {}),
        ...(m.accessPoints !== undefined ? { accessPoints: [...m.accessPoints] } : {}),
      };
    case 'ack':
      if (!isSeq(m.seq)) fail('ack', 'seq');
      return { type: 'ack', seq: m.seq };
    case 'reject':
      if (!isString(m.code, 128)) fail('reject', 'code');
      if (!isString(m.message, 4096)) fail('reject', 'message');
      if (m.params !== undefined && !isStringMap(m.params)) fail('reject', 'params');
      return { type: 'reject', code: m.code, message: m.message, params: m.params as Record<string, string> | undefined };
    case 'goodbye':
      if (!isString(m.reason, 256)) fail('goodbye', 'reason');
      if (m.retryAfterMs !== undefined && !isRetryAfter(m.retryAfterMs)) fail('goodbye', 'retryAfterMs');
      return { type: 'goodbye', reason: m.reason, ...(m.retryAfterMs !== undefined ? { retryAfterMs: m.retryAfterMs } : {}) };
    default:
      throw new FrameError(`unexpected message type '${String(m.type).slice(0, 32)}' from access point`);
  }
}
