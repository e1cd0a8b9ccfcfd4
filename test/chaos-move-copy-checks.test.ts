/**
 * The chaos checks of MoveDisk / CopyDisk and of host jobs bite: a move that claims success while
 * the disk never left its domain, a copy left on a second domain, and a job still running once
 * every command closed are each reported. Simulator and inventory only (no Temporal).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Closed } from '../bench/chaos/invariants';
import { checkMoveOrCopyCommands, checkNoJobsLeft } from '../bench/chaos/move-copy-checks';
import { chainsBefore, type StorageWorld } from '../bench/chaos/volume-checks';
import { vmsByName } from '../bench/support/fixtures';
import { generateDataCenter } from '../src/fixture';
import { openInventory } from '../src/inventory';
import { WorkflowType } from '../src/shared/names';
import { createVdsmConnector } from '../src/vdsm';
import { startSimulator } from '../src/vdsm-sim/simulator';

test('a false move, an image on a second domain and a job still running are reported; a clean failed move is not', async () => {
  const fixture = generateDataCenter({ name: 'movecheck', vmCount: 0, extraVms: [{ name: 'mv', disks: 1 }] });
  const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-movecheck-'));
  const sim = await startSimulator({
    fixture,
    dataDir,
    basePort: 0,
    faults: { jobFaults: [{ verb: 'SDM.copy_data', mode: 'hang' }] },
  });
  const inventory = openInventory(`sqlite:${join(dataDir, 'inventory.db')}`);
  const vdsm = createVdsmConnector({ requestTimeoutMs: 5_000 });
  try {
    await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 1 });
    const world: StorageWorld = { fixtures: [fixture], inventory, sim: () => sim };
    const vm = vmsByName([fixture]).get('mv')!;
    const disk = fixture.disks.find((d) => d.id === vm.diskIds[0])!;
    const other = fixture.domains.find((d) => d.storageType === 'nfs' && d.id !== disk.domainId)!;
    const before = chainsBefore(world, vm.diskIds);
    const move = (completed: boolean): Closed => ({
      command: {
        kind: 'MoveDisk',
        workflowId: `MoveDisk/${disk.id}`,
        workflowType: WorkflowType.moveDisk,
        vm,
        floating: false,
        submitAt: 0,
      },
      outcome: completed
        ? {
            ok: true,
            completed: true,
            label: 'succeeded',
            result: { diskId: disk.id, domainId: other.id, volumeId: disk.volumeIds.at(-1) },
          }
        : { ok: true, completed: false, label: 'failed: TaskFailed' },
    });
    const check = async (closed: Closed) => {
      const found: Array<{ invariant: string; detail: string }> = [];
      await checkMoveOrCopyCommands(world, [closed], before, (invariant, detail) =>
        found.push({ invariant, detail }),
      );
      checkNoJobsLeft(world, (invariant, detail) => found.push({ invariant, detail }));
      return found.map((f) => f.invariant).sort();
    };

    // Storage and inventory as seeded: a failed move that left the source alone.
    expect(await check(move(false))).toEqual([]);
    // "Succeeded", yet the inventory and storage still have the disk on its source: wrong domain,
    // no chain on the destination, an image left on the source.
    expect(await check(move(true))).toEqual(['outcomeConsistent', 'outcomeConsistent', 'storageAgrees']);

    // A copy job that never ends (hang), writing the disk's image onto a second domain.
    const host = sim.hosts[0]!;
    const api = vdsm.host({ hostId: host.hostId, address: host.address, port: host.port });
    const spm = sim.hosts.find((h) => h.hostId === sim.spmHostId())!;
    const dstVolume = '7a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';
    await vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port }).volumeCreate({
      volumeID: dstVolume,
      storagepoolID: fixture.pool.id,
      storagedomainID: other.id,
      imageID: disk.id,
      size: String(disk.sizeBytes),
      volFormat: 4,
      preallocate: 2,
      diskType: 'DATA',
      desc: 'planted',
      srcImgUUID: '00000000-0000-0000-0000-000000000000',
      srcVolUUID: '00000000-0000-0000-0000-000000000000',
    });
    const deadline = Date.now() + 10_000;
    while (!sim.imageChain(other.id, disk.id) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await api.sdmCopyData({
      job_id: '8b1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
      source: { endpoint_type: 'div', sd_id: disk.domainId, img_id: disk.id, vol_id: disk.volumeIds.at(-1)! },
      destination: {
        endpoint_type: 'div',
        sd_id: other.id,
        img_id: disk.id,
        vol_id: dstVolume,
        generation: 0,
      },
    });
    expect(await check(move(false))).toEqual(['noJobsLeft', 'storageAgrees']);
  } finally {
    await vdsm.close();
    await inventory.close();
    await sim.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
