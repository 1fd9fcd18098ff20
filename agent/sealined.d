/work/main/agent/sealined.o: sealined.c agent.h \
 /work/main/uapi/linux/sealine.h config.h crypto.h keystore.h ipc.h \
 lines.h netlink.h line.h sessionlog.h log.h tsp.h
agent.h:
/work/main/uapi/linux/sealine.h:
config.h:
crypto.h:
keystore.h:
ipc.h:
lines.h:
netlink.h:
line.h:
sessionlog.h:
log.h:
tsp.h:
