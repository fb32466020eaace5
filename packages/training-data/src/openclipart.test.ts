import { describe, expect, it } from "vitest";
import {
  clipartKeywords,
  clipartName,
  clipartSplit,
  createClipartDataset,
  decodeSvgBytes,
  nameFromFileName,
  parseClipartMetadata,
  rasterizeSvg,
  readClipartCacheIndex,
  withSvgNamespace,
} from "./openclipart.js";

const SVG = `<?xml version="1.0" encoding="UTF-8"?>
<svg width="40" height="20">
  <metadata><rdf:RDF xmlns:cc="http://web.resource.org/cc/" xmlns:dc="http://purl.org/dc/elements/1.1/"
      xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><cc:Work rdf:about="">
    <dc:title>digital-camera_01</dc:title>
    <dc:subject><rdf:Bag><rdf:li>photo</rdf:li><rdf:li></rdf:li><rdf:li>11</rdf:li><rdf:li>AJ Ashton</rdf:li>
      <rdf:li>clip art</rdf:li><rdf:li>Camera</rdf:li><rdf:li>photo</rdf:li></rdf:Bag></dc:subject>
    <dc:publisher><cc:Agent><dc:title>Open Clip Art Library</dc:title></cc:Agent></dc:publisher>
    <dc:creator><cc:Agent><dc:title>AJ Ashton</dc:title></cc:Agent></dc:creator>
  </cc:Work></rdf:RDF></metadata>
  <rect x="10" y="0" width="20" height="20" fill="#ff0000"/>
</svg>`;

describe("clip-art metadata", () => {
  it("reads title, keywords and creator from the RDF", () => {
    expect(parseClipartMetadata(SVG)).toEqual({
      title: "digital-camera_01",
      keywords: ["photo", "", "11", "AJ Ashton", "clip art", "Camera", "photo"],
      creator: "AJ Ashton",
    });
  });

  it("cleans names and keywords, rejecting authors and placeholders", () => {
    const metadata = parseClipartMetadata(SVG);
    expect(clipartName(metadata)).toBe("digital camera");
    expect(clipartKeywords(metadata, "digital camera")).toEqual(["photo", "camera"]);
    expect(clipartName({ title: "Clipart by Nicu Buculei - bee", keywords: [], creator: "Nicu Buculei" })).toBe("bee");
    expect(clipartName({ title: "Nicu Buculei", keywords: [], creator: "Nicu Buculei" })).toBeUndefined();
    expect(clipartName({ title: "untitled", keywords: [], creator: "" })).toBeUndefined();
    expect(clipartName({ title: "", keywords: [], creator: "" }, "cormorant-md.svg")).toBe("cormorant");
    expect(nameFromFileName("jigsaw_blue_01.svg")).toBe("jigsaw blue");
    expect(nameFromFileName("clock05.svg")).toBe("clock");
  });

  it("adds a missing SVG namespace and honours latin-1", () => {
    expect(withSvgNamespace('<svg width="1">')).toBe('<svg width="1" xmlns="http://www.w3.org/2000/svg">');
    const ok = '<svg xmlns="http://www.w3.org/2000/svg" width="1">';
    expect(withSvgNamespace(ok)).toBe(ok);
    const latin1 = Uint8Array.from([...'<?xml version="1.0" encoding="iso-8859-1"?><t>'].map((c) => c.charCodeAt(0)).concat([0xe9]));
    expect(decodeSvgBytes(latin1).endsWith("é")).toBe(true);
  });

  it("splits 5% to validation by a stable hash of the path", () => {
    const paths = Array.from({ length: 2000 }, (_, i) => ({ path: `folder/item_${i}.svg` }));
    const validation = paths.filter((item) => clipartSplit(item) === "validation").length;
    expect(validation / paths.length).toBeGreaterThan(0.03);
    expect(validation / paths.length).toBeLessThan(0.07);
    expect(clipartSplit({ path: "folder/item_1.svg" })).toBe(clipartSplit({ path: "folder/item_1.svg" }));
  });
});

describe("rasterizeSvg", () => {
  it("crops to the visible square and fills 64×64 (namespace added)", () => {
    const image = rasterizeSvg(SVG)!;
    expect([image.width, image.height]).toEqual([64, 64]);
    const at = (x: number, y: number) => [...image.data.subarray(4 * (y * 64 + x), 4 * (y * 64 + x) + 4)];
    expect(at(32, 32)).toEqual([255, 0, 0, 255]); // the red square fills the middle
    expect(at(0, 0)[3]).toBe(0); // the 4% margin is transparent
    expect(rasterizeSvg('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>')).toBeUndefined();
  });
});

// The dataset needs the rasterised cache (Debian openclipart-svg + `npm run rasterize:openclipart`); without it, only
// the error is checked.
const index = await readClipartCacheIndex();
describe.skipIf(index === undefined)("createClipartDataset (rasterised cache present)", () => {
  it("streams 64×64 batches with captions and no held-out emoji names", async () => {
    const data = await createClipartDataset({ split: "train" });
    const validation = await createClipartDataset({ split: "validation" });
    expect(data.examples.length).toBeGreaterThan(3000);
    expect(validation.examples.length).toBeGreaterThan(100);
    const trainPaths = new Set(data.examples.map((example) => example.path));
    for (const example of validation.examples) expect(trainPaths.has(example.path)).toBe(false);
    const names = new Map<string, number>();
    for (const example of data.examples) names.set(example.name, (names.get(example.name) ?? 0) + 1);
    expect(Math.max(...names.values())).toBeLessThanOrEqual(3);
    for (const name of ["melting face", "woman", "child"]) expect(names.has(name)).toBe(false);
    for await (const batch of data.batches({ batchSize: 8, seed: 1, size: 32, augment: true })) {
      expect(batch.shape).toEqual([8, 32, 32, 3]);
      expect(batch.styles.every((style) => style === "openclipart")).toBe(true);
      expect(batch.captions.every((caption) => caption.length > 2)).toBe(true);
      break;
    }
  });
});
describe.skipIf(index !== undefined)("createClipartDataset (no cache)", () => {
  it("says how to build the cache", async () => {
    await expect(createClipartDataset({ split: "train" })).rejects.toThrow(/rasterize:openclipart/);
  });
});
