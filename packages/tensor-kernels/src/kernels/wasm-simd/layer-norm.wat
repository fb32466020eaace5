;; SIMD128 kernels that run on the tfjs wasm backend's own heap: the module imports the backend's memory, and
;; every pointer argument is a byte offset of a tensor in it (`memoryOffset`). f32x4 lanes; tails in scalar code.
;; Assembled by scripts/build-wasm-simd.ts into layer-norm.generated.ts (keep it small: browsers allow synchronous
;; compilation of modules up to 4 KB on the main thread).
(module
  (import "env" "memory" (memory 0))

  ;; sum of n floats at p (f32x4 accumulators, lanes summed at the end)
  (func $sum (param $p i32) (param $n i32) (result f32)
    (local $acc v128) (local $end i32) (local $vecEnd i32) (local $s f32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done (loop $vec
      (br_if $done (i32.ge_u (local.get $p) (local.get $vecEnd)))
      (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $vec)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (block $done2 (loop $tail
      (br_if $done2 (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $s (f32.add (local.get $s) (f32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $tail)))
    (local.get $s))

  ;; sum of (x - m)^2 over n floats at p
  (func $sumSquaredDeviations (param $p i32) (param $n i32) (param $m f32) (result f32)
    (local $acc v128) (local $mv v128) (local $d v128) (local $end i32) (local $vecEnd i32) (local $s f32) (local $e f32)
    (local.set $mv (f32x4.splat (local.get $m)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done (loop $vec
      (br_if $done (i32.ge_u (local.get $p) (local.get $vecEnd)))
      (local.set $d (f32x4.sub (v128.load (local.get $p)) (local.get $mv)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $d) (local.get $d))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $vec)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (block $done2 (loop $tail
      (br_if $done2 (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $e (f32.sub (f32.load (local.get $p)) (local.get $m)))
      (local.set $s (f32.add (local.get $s) (f32.mul (local.get $e) (local.get $e))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $tail)))
    (local.get $s))

  ;; layerNorm over rows of c floats: out = (x - mean) * rsqrt(var + eps) * gamma + beta
  (func (export "layerNorm") (param $x i32) (param $gamma i32) (param $beta i32) (param $out i32)
        (param $rows i32) (param $c i32) (param $eps f32)
    (local $row i32) (local $mean f32) (local $r f32) (local $i i32) (local $off i32) (local $vecC i32)
    (local $mv v128) (local $rv v128)
    (local.set $vecC (i32.and (local.get $c) (i32.const -4)))
    (block $rowsDone (loop $rowLoop
      (br_if $rowsDone (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $mean (f32.div (call $sum (local.get $x) (local.get $c)) (f32.convert_i32_u (local.get $c))))
      (local.set $r (f32.div (f32.const 1)
        (f32.sqrt (f32.add (f32.div (call $sumSquaredDeviations (local.get $x) (local.get $c) (local.get $mean))
                                    (f32.convert_i32_u (local.get $c)))
                           (local.get $eps)))))
      (local.set $mv (f32x4.splat (local.get $mean)))
      (local.set $rv (f32x4.splat (local.get $r)))
      (local.set $i (i32.const 0))
      (block $vecDone (loop $vec
        (br_if $vecDone (i32.ge_u (local.get $i) (local.get $vecC)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $out) (local.get $off))
          (f32x4.add
            (f32x4.mul (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (local.get $mv)) (local.get $rv))
                       (v128.load (i32.add (local.get $gamma) (local.get $off))))
            (v128.load (i32.add (local.get $beta) (local.get $off)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
      (block $tailDone (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $i) (local.get $c)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (f32.store (i32.add (local.get $out) (local.get $off))
          (f32.add
            (f32.mul (f32.mul (f32.sub (f32.load (i32.add (local.get $x) (local.get $off))) (local.get $mean)) (local.get $r))
                     (f32.load (i32.add (local.get $gamma) (local.get $off))))
            (f32.load (i32.add (local.get $beta) (local.get $off)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
      (local.set $x (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
      (local.set $out (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2))))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop)))
  )
)
