# The Debian package for bare-metal nodes: `cmake --build BUILD --target package` (or scripts/build-deb) writes
# BUILD/semaphore-wireguard_<version>_amd64.deb with
#   /usr/bin/semaphore-wireguard{,-worker}, /lib/systemd/system/semaphore-wireguard.service (ExecStart=/usr/bin/...),
#   /usr/share/dbus-1/system.d/io.uw.SemaphoreWireguard.conf, the conffile /etc/default/semaphore-wireguard,
#   /usr/share/doc/semaphore-wireguard/{copyright,changelog.gz}, the manual pages semaphore-wireguard(8) and
#   semaphore-wireguard-worker(8), and the maintainer scripts of packaging/debian.
# Depends is computed from the programs' libraries by dpkg-shlibdeps.
#
# Install components: the package takes the default one (binary, D-Bus policy) and `deb`, which holds what only a
# package installs (the unit in Debian's unit directory, /etc/default, the documentation). `cmake --install`
# takes the default one and `unit` (the unit under the prefix) and never writes outside its prefix.

set(SWG_MAINTAINER "semaphore-wireguard developers <semaphore-wireguard@users.noreply.github.com>"
    CACHE STRING "Maintainer field of the Debian package")
set(SWG_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)

install(FILES ${SWG_PACKAGING_DIR}/semaphore-wireguard.default DESTINATION /etc/default
        RENAME semaphore-wireguard COMPONENT deb EXCLUDE_FROM_ALL)
# Debian wants the changelog compressed with gzip -9n (no name or time stamp, so the package is reproducible).
configure_file(${SWG_PACKAGING_DIR}/debian/changelog.in ${PROJECT_BINARY_DIR}/deb/changelog @ONLY)
execute_process(COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/deb/changelog COMMAND_ERROR_IS_FATAL ANY)
install(FILES ${SWG_PACKAGING_DIR}/debian/copyright ${PROJECT_BINARY_DIR}/deb/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/semaphore-wireguard COMPONENT deb EXCLUDE_FROM_ALL)
foreach(page semaphore-wireguard semaphore-wireguard-worker)
  configure_file(${SWG_PACKAGING_DIR}/${page}.8 ${PROJECT_BINARY_DIR}/deb/${page}.8 COPYONLY)
  execute_process(COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/deb/${page}.8 COMMAND_ERROR_IS_FATAL ANY)
  install(FILES ${PROJECT_BINARY_DIR}/deb/${page}.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8
          COMPONENT deb EXCLUDE_FROM_ALL)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME semaphore-wireguard)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SWG_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WireGuard peering of Kubernetes nodes across clusters")
# The long description; CPack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "semaphore-wireguard runs on every node of a Kubernetes cluster and
peers it, over WireGuard, with every node of one or more remote clusters, so
that pods reach pods in other clusters directly. It advertises the node's
public key and endpoint on its Node object, watches the remote clusters' Nodes
and keeps one interface per remote cluster with one peer per remote node.

This package runs it on a bare-metal node as a systemd service. Configure it
in /etc/semaphore-wireguard/clusters.json, then enable it with
systemctl enable --now semaphore-wireguard.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE https://github.com/utilitywarehouse/semaphore-wireguard)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS wireguard-tools)
# wireguard-go is only needed where the kernel has no WireGuard module.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS wireguard-go)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SWG_PACKAGING_DIR}/debian/conffiles ${SWG_PACKAGING_DIR}/debian/postinst
    ${SWG_PACKAGING_DIR}/debian/prerm ${SWG_PACKAGING_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# DESTDIR staging with the real prefix: the unit's ExecStart, generated at install time from
# CMAKE_INSTALL_PREFIX, names /usr/bin, and absolute destinations (/etc, /lib) stay where they belong.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified deb)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR})
include(CPack)
