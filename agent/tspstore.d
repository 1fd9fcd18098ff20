/work/main/agent/tspstore.o: tspstore.c json.h tspstore.h config.h \
 /work/main/uapi/linux/sealine.h
json.h:
tspstore.h:
config.h:
/work/main/uapi/linux/sealine.h:
