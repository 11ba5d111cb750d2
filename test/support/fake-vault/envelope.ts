/**
 * Vault's HTTP envelope: the JSON around every answer, the error body and the status mapping.
 *
 * docs/vault-api.md §Errors and status codes: errors are `{"errors":[...]}` with `Content-Type:
 * application/json` and one string in the array. A backend's `logical.ErrorResponse(msg)` reaches
 * the client as the plain message with status 400; an error the core returns (token check, routing)
 * is wrapped by go-multierror into `"1 error occurred:\n\t* …\n\n"`. Go's `json.Encoder` ends every
 * body with a newline, and Go encodes map keys sorted, so `data` objects come out in alphabetical
 * key order.
 */
import { randomUUID } from 'node:crypto';
import { goQuote } from './durations.js';

/** A failed request as Vault would answer it. `errors` is what goes into the body. */
export class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: readonly string[],
  ) {
    super(errors[0] ?? `Status ${status}`);
  }
}

/** go-multierror's `Error()` text (docs/vault-api.md §Errors and status codes). */
export function multiError(...messages: string[]): string {
  const points = messages.map((m) => `* ${m}`).join('\n\t');
  return messages.length === 1 ? `1 error occurred:\n\t${points}\n\n` : `${messages.length} errors occurred:\n\t${points}\n\n`;
}

/**
 * The constants of docs/vault-api.md §Errors and status codes (`consts.ErrSealed`,
 * `logical.ErrPermissionDenied`, …).
 */
export const ERR_SEALED = 'Vault is sealed';
export const ERR_PERMISSION_DENIED = 'permission denied';
export const ERR_INVALID_TOKEN = 'invalid token';

/**
 * `logical.ErrorResponse(msg)` from a backend → 400 with the plain message
 * (§Errors and status codes, §AppRole login, §PKI issue).
 */
export function errorResponse(message: string): VaultHttpError {
  return new VaultHttpError(400, [message]);
}

/** Sealed → 503 `{"errors":["Vault is sealed"]}`, not wrapped (§Errors and status codes). */
export function sealedError(): VaultHttpError {
  return new VaultHttpError(503, [ERR_SEALED]);
}

/** No token, or a valid token whose policy denies the path → 403 (§Errors and status codes). */
export function permissionDenied(): VaultHttpError {
  return new VaultHttpError(403, [multiError(ERR_PERMISSION_DENIED)]);
}

/**
 * An unknown, expired or revoked token → 403 with both errors (§Errors and status codes,
 * §Token lookup and renewal; Vault PR 26687).
 */
export function invalidToken(): VaultHttpError {
  return new VaultHttpError(403, [multiError(ERR_PERMISSION_DENIED, ERR_INVALID_TOKEN)]);
}

/**
 * A path no mount claims → 404 with the router's own sentence, unwrapped
 * (§Errors and status codes).
 */
export function noHandler(path: string): VaultHttpError {
  return new VaultHttpError(404, [`no handler for route ${goQuote(path)}. route entry not found.`]);
}

/**
 * A path inside a mount that the backend does not serve → 404 `unsupported path`
 * (§Errors and status codes, the mapping).
 */
export function unsupportedPath(): VaultHttpError {
  return new VaultHttpError(404, [multiError('unsupported path')]);
}

/**
 * A known path with a method it does not take → 405 `unsupported operation`
 * (§Errors and status codes, the mapping).
 */
export function unsupportedOperation(): VaultHttpError {
  return new VaultHttpError(405, [multiError('unsupported operation')]);
}

/**
 * An error a backend returns instead of an error response → 500, multierror-wrapped
 * (§Errors and status codes).
 */
export function internalError(message: string): VaultHttpError {
  return new VaultHttpError(500, [multiError(message)]);
}

/** The `auth` block of a login or renew (Go's `logical.HTTPAuth`, fields in struct order). */
export interface AuthBlock {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies: string[];
  metadata: Record<string, string> | null;
  lease_duration: number;
  renewable: boolean;
  entity_id: string;
  token_type: string;
  orphan: boolean;
  mfa_requirement: null;
  num_uses: number;
}

/** What a backend hands back on success; `envelope()` turns it into Vault's JSON. */
export interface LogicalResponse {
  data?: Record<string, unknown> | null;
  auth?: AuthBlock | null;
  warnings?: string[];
  leaseId?: string;
  leaseDuration?: number;
  renewable?: boolean;
  /** The mount's type (`pki`, `approle`, `token`): current Vault echoes it as `mount_type`. */
  mountType: string;
}

/** Go map → JSON: keys sorted. Applied to `data` (a `map[string]interface{}` in Vault). */
export function sortKeys(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort()) out[key] = obj[key];
  return out;
}

/**
 * Vault's `logical.HTTPResponse`, fields in struct order: request_id, lease_id, renewable,
 * lease_duration, data, wrap_info, warnings, auth, mount_type (§AppRole login sample, §PKI issue).
 * `warnings` is `null` when there are none (a nil Go slice), else an array.
 */
export function envelope(resp: LogicalResponse): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: resp.leaseId ?? '',
    renewable: resp.renewable ?? false,
    lease_duration: resp.leaseDuration ?? 0,
    data: resp.data ? sortKeys(resp.data) : null,
    wrap_info: null,
    warnings: resp.warnings && resp.warnings.length > 0 ? resp.warnings : null,
    auth: resp.auth ?? null,
    mount_type: resp.mountType,
  };
}

/** Body of an error answer: `{"errors":[…]}` plus Go's trailing newline. */
export function errorBody(err: VaultHttpError): string {
  return `${JSON.stringify({ errors: err.errors })}\n`;
}

/** Body of a JSON answer, with Go's trailing newline. */
export function jsonBody(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
