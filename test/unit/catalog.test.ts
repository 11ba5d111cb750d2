/**
 * The error catalog against the troubleshooting guide: every message an operator can search for
 * must come out word for word.
 */
import { describe, expect, it } from 'vitest';
import { AhError, formatForTerminal } from '../../src/errors/ah-error.js';
import { catalog, renderMessage, type ErrorCode } from '../../src/errors/catalog.js';

// The troubleshooting guide's messages, word for word, with its example values.
const GUIDE: Array<[ErrorCode, Record<string, string>, string]> = [
  ['ENROLL_CONNECTION_REFUSED', { address: 'access-point.example.com:4433' }, 'connection refused to access-point.example.com:4433'],
  ['ENROLL_CONNECTION_TIMEOUT', { timeout: '30s' }, 'connection timed out after 30s'],
  ['ENROLL_TLS_VERIFY_FAILED', {}, 'tls handshake failed: certificate verify failed'],
  ['ENROLL_CERT_NOT_VALID_NOW', {}, 'certificate has expired or is not yet valid'],
  ['ENROLL_CHAIN_INCOMPLETE', {}, 'unable to get local issuer certificate'],
  ['ENROLL_KEY_MISMATCH', {}, 'private key does not match certificate'],
  ['ENROLL_SAN_MISMATCH', {}, 'certificate SAN does not match expected pattern'],
  ['ENROLL_PERMISSION_DENIED', { path: '/etc/ah/key.pem' }, 'permission denied reading /etc/ah/key.pem'],
  ['ENROLL_FILE_NOT_FOUND', { path: '/etc/ah/cert.pem' }, 'no such file: /etc/ah/cert.pem'],
  ['ENROLL_NO_IDENTITY_ISSUED', {}, 'no identity issued'],
  ['ENROLL_WORKLOAD_API_UNAVAILABLE', { path: '/run/spire/agent.sock' }, 'failed to connect to Workload API: /run/spire/agent.sock: no such file'],
  [
    'ENROLL_SERVER_ID_MISMATCH',
    { expected: 'spiffe://example.org/ah/serve', actual: 'spiffe://other.org/ah/serve' },
    'server SPIFFE ID mismatch: expected spiffe://example.org/ah/serve, got spiffe://other.org/ah/serve',
  ],
  ['ENROLL_VAULT_AUTH_FAILED', { detail: 'permission denied' }, 'vault authentication failed: permission denied'],
  [
    'ENROLL_VAULT_ISSUE_FAILED',
    { detail: '1 error occurred: * common name not allowed' },
    'failed to issue certificate: 1 error occurred: * common name not allowed',
  ],
  ['ENROLL_VAULT_SEALED', {}, 'vault is sealed'],
  ['ENROLL_CLIENT_CERT_REQUIRED', {}, 'client certificate required'],
  ['ENROLL_CLIENT_CERT_REJECTED', {}, 'client certificate rejected: certificate signed by unknown authority'],
  ['ENROLL_SERVER_UNKNOWN_AUTHORITY', {}, 'x509: certificate signed by unknown authority'],
];

describe('error catalog', () => {
  it.each(GUIDE)('%s reads as the guide has it', (code, params, message) => {
    expect(renderMessage(code, params)).toBe(message);
    expect(new AhError(code, params).message).toBe(message);
    expect(formatForTerminal({ code, params }).split('\n')[0]).toBe(`error: ${message}`);
  });

  it('gives every entry causes, solutions and a guide section', () => {
    for (const [code, entry] of Object.entries(catalog)) {
      expect(entry.causes.length, code).toBeGreaterThan(0);
      expect(entry.solutions.length, code).toBeGreaterThan(0);
      expect(entry.guideSection, code).toMatch(/\w/);
      expect(code).toMatch(/^ENROLL_[A-Z_]+$/);
    }
  });

  it("marks the guide's retryable errors retryable and configuration errors not", () => {
    for (const code of [
      'ENROLL_CONNECTION_REFUSED',
      'ENROLL_CONNECTION_TIMEOUT',
      'ENROLL_VAULT_SEALED',
      'ENROLL_NO_IDENTITY_ISSUED',
      'ENROLL_WORKLOAD_API_UNAVAILABLE',
    ] as const) {
      expect(catalog[code].retryable, code).toBe(true);
    }
    for (const code of ['ENROLL_KEY_MISMATCH', 'ENROLL_FILE_NOT_FOUND', 'ENROLL_PERMISSION_DENIED'] as const) {
      expect(catalog[code].retryable, code).toBe(false);
    }
  });

  it('prints causes and fixes indented under the first line', () => {
    const text = formatForTerminal({ code: 'ENROLL_CONNECTION_REFUSED', params: { address: 'ap:4433' } });
    expect(text.split('\n')).toEqual([
      'error: connection refused to ap:4433',
      '  Possible causes:',
      '    1. Access point not running',
      '    2. Firewall blocking port 4433',
      '    3. Incorrect address or port',
      '  Solutions:',
      '    systemctl status ah-access-point      # Check if access point is running',
      '    ss -tlnp | grep 4433                  # Check listening ports',
      '    sudo iptables -L -n | grep 4433       # Test firewall',
      '    sudo firewall-cmd --add-port=4433/tcp --permanent && sudo firewall-cmd --reload   # Open firewall (Linux)',
      '  See: enrollment troubleshooting guide, "Connection Errors / Connection Refused" (code ENROLL_CONNECTION_REFUSED)',
    ]);
  });

  it("falls back to the peer's words for a code this build does not know", () => {
    const e = AhError.fromInfo({ code: 'ENROLL_FROM_THE_FUTURE', params: { message: 'something new' }, retryable: true });
    expect(e.code).toBe('ENROLL_FROM_THE_FUTURE');
    expect(e.message).toBe('fleet protocol error: something new');
    expect(renderMessage('ENROLL_FROM_THE_FUTURE', { message: 'something new' })).toBe('something new');
  });
});
