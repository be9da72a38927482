# tests.cmake — the examples and the packaging tests, registered with ctest
# (included by CMakeLists.txt).
#
#   example_<name>      each program of examples/ runs and prints what it should
#   readme_examples     the README shows each example verbatim
#   exported_symbols    liberyx.so exports exactly the functions eryx.h declares
#   install_consumers   `cmake --install` into a temporary prefix, then hello.c
#                       built against it with pkg-config (shared, static) and
#                       with the CMake package (eryx::eryx, eryx::eryx_static),
#                       run with no ERYX_RUNTIME_DIR
#   subproject_consumer a project that add_subdirectory()s this tree, and one
#                       that gets it with FetchContent
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

if(ERYX_INSTALL)
  add_test(NAME exported_symbols
           COMMAND sh "${PROJECT_SOURCE_DIR}/tests/pkg/symbols.sh" $<TARGET_FILE:eryx_shared>
                   "${PROJECT_SOURCE_DIR}/include/eryx.h" "${CMAKE_C_COMPILER}")
  add_test(NAME install_consumers
           COMMAND sh "${PROJECT_SOURCE_DIR}/tests/pkg/install.sh" "${PROJECT_BINARY_DIR}"
                   "${PROJECT_SOURCE_DIR}" "${CMAKE_C_COMPILER}" "${CMAKE_COMMAND}")
endif()
add_test(NAME subproject_consumer
         COMMAND sh "${PROJECT_SOURCE_DIR}/tests/pkg/subproject.sh" "${PROJECT_SOURCE_DIR}"
                 "${ERYX_RUNTIME_DIR}" "${CMAKE_C_COMPILER}" "${CMAKE_COMMAND}")
