# The Debian libraries qat builds with (scripts/install_deps.sh installs them), shared by
# the main build and the fuzz build. Sets:
#   QAT_DEP_INCLUDES  include folders (the generated ONNX code's among them)
#   QAT_DEP_LIBS      libraries to link, libstb excepted (QAT_STB_LIB: the fuzz build
#                     compiles stb_image itself)
#   QAT_GEN_SOURCES   generated sources to compile with the project's
find_package(OpenMP REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)
find_path(OPENBLAS_INCLUDE cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
find_library(OPENBLAS_LIB NAMES openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
find_path(YAML_INCLUDE yaml.h)
find_library(YAML_LIB yaml)
find_path(STB_INCLUDE stb_image.h PATHS /usr/include/stb)
find_library(QAT_STB_LIB stb)
find_path(UTF8PROC_INCLUDE utf8proc.h)
find_library(UTF8PROC_LIB utf8proc)
find_path(JANSSON_INCLUDE jansson.h)
find_library(JANSSON_LIB jansson)
find_program(PROTOC_C protoc-c)
find_path(PROTOBUF_C_INCLUDE protobuf-c/protobuf-c.h)
find_library(PROTOBUF_C_LIB protobuf-c)
foreach(v OPENBLAS_INCLUDE OPENBLAS_LIB YAML_INCLUDE YAML_LIB STB_INCLUDE QAT_STB_LIB UTF8PROC_INCLUDE UTF8PROC_LIB
          JANSSON_INCLUDE JANSSON_LIB PROTOC_C PROTOBUF_C_INCLUDE PROTOBUF_C_LIB)
  if(NOT ${v})
    message(FATAL_ERROR "${v} not found: run scripts/install_deps.sh")
  endif()
endforeach()

# ONNX export: the C code for third_party/onnx/onnx.proto, generated at build time.
set(QAT_ONNX_PROTO ${CMAKE_CURRENT_LIST_DIR}/../third_party/onnx/onnx.proto)
set(QAT_GEN ${CMAKE_BINARY_DIR}/gen)
add_custom_command(
  OUTPUT ${QAT_GEN}/onnx.pb-c.c ${QAT_GEN}/onnx.pb-c.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${QAT_GEN}
  COMMAND ${PROTOC_C} --proto_path=${CMAKE_CURRENT_LIST_DIR}/../third_party/onnx --c_out=${QAT_GEN} onnx.proto
  DEPENDS ${QAT_ONNX_PROTO}
  COMMENT "protoc-c: onnx.proto")
set(QAT_GEN_SOURCES ${QAT_GEN}/onnx.pb-c.c)

set(QAT_DEP_INCLUDES ${QAT_GEN} ${PROTOBUF_C_INCLUDE} ${OPENBLAS_INCLUDE} ${YAML_INCLUDE} ${STB_INCLUDE}
    ${UTF8PROC_INCLUDE} ${JANSSON_INCLUDE})
set(QAT_DEP_LIBS OpenMP::OpenMP_C ${OPENBLAS_LIB} ${YAML_LIB} ZLIB::ZLIB PNG::PNG ${UTF8PROC_LIB} ${JANSSON_LIB}
    ${PROTOBUF_C_LIB} m)
