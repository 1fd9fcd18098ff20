/work/main/agent/call.o: call.c call.h crypto.h handshake.h hs_common.h \
 noise.h
call.h:
crypto.h:
handshake.h:
hs_common.h:
noise.h:
