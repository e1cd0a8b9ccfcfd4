import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  temporalCli: string;
  loadAverageAtStart: number[];
}

export function machineInfo(temporalBinary: string): MachineInfo {
  let temporalCli = 'unknown';
  try {
    temporalCli = execFileSync(temporalBinary, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // Reported as unknown.
  }
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    temporalCli,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
