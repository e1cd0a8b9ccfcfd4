import { VdsmErrors } from './errors';
import type { Faults } from './faults';
import type { SimHost } from './datacenter';
import {
  leaseKey,
  type SubchainInfo,
  updateAttributes,
  validateSubchain,
  type VolumeAttributes,
  volumeOf,
} from './merge';
import { pyRepr } from './pyrepr';
import { nextGeneration, type StorageModel, type VolumeRecord } from './storage';

/** An SDM endpoint (sdm/api/copy_data.py): only `div` (a volume) is simulated. */
export interface CopyEndpoint {
  endpoint_type: string;
  sd_id: string;
  img_id: string;
  vol_id: string;
  generation?: number;
}

/** SDM.update_volume's vol_info. */
export interface VolumeInfoRef {
  sd_id: string;
  img_id: string;
  vol_id: string;
  generation?: number;
}

export interface SdmContext {
  storage: StorageModel;
  faults: Faults;
  /** 358 for an unknown domain. */
  checkDomain(domainId: string): void;
  /** A host dying mid-job (the crashHost job fault). */
  crashHost(host: SimHost, downMs: number): void;
}

/**
 * The SDM verbs (lib/vdsm/storage/sdm/api): host jobs with a caller-chosen id, run on any host,
 * each holding the lease of the volume it writes while it runs.
 */
export class SdmVerbs {
  constructor(private readonly ctx: SdmContext) {}

  /**
   * SDM.copy_data: a host job with the caller's id, holding the destination's lease. The
   * destination is ILLEGAL while copying and becomes LEGAL with generation + 1 when done
   * (volume.operation); a failed or interrupted copy leaves it ILLEGAL at its old generation.
   */
  copyData(host: SimHost, jobId: string, source: CopyEndpoint, destination: CopyEndpoint): void {
    for (const endpoint of [source, destination]) {
      if (endpoint.endpoint_type !== 'div') {
        const { endpoint_type: _type, ...rest } = endpoint;
        throw VdsmErrors.generalError(`Invalid or unsupported endpoint ${pyRepr({ ...rest })}`);
      }
    }
    const volumeAt = (e: CopyEndpoint): VolumeRecord =>
      volumeOf(this.ctx.storage, e.sd_id, e.img_id, e.vol_id);
    let generation = 0;
    this.start(host, jobId, 'SDM.copy_data', 'copy_data', [destination], {
      begin: () => {
        volumeAt(source);
        generation = volumeAt(destination).generation;
        if (destination.generation !== undefined && destination.generation !== generation) {
          throw VdsmErrors.generationMismatch(destination.generation, generation);
        }
        this.ctx.storage.updateVolume(destination.sd_id, destination.img_id, destination.vol_id, {
          legality: 'ILLEGAL',
        });
      },
      complete: () => {
        this.injectFailure('SDM.copy_data', host);
        this.ctx.storage.updateVolume(destination.sd_id, destination.img_id, destination.vol_id, {
          legality: 'LEGAL',
          generation: nextGeneration(generation),
        });
      },
    });
  }

  /**
   * SDM.merge (sdm/api/merge.py): validate the subchain, then qemu-img commit under
   * base.operation(base_generation, set_illegal=False): 911 on a generation mismatch, the base's
   * generation + 1 when done, legality untouched. Holds the base's lease.
   */
  merge(host: SimHost, jobId: string, sub: SubchainInfo): void {
    let generation = 0;
    const base = { sd_id: sub.sd_id, img_id: sub.img_id, vol_id: sub.base_id };
    this.start(host, jobId, 'SDM.merge', 'merge_subchain', [base], {
      begin: () => {
        this.ctx.checkDomain(sub.sd_id);
        generation = validateSubchain(this.ctx.storage, sub).base.generation;
        if (sub.base_generation !== undefined && sub.base_generation !== generation) {
          throw VdsmErrors.generationMismatch(sub.base_generation, generation);
        }
      },
      complete: () => {
        this.injectFailure('SDM.merge', host);
        this.ctx.storage.updateVolume(sub.sd_id, sub.img_id, sub.base_id, {
          generation: nextGeneration(generation),
        });
      },
    });
  }

  /**
   * SDM.update_volume (sdm/api/update_volume.py): under the volume's lease, update_attributes with
   * the generation check. The engine fences a job it lost track of with generation + 3.
   */
  updateVolume(host: SimHost, jobId: string, volInfo: VolumeInfoRef, attrs: VolumeAttributes): void {
    this.start(host, jobId, 'SDM.update_volume', 'update_volume', [volInfo], {
      begin: () => {
        this.ctx.checkDomain(volInfo.sd_id);
        volumeOf(this.ctx.storage, volInfo.sd_id, volInfo.img_id, volInfo.vol_id);
      },
      complete: () => {
        this.injectFailure('SDM.update_volume', host);
        updateAttributes(this.ctx.storage, volInfo, volInfo.generation ?? null, attrs, nextGeneration);
      },
    });
  }

  /** Starts an SDM job on `host` with the job fault knobs applied (hang, host crash). */
  private start(
    host: SimHost,
    jobId: string,
    verb: string,
    description: string,
    leases: ReadonlyArray<{ sd_id: string; img_id: string; vol_id: string }>,
    work: { begin: () => void; complete: () => void },
  ): void {
    const workMs = this.ctx.faults.workMs(verb);
    const fault = this.ctx.faults.jobFault(verb, host.ref);
    host.jobs.start(jobId, description, 'storage', {
      workMs,
      holds: leases.map((l) => leaseKey(l.sd_id, l.img_id, l.vol_id)),
      hang: fault?.mode === 'hang',
      ...(fault?.mode === 'crashHost'
        ? { crashAfterMs: workMs * fault.atFraction, onCrash: () => this.ctx.crashHost(host, fault.downMs) }
        : {}),
      begin: work.begin,
      complete: work.complete,
    });
  }

  private injectFailure(verb: string, host: SimHost): void {
    const fault = this.ctx.faults.failure(verb, 'task', host.ref);
    if (fault) throw fault;
  }
}
