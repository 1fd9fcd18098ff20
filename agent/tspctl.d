/work/main/agent/tspctl.o: tspctl.c json.h keyfile.h \
 /work/main/uapi/linux/sealine.h sealctl.h line.h netlink.h tspstore.h \
 config.h
json.h:
keyfile.h:
/work/main/uapi/linux/sealine.h:
sealctl.h:
line.h:
netlink.h:
tspstore.h:
config.h:
