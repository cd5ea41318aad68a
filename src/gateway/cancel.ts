// One client request's cancellation (its deadline passed, or its connection closed), cheap on the path every
// request takes: no AbortController and no event listeners unless a backend call asks for an AbortSignal (the
// store's droppable reads, OpenIM's gRPC calls). A send (1003) never does. Measured in issue 29's profile: an
// AbortController, addEventListener and removeEventListener per request were about 6 % of the event loop's samples.
export class RequestCancel {
  private controller?: AbortController;
  private why?: Error;
  private waiting?: ((why: Error) => void)[];

  /** Why it was cancelled, once it was. */
  get reason(): Error | undefined {
    return this.why;
  }

  /** An AbortSignal that aborts with the request (made on first use). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.why) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  cancel(why: Error): void {
    if (this.why) return;
    this.why = why;
    this.controller?.abort(why);
    const waiting = this.waiting;
    this.waiting = undefined;
    for (const w of waiting ?? []) w(why);
  }

  /** `p`, or `fail(why)` rejected once the request is cancelled. */
  race<T>(p: Promise<T>, fail: (why: Error) => unknown): Promise<T> {
    if (this.why) return Promise.reject(fail(this.why));
    return new Promise<T>((resolve, reject) => {
      const onCancel = (why: Error) => reject(fail(why));
      (this.waiting ??= []).push(onCancel);
      p.then(resolve, reject).finally(() => {
        const i = this.waiting?.indexOf(onCancel) ?? -1;
        if (i >= 0) this.waiting!.splice(i, 1);
      });
    });
  }
}
