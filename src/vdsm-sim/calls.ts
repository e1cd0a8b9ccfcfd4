/**
 * What the simulator's verbs were called with, for tests that check what the engine side sent
 * (Image.delete's postZero and discard, say): the counters only count. Bounded, as the counters
 * are: only verbs the simulator serves (a peer cannot invent entries), the newest MAX_CALLS, and a
 * call whose params serialise to more than MAX_PARAMS_CHARS keeps only their size.
 */
export interface RecordedCall {
  hostId: string;
  method: string;
  /** By VDSM's parameter names (positional params mapped), as the verb received them. */
  params: Record<string, unknown>;
  /** Milliseconds since the epoch. */
  at: number;
}

export const MAX_CALLS = 512;
export const MAX_PARAMS_CHARS = 4096;

export class CallLog {
  private calls: RecordedCall[] = [];

  record(hostId: string, method: string, params: Record<string, unknown>): void {
    const text = JSON.stringify(params) ?? '';
    const kept = text.length > MAX_PARAMS_CHARS ? { truncated: true, chars: text.length } : params;
    this.calls.push({ hostId, method, params: kept, at: Date.now() });
    if (this.calls.length > MAX_CALLS) this.calls.splice(0, this.calls.length - MAX_CALLS);
  }

  /** Oldest first; only `method`'s when given. */
  list(method?: string): RecordedCall[] {
    return this.calls.filter((c) => method === undefined || c.method === method).map((c) => ({ ...c }));
  }

  reset(): void {
    this.calls = [];
  }
}
