/**
 * Reading a file in Node without making bundlers resolve `node:fs`: the module name is computed, so esbuild, Vite
 * and webpack leave the import alone and browser bundles of this package contain no Node built-in (they never
 * take the paths that call this).
 */
import type * as FsPromises from "node:fs/promises";

const FS_PROMISES = "node:fs/promises";

/** The bytes of a file (Node only), as a plain Uint8Array over the Buffer's memory (no copy). */
export async function readNodeFile(path: string | URL): Promise<Uint8Array> {
  const { readFile } = (await import(/* @vite-ignore */ FS_PROMISES)) as typeof FsPromises;
  const buffer = await readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
