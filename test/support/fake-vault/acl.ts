/**
 * A cut-down ACL: which paths a token may touch.
 *
 * Real Vault evaluates HCL policies with capabilities; the fake only needs the two outcomes
 * docs/vault-api.md §Errors and status codes distinguishes: allowed, or 403
 * `1 error occurred:\n\t* permission denied\n\n` ("valid token, policy denies"). A token carries
 * path patterns written as in a Vault policy (`pki/issue/executor`, `pki/issue/*` — a trailing `*`
 * is a prefix match, `+` one segment); every capability is granted on a matching path. Root tokens
 * pass everything.
 */

/**
 * What Vault's built-in `default` policy grants every token: looking itself up, renewing and
 * revoking itself (§Token lookup and renewal: lookup-self / renew-self work for any live token).
 */
export const DEFAULT_POLICY_PATHS: readonly string[] = ['auth/token/lookup-self', 'auth/token/renew-self', 'auth/token/revoke-self', 'sys/capabilities-self'];

function patternToRegExp(pattern: string): RegExp {
  const prefix = pattern.endsWith('*');
  const body = prefix ? pattern.slice(0, -1) : pattern;
  const source = body
    .split('+')
    .map((part) => part.replace(/[.*?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${source}${prefix ? '.*' : ''}$`);
}

/** True when `path` (no leading `/v1/`) matches one of the policy-style patterns. */
export function pathAllowed(patterns: readonly string[], path: string): boolean {
  return patterns.some((p) => patternToRegExp(p).test(path));
}
