# agora_module(NAME SOURCES ... DEPS ...) declares one layer: a static library
# `agora_NAME` whose headers are included as "NAME/file.h" from the repository
# root. A layer with no sources yet is an INTERFACE target that already states
# its dependencies, so the one-way arrows are in place before the code is.
function(agora_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  set(target agora_${name})
  if(ARG_SOURCES)
    add_library(${target} STATIC ${ARG_SOURCES})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE agora_warnings)
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
endfunction()
