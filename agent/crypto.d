/work/main/agent/crypto.o: crypto.c crypto.h
crypto.h:
