import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
await tf.setBackend("wasm"); await tf.ready();
const rnd = (n: number) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5; return a; };
function time(f: () => tf.Tensor, reps = 7): number { const ts: number[] = []; for (let r = 0; r < reps; r++) { const t0 = performance.now(); const y = f(); y.dataSync(); ts.push(performance.now() - t0); y.dispose(); } ts.sort((a,b)=>a-b); return ts[Math.floor(reps/2)]!; }
const shapes: [number, number, number][] = [[512,512,512],[400,768,3072],[400,3072,768],[400,768,2304],[400,768,768],[50,768,3072],[800,768,3072]];
for (let round = 0; round < 2; round++) for (const [m,k,n] of shapes) {
  const a = tf.tensor2d(rnd(m*k),[m,k]); const b = tf.tensor2d(rnd(k*n),[k,n]);
  const full = time(() => tf.matMul(a,b));
  const res: string[] = [`${m}x${k}x${n} full ${(2*m*k*n/full/1e6).toFixed(1)}`];
  for (const nb of [128, 256, 512, 768]) { if (nb >= n) continue;
    const blocks: tf.Tensor[] = []; for (let j = 0; j < n; j += nb) blocks.push(tf.slice(b,[0,j],[k,Math.min(nb,n-j)]));
    const t = time(() => tf.tidy(() => tf.concat(blocks.map(bb => tf.matMul(a,bb)),1)));
    const tNoCat = time(() => tf.tidy(() => { const outs = blocks.map(bb => tf.matMul(a,bb)); return outs[0]!.clone(); }));
    res.push(`nb${nb} ${(2*m*k*n/t/1e6).toFixed(1)} (nocat ${(2*m*k*n/tNoCat/1e6).toFixed(1)})`); tf.dispose(blocks); }
  for (const mb of [32, 64, 128]) { if (mb >= m) continue;
    const rows: tf.Tensor[] = []; for (let i = 0; i < m; i += mb) rows.push(tf.slice(a,[i,0],[Math.min(mb,m-i),k]));
    const t = time(() => tf.tidy(() => { const outs = rows.map(r => tf.matMul(r,b)); return outs[0]!.clone(); }));
    res.push(`mb${mb} ${(2*m*k*n/t/1e6).toFixed(1)}`); tf.dispose(rows); }
  console.log(res.join(" | ")); tf.dispose([a,b]);
}
