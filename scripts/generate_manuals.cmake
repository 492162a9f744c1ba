# Writes the manual pages and shell completions from weir's own command table, run by the build
# after weir is linked (CMakeLists.txt): OUT/man/man1/weir.1 and weir-COMMAND.1 (weir help --man),
# OUT/completions/{weir.bash,_weir,weir.fish} (weir completion SHELL).
#   cmake -DWEIR=path/to/weir -DOUT=dir -P generate_manuals.cmake
foreach(var WEIR OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "generate_manuals.cmake: -D${var}=... is required")
  endif()
endforeach()

function(weir_to file)
  execute_process(COMMAND ${WEIR} ${ARGN} OUTPUT_FILE ${file} RESULT_VARIABLE rc
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "weir ${ARGN} failed (${rc}): ${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${OUT}/man ${OUT}/completions)
file(MAKE_DIRECTORY ${OUT}/man/man1 ${OUT}/completions)
execute_process(COMMAND ${WEIR} completion commands OUTPUT_VARIABLE names RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR names STREQUAL "")
  message(FATAL_ERROR "weir completion commands failed (${rc})")
endif()
string(REPLACE "\n" ";" names "${names}")
weir_to(${OUT}/man/man1/weir.1 help --man)
foreach(name ${names})
  if(NOT name STREQUAL "")
    weir_to(${OUT}/man/man1/weir-${name}.1 help --man ${name})
  endif()
endforeach()
weir_to(${OUT}/completions/weir.bash completion bash)
weir_to(${OUT}/completions/_weir completion zsh)
weir_to(${OUT}/completions/weir.fish completion fish)
file(WRITE ${OUT}/stamp "")
