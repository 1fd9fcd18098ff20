/work/main/agent/monitor.o: monitor.c json.h names.h sealctl.h line.h \
 /work/main/uapi/linux/sealine.h netlink.h
json.h:
names.h:
sealctl.h:
line.h:
/work/main/uapi/linux/sealine.h:
netlink.h:
