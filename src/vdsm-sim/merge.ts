import { VdsmErrors } from './errors';
import { BLANK_UUID, type StorageModel, type VolumeRecord } from './storage';

/**
 * Cold merge on the simulated storage (lib/vdsm/storage/merge.py): the subchain checks and what
 * StoragePool.prepareMerge and finalizeMerge do to volume metadata. SDM.merge (the qemu-img commit)
 * changes no metadata but the base's generation, which the job does itself.
 */

export interface SubchainInfo {
  sd_id: string;
  img_id: string;
  top_id: string;
  base_id: string;
  base_generation?: number;
}

export function leaseKey(domainId: string, imageId: string, volumeId: string): string {
  return `${domainId}/${imageId}/${volumeId}`;
}

/** produceVolume: a missing volume is 201. */
export function volumeOf(
  storage: StorageModel,
  domainId: string,
  imageId: string,
  volumeId: string,
): VolumeRecord {
  const volume = storage.image(domainId, imageId)?.volumes.find((v) => v.id === volumeId);
  if (!volume) throw VdsmErrors.volumeDoesNotExist(volumeId);
  return volume;
}

/** SubchainInfo.validate: both in the image's chain, base the parent of top, neither SHARED. */
export function validateSubchain(
  storage: StorageModel,
  sub: SubchainInfo,
): { base: VolumeRecord; top: VolumeRecord } {
  const chain = storage.image(sub.sd_id, sub.img_id)?.volumes ?? [];
  for (const id of [sub.base_id, sub.top_id]) {
    if (!chain.some((v) => v.id === id)) throw VdsmErrors.volumeNotInChain(sub.sd_id, sub.img_id, id);
  }
  const base = volumeOf(storage, sub.sd_id, sub.img_id, sub.base_id);
  const top = volumeOf(storage, sub.sd_id, sub.img_id, sub.top_id);
  if (top.parentId !== sub.base_id) throw VdsmErrors.wrongParentVolume(sub.base_id, sub.top_id);
  if (base.voltype === 'SHARED' || top.voltype === 'SHARED') {
    throw VdsmErrors.generalError(
      `Shared volume is non-writable: ${base.voltype === 'SHARED' ? base.id : top.id}`,
    );
  }
  return { base, top };
}

/** merge.prepare: the base grows to the top's capacity (allocation is not modelled). */
export function prepareMerge(storage: StorageModel, sub: SubchainInfo): void {
  const base = volumeOf(storage, sub.sd_id, sub.img_id, sub.base_id);
  const top = volumeOf(storage, sub.sd_id, sub.img_id, sub.top_id);
  if (top.capacity > base.capacity) {
    storage.updateVolume(sub.sd_id, sub.img_id, sub.base_id, { capacity: top.capacity });
  }
}

/**
 * merge.finalize. Leaf top: syncVolumeChain without it (the base is the leaf again), top ILLEGAL.
 * Internal top: top ILLEGAL, its child rebased onto the base. The top stays on the domain for the
 * engine's Image.deleteVolumes.
 */
export function finalizeMerge(storage: StorageModel, sub: SubchainInfo): void {
  validateSubchain(storage, sub);
  const volumes = storage.image(sub.sd_id, sub.img_id)?.volumes ?? [];
  const child = volumes.find((v) => v.parentId === sub.top_id);
  storage.updateVolume(sub.sd_id, sub.img_id, sub.top_id, { legality: 'ILLEGAL' });
  if (child) {
    storage.updateVolume(sub.sd_id, sub.img_id, child.id, { parentId: sub.base_id });
  } else {
    storage.updateVolume(sub.sd_id, sub.img_id, sub.base_id, { voltype: 'LEAF' });
  }
}

/** VolumeAttributes as SDM.update_volume takes them (lib/vdsm/storage/validators.py). */
export interface VolumeAttributes {
  legality?: 'LEGAL' | 'ILLEGAL';
  description?: string;
  generation?: number;
  type?: 'SHARED';
}

/**
 * VolumeManifest.update_attributes: generation check (911), LEAF → SHARED only for a parentless
 * volume (235), then the attributes; the generation becomes the given one, else the next.
 */
export function updateAttributes(
  storage: StorageModel,
  ref: { sd_id: string; img_id: string; vol_id: string },
  generation: number | null,
  attrs: VolumeAttributes,
  nextGeneration: (g: number) => number,
): void {
  const volume = volumeOf(storage, ref.sd_id, ref.img_id, ref.vol_id);
  if (generation !== volume.generation) throw VdsmErrors.generationMismatch(generation, volume.generation);
  if (attrs.type !== undefined) {
    if (volume.voltype !== 'LEAF')
      throw VdsmErrors.invalidVolumeUpdate(
        volume.id,
        `${volume.voltype} Volume cannot be updated to ${attrs.type}`,
      );
    if (volume.parentId !== BLANK_UUID)
      throw VdsmErrors.invalidVolumeUpdate(
        volume.id,
        `Volume with parent ${volume.parentId} cannot be updated to ${attrs.type}`,
      );
  }
  storage.updateVolume(ref.sd_id, ref.img_id, ref.vol_id, {
    ...(attrs.legality !== undefined ? { legality: attrs.legality } : {}),
    // VolumeMetadata.validate_description truncates to 210 bytes.
    ...(attrs.description !== undefined ? { description: attrs.description.slice(0, 210) } : {}),
    ...(attrs.type !== undefined ? { voltype: attrs.type } : {}),
    generation: attrs.generation ?? nextGeneration(volume.generation),
  });
}
