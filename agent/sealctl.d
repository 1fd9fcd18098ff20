/work/main/agent/sealctl.o: sealctl.c names.h sealctl.h line.h \
 /work/main/uapi/linux/sealine.h netlink.h
names.h:
sealctl.h:
line.h:
/work/main/uapi/linux/sealine.h:
netlink.h:
