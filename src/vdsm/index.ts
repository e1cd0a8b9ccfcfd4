export * from './port';
export * from './errors';
export { createVdsmConnector, type VdsmConnectorOptions, type VdsmHostConnector } from './connector';
export { VdsmHostClient } from './client';
export {
  EVENTS_DESTINATION,
  REQUEST_DESTINATION,
  StompErrorFrameError,
  VdsmRpcChannel,
  type VdsmCallOptions,
  type VdsmChannelOptions,
  type VdsmEvent,
  type VdsmEventListener,
  type VdsmTlsMaterial,
} from './channel';
