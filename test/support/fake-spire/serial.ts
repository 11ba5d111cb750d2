/**
 * Runs async mutations one after the other. Issuing a certificate is async, and a rotation that
 * interleaved with another (or with a CA rotation) could push a state that never existed as a
 * whole; SPIRE's cache applies its changes one at a time, so the fake does too.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
