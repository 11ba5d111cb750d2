/**
 * The gRPC statuses a SPIRE agent answers with, code and details string exactly as SPIRE writes
 * them (docs/workload-api.md §The security header and §Status codes; SPIRE
 * pkg/agent/endpoints/middleware.go and pkg/agent/endpoints/workload/handler.go @ ef8527e). Clients
 * match on these, so they are kept in one place and never paraphrased.
 */
import * as grpc from '@grpc/grpc-js';

export interface SpireStatus {
  readonly code: grpc.status;
  readonly details: string;
}

const of = (code: grpc.status, details: string): SpireStatus => ({ code, details });

/**
 * §The security header: middleware, any `/SpiffeWorkloadAPI/` method without exactly one
 * `workload.spiffe.io: true`.
 */
export const SECURITY_HEADER_MISSING = of(grpc.status.INVALID_ARGUMENT, 'security header missing from request');

/**
 * §Status codes: the caller matches no registration entry (X.509 stream, JWT-SVID, bundle streams).
 */
export const NO_IDENTITY_ISSUED = of(grpc.status.PERMISSION_DENIED, 'no identity issued');

/** §Status codes: the workload attestors could not attest the caller. */
export const WORKLOAD_ATTESTATION_FAILED = of(grpc.status.UNAVAILABLE, 'workload attestation failed');

/** §Status codes: FetchJWTSVID with no audience, ValidateJWTSVID with no audience. */
export const AUDIENCE_MUST_BE_SPECIFIED = of(grpc.status.INVALID_ARGUMENT, 'audience must be specified');

/** §Status codes: ValidateJWTSVID with an empty token. */
export const SVID_MUST_BE_SPECIFIED = of(grpc.status.INVALID_ARGUMENT, 'svid must be specified');

/** §Status codes: the WIT profile is not implemented by SPIRE. */
export const WIT_SVID_NOT_IMPLEMENTED = of(grpc.status.UNIMPLEMENTED, 'fetching WIT-SVIDs is not implemented');
export const WIT_BUNDLES_NOT_IMPLEMENTED = of(grpc.status.UNIMPLEMENTED, 'fetching WIT bundles is not implemented');

/** §Status codes: FetchJWTSVID with a `spiffe_id` that does not parse. */
export function invalidRequestedSpiffeId(reason: string): SpireStatus {
  return of(grpc.status.INVALID_ARGUMENT, `invalid requested SPIFFE ID: ${reason}`);
}

/** §Status codes: the response could not be built (the fake uses it for `breakStreams()`). */
export function couldNotSerializeResponse(reason: string): SpireStatus {
  return of(grpc.status.UNAVAILABLE, `could not serialize response: ${reason}`);
}

/**
 * Not SPIRE: the JWT profile is beyond what this fake mints. Worded so that nobody mistakes it
 * for an agent's answer.
 */
export const JWT_NOT_IMPLEMENTED_BY_FAKE = of(grpc.status.UNIMPLEMENTED, 'fake-spire: JWT-SVIDs are not implemented by this fake');

/**
 * What grpc-js's server turns into a status on the wire (docs/workload-api.md
 * §grpc-js over unix sockets).
 */
export function toServiceError(s: SpireStatus): grpc.ServerErrorResponse {
  return Object.assign(new Error(s.details), { code: s.code, details: s.details, metadata: new grpc.Metadata() });
}
