/work/main/agent/keyfile.o: keyfile.c keyfile.h \
 /work/main/uapi/linux/sealine.h
keyfile.h:
/work/main/uapi/linux/sealine.h:
