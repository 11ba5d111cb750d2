/**
 * A client of the SPIFFE Workload API's FetchX509SVID stream, over a unix socket with grpc-js.
 * Every call carries the mandatory `workload.spiffe.io: true` header (docs/workload-api.md
 * §The security header); every message on the stream is the full current state (§Streams).
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** One X509SVID as it arrives (`keepCase`: field names as in the proto). */
export interface X509SvidMessage {
  readonly spiffe_id: string;
  readonly x509_svid: Buffer;
  readonly x509_svid_key: Buffer;
  readonly bundle: Buffer;
  readonly hint: string;
}

export interface X509SvidResponse {
  readonly svids: X509SvidMessage[];
  readonly crl: Buffer[];
  readonly federated_bundles: Record<string, Buffer>;
}

type WorkloadClient = grpc.Client & {
  FetchX509SVID(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<X509SvidResponse>;
};

let clientClass: (new (target: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => WorkloadClient) | null = null;

function loadClientClass() {
  if (clientClass) return clientClass;
  // Next to this module in src/ and, copied by the build, in dist/.
  const protoPath = fileURLToPath(new URL('./workload.proto', import.meta.url));
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, defaults: true, longs: String, enums: String });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { SpiffeWorkloadAPI: typeof clientClass };
  clientClass = pkg.SpiffeWorkloadAPI!;
  return clientClass;
}

export interface X509Watch {
  cancel(): void;
}

export interface X509WatchHandlers {
  message(response: X509SvidResponse): void;
  /** The stream ended with a status other than CANCELLED (which only we cause). */
  failed(error: grpc.ServiceError | { code: grpc.status; details: string }): void;
}

/** A fresh channel per watch: grpc-js would otherwise reuse a subchannel still in backoff. */
export function watchX509Svids(target: string, handlers: X509WatchHandlers): X509Watch {
  const Client = loadClientClass();
  const client = new Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const metadata = new grpc.Metadata();
  metadata.set('workload.spiffe.io', 'true');
  const stream = client.FetchX509SVID({}, metadata);
  let done = false;
  const finish = () => {
    done = true;
    client.close();
  };
  stream.on('data', (response: X509SvidResponse) => {
    if (!done) handlers.message(response);
  });
  stream.on('error', (err: grpc.ServiceError) => {
    if (done) return;
    finish();
    if (err.code !== grpc.status.CANCELLED) handlers.failed(err);
  });
  stream.on('end', () => {
    if (done) return;
    finish();
    handlers.failed({ code: grpc.status.UNAVAILABLE, details: 'the Workload API ended the stream' });
  });
  return {
    cancel() {
      if (done) return;
      done = true;
      stream.cancel();
      client.close();
    },
  };
}

export { grpc };
