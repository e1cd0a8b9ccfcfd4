import { runCli } from './program';

/**
 * Resolves once everything written to `stream` so far has left the process: on a pipe, writes
 * are asynchronous, and exiting before they drain cuts the output at the pipe's buffer (64 KiB).
 */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    // Writes complete in order: the callback of this empty one runs after all earlier ones.
    stream.write('', () => resolve());
  });
}

// Explicit exit, but only once stdout and stderr have drained: after a clean shutdown, native
// Temporal threads or adapter sockets must not keep the process alive.
void runCli(process.argv).then(async (code) => {
  process.exitCode = code;
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
});
