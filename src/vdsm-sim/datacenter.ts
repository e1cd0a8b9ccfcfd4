import { join } from 'node:path';
import { type DataCenterFixture, type DomainKind, domainKind, type HostFixture } from '../fixture/schema';
import { VdsmErrors } from './errors';
import type { Faults, HostRef } from './faults';
import { HostJobs, type HostJobInfo } from './jobs';
import { pyRepr } from './pyrepr';
import { finalizeMerge, leaseKey, prepareMerge, type SubchainInfo, type VolumeAttributes } from './merge';
import { type CopyEndpoint, SdmVerbs, type VolumeInfoRef } from './sdm';
import { BLANK_UUID, StorageModel, type VolumeRecord } from './storage';
import {
  type JobPlan,
  type RecoveryAction,
  SimTask,
  TaskManager,
  type TaskSnapshot,
  type TaskStatusDict,
  TaskStore,
} from './tasks';

export type SpmRole = 'SPM' | 'Contend' | 'Free';

/** Task verb (python name, as Task.getInfo reports it) → wire verb (what fault rules name). */
const WIRE_VERB_OF_TASK: Record<string, string> = {
  deleteImage: 'Image.delete',
  moveImage: 'Image.move',
  createVolume: 'Volume.create',
  deleteVolume: 'Image.deleteVolumes',
  spmStart: 'StoragePool.spmStart',
  prepareMerge: 'StoragePool.prepareMerge',
  finalizeMerge: 'StoragePool.finalizeMerge',
};

/** misc.UUID_REGEX: lower case, dashed (upper case is refused on purpose). */
const UUID_REGEX = /^[a-f0-9]{8}-(?:[a-f0-9]{4}-){3}[a-f0-9]{12}$/;

/** misc.validateUUID */
function validateUuid(value: string, name: string): void {
  if (!UUID_REGEX.test(value)) throw VdsmErrors.invalidParameter(name, value);
}

/** misc.validateSize: a decimal string of bytes. */
function validateSize(value: string, name: string): number {
  if (!/^\d+$/.test(value)) throw VdsmErrors.invalidParameter(name, value);
  return Number(value);
}

/** Volume.create rounds sizes up to 4 KiB (sc.BLOCK_SIZE_4K). */
function round4k(bytes: number): number {
  return Math.ceil(bytes / 4096) * 4096;
}

/** sc.VOL_DISKTYPE */
const DISK_TYPES = new Set(['DATA', 'ISOF', 'MEMD', 'MEMM', 'OVFS', 'HEVD', 'HESD', 'HEMD', 'HECI']);

/** hrtime is CLOCK_MONOTONIC, as VDSM's event_time(). */
function eventTime(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

export interface DataCenterHooks {
  /** An event for the host's `jms.queue.events` subscribers. */
  notify(hostId: string, method: string, params: Record<string, unknown>): void;
  onTaskStateChange(hostId: string, task: SimTask): void;
  log(line: string): void;
}

export interface DataCenterOptions {
  fixture: DataCenterFixture;
  dataDir: string;
  faults: Faults;
  hooks: DataCenterHooks;
  /** Make the SPM of the persisted metadata (else the fixture's) SPM at start, as if the engine had run spmStart. */
  autoSpm: boolean;
}

export class SimHost {
  role: SpmRole = 'Free';
  /** After a host crash (fault knob): answers 99 and sends no events until then. */
  downUntil = 0;
  readonly tasks: TaskManager;
  readonly jobs: HostJobs;

  constructor(
    readonly fixture: HostFixture,
    tasks: (host: SimHost) => TaskManager,
    jobs: (host: SimHost) => HostJobs,
  ) {
    this.tasks = tasks(this);
    this.jobs = jobs(this);
  }

  get ref(): HostRef {
    return { hostId: this.fixture.id, name: this.fixture.name };
  }
}

export interface ImageDeleteArgs {
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
  postZero: boolean;
  force: boolean;
  discard: boolean;
}

export interface ImageMoveArgs {
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
  dstSdUUID: string;
  operation: number;
  postZero: boolean;
  force: boolean;
  discard: boolean;
}

export interface VolumeCreateArgs {
  volumeID: string;
  storagepoolID: string;
  storagedomainID: string;
  imageID: string;
  size: string;
  volFormat: number;
  preallocate: number;
  diskType: string;
  desc: string;
  srcImgUUID: string;
  srcVolUUID: string;
  initialSize?: string | null;
  addBitmaps: boolean;
  legal: boolean;
  sequence: number;
  bitmap?: string | null;
}

export interface ImageDeleteVolumesArgs {
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
  volumeList: string[];
  postZero: boolean;
  force: boolean;
  discard: boolean;
}

export interface VolumeRef {
  volumeID: string;
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
}

/**
 * One data center: the shared storage, the pool's SPM lease and one VDSM per fixture host. Every
 * verb runs "on" a host; what a real VDSM would refuse there (SPM verbs off the SPM, ...) is
 * refused with VDSM's code and message.
 */
export type { CopyEndpoint } from './sdm';

export class DataCenterSim {
  readonly poolId: string;
  readonly masterDomainId: string;
  readonly storage: StorageModel;
  private readonly taskStore: TaskStore;
  private readonly hosts = new Map<string, SimHost>();
  private readonly readyAt: number;
  private readonly sdm: SdmVerbs;

  constructor(private readonly options: DataCenterOptions) {
    const { fixture, dataDir, faults, hooks } = options;
    this.poolId = fixture.pool.id;
    this.masterDomainId = fixture.pool.masterDomainId;
    const poolDir = join(dataDir, this.poolId);
    this.storage = StorageModel.open(poolDir, fixture);
    this.taskStore = new TaskStore(join(poolDir, this.masterDomainId, 'master', 'tasks'));
    for (const hostFixture of fixture.hosts) {
      const host = new SimHost(
        hostFixture,
        (h) =>
          new TaskManager({
            runRecovery: (action) => this.runRecovery(action),
            rollbackFailure: (task) =>
              faults.failure(WIRE_VERB_OF_TASK[task.name] ?? task.name, 'rollback', h.ref),
            rollbackMs: () => faults.rollbackMs(),
            abortLatencyMs: () => faults.abortLatencyMs(),
            onStateChange: (task) => hooks.onTaskStateChange(hostFixture.id, task),
            log: (line) => hooks.log(line),
          }),
        (h) =>
          new HostJobs({
            notify: (method, params) => {
              // A host that is not ready (restarting) or a lost connection loses its events.
              if (!this.hostReady(h) || faults.dropsJobEvents(h.ref)) return;
              hooks.notify(hostFixture.id, method, { ...params, notify_time: eventTime() });
            },
            autodeleteMs: () => faults.jobAutodeleteMs(),
          }),
      );
      this.hosts.set(hostFixture.id, host);
    }
    this.readyAt = Date.now() + faults.recoveringMs();
    this.sdm = new SdmVerbs({
      storage: this.storage,
      faults,
      checkDomain: (domainId) => this.checkDomain(domainId),
      crashHost: (host, downMs) => this.crashHost(host, downMs),
    });
    if (options.autoSpm) {
      const persisted = fixture.hosts.find((h) => h.vdsId === this.storage.spm.spmId);
      this.becomeSpm(this.host(persisted?.id ?? fixture.spmHostId));
    }
  }

  host(hostId: string): SimHost {
    const host = this.hosts.get(hostId);
    if (!host) throw new Error(`host ${hostId} is not in the fixture`);
    return host;
  }

  /** The host holding the SPM role, if any. */
  spmHost(): SimHost | undefined {
    return [...this.hosts.values()].find((h) => h.role === 'SPM');
  }

  /** VDSM answers 99 to everything until it has recovered after a start. */
  ensureReady(hostId?: string): void {
    const host = hostId === undefined ? undefined : this.hosts.get(hostId);
    if (Date.now() < this.readyAt || (host && !this.hostReady(host))) throw VdsmErrors.recoveryInProgress();
  }

  hostReady(host: SimHost): boolean {
    return Date.now() >= this.readyAt && Date.now() >= host.downUntil;
  }

  /**
   * One host's VDSM dies (fault knob): its jobs and their leases vanish (volumes keep what they
   * had), an SPM role is lost, and it answers 99 (sending no events) for `downMs`.
   */
  crashHost(host: SimHost, downMs: number): void {
    this.options.hooks.log(`injected crash of host ${host.fixture.name}`);
    host.jobs.clear();
    if (host.role !== 'Free') {
      host.tasks.unload('spm');
      host.role = 'Free';
      this.storage.setSpm({ spmId: -1, lver: this.storage.spm.lver });
    }
    host.downUntil = Date.now() + downMs;
  }

  /** sanlock host ids holding the volume's lease (running host jobs). */
  leaseOwners(domainId: string, imageId: string, volumeId: string): number[] {
    const key = leaseKey(domainId, imageId, volumeId);
    return [...this.hosts.values()].filter((h) => h.jobs.holds(key)).map((h) => h.fixture.vdsId);
  }

  /** A crash: every host forgets its tasks and jobs; storage and task files stay as written. */
  shutdown(): void {
    for (const host of this.hosts.values()) {
      host.tasks.detachAll();
      host.jobs.clear();
      host.role = 'Free';
    }
  }

  /** A clean stop also folds the storage journal into its snapshot. */
  close(): void {
    this.shutdown();
    this.storage.compact();
  }

  listTasks(): Array<TaskSnapshot & { hostId: string; hostName: string }> {
    return [...this.hosts.values()].flatMap((h) =>
      h.tasks.list().map((t) => ({ ...t.snapshot(), hostId: h.fixture.id, hostName: h.fixture.name })),
    );
  }

  // ---- Task verbs (no SPM check: every host answers for its own tasks) ----

  taskGetStatus(host: SimHost, taskId: string): TaskStatusDict {
    return host.tasks.get(taskId).status();
  }

  taskGetInfo(host: SimHost, taskId: string): { id: string; verb: string } {
    return host.tasks.get(taskId).info();
  }

  async taskStop(host: SimHost, taskId: string): Promise<void> {
    await host.tasks.stop(host.tasks.get(taskId));
  }

  taskClear(host: SimHost, taskId: string): void {
    host.tasks.clear(host.tasks.get(taskId));
  }

  /** A `task` fault rule on Task.revert fails the rollback it runs (→ cleanFailure). */
  async taskRevert(host: SimHost, taskId: string): Promise<void> {
    const task = host.tasks.get(taskId);
    await host.tasks.revert(task, () => this.options.faults.failure('Task.revert', 'task', host.ref));
  }

  // ---- Host verbs ----

  /** hsm.getAllTasksStatuses: the pool's secured method; off the SPM, hsm raises SpmStatusError(). */
  hostGetAllTasksStatuses(host: SimHost): Record<string, TaskStatusDict> {
    if (host.role !== 'SPM') throw VdsmErrors.notSpmNoPool();
    return Object.fromEntries(host.tasks.list('spm').map((t) => [t.id, t.status()]));
  }

  hostGetAllTasksInfo(host: SimHost): Record<string, { id: string; verb: string }> {
    if (host.role !== 'SPM') throw VdsmErrors.notSpmNoPool();
    return Object.fromEntries(host.tasks.list('spm').map((t) => [t.id, t.info()]));
  }

  hostGetAllTasks(host: SimHost): Record<string, ReturnType<SimTask['details']>> {
    return Object.fromEntries(host.tasks.list().map((t) => [t.id, t.details()]));
  }

  hostGetConnectedStoragePools(): string[] {
    return [this.poolId];
  }

  hostGetJobs(
    host: SimHost,
    jobType: string | null | undefined,
    jobIds: readonly string[] | undefined,
  ): Record<string, HostJobInfo> {
    return host.jobs.info(jobType, jobIds);
  }

  // ---- StoragePool verbs ----

  spGetSpmStatus(host: SimHost, poolId: string): { spmStatus: SpmRole; spmLver: number; spmId: number } {
    this.checkPool(poolId);
    const spm = this.storage.spm;
    return { spmStatus: host.role, spmLver: spm.lver, spmId: spm.spmId };
  }

  /** An hsm task: Contend while it runs, then SPM (lver + 1) and the master domain's tasks are reloaded. */
  spSpmStart(host: SimHost, poolId: string): string {
    this.checkPool(poolId);
    if (host.role !== 'Free') throw VdsmErrors.isSpm(poolId);
    const task = new SimTask('spmStart');
    task.job = {
      name: 'spmStart',
      workMs: this.options.faults.workMs('StoragePool.spmStart'),
      abortable: false,
      begin: () => {
        host.role = 'Contend';
      },
      complete: () => {
        this.injectTaskFailure('StoragePool.spmStart', host);
        // The cluster lock of the master domain is held by the current SPM.
        if (this.spmHost()) throw VdsmErrors.acquireLock(this.masterDomainId);
        this.becomeSpm(host);
      },
      abandon: () => {
        if (host.role === 'Contend') host.role = 'Free';
      },
    };
    host.tasks.accept(task);
    return task.id;
  }

  /**
   * Not refused while tasks run (current VDSM does not check; the engine does). The SPM tasks leave
   * the host's memory and their work stops; their files stay for the next SPM to roll back.
   */
  spSpmStop(host: SimHost, poolId: string): void {
    this.checkPool(poolId);
    if (host.role === 'Free') return;
    host.tasks.unload('spm');
    host.role = 'Free';
    this.storage.setSpm({ spmId: -1, lver: this.storage.spm.lver });
  }

  spGetInfo(poolId: string): { info: Record<string, unknown>; dominfo: Record<string, unknown> } {
    this.checkPool(poolId);
    const { fixture } = this.options;
    const spm = this.storage.spm;
    const master = fixture.domains.find((d) => d.id === this.masterDomainId);
    return {
      info: {
        name: fixture.pool.name,
        isoprefix: '',
        pool_status: 'connected',
        lver: spm.lver,
        domains: fixture.domains.map((d) => `${d.id}:Active`).join(','),
        master_uuid: this.masterDomainId,
        version: '5',
        spm_id: spm.spmId,
        type: (master?.storageType ?? 'nfs').toUpperCase(),
        master_ver: 1,
      },
      dominfo: Object.fromEntries(
        fixture.domains.map((d) => [
          d.id,
          {
            status: 'Active',
            alerts: [],
            isoprefix: '',
            version: 5,
            disktotal: String(d.sizeBytes),
            diskfree: String(this.freeBytes(d.id, d.sizeBytes)),
          },
        ]),
      ),
    };
  }

  // ---- Storage queries ----

  sdGetImages(domainId: string): string[] {
    this.checkDomain(domainId);
    return this.storage.imageIds(domainId);
  }

  imageGetVolumes(args: { imageID: string; storagepoolID: string; storagedomainID: string }): string[] {
    this.checkPool(args.storagepoolID);
    this.checkDomain(args.storagedomainID);
    return (this.storage.image(args.storagedomainID, args.imageID)?.volumes ?? []).map((v) => v.id);
  }

  /** volume.getInfo: metadata2info + sizes + lease; VDSM always sends `children: []`. */
  volumeGetInfo(args: VolumeRef): Record<string, unknown> {
    this.checkPool(args.storagepoolID);
    this.checkDomain(args.storagedomainID);
    const image = this.storage.image(args.storagedomainID, args.imageID);
    const volume = image?.volumes.find((v) => v.id === args.volumeID);
    if (!image || !volume) throw VdsmErrors.volumeDoesNotExist(args.volumeID);
    const allocated =
      volume.format === 'RAW' ? volume.capacity : (volume.initialSize ?? Math.ceil(volume.capacity / 10));
    const block = this.kind(args.storagedomainID) === 'block';
    return {
      uuid: volume.id,
      type: volume.type,
      format: volume.format,
      disktype: volume.diskType,
      voltype: volume.voltype,
      // VolumeMetadata.__getitem__ turns capacity and ctime into strings; generation and sequence stay ints.
      capacity: String(volume.capacity),
      parent: volume.parentId,
      description: volume.description,
      pool: '',
      domain: args.storagedomainID,
      image: args.imageID,
      ctime: String(volume.ctime),
      mtime: '0',
      legality: volume.legality,
      generation: volume.generation,
      sequence: volume.sequence ?? 0,
      apparentsize: String(allocated),
      truesize: String(allocated),
      // volume.getInfo: an ILLEGAL volume reports that as its status too.
      status: volume.legality === 'ILLEGAL' ? 'ILLEGAL' : 'OK',
      lease: {
        path: block
          ? `/dev/${args.storagedomainID}/leases`
          : `/rhev/data-center/mnt/${args.storagedomainID}/images/${args.imageID}/${volume.id}.lease`,
        offset: block ? (image.volumes.indexOf(volume) + 1) * 1024 * 1024 : 0,
        owners: this.leaseOwners(args.storagedomainID, args.imageID, volume.id),
        version: null,
      },
      children: [],
    };
  }

  // ---- SPM task verbs ----

  /**
   * hsm.deleteImage: without postZero the image is renamed `_remove_me_` before the task is queued
   * (so even a 405 leaves it gone, as in VDSM) and the job purges it; with postZero the job
   * (blockSD.zeroImage) marks it first, so a zeroing task that never started leaves it listed.
   * Neither registers a rollback: a rolled-back task leaves a renamed image renamed.
   */
  imageDelete(host: SimHost, args: ImageDeleteArgs): string {
    const { storagepoolID: poolId, storagedomainID: domainId, imageID: imageId } = args;
    this.checkPool(poolId);
    this.checkDomain(domainId);
    if (!this.storage.image(domainId, imageId)) throw VdsmErrors.imageNotInDomain(imageId, domainId);
    // Without postZero the rename is a secured pool call; with it, _spmSchedule checks first.
    if (args.postZero) this.requireSpm(host);
    else this.requireSecured(host);
    const hide = (): void => this.storage.hideImage(domainId, imageId);
    if (!args.postZero) hide();
    return this.spmTask(host, 'deleteImage', {
      name: `${args.postZero ? 'zeroImage' : 'purgeImage'}_${imageId}`,
      workMs: this.options.faults.workMs('Image.delete'),
      ...(args.postZero ? { begin: hide } : {}),
      // Only zeroing block volumes runs under an abort callback (blockdev.zero); a purge runs to its end.
      abortable: this.jobsAbortable() || (args.postZero && this.kind(domainId) === 'block'),
      complete: () => {
        this.injectTaskFailure('Image.delete', host);
        this.storage.deleteImage(domainId, imageId);
      },
    });
  }

  /** hsm.moveImage: copies to the destination (rolled back by removing the copy); a move then drops the source. */
  imageMove(host: SimHost, args: ImageMoveArgs): string {
    const { storagepoolID: poolId, storagedomainID: srcId, dstSdUUID: dstId, imageID: imageId } = args;
    if (srcId === dstId) {
      const argsText =
        `spUUID=${poolId}, srcDomUUID=${srcId}, dstDomUUID=${dstId}, imgUUID=${imageId}, vmUUID=, op=${args.operation}, ` +
        `force=${pyBool(args.force)}, postZero=${pyBool(args.postZero)}, force=${pyBool(args.force)},discard=${pyBool(args.discard)}`;
      throw VdsmErrors.invalidParameter('srcDom', `must be different from dstDom: ${argsText}`);
    }
    this.checkDomain(srcId);
    this.checkDomain(dstId);
    this.checkPool(poolId);
    this.requireSpm(host);
    return this.spmTask(host, 'moveImage', {
      name: `moveImage_${imageId}`,
      workMs: this.options.faults.workMs('Image.move'),
      // The copy is a qemu-img convert run under the task's abort callback.
      abortable: true,
      begin: (task) => {
        const source = this.storage.image(srcId, imageId);
        if (!source) throw VdsmErrors.imageNotInDomain(imageId, srcId);
        if (this.storage.image(dstId, imageId))
          throw VdsmErrors.destImageAction(imageId, dstId, 'Destination image already exists');
        task.pushRecovery({
          name: `Move image rollback: ${imageId}`,
          action: { kind: 'removeImage', domainId: dstId, imageId },
        });
        this.storage.putImage(dstId, imageId, {
          removed: false,
          volumes: source.volumes.map((v) => ({ ...v, legality: 'ILLEGAL' })),
        });
      },
      complete: (task) => {
        this.injectTaskFailure('Image.move', host);
        for (const volume of this.storage.image(dstId, imageId)?.volumes ?? []) {
          this.storage.updateVolume(dstId, imageId, volume.id, { legality: 'LEGAL' });
        }
        if (args.operation === 2) {
          this.storage.deleteImage(srcId, imageId);
          // The source is gone: removing the copy now would lose the image.
          task.clearRecoveries();
        }
      },
    });
  }

  /**
   * hsm.createVolume: the arguments are validated now (in hsm's order); the job checks the parent
   * and the id as volume.create does, then adds the volume ILLEGAL until it is complete. A parent
   * in the same image becomes INTERNAL; the rollback removes the new volume and the parent is a
   * LEAF again. An existing id fails the job with 212 and registers no removal (VDSM pops the
   * half-baked rollback), so the first volume stays.
   */
  volumeCreate(host: SimHost, args: VolumeCreateArgs): string {
    const { storagepoolID: poolId, storagedomainID: domainId, imageID: imageId, volumeID: volumeId } = args;
    this.checkPool(poolId);
    this.checkDomain(domainId);
    validateUuid(imageId, 'imgUUID');
    validateUuid(volumeId, 'volUUID');
    const capacity = round4k(validateSize(args.size, 'size'));
    const initialSize =
      args.initialSize === undefined || args.initialSize === null
        ? undefined
        : round4k(validateSize(args.initialSize, 'initialSize'));
    if (args.srcImgUUID) validateUuid(args.srcImgUUID, 'srcImgUUID');
    if (args.srcVolUUID) validateUuid(args.srcVolUUID, 'srcVolUUID');
    if (args.bitmap) validateUuid(args.bitmap, 'bitmap');
    // sd.validateCreateVolumeParams
    if (args.volFormat !== 4 && args.volFormat !== 5) throw VdsmErrors.incorrectFormat(args.volFormat);
    const srcVolId = args.srcVolUUID || BLANK_UUID;
    if (srcVolId !== BLANK_UUID && args.volFormat !== 4) throw VdsmErrors.incorrectFormat('RAW');
    if (!DISK_TYPES.has(args.diskType)) throw VdsmErrors.invalidParameter('DiskType', args.diskType);
    if (args.preallocate !== 1 && args.preallocate !== 2) throw VdsmErrors.incorrectType(args.preallocate);
    if (args.addBitmaps && srcVolId === BLANK_UUID) {
      throw VdsmErrors.unsupportedOperation('Cannot add bitmaps without a parent volume', {
        srcVolUUID: srcVolId,
        add_bitmaps: args.addBitmaps,
      });
    }
    if (args.bitmap && args.volFormat !== 4) {
      throw VdsmErrors.unsupportedOperation('Creating bitmap requires volFormat=4', {
        volFormat: args.volFormat,
        bitmap: args.bitmap,
      });
    }
    this.requireSpm(host);
    const format = args.volFormat === 4 ? 'COW' : 'RAW';
    const type = args.preallocate === 1 ? 'PREALLOCATED' : 'SPARSE';
    // With no srcImgUUID the parent is looked for in the new volume's image.
    const srcImgId = args.srcImgUUID && args.srcImgUUID !== BLANK_UUID ? args.srcImgUUID : imageId;
    return this.spmTask(host, 'createVolume', {
      name: 'createVolume',
      workMs: this.options.faults.workMs('Volume.create'),
      // File domains create a base COW volume (qemu-img create) or preallocate (fallocate) under the
      // task's abort callback; a RAW sparse file, a snapshot (clone) and block volumes are not abortable.
      abortable:
        this.jobsAbortable() ||
        (this.kind(domainId) === 'file' &&
          ((format === 'COW' && srcVolId === BLANK_UUID) || (format === 'RAW' && type === 'PREALLOCATED'))),
      begin: (task) => {
        if (srcVolId !== BLANK_UUID) this.checkParent(args, srcImgId, srcVolId, capacity);
        if (this.storage.findVolume(domainId, volumeId)) throw VdsmErrors.volumeExists(volumeId);
        task.pushRecovery({
          name: `Create volume rollback: ${volumeId}`,
          action: { kind: 'removeVolume', domainId, imageId, volumeId },
        });
        const volume: VolumeRecord = {
          id: volumeId,
          parentId: srcVolId,
          format,
          type,
          voltype: 'LEAF',
          diskType: args.diskType,
          capacity,
          description: args.desc,
          // No complete metadata yet: ILLEGAL until the creation ends.
          legality: 'ILLEGAL',
          generation: 0,
          ctime: Math.floor(Date.now() / 1000),
          sequence: args.sequence,
          ...(initialSize !== undefined ? { initialSize } : {}),
        };
        this.storage.addVolume(domainId, imageId, volume);
      },
      complete: () => {
        this.injectTaskFailure('Volume.create', host);
        // legal=false leaves the new volume ILLEGAL (the engine makes it LEGAL after copying data).
        if (args.legal) this.storage.updateVolume(domainId, imageId, volumeId, { legality: 'LEGAL' });
      },
    });
  }

  /** volume.create's checks of the parent, in its order; the throw fails the job. */
  private checkParent(args: VolumeCreateArgs, srcImgId: string, srcVolId: string, capacity: number): void {
    const domainId = args.storagedomainID;
    const parent = this.storage.image(domainId, srcImgId)?.volumes.find((v) => v.id === srcVolId);
    if (!parent) throw VdsmErrors.volumeDoesNotExist(srcVolId);
    if (args.addBitmaps && parent.format !== 'COW') {
      throw VdsmErrors.unsupportedOperation('Cannot add bitmaps from parent volume with raw format', {
        srcVolUUID: srcVolId,
      });
    }
    if (parent.legality !== 'LEGAL') throw VdsmErrors.illegalParent(srcVolId);
    if (srcImgId !== args.imageID) {
      if (args.addBitmaps) {
        throw VdsmErrors.unsupportedOperation('Cannot add bitmaps from template volume', {
          srcImgUUID: srcImgId,
          srcVolUUID: srcVolId,
        });
      }
      // volParent.share(): only a template (SHARED) volume may back another image. Sharing one is
      // not simulated (no verb makes a volume SHARED), so every cross-image parent ends here.
      const nonShareable =
        `Volume cannot be shared, it's not Shared/Template volume: ` +
        pyRepr([`sdUUID: ${domainId}`, `imgUUID: ${srcImgId}`, `volUUID: ${srcVolId}`]);
      throw VdsmErrors.cannotGetParent(
        `Couldn't get parent ${srcVolId} for volume ${args.volumeID}: ${nonShareable}`,
      );
    }
    // A smaller child would corrupt the chain: InvalidParameterException, no StorageException (code 100).
    if (capacity < parent.capacity) throw VdsmErrors.invalidParameter('capacity', String(capacity));
  }

  /**
   * hsm.deleteVolume: only the pool, the image id and the SPM role are checked now; the job
   * (sp.deleteVolume) deletes the volumes in the given order, each as volume.delete does: a missing
   * one is 201, one with children (or SHARED) is refused unless `force`, discard on a file domain
   * is 349. Volumes deleted before a failure stay deleted; nothing is rolled back.
   */
  imageDeleteVolumes(host: SimHost, args: ImageDeleteVolumesArgs): string {
    const { storagepoolID: poolId, storagedomainID: domainId, imageID: imageId } = args;
    this.checkPool(poolId);
    validateUuid(imageId, 'imgUUID');
    this.requireSpm(host);
    const volumeList = [...args.volumeList];
    return this.spmTask(host, 'deleteVolume', {
      name: 'deleteVolume',
      workMs: this.options.faults.workMs('Image.deleteVolumes'),
      // Only zeroing a block volume (blockdev.zero) runs under the task's abort callback.
      abortable: this.jobsAbortable() || (args.postZero && this.kind(domainId) === 'block'),
      complete: () => {
        this.injectTaskFailure('Image.deleteVolumes', host);
        this.checkDomain(domainId);
        for (const volumeId of volumeList) {
          const volumes = this.storage.image(domainId, imageId)?.volumes ?? [];
          const volume = volumes.find((v) => v.id === volumeId);
          if (!volume) throw VdsmErrors.volumeDoesNotExist(volumeId);
          if (args.discard && this.kind(domainId) === 'file')
            throw VdsmErrors.discardNotSupported(domainId, 'file storage domain');
          if (!args.force) {
            if (volume.voltype === 'SHARED') throw VdsmErrors.cannotDeleteSharedVolume(imageId, volumeId);
            if (volumes.some((v) => v.parentId === volumeId))
              throw VdsmErrors.volumeHasChildren(domainId, imageId, volumeId);
          }
          this.storage.removeVolume(domainId, imageId, volumeId);
        }
      },
    });
  }

  // ---- SDM (host jobs: sdm.ts) ----

  sdmCopyData(host: SimHost, jobId: string, source: CopyEndpoint, destination: CopyEndpoint): void {
    this.sdm.copyData(host, jobId, source, destination);
  }

  sdmMerge(host: SimHost, jobId: string, sub: SubchainInfo): void {
    this.sdm.merge(host, jobId, sub);
  }

  sdmUpdateVolume(host: SimHost, jobId: string, volInfo: VolumeInfoRef, attrs: VolumeAttributes): void {
    this.sdm.updateVolume(host, jobId, volInfo, attrs);
  }

  /** StoragePool.prepareMerge: an SPM task (verb prepareMerge) growing the base to the top's size. */
  spPrepareMerge(host: SimHost, poolId: string, sub: SubchainInfo): string {
    this.checkPool(poolId);
    this.requireSpm(host);
    return this.spmTask(host, 'prepareMerge', {
      name: 'prepareMerge',
      workMs: this.options.faults.workMs('StoragePool.prepareMerge'),
      abortable: this.jobsAbortable(),
      complete: () => {
        this.injectTaskFailure('StoragePool.prepareMerge', host);
        this.checkDomain(sub.sd_id);
        prepareMerge(this.storage, sub);
      },
    });
  }

  /** StoragePool.finalizeMerge: an SPM task (verb finalizeMerge) rewriting the chain without the top. */
  spFinalizeMerge(host: SimHost, poolId: string, sub: SubchainInfo): string {
    this.checkPool(poolId);
    this.requireSpm(host);
    return this.spmTask(host, 'finalizeMerge', {
      name: 'finalizeMerge',
      workMs: this.options.faults.workMs('StoragePool.finalizeMerge'),
      abortable: this.jobsAbortable(),
      complete: () => {
        this.injectTaskFailure('StoragePool.finalizeMerge', host);
        this.checkDomain(sub.sd_id);
        finalizeMerge(this.storage, sub);
      },
    });
  }

  // ---- internals ----

  private becomeSpm(host: SimHost): void {
    this.storage.setSpm({ spmId: host.fixture.vdsId, lver: this.storage.spm.lver + 1 });
    host.role = 'SPM';
    const known = new Set(host.tasks.list().map((t) => t.id));
    host.tasks.adopt(this.taskStore.loadAll().filter((t) => !known.has(t.id)));
  }

  private spmTask(host: SimHost, name: string, job: JobPlan): string {
    const task = new SimTask(name);
    task.tag = 'spm';
    task.cleanPolicy = 'manual';
    task.store = this.taskStore;
    task.job = { acquireMs: this.options.faults.acquireMs(WIRE_VERB_OF_TASK[name] ?? name), ...job };
    host.tasks.accept(task);
    return task.id;
  }

  private injectTaskFailure(verb: string, host: SimHost): void {
    const fault = this.options.faults.failure(verb, 'task', host.ref);
    if (fault) throw fault;
  }

  private runRecovery(action: RecoveryAction): void {
    switch (action.kind) {
      case 'removeVolume':
        this.storage.removeVolume(action.domainId, action.imageId, action.volumeId);
        return;
      case 'removeImage':
        this.storage.deleteImage(action.domainId, action.imageId);
        return;
    }
  }

  private kind(domainId: string): DomainKind {
    return domainKind(this.options.fixture.domains.find((d) => d.id === domainId)?.storageType ?? 'nfs');
  }

  /** The `abortableJobs: "all"` fault: every running job is cut off by Task.stop (not VDSM's behaviour). */
  private jobsAbortable(): boolean {
    return this.options.faults.abortableJobs() === 'all';
  }

  private freeBytes(domainId: string, sizeBytes: number): number {
    let used = 0;
    for (const imageId of this.storage.imageIds(domainId)) {
      for (const volume of this.storage.image(domainId, imageId)?.volumes ?? [])
        used += volume.format === 'RAW' ? volume.capacity : 0;
    }
    return Math.max(0, sizeBytes - used);
  }

  private checkPool(poolId: string): void {
    if (poolId !== this.poolId) throw VdsmErrors.poolUnknown(poolId);
  }

  private checkDomain(domainId: string): void {
    if (!this.storage.hasDomain(domainId)) throw VdsmErrors.domainDoesNotExist(domainId);
  }

  /** pool.validateSPM() */
  private requireSpm(host: SimHost): void {
    if (host.role !== 'SPM') throw VdsmErrors.notSpm(this.poolId);
  }

  /** A secured StoragePool method on a host that is not SPM. */
  private requireSecured(host: SimHost): void {
    if (host.role !== 'SPM') throw VdsmErrors.notSpmSecured();
  }
}

function pyBool(value: boolean): string {
  return value ? 'True' : 'False';
}
