/work/main/agent/tsp.o: tsp.c call.h crypto.h handshake.h ipc.h \
 keystore.h config.h /work/main/uapi/linux/sealine.h log.h modem.h \
 rawline.h ../kmod/frame.h ../kmod/protocol.h ../kmod/compat.h \
 ../kmod/../uapi/linux/sealine.h tsp.h tspstore.h
call.h:
crypto.h:
handshake.h:
ipc.h:
keystore.h:
config.h:
/work/main/uapi/linux/sealine.h:
log.h:
modem.h:
rawline.h:
../kmod/frame.h:
../kmod/protocol.h:
../kmod/compat.h:
../kmod/../uapi/linux/sealine.h:
tsp.h:
tspstore.h:
