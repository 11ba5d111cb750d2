/**
 * Where the Workload API is: `--spiffe-socket` (a path or `unix:///path`), else the
 * SPIFFE_ENDPOINT_SOCKET variable, else the guide's `/run/spire/agent.sock`. Returns the socket's
 * path (for messages) and the gRPC target, always `unix:///absolute/path`: grpc-js reads
 * `unix://tmp/a.sock` as authority `tmp` and a relative path (docs/workload-api.md
 * §grpc-js over unix sockets).
 */
import { resolve } from 'node:path';

export const DEFAULT_SPIFFE_SOCKET = '/run/spire/agent.sock';

export interface WorkloadEndpoint {
  readonly path: string;
  readonly target: string;
}

export function resolveWorkloadEndpoint(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): WorkloadEndpoint {
  const given = flag || env.SPIFFE_ENDPOINT_SOCKET || DEFAULT_SPIFFE_SOCKET;
  let path: string;
  if (given.startsWith('unix:')) {
    const rest = given.slice('unix:'.length);
    if (rest.startsWith('//') && !rest.startsWith('///')) {
      throw new RangeError(`invalid Workload API socket '${given}': a unix URI must not have an authority (use unix:///absolute/path)`);
    }
    path = rest.replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw new RangeError(`invalid Workload API socket '${given}': the path must be absolute`);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(given)) {
    throw new RangeError(`invalid Workload API socket '${given}': use a path or unix:///absolute/path`);
  } else {
    path = resolve(given);
  }
  return { path, target: `unix://${path}` };
}
