// The bench's stand-in for ava's `t.teardown`: the e2e harness registers its
// clean-ups (namespaces, daemons) through it, and the bench runs them itself,
// last registered first, on success, failure and Ctrl-C alike.

export class Teardowns {
  private readonly fns: (() => Promise<void> | void)[] = [];

  teardown(fn: () => Promise<void> | void): void {
    this.fns.push(fn);
  }

  /** Runs every registered clean-up, newest first; reports failures through `onError` and never throws. */
  async run(onError: (e: unknown) => void = () => undefined): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        onError(e);
      }
    }
  }
}
