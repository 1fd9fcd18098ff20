/work/main/agent/handshake.o: handshake.c /work/main/uapi/linux/sealine.h \
 crypto.h handshake.h hs_common.h noise.h
/work/main/uapi/linux/sealine.h:
crypto.h:
handshake.h:
hs_common.h:
noise.h:
