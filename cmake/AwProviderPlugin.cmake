# aw_add_provider_plugin(<name> OUTPUT_DIR <dir> SOURCES <files>...)
# Builds <dir>/<name>.so against the provider ABI header alone: the plugin sees the SDK
# include directory (build/include) and nothing of core/ or host/.
function(aw_add_provider_plugin name)
  cmake_parse_arguments(PLUGIN "" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT PLUGIN_OUTPUT_DIR)
    set(PLUGIN_OUTPUT_DIR "${AW_PLUGIN_OUTPUT_DIR}")
  endif()
  add_library(${name} MODULE ${PLUGIN_SOURCES})
  target_include_directories(${name} PRIVATE "${AW_SDK_INCLUDE_DIR}")
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "${name}"
    LIBRARY_OUTPUT_DIRECTORY "${PLUGIN_OUTPUT_DIR}"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # A plugin must resolve everything at load time (the host loads with RTLD_NOW).
  target_link_options(${name} PRIVATE "LINKER:--no-undefined")
endfunction()
