export { UploadService } from '../core/upload-service.js';
export { LocalDiskStorage } from '../storage/local-disk/local-disk.js';
export type { PublishedFile, StagedChunk, Storage, UploadPlan } from '../storage/storage.js';
export { type RunningServer, startServer } from './app.js';
export { DEFAULT_CONFIG, type ServerConfig } from './config.js';
