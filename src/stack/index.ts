export {
  assembleStack,
  StackAbortedError,
  type RunningWorker,
  type Stack,
  type StackOptions,
  type WorkerStartOptions,
} from './assemble';
export { FAST_POLL_OVERRIDES } from './config';
export { openStackInventory, type InventorySeedOptions } from './inventory';
export { connectStackClient, connectStackWorker, type TemporalTarget } from './temporal';
