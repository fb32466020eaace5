;; C = A·B (+ bias) on the tfjs wasm backend's heap, f32x4 lanes: the GEMM of `linear` and of attention on wasm
;; (kernels/wasm/linear.ts, attention.ts). Both operands are packed first (one pass each, into scratch buffers):
;;   pack            B [K, N] row-major → column panels of 8, [⌈N/8⌉][K][8], the last panel zero-padded
;;   packTransposed  the same from Bᵀ [N, K] row-major, times a scale (attention's scale·Kᵀ from K)
;;   packRows        A [M, K] row-major → row tiles of 4 interleaved by k, [⌈M/4⌉][K][4], zero rows past M
;;   gemm            C [M, N] = packed A × packed B, optionally + bias [N] (the accumulators start at the bias)
;; Register tile 4 rows × 8 columns: 8 accumulators, 2 B vectors, 1 broadcast A value (v128.load32_splat) per row
;; and k, one pointer into each packed operand. Measured on V8 (Node 20, x86-64 Zen 5, one thread, GFLOP/s at
;; CLIP's [400, 768]×[768, 3072] and [400, 3072]×[3072, 768]): this kernel ~39; the same reading A in place (four
;; row pointers) ~35; tiles 5×8 ~33, 6×8 ~25 (V8 keeps 16 xmm registers: spills), 4×12 and 8×4 17–19; k unrolled
;; by 2 or 4 ~25 / ~20; broadcasting A with i8x16.shuffle from one v128 load ~20 (V8 does not lower that shuffle to
;; one instruction); unpacked row-major B 7–25 (a stride of 12 KB, N = 3072, aliases in the caches). XNNPACK's GEMM
;; in tfjs 4.22's wasm build ~24. Loop order: panels outer, row tiles inner, so one B panel (K·32 bytes) stays in
;; L1/L2 while packed A streams. The last panel's columns past N are computed on the zero padding and stored lane
;; by lane; rows past M are computed on zero rows and not stored.
(module
  (import "env" "memory" (memory 0))

  ;; packed[p][k][0..7] = B[k][8p + 0..7] (0 past N); pointers are byte offsets
  (func (export "pack") (param $b i32) (param $k i32) (param $n i32) (param $packed i32)
    (local $col i32) (local $row i32) (local $src i32) (local $rest i32) (local $l i32)
    (local $ldb i32)
    (local.set $ldb (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $panel
      (br_if $done (i32.ge_u (local.get $col) (local.get $n)))
      (local.set $rest (i32.sub (local.get $n) (local.get $col)))
      (local.set $src (i32.add (local.get $b) (i32.shl (local.get $col) (i32.const 2))))
      (local.set $row (i32.const 0))
      (if (i32.ge_u (local.get $rest) (i32.const 8))
        (then
          (loop $full
            (v128.store (local.get $packed) (v128.load (local.get $src)))
            (v128.store offset=16 (local.get $packed) (v128.load offset=16 (local.get $src)))
            (local.set $src (i32.add (local.get $src) (local.get $ldb)))
            (local.set $packed (i32.add (local.get $packed) (i32.const 32)))
            (br_if $full (i32.lt_u (local.tee $row (i32.add (local.get $row) (i32.const 1))) (local.get $k)))))
        (else
          (loop $partial
            (v128.store (local.get $packed) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (local.get $packed) (v128.const i32x4 0 0 0 0))
            (local.set $l (i32.const 0))
            (loop $lanes
              (f32.store (i32.add (local.get $packed) (i32.shl (local.get $l) (i32.const 2)))
                         (f32.load (i32.add (local.get $src) (i32.shl (local.get $l) (i32.const 2)))))
              (br_if $lanes (i32.lt_u (local.tee $l (i32.add (local.get $l) (i32.const 1))) (local.get $rest))))
            (local.set $src (i32.add (local.get $src) (local.get $ldb)))
            (local.set $packed (i32.add (local.get $packed) (i32.const 32)))
            (br_if $partial (i32.lt_u (local.tee $row (i32.add (local.get $row) (i32.const 1))) (local.get $k))))))
      (local.set $col (i32.add (local.get $col) (i32.const 8)))
      (br $panel))))

;; packed[p][kk][0..7] = scale · Bᵀ[8p + 0..7][kk] (0 past n) from Bᵀ [n, k] row-major at bt: B = Bᵀᵀ packed
  ;; as `pack` does, e.g. Kᵀ for attention's scores from K [Tk, D]; `scale` folded in
  (func (export "packTransposed") (param $bt i32) (param $k i32) (param $n i32) (param $packed i32) (param $scale f32)
    (local $col i32) (local $row i32) (local $l i32) (local $rest i32) (local $src i32) (local $ldb i32)
    (local.set $ldb (i32.shl (local.get $k) (i32.const 2)))
    (block $done (loop $panel
      (br_if $done (i32.ge_u (local.get $col) (local.get $n)))
      (local.set $rest (i32.sub (local.get $n) (local.get $col)))
      (if (i32.gt_u (local.get $rest) (i32.const 8)) (then (local.set $rest (i32.const 8))))
      (local.set $row (i32.const 0))
      (loop $rows
        (v128.store (local.get $packed) (v128.const i32x4 0 0 0 0))
        (v128.store offset=16 (local.get $packed) (v128.const i32x4 0 0 0 0))
        (local.set $src (i32.add (local.get $bt) (i32.add (i32.mul (local.get $col) (local.get $ldb)) (i32.shl (local.get $row) (i32.const 2)))))
        (local.set $l (i32.const 0))
        (loop $lanes
          (f32.store (i32.add (local.get $packed) (i32.shl (local.get $l) (i32.const 2)))
                     (f32.mul (f32.load (local.get $src)) (local.get $scale)))
          (local.set $src (i32.add (local.get $src) (local.get $ldb)))
          (br_if $lanes (i32.lt_u (local.tee $l (i32.add (local.get $l) (i32.const 1))) (local.get $rest))))
        (local.set $packed (i32.add (local.get $packed) (i32.const 32)))
        (br_if $rows (i32.lt_u (local.tee $row (i32.add (local.get $row) (i32.const 1))) (local.get $k))))
      (local.set $col (i32.add (local.get $col) (i32.const 8)))
      (br $panel))))

;; packedA[t][kk][0..3] = A[4t + 0..3][kk] (0 past m): A in row tiles of 4, interleaved by k
  (func (export "packRows") (param $a i32) (param $m i32) (param $k i32) (param $packed i32)
    (local $row i32) (local $kk i32) (local $lda i32) (local $a0 i32) (local $r i32) (local $rows i32)
    (local.set $lda (i32.shl (local.get $k) (i32.const 2)))
    (block $done (loop $tiles
      (br_if $done (i32.ge_u (local.get $row) (local.get $m)))
      (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $row) (local.get $lda))))
      (local.set $rows (i32.sub (local.get $m) (local.get $row)))
      (local.set $kk (i32.const 0))
      (if (i32.ge_u (local.get $rows) (i32.const 4))
        (then
          (loop $full
            (f32.store (local.get $packed) (f32.load (local.get $a0)))
            (f32.store offset=4 (local.get $packed) (f32.load (i32.add (local.get $a0) (local.get $lda))))
            (f32.store offset=8 (local.get $packed) (f32.load (i32.add (local.get $a0) (i32.shl (local.get $lda) (i32.const 1)))))
            (f32.store offset=12 (local.get $packed) (f32.load (i32.add (local.get $a0) (i32.mul (local.get $lda) (i32.const 3)))))
            (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
            (local.set $packed (i32.add (local.get $packed) (i32.const 16)))
            (br_if $full (i32.lt_u (local.tee $kk (i32.add (local.get $kk) (i32.const 1))) (local.get $k)))))
        (else
          (loop $partial
            (v128.store (local.get $packed) (v128.const i32x4 0 0 0 0))
            (local.set $r (i32.const 0))
            (loop $lanes
              (f32.store (i32.add (local.get $packed) (i32.shl (local.get $r) (i32.const 2)))
                         (f32.load (i32.add (local.get $a0) (i32.mul (local.get $r) (local.get $lda)))))
              (br_if $lanes (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $rows))))
            (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
            (local.set $packed (i32.add (local.get $packed) (i32.const 16)))
            (br_if $partial (i32.lt_u (local.tee $kk (i32.add (local.get $kk) (i32.const 1))) (local.get $k))))))
      (local.set $row (i32.add (local.get $row) (i32.const 4)))
      (br $tiles))))

  ;; The first `count` (1–7) floats of [v0 | v1] to p.
  (func $storePartial (param $p i32) (param $v0 v128) (param $v1 v128) (param $count i32)
    (if (i32.ge_u (local.get $count) (i32.const 4))
      (then
        (v128.store (local.get $p) (local.get $v0))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $count (i32.sub (local.get $count) (i32.const 4)))
        (local.set $v0 (local.get $v1))))
    (if (i32.ge_u (local.get $count) (i32.const 1)) (then (v128.store32_lane 0 (local.get $p) (local.get $v0))))
    (if (i32.ge_u (local.get $count) (i32.const 2)) (then (v128.store32_lane offset=4 1 (local.get $p) (local.get $v0))))
    (if (i32.ge_u (local.get $count) (i32.const 3)) (then (v128.store32_lane offset=8 2 (local.get $p) (local.get $v0)))))

  ;; C [m, n] = packed A × packed B (+ bias [n] when hasBias); k ≥ 1, m ≥ 1, n ≥ 1; byte offsets
  (func (export "gemm") (param $a i32) (param $packed i32) (param $c i32) (param $m i32) (param $k i32) (param $n i32)
                        (param $bias i32) (param $hasBias i32)
    (local $col i32) (local $row i32) (local $kk i32) (local $lda i32) (local $ldc i32) (local $cols i32)
    (local $pb i32) (local $panel i32) (local $pa i32) (local $pc i32)
    (local $bias0 v128) (local $bias1 v128) (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $lda (i32.shl (local.get $k) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $n) (i32.const 2)))
    (local.set $panel (local.get $packed))
    (loop $panels
      (local.set $cols (i32.sub (local.get $n) (local.get $col))) ;; columns left (≥ 8: a full panel)
      (if (local.get $hasBias)
        (then
          (if (i32.ge_u (local.get $cols) (i32.const 8))
            (then
              (local.set $bias0 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $col) (i32.const 2)))))
              (local.set $bias1 (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $col) (i32.const 2))))))
            (else ;; the padded lanes' results are never stored, so any value does there; $row counts lanes here
              (local.set $bias0 (v128.const i32x4 0 0 0 0))
              (local.set $bias1 (v128.const i32x4 0 0 0 0))
              (local.set $row (i32.const 0))
              (loop $lanes
                (local.set $x (f32x4.splat (f32.load (i32.add (local.get $bias)
                                                               (i32.shl (i32.add (local.get $col) (local.get $row)) (i32.const 2))))))
                (local.set $bias0 (v128.bitselect (local.get $x) (local.get $bias0)
                  (i32x4.eq (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $row)))))
                (local.set $bias1 (v128.bitselect (local.get $x) (local.get $bias1)
                  (i32x4.eq (v128.const i32x4 4 5 6 7) (i32x4.splat (local.get $row)))))
                (br_if $lanes (i32.lt_u (local.tee $row (i32.add (local.get $row) (i32.const 1))) (local.get $cols))))))))
      (local.set $row (i32.const 0))
      (local.set $pa (local.get $a))
      (loop $rows
        (local.set $c00 (local.get $bias0)) (local.set $c01 (local.get $bias1))
        (local.set $c10 (local.get $bias0)) (local.set $c11 (local.get $bias1))
        (local.set $c20 (local.get $bias0)) (local.set $c21 (local.get $bias1))
        (local.set $c30 (local.get $bias0)) (local.set $c31 (local.get $bias1))
        (local.set $pb (local.get $panel))
        (local.set $kk (local.get $k))
        (loop $inner
          (local.set $b0 (v128.load (local.get $pb)))
          (local.set $b1 (v128.load offset=16 (local.get $pb)))
          (local.set $x (v128.load32_splat (local.get $pa)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (v128.load32_splat offset=4 (local.get $pa)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (v128.load32_splat offset=8 (local.get $pa)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (v128.load32_splat offset=12 (local.get $pa)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
          (br_if $inner (local.tee $kk (i32.sub (local.get $kk) (i32.const 1)))))
        (local.set $pc (i32.add (local.get $c) (i32.add (i32.mul (local.get $row) (local.get $ldc)) (i32.shl (local.get $col) (i32.const 2)))))
        (if (i32.ge_u (local.get $cols) (i32.const 8))
          (then
            (v128.store (local.get $pc) (local.get $c00)) (v128.store offset=16 (local.get $pc) (local.get $c01))
            (if (i32.lt_u (i32.add (local.get $row) (i32.const 1)) (local.get $m)) (then
              (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
              (v128.store (local.get $pc) (local.get $c10)) (v128.store offset=16 (local.get $pc) (local.get $c11))
              (if (i32.lt_u (i32.add (local.get $row) (i32.const 2)) (local.get $m)) (then
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (v128.store (local.get $pc) (local.get $c20)) (v128.store offset=16 (local.get $pc) (local.get $c21))
                (if (i32.lt_u (i32.add (local.get $row) (i32.const 3)) (local.get $m)) (then
                  (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                  (v128.store (local.get $pc) (local.get $c30)) (v128.store offset=16 (local.get $pc) (local.get $c31)))))))))
          (else
            (call $storePartial (local.get $pc) (local.get $c00) (local.get $c01) (local.get $cols))
            (if (i32.lt_u (i32.add (local.get $row) (i32.const 1)) (local.get $m)) (then
              (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
              (call $storePartial (local.get $pc) (local.get $c10) (local.get $c11) (local.get $cols))
              (if (i32.lt_u (i32.add (local.get $row) (i32.const 2)) (local.get $m)) (then
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (call $storePartial (local.get $pc) (local.get $c20) (local.get $c21) (local.get $cols))
                (if (i32.lt_u (i32.add (local.get $row) (i32.const 3)) (local.get $m)) (then
                  (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                  (call $storePartial (local.get $pc) (local.get $c30) (local.get $c31) (local.get $cols))))))))))
        (br_if $rows (i32.lt_u (local.tee $row (i32.add (local.get $row) (i32.const 4))) (local.get $m))))
      (local.set $panel (i32.add (local.get $panel) (i32.shl (local.get $lda) (i32.const 3))))
      (br_if $panels (i32.lt_u (local.tee $col (i32.add (local.get $col) (i32.const 8))) (local.get $n))))))
