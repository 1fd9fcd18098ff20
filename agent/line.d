/work/main/agent/line.o: line.c line.h /work/main/uapi/linux/sealine.h
line.h:
/work/main/uapi/linux/sealine.h:
