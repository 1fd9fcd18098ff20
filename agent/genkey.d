/work/main/agent/genkey.o: genkey.c keyfile.h \
 /work/main/uapi/linux/sealine.h sealctl.h line.h netlink.h
keyfile.h:
/work/main/uapi/linux/sealine.h:
sealctl.h:
line.h:
netlink.h:
