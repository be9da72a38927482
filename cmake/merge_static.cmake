# merge_static.cmake — one self-contained liberyx.a: the members of liberyx's
# own archive (ERYX) and of Wasmtime's (WASMTIME) in a single archive (OUT),
# with one symbol index, so static consumers need no second library.
#
# Run at build time: cmake -DAR=ar -DERYX=... -DWASMTIME=... -DOUT=...
#                          -P merge_static.cmake
# Done with ar's MRI script mode (ADDLIB keeps every member, also members of
# the same name; SAVE writes the symbol index), written to a temporary file
# and renamed into place.
#
# AR should be the compiler's ar (gcc-ar: CMAKE_C_COMPILER_AR). Plain GNU ar
# auto-loads every plugin in bfd-plugins/, and where that holds an older
# LLVM's gold plugin, the plugin fails on the newer bitcode embedded in the
# Rust objects and ar then leaves their symbols (Rust's std, ~2000 of them)
# out of the index: the archive links with "undefined reference" errors.
# gcc-ar names its own plugin, which leaves ELF objects to bfd.
foreach(v AR ERYX WASMTIME OUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "merge_static.cmake: -D${v}= is required")
  endif()
endforeach()
foreach(p "${ERYX}" "${WASMTIME}" "${OUT}")
  # MRI scripts take bare paths: no way to quote spaces.
  if(p MATCHES "[ \t;*]")
    message(FATAL_ERROR "merge_static.cmake: cannot merge with a path holding spaces: ${p}")
  endif()
endforeach()
get_filename_component(out_dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${out_dir}")
set(tmp "${OUT}.tmp")
file(REMOVE "${tmp}")
file(WRITE "${OUT}.mri" "CREATE ${tmp}\nADDLIB ${ERYX}\nADDLIB ${WASMTIME}\nSAVE\nEND\n")
execute_process(COMMAND "${AR}" -M INPUT_FILE "${OUT}.mri" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE out)
string(REGEX REPLACE "AR >[ \n]*" "" out "${out}")
if(out)
  message("${out}")
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "merge_static.cmake: ${AR} -M failed")
endif()
file(RENAME "${tmp}" "${OUT}")
file(REMOVE "${OUT}.mri")
