/**
 * Loading our `workload.proto` (src/providers/spiffe/workload.proto) the way docs/workload-api.md
 * §Messages says works with @grpc/proto-loader 0.8.1: `keepCase` so fields keep their wire names
 * (`spiffe_id`, `x509_svid`, …), `defaults` so empty repeated and map fields arrive as `[]`/`{}`.
 * The fake and the raw test client load the same file the product does, so a field-number slip in
 * the proto shows up as a failing test rather than as two sides agreeing on a mistake.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export const WORKLOAD_PROTO_PATH = fileURLToPath(new URL('../../../src/providers/spiffe/workload.proto', import.meta.url));

/**
 * docs/workload-api.md §Service and method paths: no package, so the service sits at the top level
 * of the loaded definition.
 */
export const SERVICE_NAME = 'SpiffeWorkloadAPI';

export interface WorkloadApi {
  readonly service: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
}

let cached: WorkloadApi | undefined;

export function loadWorkloadApi(): WorkloadApi {
  if (cached) return cached;
  const definition = protoLoader.loadSync(WORKLOAD_PROTO_PATH, {
    keepCase: true,
    defaults: true,
    longs: String,
    enums: String,
    oneofs: true,
  });
  const Client = grpc.loadPackageDefinition(definition)[SERVICE_NAME] as grpc.ServiceClientConstructor;
  cached = { service: Client.service, Client };
  return cached;
}

// Wire shapes (docs/workload-api.md §Messages) as proto-loader presents them: bytes are Buffers,
// maps are plain objects. Only the messages the fake produces or inspects are spelled out.

export interface X509SvidMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}

export interface X509SvidResponseMessage {
  svids: X509SvidMessage[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}

export interface X509BundlesResponseMessage {
  crl: Buffer[];
  bundles: Record<string, Buffer>;
}

export interface JwtSvidRequestMessage {
  audience: string[];
  spiffe_id: string;
}

export interface ValidateJwtSvidRequestMessage {
  audience: string;
  svid: string;
}
