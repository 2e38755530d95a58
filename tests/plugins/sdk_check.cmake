# Builds the SDK example out of tree against the SDK's C headers alone (the provider ABI and
# the event type names), the way a third party would, and checks the result exports
# aw_provider_entry.
#   cmake -DCC=<c compiler> -DNM=<nm> -DHEADER=<provider_abi.h>
#         -DEVENT_TYPES_HEADER=<event_types.h> -DSOURCE=<example .c>
#         -DWORK_DIR=<scratch dir> -P sdk_check.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var CC NM HEADER EVENT_TYPES_HEADER SOURCE WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "sdk_check: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/include/agent_worker")
file(COPY "${HEADER}" "${EVENT_TYPES_HEADER}" DESTINATION "${WORK_DIR}/include/agent_worker")

# Runs a command, failing the test with its output if it fails.
function(run_checked what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "sdk_check: ${what} failed (${rc}):\n${ARGN}\n${out}${err}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

# Returns the dynamic symbols a shared library defines, one per list element.
function(defined_symbols library result)
  run_checked("nm -D" "${NM}" -D --defined-only "${library}")
  string(REGEX MATCHALL "[^\n]+" lines "${output}")
  set(names "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^.* " "" name "${line}")
    list(APPEND names "${name}")
  endforeach()
  set(${result} "${names}" PARENT_SCOPE)
endfunction()

# 1. The command line from docs/plugin-sdk.md, strict C99, warnings as errors.
set(plain "${WORK_DIR}/example.so")
run_checked("compiling the example against the SDK headers alone"
  "${CC}" -std=c99 -Wall -Wextra -Werror -pedantic -shared -fPIC
  "-I${WORK_DIR}/include" "${SOURCE}" -Wl,--no-undefined -o "${plain}")
defined_symbols("${plain}" symbols)
if(NOT "aw_provider_entry" IN_LIST symbols)
  message(FATAL_ERROR "sdk_check: ${plain} does not export aw_provider_entry: ${symbols}")
endif()

# 2. With hidden visibility AW_PROVIDER_EXPORT still exports the entry, and only it.
set(hidden "${WORK_DIR}/example-hidden.so")
run_checked("compiling the example with -fvisibility=hidden"
  "${CC}" -std=c99 -Wall -Wextra -Werror -pedantic -shared -fPIC -fvisibility=hidden
  "-I${WORK_DIR}/include" "${SOURCE}" -Wl,--no-undefined -o "${hidden}")
defined_symbols("${hidden}" symbols)
if(NOT symbols STREQUAL "aw_provider_entry")
  message(FATAL_ERROR "sdk_check: expected only aw_provider_entry exported, got: ${symbols}")
endif()

message(STATUS "sdk_check: ${SOURCE} builds against ${HEADER} and ${EVENT_TYPES_HEADER} alone "
  "and exports aw_provider_entry")
