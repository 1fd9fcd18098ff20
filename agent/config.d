/work/main/agent/config.o: config.c config.h \
 /work/main/uapi/linux/sealine.h line.h log.h names.h keyfile.h \
 tspstore.h
config.h:
/work/main/uapi/linux/sealine.h:
line.h:
log.h:
names.h:
keyfile.h:
tspstore.h:
