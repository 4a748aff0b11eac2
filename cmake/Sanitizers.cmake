# BULKHEAD_SANITIZE and BULKHEAD_FUZZ (options declared in the top-level
# CMakeLists.txt).
#
# BULKHEAD_SANITIZE=ON builds every host target (C and C++ compiled by CMake's
# compilers) with AddressSanitizer + UndefinedBehaviorSanitizer, any UB fatal.
# The BPF objects are untouched: bpf_object() (BpfObject.cmake) compiles them
# in a custom command with its own flag list, which add_compile_options()
# never reaches.
#
# BULKHEAD_FUZZ=ON (clang only) also instruments host code for coverage and
# builds the libFuzzer targets of tests/fuzz; it implies the sanitizers.
#
# Under either, tests/sanitizers/ makes every CTest test write its sanitizer
# reports to files and fails the run if there is any.

if(BULKHEAD_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "BULKHEAD_FUZZ=ON needs clang's libFuzzer, but the C++ compiler is "
    "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a fresh build "
    "directory with -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "
    "(Debian: clang and libclang-rt-14-dev).")
endif()

if(BULKHEAD_SANITIZE OR BULKHEAD_FUZZ)
  set(BULKHEAD_SANITIZERS ON)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # clang 14's -fsanitize=function (part of "undefined") cannot compile C++20
    # coroutines (the API server): "Cannot represent a difference across
    # sections". It only checks calls through a mistyped function pointer.
    add_compile_options(-fno-sanitize=function)
  endif()
else()
  set(BULKHEAD_SANITIZERS OFF)
endif()

if(BULKHEAD_FUZZ)
  # Coverage feedback from the libraries the targets call; only the targets
  # themselves link libFuzzer (-fsanitize=fuzzer, tests/fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
