// gifenc ships no types: the functions the CLI uses (https://github.com/mattdesl/gifenc#api). Its Node entry is
// CommonJS, so ES modules import the default export (the module object) rather than named exports.
declare module "gifenc" {
  export type Palette = number[][];
  export interface GifEncoder {
    /** `delay` in milliseconds; `repeat` 0 loops forever (read from the first frame). */
    writeFrame(index: Uint8Array, width: number, height: number, options?: { palette?: Palette; delay?: number; repeat?: number }): void;
    finish(): void;
    bytes(): Uint8Array;
  }
  /** RGBA pixels (4 bytes each, the array spanning its whole buffer). */
  type Rgba = Uint8Array | Uint8ClampedArray;
  const gifenc: {
    GIFEncoder(): GifEncoder;
    quantize(rgba: Rgba, maxColors: number, options?: { format?: "rgb565" | "rgb444" | "rgba4444" }): Palette;
    applyPalette(rgba: Rgba, palette: Palette, format?: "rgb565" | "rgb444" | "rgba4444"): Uint8Array;
  };
  export default gifenc;
}
