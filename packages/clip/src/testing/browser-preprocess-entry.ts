/**
 * Bundled for Chromium by preprocess.browser.test.ts: runs `preprocess` on every kind of browser image source
 * made from the same PNG bytes, and returns the pixel values, so the test can compare them with Node's result.
 */
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { preprocess } from "../preprocess.js";

async function sources(png: Uint8Array<ArrayBuffer>): Promise<Record<string, unknown>> {
  const blob = new Blob([png], { type: "image/png" });
  const bitmap = await createImageBitmap(blob);
  const url = URL.createObjectURL(blob);
  const image = new Image();
  image.src = url;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d")!;
  context.drawImage(bitmap, 0, 0);
  const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
  offscreen.getContext("2d")!.drawImage(bitmap, 0, 0);
  const imageData = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return { bytes: png, arrayBuffer: png.slice().buffer, imageBitmap: bitmap, htmlImageElement: image, htmlCanvasElement: canvas, offscreenCanvas: offscreen, imageData };
}

/** Each source kind → preprocess(source, { size }) values; plus the tensor count before and after. */
async function run(pngs: number[][], size: number): Promise<{ values: Record<string, number[][]>; tensorsBefore: number; tensorsAfter: number }> {
  await tf.setBackend("cpu");
  const tensorsBefore = tf.memory().numTensors;
  const values: Record<string, number[][]> = {};
  for (const png of pngs) {
    for (const [kind, source] of Object.entries(await sources(new Uint8Array(png)))) {
      const pixels = await preprocess(source as Parameters<typeof preprocess>[0], { size });
      (values[kind] ??= []).push(Array.from(await pixels.data()));
      pixels.dispose();
    }
  }
  return { values, tensorsBefore, tensorsAfter: tf.memory().numTensors };
}

(globalThis as unknown as { runPreprocess: typeof run }).runPreprocess = run;
