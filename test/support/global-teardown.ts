/** Stops the suite's dev server (see global-setup.ts). */
export default async function globalTeardown(): Promise<void> {
  await globalThis.ovirtTasksTestServer?.stop();
  globalThis.ovirtTasksTestServer = undefined;
}
