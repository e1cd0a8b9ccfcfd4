/** Turns the fixture into inventory entities: what `init(seed)` writes into an empty inventory. */
import {
  diskAttachments,
  domainKind,
  domainSupportsDiscard,
  hostPort,
  type DataCenterFixture,
} from '../fixture/schema';
import { InventoryError } from './errors';
import type {
  Disk,
  DiskAttachment,
  Host,
  InventoryRepository,
  StorageDomain,
  StoragePool,
  Vm,
  Volume,
} from './port';
import { fixtureVolumes, withVolumes } from './volumes';

export type InventorySeed = NonNullable<Parameters<InventoryRepository['init']>[0]>;

export interface SeedEntities {
  pool: StoragePool;
  /** freeBytes is what the store computes. */
  domains: Array<Omit<StorageDomain, 'freeBytes'>>;
  hosts: Host[];
  vms: Vm[];
  /** As getDisk will show them once seeded. */
  disks: Disk[];
  /** Every disk's chain, base first (createdAt is the seeding time). */
  volumes: Array<Omit<Volume, 'createdAt'>>;
  /** Each disk's VM, and each shareable disk's VMs. */
  attachments: DiskAttachment[];
}

/**
 * Where each fixture host's VDSM listens, by host id. The one mapping the inventory uses; it defers
 * to the fixture's `hostPort`, which the VDSM simulator must use too, so both agree on every port.
 */
export function hostPorts(fixture: DataCenterFixture, basePort: number): Map<string, number> {
  const ports = new Map<string, number>();
  for (const host of fixture.hosts) {
    const port = hostPort(fixture, host.id, basePort);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new InventoryError(
        'init',
        `host ${host.name} would listen on port ${port}: base port ${basePort} is out of range`,
      );
    }
    ports.set(host.id, port);
  }
  return ports;
}

export function seedEntities(seed: InventorySeed): SeedEntities {
  const { fixture, vdsmAddress, vdsmBasePort } = seed;
  const poolId = fixture.pool.id;
  const ports = hostPorts(fixture, vdsmBasePort);
  const volumes = fixture.disks.flatMap((d) => fixtureVolumes(fixture, d));
  return {
    pool: { id: poolId, name: fixture.pool.name, masterDomainId: fixture.pool.masterDomainId },
    domains: fixture.domains.map((d) => ({
      id: d.id,
      poolId,
      name: d.name,
      storageType: d.storageType,
      discardAfterDelete: d.discardAfterDelete,
      supportsDiscard: domainSupportsDiscard(d),
      kind: domainKind(d.storageType),
      sizeBytes: d.sizeBytes,
    })),
    hosts: fixture.hosts.map((h) => ({
      id: h.id,
      poolId,
      name: h.name,
      vdsId: h.vdsId,
      address: vdsmAddress,
      port: ports.get(h.id) as number,
    })),
    vms: fixture.vms.map((v) => ({
      id: v.id,
      poolId,
      name: v.name,
      status: v.status,
      deleteProtected: v.deleteProtected,
    })),
    // A fixture has one pool: every domain, and so every disk, belongs to it.
    disks: withVolumes(
      fixture.disks.map((d) => ({
        id: d.id,
        poolId,
        alias: d.alias,
        // The fixture refuses a vmId on a shareable disk: it belongs to no VM.
        vmId: d.shareable ? null : d.vmId,
        domainId: d.domainId,
        sizeBytes: d.sizeBytes,
        wipeAfterDelete: d.wipeAfterDelete,
        shareable: d.shareable,
        status: d.status,
      })),
      volumes.map((v) => ({ ...v, createdAt: '' })),
      'init',
    ),
    volumes,
    attachments: fixture.disks.flatMap((d) => diskAttachments(d)),
  };
}
