import { ApplicationFailure } from '@temporalio/common';
import type { Host, InventoryRepository } from '../inventory/port';
import { ErrorType } from '../shared/errors';
import { isVdsmError, VdsmCode, VdsmTransportError } from '../vdsm/errors';
import type { VdsmConnector, VdsmHostApi } from '../vdsm/port';

export interface SpmHost {
  host: Host;
  api: VdsmHostApi;
}

/**
 * Knows which host is the pool's SPM. The answer is cached per worker and re-resolved when a host
 * says 654 (Not SPM) or cannot be reached: StoragePool.getSpmStatus over the pool's hosts, as the
 * engine does.
 */
export class SpmLocator {
  private readonly current = new Map<string, SpmHost>();
  private readonly resolving = new Map<string, Promise<SpmHost>>();

  constructor(
    private readonly inventory: InventoryRepository,
    private readonly vdsm: VdsmConnector,
  ) {}

  apiFor(host: Host): VdsmHostApi {
    return this.vdsm.host({ hostId: host.id, address: host.address, port: host.port });
  }

  async spm(poolId: string): Promise<SpmHost> {
    return this.current.get(poolId) ?? this.resolve(poolId);
  }

  /** Asks every host of the pool; concurrent callers share one resolution. */
  resolve(poolId: string): Promise<SpmHost> {
    let pending = this.resolving.get(poolId);
    if (!pending) {
      pending = this.askHosts(poolId).finally(() => this.resolving.delete(poolId));
      this.resolving.set(poolId, pending);
    }
    return pending;
  }

  forget(poolId: string, hostId?: string): void {
    const known = this.current.get(poolId);
    if (known && (hostId === undefined || known.host.id === hostId)) this.current.delete(poolId);
  }

  /**
   * After a call to the SPM failed: a host that says 654, or that cannot be reached (an SPM host
   * that died is the usual reason for a failover), is asked again only after a new resolution.
   */
  noteFailure(poolId: string, hostId: string, err: unknown): void {
    if (isVdsmError(err, VdsmCode.NotSpm) || err instanceof VdsmTransportError) this.forget(poolId, hostId);
  }

  /**
   * Runs `call` on the SPM; on 654 re-resolves once and runs it again on the new SPM. Only for
   * calls that are safe to repeat: a 654 means the old host did nothing.
   */
  onSpm<T>(poolId: string, call: (spm: SpmHost) => Promise<T>): Promise<T> {
    return this.onCurrentSpm(poolId, call, () => false);
  }

  /**
   * Runs a Task.* verb on the SPM. Task verbs answer from the host's own memory and never say 654,
   * so "unknown task" (401) from a host that has lost the SPM since this worker last looked means
   * nothing: the task moved with the SPM role. On 401 the SPM is resolved anew; only the SPM
   * itself saying 401 is believed.
   */
  onSpmTask<T>(poolId: string, call: (spm: SpmHost) => Promise<T>): Promise<T> {
    return this.onCurrentSpm(poolId, call, (err) => isVdsmError(err, VdsmCode.UnknownTask));
  }

  /**
   * Runs `call` on the cached SPM. When the host says 654, or an answer that `onlyTrueOnSpm` says
   * only the SPM can be trusted with, the SPM is resolved anew and `call` runs on it; such an
   * answer from the host that still is the SPM stands.
   */
  private async onCurrentSpm<T>(
    poolId: string,
    call: (spm: SpmHost) => Promise<T>,
    onlyTrueOnSpm: (err: unknown) => boolean,
  ): Promise<T> {
    const first = await this.spm(poolId);
    try {
      return await call(first);
    } catch (err) {
      this.noteFailure(poolId, first.host.id, err);
      const notSpm = isVdsmError(err, VdsmCode.NotSpm);
      if (!notSpm && !onlyTrueOnSpm(err)) throw err;
      this.forget(poolId, first.host.id);
      const current = await this.resolve(poolId);
      if (!notSpm && current.host.id === first.host.id) throw err;
      return call(current);
    }
  }

  private async askHosts(poolId: string): Promise<SpmHost> {
    const hosts = await this.inventory.listHosts(poolId);
    const answers = await Promise.all(
      hosts.map(async (host) => {
        const api = this.apiFor(host);
        try {
          return { host, api, status: await api.storagePoolGetSpmStatus(poolId) };
        } catch {
          // A host that cannot answer is not the SPM we can use.
          return undefined;
        }
      }),
    );
    const spms = answers
      .filter((a): a is NonNullable<typeof a> => a !== undefined && a.status.spmStatus === 'SPM')
      .sort((a, b) => b.status.spmLver - a.status.spmLver);
    const chosen = spms[0];
    if (!chosen) {
      throw ApplicationFailure.create({
        type: ErrorType.NoSpm,
        message: `no host of pool ${poolId} answers as SPM (asked ${hosts.map((h) => h.name).join(', ') || 'no hosts'})`,
        nonRetryable: false,
      });
    }
    const spm = { host: chosen.host, api: chosen.api };
    this.current.set(poolId, spm);
    return spm;
  }
}
