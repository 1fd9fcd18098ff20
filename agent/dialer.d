/work/main/agent/dialer.o: dialer.c call.h crypto.h handshake.h dialer.h \
 config.h /work/main/uapi/linux/sealine.h ipc.h lines.h agent.h \
 keystore.h netlink.h line.h sessionlog.h log.h modem.h
call.h:
crypto.h:
handshake.h:
dialer.h:
config.h:
/work/main/uapi/linux/sealine.h:
ipc.h:
lines.h:
agent.h:
keystore.h:
netlink.h:
line.h:
sessionlog.h:
log.h:
modem.h:
