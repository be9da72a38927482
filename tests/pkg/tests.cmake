# tests.cmake — the examples and the packaging tests, registered with ctest
# (included by CMakeLists.txt).
#
#   example_<name>      each program of examples/ runs and prints what it should
#   readme_examples     the README shows each example verbatim
set(ERYX_EXAMPLES hello callbacks session files limits)
set(ERYX_EXAMPLE_OUTPUT_hello "^result: {\"pi\": 3.14159}$")
set(ERYX_EXAMPLE_OUTPUT_callbacks "^Oslo 21 Lima$")
set(ERYX_EXAMPLE_OUTPUT_session "^second: \\[\\('l', 3\\), \\('o', 2\\)\\]$")
set(ERYX_EXAMPLE_OUTPUT_files "^warmest: Lima$")
set(ERYX_EXAMPLE_OUTPUT_limits "^still fine$")
find_package(Threads REQUIRED)
foreach(example IN LISTS ERYX_EXAMPLES)
  add_executable(example_${example} examples/${example}.c)
  set_target_properties(example_${example} PROPERTIES
    OUTPUT_NAME ${example} RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/examples")
  target_link_libraries(example_${example} PRIVATE eryx Threads::Threads)
  add_test(NAME example_${example}
           COMMAND sh "${PROJECT_SOURCE_DIR}/tests/pkg/expect.sh"
                   "${ERYX_EXAMPLE_OUTPUT_${example}}" $<TARGET_FILE:example_${example}>)
endforeach()
list(TRANSFORM ERYX_EXAMPLES PREPEND "examples/" OUTPUT_VARIABLE eryx_example_files)
list(TRANSFORM eryx_example_files APPEND ".c")
add_test(NAME readme_examples
         COMMAND sh "${PROJECT_SOURCE_DIR}/tests/pkg/readme_examples.sh"
                 "${PROJECT_SOURCE_DIR}" ${eryx_example_files})

