/work/main/agent/hs_noise.o: hs_noise.c agent.h \
 /work/main/uapi/linux/sealine.h config.h crypto.h keystore.h handshake.h
agent.h:
/work/main/uapi/linux/sealine.h:
config.h:
crypto.h:
keystore.h:
handshake.h:
