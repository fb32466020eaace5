/**
 * The bench's random-weight CLIP encoders (bench/encoders.ts) written as ONNX models, so that onnxruntime-node runs
 * the same weights through the same op sequence in the same bench run. The model is built in memory and handed to
 * `InferenceSession.create` as bytes: no model file is written.
 *
 * ONNX opset 17 (the first with LayerNormalization), IR version 8; the batch dimension is symbolic ("batch").
 *
 *   image  pixels [B, 224, 224, 3] float32 → Reshape [B·7, 32, 7, 96] → Transpose (0, 2, 1, 3) → Reshape [B·49, 3072]
 *          → MatMul conv1 [3072, D] → Reshape [B, 49, D] → Concat(Expand(class embedding), ·) → Add positions
 *          → LayerNormalization (ln_pre) → blocks → Gather token 0 → LayerNormalization (ln_post) → MatMul projection
 *   text   tokens [B, 77] int32 → Gather(token embedding) → Add positions → blocks → Gather token 76
 *          → LayerNormalization (ln_final) → MatMul projection
 *   block  LayerNormalization → MatMul + Add (in_proj) → Split q | k | v → Reshape [B, T, H, Dh] → Transpose to
 *          [B, H, T, Dh] (k to [B, H, Dh, T]) → Mul(q, 1/√Dh) → MatMul q·kᵀ (→ Add causal mask of −∞ above the
 *          diagonal, text) → Softmax → MatMul ·v → Transpose, Reshape [B, T, D] → MatMul + Add (out_proj) → Add
 *          residual; LayerNormalization → MatMul + Add (c_fc) → QuickGELU h·Sigmoid(1.702·h) → MatMul + Add (c_proj)
 *          → Add residual.
 *
 * The messages are encoded with protobufjs from the subset of ONNX's onnx.proto3 declared below (the fields this
 * writer sets, with ONNX's field numbers), so the wire format is ONNX's own.
 */
import protobuf from "protobufjs";
import type * as tf from "@tensorflow/tfjs";
import { GRID, PATCH, type BlockWeights, type Encoder } from "./encoders.js";

const OPSET = 17;
const IR_VERSION = 8; // ONNX 1.12, the release that introduced opset 17
const EPSILON = 1e-5;

const ONNX_SUBSET = `
syntax = "proto3";
package onnx;
message AttributeProto {
  string name = 1;
  float f = 2;
  int64 i = 3;
  repeated int64 ints = 8;
  AttributeType type = 20;
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; }
}
message ValueInfoProto { string name = 1; TypeProto type = 2; }
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string domain = 7;
}
message ModelProto {
  int64 ir_version = 1;
  string producer_name = 2;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  string name = 8;
  bytes raw_data = 9;
}
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
}
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
`;

const schema = protobuf.parse(ONNX_SUBSET).root;
const ModelProto = schema.lookupType("onnx.ModelProto");

/** TensorProto.DataType values used here. */
const DataType = { float32: 1, int32: 6, int64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
const AttributeType = { float: 1, int: 2, ints: 7 } as const;

type Attribute = { f: number } | { i: number } | { ints: number[] };
const float = (f: number): Attribute => ({ f });
const int = (i: number): Attribute => ({ i });
const ints = (...values: number[]): Attribute => ({ ints: values });

interface NodeMessage {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  attribute: { name: string; type: number; f?: number; i?: number; ints?: number[] }[];
}
interface TensorMessage {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

/** Little-endian bytes of a typed array (the hosts we run on are little-endian, as ONNX's raw_data is). */
function bytesOf(values: Float32Array | Int32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Appends nodes and initializers in order; every value gets a unique name from the node that makes it. */
class GraphBuilder {
  readonly nodes: NodeMessage[] = [];
  readonly initializers: TensorMessage[] = [];
  private readonly used = new Set<string>();

  private unique(name: string): string {
    let candidate = name;
    for (let i = 1; this.used.has(candidate); i++) candidate = `${name}_${i}`;
    this.used.add(candidate);
    return candidate;
  }

  /** An initializer holding `values` with shape `dims`; returns its name. */
  tensor(name: string, values: Float32Array | Int32Array | BigInt64Array, dims: number[]): string {
    const dataType = values instanceof Float32Array ? DataType.float32 : values instanceof Int32Array ? DataType.int32 : DataType.int64;
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims, dataType, rawData: bytesOf(values) });
    return unique;
  }

  /** A tfjs weight read back as float32 (with `dims` overriding its shape, e.g. [D] as [1, 1, D]). */
  weight(name: string, t: tf.Tensor, dims: number[] = t.shape): string {
    return this.tensor(name, t.dataSync() as Float32Array, dims);
  }

  int64s(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.tensor(name, BigInt64Array.from(values, BigInt), dims);
  }

  scalar(name: string, value: number): string {
    return this.tensor(name, Float32Array.of(value), []);
  }

  /** One node of ONNX's default domain with `outputs` outputs named after `name`. */
  node(opType: string, name: string, inputs: string[], attributes: Record<string, Attribute> = {}, outputs = 1): string[] {
    const nodeName = this.unique(name);
    const output = Array.from({ length: outputs }, (_, i) => (outputs === 1 ? nodeName : this.unique(`${nodeName}:${i}`)));
    const attribute = Object.entries(attributes).map(([key, a]) => ({
      name: key,
      ...a,
      type: "f" in a ? AttributeType.float : "i" in a ? AttributeType.int : AttributeType.ints,
    }));
    this.nodes.push({ input: inputs, output, name: nodeName, opType, attribute });
    return output;
  }

  /** `node` with one output. */
  op(opType: string, name: string, inputs: string[], attributes: Record<string, Attribute> = {}): string {
    return this.node(opType, name, inputs, attributes)[0]!;
  }
}

/** A tensor value's type for graph inputs and outputs; a string dimension is symbolic. */
function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  const dim = dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** Input and output names of the models `encoderModel` writes. */
export const ONNX_INPUT = { image: "pixels", text: "tokens" } as const;
export const ONNX_OUTPUT = "features";

/**
 * The encoder's weights (read back from its tfjs tensors) and op sequence as a serialised ONNX ModelProto.
 * Input `pixels` float32 [B, 224, 224, 3] (image) or `tokens` int32 [B, 77] (text); output `features` [B, outputDim].
 */
export function encoderModel(encoder: Encoder): Uint8Array {
  const { kind, weights: w } = encoder;
  const { width: d, heads, tokens, causal, outputDim } = encoder.config;
  const headDim = d / heads;
  const g = new GraphBuilder();
  const layerNorm = (name: string, x: string, [gain, bias]: [tf.Tensor, tf.Tensor]) =>
    g.op("LayerNormalization", name, [x, g.weight(`${name}.weight`, gain), g.weight(`${name}.bias`, bias)], { axis: int(-1), epsilon: float(EPSILON) });
  const linear = (name: string, x: string, [weight, bias]: [tf.Tensor, tf.Tensor]) =>
    g.op("Add", `${name}.add`, [g.op("MatMul", name, [x, g.weight(`${name}.weight`, weight)]), g.weight(`${name}.bias`, bias)]);

  const headShape = g.int64s("head_shape", [0, 0, heads, headDim]); // [B, T, H, Dh] (0: keep that dimension)
  const widthShape = g.int64s("width_shape", [0, 0, d]); // [B, T, D]
  const scale = g.scalar("attention_scale", 1 / Math.sqrt(headDim));
  const quickGeluFactor = g.scalar("quick_gelu_factor", 1.702);
  let mask: string | undefined;
  if (causal) {
    const values = new Float32Array(tokens * tokens);
    for (let row = 0; row < tokens; row++) for (let col = row + 1; col < tokens; col++) values[row * tokens + col] = -Infinity;
    mask = g.tensor("causal_mask", values, [tokens, tokens]); // [T, T], broadcast over [B, H, T, T]
  }

  const block = (x: string, b: BlockWeights, i: number): string => {
    const name = `blocks.${i}`;
    const qkv = linear(`${name}.attn.in_proj`, layerNorm(`${name}.ln_1`, x, b.ln1), b.inProj); // [B, T, 3D]
    const [q, k, v] = g.node("Split", `${name}.attn.split`, [qkv], { axis: int(2) }, 3).map((t, j) =>
      g.op("Reshape", `${name}.attn.${"qkv"[j]}_heads`, [t, headShape]), // [B, T, H, Dh]
    ) as [string, string, string];
    const qh = g.op("Transpose", `${name}.attn.q_t`, [q], { perm: ints(0, 2, 1, 3) }); // [B, H, T, Dh]
    const kt = g.op("Transpose", `${name}.attn.k_t`, [k], { perm: ints(0, 2, 3, 1) }); // [B, H, Dh, T]
    const vh = g.op("Transpose", `${name}.attn.v_t`, [v], { perm: ints(0, 2, 1, 3) }); // [B, H, T, Dh]
    let scores = g.op("MatMul", `${name}.attn.scores`, [g.op("Mul", `${name}.attn.q_scaled`, [qh, scale]), kt]); // [B, H, T, T]
    if (mask !== undefined) scores = g.op("Add", `${name}.attn.masked`, [scores, mask]);
    const probabilities = g.op("Softmax", `${name}.attn.softmax`, [scores], { axis: int(-1) });
    const context = g.op("MatMul", `${name}.attn.context`, [probabilities, vh]); // [B, H, T, Dh]
    const merged = g.op("Reshape", `${name}.attn.merge`, [g.op("Transpose", `${name}.attn.context_t`, [context], { perm: ints(0, 2, 1, 3) }), widthShape]); // [B, T, D]
    const afterAttention = g.op("Add", `${name}.attn.residual`, [x, linear(`${name}.attn.out_proj`, merged, b.outProj)]);
    const hidden = linear(`${name}.mlp.c_fc`, layerNorm(`${name}.ln_2`, afterAttention, b.ln2), b.fc); // [B, T, 4D]
    const gate = g.op("Sigmoid", `${name}.mlp.sigmoid`, [g.op("Mul", `${name}.mlp.scaled`, [hidden, quickGeluFactor])]);
    const activated = g.op("Mul", `${name}.mlp.quick_gelu`, [hidden, gate]);
    return g.op("Add", `${name}.mlp.residual`, [afterAttention, linear(`${name}.mlp.c_proj`, activated, b.proj)]);
  };

  const input = ONNX_INPUT[kind];
  let x: string; // [B, T, D]
  if (kind === "image") {
    const rows = g.op("Reshape", "patches.rows", [input, g.int64s("rows_shape", [-1, PATCH, GRID, PATCH * 3])]); // [B·7, 32, 7, 96]
    const patchMajor = g.op("Transpose", "patches.t", [rows], { perm: ints(0, 2, 1, 3) }); // [B·7, 7, 32, 96]
    const patches = g.op("Reshape", "patches", [patchMajor, g.int64s("patches_shape", [-1, PATCH * PATCH * 3])]); // [B·49, 3072]
    const embedded = g.op("MatMul", "conv1", [patches, g.weight("conv1.weight", w.embed)]); // [B·49, D]
    const grid = g.op("Reshape", "conv1.tokens", [embedded, g.int64s("grid_shape", [-1, GRID * GRID, d])]); // [B, 49, D]
    const batch = g.op("Shape", "batch", [input], { start: int(0), end: int(1) }); // [1]: B
    const classShape = g.op("Concat", "class_shape", [batch, g.int64s("class_tail", [1, d])], { axis: int(0) }); // [3]: B, 1, D
    const classToken = g.op("Expand", "class_token", [g.weight("class_embedding", w.classEmbedding, [1, 1, d]), classShape]); // [B, 1, D]
    const sequence = g.op("Concat", "tokens", [classToken, grid], { axis: int(1) }); // [B, 50, D]
    x = layerNorm("ln_pre", g.op("Add", "positions", [sequence, g.weight("positional_embedding", w.position)]), w.preNorm);
  } else {
    const embedded = g.op("Gather", "token_embedding", [g.weight("token_embedding.weight", w.embed), input], { axis: int(0) }); // [B, 77, D]
    x = g.op("Add", "positions", [embedded, g.weight("positional_embedding", w.position)]);
  }
  w.blocks.forEach((b, i) => (x = block(x, b, i)));
  // Image: the class token (index 0); text: the last token (as bench/encoders.ts).
  const pick = g.int64s("pooled_index", [kind === "image" ? 0 : tokens - 1], []);
  const pooled = g.op("Gather", "pooled", [x, pick], { axis: int(1) }); // [B, D]
  const normed = layerNorm(kind === "image" ? "ln_post" : "ln_final", pooled, w.finalNorm);
  g.op("MatMul", ONNX_OUTPUT, [normed, g.weight("proj", w.projection)]); // [B, outputDim]: a node's output is named after it

  const model = {
    irVersion: IR_VERSION,
    producerName: "@proj/tensor-kernels bench",
    docString: `random-weight CLIP ViT-B/32 ${kind} encoder (bench/encoders.ts)`,
    opsetImport: [{ domain: "", version: OPSET }],
    graph: {
      name: `clip_vit_b_32_${kind}`,
      node: g.nodes,
      initializer: g.initializers,
      input: [kind === "image" ? valueInfo(input, DataType.float32, ["batch", GRID * PATCH, GRID * PATCH, 3]) : valueInfo(input, DataType.int32, ["batch", tokens])],
      output: [valueInfo(ONNX_OUTPUT, DataType.float32, ["batch", outputDim])],
    },
  };
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** How many nodes of each op type (domain-qualified outside the default domain) a serialised model has. */
export function opTypeCounts(bytes: Uint8Array): Map<string, number> {
  // Fields outside the subset above (an optimised model has more) are skipped by the decoder.
  const model = ModelProto.decode(bytes) as unknown as { graph?: { node?: { opType: string; domain?: string }[] } };
  const counts = new Map<string, number>();
  for (const n of model.graph?.node ?? []) {
    const key = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
