/**
 * The fleet's access points as one of them sees them. With the in-memory roster an access point
 * knows only itself; with the etcd roster (`--roster`) every access point registers itself under
 * its lease and watches the others. The welcome carries the serving ones' addresses so an
 * executor given one balancer name still has somewhere to fail over to; drain flips `state`.
 */
export type AccessPointState = 'serving' | 'draining';

export interface AccessPointInfo {
  /** `--access-point-id`, unique in the fleet. */
  readonly id: string;
  /** The fleet address executors dial, `https://HOST:PORT`. */
  readonly address: string;
  readonly state: AccessPointState;
  /** Executors whose presence this access point owns. */
  readonly executors: number;
}

/** Where an access point learns about the others. */
export interface FleetDirectory {
  /** Every access point known now, this one included. */
  accessPoints(): readonly AccessPointInfo[];
  /** Tell the others this access point is draining (or serving again). */
  setState(state: AccessPointState): Promise<void>;
}
