/work/main/agent/rawline.o: rawline.c rawline.h ../kmod/frame.h \
 ../kmod/protocol.h ../kmod/compat.h ../kmod/../uapi/linux/sealine.h
rawline.h:
../kmod/frame.h:
../kmod/protocol.h:
../kmod/compat.h:
../kmod/../uapi/linux/sealine.h:
