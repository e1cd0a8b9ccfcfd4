/**
 * Reading a volume on storage for the workflows: its generation before a host job changes it
 * (the engine's CopyDataCommand reads it the same way, Volume.getInfo).
 */
import type { ActivityDeps } from './deps';
import { typed } from './failures';
import type { SpmLocator } from './spm-locator';

export function createVolumeActivities(
  _deps: ActivityDeps,
  spm: SpmLocator,
): {
  volumeGeneration(input: {
    poolId: string;
    domainId: string;
    imageId: string;
    volumeId: string;
  }): Promise<number>;
} {
  return {
    async volumeGeneration({ poolId, domainId, imageId, volumeId }) {
      return typed(async () => {
        // Volume.getInfo is an HSM verb any connected host answers; the SPM is one we always know.
        const info = await spm.onSpm(poolId, (s) =>
          s.api.volumeGetInfo({
            volumeID: volumeId,
            imageID: imageId,
            storagepoolID: poolId,
            storagedomainID: domainId,
          }),
        );
        return info.generation;
      });
    },
  };
}
