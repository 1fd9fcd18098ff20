/work/main/agent/nlprobe.o: /work/main/tests/vm/nlprobe.c \
 /usr/include/libnl3/netlink/attr.h /usr/include/libnl3/netlink/netlink.h \
 /usr/include/libnl3/netlink/netlink-compat.h \
 /usr/include/libnl3/netlink/version.h \
 /usr/include/libnl3/netlink/errno.h /usr/include/libnl3/netlink/types.h \
 /usr/include/libnl3/netlink/handlers.h \
 /usr/include/libnl3/netlink/netlink-kernel.h \
 /usr/include/libnl3/netlink/socket.h \
 /usr/include/libnl3/netlink/object.h /usr/include/libnl3/netlink/utils.h \
 /usr/include/libnl3/netlink/list.h /usr/include/libnl3/netlink/addr.h \
 /usr/include/libnl3/netlink/data.h /work/main/agent/line.h \
 /work/main/uapi/linux/sealine.h /work/main/agent/names.h \
 /work/main/agent/netlink.h /work/main/agent/line.h
/usr/include/libnl3/netlink/attr.h:
/usr/include/libnl3/netlink/netlink.h:
/usr/include/libnl3/netlink/netlink-compat.h:
/usr/include/libnl3/netlink/version.h:
/usr/include/libnl3/netlink/errno.h:
/usr/include/libnl3/netlink/types.h:
/usr/include/libnl3/netlink/handlers.h:
/usr/include/libnl3/netlink/netlink-kernel.h:
/usr/include/libnl3/netlink/socket.h:
/usr/include/libnl3/netlink/object.h:
/usr/include/libnl3/netlink/utils.h:
/usr/include/libnl3/netlink/list.h:
/usr/include/libnl3/netlink/addr.h:
/usr/include/libnl3/netlink/data.h:
/work/main/agent/line.h:
/work/main/uapi/linux/sealine.h:
/work/main/agent/names.h:
/work/main/agent/netlink.h:
/work/main/agent/line.h:
