/work/main/agent/kframe.o: /work/main/kmod/frame.c \
 /work/main/kmod/frame.h /work/main/kmod/protocol.h \
 /work/main/kmod/compat.h /work/main/kmod/../uapi/linux/sealine.h
/work/main/kmod/frame.h:
/work/main/kmod/protocol.h:
/work/main/kmod/compat.h:
/work/main/kmod/../uapi/linux/sealine.h:
