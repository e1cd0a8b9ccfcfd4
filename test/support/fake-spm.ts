/**
 * A fake SPM for the status hub's tests: a table of task statuses the test changes, the time of
 * each status poll, and a locator whose only host is that SPM.
 */
import { SpmLocator } from '../../src/activities/spm-locator';
import type { Host, InventoryRepository } from '../../src/inventory/port';
import { VdsmMalformedResponseError } from '../../src/vdsm/errors';
import type { VdsmConnector, VdsmHostApi, VdsmTaskStatus } from '../../src/vdsm/port';

export class FakeSpm {
  statuses: Record<string, VdsmTaskStatus> = {};
  /** When each Host.getAllTasksStatuses arrived (Date.now()). */
  polls: number[] = [];
  /** A task whose status VDSM answers malformed (and so the whole task list). */
  malformedTask: string | undefined;
  /** How long the SPM takes to answer a status poll (its table is read when the call arrives). */
  answerDelayMs = 0;
  set(
    taskID: string,
    taskState: VdsmTaskStatus['taskState'],
    taskResult: VdsmTaskStatus['taskResult'] = '',
  ): void {
    this.statuses[taskID] = { taskID, taskState, taskResult, code: 0, message: `${taskState}` };
  }
  api(): VdsmHostApi {
    return {
      hostLabel: 'fake',
      storagePoolGetSpmStatus: async () => ({ spmStatus: 'SPM', spmLver: 1, spmId: 1 }),
      hostGetAllTasksStatuses: async () => {
        this.polls.push(Date.now());
        if (this.malformedTask)
          throw new VdsmMalformedResponseError('Host.getAllTasksStatuses', 'fake', 'bad entry', {});
        const answer = { ...this.statuses };
        if (this.answerDelayMs) await new Promise((r) => setTimeout(r, this.answerDelayMs));
        return answer;
      },
      taskGetStatus: async (id: string) => {
        if (id === this.malformedTask)
          throw new VdsmMalformedResponseError('Task.getStatus', 'fake', 'bad', {});
        return this.statuses[id]!;
      },
    } as unknown as VdsmHostApi;
  }
  /** A locator of pool `p1` whose one host is this SPM. */
  locator(): SpmLocator {
    const host: Host = { id: 'h1', poolId: 'p1', name: 'host-01', vdsId: 1, address: '127.0.0.1', port: 1 };
    const inventory = { listHosts: async () => [host] } as unknown as InventoryRepository;
    const api = this.api();
    const vdsm: VdsmConnector = { host: () => api, close: async () => {} };
    return new SpmLocator(inventory, vdsm);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
