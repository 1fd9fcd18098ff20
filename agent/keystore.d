/work/main/agent/keystore.o: keystore.c keystore.h config.h \
 /work/main/uapi/linux/sealine.h crypto.h log.h
keystore.h:
config.h:
/work/main/uapi/linux/sealine.h:
crypto.h:
log.h:
