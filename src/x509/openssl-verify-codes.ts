/**
 * OpenSSL's verification results as Node reports them (`socket.authorizationError`), grouped by what
 * they mean to us.
 */

/** Outside the validity period: the guide's "certificate has expired or is not yet valid". */
export const VALIDITY_ERRORS: ReadonlySet<string> = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
