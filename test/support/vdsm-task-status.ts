/** What the simulator's (and VDSM's) Task.getStatus answers for one task. */
export interface VdsmTaskStatus {
  taskID: string;
  taskState: string;
  taskResult: string;
  code: number;
  message: string;
}
