# AGORA_CUDA=AUTO|ON|OFF decides whether the CUDA sources are built.
#   AUTO builds them whenever a CUDA compiler is found (nvcc works without a GPU),
#   ON   fails the configure step if none is found,
#   OFF  never builds them.
# The outcome lands in AGORA_HAVE_CUDA and in a one-line note that the binaries
# print with --version, so a build without CUDA is never one by accident.
include(CheckLanguage)

set(AGORA_HAVE_CUDA OFF)
if(AGORA_CUDA STREQUAL "OFF")
  set(AGORA_CUDA_NOTE "off (AGORA_CUDA=OFF)")
else()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # H100/H200 are sm_90; override with -DCMAKE_CUDA_ARCHITECTURES=... for others.
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 predates nvcc's C++20 support and knows no flag for it.
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION
       OR CMAKE_CUDA20_STANDARD_COMPILE_OPTION STREQUAL "")
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    set(AGORA_HAVE_CUDA ON)
    set(AGORA_CUDA_NOTE
        "built (CUDA ${CMAKE_CUDA_COMPILER_VERSION}, sm_${CMAKE_CUDA_ARCHITECTURES})")
  elseif(AGORA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "AGORA_CUDA=ON but no CUDA compiler was found. Install the CUDA "
                        "toolkit in /usr/local/cuda or pass -DCMAKE_CUDA_COMPILER=/path/nvcc.")
  else()
    set(AGORA_CUDA_NOTE "off (AGORA_CUDA=AUTO found no nvcc)")
  endif()
endif()
message(STATUS "Agora CUDA: ${AGORA_CUDA_NOTE}")
