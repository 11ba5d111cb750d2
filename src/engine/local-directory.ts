/**
 * The fleet directory of an access point that knows no other (no `--roster`): itself alone. The
 * welcome then names no other access point, and drain only changes its own state.
 */
import type { AccessPointInfo, AccessPointState, FleetDirectory } from '../model/fleet-directory.js';

export class LocalDirectory implements FleetDirectory {
  private state: AccessPointState = 'serving';

  constructor(private readonly self: { readonly id: string; address: () => string; executors: () => number }) {}

  accessPoints(): readonly AccessPointInfo[] {
    return [{ id: this.self.id, address: this.self.address(), state: this.state, executors: this.self.executors() }];
  }

  async setState(state: AccessPointState): Promise<void> {
    this.state = state;
  }
}
