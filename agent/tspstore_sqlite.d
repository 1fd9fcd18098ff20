/work/main/agent/tspstore_sqlite.o: tspstore_sqlite.c tspstore.h config.h \
 /work/main/uapi/linux/sealine.h
tspstore.h:
config.h:
/work/main/uapi/linux/sealine.h:
