import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../cli/exit-codes';
import { firstShutdownSignal } from '../cli/signals';
import { generateDataCenter, loadFixture } from '../fixture';
import type { FaultConfigInput } from './faults';
import { type SimulatorOptions, startSimulator } from './simulator';

export { startSimulator } from './simulator';
export type {
  Counters,
  Simulator,
  SimulatorHost,
  SimulatorOptions,
  SimulatorTask,
  StorageSnapshot,
} from './simulator';
export type { ChainVolume } from './storage';
export { FaultConfig, type FaultConfigInput } from './faults';
export { simulatorHostPorts } from './ports';

/** Exit status of the CLI process when an `exitAfter` fault fires (distinct from crashes of the simulator itself). */
export const INJECTED_EXIT_CODE = 75;

export interface VdsmSimFlags {
  /** Address the hosts listen on. Default 127.0.0.1 (the control endpoint is loopback whatever this is). */
  host?: string;
  /** The pool's SPM host listens here, the other hosts on the next ports. Default 54321. */
  port?: number;
  /** Default ./.data/vdsm */
  data?: string;
  /** Fixture JSON file; default: the built-in data center. */
  fixture?: string;
  /** TLS: all three PEM files, or none for plain TCP. */
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** Loopback HTTP control endpoint. */
  controlPort?: number;
  /** Fault configuration: inline JSON, or the path of a JSON file. */
  faults?: string;
}

/** The flags, for whoever wires the command (names as commander derives them from --kebab-case). */
export const VDSM_SIM_FLAGS: ReadonlyArray<{ flag: string; description: string }> = [
  { flag: '--host <address>', description: 'address to listen on (default 127.0.0.1)' },
  {
    flag: '--port <port>',
    description: "port of the pool's SPM host; the other hosts listen on the next ports (default 54321)",
  },
  { flag: '--data <dir>', description: 'simulated storage and SPM task files (default ./.data/vdsm)' },
  { flag: '--fixture <file>', description: 'data center fixture (JSON); default: the built-in data center' },
  {
    flag: '--tls-cert <file>',
    description: 'server certificate (PEM); with --tls-key and --tls-ca enables mutual TLS',
  },
  { flag: '--tls-key <file>', description: 'server private key (PEM)' },
  { flag: '--tls-ca <file>', description: 'CA that must have signed client certificates (PEM)' },
  {
    flag: '--control-port <port>',
    description: 'loopback HTTP control endpoint (counters, faults, failover, restart)',
  },
  {
    flag: '--faults <json|file>',
    description: 'fault configuration to start with: JSON text or a JSON file',
  },
];

function parseFaults(spec: string): FaultConfigInput {
  const text = spec.trim().startsWith('{') ? spec : readFileSync(spec, 'utf8');
  try {
    return JSON.parse(text) as FaultConfigInput;
  } catch (err) {
    throw new UsageError(`--faults: not valid JSON: ${(err as Error).message}`);
  }
}

/** The simulator options the `vdsm-sim` flags ask for; throws UsageError for unusable flags. */
export function simulatorOptionsFromFlags(flags: VdsmSimFlags): SimulatorOptions {
  const tlsFiles = [flags.tlsCert, flags.tlsKey, flags.tlsCa];
  if (tlsFiles.some((f) => f !== undefined) && !tlsFiles.every((f) => f !== undefined)) {
    throw new UsageError('TLS needs all of --tls-cert, --tls-key and --tls-ca');
  }
  for (const file of [flags.fixture, ...tlsFiles]) {
    if (file !== undefined && !existsSync(file)) throw new UsageError(`no such file: ${file}`);
  }
  if (flags.host !== undefined && flags.host.trim() === '') throw new UsageError('--host: empty address');
  return {
    fixture: flags.fixture ? loadFixture(flags.fixture) : generateDataCenter(),
    dataDir: resolve(flags.data ?? './.data/vdsm'),
    basePort: flags.port ?? 54321,
    host: flags.host ?? '127.0.0.1',
    tls:
      flags.tlsCert && flags.tlsKey && flags.tlsCa
        ? { cert: flags.tlsCert, key: flags.tlsKey, ca: flags.tlsCa }
        : undefined,
    faults: flags.faults ? parseFaults(flags.faults) : undefined,
    controlPort: flags.controlPort,
    onInjectedExit: () => {
      console.log(`vdsm-sim: injected crash, exiting with status ${INJECTED_EXIT_CODE}`);
      process.exit(INJECTED_EXIT_CODE);
    },
    log: (line) => console.error(`vdsm-sim: ${line}`),
  };
}

/** `ovirt-tasks vdsm-sim`: runs until SIGINT/SIGTERM. */
export async function runVdsmSimCommand(flags: VdsmSimFlags): Promise<void> {
  const options = simulatorOptionsFromFlags(flags);
  const shutdown = firstShutdownSignal();
  const simulator = await startSimulator(options);
  const spm = simulator.spmHostId();
  for (const host of simulator.hosts) {
    const role = host.hostId === spm ? ' (SPM)' : '';
    console.log(
      `VDSM ${host.name}${role} vdsId ${host.vdsId} at ${host.address}:${host.port}${flags.tlsCert ? ' (TLS)' : ''}`,
    );
  }
  if (simulator.controlPort !== undefined)
    console.log(`control endpoint http://127.0.0.1:${simulator.controlPort}`);
  console.log(`pool ${simulator.poolId}; Ctrl-C stops`);
  await shutdown;
  await simulator.stop();
}
