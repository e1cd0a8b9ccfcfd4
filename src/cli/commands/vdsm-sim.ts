import type { Command } from 'commander';
import { parseFaultsOption, parseFixtureFile, parsePort, pemFileOption } from '../options';

interface VdsmSimFlags {
  host?: string;
  port?: number;
  data?: string;
  fixture?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  controlPort?: number;
  faults?: string;
}

export function registerVdsmSimCommand(program: Command): void {
  program
    .command('vdsm-sim')
    .description(
      'run the VDSM simulator: one JSON-RPC-over-STOMP endpoint per fixture host, on consecutive ports',
    )
    .option('--host <address>', 'address to listen on (default 127.0.0.1; 0.0.0.0 in a container)')
    .option(
      '--port <port>',
      "port of the pool's SPM host; the other hosts listen on the next ports (default 54321)",
      parsePort,
    )
    .option('--data <dir>', 'simulated storage and SPM task files (default ./.data/vdsm)')
    .option(
      '--fixture <file>',
      'data center fixture (JSON); default: the built-in data center',
      parseFixtureFile,
    )
    .option(
      '--tls-cert <file>',
      'server certificate (PEM); with --tls-key and --tls-ca enables mutual TLS',
      pemFileOption('certificate'),
    )
    .option('--tls-key <file>', 'server private key (PEM)', pemFileOption('private key'))
    .option(
      '--tls-ca <file>',
      'CA that must have signed client certificates (PEM)',
      pemFileOption('certificate'),
    )
    .option(
      '--control-port <port>',
      'loopback HTTP control endpoint (counters, faults, failover, restart)',
      parsePort,
    )
    .option(
      '--faults <json|file>',
      'fault configuration to start with: JSON text or a JSON file',
      parseFaultsOption,
    )
    .action(async (flags: VdsmSimFlags) => {
      const { runVdsmSimCommand } = await import('../../vdsm-sim/main');
      await runVdsmSimCommand(flags);
    });
}
