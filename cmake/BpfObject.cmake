# bpf_object(<name> <source.bpf.c>)
#
# Compiles a BPF C file with clang -target bpf and generates its libbpf
# skeleton with `bpftool gen skeleton`. Defines an INTERFACE target
# <name>_skel whose include directory holds <name>.skel.h; link it to use
# the skeleton. Nothing generated is checked in.
#
# The programs include the kernel's UAPI headers (linux-libc-dev) rather than
# a vmlinux.h: they only read packet bytes and struct __sk_buff, which are
# stable ABI, so no CO-RE relocations are needed (see bpf/README.md).

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

execute_process(
  COMMAND ${CMAKE_C_COMPILER} -print-multiarch
  OUTPUT_VARIABLE BPF_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT BPF_MULTIARCH)
  set(BPF_MULTIARCH "${CMAKE_SYSTEM_PROCESSOR}-linux-gnu")
endif()

function(bpf_object name source)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${source})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${name})
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.h)

  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    # -mcpu=v3: 32-bit atomic fetch operations (conntrack flags).
    COMMAND ${BPF_CLANG} -O2 -g -Wall -Werror -target bpf -mcpu=v3
            -I/usr/include/${BPF_MULTIARCH} -I${CMAKE_CURRENT_SOURCE_DIR}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${headers}
    COMMENT "BPF ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})

  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${out_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
  set(${name}_BPF_OBJECT ${obj} PARENT_SCOPE)
endfunction()
