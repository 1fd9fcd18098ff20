/work/main/agent/ipc.o: ipc.c ipc.h log.h
ipc.h:
log.h:
