# Generates a C++ source that embeds every *.lua file of a directory as a byte array: stdlib/ (the
# modules, loaded through package.preload) and grammar/ (the API definitions `help` reads).
# Invoked at build time:
#   cmake -DOUT=<file.cpp> -DSRC_DIR=<dir> [-DFUNCTION=<name>] -P embed_stdlib.cmake
# FUNCTION (default embedded_stdlib) is the weir::lua function returning the files.
if(NOT FUNCTION)
  set(FUNCTION embedded_stdlib)
endif()
file(GLOB files RELATIVE ${SRC_DIR} ${SRC_DIR}/*.lua)
list(SORT files)
set(body "// Generated from ${SRC_DIR}/*.lua by scripts/embed_stdlib.cmake. Do not edit.\n")
string(APPEND body "#include \"lua/stdlib_embedded.hpp\"\n\nnamespace weir::lua {\nnamespace {\n")
set(entries "")
set(i 0)
foreach(f ${files})
  file(READ ${SRC_DIR}/${f} hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND body "const unsigned char file_${i}[] = {${bytes}0};\n")
  get_filename_component(name ${f} NAME_WE)
  string(APPEND entries "    {\"${name}\", reinterpret_cast<const char*>(file_${i}), ${len}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "}  // namespace\n\nconst std::vector<EmbeddedFile>& ${FUNCTION}() {\n")
string(APPEND body "  static const std::vector<EmbeddedFile> files = {\n${entries}  };\n  return files;\n}\n\n}  // namespace weir::lua\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
