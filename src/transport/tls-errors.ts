/**
 * Socket and TLS failures, as the catalog names them. `address` is HOST:PORT as the operator gave it.
 */
import { AhError } from '../errors/ah-error.js';

export function dialErrorToCatalog(err: NodeJS.ErrnoException, target: { host: string; address: string }): AhError {
  switch (err.code) {
    case 'ECONNREFUSED':
      return new AhError('ENROLL_CONNECTION_REFUSED', { address: target.address });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return new AhError('ENROLL_NAME_NOT_RESOLVED', { host: target.host, detail: err.code });
    case 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL':
      return new AhError('ENROLL_PROTOCOL_ERROR', { detail: 'the server does not speak ah-fleet/1 (ALPN refused)' });
    case 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION':
    case 'ERR_SSL_UNSUPPORTED_PROTOCOL':
      return new AhError('ENROLL_CONNECTION_FAILED', {
        address: target.address,
        detail: 'no common TLS version (the fleet link needs TLS 1.3 unless --tls-min 1.2)',
      });
    default: {
      const detail = err.code ? `${err.code}${err.message && !err.message.includes(err.code) ? ` (${err.message})` : ''}` : err.message;
      return new AhError('ENROLL_CONNECTION_FAILED', { address: target.address, detail });
    }
  }
}
