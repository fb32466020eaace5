{
  "targets": [
    {
      "target_name": "proj_native",
      "sources": [
        "src/addon.cc",
        "src/attention.cc",
        "src/conv2d.cc",
        "src/conv-indirect.cc",
        "src/elementwise.cc",
        "src/gemm.cc",
        "src/isa.cc",
        "src/norm.cc",
        "src/optimizer.cc",
        "src/thread-pool.cc"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-Wall", "-Wextra", "-fno-math-errno", "-fno-trapping-math"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-Wall", "-Wextra", "-fno-math-errno", "-fno-trapping-math"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
