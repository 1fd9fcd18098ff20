/work/main/agent/sessionlog.o: sessionlog.c sessionlog.h \
 /work/main/uapi/linux/sealine.h config.h
sessionlog.h:
/work/main/uapi/linux/sealine.h:
config.h:
