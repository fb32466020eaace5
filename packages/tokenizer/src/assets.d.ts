/** Binary assets embedded by the build (tsup `binary` loader, vitest plugin in tests). */
declare module "*.gz" {
  const bytes: Uint8Array;
  export default bytes;
}
