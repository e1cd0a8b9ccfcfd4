export * from './frame';
export * from './connection';
