# Compiler flags shared by every Agora target, gathered in interface targets so
# each library opts in by linking them (STYLE.md: warnings in one target).

add_library(agora_warnings INTERFACE)
target_compile_options(agora_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${AGORA_WERROR}>>:-Werror>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${AGORA_WERROR}>>:--Werror all-warnings>)
# A unity build (CI: scripts/build.sh) includes each .cc into a batch file,
# so GCC takes a class of a .cc whose members use that file's anonymous
# namespace for a header's class and warns (-Wsubobject-linkage); in a
# .cc file that is not a header's mistake, so the warning is off there.
if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(agora_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-Wno-subobject-linkage>)
endif()

# Floating point must keep its bits: no fast-math anywhere, and no silent
# contraction of a*b+c into fma on the kernel sources (docs/determinism.md).
add_library(agora_fp_strict INTERFACE)
target_compile_options(agora_fp_strict INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-ffp-contract=off -fno-fast-math>
  $<$<COMPILE_LANGUAGE:CUDA>:--fmad=false -ftz=false -prec-div=true -prec-sqrt=true
    -Xcompiler=-ffp-contract=off>)

if(AGORA_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${AGORA_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=all>)
  add_link_options(-fsanitize=${AGORA_SANITIZE})
  # Checks left out on purpose (the asan preset leaves out vptr, null and
  # alignment: together they cost about a third of the sanitizer build's
  # compile time, ASan reports a null dereference itself, and x86 loads need
  # no alignment; docs/layout.md).
  if(AGORA_SANITIZE_SKIP)
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize=${AGORA_SANITIZE_SKIP}>)
    add_link_options(-fno-sanitize=${AGORA_SANITIZE_SKIP})
  endif()
endif()

# Fuzzing: coverage instrumentation for every library; tests/fuzz/ links libFuzzer.
if(AGORA_BUILD_FUZZ)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
