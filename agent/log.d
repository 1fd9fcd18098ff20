/work/main/agent/log.o: log.c log.h
log.h:
