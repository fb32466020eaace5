// Test support: runs a TypeScript worker entry (workerData.entry, a file URL) through tsx, as the tests use the sources.
import { register } from "tsx/esm/api";
import { workerData } from "node:worker_threads";

register();
await import(workerData.entry);
