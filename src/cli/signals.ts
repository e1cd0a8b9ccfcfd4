/**
 * Resolves on the first SIGINT/SIGTERM so a long-running command can stop in order; a second
 * signal while stopping exits at once (our child processes die with us: see dev-server.ts).
 */
export function firstShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) {
        console.error(`ovirt-tasks: ${signal} again, exiting without waiting`);
        process.exit(130);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
