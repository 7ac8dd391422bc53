# Writes plexus.pc and plexus-static.pc into PLEXUS_PC_OUT. Included by the install
# script (see CMakeLists.txt), where CMAKE_INSTALL_PREFIX is the final prefix, so the
# files name the directories the headers and libraries are really installed in.
#
# In: PLEXUS_VERSION, PLEXUS_DESCRIPTION, PLEXUS_LIBDIR, PLEXUS_INCLUDEDIR (relative to
# the prefix, or absolute), PLEXUS_PC_IN (directory of the templates), PLEXUS_PC_OUT.
set(PLEXUS_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(_kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${PLEXUS_${_kind}}")
    set(PLEXUS_PC_${_kind} "${PLEXUS_${_kind}}")
  else()
    set(PLEXUS_PC_${_kind} "\${prefix}/${PLEXUS_${_kind}}")
  endif()
endforeach()
foreach(_pc plexus plexus-static)
  configure_file("${PLEXUS_PC_IN}/${_pc}.pc.in" "${PLEXUS_PC_OUT}/${_pc}.pc" @ONLY)
endforeach()
