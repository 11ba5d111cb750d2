/**
 * The enrollment machine's `fleetLink`: one FleetClientLink per spawned child, its outcomes turned
 * into the machine's LINK_* events. Once welcomed, the link heartbeats by itself (LinkHeartbeats,
 * on the actor system's clock) and reports `LINK_CLOSED` when the acks stop. Stopping the child
 * closes the link with a goodbye carrying the last CLOSE reason ("rotated", "shutdown"). Open
 * links are tracked so a shutdown can wait until every goodbye is on the wire.
 */
import type { AnyEventObject, CallbackLogicFunction } from 'xstate';
import type { Logger } from '../log/logger.js';
import type { LinkCommand, LinkInput, LinkReport } from '../machines/enrollment-types.js';
import type { MaterialStore } from './material-store.js';
import { AhError } from '../errors/ah-error.js';
import type { IdentityMaterial } from '../providers/identity-provider.js';
import type { AccessPointTrust } from '../transport/access-point-trust.js';
import type { ClientContextCache } from '../transport/client-context-cache.js';
import { signContinuity, type ContinuityProof } from '../transport/continuity.js';
import { FleetClientLink, type DialOptions } from '../transport/fleet-client.js';
import { formatHostPort, parseRemoteServer } from '../util/address.js';
import { ACKS_OVERDUE_REASON, LinkHeartbeats, type HeartbeatClock } from './link-heartbeats.js';
import { X509Certificate } from 'node:crypto';
import type { SecureContext } from 'node:tls';

/**
 * How to dial; where comes with each link (`LinkInput.address`, one of the executor's access
 * points), the certificate, key and trust with each link's material.
 */
export interface FleetLinkDeps extends Omit<DialOptions, 'certPem' | 'keyPem' | 'trust' | 'secureContext' | 'host' | 'port' | 'address'> {
  readonly store: MaterialStore;
  /** The trust for an access point at `host` (the name its certificate must carry by default). */
  readonly trustFor: (material: IdentityMaterial, host: string) => AccessPointTrust;
  readonly log: Logger;
  /** Secure contexts by material, kept across dials; without it every dial builds its own. */
  readonly contexts?: ClientContextCache;
  /** Each welcomed link's heartbeats by link id, while it lives: the status reads the active one's last ack. */
  readonly heartbeats?: Map<string, LinkHeartbeats>;
}

export class OpenLinks {
  private readonly links = new Set<FleetClientLink>();

  add(link: FleetClientLink): void {
    this.links.add(link);
    void link.closedPromise().then(() => this.links.delete(link));
  }

  /** Wait (bounded) until every tracked socket has closed. */
  async drained(timeoutMs = 3_000): Promise<void> {
    const all = Promise.all([...this.links].map((l) => l.closedPromise()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}

/**
 * The `fleetLink` actor's body (wrapped with `fromCallback` by the engine, which provides the
 * machine once for all executors of a process and finds each one's deps through its actor system).
 */
export function fleetLink(deps: FleetLinkDeps, open: OpenLinks): CallbackLogicFunction<LinkCommand, AnyEventObject, LinkInput> {
  return ({ input, sendBack, receive, system }) => {
    const report = (event: LinkReport) => sendBack(event);
    const { linkId } = input;
    const material = deps.store.get(input.fingerprint);
    // The link's own logger is made when a line is written (debug, or trouble), not per dial.
    let child: Logger | null = null;
    const log = () => (child ??= deps.log.child({ link: linkId }));
    const debug = deps.log.isLevelEnabled('debug');
    let closeReason = 'shutdown';

    // Never present a certificate outside its validity: say so here rather than be refused.
    const now = Date.now();
    if (material.certPem && (now < material.summary.notBefore || now > material.summary.notAfter)) {
      const error = new AhError('ENROLL_CERT_NOT_VALID_NOW');
      log().warn(
        {
          event: 'own_certificate_invalid',
          code: error.code,
          serial: material.summary.serial,
          notBefore: new Date(material.summary.notBefore).toISOString(),
          notAfter: new Date(material.summary.notAfter).toISOString(),
        },
        `own certificate ${material.summary.serial} ${now < material.summary.notBefore ? 'is not yet valid (clock skew?)' : 'has expired'}`,
      );
      queueMicrotask(() => report({ type: 'LINK_FAILED', linkId, error: error.toInfo(), at: now }));
      return () => {};
    }
    const { store: _store, log: _log, contexts, trustFor, ...dial } = deps;
    const continuity = input.continues ? continuityProof(deps, input.continues, material.certPem, log()) : undefined;
    const hello = continuity ? { ...dial.hello, continuity } : dial.hello;
    const target = parseRemoteServer(`https://${input.address}`);
    const trust = trustFor(material, target.host);
    let secureContext: SecureContext | undefined;
    try {
      secureContext = contexts?.contextFor(material, { caPem: trust.kind === 'ca' ? trust.bundlePem : undefined, minVersion: dial.minVersion });
    } catch (err) {
      // Verified material does not get here; a trust bundle OpenSSL cannot read does.
      const error = new AhError('ENROLL_INTERNAL', { detail: `cannot build the TLS context: ${(err as Error).message}` });
      queueMicrotask(() => report({ type: 'LINK_FAILED', linkId, error: error.toInfo(), at: Date.now() }));
      return () => {};
    }
    // Kept for the link's life: assigned, not spread (docs/performance.md §Object spread).
    const link = new FleetClientLink(
      Object.assign({}, dial, {
        host: target.host,
        port: target.port,
        address: input.address,
        hello,
        trust,
        certPem: material.certPem,
        keyPem: material.keyPem,
        secureContext,
        certificate: material.summary,
      }),
    );
    open.add(link);
    // XState's clock, as the machine's own timers: SimulatedClock in tests, longClock in the engine.
    const heartbeats = new LinkHeartbeats(system._clock as HeartbeatClock, {
      send: (seq) => {
        if (debug) log().debug({ event: 'heartbeat_sent', seq }, `heartbeat ${seq} sent`);
        link.sendHeartbeat(seq);
      },
      lost: () => report({ type: 'LINK_CLOSED', linkId, reason: ACKS_OVERDUE_REASON, error: null, at: Date.now() }),
    });

    link.on('welcome', (w) => {
      if (debug) log().debug({ event: 'welcomed', executorId: w.executorId, serial: material.summary.serial }, 'welcomed by the access point');
      const at = Date.now();
      heartbeats.start(w.heartbeatInterval, at, input.follows ? deps.heartbeats?.get(input.follows) : undefined);
      deps.heartbeats?.set(linkId, heartbeats);
      report({
        type: 'LINK_WELCOMED',
        linkId,
        executorId: w.executorId,
        heartbeatIntervalMs: w.heartbeatInterval,
        serverTime: w.serverTime,
        ...(w.nonce ? { nonce: w.nonce } : {}),
        ...(w.accessPoints ? { accessPoints: addressesOf(w.accessPoints) } : {}),
        at,
      });
    });
    link.on('failed', (error) => {
      heartbeats.stop();
      if (debug) log().debug({ event: 'link_failed', code: error.code, params: error.params }, `link failed: ${error.message}`);
      report({ type: 'LINK_FAILED', linkId, error: error.toInfo(), at: Date.now() });
    });
    link.on('ack', (seq) => {
      if (debug) log().debug({ event: 'heartbeat_acked', seq }, `heartbeat ${seq} acknowledged`);
      heartbeats.acked(seq, Date.now());
    });
    link.on('draining', (retryAfterMs) => report({ type: 'LINK_DRAINING', linkId, retryAfterMs, at: Date.now() }));
    link.on('closed', (reason, error) => {
      heartbeats.stop();
      if (debug) log().debug({ event: 'link_closed', reason }, 'link closed');
      report({ type: 'LINK_CLOSED', linkId, reason, error: error?.toInfo() ?? null, at: Date.now() });
    });

    receive((command) => {
      if (command.type === 'CLOSE') closeReason = command.reason;
    });

    link.start();
    return () => {
      heartbeats.stop();
      deps.heartbeats?.delete(linkId);
      link.close(closeReason);
    };
  };
}

/** The welcome's `https://HOST:PORT`s as the machine keeps addresses (HOST:PORT); unreadable ones are skipped. */
function addressesOf(urls: readonly string[]): string[] {
  const out: string[] = [];
  for (const url of urls) {
    try {
      out.push(formatHostPort(parseRemoteServer(url)));
    } catch {
      // An address we cannot dial is no failover target; the rest still are.
    }
  }
  return out;
}

/**
 * Sign the new certificate with the previous one's key over the active link's nonce. Without the
 * previous material (evicted, or no certificate) the link goes without a proof, and the access
 * point treats it as a newcomer for the identity (which by default still takes over).
 */
function continuityProof(deps: FleetLinkDeps, continues: { fingerprint: string; nonce: string }, certPem: string, log: Logger): ContinuityProof | undefined {
  try {
    const previous = deps.store.get(continues.fingerprint);
    if (!previous.keyPem || !certPem) return undefined;
    return signContinuity(previous.keyPem, new X509Certificate(certPem), continues.nonce);
  } catch (err) {
    log.warn(
      { event: 'continuity_proof_unavailable', detail: (err as Error).message },
      'rotation: cannot prove continuity with the previous certificate; the access point will see a new holder',
    );
    return undefined;
  }
}
