/**
 * `resumable-transfer/server`: what running the server and writing a storage backend need.
 * The S3 backend's options are exported as a type only: importing this entry must not load the
 * AWS SDK (see create-storage.ts for what that costs).
 */
export { UploadService } from '../core/upload-service.js';
export * from '../http/auth/index.js';
export type * from '../io/range-source.js';
export {
  ERRORS,
  type ErrorCode,
  type ErrorSpec,
  isErrorCode,
  type Lang,
  TransferError,
} from '../protocol/errors.js';
export { createStorage, type StorageConfig } from '../storage/create-storage.js';
export { LocalDiskStorage } from '../storage/local-disk/local-disk.js';
export type { S3StorageOptions } from '../storage/s3/s3.js';
// The Storage interface and every type in its signatures (the module holds nothing else).
export type * from '../storage/storage.js';
export { type RunningServer, startServer } from './app.js';
export { DEFAULT_CONFIG, type ServerConfig } from './config.js';
export type { Logger } from './logger.js';
