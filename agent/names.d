/work/main/agent/names.o: names.c /work/main/uapi/linux/sealine.h names.h
/work/main/uapi/linux/sealine.h:
names.h:
