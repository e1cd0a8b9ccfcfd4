import { runCli } from './program';

// Explicit exit: after a clean shutdown, native Temporal threads or adapter sockets must not keep
// the process alive.
void runCli(process.argv).then((code) => process.exit(code));
