import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Host } from '../inventory/port';
import { ErrorType } from '../shared/errors';
import type { JobPhase } from '../shared/job-view';
import { isVdsmError, VdsmCode, VdsmError, VdsmTransportError } from '../vdsm/errors';
import type {
  CopyDataParams,
  HostJob,
  MergeParams,
  UpdateVolumeParams,
  VdsmHostApi,
  VolumeInfo,
} from '../vdsm/port';
import type { ActivityDeps } from './deps';
import { typed } from './failures';
import { keepHeartbeating } from './heartbeat';
import type { HostJobHub } from './job-hub';

/** A host job to start: the SDM verb, the job id the workflow chose, the verb's other params. */
export type HostJobSpec =
  | { verb: 'SDM.copy_data'; jobId: string; params: Omit<CopyDataParams, 'job_id'> }
  | { verb: 'SDM.merge'; jobId: string; params: Omit<MergeParams, 'job_id'> }
  | { verb: 'SDM.update_volume'; jobId: string; params: Omit<UpdateVolumeParams, 'job_id'> };

export interface StartHostJobInput {
  poolId: string;
  job: HostJobSpec;
}

export interface StartHostJobResult {
  hostId: string;
  jobId: string;
}

/** The volume the job changes, and its generation before the job (Volume.getInfo). */
export interface HostJobEntity {
  domainId: string;
  imageId: string;
  volumeId: string;
  startGeneration: number;
}

export interface WaitForHostJobInput {
  poolId: string;
  hostId: string;
  jobId: string;
  entity: HostJobEntity;
}

/**
 * How a job ended. `fenced`: it was lost (not reported, volume unchanged) and its volume was
 * fenced to generation start + 3 (now or by an earlier attempt): a failure, never a success.
 * `how`: what told us (the job's event, a Host.getJobs poll, or the volume itself).
 */
export interface HostJobOutcome {
  status: 'done' | 'failed' | 'fenced';
  progress: number | null;
  error?: { code: number; message: string };
  how: 'event' | 'poll' | 'entity';
}

/** What the activity heartbeats while it waits: the client reads it as the job's live view (src/client/job-progress.ts). */
export interface HostJobHeartbeat {
  jobId: string;
  hostId: string;
  phase: Exclude<JobPhase, 'ended'>;
  jobStatus: HostJob['status'] | null;
  progress: number | null;
}

/** sc.MAX_GENERATION + 1: generations wrap. */
const GENERATION_MODULUS = 1000;
/** StorageConstants.ENTITY_FENCING_GENERATION_DIFF */
const FENCING_GENERATION_DIFF = 3;
const JOB_EXISTS = /^Job '.*' exists$/;

function plusGeneration(generation: number, n: number): number {
  return (generation + n) % GENERATION_MODULUS;
}

/** A uuid derived from a job id (sha1, RFC 4122 variant bits): a retry derives the same one. */
export function derivedJobId(jobId: string, purpose: string): string {
  const hex = createHash('sha1').update(`${jobId}/${purpose}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The order in which a job's verb is offered to the pool's hosts: by vdsId, starting at the host a
 * hash of the job id picks (so every attempt of one job asks the same host first), `preferHostId`
 * (if any) in front.
 */
export function orderHostsForJob<H extends { id: string; vdsId: number }>(
  hosts: readonly H[],
  jobId: string,
  preferHostId?: string,
): H[] {
  const sorted = [...hosts].sort((a, b) => a.vdsId - b.vdsId);
  if (sorted.length === 0) return sorted;
  const first = parseInt(createHash('sha1').update(jobId).digest('hex').slice(0, 8), 16) % sorted.length;
  const ordered = [...sorted.slice(first), ...sorted.slice(0, first)];
  const preferred = ordered.findIndex((h) => h.id === preferHostId);
  return preferred > 0 ? [ordered[preferred]!, ...ordered.filter((_, i) => i !== preferred)] : ordered;
}

/** Transport failures where the request provably never reached VDSM: another host may take it. */
function neverSent(err: unknown): boolean {
  return (
    err instanceof VdsmTransportError &&
    /cannot connect to|unreachable \(|closed before the request was sent/.test(err.message)
  );
}

function sendVerb(api: VdsmHostApi, job: HostJobSpec): Promise<void> {
  switch (job.verb) {
    case 'SDM.copy_data':
      return api.sdmCopyData({ job_id: job.jobId, ...job.params });
    case 'SDM.merge':
      return api.sdmMerge({ job_id: job.jobId, ...job.params });
    case 'SDM.update_volume':
      return api.sdmUpdateVolume({ job_id: job.jobId, ...job.params });
  }
}

export function createHostJobActivities(
  deps: Pick<ActivityDeps, 'vdsm' | 'inventory'>,
  hub: HostJobHub,
): {
  startHostJob(input: StartHostJobInput): Promise<StartHostJobResult>;
  waitForHostJob(input: WaitForHostJobInput): Promise<HostJobOutcome>;
} {
  const apiFor = (host: Host): VdsmHostApi =>
    deps.vdsm.host({ hostId: host.id, address: host.address, port: host.port });

  /**
   * The pool's hosts in the job's own order: a hash of the job id picks the first, so every
   * attempt of one job asks the same host first (a retry after a lost answer meets "job exists").
   */
  async function hostsFor(poolId: string, jobId: string, preferHostId?: string): Promise<Host[]> {
    const hosts = await deps.inventory.listHosts(poolId);
    if (hosts.length === 0) {
      throw ApplicationFailure.create({
        type: ErrorType.VdsmUnavailable,
        message: `pool ${poolId} has no hosts`,
        nonRetryable: false,
      });
    }
    return orderHostsForJob(hosts, jobId, preferHostId);
  }

  /**
   * Sends the SDM verb to the first host that takes it. A host that never got the request (no
   * connection) or answers 99 (still starting) passes it on; an answer lost after sending does
   * not (the job may run there: the retry asks that host again and meets "job exists").
   */
  async function send(
    poolId: string,
    job: HostJobSpec,
    preferHostId?: string,
  ): Promise<{ host: Host; api: VdsmHostApi }> {
    let lastError: unknown;
    for (const host of await hostsFor(poolId, job.jobId, preferHostId)) {
      const api = apiFor(host);
      try {
        await sendVerb(api, job);
        return { host, api };
      } catch (err) {
        // An earlier attempt's answer was lost: the job runs there.
        if (isVdsmError(err, VdsmCode.GeneralException) && JOB_EXISTS.test(err.vdsmMessage))
          return { host, api };
        if (neverSent(err) || isVdsmError(err, VdsmCode.RecoveryInProgress)) {
          lastError = err;
          continue;
        }
        throw err;
      }
    }
    throw lastError;
  }

  async function volumeInfo(
    poolId: string,
    jobId: string,
    preferHostId: string,
    entity: HostJobEntity,
  ): Promise<VolumeInfo> {
    let lastError: unknown;
    for (const host of await hostsFor(poolId, jobId, preferHostId)) {
      try {
        return await apiFor(host).volumeGetInfo({
          volumeID: entity.volumeId,
          imageID: entity.imageId,
          storagedomainID: entity.domainId,
          storagepoolID: poolId,
        });
      } catch (err) {
        // Any host can read the volume: ask the next one if this one cannot answer.
        if (err instanceof VdsmTransportError || (err instanceof VdsmError && err.retryable)) {
          lastError = err;
          continue;
        }
        throw err;
      }
    }
    throw lastError;
  }

  async function startHostJob(input: StartHostJobInput): Promise<StartHostJobResult> {
    return typed(async () => {
      const { host, api } = await send(input.poolId, input.job);
      // Its end may come before the workflow starts waiting: keep its event from now on.
      hub.expect(host.id, api, input.job.jobId);
      return { hostId: host.id, jobId: input.job.jobId };
    });
  }

  async function waitForHostJob(input: WaitForHostJobInput): Promise<HostJobOutcome> {
    const beat: HostJobHeartbeat = {
      jobId: input.jobId,
      hostId: input.hostId,
      phase: 'waiting',
      jobStatus: null,
      progress: null,
    };
    const stop = keepHeartbeating(() => ({ ...beat }));
    try {
      return await typed(() => follow(input, beat, Context.current().cancellationSignal));
    } finally {
      stop();
    }
  }

  async function follow(
    input: WaitForHostJobInput,
    beat: HostJobHeartbeat,
    signal: AbortSignal,
  ): Promise<HostJobOutcome> {
    const { poolId, hostId, jobId, entity } = input;
    const host = (await deps.inventory.listHosts(poolId)).find((h) => h.id === hostId);
    if (!host) {
      throw ApplicationFailure.create({
        type: ErrorType.InvalidInput,
        message: `host ${hostId} is not in pool ${poolId}`,
        nonRetryable: true,
      });
    }
    const onReport = (job: HostJob): void => {
      beat.jobStatus = job.status;
      if (job.progress !== undefined) beat.progress = job.progress;
    };
    for (;;) {
      beat.phase = 'waiting';
      const seen = await hub.waitForJob(hostId, apiFor(host), jobId, { signal, onReport });
      if (seen.kind === 'ended') return outcomeOf(seen.job, seen.how, beat.progress);

      // Not reported any more (host restarted, job expired): the volume tells (VdsmImagePoller).
      beat.phase = 'checking volume';
      const info = await volumeInfo(poolId, jobId, hostId, entity);
      if ((info.lease?.owners.length ?? 0) > 0) continue;
      if (info.generation === plusGeneration(entity.startGeneration, 1)) {
        return { status: 'done', progress: 100, how: 'entity' };
      }
      const fencedAt = plusGeneration(entity.startGeneration, FENCING_GENERATION_DIFF);
      if (info.generation === fencedAt) return fencedOutcome(beat.progress);

      // Nobody holds it and it is neither done nor fenced: fence it, so a copy still running
      // somewhere can never finish into it (its generation check fails), then call it failed.
      beat.phase = 'fencing';
      const fence: HostJobSpec = {
        verb: 'SDM.update_volume',
        // One fence job per generation seen: a retry of this activity finds it again.
        jobId: derivedJobId(jobId, `fence@${info.generation}`),
        params: {
          vol_info: {
            sd_id: entity.domainId,
            img_id: entity.imageId,
            vol_id: entity.volumeId,
            generation: info.generation,
          },
          vol_attr: { generation: fencedAt },
        },
      };
      const sent = await send(poolId, fence, hostId);
      const fenced = await hub.waitForJob(sent.host.id, sent.api, fence.jobId, { signal });
      if (fenced.kind === 'ended' && fenced.job.status === 'done') return fencedOutcome(beat.progress);
      // Failed (the generation moved: the job did end after all) or lost: look at the volume again.
    }
  }

  return { startHostJob, waitForHostJob };
}

function outcomeOf(job: HostJob, how: 'event' | 'poll', lastProgress: number | null): HostJobOutcome {
  if (job.status === 'done') return { status: 'done', progress: job.progress ?? 100, how };
  return {
    status: 'failed',
    progress: job.progress ?? lastProgress,
    error: job.error ?? { code: VdsmCode.GeneralException, message: `job ${job.id} ended ${job.status}` },
    how,
  };
}

function fencedOutcome(progress: number | null): HostJobOutcome {
  return {
    status: 'fenced',
    progress,
    error: {
      code: VdsmCode.GeneralException,
      message: 'the job was lost (no longer reported, volume unchanged); the volume was fenced',
    },
    how: 'entity',
  };
}
