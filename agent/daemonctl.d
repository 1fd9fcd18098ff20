/work/main/agent/daemonctl.o: daemonctl.c config.h \
 /work/main/uapi/linux/sealine.h ipc.h json.h sealctl.h line.h netlink.h \
 sessionlog.h
config.h:
/work/main/uapi/linux/sealine.h:
ipc.h:
json.h:
sealctl.h:
line.h:
netlink.h:
sessionlog.h:
